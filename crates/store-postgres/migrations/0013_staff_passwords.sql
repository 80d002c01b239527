-- Passwords for the server, PINs for tills (SPEC §3, §5): managers and owners may have
-- a login (unique in the tenant, stored lowercased) and an argon2id password hash.
-- The sign-in throttle now counts password failures: the old PIN counts and locks are
-- cleared. Tokens that came from a PIN sign-in (every staff token with an expiry) and
-- every cashier token are revoked: no server credential rests on a PIN any more. The
-- owner tokens of `admin init` (no expiry) stay.
ALTER TABLE staff RENAME COLUMN failed_pin_attempts TO failed_logins;
UPDATE staff SET failed_logins = 0, locked_until = NULL;
ALTER TABLE staff ADD COLUMN login text;
ALTER TABLE staff ADD COLUMN password_hash text;
CREATE UNIQUE INDEX staff_login ON staff(tenant_id, login) WHERE login IS NOT NULL;
DELETE FROM tokens WHERE kind = 'staff'
    AND (expires_at IS NOT NULL OR subject_id IN (SELECT id FROM staff WHERE role = 'cashier'));
