//! Operations (`Op`), their payloads, and the push messages (§4 and §5.1 of the spec).

#[allow(unused_imports)]
use serde_json::json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::problem::ErrorCode;

/// The op types a terminal may queue offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpType {
    /// `sale.finalize`
    SaleFinalize,
    /// `cashSession.open`
    CashSessionOpen,
    /// `cashSession.movement`
    CashSessionMovement,
    /// `cashSession.close`
    CashSessionClose,
    /// `attendance.startWork`
    AttendanceStartWork,
    /// `attendance.endWork`
    AttendanceEndWork,
    /// `sale.void` (online only: the direct lane, never a push)
    SaleVoid,
}

/// Op types that exist but may only be performed through the online admin API.
/// A push carrying one is answered `NOT_ALLOWED_OFFLINE`.
pub const ONLINE_ONLY_OP_TYPES: &[&str] = &[
    "menu.upsert",
    "menu.delete",
    "inventory.restock",
    "policy.update",
    "sale.voidApprove",
];

impl OpType {
    /// Every offline op type, in a stable order.
    pub const ALL: [OpType; 6] = [
        OpType::SaleFinalize,
        OpType::CashSessionOpen,
        OpType::CashSessionMovement,
        OpType::CashSessionClose,
        OpType::AttendanceStartWork,
        OpType::AttendanceEndWork,
    ];

    /// The type's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OpType::SaleFinalize => "sale.finalize",
            OpType::CashSessionOpen => "cashSession.open",
            OpType::CashSessionMovement => "cashSession.movement",
            OpType::CashSessionClose => "cashSession.close",
            OpType::AttendanceStartWork => "attendance.startWork",
            OpType::AttendanceEndWork => "attendance.endWork",
            OpType::SaleVoid => "sale.void",
        }
    }

    /// The op types of the direct lane only (a push of one is `NOT_ALLOWED_OFFLINE`).
    pub const ONLINE: [OpType; 1] = [OpType::SaleVoid];

    /// Whether this type may only be sent online.
    pub fn online_only(self) -> bool {
        OpType::ONLINE.contains(&self)
    }

    /// Parses the wire name of an offline type; `None` for online-only and unknown types.
    pub fn parse(s: &str) -> Option<OpType> {
        OpType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Parses the wire name of any type with a payload, the online-only ones included.
    pub fn parse_any(s: &str) -> Option<OpType> {
        OpType::ALL.into_iter().chain(OpType::ONLINE).find(|t| t.as_str() == s)
    }
}

/// One operation as queued by a terminal and pushed to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Op {
    /// Client-generated UUIDv7; the idempotency key of the op across both lanes.
    pub client_op_id: Uuid,
    /// The op type's wire name (kept as text so unknown types get a per-op answer), at
    /// most `limits::OP_TYPE_MAX_BYTES`.
    #[serde(rename = "type", deserialize_with = "crate::envelope::op_type")]
    pub op_type: String,
    /// The tenant the op belongs to.
    pub tenant_id: Uuid,
    /// The branch the op belongs to.
    pub branch_id: Uuid,
    /// The staff member who did it.
    pub actor_id: Uuid,
    /// The device's own 1-based counter, assigned at enqueue.
    pub device_seq: i64,
    /// When it happened on the device (2000-01-01 up to 2100-01-01, see
    /// [`crate::envelope::occurred_at`]).
    #[serde(deserialize_with = "crate::envelope::occurred_at")]
    pub occurred_at: DateTime<Utc>,
    /// The type-specific payload.
    pub payload: serde_json::Value,
    /// Lowercase hex SHA-256 of the JCS form of `{type, tenant_id, branch_id, actor_id, payload}`.
    pub payload_hash: String,
    /// Ops that must have been applied before this one (at most `limits::DEPENDS_ON_MAX`).
    #[serde(default, deserialize_with = "crate::envelope::depends_on")]
    pub depends_on: Vec<Uuid>,
}

