-- The Modula schema for PostgreSQL: the same tables and meaning as the SQLite store after
-- its migrations 0001..0004, written at once (this backend has no older history).
--
-- Ids are `uuid`, instants `timestamptz` (microseconds, as chrono sends them), flags
-- `boolean`, counters and money `bigint`. JSON-shaped values are `text`, so the pull
-- path returns an entity's JSON exactly as it was written, without re-serializing.
-- Text columns that lists are ordered by use the "C" collation: byte order, the same
-- order as SQLite's BINARY collation, whatever the database's default collation is.

-- ---- foundation: tenants, tokens, staff, branches, devices, stock, menu ----

CREATE TABLE tenants (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    policy          text NOT NULL,              -- JSON of modula_wire::Policy
    device_counter  bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL
);

CREATE TABLE tokens (
    token_hash   text PRIMARY KEY,              -- hex SHA-256 of the bearer token
    tenant_id    uuid NOT NULL REFERENCES tenants(id),
    kind         text NOT NULL CHECK (kind IN ('staff', 'device')),
    subject_id   uuid NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz
);

CREATE TABLE branches (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants(id),
    name             text COLLATE "C" NOT NULL,
    status           text NOT NULL CHECK (status IN ('active', 'frozen')),
    policy_override  text NOT NULL DEFAULT '{}',  -- JSON of modula_wire::PolicyPatch
    created_at       timestamptz NOT NULL,
    -- The branch stream: position of its latest change, and how far tombstones were purged.
    head             bigint NOT NULL DEFAULT 0,
    purged_seq       bigint NOT NULL DEFAULT 0
);
CREATE INDEX branches_tenant ON branches(tenant_id, name);

CREATE TABLE staff (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants(id),
    name                 text COLLATE "C" NOT NULL,
    role                 text NOT NULL CHECK (role IN ('cashier', 'manager', 'owner')),
    pin_hash             text NOT NULL,
    active               boolean NOT NULL,
    failed_pin_attempts  bigint NOT NULL DEFAULT 0,
    locked_until         timestamptz,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX staff_tenant ON staff(tenant_id, name);

CREATE TABLE staff_branches (
    staff_id   uuid NOT NULL REFERENCES staff(id),
    branch_id  uuid NOT NULL REFERENCES branches(id),
    PRIMARY KEY (staff_id, branch_id)
);

CREATE TABLE devices (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants(id),
    branch_id        uuid NOT NULL REFERENCES branches(id),
    name             text NOT NULL,
    code             text COLLATE "C" NOT NULL,
    created_at       timestamptz NOT NULL,
    revoked_at       timestamptz,
    -- Sync bookkeeping: the last push and the highest device_seq seen.
    last_seen_at     timestamptz,
    last_device_seq  bigint NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, code)
);
CREATE INDEX devices_branch ON devices(branch_id, code);

CREATE TABLE stock_items (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants(id),
    name        text COLLATE "C" NOT NULL,
    unit        text NOT NULL
);
CREATE INDEX stock_items_tenant ON stock_items(tenant_id, name);

CREATE TABLE inventory (
    branch_id      uuid NOT NULL REFERENCES branches(id),
    stock_item_id  uuid NOT NULL REFERENCES stock_items(id),
    on_hand        bigint NOT NULL,
    PRIMARY KEY (branch_id, stock_item_id)
);

