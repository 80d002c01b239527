-- The sign-in throttle per client address: failed attempts in a row from one address,
-- across accounts and tenants, lock it for a while (SPEC §5).
CREATE TABLE login_addresses (
    address      text PRIMARY KEY,
    failures     bigint NOT NULL,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX login_addresses_updated ON login_addresses(updated_at);
