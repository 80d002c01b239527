//! Local effects: this terminal's own cash sessions, the shifts it knows, and the stock
//! its unsynced sales will deduct. Written in the same transaction as the op that causes
//! them; undone (by the inverse effect) if the server refuses the op.

use chrono::{DateTime, Utc};
use modula_rules::cash::SessionTotals;
use modula_wire::op::{MovementKind, Payload};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::db::ts;
use crate::error::{TerminalError, TerminalResult};

/// This device's cash session as its own ops left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSession {
    /// Id.
    pub id: Uuid,
    /// Still open?
    pub open: bool,
    /// Running totals.
    pub totals: SessionTotals,
    /// Counted cash at close.
    pub counted_cash_cents: Option<i64>,
    /// The op that opened it (None if learned from a pull).
    pub open_op_id: Option<Uuid>,
    /// When it was opened.
    pub opened_at: String,
    /// When it was closed.
    pub closed_at: Option<String>,
}

fn session_of(r: &sqlx::sqlite::SqliteRow) -> TerminalResult<LocalSession> {
    let id: String = r.try_get("id")?;
    let open_op: Option<String> = r.try_get("open_op_id")?;
    Ok(LocalSession {
        id: Uuid::parse_str(&id).map_err(|e| TerminalError::Internal(e.to_string()))?,
        open: r.try_get::<i64, _>("open")? == 1,
        totals: SessionTotals {
            opening_float_cents: r.try_get("opening_float_cents")?,
            cash_sales_cents: r.try_get("cash_sales_cents")?,
            paid_in_cents: r.try_get("paid_in_cents")?,
            paid_out_cents: r.try_get("paid_out_cents")?,
            adjustments_cents: r.try_get("adjustments_cents")?,
        },
        counted_cash_cents: r.try_get("counted_cash_cents")?,
        open_op_id: open_op.and_then(|s| Uuid::parse_str(&s).ok()),
        opened_at: r.try_get("opened_at")?,
        closed_at: r.try_get("closed_at")?,
    })
}

/// The device's open cash session, if any.
pub async fn open_session(conn: &mut SqliteConnection) -> TerminalResult<Option<LocalSession>> {
    let r = sqlx::query("SELECT * FROM local_cash_session WHERE open = 1 ORDER BY opened_at DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    r.as_ref().map(session_of).transpose()
}

/// The device's most recent cash session (open or closed), if any.
pub async fn latest_session(conn: &mut SqliteConnection) -> TerminalResult<Option<LocalSession>> {
    let r = sqlx::query("SELECT * FROM local_cash_session ORDER BY open DESC, opened_at DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    r.as_ref().map(session_of).transpose()
}

/// The open shift of a staff member, if this terminal knows one: `(shift_id, start_op_id)`.
pub async fn open_shift_of(conn: &mut SqliteConnection, staff_id: Uuid) -> TerminalResult<Option<(Uuid, Option<Uuid>)>> {
    let r = sqlx::query("SELECT shift_id, start_op_id FROM local_shift WHERE staff_id = ? AND open = 1 LIMIT 1")
        .bind(staff_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(r) = r else { return Ok(None) };
    let shift: String = r.try_get("shift_id")?;
    let start: Option<String> = r.try_get("start_op_id")?;
    let shift = Uuid::parse_str(&shift).map_err(|e| TerminalError::Internal(e.to_string()))?;
    Ok(Some((shift, start.and_then(|s| Uuid::parse_str(&s).ok()))))
}

/// Every open shift this terminal knows: `(shift_id, staff_id, started_at)`.
pub async fn open_shifts(conn: &mut SqliteConnection) -> TerminalResult<Vec<(String, String, String)>> {
    let rows = sqlx::query("SELECT shift_id, staff_id, started_at FROM local_shift WHERE open = 1 ORDER BY started_at")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("shift_id")?, r.try_get("staff_id")?, r.try_get("started_at")?)))
        .collect()
}

/// Stock the unsynced sales will deduct, per stock item.
pub async fn stock_pending(conn: &mut SqliteConnection) -> TerminalResult<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT stock_item_id, qty FROM local_stock_pending WHERE qty != 0")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("stock_item_id")?, r.try_get("qty")?))).collect()
}

