//! The SQLite transaction: every [`modula_store::Tx`] method as one or two statements.

use async_trait::async_trait;
use modula_store::*;
use modula_wire::{BranchStatus, JsonText, Policy, Role};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::convert::{from_json, from_ts, from_ts_opt, store_error, to_json, ts, ts_opt};

/// Most ids in one `IN (...)` list.
const IN_LIST_MAX: usize = 500;
/// Gaps listed per device (the rest are left out; the first ones are what matters).
const GAPS_MAX: usize = 1000;
/// Most rows in one multi-row `INSERT` (SQLite allows 32,766 bound variables).
const INSERT_ROWS_MAX: usize = 500;

/// A transaction on a [`crate::SqliteStore`]; rolled back on drop unless committed.
pub struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
    /// A writer's place at the process's write gate, held until commit or drop.
    _write_permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Where nudges go after commit (write transactions only).
    nudges: Option<tokio::sync::broadcast::Sender<BranchHead>>,
    /// Branch heads this transaction moved, announced after commit.
    moved: Vec<BranchHead>,
}

impl SqliteTx {
    pub(crate) fn new(
        tx: Transaction<'static, Sqlite>,
        write_permit: Option<tokio::sync::OwnedSemaphorePermit>,
        nudges: Option<tokio::sync::broadcast::Sender<BranchHead>>,
    ) -> Self {
        SqliteTx { tx, _write_permit: write_permit, nudges, moved: Vec::new() }
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
        admin_version: get(row, "admin_version")?,
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
        let SqliteTx { tx, _write_permit, nudges, moved } = *self;
        tx.commit().await.map_err(store_error)?;
        drop(_write_permit);
        if let Some(sender) = nudges {
            for head in moved {
                // No subscriber is not an error: nudges carry no state.
                let _ = sender.send(head);
            }
        }
        Ok(())
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

    async fn lock_tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>> {
        // BEGIN IMMEDIATE already holds SQLite's single write lock.
        self.tenant(tenant_id).await
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

    async fn lock_branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>> {
        // BEGIN IMMEDIATE already holds SQLite's single write lock.
        self.branch(tenant_id, branch_id).await
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
    async fn ops_by_ids(&mut self, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<OpRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_LIST_MAX) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM ops WHERE tenant_id = ");
            q.push_bind(tenant_id).push(" AND client_op_id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            let rows = q.build().fetch_all(&mut *self.tx).await.map_err(store_error)?;
            for row in &rows {
                out.push(op_from(row)?);
            }
        }
        Ok(out)
    }

    async fn insert_ops(&mut self, ops: &[OpRecord]) -> StoreResult<()> {
        for chunk in ops.chunks(INSERT_ROWS_MAX) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO ops (tenant_id, client_op_id, branch_id, device_id, actor_id, op_type, payload_hash, \
                 device_seq, lane, status, code, message, result, occurred_at, recorded_at, field, audit_module, \
                 audit_action, audit_details) ",
            );
            q.push_values(chunk, |mut b, op| {
                let (status, code, message, result, field) = match &op.outcome {
                    OpOutcome::Applied(result) => ("APPLIED", None, None, Some(result.as_str().to_owned()), None),
                    OpOutcome::Rejected { code, message, field } => {
                        ("REJECTED", Some(code.to_string()), Some(message.clone()), None, field.clone())
                    }
                };
                b.push_bind(op.tenant_id)
                    .push_bind(op.client_op_id)
                    .push_bind(op.branch_id)
                    .push_bind(op.device_id)
                    .push_bind(op.actor_id)
                    .push_bind(op.op_type.clone())
                    .push_bind(op.payload_hash.clone())
                    .push_bind(op.device_seq)
                    .push_bind(op.lane.as_str())
                    .push_bind(status)
                    .push_bind(code)
                    .push_bind(message)
                    .push_bind(result)
                    .push_bind(ts(op.occurred_at))
                    .push_bind(ts(op.recorded_at))
                    .push_bind(field)
                    .push_bind(op.audit.as_ref().map(|a| a.module.clone()))
                    .push_bind(op.audit.as_ref().map(|a| a.action.clone()))
                    .push_bind(op.audit.as_ref().map(|a| a.details.as_str().to_owned()));
            });
            q.build().execute(&mut *self.tx).await.map_err(store_error)?;
        }
        Ok(())
    }

