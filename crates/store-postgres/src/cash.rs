//! Cash drawer sessions and their movements. (the PostgreSQL side of [`modula_store::CashTx`]).


use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::Cols;
use crate::tx::PgTx;

#[async_trait]
impl CashTx for PgTx {
    async fn cash_session(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<CashSessionRecord>> {
        let sql = "SELECT * FROM cash_sessions WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(id)).await?;
        row.as_ref().map(|r| CashSessionRecord::from_row(&Cols(r))).transpose()
    }

    async fn open_cash_session_of_device(&mut self, device_id: Uuid) -> StoreResult<Option<CashSessionRecord>> {
        let sql = "SELECT * FROM cash_sessions WHERE device_id = $1 AND open";
        let row = self.one(sqlx::query(sql).bind(device_id)).await?;
        row.as_ref().map(|r| CashSessionRecord::from_row(&Cols(r))).transpose()
    }

    async fn insert_cash_session(&mut self, c: &CashSessionRecord) -> StoreResult<()> {
        let sql = "INSERT INTO cash_sessions (id, tenant_id, branch_id, device_id, opened_by, open, opening_float_cents, \
                   cash_sales_cents, paid_in_cents, paid_out_cents, adjustments_cents, counted_cash_cents, opened_at, \
                   closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
        let q = sqlx::query(sql).bind(c.id).bind(c.tenant_id).bind(c.branch_id).bind(c.device_id).bind(c.opened_by);
        let q = q.bind(c.open).bind(c.opening_float_cents).bind(c.cash_sales_cents).bind(c.paid_in_cents);
        let q = q.bind(c.paid_out_cents).bind(c.adjustments_cents).bind(c.counted_cash_cents);
        self.exec(q.bind(c.opened_at).bind(c.closed_at)).await?;
        Ok(())
    }

    async fn update_cash_session(&mut self, c: &CashSessionRecord) -> StoreResult<()> {
        let sql = "UPDATE cash_sessions SET open = $1, cash_sales_cents = $2, paid_in_cents = $3, paid_out_cents = $4, \
                   adjustments_cents = $5, counted_cash_cents = $6, closed_at = $7 WHERE id = $8";
        let q = sqlx::query(sql).bind(c.open).bind(c.cash_sales_cents).bind(c.paid_in_cents).bind(c.paid_out_cents);
        self.exec(q.bind(c.adjustments_cents).bind(c.counted_cash_cents).bind(c.closed_at).bind(c.id)).await?;
        Ok(())
    }

    async fn cash_movement_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        Ok(self.one(sqlx::query("SELECT 1 FROM cash_movements WHERE id = $1").bind(id)).await?.is_some())
    }

    async fn cash_session_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        Ok(self.one(sqlx::query("SELECT 1 FROM cash_sessions WHERE id = $1").bind(id)).await?.is_some())
    }

    async fn insert_cash_movement(&mut self, m: &CashMovementRecord) -> StoreResult<()> {
        let sql = "INSERT INTO cash_movements (id, cash_session_id, kind, amount_cents, reason, actor_id, occurred_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let q = sqlx::query(sql).bind(m.id).bind(m.cash_session_id).bind(&m.kind).bind(m.amount_cents);
        self.exec(q.bind(&m.reason).bind(m.actor_id).bind(m.occurred_at)).await?;
        Ok(())
    }

    async fn list_cash_sessions(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<CashSessionRecord>> {
        // `opened_at > '-infinity'` is true of every row; it is the predicate of the partial
        // index `cash_sessions_branch`, so that only this listing uses it (0007).
        let sql = "SELECT * FROM cash_sessions WHERE tenant_id = $1 AND branch_id = $2 \
                   AND opened_at > '-infinity' ORDER BY opened_at DESC, id DESC LIMIT $3";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(limit)).await?;
        rows.iter().map(|r| CashSessionRecord::from_row(&Cols(r))).collect()
    }
}

