-- Closing the day (issue 24): a branch's address and time zone (its day in reports);
-- each sale's VAT as a column and its lines as rows, so reports sum in the database;
-- the sales listing pages by (occurred_at, id).
ALTER TABLE branches ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE branches ADD COLUMN timezone TEXT NOT NULL DEFAULT 'Asia/Phnom_Penh';

ALTER TABLE sales ADD COLUMN vat_cents INTEGER NOT NULL DEFAULT 0;
UPDATE sales SET vat_cents = COALESCE(json_extract(details, '$.totals.vat_cents'), 0);

CREATE TABLE sale_lines (
    sale_id           BLOB    NOT NULL REFERENCES sales(id),
    line_no           INTEGER NOT NULL,
    menu_item_id      BLOB    NOT NULL,
    qty               INTEGER NOT NULL,
    unit_price_cents  INTEGER NOT NULL,
    PRIMARY KEY (sale_id, line_no)
) STRICT, WITHOUT ROWID;

-- Lines of the sales kept before this migration, from their stored details (ids are
-- stored as 16 bytes; the details hold them as hyphenated text).
INSERT INTO sale_lines (sale_id, line_no, menu_item_id, qty, unit_price_cents)
SELECT s.id, l.key, unhex(replace(json_extract(l.value, '$.menu_item_id'), '-', '')),
       json_extract(l.value, '$.qty'), json_extract(l.value, '$.unit_price_cents')
FROM sales s, json_each(s.details, '$.lines') l;

-- The history's order and the reports' scopes. Narrow on purpose: every sale writes
-- them (the push lane's cost), and a report's sums read the rows they point at. The
-- index of the first release on (branch_id, applied_at) served the listing this replaces.
DROP INDEX sales_branch;
CREATE INDEX sales_by_day ON sales (tenant_id, branch_id, occurred_at, id);
CREATE INDEX sales_by_session ON sales (cash_session_id, id);
