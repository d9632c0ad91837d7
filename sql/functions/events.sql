-- sql/functions/events.sql: events out (SPEC 10): the outbox written by the
-- changes that cause events, and the delivery worker's claims and records.
--
-- Edited in place: `parley migrate` applies this file again whenever its
-- checksum changes (README.md, Migrations). CREATE OR REPLACE only;
-- a changed signature needs a DROP FUNCTION in a new versioned migration.
-- Tables: sql/migrations/0021_events_out.sql.

-- ---- emitting ----------------------------------------------------------
--
-- Every call site is one PERFORM inside the transaction of the change
-- (ingest, replies, statuses, extraction, meetings, relink, handoff), so
-- that an event exists exactly when its change committed. The wrappers
-- below return at once, before building anything, when no endpoint at all
-- is enabled, and after one probe of event_endpoints_enabled when this
-- tenant has none. Ingestion asks once per channel of a batch
-- (parley_events_enabled_for_agent) and calls nothing per message of a
-- tenant without endpoints (README, Performance: the figures).

-- Is any enabled endpoint of p_user subscribed to p_type, and the tenant
-- itself not disabled (`parley tenant disable`: no event is produced for
-- it, README Undo)?
CREATE OR REPLACE FUNCTION parley_events_wanted(p_user text, p_type text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM event_endpoints
                    WHERE user_id = p_user AND disabled_at IS NULL
                      AND event_types && ARRAY['*', p_type]::text[])
       AND NOT EXISTS (SELECT 1 FROM users WHERE user_id = p_user AND disabled_at IS NOT NULL)
$$;

-- Has the tenant of p_agent an enabled endpoint? Asked by
-- parley_ingest_batch once per channel of a batch, so that a message of a
-- tenant without endpoints costs ingestion a boolean test, not a call.
-- plpgsql, not SQL: PostgreSQL cannot inline a SQL function whose body has
-- a subquery, and then parses and plans its body again in every
-- transaction that calls it (pg_stat_statements with track_planning: one
-- plan per call, ~110 us of a batch of one's ~1 ms); plpgsql keeps the plan
-- for the session.
CREATE OR REPLACE FUNCTION parley_events_enabled_for_agent(p_agent text)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM agents a
                     JOIN event_endpoints e ON e.user_id = a.user_id AND e.disabled_at IS NULL
                    WHERE a.agent_id = p_agent);
END
$$;

-- RFC 3339 UTC with milliseconds, the form of every time in an event body.
CREATE OR REPLACE FUNCTION parley_event_time(p timestamptz)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- The event and one delivery per enabled endpoint of p_user subscribed to
-- p_type; nothing when there is none. Returns the event id, or NULL.
-- The body is fixed here once: every attempt sends the same bytes.
CREATE OR REPLACE FUNCTION parley_emit_event(p_user text, p_type text, p_conv text, p_data jsonb)
RETURNS text LANGUAGE plpgsql AS $$
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

-- A conversation's event: data carries the conversation's ids (tenant,
-- channel, platform, customer), with p_seq its message (id, sequence_no,
-- text, author, kind, platform id, time), then p_extra's keys.
CREATE OR REPLACE FUNCTION parley_emit_conversation_event(p_type text, p_conv text, p_seq integer,
                                                           p_extra jsonb)
RETURNS text LANGUAGE plpgsql AS $$
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

-- A message's event (message.sent, message.failed, message.status) by its id.
CREATE OR REPLACE FUNCTION parley_emit_message_event(p_type text, p_message text, p_extra jsonb)
RETURNS text LANGUAGE plpgsql AS $$
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

-- lead.extracted for a stored extraction, and lead.hot the first time the
-- conversation's latest tag is Hot (no earlier extraction of it was).
CREATE OR REPLACE FUNCTION parley_emit_lead_events(p_conv text, p_extraction uuid)
RETURNS void LANGUAGE plpgsql AS $$
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

-- meeting.booked or meeting.cancelled for a meetings row.
CREATE OR REPLACE FUNCTION parley_emit_meeting_event(p_type text, p_meeting text)
RETURNS text LANGUAGE plpgsql AS $$
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

-- `parley endpoint test`: a ping to this endpoint only, whatever its filter.
CREATE OR REPLACE FUNCTION parley_emit_ping(p_endpoint text)
RETURNS text LANGUAGE plpgsql AS $$
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

