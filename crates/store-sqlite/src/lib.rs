//! SQLite implementation of [`modula_store::Store`].
//!
//! One file per tenant set, WAL journal, `synchronous=FULL` (a committed answer
//! survives a power cut), foreign keys on, and every write transaction begun with
//! `BEGIN IMMEDIATE` so read-decide-write sequences never hit a busy-snapshot upgrade.
//! Waiting for the write lock is bounded by the busy timeout.

mod convert;
mod tx;
mod attendance;
mod audit;
mod batch;
mod branches;
mod cash;
mod catalog;
mod devices;
mod feed;
mod oplog;
mod sales;
mod staff;
mod tenancy;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use modula_store::{BranchHead, Store, StoreError, StoreResult, Tx};
use tokio::sync::Semaphore;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use tx::SqliteTx;

/// How long a writer waits for SQLite's write lock before the request fails with 503.
pub const BUSY_TIMEOUT_MS: u64 = 10_000;
/// Connections in the pool (readers run in parallel under WAL; writers queue on the lock).
pub const POOL_MAX_CONNECTIONS: u32 = 8;

/// A Modula database in one SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Queues this process's writers in FIFO order before they ask SQLite for its write
    /// lock. Correctness never depends on it (`BEGIN IMMEDIATE` serializes writers, also
    /// across processes); it only spares waiters SQLite's sleeping busy handler, which
    /// left the database idle between 20 devices pushing at once.
    write_gate: Arc<Semaphore>,
    /// Committed stream moves of this process's writers.
    nudges: tokio::sync::broadcast::Sender<BranchHead>,
}

/// Nudges buffered per slow subscriber before it starts losing the oldest.
const NUDGE_BUFFER: usize = 1024;

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://PATH`) and runs
    /// pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("bad SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
            .connect_with(options)
            .await
            .map_err(convert::store_error)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating the SQLite database failed: {e}")))?;
        let (nudges, _) = tokio::sync::broadcast::channel(NUDGE_BUFFER);
        Ok(SqliteStore { pool, write_gate: Arc::new(Semaphore::new(1)), nudges })
    }

    /// The underlying pool (for benchmarks and tests of this crate).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>> {
        let wait = Duration::from_millis(BUSY_TIMEOUT_MS);
        let permit = tokio::time::timeout(wait, self.write_gate.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Unavailable("timed out waiting for the database write lock".into()))?
            .map_err(|_| StoreError::Unavailable("the store is shutting down".into()))?;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(convert::store_error)?;
        Ok(Box::new(SqliteTx::new(tx, Some(permit), Some(self.nudges.clone()))))
    }

    async fn begin_read(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = self.pool.begin().await.map_err(convert::store_error)?;
        Ok(Box::new(SqliteTx::new(tx, None, None)))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(convert::store_error)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn nudges(&self) -> tokio::sync::broadcast::Receiver<BranchHead> {
        self.nudges.subscribe()
    }
}
