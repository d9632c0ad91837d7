-- 0020: undo for the administration commands (issue #21 item 6, README
-- "Administration"): `parley channel remove` and `parley tenant
-- disable|enable`.
--
-- Why each change:
--   * phone_numbers.removed_at: a channel cannot be deleted without
--     deleting history. agents.phone_number_id, and through the agents
--     conversations, messages, extractions and meetings, reference it
--     (foreign keys without ON DELETE), as does conversation_archives; and
--     its conversations and messages must stay readable. So removing a
--     channel is a soft delete: removed_at is set, and every lookup that
--     resolves a channel for new traffic (ingestion, the webchat widget,
--     `agent link`, `channel add`'s uniqueness check) leaves removed
--     channels out. NULL: a current channel.
--   * The seed's UNIQUE (user_id, meta_phone_number_id, platform) becomes
--     a unique index over current channels only, so that a removed channel
--     can be added again (a new row, a new id) by the same tenant; two
--     current channels with one id stay impossible.
--   * users.disabled_at: a disabled tenant's webhooks are still stored, but
--     no reply, extraction or event is produced for it while it is set (the
--     claims in sql/functions/replies.sql and extraction.sql, and their
--     next-due functions, leave its conversations out). NULL: enabled.
--
-- No BEGIN/COMMIT: the migration runner wraps each file in a transaction.

ALTER TABLE phone_numbers ADD COLUMN removed_at timestamptz;
CREATE UNIQUE INDEX phone_numbers_current_key
    ON phone_numbers (user_id, meta_phone_number_id, platform) WHERE removed_at IS NULL;
ALTER TABLE phone_numbers DROP CONSTRAINT phone_numbers_user_id_meta_phone_number_id_platform_key;

ALTER TABLE users ADD COLUMN disabled_at timestamptz;
