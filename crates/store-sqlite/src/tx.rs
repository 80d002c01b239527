//! The SQLite transaction: every [`modula_store::Tx`] method as one or two statements.

use async_trait::async_trait;
use modula_store::*;
use modula_wire::{BranchStatus, Policy, Role};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::convert::{from_json, from_ts, from_ts_opt, store_error, to_json, ts, ts_opt};

/// A transaction on a [`crate::SqliteStore`]; rolled back on drop unless committed.
pub struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
}

impl SqliteTx {
    pub(crate) fn new(tx: Transaction<'static, Sqlite>) -> Self {
        SqliteTx { tx }
    }

    /// The raw transaction, for backend-specific statements.
    pub fn raw(&mut self) -> &mut Transaction<'static, Sqlite> {
        &mut self.tx
    }

    async fn branch_ids_of(&mut self, staff_id: Uuid) -> StoreResult<Vec<Uuid>> {
        let rows = sqlx::query("SELECT branch_id FROM staff_branches WHERE staff_id = ? ORDER BY branch_id")
            .bind(staff_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| r.try_get::<Uuid, _>(0).map_err(store_error)).collect()
    }

    async fn set_branch_ids(&mut self, staff_id: Uuid, branch_ids: &[Uuid]) -> StoreResult<()> {
        sqlx::query("DELETE FROM staff_branches WHERE staff_id = ?")
            .bind(staff_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        for branch_id in branch_ids {
            sqlx::query("INSERT OR IGNORE INTO staff_branches (staff_id, branch_id) VALUES (?, ?)")
                .bind(staff_id)
                .bind(branch_id)
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }
}

fn get<'r, T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>>(row: &'r SqliteRow, col: &str) -> StoreResult<T> {
    row.try_get(col).map_err(store_error)
}

fn tenant_from(row: &SqliteRow) -> StoreResult<TenantRecord> {
    Ok(TenantRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        policy: from_json::<Policy>("tenants.policy", &get::<String>(row, "policy")?)?,
        created_at: from_ts(get(row, "created_at")?)?,
    })
}

fn staff_from(row: &SqliteRow, branch_ids: Vec<Uuid>) -> StoreResult<StaffRecord> {
    let role: String = get(row, "role")?;
    Ok(StaffRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        name: get(row, "name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Internal(format!("stored role {role:?} is unknown")))?,
        pin_hash: get(row, "pin_hash")?,
        active: get::<i64>(row, "active")? != 0,
        branch_ids,
        failed_pin_attempts: get(row, "failed_pin_attempts")?,
        locked_until: from_ts_opt(get(row, "locked_until")?)?,
        updated_at: from_ts(get(row, "updated_at")?)?,
    })
}

fn branch_from(row: &SqliteRow) -> StoreResult<BranchRecord> {
    let status: String = get(row, "status")?;
    Ok(BranchRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        name: get(row, "name")?,
        status: BranchStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal(format!("stored branch status {status:?} is unknown")))?,
        policy_override: from_json("branches.policy_override", &get::<String>(row, "policy_override")?)?,
        created_at: from_ts(get(row, "created_at")?)?,
    })
}

fn device_from(row: &SqliteRow) -> StoreResult<DeviceRecord> {
    Ok(DeviceRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        branch_id: get(row, "branch_id")?,
        name: get(row, "name")?,
        code: get(row, "code")?,
        created_at: from_ts(get(row, "created_at")?)?,
        revoked_at: from_ts_opt(get(row, "revoked_at")?)?,
    })
}

fn stock_item_from(row: &SqliteRow) -> StoreResult<StockItemRecord> {
    Ok(StockItemRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        name: get(row, "name")?,
        unit: get(row, "unit")?,
    })
}

fn menu_item_from(row: &SqliteRow) -> StoreResult<MenuItemRecord> {
    Ok(MenuItemRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        name: get(row, "name")?,
        price_cents: get(row, "price_cents")?,
        category: get(row, "category")?,
        active: get::<i64>(row, "active")? != 0,
        recipe: from_json("menu_items.recipe", &get::<String>(row, "recipe")?)?,
        deleted: get::<i64>(row, "deleted")? != 0,
        updated_at: from_ts(get(row, "updated_at")?)?,
    })
}

