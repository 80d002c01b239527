//! Branches: status, policy override, the branch row lock, and `admin_version`. (the SQLite side of [`modula_store::BranchTx`]).

use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::{store_error, ts, Cols};
use crate::tx::SqliteTx;

#[async_trait]
impl BranchTx for SqliteTx {
    async fn insert_branch(&mut self, b: &BranchRecord) -> StoreResult<()> {
        self.require_write("insert_branch")?;
        sqlx::query(
            "INSERT INTO branches (id, tenant_id, name, status, policy_override, created_at, address, timezone) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(b.id)
        .bind(b.tenant_id)
        .bind(&b.name)
        .bind(b.status.as_str())
        .bind(to_json(&b.policy_override)?)
        .bind(ts(b.created_at))
        .bind(&b.address)
        .bind(&b.timezone)
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>> {
        let row = sqlx::query("SELECT * FROM branches WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(branch_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| BranchRecord::from_row(&Cols(r))).transpose()
    }

    async fn lock_branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>> {
        // BEGIN IMMEDIATE already holds SQLite's single write lock.
        self.require_write("lock_branch")?;
        self.branch(tenant_id, branch_id).await
    }

    async fn list_branches(&mut self, tenant_id: Uuid) -> StoreResult<Vec<BranchRecord>> {
        let rows = sqlx::query("SELECT * FROM branches WHERE tenant_id = ? ORDER BY name, id")
            .bind(tenant_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| BranchRecord::from_row(&Cols(r))).collect()
    }

    async fn update_branch(&mut self, b: &BranchRecord) -> StoreResult<()> {
        self.require_write("update_branch")?;
        sqlx::query(
            "UPDATE branches SET name = ?, status = ?, policy_override = ?, address = ?, timezone = ? \
             WHERE tenant_id = ? AND id = ?",
        )
            .bind(&b.name)
            .bind(b.status.as_str())
            .bind(to_json(&b.policy_override)?)
            .bind(&b.address)
            .bind(&b.timezone)
            .bind(b.tenant_id)
            .bind(b.id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn note_admin_change(&mut self, branch_id: Uuid) -> StoreResult<()> {
        self.require_write("note_admin_change")?;
        sqlx::query("UPDATE branches SET admin_version = admin_version + 1 WHERE id = ?")
            .bind(branch_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

