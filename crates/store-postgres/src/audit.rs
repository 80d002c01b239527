//! Audit events of no op, and the audit trail read with the op log's. (the PostgreSQL side of [`modula_store::AuditTx`]).


use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::Cols;
use crate::tx::{PgQuery, PgTx};

#[async_trait]
impl AuditTx for PgTx {
    async fn insert_audits(&mut self, events: &[AuditRecord]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        // WITH ORDINALITY … ORDER BY: `seq` (an identity) follows the order of `events`.
        let sql = "INSERT INTO audit_events (tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, \
                   lane, occurred_at, applied_at, details) \
                   SELECT tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, occurred_at, \
                   applied_at, details FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], \
                   $6::uuid[], $7::uuid[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[]) \
                   WITH ORDINALITY AS e(tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, \
                   occurred_at, applied_at, details, n) ORDER BY n";
        let q = bind_audit_arrays(sqlx::query(sql), events);
        self.exec(q).await?;
        Ok(())
    }

    async fn list_audit(&mut self, tenant_id: Uuid, branch_id: Uuid, since: Timestamp, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        // Events stored with applied ops, and the others; by time, then key. Within one
        // branch, ops are applied under its row lock, one request after another, so their
        // `recorded_at` follows the order they were applied in.
        let sql = "SELECT * FROM ( \
                     SELECT tenant_id, branch_id, audit_module AS module, audit_action AS action, actor_id, device_id, \
                       client_op_id, lane, occurred_at, recorded_at AS applied_at, audit_details AS details, 0 AS seq \
                     FROM ops WHERE tenant_id = $1 AND branch_id = $2 AND audit_module IS NOT NULL AND recorded_at >= $3 \
                     UNION ALL \
                     SELECT tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, occurred_at, \
                       applied_at, details, seq FROM audit_events \
                     WHERE tenant_id = $1 AND branch_id = $2 AND applied_at >= $3) AS e \
                   ORDER BY applied_at, seq, client_op_id LIMIT $4";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(since).bind(limit)).await?;
        rows.iter().map(|r| AuditRecord::from_row(&Cols(r))).collect()
    }

    async fn insert_device_event(&mut self, e: &AuditRecord, event_id: Uuid) -> StoreResult<bool> {
        let sql = "INSERT INTO audit_events (tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, \
                     lane, occurred_at, applied_at, details, event_id) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                   ON CONFLICT (tenant_id, event_id) WHERE event_id IS NOT NULL DO NOTHING";
        let q = sqlx::query(sql).bind(e.tenant_id).bind(e.branch_id).bind(&e.module).bind(&e.action).bind(e.actor_id);
        let q = q.bind(e.device_id).bind(e.client_op_id).bind(e.lane.as_str()).bind(e.occurred_at).bind(e.applied_at);
        let done = self.exec(q.bind(e.details.as_str()).bind(event_id)).await?;
        Ok(done == 1)
    }

    async fn list_tenant_audit(&mut self, tenant_id: Uuid, since: Timestamp, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let sql = "SELECT tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, occurred_at, \
                     applied_at, details FROM audit_events \
                   WHERE tenant_id = $1 AND branch_id IS NULL AND applied_at >= $2 ORDER BY applied_at, seq LIMIT $3";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(since).bind(limit)).await?;
        rows.iter().map(|r| AuditRecord::from_row(&Cols(r))).collect()
    }
}

/// Binds the 11 columns of audit `events` as arrays, in the column order of
/// `insert_audits` (`tenant_id … applied_at, details`), for an `UNNEST` insert.
pub(crate) fn bind_audit_arrays<'q>(q: PgQuery<'q>, events: &'q [AuditRecord]) -> PgQuery<'q> {
    let details: Vec<&str> = events.iter().map(|e| e.details.as_str()).collect();
    q
        .bind(events.iter().map(|e| e.tenant_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.branch_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.module.as_str()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.actor_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.device_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.client_op_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.lane.as_str()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.applied_at).collect::<Vec<_>>())
        .bind(details)
}
