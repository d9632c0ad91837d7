-- 0021: events out (issue #18, SPEC 10, docs/architecture.md "Events out"):
-- tenants subscribe HTTPS endpoints to events, and parley delivers each
-- event at least once, signed, in order per conversation and endpoint.
--
-- The transactional outbox: an event is a row written by the same
-- transaction as the change that causes it (parley_emit_event, in
-- sql/functions/events.sql), so a change rolled back emits nothing and a
-- change committed cannot lose its event. The delivery worker of
-- `parley serve` claims deliveries from here with leases, as the reply
-- worker claims conversations.
--
-- Designed for volume: one event fans out to few endpoints (a delivery
-- row per subscribed endpoint, written with the event), and a tenant
-- without endpoints costs ingestion one probe of a tiny partial index
-- (event_endpoints_enabled): no event row, no delivery row.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in a transaction.

-- A tenant's subscription. Why each column:
--   * endpoint_id: 'ep_' + 16 hex digits, made up by `parley endpoint add`.
--   * url: where events are POSTed; checked (https, public address) when
--     added and again at connect time.
--   * secret: 'whsec_' + base64 of the key; signs every attempt.
--     previous_secret / previous_secret_until: the secret before the last
--     `rotate-secret`, which keeps signing too (a second signature in
--     webhook-signature) until then, so receivers can switch without
--     rejecting a delivery.
--   * event_types: the types subscribed to; '{*}' is every type.
--   * disabled_at / disabled_reason: NULL while enabled; set by
--     `endpoint disable` or by the worker after events.disable_after_hours
--     of failures (the reason is shown by `endpoint list`). Deliveries
--     already queued stay pending and resume on `enable`.
--   * failing_since: when the current run of failed attempts began (NULL
--     after any success): what auto-disable measures.
CREATE TABLE event_endpoints (
    endpoint_id           varchar(40)  PRIMARY KEY,
    user_id               varchar(50)  NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    url                   text         NOT NULL,
    secret                text         NOT NULL,
    previous_secret       text,
    previous_secret_until timestamptz,
    event_types           text[]       NOT NULL DEFAULT '{*}',
    disabled_at           timestamptz,
    disabled_reason       text,
    failing_since         timestamptz,
    created_at            timestamptz  NOT NULL DEFAULT now()
);
-- The emission check (is any endpoint of this tenant enabled?) and the
-- claim's walk over enabled endpoints: small, and only enabled rows.
CREATE INDEX event_endpoints_enabled ON event_endpoints (user_id) WHERE disabled_at IS NULL;

-- One event, with the body every attempt sends byte for byte (jsonb's text
-- form is deterministic). seq orders a conversation's events; event_id is
-- the public id (webhook-id, the receiver's idempotency key).
CREATE TABLE event_outbox (
    seq             bigserial    PRIMARY KEY,
    event_id        varchar(40)  NOT NULL UNIQUE,
    user_id         varchar(50)  NOT NULL,
    type            varchar(40)  NOT NULL,
    conversation_id varchar(50),
    created_at      timestamptz  NOT NULL DEFAULT now(),
    body            jsonb        NOT NULL
);
-- Pruning walks events by age.
CREATE INDEX event_outbox_created ON event_outbox (created_at);

-- One event to one endpoint. state: 'pending' (waiting, being retried or
-- in flight under a lease), 'delivered' (a 2xx), 'failed' (a final 4xx,
-- or undelivered for events.max_age_hours). conversation_id is copied from
-- the event so that the claim's ordering check is one index probe.
-- age_from is when the retry budget started (the event's time, reset by
-- `endpoint enable` so an endpoint disabled for days resumes rather than
-- failing everything it missed).
CREATE TABLE event_deliveries (
    delivery_id     bigserial    PRIMARY KEY,
    event_seq       bigint       NOT NULL REFERENCES event_outbox (seq) ON DELETE CASCADE,
    endpoint_id     varchar(40)  NOT NULL REFERENCES event_endpoints (endpoint_id)
                                 ON DELETE CASCADE,
    conversation_id varchar(50),
    state           varchar(10)  NOT NULL DEFAULT 'pending'
                                 CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer      NOT NULL DEFAULT 0,
    next_attempt_at timestamptz  NOT NULL DEFAULT now(),
    age_from        timestamptz  NOT NULL DEFAULT now(),
    lease_owner     varchar(100),
    lease_until     timestamptz,
    last_status     integer,
    last_error      text,
    finished_at     timestamptz
);
-- The claim: pending deliveries by due time.
CREATE INDEX event_deliveries_due ON event_deliveries (next_attempt_at) WHERE state = 'pending';
-- Ordering per (endpoint, conversation): "is an earlier one still
-- pending?" and the in-flight count per endpoint.
CREATE INDEX event_deliveries_order ON event_deliveries (endpoint_id, conversation_id, event_seq)
    WHERE state = 'pending';
-- `endpoint deliveries ID`, newest first; the foreign key's cascade.
CREATE INDEX event_deliveries_endpoint ON event_deliveries (endpoint_id, delivery_id);
-- The outbox's cascade on pruning.
CREATE INDEX event_deliveries_event ON event_deliveries (event_seq);

-- Every attempt: when, what came back (HTTP status, or the transport
-- error), how long it took. For `endpoint deliveries` and for the
-- receiver's operator asking "what did you send us, and when".
CREATE TABLE event_attempts (
    attempt_id   bigserial    PRIMARY KEY,
    delivery_id  bigint       NOT NULL REFERENCES event_deliveries (delivery_id) ON DELETE CASCADE,
    attempted_at timestamptz  NOT NULL DEFAULT now(),
    http_status  integer,
    error        text,
    duration_ms  integer      NOT NULL
);
CREATE INDEX event_attempts_delivery ON event_attempts (delivery_id);
