//! Record → wire view conversions.

use modula_store::{BranchRecord, DeviceRecord, MenuItemRecord, StaffRecord, StockItemRecord};
use modula_wire::admin::{BranchView, DeviceView, MenuItemView, StaffView, StockItemView};

/// A branch as sent.
pub fn branch(b: &BranchRecord) -> BranchView {
    BranchView { id: b.id, name: b.name.clone(), status: b.status }
}

/// A staff member as sent (never the PIN hash).
pub fn staff(s: &StaffRecord) -> StaffView {
    StaffView { id: s.id, name: s.name.clone(), role: s.role, branch_ids: s.branch_ids.clone(), active: s.active }
}

/// A device as sent (never its token).
pub fn device(d: &DeviceRecord) -> DeviceView {
    DeviceView {
        device_id: d.id,
        branch_id: d.branch_id,
        name: d.name.clone(),
        code: d.code.clone(),
        revoked: d.revoked_at.is_some(),
    }
}

/// A stock item as sent.
pub fn stock_item(i: &StockItemRecord) -> StockItemView {
    StockItemView { id: i.id, name: i.name.clone(), unit: i.unit.clone() }
}

/// A menu item as sent.
pub fn menu_item(m: &MenuItemRecord) -> MenuItemView {
    MenuItemView {
        id: m.id,
        name: m.name.clone(),
        price_cents: m.price_cents,
        category: m.category.clone(),
        active: m.active,
        recipe: m.recipe.clone(),
    }
}
