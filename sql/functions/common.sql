-- sql/functions/common.sql: helpers every area uses: the updated_at trigger, delivery statuses, the
-- channel link lock.
--
-- Edited in place: `parley migrate` applies this file again whenever its
-- checksum changes (README.md, Migrations). CREATE OR REPLACE only;
-- a changed signature needs a DROP FUNCTION in a new versioned migration.
-- History before this file: git log -p sql/migrations/.

-- Sets updated_at on every UPDATE (the seed document's trigger function,
-- exactly as it gives it; triggers on users, phone_numbers, agents,
-- google_calendar_tokens, meetings).
CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$ language 'plpgsql';

-- Statuses only move forward. failed ranks above sent (a send accepted and
-- then undeliverable did fail) but below delivered and read (a failure
-- reported after a delivery or read is stale).
CREATE OR REPLACE FUNCTION parley_status_rank(s text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE s WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'failed' THEN 2
                  WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 ELSE -1 END
$$;

-- Records a delivery status for a platform message id: applied to the agent
-- message that carries that id, or kept as pending until one does
-- (parley_record_sent applies it then, through this function, events and
-- all). Returns true when the message was known.
CREATE OR REPLACE FUNCTION parley_apply_status(p_pmid text, p_status text, p_error text)
RETURNS boolean LANGUAGE plpgsql AS $$
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

-- A channel's link lock, shared or exclusive, held to the end of the
-- calling transaction: webhooks storing messages for a channel hold it
-- shared (parley_ingest_batch), a relink exclusive (parley_relink_agent),
-- so a relink waits for stores in flight and later stores see its agent.
CREATE OR REPLACE FUNCTION parley_lock_channel_link(p_channel text, p_exclusive boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_exclusive THEN
        PERFORM pg_advisory_xact_lock(1885434476, hashtext(p_channel));
    ELSE
        PERFORM pg_advisory_xact_lock_shared(1885434476, hashtext(p_channel));
    END IF;
END
$$;

-- The agents of every disabled tenant (`parley tenant disable`,
-- users.disabled_at): its webhooks are stored, but no reply, extraction or
-- event is produced for its conversations. Every producer's claim (and
-- next-due function) carries
--     AND agent_id <> ALL ((SELECT parley_disabled_agents())::text[])
-- which leaves their conversations due: they are taken up when the tenant
-- is enabled again. The scalar subquery is evaluated once per statement (an
-- InitPlan; the cast makes it an array expression, without it ALL reads
-- the parenthesised SELECT as a subquery of rows). Its predecessor,
-- parley_tenant_disabled(agent_id) (dropped by migration 0025), ran once
-- per row the scan looked at: ~12 calls per reply claimed (issue #20).
CREATE OR REPLACE FUNCTION parley_disabled_agents()
RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(a.agent_id), '{}')
      FROM users u JOIN agents a ON a.user_id = u.user_id
     WHERE u.disabled_at IS NOT NULL;
$$;

-- A time-ordered id for new rows (issue #20): a UUIDv7 (RFC 9562) as text,
-- 48 bits of Unix milliseconds then random bits, in the same 36-character
-- form as gen_random_uuid()::text. Ids made later sort after earlier ones,
-- so a primary key b-tree on them grows at its right edge: an insert dirties
-- the last leaf page rather than a random one (fewer pages to write, and
-- fewer full-page images in the WAL after each checkpoint). gen_random_uuid()
-- already sets the variant and version 4 (0100); bits 52 and 53 make it 7.
-- A SQL function PostgreSQL inlines into the calling expression.
CREATE OR REPLACE FUNCTION parley_uuidv7() RETURNS text
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                  PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                  FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid::text
$$;
