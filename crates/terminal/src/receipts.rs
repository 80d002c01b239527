//! Receipts at the till (SPEC §6, issue 24): every sale made here, kept as it was sold
//! (item and cashier names, prices, totals, tender, change, exchange and the sale's own
//! time) for the receipts list and reprints.
//!
//! A receipt is written in the transaction that queues its sale ([`insert`], from
//! `app::enqueue`), so a sale is never queued without its receipt nor the other way
//! round. Its sync state is read from the op's row at each read; a void is written onto
//! it when this till voids the sale ([`set_own_void`]) or the `voids` feed brings one
//! ([`merge_pulled_void`]). The header (shop, branch, address, VAT TIN, footer, time
//! zone) is the cache's at the time of reading. Migration `0007_receipts.sql` filled the
//! table from the sales queued before it.

use chrono::{DateTime, Utc};
use modula_wire::op::{ChangeGiven, Fx, Op, SaleFinalize, Tender};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::app::{Receipt, ReceiptLine};
use crate::db::{self, ts, QueueStatus};
use crate::error::{TerminalError, TerminalResult};

/// Receipts `GET /api/receipts` answers when no `limit` is given.
pub const RECEIPTS_PAGE_DEFAULT: i64 = 50;
/// Most receipts one `GET /api/receipts` answers.
pub const RECEIPTS_PAGE_MAX: i64 = 500;

