//! Sale pricing, tender and change (spec §3.1): integer arithmetic, round half
//! away from zero, products computed in `i128`.

use modula_wire::limits::{MONEY_MAX_CENTS, QTY_MAX};
use modula_wire::op::{ChangeGiven, Fx, SaleLine, SaleTotals, Tender};
use modula_wire::{ErrorCode, Policy};

use crate::Rejection;

/// One in basis points: 100% = 10,000 bps.
const BPS_PER_UNIT: i128 = 10_000;
/// Cents per US dollar.
const CENTS_PER_USD: i128 = 100;
/// Largest VAT rate a policy may hold, in basis points (100%).
pub const VAT_BPS_MAX: i64 = 10_000;

/// `numerator / denominator` rounded to the nearest integer, halves away from zero
/// (`5/2 = 3`, `-5/2 = -3`). The denominator must be positive; a non-positive one
/// is a caller bug: it trips a debug assertion and yields 0 in release builds.
pub fn round_div_half_away(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(
        denominator > 0,
        "round_div_half_away: denominator {denominator} <= 0"
    );
    if denominator <= 0 {
        return 0;
    }
    let quotient = numerator / denominator; // truncates toward zero
    let remainder_abs = (numerator % denominator).unsigned_abs();
    // remainder_abs < denominator < 2^127, so doubling it cannot overflow u128.
    if remainder_abs * 2 >= denominator.unsigned_abs() {
        quotient + numerator.signum()
    } else {
        quotient
    }
}

/// Prices a sale: `subtotal = Σ qty × unit_price_cents`; with prices including VAT
/// `vat = round(subtotal × vat_bps / (10000 + vat_bps))` and `total = subtotal`,
/// otherwise `vat = round(subtotal × vat_bps / 10000)` and `total = subtotal + vat`.
///
/// Refuses (`VALIDATION_FAILED`, field named) a line with qty outside `1..=QTY_MAX`
/// or a unit price outside `0..=MONEY_MAX_CENTS`, a total above `MONEY_MAX_CENTS`,
/// and a policy VAT rate outside `0..=10000`.
pub fn price(lines: &[SaleLine], policy: &Policy) -> Result<SaleTotals, Rejection> {
    check_vat_bps(policy.vat_bps)?;
    let subtotal_cents = subtotal_cents(lines)?;
    let vat_bps = i128::from(policy.vat_bps);
    let (vat_cents, total_cents) = if policy.prices_include_vat {
        let vat = round_div_half_away(subtotal_cents * vat_bps, BPS_PER_UNIT + vat_bps);
        (vat, subtotal_cents)
    } else {
        let vat = round_div_half_away(subtotal_cents * vat_bps, BPS_PER_UNIT);
        (vat, subtotal_cents + vat)
    };
    debug_assert!(0 <= vat_cents && vat_cents <= total_cents);
    Ok(SaleTotals {
        subtotal_cents: money("lines", subtotal_cents)?,
        vat_cents: money("lines", vat_cents)?,
        total_cents: money("lines", total_cents)?,
    })
}

/// Σ qty × unit price, each line checked against the limits.
fn subtotal_cents(lines: &[SaleLine]) -> Result<i128, Rejection> {
    let mut subtotal_cents: i128 = 0;
    for (i, line) in lines.iter().enumerate() {
        check_line(i, line)?;
        subtotal_cents += i128::from(line.qty) * i128::from(line.unit_price_cents);
        // Each line is ≤ 10^15 and we stop at 10^9, so the sum never overflows.
        money("lines", subtotal_cents)?;
    }
    Ok(subtotal_cents)
}

