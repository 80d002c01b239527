//! The cash session: open, movements and close, and the session as the API shows it.

use modula_rules::{caps, cash};
use modula_wire::op::{CashSessionClose, CashSessionMovement, CashSessionOpen, MovementKind, Payload};
use modula_wire::ErrorCode;
use serde::Deserialize;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::enqueue::{pending_dep, Decision};
use super::{Queued, Terminal};
use crate::error::{TerminalError, TerminalResult};
use crate::local;

/// Body of `POST /api/cash-sessions/open`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct OpenRequest {
    /// Dollars in the drawer, in cents.
    pub opening_float_cents: i64,
    /// Riel in the drawer (absent: none).
    #[serde(default)]
    pub opening_float_khr: Option<i64>,
    /// The cashier confirmed a float above the policy's `max_float_cents`.
    #[serde(default)]
    pub confirm: bool,
}

/// Body of `POST /api/cash-sessions/movement`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct MovementRequest {
    /// paid_in, paid_out or adjustment.
    pub kind: MovementKind,
    /// A dollar amount in cents (an adjustment may be negative).
    #[serde(default)]
    pub amount_cents: Option<i64>,
    /// Or a riel amount.
    #[serde(default)]
    pub amount_khr: Option<i64>,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// Body of `POST /api/cash-sessions/close`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CloseRequest {
    /// Dollars counted, in cents.
    pub counted_cash_cents: i64,
    /// Riel counted (absent: riel not counted; the page always sends it).
    #[serde(default)]
    pub counted_khr: Option<i64>,
}

