-- Pull feed: when each change was made (for tombstone retention), how far tombstones
-- were purged per branch stream, and server secrets (the cursor HMAC key).
ALTER TABLE changes ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX changes_tombstones ON changes(changed_at) WHERE deleted = 1;
ALTER TABLE branches ADD COLUMN purged_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
) STRICT;
