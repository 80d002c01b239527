//! Finalized sales. (the SQLite side of [`modula_store::SalesTx`]).

use async_trait::async_trait;
use modula_store::*;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::convert::{store_error, ts, Cols};
use crate::tx::{get, SqliteTx, IN_LIST_MAX, INSERT_ROWS_MAX};

#[async_trait]
impl SalesTx for SqliteTx {
    async fn existing_sale_ids(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_LIST_MAX) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT id FROM sales WHERE id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            let rows = q.build().fetch_all(&mut *self.tx).await.map_err(store_error)?;
            for row in &rows {
                out.push(get(row, "id")?);
            }
        }
        Ok(out)
    }

    async fn insert_sales(&mut self, sales: &[SaleRecord]) -> StoreResult<()> {
        self.require_write("insert_sales")?;
        for chunk in sales.chunks(INSERT_ROWS_MAX) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO sales (id, tenant_id, branch_id, device_id, cash_session_id, client_op_id, receipt_no, \
                 actor_id, total_cents, price_drift_cents, details, occurred_at, applied_at, vat_cents) ",
            );
            q.push_values(chunk, |mut b, s| {
                b.push_bind(s.id)
                    .push_bind(s.tenant_id)
                    .push_bind(s.branch_id)
                    .push_bind(s.device_id)
                    .push_bind(s.cash_session_id)
                    .push_bind(s.client_op_id)
                    .push_bind(s.receipt_no.clone())
                    .push_bind(s.actor_id)
                    .push_bind(s.total_cents)
                    .push_bind(s.price_drift_cents)
                    .push_bind(s.details.as_str().to_owned())
                    .push_bind(ts(s.occurred_at))
                    .push_bind(ts(s.applied_at))
                    .push_bind(s.vat_cents);
            });
            q.build().execute(&mut *self.tx).await.map_err(store_error)?;
        }
        Ok(())
    }

    async fn list_sales(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<SaleRecord>> {
        let rows = sqlx::query("SELECT * FROM sales WHERE tenant_id = ? AND branch_id = ? ORDER BY applied_at DESC, id LIMIT ?")
            .bind(tenant_id)
            .bind(branch_id)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| SaleRecord::from_row(&Cols(r))).collect()
    }

    async fn insert_sale_lines(&mut self, lines: &[SaleLineRecord]) -> StoreResult<()> {
        self.require_write("insert_sale_lines")?;
        for chunk in lines.chunks(INSERT_ROWS_MAX) {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO sale_lines (sale_id, line_no, menu_item_id, qty, unit_price_cents) ");
            q.push_values(chunk, |mut b, l| {
                b.push_bind(l.sale_id).push_bind(l.line_no).push_bind(l.menu_item_id).push_bind(l.qty).push_bind(l.unit_price_cents);
            });
            q.build().execute(&mut *self.tx).await.map_err(store_error)?;
        }
        Ok(())
    }

    async fn sales_page(&mut self, tenant_id: Uuid, page: &SalesPage) -> StoreResult<Vec<SaleRowRecord>> {
        let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {SALE_ROW_COLUMNS} FROM sales WHERE tenant_id = "));
        q.push_bind(tenant_id).push(" AND branch_id = ").push_bind(page.branch_id);
        q.push(" AND occurred_at >= ").push_bind(ts(page.from)).push(" AND occurred_at < ").push_bind(ts(page.to));
        if let Some((at, id)) = page.before {
            q.push(" AND (occurred_at, id) < (").push_bind(ts(at)).push(", ").push_bind(id).push(")");
        }
        q.push(" ORDER BY occurred_at DESC, id DESC LIMIT ").push_bind(page.limit);
        let rows = q.build().fetch_all(&mut *self.tx).await.map_err(store_error)?;
        rows.iter().map(|r| SaleRowRecord::from_row(&Cols(r))).collect()
    }

    async fn sales_totals(&mut self, tenant_id: Uuid, scope: &SalesScope) -> StoreResult<SalesTotalsRecord> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT SUM(voided_at IS NULL) AS sales_count, \
             SUM(CASE WHEN voided_at IS NULL THEN total_cents END) AS gross_cents, \
             SUM(CASE WHEN voided_at IS NULL THEN vat_cents END) AS vat_cents, \
             SUM(voided_at IS NOT NULL) AS voids_count, \
             SUM(CASE WHEN voided_at IS NOT NULL THEN total_cents END) AS voids_total_cents \
             FROM sales s WHERE s.tenant_id = ",
        );
        q.push_bind(tenant_id);
        push_scope(&mut q, scope);
        let row = q.build().fetch_one(&mut *self.tx).await.map_err(store_error)?;
        SalesTotalsRecord::from_row(&Cols(&row))
    }

    async fn sales_by_item(&mut self, tenant_id: Uuid, scope: &SalesScope) -> StoreResult<Vec<ItemSalesRecord>> {
        // Grouped first, then named: one menu lookup per item, not per line.
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT g.menu_item_id, m.name, g.qty, g.total_cents FROM (SELECT l.menu_item_id, SUM(l.qty) AS qty, \
             SUM(l.qty * l.unit_price_cents) AS total_cents \
             FROM sales s JOIN sale_lines l ON l.sale_id = s.id \
             WHERE s.voided_at IS NULL AND s.tenant_id = ",
        );
        q.push_bind(tenant_id);
        push_scope(&mut q, scope);
        q.push(" GROUP BY l.menu_item_id) g LEFT JOIN menu_items m ON m.id = g.menu_item_id AND m.tenant_id = ");
        q.push_bind(tenant_id);
        q.push(" ORDER BY g.total_cents DESC, g.menu_item_id");
        let rows = q.build().fetch_all(&mut *self.tx).await.map_err(store_error)?;
        rows.iter().map(|r| ItemSalesRecord::from_row(&Cols(r))).collect()
    }

    async fn sale(&mut self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<SaleRecord>> {
        let row = sqlx::query("SELECT * FROM sales WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| SaleRecord::from_row(&Cols(r))).transpose()
    }

    async fn void_sale(&mut self, tenant_id: Uuid, id: Uuid, v: &SaleVoidRecord) -> StoreResult<bool> {
        self.require_write("void_sale")?;
        let done = sqlx::query(
            "UPDATE sales SET voided_at = ?, void_actor_id = ?, void_reason = ?, void_refund_cents = ?, void_refund_khr = ?, \
             void_cash_session_id = ?, void_op_id = ? WHERE tenant_id = ? AND id = ? AND voided_at IS NULL",
        )
        .bind(ts(v.at))
        .bind(v.actor_id)
        .bind(&v.reason)
        .bind(v.refund_cents)
        .bind(v.refund_khr)
        .bind(v.cash_session_id)
        .bind(v.client_op_id)
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }
}


/// The `AND …` that picks a report's sales (of `sales s`).
fn push_scope(q: &mut QueryBuilder<'_, Sqlite>, scope: &SalesScope) {
    match *scope {
        SalesScope::Session(id) => {
            q.push(" AND s.cash_session_id = ").push_bind(id);
        }
        SalesScope::Branch { branch_id, from, to } => {
            q.push(" AND s.branch_id = ").push_bind(branch_id);
            q.push(" AND s.occurred_at >= ").push_bind(ts(from)).push(" AND s.occurred_at < ").push_bind(ts(to));
        }
    }
}
