//! Handlers of the auth and admin endpoints (§5.5, §5.6).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use modula_wire::admin::*;
use modula_wire::{BranchStatus, Policy, PolicyPatch};
use serde::Deserialize;

use uuid::Uuid;

use crate::auth::Auth;
use crate::domain::{admin, login as login_domain};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// `?branch_id=` query.
#[derive(Debug, Deserialize)]
pub struct BranchQuery {
    pub branch_id: Uuid,
}

type Created<T> = (StatusCode, Json<T>);

#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, responses((status = 200, description = "Signed in: a staff token.", body = LoginResponse), crate::openapi::Refusals), security(()))]
pub async fn login(
    State(s): State<AppState>,
    extensions: axum::http::Extensions,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    // The peer address of the connection (a proxy in front of the server shows as one
    // client; see docs/protocol.md). Absent when served without connect info.
    let client = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    Ok(Json(login_domain::login(s.store.as_ref(), &s.login_gate, client, req).await?))
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204, description = "The calling token is revoked."), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn logout(State(s): State<AppState>, auth: Auth) -> ApiResult<StatusCode> {
    login_domain::logout(s.store.as_ref(), &auth).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/branches", tag = "admin", request_body = CreateBranch, responses((status = 201, description = "Created.", body = BranchView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn create_branch(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateBranch>,
) -> ApiResult<Created<BranchView>> {
    Ok((StatusCode::CREATED, Json(admin::create_branch(s.store.as_ref(), &auth, req).await?)))
}

#[utoipa::path(get, path = "/branches", tag = "admin", responses((status = 200, description = "The branches the caller may see.", body = BranchesView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn list_branches(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<BranchesView>> {
    Ok(Json(BranchesView { branches: admin::list_branches(s.store.as_ref(), &auth).await? }))
}

#[utoipa::path(patch, path = "/branches/{id}", tag = "admin", params(("id" = Uuid, Path, description = "Its id.")), request_body = UpdateBranch, responses((status = 200, description = "Done.", body = BranchView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn update_branch(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<UpdateBranch>,
) -> ApiResult<Json<BranchView>> {
    Ok(Json(admin::update_branch(s.store.as_ref(), &auth, id, req).await?))
}

#[utoipa::path(post, path = "/branches/{id}/freeze", tag = "admin", params(("id" = Uuid, Path, description = "Its id.")), responses((status = 200, description = "Done.", body = BranchStatusView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn freeze_branch(State(s): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<BranchStatusView>> {
    Ok(Json(admin::set_branch_status(s.store.as_ref(), &auth, id, BranchStatus::Frozen).await?))
}

#[utoipa::path(post, path = "/branches/{id}/unfreeze", tag = "admin", params(("id" = Uuid, Path, description = "Its id.")), responses((status = 200, description = "Done.", body = BranchStatusView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn unfreeze_branch(State(s): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<BranchStatusView>> {
    Ok(Json(admin::set_branch_status(s.store.as_ref(), &auth, id, BranchStatus::Active).await?))
}

#[utoipa::path(get, path = "/branches/{id}/policy", tag = "admin", params(("id" = Uuid, Path, description = "Its id.")), responses((status = 200, description = "The branch's effective policy.", body = Policy), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn branch_policy(State(s): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<Policy>> {
    Ok(Json(admin::branch_policy(s.store.as_ref(), &auth, id).await?))
}

#[utoipa::path(put, path = "/branches/{id}/policy", tag = "admin", params(("id" = Uuid, Path, description = "Its id.")), request_body = PolicyPatch, responses((status = 200, description = "The branch's effective policy.", body = Policy), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn put_branch_policy(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    ApiJson(patch): ApiJson<PolicyPatch>,
) -> ApiResult<Json<Policy>> {
    Ok(Json(admin::put_branch_policy(s.store.as_ref(), &auth, id, patch).await?))
}

#[utoipa::path(post, path = "/staff", tag = "admin", request_body = CreateStaff, responses((status = 201, description = "Created.", body = StaffView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn create_staff(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateStaff>,
) -> ApiResult<Created<StaffView>> {
    Ok((StatusCode::CREATED, Json(admin::create_staff(s.store.as_ref(), &auth, req).await?)))
}

#[utoipa::path(get, path = "/staff", tag = "admin", responses((status = 200, description = "The shop's staff.", body = StaffListView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn list_staff(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<StaffListView>> {
    Ok(Json(StaffListView { staff: admin::list_staff(s.store.as_ref(), &auth).await? }))
}

#[utoipa::path(patch, path = "/staff/{id}", tag = "admin", params(("id" = Uuid, Path, description = "Its id.")), request_body = PatchStaff, responses((status = 200, description = "Done.", body = StaffView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn patch_staff(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<PatchStaff>,
) -> ApiResult<Json<StaffView>> {
    Ok(Json(admin::patch_staff(s.store.as_ref(), &auth, id, req).await?))
}

#[utoipa::path(post, path = "/devices", tag = "admin", request_body = EnrollDevice, responses((status = 201, description = "Enrolled: the device's token, shown once.", body = EnrolledDevice), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn enroll_device(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<EnrollDevice>,
) -> ApiResult<Created<EnrolledDevice>> {
    Ok((StatusCode::CREATED, Json(admin::enroll_device(s.store.as_ref(), &auth, req).await?)))
}

