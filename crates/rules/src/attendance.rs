//! Attendance rules (spec §3): one open shift per staff member; `endWork` names
//! the shift it ends.

use modula_wire::ErrorCode;
use uuid::Uuid;

use crate::Rejection;

/// May the staff member start a shift? `open_shift_of_staff` is their currently
/// open shift, if any; one is already open → `SHIFT_ALREADY_OPEN`.
pub fn check_start(open_shift_of_staff: Option<Uuid>) -> Result<(), Rejection> {
    match open_shift_of_staff {
        None => Ok(()),
        Some(open) => Err(Rejection::new(
            ErrorCode::ShiftAlreadyOpen,
            format!("this staff member already has an open shift ({open}); end it first"),
        )),
    }
}

/// May the staff member end `shift_id`? Only if it is their open shift; no open
/// shift, or another one open → `NO_OPEN_SHIFT`.
pub fn check_end(open_shift_of_staff: Option<Uuid>, shift_id: Uuid) -> Result<(), Rejection> {
    match open_shift_of_staff {
        Some(open) if open == shift_id => Ok(()),
        Some(open) => Err(Rejection::new(
            ErrorCode::NoOpenShift,
            format!("shift {shift_id} is not open; this staff member's open shift is {open}"),
        )),
        None => Err(Rejection::new(
            ErrorCode::NoOpenShift,
            "this staff member has no open shift",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start() {
        assert!(check_start(None).is_ok());
        assert_eq!(
            check_start(Some(Uuid::from_u128(1))).unwrap_err().code,
            ErrorCode::ShiftAlreadyOpen
        );
    }

    #[test]
    fn end() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert!(check_end(Some(a), a).is_ok());
        assert_eq!(check_end(None, a).unwrap_err().code, ErrorCode::NoOpenShift);
        assert_eq!(
            check_end(Some(b), a).unwrap_err().code,
            ErrorCode::NoOpenShift
        );
    }
}