CREATE TABLE menu_items (
    id           uuid PRIMARY KEY,               -- chosen by the client; unique across tenants
    tenant_id    uuid NOT NULL REFERENCES tenants(id),
    name         text COLLATE "C" NOT NULL,
    price_cents  bigint NOT NULL,
    category     text COLLATE "C" NOT NULL,
    active       boolean NOT NULL,
    recipe       text NOT NULL,                  -- JSON array of {stock_item_id, qty}
    deleted      boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX menu_items_tenant ON menu_items(tenant_id, deleted, category, name);

-- ---- push and online lanes: op log, device sequences, cash, sales, shifts, audit ----

CREATE TABLE ops (
    tenant_id     uuid NOT NULL REFERENCES tenants(id),
    client_op_id  uuid NOT NULL,
    branch_id     uuid NOT NULL,
    device_id     uuid,
    actor_id      uuid NOT NULL,
    op_type       text NOT NULL,
    payload_hash  text NOT NULL,
    device_seq    bigint,
    lane          text NOT NULL CHECK (lane IN ('online', 'offline')),
    status        text NOT NULL CHECK (status IN ('APPLIED', 'REJECTED')),
    code          text,
    message       text,
    result        text,                          -- JSON, applied ops only
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL,
    field         text,                          -- the field a VALIDATION_FAILED named
    PRIMARY KEY (tenant_id, client_op_id)
);
CREATE INDEX ops_rejected ON ops(tenant_id, branch_id, recorded_at) WHERE status = 'REJECTED';

CREATE TABLE device_seqs (
    device_id   uuid NOT NULL,
    device_seq  bigint NOT NULL,
    PRIMARY KEY (device_id, device_seq)
);

CREATE TABLE cash_sessions (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants(id),
    branch_id            uuid NOT NULL REFERENCES branches(id),
    device_id            uuid NOT NULL REFERENCES devices(id),
    opened_by            uuid NOT NULL,
    open                 boolean NOT NULL,
    opening_float_cents  bigint NOT NULL,
    cash_sales_cents     bigint NOT NULL DEFAULT 0,
    paid_in_cents        bigint NOT NULL DEFAULT 0,
    paid_out_cents       bigint NOT NULL DEFAULT 0,
    adjustments_cents    bigint NOT NULL DEFAULT 0,
    counted_cash_cents   bigint,
    opened_at            timestamptz NOT NULL,
    closed_at            timestamptz
);
CREATE UNIQUE INDEX cash_sessions_one_open ON cash_sessions(device_id) WHERE open;

CREATE TABLE cash_movements (
    id               uuid PRIMARY KEY,
    cash_session_id  uuid NOT NULL REFERENCES cash_sessions(id),
    kind             text NOT NULL,
    amount_cents     bigint NOT NULL,
    reason           text NOT NULL,
    actor_id         uuid NOT NULL,
    occurred_at      timestamptz NOT NULL
);

CREATE TABLE sales (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants(id),
    branch_id          uuid NOT NULL REFERENCES branches(id),
    device_id          uuid NOT NULL,
    cash_session_id    uuid NOT NULL REFERENCES cash_sessions(id),
    client_op_id       uuid NOT NULL,
    receipt_no         text NOT NULL,
    actor_id           uuid NOT NULL,
    total_cents        bigint NOT NULL,
    price_drift_cents  bigint NOT NULL,
    details            text NOT NULL,            -- JSON: lines, tender, totals, change, items_not_on_menu
    occurred_at        timestamptz NOT NULL,
    applied_at         timestamptz NOT NULL
);
CREATE INDEX sales_branch ON sales(branch_id, applied_at);

CREATE TABLE shifts (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants(id),
    branch_id   uuid NOT NULL REFERENCES branches(id),
    staff_id    uuid NOT NULL REFERENCES staff(id),
    open        boolean NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz
);
CREATE UNIQUE INDEX shifts_one_open ON shifts(staff_id) WHERE open;
CREATE INDEX shifts_branch ON shifts(branch_id, started_at);

CREATE TABLE audit_events (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    branch_id     uuid,
    module        text NOT NULL,
    action        text NOT NULL,
    actor_id      uuid,
    device_id     uuid,
    client_op_id  uuid,
    lane          text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    applied_at    timestamptz NOT NULL,
    details       text NOT NULL
);
CREATE INDEX audit_branch ON audit_events(tenant_id, branch_id, applied_at);

-- ---- the change feed ----

-- The latest version of every entity per branch stream, stored in stream order: the
-- primary key (branch_id, seq) makes a pull one range scan, the unique index keeps one
-- row per entity (an upsert moves it to a new position). `seq` comes from branches.head.
CREATE TABLE changes (
    branch_id   uuid NOT NULL,
    seq         bigint NOT NULL,
    scope       text NOT NULL,
    entity      text NOT NULL,
    entity_id   uuid NOT NULL,
    deleted     boolean NOT NULL,
    data        text,                            -- the entity's JSON; NULL for a tombstone
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (branch_id, seq)
);
CREATE UNIQUE INDEX changes_entity ON changes(branch_id, scope, entity_id);
CREATE INDEX changes_tombstones ON changes(changed_at) WHERE deleted;

-- Secrets shared by every server process on this database (the cursor HMAC key).
CREATE TABLE server_secrets (
    name   text PRIMARY KEY,
    value  bytea NOT NULL
);
