//! `modula admin init`: a new tenant with its owner and an owner token.

use modula_rules::validate;
use modula_store::{StaffRecord, Store, TenantRecord, TokenSubject, Tx};
use modula_wire::admin::InitOutput;
use modula_wire::{Policy, Role};
use uuid::Uuid;

use crate::auth::{hash_password, hash_pin, issue_token};
use crate::error::{ApiError, ApiResult};

/// What `modula admin init` is given.
pub struct InitTenant<'a> {
    /// The business's name.
    pub tenant_name: &'a str,
    /// The owner's name.
    pub owner_name: &'a str,
    /// The owner's PIN.
    pub owner_pin: &'a str,
    /// The shop's slug; `None`: made from the name (made unique with `-2`, `-3`, …).
    pub slug: Option<&'a str>,
    /// The owner's server login and password (for the dashboard); `None`: none yet
    /// (the owner's token may set them later with `PATCH /v1/staff/{id}`).
    pub owner_sign_in: Option<(&'a str, &'a str)>,
}

/// Most numbered variants of a name's slug tried before a random suffix.
const SLUG_VARIANTS_MAX: u32 = 99;

/// [`init`] with a slug made from the tenant's name.
pub async fn init_tenant(store: &dyn Store, tenant_name: &str, owner_name: &str, owner_pin: &str) -> ApiResult<InitOutput> {
    init(store, &InitTenant { tenant_name, owner_name, owner_pin, slug: None, owner_sign_in: None }).await
}

/// Creates a tenant (default policy) with its owner; returns a non-expiring owner token.
pub async fn init(store: &dyn Store, req: &InitTenant<'_>) -> ApiResult<InitOutput> {
    let tenant_name = validate::name("tenant", req.tenant_name)?;
    let owner_name = validate::name("owner-name", req.owner_name)?;
    validate::pin("owner-pin", req.owner_pin)?;
    let given_slug = req.slug.map(|s| validate::slug("slug", s)).transpose()?;
    let owner_login = req.owner_sign_in.map(|(login, _)| validate::login("owner-login", login)).transpose()?;
    let password_hash = match req.owner_sign_in {
        Some((_, password)) => {
            validate::password("owner-password", password)?;
            Some(hash_password(password).await?)
        }
        None => None,
    };
    let owner_pin = req.owner_pin;
    let now = chrono::Utc::now();
    let mut tx = store.begin_write().await?;
    let slug = match given_slug {
        Some(slug) if tx.tenant_by_slug(&slug).await?.is_some() => {
            return Err(ApiError::Conflict(format!("the slug {slug} is taken by another shop; choose another with --slug")));
        }
        Some(slug) => slug,
        None => free_slug(tx.as_mut(), &validate::slug_from_name(&tenant_name)).await?,
    };
    let tenant = TenantRecord { id: Uuid::now_v7(), name: tenant_name, slug, policy: Policy::default(), created_at: now };
    let owner = StaffRecord {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        name: owner_name,
        role: Role::Owner,
        pin_hash: hash_pin(owner_pin).await?,
        login: owner_login,
        password_hash,
        active: true,
        branch_ids: Vec::new(),
        failed_logins: 0,
        locked_until: None,
        updated_at: now,
    };
    tx.insert_tenant(&tenant).await?;
    tx.insert_staff(&owner).await?;
    let token = issue_token(tx.as_mut(), tenant.id, TokenSubject::Staff(owner.id), None).await?.token;
    tx.commit().await?;
    Ok(InitOutput { tenant_id: tenant.id, owner_id: owner.id, token, slug: tenant.slug })
}

/// `base`, or the first of `base-2`, `base-3`, … no tenant has; past those, `base-` and
/// random hex.
async fn free_slug(tx: &mut dyn Tx, base: &str) -> ApiResult<String> {
    if tx.tenant_by_slug(base).await?.is_none() {
        return Ok(base.to_string());
    }
    let stem = &base[..base.len().min(validate::SLUG_MAX_CHARS - 7)];
    for n in 2..=SLUG_VARIANTS_MAX {
        let candidate = format!("{stem}-{n}");
        if tx.tenant_by_slug(&candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    Ok(format!("{stem}-{}", &Uuid::new_v4().simple().to_string()[..6]))
}

/// What `modula admin set-password` is given: an operator's reset of a manager's or an
/// owner's server sign-in, for when nobody can sign in to do it (a lost password and no
/// owner token). It needs the database, not a token.
pub struct SetPassword<'a> {
    /// The shop: its slug or id.
    pub tenant: &'a str,
    /// Whose: a staff id, or the login they have.
    pub who: &'a str,
    /// The login to set (kept when absent).
    pub login: Option<&'a str>,
    /// The new password.
    pub password: &'a str,
}

/// Sets a manager's or owner's login and password, clears their sign-in lock, ends every
/// sign-in of theirs and writes an audit event; returns their staff id.
pub async fn set_password(store: &dyn Store, req: &SetPassword<'_>) -> ApiResult<Uuid> {
    validate::password("password", req.password)?;
    let login = req.login.map(|l| validate::login("login", l)).transpose()?;
    let password_hash = crate::auth::hash_password(req.password).await?;
    let mut tx = store.begin_write().await?;
    let tenant = match Uuid::parse_str(req.tenant) {
        Ok(id) => tx.tenant(id).await?,
        Err(_) => tx.tenant_by_slug(&req.tenant.to_lowercase()).await?,
    };
    let tenant = tenant.ok_or_else(|| ApiError::NotFound { detail: format!("no shop {}", req.tenant), field: Some("tenant".into()) })?;
    let found = match Uuid::parse_str(req.who) {
        Ok(id) => tx.lock_staff(tenant.id, id).await?,
        Err(_) => tx.lock_staff_by_login(tenant.id, &validate::login("who", req.who)?).await?,
    };
    let mut staff = found.ok_or_else(|| ApiError::NotFound { detail: format!("no staff member {} in this shop", req.who), field: None })?;
    if staff.role == Role::Cashier {
        let msg = "cashiers have no server sign-in; they sign in at a till with their PIN";
        return Err(modula_rules::Rejection::validation("who", msg).into());
    }
    if let Some(login) = login {
        if tx.lock_staff_by_login(tenant.id, &login).await?.is_some_and(|other| other.id != staff.id) {
            return Err(ApiError::Conflict(format!("the login {login} is taken by another staff member; choose another")));
        }
        staff.login = Some(login);
    }
    if staff.login.is_none() {
        return Err(modula_rules::Rejection::validation("login", "this person has no login yet: give one with --login").into());
    }
    staff.password_hash = Some(password_hash);
    staff.failed_logins = 0;
    staff.locked_until = None;
    staff.updated_at = chrono::Utc::now();
    tx.update_staff(&staff).await?;
    tx.delete_staff_tokens(tenant.id, staff.id).await?;
    let details = serde_json::json!({"login": staff.login, "by": "modula admin set-password"});
    super::audit_no_op(tx.as_mut(), tenant.id, None, staff.id, ("auth", "password_set_by_operator"), details).await?;
    tx.commit().await?;
    Ok(staff.id)
}
