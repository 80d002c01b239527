//! Finalized sales. (the PostgreSQL side of [`modula_store::SalesTx`]).


use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::Cols;
use crate::tx::{get, PgQuery, PgTx};

#[async_trait]
impl SalesTx for PgTx {
    async fn existing_sale_ids(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A probe per id, planned per call, for the reasons given in `ops_by_ids`.
        let sql = "SELECT s.id FROM UNNEST($1::uuid[]) AS k(id), LATERAL (SELECT id FROM sales WHERE id = k.id LIMIT 1) AS s";
        let rows = self.all(sqlx::query(sql).bind(ids).persistent(false)).await?;
        rows.iter().map(|r| get(r, "id")).collect()
    }

    async fn insert_sales(&mut self, sales: &[SaleRecord]) -> StoreResult<()> {
        if sales.is_empty() {
            return Ok(());
        }
        let sql = "INSERT INTO sales (id, tenant_id, branch_id, device_id, cash_session_id, client_op_id, receipt_no, \
                   actor_id, total_cents, price_drift_cents, details, occurred_at, applied_at) \
                   SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], \
                   $7::text[], $8::uuid[], $9::int8[], $10::int8[], $11::text[], $12::timestamptz[], $13::timestamptz[])";
        let q = bind_sale_arrays(sqlx::query(sql), sales);
        self.exec(q).await?;
        Ok(())
    }

    async fn list_sales(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<SaleRecord>> {
        let sql = "SELECT * FROM sales WHERE tenant_id = $1 AND branch_id = $2 ORDER BY applied_at DESC, id LIMIT $3";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(limit)).await?;
        rows.iter().map(|r| SaleRecord::from_row(&Cols(r))).collect()
    }

    async fn sale(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<SaleRecord>> {
        let row = self.one(sqlx::query("SELECT * FROM sales WHERE tenant_id = $1 AND id = $2").bind(tenant_id).bind(id)).await?;
        row.as_ref().map(|r| SaleRecord::from_row(&Cols(r))).transpose()
    }

    async fn void_sale(&mut self, tenant_id: Uuid, id: Uuid, v: &SaleVoidRecord) -> StoreResult<bool> {
        let sql = "UPDATE sales SET voided_at = $1, void_actor_id = $2, void_reason = $3, void_refund_cents = $4, \
                   void_refund_khr = $5, void_cash_session_id = $6, void_op_id = $7 \
                   WHERE tenant_id = $8 AND id = $9 AND voided_at IS NULL";
        let q = sqlx::query(sql).bind(v.at).bind(v.actor_id).bind(&v.reason).bind(v.refund_cents).bind(v.refund_khr);
        let q = q.bind(v.cash_session_id).bind(v.client_op_id).bind(tenant_id).bind(id);
        Ok(self.exec(q).await? == 1)
    }
}

/// Binds the 13 columns of `sales` as arrays, in the column order of `insert_sales`
/// (`id … details, occurred_at, applied_at`), for an `UNNEST` insert.
pub(crate) fn bind_sale_arrays<'q>(q: PgQuery<'q>, sales: &'q [SaleRecord]) -> PgQuery<'q> {
    let details: Vec<&str> = sales.iter().map(|s| s.details.as_str()).collect();
    q
        .bind(sales.iter().map(|s| s.id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.tenant_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.branch_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.device_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.cash_session_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.client_op_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.receipt_no.as_str()).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.actor_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.total_cents).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.price_drift_cents).collect::<Vec<_>>())
        .bind(details)
        .bind(sales.iter().map(|s| s.occurred_at).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.applied_at).collect::<Vec<_>>())
}
