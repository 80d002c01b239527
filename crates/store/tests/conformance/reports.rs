//! The reads behind the day's reports: sales pages, sums per scope and per item, the
//! sessions opened in a span; a branch's address and time zone.

use modula_store::*;
use serde_json::json;

use crate::{id, menu_rec, session_rec, staff_rec, t, world, Backend};

conformance!(sales_pages_and_sums_per_session_and_day);
async fn sales_pages_and_sums_per_session_and_day(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let other = world(store).await;
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.branch(w.tenant.id, w.branch.id).await.unwrap().as_ref(), Some(&w.branch), "address and zone kept");
    let cashier = staff_rec(w.tenant.id, "Cam", vec![w.branch.id]);
    tx.insert_staff(&cashier).await.unwrap();
    let latte = menu_rec(w.tenant.id, "Latte", "coffee");
    tx.upsert_menu_item(&latte).await.unwrap();
    let gone = id(); // an item no longer on the menu
    let s1 = CashSessionRecord { open: false, closed_at: Some(t(400)), ..session_rec(&w, cashier.id, t(10)) };
    let s2 = session_rec(&w, cashier.id, t(500));
    tx.insert_cash_session(&s1).await.unwrap();
    tx.insert_cash_session(&s2).await.unwrap();
    // Six sales: three in s1 at t(100..102), three in s2; two at the same instant.
    let at = [100, 101, 101, 600, 601, 602];
    let mut sales = Vec::new();
    let mut lines = Vec::new();
    for (n, secs) in at.iter().enumerate() {
        let session = if n < 3 { s1.id } else { s2.id };
        let sale = SaleRecord {
            id: id(),
            tenant_id: w.tenant.id,
            branch_id: w.branch.id,
            device_id: w.device.id,
            cash_session_id: session,
            client_op_id: id(),
            receipt_no: format!("A-{n}"),
            actor_id: cashier.id,
            total_cents: 1000 + n as i64,
            vat_cents: 90 + n as i64,
            price_drift_cents: 0,
            details: json!({}).into(),
            occurred_at: t(*secs),
            applied_at: t(*secs + 5),
            void: None,
        };
        lines.push(SaleLineRecord { sale_id: sale.id, line_no: 0, menu_item_id: latte.id, qty: 2, unit_price_cents: 250 });
        lines.push(SaleLineRecord { sale_id: sale.id, line_no: 1, menu_item_id: gone, qty: 1, unit_price_cents: 500 + n as i64 });
        sales.push(sale);
    }
    tx.insert_sales(&sales).await.unwrap();
    tx.insert_sale_lines(&lines).await.unwrap();
    let void = SaleVoidRecord {
        at: t(700),
        actor_id: cashier.id,
        reason: "wrong".into(),
        refund_cents: 1001,
        refund_khr: 0,
        cash_session_id: s2.id,
        client_op_id: id(),
    };
    assert!(tx.void_sale(w.tenant.id, sales[1].id, &void).await.unwrap());
    tx.commit().await.unwrap();

    let mut tx = store.begin_read().await.unwrap();
    // Pages of 2, newest first by (occurred_at, id): every row once.
    let mut page = SalesPage { branch_id: w.branch.id, from: t(0), to: t(10_000), before: None, limit: 2 };
    let mut seen = Vec::new();
    loop {
        let rows = tx.sales_page(w.tenant.id, &page).await.unwrap();
        assert!(rows.len() <= 2);
        let Some(last) = rows.last() else { break };
        page.before = Some((last.occurred_at, last.id));
        seen.extend(rows);
    }
    let mut want: Vec<&SaleRecord> = sales.iter().collect();
    want.sort_by_key(|s| std::cmp::Reverse((s.occurred_at, s.id)));
    assert_eq!(seen.iter().map(|r| r.id).collect::<Vec<_>>(), want.iter().map(|s| s.id).collect::<Vec<_>>());
    let row = seen.iter().find(|r| r.id == sales[1].id).unwrap();
    assert_eq!(
        row,
        &SaleRowRecord {
            id: sales[1].id,
            receipt_no: "A-1".into(),
            total_cents: 1001,
            vat_cents: 91,
            price_drift_cents: 0,
            device_id: w.device.id,
            actor_id: cashier.id,
            cash_session_id: s1.id,
            occurred_at: t(101),
            applied_at: t(106),
            voided: true,
        }
    );
    // `from` is included, `to` excluded.
    let span = SalesPage { from: t(101), to: t(601), before: None, limit: 100, ..page };
    assert_eq!(tx.sales_page(w.tenant.id, &span).await.unwrap().len(), 3);
    assert!(tx.sales_page(other.tenant.id, &span).await.unwrap().is_empty(), "another tenant sees nothing");

    // Session 1: sales 0 and 2 count, sale 1 is a void apart.
    let z = tx.sales_totals(w.tenant.id, &SalesScope::Session(s1.id)).await.unwrap();
    let want = SalesTotalsRecord { sales_count: 2, gross_cents: 2002, vat_cents: 182, voids_count: 1, voids_total_cents: 1001 };
    assert_eq!(z, want);
    let day = SalesScope::Branch { branch_id: w.branch.id, from: t(100), to: t(602) };
    let d = tx.sales_totals(w.tenant.id, &day).await.unwrap();
    let want = SalesTotalsRecord {
        sales_count: 4,
        gross_cents: 1000 + 1002 + 1003 + 1004,
        vat_cents: 90 + 92 + 93 + 94,
        voids_count: 1,
        voids_total_cents: 1001,
    };
    assert_eq!(d, want);
    let none = tx.sales_totals(w.tenant.id, &SalesScope::Session(id())).await.unwrap();
    assert_eq!(none, SalesTotalsRecord::default(), "sums of nothing are 0");
    assert_eq!(tx.sales_totals(other.tenant.id, &day).await.unwrap(), SalesTotalsRecord::default());

    // Per item, voided sales left out; a name only for an item on the menu.
    let items = tx.sales_by_item(w.tenant.id, &SalesScope::Session(s1.id)).await.unwrap();
    let want = vec![
        ItemSalesRecord { menu_item_id: gone, name: None, qty: 2, total_cents: 500 + 502 },
        ItemSalesRecord { menu_item_id: latte.id, name: Some("Latte".into()), qty: 4, total_cents: 1000 },
    ];
    assert_eq!(items, want);
    assert!(tx.sales_by_item(other.tenant.id, &day).await.unwrap().is_empty());

    // Sessions opened in a span, oldest first, bounded.
    let opened = tx.cash_sessions_opened(w.tenant.id, w.branch.id, t(0), t(1000), 10).await.unwrap();
    assert_eq!(opened.iter().map(|s| s.id).collect::<Vec<_>>(), vec![s1.id, s2.id]);
    assert_eq!(tx.cash_sessions_opened(w.tenant.id, w.branch.id, t(11), t(1000), 10).await.unwrap().len(), 1);
    assert_eq!(tx.cash_sessions_opened(w.tenant.id, w.branch.id, t(0), t(1000), 1).await.unwrap().len(), 1);
    assert!(tx.cash_sessions_opened(other.tenant.id, w.branch.id, t(0), t(1000), 10).await.unwrap().is_empty());
}

