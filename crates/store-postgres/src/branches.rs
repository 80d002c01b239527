//! Branches: status, policy override, the branch row lock, and `admin_version`. (the PostgreSQL side of [`modula_store::BranchTx`]).


use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::Cols;
use crate::tx::PgTx;

#[async_trait]
impl BranchTx for PgTx {
    async fn insert_branch(&mut self, b: &BranchRecord) -> StoreResult<()> {
        let sql = "INSERT INTO branches (id, tenant_id, name, status, policy_override, created_at, address, timezone) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        let q = sqlx::query(sql).bind(b.id).bind(b.tenant_id).bind(&b.name).bind(b.status.as_str());
        let q = q.bind(to_json(&b.policy_override)?).bind(b.created_at).bind(&b.address).bind(&b.timezone);
        self.exec(q).await?;
        Ok(())
    }

    async fn branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>> {
        let sql = "SELECT * FROM branches WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(branch_id)).await?;
        row.as_ref().map(|r| BranchRecord::from_row(&Cols(r))).transpose()
    }

    async fn lock_branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>> {
        // The same lock the head UPDATE of `record_changes` takes, taken early: writers
        // that lock it first decide on its status and policy one transaction at a time,
        // and a push that decided before taking it compares the row it gets.
        let sql = "SELECT * FROM branches WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(branch_id)).await?;
        row.as_ref().map(|r| BranchRecord::from_row(&Cols(r))).transpose()
    }

    async fn list_branches(&mut self, tenant_id: Uuid) -> StoreResult<Vec<BranchRecord>> {
        let sql = "SELECT * FROM branches WHERE tenant_id = $1 ORDER BY name, id";
        let rows = self.all(sqlx::query(sql).bind(tenant_id)).await?;
        rows.iter().map(|r| BranchRecord::from_row(&Cols(r))).collect()
    }

    async fn update_branch(&mut self, b: &BranchRecord) -> StoreResult<()> {
        let sql = "UPDATE branches SET name = $1, status = $2, policy_override = $3, address = $4, timezone = $5 \
                   WHERE tenant_id = $6 AND id = $7";
        let q = sqlx::query(sql).bind(&b.name).bind(b.status.as_str()).bind(to_json(&b.policy_override)?);
        self.exec(q.bind(&b.address).bind(&b.timezone).bind(b.tenant_id).bind(b.id)).await?;
        Ok(())
    }

    async fn note_admin_change(&mut self, branch_id: Uuid) -> StoreResult<()> {
        let sql = "UPDATE branches SET admin_version = admin_version + 1 WHERE id = $1";
        self.exec(sqlx::query(sql).bind(branch_id)).await?;
        Ok(())
    }
}

