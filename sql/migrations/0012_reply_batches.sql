-- 0012: group commit on the reply path. Storing a produced reply and
-- recording its last part's send each took a transaction of their own, and
-- with many replies at once (the reply-drain bench: 1000 answers arriving
-- within half a second) PostgreSQL spent most of its time starting and
-- committing one-row transactions. parley now queues these steps and sends
-- every one waiting in one call (src/db_batch.c); the functions below run
-- the existing per-reply functions for each element, in one transaction.
--
-- Conversations are locked in conversation_id order, so two batches never
-- wait for each other in a cycle. An ingest batch locks conversations in
-- its own order; if it ever deadlocks with a reply batch, PostgreSQL aborts
-- one of them and parley stores that batch's elements again one by one.

-- parley_store_reply for each (conversation, through, parts), in order of
-- the arrays: one row per element, NULL where the claim is no longer ours.
CREATE FUNCTION parley_store_replies(p_owner text, p_convs text[], p_through integer[],
                                     p_parts jsonb[])
RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_out jsonb[] := array_fill(NULL::jsonb, ARRAY[cardinality(p_convs)]);
    v_i integer;
BEGIN
    FOR v_i IN SELECT i FROM generate_subscripts(p_convs, 1) i ORDER BY p_convs[i] LOOP
        v_out[v_i] := parley_store_reply(p_convs[v_i], p_owner, p_through[v_i], p_parts[v_i]);
    END LOOP;
    RETURN QUERY SELECT v_out[i] FROM generate_subscripts(p_convs, 1) i ORDER BY i;
END
$$;

-- The last part of a reply was sent: parley_record_sent and
-- parley_finish_reply for each element, and the webchat notification where
-- p_notify names a session. One row per element: whether its conversation
-- is due again (customer messages came while the reply was produced), so
-- that parley claims again only then.
CREATE FUNCTION parley_finish_sent_replies(p_owner text, p_messages text[], p_pmids text[],
                                           p_convs text[], p_notify text[])
RETURNS SETOF boolean LANGUAGE plpgsql AS $$
DECLARE
    v_due boolean[] := array_fill(false, ARRAY[cardinality(p_convs)]);
    v_i integer;
    v_one boolean;
BEGIN
    FOR v_i IN SELECT i FROM generate_subscripts(p_convs, 1) i ORDER BY p_convs[i] LOOP
        PERFORM parley_record_sent(p_messages[v_i], p_pmids[v_i]);
        PERFORM parley_finish_reply(p_convs[v_i], p_owner);
        IF p_notify[v_i] IS NOT NULL THEN
            PERFORM pg_notify('parley_webchat', p_notify[v_i]);
        END IF;
        SELECT reply_due_at IS NOT NULL INTO v_one FROM conversations
         WHERE conversation_id = p_convs[v_i];
        v_due[v_i] := coalesce(v_one, true);
    END LOOP;
    RETURN QUERY SELECT v_due[i] FROM generate_subscripts(p_convs, 1) i ORDER BY i;
END
$$;

-- parley_finish_reply as in 0004, in plpgsql: a LANGUAGE sql function that
-- cannot be inlined is parsed and planned again at every call, which made
-- it the costliest step of a finishing batch (0.29 ms a call, of which the
-- UPDATE itself is 0.12); plpgsql keeps its plan for the session. An
-- archived conversation is never due again (see below).
CREATE OR REPLACE FUNCTION parley_finish_reply(p_conv text, p_owner text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c
       SET reply_lease_owner = NULL, reply_lease_until = NULL,
           reply_due_at = CASE WHEN c.is_active AND EXISTS (
                    SELECT 1 FROM messages m
                     WHERE m.conversation_id = c.conversation_id AND m.sender = 'user'
                       AND m.triggers_reply AND m.sequence_no > c.replied_through_seq)
                THEN coalesce(c.reply_due_at, now()) ELSE NULL END
     WHERE c.conversation_id = p_conv AND c.reply_lease_owner = p_owner;
END
$$;

-- parley_next_extraction_ms as in 0010, but -1 when nothing is pending:
-- greatest() skips NULLs, so coalesce(greatest(0, NULL), -1) was 0 and an
-- idle extraction worker looked for work every few milliseconds.
CREATE OR REPLACE FUNCTION parley_next_extraction_ms(p_idle_seconds integer)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN d IS NULL THEN -1
                ELSE greatest(0, extract(epoch FROM d - now()) * 1000) END::bigint
      FROM (SELECT min(CASE WHEN NOT is_active THEN coalesce(next_extraction_at, now())
                            ELSE greatest((last_message_at + make_interval(secs => p_idle_seconds))
                                              AT TIME ZONE 'UTC',
                                          coalesce(next_extraction_at, '-infinity'))
                       END) AS d
              FROM conversations
             WHERE (last_sequence_no > extraction_checked_seq OR NOT is_active)
               AND last_sequence_no > extracted_through_seq
               AND (extraction_lease_until IS NULL OR extraction_lease_until < now())) s
$$;

-- A reply in production when its conversation is archived by a relink
-- finishes (README, Relinking) -- also when its process dies first. The
-- relink now leaves such a conversation's due time alone (src/cmd_agent.c)
-- and the claim, as in 0007 otherwise, takes an archived conversation that
-- still carries a dead process's lease: its sends that may have gone out are
-- marked failed, its stored parts are sent, or its reply is produced. Before,
-- the claim skipped every archived conversation and such parts stayed
-- pending for ever.
CREATE OR REPLACE FUNCTION parley_claim_replies(p_owner text, p_limit integer, p_lease_seconds integer,
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
             WHERE reply_due_at <= now() AND (is_active OR reply_lease_owner IS NOT NULL)
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
