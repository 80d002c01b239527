//! Record → wire view conversions.

use modula_store::{BranchRecord, DeviceRecord, MenuItemRecord, StaffRecord, StockItemRecord};
use modula_wire::admin::{BranchView, DeviceView, MenuItemView, StaffView, StockItemView};

/// A branch as sent.
pub fn branch(b: &BranchRecord) -> BranchView {
    BranchView { id: b.id, name: b.name.clone(), status: b.status }
}

/// A staff member as sent (never the PIN hash).
pub fn staff(s: &StaffRecord) -> StaffView {
    StaffView {
        id: s.id,
        name: s.name.clone(),
        role: s.role,
        branch_ids: s.branch_ids.clone(),
        active: s.active,
        login: s.login.clone(),
    }
}

/// A device as sent (never its token).
pub fn device(d: &DeviceRecord) -> DeviceView {
    DeviceView {
        device_id: d.id,
        branch_id: d.branch_id,
        name: d.name.clone(),
        code: d.code.clone(),
        revoked: d.revoked_at.is_some(),
    }
}

/// A stock item as sent.
pub fn stock_item(i: &StockItemRecord) -> StockItemView {
    StockItemView { id: i.id, name: i.name.clone(), unit: i.unit.clone() }
}

/// A menu item as sent.
pub fn menu_item(m: &MenuItemRecord) -> MenuItemView {
    MenuItemView {
        id: m.id,
        name: m.name.clone(),
        price_cents: m.price_cents,
        category: m.category.clone(),
        active: m.active,
        recipe: m.recipe.clone(),
    }
}

/// `value` as JSON text (an op's result, audit details or a feed row).
pub fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> crate::error::ApiResult<modula_wire::JsonText> {
    modula_wire::JsonText::of(value)
        .map_err(|e| crate::error::ApiError::Internal(format!("a result did not serialize to JSON: {e}")))
}

/// An instant at the storage precision (microseconds), so an entity renders the same
/// whether it is built from a fresh record or read back from the database.
fn at(t: modula_store::Timestamp) -> modula_store::Timestamp {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// A session's running totals, as the shared cash rules take them.
pub fn totals_of(s: &modula_store::CashSessionRecord) -> modula_rules::cash::SessionTotals {
    modula_rules::cash::SessionTotals {
        opening_float_cents: s.opening_float_cents,
        cash_sales_cents: s.cash_sales_cents,
        paid_in_cents: s.paid_in_cents,
        paid_out_cents: s.paid_out_cents,
        adjustments_cents: s.adjustments_cents,
    }
}

/// A cash session as sent by `GET /v1/cash-sessions/{id}` and the change feed.
pub fn cash_session(s: &modula_store::CashSessionRecord) -> serde_json::Value {
    let expected = modula_rules::cash::expected_cash_cents(&totals_of(s));
    serde_json::json!({
        "id": s.id, "device_id": s.device_id, "branch_id": s.branch_id,
        "status": if s.open { "open" } else { "closed" },
        "opening_float_cents": s.opening_float_cents,
        "cash_sales_cents": s.cash_sales_cents, "paid_in_cents": s.paid_in_cents,
        "paid_out_cents": s.paid_out_cents, "adjustments_cents": s.adjustments_cents,
        "expected_cash_cents": expected,
        "counted_cash_cents": s.counted_cash_cents,
        "variance_cents": s.counted_cash_cents.map(|c| modula_rules::cash::variance_cents(c, expected)),
        "opened_at": at(s.opened_at), "closed_at": s.closed_at.map(at),
    })
}

/// A sale as listed by `GET /v1/sales` and the change feed.
pub fn sale(s: &modula_store::SaleRecord) -> SaleView<'_> {
    SaleView {
        actor_id: s.actor_id,
        applied_at: at(s.applied_at),
        cash_session_id: s.cash_session_id,
        device_id: s.device_id,
        occurred_at: at(s.occurred_at),
        price_drift_cents: s.price_drift_cents,
        receipt_no: &s.receipt_no,
        sale_id: s.id,
        total_cents: s.total_cents,
    }
}

/// A sale as sent (fields in alphabetical order, as a `serde_json::Value` map writes them).
#[derive(Debug, serde::Serialize)]
pub struct SaleView<'a> {
    /// Cashier.
    pub actor_id: uuid::Uuid,
    /// When applied.
    pub applied_at: modula_store::Timestamp,
    /// Session.
    pub cash_session_id: uuid::Uuid,
    /// Device.
    pub device_id: uuid::Uuid,
    /// When sold.
    pub occurred_at: modula_store::Timestamp,
    /// Current menu total − charged total.
    pub price_drift_cents: i64,
    /// Printed receipt number.
    pub receipt_no: &'a str,
    /// Id.
    pub sale_id: uuid::Uuid,
    /// Charged total.
    pub total_cents: i64,
}

/// A shift as listed by `GET /v1/attendance` and the change feed.
pub fn shift(s: &modula_store::ShiftRecord) -> serde_json::Value {
    serde_json::json!({
        "shift_id": s.id, "staff_id": s.staff_id, "status": if s.open { "open" } else { "closed" },
        "started_at": at(s.started_at), "ended_at": s.ended_at.map(at),
    })
}
