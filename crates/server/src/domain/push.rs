//! The push replay lane (SPEC §5.1): exactly-once apply of offline ops, rules 1–9 in order.
//!
//! One push is one write transaction. Its first statement locks the device row, so two
//! pushes of one device (on any server process) are serialized. The branch row is
//! locked last, at flush, where it must still be the row the ops were decided with; if
//! an admin write moved it, the push is rolled back and decided again with the branch
//! locked first (see `batch.rs`). Inside, ops run in
//! `device_seq` order; each is either replayed from the op log, rejected (the rejection
//! is stored), or applied with its effects, its audit event, its change-feed rows and its
//! op record. Every rejection is decided before the op's first write, so a rejected op
//! never leaves a partial effect, and a storage error fails the whole request (5xx) with
//! nothing stored.

use modula_rules::{access, hash, validate, Rejection};
use modula_store::{Lane, OpOutcome, OpRecord, StaffRecord, Store, StoreError, Tx};
use modula_wire::op::{OpType, Payload, ONLINE_ONLY_OP_TYPES};
use modula_wire::{ErrorCode, Op, OpResult, OpStatus, PushRequest, PushResponse};

use super::apply;
pub use super::batch::{BranchLock, OpContext, Stale};
use crate::auth::{Auth, Principal};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

/// `POST /v1/sync/push`.
pub async fn push(store: &dyn Store, metrics: &Metrics, auth: &Auth, req: PushRequest) -> ApiResult<PushResponse> {
    let Principal::Device { device_id, branch_id } = auth.principal else {
        return Err(ApiError::Forbidden("push needs a device token (POST /v1/devices)".into()));
    };
    if req.device_id != device_id {
        return Err(ApiError::Forbidden("device_id is not the device of this token".into()));
    }
    if req.operations.len() > modula_wire::limits::PUSH_MAX_OPS {
        return Err(ApiError::PayloadTooLarge(format!(
            "a push carries at most {} operations; split the batch",
            modula_wire::limits::PUSH_MAX_OPS
        )));
    }
    // CPU work that depends on the ops alone (hash, payload parse) is done before the
    // transaction, so the device and branch locks are held only for the decisions.
    let prepared = prepare(&req.operations).await;
    if let Some(answers) = replay_only(store, auth, &req.operations, &prepared).await? {
        return Ok(PushResponse { results: answers });
    }
    let branch_lock = branch_lock_for(&req.operations);
    let first = attempt(store, metrics, auth, (device_id, branch_id), &req.operations, prepared, branch_lock).await;
    let retry_reason = match first {
        Ok(Ok(results)) => return Ok(PushResponse { results }),
        Ok(Err(Stale)) => "branch",
        // A key another device inserted while this one decided without the branch lock
        // (a sale, session or op id used twice): decided again under the lock, the op
        // sees it and is rejected, or replayed.
        Err(ApiError::Store(StoreError::Conflict(_))) if branch_lock == BranchLock::Last => "key",
        Err(e) => return Err(e),
    };
    metrics.count_push_retry(retry_reason);
    let prepared = prepare(&req.operations).await;
    let results = attempt(store, metrics, auth, (device_id, branch_id), &req.operations, prepared, BranchLock::First).await??;
    Ok(PushResponse { results })
}

/// Ops between two yields of a push's CPU-bound loops. Deciding a cached op takes
/// microseconds and no I/O, so a batch would otherwise run as one poll of several
/// milliseconds, and the task that holds a branch lock, woken by its database answer,
/// would wait behind it for a worker thread.
const OPS_PER_YIELD: usize = 16;

async fn yield_every(n: usize) {
    if n % OPS_PER_YIELD == OPS_PER_YIELD - 1 {
        tokio::task::yield_now().await;
    }
}

/// Every op's hash and payload, yielding to other tasks now and then.
async fn prepare(ops: &[Op]) -> Vec<Prepared> {
    let mut prepared = Vec::with_capacity(ops.len());
    for (n, op) in ops.iter().enumerate() {
        prepared.push(Prepared::of(op));
        yield_every(n).await;
    }
    prepared
}