impl Terminal {
    /// `POST /api/cash-sessions/open`: a float above the policy's cap needs `confirm`.
    pub async fn open_session(&self, req: OpenRequest) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            if let Some(s) = local::open_session(&mut c.tx).await? {
                let msg = format!("a cash session ({}) is already open on this terminal; close it first", s.id);
                return Err(TerminalError::refuse(ErrorCode::CashSessionAlreadyOpen, msg));
            }
            let float_khr = req.opening_float_khr.unwrap_or(0);
            let over = caps::float_over_cap(req.opening_float_cents, float_khr, &c.policy.clone().unwrap_or_default());
            if let (Some(over), false) = (over, req.confirm) {
                return Err(confirm_first("opening float", &over));
            }
            let p = CashSessionOpen {
                cash_session_id: Uuid::now_v7(),
                opening_float_cents: req.opening_float_cents,
                opening_float_khr: Some(float_khr),
            };
            let d = Decision::plain(Payload::CashSessionOpen(p), vec![], c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// `POST /api/cash-sessions/movement`.
    pub async fn movement(&self, req: MovementRequest) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let (session, depends_on) = open_session_or_refuse(&mut c.tx).await?;
            let p = CashSessionMovement {
                cash_session_id: session,
                movement_id: Uuid::now_v7(),
                kind: req.kind,
                amount_cents: req.amount_cents,
                amount_khr: req.amount_khr,
                reason: req.reason,
            };
            let d = Decision::plain(Payload::CashSessionMovement(p), depends_on, c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// `POST /api/cash-sessions/close`.
    pub async fn close_session(&self, req: CloseRequest) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let (session, depends_on) = open_session_or_refuse(&mut c.tx).await?;
            let p = CashSessionClose {
                cash_session_id: session,
                counted_cash_cents: req.counted_cash_cents,
                counted_khr: req.counted_khr,
            };
            let d = Decision::plain(Payload::CashSessionClose(p), depends_on, c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }
}

impl Terminal {
    /// `POST /api/cash-sessions/close/preview`: what closing the open session with these
    /// counts would show (expected, counted and variance per currency, the total variance
    /// at the cached rate), without closing it: the blind close's confirm step.
    /// Only for the signed-in person, like the close itself.
    pub async fn close_preview(&self, req: CloseRequest) -> TerminalResult<serde_json::Value> {
        {
            let mut w = self.db.writer().await;
            self.current_actor(&mut w).await?;
        }
        let mut conn = self.db.reader().acquire().await?;
        let policy = super::cached_policy(&mut conn, self.device.branch_id).await?.unwrap_or_default();
        let Some(mut s) = local::open_session(&mut conn).await? else {
            return Err(TerminalError::refuse(ErrorCode::NoOpenCashSession, "no cash session is open on this terminal"));
        };
        for (field, value, max) in [
            ("counted_cash_cents", Some(req.counted_cash_cents), modula_wire::limits::MONEY_MAX_CENTS),
            ("counted_khr", req.counted_khr, modula_wire::limits::KHR_MAX),
        ] {
            if value.is_some_and(|v| !(0..=max).contains(&v)) {
                return Err(TerminalError::invalid(field, format!("must be between 0 and {max}")));
            }
        }
        s.open = false;
        s.counted_cash_cents = Some(req.counted_cash_cents);
        s.counted_khr = req.counted_khr;
        s.close_khr_per_usd = Some(policy.khr_per_usd);
        Ok(session_json(&s))
    }
}

/// `CONFIRMATION_REQUIRED`: `what` is above a cap of the policy; the cashier checks the
/// amount and sends it again with `"confirm": true`.
pub(super) fn confirm_first(what: &str, over: &caps::OverCap) -> TerminalError {
    let msg = format!(
        "the {what} is worth {} (riel at the shop's rate), above the shop's cap of {}; check the amount, and confirm it only if it is right",
        cash::usd_text(over.amount_cents),
        cash::usd_text(over.cap_cents)
    );
    TerminalError::refuse(ErrorCode::ConfirmationRequired, msg)
}

/// The open session and, if its open op is not synced yet, that op as a dependency.
pub(super) async fn open_session_or_refuse(conn: &mut SqliteConnection) -> TerminalResult<(Uuid, Vec<Uuid>)> {
    let Some(s) = local::open_session(conn).await? else {
        return Err(TerminalError::refuse(
            ErrorCode::NoOpenCashSession,
            "no cash session is open on this terminal; open the cash drawer session first",
        ));
    };
    Ok((s.id, pending_dep(conn, s.open_op_id).await?))
}

pub(super) async fn session_view(conn: &mut SqliteConnection, p: &Payload) -> TerminalResult<Option<serde_json::Value>> {
    match p {
        Payload::CashSessionOpen(_) | Payload::CashSessionMovement(_) | Payload::CashSessionClose(_) => {
            Ok(local::latest_session(conn).await?.map(|s| session_json(&s)))
        }
        _ => Ok(None),
    }
}

/// A local cash session as the API shows it: the fields of the server's view (SPEC
/// §5.6), each currency's flows under `usd` and `khr`, and `cash_sales_cents` (dollars
/// of sales net of change).
pub fn session_json(s: &local::LocalSession) -> serde_json::Value {
    let (usd, khr) = (&s.drawer.usd, &s.drawer.khr);
    let (expected_usd, expected_khr) = (cash::expected(usd), cash::expected(khr));
    let variance_cents = s.counted_cash_cents.map(|c| cash::variance(c, expected_usd));
    let variance_khr = s.counted_khr.map(|c| cash::variance(c, expected_khr));
    let rate = s.close_khr_per_usd.unwrap_or(0);
    let currency = |f: &modula_wire::CashFlows, counted: Option<i64>, expected: i64| {
        serde_json::json!({
            "float": f.float, "tendered": f.tendered, "change": f.change, "paid_in": f.paid_in,
            "paid_out": f.paid_out, "adjustments": f.adjustments, "refunds": f.refunds,
            "expected": expected, "counted": counted, "variance": counted.map(|c| cash::variance(c, expected)),
        })
    };
    serde_json::json!({
        "id": s.id, "status": if s.open { "open" } else { "closed" },
        "opening_float_cents": usd.float, "expected_cash_cents": expected_usd,
        "counted_cash_cents": s.counted_cash_cents, "variance_cents": variance_cents,
        "opening_float_khr": khr.float, "expected_khr": expected_khr,
        "counted_khr": s.counted_khr, "variance_khr": variance_khr,
        "variance_total_cents": variance_cents.map(|v| cash::variance_total_cents(v, variance_khr, rate)),
        "close_khr_per_usd": s.close_khr_per_usd,
        "usd": currency(usd, s.counted_cash_cents, expected_usd),
        "khr": currency(khr, s.counted_khr, expected_khr),
        "cash_sales_cents": cash::net_sales(usd), "paid_in_cents": usd.paid_in,
        "paid_out_cents": usd.paid_out, "adjustments_cents": usd.adjustments,
        "opened_at": s.opened_at, "closed_at": s.closed_at,
    })
}
