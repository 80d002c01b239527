//! Work shifts. (the SQLite side of [`modula_store::AttendanceTx`]).

use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::{store_error, ts, ts_opt, Cols};
use crate::tx::{exists, SqliteTx};

#[async_trait]
impl AttendanceTx for SqliteTx {
    async fn shift_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        exists(&mut self.tx, "SELECT 1 FROM shifts WHERE id = ?", id).await
    }

    async fn shift(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<ShiftRecord>> {
        let row = sqlx::query("SELECT * FROM shifts WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| ShiftRecord::from_row(&Cols(r))).transpose()
    }

    async fn open_shift_of_staff(&mut self, staff_id: Uuid) -> StoreResult<Option<ShiftRecord>> {
        let row = sqlx::query("SELECT * FROM shifts WHERE staff_id = ? AND open = 1")
            .bind(staff_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| ShiftRecord::from_row(&Cols(r))).transpose()
    }

    async fn insert_shift(&mut self, s: &ShiftRecord) -> StoreResult<()> {
        self.require_write("insert_shift")?;
        sqlx::query("INSERT INTO shifts (id, tenant_id, branch_id, staff_id, open, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(s.id)
            .bind(s.tenant_id)
            .bind(s.branch_id)
            .bind(s.staff_id)
            .bind(s.open as i64)
            .bind(ts(s.started_at))
            .bind(ts_opt(s.ended_at))
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn update_shift(&mut self, s: &ShiftRecord) -> StoreResult<()> {
        self.require_write("update_shift")?;
        sqlx::query("UPDATE shifts SET open = ?, ended_at = ? WHERE id = ?")
            .bind(s.open as i64)
            .bind(ts_opt(s.ended_at))
            .bind(s.id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_shifts(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<ShiftRecord>> {
        let rows = sqlx::query("SELECT * FROM shifts WHERE tenant_id = ? AND branch_id = ? ORDER BY started_at DESC, id LIMIT ?")
            .bind(tenant_id)
            .bind(branch_id)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| ShiftRecord::from_row(&Cols(r))).collect()
    }
}

