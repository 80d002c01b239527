//! The answers of what managers read about the sync lanes' work (SPEC §5.5, §5.6): a sale
//! in detail, cash sessions, shifts, rejected ops and their resolutions, the devices'
//! `device_seq` bookkeeping and the audit trail. Typed here so the server serializes
//! exactly what its OpenAPI document describes. Money in cents (dollars) and whole riel.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::admin::ResolveAction;
use crate::op::{ChangeGiven, Fx, Tender};
use crate::reports::CurrencySummary;

/// `GET /v1/sales/{id}`: a sale as the till recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SaleDetail {
    /// The sale.
    pub sale_id: Uuid,
    /// The receipt number the till printed.
    pub receipt_no: String,
    /// Its branch.
    pub branch_id: Uuid,
    /// The till that sold it.
    pub device_id: Uuid,
    /// The cashier.
    pub actor_id: Uuid,
    /// The drawer it went into.
    pub cash_session_id: Uuid,
    /// When it was sold (the till's clock).
    pub occurred_at: DateTime<Utc>,
    /// When the server applied it.
    pub applied_at: DateTime<Utc>,
    /// What was sold, at the prices charged.
    pub lines: Vec<SoldLine>,
    /// Before VAT, in cents.
    pub subtotal_cents: i64,
    /// The VAT within the total, in cents.
    pub vat_cents: i64,
    /// What the customer paid, in cents.
    pub total_cents: i64,
    /// The till's total minus the server's pricing, in cents.
    pub price_drift_cents: i64,
    /// The cash handed over.
    pub tender: Tender,
    /// The change as given; null for a sale of a first-release till (it did not say).
    pub change: Option<ChangeGiven>,
    /// The rate the till priced with; null for a sale of a first-release till.
    pub fx: Option<Fx>,
    /// Whether it was voided.
    pub voided: bool,
    /// The void, if any.
    pub void: Option<SaleVoid>,
}

/// A line of a sale in detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SoldLine {
    /// The menu item.
    pub menu_item_id: Uuid,
    /// Its name on the menu now, deleted or not (null for an id the menu never had).
    pub name: Option<String>,
    /// How many.
    pub qty: i64,
    /// Price per unit charged, in cents.
    pub unit_price_cents: i64,
    /// `qty × unit_price_cents`.
    pub line_total_cents: i64,
}

/// A sale's void.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SaleVoid {
    /// When it was voided.
    pub at: DateTime<Utc>,
    /// The manager who voided it.
    pub actor_id: Uuid,
    /// Why.
    pub reason: String,
    /// What went back to the customer.
    pub refund: ChangeGiven,
    /// The open session the refund left.
    pub cash_session_id: Uuid,
}

/// Whether a cash session or a shift is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OpenOrClosed {
    /// Still going.
    Open,
    /// Ended.
    Closed,
}

/// `GET /v1/cash-sessions/{id}` and a row of the `cash_sessions` feed scope: the fields
/// SPEC §5.6 names, each currency under `usd` and `khr`, and the first release's fields
/// (`cash_sales_cents`, `paid_in_cents`, …), which tills of that release read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CashSessionView {
    /// The session.
    pub id: Uuid,
    /// The till whose drawer it is.
    pub device_id: Uuid,
    /// Its branch.
    pub branch_id: Uuid,
    /// `open` or `closed`.
    pub status: OpenOrClosed,
    /// Dollars in the drawer at opening, in cents.
    pub opening_float_cents: i64,
    /// Dollars the drawer should hold, in cents.
    pub expected_cash_cents: i64,
    /// Dollars counted at close, in cents (null while open).
    pub counted_cash_cents: Option<i64>,
    /// Counted minus expected dollars, in cents (null while open).
    pub variance_cents: Option<i64>,
    /// Riel in the drawer at opening.
    pub opening_float_khr: i64,
    /// Riel the drawer should hold.
    pub expected_khr: i64,
    /// Riel counted at close (null while open, or when riel was not counted).
    pub counted_khr: Option<i64>,
    /// Counted minus expected riel (null when not counted).
    pub variance_khr: Option<i64>,
    /// Both variances in cents at the closing rate (null while open).
    pub variance_total_cents: Option<i64>,
    /// The policy's riel per dollar when it closed (null while open).
    pub close_khr_per_usd: Option<i64>,
    /// The dollar drawer.
    pub usd: CurrencySummary,
    /// The riel drawer.
    pub khr: CurrencySummary,
    /// First release: dollars of sales net of change, in cents.
    pub cash_sales_cents: i64,
    /// First release: dollars paid in, in cents.
    pub paid_in_cents: i64,
    /// First release: dollars paid out, in cents.
    pub paid_out_cents: i64,
    /// First release: dollar adjustments, in cents.
    pub adjustments_cents: i64,
    /// Who opened it.
    pub opened_by: Uuid,
    /// When.
    pub opened_at: DateTime<Utc>,
    /// When it closed (null while open).
    pub closed_at: Option<DateTime<Utc>>,
}

