//! Local effects: this terminal's own cash sessions, the shifts it knows, and the stock
//! its unsynced sales will deduct. Written in the same transaction as the op that causes
//! them; undone (by the inverse effect) if the server refuses the op.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use modula_rules::cash;
use modula_wire::op::Payload;
use modula_wire::{CashDrawer, CashFlows};
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
    /// Float, sales and movements per currency.
    pub drawer: CashDrawer,
    /// Dollars counted at close, in cents.
    pub counted_cash_cents: Option<i64>,
    /// Riel counted at close.
    pub counted_khr: Option<i64>,
    /// The cached policy's rate when it closed.
    pub close_khr_per_usd: Option<i64>,
    /// The op that opened it (None if learned from a pull).
    pub open_op_id: Option<Uuid>,
    /// When it was opened.
    pub opened_at: String,
    /// When it was closed.
    pub closed_at: Option<String>,
}

/// The drawer's columns of `local_cash_session`, in the order [`drawer_values`] gives.
const DRAWER_COLUMNS: [&str; 14] = [
    "opening_float_cents",
    "tendered_cents",
    "change_cents",
    "paid_in_cents",
    "paid_out_cents",
    "adjustments_cents",
    "refunds_cents",
    "opening_float_khr",
    "tendered_khr",
    "change_khr",
    "paid_in_khr",
    "paid_out_khr",
    "adjustments_khr",
    "refunds_khr",
];

fn drawer_values(d: &CashDrawer) -> [i64; 14] {
    let (u, k) = (&d.usd, &d.khr);
    [
        u.float, u.tendered, u.change, u.paid_in, u.paid_out, u.adjustments, u.refunds,
        k.float, k.tendered, k.change, k.paid_in, k.paid_out, k.adjustments, k.refunds,
    ]
}

fn drawer_of(r: &sqlx::sqlite::SqliteRow) -> TerminalResult<CashDrawer> {
    let mut v = [0i64; 14];
    for (slot, col) in v.iter_mut().zip(DRAWER_COLUMNS) {
        *slot = r.try_get(col)?;
    }
    let flows = |o: usize| CashFlows {
        float: v[o],
        tendered: v[o + 1],
        change: v[o + 2],
        paid_in: v[o + 3],
        paid_out: v[o + 4],
        adjustments: v[o + 5],
        refunds: v[o + 6],
    };
    Ok(CashDrawer { usd: flows(0), khr: flows(7) })
}

fn session_of(r: &sqlx::sqlite::SqliteRow) -> TerminalResult<LocalSession> {
    let id: String = r.try_get("id")?;
    let open_op: Option<String> = r.try_get("open_op_id")?;
    Ok(LocalSession {
        id: Uuid::parse_str(&id).map_err(|e| TerminalError::Internal(e.to_string()))?,
        open: r.try_get::<i64, _>("open")? == 1,
        drawer: drawer_of(r)?,
        counted_cash_cents: r.try_get("counted_cash_cents")?,
        counted_khr: r.try_get("counted_khr")?,
        close_khr_per_usd: r.try_get("close_khr_per_usd")?,
        open_op_id: open_op.and_then(|s| Uuid::parse_str(&s).ok()),
        opened_at: r.try_get("opened_at")?,
        closed_at: r.try_get("closed_at")?,
    })
}

