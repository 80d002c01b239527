//! RFC 9457 problem details and the error-code vocabulary.

#[allow(unused_imports)]
use serde_json::json;
use serde::{Deserialize, Serialize};

/// Every machine-readable error code the API can answer with.
///
/// The first group is named by the spec; the rest are this project's additions,
/// documented in `docs/errors.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    // --- named by the spec ---
    /// Same `client_op_id` (or Idempotency-Key) with a different payload.
    PayloadMismatch,
    /// The client's `payload_hash` differs from the server's recomputation.
    HashMismatch,
    /// A `depends_on` op was rejected.
    DependencyFailed,
    /// A `depends_on` op was never seen.
    DependencyMissing,
    /// The caller (or the op's actor) may not do this.
    Forbidden,
    /// The branch is frozen; writes are refused.
    BranchFrozen,
    /// The op type may only be used online.
    NotAllowedOffline,
    /// The op type is not known.
    UnknownOpType,
    /// A field is invalid; `field` names it.
    ValidationFailed,
    /// No open cash session for this device.
    NoOpenCashSession,
    /// The device already has an open cash session.
    CashSessionAlreadyOpen,
    /// The cash session is closed.
    CashSessionClosed,
    /// The staff member already has an open shift.
    ShiftAlreadyOpen,
    /// The staff member has no open shift.
    NoOpenShift,
    /// Cash tendered is less than the total.
    InsufficientTender,
    /// The pull cursor cannot be used; rehydrate.
    CursorReset,
    // --- this project's additions ---
    /// The request body is not valid JSON or does not have the expected shape.
    BadRequest,
    /// Missing, unknown, expired or revoked bearer token, or a wrong PIN.
    Unauthorized,
    /// Too many wrong PINs at a till; sign-in there is locked for a while.
    PinLocked,
    /// Too many failed sign-ins to the server for this account; locked for a while
    /// (`Retry-After`), for longer after each lockout.
    LoginLocked,
    /// The addressed resource does not exist (or is not visible to the caller).
    NotFound,
    /// The request conflicts with the current state (e.g. duplicate name or id).
    Conflict,
    /// The same Idempotency-Key is still being processed.
    RequestInFlight,
    /// `Idempotency-Key` header missing or not a UUID.
    IdempotencyKeyMissing,
    /// The body or the batch is over a limit.
    PayloadTooLarge,
    /// The HTTP method is not supported on this path.
    MethodNotAllowed,
    /// The request body's media type is not JSON.
    UnsupportedMediaType,
    /// Terminal only: the request's `Host` is not the till's own address (a
    /// DNS-rebinding page, or a request meant for another server).
    MisdirectedRequest,
    /// The storage backend is unavailable or busy; retry later.
    ServiceUnavailable,
    /// A bug on the server; nothing the client can fix.
    Internal,
    /// Terminal only: the branch's menu or policy is not in the terminal's cache yet,
    /// so a sale cannot be priced offline.
    CacheMissing,
    /// The sale was voided already (SPEC §5.1 rule 8).
    SaleAlreadyVoided,
    /// Terminal only: an amount is above one of the policy's caps (`max_tender_cents`,
    /// `max_float_cents`); send it again with `"confirm": true` if it is right.
    ConfirmationRequired,
}

impl ErrorCode {
    /// Every code, in declaration order (the pages' string tables and the OpenAPI
    /// document list them all; a test keeps this complete).
    pub const ALL: [ErrorCode; 33] = [
        ErrorCode::PayloadMismatch,
        ErrorCode::HashMismatch,
        ErrorCode::DependencyFailed,
        ErrorCode::DependencyMissing,
        ErrorCode::Forbidden,
        ErrorCode::BranchFrozen,
        ErrorCode::NotAllowedOffline,
        ErrorCode::UnknownOpType,
        ErrorCode::ValidationFailed,
        ErrorCode::NoOpenCashSession,
        ErrorCode::CashSessionAlreadyOpen,
        ErrorCode::CashSessionClosed,
        ErrorCode::ShiftAlreadyOpen,
        ErrorCode::NoOpenShift,
        ErrorCode::InsufficientTender,
        ErrorCode::CursorReset,
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::PinLocked,
        ErrorCode::LoginLocked,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::RequestInFlight,
        ErrorCode::IdempotencyKeyMissing,
        ErrorCode::PayloadTooLarge,
        ErrorCode::MethodNotAllowed,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::MisdirectedRequest,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Internal,
        ErrorCode::CacheMissing,
        ErrorCode::SaleAlreadyVoided,
        ErrorCode::ConfirmationRequired
    ];

    /// The HTTP status an answer with this code carries (one table for the server and
    /// the terminal's local API).
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            Forbidden => 403,
            BranchFrozen => 423,
            ValidationFailed | PayloadMismatch | HashMismatch | NotAllowedOffline | UnknownOpType => 422,
            NoOpenCashSession | CashSessionAlreadyOpen | CashSessionClosed | ShiftAlreadyOpen | NoOpenShift
            | InsufficientTender | DependencyFailed | DependencyMissing | CursorReset | Conflict | RequestInFlight
            | ConfirmationRequired | SaleAlreadyVoided => {
                409
            }
            BadRequest | IdempotencyKeyMissing => 400,
            Unauthorized => 401,
            PinLocked | LoginLocked => 429,
            NotFound => 404,
            PayloadTooLarge => 413,
            MethodNotAllowed => 405,
            UnsupportedMediaType => 415,
            MisdirectedRequest => 421,
            ServiceUnavailable | CacheMissing => 503,
            Internal => 500,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(v.as_str().unwrap_or("INTERNAL"))
    }
}

