-- 0022: the webchat poll returns each message's author (SPEC 6).
--
-- Why: SPEC 6 lists `author` (customer, ai or human) among the fields of
-- GET /webchat/v1/messages, so that the widget can tell a person's answer
-- from the AI's. parley_webchat_fetch (sql/functions/webchat.sql) gains an
-- `author` column after `sender`; a function's result columns are part of
-- its type, so the old one is dropped here and webchat.sql creates the new
-- one in the same migrate run.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in a transaction.

DROP FUNCTION parley_webchat_fetch(text, text, integer, integer);
