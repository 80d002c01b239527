//! The unit of work of one request on the op lanes: what every op of the request
//! shares (tenant, device, branch, policy), caches of rows read, and the writes that are
//! buffered until [`OpContext::flush`] and then sent as a few multi-row statements.
//!
//! Everything happens inside one write transaction, so buffering changes nothing that
//! another transaction can see: the order of statements inside a transaction is
//! invisible outside it. Reads of data this request changed go through the caches here,
//! never straight to the database, so they see the buffered state.
//!
//! When the branch row is locked is the caller's choice ([`BranchLock`]). Locked last,
//! the ops are decided under the device lock alone, the device's own rows are written,
//! and only then is the branch locked: if its row is not the one the ops were decided
//! with (every admin change of a decision's input moves it: `admin_version`),
//! [`OpContext::flush`] answers [`Stale`] and the caller starts over with the branch
//! locked first. Stock levels are the one input that other devices
//! of the branch change all the time; they decide no rejection, only the negative-stock
//! flags of sales' audit events, so those events are finished at flush from the levels
//! the stock upsert returns, under the lock, whichever the mode (written earlier from
//! unlocked levels, an event is corrected if those changed it).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use modula_store::{
    BranchRecord, CashSessionRecord, ChangeRecord, Lane, MenuItemRecord, OpAudit, OpRecord, SaleLineRecord, SaleRecord, StaffRecord,
    StockItemRecord, Tx, WriteBatch,
};
use modula_wire::op::OpType;
use modula_wire::{JsonText, Op, Policy};
use serde_json::json;
use uuid::Uuid;

use super::apply::SaleAuditDraft;
use super::views;
use crate::error::{ApiError, ApiResult};

/// When a unit of work locks its branch row (PostgreSQL; on SQLite `BEGIN IMMEDIATE`
/// already serializes every writer, and both modes decide the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchLock {
    /// Before anything is read: the branch's writers decide one at a time.
    First,
    /// At flush, after the device's own rows are written: the branch's writers decide
    /// side by side and queue only for the branch-wide writes (stock, change feed, op
    /// records) and commit, after checking under the lock that the branch row, which
    /// every admin change of the decisions' inputs moves, is the one they decided with.
    Last,
}

/// The branch row changed between the unlocked read and the lock (an admin write
/// reached the branch): nothing may be written on these decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale;

/// Stale where it cannot be (the branch was locked first) is a bug.
impl From<Stale> for ApiError {
    fn from(_: Stale) -> Self {
        ApiError::Internal("the branch row changed under its own lock".into())
    }
}

/// Where an op record seen by this request lives.
enum KnownOp {
    /// Read from the database (boxed: a record is large, and most known ops are `New`).
    Stored(Box<OpRecord>),
    /// Decided in this request: its index in `new_ops`.
    New(usize),
}

