//! Who may do what (spec §4 "who may"): the role an op needs, the actor check of
//! push rule 5, and which roles a staff member may grant.

use modula_wire::op::{Cash, MovementKind, Payload, ShiftPayload};
use modula_wire::{ErrorCode, Policy, Role};
use uuid::Uuid;

use crate::Rejection;

/// The least role that may perform `payload`: cashier for every offline op, except
/// a cash adjustment and a paid-out above `policy.paid_out_limit_cents`, which need
/// a manager; a void needs a manager. (Acting on someone else's shift is checked by [`check_actor`].)
pub fn required_role(payload: &Payload, policy: &Policy) -> Role {
    match payload {
        Payload::CashSessionMovement(m) => match m.kind {
            MovementKind::Adjustment => Role::Manager,
            MovementKind::PaidOut if paid_out_cents(m, policy) > policy.paid_out_limit_cents => Role::Manager,
            MovementKind::PaidIn | MovementKind::PaidOut => Role::Cashier,
        },
        Payload::SaleVoid(_) => Role::Manager,
        _ => Role::Cashier,
    }
}

/// A paid-out's worth in cents: riel at the policy's rate (SPEC §4).
fn paid_out_cents(m: &modula_wire::op::CashSessionMovement, policy: &Policy) -> i64 {
    match m.amount() {
        Cash::Usd(cents) => cents,
        Cash::Khr(khr) => crate::cash::khr_in_cents(khr, policy.khr_per_usd),
    }
}

/// May `actor_id`, holding `actor_role`, perform `payload`? `FORBIDDEN` when the
/// role is below [`required_role`], or when a cashier starts or ends another staff
/// member's shift.
pub fn check_actor(
    actor_id: Uuid,
    actor_role: Role,
    payload: &Payload,
    policy: &Policy,
) -> Result<(), Rejection> {
    let required = required_role(payload, policy);
    if actor_role < required {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            role_message(payload, policy, actor_role),
        ));
    }
    if let Payload::AttendanceStartWork(shift) | Payload::AttendanceEndWork(shift) = payload {
        check_shift_owner(actor_id, actor_role, shift)?;
    }
    Ok(())
}

/// Why a role may not do this, as a sentence a cashier or a manager reads: what needs
/// whom, with money in dollars and riel, never field names or cents.
fn role_message(payload: &Payload, policy: &Policy, actor_role: Role) -> String {
    let what = match payload {
        Payload::CashSessionMovement(m) if m.kind == MovementKind::Adjustment => "A cash adjustment".to_string(),
        Payload::SaleVoid(_) => "A void".to_string(),
        Payload::CashSessionMovement(_) => format!(
            "A paid-out above {} ({} at {} per $1)",
            crate::cash::usd_text(policy.paid_out_limit_cents),
            crate::cash::khr_text(policy.paid_out_limit_cents.saturating_mul(policy.khr_per_usd) / 100),
            crate::cash::khr_text(policy.khr_per_usd),
        ),
        other => format!("This ({})", other.op_type().as_str()),
    };
    let who = match actor_role {
        Role::Cashier => "a cashier",
        Role::Manager => "a manager",
        Role::Owner => "an owner",
    };
    format!("{what} needs a manager or owner, and {who} tried it: ask a manager to sign in at the till.")
}

fn check_shift_owner(
    actor_id: Uuid,
    actor_role: Role,
    shift: &ShiftPayload,
) -> Result<(), Rejection> {
    if shift.staff_id == actor_id || actor_role >= Role::Manager {
        return Ok(());
    }
    let msg = "only a manager or owner may start or end another staff member's shift";
    Err(Rejection::new(ErrorCode::Forbidden, msg))
}

