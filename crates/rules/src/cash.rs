//! Cash-session arithmetic (spec §3): a drawer that holds dollars and riel.
//!
//! Per currency: expected = float + cash tendered − change given + paid in − paid out +
//! adjustments − refunds; variance = counted − expected. The session also reports its
//! total variance in cents at the policy's rate when it closed.
//!
//! Each currency keeps its own [`CashFlows`], in that currency's unit: cents for dollars,
//! whole riel for riel. Nothing here converts between them except
//! [`variance_total_cents`] and [`khr_in_cents`]. Sums saturate at the `i64` range
//! instead of overflowing (amounts are bounded by the wire limits, so this never
//! happens in practice).

use modula_wire::op::{Cash, ChangeGiven, MovementKind, Tender};
use modula_wire::{CashDrawer, CashFlows};

use crate::pricing::round_div_half_away;

/// What should be in the drawer in one currency:
/// `float + tendered − change + paid_in − paid_out + adjustments − refunds`.
pub fn expected(f: &CashFlows) -> i64 {
    let expected = i128::from(f.float) + i128::from(f.tendered) - i128::from(f.change) + i128::from(f.paid_in)
        - i128::from(f.paid_out)
        + i128::from(f.adjustments)
        - i128::from(f.refunds);
    saturate_i64(expected)
}

/// The net effect of sales on one currency: `tendered − change`.
pub fn net_sales(f: &CashFlows) -> i64 {
    saturate_i64(i128::from(f.tendered) - i128::from(f.change))
}

/// What one sale puts into and takes out of the drawer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaleCash {
    /// Dollars handed over, in cents.
    pub tendered_cents: i64,
    /// Riel handed over.
    pub tendered_khr: i64,
    /// Dollars given back, in cents.
    pub change_cents: i64,
    /// Riel given back.
    pub change_khr: i64,
}

/// The drawer effect of a sale (SPEC §4): with the change as given, the tender in each
/// currency comes in and the change in each goes out; without it (a first-release op),
/// the sale counts as `total_cents` of dollars, the single-currency drawer of old.
pub fn sale_cash(total_cents: i64, tender: &Tender, change: Option<&ChangeGiven>) -> SaleCash {
    match change {
        Some(given) => SaleCash {
            tendered_cents: tender.cash_usd_cents,
            tendered_khr: tender.cash_khr,
            change_cents: given.usd_cents,
            change_khr: given.khr,
        },
        None => SaleCash { tendered_cents: total_cents, ..SaleCash::default() },
    }
}

/// A drawer opened with these floats.
pub fn opened(float_cents: i64, float_khr: i64) -> CashDrawer {
    CashDrawer {
        usd: CashFlows { float: float_cents, ..CashFlows::default() },
        khr: CashFlows { float: float_khr, ..CashFlows::default() },
    }
}

/// Adds (`sign = 1`) or takes back (`sign = -1`) one sale's cash.
pub fn apply_sale(d: &mut CashDrawer, sale: &SaleCash, sign: i64) {
    debug_assert!(sign == 1 || sign == -1, "sign is ±1");
    add(&mut d.usd.tendered, sign, sale.tendered_cents);
    add(&mut d.usd.change, sign, sale.change_cents);
    add(&mut d.khr.tendered, sign, sale.tendered_khr);
    add(&mut d.khr.change, sign, sale.change_khr);
}

/// Adds (`sign = 1`) or takes back (`sign = -1`) one movement.
pub fn apply_movement(d: &mut CashDrawer, kind: MovementKind, amount: Cash, sign: i64) {
    debug_assert!(sign == 1 || sign == -1, "sign is ±1");
    let (flows, value) = match amount {
        Cash::Usd(cents) => (&mut d.usd, cents),
        Cash::Khr(khr) => (&mut d.khr, khr),
    };
    let slot = match kind {
        MovementKind::PaidIn => &mut flows.paid_in,
        MovementKind::PaidOut => &mut flows.paid_out,
        MovementKind::Adjustment => &mut flows.adjustments,
    };
    add(slot, sign, value);
}

/// Adds one refund of a voided sale.
pub fn apply_refund(d: &mut CashDrawer, refund: &ChangeGiven) {
    add(&mut d.usd.refunds, 1, refund.usd_cents);
    add(&mut d.khr.refunds, 1, refund.khr);
}

fn add(slot: &mut i64, sign: i64, value: i64) {
    *slot = slot.saturating_add(value.saturating_mul(sign));
}

/// The signed effect of one movement on its currency's expected cash: paid in and
/// adjustments add their amount, paid out subtracts it.
pub fn movement_delta(kind: MovementKind, amount: i64) -> i64 {
    match kind {
        MovementKind::PaidIn | MovementKind::Adjustment => amount,
        MovementKind::PaidOut => amount.saturating_neg(),
    }
}

/// `counted − expected`: positive when the drawer holds more than expected.
pub fn variance(counted: i64, expected: i64) -> i64 {
    saturate_i64(i128::from(counted) - i128::from(expected))
}

