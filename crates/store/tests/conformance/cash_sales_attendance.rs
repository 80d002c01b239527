//! Cash sessions and movements, sales, shifts and the audit log.

use modula_store::*;
use serde_json::json;

use crate::{id, session_rec, staff_rec, t, world, Backend};

conformance!(cash_sales_shifts_and_audit_round_trip);
async fn cash_sales_shifts_and_audit_round_trip(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let mut tx = store.begin_write().await.unwrap();
    let cashier = staff_rec(w.tenant.id, "Cam", vec![w.branch.id]);
    tx.insert_staff(&cashier).await.unwrap();
    let mut session = CashSessionRecord { drawer: modula_wire::CashDrawer::default(), ..session_rec(&w, cashier.id, t(60)) };
    session.drawer.usd.float = 1000;
    session.drawer.khr.float = 41_000;
    tx.insert_cash_session(&session).await.unwrap();
    assert_eq!(tx.open_cash_session_of_device(w.device.id).await.unwrap(), Some(session.clone()));
    let movement = CashMovementRecord {
        id: id(),
        cash_session_id: session.id,
        kind: "paid_in".into(),
        amount_cents: 500,
        amount_khr: 0,
        reason: "change".into(),
        actor_id: cashier.id,
        occurred_at: t(61),
    };
    assert!(!tx.cash_movement_exists(movement.id).await.unwrap());
    tx.insert_cash_movement(&movement).await.unwrap();
    assert!(tx.cash_movement_exists(movement.id).await.unwrap());

    let sale = |n: i64| SaleRecord {
        id: id(),
        tenant_id: w.tenant.id,
        branch_id: w.branch.id,
        device_id: w.device.id,
        cash_session_id: session.id,
        client_op_id: id(),
        receipt_no: format!("A-{n}"),
        actor_id: cashier.id,
        total_cents: 250 * n,
        vat_cents: 23 * n,
        price_drift_cents: 0,
        details: json!({"lines": [{"qty": n}], "note": "ünïcode"}).into(),
        occurred_at: t(70 + n),
        applied_at: t(80 + n),
        void: None,
    };
    let sales = vec![sale(1), sale(2), sale(3)];
    tx.insert_sales(&sales).await.unwrap();
    let mut taken = tx.existing_sale_ids(&[sales[0].id, id(), sales[2].id]).await.unwrap();
    taken.sort();
    let mut want = vec![sales[0].id, sales[2].id];
    want.sort();
    assert_eq!(taken, want);
    assert!(tx.existing_sale_ids(&[]).await.unwrap().is_empty());
    assert_eq!(tx.list_sales(w.tenant.id, w.branch.id, 2).await.unwrap(), vec![sales[2].clone(), sales[1].clone()]);
    // A void marks the sale once; a second void changes nothing; another tenant sees nothing.
    let void = SaleVoidRecord {
        at: t(85),
        actor_id: cashier.id,
        reason: "wrong drink".into(),
        refund_cents: 250,
        refund_khr: 4100,
        cash_session_id: session.id,
        client_op_id: id(),
    };
    assert!(tx.void_sale(w.tenant.id, sales[0].id, &void).await.unwrap());
    assert!(!tx.void_sale(w.tenant.id, sales[0].id, &SaleVoidRecord { reason: "again".into(), ..void.clone() }).await.unwrap());
    assert!(!tx.void_sale(id(), sales[1].id, &void).await.unwrap());
    let voided = tx.sale(w.tenant.id, sales[0].id).await.unwrap().unwrap();
    assert_eq!(voided, SaleRecord { void: Some(void), ..sales[0].clone() });
    assert_eq!(tx.sale(w.tenant.id, sales[1].id).await.unwrap(), Some(sales[1].clone()));
    assert_eq!(tx.sale(id(), sales[1].id).await.unwrap(), None);

    session.open = false;
    // Every column of both currencies round-trips, each with its own value.
    let (usd, khr) = (&mut session.drawer.usd, &mut session.drawer.khr);
    (usd.tendered, usd.change, usd.paid_in, usd.paid_out, usd.adjustments, usd.refunds) = (1500, 100, 500, 20, -3, 250);
    (khr.tendered, khr.change, khr.paid_in, khr.paid_out, khr.adjustments, khr.refunds) = (10_300, 2_100, 4_000, 8_000, -100, 900);
    session.counted_cash_cents = Some(3000);
    session.counted_khr = Some(45_000);
    session.close_khr_per_usd = Some(4_100);
    session.closed_at = Some(t(90));
    tx.update_cash_session(&session).await.unwrap();
    assert_eq!(tx.cash_session(w.tenant.id, session.id).await.unwrap(), Some(session.clone()));
    assert_eq!(tx.cash_session(id(), session.id).await.unwrap(), None);
    assert_eq!(tx.open_cash_session_of_device(w.device.id).await.unwrap(), None);

    let mut shift = ShiftRecord {
        id: id(),
        tenant_id: w.tenant.id,
        branch_id: w.branch.id,
        staff_id: cashier.id,
        open: true,
        started_at: t(100),
        ended_at: None,
    };
    tx.insert_shift(&shift).await.unwrap();
    assert_eq!(tx.open_shift_of_staff(cashier.id).await.unwrap(), Some(shift.clone()));
    shift.open = false;
    shift.ended_at = Some(t(200));
    tx.update_shift(&shift).await.unwrap();
    assert_eq!(tx.shift(w.tenant.id, shift.id).await.unwrap(), Some(shift.clone()));
    assert_eq!(tx.open_shift_of_staff(cashier.id).await.unwrap(), None);
    assert_eq!(tx.list_shifts(w.tenant.id, w.branch.id, 10).await.unwrap(), vec![shift]);

    let audit = |n: i64| AuditRecord {
        tenant_id: w.tenant.id,
        branch_id: Some(w.branch.id),
        module: "sale".into(),
        action: "finalize".into(),
        actor_id: Some(cashier.id),
        device_id: None,
        client_op_id: Some(id()),
        lane: Lane::Online,
        occurred_at: t(n),
        applied_at: t(300 + n),
        details: json!({"n": n}).into(),
    };
    let events = vec![audit(1), audit(2), audit(3)];
    tx.insert_audits(&events).await.unwrap();
    assert_eq!(tx.list_audit(w.tenant.id, w.branch.id, t(302), 10).await.unwrap(), events[1..].to_vec());
    assert_eq!(tx.list_audit(w.tenant.id, w.branch.id, t(0), 1).await.unwrap(), events[..1].to_vec());
    tx.commit().await.unwrap();
}

conformance!(cash_sessions_of_a_branch_list_newest_first);
/// The listing half of the PostgreSQL test `sale_key_checks_find_the_session_by_id_not_by_branch`
/// (its plan half is in `crates/store-postgres/tests/postgres.rs`).
async fn cash_sessions_of_a_branch_list_newest_first(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let mut tx = store.begin_write().await.unwrap();
    let cashier = staff_rec(w.tenant.id, "Cam", vec![w.branch.id]);
    tx.insert_staff(&cashier).await.unwrap();
    let session = |n: i64| CashSessionRecord { open: false, closed_at: Some(t(n + 1)), ..session_rec(&w, cashier.id, t(n)) };
    let sessions: Vec<CashSessionRecord> = (0..40).map(|n| session(10 * n)).collect();
    for s in &sessions {
        tx.insert_cash_session(s).await.unwrap();
    }
    let newest = tx.list_cash_sessions(w.tenant.id, w.branch.id, 3).await.unwrap();
    assert_eq!(newest, vec![sessions[39].clone(), sessions[38].clone(), sessions[37].clone()]);
    assert!(tx.list_cash_sessions(id(), w.branch.id, 3).await.unwrap().is_empty(), "tenant-scoped");
    tx.commit().await.unwrap();
}