/// Adds (or with `sign = -1` removes) a sale's deductions to the pending stock.
pub async fn add_stock_pending(conn: &mut SqliteConnection, stock: &[(Uuid, i64)], sign: i64) -> TerminalResult<()> {
    debug_assert!(sign == 1 || sign == -1);
    for (item, qty) in stock {
        sqlx::query(
            "INSERT INTO local_stock_pending (stock_item_id, qty) VALUES (?, ?)
             ON CONFLICT (stock_item_id) DO UPDATE SET qty = qty + excluded.qty",
        )
        .bind(item.to_string())
        .bind(sign * qty)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Applies an op's effect on the local cash sessions and shifts (`sign = 1`), or undoes
/// it (`sign = -1`) when the server refused the op.
pub async fn apply(
    conn: &mut SqliteConnection,
    client_op_id: Uuid,
    payload: &Payload,
    at: DateTime<Utc>,
    sign: i64,
) -> TerminalResult<()> {
    debug_assert!(sign == 1 || sign == -1);
    match payload {
        Payload::SaleFinalize(s) => session_add(conn, s.cash_session_id, "cash_sales_cents", sign * s.totals.total_cents).await,
        Payload::CashSessionMovement(m) => {
            let col = match m.kind {
                MovementKind::PaidIn => "paid_in_cents",
                MovementKind::PaidOut => "paid_out_cents",
                MovementKind::Adjustment => "adjustments_cents",
            };
            session_add(conn, m.cash_session_id, col, sign * m.amount_cents).await
        }
        Payload::CashSessionOpen(o) if sign == 1 => {
            sqlx::query(
                "INSERT INTO local_cash_session (id, open, opening_float_cents, open_op_id, opened_at)
                 VALUES (?, 1, ?, ?, ?)",
            )
            .bind(o.cash_session_id.to_string())
            .bind(o.opening_float_cents)
            .bind(client_op_id.to_string())
            .bind(ts(at))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
        Payload::CashSessionOpen(o) => {
            sqlx::query("DELETE FROM local_cash_session WHERE id = ? AND open_op_id = ?")
                .bind(o.cash_session_id.to_string())
                .bind(client_op_id.to_string())
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        Payload::CashSessionClose(c) if sign == 1 => {
            sqlx::query("UPDATE local_cash_session SET open = 0, counted_cash_cents = ?, closed_at = ? WHERE id = ?")
                .bind(c.counted_cash_cents)
                .bind(ts(at))
                .bind(c.cash_session_id.to_string())
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        Payload::CashSessionClose(c) => {
            sqlx::query("UPDATE local_cash_session SET open = 1, counted_cash_cents = NULL, closed_at = NULL WHERE id = ?")
                .bind(c.cash_session_id.to_string())
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        Payload::AttendanceStartWork(s) if sign == 1 => {
            sqlx::query(
                "INSERT INTO local_shift (shift_id, staff_id, open, start_op_id, started_at) VALUES (?, ?, 1, ?, ?)
                 ON CONFLICT (shift_id) DO NOTHING",
            )
            .bind(s.shift_id.to_string())
            .bind(s.staff_id.to_string())
            .bind(client_op_id.to_string())
            .bind(ts(at))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
        Payload::AttendanceStartWork(s) => {
            sqlx::query("DELETE FROM local_shift WHERE shift_id = ? AND start_op_id = ?")
                .bind(s.shift_id.to_string())
                .bind(client_op_id.to_string())
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        Payload::AttendanceEndWork(s) => {
            let (open, ended) = if sign == 1 { (0, Some(ts(at))) } else { (1, None) };
            sqlx::query("UPDATE local_shift SET open = ?, ended_at = ? WHERE shift_id = ?")
                .bind(open)
                .bind(ended)
                .bind(s.shift_id.to_string())
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
    }
}

async fn session_add(conn: &mut SqliteConnection, id: Uuid, col: &'static str, delta: i64) -> TerminalResult<()> {
    // `col` is one of this module's fixed column names, never input.
    let q = format!("UPDATE local_cash_session SET {col} = {col} + ? WHERE id = ?");
    sqlx::query(&q).bind(delta).bind(id.to_string()).execute(&mut *conn).await?;
    Ok(())
}

/// Merges a pulled shift into the local view. A shift only ever goes open → closed, so
/// a pull may close a shift or add one this terminal did not know, never reopen one.
pub async fn merge_pulled_shift(conn: &mut SqliteConnection, data: &serde_json::Value) -> TerminalResult<()> {
    let (Some(shift), Some(staff)) = (data["shift_id"].as_str(), data["staff_id"].as_str()) else {
        return Ok(());
    };
    let open = data["status"].as_str() == Some("open");
    let started = data["started_at"].as_str().unwrap_or_default();
    sqlx::query(
        "INSERT INTO local_shift (shift_id, staff_id, open, started_at, ended_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (shift_id) DO UPDATE SET open = MIN(local_shift.open, excluded.open),
             ended_at = COALESCE(local_shift.ended_at, excluded.ended_at)",
    )
    .bind(shift)
    .bind(staff)
    .bind(open as i64)
    .bind(started)
    .bind(data["ended_at"].as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Merges a pulled cash session of this device that the terminal does not know (e.g.
/// opened through the online lane by an earlier install). Known sessions keep their
/// local state: only this device's own ops change them.
pub async fn merge_pulled_session(conn: &mut SqliteConnection, data: &serde_json::Value) -> TerminalResult<()> {
    let Some(id) = data["id"].as_str() else { return Ok(()) };
    let n = |k: &str| data[k].as_i64().unwrap_or(0);
    sqlx::query(
        "INSERT INTO local_cash_session (id, open, opening_float_cents, cash_sales_cents, paid_in_cents,
             paid_out_cents, adjustments_cents, counted_cash_cents, opened_at, closed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind((data["status"].as_str() == Some("open")) as i64)
    .bind(n("opening_float_cents"))
    .bind(n("cash_sales_cents"))
    .bind(n("paid_in_cents"))
    .bind(n("paid_out_cents"))
    .bind(n("adjustments_cents"))
    .bind(data["counted_cash_cents"].as_i64())
    .bind(data["opened_at"].as_str().unwrap_or_default())
    .bind(data["closed_at"].as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
