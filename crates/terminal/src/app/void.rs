//! Voiding a sale at the till (SPEC §6, issue 23): online only, with a manager signed in;
//! sent through the direct lane with the device token and that manager as the actor; the
//! refund leaves this till's open drawer. Never queued: a void that cannot reach the
//! server now is refused with the reason, not saved for later.

use modula_rules::{hash, pricing, Rejection};
use modula_wire::op::{ChangeGiven, Fx, OpType, SaleVoid};
use modula_wire::{ErrorCode, Op, Role};
use serde::Deserialize;
use uuid::Uuid;

use super::{cached_policy, internal, Terminal};
use crate::error::{TerminalError, TerminalResult};
use crate::local;
use crate::remote::{DirectOutcome, RemoteError};

/// Body of `POST /api/sales/{sale_id}/void`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct VoidRequest {
    /// Why (required).
    #[serde(default)]
    pub reason: String,
    /// What goes back to the customer; absent, the sale's total as the default split
    /// (whole dollars, the rest in riel) at the sale's rate.
    #[serde(default)]
    pub refund: Option<ChangeGiven>,
}

fn server_refusal(e: RemoteError) -> TerminalError {
    match e {
        RemoteError::Refused(p) => TerminalError::Rejected(Rejection { code: p.code, message: p.detail, field: p.field }),
        other => TerminalError::refuse(ErrorCode::ServiceUnavailable, format!("the server did not answer the void: {other}; nothing was voided")),
    }
}

impl Terminal {
    /// `POST /api/sales/{sale_id}/void`.
    pub async fn void_sale(&self, sale_id: Uuid, req: VoidRequest) -> TerminalResult<serde_json::Value> {
        if !self.link.online() {
            let msg = "a void needs the internet: the server must check the sale is not voided already; try again when online";
            return Err(TerminalError::refuse(ErrorCode::NotAllowedOffline, msg));
        }
        let (actor, session, policy, open_pending) = {
            let mut w = self.db.writer().await;
            let actor = self.current_actor(&mut w).await?;
            let session = local::open_session(&mut w).await?;
            let open_pending = match session.as_ref().and_then(|s| s.open_op_id) {
                Some(id) => crate::db::is_pending(&mut w, id).await?,
                None => false,
            };
            (actor, session, cached_policy(&mut w, self.device.branch_id).await?, open_pending)
        };
        if actor.role < Role::Manager {
            return Err(TerminalError::refuse(ErrorCode::Forbidden, "a void needs a manager or owner signed in at this till"));
        }
        let Some(session) = session else {
            return Err(TerminalError::refuse(ErrorCode::NoOpenCashSession, "the refund is paid out of this till's drawer: open it first"));
        };
        if open_pending {
            return Err(TerminalError::refuse(ErrorCode::DependencyMissing, "this drawer's opening has not reached the server yet; void once it has synced"));
        }
        let sale = self.remote.sale(sale_id).await.map_err(server_refusal)?;
        let total = sale["total_cents"].as_i64().ok_or_else(|| internal("the server's sale has no total"))?;
        let fx = serde_json::from_value::<Fx>(sale["fx"].clone()).unwrap_or_else(|_| Fx::of(&policy.unwrap_or_default()));
        let refund = req.refund.unwrap_or_else(|| pricing::default_change_split(total, &fx));
        let reason = req.reason.clone();
        let payload = SaleVoid { sale_id, cash_session_id: session.id, reason: req.reason, refund };
        let payload = serde_json::to_value(&payload).map_err(internal)?;
        modula_rules::validate::parse_payload(OpType::SaleVoid, &payload)?;
        let op = Op {
            client_op_id: Uuid::now_v7(),
            op_type: OpType::SaleVoid.as_str().into(),
            tenant_id: self.device.tenant_id,
            branch_id: self.device.branch_id,
            actor_id: actor.staff_id,
            device_seq: 0,
            occurred_at: chrono::Utc::now(),
            payload_hash: hash::payload_hash(OpType::SaleVoid.as_str(), self.device.tenant_id, self.device.branch_id, actor.staff_id, &payload),
            payload,
            depends_on: vec![],
        };
        let result = match self.remote.direct(&op).await.map_err(server_refusal)? {
            DirectOutcome::Applied(result) => result,
            DirectOutcome::Rejected(p) => return Err(TerminalError::Rejected(Rejection { code: p.code, message: p.detail, field: p.field })),
        };
        {
            let mut w = self.db.writer().await;
            let mut tx = sqlx::Connection::begin(&mut *w).await?;
            local::apply_refund(&mut tx, sale_id, session.id, &refund).await?;
            // This till's receipt of the sale (if it is one of its own) shows VOID at once.
            crate::receipts::set_own_void(&mut tx, sale_id, op.occurred_at, &reason, &refund, actor.staff_id, session.id).await?;
            crate::db::touch_action(&mut tx, chrono::Utc::now()).await?;
            tx.commit().await?;
        }
        self.pull_kick.notify_one();
        Ok(serde_json::json!({"sale_id": sale_id, "voided": true, "refund": refund, "result": result}))
    }
}
