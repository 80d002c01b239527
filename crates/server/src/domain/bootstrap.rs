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
