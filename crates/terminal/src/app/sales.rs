//! Selling: the sale and the quote, a cart priced from the cache, and the receipt.

use modula_rules::{caps, pricing, validate};
use modula_wire::op::{ChangeGiven, Fx, Payload, SaleFinalize, SaleLine, Tender};
use modula_wire::{ErrorCode, Policy};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cash::open_session_or_refuse;
use super::enqueue::{Action, Decision};
use super::{cached_menu, cached_policy, payload_json, CachedMenuItem, Queued, Terminal};
use crate::error::{TerminalError, TerminalResult};

/// Body of `POST /api/sales`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SaleRequest {
    /// What is sold.
    pub lines: Vec<SaleRequestLine>,
    /// What was handed over.
    pub tender: Tender,
    /// The change as the cashier gives it; absent, the default split (whole dollars in
    /// USD, the rest in riel).
    #[serde(default)]
    pub change: Option<ChangeGiven>,
    /// The cashier confirmed a tender above the policy's `max_tender_cents`.
    #[serde(default)]
    pub confirm: bool,
}

/// One line of `POST /api/sales`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SaleRequestLine {
    /// The menu item.
    pub menu_item_id: Uuid,
    /// How many.
    pub qty: i64,
}

/// A printed receipt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// The sale's id.
    pub sale_id: Uuid,
    /// `<device code>-<counter>`.
    pub receipt_no: String,
    /// The sale's own time (its op's `occurred_at`, as `GET /api/ops` and
    /// `GET /api/receipts` give it): what the receipt prints, then and at every reprint.
    pub occurred_at: String,
    /// Who sold it, named as at the sale.
    pub cashier: ReceiptCashier,
    /// Lines with names and prices from the cache.
    pub lines: Vec<ReceiptLine>,
    /// Sum of the lines.
    pub subtotal_cents: i64,
    /// VAT (included or added, by policy).
    pub vat_cents: i64,
    /// What the customer pays.
    pub total_cents: i64,
    /// What was handed over.
    pub tender: Tender,
    /// `tendered − total` in cents.
    pub change_cents: i64,
    /// The same in riel, rounded by policy.
    pub change_khr: i64,
    /// The change as given: whole dollars and riel by default, or the cashier's split.
    pub change_given: ChangeGiven,
}

/// One receipt line.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiptLine {
    /// The item.
    pub menu_item_id: Uuid,
    /// Its name.
    pub name: String,
    /// How many.
    pub qty: i64,
    /// Price each.
    pub unit_price_cents: i64,
    /// `qty × unit_price_cents`.
    pub line_total_cents: i64,
}

/// The cashier on a receipt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiptCashier {
    /// Staff id.
    pub id: Uuid,
    /// Name as at the sale.
    pub name: String,
}

impl Terminal {
    /// `POST /api/sales`.
    pub async fn sale(&self, req: SaleRequest) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let d = decide_sale(&mut c, req).await?;
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// `POST /api/quote`: prices a cart and its change exactly as [`Terminal::sale`] would,
    /// from the cache with the shared rules, without enqueuing anything. Needs no
    /// sign-in and no open cash session; a short tender is not a refusal (`short_cents`).
    pub async fn quote(&self, req: SaleRequest) -> TerminalResult<Quote> {
        let mut conn = self.db.reader().acquire().await?;
        let policy = cached_policy(&mut conn, self.device.branch_id).await?;
        let menu = cached_menu(&mut conn).await?;
        drop(conn);
        let policy = check_cart(policy.as_ref(), &menu, &req)?;
        let cart = price_cart(&menu, policy, &req)?;
        let total = cart.totals.total_cents;
        let fx = Fx::of(policy);
        let (change_cents, change_khr, short_cents) = match pricing::change(total, &req.tender, policy) {
            Ok(c) => (c.change_cents, c.change_khr, 0),
            Err(r) if r.code == ErrorCode::InsufficientTender => {
                let short = total.saturating_sub(pricing::tendered_cents(&req.tender, policy));
                (-short, 0, short)
            }
            Err(r) => return Err(r.into()),
        };
        // The same payload checks a sale's op gets (tender ranges, totals), so a quote
        // the page shows as chargeable is one the sale accepts.
        let would_be = SaleFinalize {
            sale_id: Uuid::nil(),
            cash_session_id: Uuid::nil(),
            receipt_no: "QUOTE".into(),
            lines: cart.lines,
            tender: req.tender,
            totals: cart.totals,
            fx: Some(Fx::of(policy)),
            change: req.change,
        };
        validate::parse_payload(modula_wire::OpType::SaleFinalize, &payload_json(&Payload::SaleFinalize(would_be))?)?;
        // The change to give: the cashier's split if valid, else the default; and the
        // all-riel split the page offers as the alternative.
        let owed = change_cents.max(0);
        let default_split = pricing::default_change_split(owed, &fx);
        let all_khr = ChangeGiven { usd_cents: 0, khr: change_khr };
        let change_given = match req.change {
            Some(chosen) if short_cents == 0 => {
                pricing::check_change_split(&chosen, owed, &fx)?;
                chosen
            }
            _ => default_split,
        };
        let nothing = Tender { cash_usd_cents: 0, cash_khr: 0 };
        Ok(Quote {
            short_khr: riel_to_cover(total, &req.tender, &fx),
            total_khr: riel_to_cover(total, &nothing, &fx),
            lines: cart.receipt_lines,
            subtotal_cents: cart.totals.subtotal_cents,
            vat_cents: cart.totals.vat_cents,
            total_cents: total,
            tendered_cents: pricing::tendered_cents(&req.tender, policy),
            change_cents,
            change_khr,
            short_cents,
            enough: short_cents == 0,
            change_given,
            change_default: default_split,
            change_all_khr: all_khr,
            over_cap: caps::tender_over_cap(&req.tender, &fx, policy).map(|o| o.cap_cents),
        })
    }
}

