-- 0013: parley_ingest_batch stores a batch of webhooks with a fixed number
-- of statements instead of five or six per message.
--
-- Why: 0008's function ran a dedupe probe, a conversation UPDATE and a
-- message INSERT for every message, each paying PostgreSQL's executor start
-- and a plan-cache check, so a large batch cost nearly as much per message
-- as a small one. Here every step handles the whole batch at once (one
-- UPDATE for all its conversations, one INSERT for all its messages).
-- Measured with eight clients (tests/bench/README.md): PostgreSQL time per
-- message 176 -> 147 us at 16 webhooks per batch, and in `make bench` with 64
-- senders 157 -> ~125 us per webhook; a batch of one costs more than before
-- (~0.4 ms against ~0.25 ms alone), which only happens when the database
-- keeps up anyway.
--
-- What is unchanged (tests/integration/test_ingest*.sh hold it): the
-- arguments and the one result per webhook; channel resolution under the
-- shared link lock (0008); skips; dedupe on the platform message id, also
-- within the batch (the first to arrive counts; 0008 counted the first in
-- channel and customer order, which differs only for one id sent for two
-- customers); sequence numbers contiguous per conversation in arrival
-- order; customer_name the latest one given; reply_due_at pushed by a
-- message that wants a reply and a notification when the conversation was
-- idle; statuses applied after the batch's messages; raw bodies in arrival
-- order.
--
-- Locks, in one order for every caller: the channel link locks (shared, by
-- phone number id), then new conversations inserted sorted by (agent,
-- customer), then all the batch's conversations locked FOR UPDATE in
-- conversation id order (the order 0012's reply batches lock them in). The
-- dedupe check runs after the conversation locks, so it sees every message
-- a concurrent batch stored for those conversations.

-- One message event of a batch, as the steps below pass it along.
CREATE TYPE parley_ingest_msg AS (
    w integer,          -- the webhook's position in the batch (1-based)
    i integer,          -- the event's position in its webhook
    platform text,
    channel text,
    customer text,
    id text,            -- platform message id
    kind text,
    body text,
    name text,
    ts bigint,          -- milliseconds since the epoch; 0 or NULL: now
    reply boolean,
    echo boolean,
    reply_to text,
    agent text,         -- resolved agent; NULL when skipped
    skip text           -- skip reason; NULL when the channel resolved
);

CREATE OR REPLACE FUNCTION parley_ingest_batch(p_objects text[], p_events jsonb[], p_raws bytea[],
                                               p_debounce_ms integer)
RETURNS jsonb[] LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_events, 1), 0);
    v_msgs parley_ingest_msg[];
    v_convs text[];
    v_agents text[];
    v_customers text[];
    v_idle boolean[];
    v_wanted integer;
    v_inserted integer;
    v_stored integer[];
    v_dups integer[];
    v_notify text[];
    v_statuses integer[];
    v_early integer[];
    v_results jsonb[];
    st record;
