//! Change-feed rows written by the admin API, in the same transaction as the change.
//!
//! Branch-scoped changes go to their branch's stream; tenant-wide ones (menu, staff,
//! stock items, the tenant policy) are fanned out to every branch stream of the tenant:
//! one head move and one row per branch, so a menu edit costs O(branches).

use modula_store::{BranchRecord, ChangeRecord, MenuItemRecord, StaffRecord, StockItemRecord, TenantRecord, Tx};
use modula_wire::Policy;
use serde_json::{json, Value};
use uuid::Uuid;

use super::views;
use crate::error::ApiResult;

/// A change not yet placed in a stream.
pub struct Change {
    scope: &'static str,
    entity: &'static str,
    id: Uuid,
    data: Option<Value>,
}

impl Change {
    fn at(self, branch_id: Uuid) -> ChangeRecord {
        ChangeRecord {
            branch_id,
            scope: self.scope,
            entity: self.entity,
            entity_id: self.id,
            deleted: self.data.is_none(),
            data: self.data.map(modula_wire::JsonText::from),
            new_entity: false,
        }
    }
}

/// The feed form of a menu item, or its tombstone.
pub fn menu_item(m: &MenuItemRecord) -> Change {
    let data = (!m.deleted).then(|| json!(views::menu_item(m)));
    Change { scope: "menu", entity: "menu_item", id: m.id, data }
}

/// The feed form of a staff member in the stream of `branch_id`: the PIN hash (for
/// offline sign-in at that branch's tills) only while they are active and assigned to
/// it, so a till holds the hashes of its own branch's staff and of nobody else; never a
/// PIN.
pub fn staff(s: &StaffRecord, branch_id: Uuid) -> Change {
    let mut data = json!({"id": s.id, "name": s.name, "role": s.role, "branch_ids": s.branch_ids,
                          "active": s.active});
    if signs_in_at(s, branch_id) {
        data["pin_hash"] = json!(s.pin_hash);
    }
    Change { scope: "staff", entity: "staff", id: s.id, data: Some(data) }
}

/// Whether a staff member may sign in at the tills of a branch (so its stream carries
/// their PIN hash).
fn signs_in_at(s: &StaffRecord, branch_id: Uuid) -> bool {
    s.active && s.branch_ids.contains(&branch_id)
}

/// The feed form of a stock level.
pub fn stock_level(item: &StockItemRecord, on_hand: i64) -> Change {
    let data = json!({"stock_item_id": item.id, "name": item.name, "unit": item.unit, "on_hand": on_hand});
    Change { scope: "inventory", entity: "stock_level", id: item.id, data: Some(data) }
}

/// The feed form of a branch.
pub fn branch(b: &BranchRecord, tenant_name: &str) -> Change {
    let mut data = json!(views::branch(b));
    // What a till prints at the head of a receipt (SPEC §6), with the branch's own.
    data["tenant_name"] = json!(tenant_name);
    Change { scope: "branch", entity: "branch", id: b.id, data: Some(data) }
}

/// The feed form of a branch's effective policy (entity id = branch id).
pub fn policy(branch_id: Uuid, effective: &Policy) -> Change {
    Change { scope: "policy", entity: "policy", id: branch_id, data: Some(json!(effective)) }
}

/// Writes changes to one branch stream.
pub async fn to_branch(tx: &mut dyn Tx, branch_id: Uuid, changes: Vec<Change>) -> ApiResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let records: Vec<ChangeRecord> = changes.into_iter().map(|c| c.at(branch_id)).collect();
    tx.record_changes(branch_id, &records).await?;
    // Pushes that decided without the branch lock see this and decide again. Stock
    // levels and items decide nothing (a sale may go below zero), so a restock does not
    // make them.
    if records.iter().any(|r| r.scope != "inventory") {
        tx.note_admin_change(branch_id).await?;
    }
    Ok(())
}

/// Writes a tenant-wide change to every branch stream of the tenant (`make` gets the
/// branch: a staff entry differs per branch).
pub async fn to_every_branch(tx: &mut dyn Tx, tenant_id: Uuid, make: impl Fn(Uuid) -> Change) -> ApiResult<()> {
    for b in tx.list_branches(tenant_id).await? {
        to_branch(tx, b.id, vec![make(b.id)]).await?;
    }
    Ok(())
}

/// Writes every branch's effective policy after a tenant policy change.
pub async fn policy_to_every_branch(tx: &mut dyn Tx, tenant_id: Uuid, tenant_policy: &Policy) -> ApiResult<()> {
    for b in tx.list_branches(tenant_id).await? {
        let effective = b.policy_override.apply_to(tenant_policy);
        to_branch(tx, b.id, vec![policy(b.id, &effective)]).await?;
    }
    Ok(())
}

/// Seeds a new branch's stream with the tenant's current menu, staff, stock items (on
/// hand 0), the branch's policy and the branch itself.
pub async fn seed_branch(tx: &mut dyn Tx, b: &BranchRecord, tenant: &TenantRecord) -> ApiResult<()> {
    let mut changes = vec![branch(b, &tenant.name), policy(b.id, &b.policy_override.apply_to(&tenant.policy))];
    changes.extend(tx.list_menu_items(b.tenant_id).await?.iter().map(menu_item));
    changes.extend(tx.list_staff(b.tenant_id).await?.iter().map(|s| staff(s, b.id)));
    changes.extend(tx.list_stock_items(b.tenant_id).await?.iter().map(|i| stock_level(i, 0)));
    to_branch(tx, b.id, changes).await
}
