-- The terminal's one SQLite file: identity, op queue, cache, local effects.

-- Who this terminal is (one row), its counters and sync bookkeeping.
CREATE TABLE device (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    server_url       TEXT    NOT NULL,
    token            TEXT    NOT NULL,
    device_id        TEXT    NOT NULL,
    tenant_id        TEXT    NOT NULL,
    branch_id        TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    code             TEXT    NOT NULL,
    next_device_seq  INTEGER NOT NULL DEFAULT 1 CHECK (next_device_seq >= 1),
    next_receipt_no  INTEGER NOT NULL DEFAULT 1 CHECK (next_receipt_no >= 1),
    pull_cursor      TEXT,
    hydrated_at      TEXT,
    last_pull_at     TEXT,
    last_push_at     TEXT,
    last_contact_at  TEXT,
    last_error       TEXT,
    signed_in_staff  TEXT
);

-- The op queue: FIFO by device_seq. An op is written whole, in one transaction
-- with its local effects and the counters, and never deleted.
CREATE TABLE ops (
    device_seq   INTEGER PRIMARY KEY,
    client_op_id TEXT    NOT NULL UNIQUE,
    type         TEXT    NOT NULL,
    op_json      TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('PENDING', 'SYNCED', 'FAILED')),
    code         TEXT,
    message      TEXT,
    result_json  TEXT,
    -- JSON [[stock_item_id, qty], …]: what a sale deducts from the local stock estimate
    -- until it settles.
    stock_json   TEXT,
    occurred_at  TEXT    NOT NULL,
    settled_at   TEXT
);
CREATE INDEX ops_by_status ON ops (status, device_seq);

-- The pulled cache: the current state of each entity of this branch's stream.
CREATE TABLE cache (
    scope    TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    entity   TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    data     TEXT    NOT NULL,
    PRIMARY KEY (scope, id)
);

-- Local effects: this device's cash sessions as its own ops left them.
CREATE TABLE local_cash_session (
    id                   TEXT    PRIMARY KEY,
    open                 INTEGER NOT NULL,
    opening_float_cents  INTEGER NOT NULL,
    cash_sales_cents     INTEGER NOT NULL DEFAULT 0,
    paid_in_cents        INTEGER NOT NULL DEFAULT 0,
    paid_out_cents       INTEGER NOT NULL DEFAULT 0,
    adjustments_cents    INTEGER NOT NULL DEFAULT 0,
    counted_cash_cents   INTEGER,
    open_op_id           TEXT,
    opened_at            TEXT    NOT NULL,
    closed_at            TEXT
);

-- Local effects: shifts this terminal knows (its own ops, plus what pulls told it).
CREATE TABLE local_shift (
    shift_id     TEXT    PRIMARY KEY,
    staff_id     TEXT    NOT NULL,
    open         INTEGER NOT NULL,
    start_op_id  TEXT,
    started_at   TEXT    NOT NULL,
    ended_at     TEXT
);
CREATE INDEX local_shift_open ON local_shift (staff_id) WHERE open = 1;

-- Local effects: stock this device's not-yet-synced sales will deduct.
CREATE TABLE local_stock_pending (
    stock_item_id TEXT    PRIMARY KEY,
    qty           INTEGER NOT NULL
);
