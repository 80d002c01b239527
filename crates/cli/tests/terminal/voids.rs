//! Voids and failure resolution at the till (issue 23): a manager signed in voids a sale
//! online, its refund leaves this drawer; offline or as a cashier it is refused with the
//! reason; a refused sale shows its receipt number, amount and cashier, and later how a
//! manager resolved it. In Chromium: a manager voids a sale from the dashboard and the
//! till's receipt shows VOID.

use serde_json::{json, Value};

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_at_the_till_voids_online_only() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000, "opening_float_khr": 0})).await;
    let sale = term.act("/api/sales", lattes(&shop, 1)).await;
    let sale_id = sale["receipt"]["sale_id"].as_str().unwrap().to_string();
    term.wait_for("synced", 20, |s| s["pending"] == json!(0)).await;
    let path = format!("/api/sales/{sale_id}/void");
    let (s, v) = term.post(&path, json!({"reason": "wrong drink"})).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("FORBIDDEN")), "a cashier cannot void: {v}");
    term.sign_in(shop.manager, MANAGER_PIN).await;
    let (s, v) = term.post(&path, json!({"reason": ""})).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("reason")), "{v}");
    let (s, v) = term.post(&path, json!({"reason": "wrong drink"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["refund"], json!({"usd_cents": 300, "khr": 0}), "the total back, as the default split: {v}");
    let (s, again) = term.post(&path, json!({"reason": "wrong drink"})).await;
    assert_eq!((s, again["code"].as_str()), (409, Some("SALE_ALREADY_VOIDED")), "{again}");
    // The till's drawer paid it out; the server agrees, and so does the feed's copy.
    let (_, ctx) = term.get("/api/context").await;
    let local = &ctx["cash_session"];
    assert_eq!((local["usd"]["refunds"].clone(), local["expected_cash_cents"].clone()), (json!(300), json!(2000)), "{local}");
    let server = shop.get(&format!("/v1/cash-sessions/{}", local["id"].as_str().unwrap())).await;
    assert_eq!(server["expected_cash_cents"], json!(2000), "{server}");
    let ctx = term.wait_for_context("the void in the cache", 20, |c| c["voided_sale_ids"].as_array().is_some_and(|a| a.contains(&json!(sale_id)))).await;
    assert_eq!(ctx["cash_session"]["usd"]["refunds"], json!(300), "the feed's copy is not applied twice: {ctx}");
    // Offline: refused with the reason, nothing sent.
    let other = term.act("/api/sales", lattes(&shop, 1)).await;
    term.wait_for("synced", 20, |s| s["pending"] == json!(0)).await;
    proxy.set(Mode::Cut);
    term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;
    let (s, v) = term.post(&format!("/api/sales/{}/void", other["receipt"]["sale_id"].as_str().unwrap()), json!({"reason": "x"})).await;
    assert_eq!((s, v["code"].as_str()), (422, Some("NOT_ALLOWED_OFFLINE")), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("internet"), "{v}");
}

/// A sale refused because the branch was frozen while the till was offline is listed
/// with its receipt number, amount and cashier; once a manager dismisses it, the till
/// shows that too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sale_shows_what_it_was_and_how_it_was_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000, "opening_float_khr": 0})).await;
    term.wait_for("synced", 20, |s| s["pending"] == json!(0)).await;
    proxy.set(Mode::Cut);
    term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;
    let sale = term.act("/api/sales", lattes(&shop, 2)).await;
    let (s, v) = shop.post(&format!("/v1/branches/{}/freeze", shop.branch), json!({})).await;
    assert_eq!(s, 200, "{v}");
    proxy.set(Mode::Up);
    term.wait_for("refused", 30, |s| s["failed"] == json!(1)).await;
    let failed = term.ops("FAILED").await;
    let f = &failed[0];
    assert_eq!((f["receipt_no"].clone(), f["total_cents"].clone(), f["actor_name"].clone()),
               (sale["receipt"]["receipt_no"].clone(), json!(600), json!("Dara")), "{f}");
    assert_eq!(f["resolution"], Value::Null);
    let id = f["client_op_id"].as_str().unwrap();
    let (s, v) = shop.post(&format!("/v1/sync/failures/{id}/resolve"), json!({"action": "dismiss", "note": "customer paid card next door"})).await;
    assert_eq!(s, 200, "{v}");
    let resolved = eventually("the resolution at the till", 30, || async {
        let ops = term.ops("FAILED").await;
        ops[0]["resolution"].is_object().then(|| ops[0]["resolution"].clone())
    })
    .await;
    assert_eq!((resolved["action"].clone(), resolved["note"].clone()), (json!("dismiss"), json!("customer paid card next door")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_void_from_the_dashboard_marks_the_tills_receipt() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000, "opening_float_khr": 0})).await;
    let till = Browser::start(&driver).await;
    till.goto(&term.base).await;
    till.wait_text("#signed-in-name", 15, "cashier signed in", |t| t.contains("Dara")).await;
    till.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
    till.fill("#tender-usd", "5").await;
    till.wait_text("#change", 15, "change shown", |t| t.contains("Give $2.00")).await;
    till.click("#charge").await;
    till.wait_text("#receipt-sync", 15, "sale synced", |t| t.to_uppercase().contains("SYNCED")).await;
    let receipt_no = till.text("#receipt-no").await.trim_start_matches("Receipt ").to_string();

    let board = Browser::dashboard(&driver, &shop).await;
    board.wait_text("#sales", 20, "the sale listed", |t| t.contains(&receipt_no)).await;
    board.wait_text("#cash-sessions", 20, "the open drawer", |t| t.contains("open")).await;
    board.click("#sales button[data-sale-id]").await;
    board.wait_text("#sale-detail", 15, "the sale's detail", |t| t.contains("Latte") && t.contains(&receipt_no)).await;
    board.fill("#void-reason", "customer changed their mind").await;
    board.click("#void-confirm").await;
    board.wait_text("#sale-detail", 15, "voided", |t| t.contains("VOID") && t.contains("customer changed their mind")).await;
    board.screenshot("23-1-dashboard-void").await;
    till.wait_text("#receipt-void", 30, "VOID on the till's receipt", |t| t == "VOID").await;
    till.screenshot("23-2-till-receipt-void").await;
    let sales = shop.sales().await;
    assert_eq!(sales[0]["voided"], json!(true));
}
