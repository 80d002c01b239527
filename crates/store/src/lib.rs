//! The storage interface of the Modula server.
//!
//! The server's domain code is written once against [`Store`] and [`Tx`]; each
//! backend crate (`modula-store-sqlite`, `modula-store-postgres`) implements
//! them with its own SQL and migrations. The interface is deliberately row-level:
//! business decisions are made by the caller (with `modula-rules`), the backend only
//! reads and writes inside one transaction.
//!
//! Invariants every backend upholds:
//! - A [`Tx`] from [`Store::begin_write`] is serializable with respect to every other
//!   write transaction touching the same rows (SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
//!   row locks), so read-decide-write sequences inside it are safe across processes.
//! - Nothing a `Tx` wrote is visible to others before [`Tx::commit`] returns `Ok`, and
//!   once it has returned `Ok` the write is durable (fsynced).
//! - Dropping a `Tx` without commit rolls it back.
//! - Every lookup is scoped by tenant: a row of another tenant is never returned.
//!
//! Code map: one file per aggregate, each holding its records and its part of [`Tx`]
//! (`tenancy`, `staff`, `branches`, `devices`, `catalog`, `oplog`, `cash`, `attendance`,
//! `sales`, `audit`, `feed`, and `batch` for the op lanes' combined writes); the
//! backends mirror the same file names. `seq_ranges` is the pure merge of a device's
//! seen `device_seq`s, shared by both backends.

mod attendance;
mod audit;
mod batch;
mod branches;
mod cash;
mod catalog;
mod columns;
mod devices;
mod feed;
mod oplog;
mod sales;
pub mod seq_ranges;
mod staff;
mod tenancy;

pub use attendance::*;
pub use audit::*;
pub use batch::*;
pub use branches::*;
pub use cash::*;
pub use catalog::*;
pub use columns::{from_json, to_json, Columns};
pub use devices::*;
pub use feed::*;
pub use oplog::*;
pub use sales::*;
pub use staff::*;
pub use tenancy::*;

use async_trait::async_trait;
use uuid::Uuid;

/// What can go wrong in storage. Never a business outcome: a rejection of an op is
/// data, not a `StoreError`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated; the string names the constraint.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database is unreachable, busy or timed out: transient, retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded, or a query failed for a reason that is a bug.
    #[error("storage error: {0}")]
    Internal(String),
}

/// Short for `Result<T, StoreError>`.
pub type StoreResult<T> = Result<T, StoreError>;

/// A database holding any number of tenants.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a write transaction (serialized against conflicting writers).
    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>>;
    /// Starts a read-only transaction (a consistent snapshot; writes through it fail).
    async fn begin_read(&self) -> StoreResult<Box<dyn Tx>>;
    /// Checks the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// The backend's name, for logs and metrics (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;
    /// Nudges: every committed move of a branch stream, from any writer of this database
    /// the backend can hear. Lagging receivers lose old nudges, never block writers.
    fn nudges(&self) -> tokio::sync::broadcast::Receiver<BranchHead>;
    /// [`OpLogTx::ops_by_ids`] outside any transaction: one statement, so one snapshot (a
    /// backend may answer it without `BEGIN` and `COMMIT` round trips). Op records never
    /// change once written, so a snapshot older than a later transaction's is still true.
    async fn ops_by_ids(&self, tenant_id: Uuid, client_op_ids: &[Uuid]) -> StoreResult<Vec<OpRecord>> {
        let mut tx = self.begin_read().await?;
        tx.ops_by_ids(tenant_id, client_op_ids).await
    }
}

/// One database transaction: every aggregate's part, and commit. Every method is
/// tenant-scoped where the data is.
///
/// The methods live in one sub-trait per aggregate, each in the file of that name here
/// and in every backend crate (`cash.rs` answers "where is a cash session written" in all
/// three). Through `dyn Tx` every sub-trait's methods are callable as they are; code
/// generic over a backend's own type imports the sub-traits it calls.
#[async_trait]
pub trait Tx:
    TenancyTx
    + StaffTx
    + BranchTx
    + DeviceTx
    + CatalogTx
    + OpLogTx
    + CashTx
    + AttendanceTx
    + SalesTx
    + AuditTx
    + FeedTx
    + BatchTx
    + Send
{
    /// Makes every write of this transaction durable and visible.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}

/// A UTC instant as stored.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
