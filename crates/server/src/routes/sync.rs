//! Handlers of the push lane and the reports it feeds (§5.1, §5.5, §5.6).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use modula_wire::{PushRequest, PushResponse};
use serde::Deserialize;
use modula_wire::reads::{AuditList, CashSessionView, CashSessionsList, DeviceSyncList, FailureView, FailuresList, SaleDetail, ShiftsList};
use uuid::Uuid;

use super::admin::BranchQuery;
use crate::auth::Auth;
use crate::domain::closing::{self, SalesQuery};
use crate::domain::{push, reports};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// `?branch_id=&since=` query of the audit report (no `branch_id`: the tenant's events
/// of no branch, owner only).
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    branch_id: Option<Uuid>,
    since: Option<chrono::DateTime<chrono::Utc>>,
}

#[utoipa::path(post, path = "/sync/push", tag = "sync", request_body = PushRequest, responses((status = 200, description = "One result per op, in order.", body = PushResponse), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn push(State(s): State<AppState>, auth: Auth, ApiJson(req): ApiJson<PushRequest>) -> ApiResult<Json<PushResponse>> {
    Ok(Json(push::push(s.store.as_ref(), &s.metrics, &auth, req).await?))
}

/// `GET /v1/sales`: a page of JSON, or with `Accept: text/csv` or `format=csv` every
/// matching row as CSV, streamed a page at a time.
#[utoipa::path(get, path = "/sales", tag = "reports", params(("branch_id" = Uuid, Query, description = "The branch."), ("from" = Option<String>, Query, description = "RFC 3339, on occurred_at, inclusive."), ("to" = Option<String>, Query, description = "RFC 3339, on occurred_at, exclusive."), ("cursor" = Option<String>, Query, description = "next_cursor of the page before."), ("limit" = Option<u32>, Query, description = "1 to 1000, default 1000 (checked, but a CSV holds every matching row)."), ("format" = Option<String>, Query, description = "`csv` for every matching row as CSV.")), responses((status = 200, description = "A page of sales, newest first; or, with Accept: text/csv or format=csv, every matching row as CSV with a header line.", content((modula_wire::reports::SalesList = "application/json"), (String = "text/csv"))), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn sales(State(s): State<AppState>, auth: Auth, headers: HeaderMap, ApiQuery(q): ApiQuery<SalesQuery>) -> ApiResult<Response> {
    if !(q.wants_csv() || accepts_csv(&headers)) {
        return Ok(Json(closing::sales(s.store.as_ref(), &auth, &q).await?).into_response());
    }
    let export = closing::sales_csv(s.store.as_ref(), &auth, &q).await?;
    let store = s.store.clone();
    let chunks = futures_util::stream::unfold(Some(export), move |state| {
        let store = store.clone();
        async move {
            let mut export = state?;
            match export.next_chunk(store.as_ref()).await {
                Ok(Some(bytes)) => Some((Ok(bytes::Bytes::from(bytes)), Some(export))),
                Ok(None) => None,
                Err(e) => {
                    // The status line is sent: ending the body with an error makes the
                    // client see a broken transfer, never a short file that looks whole.
                    tracing::error!(error = %e, "sales CSV export stopped");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"sales.csv\""),
    ];
    Ok((headers, Body::from_stream(chunks)).into_response())
}

/// Whether the `Accept` header names `text/csv`.
fn accepts_csv(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|part| part.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv")))
    })
}

/// `?cash_session_id=` of the Z report.
#[derive(Debug, Deserialize)]
pub struct ZQuery {
    cash_session_id: Uuid,
}

/// `?branch_id=&date=` of the daily report.
#[derive(Debug, Deserialize)]
pub struct DailyQuery {
    branch_id: Uuid,
    date: String,
}

#[utoipa::path(get, path = "/reports/z", tag = "reports", params(("cash_session_id" = Uuid, Query, description = "The session.")), responses((status = 200, description = "The session's Z report (SPEC §5.6).", body = modula_wire::reports::Report), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn z_report(State(s): State<AppState>, auth: Auth, ApiQuery(q): ApiQuery<ZQuery>) -> ApiResult<Json<modula_wire::reports::Report>> {
    Ok(Json(closing::z_report(s.store.as_ref(), &auth, q.cash_session_id).await?))
}

