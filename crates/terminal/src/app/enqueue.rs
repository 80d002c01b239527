//! The shared enqueue machinery: an action's transaction, its op and effects, the direct lane.

use chrono::{DateTime, Utc};
use modula_rules::{access, validate};
use modula_wire::op::Payload;
use modula_wire::{BranchStatus, ErrorCode, Op, Policy};
use sqlx::{Connection, SqliteConnection};
use uuid::Uuid;

use super::attendance::shift_of;
use super::cash::session_view;
use super::{branch_status, cached_policy, internal, Queued, Receipt, SignedIn, Terminal};
use crate::db::{self, DeviceRow, QueueStatus};
use crate::error::{TerminalError, TerminalResult};
use crate::local;
use crate::remote::DirectOutcome;

/// An action's open write transaction and what it acts on.
pub(super) struct Action<'c> {
    pub(super) tx: sqlx::Transaction<'c, sqlx::Sqlite>,
    pub(super) dev: DeviceRow,
    pub(super) actor: SignedIn,
    pub(super) policy: Option<Policy>,
}

/// What an action decided: the payload, and what its answer shows.
pub(super) struct Decision {
    pub(super) payload: Payload,
    pub(super) depends_on: Vec<Uuid>,
    pub(super) stock: Vec<(Uuid, i64)>,
    pub(super) receipt: Option<Receipt>,
    pub(super) next_receipt_no: i64,
}

impl Decision {
    pub(super) fn plain(payload: Payload, depends_on: Vec<Uuid>, next_receipt_no: i64) -> Decision {
        Decision { payload, depends_on, stock: Vec::new(), receipt: None, next_receipt_no }
    }
}

impl Terminal {
    /// Opens the action's write transaction: who acts, the device row, the branch must
    /// not be frozen, and the cached policy.
    pub(super) async fn begin<'c>(&self, w: &'c mut SqliteConnection) -> TerminalResult<Action<'c>> {
        // Before the transaction: a sign-in that no longer holds is ended for good.
        let actor = self.current_actor(w).await?;
        let mut tx = w.begin().await?;
        let dev = db::device(&mut tx).await?.ok_or_else(|| internal("terminal is not enrolled"))?;
        // The action counts as activity (committed with the op; a refusal rolls it back).
        db::touch_action(&mut tx, Utc::now()).await?;
        refuse_if_frozen(&mut tx, dev.branch_id).await?;
        let policy = cached_policy(&mut tx, dev.branch_id).await?;
        Ok(Action { tx, dev, actor, policy })
    }

    /// Checks the actor's rights, writes the op, its local effects and the counters, and
    /// commits: the op is durable when this returns.
    pub(super) async fn finish(&self, c: Action<'_>, d: Decision) -> TerminalResult<(Op, Queued)> {
        let Action { mut tx, dev, actor, policy } = c;
        let policy = policy.unwrap_or_default();
        access::check_actor(actor.staff_id, actor.role, &d.payload, &policy)?;
        let op = build_op(&dev, actor.staff_id, &d)?;
        let stock_json = (!d.stock.is_empty()).then(|| serde_json::to_string(&d.stock).map_err(internal)).transpose()?;
        db::insert_op(&mut tx, &op, stock_json.as_deref()).await?;
        // A sale's receipt is kept with its op (SPEC §6), at the op's own time.
        let mut receipt = d.receipt;
        if let (Payload::SaleFinalize(sale), Some(r)) = (&d.payload, receipt.as_mut()) {
            r.occurred_at = db::ts(op.occurred_at);
            crate::receipts::insert(&mut tx, &op, sale, r).await?;
        }
        local::apply(&mut tx, op.client_op_id, &d.payload, op.occurred_at, 1, Some(policy.khr_per_usd)).await?;
        local::add_stock_pending(&mut tx, &d.stock, 1).await?;
        db::set_counters(&mut tx, dev.next_device_seq + 1, d.next_receipt_no).await?;
        let session = session_view(&mut tx, &d.payload).await?;
        let queued = Queued {
            client_op_id: op.client_op_id,
            op_type: d.payload.op_type().as_str(),
            device_seq: op.device_seq,
            status: QueueStatus::Pending,
            code: None,
            message: None,
            receipt,
            cash_session: session,
            shift_id: shift_of(&d.payload),
        };
        // With an Idempotency-Key, the answer is kept in the op's own transaction: a crash
        // after this commit cannot leave a queued op whose key would queue it again.
        let answer = serde_json::to_string(&queued).map_err(internal)?;
        crate::idempotency::keep_with_op(&mut tx, axum::http::StatusCode::CREATED.as_u16(), &answer).await?;
        tx.commit().await?;
        self.failpoint("enqueue-committed");
        Ok((op, queued))
    }

    /// After a durable enqueue: try the direct lane if it is the only pending op and the
    /// link is up; otherwise (or on any failure) the push loop sends it.
    pub(super) async fn after_enqueue(&self, op: &Op, mut queued: Queued) -> Queued {
        if self.config.direct_lane && self.link.online() {
            if let Err(e) = self.try_direct(op, &mut queued).await {
                tracing::debug!(error = %e, "direct lane failed; the op stays queued");
            }
        }
        if queued.status == QueueStatus::Pending {
            self.push_kick.notify_one();
        }
        queued
    }

    async fn try_direct(&self, op: &Op, queued: &mut Queued) -> TerminalResult<()> {
        let Ok(_sending) = self.send_lock.try_lock() else { return Ok(()) };
        let oldest = {
            let mut conn = self.db.reader().acquire().await?;
            db::pending_ops(&mut conn, 1).await?
        };
        if oldest.first().map(|o| o.client_op_id) != Some(op.client_op_id) {
            return Ok(());
        }
        let outcome = match self.remote.direct(op).await {
            Ok(o) => o,
            Err(e) => {
                self.link.set(!e.is_transport());
                return Err(internal(e));
            }
        };
        self.link.set(true);
        let mut w = self.db.writer().await;
        let mut tx = w.begin().await?;
        let (status, code, message) = match outcome {
            DirectOutcome::Applied(result) => {
                crate::settle::synced(&mut tx, op.client_op_id, Some(&result.to_string())).await?;
                (QueueStatus::Synced, None, None)
            }
            DirectOutcome::Rejected(p) => {
                let code = p.code.to_string();
                crate::settle::failed(&mut tx, op.client_op_id, &code, &p.detail).await?;
                (QueueStatus::Failed, Some(code), Some(p.detail))
            }
        };
        db::note_push(&mut tx, Utc::now()).await?;
        tx.commit().await?;
        queued.status = status;
        queued.code = code;
        queued.message = message;
        Ok(())
    }
}

