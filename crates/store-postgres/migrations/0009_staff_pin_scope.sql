-- A branch stream used to carry the PIN hash of every staff member of the tenant; it now
-- carries it only for the active staff assigned to that branch (SPEC §5.3). Every staff
-- entry that holds a hash it should not is rewritten without it and moved to the end of
-- its stream (the branch head moves past it), so a till that already holds the hash
-- replaces the entry on its next pull, whatever its cursor. The new positions lie above
-- every head, so they collide with no existing row.
WITH fix AS (
    SELECT c.branch_id, c.seq AS old_seq,
           row_number() OVER (PARTITION BY c.branch_id ORDER BY c.seq) AS n
    FROM changes c JOIN staff s ON s.id = c.entity_id
    WHERE c.scope = 'staff' AND NOT c.deleted AND (c.data::jsonb ? 'pin_hash')
      AND (NOT s.active OR NOT EXISTS
            (SELECT 1 FROM staff_branches sb WHERE sb.staff_id = s.id AND sb.branch_id = c.branch_id))
), moved AS (
    UPDATE changes c
    SET data = (c.data::jsonb - 'pin_hash')::text, seq = b.head + f.n, changed_at = now()
    FROM fix f JOIN branches b ON b.id = f.branch_id
    WHERE c.branch_id = f.branch_id AND c.seq = f.old_seq
    RETURNING c.branch_id
)
UPDATE branches b SET head = b.head + m.n
FROM (SELECT branch_id, count(*) AS n FROM moved GROUP BY branch_id) m
WHERE b.id = m.branch_id;
