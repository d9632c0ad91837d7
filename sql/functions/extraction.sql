-- sql/functions/extraction.sql: the lead-extraction worker's claim, store and failure.
--
-- Edited in place: `parley migrate` applies this file again whenever its
-- checksum changes (README.md, Migrations). CREATE OR REPLACE only;
-- a changed signature needs a DROP FUNCTION in a new versioned migration.
-- History before this file: git log -p sql/migrations/.

-- Claims up to p_limit conversations whose extraction is due, looking at no
-- more than 256 candidates per call. Candidates that turn out not to be due
-- are marked looked-at (active) or dealt with (archived, nothing from the
-- customer). A claimed conversation is charged p_credits (unless a claim
-- before ours already was); a tenant with too few credits has the new
-- messages passed over and gets a job with "no_credits": true for the
-- caller to log and count. Each job carries the transcript: the latest 200
-- messages through "through", oldest first, with their referrals, without
-- agent messages that failed to send, each with its author (customer, ai,
-- human), and the handoff state: "handoff": {"escalated": the agent called
-- escalate_to_human at some point (escalated_at, 0018), "paused_until" (as
-- parley_paused_until_text shows it, NULL when not paused), "reason"}.
-- A disabled tenant's conversations are left out (parley_disabled_agents,
-- sql/functions/common.sql).
CREATE OR REPLACE FUNCTION parley_claim_extractions(p_owner text, p_limit integer, p_lease_seconds integer,
                                         p_every integer, p_idle_seconds integer,
                                         p_credits integer)
RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
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

-- Milliseconds until the next conversation becomes due (0 when one is due
-- now), -1 when none is pending. Claimed ones are left out: their claim
-- ends with a store or a failure, or runs out (the caller polls for that).
CREATE OR REPLACE FUNCTION parley_next_extraction_ms(p_idle_seconds integer)
RETURNS bigint LANGUAGE sql STABLE AS $$
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

-- Stores a validated extraction (p_lead: the extractions columns as JSON,
-- scores and tag computed by parley) in one transaction: the previous
-- latest is no longer latest, the new row is, the conversation records when
-- and through which message, and the claim ends. user_id and customer_phone
-- come from the conversation; demo_book_datetime from its latest scheduled
-- meeting. Refuses (returns NULL) when the claim is no longer ours, so that
-- a process whose lease ran out never stores a second extraction for the
-- same messages.
CREATE OR REPLACE FUNCTION parley_store_extraction(p_conv text, p_owner text, p_through integer,
                                        p_lead jsonb)
RETURNS text LANGUAGE plpgsql AS $$
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

-- An attempt failed (invalid or refused answer, upstream failure): nothing
-- is stored, the credits taken for it go back, and the next attempt waits
-- p_backoff_seconds doubled per failure in a row (at most an hour). After
-- p_max_failures in a row the messages through p_through are passed over
-- (the next extraction needs new ones). Ends the claim. Returns
-- {"failures": n, "retry_in": seconds, "gave_up": bool}, or NULL when the
-- claim is no longer ours (whoever has it now carries on).
CREATE OR REPLACE FUNCTION parley_fail_extraction(p_conv text, p_owner text, p_through integer,
                                       p_credits integer, p_backoff_seconds integer,
                                       p_max_failures integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
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

-- Extends the lease of every conversation p_owner is extracting a lead
-- from to p_seconds from now; the number of leases renewed (see
-- parley_renew_reply_leases).
CREATE OR REPLACE FUNCTION parley_renew_extraction_leases(p_owner text, p_seconds integer)
RETURNS integer LANGUAGE plpgsql AS $$
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
