//! Reads of what the sync lanes produced (SPEC §5.5, §5.6): a sale, cash sessions,
//! shifts, failures, device bookkeeping and the audit trail. Every list is bounded. (The
//! sales history and the day's reports are `closing`'s.)

use std::collections::HashMap;

use modula_store::{OpOutcome, OpRecord, ResolutionRecord, Store};
use modula_wire::op::{ChangeGiven, Fx, SaleLine, SaleTotals, Tender};
use modula_wire::reads::{
    AuditEventView, AuditList, CashSessionView, CashSessionsList, DeviceSyncList, DeviceSyncView, FailureView, FailuresList,
    SaleDetail, SaleVoid, ShiftsList, SoldLine,
};
use serde_json::Value;
use uuid::Uuid;

use super::{branch_for_admin, branch_for_read, not_found, views};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};

/// Most rows any report returns.
pub const REPORT_ROWS_MAX: i64 = 1000;

/// `GET /v1/cash-sessions/{id}`.
pub async fn cash_session(store: &dyn Store, auth: &Auth, id: Uuid) -> ApiResult<CashSessionView> {
    let mut tx = store.begin_read().await?;
    let session = tx.cash_session(auth.tenant_id, id).await?.ok_or_else(|| not_found("cash session", id))?;
    branch_for_read(tx.as_mut(), auth, session.branch_id).await?;
    Ok(views::cash_session(&session))
}

