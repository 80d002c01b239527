-- Voids and failure resolution (SPEC §4 sale.void, §5.6, issue 23).
-- A sale's void, on the sale's own row.
ALTER TABLE sales ADD COLUMN voided_at timestamptz;
ALTER TABLE sales ADD COLUMN void_actor_id uuid;
ALTER TABLE sales ADD COLUMN void_reason text;
ALTER TABLE sales ADD COLUMN void_refund_cents bigint;
ALTER TABLE sales ADD COLUMN void_refund_khr bigint;
ALTER TABLE sales ADD COLUMN void_cash_session_id uuid;
ALTER TABLE sales ADD COLUMN void_op_id uuid;

-- A rejected op's payload, so a manager can accept it as the till recorded it.
ALTER TABLE ops ADD COLUMN payload text;

-- One resolution per rejected op: the key makes two managers' resolves one outcome.
CREATE TABLE op_resolutions (
    tenant_id     uuid NOT NULL,
    client_op_id  uuid NOT NULL,
    branch_id     uuid NOT NULL,
    action        text NOT NULL CHECK (action IN ('accept', 'dismiss')),
    actor_id      uuid NOT NULL,
    note          text NOT NULL,
    at            timestamptz NOT NULL,
    result        text,
    PRIMARY KEY (tenant_id, client_op_id)
);