#[utoipa::path(get, path = "/devices", tag = "admin", params(("branch_id" = Uuid, Query, description = "The branch.")), responses((status = 200, description = "The branch's devices.", body = DevicesView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn list_devices(State(s): State<AppState>, auth: Auth, ApiQuery(q): ApiQuery<BranchQuery>) -> ApiResult<Json<DevicesView>> {
    Ok(Json(DevicesView { devices: admin::list_devices(s.store.as_ref(), &auth, q.branch_id).await? }))
}

#[utoipa::path(get, path = "/devices/me", tag = "sync", responses((status = 200, description = "The calling device, its branch and shop.", body = modula_wire::sync::DeviceSelf), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn device_self(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<modula_wire::sync::DeviceSelf>> {
    Ok(Json(admin::device_self(s.store.as_ref(), &auth).await?))
}

#[utoipa::path(post, path = "/devices/me/events", tag = "sync", request_body = modula_wire::sync::DeviceEvents, responses((status = 200, description = "Recorded in the audit trail.", body = modula_wire::sync::DeviceEventsRecorded), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn device_events(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<modula_wire::sync::DeviceEvents>,
) -> ApiResult<Json<modula_wire::sync::DeviceEventsRecorded>> {
    Ok(Json(crate::domain::device_events::record(s.store.as_ref(), &auth, req).await?))
}

#[utoipa::path(delete, path = "/devices/{id}", tag = "admin", params(("id" = Uuid, Path, description = "Its id.")), responses((status = 204, description = "Revoked at once."), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn revoke_device(State(s): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    admin::revoke_device(s.store.as_ref(), &auth, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/stock-items", tag = "admin", request_body = CreateStockItem, responses((status = 201, description = "Created.", body = StockItemView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn create_stock_item(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateStockItem>,
) -> ApiResult<Created<StockItemView>> {
    Ok((StatusCode::CREATED, Json(admin::create_stock_item(s.store.as_ref(), &auth, req).await?)))
}

#[utoipa::path(get, path = "/stock-items", tag = "admin", responses((status = 200, description = "The shop's stock items.", body = StockItemsView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn list_stock_items(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<StockItemsView>> {
    Ok(Json(StockItemsView { items: admin::list_stock_items(s.store.as_ref(), &auth).await? }))
}

#[utoipa::path(post, path = "/inventory/restock", tag = "admin", request_body = Restock, responses((status = 200, description = "Done.", body = RestockView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn restock(State(s): State<AppState>, auth: Auth, ApiJson(req): ApiJson<Restock>) -> ApiResult<Json<RestockView>> {
    Ok(Json(admin::restock(s.store.as_ref(), &auth, req).await?))
}

#[utoipa::path(get, path = "/inventory", tag = "admin", params(("branch_id" = Uuid, Query, description = "The branch.")), responses((status = 200, description = "Done.", body = InventoryView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn inventory(State(s): State<AppState>, auth: Auth, ApiQuery(q): ApiQuery<BranchQuery>) -> ApiResult<Json<InventoryView>> {
    Ok(Json(admin::inventory(s.store.as_ref(), &auth, q.branch_id).await?))
}

#[utoipa::path(get, path = "/menu/items", tag = "admin", responses((status = 200, description = "Done.", body = MenuItemsView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn list_menu_items(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<MenuItemsView>> {
    Ok(Json(admin::list_menu_items(s.store.as_ref(), &auth).await?))
}

#[utoipa::path(get, path = "/menu/items/{id}", tag = "admin", params(("id" = Uuid, Path, description = "Its id.")), responses((status = 200, description = "Done.", body = MenuItemView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn get_menu_item(State(s): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<MenuItemView>> {
    Ok(Json(admin::get_menu_item(s.store.as_ref(), &auth, id).await?))
}

#[utoipa::path(put, path = "/menu/items/{id}", tag = "admin", params(("id" = Uuid, Path, description = "Its id.")), request_body = PutMenuItem, responses((status = 200, description = "Replaced.", body = MenuItemView), (status = 201, description = "Created.", body = MenuItemView), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn put_menu_item(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<PutMenuItem>,
) -> ApiResult<Created<MenuItemView>> {
    let (item, created) = admin::put_menu_item(s.store.as_ref(), &auth, id, req).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(item)))
}

#[utoipa::path(delete, path = "/menu/items/{id}", tag = "admin", params(("id" = Uuid, Path, description = "Its id.")), responses((status = 204, description = "Tombstoned."), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn delete_menu_item(State(s): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    admin::delete_menu_item(s.store.as_ref(), &auth, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/policy", tag = "admin", responses((status = 200, description = "The shop's policy.", body = Policy), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn tenant_policy(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<Policy>> {
    Ok(Json(admin::tenant_policy(s.store.as_ref(), &auth).await?))
}

#[utoipa::path(put, path = "/policy", tag = "admin", request_body = PolicyPatch, responses((status = 200, description = "The shop's policy.", body = Policy), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn put_tenant_policy(
    State(s): State<AppState>,
    auth: Auth,
    ApiJson(patch): ApiJson<PolicyPatch>,
) -> ApiResult<Json<Policy>> {
    Ok(Json(admin::put_tenant_policy(s.store.as_ref(), &auth, patch).await?))
}
