//! The terminal's SQLite file: identity, op queue, cache and local effects.
//!
//! One write connection (behind an async mutex, so this process's writers queue in
//! FIFO order) and a small pool of readers; WAL with `synchronous=FULL`, so a commit
//! that returned survives a power cut. Every function here is one step inside a
//! transaction the caller owns; none decides anything about the business.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection};
use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

use crate::error::{TerminalError, TerminalResult};

/// How long a statement waits for SQLite's lock (another process reading, e.g.
/// `modula terminal status`) before it fails.
pub const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Reader connections.
pub const READERS_MAX: u32 = 4;
/// Most ops one `/api/ops` page lists.
pub const OPS_PAGE_MAX: i64 = 1_000;

/// The file name of the terminal's database inside `--data DIR`.
pub const DB_FILE: &str = "terminal.sqlite";

/// The terminal's database.
#[derive(Debug)]
pub struct Db {
    write: Mutex<SqliteConnection>,
    read: SqlitePool,
}

fn options(path: &std::path::Path) -> TerminalResult<SqliteConnectOptions> {
    let url = format!("sqlite://{}", path.display());
    Ok(SqliteConnectOptions::from_str(&url)
        .map_err(|e| TerminalError::Internal(format!("bad database path {url:?}: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
        .foreign_keys(true))
}

impl Db {
    /// Opens (creating if needed) `DIR/terminal.sqlite` and runs the migrations.
    pub async fn open(dir: &std::path::Path) -> TerminalResult<Db> {
        crate::at_rest::prepare(dir)?;
        let opts = options(&dir.join(DB_FILE))?;
        let mut write = SqliteConnection::connect_with(&opts).await?;
        sqlx::migrate!("./migrations")
            .run(&mut write)
            .await
            .map_err(|e| TerminalError::Internal(format!("migrating the terminal database: {e}")))?;
        let read = SqlitePoolOptions::new().max_connections(READERS_MAX).connect_with(opts).await?;
        // The WAL and shared-memory files exist now; they take the database's mode, checked anyway.
        crate::at_rest::check_files(dir)?;
        Ok(Db { write: Mutex::new(write), read })
    }

    /// The write connection; writers queue here in arrival order.
    pub async fn writer(&self) -> MutexGuard<'_, SqliteConnection> {
        self.write.lock().await
    }

    /// A reader (sees the last committed state).
    pub fn reader(&self) -> &SqlitePool {
        &self.read
    }
}

// ------------------------------------------------------------------ device row

/// Who this terminal is, its counters and its sync bookkeeping (the `device` row).
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// Base URL of the server (`http://host:port`).
    pub server_url: String,
    /// The device's bearer token.
    pub token: String,
    /// The device's id.
    pub device_id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Its branch.
    pub branch_id: Uuid,
    /// Display name.
    pub name: String,
    /// Receipt prefix.
    pub code: String,
    /// The `device_seq` the next op gets.
    pub next_device_seq: i64,
    /// The receipt counter the next sale gets.
    pub next_receipt_no: i64,
    /// The pull cursor, once hydrated.
    pub pull_cursor: Option<String>,
    /// When the last full hydration finished.
    pub hydrated_at: Option<DateTime<Utc>>,
    /// When the last pull finished.
    pub last_pull_at: Option<DateTime<Utc>>,
    /// When the last push got an answer.
    pub last_push_at: Option<DateTime<Utc>>,
    /// When the server last answered anything.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// The last sync failure, for people.
    pub last_error: Option<String>,
    /// Who is signed in at this terminal.
    pub signed_in_staff: Option<Uuid>,
    /// When they last acted (signed in, or queued an action).
    pub last_action_at: Option<DateTime<Utc>>,
}

fn uuid_col(row: &sqlx::sqlite::SqliteRow, col: &str) -> TerminalResult<Uuid> {
    let s: String = row.try_get(col)?;
    Uuid::parse_str(&s).map_err(|e| TerminalError::Internal(format!("bad uuid in {col}: {e}")))
}

fn opt_uuid_col(row: &sqlx::sqlite::SqliteRow, col: &str) -> TerminalResult<Option<Uuid>> {
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| Uuid::parse_str(&s).map_err(|e| TerminalError::Internal(format!("bad uuid in {col}: {e}"))))
        .transpose()
}

