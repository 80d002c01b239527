//! Rules 8 and 9 of SPEC §5.1: each op type's prerequisites, then its effects, its
//! audit event and its change-feed rows. Every `Err(Rejection)` is returned before the
//! op's first write.

use std::collections::BTreeMap;

use modula_rules::caps::{self, OverCap};
use modula_rules::{attendance, cash, pricing, Rejection};
use modula_store::{CashMovementRecord, CashSessionRecord, OpAudit, SaleRecord, SaleVoidRecord, ShiftRecord, StaffRecord, Tx};
use modula_wire::op::{
    Cash, CashSessionClose, CashSessionMovement, CashSessionOpen, ChangeGiven, Fx, Payload, SaleFinalize, SaleLine, SaleTotals, SaleVoid,
    ShiftPayload, Tender,
};
use modula_wire::{ErrorCode, JsonText, Op};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::push::OpContext;
use super::views::{self, json_text};
use crate::error::{ApiError, ApiResult};

type Outcome = ApiResult<Result<JsonText, Rejection>>;

/// Applies a validated, authorized op.
pub async fn apply(tx: &mut dyn Tx, ctx: &mut OpContext, op: &Op, actor: &StaffRecord, payload: Payload) -> Outcome {
    match payload {
        Payload::SaleFinalize(p) => sale(tx, ctx, op, p).await,
        Payload::CashSessionOpen(p) => open_session(tx, ctx, op, p).await,
        Payload::CashSessionMovement(p) => movement(tx, ctx, op, p).await,
        Payload::CashSessionClose(p) => close_session(tx, ctx, op, p).await,
        Payload::AttendanceStartWork(p) => start_work(tx, ctx, op, actor, p).await,
        Payload::AttendanceEndWork(p) => end_work(tx, ctx, op, p).await,
        Payload::SaleVoid(p) => void_sale(tx, ctx, op, p).await,
    }
}

fn device_of(ctx: &OpContext) -> ApiResult<Uuid> {
    ctx.device_id.ok_or_else(|| ApiError::Forbidden("cash operations need a device token".into()))
}

/// The device's open session `id`, or the prerequisite rejection.
async fn open_session_of(tx: &mut dyn Tx, ctx: &mut OpContext, id: Uuid) -> ApiResult<Result<CashSessionRecord, Rejection>> {
    let device_id = device_of(ctx)?;
    let session = ctx.session(tx, id).await?;
    // An op names only sessions of its own branch (SPEC §5.1 rule 8).
    if session.as_ref().is_some_and(|s| s.branch_id != ctx.branch.id) {
        return Ok(Err(other_branch("cash session", id)));
    }
    let session = session.filter(|s| s.device_id == device_id);
    Ok(match session {
        None => Err(Rejection::new(ErrorCode::NoOpenCashSession, format!("no open cash session {id} on this device"))),
        Some(s) if !s.open => Err(Rejection::new(ErrorCode::CashSessionClosed, format!("cash session {id} is closed"))),
        Some(s) => Ok(s),
    })
}

/// How far ahead of the server's clock an op may say it happened before its audit event
/// flags clock skew: 5 minutes.
pub const CLOCK_SKEW_TOLERANCE_S: i64 = 300;

/// How many seconds ahead of `now` an op says it happened, when that is more than
/// [`CLOCK_SKEW_TOLERANCE_S`]: the till's clock runs fast. Flagged in the op's audit
/// event (`clock_skew_s`), never refused: the sale or shift was real.
pub fn clock_skew_s(occurred_at: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let ahead_s = (occurred_at - now).num_seconds();
    (ahead_s > CLOCK_SKEW_TOLERANCE_S).then_some(ahead_s)
}

/// Adds `clock_skew_s` to an audit event's details (an object). A sale's details are
/// finished at flush and carry it from their draft; its placeholder is left alone.
pub fn flag_clock_skew(event: &mut OpAudit, skew_s: i64) -> ApiResult<()> {
    let serde_json::Value::Object(mut details) = serde_json::from_str(event.details.as_str())
        .map_err(|e| ApiError::Internal(format!("an audit event is not JSON: {e}")))?
    else {
        return Ok(());
    };
    details.insert("clock_skew_s".into(), json!(skew_s));
    event.details = JsonText::from(serde_json::Value::Object(details));
    Ok(())
}

