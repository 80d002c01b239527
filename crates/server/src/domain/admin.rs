//! The admin API (§5.5, §5.6): branches, staff, devices, stock, menu and policy.
//! Every function takes the caller, checks its rights, and runs in one transaction.

use modula_rules::{access, day, validate};
use modula_store::{
    BranchRecord, DeviceRecord, MenuItemRecord, StaffRecord, StockItemRecord, Store, TokenSubject, Tx,
};
use modula_wire::admin::*;
use modula_wire::{BranchStatus, Policy, PolicyPatch, Role};
use uuid::Uuid;

use super::{actor, branch_for_admin, branch_for_read, feed, not_found, not_found_field, views};
use crate::auth::{hash_password, hash_pin, issue_token, Auth, Principal};
use crate::error::{ApiError, ApiResult};

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

// ---------------------------------------------------------------- branches

/// `POST /v1/branches` (owner only: a new branch is a tenant-wide change).
pub async fn create_branch(store: &dyn Store, auth: &Auth, req: CreateBranch) -> ApiResult<BranchView> {
    auth.require_owner()?;
    let name = validate::name("name", &req.name)?;
    let address = validate::address(req.address.as_deref().unwrap_or(""))?;
    let timezone = req.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE);
    day::timezone("timezone", timezone)?;
    let branch = BranchRecord {
        id: Uuid::now_v7(),
        tenant_id: auth.tenant_id,
        name,
        address,
        timezone: timezone.to_string(),
        status: BranchStatus::Active,
        policy_override: PolicyPatch::default(),
        created_at: now(),
        admin_version: 0,
    };
    let mut tx = store.begin_write().await?;
    let tenant = tx.tenant(auth.tenant_id).await?.ok_or_else(|| not_found("tenant", auth.tenant_id))?;
    tx.insert_branch(&branch).await?;
    feed::seed_branch(tx.as_mut(), &branch, &tenant).await?;
    tx.commit().await?;
    Ok(views::branch(&branch))
}

/// `GET /v1/branches`: the branches the caller can see.
pub async fn list_branches(store: &dyn Store, auth: &Auth) -> ApiResult<Vec<BranchView>> {
    let mut tx = store.begin_read().await?;
    let all = tx.list_branches(auth.tenant_id).await?;
    Ok(all.iter().filter(|b| auth.sees_branch(b.id)).map(views::branch).collect())
}

/// `PATCH /v1/branches/{id}`: name, address, time zone (a manager+ of the branch). The
/// branch's tills learn the change from its stream, for their receipts.
pub async fn update_branch(store: &dyn Store, auth: &Auth, branch_id: Uuid, req: UpdateBranch) -> ApiResult<BranchView> {
    auth.require_admin_of(branch_id)?;
    let name = req.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
    let address = req.address.as_deref().map(validate::address).transpose()?;
    if let Some(tz) = &req.timezone {
        day::timezone("timezone", tz)?;
    }
    let mut tx = store.begin_write().await?;
    tx.lock_branch(auth.tenant_id, branch_id).await?;
    let mut branch = branch_for_admin(tx.as_mut(), auth, branch_id).await?;
    let before = serde_json::json!({"name": branch.name, "address": branch.address, "timezone": branch.timezone});
    branch.name = name.unwrap_or(branch.name);
    branch.address = address.unwrap_or(branch.address);
    branch.timezone = req.timezone.unwrap_or(branch.timezone);
    tx.update_branch(&branch).await?;
    let tenant = tx.tenant(auth.tenant_id).await?.ok_or_else(|| not_found("tenant", auth.tenant_id))?;
    feed::to_branch(tx.as_mut(), branch.id, vec![feed::branch(&branch, &tenant.name)]).await?;
    let after = serde_json::json!({"name": branch.name, "address": branch.address, "timezone": branch.timezone});
    audit_admin(tx.as_mut(), auth, branch.id, "branch", "update", serde_json::json!({"before": before, "after": after})).await?;
    tx.commit().await?;
    Ok(views::branch(&branch))
}

