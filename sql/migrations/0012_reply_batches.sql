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
-- UPDATE itself is 0.12); plpgsql keeps its plan for the session.
CREATE OR REPLACE FUNCTION parley_finish_reply(p_conv text, p_owner text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c
       SET reply_lease_owner = NULL, reply_lease_until = NULL,
           reply_due_at = CASE WHEN EXISTS (
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
