//! Closing the day (SPEC §5.6): the sales history in pages and as CSV, the Z report of a
//! cash session and the daily report of a branch's local day.
//!
//! Every figure about sales is summed by the database (`SalesTx::sales_totals`,
//! `SalesTx::sales_by_item`); the drawer's figures come from the sessions' own flows
//! through the shared rules (`modula_rules::cash`), as the till computes them.

use chrono::{DateTime, SecondsFormat, Utc};
use modula_rules::{cash, day, Rejection};
use modula_store::{CashSessionRecord, SaleRowRecord, SalesPage, SalesScope, Store, Timestamp};
use modula_wire::CashFlows;

use modula_wire::reports::{CurrencySummary, ItemSales, Report, ReportCash, SaleRow, SalesList, VoidsSummary};
use uuid::Uuid;

use super::{branch_for_read, not_found, views};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};

/// Most rows of one page of `GET /v1/sales`.
pub const SALES_PAGE_MAX: i64 = 1000;
/// Rows of a page when `limit` is not given (the first release answered up to 1,000).
pub const SALES_PAGE_DEFAULT: i64 = 1000;
/// Rows read per database query while streaming CSV: the memory of an export is one
/// such page, whatever the number of rows.
pub const CSV_PAGE_ROWS: i64 = 1000;
/// Most cash sessions one branch may open in one day for the daily report.
pub const DAY_SESSIONS_MAX: i64 = 1000;
/// The CSV header line: the JSON row's fields, in the same order.
pub const CSV_HEADER: [&str; 11] = [
    "sale_id",
    "receipt_no",
    "total_cents",
    "vat_cents",
    "price_drift_cents",
    "device_id",
    "actor_id",
    "cash_session_id",
    "occurred_at",
    "applied_at",
    "voided",
];

/// `GET /v1/sales` as asked: the query's fields, not yet checked.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SalesQuery {
    /// The branch.
    pub branch_id: Uuid,
    /// RFC 3339; sales with `occurred_at` at or after it.
    pub from: Option<String>,
    /// RFC 3339; sales with `occurred_at` before it.
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Rows per page, 1..=[`SALES_PAGE_MAX`] (text, so a bad one is a 400 naming it).
    pub limit: Option<String>,
    /// `csv`: the whole history as CSV (as `Accept: text/csv`).
    pub format: Option<String>,
}

/// A checked sales query.
#[derive(Debug, Clone, Copy)]
struct Filter {
    branch_id: Uuid,
    from: Timestamp,
    to: Timestamp,
}

impl SalesQuery {
    fn filter(&self) -> ApiResult<Filter> {
        let from = self.from.as_deref().map(|s| instant("from", s)).transpose()?;
        let to = self.to.as_deref().map(|s| instant("to", s)).transpose()?;
        Ok(Filter {
            branch_id: self.branch_id,
            from: from.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            to: to.unwrap_or_else(far_future),
        })
    }

    /// Rows per page: `limit`, or [`SALES_PAGE_DEFAULT`]; a 400 naming it when it is not
    /// a whole number from 1 to [`SALES_PAGE_MAX`].
    fn page_limit(&self) -> ApiResult<i64> {
        match self.limit.as_deref() {
            None => Ok(SALES_PAGE_DEFAULT),
            Some(text) => text.parse::<i64>().ok().filter(|n| (1..=SALES_PAGE_MAX).contains(n)).ok_or_else(|| {
                ApiError::bad_field("limit", format!("limit must be a whole number from 1 to {SALES_PAGE_MAX}"))
            }),
        }
    }

    /// Whether the query asks for CSV (`format=csv`).
    pub fn wants_csv(&self) -> bool {
        self.format.as_deref().is_some_and(|f| f.eq_ignore_ascii_case("csv"))
    }
}

/// An RFC 3339 instant of the query, or a 400 naming it.
fn instant(field: &str, value: &str) -> ApiResult<Timestamp> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::bad_field(field, format!("{field} must be an RFC 3339 time, e.g. 2026-12-06T00:00:00+07:00")))
}