/// Keeps the receipt of a sale being queued; call inside the op's transaction, with the
/// op as built (its `occurred_at` is the receipt's time) and the receipt its sale
/// answers (names as at the sale).
pub async fn insert(conn: &mut SqliteConnection, op: &Op, sale: &SaleFinalize, receipt: &Receipt) -> TerminalResult<()> {
    let lines_json = serde_json::to_string(&receipt.lines).map_err(|e| TerminalError::Internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO receipts (sale_id, client_op_id, device_seq, receipt_no, occurred_at, cashier_id, cashier_name,
             cash_session_id, lines_json, subtotal_cents, vat_cents, total_cents, tender_usd_cents, tender_khr,
             change_usd_cents, change_khr, khr_per_usd, khr_rounding)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(sale.sale_id.to_string())
    .bind(op.client_op_id.to_string())
    .bind(op.device_seq)
    .bind(&sale.receipt_no)
    .bind(ts(op.occurred_at))
    .bind(receipt.cashier.id.to_string())
    .bind(&receipt.cashier.name)
    .bind(sale.cash_session_id.to_string())
    .bind(lines_json)
    .bind(sale.totals.subtotal_cents)
    .bind(sale.totals.vat_cents)
    .bind(sale.totals.total_cents)
    .bind(sale.tender.cash_usd_cents)
    .bind(sale.tender.cash_khr)
    .bind(sale.change.map(|c| c.usd_cents))
    .bind(sale.change.map(|c| c.khr))
    .bind(sale.fx.map(|f| f.khr_per_usd))
    .bind(sale.fx.map(|f| f.khr_rounding))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks a receipt voided with `void` (`{voided_at, reason, refund, actor_id,
/// cash_session_id}`); a sale that is not this till's is left alone.
async fn set_void(conn: &mut SqliteConnection, sale_id: Uuid, void: &Value) -> TerminalResult<()> {
    sqlx::query("UPDATE receipts SET void_json = ? WHERE sale_id = ?")
        .bind(void.to_string())
        .bind(sale_id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The till's own void of one of its sales, in the transaction that pays the refund out.
pub async fn set_own_void(
    conn: &mut SqliteConnection,
    sale_id: Uuid,
    at: DateTime<Utc>,
    reason: &str,
    refund: &ChangeGiven,
    actor_id: Uuid,
    cash_session_id: Uuid,
) -> TerminalResult<()> {
    let void = json!({
        "voided_at": ts(at), "reason": reason, "refund": refund, "actor_id": actor_id, "cash_session_id": cash_session_id,
    });
    set_void(conn, sale_id, &void).await
}

/// A void the `voids` feed brought (any till's or the dashboard's): marks this till's
/// receipt of that sale, if it has one. The server's record replaces the till's own.
pub async fn merge_pulled_void(conn: &mut SqliteConnection, data: &Value) -> TerminalResult<()> {
    let Some(sale_id) = data["sale_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) else { return Ok(()) };
    let void = json!({
        "voided_at": data["voided_at"], "reason": data["reason"],
        "refund": {"usd_cents": data["refund"]["usd_cents"].as_i64().unwrap_or(0), "khr": data["refund"]["khr"].as_i64().unwrap_or(0)},
        "actor_id": data["actor_id"], "cash_session_id": data["cash_session_id"],
    });
    set_void(conn, sale_id, &void).await
}

/// The answer of `GET /api/receipts`: this till's receipts, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiptsPage {
    /// The receipts, by `device_seq`, newest first.
    pub receipts: Vec<StoredReceipt>,
}

/// A receipt of this till as `GET /api/receipts` and `GET /api/receipts/{sale_id}`
/// answer it: the sale as it was sold, its sync state and void now, and the header from
/// the cache now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredReceipt {
    /// The sale's id.
    pub sale_id: String,
    /// Its op's id.
    pub client_op_id: String,
    /// Its op's place in this till's queue.
    pub device_seq: i64,
    /// `<device code>-<counter>` (`""` for a sale queued before receipts were kept that
    /// had none).
    pub receipt_no: String,
    /// The sale's own time (its op's `occurred_at`).
    pub occurred_at: String,
    /// Who sold it, named as at the sale.
    pub cashier: StoredReceiptCashier,
    /// The cash session it was sold in.
    pub cash_session_id: String,
    /// The lines, with the item names and prices as at the sale.
    #[schema(value_type = Vec<ReceiptLine>)]
    pub lines: Value,
    /// Sum of the lines.
    pub subtotal_cents: i64,
    /// VAT (included or added, by policy).
    pub vat_cents: i64,
    /// What the customer paid, in cents.
    pub total_cents: i64,
    /// The least riel (in the sale's riel steps) that pays the total at the sale's own
    /// rate; null when the sale recorded no rate.
    #[schema(required = true)]
    pub total_khr: Option<i64>,
    /// What was handed over.
    pub tender: Tender,
    /// The change as given; null for a sale of the first release (not recorded).
    #[schema(required = true)]
    pub change: Option<ChangeGiven>,
    /// The exchange the sale was priced at; null for a sale of the first release.
    #[schema(required = true)]
    pub fx: Option<Fx>,
    /// The sale's op as the queue has it now.
    pub sync: ReceiptSync,
    /// The sale is voided (`void` is set).
    pub voided: bool,
    /// The void, when voided (by this till, or as the `voids` feed brought it); else
    /// null.
    #[schema(required = true, value_type = Option<ReceiptVoid>)]
    pub void: Option<Value>,
    /// The head of the receipt, from the cache now.
    pub header: ReceiptHeader,
}

/// The cashier on a [`StoredReceipt`] (id `""` and name `""` when unknown).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredReceiptCashier {
    /// Staff id.
    pub id: String,
    /// Name as at the sale.
    pub name: String,
}

/// A [`StoredReceipt`]'s sale op in the queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiptSync {
    /// `PENDING`, `SYNCED` or `FAILED`.
    #[schema(value_type = QueueStatus)]
    pub status: String,
    /// The server's code when it refused the sale; else null.
    #[schema(required = true)]
    pub code: Option<String>,
    /// The server's message when it refused the sale; else null.
    #[schema(required = true)]
    pub message: Option<String>,
}

/// The void on a [`StoredReceipt`] (what the local API documents for `void`; it is kept
/// as stored). Fields are null where the record did not say (a void recorded from this
/// till's refund alone, or a feed row without them).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiptVoid {
    /// When it was voided.
    #[schema(required = true)]
    pub voided_at: Option<DateTime<Utc>>,
    /// Why.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// What was paid back.
    pub refund: ChangeGiven,
    /// Who voided it.
    #[schema(required = true)]
    pub actor_id: Option<Uuid>,
    /// The cash session the refund left.
    #[schema(required = true)]
    pub cash_session_id: Option<Uuid>,
}

