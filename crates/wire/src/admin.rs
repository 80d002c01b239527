//! Request and answer bodies of the admin, auth and bootstrap endpoints (§5.5, §5.6).

#[allow(unused_imports)]
use serde_json::json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{BranchStatus, Role};

/// Output of `modula admin init --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InitOutput {
    /// The new tenant.
    pub tenant_id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// An owner bearer token.
    pub token: String,
    /// The shop's slug (what people type to name it at sign-in).
    pub slug: String,
}

/// `POST /v1/auth/login`: a manager's or owner's server sign-in (never a PIN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"tenant": "riverside-cafe", "login": "sokha", "password": "correct horse battery"}))]
pub struct LoginRequest {
    /// The shop: its slug (what people type) or its id.
    pub tenant: String,
    /// The person's login (compared normalized: trimmed, lowercase).
    pub login: String,
    /// At least 10 characters.
    pub password: String,
}

/// Answer of `POST /v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// A bearer token for this staff member.
    pub token: String,
    /// Who signed in.
    pub staff_id: Uuid,
    /// Their role now.
    pub role: Role,
    /// Their tenant.
    pub tenant_id: Uuid,
    /// When the token stops working (RFC 3339, UTC).
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// `POST /v1/branches`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "Riverside", "address": "12 Sisowath Quay, Phnom Penh", "timezone": "Asia/Phnom_Penh"}))]
pub struct CreateBranch {
    /// Display name.
    pub name: String,
    /// Street address, printed on receipts (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// IANA time zone that decides what "a day" is in reports (absent:
    /// [`DEFAULT_TIMEZONE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl CreateBranch {
    /// A branch of this name, with no address, in the default time zone.
    pub fn named(name: impl Into<String>) -> Self {
        CreateBranch { name: name.into(), address: None, timezone: None }
    }
}

/// The time zone of a branch that names none (SPEC §3).
pub const DEFAULT_TIMEZONE: &str = "Asia/Phnom_Penh";

/// `PATCH /v1/branches/{id}`: the fields to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateBranch {
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New address (`""` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// New IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// A branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "01939b6e-7a00-7c2e-9a51-3f0c2d7e8a11", "name": "Riverside", "status": "active", "address": "12 Sisowath Quay, Phnom Penh", "timezone": "Asia/Phnom_Penh"}))]
pub struct BranchView {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// `active` or `frozen`.
    pub status: BranchStatus,
    /// Street address, printed on receipts (`""`: none). (Absent from a first-release
    /// server's feed.)
    #[serde(default)]
    pub address: String,
    /// IANA time zone of the branch's day. (Absent from a first-release server's feed:
    /// [`DEFAULT_TIMEZONE`].)
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

fn default_timezone() -> String {
    DEFAULT_TIMEZONE.to_string()
}

/// Answer of freeze/unfreeze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BranchStatusView {
    /// Id.
    pub id: Uuid,
    /// The status now.
    pub status: BranchStatus,
}

/// `POST /v1/staff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "Dara", "role": "cashier", "pin": "4821", "branch_ids": ["01939b6e-7a00-7c2e-9a51-3f0c2d7e8a11"]}))]
pub struct CreateStaff {
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// 4–8 digits (the till's credential).
    pub pin: String,
    /// Branches this person works at.
    pub branch_ids: Vec<Uuid>,
    /// Server sign-in name (managers and owners only; unique in the tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// Server password, at least 10 characters (with `login`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `PATCH /v1/staff/{id}`: any subset of fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PatchStaff {
    /// New role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Activate or deactivate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Replace the branch assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_ids: Option<Vec<Uuid>>,
    /// New PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New server login; `null` removes the server sign-in (login and password).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub login: Option<Option<String>>,
    /// New server password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The caller's current password, when they change their own login or password
    /// (so a stolen token cannot take the account over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_password: Option<String>,
}

/// A field that is present, `null` included (`Some(None)`); an absent one stays `None`
/// through `#[serde(default)]`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A staff member (never with the PIN, the password or their hashes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StaffView {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Assigned branches.
    pub branch_ids: Vec<Uuid>,
    /// Whether they may act.
    pub active: bool,
    /// Server sign-in name, if they have one.
    #[serde(default)]
    pub login: Option<String>,
}

/// `POST /v1/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"branch_id": "01939b6e-7a00-7c2e-9a51-3f0c2d7e8a11", "name": "Till 1"}))]
pub struct EnrollDevice {
    /// The branch the device sells for.
    pub branch_id: Uuid,
    /// Display name, e.g. "Front counter".
    pub name: String,
}

