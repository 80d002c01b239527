//! Stock items, on-hand levels per branch, and menu items. (the PostgreSQL side of [`modula_store::CatalogTx`]).

use std::collections::HashMap;

use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::{store_error, Cols};
use crate::tx::{get, PgTx};

#[async_trait]
impl CatalogTx for PgTx {
    async fn insert_stock_item(&mut self, i: &StockItemRecord) -> StoreResult<()> {
        let sql = "INSERT INTO stock_items (id, tenant_id, name, unit) VALUES ($1, $2, $3, $4)";
        self.exec(sqlx::query(sql).bind(i.id).bind(i.tenant_id).bind(&i.name).bind(&i.unit)).await?;
        Ok(())
    }

    async fn stock_item(&mut self, tenant_id: Uuid, stock_item_id: Uuid) -> StoreResult<Option<StockItemRecord>> {
        let sql = "SELECT * FROM stock_items WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(stock_item_id)).await?;
        row.as_ref().map(|r| StockItemRecord::from_row(&Cols(r))).transpose()
    }

    async fn list_stock_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StockItemRecord>> {
        let sql = "SELECT * FROM stock_items WHERE tenant_id = $1 ORDER BY name, id";
        let rows = self.all(sqlx::query(sql).bind(tenant_id)).await?;
        rows.iter().map(|r| StockItemRecord::from_row(&Cols(r))).collect()
    }

    async fn on_hand(&mut self, branch_id: Uuid, stock_item_id: Uuid) -> StoreResult<i64> {
        let sql = "SELECT on_hand FROM inventory WHERE branch_id = $1 AND stock_item_id = $2";
        let row = self.one(sqlx::query(sql).bind(branch_id).bind(stock_item_id)).await?;
        row.map_or(Ok(0), |r| get(&r, "on_hand"))
    }

    async fn add_on_hand(&mut self, branch_id: Uuid, stock_item_id: Uuid, delta: i64) -> StoreResult<i64> {
        let sql = "INSERT INTO inventory (branch_id, stock_item_id, on_hand) VALUES ($1, $2, $3) \
                   ON CONFLICT (branch_id, stock_item_id) DO UPDATE SET on_hand = inventory.on_hand + EXCLUDED.on_hand \
                   RETURNING on_hand";
        let q = sqlx::query_scalar(sql).bind(branch_id).bind(stock_item_id).bind(delta);
        q.fetch_one(&mut *self.tx).await.map_err(store_error)
    }

    async fn inventory(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<(StockItemRecord, i64)>> {
        let sql = "SELECT s.*, COALESCE(i.on_hand, 0) AS on_hand FROM stock_items s \
                   LEFT JOIN inventory i ON i.stock_item_id = s.id AND i.branch_id = $1 \
                   WHERE s.tenant_id = $2 ORDER BY s.name, s.id";
        let rows = self.all(sqlx::query(sql).bind(branch_id).bind(tenant_id)).await?;
        rows.iter().map(|r| Ok((StockItemRecord::from_row(&Cols(r))?, get(r, "on_hand")?))).collect()
    }

    async fn upsert_menu_item(&mut self, m: &MenuItemRecord) -> StoreResult<bool> {
        let sql = "INSERT INTO menu_items (tenant_id, id, name, price_cents, category, active, recipe, deleted, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                   ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents, \
                   category = EXCLUDED.category, active = EXCLUDED.active, recipe = EXCLUDED.recipe, \
                   deleted = EXCLUDED.deleted, updated_at = EXCLUDED.updated_at \
                   WHERE menu_items.tenant_id = EXCLUDED.tenant_id";
        let q = sqlx::query(sql).bind(m.tenant_id).bind(m.id).bind(&m.name).bind(m.price_cents).bind(&m.category);
        let q = q.bind(m.active).bind(to_json(&m.recipe)?).bind(m.deleted).bind(m.updated_at);
        Ok(self.exec(q).await? == 1)
    }

    async fn menu_item(&mut self, tenant_id: Uuid, item_id: Uuid) -> StoreResult<Option<MenuItemRecord>> {
        let sql = "SELECT * FROM menu_items WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(item_id)).await?;
        row.as_ref().map(|r| MenuItemRecord::from_row(&Cols(r))).transpose()
    }

    async fn list_menu_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<MenuItemRecord>> {
        let sql = "SELECT * FROM menu_items WHERE tenant_id = $1 AND NOT deleted ORDER BY category, name, id";
        let rows = self.all(sqlx::query(sql).bind(tenant_id)).await?;
        rows.iter().map(|r| MenuItemRecord::from_row(&Cols(r))).collect()
    }

    async fn menu_items_by_ids(&mut self, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<MenuItemRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = "SELECT * FROM menu_items WHERE tenant_id = $1 AND id = ANY($2)";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(ids)).await?;
        rows.iter().map(|r| MenuItemRecord::from_row(&Cols(r))).collect()
    }

    async fn on_hand_many(&mut self, branch_id: Uuid, stock_item_ids: &[Uuid]) -> StoreResult<Vec<i64>> {
        if stock_item_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = "SELECT stock_item_id, on_hand FROM inventory WHERE branch_id = $1 AND stock_item_id = ANY($2)";
        let rows = self.all(sqlx::query(sql).bind(branch_id).bind(stock_item_ids)).await?;
        let mut found: HashMap<Uuid, i64> = HashMap::with_capacity(rows.len());
        for row in &rows {
            found.insert(get(row, "stock_item_id")?, get(row, "on_hand")?);
        }
        Ok(stock_item_ids.iter().map(|id| found.get(id).copied().unwrap_or(0)).collect())
    }

    async fn add_on_hand_many(
        &mut self,
        tenant_id: Uuid,
        branch_id: Uuid,
        deltas: &[(Uuid, i64)],
    ) -> StoreResult<Vec<(StockItemRecord, i64)>> {
        if deltas.is_empty() {
            return Ok(Vec::new());
        }
        // One statement; `ORDER BY` makes the upsert lock the rows in ascending id order,
        // as one statement per item did.
        let sql = "WITH up AS (INSERT INTO inventory (branch_id, stock_item_id, on_hand) \
                     SELECT $1, d.id, d.delta FROM UNNEST($2::uuid[], $3::int8[]) AS d(id, delta) ORDER BY d.id \
                     ON CONFLICT (branch_id, stock_item_id) DO UPDATE SET on_hand = inventory.on_hand + EXCLUDED.on_hand \
                     RETURNING stock_item_id, on_hand) \
                   SELECT s.*, up.on_hand FROM up JOIN stock_items s ON s.id = up.stock_item_id AND s.tenant_id = $4";
        let ids: Vec<Uuid> = deltas.iter().map(|d| d.0).collect();
        let amounts: Vec<i64> = deltas.iter().map(|d| d.1).collect();
        let rows = self.all(sqlx::query(sql).bind(branch_id).bind(&ids).bind(amounts).bind(tenant_id)).await?;
        let mut by_id: HashMap<Uuid, (StockItemRecord, i64)> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let item = StockItemRecord::from_row(&Cols(row))?;
            by_id.insert(item.id, (item, get(row, "on_hand")?));
        }
        ids.iter()
            .map(|id| by_id.remove(id).ok_or_else(|| StoreError::Internal(format!("recipe names unknown stock item {id}"))))
            .collect()
    }
}