/// One request's shared state, caches and buffered writes.
pub struct OpContext {
    /// When the branch row is locked.
    branch_lock: BranchLock,
    /// How long the branch row's lock took to get.
    lock_wait: Duration,
    /// When the branch row was locked (it stays locked to commit or rollback).
    locked_at: Option<Instant>,
    /// The caller's tenant.
    pub tenant_id: Uuid,
    /// The device that sent the ops, if any.
    pub device_id: Option<Uuid>,
    /// The caller's branch, read at the start of the transaction.
    pub branch: BranchRecord,
    /// The branch's effective policy.
    pub policy: Policy,
    /// The lane.
    pub lane: Lane,
    staff: HashMap<Uuid, Option<StaffRecord>>,
    menu: HashMap<Uuid, Option<MenuItemRecord>>,
    /// Op records by key: stored ones, and those of this request as an index into `new_ops`.
    known_ops: HashMap<Uuid, KnownOp>,
    taken_sale_ids: HashSet<Uuid>,
    sessions: HashMap<Uuid, Option<CashSessionRecord>>,
    dirty_sessions: Vec<Uuid>,
    device_open_session: Option<Option<Uuid>>,
    stock_deltas: BTreeMap<Uuid, i64>,
    new_ops: Vec<OpRecord>,
    device_seqs: Vec<i64>,
    /// The audit event of the op being applied, until its record takes it.
    pending_audit: Option<OpAudit>,
    /// Sales' audit events to finish at flush, by op key, in the order the ops ran.
    sale_audits: Vec<(Uuid, SaleAuditDraft)>,
    sales: Vec<SaleRecord>,
    sale_lines: Vec<SaleLineRecord>,
    changes: Vec<ChangeRecord>,
    change_index: HashMap<(&'static str, Uuid), usize>,
}

impl OpContext {
    /// Loads the branch (locking it if `branch_lock` is `First`) and policy, and
    /// everything `ops` will look up by key.
    pub async fn load(
        tx: &mut dyn Tx,
        tenant_id: Uuid,
        branch_id: Uuid,
        device_id: Option<Uuid>,
        lane: Lane,
        branch_lock: BranchLock,
        ops: &[Op],
    ) -> ApiResult<Self> {
        let (branch, lock_wait, locked_at) = match branch_lock {
            BranchLock::First => {
                let (branch, wait) = lock_branch(tx, tenant_id, branch_id).await?;
                (branch, wait, Some(Instant::now()))
            }
            // Read before every other input of the decisions: an admin write that commits
            // after any of those reads has then also moved this row, which flush compares.
            BranchLock::Last => (tx.branch(tenant_id, branch_id).await?, Duration::ZERO, None),
        };
        let branch = branch.ok_or_else(|| ApiError::Forbidden("the token's branch no longer exists".into()))?;
        let policy = effective_policy(tx, &branch).await?;
        let mut ctx = OpContext {
            branch_lock,
            lock_wait,
            locked_at,
            tenant_id,
            device_id,
            branch,
            policy,
            lane,
            staff: HashMap::new(),
            menu: HashMap::new(),
            known_ops: HashMap::new(),
            taken_sale_ids: HashSet::new(),
            sessions: HashMap::new(),
            dirty_sessions: Vec::new(),
            device_open_session: None,
            stock_deltas: BTreeMap::new(),
            new_ops: Vec::new(),
            device_seqs: Vec::new(),
            pending_audit: None,
            sale_audits: Vec::new(),
            sales: Vec::new(),
            sale_lines: Vec::new(),
            changes: Vec::new(),
            change_index: HashMap::new(),
        };
        ctx.preload(tx, ops).await?;
        Ok(ctx)
    }

    /// Reads, in a few statements, every op record, sale id and menu item the request
    /// can ask about.
    async fn preload(&mut self, tx: &mut dyn Tx, ops: &[Op]) -> ApiResult<()> {
        let mut ids: Vec<Uuid> = ops.iter().flat_map(|o| std::iter::once(o.client_op_id).chain(o.depends_on.iter().copied())).collect();
        ids.sort_unstable();
        ids.dedup();
        for record in tx.ops_by_ids(self.tenant_id, &ids).await? {
            self.known_ops.insert(record.client_op_id, KnownOp::Stored(Box::new(record)));
        }
        let sale_ids: Vec<Uuid> = ops
            .iter()
            .filter(|o| o.op_type == OpType::SaleFinalize.as_str())
            .filter_map(|o| o.payload.get("sale_id")?.as_str()?.parse().ok())
            .collect();
        self.taken_sale_ids.extend(tx.existing_sale_ids(&sale_ids).await?);
        // The menu items the sales name, one statement (cached as if each had been read
        // on first use).
        let mut menu_ids: Vec<Uuid> = ops
            .iter()
            .filter(|o| o.op_type == OpType::SaleFinalize.as_str())
            .filter_map(|o| o.payload.get("lines")?.as_array())
            .flatten()
            .filter_map(|l| l.get("menu_item_id")?.as_str()?.parse().ok())
            .collect();
        menu_ids.sort_unstable();
        menu_ids.dedup();
        menu_ids.retain(|id| !self.menu.contains_key(id));
        if menu_ids.is_empty() {
            return Ok(());
        }
        for id in &menu_ids {
            self.menu.insert(*id, None);
        }
        for item in tx.menu_items_by_ids(self.tenant_id, &menu_ids).await? {
            self.menu.insert(item.id, Some(item));
        }
        Ok(())
    }

    /// The recorded op with this key: stored, or decided earlier in this request.
    pub fn known_op(&self, client_op_id: Uuid) -> Option<&OpRecord> {
        match self.known_ops.get(&client_op_id)? {
            KnownOp::Stored(record) => Some(record.as_ref()),
            KnownOp::New(i) => self.new_ops.get(*i),
        }
    }

