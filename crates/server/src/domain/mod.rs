//! The domain core: what each endpoint means, written once over [`modula_store::Tx`]
//! and decided with [`modula_rules`]. Handlers in `routes` only translate HTTP.

pub mod actor;
pub mod admin;
pub mod apply;
pub mod batch;
pub mod closing;
pub mod feed;
pub mod pull;
pub mod push;
pub mod reports;
pub mod resolve;
pub mod bootstrap;
pub mod device_events;
pub mod login;
pub mod online;
pub mod views;

use modula_store::{AuditRecord, BranchRecord, Lane, Tx};
use modula_wire::Role;
use uuid::Uuid;

use crate::auth::{Auth, Principal};
use crate::error::{ApiError, ApiResult};

/// Writes an audit event that belongs to no op (a manager's action, a refused sign-in):
/// no `client_op_id`, no device, the online lane, now.
pub async fn audit_no_op(
    tx: &mut dyn Tx,
    tenant_id: Uuid,
    branch_id: Option<Uuid>,
    actor_id: Uuid,
    what: (&str, &str),
    details: serde_json::Value,
) -> ApiResult<()> {
    audit_no_op_at(tx, tenant_id, branch_id, actor::BranchActor { staff_id: actor_id, device_id: None }, what, details).await
}

/// [`audit_no_op`] naming the till the person acted at, if any.
pub async fn audit_no_op_at(
    tx: &mut dyn Tx,
    tenant_id: Uuid,
    branch_id: Option<Uuid>,
    actor: actor::BranchActor,
    (module, action): (&str, &str),
    details: serde_json::Value,
) -> ApiResult<()> {
    let now = chrono::Utc::now();
    let event = AuditRecord {
        tenant_id,
        branch_id,
        module: module.into(),
        action: action.into(),
        actor_id: Some(actor.staff_id),
        device_id: actor.device_id,
        client_op_id: None,
        lane: Lane::Online,
        occurred_at: now,
        applied_at: now,
        details: details.into(),
    };
    tx.insert_audits(std::slice::from_ref(&event)).await?;
    Ok(())
}

/// `NOT_FOUND` for a missing (or invisible) thing.
pub fn not_found(what: &str, id: Uuid) -> ApiError {
    ApiError::NotFound { detail: format!("no {what} with id {id}"), field: None }
}

/// `NOT_FOUND` for an id referenced by a body field.
pub fn not_found_field(field: impl Into<String>, what: &str, id: Uuid) -> ApiError {
    let field = field.into();
    ApiError::NotFound { detail: format!("{field}: no {what} with id {id}"), field: Some(field) }
}

/// A branch the caller may administer: manager+ and, for managers, assigned to it.
pub async fn branch_for_admin(tx: &mut dyn Tx, auth: &Auth, branch_id: Uuid) -> ApiResult<BranchRecord> {
    auth.require_manager()?;
    let branch = tx.branch(auth.tenant_id, branch_id).await?.ok_or_else(|| not_found("branch", branch_id))?;
    if !auth.sees_branch(branch.id) {
        return Err(ApiError::Forbidden(format!("you are not assigned to branch {branch_id}")));
    }
    Ok(branch)
}

/// A branch whose data the caller may read: a manager+ assigned to it, or its own device.
pub async fn branch_for_read(tx: &mut dyn Tx, auth: &Auth, branch_id: Uuid) -> ApiResult<BranchRecord> {
    if let Principal::Staff { role: Role::Cashier, .. } = auth.principal {
        return Err(ApiError::Forbidden("this needs a manager or owner, or the branch's device".into()));
    }
    let branch = tx.branch(auth.tenant_id, branch_id).await?.ok_or_else(|| not_found("branch", branch_id))?;
    if !auth.sees_branch(branch.id) {
        return Err(ApiError::Forbidden(format!("this token may not read branch {branch_id}")));
    }
    Ok(branch)
}
