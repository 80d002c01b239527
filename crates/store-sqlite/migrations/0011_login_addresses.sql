-- The sign-in throttle per client address: failed attempts in a row from one address,
-- across accounts and tenants, lock it for a while (SPEC §5).
CREATE TABLE login_addresses (
    address      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER,
    updated_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX login_addresses_updated ON login_addresses(updated_at);