    /// Buffers an op's record; later ops of the request see it.
    pub fn record_op(&mut self, record: OpRecord) {
        if let (Some(_), Some(seq)) = (record.device_id, record.device_seq) {
            self.device_seqs.push(seq);
        }
        debug_assert!(self.known_op(record.client_op_id).is_none(), "an op is recorded once");
        self.known_ops.insert(record.client_op_id, KnownOp::New(self.new_ops.len()));
        self.new_ops.push(record);
    }

    /// A staff member of the tenant (cached).
    pub async fn staff(&mut self, tx: &mut dyn Tx, id: Uuid) -> ApiResult<Option<StaffRecord>> {
        if let Some(s) = self.staff.get(&id) {
            return Ok(s.clone());
        }
        let s = tx.staff(self.tenant_id, id).await?;
        self.staff.insert(id, s.clone());
        Ok(s)
    }

    /// A menu item of the tenant, deleted or not (cached).
    pub async fn menu_item(&mut self, tx: &mut dyn Tx, id: Uuid) -> ApiResult<Option<MenuItemRecord>> {
        if let Some(m) = self.menu.get(&id) {
            return Ok(m.clone());
        }
        let m = tx.menu_item(self.tenant_id, id).await?;
        self.menu.insert(id, m.clone());
        Ok(m)
    }

    /// Whether a sale id is taken (stored, or used earlier in this request).
    pub fn sale_id_taken(&self, id: Uuid) -> bool {
        self.taken_sale_ids.contains(&id)
    }

    /// A cash session of the tenant, with this request's changes.
    pub async fn session(&mut self, tx: &mut dyn Tx, id: Uuid) -> ApiResult<Option<CashSessionRecord>> {
        if let Some(s) = self.sessions.get(&id) {
            return Ok(s.clone());
        }
        let s = tx.cash_session(self.tenant_id, id).await?;
        self.sessions.insert(id, s.clone());
        Ok(s)
    }

    /// The id of the device's open cash session, with this request's changes.
    pub async fn open_session_of_device(&mut self, tx: &mut dyn Tx, device_id: Uuid) -> ApiResult<Option<Uuid>> {
        if let Some(id) = self.device_open_session {
            return Ok(id);
        }
        let id = tx.open_cash_session_of_device(device_id).await?.map(|s| s.id);
        self.device_open_session = Some(id);
        Ok(id)
    }

    /// Inserts a new session now (later rows refer to it).
    pub async fn insert_session(&mut self, tx: &mut dyn Tx, s: CashSessionRecord) -> ApiResult<()> {
        // A close buffered earlier in this request must reach the table first: the
        // database allows one open session per device.
        self.flush_sessions(tx).await?;
        tx.insert_cash_session(&s).await?;
        self.device_open_session = Some(Some(s.id));
        self.put_session(s);
        Ok(())
    }

    /// Records a session's new state, written at flush.
    pub fn put_session(&mut self, s: CashSessionRecord) {
        debug_assert_eq!(Some(s.device_id), self.device_id, "only the request's device's sessions change");
        // At most one open session per device: this one is it, or there is none.
        self.device_open_session = Some(s.open.then_some(s.id));
        if !self.dirty_sessions.contains(&s.id) {
            self.dirty_sessions.push(s.id);
        }
        self.sessions.insert(s.id, Some(s));
    }

    /// Records the new state of a session of any device of the branch (a void's refund,
    /// an accepted failure's sale), written at flush; the request's own device's open
    /// session is not affected by it.
    pub fn put_branch_session(&mut self, s: CashSessionRecord) {
        debug_assert_eq!(s.branch_id, self.branch.id, "only the branch's sessions change");
        if Some(s.device_id) == self.device_id {
            return self.put_session(s);
        }
        if !self.dirty_sessions.contains(&s.id) {
            self.dirty_sessions.push(s.id);
        }
        self.sessions.insert(s.id, Some(s));
    }

    /// Adds `delta` to an item's on-hand at this branch, written at flush. (No decision
    /// reads a stock level: a sale may take stock below zero, and its audit event, which
    /// flags that, is finished at flush from the level under the row lock.)
    pub fn add_stock(&mut self, stock_item_id: Uuid, delta: i64) {
        let total = self.stock_deltas.entry(stock_item_id).or_default();
        *total = total.saturating_add(delta);
    }