/// Answer of `POST /v1/devices`. The token is shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"device_id": "01939b6e-7b00-7c2e-9a51-3f0c2d7e8a12", "token": "dev_3q2b8Zx9", "code": "D001"}))]
pub struct EnrolledDevice {
    /// Id.
    pub device_id: Uuid,
    /// The device's bearer token.
    pub token: String,
    /// Short code prefixing the device's receipt numbers.
    pub code: String,
}

/// A device as listed to managers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceView {
    /// Id.
    pub device_id: Uuid,
    /// Its branch.
    pub branch_id: Uuid,
    /// Display name.
    pub name: String,
    /// Receipt prefix.
    pub code: String,
    /// Whether its token was revoked.
    pub revoked: bool,
}

/// `POST /v1/stock-items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "Milk", "unit": "ml"}))]
pub struct CreateStockItem {
    /// Display name.
    pub name: String,
    /// Unit of quantities, e.g. `g`, `ml`, `pcs`.
    pub unit: String,
}

/// A stock item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockItemView {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Unit.
    pub unit: String,
}

/// `POST /v1/inventory/restock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"branch_id": "01939b6e-7a00-7c2e-9a51-3f0c2d7e8a11", "stock_item_id": "01939b6e-7c00-7c2e-9a51-3f0c2d7e8a13", "qty": 5000}))]
pub struct Restock {
    /// Where.
    pub branch_id: Uuid,
    /// What.
    pub stock_item_id: Uuid,
    /// How many units arrived, ≥ 1.
    pub qty: i64,
    /// With a device token: the manager or owner signed in at that till, who acts.
    /// With a staff token: absent (or the token's own id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
}

/// Answer of a restock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestockView {
    /// What.
    pub stock_item_id: Uuid,
    /// On hand now.
    pub on_hand: i64,
}

/// One row of `GET /v1/inventory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryRow {
    /// What.
    pub stock_item_id: Uuid,
    /// Its name.
    pub name: String,
    /// On hand (may be negative).
    pub on_hand: i64,
}

/// Answer of `GET /v1/inventory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryView {
    /// Every stock item of the tenant with its on-hand at the branch.
    pub items: Vec<InventoryRow>,
}

/// One recipe line: how much of a stock item one unit of a menu item uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecipeLine {
    /// Which stock item.
    pub stock_item_id: Uuid,
    /// How many of its units, ≥ 1.
    pub qty: i64,
}

/// `PUT /v1/menu/items/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "Iced latte", "price_cents": 275, "category": "Coffee", "active": true, "recipe": [{"stock_item_id": "01939b6e-7c00-7c2e-9a51-3f0c2d7e8a13", "qty": 180}]}))]
pub struct PutMenuItem {
    /// Display name.
    pub name: String,
    /// Price, ≥ 0.
    pub price_cents: i64,
    /// Grid category, e.g. "Coffee".
    pub category: String,
    /// Whether it can be sold.
    pub active: bool,
    /// Stock used per unit sold.
    #[serde(default)]
    pub recipe: Vec<RecipeLine>,
}

/// A menu item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MenuItemView {
    /// Id.
    pub id: Uuid,
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
}

/// Answer of list endpoints: `{"<key>": [...]}` wrappers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MenuItemsView {
    /// Live (not deleted) items.
    pub items: Vec<MenuItemView>,
}

/// What a manager does with a failure (SPEC §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolveAction {
    /// Apply the refused sale now, as the till recorded it.
    Accept,
    /// Record that it was handled otherwise.
    Dismiss,
}

impl ResolveAction {
    /// `accept` or `dismiss`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolveAction::Accept => "accept",
            ResolveAction::Dismiss => "dismiss",
        }
    }

    /// The action named `name` (what [`ResolveAction::as_str`] wrote), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [ResolveAction::Accept, ResolveAction::Dismiss].into_iter().find(|a| a.as_str() == name)
    }
}

/// Body of `POST /v1/sync/failures/{client_op_id}/resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"action": "dismiss", "note": "refunded by hand"}))]
pub struct ResolveFailure {
    /// Accept or dismiss.
    pub action: ResolveAction,
    /// The manager's note (required to dismiss).
    #[serde(default)]
    pub note: String,
}

/// `GET /v1/branches`: the branches the caller may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BranchesView {
    /// The branches.
    pub branches: Vec<BranchView>,
}

/// `GET /v1/staff`: the shop's staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StaffListView {
    /// The staff members.
    pub staff: Vec<StaffView>,
}

/// `GET /v1/devices?branch_id=`: a branch's devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DevicesView {
    /// The devices.
    pub devices: Vec<DeviceView>,
}

/// `GET /v1/stock-items`: the shop's stock items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockItemsView {
    /// The stock items.
    pub items: Vec<StockItemView>,
}
