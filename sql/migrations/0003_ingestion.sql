-- 0003: what webhook ingestion (SPEC §4) needs beyond the seed schema.
-- Each change says why. The seed's own columns keep their meaning.

-- Instagram message ids are about 150–170 characters, longer than the seed's
-- VARCHAR(100). Truncating or hashing them would break dedupe against Meta's
-- re-deliveries and the matching of delivery statuses, so the columns that
-- hold a platform's id are widened.
ALTER TABLE messages ALTER COLUMN platform_message_id TYPE VARCHAR(512);
ALTER TABLE message_delivery_status ALTER COLUMN platform_message_id TYPE VARCHAR(512);

-- Dedupe (SPEC §4.4) is enforced by a constraint, not by check-then-insert:
-- a platform message id is stored at most once, however often it arrives.
CREATE UNIQUE INDEX messages_platform_message_id_key
    ON messages (platform_message_id) WHERE platform_message_id IS NOT NULL;

-- Per-conversation sequence counter. Whoever appends a message (a webhook or
-- the reply worker, in any process) locks the conversation row, takes
-- last_sequence_no + 1 and stores it back in the same transaction: no gap and
-- no repeat, with no max() scan.
ALTER TABLE conversations ADD COLUMN last_sequence_no INTEGER NOT NULL DEFAULT 0;
-- The WhatsApp profile name, for transcripts and leads.
ALTER TABLE conversations ADD COLUMN customer_name VARCHAR(255);
-- Reply hand-off (SPEC §5.1): set to now() + replies.debounce_ms whenever a
-- customer message that wants an answer is stored; the reply worker claims
-- conversations whose time has come. Lives in the database so that work
-- survives restarts and is shared by several processes.
ALTER TABLE conversations ADD COLUMN reply_due_at TIMESTAMPTZ;
CREATE INDEX conversations_reply_due ON conversations (reply_due_at)
    WHERE reply_due_at IS NOT NULL;

-- What kind of message this was (text, image, reaction, …) and whether it
-- asks for an answer (reactions, echoes and receipts never do, SPEC §4.5).
ALTER TABLE messages ADD COLUMN kind VARCHAR(32);
ALTER TABLE messages ADD COLUMN reply_to VARCHAR(512);
ALTER TABLE messages ADD COLUMN triggers_reply BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX messages_conversation_seq ON messages (conversation_id, sequence_no);

-- Channel resolution looks channels up by the platform's id (SPEC §4.2).
CREATE INDEX phone_numbers_meta_id ON phone_numbers (meta_phone_number_id, platform);

-- Every verified webhook body as received (SPEC §4.8), written in the same
-- transaction as its messages: Meta offers no way to fetch missed events,
-- so this is what a parser fix or `parley capture` works from. Pruned after
-- server.keep_raw_days. BYTEA because the bytes are kept exactly.
CREATE TABLE webhook_raw (
    raw_id BIGSERIAL PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    object VARCHAR(64),
    body BYTEA NOT NULL,
    outcome JSONB NOT NULL
);
CREATE INDEX webhook_raw_received_at ON webhook_raw (received_at);

