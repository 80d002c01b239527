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

    /// Sales of a branch, newest applied first, at most `limit`, with their details.
    async fn list_sales(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<SaleRecord>>;

    /// Inserts the lines of sales inserted in this transaction.
    async fn insert_sale_lines(&mut self, lines: &[SaleLineRecord]) -> StoreResult<()>;

    /// One page of a branch's sales, newest first by `(occurred_at, id)`: those with
    /// `occurred_at` in `[page.from, page.to)` and, with `page.before`, ordered before
    /// that position. At most `page.limit` rows.
    async fn sales_page(&mut self, tenant_id: Uuid, page: &SalesPage) -> StoreResult<Vec<SaleRowRecord>>;

    /// The totals of the sales in `scope`, counted in the database: those not voided,
    /// and the voided ones apart.
    async fn sales_totals(&mut self, tenant_id: Uuid, scope: &SalesScope) -> StoreResult<SalesTotalsRecord>;

    /// Quantity and amount sold per menu item of the sales in `scope` that are not
    /// voided, summed in the database, by item id.
    async fn sales_by_item(&mut self, tenant_id: Uuid, scope: &SalesScope) -> StoreResult<Vec<ItemSalesRecord>>;

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
    /// The VAT in the total.
    pub vat_cents: i64,
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
            vat_cents: row.int("vat_cents")?,
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

/// One line of a sale, kept beside it so reports can sum per item in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleLineRecord {
    /// The sale.
    pub sale_id: Uuid,
    /// Position in the sale, from 0.
    pub line_no: i64,
    /// What was sold.
    pub menu_item_id: Uuid,
    /// How many.
    pub qty: i64,
    /// At what unit price (as the till priced it).
    pub unit_price_cents: i64,
}

/// Which sales a report sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SalesScope {
    /// The sales of one cash session (a Z report).
    Session(Uuid),
    /// A branch's sales with `occurred_at` in `[from, to)` (a local day).
    Branch {
        /// The branch.
        branch_id: Uuid,
        /// First instant, included.
        from: Timestamp,
        /// Last instant, excluded.
        to: Timestamp,
    },
}

/// Which page of a branch's sales [`SalesTx::sales_page`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SalesPage {
    /// The branch.
    pub branch_id: Uuid,
    /// First `occurred_at`, included.
    pub from: Timestamp,
    /// Last `occurred_at`, excluded.
    pub to: Timestamp,
    /// Only rows before this `(occurred_at, id)` in the newest-first order: the last row
    /// of the previous page.
    pub before: Option<(Timestamp, Uuid)>,
    /// Most rows.
    pub limit: i64,
}

/// A sale as listed: its columns, without its stored details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRowRecord {
    /// Id.
    pub id: Uuid,
    /// Printed receipt number.
    pub receipt_no: String,
    /// Charged total.
    pub total_cents: i64,
    /// The VAT in it.
    pub vat_cents: i64,
    /// Current menu total − charged total, when applied.
    pub price_drift_cents: i64,
    /// Device.
    pub device_id: Uuid,
    /// Cashier.
    pub actor_id: Uuid,
    /// The drawer session it was paid into.
    pub cash_session_id: Uuid,
    /// When sold.
    pub occurred_at: Timestamp,
    /// When applied.
    pub applied_at: Timestamp,
    /// Whether it was voided.
    pub voided: bool,
}

impl SaleRowRecord {
    /// Decodes a row of `sales_page`'s columns.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(SaleRowRecord {
            id: row.uuid("id")?,
            receipt_no: row.text("receipt_no")?,
            total_cents: row.int("total_cents")?,
            vat_cents: row.int("vat_cents")?,
            price_drift_cents: row.int("price_drift_cents")?,
            device_id: row.uuid("device_id")?,
            actor_id: row.uuid("actor_id")?,
            cash_session_id: row.uuid("cash_session_id")?,
            occurred_at: row.instant("occurred_at")?,
            applied_at: row.instant("applied_at")?,
            voided: row.opt_instant("voided_at")?.is_some(),
        })
    }
}

/// The columns [`SaleRowRecord::from_row`] reads.
pub const SALE_ROW_COLUMNS: &str =
    "id, receipt_no, total_cents, vat_cents, price_drift_cents, device_id, actor_id, cash_session_id, occurred_at, applied_at, \
     voided_at";

/// What [`SalesTx::sales_totals`] counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SalesTotalsRecord {
    /// Sales not voided.
    pub sales_count: i64,
    /// Σ their totals.
    pub gross_cents: i64,
    /// Σ their VAT.
    pub vat_cents: i64,
    /// Voided sales.
    pub voids_count: i64,
    /// Σ the voided sales' totals.
    pub voids_total_cents: i64,
}

impl SalesTotalsRecord {
    /// Decodes the one row of a totals query (`sales_count, gross_cents, vat_cents,
    /// voids_count, voids_total_cents`; sums of no rows read as 0).
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(SalesTotalsRecord {
            sales_count: row.opt_int("sales_count")?.unwrap_or(0),
            gross_cents: row.opt_int("gross_cents")?.unwrap_or(0),
            vat_cents: row.opt_int("vat_cents")?.unwrap_or(0),
            voids_count: row.opt_int("voids_count")?.unwrap_or(0),
            voids_total_cents: row.opt_int("voids_total_cents")?.unwrap_or(0),
        })
    }
}

/// A menu item's share of a report: what [`SalesTx::sales_by_item`] sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSalesRecord {
    /// The item.
    pub menu_item_id: Uuid,
    /// Its name on the menu now (`None`: no longer on it).
    pub name: Option<String>,
    /// Σ quantity.
    pub qty: i64,
    /// Σ quantity × unit price.
    pub total_cents: i64,
}

impl ItemSalesRecord {
    /// Decodes a row (`menu_item_id, name, qty, total_cents`).
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(ItemSalesRecord {
            menu_item_id: row.uuid("menu_item_id")?,
            name: row.opt_text("name")?,
            qty: row.int("qty")?,
            total_cents: row.int("total_cents")?,
        })
    }
}
