//! Failure resolution (SPEC §5.6): a manager accepts a refused sale, which is applied
//! now, once, as the till recorded it, into its own cash session even if that session is
//! closed (the counted cash already held the money, so its variance moves back), or
//! dismisses a failure with a note. Decided under the branch lock, so two managers
//! resolving at once get one outcome; a second resolve answers the first.

use std::collections::HashMap;

use modula_rules::{cash, pricing, validate};
use modula_store::{Lane, OpOutcome, OpRecord, ResolutionRecord, SaleRecord, Store, Tx};
use modula_wire::admin::{ResolveAction, ResolveFailure};
use modula_wire::op::{Fx, OpType, Payload, SaleFinalize};
use modula_wire::reads::FailureView;
use modula_wire::JsonText;
use serde_json::{json, Value};
use uuid::Uuid;

use super::actor::BranchActor;
use super::push::{BranchLock, OpContext};
use super::{apply, audit_no_op_at, not_found, reports, views};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};

/// `POST /v1/sync/failures/{client_op_id}/resolve`.
pub async fn resolve(store: &dyn Store, auth: &Auth, client_op_id: Uuid, req: ResolveFailure) -> ApiResult<FailureView> {
    let (manager, _) = auth.require_manager()?;
    let note = validate::text("note", &req.note, req.action == ResolveAction::Dismiss)?;
    let op = store.ops_by_ids(auth.tenant_id, &[client_op_id]).await?.pop().ok_or_else(|| not_found("failure", client_op_id))?;
    auth.require_admin_of(op.branch_id)?;
    let mut tx = store.begin_write().await?;
    let mut ctx = OpContext::load(tx.as_mut(), auth.tenant_id, op.branch_id, op.device_id, Lane::Online, BranchLock::First, &[]).await?;
    let names: HashMap<Uuid, String> = tx.list_staff(auth.tenant_id).await?.into_iter().map(|s| (s.id, s.name)).collect();
    // Under the branch lock: the first resolution is the answer to every later one.
    if let Some(first) = tx.resolutions(auth.tenant_id, &[client_op_id]).await?.pop() {
        return answer(&op, &first, &names);
    }
    if matches!(op.outcome, OpOutcome::Applied(_)) {
        return Err(ApiError::Conflict(format!("op {client_op_id} was applied; only a refused op can be resolved")));
    }
    let result = match req.action {
        ResolveAction::Dismiss => None,
        ResolveAction::Accept => Some(accept_sale(tx.as_mut(), &mut ctx, &op, manager).await?),
    };
    let record = ResolutionRecord {
        tenant_id: auth.tenant_id,
        client_op_id,
        branch_id: op.branch_id,
        action: req.action.as_str().to_string(),
        actor_id: manager,
        note,
        at: chrono::Utc::now(),
        result,
    };
    if !tx.insert_resolution(&record).await? {
        return Err(ApiError::Internal(format!("failure {client_op_id} was resolved by another request under the branch lock")));
    }
    let view = views::resolution(&record)?;
    ctx.change("resolutions", "resolution", client_op_id, views::json_text(&view)?);
    let details = json!({"client_op_id": client_op_id, "op_type": op.op_type, "original_actor_id": op.actor_id,
                         "note": record.note, "result": view.result});
    let what = ("sync", if req.action == ResolveAction::Accept { "resolve.accept" } else { "resolve.dismiss" });
    let by = BranchActor { staff_id: manager, device_id: None };
    audit_no_op_at(tx.as_mut(), auth.tenant_id, Some(op.branch_id), by, what, details).await?;
    ctx.flush(tx.as_mut()).await??;
    tx.commit().await?;
    answer(&op, &record, &names)
}

fn answer(op: &OpRecord, r: &ResolutionRecord, names: &HashMap<Uuid, String>) -> ApiResult<FailureView> {
    reports::failure_view(op, Some(r), names)?.ok_or_else(|| ApiError::Internal("a resolved op that was applied".into()))
}

fn cannot_accept(why: &str) -> ApiError {
    ApiError::Conflict(format!("this failure cannot be accepted: {why}; dismiss it with a note instead"))
}

