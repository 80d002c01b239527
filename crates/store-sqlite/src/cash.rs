//! Cash drawer sessions and their movements. (the SQLite side of [`modula_store::CashTx`]).

use std::sync::LazyLock;

use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::{store_error, ts, ts_opt, Cols};
use crate::tx::{exists, SqliteTx};

#[async_trait]
impl CashTx for SqliteTx {
    async fn cash_session(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<CashSessionRecord>> {
        let row = sqlx::query("SELECT * FROM cash_sessions WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| CashSessionRecord::from_row(&Cols(r))).transpose()
    }

    async fn open_cash_session_of_device(&mut self, device_id: Uuid) -> StoreResult<Option<CashSessionRecord>> {
        let row = sqlx::query("SELECT * FROM cash_sessions WHERE device_id = ? AND open = 1")
            .bind(device_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| CashSessionRecord::from_row(&Cols(r))).transpose()
    }

    async fn insert_cash_session(&mut self, c: &CashSessionRecord) -> StoreResult<()> {
        self.require_write("insert_cash_session")?;
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let cols = DRAWER_COLUMNS.join(", ");
            let marks = vec!["?"; DRAWER_COLUMNS.len()].join(", ");
            format!(
                "INSERT INTO cash_sessions (id, tenant_id, branch_id, device_id, opened_by, open, opened_at, closed_at, {cols}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, {marks})"
            )
        });
        let mut q = sqlx::query(SQL.as_str())
            .bind(c.id)
            .bind(c.tenant_id)
            .bind(c.branch_id)
            .bind(c.device_id)
            .bind(c.opened_by)
            .bind(c.open as i64)
            .bind(ts(c.opened_at))
            .bind(ts_opt(c.closed_at));
        for v in drawer_values(c) {
            q = q.bind(v);
        }
        q.execute(&mut *self.tx).await.map_err(store_error)?;
        Ok(())
    }

    async fn update_cash_session(&mut self, c: &CashSessionRecord) -> StoreResult<()> {
        self.require_write("update_cash_session")?;
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let sets: Vec<String> = DRAWER_COLUMNS.iter().map(|c| format!("{c} = ?")).collect();
            format!("UPDATE cash_sessions SET open = ?, closed_at = ?, {} WHERE id = ?", sets.join(", "))
        });
        let mut q = sqlx::query(SQL.as_str()).bind(c.open as i64).bind(ts_opt(c.closed_at));
        for v in drawer_values(c) {
            q = q.bind(v);
        }
        q.bind(c.id).execute(&mut *self.tx).await.map_err(store_error)?;
        Ok(())
    }

    async fn cash_movement_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        exists(&mut self.tx, "SELECT 1 FROM cash_movements WHERE id = ?", id).await
    }

    async fn cash_session_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        exists(&mut self.tx, "SELECT 1 FROM cash_sessions WHERE id = ?", id).await
    }

    async fn insert_cash_movement(&mut self, m: &CashMovementRecord) -> StoreResult<()> {
        self.require_write("insert_cash_movement")?;
        sqlx::query(
            "INSERT INTO cash_movements (id, cash_session_id, kind, amount_cents, amount_khr, reason, actor_id, occurred_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id)
        .bind(m.cash_session_id)
        .bind(&m.kind)
        .bind(m.amount_cents)
        .bind(m.amount_khr)
        .bind(&m.reason)
        .bind(m.actor_id)
        .bind(ts(m.occurred_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn list_cash_sessions(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<CashSessionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM cash_sessions WHERE tenant_id = ? AND branch_id = ? ORDER BY opened_at DESC, id DESC LIMIT ?",
        )
        .bind(tenant_id)
        .bind(branch_id)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(store_error)?;
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
        let rows = sqlx::query(
            "SELECT * FROM cash_sessions WHERE tenant_id = ? AND branch_id = ? AND opened_at >= ? AND opened_at < ? \
             ORDER BY opened_at, id LIMIT ?",
        )
        .bind(tenant_id)
        .bind(branch_id)
        .bind(ts(from))
        .bind(ts(to))
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(store_error)?;
        rows.iter().map(|r| CashSessionRecord::from_row(&Cols(r))).collect()
    }
}
