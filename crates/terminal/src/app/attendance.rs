//! Attendance: starting and ending a shift.

use modula_wire::op::{Payload, ShiftPayload};
use modula_wire::ErrorCode;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::enqueue::{pending_dep, Decision};
use super::{cached_staff, Queued, Terminal};
use crate::error::{TerminalError, TerminalResult};
use crate::local;

impl Terminal {
    /// `POST /api/attendance/start` (`staff_id` defaults to the signed-in person).
    pub async fn start_work(&self, staff_id: Option<Uuid>) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let staff_id = staff_for_shift(&mut c.tx, staff_id.unwrap_or(c.actor.staff_id)).await?;
            if let Some((shift, _)) = local::open_shift_of(&mut c.tx, staff_id).await? {
                let msg = format!("this person already has an open shift ({shift}); end it first");
                return Err(TerminalError::refuse(ErrorCode::ShiftAlreadyOpen, msg));
            }
            let p = ShiftPayload { shift_id: Uuid::now_v7(), staff_id };
            let d = Decision::plain(Payload::AttendanceStartWork(p), vec![], c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }

    /// `POST /api/attendance/end` (`staff_id` defaults to the signed-in person).
    pub async fn end_work(&self, staff_id: Option<Uuid>) -> TerminalResult<Queued> {
        let (op, queued) = {
            let mut w = self.db.writer().await;
            let mut c = self.begin(&mut w).await?;
            let staff_id = staff_for_shift(&mut c.tx, staff_id.unwrap_or(c.actor.staff_id)).await?;
            let Some((shift_id, start_op)) = local::open_shift_of(&mut c.tx, staff_id).await? else {
                return Err(TerminalError::refuse(ErrorCode::NoOpenShift, "this person has no open shift to end"));
            };
            let depends_on = pending_dep(&mut c.tx, start_op).await?;
            let p = ShiftPayload { shift_id, staff_id };
            let d = Decision::plain(Payload::AttendanceEndWork(p), depends_on, c.dev.next_receipt_no);
            self.finish(c, d).await?
        };
        Ok(self.after_enqueue(&op, queued).await)
    }
}

async fn staff_for_shift(conn: &mut SqliteConnection, staff_id: Uuid) -> TerminalResult<Uuid> {
    match cached_staff(conn, staff_id).await? {
        Some(s) if s.active => Ok(s.id),
        _ => Err(TerminalError::invalid("staff_id", "no active staff member with this id is known here")),
    }
}

pub(super) fn shift_of(p: &Payload) -> Option<Uuid> {
    match p {
        Payload::AttendanceStartWork(s) | Payload::AttendanceEndWork(s) => Some(s.shift_id),
        _ => None,
    }
}
