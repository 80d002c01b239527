-- Closing the day (issue 24): a branch's address and time zone (its day in reports);
-- each sale's VAT as a column and its lines as rows, so reports sum in the database;
-- the sales listing pages by (occurred_at, id).
ALTER TABLE branches ADD COLUMN address text NOT NULL DEFAULT '';
ALTER TABLE branches ADD COLUMN timezone text NOT NULL DEFAULT 'Asia/Phnom_Penh';

ALTER TABLE sales ADD COLUMN vat_cents bigint NOT NULL DEFAULT 0;
UPDATE sales SET vat_cents = COALESCE((details::jsonb #>> '{totals,vat_cents}')::bigint, 0);

CREATE TABLE sale_lines (
    sale_id           uuid   NOT NULL REFERENCES sales(id),
    line_no           int    NOT NULL,
    menu_item_id      uuid   NOT NULL,
    qty               bigint NOT NULL,
    unit_price_cents  bigint NOT NULL,
    PRIMARY KEY (sale_id, line_no)
);

-- Lines of the sales kept before this migration, from their stored details.
INSERT INTO sale_lines (sale_id, line_no, menu_item_id, qty, unit_price_cents)
SELECT s.id, l.ord - 1, (l.value ->> 'menu_item_id')::uuid, (l.value ->> 'qty')::bigint,
       (l.value ->> 'unit_price_cents')::bigint
FROM sales s, jsonb_array_elements(s.details::jsonb -> 'lines') WITH ORDINALITY AS l(value, ord);

-- The history's order and the reports' scopes. Narrow on purpose: every sale writes
-- them (the push lane's cost), and a report's sums read the rows they point at. The
-- index of the first release on (branch_id, applied_at) served the listing this replaces.
DROP INDEX sales_branch;
CREATE INDEX sales_by_day ON sales (tenant_id, branch_id, occurred_at, id);
CREATE INDEX sales_by_session ON sales (cash_session_id, id);
