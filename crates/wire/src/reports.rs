//! The answers of closing the day (SPEC §5.6): the sales history and the Z and daily
//! reports. Money in cents (dollars) and riel, as everywhere.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[allow(unused_imports)]
use serde_json::json;

/// A page of `GET /v1/sales`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SalesList {
    /// The page's sales.
    pub sales: Vec<SaleRow>,
    /// Ask again with `cursor=` this for the next (older) page; null on the last.
    pub next_cursor: Option<String>,
}

/// A sale as the history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"sale_id": "01939b6e-8000-7c2e-9a51-3f0c2d7e8a16", "receipt_no": "D001-42", "total_cents": 550,
    "vat_cents": 50, "price_drift_cents": 0, "device_id": "01939b6e-7b00-7c2e-9a51-3f0c2d7e8a12",
    "actor_id": "01939b6e-7d00-7c2e-9a51-3f0c2d7e8a14", "cash_session_id": "01939b6e-7e00-7c2e-9a51-3f0c2d7e8a15",
    "occurred_at": "2026-12-07T03:15:00Z", "applied_at": "2026-12-07T03:15:01.204311Z", "voided": false}))]
pub struct SaleRow {
    /// The sale.
    pub sale_id: Uuid,
    /// The receipt number the till printed (its device code, a dash, a number).
    pub receipt_no: String,
    /// What the customer paid, in cents.
    pub total_cents: i64,
    /// The VAT within it, in cents.
    pub vat_cents: i64,
    /// The till's total minus the server's pricing, in cents (0 when they agree).
    pub price_drift_cents: i64,
    /// The till that sold it.
    pub device_id: Uuid,
    /// The cashier.
    pub actor_id: Uuid,
    /// The drawer it went into.
    pub cash_session_id: Uuid,
    /// When it was sold (the till's clock).
    pub occurred_at: DateTime<Utc>,
    /// When the server applied it.
    pub applied_at: DateTime<Utc>,
    /// Whether it was voided since.
    pub voided: bool,
}

/// A Z report (one cash session) or a daily report (a branch's local day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// Sales not voided.
    pub sales_count: i64,
    /// Their total, VAT included, in cents.
    pub gross_cents: i64,
    /// The VAT within it, in cents.
    pub vat_cents: i64,
    /// Gross minus VAT, in cents.
    pub net_cents: i64,
    /// The voided sales, shown apart.
    pub voids: VoidsSummary,
    /// What sold, per menu item (not voided).
    pub by_item: Vec<ItemSales>,
    /// The drawer, per currency.
    pub cash: ReportCash,
    /// The closed sessions' variance in both currencies, in cents at each session's rate;
    /// null when none is closed.
    pub variance_total_cents: Option<i64>,
}

/// Voided sales of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VoidsSummary {
    /// How many.
    pub count: i64,
    /// Their total, in cents.
    pub total_cents: i64,
}

/// One menu item's sales in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemSales {
    /// The item.
    pub menu_item_id: Uuid,
    /// Its name on the menu now, deleted or not (null only for an id the tenant's menu
    /// never had).
    pub name: Option<String>,
    /// Units sold.
    pub qty: i64,
    /// Their total, in cents.
    pub total_cents: i64,
}

/// The drawer of a report in each currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportCash {
    /// Dollars, in cents.
    pub usd: CurrencySummary,
    /// Riel.
    pub khr: CurrencySummary,
}

/// One currency of the drawer: every flow and `expected` over the report's sessions;
/// `counted` and `variance` over those closed with a count (null when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CurrencySummary {
    /// The flows summed over the sessions (`float`, `tendered`, `change`, `paid_in`,
    /// `paid_out`, `adjustments`, `refunds`).
    #[serde(flatten)]
    pub flows: crate::CashFlows,
    /// What the drawer should hold.
    pub expected: i64,
    /// What was counted at close.
    pub counted: Option<i64>,
    /// Counted minus expected.
    pub variance: Option<i64>,
}
