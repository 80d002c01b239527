//! Conversions between rows and records, and sqlx errors to [`StoreError`].

use chrono::{DateTime, Utc};
use modula_store::{Columns, StoreError, StoreResult, Timestamp};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

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


/// A row read through [`Columns`], so that `modula-store` decodes the records.
pub(crate) struct Cols<'r>(pub(crate) &'r SqliteRow);

/// SQLite's columns: UUIDs as 16-byte blobs, flags as 0/1 integers, instants as
/// microseconds since the epoch.
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
        Ok(self.0.try_get::<i64, _>(col).map_err(store_error)? != 0)
    }
    fn instant(&self, col: &str) -> StoreResult<Timestamp> {
        from_ts(self.0.try_get(col).map_err(store_error)?)
    }
    fn opt_instant(&self, col: &str) -> StoreResult<Option<Timestamp>> {
        from_ts_opt(self.0.try_get(col).map_err(store_error)?)
    }
}
