//! The PostgreSQL transaction: its handle, commit, and the helpers every aggregate's
//! file shares. Each part of [`modula_store::Tx`] is implemented in the file of the same
//! name as in `modula-store` (`cash.rs`, `feed.rs`, …), each method as one or two
//! statements.

use async_trait::async_trait;
use modula_store::*;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::convert::store_error;
use crate::nudge::Announcer;

/// A statement with its binds.
pub(crate) type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// A transaction on a [`crate::PgStore`]; rolled back on drop unless committed.
pub struct PgTx {
    pub(crate) tx: Transaction<'static, Postgres>,
    /// Where this process's nudges go after commit (write transactions only).
    announcer: Option<std::sync::Arc<Announcer>>,
    /// Branch heads this transaction moved, announced after commit.
    pub(crate) moved: Vec<BranchHead>,
}

impl PgTx {
    pub(crate) fn new(tx: Transaction<'static, Postgres>, announcer: Option<std::sync::Arc<Announcer>>) -> Self {
        PgTx { tx, announcer, moved: Vec::new() }
    }

    /// The raw transaction, for backend-specific statements.
    pub fn raw(&mut self) -> &mut Transaction<'static, Postgres> {
        &mut self.tx
    }

    /// Runs a statement; returns the rows it affected.
    pub(crate) async fn exec(&mut self, q: PgQuery<'_>) -> StoreResult<u64> {
        let done = q.execute(&mut *self.tx).await.map_err(store_error)?;
        Ok(done.rows_affected())
    }

    /// Runs a query expecting at most one row.
    pub(crate) async fn one(&mut self, q: PgQuery<'_>) -> StoreResult<Option<PgRow>> {
        q.fetch_optional(&mut *self.tx).await.map_err(store_error)
    }

    /// Runs a query for all its rows.
    pub(crate) async fn all(&mut self, q: PgQuery<'_>) -> StoreResult<Vec<PgRow>> {
        q.fetch_all(&mut *self.tx).await.map_err(store_error)
    }
}

/// Column `col` of `row`, decoded.
pub(crate) fn get<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(row: &'r PgRow, col: &str) -> StoreResult<T> {
    row.try_get(col).map_err(store_error)
}

#[async_trait]
impl Tx for PgTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let PgTx { tx, announcer, moved } = *self;
        tx.commit().await.map_err(store_error)?;
        if let Some(announcer) = announcer {
            for head in moved {
                announcer.announce(head);
            }
        }
        Ok(())
    }
}
