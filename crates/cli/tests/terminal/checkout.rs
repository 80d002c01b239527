//! One checkout, one sale (SPEC §6, issue 20): the local API's write endpoints take an
//! optional `Idempotency-Key`; a repeat answers the first result and queues nothing, and
//! two requests with one key at once make one sale. The page sends one key per checkout,
//! so a double-fired Charge makes one sale.

use serde_json::{json, Value};

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

/// `POST` with an Idempotency-Key: `(status, replayed?, body)`.
async fn keyed(term: &Term, path: &str, key: &str, body: &Value) -> (u16, bool, Value) {
    let r = term.http.post(format!("{}{path}", term.base)).header("idempotency-key", key).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    let replayed = r.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    (status, replayed, r.json().await.unwrap_or(Value::Null))
}

async fn queued(term: &Term) -> usize {
    let (s, v) = term.get("/api/ops").await;
    assert_eq!(s, 200, "{v}");
    v["ops"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_one_sale_even_sent_twice_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let sale = lattes(&shop, 1);
    // A refusal is not kept: without a drawer the sale is refused, and the same key
    // works once the drawer is open.
    let (s, _, v) = keyed(&term, "/api/sales", "checkout-1", &sale).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("NO_OPEN_CASH_SESSION")), "{v}");
    let (s, _, open) = keyed(&term, "/api/cash-sessions/open", "drawer-1", &json!({"opening_float_cents": 2000})).await;
    assert_eq!(s, 201, "{open}");
    let before = queued(&term).await;

    let (a, b) = tokio::join!(keyed(&term, "/api/sales", "checkout-1", &sale), keyed(&term, "/api/sales", "checkout-1", &sale));
    assert_eq!((a.0, b.0), (201, 201), "{} {}", a.2, b.2);
    assert!(a.1 != b.1, "exactly one of the two is a replay: {} {}", a.1, b.1);
    assert_eq!(a.2["client_op_id"], b.2["client_op_id"], "the same sale answered twice");
    assert_eq!(a.2["receipt"]["receipt_no"], b.2["receipt"]["receipt_no"]);
    assert_eq!(queued(&term).await, before + 1, "one sale queued");
    // Later repeats replay it too; the drawer's expected cash took it once.
    let (s, replayed, again) = keyed(&term, "/api/sales", "checkout-1", &sale).await;
    assert_eq!((s, replayed), (201, true));
    assert_eq!(again["client_op_id"], a.2["client_op_id"]);
    let (s, _, _) = keyed(&term, "/api/cash-sessions/open", "drawer-1", &json!({"opening_float_cents": 2000})).await;
    assert_eq!(s, 201, "the drawer's open replays instead of CASH_SESSION_ALREADY_OPEN");
    let ctx = term.get("/api/context").await.1;
    assert_eq!(ctx["cash_session"]["expected_cash_cents"], 2000 + 300, "{ctx}");
    // The same key with another body is refused, and queues nothing.
    let (s, _, v) = keyed(&term, "/api/sales", "checkout-1", &lattes(&shop, 2)).await;
    assert_eq!((s, v["code"].as_str()), (422, Some("PAYLOAD_MISMATCH")), "{v}");
    let (s, _, v) = keyed(&term, "/api/sales", "", &sale).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("Idempotency-Key")), "{v}");
    assert_eq!(queued(&term).await, before + 1);
    // Without a key, each request is its own sale.
    term.act("/api/sales", sale.clone()).await;
    assert_eq!(queued(&term).await, before + 2);
}

/// The page's Charge fired twice (both click events through, as a double tap can): one
/// sale, one receipt number, the drawer's expected cash counts it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_fired_charge_makes_one_sale() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000})).await;
    let before = queued(&term).await;
    let b = Browser::start(&driver).await;
    b.goto(&term.base).await;
    b.wait_text("#signed-in-name", 15, "cashier signed in", |t| t.contains("Dara")).await;
    b.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
    b.fill("#tender-usd", "5.00").await;
    b.wait_text("#change", 15, "change shown", |t| t.contains("$2.00")).await;
    // Both events reach the handler: the second one while the first is saving.
    b.script("const c = document.getElementById('charge'); c.click(); c.disabled = false; c.click();", json!([])).await;
    b.wait_text("#receipt", 15, "receipt shown", |t| t.contains("D00")).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(queued(&term).await, before + 1, "one sale for one checkout");
    let ctx = term.get("/api/context").await.1;
    assert_eq!(ctx["cash_session"]["expected_cash_cents"], 2000 + 300, "{ctx}");
    // The next checkout is a new sale.
    b.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
    b.fill("#tender-usd", "3.00").await;
    b.wait_text("#change", 15, "change shown", |t| t.contains("$0.00")).await;
    b.click("#charge").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while queued(&term).await < before + 2 {
        assert!(std::time::Instant::now() < deadline, "the second checkout made its sale");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