    /// Buffers a sale and its lines (as the till priced them).
    pub fn add_sale(&mut self, sale: SaleRecord, lines: &[modula_wire::op::SaleLine]) -> ApiResult<()> {
        // The sale id was free (checked before apply), so its feed row is a new entity.
        debug_assert!(!self.change_index.contains_key(&("sales", sale.id)), "a sale is added once");
        self.taken_sale_ids.insert(sale.id);
        self.push_change(ChangeRecord {
            branch_id: self.branch.id,
            scope: "sales",
            entity: "sale",
            entity_id: sale.id,
            deleted: false,
            data: Some(views::json_text(&views::sale(&sale))?),
            new_entity: true,
        });
        for (line_no, line) in lines.iter().enumerate() {
            self.sale_lines.push(SaleLineRecord {
                sale_id: sale.id,
                line_no: line_no as i64,
                menu_item_id: line.menu_item_id,
                qty: line.qty,
                unit_price_cents: line.unit_price_cents,
            });
        }
        self.sales.push(sale);
        Ok(())
    }

    /// Notes the audit event of the op being applied (one per applied op).
    pub fn audit(&mut self, event: OpAudit) {
        debug_assert!(self.pending_audit.is_none(), "one audit event per op");
        self.pending_audit = Some(event);
    }

    /// Notes the audit event of the sale being applied: its details wait for the stock
    /// levels, which are final only when flush has locked the stock rows.
    pub fn audit_sale(&mut self, client_op_id: Uuid, draft: SaleAuditDraft) {
        self.audit(OpAudit { module: "sale".into(), action: "finalize".into(), details: JsonText::from(serde_json::Value::Null) });
        self.sale_audits.push((client_op_id, draft));
    }

    /// The audit event noted for the op being applied, if any (its record stores it).
    pub fn take_audit(&mut self) -> Option<OpAudit> {
        self.pending_audit.take()
    }

    /// Buffers a change-feed row (the entity's latest state wins).
    pub fn change(&mut self, scope: &'static str, entity: &'static str, id: Uuid, data: JsonText) {
        let record =
            ChangeRecord { branch_id: self.branch.id, scope, entity, entity_id: id, deleted: false, data: Some(data), new_entity: false };
        self.push_change(record);
    }

    fn push_change(&mut self, record: ChangeRecord) {
        let key = (record.scope, record.entity_id);
        match self.change_index.get(&key) {
            Some(&i) => {
                let new_entity = self.changes[i].new_entity;
                self.changes[i] = ChangeRecord { new_entity, ..record };
            }
            None => {
                self.change_index.insert(key, self.changes.len());
                self.changes.push(record);
            }
        }
    }

    async fn flush_sessions(&mut self, tx: &mut dyn Tx) -> ApiResult<()> {
        for id in std::mem::take(&mut self.dirty_sessions) {
            if let Some(Some(s)) = self.sessions.get(&id).cloned() {
                tx.update_cash_session(&s).await?;
                self.change("cash_sessions", "cash_session", s.id, views::json_text(&views::cash_session(&s))?);
            }
        }
        Ok(())
    }

    /// Reports to `metrics` how long this unit of work waited for its branch lock and
    /// has held it. Call right after commit, when the lock has just been released.
    pub fn observe_branch_lock(&self, metrics: &crate::metrics::Metrics) {
        if let Some(locked_at) = self.locked_at {
            metrics.observe_branch_lock(self.lock_wait, locked_at.elapsed());
        }
    }

    /// Writes everything buffered. Call once, before commit. With the branch locked
    /// last, this is where it is locked; `Ok(Err(Stale))` then means an input of the
    /// decisions changed and the transaction must be rolled back, with nothing of it
    /// committed. (It borrows the context, so the buffered rows are freed when the
    /// caller drops it, after commit, not under the branch lock.)
    pub async fn flush(&mut self, tx: &mut dyn Tx) -> ApiResult<Result<(), Stale>> {
        self.flush_sessions(tx).await?;
        let at = chrono::Utc::now();
        if self.branch_lock == BranchLock::Last {
            return self.flush_locking_last(tx, at).await;
        }
        let levels = self.flush_stock(tx).await?;
        let audits = self.sale_audits_at(&levels)?;
        self.set_sale_audits(audits)?;
        tx.write_batch(&self.batch(Part::Whole, at)).await?;
        Ok(Ok(()))
    }

