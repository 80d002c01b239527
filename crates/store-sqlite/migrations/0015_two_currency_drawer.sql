-- The two-currency drawer (SPEC §3, issue 21): per currency a float, the cash tendered
-- and the change given, movements and refunds; the riel count, and the policy's rate at
-- close for the total variance in cents. A first-release sale counted its total as
-- dollars in the drawer: cash_sales_cents becomes the dollars tendered, change 0.
ALTER TABLE cash_sessions RENAME COLUMN cash_sales_cents TO tendered_cents;
ALTER TABLE cash_sessions ADD COLUMN change_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cash_sessions ADD COLUMN refunds_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cash_sessions ADD COLUMN opening_float_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cash_sessions ADD COLUMN tendered_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cash_sessions ADD COLUMN change_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cash_sessions ADD COLUMN paid_in_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cash_sessions ADD COLUMN paid_out_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cash_sessions ADD COLUMN adjustments_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cash_sessions ADD COLUMN refunds_khr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cash_sessions ADD COLUMN counted_khr INTEGER;
ALTER TABLE cash_sessions ADD COLUMN close_khr_per_usd INTEGER;

-- A movement is in dollars (amount_cents) or in riel (amount_khr); the other is 0.
ALTER TABLE cash_movements ADD COLUMN amount_khr INTEGER NOT NULL DEFAULT 0;