/// `POST /v1/branches/{id}/freeze` and `/unfreeze`.
pub async fn set_branch_status(
    store: &dyn Store,
    auth: &Auth,
    branch_id: Uuid,
    status: BranchStatus,
) -> ApiResult<BranchStatusView> {
    auth.require_admin_of(branch_id)?;
    let mut tx = store.begin_write().await?;
    tx.lock_branch(auth.tenant_id, branch_id).await?;
    let mut branch = branch_for_admin(tx.as_mut(), auth, branch_id).await?;
    let previous = branch.status;
    branch.status = status;
    tx.update_branch(&branch).await?;
    let tenant = tx.tenant(auth.tenant_id).await?.ok_or_else(|| not_found("tenant", auth.tenant_id))?;
    feed::to_branch(tx.as_mut(), branch.id, vec![feed::branch(&branch, &tenant.name)]).await?;
    let action = if status == BranchStatus::Frozen { "freeze" } else { "unfreeze" };
    let details = serde_json::json!({"status": status.as_str(), "previous_status": previous.as_str()});
    audit_admin(tx.as_mut(), auth, branch.id, "branch", action, details).await?;
    tx.commit().await?;
    Ok(BranchStatusView { id: branch.id, status })
}

/// Records a manager's action in the branch's audit log (an event of no op: it has no
/// `client_op_id`, no device, and the online lane).
async fn audit_admin(
    tx: &mut dyn Tx,
    auth: &Auth,
    branch_id: Uuid,
    module: &str,
    action: &str,
    details: serde_json::Value,
) -> ApiResult<()> {
    let (staff_id, _) = auth.require_manager()?;
    super::audit_no_op(tx, auth.tenant_id, Some(branch_id), staff_id, (module, action), details).await
}

// ---------------------------------------------------------------- staff

