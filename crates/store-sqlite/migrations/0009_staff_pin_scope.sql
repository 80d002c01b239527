-- A branch stream used to carry the PIN hash of every staff member of the tenant; it now
-- carries it only for the active staff assigned to that branch (SPEC §5.3). Every staff
-- entry that holds a hash it should not is rewritten without it and moved to the end of
-- its stream (the branch head moves past it), so a till that already holds the hash
-- replaces the entry on its next pull, whatever its cursor.
CREATE TEMP TABLE staff_pin_fix AS
    SELECT c.branch_id AS branch_id, c.seq AS old_seq,
           ROW_NUMBER() OVER (PARTITION BY c.branch_id ORDER BY c.seq) AS n
    FROM changes c JOIN staff s ON s.id = c.entity_id
    WHERE c.scope = 'staff' AND c.deleted = 0 AND json_extract(c.data, '$.pin_hash') IS NOT NULL
      AND (s.active = 0 OR NOT EXISTS
            (SELECT 1 FROM staff_branches sb WHERE sb.staff_id = s.id AND sb.branch_id = c.branch_id));

UPDATE changes SET
    data = json_remove(data, '$.pin_hash'),
    seq = (SELECT b.head FROM branches b WHERE b.id = changes.branch_id)
          + (SELECT f.n FROM staff_pin_fix f WHERE f.branch_id = changes.branch_id AND f.old_seq = changes.seq),
    changed_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
WHERE EXISTS (SELECT 1 FROM staff_pin_fix f WHERE f.branch_id = changes.branch_id AND f.old_seq = changes.seq);

UPDATE branches SET head = head + (SELECT COUNT(*) FROM staff_pin_fix f WHERE f.branch_id = branches.id)
WHERE id IN (SELECT branch_id FROM staff_pin_fix);

DROP TABLE staff_pin_fix;
