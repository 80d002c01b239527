//! The sync engine: three loops that keep the queue draining and the cache fresh.
//!
//! - **push**: sends pending ops FIFO in batches; settles each with the server's answer;
//!   on a transport error or 5xx keeps them `PENDING` and backs off (capped exponential
//!   with jitter). While idle it probes `/healthz`, so online/offline stays true.
//! - **pull**: at start, on reconnect, every few minutes while online and on every
//!   nudge; a `CURSOR_RESET` drops the cache and hydrates anew.
//! - **events**: holds `GET /v1/sync/events` open and turns nudges into pulls.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use modula_wire::ErrorCode;
use rand::Rng;
use sqlx::Connection;
use uuid::Uuid;

use crate::app::{DrainProgress, Terminal};
use crate::db;
use crate::error::{TerminalError, TerminalResult};
use crate::local;
use crate::remote::RemoteError;
use crate::settle;

/// Scopes the terminal keeps (it has no use for the branch's sales list).
pub const PULL_SCOPES: &str = "menu,policy,staff,branch,inventory,cash_sessions,attendance,voids,resolutions";
/// Changes per pull page.
pub const PULL_PAGE_LIMIT: u32 = 500;
/// Most pages one pull round reads before yielding (the next round goes on).
pub const PULL_PAGES_MAX: usize = 1_000;
/// Most cursor resets in a row before a pull round gives up.
pub const PULL_RESETS_MAX: usize = 3;
/// Largest push body the terminal builds, in bytes (the server takes 4 MiB).
pub const PUSH_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Longest SSE line kept, in bytes.
pub const SSE_LINE_MAX: usize = 64 * 1024;
/// An event stream silent this long (no heartbeat) is treated as dead and reopened.
pub const SSE_IDLE_TIMEOUT_MS: u64 = 90_000;

/// Capped exponential backoff with jitter (delays in `[d/2, d]`, `d` doubling to the cap).
#[derive(Debug)]
pub struct Backoff {
    base_ms: u64,
    cap_ms: u64,
    attempt: u32,
}

