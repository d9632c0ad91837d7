-- 0024: room on the conversations' pages for HOT updates (issue #20,
-- item 3; measured by `make bench`, tests/bench/replies.sh). 0024 because it
-- was the next free number when this was written.
--
-- A reply updates its conversation five times: the claim's lease, the
-- charge, the stored parts' counter, the first part recorded sent (the
-- charge spent) and the release. Three of them change no indexed column
-- (reply_lease_owner, reply_lease_until, reply_charged) and can be HOT,
-- which writes no index entry, but only when the new row version fits on
-- the same page. At the default fillfactor (100) the pages are full: in the
-- bench 1,697 of 10,000 updates were HOT and WAL was ~4,800 bytes per
-- reply. At 80, 3,065 were HOT and WAL ~4,400-4,700 bytes (-6 to -9%); 50
-- gave -14% but doubles the table's heap, which every scan of it pays.
-- Pages written before this migration get the room as they are rewritten.
ALTER TABLE conversations SET (fillfactor = 80);

-- parley_charge_reply (0004) charged one conversation per call; the claim
-- now charges a tenant once per claim itself (sql/functions/replies.sql,
-- parley_claim_replies) and nothing else called it.
DROP FUNCTION IF EXISTS parley_charge_reply(text, text, text, integer);
