-- The branch listing index of 0006 led with (tenant_id, branch_id), which the foreign-key
-- check of every sale (`sales_session_owner`: WHERE id = $1 AND tenant_id = $2 AND
-- branch_id = $3 AND device_id = $4) could use as well. Before the table's first ANALYZE
-- (autovacuum off, a fresh restore) the planner rates both indexes at one row and picked
-- it, so each sale's check read every session of its branch: a push of 200 sales got
-- slower with every session the branch ever had (2 ms at first, 12 ms after 80 sessions,
-- measured). Key checks must not depend on statistics, so the listing index is now
-- partial: its predicate holds for every row (no instant before -infinity exists), but
-- only a query that states it can use the index. The listing states it; the key check
-- cannot, so it has only the indexes that lead with `id` (an exact probe).
DROP INDEX cash_sessions_branch;
CREATE INDEX cash_sessions_branch ON cash_sessions(tenant_id, branch_id, opened_at) WHERE opened_at > '-infinity';
