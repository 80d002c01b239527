//! The cashier's page and the manager's dashboard in headless Chromium (issue 8): sign in,
//! sell online; cut the link, sell offline and see "Offline" and pending 1; restore and see
//! "Online", pending 0 and the sale on the dashboard; freeze the branch and see the failure
//! with its reason on both pages. Each step saves a screenshot under
//! `target/browser-screenshots/`.

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};
use serde_json::json;

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
    till.sign_in_cashier(&shop).await;
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
    till.wait_text("#offline-for", 15, "how long offline", |t| t.starts_with("for ") && (t.ends_with(" s") || t.ends_with(" min"))).await;
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
    let board = Browser::dashboard(&driver, &shop).await;
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
    board.wait_text("#confirm-text", 10, "freezing asks first", |t| t.starts_with("Freeze")).await;
    board.click("#confirm-yes").await;
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

    // A manager writes a note on the failure while the dashboard refreshes around it
    // (every 2.5 s): the redraws keep the text, the focus and the caret; dismissing
    // sends it.
    let focused = board.script("const i = document.querySelector('#failures tr[data-client-op-id] input.note');
                                i.focus(); return document.activeElement === i;", json!([])).await;
    assert_eq!(focused, json!(true));
    let note = "refunded in cash by Sokha";
    board.type_keys(&note[..10]).await;
    let mark = "document.querySelector('#failures tr[data-client-op-id]').dataset.seen = '1'; return true;";
    board.script(mark, json!([])).await;
    let redrawn = "const tr = document.querySelector('#failures tr[data-client-op-id]'); return tr && !tr.dataset.seen ? 'yes' : 'no';";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while board.script(redrawn, json!([])).await != json!("yes") {
        assert!(std::time::Instant::now() < deadline, "the failures were not redrawn by a refresh");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    board.type_keys(&note[10..]).await;
    let typed = board.script("const i = document.querySelector('#failures tr[data-client-op-id] input.note');
                              return [i.value, document.activeElement === i];", json!([])).await;
    assert_eq!(typed, json!([note, true]), "the note survives the refresh, still focused");
    board.click("#failures tr[data-client-op-id] button[data-action='dismiss']").await;
    board.wait_text("#failures", 20, "the failure dismissed with its note", |t| t.contains(note)).await;
    board.find("#failures .resolution[data-action='dismiss']").await;

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
    till.sign_in_cashier(&shop).await;
    till.fill("#open-float", "10.00").await;
    till.click("#open-session").await;
    till.wait_text("#session", 15, "session open", |t| t.to_lowercase().contains("open")).await;
    // The drawer's open is synced before the link is cut: the outage holds the sale alone.
    status_is(&till, "Online", "0", 15).await;

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

/// Receipts at the till (issue 24): a sale's receipt keeps the sale's own time while it
/// syncs; after a reload it is in today's list; opened and reprinted, the print view
/// (80 mm paper, printed alone) shows the shop, the branch, its VAT TIN, the time in the
/// branch's zone, the cashier, and the amounts in $ and ៛.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_is_reprinted_for_80mm_paper_with_the_sales_own_time() {
    use crate::receipts::{set_receipt_details, SHOP_ADDRESS, SHOP_VAT_TIN};
    use serde_json::json;

    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    set_receipt_details(&shop, &term).await;
    let till = Browser::start(&driver).await;
    till.goto(&term.base).await;
    till.sign_in_cashier(&shop).await;
    till.fill("#open-float", "20.00").await;
    till.click("#open-session").await;
    till.wait_text("#session", 15, "session open", |t| t.to_lowercase().contains("open")).await;
    status_is(&till, "Online", "0", 15).await;

    // Offline, so the sale waits: a latte paid with $2 and ៛10,000.
    proxy.set(Mode::Cut);
    till.wait_text("#conn", 20, "offline", |t| t == "Offline").await;
    till.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
    till.fill("#tender-usd", "2").await;
    till.fill("#tender-khr", "10000").await;
    till.wait_text("#change", 15, "change shown", |t| t.starts_with("Give")).await;
    till.click("#charge").await;
    till.wait_text("#receipt-sync", 15, "the sale pending", |t| t == "PENDING").await;
    let kept = term.get("/api/receipts?limit=1").await.1["receipts"][0].clone();
    let receipt_no = kept["receipt_no"].as_str().unwrap().to_string();
    // The sale's own time in Phnom Penh (UTC+7, no daylight saving), as the page prints it.
    let at = chrono::DateTime::parse_from_rfc3339(kept["occurred_at"].as_str().unwrap()).unwrap();
    let local = at.with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap());
    let clock = local.format("%-I:%M:%S %p").to_string();
    let printed = till.text("#receipt-time").await;
    assert!(printed.contains(&clock), "the sale's time in the branch's zone ({clock}): {printed:?}");
    assert!(till.text("#receipt-no").await.contains(&receipt_no));
    till.screenshot("24-receipt-1-after-sale").await;

    // It syncs later; its time stays the sale's (it used to be redrawn at the sync).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    proxy.set(Mode::Up);
    till.wait_text("#receipt-sync", 30, "the sale synced", |t| t == "SYNCED").await;
    assert_eq!(till.text("#receipt-time").await, printed, "the receipt's time did not move when it synced");

    // Reload: today's receipts come from the till, not from the page's memory.
    till.goto(&term.base).await;
    let row = format!("li.receipt-row[data-sale-id='{}'] button.receipt-open", kept["sale_id"].as_str().unwrap());
    till.wait_text("#receipts-list", 15, "today's receipts after a reload", |t| t.contains(&receipt_no)).await;
    assert_eq!(till.text("#receipts-count").await, "1");
    till.click(&row).await;
    let opened = till.wait_text("#receipt-detail", 15, "the receipt opened", |t| t.contains(&receipt_no)).await;
    assert_eq!(till.text("#detail-time").await, printed, "{opened}");
    assert!(!opened.contains("null") && !opened.contains("undefined"), "{opened}");
    assert_eq!(till.text("#detail-sync").await, "SYNCED");
    till.screenshot("24-receipt-2-opened").await;

    // Reprint: the print view, then the browser's print (counted instead of a dialog).
    till.script("window.__prints = 0; window.print = () => { window.__prints += 1; };", json!([])).await;
    till.click("#receipt-reprint").await;
    let paper = till.wait_text("#print-paper", 15, "the print view", |t| t.contains("Café")).await;
    for part in ["Café", "Riverside", SHOP_ADDRESS, SHOP_VAT_TIN, receipt_no.as_str(), printed.as_str(), "Cashier: Dara",
        "1 × Latte", "Thank you for coming!", "Wi-Fi: riverside-guest"]
    {
        assert!(paper.contains(part), "the print view shows {part:?}:\n{paper}");
    }
    assert_eq!(till.text("#print-shop").await, "Café");
    assert_eq!(till.text("#print-tin").await, format!("VAT TIN: {SHOP_VAT_TIN}"));
    assert_eq!(till.text("#print-total").await, "$3.00");
    assert!(till.text("#print-total-khr").await.starts_with('៛'), "the total in riel");
    assert!(paper.contains("$2.00") && paper.contains("៛10,000"), "the tender in both currencies:\n{paper}");
    let change = till.text("#print-change").await;
    assert!(change.contains('$') && change.contains('៛'), "the change in both currencies: {change}");
    assert_eq!(change, kept["change"]["usd_cents"].as_i64().map(|c| format!("${}.{:02} + ៛{}", c / 100, c % 100,
        thousands(kept["change"]["khr"].as_i64().unwrap()))).unwrap());
    let prints = crate::harness::eventually("window.print called", 5, || async {
        let n = till.script("return window.__prints;", json!([])).await;
        (n.as_i64() == Some(1)).then_some(n)
    })
    .await;
    assert_eq!(prints, json!(1));
    till.screenshot("24-receipt-3-print-view").await;

    // As it prints: 80 mm paper with no margin, the receipt alone.
    till.cdp("Emulation.setEmulatedMedia", json!({"media": "print"})).await;
    let laid_out = till
        .script(
            "const shown = (sel) => { const e = document.querySelector(sel); return !!e && getComputedStyle(e).display !== 'none'; };
             let page = null;
             for (const sheet of document.styleSheets) for (const rule of sheet.cssRules) {
               if (rule instanceof CSSMediaRule) for (const inner of rule.cssRules) if (inner instanceof CSSPageRule) page = inner.style.cssText;
               if (rule instanceof CSSPageRule) page = rule.style.cssText;
             }
             return { page, statusbar: shown('#statusbar'), main: shown('main'), actions: shown('#print-view .print-actions'),
                      paper: shown('#print-paper'), width: document.querySelector('#print-paper').getBoundingClientRect().width };",
            json!([]),
        )
        .await;
    // Chromium keeps the margin but drops `size: 80mm auto` (a length with `auto` is not
    // in CSS's grammar for `size`): it prints on the paper the printer's driver says,
    // which for a thermal printer is its roll; the stylesheet still asks for 80 mm.
    let page_rule = laid_out["page"].as_str().unwrap_or("");
    assert!(page_rule.contains("margin: 0"), "@page: {laid_out}");
    let (_, _, css) = term.get_text("/assets/page.css").await;
    assert!(css.contains("@page { size: 80mm auto; margin: 0; }"), "the print stylesheet asks for 80 mm paper");
    assert_eq!((laid_out["statusbar"].clone(), laid_out["main"].clone(), laid_out["actions"].clone()), (json!(false), json!(false), json!(false)), "only the receipt prints: {laid_out}");
    assert_eq!(laid_out["paper"], json!(true), "{laid_out}");
    let width = laid_out["width"].as_f64().unwrap();
    assert!((width - 302.36).abs() < 2.0, "80 mm wide (302 CSS px): {width}");
    till.screenshot("24-receipt-4-as-printed").await;
    till.cdp("Emulation.setEmulatedMedia", json!({"media": ""})).await;
}

/// `12300` → `"12,300"`.
fn thousands(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
