-- 0014: ad referrals kept beside the message, not in its text (issue #15,
-- SPEC 4.5).
--
-- Why: a Click-to-WhatsApp or Instagram ad referral used to be appended to
-- the customer's text ("Is this still on? [via ad: Winter sale]"), so the
-- stored text was no longer what the customer sent, the agent read the ad's
-- words as the customer's, and nothing downstream could tell the two apart.
-- Now:
--   * messages.referral holds what Meta said about the ad or link the
--     customer came from, as parley's parser normalised it
--     (src/meta_parse.c: source_type, source_id, source_url, headline or
--     title, body, media_type, image/video/thumbnail url, ctwa_clid,
--     welcome_message, ref; only the keys Meta sent). NULL for everything
--     without one (webchat never has one). Only a JSON object is accepted.
--   * parley_ingest_batch stores the event's "referral" object (same
--     contract as in 0008 otherwise; callers unchanged).
--   * parley_claim_replies adds "referrals": the referrals of the customer
--     messages this reply covers, oldest first, so that the reply worker
--     gives the agent the ad as context of its own (0012's body otherwise).
--     Customer messages that do not ask for a reply count too: Instagram's
--     referral event (an ig.me link or ad opened) comes before the message
--     that is answered.
--   * parley_claim_extractions puts each transcript message's referral
--     beside its text (0010's body otherwise): where a lead came from is
--     what a salesperson wants to know.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in a transaction.

ALTER TABLE messages ADD COLUMN referral jsonb
    CONSTRAINT messages_referral_object CHECK (jsonb_typeof(referral) = 'object');

-- parley_ingest_batch as in 0008, storing the event's referral object.
CREATE OR REPLACE FUNCTION parley_ingest_batch(p_objects text[], p_events jsonb[], p_raws bytea[],
                                               p_debounce_ms integer)
RETURNS jsonb[] LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_events, 1), 0);
    ev jsonb;
    w integer;
    v_count integer;
    v_agent text;
    v_res_platform text;
    v_res_channel text;
    v_resolved boolean := false;
    v_conv text;
    v_seq integer;
    v_was_idle boolean;
    v_reply boolean;
    v_echo boolean;
    v_stored integer[];
    v_dups integer[];
    v_statuses integer[];
    v_early integer[];
    v_skips jsonb[];
    v_result jsonb;
    v_results jsonb[] := '{}';
