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

/// The status bar fits a phone (compact, in view), "Simulate outage" stands apart from
/// "Sign out", and the next person signs in at the top of the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_bar_fits_a_phone_and_sign_in_starts_at_the_top() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &["--outage-switch"]).await;
    let b = Browser::start(&driver).await;
    b.resize(1280, 800).await;
    b.goto(&term.base).await;
    b.sign_in_cashier(&shop).await;
    let rect = |id: &str| format!("const r = document.getElementById('{id}').getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom];");
    let outage = b.script(&rect("outage-toggle"), json!([])).await;
    let signout = b.script(&rect("signout"), json!([])).await;
    let gap = signout[0].as_f64().unwrap() - outage[1].as_f64().unwrap();

    assert!(gap > 200.0, "Simulate outage stands well apart from Sign out: {gap} px between them");

    // Scrolled down, signed out; the next person starts at the top.
    b.script("document.getElementById('main').scrollTop = 100000;", json!([])).await;
    let scrolled = b.script("return document.getElementById('main').scrollTop;", json!([])).await;
    assert!(scrolled.as_f64().unwrap() > 0.0, "the page scrolls at 1280 × 800");
    b.click("#signout").await;
    b.wait_text("#signin-error", 15, "the sign-in form", |_| true).await;
    b.sign_in_cashier(&shop).await;
    let top = b.script("return document.getElementById('main').scrollTop;", json!([])).await;
    assert_eq!(top.as_f64().unwrap(), 0.0, "signed in at the top");

    // A phone: the status bar is a strip at the top, not a third of the screen.
    b.resize(390, 844).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let bar = b.script(&rect("statusbar"), json!([])).await;
    let inner = b.script("return window.innerHeight;", json!([])).await.as_f64().unwrap();
    let (top, bottom) = (bar[2].as_f64().unwrap(), bar[3].as_f64().unwrap());
    assert!(top >= 0.0 && bottom - top <= inner * 0.2, "status bar {} px of a {inner} px screen", bottom - top);
    for id in ["conn", "pending", "failed", "cache-age"] {
        assert!(b.visible(&format!("#{id}")).await, "#{id} stays shown on a phone");
    }
    b.screenshot("25-till-390").await;
}

/// The sale flow fits the screens cafés use without scrolling: at 1280 × 800 and at an
/// 800 × 1280 tablet, with a cart of three lines and the tender entered, the Charge button
/// and the status bar are inside the viewport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charge_and_the_status_bar_fit_a_laptop_and_a_tablet_without_scrolling() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000})).await;
    let b = Browser::start(&driver).await;
    for (width, height, name) in [(1280, 800, "25-till-1280x800"), (800, 1280, "25-till-800x1280")] {
        b.cdp("Emulation.setDeviceMetricsOverride", json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false})).await;
        b.goto(&term.base).await;
        b.wait_text("#signed-in-name", 15, "cashier signed in", |t| t.contains("Dara")).await;
        b.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
        b.click(&format!("button.menu-item[data-item-id='{}']", shop.espresso)).await;
        b.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
        b.click(".quick [data-usd='1000']").await;
        b.wait_text("#change", 15, "change shown", |t| t.contains("Give")).await;
        // The page as it is, without scrolling: the main area scrolled back to the top.
        b.script("document.getElementById('main').scrollTop = 0; window.scrollTo(0, 0);", json!([])).await;
        let inside = "const r = document.getElementById(arguments[0]).getBoundingClientRect(); \
                      return r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;";
        let size = b.script("return [window.innerWidth, window.innerHeight];", json!([])).await;
        assert_eq!(size, json!([width, height]), "the viewport is the screen's");
        b.screenshot(name).await;
        for id in ["charge", "statusbar"] {
            let ok = b.script(inside, json!([id])).await;
            let rect = b.script("return JSON.stringify(document.getElementById(arguments[0]).getBoundingClientRect());", json!([id])).await;
            assert_eq!(ok, json!(true), "#{id} inside {width} × {height} without scrolling: {rect}");
        }
        if width > height {
            // After a sale its message floats over the tab row: the next sale still fits,
            // and the message covers neither Charge nor the menu.
            b.click("#charge").await;
            b.wait_text("#message-text", 15, "the sale's message", |t| t.starts_with("Sale ")).await;
            b.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
            let ok = b.script(inside, json!(["charge"])).await;
            assert_eq!(ok, json!(true), "Charge in view with the message shown");
            let apart = "const a = document.getElementById('message').getBoundingClientRect(); \
                         return [...document.querySelectorAll('#charge, .menu-item')].every((e) => { \
                           const b = e.getBoundingClientRect(); \
                           return a.bottom <= b.top || b.bottom <= a.top || a.right <= b.left || b.right <= a.left; });";
            assert_eq!(b.script(apart, json!([])).await, json!(true), "the message covers neither Charge nor the menu");
            b.screenshot("25-till-1280x800-after-sale").await;
        }
        b.click("#cart-clear").await;
    }
}
