-- Refunds of voided sales paid out of this till's own drawer (issue 23): applied to the
-- local session once, whether the till voided the sale itself or learned of the void
-- from the feed (a manager at the dashboard paying out of this drawer).
CREATE TABLE local_refunds (
    sale_id          TEXT    PRIMARY KEY,
    cash_session_id  TEXT    NOT NULL,
    usd_cents        INTEGER NOT NULL,
    khr              INTEGER NOT NULL
);
