-- 0015: a platform message id that the Graph API returns for a second
-- message no longer makes recording the send fail, for ever.
--
-- Why: messages_platform_message_id_key (0003) keeps a platform id on one
-- message at most, and parley_record_sent (0004) stored the id Graph
-- returned without looking. When Graph answered a send with an id already
-- stored for another message, the UPDATE raised a unique violation, the
-- record step (and with it parley_finish_sent_replies, 0012) rolled back,
-- and the reply worker tried it again in a loop.
--
-- Now such a send is recorded for what it is, one the platform accepted:
-- the message becomes 'sent' without a platform id (the id stays with the
-- message that had it first, and statuses for that id keep going to that
-- one), and its delivery row is 'sent' with the returned id and a note
-- naming the message that holds it. Both functions return that message's id
-- (NULL when there was no collision) so that parley logs and counts it.
--
-- The check comes before the UPDATE: a subtransaction per call would cost
-- every send. Two sends given one id at the very same moment can still
-- meet at the unique index; the worker then ends that reply as failed (a
-- permanent error), it does not retry it.
--
-- Both change their return type, so they are dropped and created again.

DROP FUNCTION parley_finish_sent_replies(text, text[], text[], text[], text[]);
DROP FUNCTION parley_record_sent(text, text);

-- parley_record_sent as in 0004, with the collision recorded as above.
CREATE FUNCTION parley_record_sent(p_message text, p_pmid text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    p record;
    v_holder text;
BEGIN
    IF p_pmid IS NOT NULL THEN
        SELECT message_id INTO v_holder FROM messages
         WHERE platform_message_id = p_pmid AND message_id <> p_message;
    END IF;
    UPDATE messages
       SET status = 'sent',
           platform_message_id = CASE WHEN v_holder IS NULL THEN p_pmid END
     WHERE message_id = p_message;
    INSERT INTO message_delivery_status AS d (message_id, platform_message_id, status,
                                              error_message, updated_at)
    VALUES (p_message, p_pmid, 'sent',
            CASE WHEN v_holder IS NOT NULL
                 THEN 'sent; the platform returned an id already recorded for message '
                      || v_holder END,
            now() AT TIME ZONE 'UTC')
    ON CONFLICT (message_id) DO UPDATE
       SET status = 'sent', platform_message_id = EXCLUDED.platform_message_id,
           error_message = EXCLUDED.error_message,
           updated_at = EXCLUDED.updated_at
     WHERE parley_status_rank(d.status) < parley_status_rank('sent');
    IF p_pmid IS NOT NULL AND v_holder IS NULL THEN
        FOR p IN DELETE FROM pending_delivery_status WHERE platform_message_id = p_pmid
                 RETURNING status, error_message LOOP
            PERFORM parley_apply_status(p_pmid, p.status, p.error_message);
        END LOOP;
    END IF;
    RETURN v_holder;
END
$$;

-- parley_finish_sent_replies as in 0012, returning with each element's
-- "due again" the holder of a colliding platform id.
CREATE FUNCTION parley_finish_sent_replies(p_owner text, p_messages text[], p_pmids text[],
                                           p_convs text[], p_notify text[])
RETURNS TABLE (due boolean, pmid_holder text) LANGUAGE plpgsql AS $$
DECLARE
    v_due boolean[] := array_fill(false, ARRAY[cardinality(p_convs)]);
    v_holder text[] := array_fill(NULL::text, ARRAY[cardinality(p_convs)]);
    v_i integer;
    v_one boolean;
BEGIN
    FOR v_i IN SELECT i FROM generate_subscripts(p_convs, 1) i ORDER BY p_convs[i] LOOP
        v_holder[v_i] := parley_record_sent(p_messages[v_i], p_pmids[v_i]);
        PERFORM parley_finish_reply(p_convs[v_i], p_owner);
        IF p_notify[v_i] IS NOT NULL THEN
            PERFORM pg_notify('parley_webchat', p_notify[v_i]);
        END IF;
        SELECT reply_due_at IS NOT NULL INTO v_one FROM conversations
         WHERE conversation_id = p_convs[v_i];
        v_due[v_i] := coalesce(v_one, true);
    END LOOP;
    RETURN QUERY SELECT v_due[i], v_holder[i] FROM generate_subscripts(p_convs, 1) i ORDER BY i;
END
$$;
