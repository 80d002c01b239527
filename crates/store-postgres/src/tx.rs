//! The PostgreSQL transaction: every [`modula_store::Tx`] method as one or two statements.

use std::collections::HashMap;

use async_trait::async_trait;
use modula_store::*;
use modula_wire::{BranchStatus, JsonText, Policy, Role};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use crate::convert::{count, from_json, store_error, to_json};
use crate::nudge::{Announcer, NUDGE_CHANNEL};

/// Most gaps reported per device.
const GAPS_MAX: i64 = 1000;

/// A statement with its binds.
type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// A transaction on a [`crate::PgStore`]; rolled back on drop unless committed.
pub struct PgTx {
    tx: Transaction<'static, Postgres>,
    /// Where this process's nudges go after commit (write transactions only).
    announcer: Option<std::sync::Arc<Announcer>>,
    /// Branch heads this transaction moved, announced after commit.
    moved: Vec<BranchHead>,
}

impl PgTx {
    pub(crate) fn new(tx: Transaction<'static, Postgres>, announcer: Option<std::sync::Arc<Announcer>>) -> Self {
        PgTx { tx, announcer, moved: Vec::new() }
    }

    /// The raw transaction, for backend-specific statements.
    pub fn raw(&mut self) -> &mut Transaction<'static, Postgres> {
        &mut self.tx
    }

    /// Runs a statement; returns the rows it affected.
    async fn exec(&mut self, q: PgQuery<'_>) -> StoreResult<u64> {
        let done = q.execute(&mut *self.tx).await.map_err(store_error)?;
        Ok(done.rows_affected())
    }

    /// Runs a query expecting at most one row.
    async fn one(&mut self, q: PgQuery<'_>) -> StoreResult<Option<PgRow>> {
        q.fetch_optional(&mut *self.tx).await.map_err(store_error)
    }

    /// Runs a query for all its rows.
    async fn all(&mut self, q: PgQuery<'_>) -> StoreResult<Vec<PgRow>> {
        q.fetch_all(&mut *self.tx).await.map_err(store_error)
    }

    async fn set_branch_ids(&mut self, staff_id: Uuid, branch_ids: &[Uuid]) -> StoreResult<()> {
        self.exec(sqlx::query("DELETE FROM staff_branches WHERE staff_id = $1").bind(staff_id)).await?;
        if branch_ids.is_empty() {
            return Ok(());
        }
        let insert = "INSERT INTO staff_branches (staff_id, branch_id) SELECT $1, b FROM UNNEST($2::uuid[]) AS b \
                      ON CONFLICT DO NOTHING";
        self.exec(sqlx::query(insert).bind(staff_id).bind(branch_ids)).await?;
        Ok(())
    }

    /// Moves a branch head by `n` and queues its nudge (delivered by PostgreSQL to every
    /// listening process if, and only when, this transaction commits). The row lock taken
    /// here is held to commit: the branch's writers commit in position order.
    async fn move_head(&mut self, branch_id: Uuid, n: i64) -> StoreResult<i64> {
        let sql = "UPDATE branches SET head = head + $1 WHERE id = $2 \
                   RETURNING head, pg_notify($3, id::text || ':' || head::text)";
        let row = sqlx::query(sql).bind(n).bind(branch_id).bind(NUDGE_CHANNEL).fetch_one(&mut *self.tx).await;
        get(&row.map_err(store_error)?, "head")
    }

    /// Upserts placed change rows in one statement: one array per column, so the text is
    /// the same for every batch size and stays prepared on the connection.
    async fn insert_changes(&mut self, branch_id: Uuid, rows: &[PlacedChange<'_>], now: Timestamp) -> StoreResult<()> {
        let sql = "INSERT INTO changes (branch_id, scope, entity, entity_id, seq, deleted, data, changed_at) \
                   SELECT $1, r.scope, r.entity, r.entity_id, r.seq, r.deleted, r.data, $2 \
                   FROM UNNEST($3::text[], $4::text[], $5::uuid[], $6::int8[], $7::bool[], $8::text[]) \
                     AS r(scope, entity, entity_id, seq, deleted, data) \
                   ON CONFLICT (branch_id, scope, entity_id) DO UPDATE SET seq = EXCLUDED.seq, deleted = EXCLUDED.deleted, \
                   data = EXCLUDED.data, entity = EXCLUDED.entity, changed_at = EXCLUDED.changed_at";
        let scopes: Vec<&str> = rows.iter().map(|r| r.change.scope).collect();
        let entities: Vec<&str> = rows.iter().map(|r| r.change.entity).collect();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.change.entity_id).collect();
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        let deleted: Vec<bool> = rows.iter().map(|r| r.change.deleted).collect();
        let data: Vec<Option<&str>> = rows.iter().map(|r| r.data).collect();
        let q = sqlx::query(sql).bind(branch_id).bind(now).bind(scopes).bind(entities).bind(ids);
        self.exec(q.bind(seqs).bind(deleted).bind(data)).await?;
        Ok(())
    }

    async fn gaps(&mut self, device_id: Uuid) -> StoreResult<Vec<(i64, i64)>> {
        let sql = "SELECT from_seq, to_seq FROM device_seq_ranges WHERE device_id = $1 ORDER BY from_seq LIMIT $2";
        let rows = self.all(sqlx::query(sql).bind(device_id).bind(GAPS_MAX + 1)).await?;
        let ranges = rows.iter().map(|r| Ok((get(r, "from_seq")?, get(r, "to_seq")?))).collect::<StoreResult<Vec<_>>>()?;
        Ok(seq_ranges::gaps(&ranges, GAPS_MAX as usize))
    }

    /// What to write so that the device's stored seq ranges also cover `seqs` (reads
    /// the ranges near them; the caller holds the device's row lock).
    async fn seq_range_update(&mut self, device_id: Uuid, seqs: &[i64]) -> StoreResult<seq_ranges::SeqRangeUpdate> {
        let Some((lowest_to, highest_from)) = seq_ranges::window(seqs) else {
            return Ok(seq_ranges::SeqRangeUpdate::default());
        };
        let sql = "SELECT from_seq, to_seq FROM device_seq_ranges \
                   WHERE device_id = $1 AND from_seq <= $2 AND to_seq >= $3 ORDER BY from_seq";
        let rows = self.all(sqlx::query(sql).bind(device_id).bind(highest_from).bind(lowest_to)).await?;
        let near = rows.iter().map(|r| Ok((get(r, "from_seq")?, get(r, "to_seq")?))).collect::<StoreResult<Vec<_>>>()?;
        Ok(seq_ranges::merge(&near, seqs))
    }

    /// Locks, in the order multi-branch writers lock them, the branches whose tombstones
    /// a purge deletes (so the purge never deadlocks with a writer of one of them).
    async fn lock_branches_with_tombstones(&mut self, older_than: Timestamp) -> StoreResult<()> {
        let sql = "SELECT id FROM branches WHERE id IN \
                     (SELECT branch_id FROM changes WHERE deleted AND changed_at < $1) \
                   ORDER BY tenant_id, name, id FOR NO KEY UPDATE";
        self.all(sqlx::query(sql).bind(older_than)).await?;
        Ok(())
    }
}

