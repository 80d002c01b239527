//! Idempotency keys being processed by this process (the online lane's
//! `REQUEST_IN_FLIGHT`). Process-wide state, held by [`crate::state::AppState`].

use std::collections::HashSet;
use std::sync::Mutex;

use uuid::Uuid;

/// Keys being processed by this process right now (bounded by concurrent requests).
#[derive(Default)]
pub struct InFlight {
    keys: Mutex<HashSet<(Uuid, Uuid)>>,
}

/// Removes a key from [`InFlight`] when dropped.
pub struct InFlightGuard<'a> {
    set: &'a InFlight,
    key: (Uuid, Uuid),
}

impl InFlight {
    /// Marks `(tenant, key)` in flight, or `None` if it already is.
    pub fn enter(&self, tenant_id: Uuid, key: Uuid) -> Option<InFlightGuard<'_>> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.insert((tenant_id, key)).then(|| InFlightGuard { set: self, key: (tenant_id, key) })
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.set.keys.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}
