-- 0019: a person's messages and echoes (issue #17 items 3-5, SPEC 9.3).
--
-- Why: an echo of a message the business sent from its phone app pauses the
-- AI for handoff.pause_minutes, and parley_ingest_batch (sql/functions/
-- ingest.sql) needs that duration. It gets it the way it gets
-- replies.debounce_ms: as a parameter, p_pause_minutes (DEFAULT 60, so that
-- callers with four arguments, parley_ingest and the tests, go on working).
-- A new parameter is a new signature: the old function is dropped here and
-- ingest.sql creates the new one.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in a transaction.

DROP FUNCTION parley_ingest_batch(text[], jsonb[], bytea[], integer);
