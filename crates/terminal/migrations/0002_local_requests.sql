-- The first answer of each local write that came with an Idempotency-Key (SPEC §6): a
-- repeat of the key answers it again and queues nothing. Kept 7 days.
CREATE TABLE local_requests (
    key          TEXT    PRIMARY KEY,
    endpoint     TEXT    NOT NULL,
    body_sha256  TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT    NOT NULL,
    created_at   TEXT    NOT NULL
);
CREATE INDEX local_requests_by_age ON local_requests (created_at);
