-- 0011: meeting booking (issue #9): the AI agent books Google Calendar
-- meetings with a Meet link during a conversation. The seed's
-- google_calendar_tokens and meetings tables keep their columns, types,
-- checks and defaults; this adds what booking needs around them.
--
-- 1. A calendar can be disconnected. Google answers a token refresh with
--    invalid_grant when the tenant revoked access or the refresh token
--    expired, and only the tenant consenting again fixes that (`parley google
--    connect`). The row stays (scope, history) and is marked, so that replies
--    stop offering the tools and an operator sees when and why
--    (`parley google status`, and parley_calendar_state() for other views
--    such as `parley tenant show`). TIMESTAMPTZ like parley's other columns.
--
-- 2. Booking reservations (meeting_bookings). A meeting's id, and with it the
--    Google event id derived from it, is chosen and committed before the
--    event is inserted. A process that dies between inserting the event and
--    writing the meetings row leaves its reservation behind, and whoever
--    picks it up (the same conversation's next reply asking for that time,
--    or the recovery pass of `parley serve`) looks the event up by that id
--    and inserts it again only if it is not there; Google answers a second
--    insert of one id with 409, so a retry never creates a second event. The
--    meetings table itself only ever holds booked meetings, as its readers
--    expect: its status CHECK keeps the seed's three values, and no
--    half-booked row shows up in `parley meeting list` or lead extraction.
--
-- 3. One meeting per calendar event, whoever writes it twice (the booking
--    path and the recovery pass can both finish one reservation).
--
-- 4. Indexes: a tenant's meetings by time (`parley meeting list`), scheduled
--    meetings by time (the completion pass and --upcoming), a conversation's
--    meetings (booking looks for one at the same time first).
--
-- Times: meetings.meeting_time and google_calendar_tokens.token_expiry are
-- the seed's TIMESTAMP columns; parley stores UTC in them, as everywhere.

ALTER TABLE google_calendar_tokens
    ADD COLUMN connected_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN disconnected_at TIMESTAMPTZ,
    ADD COLUMN disconnect_reason TEXT,
    ADD COLUMN refreshed_at TIMESTAMPTZ;

CREATE UNIQUE INDEX meetings_one_per_event ON meetings (user_id, google_event_id);
CREATE INDEX meetings_tenant_time ON meetings (user_id, meeting_time);
CREATE INDEX meetings_scheduled_time ON meetings (meeting_time) WHERE status = 'scheduled';
CREATE INDEX meetings_conversation ON meetings (conversation_id, meeting_time);

CREATE TABLE meeting_bookings (
    meeting_id VARCHAR(50) PRIMARY KEY,
    user_id VARCHAR(50) NOT NULL REFERENCES users (user_id),
    conversation_id VARCHAR(50) NOT NULL REFERENCES conversations (conversation_id),
    google_event_id VARCHAR(255) NOT NULL,
    meeting_time TIMESTAMP NOT NULL,
    duration_minutes INTEGER NOT NULL,
    timezone VARCHAR(100) NOT NULL,
    title VARCHAR(255) NOT NULL,
    customer_name VARCHAR(255),
    customer_email VARCHAR(255) NOT NULL,
    -- Who works on it until when; the recovery pass takes only expired ones.
    lease_until TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, meeting_time)
);

-- The calendar of a tenant as one word: 'connected', 'disconnected' (Google
-- refused the refresh token; see disconnect_reason) or 'not connected'.
CREATE FUNCTION parley_calendar_state(p_user text)
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
CREATE FUNCTION parley_meeting_reserve(p_meeting text, p_event text, p_user text, p_conv text,
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
CREATE FUNCTION parley_meeting_confirm(p_meeting text, p_user text, p_conv text, p_event text,
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
CREATE FUNCTION parley_claim_stale_bookings(p_limit integer, p_lease_seconds integer)
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
CREATE FUNCTION parley_complete_meetings()
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