BEGIN
    IF n = 0 THEN
        RETURN v_results;
    END IF;
    v_stored := array_fill(0, ARRAY[n]);
    v_dups := array_fill(0, ARRAY[n]);
    v_statuses := array_fill(0, ARRAY[n]);
    v_early := array_fill(0, ARRAY[n]);
    v_skips := array_fill('[]'::jsonb, ARRAY[n]);

    FOR ev, w IN
        SELECT x.e, u.w::integer
          FROM unnest(p_events) WITH ORDINALITY AS u(evs, w),
               jsonb_array_elements(u.evs) WITH ORDINALITY AS x(e, i)
         ORDER BY x.e->>'t', x.e->>'platform', x.e->>'channel', x.e->>'customer',
                  CASE WHEN x.e->>'t' = 's' THEN x.e->>'id' END, u.w, x.i
    LOOP
        IF ev->>'t' = 's' THEN
            IF parley_apply_status(ev->>'id', ev->>'status', ev->>'error') THEN
                v_statuses[w] := v_statuses[w] + 1;
            ELSE
                v_early[w] := v_early[w] + 1;
            END IF;
            CONTINUE;
        END IF;

        -- Once per channel: the link lock (shared) on every channel with
        -- this id, in id order; then, in a statement of its own, the agent.
        IF NOT v_resolved OR v_res_platform IS DISTINCT FROM ev->>'platform'
           OR v_res_channel IS DISTINCT FROM ev->>'channel' THEN
            v_resolved := true;
            v_res_platform := ev->>'platform';
            v_res_channel := ev->>'channel';
            PERFORM parley_lock_channel_link(p.id, false)
               FROM (SELECT id FROM phone_numbers
                      WHERE meta_phone_number_id = v_res_channel AND platform = v_res_platform
                      ORDER BY id) p;
            SELECT count(*), max(a.agent_id) INTO v_count, v_agent
              FROM phone_numbers p
              LEFT JOIN agents a ON a.phone_number_id = p.id AND a.unlinked_at IS NULL
             WHERE p.meta_phone_number_id = v_res_channel AND p.platform = v_res_platform;
        END IF;

        -- Never guess a channel: exactly one match, with an agent, or skip.
        IF v_count <> 1 OR v_agent IS NULL THEN
            v_skips[w] := v_skips[w] || jsonb_build_object(
                'reason', CASE WHEN v_count = 0 THEN 'unknown_channel'
                               WHEN v_count > 1 THEN 'ambiguous_channel'
                               ELSE 'no_agent' END,
                'platform', ev->>'platform', 'channel', ev->>'channel');
            CONTINUE;
        END IF;

        -- The cheap check first (it also sees the batch's own earlier rows,
        -- so a message twice in one batch is stored once); the unique index
        -- below is what guarantees it.
        IF EXISTS (SELECT 1 FROM messages WHERE platform_message_id = ev->>'id') THEN
            v_dups[w] := v_dups[w] + 1;
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
            -- First contact: create it (or find the one a concurrent
            -- transaction just created) and take the number on the second pass.
            INSERT INTO conversations (conversation_id, agent_id, customer_phone, customer_name)
            VALUES (gen_random_uuid()::text, v_agent, ev->>'customer', ev->>'name')
            ON CONFLICT (agent_id, customer_phone) WHERE is_active DO NOTHING;
        END LOOP;

        INSERT INTO messages (message_id, conversation_id, sender, text, "timestamp", status,
                              sequence_no, platform_message_id, kind, reply_to, triggers_reply,
                              referral)
        VALUES (gen_random_uuid()::text, v_conv,
                CASE WHEN v_echo THEN 'agent' ELSE 'user' END,
                ev->>'text',
                CASE WHEN coalesce((ev->>'ts')::bigint, 0) > 0
                     THEN to_timestamp((ev->>'ts')::bigint / 1000.0) AT TIME ZONE 'UTC'
                     ELSE now() AT TIME ZONE 'UTC' END,
                'sent', v_seq, ev->>'id', ev->>'kind', ev->>'reply_to', v_reply,
                CASE WHEN jsonb_typeof(ev->'referral') = 'object' THEN ev->'referral' END)
        ON CONFLICT (platform_message_id) WHERE platform_message_id IS NOT NULL DO NOTHING;
        IF NOT FOUND THEN
            UPDATE conversations SET last_sequence_no = last_sequence_no - 1
             WHERE conversation_id = v_conv;
            v_dups[w] := v_dups[w] + 1;
            CONTINUE;
        END IF;

        IF v_reply AND v_was_idle THEN
            PERFORM pg_notify('parley_reply_due', v_conv);
        END IF;
        v_stored[w] := v_stored[w] + 1;
    END LOOP;

    -- Outcomes and raw bodies per webhook, in the order given (arrival
    -- order, which `parley capture` follows).
    FOR w IN 1..n LOOP
        v_result := jsonb_build_object('stored', v_stored[w], 'duplicates', v_dups[w],
                                       'statuses', v_statuses[w], 'early_statuses', v_early[w],
                                       'skipped', jsonb_array_length(v_skips[w]),
                                       'skips', v_skips[w]);
        IF p_raws[w] IS NOT NULL THEN
            INSERT INTO webhook_raw (object, body, outcome)
            VALUES (p_objects[w], p_raws[w], v_result);
        END IF;
        v_results := v_results || v_result;
    END LOOP;
    RETURN v_results;
END
$$;

-- parley_claim_replies as in 0012, with "referrals" in each job.
CREATE OR REPLACE FUNCTION parley_claim_replies(p_owner text, p_limit integer, p_lease_seconds integer,
                                     p_credits integer)
RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v_inputs jsonb;
    v_referrals jsonb;
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

        SELECT coalesce(jsonb_agg(referral ORDER BY sequence_no), '[]')
          INTO v_referrals
          FROM messages
         WHERE conversation_id = c.conversation_id AND sender = 'user'
           AND referral IS NOT NULL
           AND sequence_no > c.replied_through_seq AND sequence_no <= v_through;

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
                'referrals', v_referrals,
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