/// `FORBIDDEN`: the op names an entity of another branch.
fn other_branch(what: &str, id: Uuid) -> Rejection {
    Rejection::new(ErrorCode::Forbidden, format!("{what} {id} belongs to another branch"))
}

/// The op's audit event (SPEC §2: one per applied op); it is stored in the op's record,
/// whose actor, device, key, lane and times it shares.
fn audit(ctx: &mut OpContext, module: &str, action: &str, details: JsonText) {
    ctx.audit(OpAudit { module: module.into(), action: action.into(), details });
}

// ---------------------------------------------------------------- sale.finalize

async fn sale(tx: &mut dyn Tx, ctx: &mut OpContext, op: &Op, p: SaleFinalize) -> Outcome {
    let mut session = match open_session_of(tx, ctx, p.cash_session_id).await? {
        Ok(s) => s,
        Err(r) => return Ok(Err(r)),
    };
    if ctx.sale_id_taken(p.sale_id) {
        return Ok(Err(Rejection::validation("sale_id", "this sale id was already used by another op")));
    }
    // The tender is judged at the rate the till priced with (SPEC §3.1): a paid sale is
    // never refused for a newer rate. Without `fx` (a first-release op), the policy's.
    let current_fx = Fx::of(&ctx.policy);
    let fx = p.fx.unwrap_or(current_fx);
    let change_due = match pricing::change_at(p.totals.total_cents, &p.tender, &fx) {
        Ok(c) => c,
        Err(r) => return Ok(Err(r)),
    };
    if let Some(given) = &p.change {
        if let Err(r) = pricing::check_change_split(given, change_due.change_cents, &fx) {
            return Ok(Err(r));
        }
    }
    // Riel per dollar the rate moved between the till's pricing and now (only for a sale
    // that says which rate it used).
    let fx_drift = p.fx.map(|till| FxDrift { khr_per_usd: current_fx.khr_per_usd - till.khr_per_usd });
    let (current_lines, not_on_menu, stock_deltas) = reprice(tx, ctx, &p.lines).await?;
    let current_total = pricing::price(&current_lines, &ctx.policy).map(|t| t.total_cents).unwrap_or(p.totals.total_cents);
    let price_drift_cents = current_total - p.totals.total_cents;
    // ---- effects from here on
    for (stock_item_id, delta) in &stock_deltas {
        ctx.add_stock(*stock_item_id, *delta);
    }
    let sale_cash = cash::sale_cash(p.totals.total_cents, &p.tender, p.change.as_ref());
    cash::apply_sale(&mut session.drawer, &sale_cash, 1);
    let expected_cash_cents = cash::expected(&session.drawer.usd);
    let expected_khr = cash::expected(&session.drawer.khr);
    let over_cap = caps::tender_over_cap(&p.tender, &fx, &ctx.policy);
    ctx.put_session(session);
    let result = SaleResult {
        cash_session_id: p.cash_session_id,
        change: p.change,
        change_cents: change_due.change_cents,
        change_khr: change_due.change_khr,
        expected_cash_cents,
        expected_khr,
        fx: p.fx,
        fx_drift,
        items_not_on_menu: &not_on_menu,
        price_drift_cents,
        receipt_no: &p.receipt_no,
        sale_id: p.sale_id,
        subtotal_cents: p.totals.subtotal_cents,
        total_cents: p.totals.total_cents,
        vat_cents: p.totals.vat_cents,
    };
    let stock: Vec<(Uuid, i64)> = stock_deltas.iter().map(|(k, v)| (*k, *v)).collect();
    let details = SaleDetails {
        change: change_due.change_cents,
        change_given: p.change,
        change_khr: change_due.change_khr,
        fx: p.fx,
        items_not_on_menu: &not_on_menu,
        lines: &p.lines,
        stock: &stock,
        tender: &p.tender,
        totals: &p.totals,
    };
    let record = SaleRecord {
        id: p.sale_id,
        tenant_id: ctx.tenant_id,
        branch_id: ctx.branch.id,
        device_id: device_of(ctx)?,
        cash_session_id: p.cash_session_id,
        client_op_id: op.client_op_id,
        receipt_no: p.receipt_no.clone(),
        actor_id: op.actor_id,
        total_cents: p.totals.total_cents,
        vat_cents: p.totals.vat_cents,
        price_drift_cents,
        details: json_text(&details)?,
        occurred_at: op.occurred_at,
        applied_at: chrono::Utc::now(),
        void: None,
    };
    let result = json_text(&result)?;
    ctx.add_sale(record, &p.lines)?;
    let draft = SaleAuditDraft {
        clock_skew_s: clock_skew_s(op.occurred_at, chrono::Utc::now()),
        fx_drift,
        over_cap,
        stock_deltas: stock_deltas.into_iter().collect(),
        items_not_on_menu: not_on_menu,
        price_drift_cents,
        receipt_no: p.receipt_no,
        total_cents: p.totals.total_cents,
    };
    ctx.audit_sale(op.client_op_id, draft);
    Ok(Ok(result))
}

