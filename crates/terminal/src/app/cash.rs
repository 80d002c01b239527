//! The cash session: open, movements and close, and the session as the API shows it.

use modula_wire::op::{CashSessionClose, CashSessionMovement, CashSessionOpen, MovementKind, Payload};
use modula_wire::ErrorCode;
use serde::Deserialize;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::enqueue::{pending_dep, Decision};
use super::{Queued, Terminal};
use crate::error::{TerminalError, TerminalResult};
use crate::local;

/// Body of `POST /api/cash-sessions/movement`.
#[derive(Debug, Clone, Deserialize)]
pub struct MovementRequest {
    /// paid_in, paid_out or adjustment.
    pub kind: MovementKind,
    /// Amount in cents (an adjustment may be negative).
    pub amount_cents: i64,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

impl Terminal {
    /// `POST /api/cash-sessions/open`.
    pub async fn open_session(&self, opening_float_cents: i64) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            if let Some(s) = local::open_session(&mut c.tx).await? {
                let msg = format!("a cash session ({}) is already open on this terminal; close it first", s.id);
                return Err(TerminalError::refuse(ErrorCode::CashSessionAlreadyOpen, msg));
            }
            let p = CashSessionOpen { cash_session_id: Uuid::now_v7(), opening_float_cents };
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
                reason: req.reason,
            };
            let d = Decision::plain(Payload::CashSessionMovement(p), depends_on, c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// `POST /api/cash-sessions/close`.
    pub async fn close_session(&self, counted_cash_cents: i64) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let (session, depends_on) = open_session_or_refuse(&mut c.tx).await?;
            let p = CashSessionClose { cash_session_id: session, counted_cash_cents };
            let d = Decision::plain(Payload::CashSessionClose(p), depends_on, c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }
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

/// A local cash session as the API shows it.
pub fn session_json(s: &local::LocalSession) -> serde_json::Value {
    let expected = modula_rules::cash::expected_cash_cents(&s.totals);
    serde_json::json!({
        "id": s.id, "status": if s.open { "open" } else { "closed" },
        "opening_float_cents": s.totals.opening_float_cents, "cash_sales_cents": s.totals.cash_sales_cents,
        "paid_in_cents": s.totals.paid_in_cents, "paid_out_cents": s.totals.paid_out_cents,
        "adjustments_cents": s.totals.adjustments_cents, "expected_cash_cents": expected,
        "counted_cash_cents": s.counted_cash_cents,
        "variance_cents": s.counted_cash_cents.map(|c| modula_rules::cash::variance_cents(c, expected)),
        "opened_at": s.opened_at, "closed_at": s.closed_at,
    })
}