-- ---- delivering --------------------------------------------------------

-- Claims up to p_limit due deliveries for p_owner, one JSON object each.
-- Per endpoint (its row locked, SKIP LOCKED: two processes never count one
-- endpoint's requests in flight at once) at most p_max_per_endpoint
-- leases are live; per (endpoint, conversation) only the earliest pending
-- delivery is ever claimable, so a later event waits while an earlier one
-- is retried or in flight. Each claim is a new attempt (attempts + 1): the
-- lease owner and attempt number together name it, and the record of an
-- attempt whose lease was lost changes nothing.
CREATE OR REPLACE FUNCTION parley_claim_event_deliveries(p_owner text, p_limit integer,
                                                          p_lease_seconds integer,
                                                          p_max_per_endpoint integer)
RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
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

-- Milliseconds until a delivery may be claimable (0: now), -1 for none.
-- Deliveries waiting behind an earlier one of their conversation, and
-- those of an endpoint with requests in flight, are left out: they become
-- claimable when a delivery ends, which claims again (in this process) or
-- is found by the poll (in another).
CREATE OR REPLACE FUNCTION parley_next_event_delivery_ms()
RETURNS bigint LANGUAGE sql STABLE AS $$
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

-- Extends every live lease of p_owner by p_seconds.
CREATE OR REPLACE FUNCTION parley_renew_event_leases(p_owner text, p_seconds integer)
RETURNS void LANGUAGE sql AS $$
    UPDATE event_deliveries SET lease_until = now() + make_interval(secs => p_seconds)
     WHERE state = 'pending' AND lease_owner = p_owner AND lease_until > now();
$$;

-- Records attempt p_attempt of a delivery claimed by p_owner: its log row,
-- and the delivery's next state. p_verdict: 'ok' (2xx: delivered),
-- 'retry' (again in p_retry_ms, unless that passes p_max_age_seconds since
-- age_from: failed), 'final' (failed). A failure starts or continues the
-- endpoint's failing run; a run longer than p_disable_after_seconds
-- disables the endpoint with its reason. A success ends the run.
-- Returns {"state", "disabled", "latency"} (seconds from the event to now),
-- or NULL when this attempt is no longer ours (the lease ran out and the
-- delivery was claimed again, or finished): nothing is written then.
CREATE OR REPLACE FUNCTION parley_record_event_attempt(p_delivery bigint, p_owner text,
                                                        p_attempt integer, p_status integer,
                                                        p_error text, p_duration_ms integer,
                                                        p_verdict text, p_retry_ms bigint,
                                                        p_max_age_seconds bigint,
                                                        p_disable_after_seconds bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
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

-- `parley endpoint enable`: the endpoint resumes where it stopped; its
-- pending deliveries are due now with a fresh retry budget.
CREATE OR REPLACE FUNCTION parley_enable_endpoint(p_endpoint text, p_tenant text)
RETURNS boolean LANGUAGE plpgsql AS $$
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

-- Gauges for /metrics (the janitor, every minute): per enabled or
-- disabled endpoint, its pending deliveries that failed at least once
-- (the retry backlog).
CREATE OR REPLACE FUNCTION parley_event_backlog()
RETURNS TABLE (endpoint_id text, disabled boolean, backlog bigint) LANGUAGE sql STABLE AS $$
    SELECT e.endpoint_id, e.disabled_at IS NOT NULL,
           (SELECT count(*) FROM event_deliveries d
             WHERE d.endpoint_id = e.endpoint_id AND d.state = 'pending' AND d.attempts > 0
               AND d.lease_until IS NULL)
      FROM event_endpoints e ORDER BY e.endpoint_id
$$;

-- The janitor's pass: deletes events older than p_keep_seconds with no
-- pending delivery (their deliveries and attempts go with them), at most
-- p_limit, oldest first. Returns how many. The DELETE finds the batch by
-- primary key (= ANY of an array): `IN (subquery)` could hash-join the
-- whole outbox per batch (see parley_prune_raw_webhooks).
CREATE OR REPLACE FUNCTION parley_prune_events(p_keep_seconds bigint, p_limit integer)
RETURNS integer LANGUAGE plpgsql AS $$
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
