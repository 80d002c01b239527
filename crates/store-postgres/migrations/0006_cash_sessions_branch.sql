-- The dashboard's list of a branch's cash sessions (GET /v1/cash-sessions?branch_id=),
-- newest first, reads this index instead of scanning every session of the database.
CREATE INDEX cash_sessions_branch ON cash_sessions(tenant_id, branch_id, opened_at);
