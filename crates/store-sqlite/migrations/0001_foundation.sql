-- Foundation schema: tenants, tokens, staff, branches, devices, stock, menu.
-- Ids are 16-byte UUID blobs; instants are INTEGER microseconds since the Unix epoch (UTC).

CREATE TABLE tenants (
    id              BLOB PRIMARY KEY,
    name            TEXT NOT NULL,
    policy          TEXT NOT NULL,          -- JSON of modula_wire::Policy
    device_counter  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
    token_hash   TEXT PRIMARY KEY,          -- hex SHA-256 of the bearer token
    tenant_id    BLOB NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL CHECK (kind IN ('staff', 'device')),
    subject_id   BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER
) STRICT;

CREATE TABLE branches (
    id               BLOB PRIMARY KEY,
    tenant_id        BLOB NOT NULL REFERENCES tenants(id),
    name             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'frozen')),
    policy_override  TEXT NOT NULL DEFAULT '{}',   -- JSON of modula_wire::PolicyPatch
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX branches_tenant ON branches(tenant_id, name);

CREATE TABLE staff (
    id                   BLOB PRIMARY KEY,
    tenant_id            BLOB NOT NULL REFERENCES tenants(id),
    name                 TEXT NOT NULL,
    role                 TEXT NOT NULL CHECK (role IN ('cashier', 'manager', 'owner')),
    pin_hash             TEXT NOT NULL,
    active               INTEGER NOT NULL,
    failed_pin_attempts  INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER,
    updated_at           INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_tenant ON staff(tenant_id, name);

CREATE TABLE staff_branches (
    staff_id   BLOB NOT NULL REFERENCES staff(id),
    branch_id  BLOB NOT NULL REFERENCES branches(id),
    PRIMARY KEY (staff_id, branch_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE devices (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    branch_id   BLOB NOT NULL REFERENCES branches(id),
    name        TEXT NOT NULL,
    code        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    UNIQUE (tenant_id, code)
) STRICT;
CREATE INDEX devices_branch ON devices(branch_id);

CREATE TABLE stock_items (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    unit        TEXT NOT NULL
) STRICT;
CREATE INDEX stock_items_tenant ON stock_items(tenant_id, name);

CREATE TABLE inventory (
    branch_id      BLOB NOT NULL REFERENCES branches(id),
    stock_item_id  BLOB NOT NULL REFERENCES stock_items(id),
    on_hand        INTEGER NOT NULL,
    PRIMARY KEY (branch_id, stock_item_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE menu_items (
    id           BLOB PRIMARY KEY,        -- chosen by the client; unique across tenants
    tenant_id    BLOB NOT NULL REFERENCES tenants(id),
    name         TEXT NOT NULL,
    price_cents  INTEGER NOT NULL,
    category     TEXT NOT NULL,
    active       INTEGER NOT NULL,
    recipe       TEXT NOT NULL,           -- JSON array of {stock_item_id, qty}
    deleted      INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX menu_items_tenant ON menu_items(tenant_id, deleted, category, name);