/// `GET /v1/cash-sessions?branch_id=`: newest first, at most 1,000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CashSessionsList {
    /// The sessions.
    pub cash_sessions: Vec<CashSessionView>,
}

/// A shift, as `GET /v1/attendance` lists it and the `attendance` scope feeds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShiftView {
    /// The shift.
    pub shift_id: Uuid,
    /// Who works it.
    pub staff_id: Uuid,
    /// `open` or `closed`.
    pub status: OpenOrClosed,
    /// When work started.
    pub started_at: DateTime<Utc>,
    /// When it ended (null while open).
    pub ended_at: Option<DateTime<Utc>>,
}

/// `GET /v1/attendance?branch_id=`: newest first, at most 1,000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShiftsList {
    /// The shifts.
    pub shifts: Vec<ShiftView>,
}

/// A failure's resolution (SPEC §5.6), as listed and fed (`resolutions` scope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResolutionView {
    /// The rejected op.
    pub client_op_id: Uuid,
    /// `accept` or `dismiss`.
    pub action: ResolveAction,
    /// The manager who resolved it.
    pub actor_id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// The manager's note.
    pub note: String,
    /// For `accept`: the applied sale's result, as the push lane gives it; else null.
    #[schema(value_type = Option<Object>)]
    pub result: Option<crate::JsonText>,
}

/// A rejected op as `GET /v1/sync/failures` lists it and a resolve answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailureView {
    /// The op.
    pub client_op_id: Uuid,
    /// The till that sent it (null for an op of the online lane sent without a till).
    pub device_id: Option<Uuid>,
    /// Its actor.
    pub actor_id: Uuid,
    /// The actor's name (null for someone the shop does not know).
    pub actor_name: Option<String>,
    /// Its op type.
    #[serde(rename = "type")]
    pub op_type: String,
    /// Why it was refused.
    pub code: crate::ErrorCode,
    /// The refusal in words.
    pub message: String,
    /// `offline` (pushed) or `online` (the direct lane).
    pub lane: String,
    /// When the till recorded it.
    pub occurred_at: DateTime<Utc>,
    /// When the server refused it.
    pub recorded_at: DateTime<Utc>,
    /// A sale's receipt number (null for other ops).
    pub receipt_no: Option<String>,
    /// A sale's total, in cents (null for other ops).
    pub total_cents: Option<i64>,
    /// A sale's id (null for other ops).
    pub sale_id: Option<Uuid>,
    /// How a manager resolved it (null until then).
    pub resolution: Option<ResolutionView>,
}

/// `GET /v1/sync/failures?branch_id=`: newest first, at most 1,000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailuresList {
    /// The failures.
    pub failures: Vec<FailureView>,
}

/// A till's `device_seq` bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceSyncView {
    /// The till.
    pub device_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its receipt prefix.
    pub code: String,
    /// Whether its token is revoked.
    pub revoked: bool,
    /// When it last reached the server (null if never).
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The highest `device_seq` the server has of it (0 if none).
    pub last_device_seq: i64,
    /// Missing `device_seq` ranges below it, `[from, to]` inclusive.
    pub gaps: Vec<[i64; 2]>,
}

/// `GET /v1/sync/devices?branch_id=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceSyncList {
    /// The branch's tills.
    pub devices: Vec<DeviceSyncView>,
}

/// An audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEventView {
    /// The area (`sales`, `cash`, `admin`, `auth`, `sync`, …).
    pub module: String,
    /// What happened (`sale.finalize`, `void`, `login.refused`, …).
    pub action: String,
    /// Who did it (null for a refused sign-in of nobody known).
    pub actor_id: Option<Uuid>,
    /// The till it came from, if any.
    pub device_id: Option<Uuid>,
    /// The op it recorded, if any.
    pub client_op_id: Option<Uuid>,
    /// `offline` (pushed) or `online` (the direct lane and the admin API).
    pub lane: String,
    /// When it happened (the till's clock for an op).
    pub occurred_at: DateTime<Utc>,
    /// When the server recorded it.
    pub applied_at: DateTime<Utc>,
    /// What the event carries (amounts, ids, reasons): its own JSON per action.
    pub details: crate::JsonText,
}

/// `GET /v1/audit?branch_id=&since=`: oldest first from `since`, at most 1,000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditList {
    /// The events.
    pub events: Vec<AuditEventView>,
}
