-- 0002_one_active_conversation.sql: at most one ACTIVE conversation per
-- (agent, customer), any number of archived ones.
--
-- Why this alters a seed table. The seed schema (0001, from
-- /work/shared/seed/schema-reference.md) is otherwise taken as it is; this is
-- the one documented exception, made deliberately and visibly here rather
-- than by editing 0001.
--
-- The seed declares on conversations
--     UNIQUE (agent_id, customer_phone, is_active)
-- (constraint conversations_agent_id_customer_phone_is_active_key). The
-- intent is "a customer has at most one active conversation with an agent".
-- But is_active has only two values, so the constraint also allows at most
-- ONE archived (is_active = false) conversation per (agent, customer): the
-- second time a conversation is archived for the same pair - the agent is
-- relinked twice, or a customer's conversation is closed, a new one opened,
-- and that one closed too - the UPDATE ... SET is_active = false fails with a
-- unique violation, and the archive (or the whole relink) is rolled back.
--
-- The partial unique index below keeps exactly the intended invariant (one
-- row per (agent_id, customer_phone) WHERE is_active) and puts no limit on
-- archived rows. Existing data cannot violate it: under the seed constraint
-- there was already at most one (agent, customer, true) row. Queries that
-- look up "the active conversation" (WHERE agent_id = $1 AND customer_phone
-- = $2 AND is_active) can use the index.
--
-- is_active NULL. The seed column is nullable (BOOLEAN DEFAULT true, no NOT
-- NULL), and a NULL is neither active nor archived: it escapes the partial
-- index (WHERE is_active is not true for NULL), it matches neither
-- "WHERE is_active" nor "WHERE NOT is_active", and the seed's own unique
-- constraint never constrained it either (NULLs are distinct). A row that
-- got there by an explicit NULL would be a conversation nobody can find or
-- archive, and any number of them could pile up per (agent, customer). So
-- conversations_is_active_not_null forbids it. It is a CHECK rather than
-- ALTER COLUMN ... SET NOT NULL so that it has a name a later migration can
-- refer to and the column still reads as the seed declared it; the effect
-- is the same. Should an existing database hold such rows, this migration
-- fails and is rolled back as a whole; decide what they are (e.g. UPDATE
-- conversations SET is_active = false WHERE is_active IS NULL) and rerun.
--
-- Names: conversations_one_active (index), conversations_is_active_not_null
-- (check). No BEGIN/COMMIT: the migration runner wraps each file in a
-- transaction, so the drop and the index appear together or not at all.

ALTER TABLE conversations
    DROP CONSTRAINT conversations_agent_id_customer_phone_is_active_key;

CREATE UNIQUE INDEX conversations_one_active
    ON conversations (agent_id, customer_phone)
    WHERE is_active;

ALTER TABLE conversations
    ADD CONSTRAINT conversations_is_active_not_null CHECK (is_active IS NOT NULL);