    /// [`OpContext::flush`] with the branch locked last: the device's rows, the lock and
    /// the check of the decisions' inputs, then the branch's rows.
    async fn flush_locking_last(&mut self, tx: &mut dyn Tx, at: chrono::DateTime<chrono::Utc>) -> ApiResult<Result<(), Stale>> {
        // The sales' audit events at the levels committed now, before the lock. If no
        // sale goes below zero at them, the op records go with the device's rows; under
        // the lock, only an event the locked levels change is rewritten (a level that
        // crossed zero meanwhile). Otherwise the records wait for the locked levels.
        let mut levels: HashMap<Uuid, i64> = HashMap::with_capacity(self.stock_deltas.len());
        let stock_ids: Vec<Uuid> = self.stock_deltas.keys().copied().collect();
        if !stock_ids.is_empty() {
            levels.extend(stock_ids.iter().copied().zip(tx.on_hand_many(self.branch.id, &stock_ids).await?));
        }
        let unlocked = self.sale_audits_at(&levels)?;
        let ops_early = unlocked.iter().all(|a| !a.flags_negative);
        let device_part = if ops_early { Part::DeviceWithOps } else { Part::Device };
        if ops_early {
            self.set_sale_audits(unlocked.clone())?;
        }
        tx.write_batch(&self.batch(device_part, at)).await?;
        let levels = match self.lock_and_revalidate(tx).await? {
            Ok(levels) => levels,
            Err(stale) => return Ok(Err(stale)),
        };
        let locked = self.sale_audits_at(&levels)?;
        if ops_early {
            let changed: Vec<(Uuid, &JsonText)> = locked
                .iter()
                .zip(&unlocked)
                .filter(|(l, u)| l.details.as_str() != u.details.as_str())
                .map(|(l, _)| (l.client_op_id, &l.details))
                .collect();
            if !changed.is_empty() {
                tx.set_op_audit_details(self.tenant_id, &changed).await?;
            }
        }
        self.set_sale_audits(locked)?;
        let branch_part = if ops_early { Part::Branch } else { Part::BranchWithOps };
        tx.write_batch(&self.batch(branch_part, at)).await?;
        Ok(Ok(()))
    }

    /// The buffered rows of one part of the flush.
    fn batch(&self, part: Part, at: chrono::DateTime<chrono::Utc>) -> WriteBatch<'_> {
        let device = matches!(part, Part::Whole | Part::Device | Part::DeviceWithOps);
        let branch = matches!(part, Part::Whole | Part::Branch | Part::BranchWithOps);
        let ops = matches!(part, Part::Whole | Part::DeviceWithOps | Part::BranchWithOps);
        WriteBatch {
            branch_id: self.branch.id,
            changes: if branch { &self.changes } else { &[] },
            sales: if device { &self.sales } else { &[] },
            sale_lines: if device { &self.sale_lines } else { &[] },
            audits: &[],
            device_id: if device { self.device_id } else { None },
            device_seqs: if device { &self.device_seqs } else { &[] },
            ops: if ops { &self.new_ops } else { &[] },
            at,
        }
    }

    /// Every sale's audit event, in the order the sales ran, given each stock item's
    /// level before the request.
    fn sale_audits_at(&self, levels_before: &HashMap<Uuid, i64>) -> ApiResult<Vec<FinishedAudit>> {
        let mut levels = levels_before.clone();
        let mut out = Vec::with_capacity(self.sale_audits.len());
        for (client_op_id, draft) in &self.sale_audits {
            let (details, flags_negative) = draft.finish(&mut levels)?;
            out.push(FinishedAudit { client_op_id: *client_op_id, details, flags_negative });
        }
        Ok(out)
    }

    /// Puts finished audit events into their sales' buffered op records.
    fn set_sale_audits(&mut self, audits: Vec<FinishedAudit>) -> ApiResult<()> {
        for a in audits {
            let Some(KnownOp::New(i)) = self.known_ops.get(&a.client_op_id) else {
                return Err(ApiError::Internal("a sale's audit event has no op record".into()));
            };
            let audit = self.new_ops[*i].audit.as_mut().ok_or_else(|| ApiError::Internal("an applied sale has no audit event".into()))?;
            audit.details = a.details;
        }
        Ok(())
    }

