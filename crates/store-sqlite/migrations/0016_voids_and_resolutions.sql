-- Voids and failure resolution (SPEC §4 sale.void, §5.6, issue 23).
-- A sale's void, on the sale's own row.
ALTER TABLE sales ADD COLUMN voided_at INTEGER;
ALTER TABLE sales ADD COLUMN void_actor_id BLOB;
ALTER TABLE sales ADD COLUMN void_reason TEXT;
ALTER TABLE sales ADD COLUMN void_refund_cents INTEGER;
ALTER TABLE sales ADD COLUMN void_refund_khr INTEGER;
ALTER TABLE sales ADD COLUMN void_cash_session_id BLOB;
ALTER TABLE sales ADD COLUMN void_op_id BLOB;

-- A rejected op's payload, so a manager can accept it as the till recorded it.
ALTER TABLE ops ADD COLUMN payload TEXT;

-- One resolution per rejected op: the key makes two managers' resolves one outcome.
CREATE TABLE op_resolutions (
    tenant_id     BLOB NOT NULL,
    client_op_id  BLOB NOT NULL,
    branch_id     BLOB NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('accept', 'dismiss')),
    actor_id      BLOB NOT NULL,
    note          TEXT NOT NULL,
    at            INTEGER NOT NULL,
    result        TEXT,
    PRIMARY KEY (tenant_id, client_op_id)
) STRICT, WITHOUT ROWID;
