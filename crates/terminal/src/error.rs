//! The terminal's one error type and its mapping to problem+json (RFC 9457).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use modula_rules::Rejection;
use modula_wire::{ErrorCode, Problem};

/// Everything the terminal's local API can refuse with.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// A business refusal decided locally, with the same code the server would use.
    #[error("{}", .0.message)]
    Rejected(Rejection),
    /// A wrong PIN (401), with how many tries that person has left before their lock.
    #[error("wrong PIN; {attempts_left} more wrong PINs lock this person's sign-in here for a while")]
    WrongPin {
        /// Wrong PINs still allowed before the lock.
        attempts_left: u32,
    },
    /// Too many wrong PINs for one person: their sign-in here is locked for
    /// `retry_after_s` more seconds (429 with `Retry-After`). Others may sign in.
    #[error("too many wrong PINs for {name}; their sign-in here is locked for {retry_after_s} more seconds")]
    PinLocked {
        /// Whose sign-in is locked.
        name: String,
        /// Seconds until sign-in is allowed again (at least 1).
        retry_after_s: u64,
    },
    /// The local SQLite file failed; nothing was changed.
    #[error("local database: {0}")]
    Db(#[from] sqlx::Error),
    /// Something that is a bug in the terminal.
    #[error("internal: {0}")]
    Internal(String),
}

/// Shorthand for results of the terminal.
pub type TerminalResult<T> = Result<T, TerminalError>;

impl TerminalError {
    /// A refusal with a code and a sentence for the cashier.
    pub fn refuse(code: ErrorCode, message: impl Into<String>) -> Self {
        TerminalError::Rejected(Rejection::new(code, message))
    }

    /// A validation refusal naming the field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        TerminalError::Rejected(Rejection::validation(field, message))
    }

    /// The problem document of this error.
    pub fn problem(&self) -> Problem {
        match self {
            TerminalError::Rejected(r) => {
                let p = Problem::new(r.code.http_status(), r.code, r.message.clone());
                match &r.field {
                    Some(f) => p.with_field(f.clone()),
                    None => p,
                }
            }
            TerminalError::WrongPin { attempts_left } => {
                Problem::new(401, ErrorCode::Unauthorized, self.to_string()).with_attempts_left(*attempts_left)
            }
            TerminalError::PinLocked { retry_after_s, .. } => {
                Problem::new(429, ErrorCode::PinLocked, self.to_string()).with_retry_after(*retry_after_s)
            }
            TerminalError::Db(e) => Problem::new(
                503,
                ErrorCode::ServiceUnavailable,
                format!("the terminal's local database failed ({e}); nothing was saved, try again"),
            ),
            TerminalError::Internal(e) => Problem::new(500, ErrorCode::Internal, format!("terminal bug: {e}")),
        }
    }
}

impl From<Rejection> for TerminalError {
    fn from(r: Rejection) -> Self {
        TerminalError::Rejected(r)
    }
}

/// Renders a problem document as a response.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    resp
}

impl IntoResponse for TerminalError {
    fn into_response(self) -> Response {
        if !matches!(self, TerminalError::Rejected(_) | TerminalError::PinLocked { .. } | TerminalError::WrongPin { .. }) {
            tracing::error!(error = %self, "terminal error");
        }
        let mut resp = problem_response(&self.problem());
        if let TerminalError::PinLocked { retry_after_s, .. } = self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s.max(1)));
        }
        resp
    }
}