/// Checks every branch id exists in the tenant and is one the granter may assign.
async fn check_branch_ids(tx: &mut dyn Tx, auth: &Auth, branch_ids: &[Uuid]) -> ApiResult<Vec<Uuid>> {
    if branch_ids.len() > modula_wire::limits::STAFF_MAX_BRANCHES {
        return Err(modula_rules::Rejection::validation("branch_ids", "too many branches").into());
    }
    for (i, id) in branch_ids.iter().enumerate() {
        if tx.branch(auth.tenant_id, *id).await?.is_none() {
            return Err(not_found_field(format!("branch_ids[{i}]"), "branch", *id));
        }
        if !auth.sees_branch(*id) {
            return Err(ApiError::Forbidden(format!("you are not assigned to branch {id}, so you cannot assign it")));
        }
    }
    let mut ids = branch_ids.to_vec();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// `POST /v1/staff`.
pub async fn create_staff(store: &dyn Store, auth: &Auth, req: CreateStaff) -> ApiResult<StaffView> {
    let (_, granter) = auth.require_manager()?;
    let name = validate::name("name", &req.name)?;
    validate::pin("pin", &req.pin)?;
    if !access::can_assign_role(granter, req.role) {
        return Err(ApiError::Forbidden(format!("a {} cannot create a {}", granter.as_str(), req.role.as_str())));
    }
    let login = req.login.as_deref().map(|l| validate::login("login", l)).transpose()?;
    check_server_sign_in(req.role, login.is_some(), req.password.is_some())?;
    let pin_hash = hash_pin(&req.pin).await?;
    let password_hash = match &req.password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let mut tx = store.begin_write().await?;
    let branch_ids = check_branch_ids(tx.as_mut(), auth, &req.branch_ids).await?;
    if let Some(login) = &login {
        check_login_free(tx.as_mut(), auth.tenant_id, login, None).await?;
    }
    let staff = StaffRecord {
        id: Uuid::now_v7(),
        tenant_id: auth.tenant_id,
        name,
        role: req.role,
        pin_hash,
        login,
        password_hash,
        active: true,
        branch_ids,
        failed_logins: 0,
        locked_until: None,
        updated_at: now(),
    };
    tx.insert_staff(&staff).await?;
    feed::to_every_branch(tx.as_mut(), auth.tenant_id, |b| feed::staff(&staff, b)).await?;
    tx.commit().await?;
    Ok(views::staff(&staff))
}

/// A server sign-in (login and password) is for managers and owners only, and needs
/// both halves.
fn check_server_sign_in(role: Role, has_login: bool, has_password: bool) -> ApiResult<()> {
    if role == Role::Cashier && (has_login || has_password) {
        let msg = "cashiers have no server sign-in (they sign in at a till with their PIN); \
                   only managers and owners get a login and password";
        return Err(modula_rules::Rejection::validation("login", msg).into());
    }
    if has_login != has_password {
        let (field, msg) = if has_login {
            ("password", "a login needs a password of at least 10 characters")
        } else {
            ("login", "a password needs a login to sign in with")
        };
        return Err(modula_rules::Rejection::validation(field, msg).into());
    }
    Ok(())
}

/// `409 CONFLICT` when another staff member of the tenant has this login.
async fn check_login_free(tx: &mut dyn Tx, tenant_id: Uuid, login: &str, me: Option<Uuid>) -> ApiResult<()> {
    match tx.lock_staff_by_login(tenant_id, login).await? {
        Some(other) if Some(other.id) != me => {
            Err(ApiError::Conflict(format!("the login {login} is taken by another staff member; choose another")))
        }
        _ => Ok(()),
    }
}

/// `GET /v1/staff`.
pub async fn list_staff(store: &dyn Store, auth: &Auth) -> ApiResult<Vec<StaffView>> {
    auth.require_manager()?;
    let mut tx = store.begin_read().await?;
    Ok(tx.list_staff(auth.tenant_id).await?.iter().map(views::staff).collect())
}

/// `PATCH /v1/staff/{id}`.
pub async fn patch_staff(store: &dyn Store, auth: &Auth, staff_id: Uuid, req: PatchStaff) -> ApiResult<StaffView> {
    let (me, granter) = auth.require_manager()?;
    let name = req.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
    if let Some(pin) = &req.pin {
        validate::pin("pin", pin)?;
    }
    let login = match &req.login {
        Some(Some(l)) => Some(Some(validate::login("login", l)?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(password) = &req.password {
        validate::password("password", password)?;
    }
    // Anyone may change their own name, PIN, login and password; the rest needs a say
    // over the person.
    let self_service = staff_id == me && req.role.is_none() && req.active.is_none() && req.branch_ids.is_none();
    // Permission first, on an unlocked read: a caller who may not change this person
    // never takes the tenant's lock (nor a hash's time). Checked again under it (the
    // person may have changed).
    let mut read = store.begin_read().await?;
    let staff = read.staff(auth.tenant_id, staff_id).await?.ok_or_else(|| not_found("staff member", staff_id))?;
    drop(read);
    if !self_service {
        check_may_administer(auth, granter, &staff)?;
    }
    let changes_sign_in = req.password.is_some() || req.login.is_some();
    if staff_id == me && changes_sign_in {
        check_current_password(store, &staff, req.current_password.as_deref()).await?;
    }
    let pin_hash = match &req.pin {
        Some(pin) => Some(hash_pin(pin).await?),
        None => None,
    };
    let password_hash = match &req.password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let mut tx = store.begin_write().await?;
    // Serializes staff changes of the tenant, so two demotions cannot both see "another owner".
    tx.lock_tenant(auth.tenant_id).await?;
    // Locked like a sign-in locks it, so a failed sign-in's count is not overwritten.
    let mut staff = tx.lock_staff(auth.tenant_id, staff_id).await?.ok_or_else(|| not_found("staff member", staff_id))?;
    if !self_service {
        check_may_administer(auth, granter, &staff)?;
    }
    if let Some(role) = req.role {
        if !access::can_assign_role(granter, role) {
            return Err(ApiError::Forbidden(format!("a {} cannot grant the role {}", granter.as_str(), role.as_str())));
        }
    }
    let was_active_owner = staff.active && staff.role == Role::Owner;
    let before = (staff.active, staff.role, staff.login.clone(), staff.password_hash.clone());
    apply_staff_patch(&mut staff, &req, StaffChanges { name, pin_hash, login, password_hash });
    if staff.role == Role::Cashier && req.role.is_some() {
        // A demotion to cashier ends the server sign-in.
        staff.login = None;
        staff.password_hash = None;
    }
    check_server_sign_in(staff.role, staff.login.is_some(), staff.password_hash.is_some())?;
    if let Some(login) = staff.login.clone().filter(|l| Some(l) != before.2.as_ref()) {
        check_login_free(tx.as_mut(), auth.tenant_id, &login, Some(staff.id)).await?;
    }
    // A new password, a removed login, a deactivation or a role change ends every
    // sign-in of that person now (SPEC §5): their tokens are deleted in this transaction.
    let credential_changed = staff.password_hash != before.3 || (before.2.is_some() && staff.login.is_none());
    if credential_changed || (staff.active, staff.role) != (before.0, before.1) {
        tx.delete_staff_tokens(auth.tenant_id, staff.id).await?;
    }
    if let Some(ids) = &req.branch_ids {
        staff.branch_ids = check_branch_ids(tx.as_mut(), auth, ids).await?;
    }
    if was_active_owner && !(staff.active && staff.role == Role::Owner) {
        ensure_another_owner(tx.as_mut(), auth.tenant_id, staff.id).await?;
    }
    tx.update_staff(&staff).await?;
    feed::to_every_branch(tx.as_mut(), auth.tenant_id, |b| feed::staff(&staff, b)).await?;
    tx.commit().await?;
    Ok(views::staff(&staff))
}

/// A person changing their own login or password gives their current password (when
/// they have one): a stolen token alone cannot take the account over. A wrong one counts
/// as a failed sign-in of the account (5 lock it, as at `POST /v1/auth/login`).
async fn check_current_password(store: &dyn Store, staff: &StaffRecord, current: Option<&str>) -> ApiResult<()> {
    let Some(phc) = staff.password_hash.as_deref() else { return Ok(()) };
    let now = now();
    if let Some(until) = staff.locked_until.filter(|u| *u > now) {
        return Err(super::login::locked(until, now));
    }
    let Some(current) = current else {
        let msg = "to change your own login or password, give your current password (current_password)";
        return Err(modula_rules::Rejection::validation("current_password", msg).into());
    };
    if crate::auth::verify_password(current, phc).await? {
        return Ok(());
    }
    let mut tx = store.begin_write().await?;
    if let Some(s) = tx.lock_staff(staff.tenant_id, staff.id).await? {
        let failures = s.failed_logins + 1;
        let per_lock = crate::login_gate::LOGIN_FAILURES_PER_LOCK;
        let lock = (failures % per_lock == 0).then(|| now + crate::login_gate::default_lock_for(failures, per_lock));
        tx.set_login_lockout(s.tenant_id, s.id, failures, lock).await?;
    }
    tx.commit().await?;
    Err(ApiError::Forbidden("the current password is wrong".into()))
}

/// May the caller (a manager+ with role `granter`) change this staff member? An owner
/// anyone; a manager only a cashier whose branches all lie within the manager's own.
fn check_may_administer(auth: &Auth, granter: Role, staff: &StaffRecord) -> ApiResult<()> {
    if !access::can_assign_role(granter, staff.role) {
        return Err(ApiError::Forbidden(format!("a {} cannot change a {}", granter.as_str(), staff.role.as_str())));
    }
    if let Some(b) = staff.branch_ids.iter().find(|b| !auth.sees_branch(**b)) {
        return Err(ApiError::Forbidden(format!("{} also works at branch {b}, which you are not assigned to", staff.name)));
    }
    Ok(())
}

/// The checked and hashed parts of a staff patch.
struct StaffChanges {
    name: Option<String>,
    pin_hash: Option<String>,
    /// `Some(None)`: remove the server sign-in.
    login: Option<Option<String>>,
    password_hash: Option<String>,
}

fn apply_staff_patch(staff: &mut StaffRecord, req: &PatchStaff, changes: StaffChanges) {
    if let Some(role) = req.role {
        staff.role = role;
    }
    if let Some(active) = req.active {
        staff.active = active;
    }
    if let Some(name) = changes.name {
        staff.name = name;
    }
    if let Some(pin_hash) = changes.pin_hash {
        staff.pin_hash = pin_hash;
    }
    match changes.login {
        Some(Some(login)) => staff.login = Some(login),
        Some(None) => {
            staff.login = None;
            staff.password_hash = None;
        }
        None => {}
    }
    if let Some(password_hash) = changes.password_hash {
        staff.password_hash = Some(password_hash);
        staff.failed_logins = 0;
        staff.locked_until = None;
    }
    staff.updated_at = now();
}

async fn ensure_another_owner(tx: &mut dyn Tx, tenant_id: Uuid, leaving: Uuid) -> ApiResult<()> {
    let others = tx
        .list_staff(tenant_id)
        .await?
        .into_iter()
        .filter(|s| s.id != leaving && s.active && s.role == Role::Owner)
        .count();
    if others == 0 {
        return Err(ApiError::Conflict(
            "this is the tenant's last active owner; make someone else owner first".into(),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- devices

/// `POST /v1/devices`: enrolls a device and returns its token (shown once).
pub async fn enroll_device(store: &dyn Store, auth: &Auth, req: EnrollDevice) -> ApiResult<EnrolledDevice> {
    let name = validate::name("name", &req.name)?;
    let mut tx = store.begin_write().await?;
    let branch = branch_for_admin(tx.as_mut(), auth, req.branch_id).await?;
    let number = tx.next_device_number(auth.tenant_id).await?;
    let device = DeviceRecord {
        id: Uuid::now_v7(),
        tenant_id: auth.tenant_id,
        branch_id: branch.id,
        name,
        code: format!("D{number:03}"),
        created_at: now(),
        revoked_at: None,
        last_seen_at: None,
    };
    tx.insert_device(&device).await?;
    let token = issue_token(tx.as_mut(), auth.tenant_id, TokenSubject::Device(device.id), None).await?.token;
    tx.commit().await?;
    Ok(EnrolledDevice { device_id: device.id, token, code: device.code })
}

/// `DELETE /v1/devices/{id}`: revokes the device's token at once.
pub async fn revoke_device(store: &dyn Store, auth: &Auth, device_id: Uuid) -> ApiResult<()> {
    auth.require_manager()?;
    let mut tx = store.begin_write().await?;
    let device = tx.device(auth.tenant_id, device_id).await?.ok_or_else(|| not_found("device", device_id))?;
    branch_for_admin(tx.as_mut(), auth, device.branch_id).await?;
    tx.revoke_device(auth.tenant_id, device_id, now()).await?;
    tx.commit().await?;
    Ok(())
}

/// `GET /v1/devices?branch_id=`.
pub async fn list_devices(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<Vec<DeviceView>> {
    let mut tx = store.begin_read().await?;
    branch_for_admin(tx.as_mut(), auth, branch_id).await?;
    Ok(tx.list_devices(auth.tenant_id, branch_id).await?.iter().map(views::device).collect())
}

/// `GET /v1/devices/me`: a device token's own identity (what `modula terminal enroll`
/// stores). Staff tokens get `FORBIDDEN`: they are not a device.
pub async fn device_self(store: &dyn Store, auth: &Auth) -> ApiResult<modula_wire::sync::DeviceSelf> {
    let Principal::Device { device_id, .. } = auth.principal else {
        return Err(ApiError::Forbidden("only a device token has a device identity".into()));
    };
    let mut tx = store.begin_read().await?;
    let d = tx.device(auth.tenant_id, device_id).await?.ok_or_else(|| not_found("device", device_id))?;
    let sync = tx.device_sync_info(auth.tenant_id, d.branch_id).await?;
    let last_device_seq = sync.iter().find(|i| i.device.id == device_id).map_or(0, |i| i.last_device_seq);
    Ok(modula_wire::sync::DeviceSelf {
        last_device_seq,
        device_id: d.id,
        tenant_id: d.tenant_id,
        branch_id: d.branch_id,
        name: d.name,
        code: d.code,
    })
}

// ---------------------------------------------------------------- stock

/// `POST /v1/stock-items`.
pub async fn create_stock_item(store: &dyn Store, auth: &Auth, req: CreateStockItem) -> ApiResult<StockItemView> {
    auth.require_owner()?;
    let item = StockItemRecord {
        id: Uuid::now_v7(),
        tenant_id: auth.tenant_id,
        name: validate::name("name", &req.name)?,
        unit: validate::text("unit", &req.unit, true)?,
    };
    let mut tx = store.begin_write().await?;
    tx.insert_stock_item(&item).await?;
    feed::to_every_branch(tx.as_mut(), auth.tenant_id, |_| feed::stock_level(&item, 0)).await?;
    tx.commit().await?;
    Ok(views::stock_item(&item))
}

/// `GET /v1/stock-items`.
pub async fn list_stock_items(store: &dyn Store, auth: &Auth) -> ApiResult<Vec<StockItemView>> {
    auth.require_manager()?;
    let mut tx = store.begin_read().await?;
    Ok(tx.list_stock_items(auth.tenant_id).await?.iter().map(views::stock_item).collect())
}

/// `POST /v1/inventory/restock`.
pub async fn restock(store: &dyn Store, auth: &Auth, req: Restock) -> ApiResult<RestockView> {
    validate::positive_qty("qty", req.qty)?;
    let actor = actor::claim(auth, req.branch_id, req.actor_id)?;
    if actor.device_id.is_some() {
        // A till's actor is checked before any lock, then again under it.
        actor::check_actor(store.begin_read().await?.as_mut(), auth, req.branch_id, &actor).await?;
    }
    let mut tx = store.begin_write().await?;
    // Branch row first, then stock rows: the order the push lane takes them in, so a
    // restock and a push of one branch never wait on each other in a cycle.
    tx.lock_branch(auth.tenant_id, req.branch_id).await?;
    let branch = tx.branch(auth.tenant_id, req.branch_id).await?.ok_or_else(|| not_found("branch", req.branch_id))?;
    actor::check_actor(tx.as_mut(), auth, branch.id, &actor).await?;
    let item = tx
        .stock_item(auth.tenant_id, req.stock_item_id)
        .await?
        .ok_or_else(|| not_found_field("stock_item_id", "stock item", req.stock_item_id))?;
    let on_hand = tx.add_on_hand(branch.id, item.id, req.qty).await?;
    feed::to_branch(tx.as_mut(), branch.id, vec![feed::stock_level(&item, on_hand)]).await?;
    let details = serde_json::json!({"stock_item_id": item.id, "qty": req.qty, "on_hand": on_hand});
    super::audit_no_op_at(tx.as_mut(), auth.tenant_id, Some(branch.id), actor, ("inventory", "restock"), details).await?;
    tx.commit().await?;
    Ok(RestockView { stock_item_id: item.id, on_hand })
}

/// `GET /v1/inventory?branch_id=`.
pub async fn inventory(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<InventoryView> {
    let mut tx = store.begin_read().await?;
    branch_for_read(tx.as_mut(), auth, branch_id).await?;
    let rows = tx.inventory(auth.tenant_id, branch_id).await?;
    let items = rows
        .into_iter()
        .map(|(item, on_hand)| InventoryRow { stock_item_id: item.id, name: item.name, on_hand })
        .collect();
    Ok(InventoryView { items })
}

// ---------------------------------------------------------------- menu

/// `PUT /v1/menu/items/{id}`: returns the item and whether it was created.
pub async fn put_menu_item(
    store: &dyn Store,
    auth: &Auth,
    item_id: Uuid,
    req: PutMenuItem,
) -> ApiResult<(MenuItemView, bool)> {
    auth.require_owner()?;
    let req = validate::menu_item(&req)?;
    let mut tx = store.begin_write().await?;
    for (i, line) in req.recipe.iter().enumerate() {
        if tx.stock_item(auth.tenant_id, line.stock_item_id).await?.is_none() {
            return Err(not_found_field(format!("recipe[{i}].stock_item_id"), "stock item", line.stock_item_id));
        }
    }
    let existing = tx.menu_item(auth.tenant_id, item_id).await?;
    let created = existing.as_ref().map(|m| m.deleted).unwrap_or(true);
    let item = MenuItemRecord {
        id: item_id,
        tenant_id: auth.tenant_id,
        name: req.name,
        price_cents: req.price_cents,
        category: req.category,
        active: req.active,
        recipe: req.recipe,
        deleted: false,
        updated_at: now(),
    };
    if !tx.upsert_menu_item(&item).await? {
        // The id is taken by another tenant: to this caller it does not exist.
        return Err(not_found("menu item", item_id));
    }
    feed::to_every_branch(tx.as_mut(), auth.tenant_id, |_| feed::menu_item(&item)).await?;
    tx.commit().await?;
    Ok((views::menu_item(&item), created))
}

/// `DELETE /v1/menu/items/{id}`: tombstones the item (idempotent for a tombstone).
pub async fn delete_menu_item(store: &dyn Store, auth: &Auth, item_id: Uuid) -> ApiResult<()> {
    auth.require_owner()?;
    let mut tx = store.begin_write().await?;
    let mut item = tx.menu_item(auth.tenant_id, item_id).await?.ok_or_else(|| not_found("menu item", item_id))?;
    if !item.deleted {
        item.deleted = true;
        item.updated_at = now();
        tx.upsert_menu_item(&item).await?;
        feed::to_every_branch(tx.as_mut(), auth.tenant_id, |_| feed::menu_item(&item)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `GET /v1/menu/items`: live items (manager+ or any device of the tenant).
pub async fn list_menu_items(store: &dyn Store, auth: &Auth) -> ApiResult<MenuItemsView> {
    require_reader(auth)?;
    let mut tx = store.begin_read().await?;
    Ok(MenuItemsView { items: tx.list_menu_items(auth.tenant_id).await?.iter().map(views::menu_item).collect() })
}

/// `GET /v1/menu/items/{id}`.
pub async fn get_menu_item(store: &dyn Store, auth: &Auth, item_id: Uuid) -> ApiResult<MenuItemView> {
    require_reader(auth)?;
    let mut tx = store.begin_read().await?;
    let item = tx.menu_item(auth.tenant_id, item_id).await?.filter(|m| !m.deleted);
    Ok(views::menu_item(&item.ok_or_else(|| not_found("menu item", item_id))?))
}

fn require_reader(auth: &Auth) -> ApiResult<()> {
    match auth.principal {
        Principal::Device { .. } => Ok(()),
        _ => auth.require_manager().map(|_| ()),
    }
}

// ---------------------------------------------------------------- policy

/// `GET /v1/policy`.
pub async fn tenant_policy(store: &dyn Store, auth: &Auth) -> ApiResult<Policy> {
    require_reader(auth)?;
    let mut tx = store.begin_read().await?;
    let tenant = tx.tenant(auth.tenant_id).await?.ok_or_else(|| not_found("tenant", auth.tenant_id))?;
    Ok(tenant.policy)
}

/// `PUT /v1/policy`: sets the given fields of the tenant policy; returns it.
pub async fn put_tenant_policy(store: &dyn Store, auth: &Auth, patch: PolicyPatch) -> ApiResult<Policy> {
    auth.require_owner()?;
    let mut tx = store.begin_write().await?;
    let tenant = tx.tenant(auth.tenant_id).await?.ok_or_else(|| not_found("tenant", auth.tenant_id))?;
    let policy = patch.apply_to(&tenant.policy);
    validate::policy(&policy)?;
    for branch in tx.list_branches(auth.tenant_id).await? {
        validate::policy(&branch.policy_override.apply_to(&policy))?;
    }
    tx.set_tenant_policy(auth.tenant_id, &policy).await?;
    feed::policy_to_every_branch(tx.as_mut(), auth.tenant_id, &policy).await?;
    tx.commit().await?;
    Ok(policy)
}

/// `GET /v1/branches/{id}/policy`: the branch's effective policy.
pub async fn branch_policy(store: &dyn Store, auth: &Auth, branch_id: Uuid) -> ApiResult<Policy> {
    let mut tx = store.begin_read().await?;
    let branch = branch_for_read(tx.as_mut(), auth, branch_id).await?;
    let tenant = tx.tenant(auth.tenant_id).await?.ok_or_else(|| not_found("tenant", auth.tenant_id))?;
    Ok(branch.policy_override.apply_to(&tenant.policy))
}

/// `PUT /v1/branches/{id}/policy`: replaces the branch's override with the given
/// fields (`{}` clears it); returns the effective policy.
pub async fn put_branch_policy(
    store: &dyn Store,
    auth: &Auth,
    branch_id: Uuid,
    patch: PolicyPatch,
) -> ApiResult<Policy> {
    auth.require_admin_of(branch_id)?;
    let mut tx = store.begin_write().await?;
    // Locked before it is read: `update_branch` writes the status back, and a freeze
    // committed in between must not be undone.
    tx.lock_branch(auth.tenant_id, branch_id).await?;
    let mut branch = branch_for_admin(tx.as_mut(), auth, branch_id).await?;
    let tenant = tx.tenant(auth.tenant_id).await?.ok_or_else(|| not_found("tenant", auth.tenant_id))?;
    let effective = patch.apply_to(&tenant.policy);
    validate::policy(&effective)?;
    branch.policy_override = patch;
    tx.update_branch(&branch).await?;
    feed::to_branch(tx.as_mut(), branch.id, vec![feed::policy(branch.id, &effective)]).await?;
    tx.commit().await?;
    Ok(effective)
}