conformance!(a_branch_keeps_its_address_and_time_zone);
async fn a_branch_keeps_its_address_and_time_zone(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let mut tx = store.begin_write().await.unwrap();
    let mut branch = w.branch.clone();
    branch.address = "No. 41, Street 278, Phnom Penh — ភ្នំពេញ".into();
    branch.timezone = "Asia/Bangkok".into();
    tx.update_branch(&branch).await.unwrap();
    assert_eq!(tx.branch(w.tenant.id, w.branch.id).await.unwrap(), Some(branch.clone()));
    assert_eq!(tx.lock_branch(w.tenant.id, w.branch.id).await.unwrap(), Some(branch));
    tx.commit().await.unwrap();
}

conformance!(a_device_is_noted_seen_at_most_once_a_window);
async fn a_device_is_noted_seen_at_most_once_a_window(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.device(w.tenant.id, w.device.id).await.unwrap().unwrap().last_seen_at, None, "never heard yet");
    tx.note_device_seen(w.device.id, t(100), t(40)).await.unwrap();
    assert_eq!(tx.device(w.tenant.id, w.device.id).await.unwrap().unwrap().last_seen_at, Some(t(100)));
    // Within the window: unchanged.
    tx.note_device_seen(w.device.id, t(130), t(70)).await.unwrap();
    assert_eq!(tx.device(w.tenant.id, w.device.id).await.unwrap().unwrap().last_seen_at, Some(t(100)));
    // Past it: moved.
    tx.note_device_seen(w.device.id, t(200), t(140)).await.unwrap();
    assert_eq!(tx.device(w.tenant.id, w.device.id).await.unwrap().unwrap().last_seen_at, Some(t(200)));
    tx.commit().await.unwrap();
}
