//! Who acts in a branch's online-only manager actions (restock; later voids and failure
//! resolution), SPEC §5: a manager+ staff token assigned to the branch acts itself; a
//! device token of the branch acts for `actor_id`, a manager or owner signed in at that
//! till, checked like an op's actor (active, manager or owner, assigned to the branch).
//! The terminal never holds a staff token: the PIN stays a till credential.

use modula_store::Tx;
use modula_wire::Role;
use uuid::Uuid;

use crate::auth::{Auth, Principal};
use crate::error::{ApiError, ApiResult};

/// The person acting, and the till they act at (for a device token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchActor {
    /// The manager or owner who acts.
    pub staff_id: Uuid,
    /// The till they act at, when the call came with its device token.
    pub device_id: Option<Uuid>,
}

/// Decides from the token alone (before any lock) who acts for `branch_id`; a device's
/// `actor_id` is then checked against the database by [`check_actor`].
pub fn claim(auth: &Auth, branch_id: Uuid, actor_id: Option<Uuid>) -> ApiResult<BranchActor> {
    match &auth.principal {
        Principal::Device { device_id, branch_id: own } => {
            if *own != branch_id {
                return Err(ApiError::Forbidden(format!("this device belongs to another branch than {branch_id}")));
            }
            let staff_id = actor_id.ok_or_else(|| {
                let msg = "a till acts for the manager signed in at it: actor_id names them";
                ApiError::from(modula_rules::Rejection::validation("actor_id", msg))
            })?;
            Ok(BranchActor { staff_id, device_id: Some(*device_id) })
        }
        Principal::Staff { .. } => {
            let (me, _) = auth.require_admin_of(branch_id)?;
            if actor_id.is_some_and(|a| a != me) {
                return Err(ApiError::Forbidden("a staff token acts as itself; actor_id must be its own id or absent".into()));
            }
            Ok(BranchActor { staff_id: me, device_id: None })
        }
    }
}

/// Checks a device's actor like an op's actor: a staff member of the tenant, active, a
/// manager or owner, assigned to the branch (an owner too). A staff token's actor was
/// checked when the token was resolved.
pub async fn check_actor(tx: &mut dyn Tx, auth: &Auth, branch_id: Uuid, actor: &BranchActor) -> ApiResult<()> {
    if actor.device_id.is_none() {
        return Ok(());
    }
    let forbidden = |msg: String| Err(ApiError::Forbidden(msg));
    let Some(staff) = tx.staff(auth.tenant_id, actor.staff_id).await? else {
        return forbidden(format!("actor {} is not a staff member of this tenant", actor.staff_id));
    };
    if !staff.active {
        return forbidden(format!("{} is deactivated", staff.name));
    }
    if staff.role < Role::Manager {
        return forbidden(format!("{} is a {}; this needs a manager or owner signed in at the till", staff.name, staff.role.as_str()));
    }
    if !staff.branch_ids.contains(&branch_id) {
        return forbidden(format!("{} is not assigned to this branch", staff.name));
    }
    Ok(())
}