fn opt_time_col(row: &sqlx::sqlite::SqliteRow, col: &str) -> TerminalResult<Option<DateTime<Utc>>> {
    let s: Option<String> = row.try_get(col)?;
    Ok(s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc)))
}

/// A timestamp as stored.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A stored timestamp read back.
pub fn parse_ts(s: &str) -> TerminalResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| TerminalError::Internal(format!("bad stored time {s:?}: {e}")))
}

/// The device row; `None` before enrollment.
pub async fn device(conn: &mut SqliteConnection) -> TerminalResult<Option<DeviceRow>> {
    let Some(r) = sqlx::query("SELECT * FROM device WHERE id = 1").fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some(DeviceRow {
        server_url: r.try_get("server_url")?,
        token: r.try_get("token")?,
        device_id: uuid_col(&r, "device_id")?,
        tenant_id: uuid_col(&r, "tenant_id")?,
        branch_id: uuid_col(&r, "branch_id")?,
        name: r.try_get("name")?,
        code: r.try_get("code")?,
        next_device_seq: r.try_get("next_device_seq")?,
        next_receipt_no: r.try_get("next_receipt_no")?,
        pull_cursor: r.try_get("pull_cursor")?,
        hydrated_at: opt_time_col(&r, "hydrated_at")?,
        last_pull_at: opt_time_col(&r, "last_pull_at")?,
        last_push_at: opt_time_col(&r, "last_push_at")?,
        last_contact_at: opt_time_col(&r, "last_contact_at")?,
        last_error: r.try_get("last_error")?,
        signed_in_staff: opt_uuid_col(&r, "signed_in_staff")?,
        last_action_at: opt_time_col(&r, "last_action_at")?,
    }))
}

/// Enrolls: writes the device row (refused if this folder is already enrolled).
pub async fn insert_device(conn: &mut SqliteConnection, d: &DeviceRow) -> TerminalResult<()> {
    sqlx::query(
        "INSERT INTO device (id, server_url, token, device_id, tenant_id, branch_id, name, code,
             next_device_seq, next_receipt_no)
         VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&d.server_url)
    .bind(&d.token)
    .bind(d.device_id.to_string())
    .bind(d.tenant_id.to_string())
    .bind(d.branch_id.to_string())
    .bind(&d.name)
    .bind(&d.code)
    .bind(d.next_device_seq)
    .bind(d.next_receipt_no)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Advances the counters after an enqueue.
