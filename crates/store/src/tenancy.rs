//! Tenants, their policy and device counter, bearer tokens, and the server's own secrets.

use async_trait::async_trait;
use modula_wire::Policy;
use uuid::Uuid;

use crate::*;

/// Tenants, tokens and server secrets: the part of [`Tx`] that answers who is who.
#[async_trait]
pub trait TenancyTx: Send {
    /// Inserts a tenant with its policy.
    async fn insert_tenant(&mut self, tenant: &TenantRecord) -> StoreResult<()>;

    /// The tenant, if it exists.
    async fn tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>>;

    /// The tenant with this slug, if any.
    async fn tenant_by_slug(&mut self, slug: &str) -> StoreResult<Option<TenantRecord>>;

    /// The tenant, locked for the rest of the transaction against other writers that lock
    /// it (tenant-wide read-decide-write, e.g. "is there another owner?").
    async fn lock_tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>>;

    /// Replaces the tenant-wide policy.
    async fn set_tenant_policy(&mut self, tenant_id: Uuid, policy: &modula_wire::Policy) -> StoreResult<()>;

    /// Increments and returns the tenant's device counter (for device codes).
    async fn next_device_number(&mut self, tenant_id: Uuid) -> StoreResult<i64>;

    /// Stores a token (by hash only).
    async fn insert_token(&mut self, token: &TokenRecord) -> StoreResult<()>;

    /// Looks a token up by its hash.
    async fn token(&mut self, token_hash: &str) -> StoreResult<Option<TokenRecord>>;

    /// Deletes the token with this hash (a logout); whether there was one.
    async fn delete_token(&mut self, token_hash: &str) -> StoreResult<bool>;

    /// Deletes every token of a staff member of the tenant (their sign-ins end at once);
    /// how many there were.
    async fn delete_staff_tokens(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<u64>;

    /// Deletes the tokens that expired before `now`, of every tenant; how many.
    async fn purge_expired_tokens(&mut self, now: Timestamp) -> StoreResult<u64>;

    /// The sign-in throttle of a client address, locked for the rest of the transaction
    /// (a row with no failures when the address has none yet).
    async fn lock_login_address(&mut self, address: &str) -> StoreResult<AddressThrottle>;

    /// Stores an address's sign-in throttle.
    async fn set_login_address(&mut self, throttle: &AddressThrottle) -> StoreResult<()>;

    /// Deletes the throttles of addresses with no failure since `before` and no lock
    /// after it; how many.
    async fn purge_login_addresses(&mut self, before: Timestamp) -> StoreResult<u64>;

    /// The secret named `name`, storing `candidate` first if there is none yet (the first
    /// process to ask wins; every process then uses the same value).
    async fn server_secret(&mut self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>>;
}

/// A tenant (one café business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// What people type to name the shop at sign-in: unique, lowercase letters, digits
    /// and hyphens.
    pub slug: String,
    /// The tenant-wide policy.
    pub policy: Policy,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Who a bearer token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSubject {
    /// A staff member (rights follow their current role).
    Staff(Uuid),
    /// An enrolled device (rights follow its branch, until revoked).
    Device(Uuid),
}

/// The sign-in throttle of one client address (all accounts, all tenants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressThrottle {
    /// The address (an IPv4 address, or an IPv6 /64 prefix), as text.
    pub address: String,
    /// Failed sign-ins in a row from it.
    pub failures: i64,
    /// Locked until then, if locked.
    pub locked_until: Option<Timestamp>,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl AddressThrottle {
    /// Decodes a `login_addresses` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(AddressThrottle {
            address: row.text("address")?,
            failures: row.int("failures")?,
            locked_until: row.opt_instant("locked_until")?,
            updated_at: row.instant("updated_at")?,
        })
    }
}

/// A bearer token, stored only by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Lowercase hex SHA-256 of the token.
    pub token_hash: String,
    /// The tenant the token belongs to.
    pub tenant_id: Uuid,
    /// Who it speaks for.
    pub subject: TokenSubject,
    /// When it was issued.
    pub created_at: Timestamp,
    /// Staff tokens expire; device tokens live until revoked.
    pub expires_at: Option<Timestamp>,
}

impl TenantRecord {
    /// Decodes a `tenants` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(TenantRecord {
            id: row.uuid("id")?,
            name: row.text("name")?,
            slug: row.text("slug")?,
            policy: from_json("tenants.policy", &row.text("policy")?)?,
            created_at: row.instant("created_at")?,
        })
    }
}

impl TokenRecord {
    /// Decodes a `tokens` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        let subject_id = row.uuid("subject_id")?;
        let subject = match row.text("kind")?.as_str() {
            "staff" => TokenSubject::Staff(subject_id),
            "device" => TokenSubject::Device(subject_id),
            other => return Err(StoreError::Internal(format!("stored token kind {other:?} is unknown"))),
        };
        Ok(TokenRecord {
            token_hash: row.text("token_hash")?,
            tenant_id: row.uuid("tenant_id")?,
            subject,
            created_at: row.instant("created_at")?,
            expires_at: row.opt_instant("expires_at")?,
        })
    }
}
