//! `modula admin init`: a new tenant with its owner and an owner token.

use modula_rules::validate;
use modula_store::{StaffRecord, Store, TenantRecord, TokenSubject};
use modula_wire::admin::InitOutput;
use modula_wire::{Policy, Role};
use uuid::Uuid;

use crate::auth::{hash_pin, issue_token};
use crate::error::ApiResult;

/// Creates a tenant (default policy) with its owner; returns a non-expiring owner token.
pub async fn init_tenant(store: &dyn Store, tenant_name: &str, owner_name: &str, owner_pin: &str) -> ApiResult<InitOutput> {
    let tenant_name = validate::name("tenant", tenant_name)?;
    let owner_name = validate::name("owner-name", owner_name)?;
    validate::pin("owner-pin", owner_pin)?;
    let now = chrono::Utc::now();
    let tenant = TenantRecord { id: Uuid::now_v7(), name: tenant_name, policy: Policy::default(), created_at: now };
    let owner = StaffRecord {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        name: owner_name,
        role: Role::Owner,
        pin_hash: hash_pin(owner_pin).await?,
        active: true,
        branch_ids: Vec::new(),
        failed_pin_attempts: 0,
        locked_until: None,
        updated_at: now,
    };
    let mut tx = store.begin_write().await?;
    tx.insert_tenant(&tenant).await?;
    tx.insert_staff(&owner).await?;
    let token = issue_token(tx.as_mut(), tenant.id, TokenSubject::Staff(owner.id), None).await?;
    tx.commit().await?;
    Ok(InitOutput { tenant_id: tenant.id, owner_id: owner.id, token })
}
