//! The catalog: stock items and their on-hand per branch, and menu items.

use async_trait::async_trait;
use modula_wire::admin::RecipeLine;
use uuid::Uuid;

use crate::*;

/// Catalog and stock: the part of [`Tx`] for stock items, on-hand levels and menu items.
#[async_trait]
pub trait CatalogTx: Send {
    /// Inserts a stock item.
    async fn insert_stock_item(&mut self, item: &StockItemRecord) -> StoreResult<()>;

    /// One stock item of the tenant.
    async fn stock_item(&mut self, tenant_id: Uuid, stock_item_id: Uuid) -> StoreResult<Option<StockItemRecord>>;

    /// Every stock item of the tenant, by name.
    async fn list_stock_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StockItemRecord>>;

    /// The on-hand of an item at a branch (0 when never stocked).
    async fn on_hand(&mut self, branch_id: Uuid, stock_item_id: Uuid) -> StoreResult<i64>;

    /// Adds `delta` to the on-hand of an item at a branch (a missing row counts as 0);
    /// returns the new on-hand.
    async fn add_on_hand(&mut self, branch_id: Uuid, stock_item_id: Uuid, delta: i64) -> StoreResult<i64>;

    /// Every stock item of the tenant with its on-hand at the branch (0 when never stocked).
    async fn inventory(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<(StockItemRecord, i64)>>;

    /// Inserts or replaces a menu item (also un-deletes it). Menu item ids are unique
    /// across tenants: returns `false`, writing nothing, when the id belongs to another.
    async fn upsert_menu_item(&mut self, item: &MenuItemRecord) -> StoreResult<bool>;

    /// One menu item of the tenant, deleted or not.
    async fn menu_item(&mut self, tenant_id: Uuid, item_id: Uuid) -> StoreResult<Option<MenuItemRecord>>;

    /// Every live (not deleted) menu item of the tenant, by category and name.
    async fn list_menu_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<MenuItemRecord>>;

    /// The tenant's menu items among `ids`, deleted or not (any order; unknown ids are absent).
    async fn menu_items_by_ids(&mut self, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<MenuItemRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            out.extend(self.menu_item(tenant_id, id).await?);
        }
        Ok(out)
    }

    /// The on-hand at the branch of each of `stock_item_ids` (0 when never stocked), in order.
    async fn on_hand_many(&mut self, branch_id: Uuid, stock_item_ids: &[Uuid]) -> StoreResult<Vec<i64>> {
        let mut out = Vec::with_capacity(stock_item_ids.len());
        for &id in stock_item_ids {
            out.push(self.on_hand(branch_id, id).await?);
        }
        Ok(out)
    }

    /// Adds each `(stock_item_id, delta)` (ascending ids, each once) to the item's on-hand
    /// at the branch, in that order; returns each item of the tenant with its new on-hand,
    /// in the same order. An item that is not the tenant's is an error.
    async fn add_on_hand_many(
        &mut self,
        tenant_id: Uuid,
        branch_id: Uuid,
        deltas: &[(Uuid, i64)],
    ) -> StoreResult<Vec<(StockItemRecord, i64)>> {
        let mut out = Vec::with_capacity(deltas.len());
        for &(stock_item_id, delta) in deltas {
            let on_hand = self.add_on_hand(branch_id, stock_item_id, delta).await?;
            let item = self
                .stock_item(tenant_id, stock_item_id)
                .await?
                .ok_or_else(|| StoreError::Internal(format!("recipe names unknown stock item {stock_item_id}")))?;
            out.push((item, on_hand));
        }
        Ok(out)
    }
}

/// A stock item (tenant-wide; on-hand is per branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockItemRecord {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Display name.
    pub name: String,
    /// Unit.
    pub unit: String,
}

/// A menu item (tenant-wide). Deleted items stay as tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuItemRecord {
    /// Id (chosen by the client on PUT).
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Display name.
    pub name: String,
    /// Price.
    pub price_cents: i64,
    /// Category.
    pub category: String,
    /// Whether it can be sold.
    pub active: bool,
    /// Stock used per unit sold.
    pub recipe: Vec<RecipeLine>,
    /// Tombstone flag.
    pub deleted: bool,
    /// Last change.
    pub updated_at: Timestamp,
}

impl StockItemRecord {
    /// Decodes a `stock_items` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(StockItemRecord {
            id: row.uuid("id")?,
            tenant_id: row.uuid("tenant_id")?,
            name: row.text("name")?,
            unit: row.text("unit")?,
        })
    }
}

impl MenuItemRecord {
    /// Decodes a `menu_items` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(MenuItemRecord {
            id: row.uuid("id")?,
            tenant_id: row.uuid("tenant_id")?,
            name: row.text("name")?,
            price_cents: row.int("price_cents")?,
            category: row.text("category")?,
            active: row.flag("active")?,
            recipe: from_json("menu_items.recipe", &row.text("recipe")?)?,
            deleted: row.flag("deleted")?,
            updated_at: row.instant("updated_at")?,
        })
    }
}
