//! Cash drawer sessions and their movements.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

/// Cash: the part of [`Tx`] for drawer sessions and movements.
#[async_trait]
pub trait CashTx: Send {
    /// One cash session of the tenant.
    async fn cash_session(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<CashSessionRecord>>;

    /// The device's open cash session, if any.
    async fn open_cash_session_of_device(&mut self, device_id: Uuid) -> StoreResult<Option<CashSessionRecord>>;

    /// Inserts a session.
    async fn insert_cash_session(&mut self, s: &CashSessionRecord) -> StoreResult<()>;

    /// Replaces a session's totals, status and close fields.
    async fn update_cash_session(&mut self, s: &CashSessionRecord) -> StoreResult<()>;

    /// Whether a movement id is taken.
    async fn cash_movement_exists(&mut self, id: Uuid) -> StoreResult<bool>;

    /// Whether a cash session id is taken, in any tenant (ids are globally unique).
    async fn cash_session_exists(&mut self, id: Uuid) -> StoreResult<bool>;

    /// Inserts a movement.
    async fn insert_cash_movement(&mut self, m: &CashMovementRecord) -> StoreResult<()>;

    /// Cash sessions of a branch, newest (by `opened_at`) first, at most `limit`.
    async fn list_cash_sessions(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<CashSessionRecord>>;
}

/// A cash drawer session of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashSessionRecord {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Branch.
    pub branch_id: Uuid,
    /// Device whose drawer it is.
    pub device_id: Uuid,
    /// Who opened it.
    pub opened_by: Uuid,
    /// Open or closed.
    pub open: bool,
    /// Float at opening.
    pub opening_float_cents: i64,
    /// Σ totals of cash sales.
    pub cash_sales_cents: i64,
    /// Σ paid-ins.
    pub paid_in_cents: i64,
    /// Σ paid-outs.
    pub paid_out_cents: i64,
    /// Σ adjustments (signed).
    pub adjustments_cents: i64,
    /// Counted at close.
    pub counted_cash_cents: Option<i64>,
    /// When opened.
    pub opened_at: Timestamp,
    /// When closed.
    pub closed_at: Option<Timestamp>,
}

/// One movement of a cash session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashMovementRecord {
    /// Id.
    pub id: Uuid,
    /// Session.
    pub cash_session_id: Uuid,
    /// `paid_in`, `paid_out` or `adjustment`.
    pub kind: String,
    /// Amount (signed for adjustments).
    pub amount_cents: i64,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor_id: Uuid,
    /// When.
    pub occurred_at: Timestamp,
}

impl CashSessionRecord {
    /// Decodes a `cash_sessions` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(CashSessionRecord {
            id: row.uuid("id")?,
            tenant_id: row.uuid("tenant_id")?,
            branch_id: row.uuid("branch_id")?,
            device_id: row.uuid("device_id")?,
            opened_by: row.uuid("opened_by")?,
            open: row.flag("open")?,
            opening_float_cents: row.int("opening_float_cents")?,
            cash_sales_cents: row.int("cash_sales_cents")?,
            paid_in_cents: row.int("paid_in_cents")?,
            paid_out_cents: row.int("paid_out_cents")?,
            adjustments_cents: row.int("adjustments_cents")?,
            counted_cash_cents: row.opt_int("counted_cash_cents")?,
            opened_at: row.instant("opened_at")?,
            closed_at: row.opt_instant("closed_at")?,
        })
    }
}
