//! The storage interface of the Modula server.
//!
//! The server's domain code is written once against [`Store`] and [`Tx`]; each
//! backend crate (`modula-store-sqlite`, later `modula-store-postgres`) implements
//! them with its own SQL and migrations. The interface is deliberately row-level:
//! business decisions are made by the caller (with `modula-rules`), the backend only
//! reads and writes inside one transaction.
//!
//! Invariants every backend upholds:
//! - A [`Tx`] from [`Store::begin_write`] is serializable with respect to every other
//!   write transaction touching the same rows (SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
//!   row locks), so read-decide-write sequences inside it are safe across processes.
//! - Nothing a `Tx` wrote is visible to others before [`Tx::commit`] returns `Ok`, and
//!   once it has returned `Ok` the write is durable (fsynced).
//! - Dropping a `Tx` without commit rolls it back.
//! - Every lookup is scoped by tenant: a row of another tenant is never returned.

mod records;
pub mod seq_ranges;

pub use records::*;

use async_trait::async_trait;
use uuid::Uuid;

/// What can go wrong in storage. Never a business outcome: a rejection of an op is
/// data, not a `StoreError`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated; the string names the constraint.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database is unreachable, busy or timed out: transient, retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded, or a query failed for a reason that is a bug.
    #[error("storage error: {0}")]
    Internal(String),
}

/// Short for `Result<T, StoreError>`.
pub type StoreResult<T> = Result<T, StoreError>;

/// A database holding any number of tenants.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a write transaction (serialized against conflicting writers).
    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>>;
    /// Starts a read-only transaction (a consistent snapshot; writes through it fail).
    async fn begin_read(&self) -> StoreResult<Box<dyn Tx>>;
    /// Checks the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// The backend's name, for logs and metrics (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;
    /// Nudges: every committed move of a branch stream, from any writer of this database
    /// the backend can hear. Lagging receivers lose old nudges, never block writers.
    fn nudges(&self) -> tokio::sync::broadcast::Receiver<BranchHead>;
    /// [`Tx::ops_by_ids`] outside any transaction: one statement, so one snapshot (a
    /// backend may answer it without `BEGIN` and `COMMIT` round trips). Op records never
    /// change once written, so a snapshot older than a later transaction's is still true.
    async fn ops_by_ids(&self, tenant_id: Uuid, client_op_ids: &[Uuid]) -> StoreResult<Vec<OpRecord>> {
        let mut tx = self.begin_read().await?;
        tx.ops_by_ids(tenant_id, client_op_ids).await
    }
}

/// One database transaction. Every method is tenant-scoped where the data is.
#[async_trait]
pub trait Tx: Send {
    /// Makes every write of this transaction durable and visible.
    async fn commit(self: Box<Self>) -> StoreResult<()>;

    // ---- tenants and policy ----
    /// Inserts a tenant with its policy.
    async fn insert_tenant(&mut self, tenant: &TenantRecord) -> StoreResult<()>;
    /// The tenant, if it exists.
    async fn tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>>;
    /// The tenant, locked for the rest of the transaction against other writers that lock
    /// it (tenant-wide read-decide-write, e.g. "is there another owner?").
    async fn lock_tenant(&mut self, tenant_id: Uuid) -> StoreResult<Option<TenantRecord>>;
    /// Replaces the tenant-wide policy.
    async fn set_tenant_policy(&mut self, tenant_id: Uuid, policy: &modula_wire::Policy) -> StoreResult<()>;
    /// Increments and returns the tenant's device counter (for device codes).
    async fn next_device_number(&mut self, tenant_id: Uuid) -> StoreResult<i64>;

    // ---- tokens ----
    /// Stores a token (by hash only).
    async fn insert_token(&mut self, token: &TokenRecord) -> StoreResult<()>;
    /// Looks a token up by its hash.
    async fn token(&mut self, token_hash: &str) -> StoreResult<Option<TokenRecord>>;

