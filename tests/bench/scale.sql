-- `make bench-scale`'s preload (tests/bench/scale.sh): a production-sized
-- parley database generated in SQL, set-based (generate_series, INSERT ...
-- SELECT), never through HTTP. Run with psql on a migrated database that
-- already has seed_channels' tenant 'acme' (tests/lib/testlib.sh):
--
--   psql -v scale=1 -f tests/bench/scale.sql DSN
--
-- At scale 1 (each count is multiplied by :scale, at least 1):
--   1,000 tenants, each with a WhatsApp channel, an agent and credits;
--   1,000,000 conversations: 10,000 of them in tenant 'acme' (the tenant
--     the bench's webhooks go to, and `conversation list` is timed on),
--     the rest spread evenly over the other tenants;
--   10,000,000 messages: 10 per conversation, alternately the customer's and
--     the AI's, except conversation 'scale-big' in acme with 1,000; every
--     message has a wamid, every AI message a message_delivery_status row
--     (delivered or read);
--   raw webhook bodies for 7 days (server.keep_raw_days' default): 1,500,000
--     (the customer's messages and the statuses of the AI's from the last 7
--     of the 70 days the conversations span), plus 200,000 more that are
--     between 7 and 8 days old, the janitor's backlog;
--   extractions for 30% of the conversations (the latest) and a superseded
--     one for 10%; a meeting for 5%.
--
-- Every id has the width of parley's own (UUID strings, wamids), but the
-- rows are generated in key order: the b-trees are built packed (about 90%
-- full), where random UUIDs inserted one by one leave them about 70% full.
-- The bytes per message the bench reports are therefore a lower bound for
-- the indexes on random keys (tests/bench/README.md).
--
-- Foreign keys are consistent by construction; their triggers are skipped
-- while loading (session_replication_role = replica) and the tables are
-- vacuumed and analysed at the end.

\set ON_ERROR_STOP on
\timing off
SET session_replication_role = replica;
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET work_mem = '256MB';

SELECT greatest(1, round(1000 * :scale))::int AS n_tenants,
       greatest(100, round(1000000 * :scale))::int AS n_conv,
       greatest(1, round(1500000 * :scale))::int AS n_raw,
       greatest(1, round(200000 * :scale))::int AS n_backlog
\gset
SELECT least(10000, :n_conv / 2)::int AS n_acme \gset
\echo scale: :n_tenants tenants, :n_conv conversations (acme :n_acme), :n_raw raw bodies + :n_backlog to prune

-- A UUID-shaped id for n (36 characters, like gen_random_uuid()::text), in
-- n's order.
CREATE FUNCTION pg_temp.sid(p_kind int, p_n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT lpad(to_hex(p_kind), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(p_n), 12, '0')
$$;

-- Tenants t0002..tN (acme is t1), one WhatsApp channel and agent each.
INSERT INTO users (user_id, email, company_name)
SELECT 't' || lpad(t::text, 4, '0'), 't' || t || '@scale.test', 'Tenant ' || t
  FROM generate_series(2, :n_tenants) t;
INSERT INTO credits (user_id, remaining_credits, total_used)
SELECT 't' || lpad(t::text, 4, '0'), 100000, 5000 FROM generate_series(2, :n_tenants) t;
INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token, display_name)
SELECT 'pn-' || t, 't' || lpad(t::text, 4, '0'), 'whatsapp', (200000000000000 + t)::text,
       'EAAG' || md5(t::text) || md5('x' || t), 'Tenant ' || t || ' WhatsApp'
  FROM generate_series(2, :n_tenants) t;
INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
SELECT 'ag-' || t, 't' || lpad(t::text, 4, '0'), 'pn-' || t, 'pmpt_' || md5(t::text), 'Agent ' || t
  FROM generate_series(2, :n_tenants) t;

-- Conversations: i = 1..n_acme in acme (ag-wa), the rest round robin over
-- the other tenants. Conversation i started (70 days * i / n) ago, so its
-- ten messages are spread over the 70 days. Conversation 1 is 'scale-big'.
CREATE TEMP TABLE conv_plan AS
SELECT i,
       CASE WHEN i = 1 THEN 'scale-big' ELSE pg_temp.sid(1, i) END AS conversation_id,
       CASE WHEN i <= :n_acme OR :n_tenants < 2 THEN 'ag-wa'
            ELSE 'ag-' || (2 + (i % (:n_tenants - 1))) END AS agent_id,
       CASE WHEN i <= :n_acme OR :n_tenants < 2 THEN 'acme'
            ELSE 't' || lpad((2 + (i % (:n_tenants - 1)))::text, 4, '0') END AS user_id,
       CASE WHEN i = 1 THEN 1000 ELSE 10 END AS n_msgs,
       (now() AT TIME ZONE 'UTC') - make_interval(secs => 70 * 86400.0 * (:n_conv - i + 1) / :n_conv) AS started
  FROM generate_series(1, :n_conv) i;

INSERT INTO conversations (conversation_id, agent_id, customer_phone, openai_conversation_id,
                           created_at, last_message_at, last_extraction_at, is_active,
                           last_sequence_no, customer_name, replied_through_seq,
                           extracted_through_seq, extraction_checked_seq, window_expires_at)
SELECT conversation_id, agent_id, (4915100000000 + i)::text, 'conv_' || md5(conversation_id) || md5(agent_id),
       started, started + make_interval(mins => 5 * n_msgs), started + make_interval(mins => 60),
       true, n_msgs, 'Customer ' || i, n_msgs, n_msgs, n_msgs,
       (started + make_interval(mins => 5 * n_msgs) + interval '24 hours') AT TIME ZONE 'UTC'
  FROM conv_plan ORDER BY conversation_id;

-- Messages, in (conversation_id, sequence_no) order, so the message id and
-- wamid run in the same order: odd sequence numbers are the customer's,
-- even ones the AI's answer.
INSERT INTO messages (message_id, conversation_id, sender, text, "timestamp", status, sequence_no,
                      platform_message_id, kind, triggers_reply, author)
SELECT pg_temp.sid(2, c.i * 1000 + s), c.conversation_id,
       CASE WHEN s % 2 = 1 THEN 'user' ELSE 'agent' END,
       CASE WHEN s % 2 = 1 THEN 'Hi! Do you have the blue jacket in size M? I would pick it up on Saturday (' || s || ').'
            ELSE 'Yes, we have it in size M. Shall I reserve one for you until Saturday at the Main Street store? (' || s || ')' END,
       c.started + make_interval(mins => 5 * s), 'sent', s,
       'wamid.HBgLMzE2' || upper(md5(c.conversation_id || '.' || s)) || 'AA==',
       'text', s % 2 = 1, CASE WHEN s % 2 = 1 THEN 'customer' ELSE 'ai' END
  FROM conv_plan c, generate_series(1, c.n_msgs) s
 ORDER BY c.conversation_id, s;

-- The AI's messages: their delivery statuses (read, or delivered).
INSERT INTO message_delivery_status (message_id, platform_message_id, status, updated_at)
SELECT pg_temp.sid(2, c.i * 1000 + s),
       'wamid.HBgLMzE2' || upper(md5(c.conversation_id || '.' || s)) || 'AA==',
       CASE WHEN (c.i + s) % 4 = 0 THEN 'delivered' ELSE 'read' END,
       c.started + make_interval(mins => 5 * s + 1)
  FROM conv_plan c, generate_series(2, c.n_msgs, 2) s
 ORDER BY 1;

-- Extractions: the latest for 30% of the conversations, a superseded one
-- before it for 10%.
INSERT INTO extractions (extraction_id, conversation_id, user_id, customer_phone, extracted_at,
                         is_latest, message_count_at_extraction, name, email, company, intent,
                         intent_level, intent_score, urgency_level, urgency_score,
                         budget_constraint, budget_score, fit_alignment, fit_score,
                         engagement_health, engagement_score, cta_pricing_clicked,
                         cta_demo_clicked, cta_followup_clicked, cta_sample_clicked,
                         cta_website_clicked, cta_escalated_to_human, total_score,
                         lead_status_tag, reasoning, smart_notification, notes)
SELECT md5(c.conversation_id || v)::uuid, c.conversation_id, c.user_id, (4915100000000 + c.i)::text,
       c.started + make_interval(mins => 30 + v), v = 1, c.n_msgs - 2 * (1 - v),
       'Customer ' || c.i, 'customer' || c.i || '@example.com', 'Company ' || (c.i % 5000),
       'Wants the blue jacket in size M, pickup on Saturday',
       lv.l[1 + (c.i + 0) % 3], 1 + (c.i + 0) % 3, lv.l[1 + (c.i + 1) % 3], 1 + (c.i + 1) % 3,
       (ARRAY['Yes', 'No', 'Maybe'])[1 + c.i % 3], 1 + (c.i + 2) % 3,
       lv.l[1 + (c.i + 2) % 3], 1 + (c.i + 2) % 3, lv.l[1 + (c.i + 1) % 3], 1 + (c.i + 1) % 3,
       'No', CASE WHEN c.i % 7 = 0 THEN 'Yes' ELSE 'No' END, 'No', 'No', 'Yes', 'No',
       5 + (c.i + 0) % 3 + (c.i + 1) % 3 + (c.i + 2) % 3 + (c.i + 2) % 3 + (c.i + 1) % 3,
       (ARRAY['Cold', 'Warm', 'Hot'])[1 + c.i % 3],
       jsonb_build_object('intent', 'Asked for a specific product and size',
                          'urgency', 'Named a day', 'budget', 'Did not say',
                          'fit', 'Product in stock', 'engagement', 'Answered every question'),
       'Customer ' || c.i || ' wants to pick up the blue jacket on Saturday',
       'Follow up on Friday'
  FROM conv_plan c, (SELECT ARRAY['Low', 'Medium', 'High'] AS l) lv, generate_series(0, 1) v
 WHERE c.i % 10 < 3 AND (v = 1 OR c.i % 10 = 0);

-- Meetings for 5% of the conversations: scheduled ones ahead, completed
-- ones behind.
INSERT INTO meetings (meeting_id, user_id, conversation_id, google_event_id, title, customer_name,
                      customer_email, participants, meeting_time, duration_minutes, timezone,
                      meet_link, status, created_at, updated_at)
SELECT pg_temp.sid(3, c.i), c.user_id, c.conversation_id, 'gev' || md5(c.conversation_id),
       'Demo with Customer ' || c.i, 'Customer ' || c.i, 'customer' || c.i || '@example.com',
       ARRAY['customer' || c.i || '@example.com'],
       c.started + interval '3 days', 30, 'Europe/Amsterdam',
       'https://meet.google.com/' || left(md5(c.conversation_id), 10),
       CASE WHEN c.started + interval '3 days' > now() AT TIME ZONE 'UTC' THEN 'scheduled' ELSE 'completed' END,
       c.started + interval '1 hour', c.started + interval '1 hour'
  FROM conv_plan c WHERE c.i % 20 = 0;

-- Raw bodies: n_raw spread over the last 7 days (customer messages and the
-- statuses of the AI's answers, as Meta sends them), n_backlog between 7 and
-- 8 days old that the janitor has to prune. Oldest first, as they arrive.
INSERT INTO webhook_raw (received_at, object, body, outcome)
SELECT now() - make_interval(secs => 86400.0 * (7 + r::float8 / :n_backlog)),
       'whatsapp_business_account',
       convert_to('{"object":"whatsapp_business_account","entry":[{"id":"100000000000001","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Customer ' || r || '"},"wa_id":"' || (4915100000000 + r) || '"}],"messages":[{"from":"' || (4915100000000 + r) || '","id":"wamid.HBgLMzE2' || upper(md5(r::text)) || 'AA==","timestamp":"1767261660","type":"text","text":{"body":"Hi! Do you have the blue jacket in size M? I would pick it up on Saturday."}}]},"field":"messages"}]}]}', 'UTF8'),
       '{"stored": 1, "duplicates": 0, "statuses": 0, "early_statuses": 0, "skipped": 0, "skips": []}'::jsonb
  FROM generate_series(:n_backlog, 1, -1) r;
INSERT INTO webhook_raw (received_at, object, body, outcome)
SELECT now() - make_interval(secs => 86400.0 * 7 * (:n_raw - r + 1) / (:n_raw + 1)),
       'whatsapp_business_account',
       CASE WHEN r % 3 = 0
       THEN convert_to('{"object":"whatsapp_business_account","entry":[{"id":"100000000000001","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Customer ' || r || '"},"wa_id":"' || (4915100000000 + r) || '"}],"messages":[{"from":"' || (4915100000000 + r) || '","id":"wamid.HBgLMzE2' || upper(md5(r::text)) || 'AA==","timestamp":"1767261660","type":"text","text":{"body":"Hi! Do you have the blue jacket in size M? I would pick it up on Saturday."}}]},"field":"messages"}]}]}', 'UTF8')
       ELSE convert_to('{"object":"whatsapp_business_account","entry":[{"id":"100000000000001","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.HBgLMzE2' || upper(md5(r::text)) || 'AA==","status":"' || CASE WHEN r % 3 = 1 THEN 'delivered' ELSE 'read' END || '","timestamp":"1767261660","recipient_id":"' || (4915100000000 + r) || '","conversation":{"id":"' || md5(r::text) || '","origin":{"type":"service"}},"pricing":{"billable":false,"pricing_model":"PMP","category":"service","type":"free_customer_service"}}]},"field":"messages"}]}]}', 'UTF8')
       END,
       CASE WHEN r % 3 = 0
       THEN '{"stored": 1, "duplicates": 0, "statuses": 0, "early_statuses": 0, "skipped": 0, "skips": []}'::jsonb
       ELSE '{"stored": 0, "duplicates": 0, "statuses": 1, "early_statuses": 0, "skipped": 0, "skips": []}'::jsonb END
  FROM generate_series(1, :n_raw) r;

RESET session_replication_role;
VACUUM (ANALYZE) users, credits, phone_numbers, agents, conversations, messages,
    message_delivery_status, extractions, meetings, webhook_raw;