/// The limits every priced line must respect.
fn check_line(index: usize, line: &SaleLine) -> Result<(), Rejection> {
    if !(1..=QTY_MAX).contains(&line.qty) {
        let msg = format!("must be between 1 and {QTY_MAX}");
        return Err(Rejection::validation(format!("lines[{index}].qty"), msg));
    }
    if !(0..=MONEY_MAX_CENTS).contains(&line.unit_price_cents) {
        let msg = format!("must be between 0 and {MONEY_MAX_CENTS} cents");
        return Err(Rejection::validation(
            format!("lines[{index}].unit_price_cents"),
            msg,
        ));
    }
    Ok(())
}

/// `amount_cents` as an `i64` if it is within `0..=MONEY_MAX_CENTS`.
fn money(field: &str, amount_cents: i128) -> Result<i64, Rejection> {
    if (0..=i128::from(MONEY_MAX_CENTS)).contains(&amount_cents) {
        // In range, hence representable.
        return Ok(amount_cents as i64);
    }
    let msg = format!("a sale cannot total more than {}", crate::cash::usd_text(MONEY_MAX_CENTS));
    Err(Rejection::validation(field, msg))
}

fn check_vat_bps(vat_bps: i64) -> Result<(), Rejection> {
    if (0..=VAT_BPS_MAX).contains(&vat_bps) {
        return Ok(());
    }
    Err(Rejection::validation(
        "vat_bps",
        format!("policy VAT rate must be between 0 and {VAT_BPS_MAX} bps"),
    ))
}

/// Cash handed over, in cents: `cash_usd_cents + floor(cash_khr × 100 / khr_per_usd)`.
/// Saturates at the `i64` range; a non-positive `khr_per_usd` (an invalid policy)
/// trips a debug assertion and counts the riel as worth nothing.
pub fn tendered_cents(tender: &Tender, policy: &Policy) -> i64 {
    tendered_cents_at(tender, &Fx::of(policy))
}

/// [`tendered_cents`] at an exchange (the sale's `fx`).
pub fn tendered_cents_at(tender: &Tender, fx: &Fx) -> i64 {
    debug_assert!(fx.khr_per_usd > 0, "invalid exchange: khr_per_usd <= 0");
    let khr_per_usd = i128::from(fx.khr_per_usd);
    let khr_in_cents = if khr_per_usd > 0 {
        (i128::from(tender.cash_khr) * CENTS_PER_USD).div_euclid(khr_per_usd) // floor
    } else {
        0
    };
    saturate_i64(i128::from(tender.cash_usd_cents) + khr_in_cents)
}

