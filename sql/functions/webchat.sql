-- sql/functions/webchat.sql: the webchat widget's channel, conversation, poll and read marks.
--
-- Edited in place: `parley migrate` applies this file again whenever its
-- checksum changes (README.md, Migrations). CREATE OR REPLACE only;
-- a changed signature needs a DROP FUNCTION in a new versioned migration.
-- History before this file: git log -p sql/migrations/.

-- The widget's channel and its linked agent: no row for an unknown (or
-- ambiguous, or removed) widget, agent_id NULL for a widget without an agent.
CREATE OR REPLACE FUNCTION parley_webchat_channel(p_widget text)
RETURNS TABLE (channel_id text, user_id text, agent_id text)
LANGUAGE sql STABLE AS $$
    SELECT p.id::text, p.user_id::text, max(a.agent_id)::text
      FROM phone_numbers p
      LEFT JOIN agents a ON a.phone_number_id = p.id AND a.unlinked_at IS NULL
     WHERE p.platform = 'webchat' AND p.meta_phone_number_id = p_widget
       AND p.removed_at IS NULL
     GROUP BY p.id, p.user_id
    HAVING (SELECT count(*) FROM phone_numbers q
             WHERE q.platform = 'webchat' AND q.meta_phone_number_id = p_widget
               AND q.removed_at IS NULL) = 1;
$$;

-- The session's active conversation on the widget's channel, if any.
CREATE OR REPLACE FUNCTION parley_webchat_conversation(p_widget text, p_session text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT c.conversation_id::text
      FROM conversations c
      JOIN agents a ON a.agent_id = c.agent_id
      JOIN phone_numbers p ON p.id = a.phone_number_id
     WHERE p.platform = 'webchat' AND p.meta_phone_number_id = p_widget
       AND c.customer_phone = p_session AND c.is_active
     ORDER BY c.created_at DESC
     LIMIT 1;
$$;

-- The session's messages after p_after, in order, for the widget's poll.
-- A reply still being produced (an agent message in 'pending') ends the
-- list, so that a poll never moves the widget's "after" past a message it
-- has not seen yet. Agent messages returned become 'delivered' (docs/protocol.md,
-- webchat), each with a message.status event (events out), and the status
-- returned is the delivery status where there is one (read before this
-- poll's marks). A customer's message is returned as 'read' once an agent
-- message that is not 'pending' follows it: an answer means it was read (README, Website chat
-- widget). Nothing is stored for that; the widget applies the same rule to
-- messages it was given before their answer came.
CREATE OR REPLACE FUNCTION parley_webchat_fetch(p_widget text, p_session text, p_after integer,
                                     p_limit integer)
RETURNS TABLE (sequence_no integer, sender text, author text, text text, status text,
               created_at text)
LANGUAGE plpgsql AS $$
DECLARE
    v_conv text := parley_webchat_conversation(p_widget, p_session);
    v_stop integer;
    v_answered integer;
    v_page text[];
    v_was jsonb;
    v_mid text;
BEGIN
    IF v_conv IS NULL THEN
        RETURN;
    END IF;
    SELECT min(m.sequence_no) FILTER (WHERE m.status = 'pending'),
           max(m.sequence_no) FILTER (WHERE m.status <> 'pending')
      INTO v_stop, v_answered
      FROM messages m
     WHERE m.conversation_id = v_conv AND m.sequence_no > p_after
       AND m.sender = 'agent';

    -- The page is chosen once, with each message's status before this
    -- poll: the statements below read and mark exactly these messages,
    -- whatever commits meanwhile.
    SELECT array_agg(pg.message_id ORDER BY pg.sequence_no),
           coalesce(jsonb_object_agg(pg.message_id, pg.status), '{}')
      INTO v_page, v_was
      FROM (SELECT m.message_id, m.sequence_no, coalesce(d.status, m.status)::text AS status
              FROM messages m
              LEFT JOIN message_delivery_status d ON d.message_id = m.message_id
             WHERE m.conversation_id = v_conv AND m.sequence_no > p_after
               AND (v_stop IS NULL OR m.sequence_no < v_stop)
             ORDER BY m.sequence_no
             LIMIT p_limit) pg;
    IF v_page IS NULL THEN
        RETURN;
    END IF;

    -- Agent messages shown become 'delivered', each with its message.status
    -- event (events out, events.sql) in this transaction, as Meta's
    -- delivered status has in parley_apply_status.
    FOR v_mid IN
        UPDATE message_delivery_status d
           SET status = 'delivered', updated_at = now() AT TIME ZONE 'UTC'
          FROM messages m
         WHERE d.message_id = ANY (v_page) AND m.message_id = d.message_id
           AND m.sender = 'agent' AND d.status IN ('pending', 'sent')
        RETURNING d.message_id
    LOOP
        PERFORM parley_emit_message_event('message.status', v_mid,
                                          jsonb_build_object('status', 'delivered'));
    END LOOP;

    RETURN QUERY
    SELECT m.sequence_no, m.sender::text, m.author::text, m.text,
           CASE WHEN m.sender = 'agent' AND v_was->>m.message_id = 'sent' THEN 'delivered'
                WHEN m.sender <> 'agent' AND v_was->>m.message_id = 'sent'
                     AND m.sequence_no < v_answered THEN 'read'
                ELSE v_was->>m.message_id END,
           to_char(m."timestamp", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      FROM messages m
     WHERE m.message_id = ANY (v_page)
     ORDER BY m.sequence_no;
END
$$;

-- Whether a reply to the session's active conversation is being produced:
-- its reply claim is held and not run out (parley_claim_replies takes it
-- when a reply starts, and the reply's end or a claim that finds nothing to
-- do gives it back in the claim's own transaction). Read by every poll, in
-- every process alike: the poll's agent_typing (README, Read receipts and
-- typing). VOLATILE on purpose: it reads with a snapshot of its own, taken
-- when it runs, so a poll that calls it after parley_webchat_fetch never
-- reports a reply as still being produced next to an older page without it.
CREATE OR REPLACE FUNCTION parley_webchat_typing(p_widget text, p_session text)
RETURNS boolean LANGUAGE sql VOLATILE AS $$
    SELECT coalesce((SELECT c.reply_lease_owner IS NOT NULL AND c.reply_lease_until > now()
                       FROM conversations c
                      WHERE c.conversation_id = parley_webchat_conversation(p_widget,
                                                                            p_session)),
                    false);
$$;

-- The widget showed the agent's messages up to p_up_to: they become 'read',
-- each with a message.status event (events out).
-- Returns how many changed.
CREATE OR REPLACE FUNCTION parley_webchat_read(p_widget text, p_session text, p_up_to integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_conv text := parley_webchat_conversation(p_widget, p_session);
    v_count integer := 0;
    v_mid text;
BEGIN
    IF v_conv IS NULL THEN
        RETURN 0;
    END IF;
    -- Each with its message.status event (events out, events.sql), in this
    -- transaction, as Meta's read status has in parley_apply_status.
    FOR v_mid IN
        UPDATE message_delivery_status d
           SET status = 'read', updated_at = now() AT TIME ZONE 'UTC'
          FROM messages m
         WHERE m.conversation_id = v_conv AND m.sequence_no <= p_up_to AND m.sender = 'agent'
           AND d.message_id = m.message_id
           AND d.status IN ('sent', 'delivered')
        RETURNING d.message_id
    LOOP
        v_count := v_count + 1;
        PERFORM parley_emit_message_event('message.status', v_mid,
                                          jsonb_build_object('status', 'read'));
    END LOOP;
    RETURN v_count;
END
$$;
