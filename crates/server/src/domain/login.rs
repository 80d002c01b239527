//! `POST /v1/auth/login`: a manager's or owner's sign-in with shop, login and password,
//! under an atomic throttle (a lock after repeated failures, growing with each lockout);
//! `POST /v1/auth/logout`.

use modula_rules::validate;
use std::net::IpAddr;

use modula_store::{AddressThrottle, StaffRecord, Store, TokenSubject, Tx};
use modula_wire::admin::{LoginRequest, LoginResponse};
use modula_wire::Role;
use uuid::Uuid;

use crate::auth::{issue_token, verify_password, Auth, Principal, LOGIN_TOKEN_TTL_HOURS};
use crate::error::{ApiError, ApiResult};
use crate::login_gate::{address_key, LoginGate, ADDRESS_FAILURES_PER_LOCK, ADDRESS_WINDOW, LOGIN_FAILURES_PER_LOCK, LOGIN_GATE_WAIT};

/// The hash checked for unknown, inactive or locked accounts, so that they cost as much
/// time as a wrong password (no enumeration or lock probing by timing).
fn dummy_phc() -> &'static str {
    static PHC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PHC.get_or_init(|| modula_rules::credential::hash_password("not anyone's password", &[7u8; 16]).unwrap_or_default())
}

fn wrong() -> ApiError {
    ApiError::Unauthorized("wrong shop, login or password".into())
}

/// What a sign-in names, checked at parse time: the shop (by slug or id) and the
/// normalized login. The password's length is checked too (a shorter or longer one
/// can be no one's), and is never echoed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The shop as named.
    pub tenant: TenantRef,
    /// The login, normalized.
    pub login: String,
}

/// A shop as a sign-in names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRef {
    /// By id.
    Id(Uuid),
    /// By slug.
    Slug(String),
}

/// Checks a sign-in body's fields (`400 VALIDATION_FAILED` naming the field).
pub fn credentials(req: &LoginRequest) -> ApiResult<Credentials> {
    let tenant = match Uuid::parse_str(req.tenant.trim()) {
        Ok(id) => TenantRef::Id(id),
        Err(_) => TenantRef::Slug(validate::slug("tenant", &req.tenant.trim().to_lowercase())?),
    };
    let login = validate::login("login", &req.login)?;
    validate::password("password", &req.password)?;
    Ok(Credentials { tenant, login })
}

/// Signs a manager or owner in with their login and password. One write transaction per
/// attempt, with the account's row locked: check the lock, count the attempt, then judge
/// the password; so concurrent guesses queue on the row and at most
/// [`LOGIN_FAILURES_PER_LOCK`] are judged before the lock. A success clears the count;
/// a failure never clears a lock. Failed and locked attempts are audited. Judged
/// failures also count against the client address (when known), which locks after
/// [`ADDRESS_FAILURES_PER_LOCK`] whatever the accounts. An unknown shop or login, a
/// cashier, an inactive or locked account costs the same password check as a wrong
/// password. The check runs at the gate: a flood waits there, or gets `503`.
pub async fn login(store: &dyn Store, gate: &LoginGate, client: Option<IpAddr>, req: LoginRequest) -> ApiResult<LoginResponse> {
    let who = credentials(&req)?;
    let _place = tokio::time::timeout(LOGIN_GATE_WAIT, gate.place())
        .await
        .map_err(|_| ApiError::Busy { detail: "too many sign-ins at once; try again in a moment".into(), retry_after_s: 1 })?
        .map_err(|_| ApiError::Internal("the sign-in gate is closed".into()))?;
    let mut tx = store.begin_write().await?;
    let now = chrono::Utc::now();
    // Lock order: the address, then the account.
    let address = match client {
        Some(ip) => Some(tx.lock_login_address(&address_key(ip)).await?),
        None => None,
    };
    // Refusals without a judgement release the locks first, then spend a credential
    // check's time anyway (no probing by timing), outside them.
    if let Some(until) = address.as_ref().and_then(|a| a.locked_until).filter(|u| *u > now) {
        drop(tx);
        tracing::warn!(address = %address.as_ref().map_or("", |a| a.address.as_str()), "sign-in from a locked address");
        verify_password(&req.password, dummy_phc()).await?;
        return Err(locked(until, now));
    }
    let account = match find_tenant(tx.as_mut(), &who.tenant).await? {
        Some(tenant_id) => tx.lock_staff_by_login(tenant_id, &who.login).await?,
        None => None,
    };
    let Some((staff, phc)) = account.and_then(may_sign_in) else {
        let address_lock = count_address_failure(tx.as_mut(), gate, address, now).await?;
        tx.commit().await?;
        verify_password(&req.password, dummy_phc()).await?;
        return Err(address_lock.map_or_else(wrong, |until| locked(until, now)));
    };
    if let Some(until) = staff.locked_until.filter(|u| *u > now) {
        audit_sign_in(tx.as_mut(), &staff, "login_locked", staff.failed_logins, Some(until)).await?;
        tx.commit().await?;
        verify_password(&req.password, dummy_phc()).await?;
        return Err(locked(until, now));
    }
    // Counted before it is judged, under the row lock.
    let failures = staff.failed_logins + 1;
    if verify_password(&req.password, &phc).await? {
        // A success clears the account's count, never the address's: one valid login must
        // not let its holder reset the count of guesses at other accounts.
        tx.set_login_lockout(staff.tenant_id, staff.id, 0, None).await?;
        let issued = issue_token(tx.as_mut(), staff.tenant_id, TokenSubject::Staff(staff.id), Some(LOGIN_TOKEN_TTL_HOURS)).await?;
        tx.commit().await?;
        let expires_at = issued.expires_at.ok_or_else(|| ApiError::Internal("a sign-in token without an expiry".into()))?;
        return Ok(LoginResponse { token: issued.token, staff_id: staff.id, role: staff.role, tenant_id: staff.tenant_id, expires_at });
    }
    let account_lock = (failures % LOGIN_FAILURES_PER_LOCK == 0)
        .then(|| now + gate.lock_for(failures, LOGIN_FAILURES_PER_LOCK));
    tx.set_login_lockout(staff.tenant_id, staff.id, failures, account_lock).await?;
    let address_lock = count_address_failure(tx.as_mut(), gate, address, now).await?;
    let action = if account_lock.is_some() { "login_failed_locked" } else { "login_failed" };
    audit_sign_in(tx.as_mut(), &staff, action, failures, account_lock).await?;
    tx.commit().await?;
    match account_lock.into_iter().chain(address_lock).max() {
        Some(until) => Err(locked(until, now)),
        None => Err(wrong()),
    }
}

