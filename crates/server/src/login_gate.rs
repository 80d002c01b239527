//! The sign-in gate: a process-wide bound on concurrent credential checks (argon2 takes
//! 19 MiB and a core's time per check, so a flood queues here or is answered `503`), and
//! the lock periods of the sign-in throttle. Held by [`crate::state::AppState`].

use std::time::Duration;

use tokio::sync::Semaphore;

/// Failed sign-ins in a row that lock an account.
pub const LOGIN_FAILURES_PER_LOCK: i64 = 5;
/// Failed sign-ins in a row from one client address, whatever the accounts, that lock
/// the address (guessing one PIN across many accounts).
pub const ADDRESS_FAILURES_PER_LOCK: i64 = 20;
/// An address's failures count within this window: one that has failed nothing for this
/// long starts again from zero. A success never resets it.
pub const ADDRESS_WINDOW: Duration = Duration::from_secs(15 * 60);
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

    /// How long the lock after `failures` failed attempts in a row lasts, locking every
    /// `per_lock` failures: the base for the first lockout, doubling with each further
    /// one, at most [`LOGIN_LOCK_MAX`].
    pub fn lock_for(&self, failures: i64, per_lock: i64) -> Duration {
        let lockouts = (failures / per_lock).clamp(1, 32) as u32;
        self.lock_base.saturating_mul(1 << (lockouts - 1).min(20)).min(LOGIN_LOCK_MAX)
    }
}

/// [`LoginGate::lock_for`] with the default base of 5 minutes (for the checks of a current
/// password outside sign-in, which have no gate).
pub fn default_lock_for(failures: i64, per_lock: i64) -> Duration {
    LoginGate::new(1, DEFAULT_LOCK_BASE).lock_for(failures, per_lock)
}

/// The first lock of an account or address, unless configured otherwise.
pub const DEFAULT_LOCK_BASE: Duration = Duration::from_secs(5 * 60);

/// The key of a client address in the throttle: an IPv4 address as it is, an IPv6
/// address by its /64 prefix (one subscriber's network hands out a whole /64), an
/// IPv4-mapped IPv6 address as the IPv4 address.
pub fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_by_host_or_ipv6_network() {
        assert_eq!(address_key("203.0.113.7".parse().unwrap()), "203.0.113.7");
        assert_eq!(address_key("2001:db8:1:2:aaaa::1".parse().unwrap()), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:bbbb::9".parse().unwrap()), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:198.51.100.4".parse().unwrap()), "198.51.100.4");
    }

    #[test]
    fn locks_double_per_lockout_up_to_a_day() {
        let gate = LoginGate::new(1, Duration::from_secs(300));
        let per = LOGIN_FAILURES_PER_LOCK;
        assert_eq!(gate.lock_for(per, per), Duration::from_secs(300));
        assert_eq!(gate.lock_for(2 * per, per), Duration::from_secs(600));
        assert_eq!(gate.lock_for(3 * per, per), Duration::from_secs(1200));
        assert_eq!(gate.lock_for(1000 * per, per), LOGIN_LOCK_MAX);
    }
}