// Typed bodies of a sale's result, stored details and audit details: serialized once,
// straight to text (a sale is the op a push carries hundreds of). Fields are in
// alphabetical order, the order the keys of a `serde_json::Value` map are written in.

/// The result of an applied `sale.finalize`.
#[derive(Serialize)]
struct SaleResult<'a> {
    cash_session_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<ChangeGiven>,
    change_cents: i64,
    change_khr: i64,
    expected_cash_cents: i64,
    expected_khr: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    fx: Option<Fx>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fx_drift: Option<FxDrift>,
    items_not_on_menu: &'a [Uuid],
    price_drift_cents: i64,
    receipt_no: &'a str,
    sale_id: Uuid,
    subtotal_cents: i64,
    total_cents: i64,
    vat_cents: i64,
}

/// What `sales.details` keeps of a sale.
#[derive(Serialize)]
struct SaleDetails<'a> {
    change: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    change_given: Option<ChangeGiven>,
    change_khr: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    fx: Option<Fx>,
    items_not_on_menu: &'a [Uuid],
    lines: &'a [SaleLine],
    /// What the sale took from stock, `(stock item, −qty)`: a void puts it back.
    stock: &'a [(Uuid, i64)],
    tender: &'a Tender,
    totals: &'a SaleTotals,
}

/// The details of a sale's audit event.
#[derive(Serialize)]
struct SaleAudit<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    clock_skew_s: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fx_drift: Option<FxDrift>,
    items_not_on_menu: &'a [Uuid],
    negative_stock: &'a [NegativeStock],
    #[serde(skip_serializing_if = "Option::is_none")]
    over_cap: Option<OverCap>,
    price_drift_cents: i64,
    receipt_no: &'a str,
    total_cents: i64,
}

/// How far the exchange rate moved between the till's pricing and the server's applying
/// (`now − till`, riel per dollar; 0 when unchanged). Recorded, never a refusal.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FxDrift {
    khr_per_usd: i64,
}

/// A stock item a sale took below zero (flagged, not refused).
#[derive(Serialize)]
struct NegativeStock {
    on_hand: i64,
    stock_item_id: Uuid,
}