async fn decide_sale(c: &mut Action<'_>, req: SaleRequest) -> TerminalResult<Decision> {
    let (conn, dev) = (&mut *c.tx, &c.dev);
    let menu = cached_menu(conn).await?;
    let policy = check_cart(c.policy.as_ref(), &menu, &req)?;
    let (session, depends_on) = open_session_or_refuse(conn).await?;
    let cart = price_cart(&menu, policy, &req)?;
    // The rate the sale is priced and judged at, recorded with it (SPEC §3.1, §4).
    let fx = Fx::of(policy);
    let change = pricing::change_at(cart.totals.total_cents, &req.tender, &fx)?;
    if let (Some(over), false) = (caps::tender_over_cap(&req.tender, &fx, policy), req.confirm) {
        return Err(super::cash::confirm_first("cash handed over", &over));
    }
    let given = match req.change {
        Some(chosen) => {
            pricing::check_change_split(&chosen, change.change_cents, &fx)?;
            chosen
        }
        None => pricing::default_change_split(change.change_cents, &fx),
    };
    let receipt_no = format!("{}-{}", dev.code, dev.next_receipt_no);
    let totals = cart.totals;
    let sale = SaleFinalize {
        sale_id: Uuid::now_v7(),
        cash_session_id: session,
        receipt_no,
        lines: cart.lines,
        tender: req.tender,
        totals,
        fx: Some(fx),
        change: Some(given),
    };
    let receipt = Receipt {
        sale_id: sale.sale_id,
        receipt_no: sale.receipt_no.clone(),
        // The op's own time, once it is built (`enqueue::finish`).
        occurred_at: String::new(),
        cashier: ReceiptCashier { id: c.actor.staff_id, name: c.actor.name.clone() },
        lines: cart.receipt_lines,
        subtotal_cents: totals.subtotal_cents,
        vat_cents: totals.vat_cents,
        total_cents: totals.total_cents,
        tender: req.tender,
        change_cents: change.change_cents,
        change_khr: change.change_khr,
        change_given: given,
    };
    Ok(Decision {
        payload: Payload::SaleFinalize(sale),
        depends_on,
        stock: cart.stock,
        receipt: Some(receipt),
        next_receipt_no: dev.next_receipt_no + 1,
    })
}

/// A cart priced from the cache with the shared rules: what a sale charges and a quote
/// shows (one function for both, so they can never disagree).
#[derive(Debug, Clone)]
pub struct PricedCart {
    /// The sale's lines, priced from the cache.
    pub lines: Vec<SaleLine>,
    /// The same lines with names, for the receipt.
    pub receipt_lines: Vec<ReceiptLine>,
    /// What the lines use from stock (by recipe).
    pub stock: Vec<(Uuid, i64)>,
    /// Subtotal, VAT and total by the policy.
    pub totals: modula_wire::op::SaleTotals,
}

/// What must hold before a cart can be priced: the policy and menu are cached and the
/// number of lines is within limits. Answers the policy.
fn check_cart<'p>(policy: Option<&'p Policy>, menu: &[CachedMenuItem], req: &SaleRequest) -> TerminalResult<&'p Policy> {
    let Some(policy) = policy else {
        return Err(cache_missing("the pricing policy"));
    };
    if menu.is_empty() {
        return Err(cache_missing("the menu"));
    }
    if req.lines.is_empty() {
        return Err(TerminalError::invalid("lines", "a sale needs at least one line"));
    }
    if req.lines.len() > modula_wire::limits::SALE_MAX_LINES {
        let msg = format!("a sale has at most {} lines", modula_wire::limits::SALE_MAX_LINES);
        return Err(TerminalError::invalid("lines", msg));
    }
    Ok(policy)
}

