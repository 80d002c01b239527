//! The terminal's core: who is signed in, and the cashier's actions, each decided from
//! the cache and local effects with the shared rules, then enqueued durably.
//!
//! Every action runs inside one write transaction of the local database: read the
//! state, decide, write the op + its local effects + the counters, commit. Only then
//! does the API answer.
//!
//! One file per aggregate, each with its own `impl Terminal` block: `signin.rs` (who is
//! signed in, the PIN lockout), `sales.rs` (sale, quote, pricing a cart), `cash.rs` (the
//! cash session), `attendance.rs` (shifts), `online.rs` (online-only actions and the
//! simulated outage); `enqueue.rs` is the shared begin/decide/finish machinery and the
//! direct lane, `cache.rs` the reads of the pulled cache.

mod attendance;
mod cache;
mod cash;
mod enqueue;
mod online;
mod sales;
mod signin;
mod void;

use std::sync::atomic::{AtomicBool, Ordering};

use modula_wire::Role;
use serde::Serialize;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::db::{Db, DeviceRow, QueueStatus};
use crate::error::{TerminalError, TerminalResult};
use crate::remote::Remote;

pub use cache::{branch_status, cached_menu, cached_policy, cached_staff, CachedMenuItem, CachedStaff};
pub use cash::{session_json, CloseRequest, MovementRequest, OpenRequest};
pub use void::VoidRequest;
pub use enqueue::payload_json;
pub(crate) use sales::riel_to_cover;
pub use sales::{PricedCart, Quote, Receipt, ReceiptCashier, ReceiptLine, SaleRequest, SaleRequestLine};
pub use signin::{PIN_ATTEMPTS_MAX, PIN_LOCKOUT_MS};


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
    /// How the server is trusted (HTTPS roots, plain HTTP).
    pub tls: crate::remote::TlsOptions,
    /// Test aid (fault injection): abort the process, as a crash would, at this named
    /// point; see [`FAILPOINTS`]. `None` in every real run.
    pub failpoint: Option<String>,
}

/// The named points where [`TerminalConfig::failpoint`] can stop the process:
/// `enqueue-committed` is just after an action's op is durable, before its answer leaves.
pub const FAILPOINTS: [&str; 1] = ["enqueue-committed"];

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
            tls: crate::remote::TlsOptions::default(),
            failpoint: None,
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
    signin_lock: tokio::sync::Mutex<()>,
    /// Keyed local writes run one at a time ([`crate::idempotency`]).
    pub idempotency_lock: tokio::sync::Mutex<()>,
    /// Ops settled since the backlog being sent began to drain, while one does
    /// (`/api/status` `sync`, [`DrainProgress::shown`]). Locked across a push's commit and its count of what is left, and across the
    /// status read of the counts, so `/api/status` never pairs a count from before a
    /// push settled with progress from after it.
    pub drain: tokio::sync::Mutex<Option<i64>>,
}

/// How far a backlog of queued ops has been sent (SPEC §6 `sync: {done, total}`): begun
/// by the first batch a push round settles, ended when nothing is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DrainProgress {
    /// Ops settled (synced or failed) since the backlog began to drain.
    pub done: i64,
    /// `done` + ops still pending.
    pub total: i64,
}

impl DrainProgress {
    /// Notes in `done` (the terminal's drain state) that a push settled `settled` ops and
    /// `pending` are left: the drain goes on, or ends when none are.
    pub fn note(done: &mut Option<i64>, settled: i64, pending: i64) {
        assert!(settled >= 0 && pending >= 0, "counts are never negative");
        *done = if pending == 0 { None } else { Some(done.unwrap_or(0) + settled) };
    }

    /// The progress beside `pending` ops read now (under the same lock): sales queued
    /// since the last push grow `total`; none pending means no drain.
    pub fn shown(done: Option<i64>, pending: i64) -> Option<DrainProgress> {
        let done = done.filter(|_| pending > 0)?;
        Some(DrainProgress { done, total: done + pending })
    }
}

/// Who is signed in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    /// Id.
    pub staff_id: Uuid,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// Answer of an action: the queued op.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

fn internal(e: impl std::fmt::Display) -> TerminalError {
    TerminalError::Internal(e.to_string())
}

impl Terminal {
    /// Fault injection for tests: at the named point configured by `failpoint`, the
    /// process stops at once (abort: no destructor, no answer, no flush), as kill -9 would.
    pub fn failpoint(&self, point: &str) {
        debug_assert!(FAILPOINTS.contains(&point), "failpoint {point} is listed in FAILPOINTS");
        if self.config.failpoint.as_deref() == Some(point) {
            tracing::warn!(point, "failpoint reached: the terminal stops here (test aid)");
            std::process::abort();
        }
    }

    /// A terminal over an enrolled database.
    pub fn new(db: Db, device: DeviceRow, config: TerminalConfig) -> TerminalResult<Terminal> {
        Terminal::with_outage(db, device, config, None)
    }

    /// A terminal whose server traffic goes through `outage`'s proxy (when given).
    pub fn with_outage(
        db: Db,
        device: DeviceRow,
        config: TerminalConfig,
        outage: Option<std::sync::Arc<crate::outage::Outage>>,
    ) -> TerminalResult<Terminal> {
        crate::remote::check_server_url(&device.server_url, &config.tls).map_err(TerminalError::Internal)?;
        let base = outage.as_ref().map_or(device.server_url.as_str(), |o| o.base()).to_string();
        let batch_max = config.push_batch_max.max(1);
        let remote = Remote::new(&base, &device.token, &config.tls).map_err(TerminalError::Internal)?;
        Ok(Terminal {
            remote,
            outage,
            db,
            device,
            config,
            link: Link::default(),
            send_lock: tokio::sync::Mutex::new(()),
            push_batch_now: std::sync::atomic::AtomicUsize::new(batch_max),
            push_kick: Notify::new(),
            pull_kick: Notify::new(),
            signin_lock: tokio::sync::Mutex::new(()),
            idempotency_lock: tokio::sync::Mutex::new(()),
            drain: tokio::sync::Mutex::new(None),
        })
    }
}
