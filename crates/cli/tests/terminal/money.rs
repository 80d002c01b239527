//! Money entry that cannot misread (issue 21): a comma is read only as a thousands
//! separator; "3,00" or "20,00" is refused with how to type it, never read as $300 or
//! $2,000. Tried in Chromium on the real page.

use serde_json::json;

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_amounts_are_refused_not_misread() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let b = Browser::start(&driver).await;
    b.goto(&term.base).await;
    b.wait_text("#signed-in-name", 15, "cashier signed in", |t| t.contains("Dara")).await;

    // The parsers, as the page uses them.
    let cases = json!([
        ["3.00", 300], ["3", 300], ["$1,250.00", 125000], ["12,500", 1250000], ["0.5", 50],
        ["3,00", null], ["20,00", null], ["1,25.00", null], ["3.000", null], ["abc", null], ["1,2345", null]
    ]);
    let got = b.script(
        "return arguments[0].map(([t]) => [t, window.ModulaTill.parseDollars(t, 0, false)]);",
        json!([cases]),
    ).await;
    assert_eq!(got, cases, "dollars");
    let riel = json!([["4100", 4100], ["4,100", 4100], ["៛12,300", 12300], ["4,10", null], ["41,00", null], ["4.5", null]]);
    let got = b.script("return arguments[0].map(([t]) => [t, window.ModulaTill.parseRiel(t, 0)]);", json!([riel])).await;
    assert_eq!(got, riel, "riel");

    // "3,00" as cash for a $3 latte: not read as $300, Charge stays off, the page says why.
    b.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
    b.fill("#tender-usd", "3,00").await;
    b.wait_text("#change", 10, "the amount refused", |t| t.contains("cannot be read") && t.contains("3.00")).await;
    let disabled = b.script("return document.getElementById('charge').disabled", json!([])).await;
    assert_eq!(disabled, json!(true), "Charge stays off");

    // A float "20,00" does not open the drawer with $2,000.
    b.fill("#open-float", "20,00").await;
    b.click("#open-session").await;
    b.wait_text("#message-text", 10, "the float refused", |t| t.contains("cannot be read")).await;
    let ctx = term.get("/api/context").await.1;
    assert!(ctx["cash_session"].is_null(), "no drawer was opened: {ctx}");
    b.fill("#open-float", "20.00").await;
    b.click("#open-session").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while term.get("/api/context").await.1["cash_session"].is_null() {
        assert!(std::time::Instant::now() < deadline, "the drawer never opened with 20.00");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(term.get("/api/context").await.1["cash_session"]["opening_float_cents"], 2000);
}