/// A change with its position in the stream and its JSON.
struct PlacedChange<'a> {
    seq: i64,
    change: &'a ChangeRecord,
    data: Option<&'a str>,
}

/// Gives each change its position (`first`, `first + 1`, …). An entity listed twice keeps
/// only its later version, at the later position, as if the rows were upserted one by one
/// (PostgreSQL refuses to upsert one row twice in one statement).
fn place(branch_id: Uuid, changes: &[ChangeRecord], first: i64) -> Vec<PlacedChange<'_>> {
    let mut placed: Vec<PlacedChange<'_>> = Vec::with_capacity(changes.len());
    let mut index: HashMap<(&str, Uuid), usize> = HashMap::with_capacity(changes.len());
    for (seq, change) in (first..).zip(changes) {
        debug_assert_eq!(change.branch_id, branch_id, "one branch per call");
        let row = PlacedChange { seq, change, data: change.data.as_ref().map(JsonText::as_str) };
        match index.get(&(change.scope, change.entity_id)) {
            Some(&i) => placed[i] = row,
            None => {
                index.insert((change.scope, change.entity_id), placed.len());
                placed.push(row);
            }
        }
    }
    placed
}

fn get<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(row: &'r PgRow, col: &str) -> StoreResult<T> {
    row.try_get(col).map_err(store_error)
}

fn lane_from(lane: &str) -> Lane {
    if lane == "online" {
        Lane::Online
    } else {
        Lane::Offline
    }
}

fn tenant_from(row: &PgRow) -> StoreResult<TenantRecord> {
    Ok(TenantRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        policy: from_json::<Policy>("tenants.policy", get(row, "policy")?)?,
        created_at: get(row, "created_at")?,
    })
}

fn token_from(row: &PgRow) -> StoreResult<TokenRecord> {
    let kind: &str = get(row, "kind")?;
    let subject_id: Uuid = get(row, "subject_id")?;
    let subject = match kind {
        "staff" => TokenSubject::Staff(subject_id),
        "device" => TokenSubject::Device(subject_id),
        other => return Err(StoreError::Internal(format!("stored token kind {other:?} is unknown"))),
    };
    Ok(TokenRecord {
        token_hash: get(row, "token_hash")?,
        tenant_id: get(row, "tenant_id")?,
        subject,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
    })
}

/// The staff columns plus their sorted branch assignment, as one array column.
const STAFF_SELECT: &str = "SELECT s.*, ARRAY(SELECT sb.branch_id FROM staff_branches sb \
                            WHERE sb.staff_id = s.id ORDER BY sb.branch_id) AS branch_ids FROM staff s";

