-- 0013: parley_refund_reply takes its locks in the order every other
-- function does: the conversation first, then the tenant's credits.
--
-- Why: 0004's version updated credits first and the conversation second,
-- while parley_fail_extraction (0010), the reply and extraction claims and
-- the ingest functions lock a conversation before the credits row. A reply
-- refund and an extraction failure (or an extraction claim charging credits)
-- on the same conversation could then each hold what the other waits for,
-- and PostgreSQL aborted one of them as a deadlock
-- (tests/integration/test_lock_order.sh reproduces it against 0004's order).
-- Same effect, same arguments.
CREATE OR REPLACE FUNCTION parley_refund_reply(p_conv text, p_user text, p_amount integer)
RETURNS void LANGUAGE sql AS $$
    UPDATE conversations SET reply_charged = false WHERE conversation_id = p_conv;
    UPDATE credits
       SET remaining_credits = remaining_credits + p_amount,
           total_used = greatest(total_used - p_amount, 0),
           last_updated = now() AT TIME ZONE 'UTC'
     WHERE user_id = p_user AND p_amount > 0;
$$;
