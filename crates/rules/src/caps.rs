//! The policy's confirmation caps (SPEC §3): a tender or an opening float worth more
//! than `max_tender_cents` / `max_float_cents` is probably a typing slip ("3,00" read
//! as $300). The till asks the cashier to confirm it; the server flags it in the audit.
//! Neither ever refuses it: the money may really be there.

use modula_wire::op::{Fx, Tender};
use modula_wire::Policy;
use serde::Serialize;

use crate::cash::khr_in_cents;
use crate::pricing::tendered_cents_at;

/// An amount above one of the policy's caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OverCap {
    /// Which cap: `max_tender_cents` or `max_float_cents`.
    pub cap: &'static str,
    /// The amount's worth in cents (riel at the rate that applies).
    pub amount_cents: i64,
    /// The cap, in cents.
    pub cap_cents: i64,
}

/// The tender, worth `tendered_cents_at(tender, fx)`, is above `max_tender_cents`.
pub fn tender_over_cap(tender: &Tender, fx: &Fx, policy: &Policy) -> Option<OverCap> {
    let amount_cents = tendered_cents_at(tender, fx);
    (amount_cents > policy.max_tender_cents).then_some(OverCap {
        cap: "max_tender_cents",
        amount_cents,
        cap_cents: policy.max_tender_cents,
    })
}

/// The opening float, riel at the policy's rate, is above `max_float_cents`.
pub fn float_over_cap(float_cents: i64, float_khr: i64, policy: &Policy) -> Option<OverCap> {
    let amount_cents = float_cents.saturating_add(khr_in_cents(float_khr, policy.khr_per_usd));
    (amount_cents > policy.max_float_cents).then_some(OverCap {
        cap: "max_float_cents",
        amount_cents,
        cap_cents: policy.max_float_cents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Caps $200 tender and $500 float (the defaults): at the cap is fine, a cent
    /// above is flagged; riel counts at the rate.
    #[test]
    fn caps_by_hand() {
        let p = Policy::default();
        let fx = Fx::of(&p);
        let tender = |usd, khr| Tender { cash_usd_cents: usd, cash_khr: khr };
        assert_eq!(tender_over_cap(&tender(20_000, 0), &fx, &p), None);
        let over = tender_over_cap(&tender(20_000, 41), &fx, &p).unwrap();
        assert_eq!((over.cap, over.amount_cents, over.cap_cents), ("max_tender_cents", 20_001, 20_000));
        assert_eq!(float_over_cap(50_000, 0, &p), None);
        assert_eq!(float_over_cap(0, 2_050_000, &p), None);
        assert_eq!(float_over_cap(0, 2_050_041, &p).map(|o| o.amount_cents), Some(50_001));
    }
}
