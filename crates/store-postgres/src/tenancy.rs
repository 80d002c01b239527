//! Tenants, their policy and device counter, bearer tokens, and the server's own secrets. (the PostgreSQL side of [`modula_store::TenancyTx`]).


use async_trait::async_trait;
use modula_store::*;
use modula_wire::Policy;
use uuid::Uuid;

use crate::convert::{store_error, Cols};
use crate::tx::PgTx;

#[async_trait]
impl TenancyTx for PgTx {
    async fn insert_tenant(&mut self, t: &TenantRecord) -> StoreResult<()> {
        let sql = "INSERT INTO tenants (id, name, slug, policy, created_at) VALUES ($1, $2, $3, $4, $5)";
        let q = sqlx::query(sql).bind(t.id).bind(&t.name).bind(&t.slug);
        self.exec(q.bind(to_json(&t.policy)?).bind(t.created_at)).await?;
        Ok(())
    }

    async fn tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>> {
        let row = self.one(sqlx::query("SELECT * FROM tenants WHERE id = $1").bind(tenant_id)).await?;
        row.as_ref().map(|r| TenantRecord::from_row(&Cols(r))).transpose()
    }

    async fn tenant_by_slug(&mut self, slug: &str) -> StoreResult<Option<TenantRecord>> {
        let row = self.one(sqlx::query("SELECT * FROM tenants WHERE slug = $1").bind(slug)).await?;
        row.as_ref().map(|r| TenantRecord::from_row(&Cols(r))).transpose()
    }

    async fn lock_tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>> {
        let sql = "SELECT * FROM tenants WHERE id = $1 FOR NO KEY UPDATE";
        let row = self.one(sqlx::query(sql).bind(tenant_id)).await?;
        row.as_ref().map(|r| TenantRecord::from_row(&Cols(r))).transpose()
    }

    async fn set_tenant_policy(&mut self, tenant_id: Uuid, policy: &Policy) -> StoreResult<()> {
        let sql = "UPDATE tenants SET policy = $1 WHERE id = $2";
        self.exec(sqlx::query(sql).bind(to_json(policy)?).bind(tenant_id)).await?;
        Ok(())
    }

    async fn next_device_number(&mut self, tenant_id: Uuid) -> StoreResult<i64> {
        let sql = "UPDATE tenants SET device_counter = device_counter + 1 WHERE id = $1 RETURNING device_counter";
        sqlx::query_scalar(sql).bind(tenant_id).fetch_one(&mut *self.tx).await.map_err(store_error)
    }

    async fn insert_token(&mut self, t: &TokenRecord) -> StoreResult<()> {
        let (kind, subject_id) = match t.subject {
            TokenSubject::Staff(id) => ("staff", id),
            TokenSubject::Device(id) => ("device", id),
        };
        let sql = "INSERT INTO tokens (token_hash, tenant_id, kind, subject_id, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5, $6)";
        let q = sqlx::query(sql).bind(&t.token_hash).bind(t.tenant_id).bind(kind).bind(subject_id);
        self.exec(q.bind(t.created_at).bind(t.expires_at)).await?;
        Ok(())
    }

    async fn token(&mut self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        let row = self.one(sqlx::query("SELECT * FROM tokens WHERE token_hash = $1").bind(token_hash)).await?;
        row.as_ref().map(|r| TokenRecord::from_row(&Cols(r))).transpose()
    }

    async fn delete_token(&mut self, token_hash: &str) -> StoreResult<bool> {
        Ok(self.exec(sqlx::query("DELETE FROM tokens WHERE token_hash = $1").bind(token_hash)).await? > 0)
    }

    async fn delete_staff_tokens(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<u64> {
        let sql = "DELETE FROM tokens WHERE tenant_id = $1 AND kind = 'staff' AND subject_id = $2";
        self.exec(sqlx::query(sql).bind(tenant_id).bind(staff_id)).await
    }

    async fn purge_expired_tokens(&mut self, now: Timestamp) -> StoreResult<u64> {
        self.exec(sqlx::query("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at < $1").bind(now)).await
    }

    async fn lock_login_address(&mut self, address: &str) -> StoreResult<AddressThrottle> {
        // The row is made first, so that concurrent attempts from a new address queue on it.
        let sql = "INSERT INTO login_addresses (address, failures, locked_until, updated_at) VALUES ($1, 0, NULL, now()) \
                   ON CONFLICT (address) DO NOTHING";
        self.exec(sqlx::query(sql).bind(address)).await?;
        let row = self.one(sqlx::query("SELECT * FROM login_addresses WHERE address = $1 FOR UPDATE").bind(address)).await?;
        let row = row.ok_or_else(|| StoreError::Internal(format!("login address {address} vanished")))?;
        AddressThrottle::from_row(&Cols(&row))
    }

    async fn set_login_address(&mut self, t: &AddressThrottle) -> StoreResult<()> {
        let sql = "INSERT INTO login_addresses (address, failures, locked_until, updated_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (address) DO UPDATE SET failures = EXCLUDED.failures, locked_until = EXCLUDED.locked_until, \
                   updated_at = EXCLUDED.updated_at";
        self.exec(sqlx::query(sql).bind(&t.address).bind(t.failures).bind(t.locked_until).bind(t.updated_at)).await?;
        Ok(())
    }

    async fn purge_login_addresses(&mut self, before: Timestamp) -> StoreResult<u64> {
        let sql = "DELETE FROM login_addresses WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until < $1)";
        self.exec(sqlx::query(sql).bind(before)).await
    }

    async fn server_secret(&mut self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        let insert = "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
        self.exec(sqlx::query(insert).bind(name).bind(candidate)).await?;
        // READ COMMITTED: this statement sees the winner even if another process inserted
        // it concurrently (our INSERT waited for that process's commit).
        let select = "SELECT value FROM server_secrets WHERE name = $1";
        sqlx::query_scalar(select).bind(name).fetch_one(&mut *self.tx).await.map_err(store_error)
    }
}


