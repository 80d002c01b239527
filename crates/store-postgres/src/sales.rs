//! Finalized sales. (the PostgreSQL side of [`modula_store::SalesTx`]).


use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::Cols;
use crate::tx::{get, PgQuery, PgTx};

#[async_trait]
impl SalesTx for PgTx {
    async fn existing_sale_ids(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A probe per id, planned per call, for the reasons given in `ops_by_ids`.
        let sql = "SELECT s.id FROM UNNEST($1::uuid[]) AS k(id), LATERAL (SELECT id FROM sales WHERE id = k.id LIMIT 1) AS s";
        let rows = self.all(sqlx::query(sql).bind(ids).persistent(false)).await?;
        rows.iter().map(|r| get(r, "id")).collect()
    }

    async fn insert_sales(&mut self, sales: &[SaleRecord]) -> StoreResult<()> {
        if sales.is_empty() {
            return Ok(());
        }
        let sql = "INSERT INTO sales (id, tenant_id, branch_id, device_id, cash_session_id, client_op_id, receipt_no, \
                   actor_id, total_cents, price_drift_cents, details, occurred_at, applied_at, vat_cents) \
                   SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], \
                   $7::text[], $8::uuid[], $9::int8[], $10::int8[], $11::text[], $12::timestamptz[], $13::timestamptz[], \
                   $14::int8[])";
        let q = bind_sale_arrays(sqlx::query(sql), sales).bind(sale_vats(sales));
        self.exec(q).await?;
        Ok(())
    }

    async fn list_sales(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<SaleRecord>> {
        let sql = "SELECT * FROM sales WHERE tenant_id = $1 AND branch_id = $2 ORDER BY applied_at DESC, id LIMIT $3";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id).bind(limit)).await?;
        rows.iter().map(|r| SaleRecord::from_row(&Cols(r))).collect()
    }

    async fn insert_sale_lines(&mut self, lines: &[SaleLineRecord]) -> StoreResult<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let sql = "INSERT INTO sale_lines (sale_id, line_no, menu_item_id, qty, unit_price_cents) \
                   SELECT * FROM UNNEST($1::uuid[], $2::int4[], $3::uuid[], $4::int8[], $5::int8[])";
        self.exec(bind_sale_line_arrays(sqlx::query(sql), lines)).await?;
        Ok(())
    }

    async fn sales_page(&mut self, tenant_id: Uuid, page: &SalesPage) -> StoreResult<Vec<SaleRowRecord>> {
        // Two statements rather than an `OR` on the cursor, so both walk the index in order.
        let after = if page.before.is_some() { " AND (occurred_at, id) < ($6, $7)" } else { "" };
        let sql = format!(
            "SELECT {SALE_ROW_COLUMNS} FROM sales WHERE tenant_id = $1 AND branch_id = $2 \
             AND occurred_at >= $3 AND occurred_at < $4{after} ORDER BY occurred_at DESC, id DESC LIMIT $5"
        );
        let q = sqlx::query(&sql).bind(tenant_id).bind(page.branch_id).bind(page.from).bind(page.to).bind(page.limit);
        let q = match page.before {
            Some((at, id)) => q.bind(at).bind(id),
            None => q,
        };
        let rows = self.all(q).await?;
        rows.iter().map(|r| SaleRowRecord::from_row(&Cols(r))).collect()
    }

    async fn sales_totals(&mut self, tenant_id: Uuid, scope: &SalesScope) -> StoreResult<SalesTotalsRecord> {
        let sql = format!(
            "SELECT COUNT(*) FILTER (WHERE voided_at IS NULL) AS sales_count, \
             SUM(total_cents) FILTER (WHERE voided_at IS NULL)::int8 AS gross_cents, \
             SUM(vat_cents) FILTER (WHERE voided_at IS NULL)::int8 AS vat_cents, \
             COUNT(*) FILTER (WHERE voided_at IS NOT NULL) AS voids_count, \
             SUM(total_cents) FILTER (WHERE voided_at IS NOT NULL)::int8 AS voids_total_cents \
             FROM sales s WHERE s.tenant_id = $1{}",
            scope_sql(scope)
        );
        let row = self.one(bind_scope(sqlx::query(&sql).bind(tenant_id), scope)).await?;
        let row = row.ok_or_else(|| StoreError::Internal("an aggregate returned no row".into()))?;
        SalesTotalsRecord::from_row(&Cols(&row))
    }

    async fn sales_by_item(&mut self, tenant_id: Uuid, scope: &SalesScope) -> StoreResult<Vec<ItemSalesRecord>> {
        let sql = format!(
            "SELECT g.menu_item_id, m.name, g.qty, g.total_cents FROM (SELECT l.menu_item_id, SUM(l.qty)::int8 AS qty, \
             SUM(l.qty * l.unit_price_cents)::int8 AS total_cents \
             FROM sales s JOIN sale_lines l ON l.sale_id = s.id \
             WHERE s.voided_at IS NULL AND s.tenant_id = $1{} GROUP BY l.menu_item_id) g \
             LEFT JOIN menu_items m ON m.id = g.menu_item_id AND m.tenant_id = $1 \
             ORDER BY g.total_cents DESC, g.menu_item_id",
            scope_sql(scope)
        );
        let rows = self.all(bind_scope(sqlx::query(&sql).bind(tenant_id), scope)).await?;
        rows.iter().map(|r| ItemSalesRecord::from_row(&Cols(r))).collect()
    }

    async fn sale(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<SaleRecord>> {
        let row = self.one(sqlx::query("SELECT * FROM sales WHERE tenant_id = $1 AND id = $2").bind(tenant_id).bind(id)).await?;
        row.as_ref().map(|r| SaleRecord::from_row(&Cols(r))).transpose()
    }

    async fn void_sale(&mut self, tenant_id: Uuid, id: Uuid, v: &SaleVoidRecord) -> StoreResult<bool> {
        let sql = "UPDATE sales SET voided_at = $1, void_actor_id = $2, void_reason = $3, void_refund_cents = $4, \
                   void_refund_khr = $5, void_cash_session_id = $6, void_op_id = $7 \
                   WHERE tenant_id = $8 AND id = $9 AND voided_at IS NULL";
        let q = sqlx::query(sql).bind(v.at).bind(v.actor_id).bind(&v.reason).bind(v.refund_cents).bind(v.refund_khr);
        let q = q.bind(v.cash_session_id).bind(v.client_op_id).bind(tenant_id).bind(id);
        Ok(self.exec(q).await? == 1)
    }
}

