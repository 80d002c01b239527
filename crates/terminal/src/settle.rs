//! Settling queued ops with the server's answer: `SYNCED` (applied, now or earlier) or
//! `FAILED` (refused, never retried). A refusal undoes the op's local effects, so the
//! local view goes back to what the server holds.

use chrono::Utc;
use modula_wire::{Op, OpResult, OpStatus};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::db::{self, QueueStatus};
use crate::error::{TerminalError, TerminalResult};
use crate::local;

/// The op was applied by the server: `SYNCED`, and its stock deductions leave the
/// local estimate (the server's stock now holds them).
/// `result` is the server's result as JSON text.
pub async fn synced(conn: &mut SqliteConnection, client_op_id: Uuid, result: Option<&str>) -> TerminalResult<()> {
    let Some(op) = db::op(conn, client_op_id).await? else { return Ok(()) };
    if db::settle_op(conn, client_op_id, QueueStatus::Synced, None, None, result, Utc::now()).await? {
        local::add_stock_pending(conn, &stock_of(&op)?, -1).await?;
    }
    Ok(())
}

/// The op was refused: `FAILED` with the server's code and message, and its local
/// effects undone.
pub async fn failed(conn: &mut SqliteConnection, client_op_id: Uuid, code: &str, message: &str) -> TerminalResult<()> {
    let Some(q) = db::op(conn, client_op_id).await? else { return Ok(()) };
    if !db::settle_op(conn, client_op_id, QueueStatus::Failed, Some(code), Some(message), None, Utc::now()).await? {
        return Ok(());
    }
    tracing::warn!(%client_op_id, code, message, "op refused by the server");
    local::add_stock_pending(conn, &stock_of(&q)?, -1).await?;
    // The op is FAILED whatever follows: a stored op that no longer parses (a rules
    // upgrade) must not block the queue; its local effect is then left as it is.
    let Some((op, payload)) = parsed(&q.op_json) else {
        tracing::error!(%client_op_id, "a refused op does not parse; its local effect is not undone");
        return Ok(());
    };
    if already_true_on_server(&payload, code) {
        return Ok(());
    }
    local::apply(conn, op.client_op_id, &payload, op.occurred_at, -1, None).await
}

fn parsed(op_json: &str) -> Option<(Op, modula_wire::op::Payload)> {
    let op: Op = serde_json::from_str(op_json).ok()?;
    let op_type = modula_wire::OpType::parse(&op.op_type)?;
    let payload = modula_rules::validate::parse_payload(op_type, &op.payload).ok()?;
    Some((op, payload))
}

/// A close refused because the session is already closed, or an end of shift refused
/// because the shift is already ended, leaves the local state right as it is (closed):
/// undoing it would reopen what the server holds closed.
fn already_true_on_server(payload: &modula_wire::op::Payload, code: &str) -> bool {
    use modula_wire::op::Payload;
    matches!(
        (payload, code),
        (Payload::CashSessionClose(_), "CASH_SESSION_CLOSED") | (Payload::AttendanceEndWork(_), "NO_OPEN_SHIFT")
    )
}

/// Settles every op of a push answer (one result per op, same order).
pub async fn push_results(conn: &mut SqliteConnection, sent: &[Uuid], results: &[OpResult]) -> TerminalResult<(usize, usize)> {
    if sent.len() != results.len() || sent.iter().zip(results).any(|(id, r)| *id != r.client_op_id) {
        return Err(TerminalError::Internal("push answer does not match the ops sent".into()));
    }
    let (mut synced_n, mut failed_n) = (0, 0);
    for r in results {
        match r.status {
            OpStatus::Applied | OpStatus::Duplicate => {
                synced(conn, r.client_op_id, r.result.as_ref().map(modula_wire::JsonText::as_str)).await?;
                synced_n += 1;
            }
            OpStatus::Rejected => {
                let code = r.code.map(|c| c.to_string()).unwrap_or_else(|| "REJECTED".into());
                failed(conn, r.client_op_id, &code, r.message.as_deref().unwrap_or("refused by the server")).await?;
                failed_n += 1;
            }
        }
    }
    Ok((synced_n, failed_n))
}

fn stock_of(op: &db::QueuedOp) -> TerminalResult<Vec<(Uuid, i64)>> {
    match &op.stock_json {
        Some(s) => serde_json::from_str(s).map_err(|e| TerminalError::Internal(format!("bad stock_json: {e}"))),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    async fn shift_open(conn: &mut SqliteConnection, shift: Uuid) -> i64 {
        let r = sqlx::query("SELECT open FROM local_shift WHERE shift_id = ?").bind(shift.to_string()).fetch_one(conn).await;
        r.unwrap().get::<i64, _>("open")
    }

    /// An end of shift refused with NO_OPEN_SHIFT (someone ended it elsewhere) leaves the
    /// shift closed; refused for another reason (a frozen branch) it reopens it.
    #[tokio::test]
    async fn refused_end_of_shift_reopens_only_what_the_server_holds_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(dir.path()).await.unwrap();
        let mut w = db.writer().await;
        for (seq, code, reopened) in [(1, "NO_OPEN_SHIFT", 0), (2, "BRANCH_FROZEN", 1)] {
            let (shift, staff) = (Uuid::now_v7(), Uuid::now_v7());
            sqlx::query("INSERT INTO local_shift (shift_id, staff_id, open, started_at, ended_at) VALUES (?, ?, 0, 'a', 'b')")
                .bind(shift.to_string())
                .bind(staff.to_string())
                .execute(&mut *w)
                .await
                .unwrap();
            let op = Op {
                client_op_id: Uuid::now_v7(),
                op_type: "attendance.endWork".into(),
                tenant_id: Uuid::now_v7(),
                branch_id: Uuid::now_v7(),
                actor_id: staff,
                device_seq: seq,
                occurred_at: Utc::now(),
                payload: serde_json::json!({"shift_id": shift, "staff_id": staff}),
                payload_hash: String::new(),
                depends_on: vec![],
            };
            db::insert_op(&mut w, &op, None).await.unwrap();
            failed(&mut w, op.client_op_id, code, "refused").await.unwrap();
            assert_eq!(shift_open(&mut w, shift).await, reopened, "{code}");
            assert!(!db::is_pending(&mut w, op.client_op_id).await.unwrap());
        }
    }
}