    async fn set_op_audit_details(&mut self, tenant_id: Uuid, details: &[(Uuid, &JsonText)]) -> StoreResult<()> {
        for (client_op_id, text) in details {
            let done = sqlx::query("UPDATE ops SET audit_details = ? WHERE tenant_id = ? AND client_op_id = ?")
                .bind(text.as_str())
                .bind(tenant_id)
                .bind(client_op_id)
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Internal(format!("no op {client_op_id} to set the audit details of")));
            }
        }
        Ok(())
    }

    async fn rejected_ops(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<OpRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM ops WHERE tenant_id = ? AND branch_id = ? AND status = 'REJECTED' \
             ORDER BY recorded_at DESC LIMIT ?",
        )
        .bind(tenant_id)
        .bind(branch_id)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(store_error)?;
        rows.iter().map(op_from).collect()
    }

    async fn lock_device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>> {
        // BEGIN IMMEDIATE already holds SQLite's single write lock: the row is ours.
        self.device(tenant_id, device_id).await
    }

    async fn note_device_seqs(&mut self, device_id: Uuid, seqs: &[i64], at: Timestamp) -> StoreResult<()> {
        let Some(max) = seqs.iter().copied().max() else {
            return Ok(());
        };
        if let Some((lowest_to, highest_from)) = seq_ranges::window(seqs) {
            let rows = sqlx::query(
                "SELECT from_seq, to_seq FROM device_seq_ranges \
                 WHERE device_id = ? AND from_seq <= ? AND to_seq >= ? ORDER BY from_seq",
            )
            .bind(device_id)
            .bind(highest_from)
            .bind(lowest_to)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
            let near = rows.iter().map(|r| Ok((get(r, "from_seq")?, get(r, "to_seq")?))).collect::<StoreResult<Vec<_>>>()?;
            let update = seq_ranges::merge(&near, seqs);
            for from in update.delete_froms {
                sqlx::query("DELETE FROM device_seq_ranges WHERE device_id = ? AND from_seq = ?")
                    .bind(device_id)
                    .bind(from)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
            }
            for (from, to) in update.upserts {
                sqlx::query(
                    "INSERT INTO device_seq_ranges (device_id, from_seq, to_seq) VALUES (?, ?, ?) \
                     ON CONFLICT (device_id, from_seq) DO UPDATE SET to_seq = excluded.to_seq",
                )
                .bind(device_id)
                .bind(from)
                .bind(to)
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
            }
        }
        sqlx::query("UPDATE devices SET last_seen_at = ?, last_device_seq = MAX(last_device_seq, ?) WHERE id = ?")
            .bind(ts(at))
            .bind(max)
            .bind(device_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn device_sync_info(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceSyncInfo>> {
        let rows = sqlx::query("SELECT * FROM devices WHERE tenant_id = ? AND branch_id = ? ORDER BY code")
            .bind(tenant_id)
            .bind(branch_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let device = device_from(row)?;
            let range_rows = sqlx::query(
                "SELECT from_seq, to_seq FROM device_seq_ranges WHERE device_id = ? ORDER BY from_seq LIMIT ?",
            )
            .bind(device.id)
            .bind(GAPS_MAX as i64 + 1)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
            let ranges = range_rows
                .iter()
                .map(|r| Ok((get::<i64>(r, "from_seq")?, get::<i64>(r, "to_seq")?)))
                .collect::<StoreResult<Vec<_>>>()?;
            let gaps = seq_ranges::gaps(&ranges, GAPS_MAX);
            out.push(DeviceSyncInfo {
                last_seen_at: from_ts_opt(get(row, "last_seen_at")?)?,
                last_device_seq: get(row, "last_device_seq")?,
                gaps,
                device,
            });
        }
        Ok(out)
    }

    async fn cash_session(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<CashSessionRecord>> {
        let row = sqlx::query("SELECT * FROM cash_sessions WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(cash_session_from).transpose()
    }

    async fn open_cash_session_of_device(&mut self, device_id: Uuid) -> StoreResult<Option<CashSessionRecord>> {
        let row = sqlx::query("SELECT * FROM cash_sessions WHERE device_id = ? AND open = 1")
            .bind(device_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(cash_session_from).transpose()
    }

    async fn insert_cash_session(&mut self, c: &CashSessionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO cash_sessions (id, tenant_id, branch_id, device_id, opened_by, open, opening_float_cents, \
             cash_sales_cents, paid_in_cents, paid_out_cents, adjustments_cents, counted_cash_cents, opened_at, closed_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id)
        .bind(c.tenant_id)
        .bind(c.branch_id)
        .bind(c.device_id)
        .bind(c.opened_by)
        .bind(c.open as i64)
        .bind(c.opening_float_cents)
        .bind(c.cash_sales_cents)
        .bind(c.paid_in_cents)
        .bind(c.paid_out_cents)
        .bind(c.adjustments_cents)
        .bind(c.counted_cash_cents)
        .bind(ts(c.opened_at))
        .bind(ts_opt(c.closed_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn update_cash_session(&mut self, c: &CashSessionRecord) -> StoreResult<()> {
        sqlx::query(
            "UPDATE cash_sessions SET open = ?, cash_sales_cents = ?, paid_in_cents = ?, paid_out_cents = ?, \
             adjustments_cents = ?, counted_cash_cents = ?, closed_at = ? WHERE id = ?",
        )
        .bind(c.open as i64)
        .bind(c.cash_sales_cents)
        .bind(c.paid_in_cents)
        .bind(c.paid_out_cents)
        .bind(c.adjustments_cents)
        .bind(c.counted_cash_cents)
        .bind(ts_opt(c.closed_at))
        .bind(c.id)
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn cash_movement_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        exists(&mut self.tx, "SELECT 1 FROM cash_movements WHERE id = ?", id).await
    }

    async fn cash_session_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        exists(&mut self.tx, "SELECT 1 FROM cash_sessions WHERE id = ?", id).await
    }

    async fn shift_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        exists(&mut self.tx, "SELECT 1 FROM shifts WHERE id = ?", id).await
    }

    async fn insert_cash_movement(&mut self, m: &CashMovementRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO cash_movements (id, cash_session_id, kind, amount_cents, reason, actor_id, occurred_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id)
        .bind(m.cash_session_id)
        .bind(&m.kind)
        .bind(m.amount_cents)
        .bind(&m.reason)
        .bind(m.actor_id)
        .bind(ts(m.occurred_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn existing_sale_ids(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_LIST_MAX) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT id FROM sales WHERE id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            let rows = q.build().fetch_all(&mut *self.tx).await.map_err(store_error)?;
            for row in &rows {
                out.push(get(row, "id")?);
            }
        }
        Ok(out)
    }

    async fn insert_sales(&mut self, sales: &[SaleRecord]) -> StoreResult<()> {
        for chunk in sales.chunks(INSERT_ROWS_MAX) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO sales (id, tenant_id, branch_id, device_id, cash_session_id, client_op_id, receipt_no, \
                 actor_id, total_cents, price_drift_cents, details, occurred_at, applied_at) ",
            );
            q.push_values(chunk, |mut b, s| {
                b.push_bind(s.id)
                    .push_bind(s.tenant_id)
                    .push_bind(s.branch_id)
                    .push_bind(s.device_id)
                    .push_bind(s.cash_session_id)
                    .push_bind(s.client_op_id)
                    .push_bind(s.receipt_no.clone())
                    .push_bind(s.actor_id)
                    .push_bind(s.total_cents)
                    .push_bind(s.price_drift_cents)
                    .push_bind(s.details.as_str().to_owned())
                    .push_bind(ts(s.occurred_at))
                    .push_bind(ts(s.applied_at));
            });
            q.build().execute(&mut *self.tx).await.map_err(store_error)?;
        }
        Ok(())
    }

    async fn list_sales(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<SaleRecord>> {
        let rows = sqlx::query("SELECT * FROM sales WHERE tenant_id = ? AND branch_id = ? ORDER BY applied_at DESC, id LIMIT ?")
            .bind(tenant_id)
            .bind(branch_id)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(sale_from).collect()
    }

    async fn shift(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<ShiftRecord>> {
        let row = sqlx::query("SELECT * FROM shifts WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(shift_from).transpose()
    }

    async fn open_shift_of_staff(&mut self, staff_id: Uuid) -> StoreResult<Option<ShiftRecord>> {
        let row = sqlx::query("SELECT * FROM shifts WHERE staff_id = ? AND open = 1")
            .bind(staff_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(shift_from).transpose()
    }

    async fn insert_shift(&mut self, s: &ShiftRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO shifts (id, tenant_id, branch_id, staff_id, open, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(s.id)
            .bind(s.tenant_id)
            .bind(s.branch_id)
            .bind(s.staff_id)
            .bind(s.open as i64)
            .bind(ts(s.started_at))
            .bind(ts_opt(s.ended_at))
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn update_shift(&mut self, s: &ShiftRecord) -> StoreResult<()> {
        sqlx::query("UPDATE shifts SET open = ?, ended_at = ? WHERE id = ?")
            .bind(s.open as i64)
            .bind(ts_opt(s.ended_at))
            .bind(s.id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_shifts(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<ShiftRecord>> {
        let rows = sqlx::query("SELECT * FROM shifts WHERE tenant_id = ? AND branch_id = ? ORDER BY started_at DESC, id LIMIT ?")
            .bind(tenant_id)
            .bind(branch_id)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(shift_from).collect()
    }

    async fn insert_audits(&mut self, events: &[AuditRecord]) -> StoreResult<()> {
        for chunk in events.chunks(INSERT_ROWS_MAX) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO audit_events (tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, \
                 lane, occurred_at, applied_at, details) ",
            );
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.tenant_id)
                    .push_bind(e.branch_id)
                    .push_bind(e.module.clone())
                    .push_bind(e.action.clone())
                    .push_bind(e.actor_id)
                    .push_bind(e.device_id)
                    .push_bind(e.client_op_id)
                    .push_bind(e.lane.as_str())
                    .push_bind(ts(e.occurred_at))
                    .push_bind(ts(e.applied_at))
                    .push_bind(e.details.as_str().to_owned());
            });
            q.build().execute(&mut *self.tx).await.map_err(store_error)?;
        }
        Ok(())
    }

    async fn list_audit(&mut self, tenant_id: Uuid, branch_id: Uuid, since: Timestamp, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        // Events stored with applied ops, and the others; by time, then key (ops are
        // applied one write transaction at a time, so `recorded_at` follows their order).
        let rows = sqlx::query(
            "SELECT * FROM ( \
               SELECT tenant_id, branch_id, audit_module AS module, audit_action AS action, actor_id, device_id, \
                 client_op_id, lane, occurred_at, recorded_at AS applied_at, audit_details AS details, 0 AS seq \
               FROM ops WHERE tenant_id = ?1 AND branch_id = ?2 AND audit_module IS NOT NULL AND recorded_at >= ?3 \
               UNION ALL \
               SELECT tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, occurred_at, \
                 applied_at, details, seq FROM audit_events \
               WHERE tenant_id = ?1 AND branch_id = ?2 AND applied_at >= ?3) \
             ORDER BY applied_at, seq, client_op_id LIMIT ?4",
        )
        .bind(tenant_id)
        .bind(branch_id)
        .bind(ts(since))
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(store_error)?;
        rows.iter().map(audit_from).collect()
    }

    async fn note_admin_change(&mut self, branch_id: Uuid) -> StoreResult<()> {
        sqlx::query("UPDATE branches SET admin_version = admin_version + 1 WHERE id = ?")
            .bind(branch_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn record_changes(&mut self, branch_id: Uuid, changes: &[ChangeRecord]) -> StoreResult<i64> {
        let count = i64::try_from(changes.len()).map_err(|_| StoreError::Internal("too many changes".into()))?;
        let head: i64 = sqlx::query_scalar("UPDATE branches SET head = head + ? WHERE id = ? RETURNING head")
            .bind(count)
            .bind(branch_id)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(store_error)?;
        let first = head - count + 1;
        let now = ts(chrono::Utc::now());
        for (chunk_no, chunk) in changes.chunks(INSERT_ROWS_MAX).enumerate() {
            let base = first + (chunk_no * INSERT_ROWS_MAX) as i64;
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO changes (branch_id, scope, entity, entity_id, seq, deleted, data, changed_at) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut b, (i, c)| {
                debug_assert_eq!(c.branch_id, branch_id, "one branch per call");
                b.push_bind(branch_id)
                    .push_bind(c.scope)
                    .push_bind(c.entity)
                    .push_bind(c.entity_id)
                    .push_bind(base + i as i64)
                    .push_bind(c.deleted as i64)
                    .push_bind(c.data.as_ref().map(|d| d.as_str().to_owned()))
                    .push_bind(now);
            });
            q.push(
                " ON CONFLICT (branch_id, scope, entity_id) DO UPDATE SET seq = excluded.seq, deleted = excluded.deleted, \
                 data = excluded.data, entity = excluded.entity, changed_at = excluded.changed_at",
            );
            q.build().execute(&mut *self.tx).await.map_err(store_error)?;
        }
        self.moved.retain(|m| m.branch_id != branch_id);
        self.moved.push(BranchHead { branch_id, head });
        Ok(head)
    }

    async fn stream_position(&mut self, branch_id: Uuid) -> StoreResult<StreamPosition> {
        let row = sqlx::query("SELECT head, purged_seq FROM branches WHERE id = ?")
            .bind(branch_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?
            .ok_or_else(|| StoreError::Internal(format!("branch {branch_id} has no stream")))?;
        Ok(StreamPosition { head: get(&row, "head")?, purged_seq: get(&row, "purged_seq")? })
    }

    async fn pull_changes(
        &mut self,
        branch_id: Uuid,
        after_seq: i64,
        scopes: &[&str],
        with_tombstones: bool,
        limit: i64,
    ) -> StoreResult<Vec<StoredChange>> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT seq, scope, entity, entity_id, deleted, data FROM changes WHERE branch_id = ",
        );
        q.push_bind(branch_id).push(" AND seq > ").push_bind(after_seq).push(" AND scope IN (");
        let mut list = q.separated(", ");
        for scope in scopes {
            list.push_bind(*scope);
        }
        q.push(")");
        if !with_tombstones {
            q.push(" AND deleted = 0");
        }
        q.push(" ORDER BY seq LIMIT ").push_bind(limit);
        let rows = q.build().fetch_all(&mut *self.tx).await.map_err(store_error)?;
        rows.iter()
            .map(|r| {
                Ok(StoredChange {
                    seq: get(r, "seq")?,
                    scope: get(r, "scope")?,
                    entity: get(r, "entity")?,
                    entity_id: get(r, "entity_id")?,
                    deleted: get::<i64>(r, "deleted")? != 0,
                    data: get(r, "data")?,
                })
            })
            .collect()
    }

    async fn purge_tombstones(&mut self, older_than: Timestamp) -> StoreResult<u64> {
        sqlx::query(
            "UPDATE branches SET purged_seq = MAX(purged_seq, (SELECT MAX(seq) FROM changes c \
               WHERE c.branch_id = branches.id AND c.deleted = 1 AND c.changed_at < ?)) \
             WHERE id IN (SELECT branch_id FROM changes WHERE deleted = 1 AND changed_at < ?)",
        )
        .bind(ts(older_than))
        .bind(ts(older_than))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        let done = sqlx::query("DELETE FROM changes WHERE deleted = 1 AND changed_at < ?")
            .bind(ts(older_than))
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn server_secret(&mut self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        sqlx::query("INSERT OR IGNORE INTO server_secrets (name, value) VALUES (?, ?)")
            .bind(name)
            .bind(candidate)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(store_error)
    }

    async fn list_cash_sessions(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<CashSessionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM cash_sessions WHERE tenant_id = ? AND branch_id = ? ORDER BY opened_at DESC, id DESC LIMIT ?",
        )
        .bind(tenant_id)
        .bind(branch_id)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(store_error)?;
        rows.iter().map(cash_session_from).collect()
    }
}

async fn exists(tx: &mut Transaction<'static, Sqlite>, sql: &'static str, id: Uuid) -> StoreResult<bool> {
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut **tx).await.map_err(store_error)?;
    Ok(row.is_some())
}

fn op_from(row: &SqliteRow) -> StoreResult<OpRecord> {
    let status: String = get(row, "status")?;
    let outcome = match status.as_str() {
        "APPLIED" => OpOutcome::Applied(from_json("ops.result", &get::<Option<String>>(row, "result")?.unwrap_or_default())?),
        _ => {
            let code: String = get::<Option<String>>(row, "code")?.unwrap_or_default();
            OpOutcome::Rejected {
                code: serde_json::from_value(serde_json::Value::String(code.clone()))
                    .map_err(|_| StoreError::Internal(format!("stored op code {code:?} is unknown")))?,
                message: get::<Option<String>>(row, "message")?.unwrap_or_default(),
                field: get(row, "field")?,
            }
        }
    };
    let lane: String = get(row, "lane")?;
    Ok(OpRecord {
        tenant_id: get(row, "tenant_id")?,
        client_op_id: get(row, "client_op_id")?,
        branch_id: get(row, "branch_id")?,
        device_id: get(row, "device_id")?,
        actor_id: get(row, "actor_id")?,
        op_type: get(row, "op_type")?,
        payload_hash: get(row, "payload_hash")?,
        device_seq: get(row, "device_seq")?,
        lane: if lane == "online" { Lane::Online } else { Lane::Offline },
        outcome,
        occurred_at: from_ts(get(row, "occurred_at")?)?,
        recorded_at: from_ts(get(row, "recorded_at")?)?,
        audit: None,
    })
}

fn cash_session_from(row: &SqliteRow) -> StoreResult<CashSessionRecord> {
    Ok(CashSessionRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        branch_id: get(row, "branch_id")?,
        device_id: get(row, "device_id")?,
        opened_by: get(row, "opened_by")?,
        open: get::<i64>(row, "open")? != 0,
        opening_float_cents: get(row, "opening_float_cents")?,
        cash_sales_cents: get(row, "cash_sales_cents")?,
        paid_in_cents: get(row, "paid_in_cents")?,
        paid_out_cents: get(row, "paid_out_cents")?,
        adjustments_cents: get(row, "adjustments_cents")?,
        counted_cash_cents: get(row, "counted_cash_cents")?,
        opened_at: from_ts(get(row, "opened_at")?)?,
        closed_at: from_ts_opt(get(row, "closed_at")?)?,
    })
}

fn sale_from(row: &SqliteRow) -> StoreResult<SaleRecord> {
    Ok(SaleRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        branch_id: get(row, "branch_id")?,
        device_id: get(row, "device_id")?,
        cash_session_id: get(row, "cash_session_id")?,
        client_op_id: get(row, "client_op_id")?,
        receipt_no: get(row, "receipt_no")?,
        actor_id: get(row, "actor_id")?,
        total_cents: get(row, "total_cents")?,
        price_drift_cents: get(row, "price_drift_cents")?,
        details: from_json("sales.details", &get::<String>(row, "details")?)?,
        occurred_at: from_ts(get(row, "occurred_at")?)?,
        applied_at: from_ts(get(row, "applied_at")?)?,
    })
}

fn shift_from(row: &SqliteRow) -> StoreResult<ShiftRecord> {
    Ok(ShiftRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        branch_id: get(row, "branch_id")?,
        staff_id: get(row, "staff_id")?,
        open: get::<i64>(row, "open")? != 0,
        started_at: from_ts(get(row, "started_at")?)?,
        ended_at: from_ts_opt(get(row, "ended_at")?)?,
    })
}

fn audit_from(row: &SqliteRow) -> StoreResult<AuditRecord> {
    let lane: String = get(row, "lane")?;
    Ok(AuditRecord {
        tenant_id: get(row, "tenant_id")?,
        branch_id: get(row, "branch_id")?,
        module: get(row, "module")?,
        action: get(row, "action")?,
        actor_id: get(row, "actor_id")?,
        device_id: get(row, "device_id")?,
        client_op_id: get(row, "client_op_id")?,
        lane: if lane == "online" { Lane::Online } else { Lane::Offline },
        occurred_at: from_ts(get(row, "occurred_at")?)?,
        applied_at: from_ts(get(row, "applied_at")?)?,
        details: from_json("audit_events.details", &get::<String>(row, "details")?)?,
    })
}
