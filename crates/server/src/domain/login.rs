//! `POST /v1/auth/login`: PIN sign-in with a lockout after repeated failures;
//! `POST /v1/auth/logout`.

use modula_rules::validate;
use modula_store::{Store, TokenSubject};
use modula_wire::admin::{LoginRequest, LoginResponse};

use crate::auth::{issue_token, Auth, Principal, verify_pin, LOGIN_TOKEN_TTL_HOURS, PIN_ATTEMPTS_MAX, PIN_LOCKOUT_S};
use crate::error::{ApiError, ApiResult};

/// The hash checked for unknown or inactive staff, so that a wrong id costs as much
/// time as a wrong PIN (no staff-id enumeration by timing).
fn dummy_phc() -> &'static str {
    static PHC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PHC.get_or_init(|| modula_rules::pin::hash_pin("00000000", &[7u8; 16]).unwrap_or_default())
}

fn wrong() -> ApiError {
    ApiError::Unauthorized("wrong staff id or PIN".into())
}

/// Checks the PIN; on success issues a staff token, on failure counts towards a lockout.
pub async fn login(store: &dyn Store, req: LoginRequest) -> ApiResult<LoginResponse> {
    validate::pin("pin", &req.pin)?;
    let staff = {
        let mut tx = store.begin_read().await?;
        tx.staff(req.tenant_id, req.staff_id).await?
    };
    let Some(staff) = staff.filter(|s| s.active) else {
        let _ = verify_pin(&req.pin, dummy_phc()).await?;
        return Err(wrong());
    };
    let now = chrono::Utc::now();
    if let Some(until) = staff.locked_until.filter(|u| *u > now) {
        return Err(locked(until, now));
    }
    let ok = verify_pin(&req.pin, &staff.pin_hash).await?;
    let mut tx = store.begin_write().await?;
    // Re-read inside the write transaction so concurrent attempts all count.
    let current = tx.staff(req.tenant_id, req.staff_id).await?.ok_or_else(wrong)?;
    if ok {
        if current.failed_pin_attempts != 0 || current.locked_until.is_some() {
            tx.set_pin_lockout(req.tenant_id, req.staff_id, 0, None).await?;
        }
        let token = issue_token(tx.as_mut(), req.tenant_id, TokenSubject::Staff(staff.id), Some(LOGIN_TOKEN_TTL_HOURS)).await?;
        tx.commit().await?;
        return Ok(LoginResponse { token, staff_id: staff.id, role: current.role });
    }
    let failed = current.failed_pin_attempts + 1;
    let lock_until = (failed >= PIN_ATTEMPTS_MAX).then(|| now + chrono::Duration::seconds(PIN_LOCKOUT_S));
    let stored_failed = if lock_until.is_some() { 0 } else { failed };
    tx.set_pin_lockout(req.tenant_id, req.staff_id, stored_failed, lock_until).await?;
    tx.commit().await?;
    match lock_until {
        Some(until) => Err(locked(until, now)),
        None => Err(wrong()),
    }
}

fn locked(until: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> ApiError {
    let retry_after_s = (until - now).num_seconds().max(1) as u64;
    ApiError::PinLocked {
        detail: format!("too many wrong PINs; sign-in is locked for {retry_after_s} more seconds"),
        retry_after_s,
    }
}

/// `POST /v1/auth/logout`: revokes the calling staff token at once. A device token is
/// revoked by a manager (`DELETE /v1/devices/{id}`), not by the till itself.
pub async fn logout(store: &dyn Store, auth: &Auth) -> ApiResult<()> {
    if let Principal::Device { .. } = auth.principal {
        return Err(ApiError::Forbidden("a device does not sign out; a manager revokes it (DELETE /v1/devices/{id})".into()));
    }
    let mut tx = store.begin_write().await?;
    tx.delete_token(&auth.token_hash).await?;
    tx.commit().await?;
    Ok(())
}
