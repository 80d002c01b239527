//! Pull feed (§5.3) and nudge (§5.4) messages, and the device's view of itself.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One entry of a pull page: an entity's current state, or its tombstone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    /// The scope it belongs to (`menu`, `policy`, `staff`, `branch`, `inventory`,
    /// `cash_sessions`, `attendance`, `sales`).
    pub scope: String,
    /// The entity kind (`menu_item`, `policy`, `staff`, …).
    pub entity: String,
    /// The entity's id.
    pub id: Uuid,
    /// Its position in the branch stream; later changes have larger versions.
    pub version: i64,
    /// True for a tombstone (`data` is then null).
    pub deleted: bool,
    /// The entity's current state.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// Answer of `GET /v1/sync/pull`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullPage {
    /// Changes in branch-stream order.
    pub changes: Vec<Change>,
    /// Opaque; pass it to the next pull.
    pub next_cursor: String,
    /// True when another page is ready now.
    pub has_more: bool,
}

/// The data of an SSE `nudge` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Nudge {
    /// The branch whose stream moved.
    pub branch_id: Uuid,
    /// The stream's new head.
    pub head: i64,
}

/// Answer of `GET /v1/devices/me` for a device token: what a terminal needs to enroll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceSelf {
    /// The device's id (the `device_id` of its pushes).
    pub device_id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The branch it sells for.
    pub branch_id: Uuid,
    /// Display name.
    pub name: String,
    /// Receipt prefix.
    pub code: String,
    /// The highest `device_seq` the server has seen from this device (0 if none): a
    /// terminal enrolled anew continues after it, so sequence numbers and receipt numbers
    /// never repeat across reinstalls.
    #[serde(default)]
    pub last_device_seq: i64,
}

/// Most events in one `POST /v1/devices/me/events`.
pub const DEVICE_EVENTS_MAX: usize = 50;

/// `POST /v1/devices/me/events` (device token): what happened at a till that is no op
/// but that managers should see in the audit trail (a PIN lockout). Each event is
/// recorded once by its `event_id`, so a till may send it again after a lost answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceEvents {
    /// At most [`DEVICE_EVENTS_MAX`].
    pub events: Vec<DeviceEvent>,
}

/// What kind of till event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceEventKind {
    /// Too many wrong PINs for one person: their sign-in at this till is locked.
    PinLocked,
}

/// One till event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceEvent {
    /// The till's id for it (recorded once).
    pub event_id: Uuid,
    /// What happened.
    pub kind: DeviceEventKind,
    /// Whom it concerns.
    pub staff_id: Uuid,
    /// When, by the till's clock.
    #[serde(deserialize_with = "crate::envelope::occurred_at")]
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// Wrong PINs in a row.
    pub failures: i64,
    /// Sign-in for that person refused until then.
    pub locked_until: chrono::DateTime<chrono::Utc>,
}

/// Answer of `POST /v1/devices/me/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceEventsRecorded {
    /// Events recorded now (those sent before are not counted again).
    pub recorded: usize,
    /// Events skipped: about someone the tenant does not know, or with an impossible count.
    #[serde(default)]
    pub skipped: usize,
}
