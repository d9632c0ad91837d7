-- sql/functions/ingest.sql: storing webhooks (and webchat messages): one transaction per batch.
--
-- Edited in place: `parley migrate` applies this file again whenever its
-- checksum changes (README.md, Migrations). CREATE OR REPLACE only;
-- a changed signature needs a DROP FUNCTION in a new versioned migration.
-- History before this file: git log -p sql/migrations/.

-- Stores the webhooks of a batch (parallel arrays, one element per webhook:
-- its object, its normalised events, its raw body or NULL) in the
-- statement's own transaction. Returns one outcome per webhook, in the
-- order given; each raw body is kept with its own outcome. Each channel is
-- resolved once, under its link lock (shared), to its linked agent only;
-- each message keeps its referral object.
--
-- An echo (a message the business sent from its phone app: WhatsApp
-- smb_message_echoes, Instagram is_echo) is stored as an agent message with
-- author 'human', never asks for a reply, and pauses the AI for
-- p_pause_minutes (parley_pause_ai, handoff.sql). Echoes of parley's own
-- sends are duplicates: by platform id once the send is recorded, and,
-- before that (the echo overtook the send's answer), by text against the
-- conversation's agent messages being sent right now (docs/architecture.md,
-- Echoes).
--
-- All events of all webhooks are processed in one global order: messages
-- before statuses; messages by platform, channel and customer, then webhook
-- and event order (so each conversation's messages keep arrival order);
-- statuses by their message id, then webhook and event order. Every
-- transaction (a batch, a single webhook) therefore takes conversation and
-- status row locks in the same order, and concurrent batches cannot
-- deadlock each other, whatever webhooks they were made of.
CREATE OR REPLACE FUNCTION parley_ingest_batch(p_objects text[], p_events jsonb[], p_raws bytea[],
                                               p_debounce_ms integer,
                                               p_pause_minutes integer DEFAULT 60)
RETURNS jsonb[] LANGUAGE plpgsql
-- Generic plans for every statement, from the first call of a session: the
-- event loop's query (and the echo check) otherwise got a custom plan at
-- every call, their generic plan's estimate for an array of unknown size
-- being higher than a custom plan's for the array at hand
-- (pg_stat_statements with track_planning: one plan per call, ~55 us each).
-- The other statements already settled on their generic plans after five
-- calls; test_conversation_list checks the conversation lookup's.
SET plan_cache_mode = force_generic_plan
AS $$
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
    v_window timestamptz;
    v_stored integer[];
    v_dups integer[];
    v_statuses integer[];
    v_early integer[];
    v_skips jsonb[];
    v_result jsonb;
    v_results jsonb[] := '{}';
    v_events boolean := false; -- events out: the channel's tenant has an enabled endpoint
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
                        AND removed_at IS NULL
                      ORDER BY id) p;
            SELECT count(*), max(a.agent_id) INTO v_count, v_agent
              FROM phone_numbers p
              LEFT JOIN agents a ON a.phone_number_id = p.id AND a.unlinked_at IS NULL
             WHERE p.meta_phone_number_id = v_res_channel AND p.platform = v_res_platform
               AND p.removed_at IS NULL;
            v_events := parley_events_enabled_for_agent(v_agent); -- events out (events.sql)
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
        -- parley's own send whose answer (and id) is not recorded yet: the
        -- part is marked being sent, has no platform id, and says the same.
        IF v_echo AND EXISTS (
               SELECT 1 FROM conversations k JOIN messages m USING (conversation_id)
                WHERE k.agent_id = v_agent AND k.customer_phone = ev->>'customer'
                  AND k.is_active AND m.sender = 'agent' AND m.status = 'pending'
                  AND m.send_started_at IS NOT NULL AND m.platform_message_id IS NULL
                  AND m.text = ev->>'text') THEN
            v_dups[w] := v_dups[w] + 1;
            CONTINUE;
        END IF;
        v_reply := coalesce((ev->>'reply')::boolean, false) AND NOT v_echo;
        -- The 24-hour window (SPEC 9.2): a customer's WhatsApp or Instagram
        -- message opens it until 24 hours after the platform's timestamp
        -- (not arrival: Meta redelivers hours-old messages after an outage),
        -- never beyond 24 hours from now (a clock ahead of ours), and
        -- greatest() below never moves it back (redeliveries come out of
        -- order). Echoes, the business's own messages, and WhatsApp's own
        -- system notices (a number change) do not open it.
        v_window := NULL;
        IF NOT v_echo AND ev->>'platform' IN ('whatsapp', 'instagram')
           AND ev->>'kind' IS DISTINCT FROM 'system' THEN
            v_window := least(CASE WHEN coalesce((ev->>'ts')::bigint, 0) > 0
                                   THEN to_timestamp((ev->>'ts')::bigint / 1000.0)
                                   ELSE now() END, now()) + interval '24 hours';
        END IF;
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
                   window_expires_at = greatest(c.window_expires_at, v_window),
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
            VALUES (parley_uuidv7(), v_agent, ev->>'customer', ev->>'name')
            ON CONFLICT (agent_id, customer_phone) WHERE is_active DO NOTHING;
        END LOOP;

        INSERT INTO messages (message_id, conversation_id, sender, text, "timestamp", status,
                              sequence_no, platform_message_id, kind, reply_to, triggers_reply,
                              referral, author)
        VALUES (parley_uuidv7(), v_conv,
                CASE WHEN v_echo THEN 'agent' ELSE 'user' END,
                ev->>'text',
                CASE WHEN coalesce((ev->>'ts')::bigint, 0) > 0
                     THEN to_timestamp((ev->>'ts')::bigint / 1000.0) AT TIME ZONE 'UTC'
                     ELSE now() AT TIME ZONE 'UTC' END,
                'sent', v_seq, ev->>'id', ev->>'kind', ev->>'reply_to', v_reply,
                CASE WHEN jsonb_typeof(ev->'referral') = 'object' THEN ev->'referral' END,
                CASE WHEN v_echo THEN 'human' ELSE 'customer' END)
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
        IF v_echo THEN
            PERFORM parley_pause_ai(v_conv, p_pause_minutes,
                                       'a person replied from the business app');
        END IF;
        v_stored[w] := v_stored[w] + 1;
        PERFORM parley_emit_conversation_event(CASE WHEN v_echo THEN 'message.sent' ELSE 'message.received' END, v_conv, v_seq, NULL) WHERE v_events; -- events out (events.sql)
    END LOOP;

    -- Outcomes per webhook, in the order given; then the raw bodies with
    -- their outcomes in one statement (one executor start for the batch
    -- rather than one per webhook, issue #20), in that order too: a scan of
    -- unnest() yields its rows in array order, so raw_id follows arrival
    -- order, which `parley capture` follows.
    FOR w IN 1..n LOOP
        v_result := jsonb_build_object('stored', v_stored[w], 'duplicates', v_dups[w],
                                       'statuses', v_statuses[w], 'early_statuses', v_early[w],
                                       'skipped', jsonb_array_length(v_skips[w]),
                                       'skips', v_skips[w]);
        v_results := v_results || v_result;
    END LOOP;
    INSERT INTO webhook_raw (object, body, outcome)
    SELECT u.o, u.r, u.x
      FROM unnest(p_objects, p_raws, v_results) AS u(o, r, x)
     WHERE u.r IS NOT NULL;
    RETURN v_results;
END
$$;

-- One webhook: a batch of one of parley_ingest_batch, same contract as
-- ever. pgbench and the tests call it; src/ does not.
-- plpgsql rather than a SQL function: PostgreSQL 15 plans a SQL function's
-- body again at every call, plpgsql keeps the plan for the session.
CREATE OR REPLACE FUNCTION parley_ingest(p_object text, p_events jsonb, p_raw bytea,
                                         p_debounce_ms integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN (parley_ingest_batch(ARRAY[p_object], ARRAY[p_events], ARRAY[p_raw],
                                p_debounce_ms))[1];
END
$$;

-- The janitor's pass (serve.c, every minute, and again right away while
-- it finds full batches): deletes raw webhook bodies older than
-- p_keep_days, at most p_limit of them, oldest first, and returns how many.
-- Bounded batches keep each transaction short; the next pass does more.
-- The cost of a pass is the batch's, not the table's: the oldest rows come
-- from webhook_raw_received_at in its order (LIMIT stops the scan), and the
-- DELETE finds them by primary key (= ANY of an array). `IN (subquery)`
-- let the planner hash-join the whole table instead: a sequential scan of
-- every stored body per batch (1.8 s at 170,000 bodies on the bench
-- machine; `make bench-scale`).
CREATE OR REPLACE FUNCTION parley_prune_raw_webhooks(p_keep_days integer, p_limit integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_n integer;
BEGIN
    DELETE FROM webhook_raw WHERE raw_id = ANY (ARRAY(
        SELECT raw_id FROM webhook_raw
         WHERE received_at < now() - make_interval(days => p_keep_days)
         ORDER BY received_at, raw_id LIMIT p_limit));
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;
