//! The terminal's core: who is signed in, and the cashier's actions, each decided from
//! the cache and local effects with the shared rules, then enqueued durably.
//!
//! Every action runs inside one write transaction of the local database: read the
//! state, decide, write the op + its local effects + the counters, commit. Only then
//! does the API answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use modula_rules::{access, pricing, validate, Rejection};
use modula_wire::op::{
    CashSessionClose, CashSessionMovement, CashSessionOpen, MovementKind, Payload, SaleFinalize, SaleLine,
    ShiftPayload, Tender,
};
use modula_wire::{BranchStatus, ErrorCode, Op, Policy, Role};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::db::{self, Db, DeviceRow, QueueStatus};
use crate::error::{TerminalError, TerminalResult};
use crate::local;
use crate::remote::{DirectOutcome, Remote};

/// Wrong PINs in a row before sign-in at this terminal locks.
pub const PIN_ATTEMPTS_MAX: u32 = 5;
/// How long the sign-in lock lasts.
pub const PIN_LOCKOUT_MS: u64 = 5 * 60 * 1000;

/// How the terminal behaves.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// Send a new op straight to the server's direct lane when online and the queue is
    /// otherwise empty (falls back to the queue on any failure).
    pub direct_lane: bool,
    /// Most ops per push.
    pub push_batch_max: usize,
    /// Pull every this often while online.
    pub pull_interval_ms: u64,
    /// Probe the server this often while idle.
    pub probe_interval_ms: u64,
    /// First retry delay after a failed sync.
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_cap_ms: u64,
    /// Send all server traffic through an in-process proxy the page can cut
    /// ("Simulate outage", for demos; `POST /api/outage`).
    pub outage_switch: bool,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            direct_lane: true,
            push_batch_max: 200,
            pull_interval_ms: 3 * 60 * 1000,
            probe_interval_ms: 5_000,
            backoff_base_ms: 500,
            backoff_cap_ms: 30_000,
            outage_switch: false,
        }
    }
}

/// The link to the server, as real request outcomes tell it.
#[derive(Debug, Default)]
pub struct Link {
    online: AtomicBool,
    /// Woken when the link comes back (pull and push at once).
    pub restored: Notify,
}

impl Link {
    /// Is the server reachable right now (as far as the last request knows)?
    pub fn online(&self) -> bool {
        self.online.load(Ordering::SeqCst)
    }

    /// Records a request outcome; wakes the sync loops when the link comes back.
    pub fn set(&self, online: bool) {
        let was = self.online.swap(online, Ordering::SeqCst);
        if online && !was {
            tracing::info!("server reachable again");
            self.restored.notify_waiters();
        } else if !online && was {
            tracing::warn!("server unreachable; working offline");
        }
    }
}

/// A running terminal.
#[derive(Debug)]
pub struct Terminal {
    /// The local database.
    pub db: Db,
    /// The server.
    pub remote: Remote,
    /// Identity (fixed at enrollment).
    pub device: DeviceRow,
    /// Behaviour.
    pub config: TerminalConfig,
    /// Online or not.
    pub link: Link,
    /// Held by whoever is sending ops to the server (the push loop or a direct-lane
    /// call), so the server sees this device's ops in queue order, one sender at a time.
    pub send_lock: tokio::sync::Mutex<()>,
    /// Wakes the push loop (a new op is queued).
    pub push_kick: Notify,
    /// Ops per push right now: `push_batch_max`, halved while the server refuses a batch
    /// as unreadable (400/413) until the op it cannot take is alone.
    pub push_batch_now: std::sync::atomic::AtomicUsize,
    /// Wakes the pull loop (a nudge arrived).
    pub pull_kick: Notify,
    /// The simulated-outage proxy all server traffic goes through, when the switch is on.
    pub outage: Option<std::sync::Arc<crate::outage::Outage>>,
    pins: StdMutex<PinGuard>,
    signin_lock: tokio::sync::Mutex<()>,
    staff_token: StdMutex<Option<(Uuid, String)>>,
}

#[derive(Debug, Default)]
struct PinGuard {
    wrong_in_row: u32,
    locked_until: Option<Instant>,
}

/// A cached staff member (from the `staff` scope).
#[derive(Debug, Clone, Deserialize)]
pub struct CachedStaff {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Branches.
    #[serde(default)]
    pub branch_ids: Vec<Uuid>,
    /// Active?
    pub active: bool,
    /// argon2id PHC string.
    #[serde(default)]
    pub pin_hash: String,
}

/// A cached menu item (from the `menu` scope).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CachedMenuItem {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Price in cents.
    pub price_cents: i64,
    /// Category.
    pub category: String,
    /// On sale?
    pub active: bool,
    /// What one unit uses.
    #[serde(default)]
    pub recipe: Vec<modula_wire::admin::RecipeLine>,
}

