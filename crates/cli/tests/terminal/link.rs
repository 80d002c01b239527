//! Cut link, restore, dropped responses: everything ends applied exactly once.

use serde_json::json;

use crate::harness::*;

/// Sales, cash-session ops and attendance done while the link is cut stay PENDING and
/// the terminal shows offline; after restore they are SYNCED once and the server's
/// counts, stock and expected cash are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_work_syncs_exactly_once_after_restore() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let proxy = Proxy::start(&server.base).await;
    let (_device, token) = shop.device("Till 1").await;
    let term = Term::start(&dir.path().join("t1"), &proxy.base, &token, &[]).await;
    term.ready().await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;

    // Online: start work and open the drawer go straight through.
    let start = term.act("/api/attendance/start", json!({})).await;
    let open = term.act("/api/cash-sessions/open", json!({"opening_float_cents": 5000})).await;
    let session = open["cash_session"]["id"].as_str().unwrap().to_string();
    term.wait_for("online ops synced", 20, |s| s["pending"] == json!(0)).await;
    assert_eq!(start["status"], json!("SYNCED"), "{start}");

    proxy.set(Mode::Cut);
    let mut receipts = Vec::new();
    for n in 1..=3 {
        let sale = term.act("/api/sales", lattes(&shop, n)).await;
        assert_eq!(sale["status"], json!("PENDING"), "{sale}");
        receipts.push(sale["receipt"]["receipt_no"].as_str().unwrap().to_string());
    }
    term.act("/api/cash-sessions/movement", json!({"kind": "paid_in", "amount_cents": 700, "reason": "change float"}))
        .await;
    term.act("/api/attendance/end", json!({})).await;
    let offline = term.wait_for("offline with 5 pending", 20, |s| s["online"] == json!(false)).await;
    assert_eq!(offline["pending"], json!(5), "{offline}");
    assert_eq!(shop.sales().await.len(), 0, "nothing reached the server while cut");

    proxy.set(Mode::Up);
    let done = term.wait_for("drained", 30, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(done["failed"], json!(0), "{done}");
    assert_eq!(done["synced"], json!(7), "{done}");

    let sales = shop.sales().await;
    assert_eq!(sales.len(), 3, "{sales:?}");
    let mut got: Vec<String> = sales.iter().map(|s| s["receipt_no"].as_str().unwrap().to_string()).collect();
    got.sort();
    receipts.sort();
    assert_eq!(got, receipts);
    let lattes_sold = 1 + 2 + 3;
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START - 18 * lattes_sold);
    assert_eq!(shop.on_hand(shop.milk).await, MILK_START - 150 * lattes_sold);
    let cs = shop.get(&format!("/v1/cash-sessions/{session}")).await;
    assert_eq!(cs["expected_cash_cents"], json!(5000 + 300 * lattes_sold + 700), "{cs}");
    let shifts = shop.get(&format!("/v1/attendance?branch_id={}", shop.branch)).await;
    let shifts = shifts["shifts"].as_array().unwrap().clone();
    assert_eq!(shifts.len(), 1, "{shifts:?}");
    assert_eq!(shifts[0]["status"], json!("closed"));
}