/// When a push locks its branch. Last, unless an op decides on state that other
/// devices of the branch change (a staff member's open shift): only the branch lock
/// serializes those decisions.
fn branch_lock_for(ops: &[Op]) -> BranchLock {
    let across_devices = [OpType::AttendanceStartWork.as_str(), OpType::AttendanceEndWork.as_str()];
    if ops.iter().any(|o| across_devices.contains(&o.op_type.as_str())) {
        BranchLock::First
    } else {
        BranchLock::Last
    }
}

/// One write transaction deciding and applying every op of a push: the results in the
/// order of `ops`, or `Stale` (rolled back, nothing written) when the branch was locked
/// last and an input of the decisions had changed by then.
async fn attempt(
    store: &dyn Store,
    metrics: &Metrics,
    auth: &Auth,
    (device_id, branch_id): (uuid::Uuid, uuid::Uuid),
    ops: &[Op],
    prepared: Vec<Prepared>,
    branch_lock: BranchLock,
) -> ApiResult<Result<Vec<OpResult>, Stale>> {
    let mut tx = store.begin_write().await?;
    let device = tx.lock_device(auth.tenant_id, device_id).await?;
    if device.is_none_or(|d| d.revoked_at.is_some()) {
        return Err(ApiError::Unauthorized("this device has been revoked; enroll it again".into()));
    }
    let mut ctx =
        OpContext::load(tx.as_mut(), auth.tenant_id, branch_id, Some(device_id), Lane::Offline, branch_lock, ops).await?;
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].device_seq, i));
    let mut results: Vec<Option<OpResult>> = vec![None; ops.len()];
    let mut prepared: Vec<Option<Prepared>> = prepared.into_iter().map(Some).collect();
    for (n, i) in order.into_iter().enumerate() {
        let p = prepared[i].take().ok_or_else(|| ApiError::Internal("op processed twice".into()))?;
        results[i] = Some(process_prepared(tx.as_mut(), &mut ctx, &ops[i], p).await?);
        yield_every(n).await;
    }
    if let Err(stale) = ctx.flush(tx.as_mut()).await? {
        return Ok(Err(stale));
    }
    tx.commit().await?;
    ctx.observe_branch_lock(metrics);
    let results: Vec<OpResult> = results.into_iter().flatten().collect();
    assert_eq!(results.len(), ops.len(), "one result per op");
    Ok(Ok(results))
}

/// The fast path of a retried batch: when every op is already recorded, the answers
/// follow from stored, immutable records alone, so they come from a read snapshot
/// without taking the write lock. `None` when any op is new.
async fn replay_only(store: &dyn Store, auth: &Auth, ops: &[Op], prepared: &[Prepared]) -> ApiResult<Option<Vec<OpResult>>> {
    if ops.is_empty() {
        return Ok(None);
    }
    let ids: Vec<uuid::Uuid> = ops.iter().map(|o| o.client_op_id).collect();
    let stored: std::collections::HashMap<uuid::Uuid, OpRecord> =
        store.ops_by_ids(auth.tenant_id, &ids).await?.into_iter().map(|r| (r.client_op_id, r)).collect();
    if ops.iter().any(|o| !stored.contains_key(&o.client_op_id)) {
        return Ok(None);
    }
    let answers = ops.iter().zip(prepared).map(|(op, p)| replay(&stored[&op.client_op_id], &p.hash)).collect();
    Ok(Some(answers))
}

/// What follows from an op alone, whatever the database holds: the server's payload hash
/// and the typed payload (`None` for an unknown type). Computed before any lock is taken.
pub struct Prepared {
    hash: String,
    payload: Option<Result<Payload, Rejection>>,
}

impl Prepared {
    /// Hashes and parses `op`.
    pub fn of(op: &Op) -> Self {
        Prepared {
            hash: hash::payload_hash(&op.op_type, op.tenant_id, op.branch_id, op.actor_id, &op.payload),
            payload: OpType::parse_any(&op.op_type).map(|t| validate::parse_payload(t, &op.payload)),
        }
    }
}

/// Runs one op through rules 2–9 and records its outcome. Shared by both lanes.
pub async fn process(tx: &mut dyn Tx, ctx: &mut OpContext, op: &Op) -> ApiResult<OpResult> {
    process_prepared(tx, ctx, op, Prepared::of(op)).await
}