#[async_trait]
impl Tx for SqliteTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit().await.map_err(store_error)
    }

    async fn insert_tenant(&mut self, t: &TenantRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO tenants (id, name, policy, created_at) VALUES (?, ?, ?, ?)")
            .bind(t.id)
            .bind(&t.name)
            .bind(to_json(&t.policy))
            .bind(ts(t.created_at))
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>> {
        let row = sqlx::query("SELECT * FROM tenants WHERE id = ?")
            .bind(tenant_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(tenant_from).transpose()
    }

    async fn set_tenant_policy(&mut self, tenant_id: Uuid, policy: &Policy) -> StoreResult<()> {
        sqlx::query("UPDATE tenants SET policy = ? WHERE id = ?")
            .bind(to_json(policy))
            .bind(tenant_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn next_device_number(&mut self, tenant_id: Uuid) -> StoreResult<i64> {
        sqlx::query_scalar("UPDATE tenants SET device_counter = device_counter + 1 WHERE id = ? RETURNING device_counter")
            .bind(tenant_id)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(store_error)
    }

    async fn insert_token(&mut self, t: &TokenRecord) -> StoreResult<()> {
        let (kind, subject_id) = match t.subject {
            TokenSubject::Staff(id) => ("staff", id),
            TokenSubject::Device(id) => ("device", id),
        };
        sqlx::query(
            "INSERT INTO tokens (token_hash, tenant_id, kind, subject_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.token_hash)
        .bind(t.tenant_id)
        .bind(kind)
        .bind(subject_id)
        .bind(ts(t.created_at))
        .bind(ts_opt(t.expires_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn token(&mut self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        let Some(row) = sqlx::query("SELECT * FROM tokens WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let kind: String = get(&row, "kind")?;
        let subject_id: Uuid = get(&row, "subject_id")?;
        let subject = match kind.as_str() {
            "staff" => TokenSubject::Staff(subject_id),
            "device" => TokenSubject::Device(subject_id),
            other => return Err(StoreError::Internal(format!("stored token kind {other:?} is unknown"))),
        };
        Ok(Some(TokenRecord {
            token_hash: get(&row, "token_hash")?,
            tenant_id: get(&row, "tenant_id")?,
            subject,
            created_at: from_ts(get(&row, "created_at")?)?,
            expires_at: from_ts_opt(get(&row, "expires_at")?)?,
        }))
    }

    async fn insert_staff(&mut self, s: &StaffRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO staff (id, tenant_id, name, role, pin_hash, active, failed_pin_attempts, locked_until, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(s.id)
        .bind(s.tenant_id)
        .bind(&s.name)
        .bind(s.role.as_str())
        .bind(&s.pin_hash)
        .bind(s.active as i64)
        .bind(s.failed_pin_attempts)
        .bind(ts_opt(s.locked_until))
        .bind(ts(s.updated_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        self.set_branch_ids(s.id, &s.branch_ids).await
    }

    async fn staff(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<Option<StaffRecord>> {
        let Some(row) = sqlx::query("SELECT * FROM staff WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(staff_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let branch_ids = self.branch_ids_of(staff_id).await?;
        staff_from(&row, branch_ids).map(Some)
    }

    async fn list_staff(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StaffRecord>> {
        let rows = sqlx::query("SELECT * FROM staff WHERE tenant_id = ? ORDER BY name, id")
            .bind(tenant_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let branch_ids = self.branch_ids_of(get(row, "id")?).await?;
            out.push(staff_from(row, branch_ids)?);
        }
        Ok(out)
    }

    async fn update_staff(&mut self, s: &StaffRecord) -> StoreResult<()> {
        sqlx::query(
            "UPDATE staff SET name = ?, role = ?, pin_hash = ?, active = ?, failed_pin_attempts = ?, locked_until = ?, \
             updated_at = ? WHERE tenant_id = ? AND id = ?",
        )
        .bind(&s.name)
        .bind(s.role.as_str())
        .bind(&s.pin_hash)
        .bind(s.active as i64)
        .bind(s.failed_pin_attempts)
        .bind(ts_opt(s.locked_until))
        .bind(ts(s.updated_at))
        .bind(s.tenant_id)
        .bind(s.id)
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        self.set_branch_ids(s.id, &s.branch_ids).await
    }

    async fn set_pin_lockout(
        &mut self,
        tenant_id: Uuid,
        staff_id: Uuid,
        failed_attempts: i64,
        locked_until: Option<Timestamp>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE staff SET failed_pin_attempts = ?, locked_until = ? WHERE tenant_id = ? AND id = ?")
            .bind(failed_attempts)
            .bind(ts_opt(locked_until))
            .bind(tenant_id)
            .bind(staff_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn insert_branch(&mut self, b: &BranchRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO branches (id, tenant_id, name, status, policy_override, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(b.id)
        .bind(b.tenant_id)
        .bind(&b.name)
        .bind(b.status.as_str())
        .bind(to_json(&b.policy_override))
        .bind(ts(b.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>> {
        let row = sqlx::query("SELECT * FROM branches WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(branch_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(branch_from).transpose()
    }

    async fn list_branches(&mut self, tenant_id: Uuid) -> StoreResult<Vec<BranchRecord>> {
        let rows = sqlx::query("SELECT * FROM branches WHERE tenant_id = ? ORDER BY name, id")
            .bind(tenant_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(branch_from).collect()
    }

    async fn update_branch(&mut self, b: &BranchRecord) -> StoreResult<()> {
        sqlx::query("UPDATE branches SET name = ?, status = ?, policy_override = ? WHERE tenant_id = ? AND id = ?")
            .bind(&b.name)
            .bind(b.status.as_str())
            .bind(to_json(&b.policy_override))
            .bind(b.tenant_id)
            .bind(b.id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn insert_device(&mut self, d: &DeviceRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO devices (id, tenant_id, branch_id, name, code, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(d.id)
        .bind(d.tenant_id)
        .bind(d.branch_id)
        .bind(&d.name)
        .bind(&d.code)
        .bind(ts(d.created_at))
        .bind(ts_opt(d.revoked_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>> {
        let row = sqlx::query("SELECT * FROM devices WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(device_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(device_from).transpose()
    }

    async fn list_devices(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceRecord>> {
        let rows = sqlx::query("SELECT * FROM devices WHERE tenant_id = ? AND branch_id = ? ORDER BY code")
            .bind(tenant_id)
            .bind(branch_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(device_from).collect()
    }

    async fn revoke_device(&mut self, tenant_id: Uuid, device_id: Uuid, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE tenant_id = ? AND id = ?")
            .bind(ts(at))
            .bind(tenant_id)
            .bind(device_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn insert_stock_item(&mut self, i: &StockItemRecord) -> StoreResult<()> {
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
        row.as_ref().map(stock_item_from).transpose()
    }

    async fn list_stock_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StockItemRecord>> {
        let rows = sqlx::query("SELECT * FROM stock_items WHERE tenant_id = ? ORDER BY name, id")
            .bind(tenant_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(stock_item_from).collect()
    }

    async fn add_on_hand(&mut self, branch_id: Uuid, stock_item_id: Uuid, delta: i64) -> StoreResult<i64> {
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
        rows.iter().map(|r| Ok((stock_item_from(r)?, get(r, "on_hand")?))).collect()
    }

    async fn upsert_menu_item(&mut self, m: &MenuItemRecord) -> StoreResult<bool> {
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
        .bind(to_json(&m.recipe))
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
        row.as_ref().map(menu_item_from).transpose()
    }

    async fn list_menu_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<MenuItemRecord>> {
        let rows = sqlx::query("SELECT * FROM menu_items WHERE tenant_id = ? AND deleted = 0 ORDER BY category, name, id")
            .bind(tenant_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(menu_item_from).collect()
    }
}