pub async fn set_counters(conn: &mut SqliteConnection, next_device_seq: i64, next_receipt_no: i64) -> TerminalResult<()> {
    sqlx::query("UPDATE device SET next_device_seq = ?, next_receipt_no = ? WHERE id = 1")
        .bind(next_device_seq)
        .bind(next_receipt_no)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records who is signed in (`None` signs out); a sign-in counts as their last action.
pub async fn set_signed_in(conn: &mut SqliteConnection, staff: Option<Uuid>) -> TerminalResult<()> {
    let now = staff.map(|_| ts(Utc::now()));
    sqlx::query("UPDATE device SET signed_in_staff = ?, last_action_at = ? WHERE id = 1")
        .bind(staff.map(|s| s.to_string()))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Notes an action of the signed-in person (the idle sign-out counts from it).
pub async fn touch_action(conn: &mut SqliteConnection, at: DateTime<Utc>) -> TerminalResult<()> {
    sqlx::query("UPDATE device SET last_action_at = ? WHERE id = 1").bind(ts(at)).execute(&mut *conn).await?;
    Ok(())
}

/// Records a push that got an answer.
pub async fn note_push(conn: &mut SqliteConnection, at: DateTime<Utc>) -> TerminalResult<()> {
    sqlx::query("UPDATE device SET last_push_at = ?, last_contact_at = ?, last_error = NULL WHERE id = 1")
        .bind(ts(at))
        .bind(ts(at))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records that the server answered (or, with an error, that it did not).
pub async fn note_contact(conn: &mut SqliteConnection, at: Option<DateTime<Utc>>, error: Option<&str>) -> TerminalResult<()> {
    sqlx::query("UPDATE device SET last_contact_at = COALESCE(?, last_contact_at), last_error = ? WHERE id = 1")
        .bind(at.map(ts))
        .bind(error)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Stores the cursor after a pull page, in the page's transaction.
pub async fn set_cursor(conn: &mut SqliteConnection, cursor: Option<&str>, at: DateTime<Utc>, hydrated: bool) -> TerminalResult<()> {
    let q = if hydrated {
        "UPDATE device SET pull_cursor = ?, last_pull_at = ?, hydrated_at = ?2, last_contact_at = ?2 WHERE id = 1"
    } else {
        "UPDATE device SET pull_cursor = ?, last_pull_at = ?, last_contact_at = ?2 WHERE id = 1"
    };
    sqlx::query(q).bind(cursor).bind(ts(at)).execute(&mut *conn).await?;
    Ok(())
}

// ------------------------------------------------------------------ op queue

/// Where an op is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueueStatus {
    /// Saved here, not yet answered by the server.
    Pending,
    /// Applied by the server (now or earlier).
    Synced,
    /// Refused by the server; never retried.
    Failed,
}

impl QueueStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Pending => "PENDING",
            QueueStatus::Synced => "SYNCED",
            QueueStatus::Failed => "FAILED",
        }
    }

    /// Parses the stored (and query-string) spelling.
    pub fn parse(s: &str) -> Option<QueueStatus> {
        [QueueStatus::Pending, QueueStatus::Synced, QueueStatus::Failed].into_iter().find(|q| q.as_str() == s)
    }
}

/// One queued op.
#[derive(Debug, Clone)]
pub struct QueuedOp {
    /// FIFO position.
    pub device_seq: i64,
    /// Idempotency key.
    pub client_op_id: Uuid,
    /// Op type's wire name.
    pub op_type: String,
    /// The whole wire op as it is pushed.
    pub op_json: String,
    /// Where it is.
    pub status: QueueStatus,
    /// The server's code when it failed.
    pub code: Option<String>,
    /// The server's message when it failed.
    pub message: Option<String>,
    /// The server's result when applied.
    pub result_json: Option<String>,
    /// Stock deductions of a sale, `[[stock_item_id, qty]]`.
    pub stock_json: Option<String>,
    /// When it happened.
    pub occurred_at: String,
    /// When it was settled.
    pub settled_at: Option<String>,
}

fn queued(r: &sqlx::sqlite::SqliteRow) -> TerminalResult<QueuedOp> {
    let status: String = r.try_get("status")?;
    Ok(QueuedOp {
        device_seq: r.try_get("device_seq")?,
        client_op_id: uuid_col(r, "client_op_id")?,
        op_type: r.try_get("type")?,
        op_json: r.try_get("op_json")?,
        status: QueueStatus::parse(&status).ok_or_else(|| TerminalError::Internal(format!("bad status {status}")))?,
        code: r.try_get("code")?,
        message: r.try_get("message")?,
        result_json: r.try_get("result_json")?,
        stock_json: r.try_get("stock_json")?,
        occurred_at: r.try_get("occurred_at")?,
        settled_at: r.try_get("settled_at")?,
    })
}

