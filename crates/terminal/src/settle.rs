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
pub async fn synced(conn: &mut SqliteConnection, client_op_id: Uuid, result: Option<&serde_json::Value>) -> TerminalResult<()> {
    let Some(op) = db::op(conn, client_op_id).await? else { return Ok(()) };
    let result = result.map(|r| r.to_string());
    if db::settle_op(conn, client_op_id, QueueStatus::Synced, None, None, result.as_deref(), Utc::now()).await? {
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
    let op: Op = serde_json::from_str(&q.op_json).map_err(|e| TerminalError::Internal(e.to_string()))?;
    let op_type = modula_wire::OpType::parse(&op.op_type).ok_or_else(|| TerminalError::Internal(op.op_type.clone()))?;
    let payload = modula_rules::validate::parse_payload(op_type, &op.payload)?;
    local::apply(conn, op.client_op_id, &payload, op.occurred_at, -1).await
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
                synced(conn, r.client_op_id, r.result.as_ref()).await?;
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
