//! Fault injection on the push lane: a storage failure in the middle of a push is a
//! 5xx with nothing of the batch stored, never a stored rejection; the retry applies once.

use crate::common::Side;
use crate::fixtures::*;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn a_storage_fault_mid_push_stores_nothing_and_the_retry_applies_once() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    applied(&fx.push(&[ops.open(fx.cashier, s, 1000)]).await[0]);
    let beans_before = fx.on_hand(fx.beans).await;
    let batch = vec![
        ops.sale(fx.cashier, s, &[(fx.latte, 2, 300)], 600, 0),
        ops.raw("coffee.brew", fx.cashier, json!({})),
        ops.sale(fx.cashier, s, &[(fx.espresso, 1, 250)], 250, 0),
    ];
    // The op log refuses writes: the failure comes at the very end of the batch,
    // after the sales, stock and cash effects were written inside the transaction.
    let mut side = Side::open(&fx.app).await;
    side.exec(
        "CREATE TRIGGER injected_fault BEFORE INSERT ON ops BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
        "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$; \
         CREATE TRIGGER injected_fault BEFORE INSERT ON ops FOR EACH STATEMENT EXECUTE FUNCTION injected_fault()",
    )
    .await;
    let body = json!({"device_id": fx.device, "operations": batch});
    let r = fx.push_raw(&fx.device_token, body.clone()).await;
    assert!(r.status.is_server_error(), "a storage fault is a 5xx, got {}: {}", r.status, r.text);
    assert_eq!(r.body["code"], "INTERNAL");
    // Nothing of the batch is stored: no sale, no stock change, no cash, no rejection.
    assert_eq!(fx.sales().await.len(), 0);
    assert_eq!(fx.on_hand(fx.beans).await, beans_before);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000);
    assert_eq!(fx.failures().await.len(), 0, "the unknown type's rejection must not be stored either");

    side.exec("DROP TRIGGER injected_fault", "DROP TRIGGER injected_fault ON ops").await;
    let r = fx.push_raw(&fx.device_token, body).await;
    let results = r.ok(200)["results"].as_array().unwrap().clone();
    applied(&results[0]);
    rejected(&results[1], "UNKNOWN_OP_TYPE");
    applied(&results[2]);
    assert_eq!(fx.sales().await.len(), 2);
    assert_eq!(fx.on_hand(fx.beans).await, beans_before - 3 * 18);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + 600 + 250);
}

#[tokio::test]
async fn a_database_locked_by_another_process_is_a_503_and_nothing_is_lost() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    applied(&fx.push(&[ops.open(fx.cashier, s, 0)]).await[0]);
    let sale = ops.sale(fx.cashier, s, &[(fx.muffin, 1, 200)], 200, 0);
    // Another process holds the write lock (SQLite) or the device rows (PostgreSQL) for
    // longer than the busy / lock timeout.
    let mut side = Side::open(&fx.app).await;
    side.exec("BEGIN IMMEDIATE", "BEGIN; LOCK TABLE devices IN EXCLUSIVE MODE").await;
    let r = fx.push_raw(&fx.device_token, json!({"device_id": fx.device, "operations": [sale.clone()]})).await;
    r.problem(503, "SERVICE_UNAVAILABLE");
    assert!(r.headers.get("retry-after").is_some());
    side.exec("ROLLBACK", "ROLLBACK").await;
    let res = fx.push(&[sale]).await;
    applied(&res[0]);
    assert_eq!(fx.sales().await.len(), 1);
}
