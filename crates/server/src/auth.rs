//! Bearer tokens, credential hashing and the authenticated caller ([`Auth`]).
//!
//! Tokens are 256-bit random values shown once and stored only as their SHA-256.
//! A staff token's rights follow the staff member's *current* role and active flag;
//! a device token's rights end the moment the device is revoked.

use modula_store::{Store, TokenRecord, TokenSubject, Tx};
use modula_wire::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Lifetime of a token from `POST /v1/auth/login`, in hours.
pub const LOGIN_TOKEN_TTL_HOURS: i64 = 12;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A staff member with their current role and branches.
    Staff {
        /// Id.
        staff_id: Uuid,
        /// Current role.
        role: Role,
        /// Current branches.
        branch_ids: Vec<Uuid>,
    },
    /// An enrolled, unrevoked device.
    Device {
        /// Id.
        device_id: Uuid,
        /// Its branch.
        branch_id: Uuid,
    },
}

/// The authenticated caller: always scoped to one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The caller's tenant; every query is scoped by it.
    pub tenant_id: Uuid,
    /// Who.
    pub principal: Principal,
    /// The SHA-256 of the bearer token the caller used (what a logout deletes).
    pub token_hash: String,
    /// A device caller's `last_seen_at` when the request began (`None` for staff, or a
    /// device never heard from).
    pub device_seen_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Auth {
    /// The staff member and role, if the caller is a manager or owner; else `FORBIDDEN`.
    pub fn require_manager(&self) -> ApiResult<(Uuid, Role)> {
        match &self.principal {
            Principal::Staff { staff_id, role, .. } if *role >= Role::Manager => Ok((*staff_id, *role)),
            Principal::Staff { .. } => Err(ApiError::Forbidden("this needs a manager or owner".into())),
            Principal::Device { .. } => {
                Err(ApiError::Forbidden("a device token cannot use the admin API; sign in as a manager".into()))
            }
        }
    }

    /// The owner's staff id, or `FORBIDDEN`: tenant-wide writes (tenant policy, menu,
    /// stock items, branches) are the owner's alone (SPEC §5).
    pub fn require_owner(&self) -> ApiResult<Uuid> {
        match self.require_manager()? {
            (staff_id, Role::Owner) => Ok(staff_id),
            _ => Err(ApiError::Forbidden("this changes the whole tenant, so it needs the owner".into())),
        }
    }

    /// A manager+ who may administer `branch_id` (an owner, or a manager assigned to
    /// it), decided from the token alone: called before any row is locked, so a caller
    /// without the right never makes anyone wait.
    pub fn require_admin_of(&self, branch_id: Uuid) -> ApiResult<(Uuid, Role)> {
        let me = self.require_manager()?;
        if !self.sees_branch(branch_id) {
            return Err(ApiError::Forbidden(format!("you are not assigned to branch {branch_id}")));
        }
        Ok(me)
    }

    /// Whether the caller may see data of `branch_id` (a branch of its tenant).
    pub fn sees_branch(&self, branch_id: Uuid) -> bool {
        match &self.principal {
            Principal::Staff { role: Role::Owner, .. } => true,
            Principal::Staff { branch_ids, .. } => branch_ids.contains(&branch_id),
            Principal::Device { branch_id: own, .. } => *own == branch_id,
        }
    }
}

/// Resolves a bearer token to the caller, checking revocation, expiry and activity now.
pub async fn authenticate(store: &dyn Store, token: &str) -> ApiResult<Auth> {
    let invalid = || ApiError::Unauthorized("the token is unknown, expired or revoked".into());
    let mut tx = store.begin_read().await?;
    let hash = token_hash(token);
    let record = tx.token(&hash).await?.ok_or_else(invalid)?;
    if record.expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
        return Err(invalid());
    }
    let mut device_seen_at = None;
    let principal = match record.subject {
        TokenSubject::Staff(staff_id) => {
            let staff = tx.staff(record.tenant_id, staff_id).await?.ok_or_else(invalid)?;
            if !staff.active {
                return Err(ApiError::Unauthorized("this staff member is deactivated".into()));
            }
            Principal::Staff { staff_id, role: staff.role, branch_ids: staff.branch_ids }
        }
        TokenSubject::Device(device_id) => {
            let device = tx.device(record.tenant_id, device_id).await?.ok_or_else(invalid)?;
            if device.revoked_at.is_some() {
                return Err(ApiError::Unauthorized("this device has been revoked; enroll it again".into()));
            }
            device_seen_at = device.last_seen_at;
            Principal::Device { device_id, branch_id: device.branch_id }
        }
    };
    Ok(Auth { tenant_id: record.tenant_id, principal, token_hash: hash, device_seen_at })
}

/// A fresh random bearer token: `mdl_` + 64 hex digits (256 bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("mdl_{}", hex::encode(bytes))
}

/// Lowercase hex SHA-256 of a token: the only form in which tokens are stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token just issued: shown once.
pub struct Issued {
    /// The bearer token.
    pub token: String,
    /// When it stops working; `None`: until revoked.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Issues a token for `subject` inside `tx`.
pub async fn issue_token(
    tx: &mut dyn Tx,
    tenant_id: Uuid,
    subject: TokenSubject,
    ttl_hours: Option<i64>,
) -> ApiResult<Issued> {
    let token = new_token();
    let now = chrono::Utc::now();
    let expires_at = ttl_hours.map(|h| now + chrono::Duration::hours(h));
    let record = TokenRecord { token_hash: token_hash(&token), tenant_id, subject, created_at: now, expires_at };
    tx.insert_token(&record).await?;
    Ok(Issued { token, expires_at })
}

/// Hashes a PIN with argon2id and a fresh salt, off the async runtime.
pub async fn hash_pin(pin: &str) -> ApiResult<String> {
    let pin = pin.to_string();
    let salt = fresh_salt();
    blocking("PIN hashing", move || modula_rules::credential::hash_pin(&pin, &salt)).await?.map_err(ApiError::from)
}

/// Hashes a server password with argon2id and a fresh salt, off the async runtime.
pub async fn hash_password(password: &str) -> ApiResult<String> {
    let password = password.to_string();
    let salt = fresh_salt();
    blocking("password hashing", move || modula_rules::credential::hash_password(&password, &salt)).await?.map_err(ApiError::from)
}

/// Checks a server password against a stored hash, off the async runtime.
pub async fn verify_password(password: &str, phc: &str) -> ApiResult<bool> {
    let (password, phc) = (password.to_string(), phc.to_string());
    blocking("password check", move || modula_rules::credential::verify_password(&password, &phc)).await
}

fn fresh_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    salt
}

async fn blocking<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(format!("{what} task failed: {e}")))
}
