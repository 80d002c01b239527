//! Work shifts. (the PostgreSQL side of [`modula_store::AttendanceTx`]).


use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::Cols;
use crate::tx::PgTx;

#[async_trait]
impl AttendanceTx for PgTx {
    async fn shift_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        Ok(self.one(sqlx::query("SELECT 1 FROM shifts WHERE id = $1").bind(id)).await?.is_some())
    }

    async fn shift(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<ShiftRecord>> {
        let sql = "SELECT * FROM shifts WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(id)).await?;
        row.as_ref().map(|r| ShiftRecord::from_row(&Cols(r))).transpose()
    }

    async fn open_shift_of_staff(&mut self, staff_id: Uuid) -> StoreResult<Option<ShiftRecord>> {
        let row = self.one(sqlx::query("SELECT * FROM shifts WHERE staff_id = $1 AND open").bind(staff_id)).await?;
        row.as_ref().map(|r| ShiftRecord::from_row(&Cols(r))).transpose()
    }

    async fn insert_shift(&mut self, s: &ShiftRecord) -> StoreResult<()> {
        let sql = "INSERT INTO shifts (id, tenant_id, branch_id, staff_id, open, started_at, ended_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let q = sqlx::query(sql).bind(s.id).bind(s.tenant_id).bind(s.branch_id).bind(s.staff_id);
        self.exec(q.bind(s.open).bind(s.started_at).bind(s.ended_at)).await?;
        Ok(())
    }

    async fn update_shift(&mut self, s: &ShiftRecord) -> StoreResult<()> {
        let sql = "UPDATE shifts SET open = $1, ended_at = $2 WHERE id = $3";
        self.exec(sqlx::query(sql).bind(s.open).bind(s.ended_at).bind(s.id)).await?;
        Ok(())
    }

    async fn list_shifts(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<ShiftRecord>> {
        let sql = "SELECT * FROM shifts WHERE tenant_id = $1 AND branch_id = $2 ORDER BY started_at DESC, id LIMIT $3";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(limit)).await?;
        rows.iter().map(|r| ShiftRecord::from_row(&Cols(r))).collect()
    }
}