/// Who is signed in.
#[derive(Debug, Clone, Serialize)]
pub struct SignedIn {
    /// Id.
    pub staff_id: Uuid,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// Answer of an action: the queued op.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    /// The op's id.
    pub client_op_id: Uuid,
    /// Its type.
    #[serde(rename = "type")]
    pub op_type: &'static str,
    /// Its place in the queue.
    pub device_seq: i64,
    /// `PENDING`, or `SYNCED`/`FAILED` when the direct lane answered at once.
    pub status: QueueStatus,
    /// The server's code, when it refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The server's message, when it refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For a sale: the receipt to print.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// For cash-session ops: the session as it is now here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cash_session: Option<serde_json::Value>,
    /// For attendance ops: the shift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift_id: Option<Uuid>,
}

/// A printed receipt.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    /// The sale's id.
    pub sale_id: Uuid,
    /// `<device code>-<counter>`.
    pub receipt_no: String,
    /// Lines with names and prices from the cache.
    pub lines: Vec<ReceiptLine>,
    /// Sum of the lines.
    pub subtotal_cents: i64,
    /// VAT (included or added, by policy).
    pub vat_cents: i64,
    /// What the customer pays.
    pub total_cents: i64,
    /// What was handed over.
    pub tender: Tender,
    /// `tendered − total` in cents.
    pub change_cents: i64,
    /// The same in riel, rounded by policy.
    pub change_khr: i64,
}

/// One receipt line.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptLine {
    /// The item.
    pub menu_item_id: Uuid,
    /// Its name.
    pub name: String,
    /// How many.
    pub qty: i64,
    /// Price each.
    pub unit_price_cents: i64,
}

/// Body of `POST /api/sales`.
#[derive(Debug, Clone, Deserialize)]
pub struct SaleRequest {
    /// What is sold.
    pub lines: Vec<SaleRequestLine>,
    /// What was handed over.
    pub tender: Tender,
}

/// One line of `POST /api/sales`.
#[derive(Debug, Clone, Deserialize)]
pub struct SaleRequestLine {
    /// The menu item.
    pub menu_item_id: Uuid,
    /// How many.
    pub qty: i64,
}

/// Body of `POST /api/cash-sessions/movement`.
#[derive(Debug, Clone, Deserialize)]
pub struct MovementRequest {
    /// paid_in, paid_out or adjustment.
    pub kind: MovementKind,
    /// Amount in cents (an adjustment may be negative).
    pub amount_cents: i64,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// An action's open write transaction and what it acts on.
struct Action<'c> {
    tx: sqlx::Transaction<'c, sqlx::Sqlite>,
    dev: DeviceRow,
    actor: SignedIn,
    policy: Option<Policy>,
}

/// What an action decided: the payload, and what its answer shows.
struct Decision {
    payload: Payload,
    depends_on: Vec<Uuid>,
    stock: Vec<(Uuid, i64)>,
    receipt: Option<Receipt>,
    next_receipt_no: i64,
}

impl Decision {
    fn plain(payload: Payload, depends_on: Vec<Uuid>, next_receipt_no: i64) -> Decision {
        Decision { payload, depends_on, stock: Vec::new(), receipt: None, next_receipt_no }
    }
}

fn internal(e: impl std::fmt::Display) -> TerminalError {
    TerminalError::Internal(e.to_string())
}

impl Terminal {
    /// A terminal over an enrolled database.
    pub fn new(db: Db, device: DeviceRow, config: TerminalConfig) -> Terminal {
        Terminal::with_outage(db, device, config, None)
    }

    /// A terminal whose server traffic goes through `outage`'s proxy (when given).
    pub fn with_outage(
        db: Db,
        device: DeviceRow,
        config: TerminalConfig,
        outage: Option<std::sync::Arc<crate::outage::Outage>>,
    ) -> Terminal {
        let base = outage.as_ref().map_or(device.server_url.as_str(), |o| o.base()).to_string();
        let batch_max = config.push_batch_max.max(1);
        Terminal {
            remote: Remote::new(&base, &device.token),
            outage,
            db,
            device,
            config,
            link: Link::default(),
            send_lock: tokio::sync::Mutex::new(()),
            push_batch_now: std::sync::atomic::AtomicUsize::new(batch_max),
            push_kick: Notify::new(),
            pull_kick: Notify::new(),
            pins: StdMutex::new(PinGuard::default()),
            signin_lock: tokio::sync::Mutex::new(()),
            staff_token: StdMutex::new(None),
        }
    }

    // ---------------------------------------------------------------- sign-in

