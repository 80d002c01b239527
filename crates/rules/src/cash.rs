//! Cash-session arithmetic (spec §3): expected cash and variance.
//!
//! Expected cash = opening float + cash sales + paid in − paid out + adjustments;
//! variance = counted − expected. Sums saturate at the `i64` range instead of
//! overflowing (amounts are bounded by `MONEY_MAX_CENTS`, so this never happens
//! in practice).

use modula_wire::op::MovementKind;

/// Running totals of one cash session, all in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionTotals {
    /// Cash in the drawer at opening.
    pub opening_float_cents: i64,
    /// Σ total of the cash sales of the session.
    pub cash_sales_cents: i64,
    /// Σ paid-in movements.
    pub paid_in_cents: i64,
    /// Σ paid-out movements (positive amounts).
    pub paid_out_cents: i64,
    /// Σ adjustments (signed).
    pub adjustments_cents: i64,
}

/// Cash that should be in the drawer:
/// `opening_float + cash_sales + paid_in − paid_out + adjustments`.
pub fn expected_cash_cents(t: &SessionTotals) -> i64 {
    let expected = i128::from(t.opening_float_cents)
        + i128::from(t.cash_sales_cents)
        + i128::from(t.paid_in_cents)
        - i128::from(t.paid_out_cents)
        + i128::from(t.adjustments_cents);
    saturate_i64(expected)
}

/// `counted − expected`: positive when the drawer holds more than expected.
pub fn variance_cents(counted_cash_cents: i64, expected_cash_cents: i64) -> i64 {
    saturate_i64(i128::from(counted_cash_cents) - i128::from(expected_cash_cents))
}

/// The signed effect of one movement on the expected cash: paid in and
/// adjustments add their amount, paid out subtracts it.
pub fn movement_delta_cents(kind: MovementKind, amount_cents: i64) -> i64 {
    match kind {
        MovementKind::PaidIn | MovementKind::Adjustment => amount_cents,
        MovementKind::PaidOut => amount_cents.saturating_neg(),
    }
}

/// Adds one movement to the session's totals (paid in, paid out or adjustment).
pub fn apply_movement(t: &mut SessionTotals, kind: MovementKind, amount_cents: i64) {
    let slot = match kind {
        MovementKind::PaidIn => &mut t.paid_in_cents,
        MovementKind::PaidOut => &mut t.paid_out_cents,
        MovementKind::Adjustment => &mut t.adjustments_cents,
    };
    *slot = slot.saturating_add(amount_cents);
}

/// Adds one cash sale's total to the session's totals.
pub fn apply_sale(t: &mut SessionTotals, total_cents: i64) {
    t.cash_sales_cents = t.cash_sales_cents.saturating_add(total_cents);
}

fn saturate_i64(value: i128) -> i64 {
    value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Float $50, sales $7.00 + $7.70, paid in $10, paid out $3.50, adjustment −$0.25:
    /// 5000 + 1470 + 1000 − 350 − 25 = 7095.
    #[test]
    fn expected_by_hand() {
        let mut t = SessionTotals {
            opening_float_cents: 5000,
            ..SessionTotals::default()
        };
        apply_sale(&mut t, 700);
        apply_sale(&mut t, 770);
        apply_movement(&mut t, MovementKind::PaidIn, 1000);
        apply_movement(&mut t, MovementKind::PaidOut, 350);
        apply_movement(&mut t, MovementKind::Adjustment, -25);
        assert_eq!(
            t,
            SessionTotals {
                opening_float_cents: 5000,
                cash_sales_cents: 1470,
                paid_in_cents: 1000,
                paid_out_cents: 350,
                adjustments_cents: -25
            }
        );
        assert_eq!(expected_cash_cents(&t), 7095);
        assert_eq!(variance_cents(7000, 7095), -95);
        assert_eq!(variance_cents(7100, 7095), 5);
        assert_eq!(variance_cents(7095, 7095), 0);
    }

    #[test]
    fn empty_session_expects_nothing() {
        assert_eq!(expected_cash_cents(&SessionTotals::default()), 0);
    }

    #[test]
    fn extremes_saturate() {
        let t = SessionTotals {
            opening_float_cents: i64::MAX,
            cash_sales_cents: i64::MAX,
            ..SessionTotals::default()
        };
        assert_eq!(expected_cash_cents(&t), i64::MAX);
        assert_eq!(variance_cents(i64::MIN, i64::MAX), i64::MIN);
        assert_eq!(
            movement_delta_cents(MovementKind::PaidOut, i64::MIN),
            i64::MAX
        );
    }

    #[test]
    fn deltas() {
        assert_eq!(movement_delta_cents(MovementKind::PaidIn, 100), 100);
        assert_eq!(movement_delta_cents(MovementKind::PaidOut, 100), -100);
        assert_eq!(movement_delta_cents(MovementKind::Adjustment, -100), -100);
    }

    fn kind() -> impl Strategy<Value = MovementKind> {
        prop::sample::select(vec![
            MovementKind::PaidIn,
            MovementKind::PaidOut,
            MovementKind::Adjustment,
        ])
    }

    proptest! {
        /// Applying a movement moves the expected cash by exactly its delta.
        #[test]
        fn apply_matches_delta(float in 0..1_000_000_000i64, moves in prop::collection::vec((kind(), -1_000_000_000..=1_000_000_000i64), 0..50)) {
            let mut t = SessionTotals { opening_float_cents: float, ..SessionTotals::default() };
            let mut expected = float;
            for (k, amount) in moves {
                apply_movement(&mut t, k, amount);
                expected += movement_delta_cents(k, amount);
                prop_assert_eq!(expected_cash_cents(&t), expected);
            }
            prop_assert_eq!(variance_cents(expected, expected_cash_cents(&t)), 0);
        }
    }
}