/// Lines at current menu prices (charged price kept for items no longer sellable), the
/// ids no longer on the menu, and the stock used by recipe × qty.
pub(super) async fn reprice(
    tx: &mut dyn Tx,
    ctx: &mut OpContext,
    lines: &[SaleLine],
) -> ApiResult<(Vec<SaleLine>, Vec<Uuid>, BTreeMap<Uuid, i64>)> {
    let mut current = Vec::with_capacity(lines.len());
    let mut not_on_menu = Vec::new();
    let mut stock: BTreeMap<Uuid, i64> = BTreeMap::new();
    for line in lines {
        let item = ctx.menu_item(tx, line.menu_item_id).await?;
        let sellable = item.as_ref().is_some_and(|m| !m.deleted && m.active);
        let unit_price_cents = match (&item, sellable) {
            (Some(m), true) => m.price_cents,
            _ => line.unit_price_cents,
        };
        if !sellable && !not_on_menu.contains(&line.menu_item_id) {
            not_on_menu.push(line.menu_item_id);
        }
        current.push(SaleLine { unit_price_cents, ..line.clone() });
        for r in item.iter().flat_map(|m| m.recipe.iter()) {
            *stock.entry(r.stock_item_id).or_default() -= r.qty.saturating_mul(line.qty);
        }
    }
    Ok((current, not_on_menu, stock))
}

/// A sale's audit event before the stock levels are known: they are final only under
/// the stock rows' lock, at flush, and the event flags the items the sale took below zero.
pub struct SaleAuditDraft {
    clock_skew_s: Option<i64>,
    fx_drift: Option<FxDrift>,
    over_cap: Option<OverCap>,
    stock_deltas: Vec<(Uuid, i64)>,
    items_not_on_menu: Vec<Uuid>,
    price_drift_cents: i64,
    receipt_no: String,
    total_cents: i64,
}

impl SaleAuditDraft {
    /// The event's details, and whether they flag an item below zero, given each stock
    /// item's level before this sale in `on_hand`, which it moves past the sale (so the
    /// next sale's draft sees it).
    pub fn finish(&self, on_hand: &mut std::collections::HashMap<Uuid, i64>) -> ApiResult<(JsonText, bool)> {
        let mut negative_stock = Vec::new();
        for (stock_item_id, delta) in &self.stock_deltas {
            let level = on_hand
                .get_mut(stock_item_id)
                .ok_or_else(|| ApiError::Internal(format!("no stock level of {stock_item_id} at flush")))?;
            *level = level.saturating_add(*delta);
            if *level < 0 {
                negative_stock.push(NegativeStock { on_hand: *level, stock_item_id: *stock_item_id });
            }
        }
        let event = SaleAudit {
            clock_skew_s: self.clock_skew_s,
            fx_drift: self.fx_drift,
            items_not_on_menu: &self.items_not_on_menu,
            negative_stock: &negative_stock,
            over_cap: self.over_cap,
            price_drift_cents: self.price_drift_cents,
            receipt_no: &self.receipt_no,
            total_cents: self.total_cents,
        };
        Ok((json_text(&event)?, !negative_stock.is_empty()))
    }
}

// ---------------------------------------------------------------- cash sessions

async fn open_session(tx: &mut dyn Tx, ctx: &mut OpContext, op: &Op, p: CashSessionOpen) -> Outcome {
    let device_id = device_of(ctx)?;
    if let Some(open) = ctx.open_session_of_device(tx, device_id).await? {
        let msg = format!("this device already has open cash session {open}");
        return Ok(Err(Rejection::new(ErrorCode::CashSessionAlreadyOpen, msg)));
    }
    // Ids are unique across tenants: another tenant's session must not reach the table.
    if ctx.session(tx, p.cash_session_id).await?.is_some() || tx.cash_session_exists(p.cash_session_id).await? {
        return Ok(Err(Rejection::validation("cash_session_id", "this cash session id was already used")));
    }
    // No riel float (a first-release op): 0 riel in the drawer (SPEC §4).
    let float_khr = p.opening_float_khr.unwrap_or(0);
    let session = CashSessionRecord {
        id: p.cash_session_id,
        tenant_id: ctx.tenant_id,
        branch_id: ctx.branch.id,
        device_id,
        opened_by: op.actor_id,
        open: true,
        drawer: cash::opened(p.opening_float_cents, float_khr),
        counted_cash_cents: None,
        counted_khr: None,
        close_khr_per_usd: None,
        opened_at: op.occurred_at,
        closed_at: None,
    };
    ctx.insert_session(tx, session).await?;
    let over_cap = caps::float_over_cap(p.opening_float_cents, float_khr, &ctx.policy);
    let mut details = json!({"opening_float_cents": p.opening_float_cents, "opening_float_khr": float_khr});
    if let Some(over) = over_cap {
        details["over_cap"] = json!(over);
    }
    audit(ctx, "cashSession", "open", details.into());
    Ok(Ok(json!({"cash_session_id": p.cash_session_id, "opening_float_cents": p.opening_float_cents,
                 "opening_float_khr": float_khr, "expected_cash_cents": p.opening_float_cents,
                 "expected_khr": float_khr}).into()))
}

