//! Plain records as stored. Backends map them to and from rows.

use modula_wire::admin::RecipeLine;
use modula_wire::{BranchStatus, Policy, PolicyPatch, Role};
use uuid::Uuid;

/// A UTC instant as stored.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A tenant (one café business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
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
    /// Argon2id PHC string of the PIN.
    pub pin_hash: String,
    /// Whether they may act.
    pub active: bool,
    /// Assigned branches, sorted.
    pub branch_ids: Vec<Uuid>,
    /// Consecutive wrong PINs.
    pub failed_pin_attempts: i64,
    /// Sign-in refused until then.
    pub locked_until: Option<Timestamp>,
    /// Last change.
    pub updated_at: Timestamp,
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
    /// Fields overriding the tenant policy.
    pub policy_override: PolicyPatch,
    /// When it was created.
    pub created_at: Timestamp,
}

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// The branch it sells for.
    pub branch_id: Uuid,
    /// Display name.
    pub name: String,
    /// Receipt prefix, unique in the tenant.
    pub code: String,
    /// When enrolled.
    pub created_at: Timestamp,
    /// When revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// A stock item (tenant-wide; on-hand is per branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockItemRecord {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Display name.
    pub name: String,
    /// Unit.
    pub unit: String,
}

/// A menu item (tenant-wide). Deleted items stay as tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuItemRecord {
    /// Id (chosen by the client on PUT).
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Display name.
    pub name: String,
    /// Price.
    pub price_cents: i64,
    /// Category.
    pub category: String,
    /// Whether it can be sold.
    pub active: bool,
    /// Stock used per unit sold.
    pub recipe: Vec<RecipeLine>,
    /// Tombstone flag.
    pub deleted: bool,
    /// Last change.
    pub updated_at: Timestamp,
}