/// The head of every receipt (`""` for what is unset).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiptHeader {
    /// The shop's name.
    pub tenant_name: String,
    /// The branch's name.
    pub branch_name: String,
    /// The branch's address.
    pub address: String,
    /// The policy's VAT TIN.
    pub vat_tin: String,
    /// The policy's receipt footer.
    pub receipt_footer: String,
    /// The branch's IANA time zone (the default zone when unset).
    pub timezone: String,
}

/// The head of every receipt, from the cache now: the shop's and branch's names, the
/// branch's address and time zone, the policy's VAT TIN and footer (`""` when unset).
pub async fn header(conn: &mut SqliteConnection, branch_id: Uuid) -> TerminalResult<ReceiptHeader> {
    let branch = db::cached(conn, "branch", branch_id).await?.unwrap_or(Value::Null);
    let policy = db::cached(conn, "policy", branch_id).await?.unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let timezone = branch["timezone"].as_str().filter(|t| !t.is_empty()).unwrap_or(modula_wire::admin::DEFAULT_TIMEZONE);
    Ok(ReceiptHeader {
        tenant_name: text(&branch["tenant_name"]),
        branch_name: text(&branch["name"]),
        address: text(&branch["address"]),
        vat_tin: text(&policy["vat_tin"]),
        receipt_footer: text(&policy["receipt_footer"]),
        timezone: timezone.to_string(),
    })
}

const SELECT: &str = "SELECT r.*, o.status AS sync_status, o.code AS sync_code, o.message AS sync_message
                      FROM receipts r LEFT JOIN ops o ON o.client_op_id = r.client_op_id";

/// This till's receipts, newest first, at most `limit` (1 ..= [`RECEIPTS_PAGE_MAX`]).
pub async fn list(conn: &mut SqliteConnection, branch_id: Uuid, limit: i64) -> TerminalResult<Vec<StoredReceipt>> {
    let limit = limit.clamp(1, RECEIPTS_PAGE_MAX);
    let rows = sqlx::query(&format!("{SELECT} ORDER BY r.device_seq DESC LIMIT ?")).bind(limit).fetch_all(&mut *conn).await?;
    let head = header(conn, branch_id).await?;
    rows.iter().map(|r| view(r, &head)).collect()
}

/// One receipt of this till by its sale's id.
pub async fn one(conn: &mut SqliteConnection, branch_id: Uuid, sale_id: Uuid) -> TerminalResult<Option<StoredReceipt>> {
    let row = sqlx::query(&format!("{SELECT} WHERE r.sale_id = ?")).bind(sale_id.to_string()).fetch_optional(&mut *conn).await?;
    let Some(row) = row else { return Ok(None) };
    let head = header(conn, branch_id).await?;
    view(&row, &head).map(Some)
}

fn parse_json(s: &str, what: &str) -> TerminalResult<Value> {
    serde_json::from_str(s).map_err(|e| TerminalError::Internal(format!("bad stored {what}: {e}")))
}

