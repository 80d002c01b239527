//! sqlx errors to [`StoreError`], and JSON columns to and from records.

use modula_store::{StoreError, StoreResult};

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

/// Decodes a JSON column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("stored {column} is not valid JSON: {e}")))
}

/// Encodes a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(format!("a record did not serialize to JSON: {e}")))
}

/// A row count as the `i64` PostgreSQL binds.
pub(crate) fn count(n: usize) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Internal(format!("{n} rows is too many")))
}
