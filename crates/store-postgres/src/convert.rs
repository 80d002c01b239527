//! sqlx errors to [`StoreError`], and JSON columns to and from records.

use modula_store::{Columns, StoreError, StoreResult, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

/// `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";
/// SQLSTATEs meaning "busy, retry later": serialization failure, deadlock detected,
/// lock not available (`lock_timeout`), query canceled (`statement_timeout`).
const TRANSIENT: [&str; 4] = ["40001", "40P01", "55P03", "57014"];
/// SQLSTATE prefixes meaning the connection or server is unavailable: connection
/// exceptions, insufficient resources (too many connections, disk full), and shutdown
/// or recovery (`admin_shutdown`, `cannot_connect_now`, …).
const TRANSIENT_CLASSES: [&str; 3] = ["08", "53", "57P"];

/// Maps a sqlx error onto the storage error taxonomy.
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if code == UNIQUE_VIOLATION {
                let what = db.constraint().unwrap_or_else(|| db.message());
                StoreError::Conflict(what.to_string())
            } else if is_transient(&code) {
                StoreError::Unavailable(format!("{} (SQLSTATE {code})", db.message()))
            } else {
                StoreError::Internal(e.to_string())
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

fn is_transient(code: &str) -> bool {
    TRANSIENT.contains(&code) || TRANSIENT_CLASSES.iter().any(|class| code.starts_with(class))
}

/// A row count as the `i64` PostgreSQL binds.
pub(crate) fn count(n: usize) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Internal(format!("{n} rows is too many")))
}

/// A row read through [`Columns`], so that `modula-store` decodes the records.
pub(crate) struct Cols<'r>(pub(crate) &'r PgRow);

/// PostgreSQL's columns: native `uuid`, `int8`, `text`, `bool` and `timestamptz`.
impl Columns for Cols<'_> {
    fn uuid(&self, col: &str) -> StoreResult<Uuid> {
        self.0.try_get(col).map_err(store_error)
    }
    fn opt_uuid(&self, col: &str) -> StoreResult<Option<Uuid>> {
        self.0.try_get(col).map_err(store_error)
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        self.0.try_get(col).map_err(store_error)
    }
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.0.try_get(col).map_err(store_error)
    }
    fn text(&self, col: &str) -> StoreResult<String> {
        self.0.try_get(col).map_err(store_error)
    }
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        self.0.try_get(col).map_err(store_error)
    }
    fn flag(&self, col: &str) -> StoreResult<bool> {
        self.0.try_get(col).map_err(store_error)
    }
    fn instant(&self, col: &str) -> StoreResult<Timestamp> {
        self.0.try_get(col).map_err(store_error)
    }
    fn opt_instant(&self, col: &str) -> StoreResult<Option<Timestamp>> {
        self.0.try_get(col).map_err(store_error)
    }
}
