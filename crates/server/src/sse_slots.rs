//! Places for SSE subscribers (`GET /v1/sync/events`), bounded three ways so one token
//! cannot take every slot: at most `total` streams per process, at most a share of them
//! per tenant, and at most [`PER_DEVICE_MAX`] per device ([`PER_STAFF_MAX`] per staff
//! member: a dashboard in a few tabs). A refused subscriber gets `503` with
//! `Retry-After`; a place is given back when its stream ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

/// Streams one device may hold at once (a till holds one; a reconnect may overlap).
pub const PER_DEVICE_MAX: usize = 2;
/// Streams one staff member may hold at once.
pub const PER_STAFF_MAX: usize = 4;

/// Who subscribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subscriber {
    /// A till.
    Device(Uuid),
    /// A person (the dashboard).
    Staff(Uuid),
}

/// Why a subscriber was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Full {
    /// The process serves its most streams.
    Process(usize),
    /// The tenant holds its share.
    Tenant(usize),
    /// This device or person holds its most.
    Subscriber(usize),
}

impl Full {
    /// A sentence for the refused client.
    pub fn detail(&self) -> String {
        match self {
            Full::Process(n) => format!("this server already serves its {n} event streams; try again shortly"),
            Full::Tenant(n) => format!("this shop already holds its share of {n} event streams on this server; try again shortly"),
            Full::Subscriber(n) => format!("this device or person already has {n} event streams open; close one first"),
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_tenant: HashMap<Uuid, usize>,
    by_subscriber: HashMap<Subscriber, usize>,
}

/// The places of one process.
#[derive(Debug)]
pub struct SseSlots {
    total_max: usize,
    tenant_max: usize,
    counts: Mutex<Counts>,
}

/// A place held while its stream lives.
#[derive(Debug)]
pub struct SsePlace {
    slots: Arc<SseSlots>,
    tenant: Uuid,
    subscriber: Subscriber,
}

impl SseSlots {
    /// `total_max` streams per process, a tenant at most `tenant_share_percent` of them
    /// (never fewer than one device's worth).
    pub fn new(total_max: usize, tenant_share_percent: usize) -> SseSlots {
        assert!(total_max > 0, "at least one event stream");
        let tenant_max = (total_max * tenant_share_percent.clamp(1, 100) / 100).max(PER_DEVICE_MAX).min(total_max);
        SseSlots { total_max, tenant_max, counts: Mutex::new(Counts::default()) }
    }

    /// The most streams one tenant may hold.
    pub fn tenant_max(&self) -> usize {
        self.tenant_max
    }

    /// Takes a place for `subscriber` of `tenant`, or says why not.
    pub fn take(self: &Arc<Self>, tenant: Uuid, subscriber: Subscriber) -> Result<SsePlace, Full> {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let own_max = match subscriber {
            Subscriber::Device(_) => PER_DEVICE_MAX,
            Subscriber::Staff(_) => PER_STAFF_MAX,
        };
        if c.total >= self.total_max {
            return Err(Full::Process(self.total_max));
        }
        if c.by_tenant.get(&tenant).copied().unwrap_or(0) >= self.tenant_max {
            return Err(Full::Tenant(self.tenant_max));
        }
        if c.by_subscriber.get(&subscriber).copied().unwrap_or(0) >= own_max {
            return Err(Full::Subscriber(own_max));
        }
        c.total += 1;
        *c.by_tenant.entry(tenant).or_default() += 1;
        *c.by_subscriber.entry(subscriber).or_default() += 1;
        Ok(SsePlace { slots: self.clone(), tenant, subscriber })
    }
}

impl Drop for SsePlace {
    fn drop(&mut self) {
        let mut c = self.slots.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.total -= 1;
        let down = |n: &mut usize| {
            *n -= 1;
            *n > 0
        };
        if !c.by_tenant.get_mut(&self.tenant).is_some_and(down) {
            c.by_tenant.remove(&self.tenant);
        }
        if !c.by_subscriber.get_mut(&self.subscriber).is_some_and(down) {
            c.by_subscriber.remove(&self.subscriber);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_bounds_and_places_come_back() {
        let slots = Arc::new(SseSlots::new(10, 50));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let d1 = Subscriber::Device(Uuid::now_v7());
        let held: Vec<_> = (0..2).map(|_| slots.take(a, d1).unwrap()).collect();
        assert_eq!(slots.take(a, d1).unwrap_err(), Full::Subscriber(2));
        let more: Vec<_> = (0..3).map(|_| slots.take(a, Subscriber::Device(Uuid::now_v7())).unwrap()).collect();
        assert_eq!(slots.take(a, Subscriber::Staff(Uuid::now_v7())).unwrap_err(), Full::Tenant(5), "A holds its half");
        let others: Vec<_> = (0..5).map(|_| slots.take(b, Subscriber::Staff(Uuid::now_v7())).unwrap()).collect();
        assert_eq!(slots.take(Uuid::now_v7(), Subscriber::Device(Uuid::now_v7())).unwrap_err(), Full::Process(10));
        drop(held);
        slots.take(a, d1).unwrap();
        drop((more, others));
        let c = slots.counts.lock().unwrap();
        assert_eq!((c.total, c.by_tenant.len(), c.by_subscriber.len()), (0, 0, 0), "every place came back");
    }
}