/// The end of every range: 9999-12-31.
fn far_future() -> Timestamp {
    DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z").map(|t| t.with_timezone(&Utc)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A position in the newest-first order, as `next_cursor` carries it: `s1.` then the
/// sale's `occurred_at` in microseconds and its id. It names a row, not an offset, so a
/// page after it neither skips nor repeats a row, whatever arrives meanwhile.
fn cursor_text((at, id): (Timestamp, Uuid)) -> String {
    format!("s1.{}.{}", at.timestamp_micros(), id.simple())
}

fn parse_cursor(text: &str) -> ApiResult<(Timestamp, Uuid)> {
    let bad = || ApiError::bad_field("cursor", "cursor is not one this server gave; start again without it");
    let rest = text.strip_prefix("s1.").ok_or_else(bad)?;
    let (micros, id) = rest.split_once('.').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let at = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

/// `GET /v1/sales`: one page, newest first, with `next_cursor` when more follow.
pub async fn sales(store: &dyn Store, auth: &Auth, q: &SalesQuery) -> ApiResult<SalesList> {
    let filter = q.filter()?;
    let limit = q.page_limit()?;
    let before = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let mut tx = store.begin_read().await?;
    branch_for_read(tx.as_mut(), auth, filter.branch_id).await?;
    let page = SalesPage { branch_id: filter.branch_id, from: filter.from, to: filter.to, before, limit: limit + 1 };
    let mut rows = tx.sales_page(auth.tenant_id, &page).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(|r| cursor_text((r.occurred_at, r.id))) } else { None };
    Ok(SalesList { sales: rows.iter().map(sale_row).collect(), next_cursor: next })
}

/// A sale as `GET /v1/sales` lists it.
fn sale_row(r: &SaleRowRecord) -> SaleRow {
    SaleRow {
        sale_id: r.id,
        receipt_no: r.receipt_no.clone(),
        total_cents: r.total_cents,
        vat_cents: r.vat_cents,
        price_drift_cents: r.price_drift_cents,
        device_id: r.device_id,
        actor_id: r.actor_id,
        cash_session_id: r.cash_session_id,
        occurred_at: views::at(r.occurred_at),
        applied_at: views::at(r.applied_at),
        voided: r.voided,
    }
}

/// A CSV export in progress: reads one page per call, so memory stays one page.
pub struct SalesCsv {
    tenant_id: Uuid,
    filter: Filter,
    before: Option<(Timestamp, Uuid)>,
    header_sent: bool,
    done: bool,
}

/// `GET /v1/sales` as CSV: checks the caller and the query now (so a refusal is a
/// problem, not a broken download); the rows follow page by page. The rights are those
/// of the request's start.
pub async fn sales_csv(store: &dyn Store, auth: &Auth, q: &SalesQuery) -> ApiResult<SalesCsv> {
    let filter = q.filter()?;
    // A CSV holds every matching row; a `limit` is still checked, so a bad one is the
    // same 400 on both media types.
    q.page_limit()?;
    let before = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let mut tx = store.begin_read().await?;
    branch_for_read(tx.as_mut(), auth, filter.branch_id).await?;
    Ok(SalesCsv { tenant_id: auth.tenant_id, filter, before, header_sent: false, done: false })
}

impl SalesCsv {
    /// The next chunk of CSV (the header line with the first rows), or `None` at the end.
    pub async fn next_chunk(&mut self, store: &dyn Store) -> ApiResult<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let f = self.filter;
        let page = SalesPage { branch_id: f.branch_id, from: f.from, to: f.to, before: self.before, limit: CSV_PAGE_ROWS };
        let rows = store.begin_read().await?.sales_page(self.tenant_id, &page).await?;
        debug_assert!(rows.len() as i64 <= CSV_PAGE_ROWS, "a page is bounded");
        self.done = (rows.len() as i64) < CSV_PAGE_ROWS;
        self.before = rows.last().map(|r| (r.occurred_at, r.id));
        let mut out = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 200 + 200));
        let csv_err = |e: csv::Error| ApiError::Internal(format!("writing CSV: {e}"));
        if !self.header_sent {
            out.write_record(CSV_HEADER).map_err(csv_err)?;
            self.header_sent = true;
        }
        for r in &rows {
            out.write_record(csv_fields(r)).map_err(csv_err)?;
        }
        let bytes = out.into_inner().map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
        Ok(Some(bytes))
    }
}

/// A row's fields in [`CSV_HEADER`]'s order.
fn csv_fields(r: &SaleRowRecord) -> [String; 11] {
    let time = |t: Timestamp| views::at(t).to_rfc3339_opts(SecondsFormat::AutoSi, true);
    [
        r.id.to_string(),
        spreadsheet_safe(&r.receipt_no),
        r.total_cents.to_string(),
        r.vat_cents.to_string(),
        r.price_drift_cents.to_string(),
        r.device_id.to_string(),
        r.actor_id.to_string(),
        r.cash_session_id.to_string(),
        time(r.occurred_at),
        time(r.applied_at),
        r.voided.to_string(),
    ]
}

