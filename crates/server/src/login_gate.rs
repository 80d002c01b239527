//! The sign-in gate: a process-wide bound on concurrent credential checks (argon2 takes
//! 19 MiB and a core's time per check, so a flood queues here or is answered `503`), and
//! the lock periods of the sign-in throttle. Held by [`crate::state::AppState`].

use std::time::Duration;

use tokio::sync::Semaphore;

/// Failed sign-ins in a row that lock an account.
pub const LOGIN_FAILURES_PER_LOCK: i64 = 5;
/// The longest lock, however many lockouts came before: a day.
pub const LOGIN_LOCK_MAX: Duration = Duration::from_secs(24 * 3600);
/// How long a sign-in waits for a place at the credential check before it is answered
/// `503` (argon2 takes 19 MiB and a core's time per check).
pub const LOGIN_GATE_WAIT: Duration = Duration::from_secs(2);

/// Where sign-ins are checked: the places at the credential check (one per core, so a
/// flood of sign-ins queues instead of eating memory) and the base lock period.
pub struct LoginGate {
    places: Semaphore,
    lock_base: Duration,
}

impl LoginGate {
    /// A gate with `places` concurrent checks and a first lock of `lock_base`.
    pub fn new(places: usize, lock_base: Duration) -> LoginGate {
        assert!(places > 0, "a sign-in gate needs a place");
        LoginGate { places: Semaphore::new(places), lock_base }
    }

    /// Waits for a place at the credential check (held while the permit lives).
    pub async fn place(&self) -> Result<tokio::sync::SemaphorePermit<'_>, tokio::sync::AcquireError> {
        self.places.acquire().await
    }

    /// How long the lock after `failures` failed attempts in a row lasts: the base for
    /// the first lockout, doubling with each further one, at most [`LOGIN_LOCK_MAX`].
    pub fn lock_for(&self, failures: i64) -> Duration {
        let lockouts = (failures / LOGIN_FAILURES_PER_LOCK).clamp(1, 32) as u32;
        self.lock_base.saturating_mul(1 << (lockouts - 1).min(20)).min(LOGIN_LOCK_MAX)
    }
}