/// [`process`] with the op's hash and payload computed beforehand.
pub async fn process_prepared(tx: &mut dyn Tx, ctx: &mut OpContext, op: &Op, prepared: Prepared) -> ApiResult<OpResult> {
    let Prepared { hash, payload } = prepared;
    if let Some(stored) = ctx.known_op(op.client_op_id) {
        return Ok(replay(stored, &hash));
    }
    let outcome = match decide_and_apply(tx, ctx, op, &hash, payload).await? {
        Ok(result) => OpOutcome::Applied(result),
        Err(r) => OpOutcome::Rejected { code: r.code, message: r.message, field: r.field },
    };
    let mut audit = ctx.take_audit();
    assert_eq!(audit.is_some(), matches!(outcome, OpOutcome::Applied(_)), "an audit event for each applied op, none else");
    let now = chrono::Utc::now();
    if let (Some(event), Some(skew_s)) = (audit.as_mut(), apply::clock_skew_s(op.occurred_at, now)) {
        apply::flag_clock_skew(event, skew_s)?;
    }
    let record = OpRecord {
        tenant_id: ctx.tenant_id,
        client_op_id: op.client_op_id,
        branch_id: ctx.branch.id,
        device_id: ctx.device_id,
        actor_id: op.actor_id,
        op_type: op.op_type.clone(),
        payload_hash: hash,
        device_seq: (op.device_seq >= 1).then_some(op.device_seq),
        lane: ctx.lane,
        occurred_at: op.occurred_at,
        recorded_at: now,
        // A rejected op keeps its payload: a manager may accept it later (SPEC §5.6).
        payload: matches!(outcome, OpOutcome::Rejected { .. }).then(|| modula_wire::JsonText::from(op.payload.clone())),
        outcome,
        audit,
    };
    let result = fresh_result(&record);
    ctx.record_op(record);
    Ok(result)
}

/// The answer for an op seen before.
pub fn replay(stored: &OpRecord, hash: &str) -> OpResult {
    if stored.payload_hash != hash {
        return OpResult {
            client_op_id: stored.client_op_id,
            status: OpStatus::Rejected,
            code: Some(ErrorCode::PayloadMismatch),
            message: Some("this client_op_id was already used for a different payload; the stored op is unchanged".into()),
            result: None,
            replayed: false,
        };
    }
    OpResult { replayed: true, status: stored_status(&stored.outcome, true), ..fresh_result(stored) }
}

fn stored_status(outcome: &OpOutcome, replayed: bool) -> OpStatus {
    match (outcome, replayed) {
        (OpOutcome::Applied(_), false) => OpStatus::Applied,
        (OpOutcome::Applied(_), true) => OpStatus::Duplicate,
        (OpOutcome::Rejected { .. }, _) => OpStatus::Rejected,
    }
}

fn fresh_result(record: &OpRecord) -> OpResult {
    match &record.outcome {
        OpOutcome::Applied(result) => OpResult {
            client_op_id: record.client_op_id,
            status: OpStatus::Applied,
            code: None,
            message: None,
            result: Some(result.clone()),
            replayed: false,
        },
        OpOutcome::Rejected { code, message, .. } => OpResult {
            client_op_id: record.client_op_id,
            status: OpStatus::Rejected,
            code: Some(*code),
            message: Some(message.clone()),
            result: None,
            replayed: false,
        },
    }
}