-- A status can arrive before the send that produced its id has been
-- recorded (SPEC §4.7). It waits here, most advanced first, and is applied
-- when the agent message gets its platform id.
CREATE TABLE pending_delivery_status (
    platform_message_id VARCHAR(512) PRIMARY KEY,
    status VARCHAR(20) NOT NULL
        CHECK (status IN ('pending', 'sent', 'delivered', 'read', 'failed')),
    error_message TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Statuses only move forward. failed ranks above sent (a send accepted and
-- then undeliverable did fail) but below delivered and read (a failure
-- reported after a delivery or read is stale).
CREATE FUNCTION parley_status_rank(s text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE s WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'failed' THEN 2
                  WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 ELSE -1 END
$$;

-- Records a delivery status for a platform message id: applied to the agent
-- message that carries that id, or kept as pending until one does.
-- Returns true when the message was known.
CREATE FUNCTION parley_apply_status(p_pmid text, p_status text, p_error text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_mid text;
BEGIN
    SELECT message_id INTO v_mid FROM messages
     WHERE platform_message_id = p_pmid AND sender = 'agent';
    IF v_mid IS NULL THEN
        INSERT INTO pending_delivery_status AS p (platform_message_id, status, error_message)
        VALUES (p_pmid, p_status, p_error)
        ON CONFLICT (platform_message_id) DO UPDATE
           SET status = EXCLUDED.status, error_message = EXCLUDED.error_message,
               received_at = now()
         WHERE parley_status_rank(EXCLUDED.status) > parley_status_rank(p.status);
        RETURN false;
    END IF;
    INSERT INTO message_delivery_status AS d (message_id, platform_message_id, status,
                                              error_message, updated_at)
    VALUES (v_mid, p_pmid, p_status, p_error, now() AT TIME ZONE 'UTC')
    ON CONFLICT (message_id) DO UPDATE
       SET status = EXCLUDED.status, error_message = EXCLUDED.error_message,
           platform_message_id = EXCLUDED.platform_message_id,
           updated_at = EXCLUDED.updated_at
     WHERE parley_status_rank(EXCLUDED.status) > parley_status_rank(d.status);
    RETURN true;
END
$$;

-- Stores one verified webhook body's normalised events in one transaction
-- (the statement's own): messages resolved to channel, agent and active
-- conversation, deduped on the platform id and numbered with the
-- conversation's counter; statuses applied; the raw body kept. Events are
-- processed messages first, grouped by customer in arrival order, so that
-- concurrent webhooks lock conversations in one order and cannot deadlock
-- each other. Returns counts for the HTTP answer, logs and metrics.
--
-- p_events: [{"t":"m","platform","channel","customer","id","kind","text",
--             "name","reply_to","ts" (ms),"reply" (bool),"echo" (bool)},
--            {"t":"s","platform","channel","id","status","error"}]
CREATE FUNCTION parley_ingest(p_object text, p_events jsonb, p_raw bytea,
                              p_debounce_ms integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    ev jsonb;
    v_count integer;
    v_agent text;
    v_conv text;
    v_seq integer;
    v_reply boolean;
    v_stored integer := 0;
    v_dups integer := 0;
    v_statuses integer := 0;
    v_early integer := 0;
    v_skips jsonb := '[]';
    v_result jsonb;
BEGIN
    FOR ev IN
        SELECT e FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, i)
         ORDER BY e->>'t', e->>'platform', e->>'channel', e->>'customer', i
    LOOP
        IF ev->>'t' = 's' THEN
            IF parley_apply_status(ev->>'id', ev->>'status', ev->>'error') THEN
                v_statuses := v_statuses + 1;
            ELSE
                v_early := v_early + 1;
            END IF;
            CONTINUE;
        END IF;

        -- Never guess a channel: exactly one match, with an agent, or skip.
        SELECT count(*), max(a.agent_id) INTO v_count, v_agent
          FROM phone_numbers p LEFT JOIN agents a ON a.phone_number_id = p.id
         WHERE p.meta_phone_number_id = ev->>'channel' AND p.platform = ev->>'platform';
        IF v_count <> 1 OR v_agent IS NULL THEN
            v_skips := v_skips || jsonb_build_object(
                'reason', CASE WHEN v_count = 0 THEN 'unknown_channel'
                               WHEN v_count > 1 THEN 'ambiguous_channel'
                               ELSE 'no_agent' END,
                'platform', ev->>'platform', 'channel', ev->>'channel');
            CONTINUE;
        END IF;

        -- The cheap check first; the unique index below is what guarantees it.
        IF EXISTS (SELECT 1 FROM messages WHERE platform_message_id = ev->>'id') THEN
            v_dups := v_dups + 1;
            CONTINUE;
        END IF;

        INSERT INTO conversations (conversation_id, agent_id, customer_phone, customer_name)
        VALUES (gen_random_uuid()::text, v_agent, ev->>'customer', ev->>'name')
        ON CONFLICT (agent_id, customer_phone) WHERE is_active DO NOTHING;
        SELECT conversation_id, last_sequence_no INTO v_conv, v_seq
          FROM conversations
         WHERE agent_id = v_agent AND customer_phone = ev->>'customer' AND is_active
           FOR UPDATE;

        v_reply := coalesce((ev->>'reply')::boolean, false)
                   AND NOT coalesce((ev->>'echo')::boolean, false);
        INSERT INTO messages (message_id, conversation_id, sender, text, "timestamp", status,
                              sequence_no, platform_message_id, kind, reply_to, triggers_reply)
        VALUES (gen_random_uuid()::text, v_conv,
                CASE WHEN coalesce((ev->>'echo')::boolean, false) THEN 'agent' ELSE 'user' END,
                ev->>'text',
                CASE WHEN coalesce((ev->>'ts')::bigint, 0) > 0
                     THEN to_timestamp((ev->>'ts')::bigint / 1000.0) AT TIME ZONE 'UTC'
                     ELSE now() AT TIME ZONE 'UTC' END,
                'sent', v_seq + 1, ev->>'id', ev->>'kind', ev->>'reply_to', v_reply)
        ON CONFLICT (platform_message_id) WHERE platform_message_id IS NOT NULL DO NOTHING;
        IF NOT FOUND THEN
            v_dups := v_dups + 1;
            CONTINUE;
        END IF;

        UPDATE conversations
           SET last_sequence_no = v_seq + 1,
               last_message_at = now() AT TIME ZONE 'UTC',
               customer_name = coalesce(ev->>'name', customer_name),
               reply_due_at = CASE WHEN v_reply
                                   THEN now() + make_interval(secs => p_debounce_ms / 1000.0)
                                   ELSE reply_due_at END
         WHERE conversation_id = v_conv;
        IF v_reply THEN
            PERFORM pg_notify('parley_reply_due', v_conv);
        END IF;
        v_stored := v_stored + 1;
    END LOOP;

    v_result := jsonb_build_object('stored', v_stored, 'duplicates', v_dups,
                                   'statuses', v_statuses, 'early_statuses', v_early,
                                   'skipped', jsonb_array_length(v_skips), 'skips', v_skips);
    IF p_raw IS NOT NULL THEN
        INSERT INTO webhook_raw (object, body, outcome) VALUES (p_object, p_raw, v_result);
    END IF;
    RETURN v_result;
END
$$;
