-- 0004: what the reply path (SPEC §5) needs. Work is claimed through these
-- columns with row locks, so several parley processes on one database
-- produce each reply once, in order, and a crashed process's work is picked
-- up when its lease runs out.

-- The highest customer sequence_no that a produced reply covers: the
-- customer messages after it are the "not yet answered" ones.
ALTER TABLE conversations ADD COLUMN replied_through_seq INTEGER NOT NULL DEFAULT 0;
-- Who is producing this conversation's reply, and until when that claim
-- holds. At most one reply is in production per conversation; a lease that
-- runs out (its process died) lets another process take over.
ALTER TABLE conversations ADD COLUMN reply_lease_owner VARCHAR(100);
ALTER TABLE conversations ADD COLUMN reply_lease_until TIMESTAMPTZ;
-- Credits were taken for the reply in production and not yet spent on a
-- stored reply; a process that takes over does not charge again.
ALTER TABLE conversations ADD COLUMN reply_charged BOOLEAN NOT NULL DEFAULT false;

-- Set just before an agent message is handed to the platform. A pending
-- message with this set, found by a process taking over, may or may not have
-- gone out: it is marked failed, never sent again (SPEC §5.5).
ALTER TABLE messages ADD COLUMN send_started_at TIMESTAMPTZ;

-- Claims up to p_limit conversations whose reply is due and not leased.
-- For each returns the work as JSON: the channel and agent to answer with,
-- the unanswered customer messages, and agent messages stored but never
-- handed to the platform. Sends of unknown outcome are marked failed here.
-- Conversations with nothing left to do are released on the spot.
CREATE FUNCTION parley_claim_replies(p_owner text, p_limit integer, p_lease_seconds integer)
RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v_inputs jsonb;
    v_through integer;
    v_unsent jsonb;
BEGIN
    FOR c IN
        WITH due AS (
            SELECT conversation_id FROM conversations
             WHERE reply_due_at <= now() AND is_active
               AND (reply_lease_until IS NULL OR reply_lease_until < now())
             ORDER BY reply_due_at
             LIMIT p_limit
               FOR UPDATE SKIP LOCKED)
        UPDATE conversations k
           SET reply_lease_owner = p_owner,
               reply_lease_until = now() + make_interval(secs => p_lease_seconds)
          FROM due
         WHERE k.conversation_id = due.conversation_id
        RETURNING k.*
    LOOP
        WITH lost AS (
            UPDATE messages SET status = 'failed'
             WHERE conversation_id = c.conversation_id AND sender = 'agent'
               AND status = 'pending' AND send_started_at IS NOT NULL
            RETURNING message_id)
        UPDATE message_delivery_status d
           SET status = 'failed', updated_at = now() AT TIME ZONE 'UTC',
               error_message = 'send outcome unknown after a restart; not sent again'
          FROM lost WHERE d.message_id = lost.message_id;

        SELECT coalesce(jsonb_agg(jsonb_build_object('seq', sequence_no, 'text', text)
                                  ORDER BY sequence_no), '[]'),
               coalesce(max(sequence_no), c.replied_through_seq)
          INTO v_inputs, v_through
          FROM messages
         WHERE conversation_id = c.conversation_id AND sender = 'user'
           AND triggers_reply AND sequence_no > c.replied_through_seq;

        SELECT coalesce(jsonb_agg(jsonb_build_object('message_id', message_id, 'seq', sequence_no,
                                                     'text', text) ORDER BY sequence_no), '[]')
          INTO v_unsent
          FROM messages
         WHERE conversation_id = c.conversation_id AND sender = 'agent'
           AND status = 'pending' AND send_started_at IS NULL;

        IF jsonb_array_length(v_inputs) = 0 AND jsonb_array_length(v_unsent) = 0 THEN
            PERFORM parley_finish_reply(c.conversation_id, p_owner);
            CONTINUE;
        END IF;

        RETURN NEXT (
            SELECT jsonb_build_object(
                'conversation_id', c.conversation_id,
                'agent_id', c.agent_id,
                'customer', c.customer_phone,
                'openai_conversation_id', c.openai_conversation_id,
                'charged', c.reply_charged,
                'through', v_through,
                'inputs', v_inputs,
                'unsent', v_unsent,
                'user_id', a.user_id,
                'prompt_id', a.prompt_id,
                'platform', p.platform,
                'channel', p.meta_phone_number_id,
                'access_token', p.access_token)
              FROM agents a JOIN phone_numbers p ON p.id = a.phone_number_id
             WHERE a.agent_id = c.agent_id);
    END LOOP;
END
$$;

-- Ends a claim: the lease is released, and the conversation stays due only
-- if customer messages arrived that no reply covers yet.
CREATE FUNCTION parley_finish_reply(p_conv text, p_owner text)
RETURNS void LANGUAGE sql AS $$
    UPDATE conversations c
       SET reply_lease_owner = NULL, reply_lease_until = NULL,
           reply_due_at = CASE WHEN EXISTS (
                    SELECT 1 FROM messages m
                     WHERE m.conversation_id = c.conversation_id AND m.sender = 'user'
                       AND m.triggers_reply AND m.sequence_no > c.replied_through_seq)
                THEN coalesce(c.reply_due_at, now()) ELSE NULL END
     WHERE c.conversation_id = p_conv AND c.reply_lease_owner = p_owner
