-- sql/functions/handoff.sql: handing a conversation to a person and back
-- (SPEC 9.3; docs/architecture.md, Conversation control).
--
-- Edited in place: `parley migrate` applies this file again whenever its
-- checksum changes (README.md, Migrations). CREATE OR REPLACE only;
-- a changed signature needs a DROP FUNCTION in a new versioned migration.
--
-- The pause is two columns of conversations (migration 0017):
-- ai_paused_until (NULL: not paused; 'infinity': until someone resumes it)
-- and ai_paused_reason (free text for the person taking over, at most 500
-- characters). While now() < ai_paused_until no reply is produced or
-- charged: the claim skips the conversation, and a reply already in
-- production when the pause lands is dropped by parley_store_reply (nothing
-- stored, its credits given back) or, for the parts of a split reply not
-- yet started, by parley_mark_sending. Customer messages are stored as
-- always and stay unanswered (replied_through_seq does not move), so that
-- parley_resume_ai can have them answered.

-- Whether a conversation whose ai_paused_until is p_until is paused now.
CREATE OR REPLACE FUNCTION parley_ai_paused(p_until timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_until IS NOT NULL AND p_until > now();
$$;

-- How the admin commands show ai_paused_until: NULL when not paused (never
-- or no more), 'infinity' when until resumed, else the end in UTC.
CREATE OR REPLACE FUNCTION parley_paused_until_text(p_until timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN NOT parley_ai_paused(p_until) THEN NULL
                WHEN p_until = 'infinity' THEN 'infinity'
                ELSE to_char(p_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') END;
$$;

-- Pauses the AI in conversation p_conv for p_minutes from now (NULL: until
-- resumed), with p_reason (cut to 500 characters). With p_replace (the
-- operator's `conversation pause`) the new pause replaces whatever was
-- there; without it (a person's message, an echo, the agent's tool) a
-- pause never shortens one already running: the later end wins, and the
-- reason goes with it. Returns the pause's end, or NULL when there is no
-- such conversation. p_minutes must be positive.
CREATE OR REPLACE FUNCTION parley_pause_ai(p_conv text, p_minutes integer, p_reason text,
                                           p_replace boolean DEFAULT false)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    v_until timestamptz;
    v_out timestamptz;
BEGIN
    IF p_minutes IS NOT NULL AND p_minutes <= 0 THEN
        RAISE EXCEPTION 'parley_pause_ai: minutes must be positive, not %', p_minutes
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_until := CASE WHEN p_minutes IS NULL THEN 'infinity'::timestamptz
                    ELSE now() + make_interval(mins => p_minutes) END;
    UPDATE conversations
       SET ai_paused_until = CASE WHEN p_replace OR NOT parley_ai_paused(ai_paused_until)
                                       OR ai_paused_until <= v_until
                                  THEN v_until ELSE ai_paused_until END,
           ai_paused_reason = CASE WHEN p_replace OR NOT parley_ai_paused(ai_paused_until)
                                        OR ai_paused_until <= v_until
                                   THEN left(p_reason, 500) ELSE ai_paused_reason END
     WHERE conversation_id = p_conv
    RETURNING ai_paused_until INTO v_out;
    RETURN v_out;
END
$$;

-- The agent called its escalate_to_human tool (reply_worker.c): the
-- conversation is paused until someone resumes it, with the model's reason,
-- and escalated_at records that the customer was handed to a person (the
-- next lead extraction reports it). The one place a handoff is recorded:
-- what else a handoff causes (the conversation.handoff event, SPEC 10) goes
-- here, in the same transaction. Returns false when there is no such
-- conversation.
CREATE OR REPLACE FUNCTION parley_handoff(p_conv text, p_reason text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF parley_pause_ai(p_conv, NULL, p_reason) IS NULL THEN
        RETURN false;
    END IF;
    UPDATE conversations SET escalated_at = now() WHERE conversation_id = p_conv;
    PERFORM parley_emit_conversation_event('conversation.handoff', p_conv, NULL,
                jsonb_build_object('reason', left(p_reason, 500), 'source', 'agent'));
    RETURN true;
END
$$;

-- `parley conversation resume`: the pause ends (both columns cleared).
-- When customer messages are waiting for an answer and no reply is in
-- production, the conversation is due now, and every parley serve hears it
-- (NOTIFY parley_reply_due); a reply in production makes it due itself
-- when it ends (parley_finish_reply). Returns {"was_paused": …, "due": …},
-- or NULL when there is no such conversation.
CREATE OR REPLACE FUNCTION parley_resume_ai(p_conv text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v_due boolean;
BEGIN
    SELECT * INTO c FROM conversations WHERE conversation_id = p_conv FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_due := c.is_active AND c.reply_lease_owner IS NULL AND EXISTS (
        SELECT 1 FROM messages m
         WHERE m.conversation_id = p_conv AND m.sender = 'user' AND m.triggers_reply
           AND m.sequence_no > c.replied_through_seq);
    UPDATE conversations
       SET ai_paused_until = NULL, ai_paused_reason = NULL,
           reply_due_at = CASE WHEN v_due THEN now() ELSE reply_due_at END
     WHERE conversation_id = p_conv;
    IF v_due THEN
        PERFORM pg_notify('parley_reply_due', p_conv);
    END IF;
    RETURN jsonb_build_object('was_paused', parley_ai_paused(c.ai_paused_until), 'due', v_due);
END
$$;

-- The reply worker is about to send a part of a stored reply (the first
-- part is marked by parley_store_reply): marks it as being sent, committed
-- before the send (after a crash it means "maybe sent"). Refuses (false,
-- nothing changed) while the conversation is paused, unless
-- p_despite_pause (the reply whose model asked for the person): a pause
-- that lands in the middle of a split reply drops the parts not started,
-- and the part already sending finishes.
CREATE OR REPLACE FUNCTION parley_mark_sending(p_message text, p_despite_pause boolean)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT p_despite_pause AND EXISTS (
        SELECT 1 FROM messages m JOIN conversations c USING (conversation_id)
         WHERE m.message_id = p_message AND parley_ai_paused(c.ai_paused_until)) THEN
        RETURN false;
    END IF;
    UPDATE messages SET send_started_at = now() WHERE message_id = p_message;
    RETURN true;
END
$$;