/// Rules 3–9 for a new op: `Ok(Err(_))` is a business rejection, decided before any write.
async fn decide_and_apply(
    tx: &mut dyn Tx,
    ctx: &mut OpContext,
    op: &Op,
    hash: &str,
    payload: Option<Result<Payload, Rejection>>,
) -> ApiResult<Result<modula_wire::JsonText, Rejection>> {
    // Rule 3: the client's hash must match ours.
    if !op.payload_hash.eq_ignore_ascii_case(hash) {
        let msg = format!("payload_hash does not match the server's hash of the op ({hash})");
        return Ok(Err(Rejection::new(ErrorCode::HashMismatch, msg)));
    }
    // Rule 4: dependencies.
    if let Err(r) = check_dependencies(ctx, op) {
        return Ok(Err(r));
    }
    // Rule 5: access, revalidated now.
    let actor = match check_access(tx, ctx, op, payload.as_ref().and_then(|p| p.as_ref().ok())).await? {
        Ok(actor) => actor,
        Err(r) => return Ok(Err(r)),
    };
    // Rule 6: frozen branch.
    if ctx.branch.status == modula_wire::BranchStatus::Frozen {
        return Ok(Err(Rejection::new(ErrorCode::BranchFrozen, "the branch is frozen; writes are refused")));
    }
    // Rule 7: type and payload. An online-only type (a void) never comes by push.
    if ctx.lane == Lane::Offline && OpType::parse_any(&op.op_type).is_some_and(OpType::online_only) {
        let msg = format!("{} is done online only (POST /v1/sales/{{id}}/void), never replayed from a queue", op.op_type);
        return Ok(Err(Rejection::new(ErrorCode::NotAllowedOffline, msg)));
    }
    let payload = match payload {
        None if ONLINE_ONLY_OP_TYPES.contains(&op.op_type.as_str()) => {
            let msg = format!("{} may only be done online through the admin API", op.op_type);
            return Ok(Err(Rejection::new(ErrorCode::NotAllowedOffline, msg)));
        }
        None => return Ok(Err(Rejection::new(ErrorCode::UnknownOpType, format!("unknown op type {:?}", op.op_type)))),
        Some(Err(r)) => return Ok(Err(r)),
        Some(Ok(p)) => p,
    };
    if op.device_seq < 1 && ctx.lane == Lane::Offline {
        return Ok(Err(Rejection::validation("device_seq", "must be 1 or more")));
    }
    // Rules 8 and 9: prerequisites, then effects.
    apply::apply(tx, ctx, op, &actor, payload).await
}

fn check_dependencies(ctx: &OpContext, op: &Op) -> Result<(), Rejection> {
    if op.depends_on.len() > modula_wire::limits::DEPENDS_ON_MAX {
        return Err(Rejection::validation("depends_on", "too many dependencies"));
    }
    for dep in &op.depends_on {
        match ctx.known_op(*dep) {
            None => {
                let msg = format!("depends on {dep}, which the server has never seen");
                return Err(Rejection::new(ErrorCode::DependencyMissing, msg));
            }
            Some(OpRecord { outcome: OpOutcome::Rejected { code, .. }, .. }) => {
                let msg = format!("depends on {dep}, which was rejected ({code})");
                return Err(Rejection::new(ErrorCode::DependencyFailed, msg));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

async fn check_access(
    tx: &mut dyn Tx,
    ctx: &mut OpContext,
    op: &Op,
    payload: Option<&modula_wire::op::Payload>,
) -> ApiResult<Result<StaffRecord, Rejection>> {
    let forbidden = |msg: String| Ok(Err(Rejection::new(ErrorCode::Forbidden, msg)));
    if op.tenant_id != ctx.tenant_id {
        return forbidden("the op names another tenant than the token's".into());
    }
    if op.branch_id != ctx.branch.id {
        return forbidden("the op names another branch than the token's".into());
    }
    let Some(actor) = ctx.staff(tx, op.actor_id).await? else {
        return forbidden(format!("actor {} is not a staff member of this tenant", op.actor_id));
    };
    if !actor.active {
        return forbidden(format!("{} is deactivated", actor.name));
    }
    // An owner's own token acts in every branch of the tenant (SPEC §5: "an owner
    // everything in the tenant"); at a till (an op sent with a device token) an owner
    // acts only once assigned to its branch, like everyone.
    let owner_by_own_token = ctx.device_id.is_none() && actor.role == modula_wire::Role::Owner;
    if !owner_by_own_token && !actor.branch_ids.contains(&ctx.branch.id) {
        return forbidden(format!("{} is not assigned to this branch", actor.name));
    }
    if let Some(p) = payload {
        if let Err(r) = access::check_actor(actor.id, actor.role, p, &ctx.policy) {
            return Ok(Err(r));
        }
    }
    Ok(Ok(actor))
}
