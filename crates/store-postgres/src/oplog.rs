//! The op log of both lanes. (the PostgreSQL side of [`modula_store::OpLogTx`]).


use async_trait::async_trait;
use modula_store::*;
use modula_wire::JsonText;
use sqlx::postgres::PgArguments;
use sqlx::Postgres;
use uuid::Uuid;

use crate::convert::{store_error, Cols};
use crate::tx::PgTx;

#[async_trait]
impl OpLogTx for PgTx {
    async fn ops_by_ids(&mut self, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<OpRecord>> {
        // One full-key index probe per id: a `LATERAL … LIMIT 1` cannot be flattened into a
        // join, so the plan is a nested loop over the ids whatever the statistics say.
        // `client_op_id = ANY($2)` or a plain join were planned, before the first ANALYZE,
        // as a scan of the tenant's whole log (the planner takes `tenant_id` for
        // selective), which cost ~500 ms per push once the log had grown (seen in the push
        // benchmark). Planned per call (`persistent(false)`), so no plan made while the
        // table was small stays cached.
        ops_by_ids(&mut *self.tx, tenant_id, ids).await
    }

    async fn insert_ops(&mut self, ops: &[OpRecord]) -> StoreResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let sql = "INSERT INTO ops (tenant_id, client_op_id, branch_id, device_id, actor_id, op_type, payload_hash, \
                   device_seq, lane, status, code, message, result, occurred_at, recorded_at, field, audit_module, \
                   audit_action, audit_details, payload) \
                   SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], \
                   $7::text[], $8::int8[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], \
                   $14::timestamptz[], $15::timestamptz[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[])";
        let q = bind_op_arrays(sqlx::query(sql), ops)?.bind(payloads(ops));
        self.exec(q).await?;
        Ok(())
    }

    async fn set_op_audit_details(&mut self, tenant_id: Uuid, details: &[(Uuid, &JsonText)]) -> StoreResult<()> {
        if details.is_empty() {
            return Ok(());
        }
        let sql = "UPDATE ops SET audit_details = d.details FROM UNNEST($2::uuid[], $3::text[]) AS d(id, details) \
                   WHERE ops.tenant_id = $1 AND ops.client_op_id = d.id";
        let ids: Vec<Uuid> = details.iter().map(|d| d.0).collect();
        let texts: Vec<&str> = details.iter().map(|d| d.1.as_str()).collect();
        let n = self.exec(sqlx::query(sql).bind(tenant_id).bind(ids).bind(texts)).await?;
        if n != details.len() as u64 {
            return Err(StoreError::Internal(format!("set the audit details of {n} ops, not {}", details.len())));
        }
        Ok(())
    }

    async fn rejected_ops(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<OpRecord>> {
        let sql = "SELECT * FROM ops WHERE tenant_id = $1 AND branch_id = $2 AND status = 'REJECTED' \
                   ORDER BY recorded_at DESC, client_op_id DESC LIMIT $3";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(limit)).await?;
        rows.iter().map(|r| OpRecord::from_row(&Cols(r))).collect()
    }

    async fn resolutions(&mut self, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<ResolutionRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = "SELECT * FROM op_resolutions WHERE tenant_id = $1 AND client_op_id = ANY($2)";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(ids)).await?;
        rows.iter().map(|r| ResolutionRecord::from_row(&Cols(r))).collect()
    }

    async fn insert_resolution(&mut self, r: &ResolutionRecord) -> StoreResult<bool> {
        let sql = "INSERT INTO op_resolutions (tenant_id, client_op_id, branch_id, action, actor_id, note, at, result) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, client_op_id) DO NOTHING";
        let q = sqlx::query(sql).bind(r.tenant_id).bind(r.client_op_id).bind(r.branch_id).bind(&r.action);
        let q = q.bind(r.actor_id).bind(&r.note).bind(r.at).bind(r.result.as_ref().map(|t| t.as_str()));
        Ok(self.exec(q).await? == 1)
    }
}

/// The kept payloads of `ops` (rejected ops' only), as an array for an `UNNEST` insert.
pub(crate) fn payloads(ops: &[OpRecord]) -> Vec<Option<&str>> {
    ops.iter().map(|o| o.payload.as_ref().map(|p| p.as_str())).collect()
}


/// The op records with these keys, on any executor (a transaction, or the pool for a
/// one-statement read).
pub(crate) async fn ops_by_ids<'e, E: sqlx::PgExecutor<'e>>(executor: E, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<OpRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = "SELECT o.* FROM UNNEST($2::uuid[]) AS k(id), \
               LATERAL (SELECT * FROM ops WHERE tenant_id = $1 AND client_op_id = k.id LIMIT 1) AS o";
    let rows = sqlx::query(sql).bind(tenant_id).bind(ids).persistent(false).fetch_all(executor).await.map_err(store_error)?;
    rows.iter().map(|r| OpRecord::from_row(&Cols(r))).collect()
}

/// The outcome columns of an op row.
pub(crate) struct OpColumns<'a> {
    pub(crate) status: &'static str,
    pub(crate) code: Option<String>,
    pub(crate) message: Option<&'a str>,
    pub(crate) result: Option<&'a str>,
    pub(crate) field: Option<&'a str>,
}

/// Binds the 19 op-log columns of `ops` as arrays, in the column order of `insert_ops`
/// (`tenant_id … field, audit_module, audit_action, audit_details`), for an `UNNEST` insert.
pub(crate) fn bind_op_arrays<'q>(
    q: sqlx::query::Query<'q, Postgres, PgArguments>,
    ops: &'q [OpRecord],
) -> StoreResult<sqlx::query::Query<'q, Postgres, PgArguments>> {
    let n = ops.len();
    let (mut status, mut code, mut message, mut result, mut field) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for op in ops {
        let c = op_columns(op)?;
        status.push(c.status);
        code.push(c.code);
        message.push(c.message);
        result.push(c.result);
        field.push(c.field);
    }
    let audit_details: Vec<Option<&str>> = ops.iter().map(|o| o.audit.as_ref().map(|a| a.details.as_str())).collect();
    Ok(q.bind(ops.iter().map(|o| o.tenant_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.client_op_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.branch_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.device_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.actor_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.op_type.as_str()).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.payload_hash.as_str()).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.device_seq).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.lane.as_str()).collect::<Vec<_>>())
        .bind(status)
        .bind(code)
        .bind(message)
        .bind(result)
        .bind(ops.iter().map(|o| o.occurred_at).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.recorded_at).collect::<Vec<_>>())
        .bind(field)
        .bind(ops.iter().map(|o| o.audit.as_ref().map(|a| a.module.as_str())).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.audit.as_ref().map(|a| a.action.as_str())).collect::<Vec<_>>())
        .bind(audit_details))
}

pub(crate) fn op_columns(op: &OpRecord) -> StoreResult<OpColumns<'_>> {
    Ok(match &op.outcome {
        OpOutcome::Applied(result) => {
            OpColumns { status: "APPLIED", code: None, message: None, result: Some(result.as_str()), field: None }
        }
        OpOutcome::Rejected { code, message, field } => OpColumns {
            status: "REJECTED",
            code: Some(code.to_string()),
            message: Some(message),
            result: None,
            field: field.as_deref(),
        },
    })
}

