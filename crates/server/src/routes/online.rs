//! Handlers of the direct online lane (§5.2).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use modula_rules::Rejection;
use modula_wire::op::{OnlineOp, OpType};
use modula_wire::ErrorCode;
use uuid::Uuid;

use crate::auth::Auth;
use crate::domain::online;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Uuid> {
    let missing = |m: &str| ApiError::from(Rejection::new(ErrorCode::IdempotencyKeyMissing, m));
    let value = headers.get("idempotency-key").ok_or_else(|| missing("send the op's client_op_id as `Idempotency-Key: <uuid>`"))?;
    let text = value.to_str().map_err(|_| missing("Idempotency-Key must be a UUID"))?;
    text.trim().trim_matches('"').parse().map_err(|_| missing("Idempotency-Key must be a UUID"))
}

async fn submit(s: AppState, auth: Auth, headers: HeaderMap, op_type: OpType, body: OnlineOp) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let answer = online::submit(s.store.as_ref(), &s.metrics, &s.in_flight, &auth, key, op_type, body).await?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if status.is_success() { "application/json" } else { "application/problem+json" };
    let mut resp = (status, [(header::CONTENT_TYPE, content_type)], answer.body.to_string()).into_response();
    if answer.replayed {
        resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// Puts the path's session id into the payload, refusing a contradicting one.
fn with_session_id(mut body: OnlineOp, id: Uuid) -> ApiResult<OnlineOp> {
    let Some(payload) = body.payload.as_object_mut() else {
        return Err(ApiError::bad_field("payload", "payload must be a JSON object"));
    };
    match payload.get("cash_session_id") {
        None => {
            payload.insert("cash_session_id".into(), serde_json::json!(id));
        }
        Some(v) if v.as_str().and_then(|s| s.parse::<Uuid>().ok()) == Some(id) => {}
        Some(_) => {
            return Err(ApiError::bad_field("payload.cash_session_id", "payload.cash_session_id differs from the path's id"));
        }
    }
    Ok(body)
}

#[utoipa::path(post, path = "/sales", operation_id = "create_sale", tag = "online", params(("Idempotency-Key" = Uuid, Header, description = "The op's client_op_id: a repeat answers the first result.")), request_body = modula_wire::op::OnlineOp, responses((status = 201, description = "Applied: the op's result. A repeat of the same Idempotency-Key and body answers the stored status and body again (a stored refusal too), with header Idempotent-Replayed: true.", body = serde_json::Value), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn sale(State(s): State<AppState>, auth: Auth, headers: HeaderMap, ApiJson(b): ApiJson<OnlineOp>) -> ApiResult<Response> {
    submit(s, auth, headers, OpType::SaleFinalize, b).await
}

#[utoipa::path(post, path = "/cash-sessions", tag = "online", params(("Idempotency-Key" = Uuid, Header, description = "The op's client_op_id: a repeat answers the first result.")), request_body = modula_wire::op::OnlineOp, responses((status = 201, description = "Applied: the op's result. A repeat of the same Idempotency-Key and body answers the stored status and body again (a stored refusal too), with header Idempotent-Replayed: true.", body = serde_json::Value), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn open_session(State(s): State<AppState>, auth: Auth, headers: HeaderMap, ApiJson(b): ApiJson<OnlineOp>) -> ApiResult<Response> {
    submit(s, auth, headers, OpType::CashSessionOpen, b).await
}

#[utoipa::path(post, path = "/cash-sessions/{id}/movements", tag = "online", params(("Idempotency-Key" = Uuid, Header, description = "The op's client_op_id: a repeat answers the first result."), ("id" = Uuid, Path, description = "Its id.")), request_body = modula_wire::op::OnlineOp, responses((status = 201, description = "Applied: the op's result. A repeat of the same Idempotency-Key and body answers the stored status and body again (a stored refusal too), with header Idempotent-Replayed: true.", body = serde_json::Value), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn movement(
    State(s): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    ApiJson(b): ApiJson<OnlineOp>,
) -> ApiResult<Response> {
    submit(s, auth, headers, OpType::CashSessionMovement, with_session_id(b, id)?).await
}

#[utoipa::path(post, path = "/cash-sessions/{id}/close", tag = "online", params(("Idempotency-Key" = Uuid, Header, description = "The op's client_op_id: a repeat answers the first result."), ("id" = Uuid, Path, description = "Its id.")), request_body = modula_wire::op::OnlineOp, responses((status = 201, description = "Applied: the op's result. A repeat of the same Idempotency-Key and body answers the stored status and body again (a stored refusal too), with header Idempotent-Replayed: true.", body = serde_json::Value), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn close_session(
    State(s): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    ApiJson(b): ApiJson<OnlineOp>,
) -> ApiResult<Response> {
    submit(s, auth, headers, OpType::CashSessionClose, with_session_id(b, id)?).await
}

#[utoipa::path(post, path = "/attendance/start", tag = "online", params(("Idempotency-Key" = Uuid, Header, description = "The op's client_op_id: a repeat answers the first result.")), request_body = modula_wire::op::OnlineOp, responses((status = 201, description = "Applied: the op's result. A repeat of the same Idempotency-Key and body answers the stored status and body again (a stored refusal too), with header Idempotent-Replayed: true.", body = serde_json::Value), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn start_work(State(s): State<AppState>, auth: Auth, headers: HeaderMap, ApiJson(b): ApiJson<OnlineOp>) -> ApiResult<Response> {
    submit(s, auth, headers, OpType::AttendanceStartWork, b).await
}

#[utoipa::path(post, path = "/attendance/end", tag = "online", params(("Idempotency-Key" = Uuid, Header, description = "The op's client_op_id: a repeat answers the first result.")), request_body = modula_wire::op::OnlineOp, responses((status = 201, description = "Applied: the op's result. A repeat of the same Idempotency-Key and body answers the stored status and body again (a stored refusal too), with header Idempotent-Replayed: true.", body = serde_json::Value), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn end_work(State(s): State<AppState>, auth: Auth, headers: HeaderMap, ApiJson(b): ApiJson<OnlineOp>) -> ApiResult<Response> {
    submit(s, auth, headers, OpType::AttendanceEndWork, b).await
}

/// `POST /v1/sales/{id}/void`: the path's sale id goes into the payload.
#[utoipa::path(post, path = "/sales/{id}/void", tag = "online", params(("Idempotency-Key" = Uuid, Header, description = "The op's client_op_id: a repeat answers the first result."), ("id" = Uuid, Path, description = "Its id.")), request_body = modula_wire::op::OnlineOp, responses((status = 201, description = "Applied: the op's result. A repeat of the same Idempotency-Key and body answers the stored status and body again (a stored refusal too), with header Idempotent-Replayed: true.", body = serde_json::Value), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn void_sale(
    State(s): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    ApiJson(mut b): ApiJson<OnlineOp>,
) -> ApiResult<Response> {
    let Some(payload) = b.payload.as_object_mut() else {
        return Err(ApiError::bad_field("payload", "payload must be a JSON object"));
    };
    match payload.get("sale_id") {
        None => {
            payload.insert("sale_id".into(), serde_json::json!(id));
        }
        Some(v) if v.as_str().and_then(|s| s.parse::<Uuid>().ok()) == Some(id) => {}
        Some(_) => return Err(ApiError::bad_field("payload.sale_id", "payload.sale_id differs from the path's id")),
    }
    submit(s, auth, headers, OpType::SaleVoid, b).await
}
