-- 0023: what the admin reads need when the tables are full (issue #20,
-- item 2; measured by `make bench-scale`, tests/bench/scale.sh).
--
-- `parley conversation list --tenant T` shows a tenant's most recent
-- conversations (ORDER BY last_message_at DESC NULLS LAST, conversation_id,
-- LIMIT 50 by default). Without an index that starts with agent_id the only
-- plan was a sequential scan of every conversation of every tenant and a
-- sort: ~0.3-0.7 s at 100,000 conversations on the bench machine, growing
-- with the whole table. With this index the command reads, per agent of the
-- tenant, only the first LIMIT entries in the order it prints
-- (src/cli/cmd_conversation.c asks per agent with LATERAL ... LIMIT and
-- merges), whatever the tenant's or the table's size.
--
-- Its cost to ingestion: one more index entry each time a message updates
-- its conversation. That update is not HOT already (last_message_at is a
-- key of conversations_extraction_pending, reply_due_at of
-- conversations_reply_due), so every index of the table gets an entry per
-- message anyway; this adds one (about 80 bytes) to the four there were.
--
-- The other reads were measured and need nothing new: `conversation show`
-- uses messages_conversation_id_sequence_no_key and
-- message_delivery_status_pkey, `leads list` extractions_latest_by_tenant,
-- `meeting list` meetings_tenant_time.
--
-- Built inside the migration's transaction (the runner wraps each file):
-- on a large existing table, writes to conversations wait while it builds
-- (about a second per million conversations on the bench machine).
CREATE INDEX conversations_agent_recent
    ON conversations (agent_id, last_message_at DESC NULLS LAST, conversation_id);

-- At full size (10M messages, 400,000 extractions) the planner ran
-- `conversation show` (1,000 messages) and `leads list` (3,000 leads) with a
-- parallel worker: 16-22 ms of work, but 80-190 ms waiting for the worker
-- to start on a busy machine (`make bench-scale`). parley reads these
-- tables by index, a conversation or a tenant at a time; no statement of
-- its own gains from a parallel scan of them.
ALTER TABLE messages SET (parallel_workers = 0);
ALTER TABLE extractions SET (parallel_workers = 0);
