//! Nudges across processes: `NOTIFY` in the writing transaction, `LISTEN` in every process.
//!
//! [`crate::PgTx::record_changes`] runs `pg_notify('modula_nudge', '<branch>:<head>')` in
//! its transaction; PostgreSQL delivers it only if and when that transaction commits, to
//! every session listening on the channel, in commit order. Each [`crate::PgStore`] keeps
//! one background task holding a [`PgListener`] on its own connection; it parses each
//! payload and hands it to the [`Announcer`], which feeds the broadcast channel behind
//! [`modula_store::Store::nudges`]. The writer also announces its own moves right after
//! commit (no round trip through the server); the announcer drops a nudge whose head is
//! not above the last one it announced for that branch, so each move is announced once.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use modula_store::{BranchHead, StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgListener, PgNotification, PgPoolOptions};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::convert::store_error;

/// The channel every writer notifies and every process listens on.
pub const NUDGE_CHANNEL: &str = "modula_nudge";
/// Nudges buffered per slow subscriber before it starts losing the oldest.
const NUDGE_BUFFER: usize = 1024;
/// First wait before reconnecting a failed listener.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// After this long without a notification the listener checks its connection is alive
/// (a half-open TCP connection would otherwise go unnoticed forever).
const IDLE_PROBE: Duration = Duration::from_secs(60);
/// How long the liveness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes nudges to this process's subscribers, each branch's heads only upwards.
#[derive(Debug)]
pub(crate) struct Announcer {
    sender: broadcast::Sender<BranchHead>,
    /// The last head announced per branch (one entry per branch of the database).
    last: Mutex<HashMap<Uuid, i64>>,
}

impl Announcer {
    pub(crate) fn new() -> Arc<Self> {
        let (sender, _) = broadcast::channel(NUDGE_BUFFER);
        Arc::new(Announcer { sender, last: Mutex::new(HashMap::new()) })
    }

    /// A new subscriber.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<BranchHead> {
        self.sender.subscribe()
    }

    /// Announces `head` unless a head at least as high was announced for its branch.
    pub(crate) fn announce(&self, head: BranchHead) {
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let seen = last.entry(head.branch_id).or_insert(i64::MIN);
        if head.head <= *seen {
            return;
        }
        *seen = head.head;
        drop(last);
        // No subscriber is not an error: nudges carry no state.
        let _ = self.sender.send(head);
    }

    /// Forgets the announced heads (after a reconnect, when the database may have been
    /// replaced by a restore with lower heads).
    fn forget(&self) {
        self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }
}

/// Parses a payload (`<branch uuid>:<head>`, as `record_changes` sends it); `None` for
/// anything else on the channel.
fn parse(payload: &str) -> Option<BranchHead> {
    let (branch, head) = payload.split_once(':')?;
    Some(BranchHead { branch_id: Uuid::from_str(branch).ok()?, head: head.parse().ok()? })
}

/// Stops the listener task when the last clone of the store is dropped.
#[derive(Debug)]
pub(crate) struct ListenerGuard(tokio::task::AbortHandle);

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects a listener (on a connection of its own, outside the store's pool), starts
/// listening, then keeps it running in the background. Returns once `LISTEN` is in
/// effect: every commit after that is heard.
pub(crate) async fn start(options: PgConnectOptions, announcer: Arc<Announcer>) -> StoreResult<ListenerGuard> {
    let listener = listen(&options).await?;
    let task = tokio::spawn(run(options, listener, announcer));
    Ok(ListenerGuard(task.abort_handle()))
}

/// A listener on a fresh one-connection pool (sqlx re-establishes a dropped connection
/// from it; a wedged one is abandoned with its pool).
async fn listen(options: &PgConnectOptions) -> StoreResult<PgListener> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(BACKOFF_MAX)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await.map_err(store_error)?;
    listener.ignore_pool_close_event(true);
    listener.listen(NUDGE_CHANNEL).await.map_err(store_error)?;
    Ok(listener)
}

/// Receives until the listener fails, then replaces it (bounded backoff); forever.
async fn run(options: PgConnectOptions, mut listener: PgListener, announcer: Arc<Announcer>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let error = receive(&mut listener, &announcer, &mut backoff).await;
        tracing::warn!(error = %error, "the nudge listener lost PostgreSQL; reconnecting");
        drop(listener);
        listener = reconnect(&options, &mut backoff).await;
        announcer.forget();
    }
}

/// Announces notifications until the listener fails.
async fn receive(listener: &mut PgListener, announcer: &Announcer, backoff: &mut Duration) -> StoreError {
    loop {
        match tokio::time::timeout(IDLE_PROBE, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => {
                *backoff = BACKOFF_MIN;
                deliver(&notification, announcer);
            }
            // The connection dropped and sqlx re-established it (and LISTEN): nudges sent
            // meanwhile are lost, which subscribers survive by pulling.
            Ok(Ok(None)) => announcer.forget(),
            Ok(Err(e)) => return store_error(e),
            Err(_idle) => {
                if let Err(e) = probe(listener).await {
                    return e;
                }
            }
        }
    }
}

fn deliver(notification: &PgNotification, announcer: &Announcer) {
    match parse(notification.payload()) {
        Some(head) => announcer.announce(head),
        None => tracing::debug!(payload = notification.payload(), "ignored a foreign payload on the nudge channel"),
    }
}

/// Checks the listening connection still answers.
async fn probe(listener: &mut PgListener) -> Result<(), StoreError> {
    match tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&mut *listener)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(store_error(e)),
        Err(_) => Err(StoreError::Unavailable("the nudge listener's connection stopped answering".into())),
    }
}

/// A new listener, retrying with doubling waits (at most [`BACKOFF_MAX`]) until one works.
async fn reconnect(options: &PgConnectOptions, backoff: &mut Duration) -> PgListener {
    loop {
        tokio::time::sleep(*backoff).await;
        *backoff = (*backoff * 2).min(BACKOFF_MAX);
        match listen(options).await {
            Ok(listener) => return listener,
            Err(e) => tracing::warn!(error = %e, retry_in = ?*backoff, "the nudge listener could not reconnect"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_foreign_ones_are_ignored() {
        let head = BranchHead { branch_id: Uuid::now_v7(), head: 42 };
        assert_eq!(parse(&format!("{}:{}", head.branch_id, head.head)), Some(head));
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("not-a-uuid:1"), None);
        assert_eq!(parse(&format!("{}:x", head.branch_id)), None);
    }

    #[test]
    fn heads_are_announced_once_and_only_upwards() {
        let announcer = Announcer::new();
        let mut rx = announcer.subscribe();
        let b = Uuid::now_v7();
        for h in [3, 3, 2, 5] {
            announcer.announce(BranchHead { branch_id: b, head: h });
        }
        assert_eq!(rx.try_recv().map(|h| h.head), Ok(3));
        assert_eq!(rx.try_recv().map(|h| h.head), Ok(5));
        assert!(rx.try_recv().is_err());
    }
}
