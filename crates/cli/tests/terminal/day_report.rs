//! The manager's day (issue 24) in headless Chromium: the dashboard shows the branch's
//! daily report and a session's Z report exactly as the server computes them, for the
//! day picked, and prints the report alone.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

/// The report's figure in the page: a KPI, or a drawer cell.
async fn kpi(b: &Browser, field: &str) -> String {
    b.text(&format!("#report-kpis [data-field='{field}']")).await
}

fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}${}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

fn riel(khr: i64) -> String {
    let digits = khr.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}៛{out}", if khr < 0 { "-" } else { "" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_and_prints_the_day_and_z_reports() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000, "opening_float_khr": 40_000})).await;
    term.act("/api/sales", lattes(&shop, 2)).await;
    let riel_sale = json!({"lines": [{"menu_item_id": shop.espresso, "qty": 1}], "tender": {"cash_usd_cents": 0, "cash_khr": 10_000}});
    term.act("/api/sales", riel_sale).await;
    term.act("/api/cash-sessions/movement", json!({"kind": "paid_out", "amount_khr": 4000, "reason": "ice"})).await;
    term.wait_for("everything synced", 30, |s| s["pending"] == 0 && s["synced"].as_i64() == Some(4)).await;

    let today = (Utc::now() + Duration::hours(7)).date_naive();
    let report: Value = shop.get(&format!("/v1/reports/daily?branch_id={}&date={today}", shop.branch)).await;
    assert_eq!((report["sales_count"].clone(), report["gross_cents"].clone()), (json!(2), json!(800)), "{report}");

    let board = Browser::dashboard(&driver, &shop).await;
    board.wait_text("#report-kpis [data-field='sales_count']", 20, "the day's sales", |t| t == "2").await;
    assert_eq!(board.text("#report-title").await, format!("Day report · {today}"));
    assert_eq!(kpi(&board, "gross_cents").await, dollars(800));
    assert_eq!(kpi(&board, "vat_cents").await, dollars(report["vat_cents"].as_i64().unwrap()));
    assert_eq!(kpi(&board, "net_cents").await, dollars(report["net_cents"].as_i64().unwrap()));
    let items = board.text("#report-items").await;
    assert!(items.contains("Latte") && items.contains("Espresso") && items.contains("$6.00"), "{items}");
    for (flow, usd_field) in [("float", "float"), ("tendered", "tendered"), ("paid_out", "paid_out"), ("expected", "expected")] {
        let usd = board.text(&format!("#report-cash tr[data-flow='{flow}'] td.usd")).await;
        let khr = board.text(&format!("#report-cash tr[data-flow='{flow}'] td.khr")).await;
        assert_eq!(usd, dollars(report["cash"]["usd"][usd_field].as_i64().unwrap()), "{flow} in dollars");
        assert_eq!(khr, riel(report["cash"]["khr"][usd_field].as_i64().unwrap()), "{flow} in riel");
    }
    assert_eq!(board.text("#report-cash tr[data-flow='paid_out'] td.khr").await, "៛4,000");
    assert_eq!(board.text("#sales-count").await, "2");
    board.screenshot("24-1-dashboard-day-report").await;

    // Printing shows the report alone.
    board.emulate_media("print").await;
    assert!(board.visible("#report-card").await, "the report prints");
    assert!(board.visible("#report-items").await);
    for hidden in ["#branch-select", "#sales", "#cash-sessions", "#report-print", "#report-date", "#audit"] {
        assert!(!board.visible(hidden).await, "{hidden} does not print");
    }
    board.screenshot("24-2-dashboard-day-report-print").await;
    board.emulate_media("").await;

    // Another day: nothing sold then.
    let yesterday = today - Duration::days(1);
    let js = "const e = document.getElementById('report-date'); e.value = arguments[0]; \
              e.dispatchEvent(new Event('change'));";
    board.script(js, json!([yesterday.to_string()])).await;
    board.wait_text("#report-title", 15, "yesterday's report", |t| t.contains(&yesterday.to_string())).await;
    board.wait_text("#report-kpis [data-field='sales_count']", 15, "no sales yesterday", |t| t == "0").await;
    board.wait_text("#sales", 15, "no sales listed", |t| t.contains("No sales")).await;

    // Close the drawer $1 short; its Z report shows the count and the variance.
    let khr_expected = report["cash"]["khr"]["expected"].as_i64().unwrap();
    assert_eq!(report["cash"]["usd"]["expected"], 2600, "$20 float + $6 of lattes");
    term.act("/api/cash-sessions/close", json!({"counted_cash_cents": 2500, "counted_khr": khr_expected})).await;
    term.wait_for("the close synced", 30, |s| s["pending"] == 0).await;
    board.wait_text("#cash-sessions", 20, "the closed session", |t| t.contains("closed")).await;
    board.click("#cash-sessions button[data-z]").await;
    board.wait_text("#report-title", 15, "the Z report", |t| t.starts_with("Z report")).await;
    board.wait_text("#report-kpis [data-field='sales_count']", 15, "the session's sales", |t| t == "2").await;
    let counted = board.wait_text("#report-cash tr[data-flow='counted'] td.usd", 15, "counted", |t| t == "$25.00").await;
    assert_eq!(counted, "$25.00");
    assert_eq!(board.text("#report-variance-total").await, "-$1.00");
    board.screenshot("24-3-dashboard-z-report").await;
    board.click("#report-back").await;
    board.wait_text("#report-title", 15, "back to the day", |t| t.starts_with("Day report")).await;
}

