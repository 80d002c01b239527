//! The SQLite transaction: its handle, commit, and the helpers every aggregate's file
//! shares. Each part of [`modula_store::Tx`] is implemented in the file of the same name
//! as in `modula-store` (`cash.rs`, `feed.rs`, …), each method as one or two statements.

use async_trait::async_trait;
use modula_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::convert::store_error;

/// Most ids in one `IN (...)` list.
pub(crate) const IN_LIST_MAX: usize = 500;
/// Most rows in one multi-row `INSERT` (SQLite allows 32,766 bound variables).
pub(crate) const INSERT_ROWS_MAX: usize = 500;

/// A transaction on a [`crate::SqliteStore`]; rolled back on drop unless committed.
pub struct SqliteTx {
    pub(crate) tx: Transaction<'static, Sqlite>,
    /// A writer's place at the process's write gate, held until commit or drop.
    write_permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Where nudges go after commit (write transactions only).
    nudges: Option<tokio::sync::broadcast::Sender<BranchHead>>,
    /// Branch heads this transaction moved, announced after commit.
    pub(crate) moved: Vec<BranchHead>,
}

impl SqliteTx {
    pub(crate) fn new(
        tx: Transaction<'static, Sqlite>,
        write_permit: Option<tokio::sync::OwnedSemaphorePermit>,
        nudges: Option<tokio::sync::broadcast::Sender<BranchHead>>,
    ) -> Self {
        SqliteTx { tx, write_permit, nudges, moved: Vec::new() }
    }

    /// Refuses a write or a row lock asked in a read transaction (`Internal`: a bug of
    /// the caller, never worth a retry). Every write and lock method starts with it. A
    /// write transaction already holds SQLite's one write lock (`BEGIN IMMEDIATE`), which
    /// covers every row; a read transaction holds none, and must neither write (SQLite
    /// would take the write lock behind the write gate's back) nor pretend to lock.
    pub(crate) fn require_write(&self, what: &str) -> StoreResult<()> {
        match self.write_permit {
            Some(_) => Ok(()),
            None => Err(StoreError::Internal(format!("{what} asked in a read transaction"))),
        }
    }

    /// The raw transaction, for backend-specific statements.
    pub fn raw(&mut self) -> &mut Transaction<'static, Sqlite> {
        &mut self.tx
    }
}

/// Column `col` of `row`, decoded.
pub(crate) fn get<'r, T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>>(row: &'r SqliteRow, col: &str) -> StoreResult<T> {
    row.try_get(col).map_err(store_error)
}

/// Whether `sql` (a lookup by one id) finds a row.
pub(crate) async fn exists(tx: &mut Transaction<'static, Sqlite>, sql: &'static str, id: Uuid) -> StoreResult<bool> {
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut **tx).await.map_err(store_error)?;
    Ok(row.is_some())
}

#[async_trait]
impl Tx for SqliteTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let SqliteTx { tx, write_permit, nudges, moved } = *self;
        tx.commit().await.map_err(store_error)?;
        drop(write_permit);
        if let Some(sender) = nudges {
            for head in moved {
                // No subscriber is not an error: nudges carry no state.
                let _ = sender.send(head);
            }
        }
        Ok(())
    }
}
