//! Pure business rules of Modula Offline Sync, shared by the server and the terminal
//! so that an offline result equals the server's result (spec §2, §3, §4).
//!
//! What lives here:
//! - [`hash`]: RFC 8785 (JCS) canonical JSON and the op `payload_hash`.
//! - [`pricing`]: sale subtotal, VAT, total, tender and change (§3.1).
//! - [`validate`]: typed parsing and semantic checks of op payloads and admin input.
//! - [`cash`]: the two-currency drawer: expected cash and variance per currency.
//! - [`caps`]: the policy's confirmation caps on tender and float.
//! - [`day`]: a branch's local day in UTC instants, from its IANA time zone.
//! - [`attendance`]: one open shift per staff member.
//! - [`access`]: which role an op needs and who may grant which role.
//! - [`credential`]: argon2id hashing and verification of PINs and passwords.
//!
//! Everything is deterministic: no I/O, no clock, no randomness (callers pass salts
//! and times), integer arithmetic only, and no panics on any input — a business
//! refusal is a [`Rejection`].

#![warn(missing_docs)]

pub mod access;
pub mod attendance;
pub mod caps;
pub mod cash;
pub mod credential;
pub mod day;
pub mod hash;
pub mod pricing;
pub mod validate;

use modula_wire::ErrorCode;

/// A business refusal: maps 1:1 onto a problem+json or a REJECTED op result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// The machine-readable code.
    pub code: ErrorCode,
    /// A sentence for people, naming the field when one is to blame.
    pub message: String,
    /// The offending field as a JSON path (`lines[1].qty`), when one is to blame.
    pub field: Option<String>,
}

impl Rejection {
    /// A refusal with `code` and `message`, blaming no particular field.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A `VALIDATION_FAILED` refusal blaming `field`; the message is prefixed
    /// with the field name (`"lines[1].qty: must be at least 1"`).
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("{field}: {}", message.into());
        Rejection {
            code: ErrorCode::ValidationFailed,
            message,
            field: Some(field),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field_in_field_and_message() {
        let r = Rejection::validation("lines[1].qty", "must be at least 1");
        assert_eq!(r.code, ErrorCode::ValidationFailed);
        assert_eq!(r.field.as_deref(), Some("lines[1].qty"));
        assert_eq!(r.message, "lines[1].qty: must be at least 1");
        assert_eq!(r.to_string(), r.message);
    }

    #[test]
    fn new_has_no_field() {
        let r = Rejection::new(ErrorCode::Forbidden, "no");
        assert_eq!(r.code, ErrorCode::Forbidden);
        assert_eq!(r.field, None);
        assert_eq!(r.to_string(), "no");
    }
}
