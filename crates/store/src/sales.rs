//! Finalized sales.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

/// Sales: the part of [`Tx`] for finalized sales.
#[async_trait]
pub trait SalesTx: Send {
    /// The sale ids among `ids` that are taken.
    async fn existing_sale_ids(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>>;

    /// Inserts sales.
    async fn insert_sales(&mut self, sales: &[SaleRecord]) -> StoreResult<()>;

    /// Sales of a branch, newest first, at most `limit`.
    async fn list_sales(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<SaleRecord>>;

    /// One sale of the tenant.
    async fn sale(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<SaleRecord>>;

    /// Marks a sale voided, unless it already is: `false` then (nothing changed).
    async fn void_sale(&mut self, tenant_id: Uuid, id: Uuid, void: &SaleVoidRecord) -> StoreResult<bool>;
}

/// The void of a sale (SPEC §4 `sale.void`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleVoidRecord {
    /// When it was voided.
    pub at: Timestamp,
    /// The manager who voided it.
    pub actor_id: Uuid,
    /// Why.
    pub reason: String,
    /// Dollars paid back, in cents.
    pub refund_cents: i64,
    /// Riel paid back.
    pub refund_khr: i64,
    /// The session the refund left.
    pub cash_session_id: Uuid,
    /// The `sale.void` op.
    pub client_op_id: Uuid,
}

/// A finalized cash sale.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleRecord {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Branch.
    pub branch_id: Uuid,
    /// Device.
    pub device_id: Uuid,
    /// Session.
    pub cash_session_id: Uuid,
    /// The op that made it.
    pub client_op_id: Uuid,
    /// Printed receipt number.
    pub receipt_no: String,
    /// Cashier.
    pub actor_id: Uuid,
    /// Charged total.
    pub total_cents: i64,
    /// Current menu total − charged total.
    pub price_drift_cents: i64,
    /// Lines, tender, totals, change, items no longer on the menu.
    pub details: modula_wire::JsonText,
    /// When sold.
    pub occurred_at: Timestamp,
    /// When applied.
    pub applied_at: Timestamp,
    /// Its void, if it was voided.
    pub void: Option<SaleVoidRecord>,
}

impl SaleRecord {
    /// Decodes a `sales` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(SaleRecord {
            id: row.uuid("id")?,
            tenant_id: row.uuid("tenant_id")?,
            branch_id: row.uuid("branch_id")?,
            device_id: row.uuid("device_id")?,
            cash_session_id: row.uuid("cash_session_id")?,
            client_op_id: row.uuid("client_op_id")?,
            receipt_no: row.text("receipt_no")?,
            actor_id: row.uuid("actor_id")?,
            total_cents: row.int("total_cents")?,
            price_drift_cents: row.int("price_drift_cents")?,
            details: from_json("sales.details", &row.text("details")?)?,
            occurred_at: row.instant("occurred_at")?,
            applied_at: row.instant("applied_at")?,
            void: match row.opt_instant("voided_at")? {
                None => None,
                Some(at) => Some(SaleVoidRecord {
                    at,
                    actor_id: row.uuid("void_actor_id")?,
                    reason: row.text("void_reason")?,
                    refund_cents: row.int("void_refund_cents")?,
                    refund_khr: row.int("void_refund_khr")?,
                    cash_session_id: row.uuid("void_cash_session_id")?,
                    client_op_id: row.uuid("void_op_id")?,
                }),
            },
        })
    }
}
