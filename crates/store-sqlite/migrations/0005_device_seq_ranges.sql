-- The device_seqs a device has used, as ranges of seen seqs instead of one row per seq
-- (modula_store::seq_ranges): a push in order extends one range, and the gaps are the
-- spaces between ranges.
CREATE TABLE device_seq_ranges (
    device_id  BLOB NOT NULL,
    from_seq   INTEGER NOT NULL,
    to_seq     INTEGER NOT NULL,
    PRIMARY KEY (device_id, from_seq),
    CHECK (from_seq >= 1 AND from_seq <= to_seq)
) STRICT, WITHOUT ROWID;

INSERT INTO device_seq_ranges (device_id, from_seq, to_seq)
SELECT device_id, MIN(device_seq), MAX(device_seq) FROM (
    SELECT device_id, device_seq,
           device_seq - ROW_NUMBER() OVER (PARTITION BY device_id ORDER BY device_seq) AS island
    FROM device_seqs WHERE device_seq >= 1
) GROUP BY device_id, island;

DROP TABLE device_seqs;