async fn movement(tx: &mut dyn Tx, ctx: &mut OpContext, op: &Op, p: CashSessionMovement) -> Outcome {
    let mut session = match open_session_of(tx, ctx, p.cash_session_id).await? {
        Ok(s) => s,
        Err(r) => return Ok(Err(r)),
    };
    if tx.cash_movement_exists(p.movement_id).await? {
        return Ok(Err(Rejection::validation("movement_id", "this movement id was already used")));
    }
    let amount = p.amount();
    cash::apply_movement(&mut session.drawer, p.kind, amount, 1);
    let (amount_cents, amount_khr) = match amount {
        Cash::Usd(cents) => (cents, 0),
        Cash::Khr(khr) => (0, khr),
    };
    let kind = serde_json::to_value(p.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    tx.insert_cash_movement(&CashMovementRecord {
        id: p.movement_id,
        cash_session_id: session.id,
        kind: kind.clone(),
        amount_cents,
        amount_khr,
        reason: p.reason.clone(),
        actor_id: op.actor_id,
        occurred_at: op.occurred_at,
    })
    .await?;
    let (session_id, drawer) = (session.id, session.drawer);
    ctx.put_session(session);
    let mut details = json!({"movement_id": p.movement_id, "kind": kind, "reason": p.reason});
    match amount {
        Cash::Usd(cents) => details["amount_cents"] = json!(cents),
        Cash::Khr(khr) => details["amount_khr"] = json!(khr),
    }
    audit(ctx, "cashSession", "movement", details.into());
    Ok(Ok(json!({"cash_session_id": session_id, "movement_id": p.movement_id,
                 "expected_cash_cents": cash::expected(&drawer.usd),
                 "expected_khr": cash::expected(&drawer.khr)}).into()))
}

async fn close_session(tx: &mut dyn Tx, ctx: &mut OpContext, op: &Op, p: CashSessionClose) -> Outcome {
    let mut session = match open_session_of(tx, ctx, p.cash_session_id).await? {
        Ok(s) => s,
        Err(r) => return Ok(Err(r)),
    };
    session.open = false;
    session.counted_cash_cents = Some(p.counted_cash_cents);
    // No riel count (a first-release op): riel was not counted, its variance unknown.
    session.counted_khr = p.counted_khr;
    session.close_khr_per_usd = Some(ctx.policy.khr_per_usd);
    session.closed_at = Some(op.occurred_at);
    let result = close_result(&session);
    ctx.put_session(session);
    let result = JsonText::from(result);
    audit(ctx, "cashSession", "close", result.clone());
    Ok(Ok(result))
}

/// A close's result and audit details: expected, counted and variance per currency and
/// the total variance in cents.
fn close_result(s: &CashSessionRecord) -> serde_json::Value {
    let (expected_usd, expected_khr) = (cash::expected(&s.drawer.usd), cash::expected(&s.drawer.khr));
    json!({
        "cash_session_id": s.id,
        "expected_cash_cents": expected_usd,
        "counted_cash_cents": s.counted_cash_cents,
        "variance_cents": s.counted_cash_cents.map(|c| cash::variance(c, expected_usd)),
        "expected_khr": expected_khr,
        "counted_khr": s.counted_khr,
        "variance_khr": s.counted_khr.map(|c| cash::variance(c, expected_khr)),
        "variance_total_cents": views::variance_total_cents(s),
        "close_khr_per_usd": s.close_khr_per_usd,
    })
}

// ---------------------------------------------------------------- sale.void

/// A void (online only, manager+): the sale must be this branch's and not voided yet, the
/// refund's session open and this branch's, the refund worth the sale's total at its
/// rate. Then the sale is marked voided, its stock comes back, the refund leaves the
/// session, and the feed tells the branch's tills.
async fn void_sale(tx: &mut dyn Tx, ctx: &mut OpContext, op: &Op, p: SaleVoid) -> Outcome {
    let Some(sale) = tx.sale(ctx.tenant_id, p.sale_id).await? else {
        return Ok(Err(Rejection::validation("sale_id", "there is no sale with this id")));
    };
    if sale.branch_id != ctx.branch.id {
        return Ok(Err(other_branch("sale", p.sale_id)));
    }
    if let Some(v) = &sale.void {
        let msg = format!("sale {} was already voided at {}", sale.receipt_no, v.at.to_rfc3339());
        return Ok(Err(Rejection::new(ErrorCode::SaleAlreadyVoided, msg)));
    }
    let mut session = match branch_open_session(tx, ctx, p.cash_session_id).await? {
        Ok(s) => s,
        Err(r) => return Ok(Err(r)),
    };
    let details: serde_json::Value = serde_json::from_str(sale.details.as_str()).unwrap_or_default();
    let fx = serde_json::from_value::<Fx>(details["fx"].clone()).unwrap_or_else(|_| Fx::of(&ctx.policy));
    if let Err(r) = pricing::check_refund(&p.refund, sale.total_cents, &fx) {
        return Ok(Err(r));
    }
    let stock_back = stock_of_sale(tx, ctx, &details).await?;
    // ---- effects from here on (the sale row first: a concurrent void loses here)
    let void = SaleVoidRecord {
        at: op.occurred_at,
        actor_id: op.actor_id,
        reason: p.reason.clone(),
        refund_cents: p.refund.usd_cents,
        refund_khr: p.refund.khr,
        cash_session_id: session.id,
        client_op_id: op.client_op_id,
    };
    if !tx.void_sale(ctx.tenant_id, sale.id, &void).await? {
        return Err(ApiError::Internal(format!("sale {} was voided by another request under the branch lock", sale.id)));
    }
    for (item, qty) in &stock_back {
        ctx.add_stock(*item, *qty);
    }
    cash::apply_refund(&mut session.drawer, &p.refund);
    let (session_id, drawer) = (session.id, session.drawer);
    ctx.put_branch_session(session);
    let voided = SaleRecord { void: Some(void), ..sale };
    ctx.change("sales", "sale", voided.id, json_text(&views::sale(&voided))?);
    ctx.change("voids", "sale_void", voided.id, json_text(&views::sale_void(&voided))?);
    let result = json!({
        "sale_id": voided.id, "receipt_no": voided.receipt_no, "voided_at": op.occurred_at, "refund": p.refund,
        "cash_session_id": session_id, "expected_cash_cents": cash::expected(&drawer.usd),
        "expected_khr": cash::expected(&drawer.khr),
    });
    let stock: Vec<serde_json::Value> = stock_back.iter().map(|(i, q)| json!({"stock_item_id": i, "qty": q})).collect();
    let audit_details = json!({"sale_id": voided.id, "receipt_no": voided.receipt_no, "total_cents": voided.total_cents,
                               "refund": p.refund, "reason": p.reason, "cash_session_id": session_id, "stock_returned": stock});
    audit(ctx, "sale", "void", audit_details.into());
    Ok(Ok(result.into()))
}

/// An open cash session of this branch, of any device (a manager at the dashboard pays a
/// refund out of a till's drawer).
async fn branch_open_session(tx: &mut dyn Tx, ctx: &mut OpContext, id: Uuid) -> ApiResult<Result<CashSessionRecord, Rejection>> {
    Ok(match ctx.session(tx, id).await? {
        None => Err(Rejection::new(ErrorCode::NoOpenCashSession, format!("there is no cash session {id} to pay the refund from"))),
        Some(s) if s.branch_id != ctx.branch.id => Err(other_branch("cash session", id)),
        Some(s) if !s.open => Err(Rejection::new(ErrorCode::CashSessionClosed, format!("cash session {id} is closed; pay the refund from an open one"))),
        Some(s) => Ok(s),
    })
}

/// What a sale took from stock, to put back: `(stock item, +qty)`. A sale applied
/// before the sale kept it (no `stock` in its details) gives back by today's recipes.
pub(super) async fn stock_of_sale(tx: &mut dyn Tx, ctx: &mut OpContext, details: &serde_json::Value) -> ApiResult<Vec<(Uuid, i64)>> {
    if let Ok(kept) = serde_json::from_value::<Vec<(Uuid, i64)>>(details["stock"].clone()) {
        return Ok(kept.into_iter().map(|(item, delta)| (item, -delta)).collect());
    }
    let lines: Vec<SaleLine> = serde_json::from_value(details["lines"].clone()).unwrap_or_default();
    let (_, _, used) = reprice(tx, ctx, &lines).await?;
    Ok(used.into_iter().map(|(item, delta)| (item, -delta)).collect())
}

// ---------------------------------------------------------------- attendance

async fn start_work(tx: &mut dyn Tx, ctx: &mut OpContext, op: &Op, actor: &StaffRecord, p: ShiftPayload) -> Outcome {
    let staff = if p.staff_id == actor.id { Some(actor.clone()) } else { ctx.staff(tx, p.staff_id).await? };
    let in_branch = staff.as_ref().is_some_and(|s| s.active && s.branch_ids.contains(&ctx.branch.id));
    if !in_branch {
        return Ok(Err(Rejection::validation("staff_id", "no active staff member with this id works at this branch")));
    }
    let open = tx.open_shift_of_staff(p.staff_id).await?;
    if let Err(r) = attendance::check_start(open.map(|s| s.id)) {
        return Ok(Err(r));
    }
    if tx.shift_exists(p.shift_id).await? {
        return Ok(Err(Rejection::validation("shift_id", "this shift id was already used")));
    }
    let shift = ShiftRecord {
        id: p.shift_id,
        tenant_id: ctx.tenant_id,
        branch_id: ctx.branch.id,
        staff_id: p.staff_id,
        open: true,
        started_at: op.occurred_at,
        ended_at: None,
    };
    tx.insert_shift(&shift).await?;
    let view = json_text(&views::shift(&shift))?;
    ctx.change("attendance", "shift", shift.id, view.clone());
    audit(ctx, "attendance", "startWork", json!({"shift_id": shift.id, "staff_id": shift.staff_id}).into());
    Ok(Ok(view))
}

async fn end_work(tx: &mut dyn Tx, ctx: &mut OpContext, op: &Op, p: ShiftPayload) -> Outcome {
    // An op names only shifts of its own branch (SPEC §5.1 rule 8).
    if let Some(named) = tx.shift(ctx.tenant_id, p.shift_id).await? {
        if named.branch_id != ctx.branch.id {
            return Ok(Err(other_branch("shift", p.shift_id)));
        }
    }
    let open = tx.open_shift_of_staff(p.staff_id).await?.filter(|s| s.tenant_id == ctx.tenant_id);
    if let Some(shift) = open.as_ref().filter(|s| s.branch_id != ctx.branch.id) {
        let msg = format!("the open shift of {} ({}) belongs to another branch; end it there", p.staff_id, shift.id);
        return Ok(Err(Rejection::new(ErrorCode::Forbidden, msg)));
    }
    if let Err(r) = attendance::check_end(open.as_ref().map(|s| s.id), p.shift_id) {
        return Ok(Err(r));
    }
    let Some(mut shift) = open else {
        return Err(ApiError::Internal("check_end accepted a missing shift".into()));
    };
    shift.open = false;
    shift.ended_at = Some(op.occurred_at);
    tx.update_shift(&shift).await?;
    let view = json_text(&views::shift(&shift))?;
    ctx.change("attendance", "shift", shift.id, view.clone());
    audit(ctx, "attendance", "endWork", json!({"shift_id": shift.id, "staff_id": shift.staff_id}).into());
    Ok(Ok(view))
}