/// A riel amount's worth in cents at `khr_per_usd`, rounded down (the tender rule of
/// SPEC §3.1), for the caps and the paid-out limit. 0 for a rate that is not positive.
pub fn khr_in_cents(khr: i64, khr_per_usd: i64) -> i64 {
    if khr_per_usd <= 0 {
        return 0;
    }
    saturate_i64((i128::from(khr) * 100).div_euclid(i128::from(khr_per_usd)))
}

/// The session's total variance in cents: the dollar variance plus the riel variance
/// at `khr_per_usd` (the policy's rate when it closed), rounded half away from zero so
/// a shortage and a surplus of the same size weigh the same. Riel not counted
/// (`None`) adds nothing.
pub fn variance_total_cents(variance_cents: i64, variance_khr: Option<i64>, khr_per_usd: i64) -> i64 {
    let khr_cents = match variance_khr {
        Some(khr) if khr_per_usd > 0 => round_div_half_away(i128::from(khr) * 100, i128::from(khr_per_usd)),
        _ => 0,
    };
    saturate_i64(i128::from(variance_cents) + khr_cents)
}

/// Cents as a dollar amount for messages: `2000` → `$20.00`, `-25` → `-$0.25`.
pub fn usd_text(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}${}.{:02}", abs / 100, abs % 100)
}

/// Whole riel for messages, with thousands separators: `10300` → `៛10,300`.
pub fn khr_text(khr: i64) -> String {
    let digits = khr.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 4);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    let sign = if khr < 0 { "-" } else { "" };
    format!("{sign}៛{out}")
}

