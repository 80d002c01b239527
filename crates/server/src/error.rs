//! The server's error enum and its one mapping onto HTTP problem+json (RFC 9457).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use modula_rules::Rejection;
use modula_store::StoreError;
use modula_wire::{ErrorCode, Problem};

/// Everything a handler can fail with. Mapped to HTTP in [`ApiError::problem`] only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid credentials (or a wrong PIN).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The addressed thing (in the path, or referenced by `field` of the body) does not
    /// exist for this caller.
    #[error("{detail}")]
    NotFound {
        /// What was not found.
        detail: String,
        /// The body field holding the unknown id, if it came from the body.
        field: Option<String>,
    },
    /// Malformed request: bad JSON, missing or mistyped field, bad path or query.
    #[error("{detail}")]
    BadRequest {
        /// What is wrong.
        detail: String,
        /// The field to blame, when known.
        field: Option<String>,
    },
    /// A business rule refused the request (validation, prerequisites, …).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// Too many failed sign-ins for this account (`LOGIN_LOCKED`, 429).
    #[error("{detail}")]
    LoginLocked {
        /// What to tell the person.
        detail: String,
        /// Seconds until sign-in is possible again.
        retry_after_s: u64,
    },
    /// Too busy to take this request now; nothing was done (`SERVICE_UNAVAILABLE`, 503).
    #[error("{detail}")]
    Busy {
        /// What is busy.
        detail: String,
        /// Seconds to wait before retrying.
        retry_after_s: u64,
    },
    /// The pull cursor cannot be used; the client must rehydrate. Holds the reason.
    #[error("{0}")]
    CursorReset(String),
    /// Body over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming a field.
    pub fn bad_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest { detail: detail.into(), field: Some(field.into()) }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::Unauthorized(d) => Problem::new(401, ErrorCode::Unauthorized, d),
            ApiError::Forbidden(d) => Problem::new(403, ErrorCode::Forbidden, d),
            ApiError::NotFound { detail, field } => {
                let p = Problem::new(404, ErrorCode::NotFound, detail);
                match field {
                    Some(f) => p.with_field(f.clone()),
                    None => p,
                }
            }
            ApiError::BadRequest { detail, field } => {
                let p = Problem::new(400, ErrorCode::BadRequest, detail);
                match field {
                    Some(f) => p.with_field(f.clone()),
                    None => p,
                }
            }
            ApiError::Rejected(r) => {
                let p = Problem::new(status_for_code(r.code).as_u16(), r.code, &r.message);
                match &r.field {
                    Some(f) => p.with_field(f.clone()),
                    None => p,
                }
            }
            ApiError::Conflict(d) => Problem::new(409, ErrorCode::Conflict, d),
            ApiError::LoginLocked { detail, retry_after_s } => {
                Problem::new(429, ErrorCode::LoginLocked, detail).with_retry_after(*retry_after_s)
            }
            ApiError::Busy { detail, .. } => Problem::new(503, ErrorCode::ServiceUnavailable, detail),
            ApiError::CursorReset(reason) => {
                let mut p = Problem::new(
                    409,
                    ErrorCode::CursorReset,
                    format!("{reason}; drop this branch's cache and pull again without a cursor"),
                );
                p.reason = Some(reason.clone());
                p
            }
            ApiError::PayloadTooLarge(d) => Problem::new(413, ErrorCode::PayloadTooLarge, d),
            ApiError::UnsupportedMediaType(d) => Problem::new(415, ErrorCode::UnsupportedMediaType, d),
            ApiError::Store(StoreError::Unavailable(_)) => Problem::new(
                503,
                ErrorCode::ServiceUnavailable,
                "the database is busy or unreachable; nothing was changed, retry shortly",
            ),
            ApiError::Store(StoreError::Conflict(_)) => {
                Problem::new(409, ErrorCode::Conflict, "a concurrent change conflicted with this one; retry")
            }
            ApiError::Store(StoreError::Internal(_)) | ApiError::Internal(_) => {
                Problem::new(500, ErrorCode::Internal, "internal error; it has been logged")
            }
        }
    }
}

/// The HTTP status of a business rejection code (§5.2 of the spec).
pub fn status_for_code(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Renders a problem document as a response.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Store(StoreError::Internal(e)) | ApiError::Internal(e) => {
                tracing::error!(error = %e, "internal error")
            }
            ApiError::Store(e) => tracing::warn!(error = %e, "storage error"),
            _ => {}
        }
        let mut resp = problem_response(&self.problem());
        if let ApiError::LoginLocked { retry_after_s, .. } | ApiError::Busy { retry_after_s, .. } = &self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if let ApiError::Store(StoreError::Unavailable(_)) = &self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// Short for `Result<T, ApiError>`.
pub type ApiResult<T> = Result<T, ApiError>;