fn staff_from(row: &PgRow) -> StoreResult<StaffRecord> {
    let role: &str = get(row, "role")?;
    Ok(StaffRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        name: get(row, "name")?,
        role: Role::parse(role).ok_or_else(|| StoreError::Internal(format!("stored role {role:?} is unknown")))?,
        pin_hash: get(row, "pin_hash")?,
        active: get(row, "active")?,
        branch_ids: get(row, "branch_ids")?,
        failed_pin_attempts: get(row, "failed_pin_attempts")?,
        locked_until: get(row, "locked_until")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn branch_from(row: &PgRow) -> StoreResult<BranchRecord> {
    let status: &str = get(row, "status")?;
    Ok(BranchRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        name: get(row, "name")?,
        status: BranchStatus::parse(status)
            .ok_or_else(|| StoreError::Internal(format!("stored branch status {status:?} is unknown")))?,
        policy_override: from_json("branches.policy_override", get(row, "policy_override")?)?,
        created_at: get(row, "created_at")?,
        admin_version: get(row, "admin_version")?,
    })
}

fn device_from(row: &PgRow) -> StoreResult<DeviceRecord> {
    Ok(DeviceRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        branch_id: get(row, "branch_id")?,
        name: get(row, "name")?,
        code: get(row, "code")?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn stock_item_from(row: &PgRow) -> StoreResult<StockItemRecord> {
    Ok(StockItemRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        name: get(row, "name")?,
        unit: get(row, "unit")?,
    })
}

fn menu_item_from(row: &PgRow) -> StoreResult<MenuItemRecord> {
    Ok(MenuItemRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        name: get(row, "name")?,
        price_cents: get(row, "price_cents")?,
        category: get(row, "category")?,
        active: get(row, "active")?,
        recipe: from_json("menu_items.recipe", get(row, "recipe")?)?,
        deleted: get(row, "deleted")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn change_from(row: &PgRow) -> StoreResult<StoredChange> {
    Ok(StoredChange {
        seq: get(row, "seq")?,
        scope: get(row, "scope")?,
        entity: get(row, "entity")?,
        entity_id: get(row, "entity_id")?,
        deleted: get(row, "deleted")?,
        data: get(row, "data")?,
    })
}

#[async_trait]
impl Tx for PgTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let PgTx { tx, announcer, moved } = *self;
        tx.commit().await.map_err(store_error)?;
        if let Some(announcer) = announcer {
            for head in moved {
                announcer.announce(head);
            }
        }
        Ok(())
    }

    async fn insert_tenant(&mut self, t: &TenantRecord) -> StoreResult<()> {
        let sql = "INSERT INTO tenants (id, name, policy, created_at) VALUES ($1, $2, $3, $4)";
        self.exec(sqlx::query(sql).bind(t.id).bind(&t.name).bind(to_json(&t.policy)?).bind(t.created_at)).await?;
        Ok(())
    }

    async fn tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>> {
        let row = self.one(sqlx::query("SELECT * FROM tenants WHERE id = $1").bind(tenant_id)).await?;
        row.as_ref().map(tenant_from).transpose()
    }

    async fn lock_tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>> {
        let sql = "SELECT * FROM tenants WHERE id = $1 FOR NO KEY UPDATE";
        let row = self.one(sqlx::query(sql).bind(tenant_id)).await?;
        row.as_ref().map(tenant_from).transpose()
    }

    async fn set_tenant_policy(&mut self, tenant_id: Uuid, policy: &Policy) -> StoreResult<()> {
        let sql = "UPDATE tenants SET policy = $1 WHERE id = $2";
        self.exec(sqlx::query(sql).bind(to_json(policy)?).bind(tenant_id)).await?;
        Ok(())
    }

    async fn next_device_number(&mut self, tenant_id: Uuid) -> StoreResult<i64> {
        let sql = "UPDATE tenants SET device_counter = device_counter + 1 WHERE id = $1 RETURNING device_counter";
        sqlx::query_scalar(sql).bind(tenant_id).fetch_one(&mut *self.tx).await.map_err(store_error)
    }

    async fn insert_token(&mut self, t: &TokenRecord) -> StoreResult<()> {
        let (kind, subject_id) = match t.subject {
            TokenSubject::Staff(id) => ("staff", id),
            TokenSubject::Device(id) => ("device", id),
        };
        let sql = "INSERT INTO tokens (token_hash, tenant_id, kind, subject_id, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5, $6)";
        let q = sqlx::query(sql).bind(&t.token_hash).bind(t.tenant_id).bind(kind).bind(subject_id);
        self.exec(q.bind(t.created_at).bind(t.expires_at)).await?;
        Ok(())
    }

    async fn token(&mut self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        let row = self.one(sqlx::query("SELECT * FROM tokens WHERE token_hash = $1").bind(token_hash)).await?;
        row.as_ref().map(token_from).transpose()
    }

    async fn insert_staff(&mut self, s: &StaffRecord) -> StoreResult<()> {
        let sql = "INSERT INTO staff (id, tenant_id, name, role, pin_hash, active, failed_pin_attempts, locked_until, \
                   updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        let q = sqlx::query(sql).bind(s.id).bind(s.tenant_id).bind(&s.name).bind(s.role.as_str()).bind(&s.pin_hash);
        self.exec(q.bind(s.active).bind(s.failed_pin_attempts).bind(s.locked_until).bind(s.updated_at)).await?;
        self.set_branch_ids(s.id, &s.branch_ids).await
    }

    async fn staff(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<Option<StaffRecord>> {
        let sql = format!("{STAFF_SELECT} WHERE s.tenant_id = $1 AND s.id = $2");
        let row = self.one(sqlx::query(&sql).bind(tenant_id).bind(staff_id)).await?;
        row.as_ref().map(staff_from).transpose()
    }

    async fn list_staff(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StaffRecord>> {
        let sql = format!("{STAFF_SELECT} WHERE s.tenant_id = $1 ORDER BY s.name, s.id");
        let rows = self.all(sqlx::query(&sql).bind(tenant_id)).await?;
        rows.iter().map(staff_from).collect()
    }

    async fn update_staff(&mut self, s: &StaffRecord) -> StoreResult<()> {
        let sql = "UPDATE staff SET name = $1, role = $2, pin_hash = $3, active = $4, failed_pin_attempts = $5, \
                   locked_until = $6, updated_at = $7 WHERE tenant_id = $8 AND id = $9";
        let q = sqlx::query(sql).bind(&s.name).bind(s.role.as_str()).bind(&s.pin_hash).bind(s.active);
        let q = q.bind(s.failed_pin_attempts).bind(s.locked_until).bind(s.updated_at).bind(s.tenant_id).bind(s.id);
        self.exec(q).await?;
        self.set_branch_ids(s.id, &s.branch_ids).await
    }

    async fn set_pin_lockout(
        &mut self,
        tenant_id: Uuid,
        staff_id: Uuid,
        failed_attempts: i64,
        locked_until: Option<Timestamp>,
    ) -> StoreResult<()> {
        let sql = "UPDATE staff SET failed_pin_attempts = $1, locked_until = $2 WHERE tenant_id = $3 AND id = $4";
        self.exec(sqlx::query(sql).bind(failed_attempts).bind(locked_until).bind(tenant_id).bind(staff_id)).await?;
        Ok(())
    }

    async fn insert_branch(&mut self, b: &BranchRecord) -> StoreResult<()> {
        let sql = "INSERT INTO branches (id, tenant_id, name, status, policy_override, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6)";
        let q = sqlx::query(sql).bind(b.id).bind(b.tenant_id).bind(&b.name).bind(b.status.as_str());
        self.exec(q.bind(to_json(&b.policy_override)?).bind(b.created_at)).await?;
        Ok(())
    }

    async fn branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>> {
        let sql = "SELECT * FROM branches WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(branch_id)).await?;
        row.as_ref().map(branch_from).transpose()
    }

    async fn lock_branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>> {
        // The same lock the head UPDATE of `record_changes` takes, taken early: writers
        // that lock it first decide on its status and policy one transaction at a time,
        // and a push that decided before taking it compares the row it gets.
        let sql = "SELECT * FROM branches WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(branch_id)).await?;
        row.as_ref().map(branch_from).transpose()
    }

    async fn list_branches(&mut self, tenant_id: Uuid) -> StoreResult<Vec<BranchRecord>> {
        let sql = "SELECT * FROM branches WHERE tenant_id = $1 ORDER BY name, id";
        let rows = self.all(sqlx::query(sql).bind(tenant_id)).await?;
        rows.iter().map(branch_from).collect()
    }

    async fn update_branch(&mut self, b: &BranchRecord) -> StoreResult<()> {
        let sql = "UPDATE branches SET name = $1, status = $2, policy_override = $3 WHERE tenant_id = $4 AND id = $5";
        let q = sqlx::query(sql).bind(&b.name).bind(b.status.as_str()).bind(to_json(&b.policy_override)?);
        self.exec(q.bind(b.tenant_id).bind(b.id)).await?;
        Ok(())
    }

    async fn insert_device(&mut self, d: &DeviceRecord) -> StoreResult<()> {
        let sql = "INSERT INTO devices (id, tenant_id, branch_id, name, code, created_at, revoked_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let q = sqlx::query(sql).bind(d.id).bind(d.tenant_id).bind(d.branch_id).bind(&d.name).bind(&d.code);
        self.exec(q.bind(d.created_at).bind(d.revoked_at)).await?;
        Ok(())
    }

    async fn device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>> {
        let sql = "SELECT * FROM devices WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(device_id)).await?;
        row.as_ref().map(device_from).transpose()
    }

    async fn list_devices(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceRecord>> {
        let sql = "SELECT * FROM devices WHERE tenant_id = $1 AND branch_id = $2 ORDER BY code";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id)).await?;
        rows.iter().map(device_from).collect()
    }

    async fn revoke_device(&mut self, tenant_id: Uuid, device_id: Uuid, at: Timestamp) -> StoreResult<()> {
        let sql = "UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE tenant_id = $2 AND id = $3";
        self.exec(sqlx::query(sql).bind(at).bind(tenant_id).bind(device_id)).await?;
        Ok(())
    }

    async fn insert_stock_item(&mut self, i: &StockItemRecord) -> StoreResult<()> {
        let sql = "INSERT INTO stock_items (id, tenant_id, name, unit) VALUES ($1, $2, $3, $4)";
        self.exec(sqlx::query(sql).bind(i.id).bind(i.tenant_id).bind(&i.name).bind(&i.unit)).await?;
        Ok(())
    }

    async fn stock_item(&mut self, tenant_id: Uuid, stock_item_id: Uuid) -> StoreResult<Option<StockItemRecord>> {
        let sql = "SELECT * FROM stock_items WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(stock_item_id)).await?;
        row.as_ref().map(stock_item_from).transpose()
    }

    async fn list_stock_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StockItemRecord>> {
        let sql = "SELECT * FROM stock_items WHERE tenant_id = $1 ORDER BY name, id";
        let rows = self.all(sqlx::query(sql).bind(tenant_id)).await?;
        rows.iter().map(stock_item_from).collect()
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
        rows.iter().map(|r| Ok((stock_item_from(r)?, get(r, "on_hand")?))).collect()
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
        row.as_ref().map(menu_item_from).transpose()
    }

    async fn list_menu_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<MenuItemRecord>> {
        let sql = "SELECT * FROM menu_items WHERE tenant_id = $1 AND NOT deleted ORDER BY category, name, id";
        let rows = self.all(sqlx::query(sql).bind(tenant_id)).await?;
        rows.iter().map(menu_item_from).collect()
    }

    async fn ops_by_ids(&mut self, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<OpRecord>> {
        // One full-key index probe per id: a `LATERAL … LIMIT 1` cannot be flattened into a
        // join, so the plan is a nested loop over the ids whatever the statistics say.
        // `client_op_id = ANY($2)` or a plain join were planned, before the first ANALYZE,
        // as a scan of the tenant's whole log (the planner takes `tenant_id` for
        // selective), which cost ~500 ms per push once the log had grown (seen in the push
        // benchmark). Planned per call (`persistent(false)`), so no plan made while the
        // table was small stays cached.
        ops_by_ids(&mut *self.tx, tenant_id, ids).await
    }

    async fn insert_ops(&mut self, ops: &[OpRecord]) -> StoreResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let sql = "INSERT INTO ops (tenant_id, client_op_id, branch_id, device_id, actor_id, op_type, payload_hash, \
                   device_seq, lane, status, code, message, result, occurred_at, recorded_at, field, audit_module, \
                   audit_action, audit_details) \
                   SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], \
                   $7::text[], $8::int8[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], \
                   $14::timestamptz[], $15::timestamptz[], $16::text[], $17::text[], $18::text[], $19::text[])";
        let q = bind_op_arrays(sqlx::query(sql), ops)?;
        self.exec(q).await?;
        Ok(())
    }

    async fn set_op_audit_details(&mut self, tenant_id: Uuid, details: &[(Uuid, &JsonText)]) -> StoreResult<()> {
        if details.is_empty() {
            return Ok(());
        }
        let sql = "UPDATE ops SET audit_details = d.details FROM UNNEST($2::uuid[], $3::text[]) AS d(id, details) \
                   WHERE ops.tenant_id = $1 AND ops.client_op_id = d.id";
        let ids: Vec<Uuid> = details.iter().map(|d| d.0).collect();
        let texts: Vec<&str> = details.iter().map(|d| d.1.as_str()).collect();
        let n = self.exec(sqlx::query(sql).bind(tenant_id).bind(ids).bind(texts)).await?;
        if n != details.len() as u64 {
            return Err(StoreError::Internal(format!("set the audit details of {n} ops, not {}", details.len())));
        }
        Ok(())
    }

    async fn rejected_ops(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<OpRecord>> {
        let sql = "SELECT * FROM ops WHERE tenant_id = $1 AND branch_id = $2 AND status = 'REJECTED' \
                   ORDER BY recorded_at DESC, client_op_id DESC LIMIT $3";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(limit)).await?;
        rows.iter().map(op_from).collect()
    }

    async fn lock_device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>> {
        // NO KEY UPDATE is the lock an UPDATE of the row takes: it excludes every other
        // locker of the row (another push of this device, a revocation) until commit, but
        // not foreign-key checks of rows referring to the device.
        let sql = "SELECT * FROM devices WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(device_id)).await?;
        row.as_ref().map(device_from).transpose()
    }

    async fn note_device_seqs(&mut self, device_id: Uuid, seqs: &[i64], at: Timestamp) -> StoreResult<()> {
        let Some(max) = seqs.iter().copied().max() else {
            return Ok(());
        };
        let u = self.seq_range_update(device_id, seqs).await?;
        let sql = "WITH d AS (DELETE FROM device_seq_ranges WHERE device_id = $1 AND from_seq = ANY($2::int8[])) \
                   INSERT INTO device_seq_ranges (device_id, from_seq, to_seq) \
                   SELECT $1, f, t FROM UNNEST($3::int8[], $4::int8[]) AS u(f, t) \
                   ON CONFLICT (device_id, from_seq) DO UPDATE SET to_seq = EXCLUDED.to_seq";
        let (froms, tos): (Vec<i64>, Vec<i64>) = u.upserts.iter().copied().unzip();
        self.exec(sqlx::query(sql).bind(device_id).bind(&u.delete_froms).bind(froms).bind(tos)).await?;
        let update = "UPDATE devices SET last_seen_at = $1, last_device_seq = GREATEST(last_device_seq, $2) WHERE id = $3";
        self.exec(sqlx::query(update).bind(at).bind(max).bind(device_id)).await?;
        Ok(())
    }

    async fn device_sync_info(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceSyncInfo>> {
        let sql = "SELECT * FROM devices WHERE tenant_id = $1 AND branch_id = $2 ORDER BY code";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let device = device_from(row)?;
            let gaps = self.gaps(device.id).await?;
            out.push(DeviceSyncInfo {
                last_seen_at: get(row, "last_seen_at")?,
                last_device_seq: get(row, "last_device_seq")?,
                gaps,
                device,
            });
        }
        Ok(out)
    }

    async fn cash_session(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<CashSessionRecord>> {
        let sql = "SELECT * FROM cash_sessions WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(id)).await?;
        row.as_ref().map(cash_session_from).transpose()
    }

    async fn open_cash_session_of_device(&mut self, device_id: Uuid) -> StoreResult<Option<CashSessionRecord>> {
        let sql = "SELECT * FROM cash_sessions WHERE device_id = $1 AND open";
        let row = self.one(sqlx::query(sql).bind(device_id)).await?;
        row.as_ref().map(cash_session_from).transpose()
    }

    async fn insert_cash_session(&mut self, c: &CashSessionRecord) -> StoreResult<()> {
        let sql = "INSERT INTO cash_sessions (id, tenant_id, branch_id, device_id, opened_by, open, opening_float_cents, \
                   cash_sales_cents, paid_in_cents, paid_out_cents, adjustments_cents, counted_cash_cents, opened_at, \
                   closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
        let q = sqlx::query(sql).bind(c.id).bind(c.tenant_id).bind(c.branch_id).bind(c.device_id).bind(c.opened_by);
        let q = q.bind(c.open).bind(c.opening_float_cents).bind(c.cash_sales_cents).bind(c.paid_in_cents);
        let q = q.bind(c.paid_out_cents).bind(c.adjustments_cents).bind(c.counted_cash_cents);
        self.exec(q.bind(c.opened_at).bind(c.closed_at)).await?;
        Ok(())
    }

    async fn update_cash_session(&mut self, c: &CashSessionRecord) -> StoreResult<()> {
        let sql = "UPDATE cash_sessions SET open = $1, cash_sales_cents = $2, paid_in_cents = $3, paid_out_cents = $4, \
                   adjustments_cents = $5, counted_cash_cents = $6, closed_at = $7 WHERE id = $8";
        let q = sqlx::query(sql).bind(c.open).bind(c.cash_sales_cents).bind(c.paid_in_cents).bind(c.paid_out_cents);
        self.exec(q.bind(c.adjustments_cents).bind(c.counted_cash_cents).bind(c.closed_at).bind(c.id)).await?;
        Ok(())
    }

    async fn cash_movement_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        Ok(self.one(sqlx::query("SELECT 1 FROM cash_movements WHERE id = $1").bind(id)).await?.is_some())
    }

    async fn cash_session_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        Ok(self.one(sqlx::query("SELECT 1 FROM cash_sessions WHERE id = $1").bind(id)).await?.is_some())
    }

    async fn shift_exists(&mut self, id: Uuid) -> StoreResult<bool> {
        Ok(self.one(sqlx::query("SELECT 1 FROM shifts WHERE id = $1").bind(id)).await?.is_some())
    }

    async fn insert_cash_movement(&mut self, m: &CashMovementRecord) -> StoreResult<()> {
        let sql = "INSERT INTO cash_movements (id, cash_session_id, kind, amount_cents, reason, actor_id, occurred_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let q = sqlx::query(sql).bind(m.id).bind(m.cash_session_id).bind(&m.kind).bind(m.amount_cents);
        self.exec(q.bind(&m.reason).bind(m.actor_id).bind(m.occurred_at)).await?;
        Ok(())
    }

    async fn existing_sale_ids(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A probe per id, planned per call, for the reasons given in `ops_by_ids`.
        let sql = "SELECT s.id FROM UNNEST($1::uuid[]) AS k(id), LATERAL (SELECT id FROM sales WHERE id = k.id LIMIT 1) AS s";
        let rows = self.all(sqlx::query(sql).bind(ids).persistent(false)).await?;
        rows.iter().map(|r| get(r, "id")).collect()
    }

    async fn insert_sales(&mut self, sales: &[SaleRecord]) -> StoreResult<()> {
        if sales.is_empty() {
            return Ok(());
        }
        let sql = "INSERT INTO sales (id, tenant_id, branch_id, device_id, cash_session_id, client_op_id, receipt_no, \
                   actor_id, total_cents, price_drift_cents, details, occurred_at, applied_at) \
                   SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], \
                   $7::text[], $8::uuid[], $9::int8[], $10::int8[], $11::text[], $12::timestamptz[], $13::timestamptz[])";
        let details: Vec<&str> = sales.iter().map(|s| s.details.as_str()).collect();
        let q = sqlx::query(sql)
            .bind(sales.iter().map(|s| s.id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.tenant_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.branch_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.device_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.cash_session_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.client_op_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.receipt_no.as_str()).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.actor_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.total_cents).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.price_drift_cents).collect::<Vec<_>>())
            .bind(details)
            .bind(sales.iter().map(|s| s.occurred_at).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.applied_at).collect::<Vec<_>>());
        self.exec(q).await?;
        Ok(())
    }

    async fn list_sales(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<SaleRecord>> {
        let sql = "SELECT * FROM sales WHERE tenant_id = $1 AND branch_id = $2 ORDER BY applied_at DESC, id LIMIT $3";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(limit)).await?;
        rows.iter().map(sale_from).collect()
    }

    async fn shift(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<ShiftRecord>> {
        let sql = "SELECT * FROM shifts WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(id)).await?;
        row.as_ref().map(shift_from).transpose()
    }

    async fn open_shift_of_staff(&mut self, staff_id: Uuid) -> StoreResult<Option<ShiftRecord>> {
        let row = self.one(sqlx::query("SELECT * FROM shifts WHERE staff_id = $1 AND open").bind(staff_id)).await?;
        row.as_ref().map(shift_from).transpose()
    }

    async fn insert_shift(&mut self, s: &ShiftRecord) -> StoreResult<()> {
        let sql = "INSERT INTO shifts (id, tenant_id, branch_id, staff_id, open, started_at, ended_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let q = sqlx::query(sql).bind(s.id).bind(s.tenant_id).bind(s.branch_id).bind(s.staff_id);
        self.exec(q.bind(s.open).bind(s.started_at).bind(s.ended_at)).await?;
        Ok(())
    }

    async fn update_shift(&mut self, s: &ShiftRecord) -> StoreResult<()> {
        let sql = "UPDATE shifts SET open = $1, ended_at = $2 WHERE id = $3";
        self.exec(sqlx::query(sql).bind(s.open).bind(s.ended_at).bind(s.id)).await?;
        Ok(())
    }

    async fn list_shifts(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<ShiftRecord>> {
        let sql = "SELECT * FROM shifts WHERE tenant_id = $1 AND branch_id = $2 ORDER BY started_at DESC, id LIMIT $3";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(limit)).await?;
        rows.iter().map(shift_from).collect()
    }

    async fn insert_audits(&mut self, events: &[AuditRecord]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        // WITH ORDINALITY … ORDER BY: `seq` (an identity) follows the order of `events`.
        let sql = "INSERT INTO audit_events (tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, \
                   lane, occurred_at, applied_at, details) \
                   SELECT tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, occurred_at, \
                   applied_at, details FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], \
                   $6::uuid[], $7::uuid[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[]) \
                   WITH ORDINALITY AS e(tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, \
                   occurred_at, applied_at, details, n) ORDER BY n";
        let details: Vec<&str> = events.iter().map(|e| e.details.as_str()).collect();
        let q = sqlx::query(sql)
            .bind(events.iter().map(|e| e.tenant_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.branch_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.module.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.actor_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.device_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.client_op_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.lane.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.applied_at).collect::<Vec<_>>())
            .bind(details);
        self.exec(q).await?;
        Ok(())
    }

    async fn list_audit(&mut self, tenant_id: Uuid, branch_id: Uuid, since: Timestamp, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        // Events stored with applied ops, and the others; by time, then key. Within one
        // branch, ops are applied under its row lock, one request after another, so their
        // `recorded_at` follows the order they were applied in.
        let sql = "SELECT * FROM ( \
                     SELECT tenant_id, branch_id, audit_module AS module, audit_action AS action, actor_id, device_id, \
                       client_op_id, lane, occurred_at, recorded_at AS applied_at, audit_details AS details, 0 AS seq \
                     FROM ops WHERE tenant_id = $1 AND branch_id = $2 AND audit_module IS NOT NULL AND recorded_at >= $3 \
                     UNION ALL \
                     SELECT tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, occurred_at, \
                       applied_at, details, seq FROM audit_events \
                     WHERE tenant_id = $1 AND branch_id = $2 AND applied_at >= $3) AS e \
                   ORDER BY applied_at, seq, client_op_id LIMIT $4";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(since).bind(limit)).await?;
        rows.iter().map(audit_from).collect()
    }

    async fn stream_position(&mut self, branch_id: Uuid) -> StoreResult<StreamPosition> {
        let sql = "SELECT head, purged_seq FROM branches WHERE id = $1";
        let row = self
            .one(sqlx::query(sql).bind(branch_id))
            .await?
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
        let sql = "SELECT seq, scope, entity, entity_id, deleted, data FROM changes \
                   WHERE branch_id = $1 AND seq > $2 AND scope = ANY($3) AND (NOT deleted OR $4) \
                   ORDER BY seq LIMIT $5";
        let q = sqlx::query(sql).bind(branch_id).bind(after_seq).bind(scopes).bind(with_tombstones).bind(limit);
        let rows = self.all(q).await?;
        rows.iter().map(change_from).collect()
    }

    async fn purge_tombstones(&mut self, older_than: Timestamp) -> StoreResult<u64> {
        self.lock_branches_with_tombstones(older_than).await?;
        let sql = "WITH gone AS (DELETE FROM changes WHERE deleted AND changed_at < $1 RETURNING branch_id, seq), \
                   top AS (SELECT branch_id, MAX(seq) AS seq FROM gone GROUP BY branch_id), \
                   raised AS (UPDATE branches b SET purged_seq = GREATEST(b.purged_seq, top.seq) \
                              FROM top WHERE b.id = top.branch_id) \
                   SELECT COUNT(*) FROM gone";
        let deleted: i64 = sqlx::query_scalar(sql).bind(older_than).fetch_one(&mut *self.tx).await.map_err(store_error)?;
        u64::try_from(deleted).map_err(|_| StoreError::Internal(format!("purged {deleted} tombstones?")))
    }

    async fn server_secret(&mut self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        let insert = "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
        self.exec(sqlx::query(insert).bind(name).bind(candidate)).await?;
        // READ COMMITTED: this statement sees the winner even if another process inserted
        // it concurrently (our INSERT waited for that process's commit).
        let select = "SELECT value FROM server_secrets WHERE name = $1";
        sqlx::query_scalar(select).bind(name).fetch_one(&mut *self.tx).await.map_err(store_error)
    }

    async fn note_admin_change(&mut self, branch_id: Uuid) -> StoreResult<()> {
        let sql = "UPDATE branches SET admin_version = admin_version + 1 WHERE id = $1";
        self.exec(sqlx::query(sql).bind(branch_id)).await?;
        Ok(())
    }

    async fn record_changes(&mut self, branch_id: Uuid, changes: &[ChangeRecord]) -> StoreResult<i64> {
        let n = count(changes.len())?;
        let head = self.move_head(branch_id, n).await?;
        let placed = place(branch_id, changes, head - n + 1);
        let now = chrono::Utc::now();
        self.insert_changes(branch_id, &placed, now).await?;
        self.moved.retain(|m| m.branch_id != branch_id);
        self.moved.push(BranchHead { branch_id, head });
        Ok(head)
    }

    async fn menu_items_by_ids(&mut self, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<MenuItemRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = "SELECT * FROM menu_items WHERE tenant_id = $1 AND id = ANY($2)";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(ids)).await?;
        rows.iter().map(menu_item_from).collect()
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
            let item = stock_item_from(row)?;
            by_id.insert(item.id, (item, get(row, "on_hand")?));
        }
        ids.iter()
            .map(|id| by_id.remove(id).ok_or_else(|| StoreError::Internal(format!("recipe names unknown stock item {id}"))))
            .collect()
    }

    async fn lock_branch_adding_on_hand(
        &mut self,
        tenant_id: Uuid,
        branch_id: Uuid,
        deltas: &[(Uuid, i64)],
    ) -> StoreResult<LockedBranch> {
        let asked_at = std::time::Instant::now();
        // One statement. The upsert's `EXISTS` runs once, before it reads its first row,
        // and waits for the branch row's lock: the lock order stays the branch, then the
        // stock rows in ascending id order (the upsert's `ORDER BY`). No branch, no upsert.
        // Each upserted row notes when it was written, so the first one says how long the
        // statement waited for the lock (`waited_s`, from when the database received it;
        // with no deltas there is none, and the whole round trip counts as the wait).
        let sql = "WITH b AS (SELECT * FROM branches WHERE tenant_id = $4 AND id = $1 FOR NO KEY UPDATE), \
                   up AS (INSERT INTO inventory (branch_id, stock_item_id, on_hand) \
                     SELECT $1, d.id, d.delta FROM UNNEST($2::uuid[], $3::int8[]) AS d(id, delta) \
                     WHERE EXISTS (SELECT 1 FROM b) ORDER BY d.id \
                     ON CONFLICT (branch_id, stock_item_id) DO UPDATE SET on_hand = inventory.on_hand + EXCLUDED.on_hand \
                     RETURNING stock_item_id, on_hand, clock_timestamp() AS at) \
                   SELECT b.*, s.id AS item_id, s.tenant_id AS item_tenant_id, s.name AS item_name, s.unit AS item_unit, \
                          up.on_hand AS item_on_hand, \
                          (SELECT EXTRACT(EPOCH FROM min(at) - statement_timestamp()) FROM up)::float8 AS waited_s \
                   FROM b LEFT JOIN (up JOIN stock_items s ON s.id = up.stock_item_id AND s.tenant_id = $4) ON true";
        let ids: Vec<Uuid> = deltas.iter().map(|d| d.0).collect();
        let amounts: Vec<i64> = deltas.iter().map(|d| d.1).collect();
        let rows = self.all(sqlx::query(sql).bind(branch_id).bind(&ids).bind(amounts).bind(tenant_id)).await?;
        let Some(first) = rows.first() else {
            return Ok(LockedBranch { branch: None, levels: Vec::new(), waited: asked_at.elapsed() });
        };
        let branch = branch_from(first)?;
        let waited_s: Option<f64> = get(first, "waited_s")?;
        let waited = waited_s.map_or_else(|| asked_at.elapsed(), |s| std::time::Duration::from_secs_f64(s.max(0.0)));
        let mut by_id: HashMap<Uuid, (StockItemRecord, i64)> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let Some(id) = get::<Option<Uuid>>(row, "item_id")? else { continue };
            let item = StockItemRecord { id, tenant_id: get(row, "item_tenant_id")?, name: get(row, "item_name")?, unit: get(row, "item_unit")? };
            by_id.insert(id, (item, get(row, "item_on_hand")?));
        }
        let levels = ids
            .iter()
            .map(|id| by_id.remove(id).ok_or_else(|| StoreError::Internal(format!("recipe names unknown stock item {id}"))))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(LockedBranch { branch: Some(branch), levels, waited })
    }

    async fn write_batch(&mut self, b: &WriteBatch<'_>) -> StoreResult<Option<i64>> {
        // Everything in one statement (one round trip under the branch lock). Each part is
        // the statement of its own method (changes are split into upserts and inserts of
        // new entities): the head moves by the number of changes and the
        // changes are placed below it (`off` counts from 1), the device's seqs and
        // last-seen are noted, and the audit events keep their order. Foreign keys are
        // checked at the end of the statement, when every part has run.
        let sql = "WITH h AS (UPDATE branches SET head = head + $3 WHERE id = $1 AND $3 > 0 \
                     RETURNING head, pg_notify($4, id::text || ':' || head::text)), \
                   r AS (SELECT * FROM UNNEST($5::text[], $6::text[], $7::uuid[], $8::int8[], $9::bool[], \
                     $10::text[], $56::bool[]) AS r(scope, entity, entity_id, off, deleted, data, new_entity)), \
                   c AS (INSERT INTO changes (branch_id, scope, entity, entity_id, seq, deleted, data, changed_at) \
                     SELECT $1, r.scope, r.entity, r.entity_id, h.head - $3 + r.off, r.deleted, r.data, $2 \
                     FROM h, r WHERE NOT r.new_entity \
                     ON CONFLICT (branch_id, scope, entity_id) DO UPDATE SET seq = EXCLUDED.seq, \
                     deleted = EXCLUDED.deleted, data = EXCLUDED.data, entity = EXCLUDED.entity, \
                     changed_at = EXCLUDED.changed_at), \
                   cn AS (INSERT INTO changes (branch_id, scope, entity, entity_id, seq, deleted, data, changed_at) \
                     SELECT $1, r.scope, r.entity, r.entity_id, h.head - $3 + r.off, r.deleted, r.data, $2 \
                     FROM h, r WHERE r.new_entity), \
                   s AS (INSERT INTO sales (id, tenant_id, branch_id, device_id, cash_session_id, client_op_id, \
                     receipt_no, actor_id, total_cents, price_drift_cents, details, occurred_at, applied_at) \
                     SELECT * FROM UNNEST($11::uuid[], $12::uuid[], $13::uuid[], $14::uuid[], $15::uuid[], \
                     $16::uuid[], $17::text[], $18::uuid[], $19::int8[], $20::int8[], $21::text[], \
                     $22::timestamptz[], $23::timestamptz[])), \
                   a AS (INSERT INTO audit_events (tenant_id, branch_id, module, action, actor_id, device_id, \
                     client_op_id, lane, occurred_at, applied_at, details) \
                     SELECT tenant_id, branch_id, module, action, actor_id, device_id, client_op_id, lane, \
                     occurred_at, applied_at, details FROM UNNEST($24::uuid[], $25::uuid[], $26::text[], \
                     $27::text[], $28::uuid[], $29::uuid[], $30::uuid[], $31::text[], $32::timestamptz[], \
                     $33::timestamptz[], $34::text[]) WITH ORDINALITY AS e(tenant_id, branch_id, module, action, \
                     actor_id, device_id, client_op_id, lane, occurred_at, applied_at, details, n) ORDER BY n), \
                   dd AS (DELETE FROM device_seq_ranges WHERE device_id = $35 AND from_seq = ANY($57::int8[])), \
                   du AS (INSERT INTO device_seq_ranges (device_id, from_seq, to_seq) \
                     SELECT $35, f, t FROM UNNEST($58::int8[], $59::int8[]) AS u(f, t) WHERE $35::uuid IS NOT NULL \
                     ON CONFLICT (device_id, from_seq) DO UPDATE SET to_seq = EXCLUDED.to_seq), \
                   dv AS (UPDATE devices SET last_seen_at = $2, last_device_seq = GREATEST(last_device_seq, m.top) \
                     FROM (SELECT MAX(q) AS top FROM UNNEST($36::int8[]) AS q) AS m \
                     WHERE id = $35 AND m.top IS NOT NULL), \
                   o AS (INSERT INTO ops (tenant_id, client_op_id, branch_id, device_id, actor_id, op_type, \
                     payload_hash, device_seq, lane, status, code, message, result, occurred_at, recorded_at, field, \
                     audit_module, audit_action, audit_details) \
                     SELECT * FROM UNNEST($37::uuid[], $38::uuid[], $39::uuid[], $40::uuid[], $41::uuid[], \
                     $42::text[], $43::text[], $44::int8[], $45::text[], $46::text[], $47::text[], $48::text[], \
                     $49::text[], $50::timestamptz[], $51::timestamptz[], $52::text[], $53::text[], $54::text[], \
                     $55::text[])) \
                   SELECT head FROM h";
        let n = count(b.changes.len())?;
        // Placed as if the head were at 0: `off` is the position relative to the old head.
        let placed = place(b.branch_id, b.changes, 1);
        let q = sqlx::query(sql).bind(b.branch_id).bind(b.at).bind(n).bind(NUDGE_CHANNEL);
        let q = q
            .bind(placed.iter().map(|r| r.change.scope).collect::<Vec<_>>())
            .bind(placed.iter().map(|r| r.change.entity).collect::<Vec<_>>())
            .bind(placed.iter().map(|r| r.change.entity_id).collect::<Vec<_>>())
            .bind(placed.iter().map(|r| r.seq).collect::<Vec<_>>())
            .bind(placed.iter().map(|r| r.change.deleted).collect::<Vec<_>>())
            .bind(placed.iter().map(|r| r.data).collect::<Vec<_>>());
        let sales = b.sales;
        let details: Vec<&str> = sales.iter().map(|s| s.details.as_str()).collect();
        let q = q
            .bind(sales.iter().map(|s| s.id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.tenant_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.branch_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.device_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.cash_session_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.client_op_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.receipt_no.as_str()).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.actor_id).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.total_cents).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.price_drift_cents).collect::<Vec<_>>())
            .bind(details)
            .bind(sales.iter().map(|s| s.occurred_at).collect::<Vec<_>>())
            .bind(sales.iter().map(|s| s.applied_at).collect::<Vec<_>>());
        let events = b.audits;
        let details: Vec<&str> = events.iter().map(|e| e.details.as_str()).collect();
        let q = q
            .bind(events.iter().map(|e| e.tenant_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.branch_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.module.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.actor_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.device_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.client_op_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.lane.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.applied_at).collect::<Vec<_>>())
            .bind(details);
        let seqs: &[i64] = if b.device_id.is_some() { b.device_seqs } else { &[] };
        // The seq ranges are read first (one small query; the device row is locked), and
        // their update is part of the statement.
        let ranges = match b.device_id {
            Some(device_id) => self.seq_range_update(device_id, seqs).await?,
            None => seq_ranges::SeqRangeUpdate::default(),
        };
        let q = q.bind(b.device_id).bind(seqs);
        let q = bind_op_arrays(q, b.ops)?;
        // Rows of entities new to the stream (new sales) are plain inserts: an upsert's
        // conflict check costs about half as much again per row.
        let q = q.bind(placed.iter().map(|r| r.change.new_entity).collect::<Vec<_>>());
        let (froms, tos): (Vec<i64>, Vec<i64>) = ranges.upserts.iter().copied().unzip();
        let q = q.bind(&ranges.delete_froms).bind(froms).bind(tos);
        let row = self.one(q).await?;
        let head: Option<i64> = row.as_ref().map(|r| get(r, "head")).transpose()?;
        if n > 0 && head.is_none() {
            return Err(StoreError::Internal(format!("branch {} has no stream", b.branch_id)));
        }
        if let Some(head) = head {
            self.moved.retain(|m| m.branch_id != b.branch_id);
            self.moved.push(BranchHead { branch_id: b.branch_id, head });
        }
        Ok(head)
    }

    async fn list_cash_sessions(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<CashSessionRecord>> {
        // `opened_at > '-infinity'` is true of every row; it is the predicate of the partial
        // index `cash_sessions_branch`, so that only this listing uses it (0007).
        let sql = "SELECT * FROM cash_sessions WHERE tenant_id = $1 AND branch_id = $2 \
                   AND opened_at > '-infinity' ORDER BY opened_at DESC, id DESC LIMIT $3";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(limit)).await?;
        rows.iter().map(cash_session_from).collect()
    }
}