/// Appends an op to the queue as `PENDING`.
pub async fn insert_op(conn: &mut SqliteConnection, op: &modula_wire::Op, stock_json: Option<&str>) -> TerminalResult<()> {
    let op_json = serde_json::to_string(op).map_err(|e| TerminalError::Internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO ops (device_seq, client_op_id, type, op_json, status, stock_json, occurred_at)
         VALUES (?, ?, ?, ?, 'PENDING', ?, ?)",
    )
    .bind(op.device_seq)
    .bind(op.client_op_id.to_string())
    .bind(&op.op_type)
    .bind(op_json)
    .bind(stock_json)
    .bind(ts(op.occurred_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One op by id.
pub async fn op(conn: &mut SqliteConnection, client_op_id: Uuid) -> TerminalResult<Option<QueuedOp>> {
    let r = sqlx::query("SELECT * FROM ops WHERE client_op_id = ?")
        .bind(client_op_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    r.as_ref().map(queued).transpose()
}

/// The oldest pending ops, FIFO, at most `limit`.
pub async fn pending_ops(conn: &mut SqliteConnection, limit: i64) -> TerminalResult<Vec<QueuedOp>> {
    let rows = sqlx::query("SELECT * FROM ops WHERE status = 'PENDING' ORDER BY device_seq LIMIT ?")
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(queued).collect()
}

/// Ops in a status, oldest first, after `after_seq`, at most `limit` (≤ one more than
/// [`OPS_PAGE_MAX`], so a full page can tell whether more follow).
pub async fn ops_by_status(
    conn: &mut SqliteConnection,
    status: Option<QueueStatus>,
    after_seq: i64,
    limit: i64,
) -> TerminalResult<Vec<QueuedOp>> {
    let limit = limit.clamp(1, OPS_PAGE_MAX + 1);
    let rows = match status {
        Some(s) => {
            sqlx::query("SELECT * FROM ops WHERE status = ? AND device_seq > ? ORDER BY device_seq LIMIT ?")
                .bind(s.as_str())
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("SELECT * FROM ops WHERE device_seq > ? ORDER BY device_seq LIMIT ?")
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    rows.iter().map(queued).collect()
}

/// Counts of ops by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Waiting for the server.
    pub pending: i64,
    /// Refused by the server.
    pub failed: i64,
    /// Applied by the server.
    pub synced: i64,
}

/// Ops still pending (an index range: the pending ones only).
pub async fn pending_count(conn: &mut SqliteConnection) -> TerminalResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM ops WHERE status = 'PENDING'").fetch_one(&mut *conn).await?)
}

/// How many ops are in each status.
pub async fn counts(conn: &mut SqliteConnection) -> TerminalResult<Counts> {
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM ops GROUP BY status").fetch_all(&mut *conn).await?;
    let mut c = Counts::default();
    for r in rows {
        let s: String = r.try_get("status")?;
        let n: i64 = r.try_get("n")?;
        match QueueStatus::parse(&s) {
            Some(QueueStatus::Pending) => c.pending = n,
            Some(QueueStatus::Failed) => c.failed = n,
            Some(QueueStatus::Synced) => c.synced = n,
            None => {}
        }
    }
    Ok(c)
}

/// Settles a pending op. A settled op is never changed again.
pub async fn settle_op(
    conn: &mut SqliteConnection,
    client_op_id: Uuid,
    status: QueueStatus,
    code: Option<&str>,
    message: Option<&str>,
    result_json: Option<&str>,
    at: DateTime<Utc>,
) -> TerminalResult<bool> {
    debug_assert!(status != QueueStatus::Pending, "settling means leaving PENDING");
    let done = sqlx::query(
        "UPDATE ops SET status = ?, code = ?, message = ?, result_json = ?, settled_at = ?
         WHERE client_op_id = ? AND status = 'PENDING'",
    )
    .bind(status.as_str())
    .bind(code)
    .bind(message)
    .bind(result_json)
    .bind(ts(at))
    .bind(client_op_id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Is this op still pending? (`false` for unknown ids.)
pub async fn is_pending(conn: &mut SqliteConnection, client_op_id: Uuid) -> TerminalResult<bool> {
    let n: Option<i64> = sqlx::query_scalar("SELECT 1 FROM ops WHERE client_op_id = ? AND status = 'PENDING'")
        .bind(client_op_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(n.is_some())
}

/// Was this op refused by the server?
pub async fn is_failed(conn: &mut SqliteConnection, client_op_id: Uuid) -> TerminalResult<bool> {
    let n: Option<i64> = sqlx::query_scalar("SELECT 1 FROM ops WHERE client_op_id = ? AND status = 'FAILED'")
        .bind(client_op_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(n.is_some())
}

// ------------------------------------------------------------------ cache

/// One cached entity's data, parsed.
pub async fn cached(conn: &mut SqliteConnection, scope: &str, id: Uuid) -> TerminalResult<Option<serde_json::Value>> {
    let s: Option<String> = sqlx::query_scalar("SELECT data FROM cache WHERE scope = ? AND id = ?")
        .bind(scope)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    s.map(|s| serde_json::from_str(&s).map_err(|e| TerminalError::Internal(format!("bad cached {scope}: {e}"))))
        .transpose()
}

/// Every cached entity of a scope.
pub async fn cached_scope(conn: &mut SqliteConnection, scope: &str) -> TerminalResult<Vec<serde_json::Value>> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT data FROM cache WHERE scope = ? ORDER BY id")
        .bind(scope)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|s| serde_json::from_str(s).map_err(|e| TerminalError::Internal(format!("bad cached {scope}: {e}"))))
        .collect()
}

/// One cached entity's data, if the cache holds it.
pub async fn cached_entity(conn: &mut SqliteConnection, scope: &str, id: Uuid) -> TerminalResult<Option<serde_json::Value>> {
    let row: Option<String> = sqlx::query_scalar("SELECT data FROM cache WHERE scope = ? AND id = ?")
        .bind(scope)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|s| serde_json::from_str(&s).map_err(|e| TerminalError::Internal(format!("bad cached {scope}: {e}")))).transpose()
}

/// The ids of a scope's most recently changed entities, at most `limit`.
pub async fn recent_ids(conn: &mut SqliteConnection, scope: &str, limit: i64) -> TerminalResult<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM cache WHERE scope = ? ORDER BY version DESC LIMIT ?")
        .bind(scope)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}

/// Writes one pulled change into the cache (a tombstone removes the entity).
pub async fn apply_change(conn: &mut SqliteConnection, c: &modula_wire::sync::Change) -> TerminalResult<()> {
    match (&c.data, c.deleted) {
        (Some(data), false) => {
            sqlx::query(
                "INSERT INTO cache (scope, id, entity, version, data) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (scope, id) DO UPDATE SET entity = excluded.entity, version = excluded.version,
                 data = excluded.data WHERE excluded.version >= cache.version",
            )
            .bind(&c.scope)
            .bind(c.id.to_string())
            .bind(&c.entity)
            .bind(c.version)
            .bind(data.to_string())
            .execute(&mut *conn)
            .await?;
        }
        _ => {
            sqlx::query("DELETE FROM cache WHERE scope = ? AND id = ?")
                .bind(&c.scope)
                .bind(c.id.to_string())
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Drops the whole cache and the cursor (after `CURSOR_RESET`). The queue and the
/// local effects stay: they are this terminal's own work, not a copy of the server's.
pub async fn reset_cache(conn: &mut SqliteConnection) -> TerminalResult<()> {
    sqlx::query("DELETE FROM cache").execute(&mut *conn).await?;
    sqlx::query("UPDATE device SET pull_cursor = NULL, hydrated_at = NULL WHERE id = 1").execute(&mut *conn).await?;
    Ok(())
}
