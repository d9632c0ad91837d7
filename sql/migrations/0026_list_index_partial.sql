-- 0026: the `conversation list` index can no longer be taken for
-- ingestion's lookup of a customer's conversation (issue #20).
--
-- parley_ingest_batch locks the active conversation with
--     WHERE agent_id = $1 AND customer_phone = $2 AND is_active FOR UPDATE
-- which conversations_one_active (agent_id, customer_phone) WHERE is_active
-- answers with one index probe. Migration 0023's conversations_agent_recent
-- (agent_id, last_message_at DESC NULLS LAST, conversation_id) also starts
-- with agent_id, and while the table has no statistics (a new database,
-- until autovacuum's first ANALYZE) the planner costed both the same and
-- kept the list index: every webhook then read all of its agent's
-- conversations, dead versions included, to find one. In `make bench`
-- (1,000 conversations, fresh database) that index was scanned 6,551
-- times for 10 million index entries, and ingestion ran at a quarter of
-- its throughput: tests/bench/ingest_ab.sh measured 820-1,070 µs of
-- PostgreSQL CPU per webhook with the index against 280 µs without it.
--
-- A partial index is only used by a query whose conditions imply its
-- predicate, so the list index now covers `last_message_at IS NOT NULL`
-- (every conversation parley creates: the column defaults to the time of
-- the insert and ingestion sets it with each message) and the lookup,
-- which says nothing about last_message_at, cannot use it whatever the
-- statistics say. `conversation list` asks for that condition, and reads
-- the rows without a time (possible only in imported data) through
-- conversations_agent_undated, an index that stays empty otherwise.
-- Rebuilt in this migration's transaction: the build holds a SHARE lock on
-- conversations (webhooks wait; seconds per million conversations).
DROP INDEX conversations_agent_recent;
CREATE INDEX conversations_agent_recent
    ON conversations (agent_id, last_message_at DESC, conversation_id)
    WHERE last_message_at IS NOT NULL;
CREATE INDEX conversations_agent_undated
    ON conversations (agent_id, conversation_id)
    WHERE last_message_at IS NULL;
