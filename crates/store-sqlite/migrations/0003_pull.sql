-- Pull feed. The change table is rebuilt so that a stream is stored in stream order:
-- its primary key is (branch_id, seq), making a pull one sequential range scan, while a
-- unique index on (branch_id, scope, entity_id) keeps one row per entity (the latest).
-- Also: when each change was made (for tombstone retention), how far tombstones were
-- purged per branch stream, and server secrets (the cursor HMAC key).

CREATE TABLE changes_v2 (
    branch_id   BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    scope       TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   BLOB NOT NULL,
    deleted     INTEGER NOT NULL,
    data        TEXT,
    changed_at  INTEGER NOT NULL,
    PRIMARY KEY (branch_id, seq)
) STRICT, WITHOUT ROWID;
INSERT INTO changes_v2 (branch_id, seq, scope, entity, entity_id, deleted, data, changed_at)
    SELECT branch_id, seq, scope, entity, entity_id, deleted, data, 0 FROM changes;
DROP TABLE changes;
ALTER TABLE changes_v2 RENAME TO changes;
CREATE UNIQUE INDEX changes_entity ON changes(branch_id, scope, entity_id);
CREATE INDEX changes_tombstones ON changes(changed_at) WHERE deleted = 1;

ALTER TABLE branches ADD COLUMN purged_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
) STRICT;