fn saturate_i64(value: i128) -> i64 {
    value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing;
    use modula_wire::op::Fx;
    use proptest::prelude::*;

    /// Float $50 + ៛40,000; a first-release sale of $7.00; a $10 sale paid with a $20
    /// note, change $10; a $2.50 sale paid ៛10,300 at 4,100, change ៛100; paid in $10,
    /// paid out ៛8,000, adjustment −$0.25.
    #[test]
    fn expected_by_hand() {
        let mut d = opened(5000, 40_000);
        apply_sale(&mut d, &sale_cash(700, &tender(700, 0), None), 1);
        apply_sale(&mut d, &sale_cash(1000, &tender(2000, 0), Some(&given(1000, 0))), 1);
        apply_sale(&mut d, &sale_cash(250, &tender(0, 10_300), Some(&given(0, 100))), 1);
        apply_movement(&mut d, MovementKind::PaidIn, Cash::Usd(1000), 1);
        apply_movement(&mut d, MovementKind::PaidOut, Cash::Khr(8000), 1);
        apply_movement(&mut d, MovementKind::Adjustment, Cash::Usd(-25), 1);
        // 5000 + (700 + 2000) − 1000 + 1000 − 25 = 7675
        assert_eq!(expected(&d.usd), 7675);
        // 40,000 + 10,300 − 100 − 8,000 = 42,200
        assert_eq!(expected(&d.khr), 42_200);
        assert_eq!(variance(7600, 7675), -75);
        assert_eq!(variance(42_200, 42_200), 0);
        // −75 cents and −4,100 riel at 4,100: −$1.75.
        assert_eq!(variance_total_cents(-75, Some(-4100), 4100), -175);
        // ៛50 at 4,100 is 1.22 cents: rounds to 1; −៛50 to −1.
        assert_eq!(variance_total_cents(0, Some(50), 4100), 1);
        assert_eq!(variance_total_cents(0, Some(-50), 4100), -1);
        assert_eq!(variance_total_cents(30, None, 4100), 30);
    }

    #[test]
    fn money_texts() {
        assert_eq!(usd_text(2000), "$20.00");
        assert_eq!(usd_text(-25), "-$0.25");
        assert_eq!(usd_text(i64::MIN), "-$92233720368547758.08");
        assert_eq!(khr_text(10_300), "៛10,300");
        assert_eq!(khr_text(-1_000_000), "-៛1,000,000");
        assert_eq!(khr_text(999), "៛999");
    }

    #[test]
    fn first_release_sale_counts_its_total_in_dollars() {
        let c = sale_cash(725, &tender(0, 41_000), None);
        assert_eq!(c, SaleCash { tendered_cents: 725, ..SaleCash::default() });
    }

    #[test]
    fn take_back_undoes() {
        let mut d = opened(100, 4000);
        let before = d;
        let s = sale_cash(250, &tender(500, 2000), Some(&given(300, 0)));
        apply_sale(&mut d, &s, 1);
        apply_movement(&mut d, MovementKind::PaidOut, Cash::Khr(1000), 1);
        apply_movement(&mut d, MovementKind::PaidOut, Cash::Khr(1000), -1);
        apply_sale(&mut d, &s, -1);
        assert_eq!(d, before);
    }

    #[test]
    fn extremes_saturate() {
        let f = CashFlows { float: i64::MAX, tendered: i64::MAX, ..CashFlows::default() };
        assert_eq!(expected(&f), i64::MAX);
        assert_eq!(variance(i64::MIN, i64::MAX), i64::MIN);
        assert_eq!(movement_delta(MovementKind::PaidOut, i64::MIN), i64::MAX);
        assert_eq!(khr_in_cents(100, 0), 0);
        assert_eq!(khr_in_cents(4099, 4100), 99);
    }

    fn tender(cash_usd_cents: i64, cash_khr: i64) -> Tender {
        Tender { cash_usd_cents, cash_khr }
    }

    fn given(usd_cents: i64, khr: i64) -> ChangeGiven {
        ChangeGiven { usd_cents, khr }
    }

    fn kind() -> impl Strategy<Value = MovementKind> {
        prop::sample::select(vec![MovementKind::PaidIn, MovementKind::PaidOut, MovementKind::Adjustment])
    }

    fn fx() -> impl Strategy<Value = Fx> {
        (3_000..6_000i64, prop::sample::select(vec![1i64, 10, 50, 100, 500, 1000]))
            .prop_map(|(khr_per_usd, khr_rounding)| Fx { khr_per_usd, khr_rounding })
    }

    /// One step of a session: a sale (total, tender in both currencies, and whether the
    /// change goes as the default split or all in riel) or a movement.
    #[derive(Debug, Clone)]
    enum Step {
        Sale { total_cents: i64, usd_cents: i64, khr: i64, all_riel: bool, fx: Fx },
        Move { kind: MovementKind, riel: bool, amount: i64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1..50_000i64, 0..60_000i64, 0..300_000i64, any::<bool>(), fx())
                .prop_map(|(total_cents, usd_cents, khr, all_riel, fx)| Step::Sale { total_cents, usd_cents, khr, all_riel, fx }),
            (kind(), any::<bool>(), 1..1_000_000i64).prop_map(|(kind, riel, amount)| Step::Move { kind, riel, amount }),
        ]
    }

    proptest! {
        /// For any sequence of sales (any tender and change split) and movements, each
        /// currency's expected cash is its float plus the signed sum of its cash flows;
        /// change is never negative and stays within one rounding step of what is owed.
        #[test]
        fn expected_is_float_plus_flows(
            float_cents in 0..1_000_000i64,
            float_khr in 0..10_000_000i64,
            steps in prop::collection::vec(step(), 0..60),
        ) {
            let mut d = opened(float_cents, float_khr);
            let (mut usd, mut khr) = (i128::from(float_cents), i128::from(float_khr));
            for s in steps {
                match s {
                    Step::Sale { total_cents, usd_cents, khr: cash_khr, all_riel, fx } => {
                        let t = tender(usd_cents, cash_khr);
                        let Ok(due) = pricing::change_at(total_cents, &t, &fx) else {
                            prop_assert!(pricing::tendered_cents_at(&t, &fx) < total_cents);
                            continue;
                        };
                        let split = if all_riel {
                            ChangeGiven { usd_cents: 0, khr: due.change_khr }
                        } else {
                            pricing::default_change_split(due.change_cents, &fx)
                        };
                        prop_assert!(split.usd_cents >= 0 && split.khr >= 0, "{split:?}");
                        prop_assert!(pricing::check_change_split(&split, due.change_cents, &fx).is_ok(), "{split:?} for {due:?}");
                        apply_sale(&mut d, &sale_cash(total_cents, &t, Some(&split)), 1);
                        usd += i128::from(usd_cents) - i128::from(split.usd_cents);
                        khr += i128::from(cash_khr) - i128::from(split.khr);
                    }
                    Step::Move { kind, riel, amount } => {
                        let amount = if kind == MovementKind::Adjustment && amount % 2 == 0 { -amount } else { amount };
                        let cash = if riel { Cash::Khr(amount) } else { Cash::Usd(amount) };
                        apply_movement(&mut d, kind, cash, 1);
                        let delta = i128::from(movement_delta(kind, amount));
                        if riel { khr += delta } else { usd += delta }
                    }
                }
                prop_assert_eq!(i128::from(expected(&d.usd)), usd);
                prop_assert_eq!(i128::from(expected(&d.khr)), khr);
            }
            prop_assert_eq!(variance(expected(&d.usd), expected(&d.usd)), 0);
            prop_assert_eq!(variance_total_cents(0, Some(0), 4100), 0);
        }

        /// The total variance is the dollar variance plus the riel variance at the rate,
        /// within half a cent, and symmetric in sign.
        #[test]
        fn total_variance_converts_within_half_a_cent(v_cents in -1_000_000..1_000_000i64, v_khr in -40_000_000..40_000_000i64, rate in 1..1_000_000i64) {
            let total = variance_total_cents(v_cents, Some(v_khr), rate);
            let exact = (i128::from(v_cents) * i128::from(rate) + i128::from(v_khr) * 100) as f64 / rate as f64;
            prop_assert!((total as f64 - exact).abs() <= 0.5 + 1e-9, "{total} vs {exact}");
            prop_assert_eq!(variance_total_cents(-v_cents, Some(-v_khr), rate), -total);
        }
    }
}
