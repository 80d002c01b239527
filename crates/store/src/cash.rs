//! Cash drawer sessions and their movements.

use async_trait::async_trait;
use modula_wire::{CashDrawer, CashFlows};
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

    /// A branch's sessions opened in `[from, to)`, oldest first, at most `limit`.
    async fn cash_sessions_opened(
        &mut self,
        tenant_id: Uuid,
        branch_id: Uuid,
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<CashSessionRecord>>;
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
    /// Float, sales, movements and refunds, per currency (SPEC §3).
    pub drawer: CashDrawer,
    /// Dollars counted at close, in cents.
    pub counted_cash_cents: Option<i64>,
    /// Riel counted at close (`None`: not counted, a first-release close).
    pub counted_khr: Option<i64>,
    /// The policy's rate when it closed, for the total variance in cents.
    pub close_khr_per_usd: Option<i64>,
    /// When opened.
    pub opened_at: Timestamp,
    /// When closed.
    pub closed_at: Option<Timestamp>,
}

/// The columns of a session's drawer, in the order [`drawer_values`] gives them.
pub const DRAWER_COLUMNS: [&str; 17] = [
    "opening_float_cents",
    "tendered_cents",
    "change_cents",
    "paid_in_cents",
    "paid_out_cents",
    "adjustments_cents",
    "refunds_cents",
    "opening_float_khr",
    "tendered_khr",
    "change_khr",
    "paid_in_khr",
    "paid_out_khr",
    "adjustments_khr",
    "refunds_khr",
    "counted_cash_cents",
    "counted_khr",
    "close_khr_per_usd",
];

/// A session's drawer values in the order of [`DRAWER_COLUMNS`] (`None`: SQL null).
pub fn drawer_values(s: &CashSessionRecord) -> [Option<i64>; 17] {
    let (u, k) = (&s.drawer.usd, &s.drawer.khr);
    [
        Some(u.float),
        Some(u.tendered),
        Some(u.change),
        Some(u.paid_in),
        Some(u.paid_out),
        Some(u.adjustments),
        Some(u.refunds),
        Some(k.float),
        Some(k.tendered),
        Some(k.change),
        Some(k.paid_in),
        Some(k.paid_out),
        Some(k.adjustments),
        Some(k.refunds),
        s.counted_cash_cents,
        s.counted_khr,
        s.close_khr_per_usd,
    ]
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
    /// Dollar amount in cents (signed for adjustments); 0 for a riel movement.
    pub amount_cents: i64,
    /// Riel amount (signed for adjustments); 0 for a dollar movement.
    pub amount_khr: i64,
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
            drawer: CashDrawer {
                usd: CashFlows {
                    float: row.int("opening_float_cents")?,
                    tendered: row.int("tendered_cents")?,
                    change: row.int("change_cents")?,
                    paid_in: row.int("paid_in_cents")?,
                    paid_out: row.int("paid_out_cents")?,
                    adjustments: row.int("adjustments_cents")?,
                    refunds: row.int("refunds_cents")?,
                },
                khr: CashFlows {
                    float: row.int("opening_float_khr")?,
                    tendered: row.int("tendered_khr")?,
                    change: row.int("change_khr")?,
                    paid_in: row.int("paid_in_khr")?,
                    paid_out: row.int("paid_out_khr")?,
                    adjustments: row.int("adjustments_khr")?,
                    refunds: row.int("refunds_khr")?,
                },
            },
            counted_cash_cents: row.opt_int("counted_cash_cents")?,
            counted_khr: row.opt_int("counted_khr")?,
            close_khr_per_usd: row.opt_int("close_khr_per_usd")?,
            opened_at: row.instant("opened_at")?,
            closed_at: row.opt_instant("closed_at")?,
        })
    }
}
