//! Work shifts (attendance).

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

/// Attendance: the part of [`Tx`] for work shifts.
#[async_trait]
pub trait AttendanceTx: Send {
    /// Whether a shift id is taken, in any tenant (ids are globally unique).
    async fn shift_exists(&mut self, id: Uuid) -> StoreResult<bool>;

    /// One shift of the tenant.
    async fn shift(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<ShiftRecord>>;

    /// The staff member's open shift, if any.
    async fn open_shift_of_staff(&mut self, staff_id: Uuid) -> StoreResult<Option<ShiftRecord>>;

    /// Inserts a shift.
    async fn insert_shift(&mut self, s: &ShiftRecord) -> StoreResult<()>;

    /// Replaces a shift's status and end.
    async fn update_shift(&mut self, s: &ShiftRecord) -> StoreResult<()>;

    /// Shifts of a branch, newest first, at most `limit`.
    async fn list_shifts(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<ShiftRecord>>;
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

impl ShiftRecord {
    /// Decodes a `shifts` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(ShiftRecord {
            id: row.uuid("id")?,
            tenant_id: row.uuid("tenant_id")?,
            branch_id: row.uuid("branch_id")?,
            staff_id: row.uuid("staff_id")?,
            open: row.flag("open")?,
            started_at: row.instant("started_at")?,
            ended_at: row.opt_instant("ended_at")?,
        })
    }
}