/// May someone with role `granter` give a staff member role `target`, or change a staff
/// member who has it? An owner any role, a manager only cashiers (never managers or
/// owners, SPEC §5), a cashier nothing.
pub fn can_assign_role(granter: Role, target: Role) -> bool {
    match granter {
        Role::Owner => true,
        Role::Manager => target == Role::Cashier,
        Role::Cashier => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modula_wire::op::{CashSessionMovement, CashSessionOpen};

    fn movement(kind: MovementKind, amount_cents: i64) -> Payload {
        Payload::CashSessionMovement(CashSessionMovement {
            cash_session_id: Uuid::nil(),
            movement_id: Uuid::nil(),
            kind,
            amount_cents: Some(amount_cents),
            amount_khr: None,
            reason: "r".into(),
        })
    }

    fn riel_movement(kind: MovementKind, amount_khr: i64) -> Payload {
        Payload::CashSessionMovement(CashSessionMovement {
            cash_session_id: Uuid::nil(),
            movement_id: Uuid::nil(),
            kind,
            amount_cents: None,
            amount_khr: Some(amount_khr),
            reason: "r".into(),
        })
    }

    /// A riel paid-out is judged against the dollar limit at the policy's rate:
    /// ៛82,000 is $20.00 at 4,100, ៛82,041 is just above.
    #[test]
    fn riel_paid_out_limit_at_the_policy_rate() {
        let p = Policy::default();
        assert_eq!(required_role(&riel_movement(MovementKind::PaidOut, 82_000), &p), Role::Cashier);
        assert_eq!(required_role(&riel_movement(MovementKind::PaidOut, 82_041), &p), Role::Manager);
        assert_eq!(required_role(&riel_movement(MovementKind::PaidIn, 10_000_000), &p), Role::Cashier);
    }

    fn shift(staff_id: Uuid, start: bool) -> Payload {
        let p = ShiftPayload {
            shift_id: Uuid::from_u128(9),
            staff_id,
        };
        if start {
            Payload::AttendanceStartWork(p)
        } else {
            Payload::AttendanceEndWork(p)
        }
    }

    #[test]
    fn required_roles() {
        let p = Policy::default(); // paid-out limit 2000
        let open = Payload::CashSessionOpen(CashSessionOpen {
            cash_session_id: Uuid::nil(),
            opening_float_cents: 0,
            opening_float_khr: None,
        });
        assert_eq!(required_role(&open, &p), Role::Cashier);
        assert_eq!(
            required_role(&movement(MovementKind::PaidIn, 1_000_000), &p),
            Role::Cashier
        );
        assert_eq!(
            required_role(&movement(MovementKind::PaidOut, 2000), &p),
            Role::Cashier
        );
        assert_eq!(
            required_role(&movement(MovementKind::PaidOut, 2001), &p),
            Role::Manager
        );
        assert_eq!(
            required_role(&movement(MovementKind::Adjustment, 1), &p),
            Role::Manager
        );
        assert_eq!(
            required_role(&shift(Uuid::from_u128(1), true), &p),
            Role::Cashier
        );
    }

    #[test]
    fn actor_checks() {
        let p = Policy::default();
        let me = Uuid::from_u128(1);
        assert!(check_actor(me, Role::Cashier, &movement(MovementKind::PaidOut, 500), &p).is_ok());
        let err = check_actor(
            me,
            Role::Cashier,
            &movement(MovementKind::PaidOut, 2500),
            &p,
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::Forbidden);
        assert!(
            err.message
                .contains("A paid-out above $20.00 (៛82,000 at ៛4,100 per $1) needs a manager or owner, and a cashier tried it"),
            "{}",
            err.message
        );
        let err = check_actor(
            me,
            Role::Cashier,
            &movement(MovementKind::Adjustment, -5),
            &p,
        )
        .unwrap_err();
        assert!(err.message.contains("cash adjustment"), "{}", err.message);
        assert!(check_actor(
            me,
            Role::Manager,
            &movement(MovementKind::Adjustment, -5),
            &p
        )
        .is_ok());
        assert!(check_actor(me, Role::Owner, &movement(MovementKind::PaidOut, 2500), &p).is_ok());
    }

    #[test]
    fn shifts_of_others_need_a_manager() {
        let p = Policy::default();
        let me = Uuid::from_u128(1);
        let other = Uuid::from_u128(2);
        for start in [true, false] {
            assert!(check_actor(me, Role::Cashier, &shift(me, start), &p).is_ok());
            let err = check_actor(me, Role::Cashier, &shift(other, start), &p).unwrap_err();
            assert_eq!(err.code, ErrorCode::Forbidden);
            assert!(check_actor(me, Role::Manager, &shift(other, start), &p).is_ok());
            assert!(check_actor(me, Role::Owner, &shift(other, start), &p).is_ok());
        }
    }

    #[test]
    fn role_grants() {
        use Role::*;
        for target in [Cashier, Manager, Owner] {
            assert!(can_assign_role(Owner, target));
            assert!(!can_assign_role(Cashier, target));
        }
        assert!(can_assign_role(Manager, Cashier));
        assert!(!can_assign_role(Manager, Manager), "a manager never makes or changes a manager");
        assert!(!can_assign_role(Manager, Owner));
    }
}