/// Body of a direct online-lane request (§5.2): an [`Op`] without `client_op_id` (the
/// `Idempotency-Key` header), `type` (the endpoint) and `payload_hash` (derived).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"tenant_id": "01939b6e-7900-7c2e-9a51-3f0c2d7e8a10", "branch_id": "01939b6e-7a00-7c2e-9a51-3f0c2d7e8a11", "actor_id": "01939b6e-7d00-7c2e-9a51-3f0c2d7e8a14", "occurred_at": "2026-12-07T03:15:00Z", "payload": {"cash_session_id": "01939b6e-7e00-7c2e-9a51-3f0c2d7e8a15", "opening_float_cents": 2000}}))]
pub struct OnlineOp {
    /// The tenant the op belongs to.
    pub tenant_id: Uuid,
    /// The branch the op belongs to.
    pub branch_id: Uuid,
    /// The staff member who did it.
    pub actor_id: Uuid,
    /// The device's counter, when a terminal sends it.
    #[serde(default)]
    pub device_seq: Option<i64>,
    /// When it happened (2000-01-01 up to 2100-01-01, see [`crate::envelope::occurred_at`]).
    #[serde(deserialize_with = "crate::envelope::occurred_at")]
    pub occurred_at: DateTime<Utc>,
    /// The type-specific payload.
    pub payload: serde_json::Value,
    /// Ops that must have been applied before this one (at most `limits::DEPENDS_ON_MAX`).
    #[serde(default, deserialize_with = "crate::envelope::depends_on")]
    pub depends_on: Vec<Uuid>,
}

/// The outcome of one op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OpStatus {
    /// Applied now.
    Applied,
    /// Applied earlier; the stored result is returned.
    Duplicate,
    /// Refused, now or earlier; never retried.
    Rejected,
}

/// One entry of a push answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpResult {
    /// The op this answers.
    pub client_op_id: Uuid,
    /// What happened.
    pub status: OpStatus,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    /// A sentence for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The op's result when applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<crate::JsonText>,
    /// True when this is a stored outcome returned again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// Body of `POST /v1/sync/push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushRequest {
    /// Must be the token's device.
    pub device_id: Uuid,
    /// At most [`crate::limits::PUSH_MAX_OPS`].
    pub operations: Vec<Op>,
}

/// Answer of `POST /v1/sync/push`: one result per op, same order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushResponse {
    /// One per op, in request order.
    pub results: Vec<OpResult>,
}

/// One line of a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SaleLine {
    /// The menu item sold.
    pub menu_item_id: Uuid,
    /// How many, ≥ 1.
    pub qty: i64,
    /// Price per unit charged, from the device's cache.
    pub unit_price_cents: i64,
}

/// Cash handed over by the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tender {
    /// US dollars, in cents.
    pub cash_usd_cents: i64,
    /// Riel, whole.
    pub cash_khr: i64,
}

/// The exchange a till priced a sale with (`sale.finalize`'s `fx`, SPEC §3.1, §4): the
/// tender is judged at this rate, never at a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Fx {
    /// Riel per US dollar.
    pub khr_per_usd: i64,
    /// Riel amounts are rounded to a multiple of this.
    pub khr_rounding: i64,
}

impl Fx {
    /// The exchange of a policy.
    pub fn of(policy: &crate::Policy) -> Fx {
        Fx { khr_per_usd: policy.khr_per_usd, khr_rounding: policy.khr_rounding }
    }
}

/// Change as given to the customer: a split between dollars and riel (SPEC §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeGiven {
    /// Dollars given back, in cents.
    pub usd_cents: i64,
    /// Riel given back, whole.
    pub khr: i64,
}

/// Totals of a sale as charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SaleTotals {
    /// Σ qty × unit price.
    pub subtotal_cents: i64,
    /// VAT part (included or added, per policy).
    pub vat_cents: i64,
    /// What the customer pays.
    pub total_cents: i64,
}

/// Payload of `sale.finalize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SaleFinalize {
    /// Client-generated sale id.
    pub sale_id: Uuid,
    /// The open cash session of the device.
    pub cash_session_id: Uuid,
    /// `<device code>-<device-local counter>`.
    pub receipt_no: String,
    /// What was sold.
    pub lines: Vec<SaleLine>,
    /// Cash received.
    pub tender: Tender,
    /// Totals as charged.
    pub totals: SaleTotals,
    /// The exchange the till priced with (added after the first release: absent, the
    /// policy's rate when the server applies the sale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fx: Option<Fx>,
    /// The change as given (added after the first release: absent, the sale counts as
    /// `total_cents` of dollars in the drawer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeGiven>,
}