impl Backoff {
    /// A fresh backoff.
    pub fn new(base_ms: u64, cap_ms: u64) -> Backoff {
        assert!(base_ms > 0 && cap_ms >= base_ms);
        Backoff { base_ms, cap_ms, attempt: 0 }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.base_ms.saturating_mul(1u64 << self.attempt.min(20)).min(self.cap_ms);
        self.attempt = self.attempt.saturating_add(1);
        let ms = rand::thread_rng().gen_range(d / 2..=d);
        Duration::from_millis(ms)
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Starts the three loops; they run until the runtime stops.
pub fn spawn(t: Arc<Terminal>) {
    tokio::spawn(push_loop(t.clone()));
    tokio::spawn(pull_loop(t.clone()));
    tokio::spawn(events_loop(t));
}

// ------------------------------------------------------------------ push

async fn push_loop(t: Arc<Terminal>) {
    let mut backoff = Backoff::new(t.config.backoff_base_ms, t.config.backoff_cap_ms);
    loop {
        match push_round(&t).await {
            Ok(true) => backoff.reset(), // more to send: go on at once
            Ok(false) => {
                backoff.reset();
                let idle = Duration::from_millis(t.config.probe_interval_ms);
                tokio::select! {
                    _ = t.push_kick.notified() => {}
                    _ = tokio::time::sleep(idle) => {}
                }
            }
            Err(e) => {
                let delay = retry_delay(&e, &mut backoff, t.config.backoff_cap_ms);
                tracing::info!(error = %e, delay_ms = delay.as_millis() as u64, "sync failed; retrying later");
                note_error(&t, &e.to_string()).await;
                tokio::select! {
                    _ = t.link.restored.notified() => {}
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// How long to wait after a failed push: what a busy server asked for (`503` with
/// `Retry-After`, plus up to half a second of jitter so a city's tills do not come back
/// in the same millisecond), without growing the backoff; else the next backoff delay.
pub fn retry_delay(e: &RemoteError, backoff: &mut Backoff, cap_ms: u64) -> Duration {
    match e.retry_after(Duration::from_millis(cap_ms)) {
        Some(d) => d + Duration::from_millis(rand::thread_rng().gen_range(0..=500)),
        None => backoff.next_delay(),
    }
}

/// One step: push one batch, or probe when nothing is pending. `Ok(true)` when more
/// ops may be waiting.
pub async fn push_round(t: &Terminal) -> Result<bool, RemoteError> {
    if pending_batch(t, 1).await?.is_empty() {
        DrainProgress::note(&mut *t.drain.lock().await, 0, 0);
        // Probing does not take the send lock: a direct-lane call may go at the same time.
        let probe = t.remote.probe().await;
        t.link.set(probe.as_ref().map_or_else(|e| !e.is_transport(), |_| true));
        if probe.is_ok() {
            // Best effort: events wait in the outbox; their failure is no sync failure.
            if let Err(e) = send_events(t).await {
                tracing::debug!(error = %e, "till events not sent yet");
            }
        }
        return probe.map(|_| false);
    }
    let _sending = t.send_lock.lock().await;
    // Read again under the lock: a direct-lane call may have settled some meanwhile.
    let limit = t.push_batch_now.load(Ordering::SeqCst).clamp(1, t.config.push_batch_max.max(1));
    let batch = pending_batch(t, limit as i64).await?;
    if batch.is_empty() {
        return Ok(false);
    }
    let full = batch.len() == limit;
    let mut bytes = 0;
    let fetched = batch.len();
    let batch: Vec<_> = batch
        .into_iter()
        .enumerate()
        .take_while(|(i, o)| {
            bytes += o.op_json.len() + 1;
            *i == 0 || bytes <= PUSH_BYTES_MAX
        })
        .map(|(_, o)| o)
        .collect();
    let more = full || batch.len() < fetched;
    assert!(!batch.is_empty(), "one op always fits a push");
    let ids: Vec<Uuid> = batch.iter().map(|o| o.client_op_id).collect();
    let bodies: Vec<&str> = batch.iter().map(|o| o.op_json.as_str()).collect();
    let results = match t.remote.push(t.device.device_id, &bodies).await {
        Ok(r) => r,
        Err(RemoteError::Refused(p)) if p.status == 400 || p.status == 413 => {
            t.link.set(true);
            return unreadable_batch(t, &batch, *p).await;
        }
        Err(e) => {
            t.link.set(!e.is_transport());
            return Err(e);
        }
    };
    t.link.set(true);
    let grown = (limit * 2).min(t.config.push_batch_max.max(1));
    t.push_batch_now.store(grown, Ordering::SeqCst);
    let mut drain = t.drain.lock().await;
    let mut w = t.db.writer().await;
    let mut tx = w.begin().await.map_err(|e| local_err(TerminalError::from(e)))?;
    let (synced, failed) = settle::push_results(&mut tx, &ids, &results).await.map_err(local_err)?;
    db::note_push(&mut tx, Utc::now()).await.map_err(local_err)?;
    let left = db::pending_count(&mut tx).await.map_err(local_err)?;
    tx.commit().await.map_err(|e| local_err(TerminalError::from(e)))?;
    drop(w);
    DrainProgress::note(&mut drain, synced as i64 + failed as i64, left);
    drop(drain);
    tracing::debug!(synced, failed, "pushed a batch");
    Ok(more)
}

/// Most till events sent in one request (the server takes 50).
const EVENTS_PER_SEND: i64 = 50;

/// Sends the till's queued events (PIN lockouts) to the server's audit trail, oldest
/// first, and deletes those it answered for (recorded, or skipped as about someone it
/// does not know). If the server cannot read the batch (a till clock far off makes a time
/// it refuses), each event goes alone and only the unreadable one is dropped, with a
/// warning. A server without the endpoint (404), a refused token, a busy server or no link
/// keeps them all for later.
async fn send_events(t: &Terminal) -> Result<(), RemoteError> {
    let rows: Vec<(String, String)> = {
        let mut conn = t.db.reader().acquire().await.map_err(|e| local_err(TerminalError::from(e)))?;
        sqlx::query_as("SELECT event_id, body FROM event_outbox ORDER BY created_at, event_id LIMIT ?")
            .bind(EVENTS_PER_SEND)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| local_err(TerminalError::from(e)))?
    };
    if rows.is_empty() {
        return Ok(());
    }
    let events: Vec<serde_json::Value> = rows.iter().map(|(_, b)| serde_json::from_str(b).unwrap_or_default()).collect();
    let done: Vec<&String> = match t.remote.device_events(&events).await {
        Ok(()) => rows.iter().map(|(id, _)| id).collect(),
        Err(RemoteError::Refused(p)) if p.status == 400 || p.status == 422 => {
            let mut done = Vec::new();
            for ((id, _), event) in rows.iter().zip(&events) {
                match t.remote.device_events(std::slice::from_ref(event)).await {
                    Ok(()) => done.push(id),
                    Err(RemoteError::Refused(p)) if p.status == 400 || p.status == 422 => {
                        tracing::warn!(event = %id, detail = %p.detail, "the server cannot read this till event; dropping it");
                        done.push(id);
                    }
                    Err(e) => return Err(e),
                }
            }
            done
        }
        Err(e) => return Err(e),
    };
    let mut w = t.db.writer().await;
    for id in done {
        sqlx::query("DELETE FROM event_outbox WHERE event_id = ?")
            .bind(id)
            .execute(&mut *w)
            .await
            .map_err(|e| local_err(TerminalError::from(e)))?;
    }
    Ok(())
}

/// The server refused a whole push as unreadable (400) or too large (413): halve the
/// batch until the op it cannot take is alone, then settle that op `FAILED` with the
/// server's reason, so one bad op never blocks the queue behind it.
async fn unreadable_batch(t: &Terminal, batch: &[db::QueuedOp], p: modula_wire::Problem) -> Result<bool, RemoteError> {
    if batch.len() > 1 {
        tracing::warn!(ops = batch.len(), detail = %p.detail, "push refused as a whole; halving the batch");
        t.push_batch_now.store((batch.len() / 2).max(1), Ordering::SeqCst);
        return Ok(true);
    }
    let op = &batch[0];
    let message = format!("the server cannot take this op: {}", p.detail);
    tracing::error!(client_op_id = %op.client_op_id, %message, "op refused as unreadable");
    let mut w = t.db.writer().await;
    let mut tx = w.begin().await.map_err(|e| local_err(TerminalError::from(e)))?;
    settle::failed(&mut tx, op.client_op_id, &p.code.to_string(), &message).await.map_err(local_err)?;
    tx.commit().await.map_err(|e| local_err(TerminalError::from(e)))?;
    t.push_batch_now.store(t.config.push_batch_max.max(1), Ordering::SeqCst);
    Ok(true)
}

async fn pending_batch(t: &Terminal, limit: i64) -> Result<Vec<db::QueuedOp>, RemoteError> {
    let mut conn = t.db.reader().acquire().await.map_err(local_err)?;
    db::pending_ops(&mut conn, limit).await.map_err(local_err)
}

fn local_err(e: impl Into<TerminalError>) -> RemoteError {
    RemoteError::Protocol(format!("local database: {}", e.into()))
}

async fn note_error(t: &Terminal, error: &str) {
    let mut w = t.db.writer().await;
    if let Err(e) = db::note_contact(&mut w, None, Some(error)).await {
        tracing::error!(error = %e, "cannot record the sync error");
    }
}

// ------------------------------------------------------------------ pull

async fn pull_loop(t: Arc<Terminal>) {
    let mut backoff = Backoff::new(t.config.backoff_base_ms, t.config.backoff_cap_ms);
    loop {
        let wait = match pull_round(&t).await {
            Ok(()) => {
                backoff.reset();
                Duration::from_millis(t.config.pull_interval_ms)
            }
            Err(e) => {
                tracing::info!(error = %e, "pull failed");
                note_error(&t, &format!("pull: {e}")).await;
                backoff.next_delay()
            }
        };
        tokio::select! {
            _ = t.pull_kick.notified() => {}
            _ = t.link.restored.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Pulls until the branch stream is caught up (bounded by [`PULL_PAGES_MAX`]).
pub async fn pull_round(t: &Terminal) -> Result<(), RemoteError> {
    let mut resets = 0;
    for _ in 0..PULL_PAGES_MAX {
        let (cursor, hydrating) = {
            let mut conn = t.db.reader().acquire().await.map_err(local_err)?;
            let dev = db::device(&mut conn).await.map_err(local_err)?;
            // Hydrating until the last page of a cursor-less pull is applied, however many
            // pages that takes.
            (dev.as_ref().and_then(|d| d.pull_cursor.clone()), dev.as_ref().is_some_and(|d| d.hydrated_at.is_none()))
        };
        let page = match t.remote.pull(t.device.branch_id, PULL_SCOPES, cursor.as_deref(), PULL_PAGE_LIMIT).await {
            Ok(p) => p,
            Err(RemoteError::Refused(p)) if p.code == ErrorCode::CursorReset && resets < PULL_RESETS_MAX => {
                resets += 1;
                tracing::warn!(reason = ?p.reason, "cursor reset; rehydrating the cache");
                let mut w = t.db.writer().await;
                db::reset_cache(&mut w).await.map_err(local_err)?;
                continue;
            }
            Err(e) => {
                t.link.set(!e.is_transport());
                return Err(e);
            }
        };
        t.link.set(true);
        apply_page(t, &page, hydrating).await.map_err(local_err)?;
        if !page.has_more {
            return Ok(());
        }
    }
    Ok(())
}

async fn apply_page(t: &Terminal, page: &modula_wire::sync::PullPage, hydration: bool) -> TerminalResult<()> {
    let mut w = t.db.writer().await;
    let mut tx = w.begin().await?;
    for c in &page.changes {
        db::apply_change(&mut tx, c).await?;
        match (c.scope.as_str(), &c.data) {
            ("attendance", Some(d)) => local::merge_pulled_shift(&mut tx, d).await?,
            ("cash_sessions", Some(d)) if d["device_id"].as_str() == Some(&t.device.device_id.to_string()) => {
                local::merge_pulled_session(&mut tx, d).await?
            }
            ("voids", Some(d)) => local::merge_pulled_void(&mut tx, d).await?,
            _ => {}
        }
    }
    let done = hydration && !page.has_more;
    db::set_cursor(&mut tx, Some(&page.next_cursor), Utc::now(), done).await?;
    tx.commit().await?;
    Ok(())
}

// ------------------------------------------------------------------ events

async fn events_loop(t: Arc<Terminal>) {
    let mut backoff = Backoff::new(t.config.backoff_base_ms.max(1_000), t.config.backoff_cap_ms);
    loop {
        match listen(&t).await {
            Ok(()) => backoff.reset(),
            Err(e) => tracing::debug!(error = %e, "event stream ended"),
        }
        tokio::select! {
            _ = t.link.restored.notified() => {}
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// Reads one SSE connection until it ends; each `nudge` wakes the pull loop.
async fn listen(t: &Terminal) -> Result<(), RemoteError> {
    let resp = t.remote.events(t.device.branch_id).await?;
    let mut stream = resp.bytes_stream();
    let mut line = Vec::new();
    let mut event = String::new();
    loop {
        // The server sends heartbeats while idle; silence this long means a dead link.
        let next = tokio::time::timeout(Duration::from_millis(SSE_IDLE_TIMEOUT_MS), stream.next()).await;
        let Ok(Some(chunk)) = next else {
            return Err(RemoteError::Transport("event stream ended or went silent".into()));
        };
        let chunk = chunk.map_err(|e| RemoteError::Transport(e.to_string()))?;
        for &b in chunk.iter() {
            if b != b'\n' {
                if line.len() < SSE_LINE_MAX {
                    line.push(b);
                }
                continue;
            }
            let text = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
            line.clear();
            if let Some(name) = text.strip_prefix("event:") {
                event = name.trim().to_string();
            } else if text.is_empty() {
                if event == "nudge" {
                    t.pull_kick.notify_one();
                }
                event.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy server's `Retry-After` is waited as asked (plus jitter) and does not grow the
    /// backoff; any other failure takes the next backoff step.
    #[test]
    fn a_busy_server_is_called_back_when_it_asked() {
        let mut b = Backoff::new(1_000, 30_000);
        let busy = RemoteError::Server { status: 503, detail: "busy".into(), retry_after_s: Some(1) };
        for _ in 0..10 {
            let d = retry_delay(&busy, &mut b, 30_000).as_millis() as u64;
            assert!((1_000..=1_500).contains(&d), "{d}");
        }
        let failing = RemoteError::Server { status: 500, detail: "bug".into(), retry_after_s: Some(1) };
        let d = retry_delay(&failing, &mut b, 30_000).as_millis() as u64;
        assert!((500..=1_000).contains(&d), "the first backoff step, unchanged by the busy answers: {d}");
        let long = RemoteError::Server { status: 503, detail: "busy".into(), retry_after_s: Some(3_600) };
        assert!(retry_delay(&long, &mut b, 30_000) <= Duration::from_millis(30_500), "capped");
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(500, 30_000);
        let mut ceiling = 500u64;
        for _ in 0..40 {
            let d = b.next_delay().as_millis() as u64;
            assert!(d >= ceiling / 2 && d <= ceiling, "{d} ms not in [{}, {ceiling}]", ceiling / 2);
            ceiling = (ceiling * 2).min(30_000);
        }
        b.reset();
        let d = b.next_delay().as_millis() as u64;
        assert!((250..=500).contains(&d), "after reset: {d}");
    }
}
