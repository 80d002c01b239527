//! Staff members, their branch assignments, credentials and sign-in lockout (the PostgreSQL side of [`modula_store::StaffTx`]).


use async_trait::async_trait;
use modula_store::*;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::convert::Cols;
use crate::tx::{get, PgTx};

impl PgTx {
    pub(crate) async fn set_branch_ids(&mut self, staff_id: Uuid, branch_ids: &[Uuid]) -> StoreResult<()> {
        self.exec(sqlx::query("DELETE FROM staff_branches WHERE staff_id = $1").bind(staff_id)).await?;
        if branch_ids.is_empty() {
            return Ok(());
        }
        let insert = "INSERT INTO staff_branches (staff_id, branch_id) SELECT $1, b FROM UNNEST($2::uuid[]) AS b \
                      ON CONFLICT DO NOTHING";
        self.exec(sqlx::query(insert).bind(staff_id).bind(branch_ids)).await?;
        Ok(())
    }
}

#[async_trait]
impl StaffTx for PgTx {
    async fn insert_staff(&mut self, s: &StaffRecord) -> StoreResult<()> {
        let sql = "INSERT INTO staff (id, tenant_id, name, role, pin_hash, login, password_hash, active, failed_logins, \
                   locked_until, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
        let q = sqlx::query(sql).bind(s.id).bind(s.tenant_id).bind(&s.name).bind(s.role.as_str()).bind(&s.pin_hash);
        let q = q.bind(&s.login).bind(&s.password_hash);
        self.exec(q.bind(s.active).bind(s.failed_logins).bind(s.locked_until).bind(s.updated_at)).await?;
        self.set_branch_ids(s.id, &s.branch_ids).await
    }

    async fn staff(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<Option<StaffRecord>> {
        let sql = format!("{STAFF_SELECT} WHERE s.tenant_id = $1 AND s.id = $2");
        let row = self.one(sqlx::query(&sql).bind(tenant_id).bind(staff_id)).await?;
        row.as_ref().map(staff_from).transpose()
    }

    async fn lock_staff(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<Option<StaffRecord>> {
        let sql = format!("{STAFF_SELECT} WHERE s.tenant_id = $1 AND s.id = $2 FOR NO KEY UPDATE OF s");
        let row = self.one(sqlx::query(&sql).bind(tenant_id).bind(staff_id)).await?;
        row.as_ref().map(staff_from).transpose()
    }

    async fn lock_staff_by_login(&mut self, tenant_id: Uuid, login: &str) -> StoreResult<Option<StaffRecord>> {
        let sql = format!("{STAFF_SELECT} WHERE s.tenant_id = $1 AND s.login = $2 FOR NO KEY UPDATE OF s");
        let row = self.one(sqlx::query(&sql).bind(tenant_id).bind(login)).await?;
        row.as_ref().map(staff_from).transpose()
    }

    async fn list_staff(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StaffRecord>> {
        let sql = format!("{STAFF_SELECT} WHERE s.tenant_id = $1 ORDER BY s.name, s.id");
        let rows = self.all(sqlx::query(&sql).bind(tenant_id)).await?;
        rows.iter().map(staff_from).collect()
    }

    async fn update_staff(&mut self, s: &StaffRecord) -> StoreResult<()> {
        let sql = "UPDATE staff SET name = $1, role = $2, pin_hash = $3, active = $4, failed_logins = $5, \
                   locked_until = $6, updated_at = $7, login = $8, password_hash = $9 WHERE tenant_id = $10 AND id = $11";
        let q = sqlx::query(sql).bind(&s.name).bind(s.role.as_str()).bind(&s.pin_hash).bind(s.active);
        let q = q.bind(s.failed_logins).bind(s.locked_until).bind(s.updated_at).bind(&s.login).bind(&s.password_hash);
        let q = q.bind(s.tenant_id).bind(s.id);
        self.exec(q).await?;
        self.set_branch_ids(s.id, &s.branch_ids).await
    }

    async fn set_login_lockout(
        &mut self,
        tenant_id: Uuid,
        staff_id: Uuid,
        failed_attempts: i64,
        locked_until: Option<Timestamp>,
    ) -> StoreResult<()> {
        let sql = "UPDATE staff SET failed_logins = $1, locked_until = $2 WHERE tenant_id = $3 AND id = $4";
        self.exec(sqlx::query(sql).bind(failed_attempts).bind(locked_until).bind(tenant_id).bind(staff_id)).await?;
        Ok(())
    }
}

/// The staff columns plus their sorted branch assignment, as one array column.
pub(crate) const STAFF_SELECT: &str = "SELECT s.*, ARRAY(SELECT sb.branch_id FROM staff_branches sb \
                            WHERE sb.staff_id = s.id ORDER BY sb.branch_id) AS branch_ids FROM staff s";

/// A row of [`STAFF_SELECT`]: the staff row with its `branch_ids` array.
fn staff_from(row: &PgRow) -> StoreResult<StaffRecord> {
    StaffRecord::from_row(&Cols(row), get(row, "branch_ids")?)
}
