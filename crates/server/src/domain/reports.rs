//! Reads of what the sync lanes produced (SPEC §5.5, §5.6): sales, cash sessions,
//! shifts, failures, device bookkeeping and the audit trail. Every list is bounded.

use modula_store::{OpOutcome, Store};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{branch_for_admin, branch_for_read, not_found, views};
use crate::auth::Auth;
use crate::error::ApiResult;

/// Most rows any report returns.
pub const REPORT_ROWS_MAX: i64 = 1000;

/// `GET /v1/sales?branch_id=`: newest first.
pub async fn sales(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<Value> {
    let mut tx = store.begin_read().await?;
    branch_for_read(tx.as_mut(), auth, branch_id).await?;
    let rows = tx.list_sales(auth.tenant_id, branch_id, REPORT_ROWS_MAX).await?;
    Ok(json!({ "sales": rows.iter().map(views::sale).collect::<Vec<_>>() }))
}

/// `GET /v1/cash-sessions/{id}`.
pub async fn cash_session(store: &dyn Store, auth: &Auth, id: Uuid) -> ApiResult<Value> {
    let mut tx = store.begin_read().await?;
    let session = tx.cash_session(auth.tenant_id, id).await?.ok_or_else(|| not_found("cash session", id))?;
    branch_for_read(tx.as_mut(), auth, session.branch_id).await?;
    Ok(views::cash_session(&session))
}

/// `GET /v1/cash-sessions?branch_id=`: the branch's sessions, newest first, with
/// expected cash and (once closed) counted cash and variance.
pub async fn cash_sessions(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<Value> {
    let mut tx = store.begin_read().await?;
    branch_for_read(tx.as_mut(), auth, branch_id).await?;
    let rows = tx.list_cash_sessions(auth.tenant_id, branch_id, REPORT_ROWS_MAX).await?;
    Ok(json!({ "cash_sessions": rows.iter().map(views::cash_session).collect::<Vec<_>>() }))
}

/// `GET /v1/attendance?branch_id=`: newest first.
pub async fn attendance(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<Value> {
    let mut tx = store.begin_read().await?;
    branch_for_read(tx.as_mut(), auth, branch_id).await?;
    let rows = tx.list_shifts(auth.tenant_id, branch_id, REPORT_ROWS_MAX).await?;
    Ok(json!({ "shifts": rows.iter().map(views::shift).collect::<Vec<_>>() }))
}

/// `GET /v1/sync/failures?branch_id=`: every rejected op of both lanes, newest first.
pub async fn failures(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<Value> {
    let mut tx = store.begin_read().await?;
    branch_for_admin(tx.as_mut(), auth, branch_id).await?;
    let rows = tx.rejected_ops(auth.tenant_id, branch_id, REPORT_ROWS_MAX).await?;
    let failures: Vec<Value> = rows
        .iter()
        .filter_map(|op| match &op.outcome {
            OpOutcome::Rejected { code, message, .. } => Some(json!({
                "client_op_id": op.client_op_id, "device_id": op.device_id, "actor_id": op.actor_id,
                "type": op.op_type, "code": code, "message": message, "lane": op.lane.as_str(),
                "occurred_at": op.occurred_at, "recorded_at": op.recorded_at,
            })),
            OpOutcome::Applied(_) => None,
        })
        .collect();
    Ok(json!({ "failures": failures }))
}

/// `GET /v1/sync/devices?branch_id=`: last seen, last `device_seq`, and the gaps.
pub async fn devices(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<Value> {
    let mut tx = store.begin_read().await?;
    branch_for_admin(tx.as_mut(), auth, branch_id).await?;
    let rows = tx.device_sync_info(auth.tenant_id, branch_id).await?;
    let devices: Vec<Value> = rows
        .iter()
        .map(|d| {
            json!({
                "device_id": d.device.id, "name": d.device.name, "code": d.device.code,
                "revoked": d.device.revoked_at.is_some(), "last_seen_at": d.last_seen_at,
                "last_device_seq": d.last_device_seq,
                "gaps": d.gaps.iter().map(|(from, to)| [*from, *to]).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({ "devices": devices }))
}

/// `GET /v1/audit?branch_id=&since=`: oldest first from `since` (default: everything).
/// Without `branch_id`: the tenant's events of no branch (sign-ins refused or locked), for
/// the owner.
pub async fn audit(
    store: &dyn Store,
    auth: &Auth,
    branch_id: Option<Uuid>,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> ApiResult<Value> {
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
    let events: Vec<Value> = rows
        .iter()
        .map(|e| {
            json!({
                "module": e.module, "action": e.action, "actor_id": e.actor_id, "device_id": e.device_id,
                "client_op_id": e.client_op_id, "lane": e.lane.as_str(), "occurred_at": e.occurred_at,
                "applied_at": e.applied_at, "details": e.details,
            })
        })
        .collect();
    Ok(json!({ "events": events }))
}
