//! Cash drawer sessions and their movements. (the PostgreSQL side of [`modula_store::CashTx`]).

use std::sync::LazyLock;

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
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let cols = DRAWER_COLUMNS.join(", ");
            let marks: Vec<String> = (9..9 + DRAWER_COLUMNS.len()).map(|i| format!("${i}")).collect();
            format!(
                "INSERT INTO cash_sessions (id, tenant_id, branch_id, device_id, opened_by, open, opened_at, closed_at, {cols}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {})",
                marks.join(", ")
            )
        });
        let q = sqlx::query(SQL.as_str()).bind(c.id).bind(c.tenant_id).bind(c.branch_id).bind(c.device_id);
        let mut q = q.bind(c.opened_by).bind(c.open).bind(c.opened_at).bind(c.closed_at);
        for v in drawer_values(c) {
            q = q.bind(v);
        }
        self.exec(q).await?;
        Ok(())
    }

    async fn update_cash_session(&mut self, c: &CashSessionRecord) -> StoreResult<()> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let sets: Vec<String> = DRAWER_COLUMNS.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 3)).collect();
            let id_mark = DRAWER_COLUMNS.len() + 3;
            format!("UPDATE cash_sessions SET open = $1, closed_at = $2, {} WHERE id = ${id_mark}", sets.join(", "))
        });
        let mut q = sqlx::query(SQL.as_str()).bind(c.open).bind(c.closed_at);
        for v in drawer_values(c) {
            q = q.bind(v);
        }
        self.exec(q.bind(c.id)).await?;
        Ok(())
    }

    async fn cash_movement_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        Ok(self.one(sqlx::query("SELECT 1 FROM cash_movements WHERE id = $1").bind(id)).await?.is_some())
    }

    async fn cash_session_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        Ok(self.one(sqlx::query("SELECT 1 FROM cash_sessions WHERE id = $1").bind(id)).await?.is_some())
    }

    async fn insert_cash_movement(&mut self, m: &CashMovementRecord) -> StoreResult<()> {
        let sql = "INSERT INTO cash_movements (id, cash_session_id, kind, amount_cents, amount_khr, reason, actor_id, \
                   occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        let q = sqlx::query(sql).bind(m.id).bind(m.cash_session_id).bind(&m.kind).bind(m.amount_cents).bind(m.amount_khr);
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

    async fn cash_sessions_opened(
        &mut self,
        tenant_id: Uuid,
        branch_id: Uuid,
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<CashSessionRecord>> {
        // The predicate of the partial index `cash_sessions_branch` (0007), as in the listing.
        let sql = "SELECT * FROM cash_sessions WHERE tenant_id = $1 AND branch_id = $2 \
                   AND opened_at > '-infinity' AND opened_at >= $3 AND opened_at < $4 ORDER BY opened_at, id LIMIT $5";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(from).bind(to).bind(limit)).await?;
        rows.iter().map(|r| CashSessionRecord::from_row(&Cols(r))).collect()
    }
}