$$;

-- Takes the reply's credits from the tenant, atomically: true when taken,
-- false when the tenant has too few (then nothing changes).
CREATE FUNCTION parley_charge_reply(p_conv text, p_owner text, p_user text, p_amount integer)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF p_amount > 0 THEN
        UPDATE credits
           SET remaining_credits = remaining_credits - p_amount,
               total_used = total_used + p_amount,
               last_updated = now() AT TIME ZONE 'UTC'
         WHERE user_id = p_user AND remaining_credits >= p_amount;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
    END IF;
    UPDATE conversations SET reply_charged = true
     WHERE conversation_id = p_conv AND reply_lease_owner = p_owner;
    RETURN true;
END
$$;

-- Gives a finally failed reply's credits back (SPEC §5.2).
CREATE FUNCTION parley_refund_reply(p_conv text, p_user text, p_amount integer)
RETURNS void LANGUAGE sql AS $$
    UPDATE credits
       SET remaining_credits = remaining_credits + p_amount,
           total_used = greatest(total_used - p_amount, 0),
           last_updated = now() AT TIME ZONE 'UTC'
     WHERE user_id = p_user AND p_amount > 0;
    UPDATE conversations SET reply_charged = false WHERE conversation_id = p_conv;
$$;

-- Marks the customer messages through p_through as handled without a reply
-- (the tenant had no credits).
CREATE FUNCTION parley_skip_reply(p_conv text, p_owner text, p_through integer)
RETURNS void LANGUAGE sql AS $$
    UPDATE conversations SET replied_through_seq = greatest(replied_through_seq, p_through)
     WHERE conversation_id = p_conv AND reply_lease_owner = p_owner;
    SELECT parley_finish_reply(p_conv, p_owner);
$$;

-- Stores a produced reply as pending agent messages (one per part, numbered
-- with the conversation's counter) and marks the customer messages it covers
-- answered, in one transaction. Refuses (returns NULL) when the claim is no
-- longer ours, so a process whose lease ran out never sends.
CREATE FUNCTION parley_store_reply(p_conv text, p_owner text, p_through integer, p_parts jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_seq integer;
    v_part jsonb;
    v_id text;
    v_out jsonb := '[]';
BEGIN
    SELECT last_sequence_no INTO v_seq FROM conversations
     WHERE conversation_id = p_conv AND reply_lease_owner = p_owner
       AND reply_lease_until > now()
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    FOR v_part IN SELECT * FROM jsonb_array_elements(p_parts) LOOP
        v_seq := v_seq + 1;
        v_id := gen_random_uuid()::text;
        INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no,
                              kind, "timestamp")
        VALUES (v_id, p_conv, 'agent', v_part #>> '{}', 'pending', v_seq, 'text',
                now() AT TIME ZONE 'UTC');
        INSERT INTO message_delivery_status (message_id, status, updated_at)
        VALUES (v_id, 'pending', now() AT TIME ZONE 'UTC');
        v_out := v_out || jsonb_build_object('message_id', v_id, 'seq', v_seq,
                                             'text', v_part #>> '{}');
    END LOOP;
    UPDATE conversations
       SET last_sequence_no = v_seq, last_message_at = now() AT TIME ZONE 'UTC',
           replied_through_seq = greatest(replied_through_seq, p_through),
           reply_charged = false
     WHERE conversation_id = p_conv;
    RETURN v_out;
END
$$;

-- Records that the platform accepted an agent message: status sent, its
-- platform id, a delivery row, and any status that arrived for that id
-- before this moment (SPEC §4.7) applied on top.
CREATE FUNCTION parley_record_sent(p_message text, p_pmid text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    UPDATE messages SET status = 'sent', platform_message_id = p_pmid
     WHERE message_id = p_message;
    INSERT INTO message_delivery_status AS d (message_id, platform_message_id, status, updated_at)
    VALUES (p_message, p_pmid, 'sent', now() AT TIME ZONE 'UTC')
    ON CONFLICT (message_id) DO UPDATE
       SET status = 'sent', platform_message_id = EXCLUDED.platform_message_id,
           updated_at = EXCLUDED.updated_at
     WHERE parley_status_rank(d.status) < parley_status_rank('sent');
    IF p_pmid IS NOT NULL THEN
        FOR p IN DELETE FROM pending_delivery_status WHERE platform_message_id = p_pmid
                 RETURNING status, error_message LOOP
            PERFORM parley_apply_status(p_pmid, p.status, p.error_message);
        END LOOP;
    END IF;
END
$$;

-- Records a final send failure with the platform's error.
CREATE FUNCTION parley_record_failed(p_message text, p_error text)
RETURNS void LANGUAGE sql AS $$
    UPDATE messages SET status = 'failed' WHERE message_id = p_message;
    INSERT INTO message_delivery_status AS d (message_id, status, error_message, updated_at)
    VALUES (p_message, 'failed', p_error, now() AT TIME ZONE 'UTC')
    ON CONFLICT (message_id) DO UPDATE
       SET status = 'failed', error_message = EXCLUDED.error_message,
           updated_at = EXCLUDED.updated_at;
$$;
