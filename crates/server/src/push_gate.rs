//! Admission to the push lane. A thousand tills reconnecting at once would otherwise all
//! be read, parsed and queued for the write lock together: each waits behind the others
//! (seconds), and the process holds every batch in memory at once. Instead at most
//! `slots` pushes are decided at once per process, a push waits at most `wait` for a
//! place, and one that gets none is answered `503` with `Retry-After` before its body is
//! read. Nothing of it was applied, so the till simply sends it again later.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ApiError;

/// Pushes decided at once by one process, by default.
pub const PUSH_SLOTS_DEFAULT: usize = 8;
/// How long a push may wait for a place, by default.
pub const PUSH_WAIT_DEFAULT: Duration = Duration::from_secs(1);
/// What a refused push is told to wait, in seconds.
pub const PUSH_RETRY_AFTER_S: u64 = 1;

/// The places of the push lane.
pub struct PushGate {
    slots: Semaphore,
    wait: Duration,
}

impl PushGate {
    /// A gate of `slots` places (at least one) and at most `wait` in line.
    pub fn new(slots: usize, wait: Duration) -> PushGate {
        PushGate { slots: Semaphore::new(slots.max(1)), wait }
    }

    /// A place, or `503` with `Retry-After` when none frees up within the wait.
    pub async fn enter(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(self.wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::Busy {
                detail: "the server is busy with other tills' pushes; nothing of this one was applied, send it again shortly".into(),
                retry_after_s: PUSH_RETRY_AFTER_S,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With every place taken, a push waits its time and is refused; a place freed lets
    /// the next one in.
    #[tokio::test]
    async fn a_full_gate_refuses_after_the_wait() {
        let gate = PushGate::new(1, Duration::from_millis(50));
        let first = gate.enter().await.expect("a free place");
        let started = std::time::Instant::now();
        let refused = gate.enter().await.expect_err("no place");
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(matches!(refused, ApiError::Busy { retry_after_s: PUSH_RETRY_AFTER_S, .. }));
        drop(first);
        assert!(gate.enter().await.is_ok());
    }
}
