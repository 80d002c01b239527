//! Branches: status, policy override, the row lock that orders a branch's writers, and `admin_version`.

use async_trait::async_trait;
use modula_wire::{BranchStatus, PolicyPatch};
use uuid::Uuid;

use crate::*;

/// Branches: the part of [`Tx`] for branch rows and their lock.
#[async_trait]
pub trait BranchTx: Send {
    /// Inserts a branch.
    async fn insert_branch(&mut self, branch: &BranchRecord) -> StoreResult<()>;

    /// One branch of the tenant.
    async fn branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>>;

    /// One branch of the tenant, locked for the rest of the transaction: ops of one branch
    /// then decide on its status, policy and stock one transaction at a time.
    async fn lock_branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>>;

    /// Every branch of the tenant, by name.
    async fn list_branches(&mut self, tenant_id: Uuid) -> StoreResult<Vec<BranchRecord>>;

    /// Replaces a branch's name, address, time zone, status and policy override.
    async fn update_branch(&mut self, branch: &BranchRecord) -> StoreResult<()>;

    /// Moves the branch's [`BranchRecord::admin_version`]: the admin API wrote to its
    /// stream. (Takes the branch row lock, as the head move does.)
    async fn note_admin_change(&mut self, branch_id: Uuid) -> StoreResult<()>;
}

/// A branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchRecord {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Display name.
    pub name: String,
    /// Active or frozen.
    pub status: BranchStatus,
    /// Street address, printed on receipts (`""`: none).
    pub address: String,
    /// IANA time zone that decides the branch's day in reports.
    pub timezone: String,
    /// Fields overriding the tenant policy.
    pub policy_override: PolicyPatch,
    /// When it was created.
    pub created_at: Timestamp,
    /// Moves with every admin write to this branch's change stream
    /// ([`crate::BranchTx::note_admin_change`]): every input of an op's decisions that the admin
    /// API changes (status, policy, staff, menu) reaches the branch's terminals through
    /// that stream, so an unchanged version means unchanged inputs. 0 for a new record.
    pub admin_version: i64,
}

impl BranchRecord {
    /// Decodes a `branches` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        let status = row.text("status")?;
        Ok(BranchRecord {
            id: row.uuid("id")?,
            tenant_id: row.uuid("tenant_id")?,
            name: row.text("name")?,
            address: row.text("address")?,
            timezone: row.text("timezone")?,
            status: BranchStatus::parse(&status)
                .ok_or_else(|| StoreError::Internal(format!("stored branch status {status:?} is unknown")))?,
            policy_override: from_json("branches.policy_override", &row.text("policy_override")?)?,
            created_at: row.instant("created_at")?,
            admin_version: row.int("admin_version")?,
        })
    }
}
