-- 0001_seed_schema.sql: the seed schema.
--
-- Source: /work/shared/seed/schema-reference.md ("Database Schema Reference"),
-- transcribed exactly: the eleven tables with their columns in the document's
-- order, types, DEFAULTs, NOT NULLs, CHECKs, PRIMARY KEYs, FOREIGN KEYs and
-- UNIQUEs, plus update_updated_at_column() and its BEFORE UPDATE triggers on
-- the five tables the document names. Nothing else: no extra indexes, no
-- ON DELETE/ON UPDATE actions (the document gives none). Later migrations
-- add what the daemon needs; this file is never edited once applied.
--
-- Reading of the document:
--   * "FK -> t" references t's primary key: users(user_id), phone_numbers(id),
--     agents(agent_id), conversations(conversation_id), messages(message_id).
--   * A column is NOT NULL only where the document says NOT NULL (or it is a
--     PRIMARY KEY); a CHECK alone leaves it nullable. Free text in the
--     Constraints column ("Contact name", "OpenAI Responses API ID", ...) is
--     description, not a constraint; "NULL" means explicitly nullable.
--   * "CHECK 1-3" is BETWEEN 1 AND 3, "CHECK 5-15" BETWEEN 5 AND 15,
--     "CHECK >= 0" is col >= 0.
--   * TIMESTAMP is timestamp without time zone.
--   * conversation_archives.old_agent_id has no FK (the document gives none:
--     the old agent may be gone).
--   * extractions and message_delivery_status have updated_at columns but no
--     trigger: the document applies the trigger to five tables only.
--
-- Constraint names are PostgreSQL's defaults, so they are predictable for
-- later migrations (all well under the 63-byte limit, so none is truncated):
--   primary keys   <table>_pkey                      e.g. users_pkey
--   unique (1 col) <table>_<column>_key              users_email_key,
--                                                    agents_phone_number_id_key
--   unique (n col) <table>_<col1>_<col2>_..._key     phone_numbers_user_id_meta_phone_number_id_platform_key,
--                                                    messages_conversation_id_sequence_no_key,
--                                                    conversations_agent_id_customer_phone_is_active_key
--   foreign keys   <table>_<column>_fkey             e.g. agents_phone_number_id_fkey
--   checks         <table>_<column>_check            e.g. messages_sender_check
-- The conversations unique constraint is named explicitly (with that same
-- default name) because 0002_one_active_conversation.sql drops it by name.
-- Triggers are named update_<table>_updated_at.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in a transaction.