/// The dashboard in plain words: the audit trail as sentences with $ and ៛ and no ids,
/// each drawer with its cashier; freezing asks first (and Cancel leaves the branch as it
/// was); a phone's width scrolls nothing sideways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_reads_plainly_and_asks_before_freezing() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/attendance/start", json!({})).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000, "opening_float_khr": 40_000})).await;
    term.act("/api/sales", lattes(&shop, 1)).await;
    term.act("/api/cash-sessions/movement", json!({"kind": "paid_out", "amount_khr": 4000, "reason": "ice"})).await;
    term.wait_for("synced", 30, |s| s["pending"] == 0).await;

    let board = Browser::dashboard(&driver, &shop).await;
    let audit = board.wait_text("#audit", 20, "the day's events", |t| t.contains("Paid out")).await;
    for sentence in ["Opened the drawer with $20.00 + ៛40,000.", "Paid out ៛4,000: ice.", "of $3.00"] {
        assert!(audit.contains(sentence), "{sentence:?} in {audit}");
    }
    let uuid_like = audit.split(|c: char| !c.is_ascii_hexdigit() && c != '-').any(|w| w.len() == 36 && w.matches('-').count() == 4);
    assert!(!uuid_like, "no ids in the audit trail: {audit}");
    assert!(!audit.contains("_cents") && !audit.contains('{'), "no raw fields: {audit}");
    board.wait_text("#cash-sessions", 15, "the drawer's cashier", |t| t.contains("Dara")).await;
    board.wait_text("#sales", 15, "the sale's cashier", |t| t.contains("Dara")).await;
    let shifts = board.wait_text("#attendance", 15, "who is working", |t| t.contains("Dara")).await;
    assert!(shifts.contains("working"), "an open shift: {shifts}");

    // Freezing asks first; Cancel changes nothing.
    board.click("#freeze").await;
    board.wait_text("#confirm-text", 10, "freezing asks first", |t| t.contains("Freeze Riverside?")).await;
    board.screenshot("25-dashboard-freeze-asks").await;
    board.click("#confirm-no").await;
    assert!(!board.visible("#confirm").await, "the question is gone");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(board.text("#branch-status").await, "active", "cancelled: still active");
    let branches = shop.get("/v1/branches").await;
    assert!(branches["branches"].as_array().unwrap().iter().all(|b| b["status"] == "active"), "{branches}");

    // A phone's width: the page is no wider than the screen.
    board.resize(390, 844).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let widths = board.script("return [document.documentElement.scrollWidth, window.innerWidth];", json!([])).await;
    let (page, screen) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
    assert!(page <= screen, "no sideways scroll at 390 px: page {page} px on a {screen} px screen");
    board.screenshot("25-dashboard-390").await;
}

/// Signing into the dashboard takes the shop's slug, a login and a password: a wrong
/// password is refused with the reason shown, the right one opens the dashboard, and the
/// shop is remembered on this browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_signs_in_with_shop_login_and_password_and_says_why_not() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let board = Browser::start(&driver).await;
    board.goto(&format!("{}/dashboard", shop.base)).await;
    board.fill("#login-shop", &shop.slug).await;
    board.fill("#login-name", MANAGER_LOGIN).await;
    board.fill("#login-password", "not the password").await;
    board.click("#login-submit").await;
    let why = board.wait_text("#login-error", 15, "the reason", |t| !t.is_empty()).await;
    assert!(why.contains("UNAUTHORIZED") || why.to_lowercase().contains("password"), "{why}");
    assert!(!board.visible("#dashboard-view").await, "still signed out");
    board.screenshot("25-dashboard-sign-in-refused").await;
    board.fill("#login-password", MANAGER_PASSWORD).await;
    board.click("#login-submit").await;
    board.wait_text("#who", 15, "signed in", |t| t.contains("manager")).await;
    assert!(board.visible("#dashboard-view").await);
    // The shop is remembered: a new visit has it filled in.
    board.click("#logout").await;
    board.wait_text("#login-shop", 15, "the sign-in form", |_| true).await;
    let remembered = board.script("return document.getElementById('login-shop').value;", json!([])).await;
    assert_eq!(remembered, json!(shop.slug));
}
