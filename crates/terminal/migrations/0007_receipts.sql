-- Receipts at the till (SPEC §6, issue 24): every sale made here, kept as it was
-- printed, for the receipts list and reprints. Written in the transaction that queues
-- the sale's op; never deleted. Names (items, cashier) are as at the sale, so renaming
-- a menu item later does not change an old receipt. The sync state is the op's row
-- (`ops`), read with it; `void_json` is set when the sale is voided (by this till, or
-- learned from the `voids` feed).
CREATE TABLE receipts (
    sale_id           TEXT    PRIMARY KEY,
    client_op_id      TEXT    NOT NULL UNIQUE,
    -- The op's place in the queue: the order of the receipts list (newest first).
    device_seq        INTEGER NOT NULL UNIQUE,
    receipt_no        TEXT    NOT NULL,
    -- The sale's own time (the op's occurred_at), never the time it synced.
    occurred_at       TEXT    NOT NULL,
    cashier_id        TEXT    NOT NULL,
    cashier_name      TEXT    NOT NULL,
    cash_session_id   TEXT    NOT NULL,
    -- JSON [{menu_item_id, name, qty, unit_price_cents, line_total_cents}, …]
    lines_json        TEXT    NOT NULL,
    subtotal_cents    INTEGER NOT NULL,
    vat_cents         INTEGER NOT NULL,
    total_cents       INTEGER NOT NULL,
    tender_usd_cents  INTEGER NOT NULL,
    tender_khr        INTEGER NOT NULL,
    -- The change as given; NULL for a sale of the first release, which did not record it.
    change_usd_cents  INTEGER,
    change_khr        INTEGER,
    -- The exchange the sale was priced at; NULL for a sale of the first release.
    khr_per_usd       INTEGER,
    khr_rounding      INTEGER,
    -- JSON {voided_at, reason, refund: {usd_cents, khr}, actor_id, cash_session_id}, or NULL.
    void_json         TEXT
);

-- Sales queued before this migration: from the queue's ops, with the names the cache
-- holds now (the nearest to the sale there is; "" when the item or person is gone).
INSERT INTO receipts (sale_id, client_op_id, device_seq, receipt_no, occurred_at, cashier_id, cashier_name,
    cash_session_id, lines_json, subtotal_cents, vat_cents, total_cents, tender_usd_cents, tender_khr,
    change_usd_cents, change_khr, khr_per_usd, khr_rounding)
SELECT
    json_extract(o.op_json, '$.payload.sale_id'),
    o.client_op_id,
    o.device_seq,
    COALESCE(json_extract(o.op_json, '$.payload.receipt_no'), ''),
    o.occurred_at,
    COALESCE(json_extract(o.op_json, '$.actor_id'), ''),
    COALESCE((SELECT json_extract(s.data, '$.name') FROM cache s
              WHERE s.scope = 'staff' AND s.id = json_extract(o.op_json, '$.actor_id')), ''),
    COALESCE(json_extract(o.op_json, '$.payload.cash_session_id'), ''),
    COALESCE((SELECT json_group_array(json_object(
                  'menu_item_id', json_extract(l.value, '$.menu_item_id'),
                  'name', COALESCE((SELECT json_extract(m.data, '$.name') FROM cache m
                                    WHERE m.scope = 'menu' AND m.id = json_extract(l.value, '$.menu_item_id')), ''),
                  'qty', json_extract(l.value, '$.qty'),
                  'unit_price_cents', json_extract(l.value, '$.unit_price_cents'),
                  'line_total_cents', json_extract(l.value, '$.qty') * json_extract(l.value, '$.unit_price_cents')))
              FROM json_each(o.op_json, '$.payload.lines') l), '[]'),
    COALESCE(json_extract(o.op_json, '$.payload.totals.subtotal_cents'), 0),
    COALESCE(json_extract(o.op_json, '$.payload.totals.vat_cents'), 0),
    COALESCE(json_extract(o.op_json, '$.payload.totals.total_cents'), 0),
    COALESCE(json_extract(o.op_json, '$.payload.tender.cash_usd_cents'), 0),
    COALESCE(json_extract(o.op_json, '$.payload.tender.cash_khr'), 0),
    json_extract(o.op_json, '$.payload.change.usd_cents'),
    json_extract(o.op_json, '$.payload.change.khr'),
    json_extract(o.op_json, '$.payload.fx.khr_per_usd'),
    json_extract(o.op_json, '$.payload.fx.khr_rounding')
FROM ops o
WHERE o.type = 'sale.finalize'
  AND json_valid(o.op_json)
  AND json_extract(o.op_json, '$.payload.sale_id') IS NOT NULL
ORDER BY o.device_seq
ON CONFLICT DO NOTHING;

-- Their voids: from the voids feed the cache holds, else (a void this till made whose
-- feed row has not arrived yet) the refund it paid out.
UPDATE receipts SET void_json = (
    SELECT json_object(
        'voided_at', json_extract(v.data, '$.voided_at'),
        'reason', json_extract(v.data, '$.reason'),
        'refund', json_object('usd_cents', COALESCE(json_extract(v.data, '$.refund.usd_cents'), 0),
                              'khr', COALESCE(json_extract(v.data, '$.refund.khr'), 0)),
        'actor_id', json_extract(v.data, '$.actor_id'),
        'cash_session_id', json_extract(v.data, '$.cash_session_id'))
    FROM cache v WHERE v.scope = 'voids' AND v.id = receipts.sale_id)
WHERE EXISTS (SELECT 1 FROM cache v WHERE v.scope = 'voids' AND v.id = receipts.sale_id);

UPDATE receipts SET void_json = (
    SELECT json_object('voided_at', NULL, 'reason', NULL,
                       'refund', json_object('usd_cents', r.usd_cents, 'khr', r.khr),
                       'actor_id', NULL, 'cash_session_id', r.cash_session_id)
    FROM local_refunds r WHERE r.sale_id = receipts.sale_id)
WHERE void_json IS NULL AND EXISTS (SELECT 1 FROM local_refunds r WHERE r.sale_id = receipts.sale_id);
