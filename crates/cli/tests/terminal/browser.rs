//! The cashier's page and the manager's dashboard in headless Chromium (issue 8): sign in,
//! sell online; cut the link, sell offline and see "Offline" and pending 1; restore and see
//! "Online", pending 0 and the sale on the dashboard; freeze the branch and see the failure
//! with its reason on both pages. Each step saves a screenshot under
//! `target/browser-screenshots/`.

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

async fn sign_in_cashier(b: &Browser, shop: &Shop) {
    b.select("#signin-staff", &shop.cashier.to_string()).await;
    b.fill("#signin-pin", CASHIER_PIN).await;
    b.click("#signin-submit").await;
    b.wait_text("#signed-in-name", 15, "cashier signed in", |t| t.contains("Dara")).await;
}

/// Puts `n` lattes in the cart, tenders `usd` dollars and charges; returns the receipt text.
async fn sell(b: &Browser, shop: &Shop, n: usize, usd: &str) -> String {
    let item = format!("button.menu-item[data-item-id='{}']", shop.latte);
    for _ in 0..n {
        b.click(&item).await;
    }
    b.fill("#tender-usd", usd).await;
    b.wait_text("#change", 15, "change shown", |t| t.contains('$') && t.contains('៛')).await;
    // The receipt box still shows the last sale until this one's answer arrives.
    let before = b.text("#receipt").await;
    b.click("#charge").await;
    b.wait_text("#receipt", 15, "this sale's receipt shown", |t| t.contains("D00") && t != before).await
}

async fn status_is(b: &Browser, conn: &str, pending: &str, secs: u64) {
    b.wait_text("#conn", secs, "connection word", |t| t == conn).await;
    b.wait_text("#pending", secs, "pending count", |t| t == pending).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cashier_and_manager_pages_through_an_outage_and_a_freeze() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let proxy = Proxy::start(&server.base).await;
    let (_device, token) = shop.device("Front counter").await;
    let term = Term::start(&dir.path().join("t1"), &proxy.base, &token, &[]).await;
    term.ready().await;

    let till = Browser::start(&driver).await;
    till.goto(&term.base).await;
    status_is(&till, "Online", "0", 15).await;
    sign_in_cashier(&till, &shop).await;
    till.fill("#open-float", "20.00").await;
    till.click("#open-session").await;
    till.wait_text("#session", 15, "session open", |t| t.to_lowercase().contains("open")).await;

    // Online sale.
    let receipt = sell(&till, &shop, 2, "10.00").await;
    assert!(receipt.contains("$6.00") && receipt.contains("$4.00"), "total and change: {receipt}");
    till.wait_text("#receipt-sync", 15, "online sale synced", |t| t.to_uppercase().contains("SYNCED")).await;
    status_is(&till, "Online", "0", 15).await;
    till.screenshot("1-till-online-sale").await;

    // Cut the link: offline, the sale waits in the queue.
    proxy.set(Mode::Cut);
    till.wait_text("#conn", 20, "offline shown", |t| t == "Offline").await;
    assert!(till.text("#restock-reason").await.contains("internet"), "online-only action explains why");
    let offline_receipt = sell(&till, &shop, 1, "3.00").await;
    status_is(&till, "Offline", "1", 15).await;
    till.screenshot("2-till-offline-pending").await;
    assert_eq!(shop.sales().await.len(), 1, "the offline sale has not reached the server");

    // Restore: online, pending 0, and the sale is on the server.
    proxy.set(Mode::Up);
    status_is(&till, "Online", "0", 30).await;
    till.screenshot("3-till-back-online").await;
    let receipts: Vec<String> = shop.sales().await.iter().map(|s| s["receipt_no"].as_str().unwrap().to_string()).collect();
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    assert!(receipts.iter().all(|r| offline_receipt.contains(r.as_str()) || receipt.contains(r.as_str())), "{receipts:?}");

    // The manager's dashboard shows both sales.
    let board = Browser::start(&driver).await;
    board.goto(&format!("{}/dashboard", shop.base)).await;
    board.fill("#login-shop", &shop.slug).await;
    board.fill("#login-name", MANAGER_LOGIN).await;
    board.fill("#login-password", MANAGER_PASSWORD).await;
    board.click("#login-submit").await;
    board.select("#branch-select", &shop.branch.to_string()).await;
    board.wait_text("#sales-count", 20, "today's sales", |t| t.trim() == "2").await;
    let sales = board.text("#sales").await;
    for r in &receipts {
        assert!(sales.contains(r.as_str()), "dashboard lists {r}: {sales}");
    }
    board.screenshot("4-dashboard-sales").await;

    // Freeze while the till is offline with a sale queued: the replay fails, with its
    // reason, on both pages.
    proxy.set(Mode::Cut);
    till.wait_text("#conn", 20, "offline again", |t| t == "Offline").await;
    sell(&till, &shop, 1, "5.00").await;
    status_is(&till, "Offline", "1", 15).await;
    board.click("#freeze").await;
    board.wait_text("#branch-status", 15, "frozen on the dashboard", |t| t == "frozen").await;
    proxy.set(Mode::Up);
    till.wait_text("#failed", 30, "failed count", |t| t == "1").await;
    let failed = till.wait_text("#failed-list", 15, "failure listed", |t| t.contains("BRANCH_FROZEN")).await;
    assert!(failed.to_lowercase().contains("frozen"), "reason shown: {failed}");
    till.wait_text("#frozen", 30, "frozen banner", |t| !t.is_empty()).await;
    till.screenshot("5-till-frozen-failure").await;
    let failures = board.wait_text("#failures", 20, "failure on the dashboard", |t| t.contains("BRANCH_FROZEN")).await;
    assert!(failures.to_lowercase().contains("frozen"), "{failures}");
    board.screenshot("6-dashboard-frozen-failure").await;

    // Nothing was applied twice, and the frozen sale was not applied at all.
    assert_eq!(shop.sales().await.len(), 2);
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START - 18 * 3);
}

/// The demo's "Simulate outage" button really cuts the terminal's link: the page goes
/// Offline, a sale waits as pending, and reconnecting syncs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_outage_button_cuts_and_restores_the_link() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let (_device, token) = shop.device("Front counter").await;
    let term = Term::start(&dir.path().join("t1"), &server.base, &token, &["--outage-switch"]).await;
    term.ready().await;

    let till = Browser::start(&driver).await;
    till.goto(&term.base).await;
    status_is(&till, "Online", "0", 15).await;
    sign_in_cashier(&till, &shop).await;
    till.fill("#open-float", "10.00").await;
    till.click("#open-session").await;
    till.wait_text("#session", 15, "session open", |t| t.to_lowercase().contains("open")).await;

    till.click("#outage-toggle").await;
    till.wait_text("#conn", 15, "offline after the outage button", |t| t == "Offline").await;
    sell(&till, &shop, 1, "3.00").await;
    status_is(&till, "Offline", "1", 15).await;
    till.screenshot("7-till-simulated-outage").await;
    assert_eq!(shop.sales().await.len(), 0, "the link is really cut");

    till.click("#outage-toggle").await;
    status_is(&till, "Online", "0", 30).await;
    till.wait_text("#receipt-sync", 15, "receipt synced", |t| t.to_uppercase().contains("SYNCED")).await;
    till.screenshot("8-till-reconnected").await;
    assert_eq!(shop.sales().await.len(), 1);
}