/// `GET /v1/cash-sessions?branch_id=`: the branch's sessions, newest first, with
/// expected cash and (once closed) counted cash and variance.
pub async fn cash_sessions(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<CashSessionsList> {
    let mut tx = store.begin_read().await?;
    branch_for_read(tx.as_mut(), auth, branch_id).await?;
    let rows = tx.list_cash_sessions(auth.tenant_id, branch_id, REPORT_ROWS_MAX).await?;
    Ok(CashSessionsList { cash_sessions: rows.iter().map(views::cash_session).collect() })
}

/// `GET /v1/attendance?branch_id=`: newest first.
pub async fn attendance(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<ShiftsList> {
    let mut tx = store.begin_read().await?;
    branch_for_read(tx.as_mut(), auth, branch_id).await?;
    let rows = tx.list_shifts(auth.tenant_id, branch_id, REPORT_ROWS_MAX).await?;
    Ok(ShiftsList { shifts: rows.iter().map(views::shift).collect() })
}

/// `GET /v1/sync/failures?branch_id=`: every rejected op of both lanes, newest first,
/// with what a manager needs to recognise it (a sale's receipt number and amount, the
/// cashier's name) and its resolution, if any.
pub async fn failures(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<FailuresList> {
    let mut tx = store.begin_read().await?;
    branch_for_admin(tx.as_mut(), auth, branch_id).await?;
    let rows = tx.rejected_ops(auth.tenant_id, branch_id, REPORT_ROWS_MAX).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.client_op_id).collect();
    let resolutions: HashMap<Uuid, ResolutionRecord> =
        tx.resolutions(auth.tenant_id, &ids).await?.into_iter().map(|r| (r.client_op_id, r)).collect();
    let names: HashMap<Uuid, String> = tx.list_staff(auth.tenant_id).await?.into_iter().map(|s| (s.id, s.name)).collect();
    let mut failures = Vec::with_capacity(rows.len());
    for op in &rows {
        failures.extend(failure_view(op, resolutions.get(&op.client_op_id), &names)?);
    }
    Ok(FailuresList { failures })
}

/// One failure as listed (`None` for an applied op).
pub fn failure_view(
    op: &OpRecord,
    resolution: Option<&ResolutionRecord>,
    names: &HashMap<Uuid, String>,
) -> ApiResult<Option<FailureView>> {
    let OpOutcome::Rejected { code, message, .. } = &op.outcome else { return Ok(None) };
    let payload: Value = op.payload.as_ref().and_then(|p| serde_json::from_str(p.as_str()).ok()).unwrap_or(Value::Null);
    Ok(Some(FailureView {
        client_op_id: op.client_op_id,
        device_id: op.device_id,
        actor_id: op.actor_id,
        actor_name: names.get(&op.actor_id).cloned(),
        op_type: op.op_type.clone(),
        code: *code,
        message: message.clone(),
        lane: op.lane.as_str().to_string(),
        occurred_at: op.occurred_at,
        recorded_at: op.recorded_at,
        receipt_no: payload["receipt_no"].as_str().map(str::to_string),
        total_cents: payload["totals"]["total_cents"].as_i64(),
        sale_id: payload["sale_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()),
        resolution: resolution.map(views::resolution).transpose()?,
    }))
}

/// What `sales.details` keeps that a sale's detail shows (written by the apply of
/// `sale.finalize` and by an accepted failure; every field optional, so a sale kept by
/// an older server reads too).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct StoredSale {
    lines: Vec<SaleLine>,
    totals: Option<SaleTotals>,
    tender: Tender,
    change_given: Option<ChangeGiven>,
    fx: Option<Fx>,
}

/// `GET /v1/sales/{id}`: the sale with its lines (named from the menu), totals, tender,
/// change, rate, session and void (SPEC §5.6).
pub async fn sale(store: &dyn Store, auth: &Auth, id: Uuid) -> ApiResult<SaleDetail> {
    let mut tx = store.begin_read().await?;
    let sale = tx.sale(auth.tenant_id, id).await?.ok_or_else(|| not_found("sale", id))?;
    branch_for_read(tx.as_mut(), auth, sale.branch_id).await?;
    let stored: StoredSale = serde_json::from_str(sale.details.as_str())
        .map_err(|e| ApiError::Internal(format!("sale {id} has stored details that do not read: {e}")))?;
    let ids: Vec<Uuid> = stored.lines.iter().map(|l| l.menu_item_id).collect();
    // Named as the reports name them: the item's current name, deleted or not (a sale
    // keeps its lines when an item leaves the menu).
    let menu: HashMap<Uuid, String> =
        tx.menu_items_by_ids(auth.tenant_id, &ids).await?.into_iter().map(|m| (m.id, m.name)).collect();
    let lines: Vec<SoldLine> = stored
        .lines
        .iter()
        .map(|l| SoldLine {
            menu_item_id: l.menu_item_id,
            name: menu.get(&l.menu_item_id).cloned(),
            qty: l.qty,
            unit_price_cents: l.unit_price_cents,
            line_total_cents: l.qty.saturating_mul(l.unit_price_cents),
        })
        .collect();
    let void = sale.void.as_ref().map(|v| SaleVoid {
        at: views::at(v.at),
        actor_id: v.actor_id,
        reason: v.reason.clone(),
        refund: ChangeGiven { usd_cents: v.refund_cents, khr: v.refund_khr },
        cash_session_id: v.cash_session_id,
    });
    // The till's subtotal; Σ qty × unit price (its definition) if a record lacks it.
    let subtotal_cents = stored.totals.map_or_else(|| lines.iter().map(|l| l.line_total_cents).sum(), |t| t.subtotal_cents);
    Ok(SaleDetail {
        sale_id: sale.id,
        receipt_no: sale.receipt_no.clone(),
        branch_id: sale.branch_id,
        device_id: sale.device_id,
        actor_id: sale.actor_id,
        cash_session_id: sale.cash_session_id,
        occurred_at: views::at(sale.occurred_at),
        applied_at: views::at(sale.applied_at),
        lines,
        subtotal_cents,
        vat_cents: sale.vat_cents,
        total_cents: sale.total_cents,
        price_drift_cents: sale.price_drift_cents,
        tender: stored.tender,
        change: stored.change_given,
        fx: stored.fx,
        voided: sale.void.is_some(),
        void,
    })
}

/// `GET /v1/sync/devices?branch_id=`: last seen, last `device_seq`, and the gaps.
pub async fn devices(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<DeviceSyncList> {
    let mut tx = store.begin_read().await?;
    branch_for_admin(tx.as_mut(), auth, branch_id).await?;
    let rows = tx.device_sync_info(auth.tenant_id, branch_id).await?;
    let devices = rows
        .iter()
        .map(|d| DeviceSyncView {
            device_id: d.device.id,
            name: d.device.name.clone(),
            code: d.device.code.clone(),
            revoked: d.device.revoked_at.is_some(),
            last_seen_at: d.last_seen_at,
            last_device_seq: d.last_device_seq,
            gaps: d.gaps.iter().map(|(from, to)| [*from, *to]).collect(),
        })
        .collect();
    Ok(DeviceSyncList { devices })
}

/// `GET /v1/audit?branch_id=&since=`: oldest first from `since` (default: everything).
/// Without `branch_id`: the tenant's events of no branch (sign-ins refused or locked), for
/// the owner.
pub async fn audit(
    store: &dyn Store,
    auth: &Auth,
    branch_id: Option<Uuid>,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> ApiResult<AuditList> {
    let since = since.unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
    let rows = match branch_id {
        Some(branch_id) => {
            let mut tx = store.begin_read().await?;
            branch_for_admin(tx.as_mut(), auth, branch_id).await?;
            tx.list_audit(auth.tenant_id, branch_id, since, REPORT_ROWS_MAX).await?
        }
        None => {
            // Events of no branch (refused and locked server sign-ins): the whole tenant's.
            auth.require_owner()?;
            store.begin_read().await?.list_tenant_audit(auth.tenant_id, since, REPORT_ROWS_MAX).await?
        }
    };
    let events = rows
        .into_iter()
        .map(|e| AuditEventView {
            module: e.module,
            action: e.action,
            actor_id: e.actor_id,
            device_id: e.device_id,
            client_op_id: e.client_op_id,
            lane: e.lane.as_str().to_string(),
            occurred_at: e.occurred_at,
            applied_at: e.applied_at,
            details: e.details,
        })
        .collect();
    Ok(AuditList { events })
}
