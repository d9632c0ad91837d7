-- 0005: webhook ingestion with fewer statements and less contention, from
-- what `make bench` measured (tests/bench/README.md).

-- messages_conversation_seq (0003) duplicates the seed's own
-- UNIQUE (conversation_id, sequence_no) index: one more index to write on
-- every message for nothing.
DROP INDEX messages_conversation_seq;

-- parley_ingest, same contract as in 0003, changed in two ways:
--  * one UPDATE … RETURNING both locks the conversation and takes the next
--    sequence number (the conversation is created only when that finds
--    none), instead of INSERT … ON CONFLICT, SELECT … FOR UPDATE and UPDATE
--    for every message. A duplicate that slips past the cheap check gives its
--    number back in the same transaction, so the sequence keeps no gap.
--  * NOTIFY only when a conversation becomes due (its reply_due_at was
--    NULL), not for every message: a notifying transaction holds a
--    cluster-wide lock through its commit, which serialised every webhook.
--    The reply workers re-arm their own timer at the next due time, so the
--    later messages of a burst need no notification.
CREATE OR REPLACE FUNCTION parley_ingest(p_object text, p_events jsonb, p_raw bytea,
                                         p_debounce_ms integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    ev jsonb;
    v_count integer;
    v_agent text;
    v_conv text;
    v_seq integer;
    v_was_idle boolean;
    v_reply boolean;
    v_echo boolean;
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

        v_echo := coalesce((ev->>'echo')::boolean, false);
        v_reply := coalesce((ev->>'reply')::boolean, false) AND NOT v_echo;
        v_conv := NULL;
        FOR attempt IN 1..2 LOOP
            WITH cur AS (
                SELECT conversation_id, reply_due_at FROM conversations
                 WHERE agent_id = v_agent AND customer_phone = ev->>'customer' AND is_active
                   FOR UPDATE)
            UPDATE conversations c
               SET last_sequence_no = c.last_sequence_no + 1,
                   last_message_at = now() AT TIME ZONE 'UTC',
                   customer_name = coalesce(ev->>'name', c.customer_name),
                   reply_due_at = CASE WHEN v_reply
                                       THEN now() + make_interval(secs => p_debounce_ms / 1000.0)
                                       ELSE c.reply_due_at END
              FROM cur
             WHERE c.conversation_id = cur.conversation_id
            RETURNING c.conversation_id, c.last_sequence_no, cur.reply_due_at IS NULL
                 INTO v_conv, v_seq, v_was_idle;
            EXIT WHEN v_conv IS NOT NULL;
            -- First contact: create it (or find the one a concurrent webhook
            -- just created) and take the number on the second pass.
            INSERT INTO conversations (conversation_id, agent_id, customer_phone, customer_name)
            VALUES (gen_random_uuid()::text, v_agent, ev->>'customer', ev->>'name')
            ON CONFLICT (agent_id, customer_phone) WHERE is_active DO NOTHING;
        END LOOP;

        INSERT INTO messages (message_id, conversation_id, sender, text, "timestamp", status,
                              sequence_no, platform_message_id, kind, reply_to, triggers_reply)
        VALUES (gen_random_uuid()::text, v_conv,
                CASE WHEN v_echo THEN 'agent' ELSE 'user' END,
                ev->>'text',
                CASE WHEN coalesce((ev->>'ts')::bigint, 0) > 0
                     THEN to_timestamp((ev->>'ts')::bigint / 1000.0) AT TIME ZONE 'UTC'
                     ELSE now() AT TIME ZONE 'UTC' END,
                'sent', v_seq, ev->>'id', ev->>'kind', ev->>'reply_to', v_reply)
        ON CONFLICT (platform_message_id) WHERE platform_message_id IS NOT NULL DO NOTHING;
        IF NOT FOUND THEN
            UPDATE conversations SET last_sequence_no = last_sequence_no - 1
             WHERE conversation_id = v_conv;
            v_dups := v_dups + 1;
            CONTINUE;
        END IF;

        IF v_reply AND v_was_idle THEN
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