/// An RFC 9457 `application/problem+json` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"type": "urn:modula:problem:branch-frozen", "title": "Branch frozen", "status": 423, "detail": "the branch Riverside is frozen: writes are refused until a manager unfreezes it", "code": "BRANCH_FROZEN"}))]
pub struct Problem {
    /// A URI naming the problem type (`urn:modula:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short human summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence, in words a user can act on.
    pub detail: String,
    /// The machine-readable code.
    pub code: ErrorCode,
    /// The offending field, as a JSON path (`lines[2].qty`), when one is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why a cursor was reset (`CURSOR_RESET` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Wrong PINs a person has left before their lock (the till's wrong-PIN answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    /// Seconds until a lock ends (as `Retry-After`; `PIN_LOCKED`, `LOGIN_LOCKED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

impl Problem {
    /// A problem with the given status, code and detail.
    pub fn new(status: u16, code: ErrorCode, detail: impl Into<String>) -> Self {
        let code_str = code.to_string();
        Problem {
            kind: format!("urn:modula:problem:{}", code_str.to_ascii_lowercase().replace('_', "-")),
            title: title_for(code).to_string(),
            status,
            detail: detail.into(),
            code,
            field: None,
            reason: None,
            attempts_left: None,
            retry_after_s: None,
        }
    }

    /// The same problem saying how many tries are left.
    pub fn with_attempts_left(mut self, attempts_left: u32) -> Self {
        self.attempts_left = Some(attempts_left);
        self
    }

    /// The same problem saying when a lock ends.
    pub fn with_retry_after(mut self, retry_after_s: u64) -> Self {
        self.retry_after_s = Some(retry_after_s);
        self
    }

    /// The same problem naming the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

fn title_for(code: ErrorCode) -> &'static str {
    use ErrorCode::*;
    match code {
        PayloadMismatch => "Payload does not match the stored operation",
        HashMismatch => "Payload hash mismatch",
        DependencyFailed => "A dependency was rejected",
        DependencyMissing => "A dependency is missing",
        Forbidden => "Forbidden",
        BranchFrozen => "Branch is frozen",
        NotAllowedOffline => "Not allowed offline",
        UnknownOpType => "Unknown operation type",
        ValidationFailed => "Validation failed",
        NoOpenCashSession => "No open cash session",
        CashSessionAlreadyOpen => "Cash session already open",
        CashSessionClosed => "Cash session closed",
        ShiftAlreadyOpen => "Shift already open",
        NoOpenShift => "No open shift",
        InsufficientTender => "Insufficient tender",
        CursorReset => "Cursor reset",
        BadRequest => "Bad request",
        Unauthorized => "Unauthorized",
        PinLocked => "Sign-in locked",
        LoginLocked => "Sign-in locked",
        NotFound => "Not found",
        Conflict => "Conflict",
        RequestInFlight => "Request in flight",
        IdempotencyKeyMissing => "Idempotency-Key missing",
        PayloadTooLarge => "Payload too large",
        MethodNotAllowed => "Method not allowed",
        UnsupportedMediaType => "Unsupported media type",
        MisdirectedRequest => "Misdirected request",
        ServiceUnavailable => "Service unavailable",
        Internal => "Internal server error",
        CacheMissing => "Terminal cache incomplete",
        ConfirmationRequired => "Confirmation required",
        SaleAlreadyVoided => "Sale already voided",
    }
}

#[cfg(test)]
mod all_codes_tests {
    use super::ErrorCode;

    /// Fails to compile when a variant is added without a place here, and fails when
    /// [`ErrorCode::ALL`] misses one.
    #[test]
    fn all_lists_every_code_once() {
        fn index(c: ErrorCode) -> usize {
            use ErrorCode::*;
            match c {
                PayloadMismatch => 0,
                HashMismatch => 1,
                DependencyFailed => 2,
                DependencyMissing => 3,
                Forbidden => 4,
                BranchFrozen => 5,
                NotAllowedOffline => 6,
                UnknownOpType => 7,
                ValidationFailed => 8,
                NoOpenCashSession => 9,
                CashSessionAlreadyOpen => 10,
                CashSessionClosed => 11,
                ShiftAlreadyOpen => 12,
                NoOpenShift => 13,
                InsufficientTender => 14,
                CursorReset => 15,
                BadRequest => 16,
                Unauthorized => 17,
                PinLocked => 18,
                LoginLocked => 19,
                NotFound => 20,
                Conflict => 21,
                RequestInFlight => 22,
                IdempotencyKeyMissing => 23,
                PayloadTooLarge => 24,
                MethodNotAllowed => 25,
                UnsupportedMediaType => 26,
                MisdirectedRequest => 27,
                ServiceUnavailable => 28,
                Internal => 29,
                CacheMissing => 30,
                SaleAlreadyVoided => 31,
                ConfirmationRequired => 32,
            }
        }
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(index(*c), i, "{c} is in ALL at its declaration place");
        }
    }
}
