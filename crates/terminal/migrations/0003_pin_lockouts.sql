-- PIN lockouts per person (SPEC §6): one person's wrong PINs never lock another, and a
-- lock survives a restart.
CREATE TABLE pin_lockouts (
    staff_id      TEXT    PRIMARY KEY,
    failures      INTEGER NOT NULL CHECK (failures >= 0),
    locked_until  TEXT,
    updated_at    TEXT    NOT NULL
);

-- Events for the server's audit trail that are no op (a PIN lockout), sent when online
-- (POST /v1/devices/me/events) and deleted once recorded.
CREATE TABLE event_outbox (
    event_id    TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