-- parley_claim_extractions as in 0010, with each message's referral.
CREATE OR REPLACE FUNCTION parley_claim_extractions(p_owner text, p_limit integer, p_lease_seconds integer,
                                         p_every integer, p_idle_seconds integer,
                                         p_credits integer)
RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v_new integer;
    v_user text;
    v_charged boolean;
    v_transcript jsonb;
    v_claimed integer := 0;
BEGIN
    FOR c IN
        SELECT k.conversation_id, k.agent_id, k.customer_phone, k.is_active, k.last_sequence_no,
               k.extracted_through_seq, k.extraction_charged, k.extraction_failures
          FROM conversations k
         WHERE (k.last_sequence_no > k.extraction_checked_seq OR NOT k.is_active)
           AND k.last_sequence_no > k.extracted_through_seq
           AND (NOT k.is_active
                OR k.last_message_at <= (now() AT TIME ZONE 'UTC')
                                        - make_interval(secs => p_idle_seconds))
           AND (k.next_extraction_at IS NULL OR k.next_extraction_at <= now())
           AND (k.extraction_lease_until IS NULL OR k.extraction_lease_until < now())
         ORDER BY k.last_message_at
         LIMIT 256
           FOR UPDATE SKIP LOCKED
    LOOP
        EXIT WHEN v_claimed >= p_limit;

        -- Customer messages that ask for an answer; reactions, edits and
        -- deletions are in the transcript but do not make one due.
        SELECT count(*) INTO v_new FROM messages
         WHERE conversation_id = c.conversation_id AND sender = 'user' AND triggers_reply
           AND sequence_no > c.extracted_through_seq;
        IF v_new = 0 OR (c.is_active AND v_new < p_every) THEN
            UPDATE conversations
               SET extraction_checked_seq = c.last_sequence_no,
                   extracted_through_seq = CASE WHEN c.is_active THEN extracted_through_seq
                                                ELSE c.last_sequence_no END
             WHERE conversation_id = c.conversation_id;
            CONTINUE;
        END IF;

        SELECT a.user_id INTO v_user FROM agents a WHERE a.agent_id = c.agent_id;
        v_charged := c.extraction_charged;
        IF NOT v_charged AND p_credits > 0 THEN
            UPDATE credits
               SET remaining_credits = remaining_credits - p_credits,
                   total_used = total_used + p_credits,
                   last_updated = now() AT TIME ZONE 'UTC'
             WHERE user_id = v_user AND remaining_credits >= p_credits;
            IF NOT FOUND THEN
                UPDATE conversations
                   SET extracted_through_seq = c.last_sequence_no,
                       extraction_checked_seq = c.last_sequence_no,
                       extraction_failures = 0, next_extraction_at = NULL
                 WHERE conversation_id = c.conversation_id;
                RETURN NEXT jsonb_build_object('conversation_id', c.conversation_id,
                                               'user_id', v_user, 'no_credits', true);
                CONTINUE;
            END IF;
            v_charged := true;
        END IF;

        UPDATE conversations
           SET extraction_lease_owner = p_owner,
               extraction_lease_until = now() + make_interval(secs => p_lease_seconds),
               extraction_charged = v_charged
         WHERE conversation_id = c.conversation_id;

        SELECT coalesce(jsonb_agg(jsonb_build_object('seq', sequence_no,
                                                     'customer', sender = 'user',
                                                     'text', text)
                                  || CASE WHEN referral IS NULL THEN '{}'::jsonb
                                          ELSE jsonb_build_object('referral', referral) END
                                  ORDER BY sequence_no), '[]')
          INTO v_transcript
          FROM (SELECT sequence_no, sender, text, referral FROM messages
                 WHERE conversation_id = c.conversation_id
                   AND sequence_no <= c.last_sequence_no
                   AND NOT (sender = 'agent' AND status = 'failed')
                 ORDER BY sequence_no DESC
                 LIMIT 200) t;

        v_claimed := v_claimed + 1;
        RETURN NEXT jsonb_build_object(
            'conversation_id', c.conversation_id,
            'user_id', v_user,
            'active', c.is_active,
            'through', c.last_sequence_no,
            'new_messages', v_new,
            'failures', c.extraction_failures,
            'charged', v_charged,
            'no_credits', false,
            'transcript', v_transcript);
    END LOOP;
END
$$;