async fn refuse_if_frozen(conn: &mut SqliteConnection, branch_id: Uuid) -> TerminalResult<()> {
    if branch_status(conn, branch_id).await? == Some(BranchStatus::Frozen) {
        return Err(TerminalError::refuse(
            ErrorCode::BranchFrozen,
            "this branch is frozen by a manager: sales and cash changes are refused until it is unfrozen",
        ));
    }
    Ok(())
}

pub(super) async fn pending_dep(conn: &mut SqliteConnection, op: Option<Uuid>) -> TerminalResult<Vec<Uuid>> {
    match op {
        Some(id) if db::is_pending(conn, id).await? => Ok(vec![id]),
        _ => Ok(vec![]),
    }
}

fn build_op(dev: &DeviceRow, actor: Uuid, d: &Decision) -> TerminalResult<Op> {
    let op_type = d.payload.op_type().as_str();
    let payload = payload_json(&d.payload)?;
    // The same validation the server runs, so a malformed op never enters the queue.
    validate::parse_payload(d.payload.op_type(), &payload)?;
    let payload_hash = modula_rules::hash::payload_hash(op_type, dev.tenant_id, dev.branch_id, actor, &payload);
    let occurred_at: DateTime<Utc> = Utc::now();
    Ok(Op {
        client_op_id: Uuid::now_v7(),
        op_type: op_type.to_string(),
        tenant_id: dev.tenant_id,
        branch_id: dev.branch_id,
        actor_id: actor,
        device_seq: dev.next_device_seq,
        occurred_at,
        payload,
        payload_hash,
        depends_on: d.depends_on.clone(),
    })
}

/// A payload as its wire JSON.
pub fn payload_json(p: &Payload) -> TerminalResult<serde_json::Value> {
    let v = match p {
        Payload::SaleFinalize(x) => serde_json::to_value(x),
        Payload::CashSessionOpen(x) => serde_json::to_value(x),
        Payload::CashSessionMovement(x) => serde_json::to_value(x),
        Payload::CashSessionClose(x) => serde_json::to_value(x),
        Payload::AttendanceStartWork(x) | Payload::AttendanceEndWork(x) => serde_json::to_value(x),
        Payload::SaleVoid(x) => serde_json::to_value(x),
    };
    v.map_err(internal)
}