/// Prices a cart (already [`check_cart`]ed) from the cached menu with the shared rules.
fn price_cart(menu: &[CachedMenuItem], policy: &Policy, req: &SaleRequest) -> TerminalResult<PricedCart> {
    let mut lines = Vec::with_capacity(req.lines.len());
    let mut receipt_lines = Vec::with_capacity(req.lines.len());
    let mut stock: Vec<(Uuid, i64)> = Vec::new();
    for (i, l) in req.lines.iter().enumerate() {
        validate::positive_qty(&format!("lines[{i}].qty"), l.qty)?;
        let item = menu.iter().find(|m| m.id == l.menu_item_id && m.active).ok_or_else(|| {
            TerminalError::invalid(format!("lines[{i}].menu_item_id"), "this item is not on the menu (or not on sale)")
        })?;
        lines.push(SaleLine { menu_item_id: item.id, qty: l.qty, unit_price_cents: item.price_cents });
        receipt_lines.push(ReceiptLine {
            menu_item_id: item.id,
            name: item.name.clone(),
            qty: l.qty,
            unit_price_cents: item.price_cents,
            line_total_cents: l.qty.saturating_mul(item.price_cents),
        });
        for r in &item.recipe {
            add_stock(&mut stock, r.stock_item_id, r.qty.saturating_mul(l.qty));
        }
    }
    let totals = pricing::price(&lines, policy)?;
    Ok(PricedCart { lines, receipt_lines, stock, totals })
}

/// Answer of `POST /api/quote`: what the cart would cost and the change, without
/// selling anything.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Quote {
    /// Lines with names and prices from the cache.
    pub lines: Vec<ReceiptLine>,
    /// Sum of the lines.
    pub subtotal_cents: i64,
    /// VAT (included or added, by policy).
    pub vat_cents: i64,
    /// What the customer pays.
    pub total_cents: i64,
    /// What was handed over, in cents (riel converted by policy, rounded down).
    pub tendered_cents: i64,
    /// `tendered − total`: negative when the tender is short.
    pub change_cents: i64,
    /// The change in riel, rounded by policy (0 when the tender is short).
    pub change_khr: i64,
    /// How much is missing (`total − tendered`, 0 when the tender covers the total).
    pub short_cents: i64,
    /// The riel that would cover what is missing: the least multiple of the policy's
    /// riel step that makes the tender enough (0 when it is enough).
    pub short_khr: i64,
    /// The total in riel: the least multiple of the riel step that pays it in riel alone.
    pub total_khr: i64,
    /// Would `POST /api/sales` accept this tender?
    pub enough: bool,
    /// The change to give as a split: the request's `change` when valid, else
    /// [`Quote::change_default`].
    pub change_given: ChangeGiven,
    /// The default split: whole dollars in dollars, the rest in riel.
    pub change_default: ChangeGiven,
    /// All the change in riel (rounded by policy).
    pub change_all_khr: ChangeGiven,
    /// The policy's tender cap in cents when this tender is above it (the sale then
    /// needs `"confirm": true`); null otherwise.
    pub over_cap: Option<i64>,
}

/// The least extra riel, in multiples of the exchange's riel step, that makes `tender`
/// cover `total_cents` by the shared tender rule (0 when it already does). Only for an
/// exchange whose rate is positive (one [`pricing::change`] accepted, or a sale's `fx`).
pub(crate) fn riel_to_cover(total_cents: i64, tender: &Tender, fx: &Fx) -> i64 {
    if fx.khr_per_usd <= 0 {
        return 0;
    }
    let short = i128::from(total_cents) - i128::from(pricing::tendered_cents_at(tender, fx));
    if short <= 0 {
        return 0;
    }
    let step = i128::from(fx.khr_rounding.max(1));
    let rate = i128::from(fx.khr_per_usd.max(1));
    // ceil(short × rate / 100) rounded up to the step; floor(a + b) ≥ floor(a) + floor(b)
    // makes it enough, the loop only guards that reasoning.
    let unit = 100 * step;
    let mut extra = (short * rate + unit - 1) / unit * step;
    for _ in 0..4 {
        let more = Tender {
            cash_usd_cents: tender.cash_usd_cents,
            cash_khr: (i128::from(tender.cash_khr) + extra).clamp(0, i128::from(i64::MAX)) as i64,
        };
        if pricing::tendered_cents_at(&more, fx) >= total_cents {
            break;
        }
        extra += step;
    }
    extra.clamp(0, i128::from(i64::MAX)) as i64
}

fn add_stock(stock: &mut Vec<(Uuid, i64)>, item: Uuid, qty: i64) {
    match stock.iter_mut().find(|(i, _)| *i == item) {
        Some((_, q)) => *q = q.saturating_add(qty),
        None => stock.push((item, qty)),
    }
}

fn cache_missing(what: &str) -> TerminalError {
    TerminalError::refuse(
        ErrorCode::CacheMissing,
        format!(
            "cannot sell yet: this terminal has not downloaded {what} of its branch. \
             Connect it to the internet once so it can fetch the menu and prices, then try again"
        ),
    )
}
