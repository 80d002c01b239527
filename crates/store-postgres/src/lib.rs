//! PostgreSQL implementation of [`modula_store::Store`].
//!
//! Many server processes may share one database. Correctness across them rests on
//! PostgreSQL's row locks, never on anything held in-process:
//! - write transactions run at READ COMMITTED; a push's first statement locks its device
//!   row (`lock_device`), so one device's pushes are serialized on any process;
//! - positions in a branch stream are handed out by `UPDATE branches SET head = head + n
//!   … RETURNING head`, whose row lock is held to commit, so a stream's writers commit in
//!   position order (what makes the change feed safe to read by cursor);
//! - read transactions are `REPEATABLE READ, READ ONLY`: one snapshot for a whole pull;
//! - every connection runs with `synchronous_commit = on` (a committed answer is durable)
//!   and `lock_timeout = 10s` (a writer stuck behind a lock fails with 503, not forever).
//!
//! Nudges cross processes through `LISTEN`/`NOTIFY` (see the `nudge` module).

#![warn(missing_docs)]

mod convert;
mod nudge;
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
use modula_store::{BranchHead, OpRecord, Store, StoreError, StoreResult, Tx};
use uuid::Uuid;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use nudge::NUDGE_CHANNEL;
pub use tx::PgTx;

/// How long a writer waits for a row lock, and a request for a pooled connection, before
/// it fails with 503.
pub const LOCK_TIMEOUT_MS: u64 = 10_000;
/// Connections in a process's pool by default (each in-flight transaction holds one).
pub const POOL_MAX_CONNECTIONS: u32 = 16;
/// The largest pool a process may ask for (PostgreSQL's own default `max_connections` is 100).
pub const POOL_MAX_CONNECTIONS_LIMIT: u32 = 1000;

/// A Modula database in PostgreSQL. Cheap to clone; clones share the pool and listener.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Publishes committed stream moves, heard from every process through `LISTEN`.
    announcer: Arc<nudge::Announcer>,
    /// Stops the listener task when the last clone is dropped.
    _listener: Arc<nudge::ListenerGuard>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`), runs pending
    /// migrations, and starts listening for nudges.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with_pool(url, POOL_MAX_CONNECTIONS).await
    }

    /// [`PgStore::connect`] with a pool of at most `max_connections` connections (1 to
    /// [`POOL_MAX_CONNECTIONS_LIMIT`]). All processes on one database share its
    /// connection budget: see the README on sizing.
    pub async fn connect_with_pool(url: &str, max_connections: u32) -> StoreResult<Self> {
        if !(1..=POOL_MAX_CONNECTIONS_LIMIT).contains(&max_connections) {
            let msg = format!("the pool size must be 1 to {POOL_MAX_CONNECTIONS_LIMIT}, not {max_connections}");
            return Err(StoreError::Internal(msg));
        }
        let options = connect_options(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            // No `SELECT 1` round trip before each checkout (two per push): a connection
            // that died while idle fails its first statement instead, which answers 503
            // (`StoreError::Unavailable`), and the pool replaces it.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_millis(LOCK_TIMEOUT_MS))
            .connect_with(options.clone())
            .await
            .map_err(convert::store_error)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating the PostgreSQL database failed: {e}")))?;
        let announcer = nudge::Announcer::new();
        let listener = nudge::start(options, announcer.clone()).await?;
        Ok(PgStore { pool, announcer, _listener: Arc::new(listener) })
    }

    /// The underlying pool (for benchmarks and tests of this crate).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for checked-out connections to come back (for a graceful
    /// shutdown; the listener stops when the last clone is dropped).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The URL's options plus the per-connection settings every session of the store runs with.
fn connect_options(url: &str) -> StoreResult<PgConnectOptions> {
    let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Internal(format!("bad PostgreSQL URL: {e}")))?;
    let lock_timeout = format!("{LOCK_TIMEOUT_MS}ms");
    Ok(options
        .application_name("modula")
        .options([("synchronous_commit", "on"), ("lock_timeout", lock_timeout.as_str())]))
}

#[async_trait]
impl Store for PgStore {
    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = self.pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE").await.map_err(convert::store_error)?;
        Ok(Box::new(PgTx::new(tx, Some(self.announcer.clone()))))
    }

    async fn begin_read(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await.map_err(convert::store_error)?;
        Ok(Box::new(PgTx::new(tx, None)))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(convert::store_error)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn nudges(&self) -> tokio::sync::broadcast::Receiver<BranchHead> {
        self.announcer.subscribe()
    }

    async fn ops_by_ids(&self, tenant_id: Uuid, client_op_ids: &[Uuid]) -> StoreResult<Vec<OpRecord>> {
        // One autocommit statement on the pool: one round trip instead of three.
        oplog::ops_by_ids(&self.pool, tenant_id, client_op_ids).await
    }
}
