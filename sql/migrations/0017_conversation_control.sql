-- 0017: conversation control (issue #17, docs/architecture.md "Conversation
-- control"): who wrote each message, the platform's 24-hour window, and a
-- pause that hands a conversation to a person.
--
-- Why each column:
--   * messages.author: `sender` says which side of the conversation a
--     message is on ('user' or 'agent', the seed's values); it cannot say
--     whether an agent-side message came from the AI or from a person (sent
--     with `parley conversation send`, or echoed from the business's phone
--     app). The transcript, the webchat poll, lead extraction and the
--     agent's own context need that difference. Existing rows are filled
--     from `sender`: the only agent messages before this migration were the
--     AI's replies and echoes, and echoes were rare enough (coexistence
--     numbers only) that 'ai' is the honest default for them; new echoes are
--     stored as 'human'. The constant default makes ADD COLUMN a catalogue
--     change only; only agent rows are rewritten. Then the default goes:
--     parley's own writers always say who wrote a message, and a row
--     inserted without one (a seed-schema tool, a test fixture that knows
--     only the reference columns) gets it from `sender` by a trigger whose
--     WHEN clause keeps it free for every row that names its author. The
--     trigger's function is part of the table's definition, like a
--     default, so it lives here and not in sql/functions/.
--   * conversations.window_expires_at: WhatsApp and Instagram accept
--     free-form messages only until 24 hours after the customer's last
--     message, by the platform's timestamp (Meta redelivers hours-old
--     messages after an outage, so arrival time would be wrong). NULL means
--     no window applies (webchat) or nothing is known yet. Filled here from
--     the newest customer message's stored timestamp (the platform's, as
--     parley_ingest_batch stores it).
--   * conversations.ai_paused_until / ai_paused_reason: while now() is
--     before ai_paused_until no reply is produced or charged. 'infinity'
--     means until someone resumes it (the agent's escalate_to_human tool).
--     The reason is free text for the person picking the conversation up.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in a transaction.

ALTER TABLE messages ADD COLUMN author varchar(10) NOT NULL DEFAULT 'customer'
    CONSTRAINT messages_author_check CHECK (author IN ('customer', 'ai', 'human'));
UPDATE messages SET author = 'ai' WHERE sender = 'agent';
ALTER TABLE messages ALTER COLUMN author DROP DEFAULT;

CREATE FUNCTION parley_message_author_from_sender() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.author := CASE WHEN NEW.sender = 'agent' THEN 'ai' ELSE 'customer' END;
    RETURN NEW;
END
$$;
CREATE TRIGGER messages_author_from_sender BEFORE INSERT ON messages
    FOR EACH ROW WHEN (NEW.author IS NULL)
    EXECUTE FUNCTION parley_message_author_from_sender();

ALTER TABLE conversations
    ADD COLUMN window_expires_at timestamptz,
    ADD COLUMN ai_paused_until timestamptz,
    ADD COLUMN ai_paused_reason varchar(500);

UPDATE conversations c
   SET window_expires_at = (m.last_customer AT TIME ZONE 'UTC') + interval '24 hours'
  FROM (SELECT conversation_id, max("timestamp") AS last_customer
          FROM messages WHERE sender = 'user' GROUP BY conversation_id) m,
       agents a, phone_numbers p
 WHERE m.conversation_id = c.conversation_id
   AND a.agent_id = c.agent_id AND p.id = a.phone_number_id
   AND p.platform IN ('whatsapp', 'instagram');
