-- The two-currency drawer (SPEC §3, issue 21), as on the server: per currency a float,
-- cash tendered and change given, movements and refunds; the riel count and the
-- policy's rate at close. A session of the first release counted each sale's total as
-- dollars: cash_sales_cents becomes the dollars tendered, with no change.
ALTER TABLE local_cash_session RENAME COLUMN cash_sales_cents TO tendered_cents;
ALTER TABLE local_cash_session ADD COLUMN change_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE local_cash_session ADD COLUMN refunds_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE local_cash_session ADD COLUMN opening_float_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE local_cash_session ADD COLUMN tendered_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE local_cash_session ADD COLUMN change_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE local_cash_session ADD COLUMN paid_in_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE local_cash_session ADD COLUMN paid_out_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE local_cash_session ADD COLUMN adjustments_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE local_cash_session ADD COLUMN refunds_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE local_cash_session ADD COLUMN counted_khr INTEGER;
ALTER TABLE local_cash_session ADD COLUMN close_khr_per_usd INTEGER;
