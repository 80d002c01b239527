//! Credential hashing (spec §3: "stored only as a slow salted hash"): PINs (the till's
//! credential) and passwords (the server's) both as argon2id with the crate's default
//! parameters (19 MiB, 2 passes, 1 lane), stored as PHC strings. The caller supplies
//! the salt, so this module stays deterministic.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params, ARGON2ID_IDENT};
use modula_wire::ErrorCode;

use crate::Rejection;

/// Most memory a stored hash may ask verification to use, in KiB (256 MiB).
/// Hashes reach terminals through pull; this bounds what a bad one can cost.
const VERIFY_M_COST_MAX_KIB: u32 = 256 * 1024;
/// Most passes a stored hash may ask verification to make.
const VERIFY_T_COST_MAX: u32 = 16;
/// Most lanes a stored hash may ask verification to use.
const VERIFY_P_COST_MAX: u32 = 8;

/// The argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of `pin` with `salt`.
/// The PIN must be 4–8 ASCII digits (`VALIDATION_FAILED`, field `pin`).
pub fn hash_pin(pin: &str, salt: &[u8; 16]) -> Result<String, Rejection> {
    crate::validate::pin("pin", pin)?;
    hash_secret(pin.as_bytes(), salt)
}

/// Whether `pin` matches the argon2id PHC string `phc`. False for a malformed
/// string, another algorithm, or parameters above the verification bounds.
pub fn verify_pin(pin: &str, phc: &str) -> bool {
    verify_secret(pin.as_bytes(), phc)
}

/// The argon2id PHC string of a server password with `salt`. The password must pass
/// [`crate::validate::password`] (`VALIDATION_FAILED`, field `password`).
pub fn hash_password(password: &str, salt: &[u8; 16]) -> Result<String, Rejection> {
    crate::validate::password("password", password)?;
    hash_secret(password.as_bytes(), salt)
}

/// Whether `password` matches the argon2id PHC string `phc` (false for anything
/// malformed, as [`verify_pin`]).
pub fn verify_password(password: &str, phc: &str) -> bool {
    verify_secret(password.as_bytes(), phc)
}

fn hash_secret(secret: &[u8], salt: &[u8; 16]) -> Result<String, Rejection> {
    let salt = SaltString::encode_b64(salt).map_err(internal)?;
    let hash = Argon2::default().hash_password(secret, &salt).map_err(internal)?;
    Ok(hash.to_string())
}

fn internal(err: argon2::password_hash::Error) -> Rejection {
    Rejection::new(ErrorCode::Internal, format!("credential hashing failed: {err}"))
}

fn verify_secret(secret: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != ARGON2ID_IDENT || !params_within_bounds(&parsed) {
        return false;
    }
    Argon2::default().verify_password(secret, &parsed).is_ok()
}

fn params_within_bounds(parsed: &PasswordHash<'_>) -> bool {
    match Params::try_from(parsed) {
        Ok(p) => {
            p.m_cost() <= VERIFY_M_COST_MAX_KIB
                && p.t_cost() <= VERIFY_T_COST_MAX
                && p.p_cost() <= VERIFY_P_COST_MAX
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_pin() {
        let salt = [7u8; 16];
        let phc = hash_pin("1234", &salt).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(
            hash_pin("1234", &salt).unwrap(),
            phc,
            "deterministic for a given salt"
        );
        assert_ne!(
            hash_pin("1234", &[8u8; 16]).unwrap(),
            phc,
            "the salt matters"
        );
        assert!(verify_pin("1234", &phc));
        assert!(!verify_pin("1235", &phc));
        assert!(!verify_pin("", &phc));
    }

    #[test]
    fn malformed_and_refused() {
        assert!(!verify_pin("1234", ""));
        assert!(!verify_pin("1234", "not a phc string"));
        assert!(!verify_pin("1234", "$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!verify_pin("1234", "$argon2id$v=19$m=4194304,t=2,p=1$BwcHBwcHBwcHBwcHBwcHBw$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        let err = hash_pin("12", &[0; 16]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("pin"));
    }

    #[test]
    fn passwords_round_trip_and_are_validated() {
        let phc = hash_password("correct horse", &[3u8; 16]).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct hors", &phc));
        assert!(!verify_password("correct horse", ""));
        let short = hash_password("too short", &[3u8; 16]).unwrap_err();
        assert_eq!(short.field.as_deref(), Some("password"));
    }
}
