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
        })
    }
}
