//! Enrolled devices, their row lock, and the sync bookkeeping of the `device_seq`s they sent.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

/// Devices: the part of [`Tx`] for device rows, their lock and their sync bookkeeping.
#[async_trait]
pub trait DeviceTx: Send {
    /// Inserts a device.
    async fn insert_device(&mut self, device: &DeviceRecord) -> StoreResult<()>;

    /// One device of the tenant.
    async fn device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>>;

    /// Every device of a branch.
    async fn list_devices(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceRecord>>;

    /// Marks a device revoked (idempotent).
    async fn revoke_device(&mut self, tenant_id: Uuid, device_id: Uuid, at: Timestamp) -> StoreResult<()>;

    /// Locks the device row for the rest of the transaction (serializes one device's
    /// pushes across processes) and returns it.
    async fn lock_device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>>;

    /// Notes that the device was heard at `at` (a pull, an event stream), unless it was
    /// already noted at `not_before` or later: a write at most that often per device.
    async fn note_device_seen(&mut self, device_id: Uuid, at: Timestamp, not_before: Timestamp) -> StoreResult<()>;

    /// Notes that the device sent these `device_seq`s, last at `at`.
    async fn note_device_seqs(&mut self, device_id: Uuid, device_seqs: &[i64], at: Timestamp) -> StoreResult<()>;

    /// Sync bookkeeping of every device of a branch.
    async fn device_sync_info(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceSyncInfo>>;
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
    /// When last heard from (a push, a pull, an event stream); read back only, never
    /// written by `insert_device`.
    pub last_seen_at: Option<Timestamp>,
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

impl DeviceRecord {
    /// Decodes a `devices` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(DeviceRecord {
            id: row.uuid("id")?,
            tenant_id: row.uuid("tenant_id")?,
            branch_id: row.uuid("branch_id")?,
            name: row.text("name")?,
            code: row.text("code")?,
            created_at: row.instant("created_at")?,
            revoked_at: row.opt_instant("revoked_at")?,
            last_seen_at: row.opt_instant("last_seen_at")?,
        })
    }
}
