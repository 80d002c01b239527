//! The tender at the counter (issue 25), in headless Chromium: note buttons add up,
//! "Exact ៛" tenders the riel total, Clear order clears the tender too, and Charge waits
//! for an open drawer, saying so.

use serde_json::json;

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

async fn value(b: &Browser, id: &str) -> String {
    b.script("return document.getElementById(arguments[0]).value;", json!([id])).await.as_str().unwrap_or("").to_string()
}

async fn charge_enabled(b: &Browser) -> bool {
    b.script("return !document.getElementById('charge').disabled;", json!([])).await.as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_add_up_exact_riel_clear_order_and_charge_waits_for_the_drawer() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let b = Browser::start(&driver).await;
    b.goto(&term.base).await;
    b.wait_text("#signed-in-name", 15, "cashier signed in", |t| t.contains("Dara")).await;

    // No drawer yet: the tender covers the latte, but Charge stays off and says why.
    b.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
    b.click(".quick [data-usd='500']").await;
    b.wait_text("#change", 15, "change shown", |t| t.contains("$2.00")).await;
    let hint = b.wait_text("#charge-hint", 15, "why Charge is off", |t| t.contains("Open the drawer")).await;
    assert!(!charge_enabled(&b).await, "no sale without an open drawer: {hint}");

    // The drawer opens (at this till, by its API): Charge comes on, the hint goes.
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000})).await;
    b.wait_text("#charge-hint", 20, "the hint gone", |t| t.is_empty()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !charge_enabled(&b).await {
        assert!(std::time::Instant::now() < deadline, "Charge came on once the drawer opened");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Two $5 notes make $10; two ៛10,000 notes make ៛20,000.
    b.click(".quick [data-usd='500']").await;
    assert_eq!(value(&b, "tender-usd").await, "10.00");
    b.click(".quick [data-khr='10000']").await;
    b.click(".quick [data-khr='10000']").await;
    assert_eq!(value(&b, "tender-khr").await, "20000");

    // Exact riel: the latte's ៛12,300 and no dollars.
    b.click("#tender-exact-khr").await;
    assert_eq!((value(&b, "tender-usd").await, value(&b, "tender-khr").await), (String::new(), "12300".to_string()));
    b.wait_text("#change", 15, "no change owed", |t| t.contains("change owed $0.00")).await;

    // Clear order: the cart and the tender go; Charge is off again.
    b.click("#cart-clear").await;
    assert_eq!((value(&b, "tender-usd").await, value(&b, "tender-khr").await), (String::new(), String::new()));
    b.wait_text("#change", 15, "nothing to charge", |t| t.contains("Change —")).await;
    assert!(!charge_enabled(&b).await);
    b.screenshot("25-till-tender").await;
}
