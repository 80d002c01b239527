-- The op log's foreign key to its tenant is dropped: every op row is written by a push
-- or a direct-lane request whose tenant comes from an authenticated token, and tenants
-- are never deleted, so the key could never fail, while it cost one lookup per op row
-- under the branch lock (up to 500 per push). The sales keep theirs (0002).
ALTER TABLE ops DROP CONSTRAINT ops_tenant_id_fkey;
