//! The direct online lane (SPEC §5.2): one op per request, keyed by `Idempotency-Key`,
//! run through the very same [`push::process`] as the replay lane, so both lanes share
//! one key space, one rule set and one stored outcome per `client_op_id`.

use modula_rules::{hash, Rejection};
use modula_store::{Lane, OpOutcome, OpRecord, Store};
use modula_wire::op::{OnlineOp, OpType};
use modula_wire::{ErrorCode, Op, Problem};
use uuid::Uuid;

use super::push::{self, BranchLock, OpContext};
use crate::auth::{Auth, Principal};
use crate::error::{status_for_code, ApiError, ApiResult};
use crate::in_flight::InFlight;
use crate::metrics::Metrics;

/// What the online endpoint answers.
pub struct OnlineAnswer {
    /// HTTP status.
    pub status: u16,
    /// The op's result (2xx) or a problem document.
    pub body: modula_wire::JsonText,
    /// Whether this is a stored answer given again (`Idempotent-Replayed: true`).
    pub replayed: bool,
}

/// Submits one op on the online lane.
pub async fn submit(
    store: &dyn Store,
    metrics: &Metrics,
    in_flight: &InFlight,
    auth: &Auth,
    key: Uuid,
    op_type: OpType,
    body: OnlineOp,
) -> ApiResult<OnlineAnswer> {
    let (device_id, branch_id) = caller(auth, &body)?;
    let op = Op {
        client_op_id: key,
        op_type: op_type.as_str().to_string(),
        tenant_id: body.tenant_id,
        branch_id: body.branch_id,
        actor_id: body.actor_id,
        device_seq: body.device_seq.unwrap_or(0),
        occurred_at: body.occurred_at,
        payload_hash: hash::payload_hash(op_type.as_str(), body.tenant_id, body.branch_id, body.actor_id, &body.payload),
        payload: body.payload,
        depends_on: body.depends_on,
    };
    let Some(_guard) = in_flight.enter(auth.tenant_id, key) else {
        let msg = "a request with this Idempotency-Key is still being processed; retry shortly";
        return Err(Rejection::new(ErrorCode::RequestInFlight, msg).into());
    };
    // A key seen before is answered from its stored, immutable record.
    let stored = store.ops_by_ids(auth.tenant_id, &[key]).await?.pop();
    if let Some(stored) = stored {
        return answer_stored(&stored, &op.payload_hash);
    }
    let mut tx = store.begin_write().await?;
    if let Some(device_id) = device_id {
        let device = tx.lock_device(auth.tenant_id, device_id).await?;
        if device.is_none_or(|d| d.revoked_at.is_some()) {
            return Err(ApiError::Unauthorized("this device has been revoked; enroll it again".into()));
        }
    }
    let ops = std::slice::from_ref(&op);
    let mut ctx = OpContext::load(tx.as_mut(), auth.tenant_id, branch_id, device_id, Lane::Online, BranchLock::First, ops).await?;
    if let Some(stored) = ctx.known_op(key).cloned() {
        return answer_stored(&stored, &op.payload_hash);
    }
    push::process(tx.as_mut(), &mut ctx, &op).await?;
    let record = ctx.known_op(key).cloned().ok_or_else(|| ApiError::Internal("processed op was not recorded".into()))?;
    // Locked first, nothing can go stale.
    ctx.flush(tx.as_mut()).await??;
    tx.commit().await?;
    ctx.observe_branch_lock(metrics);
    Ok(answer(&record, false))
}

/// The device and branch the op runs in: a device token's own; for a staff token, no
/// device and the op's branch, after checking the staff member acts for themself in a
/// branch they belong to (a token cannot act in someone else's name).
fn caller(auth: &Auth, body: &OnlineOp) -> ApiResult<(Option<Uuid>, Uuid)> {
    match &auth.principal {
        Principal::Device { device_id, branch_id } => Ok((Some(*device_id), *branch_id)),
        Principal::Staff { staff_id, .. } => {
            if body.actor_id != *staff_id {
                return Err(ApiError::Forbidden("a staff token can only submit its own ops (actor_id)".into()));
            }
            if body.tenant_id != auth.tenant_id || !auth.sees_branch(body.branch_id) {
                return Err(ApiError::Forbidden("you are not assigned to this branch".into()));
            }
            Ok((None, body.branch_id))
        }
    }
}

fn answer_stored(stored: &OpRecord, hash: &str) -> ApiResult<OnlineAnswer> {
    if stored.payload_hash != hash {
        let msg = "this Idempotency-Key was already used with a different body; the stored op is unchanged";
        return Err(Rejection::new(ErrorCode::PayloadMismatch, msg).into());
    }
    Ok(answer(stored, true))
}

fn answer(record: &OpRecord, replayed: bool) -> OnlineAnswer {
    match &record.outcome {
        OpOutcome::Applied(result) => OnlineAnswer { status: 201, body: result.clone(), replayed },
        OpOutcome::Rejected { code, message, field } => {
            let status = status_for_code(*code).as_u16();
            let mut problem = Problem::new(status, *code, message);
            problem.field = field.clone();
            OnlineAnswer { status, body: serde_json::to_value(problem).unwrap_or_default().into(), replayed }
        }
    }
}
