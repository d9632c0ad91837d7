-- 0007: fewer durable commits per reply, from the reply-drain bench
-- (tests/bench/replies.sh): every commit waits for the disk, and a reply
-- took five of them. Now: the claim takes the credits for all it claims in
-- one transaction, storing a reply also marks its first part as being sent,
-- and recording the last part's send also ends the claim.

-- parley_claim_replies with charging: a claimed conversation with customer
-- messages to answer is charged p_credits here (unless a claim before ours
-- already was). A tenant with too few credits gets its messages marked
-- handled without a reply, and the job is returned with "no_credits": true
-- so that the caller can log and count it; it needs nothing else.
DROP FUNCTION parley_claim_replies(text, integer, integer);
CREATE FUNCTION parley_claim_replies(p_owner text, p_limit integer, p_lease_seconds integer,
                                     p_credits integer)
RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v_inputs jsonb;
    v_through integer;
    v_unsent jsonb;
    v_user text;
    v_charged boolean;
    v_refused boolean;
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

        SELECT a.user_id INTO v_user FROM agents a WHERE a.agent_id = c.agent_id;
        v_charged := c.reply_charged;
        v_refused := false;
        IF jsonb_array_length(v_unsent) = 0 AND NOT v_charged THEN
            v_charged := parley_charge_reply(c.conversation_id, p_owner, v_user, p_credits);
            IF NOT v_charged THEN
                PERFORM parley_skip_reply(c.conversation_id, p_owner, v_through);
                v_refused := true;
            END IF;
        END IF;

        RETURN NEXT (
            SELECT jsonb_build_object(
                'conversation_id', c.conversation_id,
                'agent_id', c.agent_id,
                'customer', c.customer_phone,
                'openai_conversation_id', c.openai_conversation_id,
                'charged', v_charged,
                'no_credits', v_refused,
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

-- parley_store_reply, as in 0004, and the first part is marked as being
-- sent in the same transaction (the send follows at once).
CREATE OR REPLACE FUNCTION parley_store_reply(p_conv text, p_owner text, p_through integer,
                                              p_parts jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_seq integer;
    v_part jsonb;
    v_id text;
    v_first boolean := true;
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
                              kind, "timestamp", send_started_at)
        VALUES (v_id, p_conv, 'agent', v_part #>> '{}', 'pending', v_seq, 'text',
                now() AT TIME ZONE 'UTC', CASE WHEN v_first THEN now() END);
        INSERT INTO message_delivery_status (message_id, status, updated_at)
        VALUES (v_id, 'pending', now() AT TIME ZONE 'UTC');
        v_out := v_out || jsonb_build_object('message_id', v_id, 'seq', v_seq,
                                             'text', v_part #>> '{}');
        v_first := false;
    END LOOP;
    UPDATE conversations
       SET last_sequence_no = v_seq, last_message_at = now() AT TIME ZONE 'UTC',
           replied_through_seq = greatest(replied_through_seq, p_through),
           reply_charged = false
     WHERE conversation_id = p_conv;
    RETURN v_out;
END
$$;
