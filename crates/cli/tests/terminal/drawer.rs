//! The two-currency drawer on the cashier's page and the dashboard, in Chromium (issue
//! 21): a float above the cap asks first; both floats open the drawer; tender in both
//! currencies; the change shown as a split and switched to all riel; the receipt prints
//! the split given; a riel paid-out; a blind close (counts first, then the variance) and
//! the dashboard's session per currency.

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

async fn charge(b: &Browser, before: &str) -> String {
    b.click("#charge").await;
    b.wait_text("#receipt", 15, "this sale's receipt", |t| t.contains("D00") && t != before).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_in_dollars_and_riel_on_the_page() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let b = Browser::start(&driver).await;
    b.goto(&term.base).await;
    b.wait_text("#signed-in-name", 15, "cashier signed in", |t| t.contains("Dara")).await;

    // A float of $600 and ៛40,000 ($9.75) is above the $500 cap: the page asks; "no"
    // opens nothing.
    b.fill("#open-float", "600.00").await;
    b.fill("#open-float-khr", "40,000").await;
    b.click("#open-session").await;
    let asked = b.wait_text("#confirm-text", 15, "cap question", |t| t.contains("$609.75")).await;
    assert!(asked.contains("$500.00"), "{asked}");
    b.screenshot("21-1-float-cap-question").await;
    b.click("#confirm-no").await;
    // A "no" shows no refusal: the message line carries no problem code (its words are
    // translated, so the code is read, not the text).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let shown = b.script("return document.getElementById('message').dataset.code || '';", serde_json::json!([])).await;
    assert_eq!(shown, serde_json::json!(""), "no refusal shown for a no");
    assert!(term.ops("").await.is_empty(), "nothing queued after no");
    b.fill("#open-float", "20.00").await;
    b.click("#open-session").await;
    let session = b.wait_text("#session", 15, "drawer open", |t| t.contains("Drawer open")).await;
    assert!(session.contains("៛40,000") && session.contains("$20.00"), "{session}");
    assert!(!session.contains("Expected"), "a blind close hides what is expected: {session}");

    // A latte ($3.00) paid $5: "$2.00 + ៛0" by default, switched to all riel.
    b.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
    b.fill("#tender-usd", "5").await;
    b.wait_text("#change", 15, "default split", |t| t.contains("Give $2.00 + ៛0")).await;
    b.click("#change-switch").await;
    b.wait_text("#change", 15, "all in riel", |t| t.contains("Give $0.00 + ៛8,200")).await;
    let note = b.text("#khr-note").await;
    assert!(note.contains("rounded up") && note.contains("៛100"), "the riel rounding is explained: {note}");
    b.screenshot("21-2-change-in-riel").await;
    let receipt = charge(&b, "").await;
    assert_eq!(b.text("#receipt-change").await, "$0.00 + ៛8,200", "{receipt}");
    assert!(!receipt.contains("Change $") && !receipt.contains("Change ៛"), "no alternative amounts: {receipt}");

    // An espresso ($2.00) paid in riel only: ៛1,800 back.
    b.click(&format!("button.menu-item[data-item-id='{}']", shop.espresso)).await;
    b.fill("#tender-khr", "10,000").await;
    b.wait_text("#change", 15, "riel change", |t| t.contains("Give $0.00 + ៛1,800")).await;
    charge(&b, &receipt).await;
    assert_eq!(b.text("#receipt-change").await, "$0.00 + ៛1,800");

    // ៛8,000 paid out for ice.
    b.select("#movement-kind", "paid_out").await;
    b.select("#movement-currency", "khr").await;
    b.fill("#movement-amount", "8,000").await;
    b.fill("#movement-reason", "ice").await;
    b.click("#movement-submit").await;
    b.wait_text("#message", 15, "paid-out recorded", |t| t.contains("៛8,000 recorded")).await;

    // The blind close: counts first ($25.00 and ៛31,900), then the variance: the drawer
    // should hold $25.00 and ៛40,000 − 8,200 + 10,000 − 1,800 − 8,000 = ៛32,000.
    b.fill("#close-counted", "25.00").await;
    b.fill("#close-counted-khr", "31,900").await;
    b.click("#close-count").await;
    let review = b.wait_text("#close-review", 15, "the count checked", |t| t.contains("Total variance")).await;
    assert!(review.contains("៛32,000") && review.contains("-៛100") && review.contains("-$0.02"), "{review}");
    b.screenshot("21-3-blind-close-review").await;
    b.click("#close-session").await;
    b.wait_text("#session", 15, "drawer closed", |t| t.contains("Drawer closed")).await;
    assert_eq!(b.text("#session-variance-khr").await, "-៛100");
    assert!(b.text("#session-variance-total").await.contains("-$0.02"));
    term.wait_for("synced", 30, |s| s["pending"] == serde_json::json!(0) && s["failed"] == serde_json::json!(0)).await;

    // The dashboard shows the session per currency.
    let board = Browser::dashboard(&driver, &shop).await;
    let row = board.wait_text("#cash-sessions", 20, "the session per currency", |t| t.contains("៛31,900")).await;
    for want in ["$20.00", "៛40,000", "៛32,000", "$25.00", "-៛100", "-$0.02"] {
        assert!(row.contains(want), "{want} in {row}");
    }
    board.screenshot("21-4-dashboard-two-currencies").await;
}