fn saturate_i64(value: i128) -> i64 {
    value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Change owed to the customer, in cents and in riel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Change {
    /// `tendered − total`, ≥ 0.
    pub change_cents: i64,
    /// The same in riel, rounded half away from zero to a multiple of `khr_rounding`.
    pub change_khr: i64,
}

/// Change for a sale of `total_cents` paid with `tender`: `INSUFFICIENT_TENDER` when
/// the tender is less than the total. `change_khr` is `change_cents × khr_per_usd / 100`
/// rounded once, half away from zero, to a multiple of `khr_rounding`.
pub fn change(total_cents: i64, tender: &Tender, policy: &Policy) -> Result<Change, Rejection> {
    change_at(total_cents, tender, &Fx::of(policy))
}

/// [`change`] at an exchange: the tender is judged at the rate the till priced with
/// (the sale's `fx`), so a paid sale is never refused for a newer rate (SPEC §3.1).
pub fn change_at(total_cents: i64, tender: &Tender, fx: &Fx) -> Result<Change, Rejection> {
    check_exchange(fx)?;
    let tendered_cents = i128::from(tendered_cents_at(tender, fx));
    let change_cents = tendered_cents - i128::from(total_cents);
    if change_cents < 0 {
        let msg = format!(
            "cash tendered ({tendered_cents} cents) is less than the total ({total_cents} cents)"
        );
        return Err(Rejection::new(ErrorCode::InsufficientTender, msg));
    }
    let khr_rounding = i128::from(fx.khr_rounding);
    let steps = round_div_half_away(
        change_cents * i128::from(fx.khr_per_usd),
        CENTS_PER_USD * khr_rounding,
    );
    let change_khr = steps * khr_rounding;
    debug_assert!(change_khr >= 0);
    let too_large = || Rejection::validation("tender", "change is too large to represent");
    Ok(Change {
        change_cents: i64::try_from(change_cents).map_err(|_| too_large())?,
        change_khr: i64::try_from(change_khr).map_err(|_| too_large())?,
    })
}

/// The default split of the change owed: whole dollars in USD, the rest in riel rounded
/// (half away from zero) to `khr_rounding` (SPEC §3.1). E.g. $4.73 at 4,100 ៛/$ to 100 ៛:
/// $4 and ៛3,000.
pub fn default_change_split(change_cents: i64, fx: &Fx) -> ChangeGiven {
    debug_assert!(change_cents >= 0 && fx.khr_per_usd > 0 && fx.khr_rounding > 0);
    let usd_cents = change_cents - change_cents.rem_euclid(100);
    let rest_cents = i128::from(change_cents - usd_cents);
    let step = i128::from(fx.khr_rounding.max(1));
    let khr = round_div_half_away(rest_cents * i128::from(fx.khr_per_usd), CENTS_PER_USD * step) * step;
    ChangeGiven { usd_cents, khr: i64::try_from(khr).unwrap_or(i64::MAX) }
}

/// Checks a chosen split of the change (SPEC §3.1): both parts ≥ 0, worth within one
/// rounding step of what is owed and never more than is owed plus half a step. Worked
/// exactly in hundredths of a riel, so no rounding hides a difference.
/// `VALIDATION_FAILED` naming `change`.
pub fn check_change_split(given: &ChangeGiven, change_cents: i64, fx: &Fx) -> Result<(), Rejection> {
    check_exchange(fx)?;
    if given.usd_cents < 0 || given.khr < 0 {
        return Err(Rejection::validation("change", "change given cannot be negative"));
    }
    let rate = i128::from(fx.khr_per_usd);
    let given_centiriel = i128::from(given.usd_cents) * rate + i128::from(given.khr) * CENTS_PER_USD;
    let owed_centiriel = i128::from(change_cents) * rate;
    let step = i128::from(fx.khr_rounding) * CENTS_PER_USD;
    if given_centiriel < owed_centiriel - step {
        let msg = format!("the change given is short: {change_cents} cents are owed (within one riel rounding step)");
        return Err(Rejection::validation("change", msg));
    }
    if 2 * given_centiriel > 2 * owed_centiriel + step {
        let msg = format!("the change given is more than the {change_cents} cents owed (by more than half a riel step)");
        return Err(Rejection::validation("change", msg));
    }
    Ok(())
}

/// Checks a void's refund (SPEC §4 `sale.void`): like change, both parts ≥ 0 and worth
/// the sale's total within one riel rounding step, never more than half a step over, at
/// the rate the sale was priced with. `VALIDATION_FAILED` naming `refund`.
pub fn check_refund(refund: &ChangeGiven, total_cents: i64, fx: &Fx) -> Result<(), Rejection> {
    check_change_split(refund, total_cents, fx).map_err(|r| {
        let message = r.message.replace("change given", "refund").replace("cents are owed", "cents were paid").replace("cents owed", "cents paid");
        let message = message.strip_prefix("change: ").unwrap_or(&message).to_string();
        Rejection::validation("refund", message)
    })
}

/// The exchange fields must be positive for any riel arithmetic.
fn check_exchange(policy: &Fx) -> Result<(), Rejection> {
    if policy.khr_per_usd <= 0 {
        return Err(Rejection::validation(
            "khr_per_usd",
            "policy exchange rate must be positive",
        ));
    }
    if policy.khr_rounding <= 0 {
        return Err(Rejection::validation(
            "khr_rounding",
            "policy riel rounding must be positive",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use modula_wire::limits::KHR_MAX;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn line(qty: i64, unit_price_cents: i64) -> SaleLine {
        SaleLine {
            menu_item_id: Uuid::nil(),
            qty,
            unit_price_cents,
        }
    }

    fn policy(vat_bps: i64, prices_include_vat: bool) -> Policy {
        Policy {
            vat_bps,
            prices_include_vat,
            ..Policy::default()
        }
    }

    fn tender(cash_usd_cents: i64, cash_khr: i64) -> Tender {
        Tender {
            cash_usd_cents,
            cash_khr,
        }
    }

    #[test]
    fn round_div_examples() {
        assert_eq!(round_div_half_away(5, 2), 3);
        assert_eq!(round_div_half_away(-5, 2), -3);
        assert_eq!(round_div_half_away(7, 3), 2);
        assert_eq!(round_div_half_away(8, 3), 3);
        assert_eq!(round_div_half_away(-8, 3), -3);
        assert_eq!(round_div_half_away(0, 7), 0);
        assert_eq!(round_div_half_away(i128::MAX, 1), i128::MAX);
        assert_eq!(round_div_half_away(i128::MIN, 1), i128::MIN);
        assert_eq!(round_div_half_away(i128::MAX, i128::MAX), 1);
        assert_eq!(round_div_half_away(i128::MIN, i128::MAX), -1);
        assert_eq!(round_div_half_away(i128::MAX / 2, i128::MAX), 0);
        assert_eq!(round_div_half_away(i128::MAX / 2 + 1, i128::MAX), 1);
    }

    /// $2.75 × 2 + $1.50 = $7.00; VAT 10% included: 700 × 1000 / 11000 = 63.64 → 64.
    #[test]
    fn price_vat_included_by_hand() {
        let totals = price(&[line(2, 275), line(1, 150)], &policy(1000, true)).unwrap();
        assert_eq!(
            totals,
            SaleTotals {
                subtotal_cents: 700,
                vat_cents: 64,
                total_cents: 700
            }
        );
    }

    /// Same sale, VAT 10% added: 700 × 1000 / 10000 = 70, total 770.
    #[test]
    fn price_vat_added_by_hand() {
        let totals = price(&[line(2, 275), line(1, 150)], &policy(1000, false)).unwrap();
        assert_eq!(
            totals,
            SaleTotals {
                subtotal_cents: 700,
                vat_cents: 70,
                total_cents: 770
            }
        );
    }

    /// Halves round away from zero: 5 × 1000 / 10000 = 0.5 → 1; 55 × 1000 / 11000 = 5 exactly;
    /// 11 × 500 / 10500 = 0.524 → 1; 5 × 1000 / 11000 = 0.4545 → 0.
    #[test]
    fn price_rounding_by_hand() {
        assert_eq!(
            price(&[line(1, 5)], &policy(1000, false))
                .unwrap()
                .vat_cents,
            1
        );
        assert_eq!(
            price(&[line(1, 55)], &policy(1000, true))
                .unwrap()
                .vat_cents,
            5
        );
        assert_eq!(
            price(&[line(1, 11)], &policy(500, true)).unwrap().vat_cents,
            1
        );
        assert_eq!(
            price(&[line(1, 5)], &policy(1000, true)).unwrap().vat_cents,
            0
        );
        assert_eq!(
            price(&[line(3, 1000)], &policy(0, false)).unwrap(),
            SaleTotals {
                subtotal_cents: 3000,
                vat_cents: 0,
                total_cents: 3000
            }
        );
        assert_eq!(
            price(&[], &policy(1000, true)).unwrap(),
            SaleTotals::default()
        );
    }

    #[test]
    fn price_refuses_overflow_and_bad_lines() {
        let over = price(&[line(QTY_MAX, MONEY_MAX_CENTS)], &policy(1000, true)).unwrap_err();
        assert_eq!(over.code, ErrorCode::ValidationFailed);
        assert_eq!(over.field.as_deref(), Some("lines"));
        // Exactly the limit is fine when VAT is included, not when VAT is added on top.
        assert!(price(&[line(1, MONEY_MAX_CENTS)], &policy(1000, true)).is_ok());
        assert!(price(&[line(1, MONEY_MAX_CENTS)], &policy(1000, false)).is_err());
        let qty = price(&[line(1, 1), line(0, 1)], &policy(1000, true)).unwrap_err();
        assert_eq!(qty.field.as_deref(), Some("lines[1].qty"));
        let neg = price(&[line(1, -1)], &policy(1000, true)).unwrap_err();
        assert_eq!(neg.field.as_deref(), Some("lines[0].unit_price_cents"));
        let vat = price(&[line(1, 1)], &policy(-1, true)).unwrap_err();
        assert_eq!(vat.field.as_deref(), Some("vat_bps"));
        assert!(price(&[line(i64::MAX, i64::MAX)], &policy(i64::MAX, true)).is_err());
    }

    /// 4,100 riel per dollar: 10,000 riel = 243.9 cents → 243; $5 + 10,000 riel = 743.
    #[test]
    fn tendered_by_hand() {
        let p = Policy::default();
        assert_eq!(tendered_cents(&tender(0, 10_000), &p), 243);
        assert_eq!(tendered_cents(&tender(500, 10_000), &p), 743);
        assert_eq!(tendered_cents(&tender(500, 0), &p), 500);
        assert_eq!(tendered_cents(&tender(0, 4_100), &p), 100);
        assert_eq!(tendered_cents(&tender(0, 4_099), &p), 99);
        assert_eq!(tendered_cents(&tender(i64::MAX, i64::MAX), &p), i64::MAX);
    }

    /// Total $7.70 paid with $10: change 230 cents = 9,430 riel → 9,400 (to 100).
    /// Change 125 cents = 5,125 riel → 5,100; 5,150 riel → 5,200 (half away from zero).
    #[test]
    fn change_by_hand() {
        let p = Policy::default();
        assert_eq!(
            change(770, &tender(1000, 0), &p).unwrap(),
            Change {
                change_cents: 230,
                change_khr: 9_400
            }
        );
        assert_eq!(
            change(875, &tender(1000, 0), &p).unwrap(),
            Change {
                change_cents: 125,
                change_khr: 5_100
            }
        );
        let p2 = Policy {
            khr_per_usd: 4120,
            ..Policy::default()
        }; // 125 cents = 5,150 riel
        assert_eq!(
            change(875, &tender(1000, 0), &p2).unwrap(),
            Change {
                change_cents: 125,
                change_khr: 5_200
            }
        );
        assert_eq!(change(700, &tender(700, 0), &p).unwrap(), Change::default());
        // $5 + 10,000 riel = 743 cents for a 700 total: 43 cents = 1,763 riel → 1,800.
        assert_eq!(
            change(700, &tender(500, 10_000), &p).unwrap(),
            Change {
                change_cents: 43,
                change_khr: 1_800
            }
        );
    }

    #[test]
    fn refunds_are_the_total_within_a_step() {
        let fx = Fx { khr_per_usd: 4100, khr_rounding: 100 };
        assert!(check_refund(&ChangeGiven { usd_cents: 300, khr: 0 }, 300, &fx).is_ok());
        assert!(check_refund(&ChangeGiven { usd_cents: 0, khr: 12_300 }, 300, &fx).is_ok());
        let short = check_refund(&ChangeGiven { usd_cents: 200, khr: 0 }, 300, &fx).unwrap_err();
        assert_eq!(short.field.as_deref(), Some("refund"));
        assert!(short.message.starts_with("refund: the refund is short: 300 cents were paid"), "{}", short.message);
        let over = check_refund(&ChangeGiven { usd_cents: 400, khr: 0 }, 300, &fx).unwrap_err();
        assert!(over.message.contains("more than the 300 cents paid"), "{}", over.message);
    }

    #[test]
    fn change_splits_by_hand() {
        let fx = Fx { khr_per_usd: 4100, khr_rounding: 100 };
        // $4.73 owed: $4 and 0.73 × 4100 = 2,993 ៛ → 3,000 ៛.
        assert_eq!(default_change_split(473, &fx), ChangeGiven { usd_cents: 400, khr: 3000 });
        assert!(check_change_split(&ChangeGiven { usd_cents: 400, khr: 3000 }, 473, &fx).is_ok());
        // All in riel: 473 × 41 = 19,393 ៛; 19,400 is within half a step over, 19,300 within a step under.
        assert!(check_change_split(&ChangeGiven { usd_cents: 0, khr: 19_400 }, 473, &fx).is_ok());
        assert!(check_change_split(&ChangeGiven { usd_cents: 0, khr: 19_300 }, 473, &fx).is_ok());
        // More than half a step over, or more than a step short: refused, naming `change`.
        for bad in [ChangeGiven { usd_cents: 0, khr: 19_500 }, ChangeGiven { usd_cents: 0, khr: 19_200 }, ChangeGiven { usd_cents: 500, khr: 0 }, ChangeGiven { usd_cents: -1, khr: 0 }] {
            assert_eq!(check_change_split(&bad, 473, &fx).unwrap_err().field.as_deref(), Some("change"), "{bad:?}");
        }
        // The stale-rate sale of issue 21: $2.50 paid with 10,300 ៛ at 4,100 is enough (at 4,200 it is not).
        let tender = Tender { cash_usd_cents: 0, cash_khr: 10_300 };
        assert!(change_at(250, &tender, &fx).is_ok());
        assert!(change_at(250, &tender, &Fx { khr_per_usd: 4200, khr_rounding: 100 }).is_err());
    }

    #[test]
    fn change_refuses_short_tender_and_bad_policy() {
        let short = change(770, &tender(500, 10_000), &Policy::default()).unwrap_err();
        assert_eq!(short.code, ErrorCode::InsufficientTender);
        let bad = change(
            0,
            &tender(1, 0),
            &Policy {
                khr_rounding: 0,
                ..Policy::default()
            },
        )
        .unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("khr_rounding"));
        let bad = change(
            0,
            &tender(1, 0),
            &Policy {
                khr_per_usd: -3,
                ..Policy::default()
            },
        )
        .unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("khr_per_usd"));
        let huge = Policy {
            khr_per_usd: i64::MAX,
            ..Policy::default()
        };
        assert!(change(0, &tender(i64::MAX, 0), &huge).is_err());
    }

    fn any_policy() -> impl Strategy<Value = Policy> {
        (
            0..=VAT_BPS_MAX,
            any::<bool>(),
            1..=1_000_000i64,
            prop::sample::select(vec![1i64, 10, 50, 100, 500, 1000]),
            0..=MONEY_MAX_CENTS,
        )
            .prop_map(
                |(vat_bps, prices_include_vat, khr_per_usd, khr_rounding, paid_out_limit_cents)| {
                    Policy {
                        currency: "USD".into(),
                        vat_bps,
                        prices_include_vat,
                        khr_per_usd,
                        khr_rounding,
                        paid_out_limit_cents,
                        ..Policy::default()
                    }
                },
            )
    }

    fn any_lines() -> impl Strategy<Value = Vec<SaleLine>> {
        prop::collection::vec(
            (1..=100i64, 0..=100_000i64).prop_map(|(q, p)| line(q, p)),
            0..20,
        )
    }

    proptest! {
        #[test]
        fn totals_invariants(lines in any_lines(), p in any_policy()) {
            let t = price(&lines, &p).unwrap();
            let subtotal: i64 = lines.iter().map(|l| l.qty * l.unit_price_cents).sum();
            prop_assert_eq!(t.subtotal_cents, subtotal);
            prop_assert!(t.total_cents >= t.vat_cents && t.vat_cents >= 0);
            if p.prices_include_vat {
                prop_assert_eq!(t.total_cents, t.subtotal_cents);
            } else {
                prop_assert_eq!(t.total_cents, t.subtotal_cents + t.vat_cents);
            }
        }

        #[test]
        fn default_split_is_a_valid_split(change in 0..=MONEY_MAX_CENTS, rate in 1..=1_000_000i64,
                                          step in prop::sample::select(vec![1i64, 10, 50, 100, 500, 1000])) {
            let fx = Fx { khr_per_usd: rate, khr_rounding: step };
            let split = default_change_split(change, &fx);
            prop_assert!(split.usd_cents >= 0 && split.khr >= 0, "{split:?}");
            prop_assert_eq!(split.usd_cents % 100, 0, "whole dollars");
            prop_assert_eq!(split.khr % step, 0, "riel in steps");
            prop_assert!(check_change_split(&split, change, &fx).is_ok(), "{split:?} for {change} at {fx:?}");
        }

        #[test]
        fn a_tender_is_judged_at_the_sales_rate(
            total in 0..=MONEY_MAX_CENTS, usd in 0..=MONEY_MAX_CENTS, khr in 0..=KHR_MAX, rate in 1..=1_000_000i64
        ) {
            let fx = Fx { khr_per_usd: rate, khr_rounding: 100 };
            let tender = Tender { cash_usd_cents: usd, cash_khr: khr };
            let enough = tendered_cents_at(&tender, &fx) >= total;
            let judged = change_at(total, &tender, &fx);
            prop_assert_eq!(judged.is_ok(), enough);
            if let Ok(c) = judged {
                prop_assert!(c.change_cents >= 0 && c.change_khr >= 0);
            }
        }

        #[test]
        fn change_invariants(total in 0..=MONEY_MAX_CENTS, usd in 0..=MONEY_MAX_CENTS, khr in 0..=KHR_MAX, p in any_policy()) {
            let t = tender(usd, khr);
            let tendered = tendered_cents(&t, &p);
            match change(total, &t, &p) {
                Ok(c) => {
                    prop_assert!(tendered >= total);
                    prop_assert_eq!(c.change_cents, tendered - total);
                    prop_assert!(c.change_cents >= 0 && c.change_khr >= 0);
                    prop_assert_eq!(c.change_khr % p.khr_rounding, 0);
                    // |change_khr − exact riel| ≤ khr_rounding / 2, scaled by 100 to stay integral.
                    let exact_x100 = i128::from(c.change_cents) * i128::from(p.khr_per_usd);
                    let off_x100 = (i128::from(c.change_khr) * 100 - exact_x100).abs();
                    prop_assert!(off_x100 * 2 <= i128::from(p.khr_rounding) * 100);
                }
                Err(r) => {
                    prop_assert!(tendered < total);
                    prop_assert_eq!(r.code, ErrorCode::InsufficientTender);
                }
            }
        }

        #[test]
        fn round_div_matches_rational_reference(n in -1_000_000i128..=1_000_000, d in 1i128..=10_000) {
            let exact = n as f64 / d as f64;
            let reference = exact.round() as i128; // f64::round is half away from zero
            // f64 is exact enough at this size except exactly at halves, which we check rationally.
            let got = round_div_half_away(n, d);
            prop_assert!((got * d - n).abs() * 2 <= d);
            if (n.rem_euclid(d)) * 2 != d {
                prop_assert_eq!(got, reference);
            } else {
                prop_assert_eq!(got.abs() * d, n.abs() + d / 2);
            }
        }

        #[test]
        fn round_div_is_symmetric(n in any::<i128>(), d in 1i128..=i128::MAX) {
            prop_assume!(n != i128::MIN);
            prop_assert_eq!(round_div_half_away(-n, d), -round_div_half_away(n, d));
        }
    }
}