    /// `POST /api/signin`: checks the PIN against the cached hash (works offline).
    pub async fn sign_in(&self, staff_id: Uuid, pin: &str) -> TerminalResult<SignedIn> {
        // One sign-in at a time, so parallel guesses cannot slip past the lockout.
        let _one_at_a_time = self.signin_lock.lock().await;
        self.check_pin_lock()?;
        let (staff, staff_known) = {
            let mut conn = self.db.reader().acquire().await?;
            (cached_staff(&mut conn, staff_id).await?, !db::cached_scope(&mut conn, "staff").await?.is_empty())
        };
        if !staff_known {
            return Err(TerminalError::refuse(
                ErrorCode::CacheMissing,
                "cannot sign in yet: this terminal has not downloaded its staff list. \
                 Connect it to the internet once so it can fetch it, then try again",
            ));
        }
        let usable = staff.as_ref().filter(|s| s.active && s.branch_ids.contains(&self.device.branch_id));
        let phc = usable.map(|s| s.pin_hash.clone()).unwrap_or_default();
        let pin_owned = pin.to_string();
        let ok = tokio::task::spawn_blocking(move || !phc.is_empty() && modula_rules::pin::verify_pin(&pin_owned, &phc))
            .await
            .map_err(internal)?;
        let Some(staff) = usable.filter(|_| ok) else {
            self.note_wrong_pin();
            return Err(TerminalError::refuse(
                ErrorCode::Unauthorized,
                "wrong PIN, or this person may not work at this branch",
            ));
        };
        self.pins.lock().map_err(internal)?.wrong_in_row = 0;
        let mut w = self.db.writer().await;
        db::set_signed_in(&mut w, Some(staff.id)).await?;
        drop(w);
        self.fetch_staff_token(staff.id, pin).await;
        Ok(SignedIn { staff_id: staff.id, name: staff.name.clone(), role: staff.role })
    }

