//! Staff members, their branch assignments, server credentials and sign-in lockout.

use async_trait::async_trait;
use modula_wire::Role;
use uuid::Uuid;

use crate::*;

/// Staff members: the part of [`Tx`] for people and their sign-in lockout.
#[async_trait]
pub trait StaffTx: Send {
    /// Inserts a staff member with their branch assignment. A login another staff member
    /// of the tenant has is a [`StoreError::Conflict`].
    async fn insert_staff(&mut self, staff: &StaffRecord) -> StoreResult<()>;

    /// One staff member of the tenant.
    async fn staff(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<Option<StaffRecord>>;

    /// One staff member of the tenant, locked for the rest of the transaction against
    /// other writers that lock it (a sign-in attempt: check the lock, count the attempt,
    /// judge the credential, one attempt at a time).
    async fn lock_staff(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<Option<StaffRecord>>;

    /// The staff member of the tenant with this (normalized) login, locked as
    /// [`StaffTx::lock_staff`] locks.
    async fn lock_staff_by_login(&mut self, tenant_id: Uuid, login: &str) -> StoreResult<Option<StaffRecord>>;

    /// Every staff member of the tenant, by name.
    async fn list_staff(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StaffRecord>>;

    /// Replaces a staff member's mutable fields and branch assignment. A login another
    /// staff member of the tenant has is a [`StoreError::Conflict`].
    async fn update_staff(&mut self, staff: &StaffRecord) -> StoreResult<()>;

    /// Records the outcome of a password check: the failure counter and lockout.
    async fn set_login_lockout(&mut self, tenant_id: Uuid, staff_id: Uuid, failed_attempts: i64, locked_until: Option<Timestamp>) -> StoreResult<()>;
}

/// A staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRecord {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Argon2id PHC string of the PIN (the till's credential).
    pub pin_hash: String,
    /// Server sign-in name, normalized (managers and owners only; unique in the tenant).
    pub login: Option<String>,
    /// Argon2id PHC string of the server password (managers and owners only).
    pub password_hash: Option<String>,
    /// Whether they may act.
    pub active: bool,
    /// Assigned branches, sorted.
    pub branch_ids: Vec<Uuid>,
    /// Consecutive failed server sign-ins (counted before each is judged).
    pub failed_logins: i64,
    /// Sign-in refused until then.
    pub locked_until: Option<Timestamp>,
    /// Last change.
    pub updated_at: Timestamp,
}

impl StaffRecord {
    /// Decodes a `staff` row; its branch assignment comes from `staff_branches`.
    pub fn from_row(row: &impl Columns, branch_ids: Vec<Uuid>) -> StoreResult<Self> {
        let role = row.text("role")?;
        Ok(StaffRecord {
            id: row.uuid("id")?,
            tenant_id: row.uuid("tenant_id")?,
            name: row.text("name")?,
            role: Role::parse(&role).ok_or_else(|| StoreError::Internal(format!("stored role {role:?} is unknown")))?,
            pin_hash: row.text("pin_hash")?,
            login: row.opt_text("login")?,
            password_hash: row.opt_text("password_hash")?,
            active: row.flag("active")?,
            branch_ids,
            failed_logins: row.int("failed_logins")?,
            locked_until: row.opt_instant("locked_until")?,
            updated_at: row.instant("updated_at")?,
        })
    }
}
