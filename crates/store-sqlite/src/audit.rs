//! Audit events of no op, and the audit trail read with the op log's. (the SQLite side of [`modula_store::AuditTx`]).

use async_trait::async_trait;
use modula_store::*;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::convert::{store_error, ts, Cols};
use crate::tx::{SqliteTx, INSERT_ROWS_MAX};

#[async_trait]
impl AuditTx for SqliteTx {
    async fn insert_audits(&mut self, events: &[AuditRecord]) -> StoreResult<()> {
        self.require_write("insert_audits")?;
        for chunk in events.chunks(INSERT_ROWS_MAX) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO audit_events (tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, \
                 lane, occurred_at, applied_at, details) ",
            );
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.tenant_id)
                    .push_bind(e.branch_id)
                    .push_bind(e.module.clone())
                    .push_bind(e.action.clone())
                    .push_bind(e.actor_id)
                    .push_bind(e.device_id)
                    .push_bind(e.client_op_id)
                    .push_bind(e.lane.as_str())
                    .push_bind(ts(e.occurred_at))
                    .push_bind(ts(e.applied_at))
                    .push_bind(e.details.as_str().to_owned());
            });
            q.build().execute(&mut *self.tx).await.map_err(store_error)?;
        }
        Ok(())
    }

    async fn list_audit(&mut self, tenant_id: Uuid, branch_id: Uuid, since: Timestamp, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        // Events stored with applied ops, and the others; by time, then key (ops are
        // applied one write transaction at a time, so `recorded_at` follows their order).
        let rows = sqlx::query(
            "SELECT * FROM ( \
               SELECT tenant_id, branch_id, audit_module AS module, audit_action AS action, actor_id, device_id, \
                 client_op_id, lane, occurred_at, recorded_at AS applied_at, audit_details AS details, 0 AS seq \
               FROM ops WHERE tenant_id = ?1 AND branch_id = ?2 AND audit_module IS NOT NULL AND recorded_at >= ?3 \
               UNION ALL \
               SELECT tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, occurred_at, \
                 applied_at, details, seq FROM audit_events \
               WHERE tenant_id = ?1 AND branch_id = ?2 AND applied_at >= ?3) \
             ORDER BY applied_at, seq, client_op_id LIMIT ?4",
        )
        .bind(tenant_id)
        .bind(branch_id)
        .bind(ts(since))
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(store_error)?;
        rows.iter().map(|r| AuditRecord::from_row(&Cols(r))).collect()
    }

    async fn insert_device_event(&mut self, e: &AuditRecord, event_id: Uuid) -> StoreResult<bool> {
        self.require_write("insert_device_event")?;
        let done = sqlx::query(
            "INSERT OR IGNORE INTO audit_events (tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, \
             lane, occurred_at, applied_at, details, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.tenant_id)
        .bind(e.branch_id)
        .bind(&e.module)
        .bind(&e.action)
        .bind(e.actor_id)
        .bind(e.device_id)
        .bind(e.client_op_id)
        .bind(e.lane.as_str())
        .bind(ts(e.occurred_at))
        .bind(ts(e.applied_at))
        .bind(e.details.as_str())
        .bind(event_id)
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_tenant_audit(&mut self, tenant_id: Uuid, since: Timestamp, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, occurred_at, \
               applied_at, details FROM audit_events \
             WHERE tenant_id = ? AND branch_id IS NULL AND applied_at >= ? ORDER BY applied_at, seq LIMIT ?",
        )
        .bind(tenant_id)
        .bind(ts(since))
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(store_error)?;
        rows.iter().map(|r| AuditRecord::from_row(&Cols(r))).collect()
    }
}

