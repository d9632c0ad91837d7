-- sql/functions/human.sql: a person's messages (SPEC 9.3, 9.4): `parley
-- conversation send` storing what a person wrote or a template, and the pause
-- such a message (or an echo from the business's phone app, ingest.sql) puts
-- on the AI.
--
-- Edited in place: `parley migrate` applies this file again whenever its
-- checksum changes (README.md, Migrations). CREATE OR REPLACE only;
-- a changed signature needs a DROP FUNCTION in a new versioned migration.

-- Stores a person's message (`parley conversation send`) in one
-- transaction, under the conversation's row lock (the lock every writer of
-- its sequence takes): one agent message per part, author 'human', numbered
-- after every message stored so far. p_template: the message is a WhatsApp
-- template (p_parts holds its one readable line), allowed outside the
-- 24-hour window. p_pause_minutes: the AI is paused that long in the same
-- transaction; NULL (--keep-ai) leaves it as it is. p_tenant, when not NULL,
-- must own the conversation.
--
-- WhatsApp and Instagram parts are stored 'pending' with send_started_at
-- set: the command sends them at once, and a part whose send a crash
-- interrupted must never be sent again (parley_claim_replies marks such
-- parts failed once they are older than any send could last; it never
-- sends them, they are not "unsent"). Webchat parts are 'sent' at once (the
-- poll delivers them), each with its message.sent event, and the session's
-- polls are woken.
--
-- Returns {"parts":[{message_id, seq, text}], platform, customer, channel,
-- access_token, paused_until} or {"error": code} with nothing stored:
-- no_conversation, archived, window_closed (with platform and window_expires_at),
-- template_platform (templates are WhatsApp only; with platform).
CREATE OR REPLACE FUNCTION parley_store_human_message(p_conv text, p_tenant text, p_parts jsonb,
                                                      p_template boolean,
                                                      p_pause_minutes integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v_seq integer;
    v_part jsonb;
    v_id text;
    v_meta boolean;
    v_out jsonb := '[]';
BEGIN
    SELECT k.conversation_id, k.last_sequence_no, k.is_active, k.window_expires_at,
           k.customer_phone, p.platform, p.meta_phone_number_id, p.access_token
      INTO c
      FROM conversations k JOIN agents a ON a.agent_id = k.agent_id
      JOIN phone_numbers p ON p.id = a.phone_number_id
     WHERE k.conversation_id = p_conv AND (p_tenant IS NULL OR a.user_id = p_tenant)
       FOR UPDATE OF k;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('error', 'no_conversation');
    END IF;
    IF NOT c.is_active THEN
        RETURN jsonb_build_object('error', 'archived');
    END IF;
    IF p_template AND c.platform <> 'whatsapp' THEN
        RETURN jsonb_build_object('error', 'template_platform', 'platform', c.platform);
    END IF;
    v_meta := c.platform IN ('whatsapp', 'instagram');
    -- NULL: nothing known about the window yet (no customer message with a
    -- platform time); the platform itself refuses a closed one (131047).
    IF v_meta AND NOT p_template AND c.window_expires_at < now() THEN
        RETURN jsonb_build_object('error', 'window_closed', 'platform', c.platform,
                                  'window_expires_at',
                                  to_char(c.window_expires_at AT TIME ZONE 'UTC',
                                          'YYYY-MM-DD HH24:MI:SS'));
    END IF;

    v_seq := c.last_sequence_no;
    FOR v_part IN SELECT * FROM jsonb_array_elements(p_parts) LOOP
        v_seq := v_seq + 1;
        v_id := gen_random_uuid()::text;
        INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no,
                              kind, "timestamp", send_started_at, author)
        VALUES (v_id, p_conv, 'agent', v_part #>> '{}', CASE WHEN v_meta THEN 'pending' ELSE 'sent' END,
                v_seq, CASE WHEN p_template THEN 'template' ELSE 'text' END,
                now() AT TIME ZONE 'UTC', CASE WHEN v_meta THEN now() END, 'human');
        INSERT INTO message_delivery_status (message_id, status, updated_at)
        VALUES (v_id, CASE WHEN v_meta THEN 'pending' ELSE 'sent' END, now() AT TIME ZONE 'UTC');
        -- A webchat part is sent as it is stored: its message.sent (author
        -- human; events out, events.sql) is written here, in this
        -- transaction. A WhatsApp or Instagram part has its own when the
        -- platform accepted it (parley_record_sent).
        IF NOT v_meta THEN
            PERFORM parley_emit_message_event('message.sent', v_id, NULL);
        END IF;
        v_out := v_out || jsonb_build_object('message_id', v_id, 'seq', v_seq,
                                             'text', v_part #>> '{}');
    END LOOP;
    UPDATE conversations SET last_sequence_no = v_seq, last_message_at = now() AT TIME ZONE 'UTC'
     WHERE conversation_id = p_conv;
    IF p_pause_minutes IS NOT NULL THEN
        PERFORM parley_pause_ai(p_conv, p_pause_minutes, 'a person replied');
    END IF;
    IF NOT v_meta THEN
        PERFORM pg_notify('parley_webchat', c.customer_phone);
    END IF;
    RETURN jsonb_build_object(
        'parts', v_out, 'platform', c.platform, 'customer', c.customer_phone,
        'channel', c.meta_phone_number_id, 'access_token', c.access_token,
        'paused_until', (SELECT to_char(ai_paused_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                           FROM conversations WHERE conversation_id = p_conv));
END
$$;
