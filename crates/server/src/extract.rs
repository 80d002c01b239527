//! Request extractors whose failures are problem+json naming the field (the JSON body,
//! the query string, the bearer token), and the middleware that turns any remaining plain error response
//! into problem+json.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;

use crate::auth::{authenticate, Auth};
use crate::error::{problem_response, ApiError, ApiResult};
use crate::state::AppState;
use modula_wire::{ErrorCode, Problem};

/// A JSON body, parsed with the failing field's path reported on error.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!(
                    "the body is larger than the limit of {} bytes",
                    modula_wire::limits::BODY_MAX_BYTES
                ))
            } else {
                ApiError::BadRequest { detail: format!("could not read the body: {e}"), field: None }
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, naming the failing field (`lines[2].qty`) on error.
///
/// The body is parsed once without path tracking (it costs about a third more on a
/// 200-op push), and only a body that fails is parsed again to name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(_) => parse_json_tracked(bytes),
    }
}

fn parse_json_tracked<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let inner = e.inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest { detail: format!("the body is not valid JSON: {message}"), field: None };
        }
        let parent = e.path().to_string();
        let field = match missing_field_name(&message) {
            Some(name) if parent == "." => name.to_string(),
            Some(name) => format!("{parent}.{name}"),
            None => parent,
        };
        let field = (field != ".").then_some(field);
        let detail = match &field {
            Some(f) => format!("field `{f}`: {message}"),
            None => format!("the body does not have the expected shape: {message}"),
        };
        ApiError::BadRequest { detail, field }
    })?;
    // Only trailing characters are left to fail (the untracked parse checks them too).
    de.end().map_err(|e| ApiError::BadRequest { detail: format!("the body is not valid JSON: {e}"), field: None })?;
    Ok(value)
}

/// A query string, parsed with the failing parameter named on error: a missing
/// `branch_id` or a `date=` that is not a UUID answers `400 BAD_REQUEST` with `field`,
/// like a bad body field (axum's `Query` names nothing).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Parses a query string, naming the failing parameter on error.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let message = e.inner().to_string();
        let field = match missing_field_name(&message) {
            Some(name) => Some(name.to_string()),
            None => Some(e.path().to_string()).filter(|p| p != "."),
        };
        let detail = match &field {
            Some(f) => format!("query parameter `{f}`: {message}"),
            None => format!("the query string does not have the expected shape: {message}"),
        };
        ApiError::BadRequest { detail, field }
    })
}

fn missing_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// Middleware: any error response that is not already problem+json (axum's own 404,
/// 405, path and query rejections) is rewritten as one, keeping status and text.
pub async fn problemize(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes().starts_with(b"application/problem+json"))
        .unwrap_or(false);
    if is_problem {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let (code, default_detail) = match status {
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such endpoint; see the API reference"),
        StatusCode::METHOD_NOT_ALLOWED => (ErrorCode::MethodNotAllowed, "this method is not supported here"),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::PayloadTooLarge, "the body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (ErrorCode::UnsupportedMediaType, "send JSON"),
        s if s.is_server_error() => (ErrorCode::Internal, "internal error"),
        _ => (ErrorCode::BadRequest, "bad request"),
    };
    let detail = if text.is_empty() { default_detail.to_string() } else { text };
    let mut out = problem_response(&Problem::new(status.as_u16(), code, detail));
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// The caller of a request, from its `Authorization: Bearer` header, checked now
/// ([`authenticate`]).
impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        authenticate(state.store.as_ref(), token).await
    }
}

/// The token of an `Authorization: Bearer <token>` header (at most 256 characters).
fn bearer_token(parts: &Parts) -> ApiResult<&str> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("send `Authorization: Bearer <token>`".into()))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not valid text".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into()))?
        .trim();
    if token.is_empty() || token.len() > 256 {
        return Err(ApiError::Unauthorized("the bearer token is malformed".into()));
    }
    Ok(token)
}