/// The op records with these keys, on any executor (a transaction, or the pool for a
/// one-statement read).
pub(crate) async fn ops_by_ids<'e, E: sqlx::PgExecutor<'e>>(executor: E, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<Vec<OpRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = "SELECT o.* FROM UNNEST($2::uuid[]) AS k(id), \
               LATERAL (SELECT * FROM ops WHERE tenant_id = $1 AND client_op_id = k.id LIMIT 1) AS o";
    let rows = sqlx::query(sql).bind(tenant_id).bind(ids).persistent(false).fetch_all(executor).await.map_err(store_error)?;
    rows.iter().map(op_from).collect()
}

/// The outcome columns of an op row.
struct OpColumns<'a> {
    status: &'static str,
    code: Option<String>,
    message: Option<&'a str>,
    result: Option<&'a str>,
    field: Option<&'a str>,
}

/// Binds the 19 op-log columns of `ops` as arrays, in the column order of `insert_ops`
/// (`tenant_id … field, audit_module, audit_action, audit_details`), for an `UNNEST` insert.
fn bind_op_arrays<'q>(
    q: sqlx::query::Query<'q, Postgres, PgArguments>,
    ops: &'q [OpRecord],
) -> StoreResult<sqlx::query::Query<'q, Postgres, PgArguments>> {
    let n = ops.len();
    let (mut status, mut code, mut message, mut result, mut field) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for op in ops {
        let c = op_columns(op)?;
        status.push(c.status);
        code.push(c.code);
        message.push(c.message);
        result.push(c.result);
        field.push(c.field);
    }
    let audit_details: Vec<Option<&str>> = ops.iter().map(|o| o.audit.as_ref().map(|a| a.details.as_str())).collect();
    Ok(q.bind(ops.iter().map(|o| o.tenant_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.client_op_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.branch_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.device_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.actor_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.op_type.as_str()).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.payload_hash.as_str()).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.device_seq).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.lane.as_str()).collect::<Vec<_>>())
        .bind(status)
        .bind(code)
        .bind(message)
        .bind(result)
        .bind(ops.iter().map(|o| o.occurred_at).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.recorded_at).collect::<Vec<_>>())
        .bind(field)
        .bind(ops.iter().map(|o| o.audit.as_ref().map(|a| a.module.as_str())).collect::<Vec<_>>())
        .bind(ops.iter().map(|o| o.audit.as_ref().map(|a| a.action.as_str())).collect::<Vec<_>>())
        .bind(audit_details))
}

