-- sql/functions/replies.sql: the reply worker's claim, store, send records and end.
--
-- Edited in place: `parley migrate` applies this file again whenever its
-- checksum changes (README.md, Migrations). CREATE OR REPLACE only;
-- a changed signature needs a DROP FUNCTION in a new versioned migration.
-- History before this file: git log -p sql/migrations/.

-- A refund inside parley_claim_replies: the conversation's charge goes back
-- to its tenant, and to P_BAL (tenant -> credits left, as the claim keeps
-- them while it holds the tenant's row) when the claim holds that row.
-- Returns P_BAL as it is now. A refund the database refuses must not fail
-- the claim of every other conversation: it is a warning, the charge stays,
-- and parley_finish_reply makes the conversation due a little later.
CREATE OR REPLACE FUNCTION parley_claim_refund(p_conv text, p_owner text, p_user text,
                                               p_credits integer, p_bal jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF parley_refund_reply(p_conv, p_owner, p_user, p_credits) AND p_bal ? p_user THEN
        RETURN jsonb_set(p_bal, ARRAY[p_user], to_jsonb((p_bal ->> p_user)::integer + p_credits));
    END IF;
    RETURN p_bal;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'refund of conversation % failed: %', p_conv, SQLERRM;
    RETURN p_bal;
END
$$;

-- Claims up to p_limit conversations whose reply is due and not leased.
-- For each returns the work as JSON: the channel and agent to answer with,
-- the unanswered customer messages (with their ad referrals), and agent
-- messages stored but never handed to the platform. Sends of unknown
-- outcome are marked failed here. Conversations with nothing left to do
-- are released on the spot.
-- A claimed conversation with customer messages to answer is charged
-- p_credits here (unless a claim before ours already was). A tenant with
-- too few credits gets its messages marked handled without a reply, and the
-- job is returned with "no_credits": true so that the caller can log and
-- count it; it needs nothing else.
-- The charge is taken once per tenant per claim, not once per conversation
-- (issue #20, item 3): the tenant's credits row is locked when the claim
-- first needs it (FOR UPDATE, after the conversations, as everywhere), the
-- conversations are charged against that balance here, and one UPDATE per
-- tenant at the end takes what they cost (and one UPDATE marks them
-- charged). The row stays locked until the claim commits, as it did when
-- each charge was its own UPDATE: what is charged adds up the same.
-- A charge a reply left behind (its process died after a final failure,
-- before the refund) is settled here: with nothing left to answer or send,
-- the credits go back; with customer messages to answer, it pays for their
-- reply; a part whose send a crash left unknown counts as delivered.
-- Each job carries a fresh "reply_token" for parley_store_reply.
-- Conversation control (SPEC 9.2, 9.3): a conversation with work to do
-- whose AI is paused (ai_paused_until after now), or whose 24-hour window
-- (window_expires_at, set by parley_ingest_batch) has closed, gets no reply:
-- nothing is charged, a charge left behind is refunded, a reply stored but
-- never handed to the platform is dropped (its parts marked failed), and
-- the job is returned with "skipped": "paused" or "window_closed" for the
-- caller to log and count, and nothing else. A closed window marks the
-- customer messages handled (they stay stored; a new customer message opens
-- the window again). A pause keeps them unanswered: the conversation is due
-- again when a timed pause ends (reply_due_at := ai_paused_until, so that
-- no worker wakes for it before), and never by itself under an open-ended
-- ('infinity') pause: resuming makes it due. Webchat has no window (NULL).
-- Each job carries a fresh "reply_token" for parley_store_reply, and
-- "read_id", the platform id of the latest customer message it answers (the
-- read receipt's message_id, README: Read receipts and typing). A webchat
-- reply that starts is notified on parley_webchat, so that the session's
-- polls report agent_typing at once (parley_webchat_typing).
-- A disabled tenant's conversations are left out (parley_disabled_agents,
-- sql/functions/common.sql): they stay due, and are answered once it is
-- enabled again.
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
    v_lost integer;
    v_skip text;
    v_human jsonb;
    v_have integer;
    v_bal jsonb := '{}';       -- tenant -> credits left, this claim's charges taken off
    v_used jsonb := '{}';      -- tenant -> credits this claim takes
    v_to_charge text[] := '{}'; -- conversations this claim charges
    v_claimed text[];
    v_fast text[] := '{}';
    t record;
BEGIN
    WITH due AS (
        SELECT conversation_id FROM conversations
         WHERE reply_due_at <= now() AND (is_active OR reply_lease_owner IS NOT NULL)
           AND (reply_lease_until IS NULL OR reply_lease_until < now())
           AND agent_id <> ALL ((SELECT parley_disabled_agents())::text[])
         ORDER BY reply_due_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED),
    leased AS (
        UPDATE conversations k
           SET reply_lease_owner = p_owner,
               reply_lease_until = now() + make_interval(secs => p_lease_seconds)
          FROM due
         WHERE k.conversation_id = due.conversation_id
        RETURNING k.conversation_id)
    SELECT coalesce(array_agg(conversation_id), '{}') INTO v_claimed FROM leased;

    -- The common case, set-based (issue #20, item 3: this loop cost ~300 us
    -- of PostgreSQL CPU per reply over a set-based floor, tests/bench/
    -- reply_steps.sh): an active conversation with customer messages to
    -- answer, no charge left behind, no agent message pending (lost or
    -- unsent), not paused, its window open, of a tenant with credits for
    -- all of its conversations in this claim. Such a conversation takes
    -- exactly the loop's path below: charged, and returned with its inputs.
    -- Every other one goes through the loop.
    FOR t IN
        WITH cand AS (
            SELECT k.conversation_id, a.user_id
              FROM conversations k JOIN agents a USING (agent_id)
             WHERE k.conversation_id = ANY (v_claimed) AND k.is_active AND NOT k.reply_charged
               AND NOT parley_ai_paused(k.ai_paused_until)
               AND (k.window_expires_at IS NULL OR k.window_expires_at > now())
               AND EXISTS (SELECT 1 FROM messages m
                            WHERE m.conversation_id = k.conversation_id AND m.sender = 'user'
                              AND m.triggers_reply AND m.sequence_no > k.replied_through_seq)
               AND NOT EXISTS (SELECT 1 FROM messages m
                                WHERE m.conversation_id = k.conversation_id AND m.sender = 'agent'
                                  AND m.status = 'pending'))
        SELECT user_id, array_agg(conversation_id) AS convs FROM cand GROUP BY user_id
         ORDER BY user_id
    LOOP
        IF p_credits > 0 THEN
            -- Locked in tenant order, after the conversations, as everywhere.
            SELECT remaining_credits INTO v_have FROM credits WHERE user_id = t.user_id
               FOR UPDATE;
            CONTINUE WHEN coalesce(v_have, 0) < cardinality(t.convs) * p_credits;
            v_bal := v_bal || jsonb_build_object(t.user_id, v_have - cardinality(t.convs) * p_credits);
            v_used := v_used || jsonb_build_object(t.user_id, cardinality(t.convs) * p_credits);
        END IF;
        v_fast := v_fast || t.convs;
    END LOOP;
    v_to_charge := v_fast;
    IF cardinality(v_fast) > 0 THEN
        PERFORM pg_notify('parley_webchat', k.customer_phone)
           FROM conversations k JOIN agents a USING (agent_id)
           JOIN phone_numbers p ON p.id = a.phone_number_id
          WHERE k.conversation_id = ANY (v_fast) AND p.platform = 'webchat';
        RETURN QUERY
        SELECT jsonb_build_object(
                'conversation_id', k.conversation_id,
                'agent_id', k.agent_id,
                'customer', k.customer_phone,
                'openai_conversation_id', k.openai_conversation_id,
                'charged', true,
                'no_credits', false,
                'skipped', NULL,
                'through', i.through,
                'inputs', i.inputs,
                'human', h.human,
                'referrals', r.referrals,
                'unsent', '[]'::jsonb,
                'reply_token', gen_random_uuid()::text,
                'read_id', (SELECT m.platform_message_id FROM messages m
                             WHERE m.conversation_id = k.conversation_id AND m.sender = 'user'
                               AND m.sequence_no <= i.through
                             ORDER BY m.sequence_no DESC LIMIT 1),
                'user_id', a.user_id,
                'prompt_id', a.prompt_id,
                'platform', p.platform,
                'channel', p.meta_phone_number_id,
                'access_token', p.access_token)
          FROM conversations k JOIN agents a USING (agent_id)
          JOIN phone_numbers p ON p.id = a.phone_number_id
         CROSS JOIN LATERAL (
                SELECT jsonb_agg(jsonb_build_object('seq', m.sequence_no, 'text', m.text)
                                 ORDER BY m.sequence_no) AS inputs,
                       max(m.sequence_no) AS through
                  FROM messages m
                 WHERE m.conversation_id = k.conversation_id AND m.sender = 'user'
                   AND m.triggers_reply AND m.sequence_no > k.replied_through_seq) i
         CROSS JOIN LATERAL (
                SELECT coalesce(jsonb_agg(m.referral ORDER BY m.sequence_no), '[]') AS referrals
                  FROM messages m
                 WHERE m.conversation_id = k.conversation_id AND m.sender = 'user'
                   AND m.referral IS NOT NULL
                   AND m.sequence_no > k.replied_through_seq AND m.sequence_no <= i.through) r
         CROSS JOIN LATERAL (
                SELECT coalesce(jsonb_agg(jsonb_build_object('seq', m.sequence_no, 'text', m.text)
                                          ORDER BY m.sequence_no), '[]') AS human
                  FROM messages m
                 WHERE m.conversation_id = k.conversation_id AND m.sender = 'agent'
                   AND m.author = 'human' AND m.status <> 'failed'
                   AND m.sequence_no > coalesce((SELECT max(x.sequence_no) FROM messages x
                                                  WHERE x.conversation_id = k.conversation_id
                                                    AND x.author = 'ai'), 0)) h
         WHERE k.conversation_id = ANY (v_fast);
    END IF;

    FOR c IN
        SELECT k.* FROM unnest(ARRAY(SELECT x FROM unnest(v_claimed) x WHERE x <> ALL (v_fast))) u (id)
          JOIN conversations k ON k.conversation_id = u.id
    LOOP
        WITH lost AS (
            UPDATE messages SET status = 'failed'
             WHERE conversation_id = c.conversation_id AND sender = 'agent'
               AND status = 'pending' AND send_started_at IS NOT NULL
               -- A person's message is sent by `parley conversation send`,
               -- which may be at it right now: lost only once older than
               -- any send of its could last (human.sql).
               AND (author <> 'human' OR send_started_at < now() - interval '30 minutes')
            RETURNING message_id),
        marked AS (
            UPDATE message_delivery_status d
               SET status = 'failed', updated_at = now() AT TIME ZONE 'UTC',
                   error_message = 'send outcome unknown after a restart; not sent again'
              FROM lost WHERE d.message_id = lost.message_id)
        SELECT count(*) INTO v_lost FROM lost;

        SELECT a.user_id INTO v_user FROM agents a WHERE a.agent_id = c.agent_id;
        v_charged := c.reply_charged;
        IF v_charged AND v_lost > 0 THEN
            -- A part that may have reached the customer: the reply is paid.
            UPDATE conversations SET reply_charged = false
             WHERE conversation_id = c.conversation_id;
            v_charged := false;
        END IF;

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
            IF v_charged THEN
                -- A reply that failed for good and whose refund did not
                -- happen: its process died first, or the database refused it.
                v_bal := parley_claim_refund(c.conversation_id, p_owner, v_user, p_credits, v_bal);
            END IF;
            PERFORM parley_finish_reply(c.conversation_id, p_owner);
            CONTINUE;
        END IF;

        v_skip := CASE WHEN c.ai_paused_until > now() THEN 'paused'
                       WHEN c.window_expires_at <= now() THEN 'window_closed' END;
        IF v_skip IS NOT NULL THEN
            WITH dropped AS (
                UPDATE messages SET status = 'failed'
                 WHERE conversation_id = c.conversation_id AND sender = 'agent'
                   AND status = 'pending' AND send_started_at IS NULL
                RETURNING message_id)
            UPDATE message_delivery_status d
               SET status = 'failed', updated_at = now() AT TIME ZONE 'UTC',
                   error_message = CASE v_skip
                                       WHEN 'paused' THEN 'not sent: the conversation is paused'
                                       ELSE 'not sent: the 24-hour window had closed' END
              FROM dropped WHERE d.message_id = dropped.message_id;
            IF v_charged THEN
                -- Dropped before it was sent: the charge goes back.
                v_bal := parley_claim_refund(c.conversation_id, p_owner, v_user, p_credits, v_bal);
            END IF;
            IF v_skip = 'window_closed' THEN
                PERFORM parley_skip_reply(c.conversation_id, p_owner, v_through);
            ELSE
                UPDATE conversations k
                   SET reply_lease_owner = NULL, reply_lease_until = NULL,
                       reply_due_at = CASE
                            WHEN NOT k.is_active THEN NULL
                            WHEN k.reply_charged THEN now() + interval '5 seconds'
                            WHEN jsonb_array_length(v_inputs) > 0
                                 AND isfinite(k.ai_paused_until) THEN k.ai_paused_until
                            END
                 WHERE k.conversation_id = c.conversation_id AND k.reply_lease_owner = p_owner;
            END IF;
            v_charged := false;
            v_unsent := '[]';
        END IF;

        v_refused := false;
        IF v_skip IS NULL AND jsonb_array_length(v_unsent) = 0 AND NOT v_charged THEN
            IF p_credits > 0 AND NOT v_bal ? v_user THEN
                SELECT remaining_credits INTO v_have FROM credits WHERE user_id = v_user
                   FOR UPDATE;
                v_bal := v_bal || jsonb_build_object(v_user, coalesce(v_have, 0));
            END IF;
            v_charged := p_credits <= 0 OR (v_bal ->> v_user)::integer >= p_credits;
            IF v_charged THEN
                v_to_charge := v_to_charge || c.conversation_id;
                IF p_credits > 0 THEN
                    v_bal := jsonb_set(v_bal, ARRAY[v_user],
                                       to_jsonb((v_bal ->> v_user)::integer - p_credits));
                    v_used := jsonb_set(v_used, ARRAY[v_user],
                                        to_jsonb(coalesce((v_used ->> v_user)::integer, 0)
                                                 + p_credits));
                END IF;
            ELSE
                PERFORM parley_skip_reply(c.conversation_id, p_owner, v_through);
                v_refused := true;
            END IF;
        END IF;

        -- What a person wrote since the agent's last turn (sent with
        -- `parley conversation send` or echoed from the business's app):
        -- the agent sees it as its own side of the conversation before it
        -- answers (docs/protocol.md, OpenAI).
        SELECT coalesce(jsonb_agg(jsonb_build_object('seq', sequence_no, 'text', text)
                                  ORDER BY sequence_no), '[]')
          INTO v_human
          FROM messages
         WHERE conversation_id = c.conversation_id AND sender = 'agent' AND author = 'human'
           AND status <> 'failed'
           AND sequence_no > coalesce((SELECT max(sequence_no) FROM messages
                                        WHERE conversation_id = c.conversation_id
                                          AND author = 'ai'), 0);
        IF v_skip IS NULL AND NOT v_refused AND jsonb_array_length(v_unsent) = 0 THEN
            PERFORM pg_notify('parley_webchat', c.customer_phone)
               FROM agents a JOIN phone_numbers p ON p.id = a.phone_number_id
              WHERE a.agent_id = c.agent_id AND p.platform = 'webchat';
        END IF;

        RETURN NEXT (
            SELECT jsonb_build_object(
                'conversation_id', c.conversation_id,
                'agent_id', c.agent_id,
                'customer', c.customer_phone,
                'openai_conversation_id', c.openai_conversation_id,
                'charged', v_charged,
                'no_credits', v_refused,
                'skipped', v_skip,
                'through', v_through,
                'inputs', v_inputs,
                'human', v_human,
                'referrals', v_referrals,
                'unsent', v_unsent,
                'reply_token', gen_random_uuid()::text,
                'read_id', (SELECT m.platform_message_id FROM messages m
                             WHERE m.conversation_id = c.conversation_id AND m.sender = 'user'
                               AND m.sequence_no <= v_through
                             ORDER BY m.sequence_no DESC LIMIT 1),
                'user_id', a.user_id,
                'prompt_id', a.prompt_id,
                'platform', p.platform,
                'channel', p.meta_phone_number_id,
                'access_token', p.access_token)
              FROM agents a JOIN phone_numbers p ON p.id = a.phone_number_id
             WHERE a.agent_id = c.agent_id);
    END LOOP;
    -- The charges: one UPDATE for the conversations, one per tenant for
    -- the credits (their rows are locked already, the balance checked).
    IF cardinality(v_to_charge) > 0 THEN
        UPDATE conversations SET reply_charged = true
         WHERE conversation_id = ANY (v_to_charge) AND reply_lease_owner = p_owner;
    END IF;
    IF v_used <> '{}' THEN
        UPDATE credits k
           SET remaining_credits = k.remaining_credits - u.n::integer,
               total_used = k.total_used + u.n::integer,
               last_updated = now() AT TIME ZONE 'UTC'
          FROM jsonb_each_text(v_used) u (user_id, n)
         WHERE k.user_id = u.user_id;
    END IF;
END
$$;

-- Stores a produced reply as pending agent messages (one per part, numbered
-- with the conversation's counter) and marks the customer messages it covers
-- answered, in one transaction; the first part is marked as being sent in
-- the same transaction (the send follows at once). Refuses (returns NULL)
-- when the claim is no longer ours, so a process whose lease ran out never
-- sends. Keyed by p_token (the claim's reply_token, kept on the stored
-- messages): when messages of this conversation already carry it, an
-- earlier attempt committed and its answer was lost, and they are returned
-- as that attempt returned them; nothing is stored twice. The charge stays
-- on the conversation until a part is recorded sent or the refund runs.
-- A pause that landed while the reply was produced (handoff.sql) drops it
-- here, under the row lock that the pause's UPDATE also takes: nothing is
-- stored, the charge (p_credits) goes back to the tenant once
-- (parley_refund_reply), the claim is released with the customer messages
-- left unanswered (parley_resume_ai has them answered; a timed pause makes
-- the conversation due when it ends), and {"paused": true, "refunded": …}
-- is returned. Not for p_escalated: the reply whose own model called
-- escalate_to_human is sent despite the pause it made.
CREATE OR REPLACE FUNCTION parley_store_reply(p_conv text, p_owner text, p_through integer,
                                   p_parts jsonb, p_token text, p_credits integer,
                                   p_escalated boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_seq integer;
    v_paused timestamptz;
    v_user text;
    v_refunded boolean;
    v_part jsonb;
    v_id text;
    v_first boolean := true;
    v_out jsonb := '[]';
BEGIN
    SELECT c.last_sequence_no, c.ai_paused_until, a.user_id INTO v_seq, v_paused, v_user
      FROM conversations c JOIN agents a USING (agent_id)
     WHERE c.conversation_id = p_conv AND c.reply_lease_owner = p_owner
       AND c.reply_lease_until > now()
       FOR UPDATE OF c;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- The parts come after every message the reply covers.
    SELECT jsonb_agg(jsonb_build_object('message_id', message_id, 'seq', sequence_no,
                                        'text', text) ORDER BY sequence_no)
      INTO v_out
      FROM messages
     WHERE conversation_id = p_conv AND sequence_no > p_through AND sender = 'agent'
       AND reply_token = p_token;
    IF v_out IS NOT NULL THEN
        RETURN v_out;
    END IF;
    IF parley_ai_paused(v_paused) AND NOT coalesce(p_escalated, false) THEN
        v_refunded := parley_refund_reply(p_conv, p_owner, v_user, p_credits);
        UPDATE conversations
           SET reply_lease_owner = NULL, reply_lease_until = NULL,
               reply_due_at = CASE WHEN ai_paused_until = 'infinity' THEN NULL
                                   ELSE ai_paused_until END
         WHERE conversation_id = p_conv;
        RETURN jsonb_build_object('paused', true, 'refunded', v_refunded);
    END IF;
    v_out := '[]';
    FOR v_part IN SELECT * FROM jsonb_array_elements(p_parts) LOOP
        v_seq := v_seq + 1;
        v_id := gen_random_uuid()::text;
        INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no,
                              kind, "timestamp", send_started_at, reply_token, author)
        VALUES (v_id, p_conv, 'agent', v_part #>> '{}', 'pending', v_seq, 'text',
                now() AT TIME ZONE 'UTC', CASE WHEN v_first THEN now() END, p_token, 'ai');
        INSERT INTO message_delivery_status (message_id, status, updated_at)
        VALUES (v_id, 'pending', now() AT TIME ZONE 'UTC');
        v_out := v_out || jsonb_build_object('message_id', v_id, 'seq', v_seq,
                                             'text', v_part #>> '{}');
        v_first := false;
    END LOOP;
    UPDATE conversations
       SET last_sequence_no = v_seq, last_message_at = now() AT TIME ZONE 'UTC',
           replied_through_seq = greatest(replied_through_seq, p_through)
     WHERE conversation_id = p_conv;
    RETURN v_out;
END
$$;

-- parley_store_reply for each (conversation, through, parts, token,
-- escalated), in order of the arrays, each charged p_credits: one row per
-- element, NULL where the claim is no longer ours.
-- Set-based for the common case (issue #20, item 3: the loop of
-- parley_store_reply cost ~320 us of PostgreSQL CPU per reply, a
-- statement per step per reply): an element whose conversation appears once
-- in the batch, whose claim is ours, that is not paused (or escalated it),
-- has parts, and stored nothing under its token yet is stored by the three
-- statements below for the whole batch, with what parley_store_reply would
-- store and return. Every other element (a pause, a token already used, a
-- claim lost, a conversation twice) goes through parley_store_reply as
-- before. Every conversation of the batch is locked first, in id order,
-- as the loop locked them (conversation rows before anything else).
CREATE OR REPLACE FUNCTION parley_store_replies(p_owner text, p_credits integer, p_convs text[],
                                     p_through integer[], p_parts jsonb[], p_tokens text[],
                                     p_escalated boolean[])
RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_out jsonb[] := array_fill(NULL::jsonb, ARRAY[cardinality(p_convs)]);
    v_done boolean[] := array_fill(false, ARRAY[cardinality(p_convs)]);
    v_i integer;
    v_row record;
BEGIN
    PERFORM 1 FROM conversations WHERE conversation_id = ANY (p_convs)
     ORDER BY conversation_id FOR UPDATE;
    FOR v_row IN
        WITH req AS (
            SELECT i, p_convs[i] AS conv, p_through[i] AS through, p_parts[i] AS parts,
                   p_tokens[i] AS token, coalesce(p_escalated[i], false) AS escalated,
                   count(*) OVER (PARTITION BY p_convs[i]) AS times
              FROM generate_subscripts(p_convs, 1) i),
        fast AS (
            SELECT r.i, r.conv, r.through, r.parts, r.token, c.last_sequence_no AS seq0
              FROM req r JOIN conversations c ON c.conversation_id = r.conv
             WHERE r.times = 1 AND jsonb_typeof(r.parts) = 'array'
               AND jsonb_array_length(r.parts) > 0
               AND c.reply_lease_owner = p_owner AND c.reply_lease_until > now()
               AND (NOT parley_ai_paused(c.ai_paused_until) OR r.escalated)
               AND NOT EXISTS (SELECT 1 FROM messages m
                                WHERE m.conversation_id = r.conv AND m.sequence_no > r.through
                                  AND m.sender = 'agent' AND m.reply_token = r.token)),
        parts AS MATERIALIZED (
            SELECT f.i, f.conv, f.token, f.seq0 + p.n::integer AS seq, p.part #>> '{}' AS text,
                   p.n = 1 AS first, gen_random_uuid()::text AS id
              FROM fast f, jsonb_array_elements(f.parts) WITH ORDINALITY p (part, n)),
        stored AS (
            INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no,
                                  kind, "timestamp", send_started_at, reply_token, author)
            SELECT id, conv, 'agent', text, 'pending', seq, 'text', now() AT TIME ZONE 'UTC',
                   CASE WHEN first THEN now() END, token, 'ai'
              FROM parts
            RETURNING message_id),
        delivery AS (
            INSERT INTO message_delivery_status (message_id, status, updated_at)
            SELECT message_id, 'pending', now() AT TIME ZONE 'UTC' FROM stored),
        counted AS (
            UPDATE conversations k
               SET last_sequence_no = f.seq0 + jsonb_array_length(f.parts),
                   last_message_at = now() AT TIME ZONE 'UTC',
                   replied_through_seq = greatest(k.replied_through_seq, f.through)
              FROM fast f
             WHERE k.conversation_id = f.conv)
        SELECT p.i, jsonb_agg(jsonb_build_object('message_id', p.id, 'seq', p.seq, 'text', p.text)
                              ORDER BY p.seq) AS out
          FROM parts p GROUP BY p.i
    LOOP
        v_out[v_row.i] := v_row.out;
        v_done[v_row.i] := true;
    END LOOP;
    FOR v_i IN SELECT i FROM generate_subscripts(p_convs, 1) i WHERE NOT v_done[i]
                ORDER BY p_convs[i], i LOOP
        v_out[v_i] := parley_store_reply(p_convs[v_i], p_owner, p_through[v_i], p_parts[v_i],
                                         p_tokens[v_i], p_credits, p_escalated[v_i]);
    END LOOP;
    RETURN QUERY SELECT v_out[i] FROM generate_subscripts(p_convs, 1) i ORDER BY i;
END
$$;

-- Records that the platform accepted an agent message: status sent, its
-- platform id, a delivery row, and any status that arrived for that id
-- before this moment applied on top; "spends" is true for the first record
-- of an AI reply's part, whose caller then spends the reply's charge
-- (conv: the message's conversation). Run twice, it changes nothing more.
-- A platform id Graph returns for a second message stays with the message
-- that had it first: this one becomes 'sent' without it, its delivery row
-- names the holder, and the holder's id is returned as holder (NULL when
-- there was no collision) so that parley logs and counts it. The check
-- comes before the UPDATE: a subtransaction per call would cost every send.
-- A part another process marked failed as "send outcome unknown" (its
-- claim found the lease run out, e.g. during a database outage longer than
-- the lease, while this process was still sending) is known now: its
-- delivery row moves to sent as well (found by tests/topology).
CREATE OR REPLACE FUNCTION parley_record_sent_message(p_message text, p_pmid text,
                                                      OUT holder text, OUT spends boolean,
                                                      OUT conv text)
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    v_holder text;
    v_conv text;
    v_was text;
    v_author text;
BEGIN
    SELECT conversation_id, status, author INTO v_conv, v_was, v_author FROM messages
     WHERE message_id = p_message;
    IF p_pmid IS NOT NULL THEN
        SELECT message_id INTO v_holder FROM messages
         WHERE platform_message_id = p_pmid AND message_id <> p_message;
    END IF;
    UPDATE messages
       SET status = 'sent',
           platform_message_id = CASE WHEN v_holder IS NULL THEN p_pmid END
     WHERE message_id = p_message;
    PERFORM parley_emit_message_event('message.sent', p_message, NULL) WHERE v_was IS DISTINCT FROM 'sent'; -- events out (events.sql)
    -- Only the first record of a part: run again (its answer was lost), it
    -- must not take the charge of a reply claimed since.
    -- A person's message (`parley conversation send`) pays no reply.
    spends := v_was = 'pending' AND v_author = 'ai';
    conv := v_conv;
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
     WHERE parley_status_rank(d.status) < parley_status_rank('sent')
        OR d.status = 'failed' AND d.error_message = 'send outcome unknown after a restart; not sent again';
    IF p_pmid IS NOT NULL AND v_holder IS NULL THEN
        FOR p IN DELETE FROM pending_delivery_status WHERE platform_message_id = p_pmid
                 RETURNING status, error_message LOOP
            PERFORM parley_apply_status(p_pmid, p.status, p.error_message);
        END LOOP;
    END IF;
    holder := v_holder;
END
$$;

-- The reply's charge is spent: its first part reached the platform.
CREATE OR REPLACE FUNCTION parley_spend_reply_charge(p_conv text)
RETURNS void LANGUAGE sql AS $$
    UPDATE conversations SET reply_charged = false
     WHERE conversation_id = p_conv AND reply_charged;
$$;

-- parley_record_sent_message and the charge's spending, for a part sent
-- on its own (not the last of a reply: parley_finish_sent_replies spends it
-- in the release's UPDATE instead).
CREATE OR REPLACE FUNCTION parley_record_sent(p_message text, p_pmid text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    r := parley_record_sent_message(p_message, p_pmid);
    IF r.spends THEN
        PERFORM parley_spend_reply_charge(r.conv);
    END IF;
    RETURN r.holder;
END
$$;

-- Records a final send failure with the platform's error.
CREATE OR REPLACE FUNCTION parley_record_failed(p_message text, p_error text)
RETURNS void LANGUAGE sql AS $$
    SELECT parley_emit_message_event('message.failed', message_id, jsonb_build_object('error', p_error)) FROM messages WHERE message_id = p_message AND status IS DISTINCT FROM 'failed'; -- events out (events.sql)
    UPDATE messages SET status = 'failed' WHERE message_id = p_message;
    INSERT INTO message_delivery_status AS d (message_id, status, error_message, updated_at)
    VALUES (p_message, 'failed', p_error, now() AT TIME ZONE 'UTC')
    ON CONFLICT (message_id) DO UPDATE
       SET status = 'failed', error_message = EXCLUDED.error_message,
           updated_at = EXCLUDED.updated_at;
$$;

-- The last part of a reply was sent: parley_record_sent and
-- parley_finish_reply for each element (the charge spent in the release's
-- UPDATE: one new version of the conversation row instead of two), and the
-- webchat notification where p_notify names a session. One row per element:
-- whether its conversation is due again (customer messages came while the
-- reply was produced), so that parley claims again only then, and the
-- holder of a colliding platform id (parley_record_sent).
CREATE OR REPLACE FUNCTION parley_finish_sent_replies(p_owner text, p_messages text[], p_pmids text[],
                                           p_convs text[], p_notify text[])
RETURNS TABLE (due boolean, pmid_holder text) LANGUAGE plpgsql AS $$
DECLARE
    v_due boolean[] := array_fill(false, ARRAY[cardinality(p_convs)]);
    v_holder text[] := array_fill(NULL::text, ARRAY[cardinality(p_convs)]);
    v_done boolean[] := array_fill(false, ARRAY[cardinality(p_convs)]);
    v_sent text[] := '{}';
    v_i integer;
    v_one boolean;
    r record;
BEGIN
    -- Every conversation of the batch locked first, in id order (the
    -- conversation before its messages, as everywhere).
    PERFORM 1 FROM conversations WHERE conversation_id = ANY (p_convs)
     ORDER BY conversation_id FOR UPDATE;
    -- The common case, set-based (issue #20, item 3; the loop below cost
    -- ~90 us of PostgreSQL CPU per reply over a set-based floor,
    -- tests/bench/reply_steps.sh): an AI part still pending, recorded for
    -- the first time, with a platform id that no message holds and no
    -- status waits for, whose conversation and message appear once in the
    -- batch and whose claim is ours. It takes exactly the loop's path:
    -- sent, its delivery row, the charge spent and the claim released in
    -- one row version, due again only when customer messages wait.
    FOR r IN
        WITH req AS (
            SELECT i, p_messages[i] AS msg, p_pmids[i] AS pmid, p_convs[i] AS conv,
                   count(*) OVER (PARTITION BY p_convs[i]) AS convs,
                   count(*) OVER (PARTITION BY p_messages[i]) AS msgs
              FROM generate_subscripts(p_convs, 1) i),
        fast AS MATERIALIZED (
            SELECT q.i, q.msg, q.pmid, q.conv
              FROM req q
              JOIN messages m ON m.message_id = q.msg
              JOIN conversations k ON k.conversation_id = q.conv
             WHERE q.convs = 1 AND q.msgs = 1 AND q.pmid IS NOT NULL
               AND m.conversation_id = q.conv AND m.status = 'pending' AND m.author = 'ai'
               AND k.reply_lease_owner = p_owner
               AND NOT EXISTS (SELECT 1 FROM messages x WHERE x.platform_message_id = q.pmid)
               AND NOT EXISTS (SELECT 1 FROM pending_delivery_status w
                                WHERE w.platform_message_id = q.pmid)),
        sent AS (
            UPDATE messages m SET status = 'sent', platform_message_id = f.pmid
              FROM fast f WHERE m.message_id = f.msg),
        delivery AS (
            INSERT INTO message_delivery_status AS d (message_id, platform_message_id, status,
                                                      error_message, updated_at)
            SELECT f.msg, f.pmid, 'sent', NULL, now() AT TIME ZONE 'UTC' FROM fast f
            ON CONFLICT (message_id) DO UPDATE
               SET status = 'sent', platform_message_id = EXCLUDED.platform_message_id,
                   error_message = NULL, updated_at = EXCLUDED.updated_at
             WHERE parley_status_rank(d.status) < parley_status_rank('sent')
                OR d.status = 'failed'
                   AND d.error_message = 'send outcome unknown after a restart; not sent again'),
        released AS (
            UPDATE conversations c
               SET reply_lease_owner = NULL, reply_lease_until = NULL, reply_charged = false,
                   reply_due_at = CASE WHEN c.is_active AND EXISTS (
                            SELECT 1 FROM messages m
                             WHERE m.conversation_id = c.conversation_id AND m.sender = 'user'
                               AND m.triggers_reply AND m.sequence_no > c.replied_through_seq)
                        THEN coalesce(c.reply_due_at, now()) END
              FROM fast f
             WHERE c.conversation_id = f.conv
            RETURNING f.i, f.msg, c.reply_due_at IS NOT NULL AS due)
        SELECT * FROM released
    LOOP
        v_due[r.i] := r.due;
        v_done[r.i] := true;
        v_sent := v_sent || r.msg;
    END LOOP;
    PERFORM parley_emit_message_event('message.sent', m, NULL) FROM unnest(v_sent) m; -- events out (events.sql)
    FOR v_i IN SELECT i FROM generate_subscripts(p_convs, 1) i ORDER BY p_convs[i], i LOOP
        IF NOT v_done[v_i] THEN
            r := parley_record_sent_message(p_messages[v_i], p_pmids[v_i]);
            v_holder[v_i] := r.holder;
            -- The charge spent and the claim released in one row version.
            v_one := parley_release_reply(p_convs[v_i], p_owner, r.spends);
            IF v_one IS NULL THEN
                -- Not our claim any more: spent all the same, due as it is.
                IF r.spends THEN
                    PERFORM parley_spend_reply_charge(r.conv);
                END IF;
                SELECT reply_due_at IS NOT NULL INTO v_one FROM conversations
                 WHERE conversation_id = p_convs[v_i];
            END IF;
            v_due[v_i] := coalesce(v_one, true);
        END IF;
        IF p_notify[v_i] IS NOT NULL THEN
            PERFORM pg_notify('parley_webchat', p_notify[v_i]);
        END IF;
    END LOOP;
    RETURN QUERY SELECT v_due[i], v_holder[i] FROM generate_subscripts(p_convs, 1) i ORDER BY i;
END
$$;

-- Ends a claim: the lease is released, and the conversation stays due only
-- if customer messages arrived that no reply covers yet. An archived
-- conversation is never due again (see below). A conversation left with a
-- charge and nothing to answer (its reply failed and the refund did not
-- happen) is due again in a few seconds, so that a claim settles it.
-- plpgsql rather than LANGUAGE sql: a SQL function that cannot be inlined
-- is parsed and planned again at every call, which made it the costliest
-- step of a finishing batch; plpgsql keeps its plan for the session.
CREATE OR REPLACE FUNCTION parley_finish_reply(p_conv text, p_owner text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM parley_release_reply(p_conv, p_owner, false);
END
$$;

-- parley_finish_reply's UPDATE, which may also spend the reply's charge
-- (p_spend: its last part was just recorded sent, parley_finish_sent_replies).
-- Whether the conversation is due again; NULL when p_owner's claim is gone.
CREATE OR REPLACE FUNCTION parley_release_reply(p_conv text, p_owner text, p_spend boolean)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_due boolean;
BEGIN
    UPDATE conversations c
       SET reply_lease_owner = NULL, reply_lease_until = NULL,
           reply_charged = c.reply_charged AND NOT p_spend,
           reply_due_at = CASE WHEN c.is_active AND EXISTS (
                    SELECT 1 FROM messages m
                     WHERE m.conversation_id = c.conversation_id AND m.sender = 'user'
                       AND m.triggers_reply AND m.sequence_no > c.replied_through_seq)
                THEN coalesce(c.reply_due_at, now())
                WHEN c.is_active AND c.reply_charged AND NOT p_spend
                THEN now() + interval '5 seconds'
                ELSE NULL END
     WHERE c.conversation_id = p_conv AND c.reply_lease_owner = p_owner
    RETURNING c.reply_due_at IS NOT NULL INTO v_due;
    RETURN v_due;
END
$$;

-- Marks the customer messages through p_through as handled without a reply
-- (the tenant had no credits).
CREATE OR REPLACE FUNCTION parley_skip_reply(p_conv text, p_owner text, p_through integer)
RETURNS void LANGUAGE sql AS $$
    UPDATE conversations SET replied_through_seq = greatest(replied_through_seq, p_through)
     WHERE conversation_id = p_conv AND reply_lease_owner = p_owner;
    SELECT parley_finish_reply(p_conv, p_owner);
$$;

-- Gives a failed reply's credits back, once: only while the conversation
-- carries the charge and p_owner holds its claim (else whoever claims it
-- next settles the charge); true when the credits went back. Locks in the order every other
-- function does: the conversation first, then the tenant's credits (the
-- other order deadlocked against parley_fail_extraction and the claims;
-- tests/integration/test_lock_order.sh).
CREATE OR REPLACE FUNCTION parley_refund_reply(p_conv text, p_owner text, p_user text, p_amount integer)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET reply_charged = false
     WHERE conversation_id = p_conv AND reply_lease_owner = p_owner AND reply_charged;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE credits
       SET remaining_credits = remaining_credits + p_amount,
           total_used = greatest(total_used - p_amount, 0),
           last_updated = now() AT TIME ZONE 'UTC'
     WHERE user_id = p_user AND p_amount > 0;
    RETURN true;
END
$$;

-- Milliseconds until the next reply is due (0 when one is due now), -1 when
-- none is pending: when the reply workers wake next. A conversation leased
-- by a live process is left out (its job ends with a finish, or its lease
-- runs out and makes it claimable); an archived one counts only while a
-- lease of a dead process holds it, so that its reply is finished.
-- greatest() skips NULLs, hence the CASE: coalesce(greatest(0, NULL), -1)
-- is 0, which made an idle worker claim every few milliseconds.
CREATE OR REPLACE FUNCTION parley_next_reply_ms()
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT CASE WHEN min(reply_due_at) IS NULL THEN -1
                        ELSE greatest(0, extract(epoch FROM min(reply_due_at) - now()) * 1000)
                   END::bigint
              FROM conversations
             WHERE reply_due_at IS NOT NULL
               AND (is_active OR reply_lease_owner IS NOT NULL)
               AND (reply_lease_until IS NULL OR reply_lease_until < now())
               AND agent_id <> ALL ((SELECT parley_disabled_agents())::text[]));
END
$$;

-- Extends the lease of every conversation p_owner is producing a reply for
-- to p_seconds from now; the number of leases renewed. A lease is short and
-- renewed while its job runs, so that the work of a process that died is
-- taken over within one lease, not after the slowest possible job.
CREATE OR REPLACE FUNCTION parley_renew_reply_leases(p_owner text, p_seconds integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_n integer;
BEGIN
    UPDATE conversations SET reply_lease_until = now() + make_interval(secs => p_seconds)
     WHERE reply_lease_owner = p_owner;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;