CREATE TABLE users (
    user_id VARCHAR(50) PRIMARY KEY,
    email VARCHAR(255) UNIQUE NOT NULL,
    company_name VARCHAR(255),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE phone_numbers (
    id VARCHAR(50) PRIMARY KEY,
    user_id VARCHAR(50) NOT NULL REFERENCES users (user_id),
    platform VARCHAR(20) CHECK (platform IN ('whatsapp', 'instagram', 'webchat')),
    meta_phone_number_id VARCHAR(100) NOT NULL,
    access_token TEXT NOT NULL,
    display_name VARCHAR(255),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (user_id, meta_phone_number_id, platform)
);

CREATE TABLE agents (
    agent_id VARCHAR(50) PRIMARY KEY,
    user_id VARCHAR(50) NOT NULL REFERENCES users (user_id),
    phone_number_id VARCHAR(50) NOT NULL UNIQUE REFERENCES phone_numbers (id),
    prompt_id VARCHAR(100) NOT NULL,
    name VARCHAR(255) NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE conversations (
    conversation_id VARCHAR(50) PRIMARY KEY,
    agent_id VARCHAR(50) NOT NULL REFERENCES agents (agent_id),
    customer_phone VARCHAR(50) NOT NULL,
    openai_conversation_id VARCHAR(100),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    last_message_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    last_extraction_at TIMESTAMP NULL,
    is_active BOOLEAN DEFAULT true,
    CONSTRAINT conversations_agent_id_customer_phone_is_active_key
        UNIQUE (agent_id, customer_phone, is_active)
);

CREATE TABLE messages (
    message_id VARCHAR(100) PRIMARY KEY,
    conversation_id VARCHAR(50) NOT NULL REFERENCES conversations (conversation_id),
    sender VARCHAR(20) CHECK (sender IN ('user', 'agent')),
    text TEXT NOT NULL,
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    status VARCHAR(20) CHECK (status IN ('sent', 'failed', 'pending')),
    sequence_no INTEGER NOT NULL,
    platform_message_id VARCHAR(100),
    UNIQUE (conversation_id, sequence_no)
);

CREATE TABLE extractions (
    extraction_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id VARCHAR(50) NOT NULL REFERENCES conversations (conversation_id),
    user_id VARCHAR(50) NOT NULL REFERENCES users (user_id),
    customer_phone VARCHAR(50) NOT NULL,
    extracted_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    is_latest BOOLEAN DEFAULT true,
    message_count_at_extraction INTEGER DEFAULT 0,
    name VARCHAR(255),
    email VARCHAR(255),
    company VARCHAR(255),
    intent TEXT,
    intent_level VARCHAR(20) CHECK (intent_level IN ('Low', 'Medium', 'High')),
    intent_score INTEGER CHECK (intent_score BETWEEN 1 AND 3),
    urgency_level VARCHAR(20) CHECK (urgency_level IN ('Low', 'Medium', 'High')),
    urgency_score INTEGER CHECK (urgency_score BETWEEN 1 AND 3),
    budget_constraint VARCHAR(20) CHECK (budget_constraint IN ('Yes', 'No', 'Maybe')),
    budget_score INTEGER CHECK (budget_score BETWEEN 1 AND 3),
    fit_alignment VARCHAR(20) CHECK (fit_alignment IN ('Low', 'Medium', 'High')),
    fit_score INTEGER CHECK (fit_score BETWEEN 1 AND 3),
    engagement_health VARCHAR(20) CHECK (engagement_health IN ('Low', 'Medium', 'High')),
    engagement_score INTEGER CHECK (engagement_score BETWEEN 1 AND 3),
    cta_pricing_clicked VARCHAR(10) CHECK (cta_pricing_clicked IN ('Yes', 'No')),
    cta_demo_clicked VARCHAR(10) CHECK (cta_demo_clicked IN ('Yes', 'No')),
    cta_followup_clicked VARCHAR(10) CHECK (cta_followup_clicked IN ('Yes', 'No')),
    cta_sample_clicked VARCHAR(10) CHECK (cta_sample_clicked IN ('Yes', 'No')),
    cta_website_clicked VARCHAR(10) CHECK (cta_website_clicked IN ('Yes', 'No')),
    cta_escalated_to_human VARCHAR(10) CHECK (cta_escalated_to_human IN ('Yes', 'No')),
    total_score INTEGER CHECK (total_score BETWEEN 5 AND 15),
    lead_status_tag VARCHAR(20) CHECK (lead_status_tag IN ('Hot', 'Warm', 'Cold')),
    demo_book_datetime TIMESTAMP,
    reasoning JSONB,
    smart_notification TEXT,
    notes TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE credits (
    user_id VARCHAR(50) PRIMARY KEY REFERENCES users (user_id),
    remaining_credits INTEGER DEFAULT 0 CHECK (remaining_credits >= 0),
    total_used INTEGER DEFAULT 0 CHECK (total_used >= 0),
    last_updated TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE google_calendar_tokens (
    user_id VARCHAR(50) PRIMARY KEY REFERENCES users (user_id),
    access_token TEXT NOT NULL,
    refresh_token TEXT NOT NULL,
    token_expiry TIMESTAMP NOT NULL,
    scope TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE meetings (
    meeting_id VARCHAR(50) PRIMARY KEY,
    user_id VARCHAR(50) NOT NULL REFERENCES users (user_id),
    conversation_id VARCHAR(50) NOT NULL REFERENCES conversations (conversation_id),
    google_event_id VARCHAR(255) NOT NULL,
    title VARCHAR(255) NOT NULL,
    customer_name VARCHAR(255),
    customer_email VARCHAR(255),
    participants TEXT[],
    meeting_time TIMESTAMP NOT NULL,
    duration_minutes INTEGER DEFAULT 30,
    timezone VARCHAR(100),
    meet_link TEXT,
    status VARCHAR(20) CHECK (status IN ('scheduled', 'cancelled', 'completed')),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE message_delivery_status (
    message_id VARCHAR(100) PRIMARY KEY REFERENCES messages (message_id),
    platform_message_id VARCHAR(100),
    status VARCHAR(20) CHECK (status IN ('pending', 'sent', 'delivered', 'read', 'failed')),
    error_message TEXT,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE conversation_archives (
    archive_id VARCHAR(50) PRIMARY KEY,
    old_agent_id VARCHAR(50) NOT NULL,
    new_agent_id VARCHAR(50) NOT NULL REFERENCES agents (agent_id),
    phone_number_id VARCHAR(50) NOT NULL REFERENCES phone_numbers (id),
    archived_conversations_count INTEGER DEFAULT 0,
    archived_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    reason VARCHAR(255) DEFAULT 'Agent relinked'
);

-- The function exactly as the document gives it.
CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$ language 'plpgsql';

-- "Applied to: users, phone_numbers, agents, google_calendar_tokens, meetings".
CREATE TRIGGER update_users_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER update_phone_numbers_updated_at
    BEFORE UPDATE ON phone_numbers
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER update_agents_updated_at
    BEFORE UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER update_google_calendar_tokens_updated_at
    BEFORE UPDATE ON google_calendar_tokens
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TRIGGER update_meetings_updated_at
    BEFORE UPDATE ON meetings
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
