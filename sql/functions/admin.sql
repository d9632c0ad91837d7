-- sql/functions/admin.sql: what the command-line tools do in the database
-- that must hold against a running parley.
--
-- Edited in place: `parley migrate` applies this file again whenever its
-- checksum changes (README.md, Migrations). CREATE OR REPLACE only;
-- a changed signature needs a DROP FUNCTION in a new versioned migration.
-- History before this file: git log -p sql/migrations/.

-- Archives the agent's active conversations (a relink, or channel remove
-- --force) and writes conversation.archived (events out, events.sql) for each
-- one archived here, not for those archived before. No reply is due any more,
-- unless one is being produced (its claim is held: the claim's own end
-- clears it). Returns how many it archived.
CREATE OR REPLACE FUNCTION parley_archive_agent_conversations(p_agent text, p_archive text,
                                                              p_new_agent text, p_reason text)
RETURNS integer LANGUAGE plpgsql AS $$
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

-- `parley agent link`: p_agent (stored prompt p_prompt, named p_name)
-- becomes the one agent answering channel p_channel (of tenant p_tenant,
-- any tenant when NULL), in one transaction, in this order:
--   1. the channel row FOR UPDATE: relinks of one channel queue, and the
--      channel's tenant is the one the new agent belongs to;
--   2. the channel's link lock, exclusive: webhooks storing messages for
--      this channel (parley_ingest_batch holds it shared) finish first,
--      later ones wait for our commit and then see the new agent;
--   3. the linked agent is read only now, by a statement after the lock (a
--      new snapshot in READ COMMITTED), and unlinked (unlinked_at);
--   4. the new agent is inserted, linked (agents_pkey refuses a taken id);
--   5. the old agent's active conversations become inactive, with no reply
--      due any more: the customer's next message opens a new conversation,
--      and with it a new OpenAI conversation, under the new agent. A reply
--      in production (leased) keeps its due time: if its process dies, the
--      claim finishes it. Messages not yet answered stay unanswered;
--   6. a conversation_archives row (id p_archive): old agent, new agent,
--      channel, count.
-- conversation.archived (events out, events.sql) is written for each
-- conversation step 5 archives (reason 'relink'), and only for those.
-- The old agent, its conversations and messages stay readable. No row when
-- there is no such channel (or it was removed); r_old_agent and r_archive NULL when the channel
-- had no agent (nothing archived).
CREATE OR REPLACE FUNCTION parley_relink_agent(p_channel text, p_tenant text, p_agent text,
                                               p_prompt text, p_name text, p_archive text)
RETURNS TABLE (r_tenant text, r_old_agent text, r_archived integer, r_archive text)
LANGUAGE plpgsql AS $$
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

-- `parley channel remove`: channel p_channel (of tenant p_tenant) stops
-- being a channel, without losing history. A soft delete (migration 0020):
-- phone_numbers.removed_at is set; ingestion, the widget and `agent link`
-- no longer find it, and its platform id may be added again. In one
-- transaction, locking in parley_relink_agent's order (the channel row,
-- then its link lock, exclusive: webhooks storing for it finish first):
--   * with an agent linked and p_force false: nothing changes, r_status
--     'has_agent' and r_agent say which agent;
--   * with p_force, the agent is unlinked first (unlinked_at) and its active
--     conversations become inactive with no reply due (a reply in
--     production, leased, keeps its due time and finishes), as a relink
--     does; r_archived counts them, each with its conversation.archived
--     event (reason 'channel_removed', no archive_id or new agent);
--   * then removed_at is set: r_status 'removed'.
-- r_status 'already_removed' for a removed channel; no row when there is no
-- such channel for the tenant. Conversations, messages, extractions and
-- meetings stay, readable with `parley conversation list|show`.
CREATE OR REPLACE FUNCTION parley_remove_channel(p_channel text, p_tenant text, p_force boolean)
RETURNS TABLE (r_status text, r_agent text, r_archived integer)
LANGUAGE plpgsql AS $$
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

-- `parley conversation archive`: conversation p_conv (of tenant p_tenant)
-- becomes inactive with no reply due, as a relink archives conversations
-- (a reply in production, leased, keeps its due time and finishes). The
-- customer's next message opens a new conversation (parley_ingest_batch
-- finds no active one for the agent and customer), with a new OpenAI
-- conversation; the archived one stays readable. Its conversation.archived
-- event (reason 'archive', no archive_id or new agent) is written in the
-- same transaction. r_status 'archived' or
-- 'already_archived'; no row when there is no such conversation for the
-- tenant.
CREATE OR REPLACE FUNCTION parley_archive_conversation(p_conv text, p_tenant text)
RETURNS TABLE (r_status text)
LANGUAGE plpgsql AS $$
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