BEGIN
    IF n = 0 THEN
        RETURN '{}'::jsonb[];
    END IF;
    v_statuses := array_fill(0, ARRAY[n]);
    v_early := array_fill(0, ARRAY[n]);

    -- 1. The link lock (shared) on every channel the messages name, in id
    -- order, before the agents are read (see 0008).
    PERFORM parley_lock_channel_link(p.id, false)
       FROM (SELECT id FROM phone_numbers
              WHERE (meta_phone_number_id, platform) IN
                    (SELECT e->>'channel', e->>'platform'
                       FROM unnest(p_events) u(evs), jsonb_array_elements(u.evs) e
                      WHERE e->>'t' = 'm')
              ORDER BY id) p;

    -- 2. The message events, each with its agent or its skip reason. Never
    -- guess a channel: exactly one match, with an agent, or skip.
    SELECT coalesce(array_agg(ROW(x.w, x.i, x.platform, x.channel, x.customer, x.id, x.kind,
                                  x.text, x.name, x.ts, coalesce(x.reply, false),
                                  coalesce(x.echo, false), x.reply_to,
                                  CASE WHEN r.n = 1 THEN r.agent END,
                                  CASE WHEN r.n IS NULL THEN 'unknown_channel'
                                       WHEN r.n > 1 THEN 'ambiguous_channel'
                                       WHEN r.agent IS NULL THEN 'no_agent' END
                              )::parley_ingest_msg
                              ORDER BY x.platform, x.channel, x.customer, x.w, x.i), '{}')
      INTO v_msgs
      FROM (SELECT u.w::integer AS w, e.*
              FROM unnest(p_events) WITH ORDINALITY u(evs, w),
                   ROWS FROM (jsonb_to_recordset(u.evs) AS (
                       t text, platform text, channel text, customer text, id text, kind text,
                       text text, name text, ts bigint, reply boolean, echo boolean,
                       reply_to text))
                   WITH ORDINALITY AS e(t, platform, channel, customer, id, kind, text, name, ts,
                                        reply, echo, reply_to, i)
             WHERE e.t = 'm') x
      LEFT JOIN LATERAL (SELECT count(*) AS n, max(a.agent_id)::text AS agent
                           FROM phone_numbers p
                           LEFT JOIN agents a ON a.phone_number_id = p.id AND a.unlinked_at IS NULL
                          WHERE p.meta_phone_number_id = x.channel AND p.platform = x.platform
                         HAVING count(*) > 0) r ON true;

    -- 3. and 4. First contact creates the conversation (or finds the one a
    -- concurrent batch just created); then every conversation of the batch is
    -- locked. A message already stored creates nothing: it is a duplicate.
    -- Twice at most: a conversation archived while we waited for its lock is
    -- replaced on the second pass.
    FOR attempt IN 1..2 LOOP
        INSERT INTO conversations (conversation_id, agent_id, customer_phone, customer_name)
        SELECT gen_random_uuid()::text, m.agent, m.customer, max(m.name)
          FROM unnest(v_msgs) m
         WHERE m.agent IS NOT NULL
           AND (SELECT c.conversation_id FROM conversations c
                 WHERE c.agent_id = m.agent AND c.customer_phone = m.customer
                   AND c.is_active) IS NULL
           AND (SELECT x.message_id FROM messages x WHERE x.platform_message_id = m.id) IS NULL
         GROUP BY m.agent, m.customer
         ORDER BY m.agent, m.customer
        ON CONFLICT (agent_id, customer_phone) WHERE is_active DO NOTHING;

        SELECT coalesce(array_agg(l.conversation_id), '{}'), coalesce(array_agg(l.agent_id), '{}'),
               coalesce(array_agg(l.customer_phone), '{}'), coalesce(array_agg(l.idle), '{}')
          INTO v_convs, v_agents, v_customers, v_idle
          FROM (SELECT c.conversation_id
                  FROM (SELECT DISTINCT m.agent, m.customer FROM unnest(v_msgs) m
                         WHERE m.agent IS NOT NULL) k
                  JOIN conversations c
                    ON c.agent_id = k.agent AND c.customer_phone = k.customer AND c.is_active
                 ORDER BY c.conversation_id) ids
          JOIN LATERAL (SELECT c.conversation_id::text, c.agent_id::text, c.customer_phone::text,
                               c.reply_due_at IS NULL AS idle
                          FROM conversations c
                         WHERE c.conversation_id = ids.conversation_id AND c.is_active
                           FOR UPDATE) l ON true;

        EXIT WHEN NOT EXISTS (
            SELECT 1 FROM unnest(v_msgs) m
             WHERE m.agent IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM unnest(v_agents, v_customers) c(agent, customer)
                                WHERE c.agent = m.agent AND c.customer = m.customer)
               AND (SELECT x.message_id FROM messages x WHERE x.platform_message_id = m.id) IS NULL);
        IF attempt = 2 THEN
            RAISE EXCEPTION 'a conversation of this batch was archived twice while it was being stored'
                USING ERRCODE = '40001';
        END IF;
    END LOOP;

    -- 5. Dedupe (against stored messages, and within the batch: the first
    -- one counts), number the rest per conversation in arrival order, move
    -- each conversation on once, insert every message at once.
    WITH conv AS (
        SELECT * FROM unnest(v_convs, v_agents, v_customers, v_idle) c(id, agent, customer, idle)
    ), m AS (
        SELECT m.*, c.id AS conv, c.idle,
               m.id IS NOT NULL
               AND (row_number() OVER (PARTITION BY m.id ORDER BY m.w, m.i) > 1
                    OR EXISTS (SELECT 1 FROM messages x WHERE x.platform_message_id = m.id)) AS dup
          FROM unnest(v_msgs) m
          LEFT JOIN conv c ON c.agent = m.agent AND c.customer = m.customer
         WHERE m.agent IS NOT NULL
    ), k AS (
        SELECT m.*, row_number() OVER (PARTITION BY m.conv ORDER BY m.w, m.i) AS rn
          FROM m WHERE NOT m.dup
    ), g AS (
        SELECT k.conv, count(*) AS cnt, bool_or(k.reply AND NOT k.echo) AS wants_reply,
               bool_or(k.idle) AS idle,
               (array_agg(k.name ORDER BY k.w DESC, k.i DESC) FILTER (WHERE k.name IS NOT NULL))[1]
                   AS name
          FROM k GROUP BY k.conv
    ), up AS (
        UPDATE conversations c
           SET last_sequence_no = c.last_sequence_no + g.cnt,
               last_message_at = now() AT TIME ZONE 'UTC',
               customer_name = coalesce(g.name, c.customer_name),
               reply_due_at = CASE WHEN g.wants_reply
                                   THEN now() + make_interval(secs => p_debounce_ms / 1000.0)
                                   ELSE c.reply_due_at END
          FROM g
         WHERE c.conversation_id = g.conv
        RETURNING c.conversation_id, c.last_sequence_no - g.cnt AS base
    ), ins AS (
        INSERT INTO messages (message_id, conversation_id, sender, text, "timestamp", status,
                              sequence_no, platform_message_id, kind, reply_to, triggers_reply)
        SELECT gen_random_uuid()::text, k.conv,
               CASE WHEN k.echo THEN 'agent' ELSE 'user' END,
               k.body,
               CASE WHEN coalesce(k.ts, 0) > 0
                    THEN to_timestamp(k.ts / 1000.0) AT TIME ZONE 'UTC'
                    ELSE now() AT TIME ZONE 'UTC' END,
               'sent', up.base + k.rn, k.id, k.kind, k.reply_to, k.reply AND NOT k.echo
          FROM k JOIN up ON up.conversation_id = k.conv
         ORDER BY k.conv, k.rn
        ON CONFLICT (platform_message_id) WHERE platform_message_id IS NOT NULL DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM k), (SELECT count(*) FROM ins),
           ARRAY(SELECT count(k.w) FROM generate_series(1, n) s(w) LEFT JOIN k ON k.w = s.w
                  GROUP BY s.w ORDER BY s.w),
           ARRAY(SELECT count(m.w) FILTER (WHERE m.dup) FROM generate_series(1, n) s(w)
                   LEFT JOIN m ON m.w = s.w GROUP BY s.w ORDER BY s.w),
           ARRAY(SELECT g.conv FROM g WHERE g.wants_reply AND g.idle ORDER BY g.conv)
      INTO v_wanted, v_inserted, v_stored, v_dups, v_notify;

    -- A message stored by a concurrent batch under another conversation (so
    -- not seen above) would leave a gap in this one's numbers: fail the whole
    -- batch instead; its webhooks are stored again one by one, and see it.
    IF v_inserted <> v_wanted THEN
        RAISE EXCEPTION 'a message of this batch was stored concurrently elsewhere'
            USING ERRCODE = '40001';
    END IF;

    PERFORM pg_notify('parley_reply_due', c) FROM unnest(v_notify) c;

    -- 6. Statuses, after the messages (an echo and its status may share a
    -- batch), grouped by message id.
    FOR st IN
        SELECT u.w::integer AS w, e.id, e.status, e.error
          FROM unnest(p_events) WITH ORDINALITY u(evs, w),
               ROWS FROM (jsonb_to_recordset(u.evs) AS (t text, id text, status text, error text))
               WITH ORDINALITY AS e(t, id, status, error, i)
         WHERE e.t = 's'
         ORDER BY e.id, u.w, e.i
    LOOP
        IF parley_apply_status(st.id, st.status, st.error) THEN
            v_statuses[st.w] := v_statuses[st.w] + 1;
        ELSE
            v_early[st.w] := v_early[st.w] + 1;
        END IF;
    END LOOP;

    -- 7. Outcomes and raw bodies per webhook, in the order given (arrival
    -- order, which `parley capture` follows).
    WITH r AS (
        SELECT s.w, jsonb_build_object(
                   'stored', v_stored[s.w], 'duplicates', v_dups[s.w],
                   'statuses', v_statuses[s.w], 'early_statuses', v_early[s.w],
                   'skipped', coalesce(jsonb_array_length(sk.skips), 0),
                   'skips', coalesce(sk.skips, '[]'::jsonb)) AS res
          FROM generate_series(1, n) s(w)
          LEFT JOIN (SELECT m.w, jsonb_agg(jsonb_build_object('reason', m.skip,
                                                               'platform', m.platform,
                                                               'channel', m.channel)
                                           ORDER BY m.platform, m.channel, m.customer, m.i) AS skips
                       FROM unnest(v_msgs) m WHERE m.skip IS NOT NULL GROUP BY m.w) sk
            ON sk.w = s.w
    ), raw AS (
        INSERT INTO webhook_raw (object, body, outcome)
        SELECT p_objects[r.w], p_raws[r.w], r.res FROM r WHERE p_raws[r.w] IS NOT NULL
         ORDER BY r.w
    )
    SELECT array_agg(r.res ORDER BY r.w) INTO v_results FROM r;
    RETURN v_results;
END
$$;

-- The statements above are planned once per connection (a generic plan:
-- re-planning them at every call cost more than running them), and a plan
-- made while the tables are still small would scan them whole for ever
-- after; every lookup here has an index, so scans are ruled out.
ALTER FUNCTION parley_ingest_batch(text[], jsonb[], bytea[], integer)
    SET plan_cache_mode = force_generic_plan
    SET enable_seqscan = off;