    fn check_pin_lock(&self) -> TerminalResult<()> {
        let mut g = self.pins.lock().map_err(internal)?;
        match g.locked_until {
            Some(t) if Instant::now() < t => {
                Err(TerminalError::PinLocked { retry_after_s: (t - Instant::now()).as_secs() + 1 })
            }
            Some(_) => {
                *g = PinGuard::default();
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn note_wrong_pin(&self) {
        if let Ok(mut g) = self.pins.lock() {
            g.wrong_in_row += 1;
            if g.wrong_in_row >= PIN_ATTEMPTS_MAX {
                g.locked_until = Some(Instant::now() + Duration::from_millis(PIN_LOCKOUT_MS));
            }
        }
    }

    /// While online, also sign in at the server for online-only actions (best effort).
    async fn fetch_staff_token(&self, staff_id: Uuid, pin: &str) {
        // A new sign-in ends the previous person's server sign-in, even when no new one
        // can be had (offline): it must never act for whoever signs in next.
        if let Ok(mut t) = self.staff_token.lock() {
            *t = None;
        }
        if !self.link.online() {
            return;
        }
        if let Ok(token) = self.remote.login(self.device.tenant_id, staff_id, pin).await {
            if let Ok(mut t) = self.staff_token.lock() {
                *t = Some((staff_id, token));
            }
        }
    }

    /// `POST /api/signout`. The queue is untouched.
    pub async fn sign_out(&self) -> TerminalResult<()> {
        let mut w = self.db.writer().await;
        db::set_signed_in(&mut w, None).await?;
        if let Ok(mut t) = self.staff_token.lock() {
            *t = None;
        }
        Ok(())
    }

    /// Who is signed in, if anyone (and still active here, by the cache).
    pub async fn signed_in(&self, conn: &mut SqliteConnection) -> TerminalResult<Option<SignedIn>> {
        let Some(dev) = db::device(conn).await? else { return Ok(None) };
        let Some(id) = dev.signed_in_staff else { return Ok(None) };
        let staff = cached_staff(conn, id).await?;
        Ok(staff.map(|s| SignedIn { staff_id: s.id, name: s.name, role: s.role }))
    }

    // ---------------------------------------------------------------- actions

    /// `POST /api/sales`.
    pub async fn sale(&self, req: SaleRequest) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let d = decide_sale(&mut c, req).await?;
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// `POST /api/quote`: prices a cart and its change exactly as [`Terminal::sale`] would,
    /// from the cache with the shared rules, without enqueuing anything. Needs no
    /// sign-in and no open cash session; a short tender is not a refusal (`short_cents`).
    pub async fn quote(&self, req: SaleRequest) -> TerminalResult<Quote> {
        let mut conn = self.db.reader().acquire().await?;
        let policy = cached_policy(&mut conn, self.device.branch_id).await?;
        let menu = cached_menu(&mut conn).await?;
        drop(conn);
        let policy = check_cart(policy.as_ref(), &menu, &req)?;
        let cart = price_cart(&menu, policy, &req)?;
        let total = cart.totals.total_cents;
        let (change_cents, change_khr, short_cents) = match pricing::change(total, &req.tender, policy) {
            Ok(c) => (c.change_cents, c.change_khr, 0),
            Err(r) if r.code == ErrorCode::InsufficientTender => {
                let short = total.saturating_sub(pricing::tendered_cents(&req.tender, policy));
                (-short, 0, short)
            }
            Err(r) => return Err(r.into()),
        };
        // The same payload checks a sale's op gets (tender ranges, totals), so a quote
        // the page shows as chargeable is one the sale accepts.
        let would_be = SaleFinalize {
            sale_id: Uuid::nil(),
            cash_session_id: Uuid::nil(),
            receipt_no: "QUOTE".into(),
            lines: cart.lines,
            tender: req.tender,
            totals: cart.totals,
        };
        validate::parse_payload(modula_wire::OpType::SaleFinalize, &payload_json(&Payload::SaleFinalize(would_be))?)?;
        let nothing = Tender { cash_usd_cents: 0, cash_khr: 0 };
        Ok(Quote {
            short_khr: riel_to_cover(total, &req.tender, policy),
            total_khr: riel_to_cover(total, &nothing, policy),
            lines: cart.receipt_lines,
            subtotal_cents: cart.totals.subtotal_cents,
            vat_cents: cart.totals.vat_cents,
            total_cents: total,
            tendered_cents: pricing::tendered_cents(&req.tender, policy),
            change_cents,
            change_khr,
            short_cents,
            enough: short_cents == 0,
        })
    }

    /// `POST /api/cash-sessions/open`.
    pub async fn open_session(&self, opening_float_cents: i64) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            if let Some(s) = local::open_session(&mut c.tx).await? {
                let msg = format!("a cash session ({}) is already open on this terminal; close it first", s.id);
                return Err(TerminalError::refuse(ErrorCode::CashSessionAlreadyOpen, msg));
            }
            let p = CashSessionOpen { cash_session_id: Uuid::now_v7(), opening_float_cents };
            let d = Decision::plain(Payload::CashSessionOpen(p), vec![], c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// `POST /api/cash-sessions/movement`.
    pub async fn movement(&self, req: MovementRequest) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let (session, depends_on) = open_session_or_refuse(&mut c.tx).await?;
            let p = CashSessionMovement {
                cash_session_id: session,
                movement_id: Uuid::now_v7(),
                kind: req.kind,
                amount_cents: req.amount_cents,
                reason: req.reason,
            };
            let d = Decision::plain(Payload::CashSessionMovement(p), depends_on, c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// `POST /api/cash-sessions/close`.
    pub async fn close_session(&self, counted_cash_cents: i64) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let (session, depends_on) = open_session_or_refuse(&mut c.tx).await?;
            let p = CashSessionClose { cash_session_id: session, counted_cash_cents };
            let d = Decision::plain(Payload::CashSessionClose(p), depends_on, c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// `POST /api/attendance/start` (`staff_id` defaults to the signed-in person).
    pub async fn start_work(&self, staff_id: Option<Uuid>) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let staff_id = staff_for_shift(&mut c.tx, staff_id.unwrap_or(c.actor.staff_id)).await?;
            if let Some((shift, _)) = local::open_shift_of(&mut c.tx, staff_id).await? {
                let msg = format!("this person already has an open shift ({shift}); end it first");
                return Err(TerminalError::refuse(ErrorCode::ShiftAlreadyOpen, msg));
            }
            let p = ShiftPayload { shift_id: Uuid::now_v7(), staff_id };
            let d = Decision::plain(Payload::AttendanceStartWork(p), vec![], c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// `POST /api/attendance/end` (`staff_id` defaults to the signed-in person).
    pub async fn end_work(&self, staff_id: Option<Uuid>) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let staff_id = staff_for_shift(&mut c.tx, staff_id.unwrap_or(c.actor.staff_id)).await?;
            let Some((shift_id, start_op)) = local::open_shift_of(&mut c.tx, staff_id).await? else {
                return Err(TerminalError::refuse(ErrorCode::NoOpenShift, "this person has no open shift to end"));
            };
            let depends_on = pending_dep(&mut c.tx, start_op).await?;
            let p = ShiftPayload { shift_id, staff_id };
            let d = Decision::plain(Payload::AttendanceEndWork(p), depends_on, c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// Opens the action's write transaction: who acts, the device row, the branch must
    /// not be frozen, and the cached policy.
    async fn begin<'c>(&self, w: &'c mut SqliteConnection) -> TerminalResult<Action<'c>> {
        let mut tx = w.begin().await?;
        let dev = db::device(&mut tx).await?.ok_or_else(|| internal("terminal is not enrolled"))?;
        let actor = self.actor(&mut tx).await?;
        refuse_if_frozen(&mut tx, dev.branch_id).await?;
        let policy = cached_policy(&mut tx, dev.branch_id).await?;
        Ok(Action { tx, dev, actor, policy })
    }

    /// Checks the actor's rights, writes the op, its local effects and the counters, and
    /// commits: the op is durable when this returns.
    async fn finish(&self, c: Action<'_>, d: Decision) -> TerminalResult<(Op, Queued)> {
        let Action { mut tx, dev, actor, policy } = c;
        access::check_actor(actor.staff_id, actor.role, &d.payload, &policy.unwrap_or_default())?;
        let op = build_op(&dev, actor.staff_id, &d)?;
        let stock_json = (!d.stock.is_empty()).then(|| serde_json::to_string(&d.stock).map_err(internal)).transpose()?;
        db::insert_op(&mut tx, &op, stock_json.as_deref()).await?;
        local::apply(&mut tx, op.client_op_id, &d.payload, op.occurred_at, 1).await?;
        local::add_stock_pending(&mut tx, &d.stock, 1).await?;
        db::set_counters(&mut tx, dev.next_device_seq + 1, d.next_receipt_no).await?;
        let session = session_view(&mut tx, &d.payload).await?;
        tx.commit().await?;
        let queued = Queued {
            client_op_id: op.client_op_id,
            op_type: d.payload.op_type().as_str(),
            device_seq: op.device_seq,
            status: QueueStatus::Pending,
            code: None,
            message: None,
            receipt: d.receipt,
            cash_session: session,
            shift_id: shift_of(&d.payload),
        };
        Ok((op, queued))
    }

    async fn actor(&self, conn: &mut SqliteConnection) -> TerminalResult<SignedIn> {
        let who = self.signed_in(conn).await?;
        who.ok_or_else(|| TerminalError::refuse(ErrorCode::Unauthorized, "nobody is signed in; sign in with your PIN first"))
    }

    /// After a durable enqueue: try the direct lane if it is the only pending op and the
    /// link is up; otherwise (or on any failure) the push loop sends it.
    async fn after_enqueue(&self, op: &Op, mut queued: Queued) -> Queued {
        if self.config.direct_lane && self.link.online() {
            if let Err(e) = self.try_direct(op, &mut queued).await {
                tracing::debug!(error = %e, "direct lane failed; the op stays queued");
            }
        }
        if queued.status == QueueStatus::Pending {
            self.push_kick.notify_one();
        }
        queued
    }

    async fn try_direct(&self, op: &Op, queued: &mut Queued) -> TerminalResult<()> {
        let Ok(_sending) = self.send_lock.try_lock() else { return Ok(()) };
        let oldest = {
            let mut conn = self.db.reader().acquire().await?;
            db::pending_ops(&mut conn, 1).await?
        };
        if oldest.first().map(|o| o.client_op_id) != Some(op.client_op_id) {
            return Ok(());
        }
        let outcome = match self.remote.direct(op).await {
            Ok(o) => o,
            Err(e) => {
                self.link.set(!e.is_transport());
                return Err(internal(e));
            }
        };
        self.link.set(true);
        let mut w = self.db.writer().await;
        let mut tx = w.begin().await?;
        let (status, code, message) = match outcome {
            DirectOutcome::Applied(result) => {
                crate::settle::synced(&mut tx, op.client_op_id, Some(&result.to_string())).await?;
                (QueueStatus::Synced, None, None)
            }
            DirectOutcome::Rejected(p) => {
                let code = p.code.to_string();
                crate::settle::failed(&mut tx, op.client_op_id, &code, &p.detail).await?;
                (QueueStatus::Failed, Some(code), Some(p.detail))
            }
        };
        db::note_push(&mut tx, Utc::now()).await?;
        tx.commit().await?;
        queued.status = status;
        queued.code = code;
        queued.message = message;
        Ok(())
    }

    /// `POST /api/outage {"on": bool}`: cuts or restores the simulated-outage proxy, then
    /// asks the server for `/healthz` through it so online/offline follows at once (a real
    /// request, like every other online/offline decision).
    pub async fn set_outage(&self, on: bool) -> TerminalResult<serde_json::Value> {
        let Some(outage) = self.outage.as_ref() else {
            return Err(TerminalError::refuse(
                ErrorCode::NotFound,
                "this terminal was not started with --outage-switch, so it cannot simulate an outage",
            ));
        };
        outage.set_cut(on);
        let probe = self.remote.probe().await;
        self.link.set(probe.as_ref().map_or_else(|e| !e.is_transport(), |_| true));
        self.push_kick.notify_one();
        self.pull_kick.notify_one();
        Ok(serde_json::json!({"simulated_outage": outage.is_cut(), "online": self.link.online()}))
    }

    /// Is a simulated outage on?
    pub fn simulated_outage(&self) -> bool {
        self.outage.as_ref().is_some_and(|o| o.is_cut())
    }

    /// `POST /api/inventory/restock`: online only, with the signed-in manager's server
    /// sign-in.
    pub async fn restock(&self, body: serde_json::Value) -> TerminalResult<serde_json::Value> {
        if !self.link.online() {
            return Err(TerminalError::refuse(
                ErrorCode::NotAllowedOffline,
                "restocking changes the branch's inventory on the server and cannot be done offline; try again when online",
            ));
        }
        let token = self.staff_token.lock().map_err(internal)?.as_ref().map(|(_, t)| t.clone());
        let Some(token) = token else {
            return Err(TerminalError::refuse(
                ErrorCode::Unauthorized,
                "sign in again while online: restocking needs a manager signed in at the server",
            ));
        };
        let serde_json::Value::Object(mut fields) = body else {
            return Err(TerminalError::invalid("body", "the body must be a JSON object {stock_item_id, qty}"));
        };
        fields.insert("branch_id".into(), serde_json::json!(self.device.branch_id));
        let body = serde_json::Value::Object(fields);
        self.remote.restock(&token, &body).await.map_err(|e| match e {
            crate::remote::RemoteError::Refused(p) => TerminalError::Rejected(Rejection {
                code: p.code,
                message: p.detail,
                field: p.field,
            }),
            other => TerminalError::refuse(ErrorCode::ServiceUnavailable, format!("the server did not answer: {other}")),
        })
    }
}

// -------------------------------------------------------------------- decisions

async fn decide_sale(c: &mut Action<'_>, req: SaleRequest) -> TerminalResult<Decision> {
    let (conn, dev) = (&mut *c.tx, &c.dev);
    let menu = cached_menu(conn).await?;
    let policy = check_cart(c.policy.as_ref(), &menu, &req)?;
    let (session, depends_on) = open_session_or_refuse(conn).await?;
    let cart = price_cart(&menu, policy, &req)?;
    let change = pricing::change(cart.totals.total_cents, &req.tender, policy)?;
    let receipt_no = format!("{}-{}", dev.code, dev.next_receipt_no);
    let totals = cart.totals;
    let sale = SaleFinalize {
        sale_id: Uuid::now_v7(),
        cash_session_id: session,
        receipt_no,
        lines: cart.lines,
        tender: req.tender,
        totals,
    };
    let receipt = Receipt {
        sale_id: sale.sale_id,
        receipt_no: sale.receipt_no.clone(),
        lines: cart.receipt_lines,
        subtotal_cents: totals.subtotal_cents,
        vat_cents: totals.vat_cents,
        total_cents: totals.total_cents,
        tender: req.tender,
        change_cents: change.change_cents,
        change_khr: change.change_khr,
    };
    Ok(Decision {
        payload: Payload::SaleFinalize(sale),
        depends_on,
        stock: cart.stock,
        receipt: Some(receipt),
        next_receipt_no: dev.next_receipt_no + 1,
    })
}

/// A cart priced from the cache with the shared rules: what a sale charges and a quote
/// shows (one function for both, so they can never disagree).
#[derive(Debug, Clone)]
pub struct PricedCart {
    /// The sale's lines, priced from the cache.
    pub lines: Vec<SaleLine>,
    /// The same lines with names, for the receipt.
    pub receipt_lines: Vec<ReceiptLine>,
    /// What the lines use from stock (by recipe).
    pub stock: Vec<(Uuid, i64)>,
    /// Subtotal, VAT and total by the policy.
    pub totals: modula_wire::op::SaleTotals,
}

/// What must hold before a cart can be priced: the policy and menu are cached and the
/// number of lines is within limits. Answers the policy.
fn check_cart<'p>(policy: Option<&'p Policy>, menu: &[CachedMenuItem], req: &SaleRequest) -> TerminalResult<&'p Policy> {
    let Some(policy) = policy else {
        return Err(cache_missing("the pricing policy"));
    };
    if menu.is_empty() {
        return Err(cache_missing("the menu"));
    }
    if req.lines.is_empty() {
        return Err(TerminalError::invalid("lines", "a sale needs at least one line"));
    }
    if req.lines.len() > modula_wire::limits::SALE_MAX_LINES {
        let msg = format!("a sale has at most {} lines", modula_wire::limits::SALE_MAX_LINES);
        return Err(TerminalError::invalid("lines", msg));
    }
    Ok(policy)
}

/// Prices a cart (already [`check_cart`]ed) from the cached menu with the shared rules.
fn price_cart(menu: &[CachedMenuItem], policy: &Policy, req: &SaleRequest) -> TerminalResult<PricedCart> {
    let mut lines = Vec::with_capacity(req.lines.len());
    let mut receipt_lines = Vec::with_capacity(req.lines.len());
    let mut stock: Vec<(Uuid, i64)> = Vec::new();
    for (i, l) in req.lines.iter().enumerate() {
        validate::positive_qty(&format!("lines[{i}].qty"), l.qty)?;
        let item = menu.iter().find(|m| m.id == l.menu_item_id && m.active).ok_or_else(|| {
            TerminalError::invalid(format!("lines[{i}].menu_item_id"), "this item is not on the menu (or not on sale)")
        })?;
        lines.push(SaleLine { menu_item_id: item.id, qty: l.qty, unit_price_cents: item.price_cents });
        receipt_lines.push(ReceiptLine { menu_item_id: item.id, name: item.name.clone(), qty: l.qty, unit_price_cents: item.price_cents });
        for r in &item.recipe {
            add_stock(&mut stock, r.stock_item_id, r.qty.saturating_mul(l.qty));
        }
    }
    let totals = pricing::price(&lines, policy)?;
    Ok(PricedCart { lines, receipt_lines, stock, totals })
}

/// Answer of `POST /api/quote`: what the cart would cost and the change, without
/// selling anything.
#[derive(Debug, Clone, Serialize)]
pub struct Quote {
    /// Lines with names and prices from the cache.
    pub lines: Vec<ReceiptLine>,
    /// Sum of the lines.
    pub subtotal_cents: i64,
    /// VAT (included or added, by policy).
    pub vat_cents: i64,
    /// What the customer pays.
    pub total_cents: i64,
    /// What was handed over, in cents (riel converted by policy, rounded down).
    pub tendered_cents: i64,
    /// `tendered − total`: negative when the tender is short.
    pub change_cents: i64,
    /// The change in riel, rounded by policy (0 when the tender is short).
    pub change_khr: i64,
    /// How much is missing (`total − tendered`, 0 when the tender covers the total).
    pub short_cents: i64,
    /// The riel that would cover what is missing: the least multiple of the policy's
    /// riel step that makes the tender enough (0 when it is enough).
    pub short_khr: i64,
    /// The total in riel: the least multiple of the riel step that pays it in riel alone.
    pub total_khr: i64,
    /// Would `POST /api/sales` accept this tender?
    pub enough: bool,
}

/// The least extra riel, in multiples of the policy's riel step, that makes `tender`
/// cover `total_cents` by the shared tender rule (0 when it already does). Only for a
/// policy whose exchange fields [`pricing::change`] accepted.
fn riel_to_cover(total_cents: i64, tender: &Tender, policy: &Policy) -> i64 {
    let short = i128::from(total_cents) - i128::from(pricing::tendered_cents(tender, policy));
    if short <= 0 {
        return 0;
    }
    let step = i128::from(policy.khr_rounding.max(1));
    let rate = i128::from(policy.khr_per_usd.max(1));
    // ceil(short × rate / 100) rounded up to the step; floor(a + b) ≥ floor(a) + floor(b)
    // makes it enough, the loop only guards that reasoning.
    let unit = 100 * step;
    let mut extra = (short * rate + unit - 1) / unit * step;
    for _ in 0..4 {
        let more = Tender {
            cash_usd_cents: tender.cash_usd_cents,
            cash_khr: (i128::from(tender.cash_khr) + extra).clamp(0, i128::from(i64::MAX)) as i64,
        };
        if pricing::tendered_cents(&more, policy) >= total_cents {
            break;
        }
        extra += step;
    }
    extra.clamp(0, i128::from(i64::MAX)) as i64
}

fn add_stock(stock: &mut Vec<(Uuid, i64)>, item: Uuid, qty: i64) {
    match stock.iter_mut().find(|(i, _)| *i == item) {
        Some((_, q)) => *q = q.saturating_add(qty),
        None => stock.push((item, qty)),
    }
}

fn cache_missing(what: &str) -> TerminalError {
    TerminalError::refuse(
        ErrorCode::CacheMissing,
        format!(
            "cannot sell yet: this terminal has not downloaded {what} of its branch. \
             Connect it to the internet once so it can fetch the menu and prices, then try again"
        ),
    )
}

/// The open session and, if its open op is not synced yet, that op as a dependency.
async fn open_session_or_refuse(conn: &mut SqliteConnection) -> TerminalResult<(Uuid, Vec<Uuid>)> {
    let Some(s) = local::open_session(conn).await? else {
        return Err(TerminalError::refuse(
            ErrorCode::NoOpenCashSession,
            "no cash session is open on this terminal; open the cash drawer session first",
        ));
    };
    Ok((s.id, pending_dep(conn, s.open_op_id).await?))
}

async fn pending_dep(conn: &mut SqliteConnection, op: Option<Uuid>) -> TerminalResult<Vec<Uuid>> {
    match op {
        Some(id) if db::is_pending(conn, id).await? => Ok(vec![id]),
        _ => Ok(vec![]),
    }
}

async fn staff_for_shift(conn: &mut SqliteConnection, staff_id: Uuid) -> TerminalResult<Uuid> {
    match cached_staff(conn, staff_id).await? {
        Some(s) if s.active => Ok(s.id),
        _ => Err(TerminalError::invalid("staff_id", "no active staff member with this id is known here")),
    }
}

async fn refuse_if_frozen(conn: &mut SqliteConnection, branch_id: Uuid) -> TerminalResult<()> {
    if branch_status(conn, branch_id).await? == Some(BranchStatus::Frozen) {
        return Err(TerminalError::refuse(
            ErrorCode::BranchFrozen,
            "this branch is frozen by a manager: sales and cash changes are refused until it is unfrozen",
        ));
    }
    Ok(())
}

fn build_op(dev: &DeviceRow, actor: Uuid, d: &Decision) -> TerminalResult<Op> {
    let op_type = d.payload.op_type().as_str();
    let payload = payload_json(&d.payload)?;
    // The same validation the server runs, so a malformed op never enters the queue.
    validate::parse_payload(d.payload.op_type(), &payload)?;
    let payload_hash = modula_rules::hash::payload_hash(op_type, dev.tenant_id, dev.branch_id, actor, &payload);
    let occurred_at: DateTime<Utc> = Utc::now();
    Ok(Op {
        client_op_id: Uuid::now_v7(),
        op_type: op_type.to_string(),
        tenant_id: dev.tenant_id,
        branch_id: dev.branch_id,
        actor_id: actor,
        device_seq: dev.next_device_seq,
        occurred_at,
        payload,
        payload_hash,
        depends_on: d.depends_on.clone(),
    })
}

/// A payload as its wire JSON.
pub fn payload_json(p: &Payload) -> TerminalResult<serde_json::Value> {
    let v = match p {
        Payload::SaleFinalize(x) => serde_json::to_value(x),
        Payload::CashSessionOpen(x) => serde_json::to_value(x),
        Payload::CashSessionMovement(x) => serde_json::to_value(x),
        Payload::CashSessionClose(x) => serde_json::to_value(x),
        Payload::AttendanceStartWork(x) | Payload::AttendanceEndWork(x) => serde_json::to_value(x),
    };
    v.map_err(internal)
}

fn shift_of(p: &Payload) -> Option<Uuid> {
    match p {
        Payload::AttendanceStartWork(s) | Payload::AttendanceEndWork(s) => Some(s.shift_id),
        _ => None,
    }
}

async fn session_view(conn: &mut SqliteConnection, p: &Payload) -> TerminalResult<Option<serde_json::Value>> {
    match p {
        Payload::CashSessionOpen(_) | Payload::CashSessionMovement(_) | Payload::CashSessionClose(_) => {
            Ok(local::latest_session(conn).await?.map(|s| session_json(&s)))
        }
        _ => Ok(None),
    }
}

/// A local cash session as the API shows it.
pub fn session_json(s: &local::LocalSession) -> serde_json::Value {
    let expected = modula_rules::cash::expected_cash_cents(&s.totals);
    serde_json::json!({
        "id": s.id, "status": if s.open { "open" } else { "closed" },
        "opening_float_cents": s.totals.opening_float_cents, "cash_sales_cents": s.totals.cash_sales_cents,
        "paid_in_cents": s.totals.paid_in_cents, "paid_out_cents": s.totals.paid_out_cents,
        "adjustments_cents": s.totals.adjustments_cents, "expected_cash_cents": expected,
        "counted_cash_cents": s.counted_cash_cents,
        "variance_cents": s.counted_cash_cents.map(|c| modula_rules::cash::variance_cents(c, expected)),
        "opened_at": s.opened_at, "closed_at": s.closed_at,
    })
}

// -------------------------------------------------------------------- cache reads

/// A cached staff member.
pub async fn cached_staff(conn: &mut SqliteConnection, id: Uuid) -> TerminalResult<Option<CachedStaff>> {
    let v = db::cached(conn, "staff", id).await?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

/// The cached effective policy of the branch.
pub async fn cached_policy(conn: &mut SqliteConnection, branch_id: Uuid) -> TerminalResult<Option<Policy>> {
    let v = db::cached(conn, "policy", branch_id).await?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

/// The cached menu (active and inactive items).
pub async fn cached_menu(conn: &mut SqliteConnection) -> TerminalResult<Vec<CachedMenuItem>> {
    let items = db::cached_scope(conn, "menu").await?;
    Ok(items.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect())
}

/// The cached status of the branch (`None` before the first pull).
pub async fn branch_status(conn: &mut SqliteConnection, branch_id: Uuid) -> TerminalResult<Option<BranchStatus>> {
    let v = db::cached(conn, "branch", branch_id).await?;
    Ok(v.and_then(|v| v["status"].as_str().and_then(BranchStatus::parse)))
}
