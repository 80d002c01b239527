//! Handlers of the push lane and the reports it feeds (§5.1, §5.5, §5.6).

use axum::extract::{Path, Query, State};
use axum::Json;
use modula_wire::{PushRequest, PushResponse};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::admin::BranchQuery;
use crate::auth::Auth;
use crate::domain::{push, reports};
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::state::AppState;

/// `?branch_id=&since=` query of the audit report (no `branch_id`: the tenant's events
/// of no branch, owner only).
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    branch_id: Option<Uuid>,
    since: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn push(State(s): State<AppState>, auth: Auth, ApiJson(req): ApiJson<PushRequest>) -> ApiResult<Json<PushResponse>> {
    Ok(Json(push::push(s.store.as_ref(), &s.metrics, &auth, req).await?))
}

pub async fn sales(State(s): State<AppState>, auth: Auth, Query(q): Query<BranchQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(reports::sales(s.store.as_ref(), &auth, q.branch_id).await?))
}

pub async fn sale(State(s): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<Value>> {
    Ok(Json(reports::sale(s.store.as_ref(), &auth, id).await?))
}

pub async fn resolve(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<modula_wire::admin::ResolveFailure>,
) -> ApiResult<Json<Value>> {
    Ok(Json(crate::domain::resolve::resolve(s.store.as_ref(), &auth, id, req).await?))
}

pub async fn cash_session(State(s): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<Value>> {
    Ok(Json(reports::cash_session(s.store.as_ref(), &auth, id).await?))
}

pub async fn cash_sessions(State(s): State<AppState>, auth: Auth, Query(q): Query<BranchQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(reports::cash_sessions(s.store.as_ref(), &auth, q.branch_id).await?))
}

pub async fn attendance(State(s): State<AppState>, auth: Auth, Query(q): Query<BranchQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(reports::attendance(s.store.as_ref(), &auth, q.branch_id).await?))
}

pub async fn failures(State(s): State<AppState>, auth: Auth, Query(q): Query<BranchQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(reports::failures(s.store.as_ref(), &auth, q.branch_id).await?))
}

pub async fn devices(State(s): State<AppState>, auth: Auth, Query(q): Query<BranchQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(reports::devices(s.store.as_ref(), &auth, q.branch_id).await?))
}

pub async fn audit(State(s): State<AppState>, auth: Auth, Query(q): Query<AuditQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(reports::audit(s.store.as_ref(), &auth, q.branch_id, q.since).await?))
}
