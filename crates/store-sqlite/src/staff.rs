//! Staff members, their branch assignments, credentials and sign-in lockout (the SQLite side of [`modula_store::StaffTx`]).

use async_trait::async_trait;
use modula_store::*;
use sqlx::Row;
use uuid::Uuid;

use crate::convert::{store_error, ts, ts_opt, Cols};
use crate::tx::{get, SqliteTx};

impl SqliteTx {
    pub(crate) async fn branch_ids_of(&mut self, staff_id: Uuid) -> StoreResult<Vec<Uuid>> {
        let rows = sqlx::query("SELECT branch_id FROM staff_branches WHERE staff_id = ? ORDER BY branch_id")
            .bind(staff_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| r.try_get::<Uuid, _>(0).map_err(store_error)).collect()
    }

    pub(crate) async fn set_branch_ids(&mut self, staff_id: Uuid, branch_ids: &[Uuid]) -> StoreResult<()> {
        sqlx::query("DELETE FROM staff_branches WHERE staff_id = ?")
            .bind(staff_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        for branch_id in branch_ids {
            sqlx::query("INSERT OR IGNORE INTO staff_branches (staff_id, branch_id) VALUES (?, ?)")
                .bind(staff_id)
                .bind(branch_id)
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }
}

#[async_trait]
impl StaffTx for SqliteTx {
    async fn insert_staff(&mut self, s: &StaffRecord) -> StoreResult<()> {
        self.require_write("insert_staff")?;
        sqlx::query(
            "INSERT INTO staff (id, tenant_id, name, role, pin_hash, login, password_hash, active, failed_logins, \
             locked_until, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(s.id)
        .bind(s.tenant_id)
        .bind(&s.name)
        .bind(s.role.as_str())
        .bind(&s.pin_hash)
        .bind(&s.login)
        .bind(&s.password_hash)
        .bind(s.active as i64)
        .bind(s.failed_logins)
        .bind(ts_opt(s.locked_until))
        .bind(ts(s.updated_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        self.set_branch_ids(s.id, &s.branch_ids).await
    }

    async fn staff(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<Option<StaffRecord>> {
        let Some(row) = sqlx::query("SELECT * FROM staff WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(staff_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let branch_ids = self.branch_ids_of(staff_id).await?;
        StaffRecord::from_row(&Cols(&row), branch_ids).map(Some)
    }

    async fn lock_staff(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<Option<StaffRecord>> {
        // BEGIN IMMEDIATE already holds SQLite's single write lock.
        self.require_write("lock_staff")?;
        self.staff(tenant_id, staff_id).await
    }

    async fn lock_staff_by_login(&mut self, tenant_id: Uuid, login: &str) -> StoreResult<Option<StaffRecord>> {
        self.require_write("lock_staff_by_login")?;
        let id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM staff WHERE tenant_id = ? AND login = ?")
            .bind(tenant_id)
            .bind(login)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        match id {
            Some(id) => self.staff(tenant_id, id).await,
            None => Ok(None),
        }
    }

    async fn list_staff(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StaffRecord>> {
        let rows = sqlx::query("SELECT * FROM staff WHERE tenant_id = ? ORDER BY name, id")
            .bind(tenant_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let branch_ids = self.branch_ids_of(get(row, "id")?).await?;
            out.push(StaffRecord::from_row(&Cols(row), branch_ids)?);
        }
        Ok(out)
    }

    async fn update_staff(&mut self, s: &StaffRecord) -> StoreResult<()> {
        self.require_write("update_staff")?;
        sqlx::query(
            "UPDATE staff SET name = ?, role = ?, pin_hash = ?, login = ?, password_hash = ?, active = ?, \
             failed_logins = ?, locked_until = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
        )
        .bind(&s.name)
        .bind(s.role.as_str())
        .bind(&s.pin_hash)
        .bind(&s.login)
        .bind(&s.password_hash)
        .bind(s.active as i64)
        .bind(s.failed_logins)
        .bind(ts_opt(s.locked_until))
        .bind(ts(s.updated_at))
        .bind(s.tenant_id)
        .bind(s.id)
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        self.set_branch_ids(s.id, &s.branch_ids).await
    }

    async fn set_login_lockout(
        &mut self,
        tenant_id: Uuid,
        staff_id: Uuid,
        failed_attempts: i64,
        locked_until: Option<Timestamp>,
    ) -> StoreResult<()> {
        self.require_write("set_login_lockout")?;
        sqlx::query("UPDATE staff SET failed_logins = ?, locked_until = ? WHERE tenant_id = ? AND id = ?")
            .bind(failed_attempts)
            .bind(ts_opt(locked_until))
            .bind(tenant_id)
            .bind(staff_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

