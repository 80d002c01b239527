-- Events a till reports that are no op (a PIN lockout, SPEC §6) are recorded once by the
-- till's id for them, so a resend after a lost answer adds nothing.
ALTER TABLE audit_events ADD COLUMN event_id BLOB;
CREATE UNIQUE INDEX audit_event_id ON audit_events(tenant_id, event_id) WHERE event_id IS NOT NULL;
