-- 0018: handing a conversation to a person (issue #17 item 3, SPEC 9.3;
-- docs/architecture.md "Conversation control").
--
-- Why:
--   * conversations.escalated_at: when the agent last called its
--     escalate_to_human tool (parley_handoff). The pause itself
--     (ai_paused_until, 0017) ends when someone resumes the conversation;
--     the fact that the customer asked for a person stays, because the next
--     lead extraction reports it (cta_escalated_to_human) even when the
--     conversation was resumed before the extraction ran.
--   * A reply still in production when a pause lands is dropped and its
--     credits given back, in the transaction that would have stored it,
--     under the conversation's row lock (parley_store_reply). The refund
--     needs the amount, so the store takes it: parley_store_reply and
--     parley_store_replies get p_credits, and p_escalated (the reply whose
--     own model called escalate_to_human is sent despite the pause it
--     made: it tells the customer that a person will follow up). Functions
--     whose arguments change are dropped; sql/functions/replies.sql creates
--     them again.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in a transaction.

ALTER TABLE conversations ADD COLUMN escalated_at timestamptz;

DROP FUNCTION parley_store_replies(text, text[], integer[], jsonb[], text[]);
DROP FUNCTION parley_store_reply(text, text, integer, jsonb, text);
