//! Pull feed (§5.3) and nudge (§5.4) messages, and the device's view of itself.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One entry of a pull page: an entity's current state, or its tombstone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullPage {
    /// Changes in branch-stream order.
    pub changes: Vec<Change>,
    /// Opaque; pass it to the next pull.
    pub next_cursor: String,
    /// True when another page is ready now.
    pub has_more: bool,
}

/// The data of an SSE `nudge` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nudge {
    /// The branch whose stream moved.
    pub branch_id: Uuid,
    /// The stream's new head.
    pub head: i64,
}

/// Answer of `GET /v1/devices/me` for a device token: what a terminal needs to enroll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
