//! Shared application state handed to every handler.

use std::sync::Arc;
use std::time::Duration;

use modula_store::Store;
use tokio::sync::OnceCell;

use crate::in_flight::InFlight;
use crate::login_gate::LoginGate;
use crate::metrics::Metrics;
use crate::sse_slots::SseSlots;

/// Tunables of a server process (flags and env in `modula serve`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// How long tombstones stay in the change feed; older cursors get `CURSOR_RESET`.
    pub tombstone_retention: Duration,
    /// Most SSE subscribers this process serves at once.
    pub sse_subscribers_max: usize,
    /// The share of them one tenant may hold, in percent.
    pub sse_tenant_share_percent: usize,
    /// Interval of SSE heartbeats.
    pub sse_heartbeat: Duration,
    /// How long the first lock of a sign-in account lasts (later ones double).
    pub login_lock_base: Duration,
    /// Pushes this process decides at once (see `push_gate`).
    pub push_slots: usize,
    /// How long a push waits for a place before it is answered `503`.
    pub push_wait: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tombstone_retention: Duration::from_secs(30 * 24 * 3600),
            sse_subscribers_max: 1000,
            sse_tenant_share_percent: 50,
            sse_heartbeat: Duration::from_secs(15),
            login_lock_base: Duration::from_secs(5 * 60),
            push_slots: crate::push_gate::PUSH_SLOTS_DEFAULT,
            push_wait: crate::push_gate::PUSH_WAIT_DEFAULT,
        }
    }
}

/// Everything a handler needs: the store and process-wide services.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// Tunables.
    pub config: Arc<ServerConfig>,
    /// Places for SSE subscribers (per process, tenant and subscriber).
    pub sse_slots: Arc<SseSlots>,
    /// Idempotency keys being processed by this process.
    pub in_flight: Arc<InFlight>,
    /// Places at the credential check, and the sign-in lock periods.
    pub login_gate: Arc<LoginGate>,
    /// Places of the push lane.
    pub push_gate: Arc<crate::push_gate::PushGate>,
    /// The cursor HMAC key once loaded (`domain::pull::cursor_key`; loaded on first use,
    /// then the same for the life of the process).
    pub cursor_key: Arc<OnceCell<Vec<u8>>>,
    /// Turns `true` when the process begins to stop: every SSE stream then sends its
    /// last event and ends, so the graceful shutdown is not held open by subscribers.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AppState {
    /// State over a store with the default configuration.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_config(store, ServerConfig::default())
    }

    /// State over a store.
    pub fn with_config(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        AppState {
            store,
            metrics: Arc::new(Metrics::default()),
            sse_slots: Arc::new(SseSlots::new(config.sse_subscribers_max.max(1), config.sse_tenant_share_percent)),
            in_flight: Arc::new(Default::default()),
            push_gate: Arc::new(crate::push_gate::PushGate::new(config.push_slots, config.push_wait)),
            login_gate: Arc::new(LoginGate::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                config.login_lock_base,
            )),
            config: Arc::new(config),
            cursor_key: Arc::new(OnceCell::new()),
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}
