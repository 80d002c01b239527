//! The op log of both lanes. (the SQLite side of [`modula_store::OpLogTx`]).

use async_trait::async_trait;
use modula_store::*;
use modula_wire::JsonText;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::convert::{store_error, ts, Cols};
use crate::tx::{SqliteTx, IN_LIST_MAX, INSERT_ROWS_MAX};

#[async_trait]
impl OpLogTx for SqliteTx {
    async fn ops_by_ids(&mut self, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<OpRecord>> {
        let rows = rows_by_op_ids(self, "ops", tenant_id, ids).await?;
        rows.iter().map(|r| OpRecord::from_row(&Cols(r))).collect()
    }

    async fn insert_ops(&mut self, ops: &[OpRecord]) -> StoreResult<()> {
        self.require_write("insert_ops")?;
        for chunk in ops.chunks(INSERT_ROWS_MAX) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO ops (tenant_id, client_op_id, branch_id, device_id, actor_id, op_type, payload_hash, \
                 device_seq, lane, status, code, message, result, occurred_at, recorded_at, field, audit_module, \
                 audit_action, audit_details, payload) ",
            );
            q.push_values(chunk, |mut b, op| {
                let (status, code, message, result, field) = match &op.outcome {
                    OpOutcome::Applied(result) => ("APPLIED", None, None, Some(result.as_str().to_owned()), None),
                    OpOutcome::Rejected { code, message, field } => {
                        ("REJECTED", Some(code.to_string()), Some(message.clone()), None, field.clone())
                    }
                };
                b.push_bind(op.tenant_id)
                    .push_bind(op.client_op_id)
                    .push_bind(op.branch_id)
                    .push_bind(op.device_id)
                    .push_bind(op.actor_id)
                    .push_bind(op.op_type.clone())
                    .push_bind(op.payload_hash.clone())
                    .push_bind(op.device_seq)
                    .push_bind(op.lane.as_str())
                    .push_bind(status)
                    .push_bind(code)
                    .push_bind(message)
                    .push_bind(result)
                    .push_bind(ts(op.occurred_at))
                    .push_bind(ts(op.recorded_at))
                    .push_bind(field)
                    .push_bind(op.audit.as_ref().map(|a| a.module.clone()))
                    .push_bind(op.audit.as_ref().map(|a| a.action.clone()))
                    .push_bind(op.audit.as_ref().map(|a| a.details.as_str().to_owned()))
                    .push_bind(op.payload.as_ref().map(|p| p.as_str().to_owned()));
            });
            q.build().execute(&mut *self.tx).await.map_err(store_error)?;
        }
        Ok(())
    }

    async fn set_op_audit_details(&mut self, tenant_id: Uuid, details: &[(Uuid, &JsonText)]) -> StoreResult<()> {
        self.require_write("set_op_audit_details")?;
        for (client_op_id, text) in details {
            let done = sqlx::query("UPDATE ops SET audit_details = ? WHERE tenant_id = ? AND client_op_id = ?")
                .bind(text.as_str())
                .bind(tenant_id)
                .bind(client_op_id)
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Internal(format!("no op {client_op_id} to set the audit details of")));
            }
        }
        Ok(())
    }

    async fn rejected_ops(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<OpRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM ops WHERE tenant_id = ? AND branch_id = ? AND status = 'REJECTED' \
             ORDER BY recorded_at DESC LIMIT ?",
        )
        .bind(tenant_id)
        .bind(branch_id)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(store_error)?;
        rows.iter().map(|r| OpRecord::from_row(&Cols(r))).collect()
    }

    async fn resolutions(&mut self, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<ResolutionRecord>> {
        let rows = rows_by_op_ids(self, "op_resolutions", tenant_id, ids).await?;
        rows.iter().map(|r| ResolutionRecord::from_row(&Cols(r))).collect()
    }

    async fn insert_resolution(&mut self, r: &ResolutionRecord) -> StoreResult<bool> {
        self.require_write("insert_resolution")?;
        let done = sqlx::query(
            "INSERT INTO op_resolutions (tenant_id, client_op_id, branch_id, action, actor_id, note, at, result) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, client_op_id) DO NOTHING",
        )
        .bind(r.tenant_id)
        .bind(r.client_op_id)
        .bind(r.branch_id)
        .bind(&r.action)
        .bind(r.actor_id)
        .bind(&r.note)
        .bind(ts(r.at))
        .bind(r.result.as_ref().map(|t| t.as_str().to_owned()))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }
}


/// The rows of `table` (keyed by tenant and op id) with these op ids, `IN_LIST_MAX` at a time.
async fn rows_by_op_ids(t: &mut SqliteTx, table: &'static str, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<sqlx::sqlite::SqliteRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_LIST_MAX) {
        let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT * FROM {table} WHERE tenant_id = "));
        q.push_bind(tenant_id).push(" AND client_op_id IN (");
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        q.push(")");
        out.extend(q.build().fetch_all(&mut *t.tx).await.map_err(store_error)?);
    }
    Ok(out)
}
