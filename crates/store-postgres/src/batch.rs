//! The op lanes' combined writes, in as few statements as PostgreSQL allows. (the PostgreSQL side of [`modula_store::BatchTx`]).

use std::collections::HashMap;

use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::audit::bind_audit_arrays;
use crate::convert::{count, Cols};
use crate::feed::place;
use crate::nudge::NUDGE_CHANNEL;
use crate::oplog::bind_op_arrays;
use crate::sales::{bind_sale_arrays, bind_sale_line_arrays, sale_vats};
use crate::tx::{get, PgTx};

#[async_trait]
impl BatchTx for PgTx {
    async fn lock_branch_adding_on_hand(
        &mut self,
        tenant_id: Uuid,
        branch_id: Uuid,
        deltas: &[(Uuid, i64)],
    ) -> StoreResult<LockedBranch> {
        let asked_at = std::time::Instant::now();
        // One statement. The upsert's `EXISTS` runs once, before it reads its first row,
        // and waits for the branch row's lock: the lock order stays the branch, then the
        // stock rows in ascending id order (the upsert's `ORDER BY`). No branch, no upsert.
        // Each upserted row notes when it was written, so the first one says how long the
        // statement waited for the lock (`waited_s`, from when the database received it;
        // with no deltas there is none, and the whole round trip counts as the wait).
        let sql = "WITH b AS (SELECT * FROM branches WHERE tenant_id = $4 AND id = $1 FOR NO KEY UPDATE), \
                   up AS (INSERT INTO inventory (branch_id, stock_item_id, on_hand) \
                     SELECT $1, d.id, d.delta FROM UNNEST($2::uuid[], $3::int8[]) AS d(id, delta) \
                     WHERE EXISTS (SELECT 1 FROM b) ORDER BY d.id \
                     ON CONFLICT (branch_id, stock_item_id) DO UPDATE SET on_hand = inventory.on_hand + EXCLUDED.on_hand \
                     RETURNING stock_item_id, on_hand, clock_timestamp() AS at) \
                   SELECT b.*, s.id AS item_id, s.tenant_id AS item_tenant_id, s.name AS item_name, s.unit AS item_unit, \
                          up.on_hand AS item_on_hand, \
                          (SELECT EXTRACT(EPOCH FROM min(at) - statement_timestamp()) FROM up)::float8 AS waited_s \
                   FROM b LEFT JOIN (up JOIN stock_items s ON s.id = up.stock_item_id AND s.tenant_id = $4) ON true";
        let ids: Vec<Uuid> = deltas.iter().map(|d| d.0).collect();
        let amounts: Vec<i64> = deltas.iter().map(|d| d.1).collect();
        let rows = self.all(sqlx::query(sql).bind(branch_id).bind(&ids).bind(amounts).bind(tenant_id)).await?;
        let Some(first) = rows.first() else {
            return Ok(LockedBranch { branch: None, levels: Vec::new(), waited: asked_at.elapsed() });
        };
        let branch = BranchRecord::from_row(&Cols(first))?;
        let waited_s: Option<f64> = get(first, "waited_s")?;
        let waited = waited_s.map_or_else(|| asked_at.elapsed(), |s| std::time::Duration::from_secs_f64(s.max(0.0)));
        let mut by_id: HashMap<Uuid, (StockItemRecord, i64)> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let Some(id) = get::<Option<Uuid>>(row, "item_id")? else { continue };
            let item = StockItemRecord { id, tenant_id: get(row, "item_tenant_id")?, name: get(row, "item_name")?, unit: get(row, "item_unit")? };
            by_id.insert(id, (item, get(row, "item_on_hand")?));
        }
        let levels = ids
            .iter()
            .map(|id| by_id.remove(id).ok_or_else(|| StoreError::Internal(format!("recipe names unknown stock item {id}"))))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(LockedBranch { branch: Some(branch), levels, waited })
    }

    async fn write_batch(&mut self, b: &WriteBatch<'_>) -> StoreResult<Option<i64>> {
        // Everything in one statement (one round trip under the branch lock). Each part is
        // the statement of its own method (changes are split into upserts and inserts of
        // new entities): the head moves by the number of changes and the
        // changes are placed below it (`off` counts from 1), the device's seqs and
        // last-seen are noted, and the audit events keep their order. Foreign keys are
        // checked at the end of the statement, when every part has run.
        let sql = "WITH h AS (UPDATE branches SET head = head + $3 WHERE id = $1 AND $3 > 0 \
                     RETURNING head, pg_notify($4, id::text || ':' || head::text)), \
                   r AS (SELECT * FROM UNNEST($5::text[], $6::text[], $7::uuid[], $8::int8[], $9::bool[], \
                     $10::text[], $56::bool[]) AS r(scope, entity, entity_id, off, deleted, data, new_entity)), \
                   c AS (INSERT INTO changes (branch_id, scope, entity, entity_id, seq, deleted, data, changed_at) \
                     SELECT $1, r.scope, r.entity, r.entity_id, h.head - $3 + r.off, r.deleted, r.data, $2 \
                     FROM h, r WHERE NOT r.new_entity \
                     ON CONFLICT (branch_id, scope, entity_id) DO UPDATE SET seq = EXCLUDED.seq, \
                     deleted = EXCLUDED.deleted, data = EXCLUDED.data, entity = EXCLUDED.entity, \
                     changed_at = EXCLUDED.changed_at), \
                   cn AS (INSERT INTO changes (branch_id, scope, entity, entity_id, seq, deleted, data, changed_at) \
                     SELECT $1, r.scope, r.entity, r.entity_id, h.head - $3 + r.off, r.deleted, r.data, $2 \
                     FROM h, r WHERE r.new_entity), \
                   s AS (INSERT INTO sales (id, tenant_id, branch_id, device_id, cash_session_id, client_op_id, \
                     receipt_no, actor_id, total_cents, price_drift_cents, details, occurred_at, applied_at, vat_cents) \
                     SELECT * FROM UNNEST($11::uuid[], $12::uuid[], $13::uuid[], $14::uuid[], $15::uuid[], \
                     $16::uuid[], $17::text[], $18::uuid[], $19::int8[], $20::int8[], $21::text[], \
                     $22::timestamptz[], $23::timestamptz[], $61::int8[])), \
                   sl AS (INSERT INTO sale_lines (sale_id, line_no, menu_item_id, qty, unit_price_cents) \
                     SELECT * FROM UNNEST($62::uuid[], $63::int4[], $64::uuid[], $65::int8[], $66::int8[])), \
                   a AS (INSERT INTO audit_events (tenant_id, branch_id, module, action, actor_id, device_id, \
                     client_op_id, lane, occurred_at, applied_at, details) \
                     SELECT tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, \
                     occurred_at, applied_at, details FROM UNNEST($24::uuid[], $25::uuid[], $26::text[], \
                     $27::text[], $28::uuid[], $29::uuid[], $30::uuid[], $31::text[], $32::timestamptz[], \
                     $33::timestamptz[], $34::text[]) WITH ORDINALITY AS e(tenant_id, branch_id, module, action, \
                     actor_id, device_id, client_op_id, lane, occurred_at, applied_at, details, n) ORDER BY n), \
                   dd AS (DELETE FROM device_seq_ranges WHERE device_id = $35 AND from_seq = ANY($57::int8[])), \
                   du AS (INSERT INTO device_seq_ranges (device_id, from_seq, to_seq) \
                     SELECT $35, f, t FROM UNNEST($58::int8[], $59::int8[]) AS u(f, t) WHERE $35::uuid IS NOT NULL \
                     ON CONFLICT (device_id, from_seq) DO UPDATE SET to_seq = EXCLUDED.to_seq), \
                   dv AS (UPDATE devices SET last_seen_at = $2, last_device_seq = GREATEST(last_device_seq, m.top) \
                     FROM (SELECT MAX(q) AS top FROM UNNEST($36::int8[]) AS q) AS m \
                     WHERE id = $35 AND m.top IS NOT NULL), \
                   o AS (INSERT INTO ops (tenant_id, client_op_id, branch_id, device_id, actor_id, op_type, \
                     payload_hash, device_seq, lane, status, code, message, result, occurred_at, recorded_at, field, \
                     audit_module, audit_action, audit_details, payload) \
                     SELECT * FROM UNNEST($37::uuid[], $38::uuid[], $39::uuid[], $40::uuid[], $41::uuid[], \
                     $42::text[], $43::text[], $44::int8[], $45::text[], $46::text[], $47::text[], $48::text[], \
                     $49::text[], $50::timestamptz[], $51::timestamptz[], $52::text[], $53::text[], $54::text[], \
                     $55::text[], $60::text[])) \
                   SELECT head FROM h";
        let n = count(b.changes.len())?;
        // Placed as if the head were at 0: `off` is the position relative to the old head.
        let placed = place(b.branch_id, b.changes, 1);
        let q = sqlx::query(sql).bind(b.branch_id).bind(b.at).bind(n).bind(NUDGE_CHANNEL);
        let q = q
            .bind(placed.iter().map(|r| r.change.scope).collect::<Vec<_>>())
            .bind(placed.iter().map(|r| r.change.entity).collect::<Vec<_>>())
            .bind(placed.iter().map(|r| r.change.entity_id).collect::<Vec<_>>())
            .bind(placed.iter().map(|r| r.seq).collect::<Vec<_>>())
            .bind(placed.iter().map(|r| r.change.deleted).collect::<Vec<_>>())
            .bind(placed.iter().map(|r| r.data).collect::<Vec<_>>());
        let q = bind_sale_arrays(q, b.sales);
        let q = bind_audit_arrays(q, b.audits);
        let seqs: &[i64] = if b.device_id.is_some() { b.device_seqs } else { &[] };
        // The seq ranges are read first (one small query; the device row is locked), and
        // their update is part of the statement.
        let ranges = match b.device_id {
            Some(device_id) => self.seq_range_update(device_id, seqs).await?,
            None => seq_ranges::SeqRangeUpdate::default(),
        };
        let q = q.bind(b.device_id).bind(seqs);
        let q = bind_op_arrays(q, b.ops)?;
        // Rows of entities new to the stream (new sales) are plain inserts: an upsert's
        // conflict check costs about half as much again per row.
        let q = q.bind(placed.iter().map(|r| r.change.new_entity).collect::<Vec<_>>());
        let (froms, tos): (Vec<i64>, Vec<i64>) = ranges.upserts.iter().copied().unzip();
        let q = q.bind(&ranges.delete_froms).bind(froms).bind(tos);
        let q = q.bind(crate::oplog::payloads(b.ops));
        let q = bind_sale_line_arrays(q.bind(sale_vats(b.sales)), b.sale_lines);
        let row = self.one(q).await?;
        let head: Option<i64> = row.as_ref().map(|r| get(r, "head")).transpose()?;
        if n > 0 && head.is_none() {
            return Err(StoreError::Internal(format!("branch {} has no stream", b.branch_id)));
        }
        if let Some(head) = head {
            self.moved.retain(|m| m.branch_id != b.branch_id);
            self.moved.push(BranchHead { branch_id: b.branch_id, head });
        }
        Ok(head)
    }
}