fn op_columns(op: &OpRecord) -> StoreResult<OpColumns<'_>> {
    Ok(match &op.outcome {
        OpOutcome::Applied(result) => {
            OpColumns { status: "APPLIED", code: None, message: None, result: Some(result.as_str()), field: None }
        }
        OpOutcome::Rejected { code, message, field } => OpColumns {
            status: "REJECTED",
            code: Some(code.to_string()),
            message: Some(message),
            result: None,
            field: field.as_deref(),
        },
    })
}

fn op_from(row: &PgRow) -> StoreResult<OpRecord> {
    let status: &str = get(row, "status")?;
    let outcome = match status {
        "APPLIED" => OpOutcome::Applied(from_json("ops.result", get::<Option<&str>>(row, "result")?.unwrap_or_default())?),
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
    Ok(OpRecord {
        tenant_id: get(row, "tenant_id")?,
        client_op_id: get(row, "client_op_id")?,
        branch_id: get(row, "branch_id")?,
        device_id: get(row, "device_id")?,
        actor_id: get(row, "actor_id")?,
        op_type: get(row, "op_type")?,
        payload_hash: get(row, "payload_hash")?,
        device_seq: get(row, "device_seq")?,
        lane: lane_from(get(row, "lane")?),
        outcome,
        occurred_at: get(row, "occurred_at")?,
        recorded_at: get(row, "recorded_at")?,
        audit: None,
    })
}

fn cash_session_from(row: &PgRow) -> StoreResult<CashSessionRecord> {
    Ok(CashSessionRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        branch_id: get(row, "branch_id")?,
        device_id: get(row, "device_id")?,
        opened_by: get(row, "opened_by")?,
        open: get(row, "open")?,
        opening_float_cents: get(row, "opening_float_cents")?,
        cash_sales_cents: get(row, "cash_sales_cents")?,
        paid_in_cents: get(row, "paid_in_cents")?,
        paid_out_cents: get(row, "paid_out_cents")?,
        adjustments_cents: get(row, "adjustments_cents")?,
        counted_cash_cents: get(row, "counted_cash_cents")?,
        opened_at: get(row, "opened_at")?,
        closed_at: get(row, "closed_at")?,
    })
}

fn sale_from(row: &PgRow) -> StoreResult<SaleRecord> {
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
        details: from_json("sales.details", get(row, "details")?)?,
        occurred_at: get(row, "occurred_at")?,
        applied_at: get(row, "applied_at")?,
    })
}

fn shift_from(row: &PgRow) -> StoreResult<ShiftRecord> {
    Ok(ShiftRecord {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        branch_id: get(row, "branch_id")?,
        staff_id: get(row, "staff_id")?,
        open: get(row, "open")?,
        started_at: get(row, "started_at")?,
        ended_at: get(row, "ended_at")?,
    })
}

fn audit_from(row: &PgRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        tenant_id: get(row, "tenant_id")?,
        branch_id: get(row, "branch_id")?,
        module: get(row, "module")?,
        action: get(row, "action")?,
        actor_id: get(row, "actor_id")?,
        device_id: get(row, "device_id")?,
        client_op_id: get(row, "client_op_id")?,
        lane: lane_from(get(row, "lane")?),
        occurred_at: get(row, "occurred_at")?,
        applied_at: get(row, "applied_at")?,
        details: from_json("audit_events.details", get(row, "details")?)?,
    })
}
