//! Record → wire view conversions.

use modula_store::{BranchRecord, DeviceRecord, MenuItemRecord, StaffRecord, StockItemRecord};
use modula_wire::admin::{BranchView, DeviceView, MenuItemView, ResolveAction, StaffView, StockItemView};
use modula_wire::reads::{CashSessionView, OpenOrClosed, ResolutionView, ShiftView};
use modula_wire::reports::CurrencySummary;

/// A branch as sent.
pub fn branch(b: &BranchRecord) -> BranchView {
    BranchView { id: b.id, name: b.name.clone(), status: b.status, address: b.address.clone(), timezone: b.timezone.clone() }
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
pub fn at(t: modula_store::Timestamp) -> modula_store::Timestamp {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// One currency of a drawer as views show it: its flows, `expected`, and `counted` and
/// `variance` (null until counted).
pub fn drawer_currency(f: &modula_wire::CashFlows, counted: Option<i64>) -> CurrencySummary {
    let expected = modula_rules::cash::expected(f);
    CurrencySummary { flows: *f, expected, counted, variance: counted.map(|c| modula_rules::cash::variance(c, expected)) }
}

/// A closed session's total variance in cents: dollars plus riel at the rate of the
/// policy when it closed (riel not counted adds nothing). `None` while open.
pub fn variance_total_cents(s: &modula_store::CashSessionRecord) -> Option<i64> {
    use modula_rules::cash;
    let variance_cents = cash::variance(s.counted_cash_cents?, cash::expected(&s.drawer.usd));
    let variance_khr = s.counted_khr.map(|c| cash::variance(c, cash::expected(&s.drawer.khr)));
    let rate = s.close_khr_per_usd.unwrap_or(0);
    Some(cash::variance_total_cents(variance_cents, variance_khr, rate))
}

/// A cash session as sent by `GET /v1/cash-sessions/{id}` and the change feed: the
/// fields SPEC §5.6 names, each currency's flows under `usd` and `khr`, and the
/// first release's fields (`cash_sales_cents`: dollars of sales, net of change), which
/// tills of that release read.
pub fn cash_session(s: &modula_store::CashSessionRecord) -> CashSessionView {
    use modula_rules::cash;
    let (usd, khr) = (&s.drawer.usd, &s.drawer.khr);
    let (expected_usd, expected_khr) = (cash::expected(usd), cash::expected(khr));
    CashSessionView {
        id: s.id,
        device_id: s.device_id,
        branch_id: s.branch_id,
        status: open_or_closed(s.open),
        opening_float_cents: usd.float,
        expected_cash_cents: expected_usd,
        counted_cash_cents: s.counted_cash_cents,
        variance_cents: s.counted_cash_cents.map(|c| cash::variance(c, expected_usd)),
        opening_float_khr: khr.float,
        expected_khr,
        counted_khr: s.counted_khr,
        variance_khr: s.counted_khr.map(|c| cash::variance(c, expected_khr)),
        variance_total_cents: variance_total_cents(s),
        close_khr_per_usd: s.close_khr_per_usd,
        usd: drawer_currency(usd, s.counted_cash_cents),
        khr: drawer_currency(khr, s.counted_khr),
        cash_sales_cents: cash::net_sales(usd),
        paid_in_cents: usd.paid_in,
        paid_out_cents: usd.paid_out,
        adjustments_cents: usd.adjustments,
        opened_by: s.opened_by,
        opened_at: at(s.opened_at),
        closed_at: s.closed_at.map(at),
    }
}

fn open_or_closed(open: bool) -> OpenOrClosed {
    if open {
        OpenOrClosed::Open
    } else {
        OpenOrClosed::Closed
    }
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
        vat_cents: s.vat_cents,
        voided: s.void.is_some(),
    }
}

/// A sale's void as the `voids` scope of the feed carries it (what a till needs to mark
/// its receipt VOID).
pub fn sale_void(s: &modula_store::SaleRecord) -> serde_json::Value {
    match &s.void {
        None => serde_json::Value::Null,
        Some(v) => serde_json::json!({
            "sale_id": s.id, "receipt_no": s.receipt_no, "device_id": s.device_id, "total_cents": s.total_cents,
            "voided_at": at(v.at), "actor_id": v.actor_id, "reason": v.reason,
            "refund": {"usd_cents": v.refund_cents, "khr": v.refund_khr}, "cash_session_id": v.cash_session_id,
        }),
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
    /// The VAT in the total.
    pub vat_cents: i64,
    /// Whether a manager voided it.
    pub voided: bool,
}

/// A shift as listed by `GET /v1/attendance` and the change feed.
pub fn shift(s: &modula_store::ShiftRecord) -> ShiftView {
    ShiftView {
        shift_id: s.id,
        staff_id: s.staff_id,
        status: open_or_closed(s.open),
        started_at: at(s.started_at),
        ended_at: s.ended_at.map(at),
    }
}

/// A failure's resolution as listed and fed (`resolutions` scope).
pub fn resolution(r: &modula_store::ResolutionRecord) -> crate::error::ApiResult<ResolutionView> {
    let action = ResolveAction::from_name(&r.action).ok_or_else(|| {
        crate::error::ApiError::Internal(format!("resolution of {} has an unknown stored action {:?}", r.client_op_id, r.action))
    })?;
    Ok(ResolutionView {
        client_op_id: r.client_op_id,
        action,
        actor_id: r.actor_id,
        at: at(r.at),
        note: r.note.clone(),
        result: r.result.clone(),
    })
}