    /// Locks the branch row, adds the stock deltas (one statement where the store can)
    /// and checks, under the lock, that no input of the decisions changed since they
    /// were read; returns each item's level before the request, as [`Self::flush_stock`].
    /// Every admin write of an input (status, policy, staff, menu) writes to this
    /// branch's stream and moves `admin_version` with it, in its own transaction, so an
    /// equal branch row means equal inputs: one that committed before the lock shows, one
    /// that did not yet waits for this commit. (Op records, sale and session ids are
    /// keys: a concurrent duplicate fails its insert. Stock levels decide nothing; the
    /// upsert returns them under its row locks.) On `Stale` the stock was added too, and
    /// the caller rolls the whole transaction back.
    async fn lock_and_revalidate(&mut self, tx: &mut dyn Tx) -> ApiResult<Result<HashMap<Uuid, i64>, Stale>> {
        let deltas: Vec<(Uuid, i64)> = std::mem::take(&mut self.stock_deltas).into_iter().collect();
        let asked_at = Instant::now();
        let locked = tx.lock_branch_adding_on_hand(self.tenant_id, self.branch.id, &deltas).await?;
        // Held from when the store got the lock, so the upsert after it counts as held.
        self.lock_wait = locked.waited;
        self.locked_at = Some(asked_at + locked.waited);
        if locked.branch.as_ref() != Some(&self.branch) {
            return Ok(Err(Stale));
        }
        Ok(Ok(self.record_levels(locked.levels, &deltas)))
    }

    /// One stock upsert for every item the request used (its rows locked in id order)
    /// and their change rows; returns each item's level before the request.
    async fn flush_stock(&mut self, tx: &mut dyn Tx) -> ApiResult<HashMap<Uuid, i64>> {
        let deltas: Vec<(Uuid, i64)> = std::mem::take(&mut self.stock_deltas).into_iter().collect();
        if deltas.is_empty() {
            return Ok(HashMap::new());
        }
        let levels = tx.add_on_hand_many(self.tenant_id, self.branch.id, &deltas).await?;
        Ok(self.record_levels(levels, &deltas))
    }

    /// The change rows of the new stock levels; returns each item's level before `deltas`.
    fn record_levels(&mut self, levels: Vec<(StockItemRecord, i64)>, deltas: &[(Uuid, i64)]) -> HashMap<Uuid, i64> {
        assert_eq!(levels.len(), deltas.len(), "one level per stock item");
        let mut before: HashMap<Uuid, i64> = HashMap::with_capacity(deltas.len());
        for ((item, on_hand), (id, delta)) in levels.into_iter().zip(deltas) {
            assert_eq!(item.id, *id, "levels come in the order of the deltas");
            before.insert(item.id, on_hand.saturating_sub(*delta));
            let data = json!({"stock_item_id": item.id, "name": item.name, "unit": item.unit, "on_hand": on_hand});
            self.change("inventory", "stock_level", item.id, data.into());
        }
        before
    }
}

/// Which buffered rows one `write_batch` of a flush carries.
#[derive(Clone, Copy)]
enum Part {
    /// Everything (the branch locked first: one statement on PostgreSQL).
    Whole,
    /// The device's rows: sales and seq ranges.
    Device,
    /// The device's rows and the op records.
    DeviceWithOps,
    /// The branch's rows: the change feed (and head).
    Branch,
    /// The branch's rows and the op records.
    BranchWithOps,
}

/// A sale's audit event, finished at some stock levels.
#[derive(Clone)]
struct FinishedAudit {
    client_op_id: Uuid,
    details: JsonText,
    flags_negative: bool,
}

/// Locks the branch row; returns it and how long the lock took.
async fn lock_branch(tx: &mut dyn Tx, tenant_id: Uuid, branch_id: Uuid) -> ApiResult<(Option<BranchRecord>, Duration)> {
    let asked_at = Instant::now();
    let branch = tx.lock_branch(tenant_id, branch_id).await?;
    Ok((branch, asked_at.elapsed()))
}

/// The branch's effective policy: its override over the tenant's policy.
async fn effective_policy(tx: &mut dyn Tx, branch: &BranchRecord) -> ApiResult<Policy> {
    let tenant = tx.tenant(branch.tenant_id).await?.ok_or_else(|| ApiError::Internal("tenant vanished".into()))?;
    Ok(branch.policy_override.apply_to(&tenant.policy))
}
