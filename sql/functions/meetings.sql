-- sql/functions/meetings.sql: meeting booking: reservation, confirmation, recovery, completion.
--
-- Edited in place: `parley migrate` applies this file again whenever its
-- checksum changes (README.md, Migrations). CREATE OR REPLACE only;
-- a changed signature needs a DROP FUNCTION in a new versioned migration.
-- History before this file: git log -p sql/migrations/.

-- The calendar of a tenant as one word: 'connected', 'disconnected' (Google
-- refused the refresh token; see disconnect_reason) or 'not connected'.
CREATE OR REPLACE FUNCTION parley_calendar_state(p_user text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT CASE WHEN disconnected_at IS NULL THEN 'connected'
                                 ELSE 'disconnected' END
                       FROM google_calendar_tokens WHERE user_id = p_user), 'not connected');
$$;

-- Starts (or resumes) booking a meeting of a conversation at a time (UTC).
-- A scheduled meeting already there: {"state": "booked", …its fields}.
-- Otherwise the reservation, new ({"state": "new"}, with the given ids) or
-- one left by an earlier attempt ({"state": "resume"}, with its ids and the
-- new details): the caller holds the conversation's reply claim, so an
-- earlier attempt is over (its process lost the claim) or is the recovery
-- pass, which finishes the same event idempotently.
CREATE OR REPLACE FUNCTION parley_meeting_reserve(p_meeting text, p_event text, p_user text, p_conv text,
                                       p_time timestamp, p_duration integer, p_timezone text,
                                       p_title text, p_name text, p_email text,
                                       p_lease_seconds integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
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

-- Records a booked meeting (the event exists in Google): the meetings row,
-- status scheduled, written once however often this runs, and the
-- reservation gone, in one transaction. Every field comes as a parameter so
-- that this works even if the reservation was already finished elsewhere.
-- Returns the meeting's row as it stands.
CREATE OR REPLACE FUNCTION parley_meeting_confirm(p_meeting text, p_user text, p_conv text, p_event text,
                                       p_title text, p_name text, p_email text,
                                       p_time timestamp, p_duration integer, p_timezone text,
                                       p_link text)
RETURNS jsonb LANGUAGE plpgsql AS $$
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

-- Reservations whose lease ran out while no reply holds their
-- conversation: their process died. Leased anew to the caller (the
-- recovery pass), which finds out from Google whether the event exists.
CREATE OR REPLACE FUNCTION parley_claim_stale_bookings(p_limit integer, p_lease_seconds integer)
RETURNS SETOF jsonb LANGUAGE sql AS $$
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

-- Scheduled meetings that are over become completed; returns how many.
CREATE OR REPLACE FUNCTION parley_complete_meetings()
RETURNS integer LANGUAGE plpgsql AS $$
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
