-- A sale's tenant, branch, device and cash session are checked with one foreign key
-- against the session row instead of three separate ones (each push inserts up to 500
-- sales, and every foreign key is one lookup per row under the branch lock).
-- Nothing is weaker: the session row itself references its tenant, branch and device,
-- none of which is ever deleted while a session refers to it, so each sale's tenant and
-- branch still exist; in addition the sale must now agree with its session on all four.
ALTER TABLE cash_sessions ADD CONSTRAINT cash_sessions_owner UNIQUE (id, tenant_id, branch_id, device_id);
ALTER TABLE sales ADD CONSTRAINT sales_session_owner FOREIGN KEY (cash_session_id, tenant_id, branch_id, device_id)
    REFERENCES cash_sessions (id, tenant_id, branch_id, device_id);
ALTER TABLE sales DROP CONSTRAINT sales_tenant_id_fkey,
                  DROP CONSTRAINT sales_branch_id_fkey,
                  DROP CONSTRAINT sales_cash_session_id_fkey;
