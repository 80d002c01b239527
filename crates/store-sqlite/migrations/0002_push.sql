-- Push replay lane: the op log (every outcome, applied or rejected), device sequence
-- bookkeeping, cash sessions, sales, shifts, the audit log and the change feed.

CREATE TABLE ops (
    tenant_id     BLOB NOT NULL REFERENCES tenants(id),
    client_op_id  BLOB NOT NULL,
    branch_id     BLOB NOT NULL,
    device_id     BLOB,
    actor_id      BLOB NOT NULL,
    op_type       TEXT NOT NULL,
    payload_hash  TEXT NOT NULL,
    device_seq    INTEGER,
    lane          TEXT NOT NULL CHECK (lane IN ('online', 'offline')),
    status        TEXT NOT NULL CHECK (status IN ('APPLIED', 'REJECTED')),
    code          TEXT,
    message       TEXT,
    result        TEXT,                  -- JSON, applied ops only
    occurred_at   INTEGER NOT NULL,
    recorded_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, client_op_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX ops_rejected ON ops(tenant_id, branch_id, recorded_at) WHERE status = 'REJECTED';

CREATE TABLE device_seqs (
    device_id   BLOB NOT NULL,
    device_seq  INTEGER NOT NULL,
    PRIMARY KEY (device_id, device_seq)
) STRICT, WITHOUT ROWID;

ALTER TABLE devices ADD COLUMN last_seen_at INTEGER;
ALTER TABLE devices ADD COLUMN last_device_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE branches ADD COLUMN head INTEGER NOT NULL DEFAULT 0;

CREATE TABLE cash_sessions (
    id                   BLOB PRIMARY KEY,
    tenant_id            BLOB NOT NULL REFERENCES tenants(id),
    branch_id            BLOB NOT NULL REFERENCES branches(id),
    device_id            BLOB NOT NULL REFERENCES devices(id),
    opened_by            BLOB NOT NULL,
    open                 INTEGER NOT NULL,
    opening_float_cents  INTEGER NOT NULL,
    cash_sales_cents     INTEGER NOT NULL DEFAULT 0,
    paid_in_cents        INTEGER NOT NULL DEFAULT 0,
    paid_out_cents       INTEGER NOT NULL DEFAULT 0,
    adjustments_cents    INTEGER NOT NULL DEFAULT 0,
    counted_cash_cents   INTEGER,
    opened_at            INTEGER NOT NULL,
    closed_at            INTEGER
) STRICT;
CREATE UNIQUE INDEX cash_sessions_one_open ON cash_sessions(device_id) WHERE open = 1;

CREATE TABLE cash_movements (
    id               BLOB PRIMARY KEY,
    cash_session_id  BLOB NOT NULL REFERENCES cash_sessions(id),
    kind             TEXT NOT NULL,
    amount_cents     INTEGER NOT NULL,
    reason           TEXT NOT NULL,
    actor_id         BLOB NOT NULL,
    occurred_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE sales (
    id                 BLOB PRIMARY KEY,
    tenant_id          BLOB NOT NULL REFERENCES tenants(id),
    branch_id          BLOB NOT NULL REFERENCES branches(id),
    device_id          BLOB NOT NULL,
    cash_session_id    BLOB NOT NULL REFERENCES cash_sessions(id),
    client_op_id       BLOB NOT NULL,
    receipt_no         TEXT NOT NULL,
    actor_id           BLOB NOT NULL,
    total_cents        INTEGER NOT NULL,
    price_drift_cents  INTEGER NOT NULL,
    details            TEXT NOT NULL,     -- JSON: lines, tender, totals, change, items_not_on_menu
    occurred_at        INTEGER NOT NULL,
    applied_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX sales_branch ON sales(branch_id, applied_at);

CREATE TABLE shifts (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    branch_id   BLOB NOT NULL REFERENCES branches(id),
    staff_id    BLOB NOT NULL REFERENCES staff(id),
    open        INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER
) STRICT;
CREATE UNIQUE INDEX shifts_one_open ON shifts(staff_id) WHERE open = 1;
CREATE INDEX shifts_branch ON shifts(branch_id, started_at);

CREATE TABLE audit_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     BLOB NOT NULL,
    branch_id     BLOB,
    module        TEXT NOT NULL,
    action        TEXT NOT NULL,
    actor_id      BLOB,
    device_id     BLOB,
    client_op_id  BLOB,
    lane          TEXT NOT NULL,
    occurred_at   INTEGER NOT NULL,
    applied_at    INTEGER NOT NULL,
    details       TEXT NOT NULL
) STRICT;
CREATE INDEX audit_branch ON audit_events(tenant_id, branch_id, applied_at);

-- The change feed: the latest version of every entity per branch stream, keyed so a
-- newer change replaces the older row; `seq` is the branch head at the write.
CREATE TABLE changes (
    branch_id  BLOB NOT NULL,
    scope      TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    data       TEXT,
    PRIMARY KEY (branch_id, scope, entity_id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX changes_stream ON changes(branch_id, seq, scope, entity_id);
