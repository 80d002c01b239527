//! Stock items, on-hand levels per branch, and menu items. (the SQLite side of [`modula_store::CatalogTx`]).

use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::{store_error, ts, Cols};
use crate::tx::{get, SqliteTx};

#[async_trait]
impl CatalogTx for SqliteTx {
    async fn insert_stock_item(&mut self, i: &StockItemRecord) -> StoreResult<()> {
        self.require_write("insert_stock_item")?;
        sqlx::query("INSERT INTO stock_items (id, tenant_id, name, unit) VALUES (?, ?, ?, ?)")
            .bind(i.id)
            .bind(i.tenant_id)
            .bind(&i.name)
            .bind(&i.unit)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn stock_item(&mut self, tenant_id: Uuid, stock_item_id: Uuid) -> StoreResult<Option<StockItemRecord>> {
        let row = sqlx::query("SELECT * FROM stock_items WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(stock_item_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| StockItemRecord::from_row(&Cols(r))).transpose()
    }

    async fn list_stock_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StockItemRecord>> {
        let rows = sqlx::query("SELECT * FROM stock_items WHERE tenant_id = ? ORDER BY name, id")
            .bind(tenant_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| StockItemRecord::from_row(&Cols(r))).collect()
    }

    async fn on_hand(&mut self, branch_id: Uuid, stock_item_id: Uuid) -> StoreResult<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT on_hand FROM inventory WHERE branch_id = ? AND stock_item_id = ?")
            .bind(branch_id)
            .bind(stock_item_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(v.unwrap_or(0))
    }

    async fn add_on_hand(&mut self, branch_id: Uuid, stock_item_id: Uuid, delta: i64) -> StoreResult<i64> {
        self.require_write("add_on_hand")?;
        sqlx::query_scalar(
            "INSERT INTO inventory (branch_id, stock_item_id, on_hand) VALUES (?, ?, ?) \
             ON CONFLICT (branch_id, stock_item_id) DO UPDATE SET on_hand = on_hand + excluded.on_hand \
             RETURNING on_hand",
        )
        .bind(branch_id)
        .bind(stock_item_id)
        .bind(delta)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(store_error)
    }

    async fn inventory(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<(StockItemRecord, i64)>> {
        let rows = sqlx::query(
            "SELECT s.*, COALESCE(i.on_hand, 0) AS on_hand FROM stock_items s \
             LEFT JOIN inventory i ON i.stock_item_id = s.id AND i.branch_id = ? \
             WHERE s.tenant_id = ? ORDER BY s.name, s.id",
        )
        .bind(branch_id)
        .bind(tenant_id)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(store_error)?;
        rows.iter().map(|r| Ok((StockItemRecord::from_row(&Cols(r))?, get(r, "on_hand")?))).collect()
    }

    async fn upsert_menu_item(&mut self, m: &MenuItemRecord) -> StoreResult<bool> {
        self.require_write("upsert_menu_item")?;
        let done = sqlx::query(
            "INSERT INTO menu_items (tenant_id, id, name, price_cents, category, active, recipe, deleted, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, price_cents = excluded.price_cents, \
             category = excluded.category, active = excluded.active, recipe = excluded.recipe, \
             deleted = excluded.deleted, updated_at = excluded.updated_at \
             WHERE menu_items.tenant_id = excluded.tenant_id",
        )
        .bind(m.tenant_id)
        .bind(m.id)
        .bind(&m.name)
        .bind(m.price_cents)
        .bind(&m.category)
        .bind(m.active as i64)
        .bind(to_json(&m.recipe)?)
        .bind(m.deleted as i64)
        .bind(ts(m.updated_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn menu_item(&mut self, tenant_id: Uuid, item_id: Uuid) -> StoreResult<Option<MenuItemRecord>> {
        let row = sqlx::query("SELECT * FROM menu_items WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(item_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| MenuItemRecord::from_row(&Cols(r))).transpose()
    }

    async fn list_menu_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<MenuItemRecord>> {
        let rows = sqlx::query("SELECT * FROM menu_items WHERE tenant_id = ? AND deleted = 0 ORDER BY category, name, id")
            .bind(tenant_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| MenuItemRecord::from_row(&Cols(r))).collect()
    }
}