/// Payload of `cashSession.open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CashSessionOpen {
    /// Client-generated session id.
    pub cash_session_id: Uuid,
    /// Dollars in the drawer at opening, in cents, ≥ 0.
    pub opening_float_cents: i64,
    /// Riel in the drawer at opening, whole, ≥ 0 (added after the first release:
    /// absent, 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_float_khr: Option<i64>,
}

/// Kind of a cash movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// Cash put into the drawer.
    PaidIn,
    /// Cash taken out of the drawer.
    PaidOut,
    /// A correction (manager+), may be negative.
    Adjustment,
}

/// Payload of `cashSession.movement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CashSessionMovement {
    /// The open session.
    pub cash_session_id: Uuid,
    /// Client-generated movement id.
    pub movement_id: Uuid,
    /// Paid in, paid out or adjustment.
    pub kind: MovementKind,
    /// A dollar amount in cents: > 0, except an adjustment which may be negative
    /// (never 0). Exactly one of `amount_cents` and `amount_khr` is present (a
    /// first-release op always has `amount_cents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<i64>,
    /// A riel amount, whole, with the same sign rules (added after the first release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_khr: Option<i64>,
    /// Why, for the audit trail.
    pub reason: String,
}

impl CashSessionMovement {
    /// The movement's amount in its currency: riel when `amount_khr` is present, else
    /// dollars (validation guarantees exactly one is present).
    pub fn amount(&self) -> Cash {
        match (self.amount_cents, self.amount_khr) {
            (_, Some(khr)) => Cash::Khr(khr),
            (cents, None) => Cash::Usd(cents.unwrap_or(0)),
        }
    }
}

/// An amount of cash in one of the drawer's two currencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cash {
    /// US dollars, in cents.
    Usd(i64),
    /// Riel, whole.
    Khr(i64),
}

/// Payload of `cashSession.close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CashSessionClose {
    /// The open session.
    pub cash_session_id: Uuid,
    /// Dollars counted in the drawer, in cents, ≥ 0.
    pub counted_cash_cents: i64,
    /// Riel counted in the drawer, whole, ≥ 0 (added after the first release: absent,
    /// riel was not counted and its variance is unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_khr: Option<i64>,
}

/// Payload of `attendance.startWork` and `attendance.endWork`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShiftPayload {
    /// Client-generated shift id (the end names the shift it ends).
    pub shift_id: Uuid,
    /// Whose shift.
    pub staff_id: Uuid,
}

/// Payload of `sale.void` (online only, manager+ of the branch): the sale, the open cash
/// session the refund leaves, why, and the refund as handed back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SaleVoid {
    /// The sale voided.
    pub sale_id: Uuid,
    /// The open cash session of the branch the refund is paid out of.
    pub cash_session_id: Uuid,
    /// Why, for the audit trail (required).
    pub reason: String,
    /// What goes back to the customer, in dollars and riel.
    pub refund: ChangeGiven,
}

/// A parsed, typed payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `sale.finalize`
    SaleFinalize(SaleFinalize),
    /// `cashSession.open`
    CashSessionOpen(CashSessionOpen),
    /// `cashSession.movement`
    CashSessionMovement(CashSessionMovement),
    /// `cashSession.close`
    CashSessionClose(CashSessionClose),
    /// `attendance.startWork`
    AttendanceStartWork(ShiftPayload),
    /// `attendance.endWork`
    AttendanceEndWork(ShiftPayload),
    /// `sale.void`
    SaleVoid(SaleVoid),
}

impl Payload {
    /// The op type this payload belongs to.
    pub fn op_type(&self) -> OpType {
        match self {
            Payload::SaleFinalize(_) => OpType::SaleFinalize,
            Payload::CashSessionOpen(_) => OpType::CashSessionOpen,
            Payload::CashSessionMovement(_) => OpType::CashSessionMovement,
            Payload::CashSessionClose(_) => OpType::CashSessionClose,
            Payload::AttendanceStartWork(_) => OpType::AttendanceStartWork,
            Payload::AttendanceEndWork(_) => OpType::AttendanceEndWork,
            Payload::SaleVoid(_) => OpType::SaleVoid,
        }
    }
}