/// A text field a till chose (the receipt number), made inert for spreadsheets: one that
/// starts like a formula (`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading
/// `'`, so opening the export cannot run what a forged till wrote (CSV injection, OWASP).
fn spreadsheet_safe(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

/// `GET /v1/reports/z?cash_session_id=`: one drawer session's sales and cash.
pub async fn z_report(store: &dyn Store, auth: &Auth, cash_session_id: Uuid) -> ApiResult<Report> {
    let mut tx = store.begin_read().await?;
    let session =
        tx.cash_session(auth.tenant_id, cash_session_id).await?.ok_or_else(|| not_found("cash session", cash_session_id))?;
    branch_for_read(tx.as_mut(), auth, session.branch_id).await?;
    let scope = SalesScope::Session(cash_session_id);
    let totals = tx.sales_totals(auth.tenant_id, &scope).await?;
    let items = tx.sales_by_item(auth.tenant_id, &scope).await?;
    Ok(report(&totals, &items, &[session]))
}

/// `GET /v1/reports/daily?branch_id=&date=`: a branch's local day (its time zone's
/// midnight to midnight). Sales count on the day they were made (`occurred_at`); the
/// drawer's figures are those of the sessions opened that day, counted and variance
/// from those closed.
pub async fn daily_report(store: &dyn Store, auth: &Auth, branch_id: Uuid, date: &str) -> ApiResult<Report> {
    // A malformed query parameter is a 400 naming it, as `from`, `to` and `limit` are.
    let date = day::date("date", date)
        .map_err(|_| ApiError::bad_field("date", "date must be the branch's local day written YYYY-MM-DD, e.g. 2026-12-06"))?;
    let mut tx = store.begin_read().await?;
    let branch = branch_for_read(tx.as_mut(), auth, branch_id).await?;
    let tz = day::timezone("timezone", &branch.timezone)
        .map_err(|r| ApiError::Internal(format!("branch {branch_id} has a stored time zone that is unknown: {r}")))?;
    let (from, to) = day::bounds(tz, date);
    let scope = SalesScope::Branch { branch_id, from, to };
    let totals = tx.sales_totals(auth.tenant_id, &scope).await?;
    let items = tx.sales_by_item(auth.tenant_id, &scope).await?;
    let sessions = tx.cash_sessions_opened(auth.tenant_id, branch_id, from, to, DAY_SESSIONS_MAX + 1).await?;
    if sessions.len() as i64 > DAY_SESSIONS_MAX {
        let msg = format!("the branch opened more than {DAY_SESSIONS_MAX} cash sessions that day; ask per session (Z report)");
        return Err(Rejection::validation("date", msg).into());
    }
    Ok(report(&totals, &items, &sessions))
}

/// A report's body (SPEC §5.6), the same for one session and for a day.
fn report(totals: &modula_store::SalesTotalsRecord, items: &[modula_store::ItemSalesRecord], sessions: &[CashSessionRecord]) -> Report {
    let by_item = items
        .iter()
        .map(|i| ItemSales { menu_item_id: i.menu_item_id, name: i.name.clone(), qty: i.qty, total_cents: i.total_cents })
        .collect();
    let closed: Vec<&CashSessionRecord> = sessions.iter().filter(|s| !s.open).collect();
    let variance_total: Option<i64> =
        closed.iter().map(|s| views::variance_total_cents(s)).sum::<Option<i64>>().filter(|_| !closed.is_empty());
    Report {
        sales_count: totals.sales_count,
        gross_cents: totals.gross_cents,
        vat_cents: totals.vat_cents,
        net_cents: totals.gross_cents - totals.vat_cents,
        voids: VoidsSummary { count: totals.voids_count, total_cents: totals.voids_total_cents },
        by_item,
        cash: ReportCash {
            usd: currency(sessions, |s| (s.drawer.usd, if s.open { None } else { s.counted_cash_cents })),
            khr: currency(sessions, |s| (s.drawer.khr, if s.open { None } else { s.counted_khr })),
        },
        variance_total_cents: variance_total,
    }
}

/// One currency of the drawer summed over sessions: every flow and `expected` over all
/// of them; `counted` and `variance` over those closed with a count (null when none).
fn currency(sessions: &[CashSessionRecord], pick: impl Fn(&CashSessionRecord) -> (CashFlows, Option<i64>)) -> CurrencySummary {
    let mut sum = CashFlows::default();
    let (mut expected, mut counted, mut variance) = (0i64, None::<i64>, None::<i64>);
    for s in sessions {
        let (f, count) = pick(s);
        sum = add(sum, f);
        let e = cash::expected(&f);
        expected += e;
        if let Some(c) = count {
            counted = Some(counted.unwrap_or(0) + c);
            variance = Some(variance.unwrap_or(0) + cash::variance(c, e));
        }
    }
    CurrencySummary { flows: sum, expected, counted, variance }
}

fn add(a: CashFlows, b: CashFlows) -> CashFlows {
    CashFlows {
        float: a.float + b.float,
        tendered: a.tendered + b.tendered,
        change: a.change + b.change,
        paid_in: a.paid_in + b.paid_in,
        paid_out: a.paid_out + b.paid_out,
        adjustments: a.adjustments + b.adjustments,
        refunds: a.refunds + b.refunds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_made_inert_and_plain_text_is_kept() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"http://evil\")"), "'=HYPERLINK(\"http://evil\")");
        for bad in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(spreadsheet_safe(bad).starts_with('\''), "{bad}");
        }
        for fine in ["D001-42", "", "ក-1", "A=B"] {
            assert_eq!(spreadsheet_safe(fine), fine);
        }
    }

    #[test]
    fn a_cursor_reads_back_and_a_forged_one_is_a_400() {
        let at = DateTime::<Utc>::from_timestamp_micros(1_765_000_000_123_456).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(parse_cursor(&cursor_text((at, id))).unwrap(), (at, id));
        for bad in ["", "s1.", "s2.1.x", "s1.abc.0192", "s1.1", "s1.99999999999999999999.00000000000000000000000000000000"] {
            let err = parse_cursor(bad).unwrap_err();
            assert_eq!(err.problem().status, 400, "{bad}");
        }
    }
}