/// Binds the 13 columns of `sales` as arrays, in the column order of `insert_sales`
/// (`id … details, occurred_at, applied_at`), for an `UNNEST` insert.
pub(crate) fn bind_sale_arrays<'q>(q: PgQuery<'q>, sales: &'q [SaleRecord]) -> PgQuery<'q> {
    let details: Vec<&str> = sales.iter().map(|s| s.details.as_str()).collect();
    q
        .bind(sales.iter().map(|s| s.id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.tenant_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.branch_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.device_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.cash_session_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.client_op_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.receipt_no.as_str()).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.actor_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.total_cents).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.price_drift_cents).collect::<Vec<_>>())
        .bind(details)
        .bind(sales.iter().map(|s| s.occurred_at).collect::<Vec<_>>())
        .bind(sales.iter().map(|s| s.applied_at).collect::<Vec<_>>())
}

/// The sales' `vat_cents`, as an array (bound after [`bind_sale_arrays`]' columns).
pub(crate) fn sale_vats(sales: &[SaleRecord]) -> Vec<i64> {
    sales.iter().map(|s| s.vat_cents).collect()
}

/// Binds the 5 columns of `sale_lines` as arrays (`sale_id, line_no, menu_item_id, qty,
/// unit_price_cents`), for an `UNNEST` insert.
pub(crate) fn bind_sale_line_arrays<'q>(q: PgQuery<'q>, lines: &'q [SaleLineRecord]) -> PgQuery<'q> {
    q.bind(lines.iter().map(|l| l.sale_id).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.line_no as i32).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.menu_item_id).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.qty).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.unit_price_cents).collect::<Vec<_>>())
}

/// The `AND …` that picks a report's sales (of `sales s`), its binds from `$2`.
fn scope_sql(scope: &SalesScope) -> &'static str {
    match scope {
        SalesScope::Session(_) => " AND s.cash_session_id = $2",
        SalesScope::Branch { .. } => " AND s.branch_id = $2 AND s.occurred_at >= $3 AND s.occurred_at < $4",
    }
}

/// Binds what [`scope_sql`] names.
fn bind_scope<'q>(q: PgQuery<'q>, scope: &SalesScope) -> PgQuery<'q> {
    match *scope {
        SalesScope::Session(id) => q.bind(id),
        SalesScope::Branch { branch_id, from, to } => q.bind(branch_id).bind(from).bind(to),
    }
}