    // ---- staff ----
    /// Inserts a staff member with their branch assignment.
    async fn insert_staff(&mut self, staff: &StaffRecord) -> StoreResult<()>;
    /// One staff member of the tenant.
    async fn staff(&mut self, tenant_id: Uuid, staff_id: Uuid) -> StoreResult<Option<StaffRecord>>;
    /// Every staff member of the tenant, by name.
    async fn list_staff(&mut self, tenant_id: Uuid) -> StoreResult<Vec<StaffRecord>>;
    /// Replaces a staff member's mutable fields and branch assignment.
    async fn update_staff(&mut self, staff: &StaffRecord) -> StoreResult<()>;
    /// Records the outcome of a PIN check: the failure counter and lockout.
    async fn set_pin_lockout(&mut self, tenant_id: Uuid, staff_id: Uuid, failed_attempts: i64, locked_until: Option<Timestamp>) -> StoreResult<()>;

    // ---- branches ----
    /// Inserts a branch.
    async fn insert_branch(&mut self, branch: &BranchRecord) -> StoreResult<()>;
    /// One branch of the tenant.
    async fn branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>>;
    /// One branch of the tenant, locked for the rest of the transaction: ops of one branch
    /// then decide on its status, policy and stock one transaction at a time.
    async fn lock_branch(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Option<BranchRecord>>;
    /// Every branch of the tenant, by name.
    async fn list_branches(&mut self, tenant_id: Uuid) -> StoreResult<Vec<BranchRecord>>;
    /// Replaces a branch's status and policy override.
    async fn update_branch(&mut self, branch: &BranchRecord) -> StoreResult<()>;

    // ---- devices ----
    /// Inserts a device.
    async fn insert_device(&mut self, device: &DeviceRecord) -> StoreResult<()>;
    /// One device of the tenant.
    async fn device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>>;
    /// Every device of a branch.
    async fn list_devices(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceRecord>>;
    /// Marks a device revoked (idempotent).
    async fn revoke_device(&mut self, tenant_id: Uuid, device_id: Uuid, at: Timestamp) -> StoreResult<()>;

    // ---- stock ----
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

    // ---- menu ----
    /// Inserts or replaces a menu item (also un-deletes it). Menu item ids are unique
    /// across tenants: returns `false`, writing nothing, when the id belongs to another.
    async fn upsert_menu_item(&mut self, item: &MenuItemRecord) -> StoreResult<bool>;
    /// One menu item of the tenant, deleted or not.
    async fn menu_item(&mut self, tenant_id: Uuid, item_id: Uuid) -> StoreResult<Option<MenuItemRecord>>;
    /// Every live (not deleted) menu item of the tenant, by category and name.
    async fn list_menu_items(&mut self, tenant_id: Uuid) -> StoreResult<Vec<MenuItemRecord>>;

    // ---- op log (push and online lanes) ----
    /// The recorded ops among `client_op_ids` (any order; unknown ids are absent).
    async fn ops_by_ids(&mut self, tenant_id: Uuid, client_op_ids: &[Uuid]) -> StoreResult<Vec<OpRecord>>;
    /// Records ops' outcomes. Every key must be new.
    async fn insert_ops(&mut self, ops: &[OpRecord]) -> StoreResult<()>;
    /// Replaces the audit details of ops that this transaction inserted (a sale's
    /// negative-stock flags are final only under the stock rows' lock). Never call it
    /// for an op an earlier transaction recorded: a recorded op is immutable.
    async fn set_op_audit_details(&mut self, tenant_id: Uuid, details: &[(Uuid, &modula_wire::JsonText)]) -> StoreResult<()>;
    /// Rejected ops of a branch, newest first, at most `limit`.
    async fn rejected_ops(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<OpRecord>>;

    // ---- device sync bookkeeping ----
    /// Locks the device row for the rest of the transaction (serializes one device's
    /// pushes across processes) and returns it.
    async fn lock_device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>>;
    /// Notes that the device sent these `device_seq`s, last at `at`.
    async fn note_device_seqs(&mut self, device_id: Uuid, device_seqs: &[i64], at: Timestamp) -> StoreResult<()>;
    /// Sync bookkeeping of every device of a branch.
    async fn device_sync_info(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceSyncInfo>>;

    // ---- cash sessions ----
    /// One cash session of the tenant.
    async fn cash_session(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<CashSessionRecord>>;
    /// The device's open cash session, if any.
    async fn open_cash_session_of_device(&mut self, device_id: Uuid) -> StoreResult<Option<CashSessionRecord>>;
    /// Inserts a session.
    async fn insert_cash_session(&mut self, s: &CashSessionRecord) -> StoreResult<()>;
    /// Replaces a session's totals, status and close fields.
    async fn update_cash_session(&mut self, s: &CashSessionRecord) -> StoreResult<()>;
    /// Whether a movement id is taken.
    async fn cash_movement_exists(&mut self, id: Uuid) -> StoreResult<bool>;
    /// Whether a cash session id is taken, in any tenant (ids are globally unique).
    async fn cash_session_exists(&mut self, id: Uuid) -> StoreResult<bool>;
    /// Whether a shift id is taken, in any tenant (ids are globally unique).
    async fn shift_exists(&mut self, id: Uuid) -> StoreResult<bool>;
    /// Inserts a movement.
    async fn insert_cash_movement(&mut self, m: &CashMovementRecord) -> StoreResult<()>;
    /// Cash sessions of a branch, newest (by `opened_at`) first, at most `limit`.
    async fn list_cash_sessions(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<CashSessionRecord>>;

    // ---- sales ----
    /// The sale ids among `ids` that are taken.
    async fn existing_sale_ids(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>>;
    /// Inserts sales.
    async fn insert_sales(&mut self, sales: &[SaleRecord]) -> StoreResult<()>;
    /// Sales of a branch, newest first, at most `limit`.
    async fn list_sales(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<SaleRecord>>;

    // ---- shifts ----
    /// One shift of the tenant.
    async fn shift(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<ShiftRecord>>;
    /// The staff member's open shift, if any.
    async fn open_shift_of_staff(&mut self, staff_id: Uuid) -> StoreResult<Option<ShiftRecord>>;
    /// Inserts a shift.
    async fn insert_shift(&mut self, s: &ShiftRecord) -> StoreResult<()>;
    /// Replaces a shift's status and end.
    async fn update_shift(&mut self, s: &ShiftRecord) -> StoreResult<()>;
    /// Shifts of a branch, newest first, at most `limit`.
    async fn list_shifts(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<ShiftRecord>>;

    // ---- audit and change feed ----
    /// Appends audit events that belong to no op, in order (an op's event is stored with
    /// the op, [`OpRecord::audit`]).
    async fn insert_audits(&mut self, events: &[AuditRecord]) -> StoreResult<()>;
    /// Audit events of a branch applied at or after `since`, oldest first, at most `limit`:
    /// those stored with applied ops and those of [`Tx::insert_audits`].
    async fn list_audit(&mut self, tenant_id: Uuid, branch_id: Uuid, since: Timestamp, limit: i64) -> StoreResult<Vec<AuditRecord>>;
    /// Where a branch stream stands.
    async fn stream_position(&mut self, branch_id: Uuid) -> StoreResult<StreamPosition>;
    /// Changes of a branch stream after `after_seq` in the given scopes, in stream order,
    /// at most `limit`; tombstones only when `with_tombstones`.
    async fn pull_changes(
        &mut self,
        branch_id: Uuid,
        after_seq: i64,
        scopes: &[&str],
        with_tombstones: bool,
        limit: i64,
    ) -> StoreResult<Vec<StoredChange>>;
    /// Deletes tombstones changed before `older_than` and raises each affected branch's
    /// `purged_seq`; returns how many were deleted.
    async fn purge_tombstones(&mut self, older_than: Timestamp) -> StoreResult<u64>;
    /// The secret named `name`, storing `candidate` first if there is none yet (the first
    /// process to ask wins; every process then uses the same value).
    async fn server_secret(&mut self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>>;
    /// Moves the branch head past `changes` (all of one branch) and stores each at its
    /// own position, replacing the entity's older change. Returns the new head.
    async fn record_changes(&mut self, branch_id: Uuid, changes: &[ChangeRecord]) -> StoreResult<i64>;
    /// Moves the branch's [`BranchRecord::admin_version`]: the admin API wrote to its
    /// stream. (Takes the branch row lock, as the head move does.)
    async fn note_admin_change(&mut self, branch_id: Uuid) -> StoreResult<()>;

    // ---- batched reads and writes of the op lanes (a backend may send each as fewer statements) ----
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

    /// [`Tx::lock_branch`], then, when the branch is found, [`Tx::add_on_hand_many`]:
    /// what a push that decided before locking does first under the lock, in one round
    /// trip where the backend can. The lock order is the same: the branch row, then the
    /// stock rows in id order.
    async fn lock_branch_adding_on_hand(
        &mut self,
        tenant_id: Uuid,
        branch_id: Uuid,
        deltas: &[(Uuid, i64)],
    ) -> StoreResult<LockedBranch> {
        let asked_at = std::time::Instant::now();
        let branch = self.lock_branch(tenant_id, branch_id).await?;
        let waited = asked_at.elapsed();
        let levels = match branch {
            Some(_) => self.add_on_hand_many(tenant_id, branch_id, deltas).await?,
            None => Vec::new(),
        };
        Ok(LockedBranch { branch, levels, waited })
    }

    /// The last writes of a request of the op lanes, as one unit: the same effect as
    /// [`Tx::record_changes`] (when there are changes), [`Tx::insert_sales`],
    /// [`Tx::insert_audits`], [`Tx::note_device_seqs`] (when there is a device) and
    /// [`Tx::insert_ops`], in that order. Returns the new branch head, if it moved.
    async fn write_batch(&mut self, batch: &WriteBatch<'_>) -> StoreResult<Option<i64>> {
        let head = if batch.changes.is_empty() {
            None
        } else {
            Some(self.record_changes(batch.branch_id, batch.changes).await?)
        };
        self.insert_sales(batch.sales).await?;
        self.insert_audits(batch.audits).await?;
        if let Some(device_id) = batch.device_id {
            self.note_device_seqs(device_id, batch.device_seqs, batch.at).await?;
        }
        self.insert_ops(batch.ops).await?;
        Ok(head)
    }
}

/// What [`Tx::lock_branch_adding_on_hand`] did.
#[derive(Debug)]
pub struct LockedBranch {
    /// The branch, locked; `None`: not found (and no stock added).
    pub branch: Option<BranchRecord>,
    /// Each item of `deltas` with its new on-hand, in the order of `deltas`.
    pub levels: Vec<(StockItemRecord, i64)>,
    /// How long the branch lock took to get, from asking (measured by the store inside
    /// the statement where it is one statement; the stock upsert after it is not in it).
    pub waited: std::time::Duration,
}

/// The buffered rows of one request of the op lanes ([`Tx::write_batch`]).
pub struct WriteBatch<'a> {
    /// The branch whose stream the changes go to.
    pub branch_id: Uuid,
    /// Change-feed rows, in order (all of `branch_id`).
    pub changes: &'a [ChangeRecord],
    /// New sales.
    pub sales: &'a [SaleRecord],
    /// Audit events that belong to no op, in order (an applied op's event travels in its
    /// record, [`OpRecord::audit`]; the op lanes write none of these today).
    pub audits: &'a [AuditRecord],
    /// The device that sent the ops, if any, and the `device_seq`s it used.
    pub device_id: Option<Uuid>,
    /// See `device_id`.
    pub device_seqs: &'a [i64],
    /// New op records.
    pub ops: &'a [OpRecord],
    /// When the device was last seen (now).
    pub at: Timestamp,
}