async fn find_tenant(tx: &mut dyn Tx, tenant: &TenantRef) -> ApiResult<Option<Uuid>> {
    let found = match tenant {
        TenantRef::Id(id) => tx.tenant(*id).await?,
        TenantRef::Slug(slug) => tx.tenant_by_slug(slug).await?,
    };
    Ok(found.map(|t| t.id))
}

/// The account and its password hash, if it may sign in to the server at all: active, a
/// manager or owner, with a password.
fn may_sign_in(staff: StaffRecord) -> Option<(StaffRecord, String)> {
    let role_ok = matches!(staff.role, Role::Manager | Role::Owner);
    let phc = staff.password_hash.clone().filter(|_| staff.active && role_ok)?;
    Some((staff, phc))
}

/// Counts a judged failure against the client address; returns the lock it starts, if
/// this failure locks it.
async fn count_address_failure(
    tx: &mut dyn Tx,
    gate: &LoginGate,
    address: Option<AddressThrottle>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    let Some(a) = address else { return Ok(None) };
    // Failures count within a window: a quiet spell starts the count again (an address
    // shared by a shop's browsers is not locked by a month of typos).
    let fresh = now - a.updated_at > chrono::Duration::from_std(ADDRESS_WINDOW).unwrap_or_default();
    let failures = if fresh && a.locked_until.is_none_or(|u| u <= now) { 1 } else { a.failures + 1 };
    let lock = (failures % ADDRESS_FAILURES_PER_LOCK == 0).then(|| now + gate.lock_for(failures, ADDRESS_FAILURES_PER_LOCK));
    if lock.is_some() {
        tracing::warn!(address = %a.address, failures, "a client address is locked out of sign-in");
    }
    tx.set_login_address(&AddressThrottle { failures, locked_until: lock, updated_at: now, ..a }).await?;
    Ok(lock)
}

/// An audit event of a refused sign-in (of no branch, no op).
async fn audit_sign_in(
    tx: &mut dyn Tx,
    staff: &StaffRecord,
    action: &str,
    failures: i64,
    locked_until: Option<chrono::DateTime<chrono::Utc>>,
) -> ApiResult<()> {
    let details = serde_json::json!({"failures_in_a_row": failures, "locked_until": locked_until});
    super::audit_no_op(tx, staff.tenant_id, None, staff.id, ("auth", action), details).await
}

/// `429 LOGIN_LOCKED` for a lock that lasts until `until`.
pub(crate) fn locked(until: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> ApiError {
    // Rounded up: a client that waits this long finds the lock gone.
    let retry_after_s = ((until - now).num_milliseconds() + 999).div_euclid(1000).max(1) as u64;
    ApiError::LoginLocked {
        detail: format!("too many failed sign-ins; this account is locked for {retry_after_s} more seconds"),
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
