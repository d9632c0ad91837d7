-- sql/schema.sql: written by `make schema` (tests/lib/schema.sh) from a fresh
-- `parley migrate`; never edited by hand. Change sql/migrations or
-- sql/functions, then run `make schema` and commit both.
--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: parley_ai_paused(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_ai_paused(p_until timestamp with time zone) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT p_until IS NOT NULL AND p_until > now();
$$;


--
-- Name: parley_apply_status(text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_apply_status(p_pmid text, p_status text, p_error text) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_mid text;
BEGIN
    SELECT message_id INTO v_mid FROM messages
     WHERE platform_message_id = p_pmid AND sender = 'agent';
    IF v_mid IS NULL THEN
        INSERT INTO pending_delivery_status AS p (platform_message_id, status, error_message)
        VALUES (p_pmid, p_status, p_error)
        ON CONFLICT (platform_message_id) DO UPDATE
           SET status = EXCLUDED.status, error_message = EXCLUDED.error_message,
               received_at = now()
         WHERE parley_status_rank(EXCLUDED.status) > parley_status_rank(p.status);
        RETURN false;
    END IF;
    INSERT INTO message_delivery_status AS d (message_id, platform_message_id, status,
                                              error_message, updated_at)
    VALUES (v_mid, p_pmid, p_status, p_error, now() AT TIME ZONE 'UTC')
    ON CONFLICT (message_id) DO UPDATE
       SET status = EXCLUDED.status, error_message = EXCLUDED.error_message,
           platform_message_id = EXCLUDED.platform_message_id,
           updated_at = EXCLUDED.updated_at
     WHERE parley_status_rank(EXCLUDED.status) > parley_status_rank(d.status);
    -- Events out (events.sql), once per status reached (statuses only move
    -- forward): delivered and read as message.status; failed (Meta's
    -- statuses[] entry with errors[] after an accepted send) as
    -- message.failed with the error, as parley_record_failed emits it.
    IF FOUND THEN
        IF p_status IN ('delivered', 'read') THEN
            PERFORM parley_emit_message_event('message.status', v_mid,
                                              jsonb_build_object('status', p_status));
        ELSIF p_status = 'failed' THEN
            PERFORM parley_emit_message_event('message.failed', v_mid,
                                              jsonb_build_object('error', p_error));
        END IF;
    END IF;
    RETURN true;
END
$$;


--
-- Name: parley_archive_agent_conversations(text, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_archive_agent_conversations(p_agent text, p_archive text, p_new_agent text, p_reason text) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_conv text;
    v_n integer := 0;
BEGIN
    FOR v_conv IN
        UPDATE conversations
           SET is_active = false,
               reply_due_at = CASE WHEN reply_lease_owner IS NULL THEN NULL ELSE reply_due_at END
         WHERE agent_id = p_agent AND is_active
        RETURNING conversation_id
    LOOP
        v_n := v_n + 1;
        PERFORM parley_emit_conversation_event('conversation.archived', v_conv, NULL,
            jsonb_build_object('archive_id', p_archive, 'old_agent_id', p_agent,
                               'new_agent_id', p_new_agent, 'reason', p_reason));
    END LOOP;
    RETURN v_n;
END
$$;


--
-- Name: parley_archive_conversation(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_archive_conversation(p_conv text, p_tenant text) RETURNS TABLE(r_status text)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_active boolean;
    v_agent text;
BEGIN
    SELECT c.is_active INTO v_active
      FROM conversations c JOIN agents a ON a.agent_id = c.agent_id
     WHERE c.conversation_id = p_conv AND (p_tenant IS NULL OR a.user_id = p_tenant)
       FOR UPDATE OF c;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF NOT v_active THEN
        RETURN QUERY SELECT 'already_archived'::text;
        RETURN;
    END IF;
    UPDATE conversations
       SET is_active = false,
           reply_due_at = CASE WHEN reply_lease_owner IS NULL THEN NULL ELSE reply_due_at END
     WHERE conversation_id = p_conv
    RETURNING agent_id INTO v_agent;
    -- Events out (events.sql): no archive row, no new agent.
    PERFORM parley_emit_conversation_event('conversation.archived', p_conv, NULL,
        jsonb_build_object('archive_id', NULL, 'old_agent_id', v_agent,
                           'new_agent_id', NULL, 'reason', 'archive'));
    RETURN QUERY SELECT 'archived'::text;
END
$$;


--
-- Name: parley_calendar_state(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_calendar_state(p_user text) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT coalesce((SELECT CASE WHEN disconnected_at IS NULL THEN 'connected'
                                 ELSE 'disconnected' END
                       FROM google_calendar_tokens WHERE user_id = p_user), 'not connected');
$$;


--
-- Name: parley_claim_event_deliveries(text, integer, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_claim_event_deliveries(p_owner text, p_limit integer, p_lease_seconds integer, p_max_per_endpoint integer) RETURNS SETOF jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    ep record;
    r record;
    v_live integer;
    v_left integer := p_limit;
BEGIN
    FOR ep IN
        SELECT e.endpoint_id, e.url, e.secret,
               CASE WHEN e.previous_secret_until > now() THEN e.previous_secret END AS previous
          FROM event_endpoints e
         WHERE e.disabled_at IS NULL
           AND EXISTS (SELECT 1 FROM event_deliveries d
                        WHERE d.endpoint_id = e.endpoint_id AND d.state = 'pending'
                          AND d.next_attempt_at <= now()
                          AND (d.lease_until IS NULL OR d.lease_until < now()))
         ORDER BY e.endpoint_id
           FOR UPDATE OF e SKIP LOCKED
    LOOP
        EXIT WHEN v_left <= 0;
        SELECT count(*) INTO v_live FROM event_deliveries
         WHERE endpoint_id = ep.endpoint_id AND state = 'pending' AND lease_until > now();
        CONTINUE WHEN v_live >= p_max_per_endpoint;
        FOR r IN
            WITH due AS (
                SELECT d.delivery_id FROM event_deliveries d
                 WHERE d.endpoint_id = ep.endpoint_id AND d.state = 'pending'
                   AND d.next_attempt_at <= now()
                   AND (d.lease_until IS NULL OR d.lease_until < now())
                   AND NOT EXISTS (
                       SELECT 1 FROM event_deliveries x
                        WHERE x.endpoint_id = d.endpoint_id
                          AND x.conversation_id = d.conversation_id
                          AND x.state = 'pending' AND x.event_seq < d.event_seq)
                 ORDER BY d.event_seq
                 LIMIT least(p_max_per_endpoint - v_live, v_left)
                   FOR UPDATE SKIP LOCKED)
            UPDATE event_deliveries k
               SET lease_owner = p_owner,
                   lease_until = now() + make_interval(secs => p_lease_seconds),
                   attempts = k.attempts + 1
              FROM due, event_outbox o
             WHERE k.delivery_id = due.delivery_id AND o.seq = k.event_seq
            RETURNING k.delivery_id, k.attempts, k.conversation_id, o.event_id, o.type,
                      o.body, extract(epoch FROM o.created_at) AS created
        LOOP
            v_left := v_left - 1;
            RETURN NEXT jsonb_build_object(
                'delivery_id', r.delivery_id, 'attempt', r.attempts,
                'endpoint_id', ep.endpoint_id, 'url', ep.url, 'secret', ep.secret,
                'previous_secret', ep.previous, 'conversation_id', r.conversation_id,
                'event_id', r.event_id, 'type', r.type, 'body', r.body::text,
                'created', r.created);
        END LOOP;
    END LOOP;
END
$$;


--
-- Name: parley_claim_extractions(text, integer, integer, integer, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_claim_extractions(p_owner text, p_limit integer, p_lease_seconds integer, p_every integer, p_idle_seconds integer, p_credits integer) RETURNS SETOF jsonb
    LANGUAGE plpgsql
    AS $$
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
               k.extracted_through_seq, k.extraction_charged, k.extraction_failures,
               k.ai_paused_until, k.ai_paused_reason, k.escalated_at
          FROM conversations k
         WHERE (k.last_sequence_no > k.extraction_checked_seq OR NOT k.is_active)
           AND k.last_sequence_no > k.extracted_through_seq
           AND (NOT k.is_active
                OR k.last_message_at <= (now() AT TIME ZONE 'UTC')
                                        - make_interval(secs => p_idle_seconds))
           AND (k.next_extraction_at IS NULL OR k.next_extraction_at <= now())
           AND (k.extraction_lease_until IS NULL OR k.extraction_lease_until < now())
           AND k.agent_id <> ALL ((SELECT parley_disabled_agents())::text[])
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
                                                     'author', author,
                                                     'text', text)
                                  || CASE WHEN referral IS NULL THEN '{}'::jsonb
                                          ELSE jsonb_build_object('referral', referral) END
                                  ORDER BY sequence_no), '[]')
          INTO v_transcript
          FROM (SELECT sequence_no, sender, author, text, referral FROM messages
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
            'handoff', jsonb_build_object(
                'escalated', c.escalated_at IS NOT NULL,
                'paused_until', parley_paused_until_text(c.ai_paused_until),
                'reason', CASE WHEN parley_ai_paused(c.ai_paused_until)
                               THEN c.ai_paused_reason END),
            'transcript', v_transcript);
    END LOOP;
END
$$;


--
-- Name: parley_claim_refund(text, text, text, integer, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_claim_refund(p_conv text, p_owner text, p_user text, p_credits integer, p_bal jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: parley_claim_replies(text, integer, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_claim_replies(p_owner text, p_limit integer, p_lease_seconds integer, p_credits integer) RETURNS SETOF jsonb
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: parley_claim_stale_bookings(integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_claim_stale_bookings(p_limit integer, p_lease_seconds integer) RETURNS SETOF jsonb
    LANGUAGE sql
    AS $$
    WITH stale AS (
        SELECT b.meeting_id FROM meeting_bookings b
          JOIN conversations c USING (conversation_id)
         WHERE b.lease_until < now()
           AND (c.reply_lease_until IS NULL OR c.reply_lease_until < now())
         ORDER BY b.lease_until
         LIMIT p_limit
           FOR UPDATE OF b SKIP LOCKED)
    UPDATE meeting_bookings k
       SET lease_until = now() + make_interval(secs => p_lease_seconds)
      FROM stale
     WHERE k.meeting_id = stale.meeting_id
    RETURNING to_jsonb(k) || jsonb_build_object(
        'start_epoch', extract(epoch FROM k.meeting_time AT TIME ZONE 'UTC')::bigint);
$$;


--
-- Name: parley_complete_meetings(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_complete_meetings() RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    n integer;
BEGIN
    UPDATE meetings SET status = 'completed'
     WHERE status = 'scheduled' AND meeting_time < now() AT TIME ZONE 'UTC'
       AND meeting_time + make_interval(mins => coalesce(duration_minutes, 30))
           < now() AT TIME ZONE 'UTC';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;


--
-- Name: parley_disabled_agents(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_disabled_agents() RETURNS text[]
    LANGUAGE sql STABLE
    AS $$
    SELECT coalesce(array_agg(a.agent_id), '{}')
      FROM users u JOIN agents a ON a.user_id = u.user_id
     WHERE u.disabled_at IS NOT NULL;
$$;


--
-- Name: parley_emit_conversation_event(text, text, integer, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_emit_conversation_event(p_type text, p_conv text, p_seq integer, p_extra jsonb) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_user text;
    v_data jsonb;
    v_msg jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM event_endpoints WHERE disabled_at IS NULL) THEN
        RETURN NULL;
    END IF;
    -- The tenant, and whether it wants this type, before building anything.
    SELECT a.user_id INTO v_user
      FROM conversations c JOIN agents a ON a.agent_id = c.agent_id
     WHERE c.conversation_id = p_conv;
    IF v_user IS NULL OR NOT EXISTS (
           SELECT 1 FROM event_endpoints
            WHERE user_id = v_user AND disabled_at IS NULL
              AND event_types && ARRAY['*', p_type]::text[]) THEN
        RETURN NULL;
    END IF;
    SELECT jsonb_build_object('conversation_id', c.conversation_id, 'customer', c.customer_phone,
                              'customer_name', c.customer_name, 'channel', p.id,
                              'platform', p.platform, 'agent_id', a.agent_id)
      INTO v_data
      FROM conversations c
      JOIN agents a ON a.agent_id = c.agent_id
      JOIN phone_numbers p ON p.id = a.phone_number_id
     WHERE c.conversation_id = p_conv;
    IF p_seq IS NOT NULL THEN
        SELECT jsonb_build_object('message_id', m.message_id, 'sequence_no', m.sequence_no,
                                  'text', m.text, 'author', m.author, 'kind', m.kind,
                                  'platform_message_id', m.platform_message_id,
                                  'timestamp', parley_event_time(m."timestamp" AT TIME ZONE 'UTC'))
          INTO v_msg
          FROM messages m WHERE m.conversation_id = p_conv AND m.sequence_no = p_seq;
        v_data := v_data || coalesce(v_msg, '{}'::jsonb);
    END IF;
    RETURN parley_emit_event(v_user, p_type, p_conv, v_data || coalesce(p_extra, '{}'::jsonb));
END
$$;


--
-- Name: parley_emit_event(text, text, text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_emit_event(p_user text, p_type text, p_conv text, p_data jsonb) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_id text;
    v_seq bigint;
    v_now timestamptz := clock_timestamp();
BEGIN
    IF NOT parley_events_wanted(p_user, p_type) THEN
        RETURN NULL;
    END IF;
    v_id := 'evt_' || replace(gen_random_uuid()::text, '-', '');
    INSERT INTO event_outbox (event_id, user_id, type, conversation_id, created_at, body)
    VALUES (v_id, p_user, p_type, p_conv, v_now,
            jsonb_build_object('id', v_id, 'type', p_type,
                               'created_at', parley_event_time(v_now),
                               'tenant', p_user, 'data', coalesce(p_data, '{}'::jsonb)))
    RETURNING seq INTO v_seq;
    INSERT INTO event_deliveries (event_seq, endpoint_id, conversation_id, age_from)
    SELECT v_seq, endpoint_id, p_conv, v_now FROM event_endpoints
     WHERE user_id = p_user AND disabled_at IS NULL
       AND event_types && ARRAY['*', p_type]::text[];
    PERFORM pg_notify('parley_event_due', '');
    RETURN v_id;
END
$$;


--
-- Name: parley_emit_lead_events(text, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_emit_lead_events(p_conv text, p_extraction uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_lead jsonb;
    v_tag text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM event_endpoints WHERE disabled_at IS NULL) THEN
        RETURN;
    END IF;
    SELECT jsonb_build_object(
               'extraction_id', e.extraction_id::text, 'name', e.name, 'email', e.email,
               'company', e.company, 'intent', e.intent, 'tag', e.lead_status_tag,
               'score', e.total_score, 'smart_notification', e.smart_notification,
               'notes', e.notes, 'intent_score', e.intent_score,
               'urgency_score', e.urgency_score, 'budget_score', e.budget_score,
               'fit_score', e.fit_score, 'engagement_score', e.engagement_score,
               'through_sequence_no', e.message_count_at_extraction),
           e.lead_status_tag
      INTO v_lead, v_tag
      FROM extractions e WHERE e.extraction_id = p_extraction;
    IF v_lead IS NULL THEN
        RETURN;
    END IF;
    PERFORM parley_emit_conversation_event('lead.extracted', p_conv, NULL,
                                           jsonb_build_object('lead', v_lead));
    IF v_tag = 'Hot' AND NOT EXISTS (
           SELECT 1 FROM extractions
            WHERE conversation_id = p_conv AND lead_status_tag = 'Hot'
              AND extraction_id <> p_extraction) THEN
        PERFORM parley_emit_conversation_event('lead.hot', p_conv, NULL,
                                               jsonb_build_object('lead', v_lead));
    END IF;
END
$$;


--
-- Name: parley_emit_meeting_event(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_emit_meeting_event(p_type text, p_meeting text) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_conv text;
    v_meeting jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM event_endpoints WHERE disabled_at IS NULL) THEN
        RETURN NULL;
    END IF;
    SELECT m.conversation_id,
           jsonb_build_object('meeting_id', m.meeting_id, 'title', m.title,
                              'time', parley_event_time(m.meeting_time AT TIME ZONE 'UTC'),
                              'duration_minutes', m.duration_minutes, 'timezone', m.timezone,
                              'meet_link', m.meet_link, 'customer_name', m.customer_name,
                              'customer_email', m.customer_email,
                              -- the caller's statement may not show its own change yet
                              'status', CASE p_type WHEN 'meeting.cancelled' THEN 'cancelled'
                                                    ELSE m.status END,
                              'google_event_id', m.google_event_id)
      INTO v_conv, v_meeting
      FROM meetings m WHERE m.meeting_id = p_meeting;
    IF v_conv IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN parley_emit_conversation_event(p_type, v_conv, NULL,
                                          jsonb_build_object('meeting', v_meeting));
END
$$;


--
-- Name: parley_emit_message_event(text, text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_emit_message_event(p_type text, p_message text, p_extra jsonb) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_conv text;
    v_seq integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM event_endpoints WHERE disabled_at IS NULL) THEN
        RETURN NULL;
    END IF;
    SELECT conversation_id, sequence_no INTO v_conv, v_seq FROM messages
     WHERE message_id = p_message;
    IF v_conv IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN parley_emit_conversation_event(p_type, v_conv, v_seq, p_extra);
END
$$;


--
-- Name: parley_emit_ping(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_emit_ping(p_endpoint text) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_user text;
    v_id text := 'evt_' || replace(gen_random_uuid()::text, '-', '');
    v_seq bigint;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT user_id INTO v_user FROM event_endpoints WHERE endpoint_id = p_endpoint;
    IF v_user IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO event_outbox (event_id, user_id, type, conversation_id, created_at, body)
    VALUES (v_id, v_user, 'ping', NULL, v_now,
            jsonb_build_object('id', v_id, 'type', 'ping', 'created_at', parley_event_time(v_now),
                               'tenant', v_user,
                               'data', jsonb_build_object('endpoint_id', p_endpoint)))
    RETURNING seq INTO v_seq;
    INSERT INTO event_deliveries (event_seq, endpoint_id, conversation_id, age_from)
    VALUES (v_seq, p_endpoint, NULL, v_now);
    PERFORM pg_notify('parley_event_due', '');
    RETURN v_id;
END
$$;


--
-- Name: parley_enable_endpoint(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_enable_endpoint(p_endpoint text, p_tenant text) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE event_endpoints
       SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL
     WHERE endpoint_id = p_endpoint AND (p_tenant IS NULL OR user_id = p_tenant);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE event_deliveries SET next_attempt_at = now(), age_from = now()
     WHERE endpoint_id = p_endpoint AND state = 'pending';
    PERFORM pg_notify('parley_event_due', '');
    RETURN true;
END
$$;


--
-- Name: parley_event_backlog(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_event_backlog() RETURNS TABLE(endpoint_id text, disabled boolean, backlog bigint)
    LANGUAGE sql STABLE
    AS $$
    SELECT e.endpoint_id, e.disabled_at IS NOT NULL,
           (SELECT count(*) FROM event_deliveries d
             WHERE d.endpoint_id = e.endpoint_id AND d.state = 'pending' AND d.attempts > 0
               AND d.lease_until IS NULL)
      FROM event_endpoints e ORDER BY e.endpoint_id
$$;


--
-- Name: parley_event_time(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_event_time(p timestamp with time zone) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;


--
-- Name: parley_events_enabled_for_agent(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_events_enabled_for_agent(p_agent text) RETURNS boolean
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM agents a
                     JOIN event_endpoints e ON e.user_id = a.user_id AND e.disabled_at IS NULL
                    WHERE a.agent_id = p_agent);
END
$$;


--
-- Name: parley_events_wanted(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_events_wanted(p_user text, p_type text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT EXISTS (SELECT 1 FROM event_endpoints
                    WHERE user_id = p_user AND disabled_at IS NULL
                      AND event_types && ARRAY['*', p_type]::text[])
       AND NOT EXISTS (SELECT 1 FROM users WHERE user_id = p_user AND disabled_at IS NOT NULL)
$$;


--
-- Name: parley_fail_extraction(text, text, integer, integer, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_fail_extraction(p_conv text, p_owner text, p_through integer, p_credits integer, p_backoff_seconds integer, p_max_failures integer) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_user text;
    v_charged boolean;
    v_failures integer;
    v_wait double precision;
BEGIN
    SELECT a.user_id, c.extraction_charged, c.extraction_failures + 1
      INTO v_user, v_charged, v_failures
      FROM conversations c JOIN agents a ON a.agent_id = c.agent_id
     WHERE c.conversation_id = p_conv AND c.extraction_lease_owner = p_owner
       FOR UPDATE OF c;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_charged AND p_credits > 0 THEN
        UPDATE credits
           SET remaining_credits = remaining_credits + p_credits,
               total_used = greatest(total_used - p_credits, 0),
               last_updated = now() AT TIME ZONE 'UTC'
         WHERE user_id = v_user;
    END IF;
    IF v_failures >= p_max_failures THEN
        UPDATE conversations
           SET extracted_through_seq = greatest(extracted_through_seq, p_through),
               extraction_checked_seq = greatest(extraction_checked_seq, p_through),
               extraction_failures = 0, next_extraction_at = NULL, extraction_charged = false,
               extraction_lease_owner = NULL, extraction_lease_until = NULL
         WHERE conversation_id = p_conv;
        RETURN jsonb_build_object('failures', v_failures, 'retry_in', 0, 'gave_up', true);
    END IF;
    v_wait := least(p_backoff_seconds * power(2, v_failures - 1), 3600);
    UPDATE conversations
       SET extraction_failures = v_failures,
           next_extraction_at = now() + make_interval(secs => v_wait),
           extraction_charged = false,
           extraction_lease_owner = NULL, extraction_lease_until = NULL
     WHERE conversation_id = p_conv;
    RETURN jsonb_build_object('failures', v_failures, 'retry_in', v_wait, 'gave_up', false);
END
$$;


--
-- Name: parley_finish_reply(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_finish_reply(p_conv text, p_owner text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM parley_release_reply(p_conv, p_owner, false);
END
$$;


--
-- Name: parley_finish_sent_replies(text, text[], text[], text[], text[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_finish_sent_replies(p_owner text, p_messages text[], p_pmids text[], p_convs text[], p_notify text[]) RETURNS TABLE(due boolean, pmid_holder text)
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: parley_handoff(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_handoff(p_conv text, p_reason text) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF parley_pause_ai(p_conv, NULL, p_reason) IS NULL THEN
        RETURN false;
    END IF;
    UPDATE conversations SET escalated_at = now() WHERE conversation_id = p_conv;
    PERFORM parley_emit_conversation_event('conversation.handoff', p_conv, NULL,
                jsonb_build_object('reason', left(p_reason, 500), 'source', 'agent'));
    RETURN true;
END
$$;


--
-- Name: parley_ingest(text, jsonb, bytea, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_ingest(p_object text, p_events jsonb, p_raw bytea, p_debounce_ms integer) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
BEGIN
    RETURN (parley_ingest_batch(ARRAY[p_object], ARRAY[p_events], ARRAY[p_raw],
                                p_debounce_ms))[1];
END
$$;


--
-- Name: parley_ingest_batch(text[], jsonb[], bytea[], integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_ingest_batch(p_objects text[], p_events jsonb[], p_raws bytea[], p_debounce_ms integer, p_pause_minutes integer DEFAULT 60) RETURNS jsonb[]
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
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


--
-- Name: parley_lock_channel_link(text, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_lock_channel_link(p_channel text, p_exclusive boolean) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF p_exclusive THEN
        PERFORM pg_advisory_xact_lock(1885434476, hashtext(p_channel));
    ELSE
        PERFORM pg_advisory_xact_lock_shared(1885434476, hashtext(p_channel));
    END IF;
END
$$;


--
-- Name: parley_mark_sending(text, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_mark_sending(p_message text, p_despite_pause boolean) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NOT p_despite_pause AND EXISTS (
        SELECT 1 FROM messages m JOIN conversations c USING (conversation_id)
         WHERE m.message_id = p_message AND parley_ai_paused(c.ai_paused_until)) THEN
        RETURN false;
    END IF;
    UPDATE messages SET send_started_at = now() WHERE message_id = p_message;
    RETURN true;
END
$$;


--
-- Name: parley_meeting_confirm(text, text, text, text, text, text, text, timestamp without time zone, integer, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_meeting_confirm(p_meeting text, p_user text, p_conv text, p_event text, p_title text, p_name text, p_email text, p_time timestamp without time zone, p_duration integer, p_timezone text, p_link text) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    v jsonb;
BEGIN
    INSERT INTO meetings (meeting_id, user_id, conversation_id, google_event_id, title,
                          customer_name, customer_email, participants, meeting_time,
                          duration_minutes, timezone, meet_link, status,
                          created_at, updated_at)
    VALUES (p_meeting, p_user, p_conv, p_event, p_title, p_name, p_email, ARRAY[p_email],
            p_time, p_duration, p_timezone, p_link, 'scheduled',
            now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
    ON CONFLICT DO NOTHING;
    PERFORM parley_emit_meeting_event('meeting.booked', p_meeting) WHERE FOUND; -- events out (events.sql)
    DELETE FROM meeting_bookings WHERE meeting_id = p_meeting;
    SELECT to_jsonb(m) INTO v FROM meetings m
     WHERE m.meeting_id = p_meeting OR (m.user_id = p_user AND m.google_event_id = p_event)
     LIMIT 1;
    RETURN v;
END
$$;


--
-- Name: parley_meeting_reserve(text, text, text, text, timestamp without time zone, integer, text, text, text, text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_meeting_reserve(p_meeting text, p_event text, p_user text, p_conv text, p_time timestamp without time zone, p_duration integer, p_timezone text, p_title text, p_name text, p_email text, p_lease_seconds integer) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    m meetings%ROWTYPE;
    v_id text;
    v_event text;
    v_new boolean;
BEGIN
    SELECT * INTO m FROM meetings
     WHERE conversation_id = p_conv AND meeting_time = p_time AND status = 'scheduled'
     ORDER BY created_at LIMIT 1;
    IF FOUND THEN
        RETURN jsonb_build_object('state', 'booked', 'meeting_id', m.meeting_id,
                                  'google_event_id', m.google_event_id, 'meet_link', m.meet_link,
                                  'duration_minutes', m.duration_minutes, 'timezone', m.timezone,
                                  'title', m.title, 'customer_email', m.customer_email);
    END IF;
    INSERT INTO meeting_bookings AS k (meeting_id, user_id, conversation_id, google_event_id,
                                       meeting_time, duration_minutes, timezone, title,
                                       customer_name, customer_email, lease_until)
    VALUES (p_meeting, p_user, p_conv, p_event, p_time, p_duration, p_timezone, p_title, p_name,
            p_email, now() + make_interval(secs => p_lease_seconds))
    ON CONFLICT (conversation_id, meeting_time) DO UPDATE
       SET duration_minutes = EXCLUDED.duration_minutes, timezone = EXCLUDED.timezone,
           title = EXCLUDED.title, customer_name = EXCLUDED.customer_name,
           customer_email = EXCLUDED.customer_email, lease_until = EXCLUDED.lease_until
    RETURNING k.meeting_id, k.google_event_id, (k.xmax = 0) INTO v_id, v_event, v_new;
    RETURN jsonb_build_object('state', CASE WHEN v_new THEN 'new' ELSE 'resume' END,
                              'meeting_id', v_id, 'google_event_id', v_event);
END
$$;


--
-- Name: parley_message_author_from_sender(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_message_author_from_sender() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.author := CASE WHEN NEW.sender = 'agent' THEN 'ai' ELSE 'customer' END;
    RETURN NEW;
END
$$;


--
-- Name: parley_next_event_delivery_ms(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_next_event_delivery_ms() RETURNS bigint
    LANGUAGE sql STABLE
    AS $$
    -- greatest() skips NULLs (greatest(0, NULL) is 0): "none" must be
    -- decided before it, or an idle worker would claim every few ms.
    SELECT CASE WHEN due IS NULL THEN -1
                ELSE greatest(0, ceil(extract(epoch FROM due - now()) * 1000))::bigint END
      FROM (SELECT min(greatest(d.next_attempt_at, coalesce(d.lease_until, d.next_attempt_at))) AS due
      FROM event_deliveries d
      JOIN event_endpoints e ON e.endpoint_id = d.endpoint_id AND e.disabled_at IS NULL
     WHERE d.state = 'pending'
       AND NOT EXISTS (SELECT 1 FROM event_deliveries x
                        WHERE x.endpoint_id = d.endpoint_id
                          AND x.conversation_id = d.conversation_id
                          AND x.state = 'pending' AND x.event_seq < d.event_seq)
       AND NOT EXISTS (SELECT 1 FROM event_deliveries x
                        WHERE x.endpoint_id = d.endpoint_id AND x.state = 'pending'
                          AND x.lease_until > now())) n
$$;


--
-- Name: parley_next_extraction_ms(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_next_extraction_ms(p_idle_seconds integer) RETURNS bigint
    LANGUAGE sql STABLE
    AS $$
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
               AND (extraction_lease_until IS NULL OR extraction_lease_until < now())
               AND agent_id <> ALL ((SELECT parley_disabled_agents())::text[])) s
$$;


--
-- Name: parley_next_reply_ms(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_next_reply_ms() RETURNS bigint
    LANGUAGE plpgsql STABLE
    AS $$
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


--
-- Name: parley_pause_ai(text, integer, text, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_pause_ai(p_conv text, p_minutes integer, p_reason text, p_replace boolean DEFAULT false) RETURNS timestamp with time zone
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_until timestamptz;
    v_out timestamptz;
BEGIN
    IF p_minutes IS NOT NULL AND p_minutes <= 0 THEN
        RAISE EXCEPTION 'parley_pause_ai: minutes must be positive, not %', p_minutes
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_until := CASE WHEN p_minutes IS NULL THEN 'infinity'::timestamptz
                    ELSE now() + make_interval(mins => p_minutes) END;
    UPDATE conversations
       SET ai_paused_until = CASE WHEN p_replace OR NOT parley_ai_paused(ai_paused_until)
                                       OR ai_paused_until <= v_until
                                  THEN v_until ELSE ai_paused_until END,
           ai_paused_reason = CASE WHEN p_replace OR NOT parley_ai_paused(ai_paused_until)
                                        OR ai_paused_until <= v_until
                                   THEN left(p_reason, 500) ELSE ai_paused_reason END
     WHERE conversation_id = p_conv
    RETURNING ai_paused_until INTO v_out;
    RETURN v_out;
END
$$;


--
-- Name: parley_paused_until_text(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_paused_until_text(p_until timestamp with time zone) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT CASE WHEN NOT parley_ai_paused(p_until) THEN NULL
                WHEN p_until = 'infinity' THEN 'infinity'
                ELSE to_char(p_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') END;
$$;


--
-- Name: parley_prune_events(bigint, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_prune_events(p_keep_seconds bigint, p_limit integer) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_n integer;
BEGIN
    DELETE FROM event_outbox WHERE seq = ANY (ARRAY(
        SELECT o.seq FROM event_outbox o
         WHERE o.created_at < now() - make_interval(secs => p_keep_seconds)
           AND NOT EXISTS (SELECT 1 FROM event_deliveries d
                            WHERE d.event_seq = o.seq AND d.state = 'pending')
         ORDER BY o.created_at LIMIT p_limit));
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;


--
-- Name: parley_prune_raw_webhooks(integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_prune_raw_webhooks(p_keep_days integer, p_limit integer) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: parley_record_event_attempt(bigint, text, integer, integer, text, integer, text, bigint, bigint, bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_record_event_attempt(p_delivery bigint, p_owner text, p_attempt integer, p_status integer, p_error text, p_duration_ms integer, p_verdict text, p_retry_ms bigint, p_max_age_seconds bigint, p_disable_after_seconds bigint) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    d record;
    v_state text;
    v_since timestamptz;
    v_disabled boolean := false;
BEGIN
    SELECT k.*, o.created_at AS event_at INTO d
      FROM event_deliveries k JOIN event_outbox o ON o.seq = k.event_seq
     WHERE k.delivery_id = p_delivery AND k.lease_owner = p_owner AND k.attempts = p_attempt
       AND k.state = 'pending'
       FOR UPDATE OF k;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO event_attempts (delivery_id, attempted_at, http_status, error, duration_ms)
    VALUES (p_delivery, now() - make_interval(secs => p_duration_ms / 1000.0),
            nullif(p_status, 0), p_error, p_duration_ms);
    v_state := CASE
        WHEN p_verdict = 'ok' THEN 'delivered'
        WHEN p_verdict = 'final' THEN 'failed'
        WHEN now() + make_interval(secs => p_retry_ms / 1000.0)
             > d.age_from + make_interval(secs => p_max_age_seconds) THEN 'failed'
        ELSE 'pending' END;
    UPDATE event_deliveries
       SET state = v_state,
           lease_owner = NULL, lease_until = NULL,
           next_attempt_at = CASE WHEN v_state = 'pending'
                                  THEN now() + make_interval(secs => p_retry_ms / 1000.0)
                                  ELSE next_attempt_at END,
           last_status = nullif(p_status, 0), last_error = p_error,
           finished_at = CASE WHEN v_state = 'pending' THEN NULL ELSE now() END
     WHERE delivery_id = p_delivery;
    IF p_verdict = 'ok' THEN
        UPDATE event_endpoints SET failing_since = NULL
         WHERE endpoint_id = d.endpoint_id AND failing_since IS NOT NULL;
    ELSE
        UPDATE event_endpoints SET failing_since = coalesce(failing_since, now())
         WHERE endpoint_id = d.endpoint_id
        RETURNING failing_since INTO v_since;
        IF v_since < now() - make_interval(secs => p_disable_after_seconds) THEN
            UPDATE event_endpoints
               SET disabled_at = now(),
                   disabled_reason = format('every delivery failed since %s (last: %s)',
                                            parley_event_time(v_since),
                                            coalesce(p_error, 'HTTP ' || p_status))
             WHERE endpoint_id = d.endpoint_id AND disabled_at IS NULL;
            v_disabled := FOUND;
        END IF;
    END IF;
    IF v_state <> 'pending' THEN
        PERFORM pg_notify('parley_event_due', '');
    END IF;
    RETURN jsonb_build_object('state', v_state, 'disabled', v_disabled,
                              'latency', extract(epoch FROM now() - d.event_at));
END
$$;


--
-- Name: parley_record_failed(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_record_failed(p_message text, p_error text) RETURNS void
    LANGUAGE sql
    AS $$
    SELECT parley_emit_message_event('message.failed', message_id, jsonb_build_object('error', p_error)) FROM messages WHERE message_id = p_message AND status IS DISTINCT FROM 'failed'; -- events out (events.sql)
    UPDATE messages SET status = 'failed' WHERE message_id = p_message;
    INSERT INTO message_delivery_status AS d (message_id, status, error_message, updated_at)
    VALUES (p_message, 'failed', p_error, now() AT TIME ZONE 'UTC')
    ON CONFLICT (message_id) DO UPDATE
       SET status = 'failed', error_message = EXCLUDED.error_message,
           updated_at = EXCLUDED.updated_at;
$$;


--
-- Name: parley_record_sent(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_record_sent(p_message text, p_pmid text) RETURNS text
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: parley_record_sent_message(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_record_sent_message(p_message text, p_pmid text, OUT holder text, OUT spends boolean, OUT conv text) RETURNS record
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: parley_refund_reply(text, text, text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_refund_reply(p_conv text, p_owner text, p_user text, p_amount integer) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: parley_release_reply(text, text, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_release_reply(p_conv text, p_owner text, p_spend boolean) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: parley_relink_agent(text, text, text, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_relink_agent(p_channel text, p_tenant text, p_agent text, p_prompt text, p_name text, p_archive text) RETURNS TABLE(r_tenant text, r_old_agent text, r_archived integer, r_archive text)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_tenant text;
    v_old text;
    v_n integer := 0;
BEGIN
    SELECT user_id INTO v_tenant FROM phone_numbers
     WHERE id = p_channel AND (p_tenant IS NULL OR user_id = p_tenant) AND removed_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM parley_lock_channel_link(p_channel, true);
    UPDATE agents SET unlinked_at = now()
     WHERE phone_number_id = p_channel AND unlinked_at IS NULL
    RETURNING agent_id INTO v_old;
    INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
    VALUES (p_agent, v_tenant, p_channel, p_prompt, p_name);
    IF v_old IS NOT NULL THEN
        v_n := parley_archive_agent_conversations(v_old, p_archive, p_agent, 'relink');
        INSERT INTO conversation_archives (archive_id, old_agent_id, new_agent_id,
                                           phone_number_id, archived_conversations_count)
        VALUES (p_archive, v_old, p_agent, p_channel, v_n);
    END IF;
    RETURN QUERY SELECT v_tenant, v_old, v_n,
                        CASE WHEN v_old IS NULL THEN NULL ELSE p_archive END;
END
$$;


--
-- Name: parley_remove_channel(text, text, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_remove_channel(p_channel text, p_tenant text, p_force boolean) RETURNS TABLE(r_status text, r_agent text, r_archived integer)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_removed timestamptz;
    v_agent text;
    v_n integer := 0;
BEGIN
    SELECT removed_at INTO v_removed FROM phone_numbers
     WHERE id = p_channel AND (p_tenant IS NULL OR user_id = p_tenant)
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_removed IS NOT NULL THEN
        RETURN QUERY SELECT 'already_removed'::text, NULL::text, 0;
        RETURN;
    END IF;
    PERFORM parley_lock_channel_link(p_channel, true);
    SELECT agent_id INTO v_agent FROM agents
     WHERE phone_number_id = p_channel AND unlinked_at IS NULL;
    IF v_agent IS NOT NULL THEN
        IF NOT p_force THEN
            RETURN QUERY SELECT 'has_agent'::text, v_agent, 0;
            RETURN;
        END IF;
        UPDATE agents SET unlinked_at = now() WHERE agent_id = v_agent;
        -- No archive row, no new agent.
        v_n := parley_archive_agent_conversations(v_agent, NULL, NULL, 'channel_removed');
    END IF;
    UPDATE phone_numbers SET removed_at = now() WHERE id = p_channel;
    RETURN QUERY SELECT 'removed'::text, v_agent, v_n;
END
$$;


--
-- Name: parley_renew_event_leases(text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_renew_event_leases(p_owner text, p_seconds integer) RETURNS void
    LANGUAGE sql
    AS $$
    UPDATE event_deliveries SET lease_until = now() + make_interval(secs => p_seconds)
     WHERE state = 'pending' AND lease_owner = p_owner AND lease_until > now();
$$;


--
-- Name: parley_renew_extraction_leases(text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_renew_extraction_leases(p_owner text, p_seconds integer) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_n integer;
BEGIN
    UPDATE conversations
       SET extraction_lease_until = now() + make_interval(secs => p_seconds)
     WHERE extraction_lease_owner = p_owner;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;


--
-- Name: parley_renew_reply_leases(text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_renew_reply_leases(p_owner text, p_seconds integer) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_n integer;
BEGIN
    UPDATE conversations SET reply_lease_until = now() + make_interval(secs => p_seconds)
     WHERE reply_lease_owner = p_owner;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;


--
-- Name: parley_resume_ai(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_resume_ai(p_conv text) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    c record;
    v_due boolean;
BEGIN
    SELECT * INTO c FROM conversations WHERE conversation_id = p_conv FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_due := c.is_active AND c.reply_lease_owner IS NULL AND EXISTS (
        SELECT 1 FROM messages m
         WHERE m.conversation_id = p_conv AND m.sender = 'user' AND m.triggers_reply
           AND m.sequence_no > c.replied_through_seq);
    UPDATE conversations
       SET ai_paused_until = NULL, ai_paused_reason = NULL,
           reply_due_at = CASE WHEN v_due THEN now() ELSE reply_due_at END
     WHERE conversation_id = p_conv;
    IF v_due THEN
        PERFORM pg_notify('parley_reply_due', p_conv);
    END IF;
    RETURN jsonb_build_object('was_paused', parley_ai_paused(c.ai_paused_until), 'due', v_due);
END
$$;


--
-- Name: parley_skip_reply(text, text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_skip_reply(p_conv text, p_owner text, p_through integer) RETURNS void
    LANGUAGE sql
    AS $$
    UPDATE conversations SET replied_through_seq = greatest(replied_through_seq, p_through)
     WHERE conversation_id = p_conv AND reply_lease_owner = p_owner;
    SELECT parley_finish_reply(p_conv, p_owner);
$$;


--
-- Name: parley_spend_reply_charge(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_spend_reply_charge(p_conv text) RETURNS void
    LANGUAGE sql
    AS $$
    UPDATE conversations SET reply_charged = false
     WHERE conversation_id = p_conv AND reply_charged;
$$;


--
-- Name: parley_status_rank(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_status_rank(s text) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE s WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'failed' THEN 2
                  WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 ELSE -1 END
$$;


--
-- Name: parley_store_extraction(text, text, integer, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_store_extraction(p_conv text, p_owner text, p_through integer, p_lead jsonb) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_user text;
    v_customer text;
    v_demo timestamp;
    v_id uuid;
BEGIN
    SELECT a.user_id, c.customer_phone INTO v_user, v_customer
      FROM conversations c JOIN agents a ON a.agent_id = c.agent_id
     WHERE c.conversation_id = p_conv AND c.extraction_lease_owner = p_owner
       AND c.extraction_lease_until > now()
       FOR UPDATE OF c;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT meeting_time INTO v_demo FROM meetings
     WHERE conversation_id = p_conv AND status = 'scheduled'
     ORDER BY meeting_time DESC LIMIT 1;

    UPDATE extractions SET is_latest = false, updated_at = now() AT TIME ZONE 'UTC'
     WHERE conversation_id = p_conv AND is_latest;
    INSERT INTO extractions (
        conversation_id, user_id, customer_phone, extracted_at, is_latest,
        message_count_at_extraction, name, email, company, intent,
        intent_level, intent_score, urgency_level, urgency_score,
        budget_constraint, budget_score, fit_alignment, fit_score,
        engagement_health, engagement_score,
        cta_pricing_clicked, cta_demo_clicked, cta_followup_clicked,
        cta_sample_clicked, cta_website_clicked, cta_escalated_to_human,
        total_score, lead_status_tag, demo_book_datetime, reasoning,
        smart_notification, notes, created_at, updated_at)
    VALUES (
        p_conv, v_user, v_customer, now() AT TIME ZONE 'UTC', true,
        p_through, p_lead->>'name', p_lead->>'email', p_lead->>'company', p_lead->>'intent',
        p_lead->>'intent_level', (p_lead->>'intent_score')::integer,
        p_lead->>'urgency_level', (p_lead->>'urgency_score')::integer,
        p_lead->>'budget_constraint', (p_lead->>'budget_score')::integer,
        p_lead->>'fit_alignment', (p_lead->>'fit_score')::integer,
        p_lead->>'engagement_health', (p_lead->>'engagement_score')::integer,
        p_lead->>'cta_pricing_clicked', p_lead->>'cta_demo_clicked',
        p_lead->>'cta_followup_clicked', p_lead->>'cta_sample_clicked',
        p_lead->>'cta_website_clicked', p_lead->>'cta_escalated_to_human',
        (p_lead->>'total_score')::integer, p_lead->>'lead_status_tag', v_demo,
        p_lead->'reasoning', p_lead->>'smart_notification', p_lead->>'notes',
        now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
    RETURNING extraction_id INTO v_id;
    PERFORM parley_emit_lead_events(p_conv, v_id); -- events out (events.sql)

    UPDATE conversations
       SET last_extraction_at = now() AT TIME ZONE 'UTC',
           extracted_through_seq = greatest(extracted_through_seq, p_through),
           extraction_checked_seq = greatest(extraction_checked_seq, p_through),
           extraction_failures = 0, next_extraction_at = NULL, extraction_charged = false,
           extraction_lease_owner = NULL, extraction_lease_until = NULL
     WHERE conversation_id = p_conv;
    RETURN v_id::text;
END
$$;


--
-- Name: parley_store_human_message(text, text, jsonb, boolean, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_store_human_message(p_conv text, p_tenant text, p_parts jsonb, p_template boolean, p_pause_minutes integer) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    c record;
    v_seq integer;
    v_part jsonb;
    v_id text;
    v_meta boolean;
    v_out jsonb := '[]';
BEGIN
    SELECT k.conversation_id, k.last_sequence_no, k.is_active, k.window_expires_at,
           k.customer_phone, p.platform, p.meta_phone_number_id, p.access_token
      INTO c
      FROM conversations k JOIN agents a ON a.agent_id = k.agent_id
      JOIN phone_numbers p ON p.id = a.phone_number_id
     WHERE k.conversation_id = p_conv AND (p_tenant IS NULL OR a.user_id = p_tenant)
       FOR UPDATE OF k;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('error', 'no_conversation');
    END IF;
    IF NOT c.is_active THEN
        RETURN jsonb_build_object('error', 'archived');
    END IF;
    IF p_template AND c.platform <> 'whatsapp' THEN
        RETURN jsonb_build_object('error', 'template_platform', 'platform', c.platform);
    END IF;
    v_meta := c.platform IN ('whatsapp', 'instagram');
    -- NULL: nothing known about the window yet (no customer message with a
    -- platform time); the platform itself refuses a closed one (131047).
    IF v_meta AND NOT p_template AND c.window_expires_at < now() THEN
        RETURN jsonb_build_object('error', 'window_closed', 'platform', c.platform,
                                  'window_expires_at',
                                  to_char(c.window_expires_at AT TIME ZONE 'UTC',
                                          'YYYY-MM-DD HH24:MI:SS'));
    END IF;

    v_seq := c.last_sequence_no;
    FOR v_part IN SELECT * FROM jsonb_array_elements(p_parts) LOOP
        v_seq := v_seq + 1;
        v_id := gen_random_uuid()::text;
        INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no,
                              kind, "timestamp", send_started_at, author)
        VALUES (v_id, p_conv, 'agent', v_part #>> '{}', CASE WHEN v_meta THEN 'pending' ELSE 'sent' END,
                v_seq, CASE WHEN p_template THEN 'template' ELSE 'text' END,
                now() AT TIME ZONE 'UTC', CASE WHEN v_meta THEN now() END, 'human');
        INSERT INTO message_delivery_status (message_id, status, updated_at)
        VALUES (v_id, CASE WHEN v_meta THEN 'pending' ELSE 'sent' END, now() AT TIME ZONE 'UTC');
        -- A webchat part is sent as it is stored: its message.sent (author
        -- human; events out, events.sql) is written here, in this
        -- transaction. A WhatsApp or Instagram part has its own when the
        -- platform accepted it (parley_record_sent).
        IF NOT v_meta THEN
            PERFORM parley_emit_message_event('message.sent', v_id, NULL);
        END IF;
        v_out := v_out || jsonb_build_object('message_id', v_id, 'seq', v_seq,
                                             'text', v_part #>> '{}');
    END LOOP;
    UPDATE conversations SET last_sequence_no = v_seq, last_message_at = now() AT TIME ZONE 'UTC'
     WHERE conversation_id = p_conv;
    IF p_pause_minutes IS NOT NULL THEN
        PERFORM parley_pause_ai(p_conv, p_pause_minutes, 'a person replied');
    END IF;
    IF NOT v_meta THEN
        PERFORM pg_notify('parley_webchat', c.customer_phone);
    END IF;
    RETURN jsonb_build_object(
        'parts', v_out, 'platform', c.platform, 'customer', c.customer_phone,
        'channel', c.meta_phone_number_id, 'access_token', c.access_token,
        'paused_until', (SELECT to_char(ai_paused_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                           FROM conversations WHERE conversation_id = p_conv));
END
$$;


--
-- Name: parley_store_replies(text, integer, text[], integer[], jsonb[], text[], boolean[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_store_replies(p_owner text, p_credits integer, p_convs text[], p_through integer[], p_parts jsonb[], p_tokens text[], p_escalated boolean[]) RETURNS SETOF jsonb
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: parley_store_reply(text, text, integer, jsonb, text, integer, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_store_reply(p_conv text, p_owner text, p_through integer, p_parts jsonb, p_token text, p_credits integer, p_escalated boolean) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: parley_uuidv7(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_uuidv7() RETURNS text
    LANGUAGE sql PARALLEL SAFE
    AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                  PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                  FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid::text
$$;


--
-- Name: parley_webchat_channel(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_webchat_channel(p_widget text) RETURNS TABLE(channel_id text, user_id text, agent_id text)
    LANGUAGE sql STABLE
    AS $$
    SELECT p.id::text, p.user_id::text, max(a.agent_id)::text
      FROM phone_numbers p
      LEFT JOIN agents a ON a.phone_number_id = p.id AND a.unlinked_at IS NULL
     WHERE p.platform = 'webchat' AND p.meta_phone_number_id = p_widget
       AND p.removed_at IS NULL
     GROUP BY p.id, p.user_id
    HAVING (SELECT count(*) FROM phone_numbers q
             WHERE q.platform = 'webchat' AND q.meta_phone_number_id = p_widget
               AND q.removed_at IS NULL) = 1;
$$;


--
-- Name: parley_webchat_conversation(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_webchat_conversation(p_widget text, p_session text) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT c.conversation_id::text
      FROM conversations c
      JOIN agents a ON a.agent_id = c.agent_id
      JOIN phone_numbers p ON p.id = a.phone_number_id
     WHERE p.platform = 'webchat' AND p.meta_phone_number_id = p_widget
       AND c.customer_phone = p_session AND c.is_active
     ORDER BY c.created_at DESC
     LIMIT 1;
$$;


--
-- Name: parley_webchat_fetch(text, text, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_webchat_fetch(p_widget text, p_session text, p_after integer, p_limit integer) RETURNS TABLE(sequence_no integer, sender text, author text, text text, status text, created_at text)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_conv text := parley_webchat_conversation(p_widget, p_session);
    v_stop integer;
    v_answered integer;
    v_page text[];
    v_was jsonb;
    v_mid text;
BEGIN
    IF v_conv IS NULL THEN
        RETURN;
    END IF;
    SELECT min(m.sequence_no) FILTER (WHERE m.status = 'pending'),
           max(m.sequence_no) FILTER (WHERE m.status <> 'pending')
      INTO v_stop, v_answered
      FROM messages m
     WHERE m.conversation_id = v_conv AND m.sequence_no > p_after
       AND m.sender = 'agent';

    -- The page is chosen once, with each message's status before this
    -- poll: the statements below read and mark exactly these messages,
    -- whatever commits meanwhile.
    SELECT array_agg(pg.message_id ORDER BY pg.sequence_no),
           coalesce(jsonb_object_agg(pg.message_id, pg.status), '{}')
      INTO v_page, v_was
      FROM (SELECT m.message_id, m.sequence_no, coalesce(d.status, m.status)::text AS status
              FROM messages m
              LEFT JOIN message_delivery_status d ON d.message_id = m.message_id
             WHERE m.conversation_id = v_conv AND m.sequence_no > p_after
               AND (v_stop IS NULL OR m.sequence_no < v_stop)
             ORDER BY m.sequence_no
             LIMIT p_limit) pg;
    IF v_page IS NULL THEN
        RETURN;
    END IF;

    -- Agent messages shown become 'delivered', each with its message.status
    -- event (events out, events.sql) in this transaction, as Meta's
    -- delivered status has in parley_apply_status.
    FOR v_mid IN
        UPDATE message_delivery_status d
           SET status = 'delivered', updated_at = now() AT TIME ZONE 'UTC'
          FROM messages m
         WHERE d.message_id = ANY (v_page) AND m.message_id = d.message_id
           AND m.sender = 'agent' AND d.status IN ('pending', 'sent')
        RETURNING d.message_id
    LOOP
        PERFORM parley_emit_message_event('message.status', v_mid,
                                          jsonb_build_object('status', 'delivered'));
    END LOOP;

    RETURN QUERY
    SELECT m.sequence_no, m.sender::text, m.author::text, m.text,
           CASE WHEN m.sender = 'agent' AND v_was->>m.message_id = 'sent' THEN 'delivered'
                WHEN m.sender <> 'agent' AND v_was->>m.message_id = 'sent'
                     AND m.sequence_no < v_answered THEN 'read'
                ELSE v_was->>m.message_id END,
           to_char(m."timestamp", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      FROM messages m
     WHERE m.message_id = ANY (v_page)
     ORDER BY m.sequence_no;
END
$$;


--
-- Name: parley_webchat_read(text, text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_webchat_read(p_widget text, p_session text, p_up_to integer) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_conv text := parley_webchat_conversation(p_widget, p_session);
    v_count integer := 0;
    v_mid text;
BEGIN
    IF v_conv IS NULL THEN
        RETURN 0;
    END IF;
    -- Each with its message.status event (events out, events.sql), in this
    -- transaction, as Meta's read status has in parley_apply_status.
    FOR v_mid IN
        UPDATE message_delivery_status d
           SET status = 'read', updated_at = now() AT TIME ZONE 'UTC'
          FROM messages m
         WHERE m.conversation_id = v_conv AND m.sequence_no <= p_up_to AND m.sender = 'agent'
           AND d.message_id = m.message_id
           AND d.status IN ('sent', 'delivered')
        RETURNING d.message_id
    LOOP
        v_count := v_count + 1;
        PERFORM parley_emit_message_event('message.status', v_mid,
                                          jsonb_build_object('status', 'read'));
    END LOOP;
    RETURN v_count;
END
$$;


--
-- Name: parley_webchat_typing(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.parley_webchat_typing(p_widget text, p_session text) RETURNS boolean
    LANGUAGE sql
    AS $$
    SELECT coalesce((SELECT c.reply_lease_owner IS NOT NULL AND c.reply_lease_until > now()
                       FROM conversations c
                      WHERE c.conversation_id = parley_webchat_conversation(p_widget,
                                                                            p_session)),
                    false);
$$;


--
-- Name: update_updated_at_column(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.update_updated_at_column() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: agents; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.agents (
    agent_id character varying(50) NOT NULL,
    user_id character varying(50) NOT NULL,
    phone_number_id character varying(50) NOT NULL,
    prompt_id character varying(100) NOT NULL,
    name character varying(255) NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    unlinked_at timestamp with time zone
);


--
-- Name: conversation_archives; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.conversation_archives (
    archive_id character varying(50) NOT NULL,
    old_agent_id character varying(50) NOT NULL,
    new_agent_id character varying(50) NOT NULL,
    phone_number_id character varying(50) NOT NULL,
    archived_conversations_count integer DEFAULT 0,
    archived_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    reason character varying(255) DEFAULT 'Agent relinked'::character varying
);


--
-- Name: conversations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.conversations (
    conversation_id character varying(50) NOT NULL,
    agent_id character varying(50) NOT NULL,
    customer_phone character varying(50) NOT NULL,
    openai_conversation_id character varying(100),
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    last_message_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    last_extraction_at timestamp without time zone,
    is_active boolean DEFAULT true,
    last_sequence_no integer DEFAULT 0 NOT NULL,
    customer_name character varying(255),
    reply_due_at timestamp with time zone,
    replied_through_seq integer DEFAULT 0 NOT NULL,
    reply_lease_owner character varying(100),
    reply_lease_until timestamp with time zone,
    reply_charged boolean DEFAULT false NOT NULL,
    extracted_through_seq integer DEFAULT 0 NOT NULL,
    extraction_checked_seq integer DEFAULT 0 NOT NULL,
    extraction_lease_owner character varying(100),
    extraction_lease_until timestamp with time zone,
    extraction_charged boolean DEFAULT false NOT NULL,
    extraction_failures integer DEFAULT 0 NOT NULL,
    next_extraction_at timestamp with time zone,
    window_expires_at timestamp with time zone,
    ai_paused_until timestamp with time zone,
    ai_paused_reason character varying(500),
    escalated_at timestamp with time zone,
    CONSTRAINT conversations_is_active_not_null CHECK ((is_active IS NOT NULL))
)
WITH (fillfactor='80');


--
-- Name: credits; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.credits (
    user_id character varying(50) NOT NULL,
    remaining_credits integer DEFAULT 0,
    total_used integer DEFAULT 0,
    last_updated timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT credits_remaining_credits_check CHECK ((remaining_credits >= 0)),
    CONSTRAINT credits_total_used_check CHECK ((total_used >= 0))
);


--
-- Name: event_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.event_attempts (
    attempt_id bigint NOT NULL,
    delivery_id bigint NOT NULL,
    attempted_at timestamp with time zone DEFAULT now() NOT NULL,
    http_status integer,
    error text,
    duration_ms integer NOT NULL
);


--
-- Name: event_attempts_attempt_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.event_attempts_attempt_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: event_attempts_attempt_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.event_attempts_attempt_id_seq OWNED BY public.event_attempts.attempt_id;


--
-- Name: event_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.event_deliveries (
    delivery_id bigint NOT NULL,
    event_seq bigint NOT NULL,
    endpoint_id character varying(40) NOT NULL,
    conversation_id character varying(50),
    state character varying(10) DEFAULT 'pending'::character varying NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    age_from timestamp with time zone DEFAULT now() NOT NULL,
    lease_owner character varying(100),
    lease_until timestamp with time zone,
    last_status integer,
    last_error text,
    finished_at timestamp with time zone,
    CONSTRAINT event_deliveries_state_check CHECK (((state)::text = ANY ((ARRAY['pending'::character varying, 'delivered'::character varying, 'failed'::character varying])::text[])))
);


--
-- Name: event_deliveries_delivery_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.event_deliveries_delivery_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: event_deliveries_delivery_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.event_deliveries_delivery_id_seq OWNED BY public.event_deliveries.delivery_id;


--
-- Name: event_endpoints; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.event_endpoints (
    endpoint_id character varying(40) NOT NULL,
    user_id character varying(50) NOT NULL,
    url text NOT NULL,
    secret text NOT NULL,
    previous_secret text,
    previous_secret_until timestamp with time zone,
    event_types text[] DEFAULT '{*}'::text[] NOT NULL,
    disabled_at timestamp with time zone,
    disabled_reason text,
    failing_since timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: event_outbox; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.event_outbox (
    seq bigint NOT NULL,
    event_id character varying(40) NOT NULL,
    user_id character varying(50) NOT NULL,
    type character varying(40) NOT NULL,
    conversation_id character varying(50),
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    body jsonb NOT NULL
);


--
-- Name: event_outbox_seq_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.event_outbox_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: event_outbox_seq_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.event_outbox_seq_seq OWNED BY public.event_outbox.seq;


--
-- Name: extractions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.extractions (
    extraction_id uuid DEFAULT gen_random_uuid() NOT NULL,
    conversation_id character varying(50) NOT NULL,
    user_id character varying(50) NOT NULL,
    customer_phone character varying(50) NOT NULL,
    extracted_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    is_latest boolean DEFAULT true,
    message_count_at_extraction integer DEFAULT 0,
    name character varying(255),
    email character varying(255),
    company character varying(255),
    intent text,
    intent_level character varying(20),
    intent_score integer,
    urgency_level character varying(20),
    urgency_score integer,
    budget_constraint character varying(20),
    budget_score integer,
    fit_alignment character varying(20),
    fit_score integer,
    engagement_health character varying(20),
    engagement_score integer,
    cta_pricing_clicked character varying(10),
    cta_demo_clicked character varying(10),
    cta_followup_clicked character varying(10),
    cta_sample_clicked character varying(10),
    cta_website_clicked character varying(10),
    cta_escalated_to_human character varying(10),
    total_score integer,
    lead_status_tag character varying(20),
    demo_book_datetime timestamp without time zone,
    reasoning jsonb,
    smart_notification text,
    notes text,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT extractions_budget_constraint_check CHECK (((budget_constraint)::text = ANY ((ARRAY['Yes'::character varying, 'No'::character varying, 'Maybe'::character varying])::text[]))),
    CONSTRAINT extractions_budget_score_check CHECK (((budget_score >= 1) AND (budget_score <= 3))),
    CONSTRAINT extractions_cta_demo_clicked_check CHECK (((cta_demo_clicked)::text = ANY ((ARRAY['Yes'::character varying, 'No'::character varying])::text[]))),
    CONSTRAINT extractions_cta_escalated_to_human_check CHECK (((cta_escalated_to_human)::text = ANY ((ARRAY['Yes'::character varying, 'No'::character varying])::text[]))),
    CONSTRAINT extractions_cta_followup_clicked_check CHECK (((cta_followup_clicked)::text = ANY ((ARRAY['Yes'::character varying, 'No'::character varying])::text[]))),
    CONSTRAINT extractions_cta_pricing_clicked_check CHECK (((cta_pricing_clicked)::text = ANY ((ARRAY['Yes'::character varying, 'No'::character varying])::text[]))),
    CONSTRAINT extractions_cta_sample_clicked_check CHECK (((cta_sample_clicked)::text = ANY ((ARRAY['Yes'::character varying, 'No'::character varying])::text[]))),
    CONSTRAINT extractions_cta_website_clicked_check CHECK (((cta_website_clicked)::text = ANY ((ARRAY['Yes'::character varying, 'No'::character varying])::text[]))),
    CONSTRAINT extractions_engagement_health_check CHECK (((engagement_health)::text = ANY ((ARRAY['Low'::character varying, 'Medium'::character varying, 'High'::character varying])::text[]))),
    CONSTRAINT extractions_engagement_score_check CHECK (((engagement_score >= 1) AND (engagement_score <= 3))),
    CONSTRAINT extractions_fit_alignment_check CHECK (((fit_alignment)::text = ANY ((ARRAY['Low'::character varying, 'Medium'::character varying, 'High'::character varying])::text[]))),
    CONSTRAINT extractions_fit_score_check CHECK (((fit_score >= 1) AND (fit_score <= 3))),
    CONSTRAINT extractions_intent_level_check CHECK (((intent_level)::text = ANY ((ARRAY['Low'::character varying, 'Medium'::character varying, 'High'::character varying])::text[]))),
    CONSTRAINT extractions_intent_score_check CHECK (((intent_score >= 1) AND (intent_score <= 3))),
    CONSTRAINT extractions_lead_status_tag_check CHECK (((lead_status_tag)::text = ANY ((ARRAY['Hot'::character varying, 'Warm'::character varying, 'Cold'::character varying])::text[]))),
    CONSTRAINT extractions_total_score_check CHECK (((total_score >= 5) AND (total_score <= 15))),
    CONSTRAINT extractions_urgency_level_check CHECK (((urgency_level)::text = ANY ((ARRAY['Low'::character varying, 'Medium'::character varying, 'High'::character varying])::text[]))),
    CONSTRAINT extractions_urgency_score_check CHECK (((urgency_score >= 1) AND (urgency_score <= 3)))
)
WITH (parallel_workers='0');


--
-- Name: google_calendar_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.google_calendar_tokens (
    user_id character varying(50) NOT NULL,
    access_token text NOT NULL,
    refresh_token text NOT NULL,
    token_expiry timestamp without time zone NOT NULL,
    scope text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    connected_at timestamp with time zone DEFAULT now() NOT NULL,
    disconnected_at timestamp with time zone,
    disconnect_reason text,
    refreshed_at timestamp with time zone
);


--
-- Name: meeting_bookings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meeting_bookings (
    meeting_id character varying(50) NOT NULL,
    user_id character varying(50) NOT NULL,
    conversation_id character varying(50) NOT NULL,
    google_event_id character varying(255) NOT NULL,
    meeting_time timestamp without time zone NOT NULL,
    duration_minutes integer NOT NULL,
    timezone character varying(100) NOT NULL,
    title character varying(255) NOT NULL,
    customer_name character varying(255),
    customer_email character varying(255) NOT NULL,
    lease_until timestamp with time zone NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: meetings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meetings (
    meeting_id character varying(50) NOT NULL,
    user_id character varying(50) NOT NULL,
    conversation_id character varying(50) NOT NULL,
    google_event_id character varying(255) NOT NULL,
    title character varying(255) NOT NULL,
    customer_name character varying(255),
    customer_email character varying(255),
    participants text[],
    meeting_time timestamp without time zone NOT NULL,
    duration_minutes integer DEFAULT 30,
    timezone character varying(100),
    meet_link text,
    status character varying(20),
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT meetings_status_check CHECK (((status)::text = ANY ((ARRAY['scheduled'::character varying, 'cancelled'::character varying, 'completed'::character varying])::text[])))
);


--
-- Name: message_delivery_status; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.message_delivery_status (
    message_id character varying(100) NOT NULL,
    platform_message_id character varying(512),
    status character varying(20),
    error_message text,
    updated_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT message_delivery_status_status_check CHECK (((status)::text = ANY ((ARRAY['pending'::character varying, 'sent'::character varying, 'delivered'::character varying, 'read'::character varying, 'failed'::character varying])::text[])))
);


--
-- Name: messages; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.messages (
    message_id character varying(100) NOT NULL,
    conversation_id character varying(50) NOT NULL,
    sender character varying(20),
    text text NOT NULL,
    "timestamp" timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    status character varying(20),
    sequence_no integer NOT NULL,
    platform_message_id character varying(512),
    kind character varying(32),
    reply_to character varying(512),
    triggers_reply boolean DEFAULT false NOT NULL,
    send_started_at timestamp with time zone,
    referral jsonb,
    reply_token text,
    author character varying(10) NOT NULL,
    CONSTRAINT messages_author_check CHECK (((author)::text = ANY ((ARRAY['customer'::character varying, 'ai'::character varying, 'human'::character varying])::text[]))),
    CONSTRAINT messages_referral_object CHECK ((jsonb_typeof(referral) = 'object'::text)),
    CONSTRAINT messages_sender_check CHECK (((sender)::text = ANY ((ARRAY['user'::character varying, 'agent'::character varying])::text[]))),
    CONSTRAINT messages_status_check CHECK (((status)::text = ANY ((ARRAY['sent'::character varying, 'failed'::character varying, 'pending'::character varying])::text[])))
)
WITH (parallel_workers='0');


--
-- Name: pending_delivery_status; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.pending_delivery_status (
    platform_message_id character varying(512) NOT NULL,
    status character varying(20) NOT NULL,
    error_message text,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT pending_delivery_status_status_check CHECK (((status)::text = ANY ((ARRAY['pending'::character varying, 'sent'::character varying, 'delivered'::character varying, 'read'::character varying, 'failed'::character varying])::text[])))
);


--
-- Name: phone_numbers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.phone_numbers (
    id character varying(50) NOT NULL,
    user_id character varying(50) NOT NULL,
    platform character varying(20),
    meta_phone_number_id character varying(100) NOT NULL,
    access_token text NOT NULL,
    display_name character varying(255),
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    removed_at timestamp with time zone,
    CONSTRAINT phone_numbers_platform_check CHECK (((platform)::text = ANY ((ARRAY['whatsapp'::character varying, 'instagram'::character varying, 'webchat'::character varying])::text[])))
);


--
-- Name: schema_functions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_functions (
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    user_id character varying(50) NOT NULL,
    email character varying(255) NOT NULL,
    company_name character varying(255),
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    disabled_at timestamp with time zone
);


--
-- Name: webhook_raw; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_raw (
    raw_id bigint NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    object character varying(64),
    body bytea NOT NULL,
    outcome jsonb NOT NULL
);


--
-- Name: webhook_raw_raw_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.webhook_raw_raw_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: webhook_raw_raw_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.webhook_raw_raw_id_seq OWNED BY public.webhook_raw.raw_id;


--
-- Name: event_attempts attempt_id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_attempts ALTER COLUMN attempt_id SET DEFAULT nextval('public.event_attempts_attempt_id_seq'::regclass);


--
-- Name: event_deliveries delivery_id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_deliveries ALTER COLUMN delivery_id SET DEFAULT nextval('public.event_deliveries_delivery_id_seq'::regclass);


--
-- Name: event_outbox seq; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_outbox ALTER COLUMN seq SET DEFAULT nextval('public.event_outbox_seq_seq'::regclass);


--
-- Name: webhook_raw raw_id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_raw ALTER COLUMN raw_id SET DEFAULT nextval('public.webhook_raw_raw_id_seq'::regclass);


--
-- Name: agents agents_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_pkey PRIMARY KEY (agent_id);


--
-- Name: conversation_archives conversation_archives_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.conversation_archives
    ADD CONSTRAINT conversation_archives_pkey PRIMARY KEY (archive_id);


--
-- Name: conversations conversations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.conversations
    ADD CONSTRAINT conversations_pkey PRIMARY KEY (conversation_id);


--
-- Name: credits credits_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credits
    ADD CONSTRAINT credits_pkey PRIMARY KEY (user_id);


--
-- Name: event_attempts event_attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_attempts
    ADD CONSTRAINT event_attempts_pkey PRIMARY KEY (attempt_id);


--
-- Name: event_deliveries event_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_deliveries
    ADD CONSTRAINT event_deliveries_pkey PRIMARY KEY (delivery_id);


--
-- Name: event_endpoints event_endpoints_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_endpoints
    ADD CONSTRAINT event_endpoints_pkey PRIMARY KEY (endpoint_id);


--
-- Name: event_outbox event_outbox_event_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_outbox
    ADD CONSTRAINT event_outbox_event_id_key UNIQUE (event_id);


--
-- Name: event_outbox event_outbox_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_outbox
    ADD CONSTRAINT event_outbox_pkey PRIMARY KEY (seq);


--
-- Name: extractions extractions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.extractions
    ADD CONSTRAINT extractions_pkey PRIMARY KEY (extraction_id);


--
-- Name: google_calendar_tokens google_calendar_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.google_calendar_tokens
    ADD CONSTRAINT google_calendar_tokens_pkey PRIMARY KEY (user_id);


--
-- Name: meeting_bookings meeting_bookings_conversation_id_meeting_time_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meeting_bookings
    ADD CONSTRAINT meeting_bookings_conversation_id_meeting_time_key UNIQUE (conversation_id, meeting_time);


--
-- Name: meeting_bookings meeting_bookings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meeting_bookings
    ADD CONSTRAINT meeting_bookings_pkey PRIMARY KEY (meeting_id);


--
-- Name: meetings meetings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meetings
    ADD CONSTRAINT meetings_pkey PRIMARY KEY (meeting_id);


--
-- Name: message_delivery_status message_delivery_status_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.message_delivery_status
    ADD CONSTRAINT message_delivery_status_pkey PRIMARY KEY (message_id);


--
-- Name: messages messages_conversation_id_sequence_no_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_conversation_id_sequence_no_key UNIQUE (conversation_id, sequence_no);


--
-- Name: messages messages_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_pkey PRIMARY KEY (message_id);


--
-- Name: pending_delivery_status pending_delivery_status_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pending_delivery_status
    ADD CONSTRAINT pending_delivery_status_pkey PRIMARY KEY (platform_message_id);


--
-- Name: phone_numbers phone_numbers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.phone_numbers
    ADD CONSTRAINT phone_numbers_pkey PRIMARY KEY (id);


--
-- Name: schema_functions schema_functions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_functions
    ADD CONSTRAINT schema_functions_pkey PRIMARY KEY (name);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (name);


--
-- Name: users users_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_email_key UNIQUE (email);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (user_id);


--
-- Name: webhook_raw webhook_raw_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_raw
    ADD CONSTRAINT webhook_raw_pkey PRIMARY KEY (raw_id);


--
-- Name: agents_one_linked; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX agents_one_linked ON public.agents USING btree (phone_number_id) WHERE (unlinked_at IS NULL);


--
-- Name: agents_phone_number_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX agents_phone_number_id ON public.agents USING btree (phone_number_id);


--
-- Name: conversations_agent_recent; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX conversations_agent_recent ON public.conversations USING btree (agent_id, last_message_at DESC, conversation_id) WHERE (last_message_at IS NOT NULL);


--
-- Name: conversations_agent_undated; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX conversations_agent_undated ON public.conversations USING btree (agent_id, conversation_id) WHERE (last_message_at IS NULL);


--
-- Name: conversations_extraction_leased; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX conversations_extraction_leased ON public.conversations USING btree (extraction_lease_owner) WHERE (extraction_lease_owner IS NOT NULL);


--
-- Name: conversations_extraction_pending; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX conversations_extraction_pending ON public.conversations USING btree (last_message_at) WHERE (((last_sequence_no > extraction_checked_seq) OR (NOT is_active)) AND (last_sequence_no > extracted_through_seq));


--
-- Name: conversations_one_active; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX conversations_one_active ON public.conversations USING btree (agent_id, customer_phone) WHERE is_active;


--
-- Name: conversations_reply_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX conversations_reply_due ON public.conversations USING btree (reply_due_at) WHERE (reply_due_at IS NOT NULL);


--
-- Name: event_attempts_delivery; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX event_attempts_delivery ON public.event_attempts USING btree (delivery_id);


--
-- Name: event_deliveries_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX event_deliveries_due ON public.event_deliveries USING btree (next_attempt_at) WHERE ((state)::text = 'pending'::text);


--
-- Name: event_deliveries_endpoint; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX event_deliveries_endpoint ON public.event_deliveries USING btree (endpoint_id, delivery_id);


--
-- Name: event_deliveries_event; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX event_deliveries_event ON public.event_deliveries USING btree (event_seq);


--
-- Name: event_deliveries_order; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX event_deliveries_order ON public.event_deliveries USING btree (endpoint_id, conversation_id, event_seq) WHERE ((state)::text = 'pending'::text);


--
-- Name: event_endpoints_enabled; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX event_endpoints_enabled ON public.event_endpoints USING btree (user_id) WHERE (disabled_at IS NULL);


--
-- Name: event_outbox_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX event_outbox_created ON public.event_outbox USING btree (created_at);


--
-- Name: extractions_history; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX extractions_history ON public.extractions USING btree (conversation_id, extracted_at);


--
-- Name: extractions_latest_by_tenant; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX extractions_latest_by_tenant ON public.extractions USING btree (user_id, total_score DESC) WHERE is_latest;


--
-- Name: extractions_one_latest; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX extractions_one_latest ON public.extractions USING btree (conversation_id) WHERE is_latest;


--
-- Name: meetings_conversation; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX meetings_conversation ON public.meetings USING btree (conversation_id, meeting_time);


--
-- Name: meetings_one_per_event; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX meetings_one_per_event ON public.meetings USING btree (user_id, google_event_id);


--
-- Name: meetings_scheduled_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX meetings_scheduled_time ON public.meetings USING btree (meeting_time) WHERE ((status)::text = 'scheduled'::text);


--
-- Name: meetings_tenant_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX meetings_tenant_time ON public.meetings USING btree (user_id, meeting_time);


--
-- Name: messages_platform_message_id_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX messages_platform_message_id_key ON public.messages USING btree (platform_message_id) WHERE (platform_message_id IS NOT NULL);


--
-- Name: phone_numbers_current_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX phone_numbers_current_key ON public.phone_numbers USING btree (user_id, meta_phone_number_id, platform) WHERE (removed_at IS NULL);


--
-- Name: phone_numbers_meta_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX phone_numbers_meta_id ON public.phone_numbers USING btree (meta_phone_number_id, platform);


--
-- Name: webhook_raw_received_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_raw_received_at ON public.webhook_raw USING btree (received_at);


--
-- Name: messages messages_author_from_sender; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER messages_author_from_sender BEFORE INSERT ON public.messages FOR EACH ROW WHEN ((new.author IS NULL)) EXECUTE FUNCTION public.parley_message_author_from_sender();


--
-- Name: agents update_agents_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER update_agents_updated_at BEFORE UPDATE ON public.agents FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();


--
-- Name: google_calendar_tokens update_google_calendar_tokens_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER update_google_calendar_tokens_updated_at BEFORE UPDATE ON public.google_calendar_tokens FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();


--
-- Name: meetings update_meetings_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER update_meetings_updated_at BEFORE UPDATE ON public.meetings FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();


--
-- Name: phone_numbers update_phone_numbers_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER update_phone_numbers_updated_at BEFORE UPDATE ON public.phone_numbers FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();


--
-- Name: users update_users_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();


--
-- Name: agents agents_phone_number_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_phone_number_id_fkey FOREIGN KEY (phone_number_id) REFERENCES public.phone_numbers(id);


--
-- Name: agents agents_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(user_id);


--
-- Name: conversation_archives conversation_archives_new_agent_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.conversation_archives
    ADD CONSTRAINT conversation_archives_new_agent_id_fkey FOREIGN KEY (new_agent_id) REFERENCES public.agents(agent_id);


--
-- Name: conversation_archives conversation_archives_phone_number_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.conversation_archives
    ADD CONSTRAINT conversation_archives_phone_number_id_fkey FOREIGN KEY (phone_number_id) REFERENCES public.phone_numbers(id);


--
-- Name: conversations conversations_agent_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.conversations
    ADD CONSTRAINT conversations_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(agent_id);


--
-- Name: credits credits_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credits
    ADD CONSTRAINT credits_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(user_id);


--
-- Name: event_attempts event_attempts_delivery_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_attempts
    ADD CONSTRAINT event_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES public.event_deliveries(delivery_id) ON DELETE CASCADE;


--
-- Name: event_deliveries event_deliveries_endpoint_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_deliveries
    ADD CONSTRAINT event_deliveries_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES public.event_endpoints(endpoint_id) ON DELETE CASCADE;


--
-- Name: event_deliveries event_deliveries_event_seq_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_deliveries
    ADD CONSTRAINT event_deliveries_event_seq_fkey FOREIGN KEY (event_seq) REFERENCES public.event_outbox(seq) ON DELETE CASCADE;


--
-- Name: event_endpoints event_endpoints_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_endpoints
    ADD CONSTRAINT event_endpoints_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(user_id) ON DELETE CASCADE;


--
-- Name: extractions extractions_conversation_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.extractions
    ADD CONSTRAINT extractions_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES public.conversations(conversation_id);


--
-- Name: extractions extractions_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.extractions
    ADD CONSTRAINT extractions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(user_id);


--
-- Name: google_calendar_tokens google_calendar_tokens_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.google_calendar_tokens
    ADD CONSTRAINT google_calendar_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(user_id);


--
-- Name: meeting_bookings meeting_bookings_conversation_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meeting_bookings
    ADD CONSTRAINT meeting_bookings_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES public.conversations(conversation_id);


--
-- Name: meeting_bookings meeting_bookings_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meeting_bookings
    ADD CONSTRAINT meeting_bookings_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(user_id);


--
-- Name: meetings meetings_conversation_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meetings
    ADD CONSTRAINT meetings_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES public.conversations(conversation_id);


--
-- Name: meetings meetings_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meetings
    ADD CONSTRAINT meetings_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(user_id);


--
-- Name: message_delivery_status message_delivery_status_message_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.message_delivery_status
    ADD CONSTRAINT message_delivery_status_message_id_fkey FOREIGN KEY (message_id) REFERENCES public.messages(message_id);


--
-- Name: messages messages_conversation_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES public.conversations(conversation_id);


--
-- Name: phone_numbers phone_numbers_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.phone_numbers
    ADD CONSTRAINT phone_numbers_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(user_id);


--
-- PostgreSQL database dump complete
--


