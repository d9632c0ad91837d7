-- 0025: parley_tenant_disabled(agent) is replaced (issue #20, item 3).
--
-- Every claim and next-due function filtered its scan with
-- `NOT parley_tenant_disabled(agent_id)`, a function call per row looked at
-- (24,656 calls for 2,000 replies in `make bench`). They now compare with
-- parley_disabled_agents() (sql/functions/common.sql), evaluated once per
-- statement, and nothing calls the old function any more.
DROP FUNCTION IF EXISTS parley_tenant_disabled(text);
