//! Conversions between rows and records, and sqlx errors to [`StoreError`].

use chrono::{DateTime, Utc};
use modula_store::{StoreError, Timestamp};

/// Maps a sqlx error onto the storage error taxonomy.
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let code: i64 = db.code().and_then(|c| c.parse().ok()).unwrap_or(0);
            match (code, code & 0xff) {
                // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
                (2067 | 1555, _) => StoreError::Conflict(db.message().to_string()),
                // SQLITE_BUSY, SQLITE_LOCKED and their extended codes
                (_, 5 | 6) => StoreError::Unavailable(db.message().to_string()),
                _ => StoreError::Internal(e.to_string()),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

/// An instant as stored: microseconds since the Unix epoch.
pub(crate) fn ts(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

/// An optional instant as stored.
pub(crate) fn ts_opt(t: Option<Timestamp>) -> Option<i64> {
    t.map(ts)
}

/// A stored instant back.
pub(crate) fn from_ts(micros: i64) -> StoreResult<Timestamp> {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Internal(format!("stored timestamp {micros} is out of range")))
}

/// A stored optional instant back.
pub(crate) fn from_ts_opt(micros: Option<i64>) -> StoreResult<Option<Timestamp>> {
    micros.map(from_ts).transpose()
}

/// Decodes a JSON column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("stored {column} is not valid JSON: {e}")))
}

/// Encodes a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialize to JSON")
}

use modula_store::StoreResult;
