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
    /// Moves with every admin write to this branch's change stream
    /// ([`crate::Tx::note_admin_change`]): every input of an op's decisions that the admin
    /// API changes (status, policy, staff, menu) reaches the branch's terminals through
    /// that stream, so an unchanged version means unchanged inputs. 0 for a new record.
    pub admin_version: i64,
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

/// Which lane an op came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The direct online endpoints.
    Online,
    /// Push replay.
    Offline,
}

impl Lane {
    /// `online` or `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Online => "online",
            Lane::Offline => "offline",
        }
    }
}

/// The stored outcome of an op.
#[derive(Debug, Clone, PartialEq)]
pub enum OpOutcome {
    /// Applied, with its result.
    Applied(modula_wire::JsonText),
    /// Refused, with the code and message.
    Rejected {
        /// Why.
        code: modula_wire::ErrorCode,
        /// For people.
        message: String,
        /// The field to blame, for `VALIDATION_FAILED`.
        field: Option<String>,
    },
}

/// One op as recorded in the op log (both lanes share the key space).
#[derive(Debug, Clone, PartialEq)]
pub struct OpRecord {
    /// Tenant.
    pub tenant_id: Uuid,
    /// The idempotency key.
    pub client_op_id: Uuid,
    /// Branch named by the op.
    pub branch_id: Uuid,
    /// Device that sent it (offline lane, or online from a device).
    pub device_id: Option<Uuid>,
    /// Actor named by the op.
    pub actor_id: Uuid,
    /// Type as sent.
    pub op_type: String,
    /// The server's recomputed hash.
    pub payload_hash: String,
    /// Device counter, when sent by a device.
    pub device_seq: Option<i64>,
    /// Lane.
    pub lane: Lane,
    /// What happened.
    pub outcome: OpOutcome,
    /// When it happened on the device.
    pub occurred_at: Timestamp,
    /// When the server recorded it.
    pub recorded_at: Timestamp,
    /// The audit event of an applied op, stored in the op's own row (the op log is the
    /// audit trail of ops; `Tx::list_audit` reads it back as an [`AuditRecord`] with
    /// `applied_at = recorded_at`). Written, never read back by op lookups (`None` there).
    pub audit: Option<OpAudit>,
}

/// What an applied op's audit event adds to its op record.
#[derive(Debug, Clone, PartialEq)]
pub struct OpAudit {
    /// `sale`, `cashSession`, `attendance`, …
    pub module: String,
    /// `finalize`, `open`, …
    pub action: String,
    /// Anything else (drift, negative stock, …).
    pub details: modula_wire::JsonText,
}

/// A cash drawer session of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashSessionRecord {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Branch.
    pub branch_id: Uuid,
    /// Device whose drawer it is.
    pub device_id: Uuid,
    /// Who opened it.
    pub opened_by: Uuid,
    /// Open or closed.
    pub open: bool,
    /// Float at opening.
    pub opening_float_cents: i64,
    /// Σ totals of cash sales.
    pub cash_sales_cents: i64,
    /// Σ paid-ins.
    pub paid_in_cents: i64,
    /// Σ paid-outs.
    pub paid_out_cents: i64,
    /// Σ adjustments (signed).
    pub adjustments_cents: i64,
    /// Counted at close.
    pub counted_cash_cents: Option<i64>,
    /// When opened.
    pub opened_at: Timestamp,
    /// When closed.
    pub closed_at: Option<Timestamp>,
}

/// One movement of a cash session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashMovementRecord {
    /// Id.
    pub id: Uuid,
    /// Session.
    pub cash_session_id: Uuid,
    /// `paid_in`, `paid_out` or `adjustment`.
    pub kind: String,
    /// Amount (signed for adjustments).
    pub amount_cents: i64,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor_id: Uuid,
    /// When.
    pub occurred_at: Timestamp,
}

/// A finalized cash sale.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleRecord {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Branch.
    pub branch_id: Uuid,
    /// Device.
    pub device_id: Uuid,
    /// Session.
    pub cash_session_id: Uuid,
    /// The op that made it.
    pub client_op_id: Uuid,
    /// Printed receipt number.
    pub receipt_no: String,
    /// Cashier.
    pub actor_id: Uuid,
    /// Charged total.
    pub total_cents: i64,
    /// Current menu total − charged total.
    pub price_drift_cents: i64,
    /// Lines, tender, totals, change, items no longer on the menu.
    pub details: modula_wire::JsonText,
    /// When sold.
    pub occurred_at: Timestamp,
    /// When applied.
    pub applied_at: Timestamp,
}

/// A work shift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftRecord {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Branch.
    pub branch_id: Uuid,
    /// Whose.
    pub staff_id: Uuid,
    /// Still open.
    pub open: bool,
    /// Start.
    pub started_at: Timestamp,
    /// End.
    pub ended_at: Option<Timestamp>,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Tenant.
    pub tenant_id: Uuid,
    /// Branch, when branch-scoped.
    pub branch_id: Option<Uuid>,
    /// `sale`, `cashSession`, `attendance`, …
    pub module: String,
    /// `finalize`, `open`, …
    pub action: String,
    /// Who.
    pub actor_id: Option<Uuid>,
    /// Which device.
    pub device_id: Option<Uuid>,
    /// Which op.
    pub client_op_id: Option<Uuid>,
    /// Lane.
    pub lane: Lane,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// When the server applied it.
    pub applied_at: Timestamp,
    /// Anything else (drift, negative stock, …).
    pub details: modula_wire::JsonText,
}

/// A device's sync bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSyncInfo {
    /// The device.
    pub device: DeviceRecord,
    /// Last push.
    pub last_seen_at: Option<Timestamp>,
    /// Highest `device_seq` seen.
    pub last_device_seq: i64,
    /// Missing `device_seq` ranges below the highest, inclusive.
    pub gaps: Vec<(i64, i64)>,
}

/// One change for the branch change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    /// Stream.
    pub branch_id: Uuid,
    /// `menu`, `sales`, `cash_sessions`, …
    pub scope: &'static str,
    /// Entity type name.
    pub entity: &'static str,
    /// Entity id.
    pub entity_id: Uuid,
    /// Tombstone.
    pub deleted: bool,
    /// Current state (None for a tombstone).
    pub data: Option<modula_wire::JsonText>,
    /// The entity has never been in the stream (a new sale): a store may insert the row
    /// without looking for an older version to replace. A wrong `true` makes the write
    /// fail (a unique key), never duplicates an entity.
    pub new_entity: bool,
}

/// A change as stored in a branch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    /// Position in the branch stream.
    pub seq: i64,
    /// Scope.
    pub scope: String,
    /// Entity type.
    pub entity: String,
    /// Entity id.
    pub entity_id: Uuid,
    /// Tombstone.
    pub deleted: bool,
    /// The entity's JSON text (None for a tombstone).
    pub data: Option<String>,
}

/// Where a branch stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPosition {
    /// The position of the latest change.
    pub head: i64,
    /// Tombstones at or below this position were purged: older cursors must reset.
    pub purged_seq: i64,
}

/// A nudge: a branch stream moved to `head` (sent after commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchHead {
    /// The branch.
    pub branch_id: Uuid,
    /// Its stream's new head.
    pub head: i64,
}
