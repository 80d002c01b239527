//! Tenants, their policy and device counter, bearer tokens, and the server's own secrets. (the SQLite side of [`modula_store::TenancyTx`]).

use async_trait::async_trait;
use modula_store::*;
use modula_wire::Policy;
use uuid::Uuid;

use crate::convert::{store_error, ts, ts_opt, Cols};
use crate::tx::SqliteTx;

#[async_trait]
impl TenancyTx for SqliteTx {
    async fn insert_tenant(&mut self, t: &TenantRecord) -> StoreResult<()> {
        self.require_write("insert_tenant")?;
        sqlx::query("INSERT INTO tenants (id, name, slug, policy, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(t.id)
            .bind(&t.name)
            .bind(&t.slug)
            .bind(to_json(&t.policy)?)
            .bind(ts(t.created_at))
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>> {
        let row = sqlx::query("SELECT * FROM tenants WHERE id = ?")
            .bind(tenant_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| TenantRecord::from_row(&Cols(r))).transpose()
    }

    async fn tenant_by_slug(&mut self, slug: &str) -> StoreResult<Option<TenantRecord>> {
        let row = sqlx::query("SELECT * FROM tenants WHERE slug = ?")
            .bind(slug)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| TenantRecord::from_row(&Cols(r))).transpose()
    }

    async fn lock_tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>> {
        // BEGIN IMMEDIATE already holds SQLite's single write lock.
        self.require_write("lock_tenant")?;
        self.tenant(tenant_id).await
    }

    async fn set_tenant_policy(&mut self, tenant_id: Uuid, policy: &Policy) -> StoreResult<()> {
        self.require_write("set_tenant_policy")?;
        sqlx::query("UPDATE tenants SET policy = ? WHERE id = ?")
            .bind(to_json(policy)?)
            .bind(tenant_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn next_device_number(&mut self, tenant_id: Uuid) -> StoreResult<i64> {
        self.require_write("next_device_number")?;
        sqlx::query_scalar("UPDATE tenants SET device_counter = device_counter + 1 WHERE id = ? RETURNING device_counter")
            .bind(tenant_id)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(store_error)
    }

    async fn insert_token(&mut self, t: &TokenRecord) -> StoreResult<()> {
        self.require_write("insert_token")?;
        let (kind, subject_id) = match t.subject {
            TokenSubject::Staff(id) => ("staff", id),
            TokenSubject::Device(id) => ("device", id),
        };
        sqlx::query(
            "INSERT INTO tokens (token_hash, tenant_id, kind, subject_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.token_hash)
        .bind(t.tenant_id)
        .bind(kind)
        .bind(subject_id)
        .bind(ts(t.created_at))
        .bind(ts_opt(t.expires_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn token(&mut self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        let Some(row) = sqlx::query("SELECT * FROM tokens WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        TokenRecord::from_row(&Cols(&row)).map(Some)
    }

    async fn delete_token(&mut self, token_hash: &str) -> StoreResult<bool> {
        self.require_write("delete_token")?;
        let done = sqlx::query("DELETE FROM tokens WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_staff_tokens(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<u64> {
        self.require_write("delete_staff_tokens")?;
        let done = sqlx::query("DELETE FROM tokens WHERE tenant_id = ? AND kind = 'staff' AND subject_id = ?")
            .bind(tenant_id)
            .bind(staff_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired_tokens(&mut self, now: Timestamp) -> StoreResult<u64> {
        self.require_write("purge_expired_tokens")?;
        let done = sqlx::query("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at < ?")
            .bind(ts(now))
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn lock_login_address(&mut self, address: &str) -> StoreResult<AddressThrottle> {
        // BEGIN IMMEDIATE already holds SQLite's single write lock.
        self.require_write("lock_login_address")?;
        let row = sqlx::query("SELECT * FROM login_addresses WHERE address = ?")
            .bind(address)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        match row {
            Some(r) => AddressThrottle::from_row(&Cols(&r)),
            None => Ok(AddressThrottle { address: address.into(), failures: 0, locked_until: None, updated_at: chrono::Utc::now() }),
        }
    }

    async fn set_login_address(&mut self, t: &AddressThrottle) -> StoreResult<()> {
        self.require_write("set_login_address")?;
        sqlx::query(
            "INSERT INTO login_addresses (address, failures, locked_until, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (address) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, \
             updated_at = excluded.updated_at",
        )
        .bind(&t.address)
        .bind(t.failures)
        .bind(ts_opt(t.locked_until))
        .bind(ts(t.updated_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn purge_login_addresses(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.require_write("purge_login_addresses")?;
        let done = sqlx::query(
            "DELETE FROM login_addresses WHERE updated_at < ? AND (locked_until IS NULL OR locked_until < ?)",
        )
        .bind(ts(before))
        .bind(ts(before))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn server_secret(&mut self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        self.require_write("server_secret")?;
        sqlx::query("INSERT OR IGNORE INTO server_secrets (name, value) VALUES (?, ?)")
            .bind(name)
            .bind(candidate)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(store_error)
    }
}