/// Applies a refused `sale.finalize` as recorded: its lines at the charged prices, its
/// stock, its cash into its own session (open or closed), attributed to its cashier.
async fn accept_sale(tx: &mut dyn Tx, ctx: &mut OpContext, op: &OpRecord, manager: Uuid) -> ApiResult<JsonText> {
    if op.op_type != OpType::SaleFinalize.as_str() {
        let msg = format!("action: only a refused sale can be accepted, not a {}", op.op_type);
        return Err(ApiError::from(modula_rules::Rejection::validation("action", msg)));
    }
    let payload: Value = match &op.payload {
        Some(p) => serde_json::from_str(p.as_str()).map_err(|e| ApiError::Internal(format!("a kept payload is not JSON: {e}")))?,
        None => return Err(cannot_accept("the server refused it before it kept refused sales")),
    };
    let Payload::SaleFinalize(p) = validate::parse_payload(OpType::SaleFinalize, &payload)? else {
        return Err(ApiError::Internal("a sale payload parsed as another type".into()));
    };
    let device_id = op.device_id.ok_or_else(|| cannot_accept("it came from no till"))?;
    if !tx.existing_sale_ids(&[p.sale_id]).await?.is_empty() {
        return Err(cannot_accept("its sale id is already a sale"));
    }
    let session = ctx.session(tx, p.cash_session_id).await?.filter(|s| s.branch_id == op.branch_id);
    let mut session = session.ok_or_else(|| cannot_accept("its cash session never reached the server"))?;
    let (current_lines, not_on_menu, stock) = apply::reprice(tx, ctx, &p.lines).await?;
    let total = p.totals.total_cents;
    let current_total = pricing::price(&current_lines, &ctx.policy).map(|t| t.total_cents).unwrap_or(total);
    let fx = p.fx.unwrap_or_else(|| Fx::of(&ctx.policy));
    let due = pricing::change_at(total, &p.tender, &fx).unwrap_or(pricing::Change { change_cents: 0, change_khr: 0 });
    // ---- effects from here on
    for (item, delta) in &stock {
        ctx.add_stock(*item, *delta);
    }
    cash::apply_sale(&mut session.drawer, &cash::sale_cash(total, &p.tender, p.change.as_ref()), 1);
    let (session_id, drawer) = (session.id, session.drawer);
    ctx.put_branch_session(session);
    let stock: Vec<(Uuid, i64)> = stock.into_iter().collect();
    let details = json!({"accepted_by": manager, "change": due.change_cents, "change_given": p.change, "change_khr": due.change_khr,
                         "fx": p.fx, "items_not_on_menu": not_on_menu, "lines": p.lines, "stock": stock,
                         "tender": p.tender, "totals": p.totals});
    ctx.add_sale(sale_record(ctx, op, &p, device_id, current_total - total, details)?, &p.lines)?;
    let result = json!({"sale_id": p.sale_id, "receipt_no": p.receipt_no, "total_cents": total, "cash_session_id": session_id,
                        "expected_cash_cents": cash::expected(&drawer.usd), "expected_khr": cash::expected(&drawer.khr),
                        "price_drift_cents": current_total - total});
    Ok(JsonText::from(result))
}

fn sale_record(ctx: &OpContext, op: &OpRecord, p: &SaleFinalize, device_id: Uuid, drift: i64, details: Value) -> ApiResult<SaleRecord> {
    Ok(SaleRecord {
        id: p.sale_id,
        tenant_id: ctx.tenant_id,
        branch_id: op.branch_id,
        device_id,
        cash_session_id: p.cash_session_id,
        client_op_id: op.client_op_id,
        receipt_no: p.receipt_no.clone(),
        actor_id: op.actor_id,
        total_cents: p.totals.total_cents,
        vat_cents: p.totals.vat_cents,
        price_drift_cents: drift,
        details: views::json_text(&details)?,
        occurred_at: op.occurred_at,
        applied_at: chrono::Utc::now(),
        void: None,
    })
}
