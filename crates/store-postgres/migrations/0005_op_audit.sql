-- An applied op's audit event is stored in the op's own row: the op log is the audit
-- trail of ops (it already holds actor, device, key, lane and times). This saves a row
-- and two index entries per op. `audit_events` keeps events that belong to no op.
ALTER TABLE ops ADD COLUMN audit_module text,
                ADD COLUMN audit_action text,
                ADD COLUMN audit_details text;   -- JSON

UPDATE ops SET audit_module = a.module, audit_action = a.action, audit_details = a.details
FROM audit_events a
WHERE a.tenant_id = ops.tenant_id AND a.client_op_id = ops.client_op_id;

DELETE FROM audit_events a
WHERE a.client_op_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM ops o WHERE o.tenant_id = a.tenant_id AND o.client_op_id = a.client_op_id);

CREATE INDEX ops_audit ON ops(tenant_id, branch_id, recorded_at) WHERE audit_module IS NOT NULL;