/// One session by id.
async fn session(conn: &mut SqliteConnection, id: Uuid) -> TerminalResult<Option<LocalSession>> {
    let r = sqlx::query("SELECT * FROM local_cash_session WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    r.as_ref().map(session_of).transpose()
}

/// Changes a session's drawer with the shared cash rules; a session this terminal does
/// not hold is left alone (its open was refused and undone).
async fn update_drawer(conn: &mut SqliteConnection, id: Uuid, change: impl FnOnce(&mut CashDrawer)) -> TerminalResult<()> {
    let Some(mut s) = session(conn, id).await? else { return Ok(()) };
    change(&mut s.drawer);
    write_drawer(conn, id, &s.drawer).await
}

async fn write_drawer(conn: &mut SqliteConnection, id: Uuid, d: &CashDrawer) -> TerminalResult<()> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let sets: Vec<String> = DRAWER_COLUMNS.iter().map(|c| format!("{c} = ?")).collect();
        format!("UPDATE local_cash_session SET {} WHERE id = ?", sets.join(", "))
    });
    let mut q = sqlx::query(SQL.as_str());
    for v in drawer_values(d) {
        q = q.bind(v);
    }
    q.bind(id.to_string()).execute(&mut *conn).await?;
    Ok(())
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
/// it (`sign = -1`) when the server refused the op. `khr_per_usd` is the cached
/// policy's rate, kept by a close for its total variance.
pub async fn apply(
    conn: &mut SqliteConnection,
    client_op_id: Uuid,
    payload: &Payload,
    at: DateTime<Utc>,
    sign: i64,
    khr_per_usd: Option<i64>,
) -> TerminalResult<()> {
    debug_assert!(sign == 1 || sign == -1);
    match payload {
        Payload::SaleFinalize(s) => {
            let sale = cash::sale_cash(s.totals.total_cents, &s.tender, s.change.as_ref());
            update_drawer(conn, s.cash_session_id, |d| cash::apply_sale(d, &sale, sign)).await
        }
        Payload::CashSessionMovement(m) => {
            update_drawer(conn, m.cash_session_id, |d| cash::apply_movement(d, m.kind, m.amount(), sign)).await
        }
        Payload::CashSessionOpen(o) if sign == 1 => {
            sqlx::query("INSERT INTO local_cash_session (id, open, opening_float_cents, open_op_id, opened_at) VALUES (?, 1, ?, ?, ?)")
                .bind(o.cash_session_id.to_string())
                .bind(o.opening_float_cents)
                .bind(client_op_id.to_string())
                .bind(ts(at))
                .execute(&mut *conn)
                .await?;
            let float_khr = o.opening_float_khr.unwrap_or(0);
            update_drawer(conn, o.cash_session_id, |d| *d = cash::opened(o.opening_float_cents, float_khr)).await
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
            sqlx::query(
                "UPDATE local_cash_session SET open = 0, counted_cash_cents = ?, counted_khr = ?, close_khr_per_usd = ?,
                 closed_at = ? WHERE id = ?",
            )
            .bind(c.counted_cash_cents)
            .bind(c.counted_khr)
            .bind(khr_per_usd)
            .bind(ts(at))
                .bind(c.cash_session_id.to_string())
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        Payload::CashSessionClose(c) => {
            sqlx::query(
                "UPDATE local_cash_session SET open = 1, counted_cash_cents = NULL, counted_khr = NULL,
                 close_khr_per_usd = NULL, closed_at = NULL WHERE id = ?",
            )
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
        // A void is online only, never queued: its refund is applied when the server
        // answers it (see `app::void`).
        Payload::SaleVoid(_) => Ok(()),
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

/// Applies a void's refund to this till's session once (by sale id): `true` if it was
/// new. A refund out of a session this till does not hold is only noted.
pub async fn apply_refund(conn: &mut SqliteConnection, sale_id: Uuid, session_id: Uuid, refund: &modula_wire::op::ChangeGiven) -> TerminalResult<bool> {
    let done = sqlx::query("INSERT INTO local_refunds (sale_id, cash_session_id, usd_cents, khr) VALUES (?, ?, ?, ?) ON CONFLICT (sale_id) DO NOTHING")
        .bind(sale_id.to_string())
        .bind(session_id.to_string())
        .bind(refund.usd_cents)
        .bind(refund.khr)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    update_drawer(conn, session_id, |d| cash::apply_refund(d, refund)).await?;
    Ok(true)
}

/// Merges a pulled void: onto this till's receipt of the sale, and its refund, if it
/// left this till's drawer.
pub async fn merge_pulled_void(conn: &mut SqliteConnection, data: &serde_json::Value) -> TerminalResult<()> {
    crate::receipts::merge_pulled_void(conn, data).await?;
    let id = |k: &str| data[k].as_str().and_then(|s| Uuid::parse_str(s).ok());
    let (Some(sale), Some(session)) = (id("sale_id"), id("cash_session_id")) else { return Ok(()) };
    let Ok(refund) = serde_json::from_value::<modula_wire::op::ChangeGiven>(data["refund"].clone()) else { return Ok(()) };
    apply_refund(conn, sale, session, &refund).await.map(|_| ())
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
    let Some(id) = data["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) else { return Ok(()) };
    if session(conn, id).await?.is_some() {
        return Ok(());
    }
    let open = data["status"].as_str() == Some("open");
    sqlx::query(
        "INSERT INTO local_cash_session (id, open, opening_float_cents, counted_cash_cents, counted_khr,
             close_khr_per_usd, opened_at, closed_at)
         VALUES (?, ?, 0, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(open as i64)
    .bind(data["counted_cash_cents"].as_i64())
    .bind(data["counted_khr"].as_i64())
    .bind(data["close_khr_per_usd"].as_i64())
    .bind(data["opened_at"].as_str().unwrap_or_default())
    .bind(data["closed_at"].as_str())
    .execute(&mut *conn)
    .await?;
    write_drawer(conn, id, &pulled_drawer(data)).await
}

/// A pulled session's drawer: its `usd` and `khr` flows, or from a server of the first
/// release (no `usd`), the dollar fields it sent.
fn pulled_drawer(data: &serde_json::Value) -> CashDrawer {
    let flows = |v: &serde_json::Value| CashFlows {
        float: v["float"].as_i64().unwrap_or(0),
        tendered: v["tendered"].as_i64().unwrap_or(0),
        change: v["change"].as_i64().unwrap_or(0),
        paid_in: v["paid_in"].as_i64().unwrap_or(0),
        paid_out: v["paid_out"].as_i64().unwrap_or(0),
        adjustments: v["adjustments"].as_i64().unwrap_or(0),
        refunds: v["refunds"].as_i64().unwrap_or(0),
    };
    if data["usd"].is_object() {
        return CashDrawer { usd: flows(&data["usd"]), khr: flows(&data["khr"]) };
    }
    let n = |k: &str| data[k].as_i64().unwrap_or(0);
    let usd = CashFlows {
        float: n("opening_float_cents"),
        tendered: n("cash_sales_cents"),
        paid_in: n("paid_in_cents"),
        paid_out: n("paid_out_cents"),
        adjustments: n("adjustments_cents"),
        ..CashFlows::default()
    };
    CashDrawer { usd, khr: CashFlows::default() }
}
