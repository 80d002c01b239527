//! Records decoded from rows once, for every backend. A backend implements [`Columns`]
//! for its row type (how it stores a flag, an instant or a UUID); the `from_row`
//! functions of the records (in each aggregate's file) name the columns, which are the
//! same in both schemas.

use uuid::Uuid;

use crate::{StoreError, StoreResult, Timestamp};

/// The typed columns of one row, as the backend stores them. Every method fails with
/// [`StoreError::Internal`] when the column is missing or holds another type.
pub trait Columns {
    /// A UUID column.
    fn uuid(&self, col: &str) -> StoreResult<Uuid>;
    /// A nullable UUID column.
    fn opt_uuid(&self, col: &str) -> StoreResult<Option<Uuid>>;
    /// A 64-bit integer column.
    fn int(&self, col: &str) -> StoreResult<i64>;
    /// A nullable 64-bit integer column.
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>>;
    /// A text column.
    fn text(&self, col: &str) -> StoreResult<String>;
    /// A nullable text column.
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    /// A boolean column.
    fn flag(&self, col: &str) -> StoreResult<bool>;
    /// An instant column.
    fn instant(&self, col: &str) -> StoreResult<Timestamp>;
    /// A nullable instant column.
    fn opt_instant(&self, col: &str) -> StoreResult<Option<Timestamp>>;
}

/// Decodes a JSON column's text; `column` (`table.column`) names it in the error.
pub fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("stored {column} is not valid JSON: {e}")))
}

/// Encodes a JSON column.
pub fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(format!("value did not serialize to JSON: {e}")))
}
