-- 0008: giving a channel a new agent (`parley agent link`, issue #7) while
-- the old agent and its conversations stay readable, and while webhooks for
-- that channel keep arriving.
--
-- 1. Old agents stay, unlinked. The seed declares agents.phone_number_id
--    UNIQUE ("one agent per phone number"), so a channel's second agent
--    could only be made by deleting the first (its conversations reference
--    it) or by pointing it elsewhere (losing which channel its transcripts
--    and a reply still in production belong to). Instead a replaced agent
--    gets unlinked_at and keeps its phone_number_id; the seed's constraint
--    becomes "at most one LINKED agent per channel" (agents_one_linked). An
--    agent with unlinked_at set is history: readable, never chosen for a new
--    message. TIMESTAMPTZ like the other columns parley added (0003, 0004).
--
-- 2. Ingestion resolves a channel to its linked agent only:
--    parley_ingest_batch is replaced below, same contract as in 0006.
--
-- 3. A relink racing webhooks. A webhook transaction resolves channel ->
--    agent, then creates or appends to that agent's active conversation with
--    the customer; the relink deactivates the old agent's active
--    conversations. Uncoordinated, a webhook that resolved the old agent
--    just before the relink committed could create an active conversation
--    for the old agent that the relink's UPDATE did not see (uncommitted
--    then), or, arriving at the conversation after the relink committed,
--    find the old one inactive and open a new one for the old agent: either
--    way an active conversation of an unlinked agent, and a message routed
--    to an agent that was no longer linked. So both sides take one lock that
--    stands for "the channel's agent link" (parley_lock_channel_link):
--      * ingestion takes it SHARED before resolving the channel's agent and
--        holds it to the end of its transaction; it resolves the agent in a
--        statement after the lock is granted (a new snapshot: plpgsql takes
--        one per statement in READ COMMITTED), so it sees any relink that
--        committed while it waited;
--      * the relink (src/cmd_agent.c) locks the channel row FOR UPDATE,
--        takes the link lock EXCLUSIVE, and only then reads the current
--        agent and deactivates its conversations, in the same transaction.
--    A webhook's messages therefore either commit before the relink reads
--    anything (the relink then archives their conversation) or are resolved
--    after the relink committed (to the new agent). Lock order is the same
--    everywhere: link lock, then conversation rows. Whoever else resolves a
--    channel to its agent to store a message (the webchat endpoints) must
--    take the shared lock the same way.
--    Why an advisory lock rather than FOR KEY SHARE on the phone_numbers
--    row: a row lock is written into the tuple, so every webhook would add
--    WAL and, with several webhooks in flight, a new multixact for the
--    channel's row; and a new share-locker of a row does not queue behind a
--    waiting FOR UPDATE, so a busy channel could hold a relink off for as
--    long as its traffic lasts. Advisory locks live in the lock manager,
--    which queues a new shared request behind a waiting exclusive one. The
--    key is (0x7061726c 'parl', hashtext(channel id)); two channels sharing
--    a hash only ever wait for each other, never deadlock or skip the lock.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in a transaction.

ALTER TABLE agents ADD COLUMN unlinked_at TIMESTAMPTZ;
ALTER TABLE agents DROP CONSTRAINT agents_phone_number_id_key;
CREATE UNIQUE INDEX agents_one_linked ON agents (phone_number_id) WHERE unlinked_at IS NULL;
-- A channel's agents, old ones included (history, `parley agent list`).
CREATE INDEX agents_phone_number_id ON agents (phone_number_id);

-- The lock described in 3, shared or exclusive, held to the end of the
-- calling transaction.
CREATE FUNCTION parley_lock_channel_link(p_channel text, p_exclusive boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_exclusive THEN
        PERFORM pg_advisory_xact_lock(1885434476, hashtext(p_channel));
    ELSE
        PERFORM pg_advisory_xact_lock_shared(1885434476, hashtext(p_channel));
    END IF;
END
$$;

-- parley_ingest_batch as in 0006, with the channel resolved once per channel
-- (the events come grouped by channel), under the link lock, to its linked
-- agent only. Everything else is unchanged.
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