/// A stored receipt as the local API answers it.
fn view(r: &sqlx::sqlite::SqliteRow, header: &ReceiptHeader) -> TerminalResult<StoredReceipt> {
    let total_cents: i64 = r.try_get("total_cents")?;
    let tender = Tender { cash_usd_cents: r.try_get("tender_usd_cents")?, cash_khr: r.try_get("tender_khr")? };
    let change = match (r.try_get::<Option<i64>, _>("change_usd_cents")?, r.try_get::<Option<i64>, _>("change_khr")?) {
        (Some(usd_cents), Some(khr)) => Some(ChangeGiven { usd_cents, khr }),
        _ => None,
    };
    let fx = match (r.try_get::<Option<i64>, _>("khr_per_usd")?, r.try_get::<Option<i64>, _>("khr_rounding")?) {
        (Some(khr_per_usd), Some(khr_rounding)) if khr_per_usd > 0 => Some(Fx { khr_per_usd, khr_rounding }),
        _ => None,
    };
    // The total in riel at the sale's own rate: the least riel (in the rate's steps)
    // that pays it, as the quote showed it before the sale.
    let total_khr = fx.map(|fx| crate::app::riel_to_cover(total_cents, &Tender::default(), &fx));
    let void = r.try_get::<Option<String>, _>("void_json")?.map(|s| parse_json(&s, "void")).transpose()?;
    let lines_json: String = r.try_get("lines_json")?;
    Ok(StoredReceipt {
        sale_id: r.try_get("sale_id")?,
        client_op_id: r.try_get("client_op_id")?,
        device_seq: r.try_get("device_seq")?,
        receipt_no: r.try_get("receipt_no")?,
        occurred_at: r.try_get("occurred_at")?,
        cashier: StoredReceiptCashier { id: r.try_get("cashier_id")?, name: r.try_get("cashier_name")? },
        cash_session_id: r.try_get("cash_session_id")?,
        lines: parse_json(&lines_json, "receipt lines")?,
        subtotal_cents: r.try_get("subtotal_cents")?,
        vat_cents: r.try_get("vat_cents")?,
        total_cents,
        total_khr,
        tender,
        change,
        fx,
        sync: ReceiptSync {
            status: r.try_get::<Option<String>, _>("sync_status")?.unwrap_or_else(|| QueueStatus::Pending.as_str().into()),
            code: r.try_get("sync_code")?,
            message: r.try_get("sync_message")?,
        },
        voided: void.is_some(),
        void,
        header: header.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::Connection;

    use super::*;

    /// Migration 0007 fills the table from the sales already queued: names from the
    /// cache, the sale's own time, its sync state, and a void the feed or this till made.
    #[tokio::test]
    async fn migration_backfills_the_queued_sales() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(db::DB_FILE);
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display())).unwrap().create_if_missing(true);
        // The schema as it was before 0007: the earlier migration files alone.
        let earlier = tempfile::tempdir().unwrap();
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        for f in std::fs::read_dir(&source).unwrap() {
            let f = f.unwrap();
            if f.file_name().to_string_lossy().as_ref() < "0007" {
                std::fs::copy(f.path(), earlier.path().join(f.file_name())).unwrap();
            }
        }
        let old = sqlx::migrate::Migrator::new(earlier.path()).await.unwrap();
        assert_eq!(old.iter().count(), 6);
        let (latte, dara, session) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let sales = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        {
            let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
            old.run(&mut conn).await.unwrap();
            let cache = [
                ("menu", latte, json!({"id": latte, "name": "Latte", "price_cents": 300})),
                ("staff", dara, json!({"id": dara, "name": "Dara"})),
                ("voids", sales[1], json!({"sale_id": sales[1], "voided_at": "2026-03-01T07:30:00Z", "reason": "spilt",
                    "refund": {"usd_cents": 300, "khr": 0}, "actor_id": dara, "cash_session_id": session})),
            ];
            for (scope, id, data) in cache {
                sqlx::query("INSERT INTO cache (scope, id, entity, version, data) VALUES (?, ?, ?, 1, ?)")
                    .bind(scope)
                    .bind(id.to_string())
                    .bind(scope)
                    .bind(data.to_string())
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            let gone = Uuid::now_v7();
            for (i, sale) in sales.iter().enumerate() {
                let seq = i as i64 + 1;
                let payload = json!({"sale_id": sale, "cash_session_id": session, "receipt_no": format!("D001-{seq}"),
                    "lines": [{"menu_item_id": latte, "qty": 2, "unit_price_cents": 300}, {"menu_item_id": gone, "qty": 1, "unit_price_cents": 150}],
                    "tender": {"cash_usd_cents": 500, "cash_khr": 10000}, "totals": {"subtotal_cents": 750, "vat_cents": 68, "total_cents": 750},
                    "fx": {"khr_per_usd": 4100, "khr_rounding": 100}, "change": {"usd_cents": 100, "khr": 4100}});
                let op = json!({"client_op_id": Uuid::now_v7(), "type": "sale.finalize", "actor_id": dara, "payload": payload});
                let status = if i == 0 { "SYNCED" } else { "PENDING" };
                sqlx::query("INSERT INTO ops (device_seq, client_op_id, type, op_json, status, occurred_at) VALUES (?, ?, 'sale.finalize', ?, ?, ?)")
                    .bind(seq)
                    .bind(op["client_op_id"].as_str().unwrap())
                    .bind(op.to_string())
                    .bind(status)
                    .bind(format!("2026-03-01T07:2{seq}:20.000000Z"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            sqlx::query("INSERT INTO local_refunds (sale_id, cash_session_id, usd_cents, khr) VALUES (?, ?, 0, 12300)")
                .bind(sales[2].to_string())
                .bind(session.to_string())
                .execute(&mut conn)
                .await
                .unwrap();
            // Not a sale: no receipt.
            sqlx::query("INSERT INTO ops (device_seq, client_op_id, type, op_json, status, occurred_at) VALUES (9, ?, 'attendance.startWork', '{}', 'PENDING', 'x')")
                .bind(Uuid::now_v7().to_string())
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let database = db::Db::open(dir.path()).await.unwrap();
        let mut conn = database.reader().acquire().await.unwrap();
        let as_json = |r: &StoredReceipt| serde_json::to_value(r).unwrap();
        let all: Vec<Value> = list(&mut conn, Uuid::now_v7(), RECEIPTS_PAGE_MAX).await.unwrap().iter().map(as_json).collect();
        assert_eq!(all.len(), 3, "{all:?}");
        let oldest = &all[2];
        assert_eq!(oldest["sale_id"], json!(sales[0]));
        assert_eq!(oldest["receipt_no"], "D001-1");
        assert_eq!(oldest["occurred_at"], "2026-03-01T07:21:20.000000Z");
        assert_eq!(oldest["cashier"], json!({"id": dara, "name": "Dara"}));
        assert_eq!(oldest["lines"], json!([
            {"menu_item_id": latte, "name": "Latte", "qty": 2, "unit_price_cents": 300, "line_total_cents": 600},
            {"menu_item_id": oldest["lines"][1]["menu_item_id"], "name": "", "qty": 1, "unit_price_cents": 150, "line_total_cents": 150},
        ]));
        assert_eq!((oldest["subtotal_cents"].clone(), oldest["vat_cents"].clone(), oldest["total_cents"].clone()), (json!(750), json!(68), json!(750)));
        assert_eq!(oldest["tender"], json!({"cash_usd_cents": 500, "cash_khr": 10000}));
        assert_eq!(oldest["change"], json!({"usd_cents": 100, "khr": 4100}));
        assert_eq!(oldest["fx"], json!({"khr_per_usd": 4100, "khr_rounding": 100}));
        assert_eq!(oldest["total_khr"], json!(30800), "$7.50 at ៛4,100, up to the next ៛100");
        assert_eq!(oldest["sync"]["status"], "SYNCED");
        assert_eq!((oldest["voided"].clone(), oldest["void"].clone()), (json!(false), Value::Null));
        assert_eq!(all[1]["sync"]["status"], "PENDING");
        assert_eq!(all[1]["void"]["reason"], "spilt", "the feed's void: {}", all[1]);
        assert_eq!(all[1]["void"]["refund"], json!({"usd_cents": 300, "khr": 0}));
        assert_eq!(all[0]["voided"], json!(true), "this till's own refund: {}", all[0]);
        assert_eq!(all[0]["void"]["refund"], json!({"usd_cents": 0, "khr": 12300}));
        assert_eq!(all[0]["header"]["timezone"], modula_wire::admin::DEFAULT_TIMEZONE, "no branch cached: the default zone");
        let got = one(&mut conn, Uuid::now_v7(), sales[1]).await.unwrap().unwrap();
        assert_eq!(as_json(&got), all[1]);
        assert!(one(&mut conn, Uuid::now_v7(), Uuid::now_v7()).await.unwrap().is_none());
    }
}