#[utoipa::path(get, path = "/reports/daily", tag = "reports", params(("branch_id" = Uuid, Query, description = "The branch."), ("date" = String, Query, description = "YYYY-MM-DD, the branch's local day.")), responses((status = 200, description = "The branch's day (SPEC §5.6).", body = modula_wire::reports::Report), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn daily_report(State(s): State<AppState>, auth: Auth, ApiQuery(q): ApiQuery<DailyQuery>) -> ApiResult<Json<modula_wire::reports::Report>> {
    Ok(Json(closing::daily_report(s.store.as_ref(), &auth, q.branch_id, &q.date).await?))
}

#[utoipa::path(get, path = "/sales/{id}", operation_id = "get_sale", tag = "reports", params(("id" = Uuid, Path, description = "Its id.")), responses((status = 200, description = "The sale with its lines, tender, change, fx and void.", body = SaleDetail), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn sale(State(s): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<SaleDetail>> {
    Ok(Json(reports::sale(s.store.as_ref(), &auth, id).await?))
}

#[utoipa::path(post, path = "/sync/failures/{client_op_id}/resolve", tag = "sync", params(("client_op_id" = Uuid, Path, description = "The rejected op.")), request_body = modula_wire::admin::ResolveFailure, responses((status = 200, description = "The failure with its resolution (a second resolve answers the first).", body = FailureView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn resolve(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<modula_wire::admin::ResolveFailure>,
) -> ApiResult<Json<FailureView>> {
    Ok(Json(crate::domain::resolve::resolve(s.store.as_ref(), &auth, id, req).await?))
}

#[utoipa::path(get, path = "/cash-sessions/{id}", tag = "reports", params(("id" = Uuid, Path, description = "Its id.")), responses((status = 200, description = "The session in both currencies.", body = CashSessionView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn cash_session(State(s): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<CashSessionView>> {
    Ok(Json(reports::cash_session(s.store.as_ref(), &auth, id).await?))
}

#[utoipa::path(get, path = "/cash-sessions", tag = "reports", params(("branch_id" = Uuid, Query, description = "The branch.")), responses((status = 200, description = "The branch's sessions, newest first.", body = CashSessionsList), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn cash_sessions(State(s): State<AppState>, auth: Auth, ApiQuery(q): ApiQuery<BranchQuery>) -> ApiResult<Json<CashSessionsList>> {
    Ok(Json(reports::cash_sessions(s.store.as_ref(), &auth, q.branch_id).await?))
}

#[utoipa::path(get, path = "/attendance", tag = "reports", params(("branch_id" = Uuid, Query, description = "The branch.")), responses((status = 200, description = "The branch's shifts, newest first.", body = ShiftsList), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn attendance(State(s): State<AppState>, auth: Auth, ApiQuery(q): ApiQuery<BranchQuery>) -> ApiResult<Json<ShiftsList>> {
    Ok(Json(reports::attendance(s.store.as_ref(), &auth, q.branch_id).await?))
}

#[utoipa::path(get, path = "/sync/failures", tag = "sync", params(("branch_id" = Uuid, Query, description = "The branch.")), responses((status = 200, description = "Every rejected op of both lanes, newest first.", body = FailuresList), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn failures(State(s): State<AppState>, auth: Auth, ApiQuery(q): ApiQuery<BranchQuery>) -> ApiResult<Json<FailuresList>> {
    Ok(Json(reports::failures(s.store.as_ref(), &auth, q.branch_id).await?))
}

#[utoipa::path(get, path = "/sync/devices", tag = "sync", params(("branch_id" = Uuid, Query, description = "The branch.")), responses((status = 200, description = "The branch's tills with the gaps in their device_seq.", body = DeviceSyncList), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn devices(State(s): State<AppState>, auth: Auth, ApiQuery(q): ApiQuery<BranchQuery>) -> ApiResult<Json<DeviceSyncList>> {
    Ok(Json(reports::devices(s.store.as_ref(), &auth, q.branch_id).await?))
}

#[utoipa::path(get, path = "/audit", tag = "reports", params(("branch_id" = Option<Uuid>, Query, description = "The branch; without it, the tenant's events of no branch (refused and locked sign-ins), for the owner."), ("since" = Option<String>, Query, description = "RFC 3339; events from then on.")), responses((status = 200, description = "Audit events, oldest first from since.", body = AuditList), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn audit(State(s): State<AppState>, auth: Auth, ApiQuery(q): ApiQuery<AuditQuery>) -> ApiResult<Json<AuditList>> {
    Ok(Json(reports::audit(s.store.as_ref(), &auth, q.branch_id, q.since).await?))
}
