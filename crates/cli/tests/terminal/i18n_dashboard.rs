//! The manager's dashboard in Khmer and English (issue 25), in headless Chromium: every
//! card speaks the chosen language (the string-table check finds nothing foreign), the
//! switch sits in the header before and after sign-in and is remembered, a refusal shows
//! the sentence for its code over the server's detail, and each sale lists its items, its
//! cashier and the currencies it was paid in.

use serde_json::{json, Value};

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

/// The dashboard's cards, in the page's order (each scrolled into view and checked).
const CARDS: [&str; 7] =
    ["#report-card", "#sales-card", "#attendance-card", "#devices-card", "#failures-card", "#sessions-card", "#audit-card"];

/// Asserts the whole page is in `lang` (nothing foreign visible, no key missing).
async fn all_in(b: &Browser, lang: &str, step: &str) {
    let bad = b.foreign_text(lang).await;
    if !bad.is_empty() {
        let shot = b.screenshot(&format!("failed-25-{lang}-{}", step.replace(' ', "-"))).await;
        panic!("{step}: text not in {lang}: {bad:#?}; screenshot {}", shot.display());
    }
}

/// Scrolls each card into view and checks the page at each.
async fn every_card_in(b: &Browser, lang: &str) {
    for card in CARDS {
        b.script("document.querySelector(arguments[0]).scrollIntoView({block: 'start'});", json!([card])).await;
        all_in(b, lang, &format!("card {card}")).await;
    }
    b.script("window.scrollTo(0, 0);", json!([])).await;
}

/// The row of the sales list with this receipt, once its details are in: items, the
/// names' translate flags, cashier, paid, currencies.
async fn sale_row(b: &Browser, receipt: &str) -> Value {
    let js = "const r = [...document.querySelectorAll('#sales tr[data-sale-id]')] \
                .find((r) => r.cells[0].textContent.trim() === arguments[0]); \
              if (!r || !r.querySelector('td.items .item-name')) return null; \
              const paid = r.querySelector('td.paid'); \
              return {items: r.querySelector('td.items').textContent, \
                      untranslated: [...r.querySelectorAll('td.items .item-name')].every((e) => e.closest('[translate=\"no\"]')), \
                      cashier: r.querySelector('td.cashier').textContent, \
                      cashier_untranslated: r.querySelector('td.cashier').getAttribute('translate') === 'no', \
                      paid: paid.textContent, currencies: paid.dataset.currencies};";
    eventually(&format!("the sale {receipt} with its items"), 30, || async {
        let v = b.script(js, json!([receipt])).await;
        (!v.is_null()).then_some(v)
    })
    .await
}

/// Signs in through the form (the language already chosen).
async fn sign_in(b: &Browser, shop: &Shop, password: &str) {
    b.fill("#login-shop", &shop.slug).await;
    b.fill("#login-name", MANAGER_LOGIN).await;
    b.fill("#login-password", password).await;
    b.click("#login-submit").await;
}

/// Waits until every card has its data drawn (the rig's sales, shift, devices, failure,
/// drawer and audit events).
async fn loaded(b: &Browser, receipts: &[String]) {
    b.find("#sales tr[data-sale-id]").await;
    let all = receipts.to_vec();
    b.wait_text("#sales", 30, "the day's sales", move |t| all.iter().all(|r| t.contains(r.as_str()))).await;
    b.find("#attendance tr[data-shift-id]").await;
    b.wait_text("#devices", 20, "both devices", |t| t.contains("Till 1") && t.contains("Till 2")).await;
    b.find("#failures tr[data-client-op-id]").await;
    b.find("#cash-sessions tr[data-session-id]").await;
    b.find("#audit tr[data-event='branch.unfreeze']").await;
    b.find("#devices tr[data-quiet='true']").await;
    b.wait_text("#attendance", 20, "the cashier's name", |t| t.contains("Dara")).await;
}

/// Opens a sale's detail, the Z report, and the freeze question, checking each.
async fn open_everything(b: &Browser, lang: &str) {
    b.click("#sales button[data-sale-id]").await;
    b.find("#sale-detail h3").await;
    b.find("#void-reason").await;
    all_in(b, lang, "a sale's detail").await;
    b.click("#cash-sessions button[data-z]").await;
    b.wait_text("#report-title", 15, "the Z report", |_| true).await;
    eventually("the Z report", 15, || async {
        let kind = b.script("return document.getElementById('report-title').dataset.kind;", json!([])).await;
        (kind == json!("z")).then_some(())
    })
    .await;
    b.find("#report-back:not([hidden])").await;
    all_in(b, lang, "the Z report").await;
    b.click("#report-back").await;
    b.find("#report-back[hidden]").await;
    b.click("#freeze").await;
    b.wait_text("#confirm-text", 10, "freezing asks first", |t| !t.is_empty()).await;
    all_in(b, lang, "the freeze question").await;
    b.click("#confirm-no").await;
    assert!(!b.visible("#confirm").await, "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_speaks_english_and_khmer_on_every_card() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    // A second device that never syncs: flagged quiet while Till 1 is heard.
    shop.device("Till 2").await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/attendance/start", json!({})).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000, "opening_float_khr": 40_000})).await;
    // Dollars, riel, and both.
    let dollars = json!({"lines": [{"menu_item_id": shop.latte, "qty": 2}, {"menu_item_id": shop.espresso, "qty": 1}],
                         "tender": {"cash_usd_cents": 1000, "cash_khr": 0}});
    let in_riel = json!({"lines": [{"menu_item_id": shop.espresso, "qty": 1}], "tender": {"cash_usd_cents": 0, "cash_khr": 10_000}});
    let mixed = json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}], "tender": {"cash_usd_cents": 200, "cash_khr": 8_000}});
    let mut receipts = Vec::new();
    for sale in [dollars, in_riel, mixed] {
        let v = term.act("/api/sales", sale).await;
        receipts.push(v["receipt"]["receipt_no"].as_str().unwrap_or_else(|| panic!("a receipt: {v}")).to_string());
    }
    term.act("/api/cash-sessions/movement", json!({"kind": "paid_out", "amount_khr": 4000, "reason": "ice"})).await;
    term.wait_for("synced", 30, |s| s["pending"] == 0).await;
    // A sale refused while the branch was frozen: a failure with the server's reason.
    proxy.set(Mode::Cut);
    term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;
    term.act("/api/sales", lattes(&shop, 1)).await;
    let (s, v) = shop.post(&format!("/v1/branches/{}/freeze", shop.branch), json!({})).await;
    assert_eq!(s, 200, "{v}");
    proxy.set(Mode::Up);
    term.wait_for("refused", 30, |s| s["failed"] == json!(1)).await;
    let (s, v) = shop.post(&format!("/v1/branches/{}/unfreeze", shop.branch), json!({})).await;
    assert_eq!(s, 200, "{v}");

    for lang in ["en", "km"] {
        let board = Browser::start(&driver).await;
        board.goto(&format!("{}/dashboard", shop.base)).await;
        // The switch is there before signing in.
        board.choose_language(lang).await;
        all_in(&board, lang, "the sign-in form").await;
        sign_in(&board, &shop, MANAGER_PASSWORD).await;
        board.select("#branch-select", &shop.branch.to_string()).await;
        loaded(&board, &receipts).await;

        // Each sale: its items and quantities, its cashier, the currencies it was paid in.
        let row = sale_row(&board, &receipts[0]).await;
        assert_eq!(row["items"], json!("2× Latte, 1× Espresso"), "{row}");
        assert_eq!((row["cashier"].clone(), row["paid"].clone(), row["currencies"].clone()),
                   (json!("Dara"), json!("$10.00"), json!("usd")), "{row}");
        assert_eq!((row["untranslated"].clone(), row["cashier_untranslated"].clone()), (json!(true), json!(true)), "names are data: {row}");
        let row = sale_row(&board, &receipts[1]).await;
        assert_eq!((row["items"].clone(), row["paid"].clone(), row["currencies"].clone()),
                   (json!("1× Espresso"), json!("៛10,000"), json!("khr")), "{row}");
        let row = sale_row(&board, &receipts[2]).await;
        assert_eq!((row["items"].clone(), row["paid"].clone(), row["currencies"].clone()),
                   (json!("1× Latte"), json!("$2.00 + ៛8,000"), json!("usd khr")), "{row}");
        assert_eq!(row["cashier"], json!("Dara"));

        // Times in the branch's time zone (Asia/Phnom_Penh, UTC+7, whatever the browser's),
        // 24-hour: no AM/PM in either language.
        let sale = shop.sales().await.into_iter().find(|s| s["receipt_no"] == json!(receipts[0])).unwrap();
        let at: chrono::DateTime<chrono::Utc> = sale["occurred_at"].as_str().unwrap().parse().unwrap();
        let local = (at + chrono::Duration::hours(7)).format("%H:%M:%S").to_string();
        let js = "const r = [...document.querySelectorAll('#sales tr[data-sale-id]')] \
                    .find((r) => r.cells[0].textContent.trim() === arguments[0]); return r.cells[7].textContent;";
        let shown = board.script(js, json!([receipts[0]])).await;
        let shown = shown.as_str().unwrap_or_default().to_string();
        let digits: String = shown.chars().map(|c| match c { '០'..='៩' => char::from_digit(c as u32 - '០' as u32, 10).unwrap(), c => c }).collect();
        assert_eq!(digits, local, "the sale's time in the branch's zone: {shown}");

        every_card_in(&board, lang).await;
        if lang == "km" {
            // Khmer words on the cards, and the data left as it is.
            let sessions = board.text("#cash-sessions").await;
            assert!(sessions.contains("កំពុងបើក") && sessions.contains("Dara"), "{sessions}");
            let audit = board.text("#audit").await;
            assert!(audit.contains("ដកប្រាក់ចេញ ៛4,000៖ ice។"), "{audit}");
            assert!(board.text("#devices").await.contains("មិនដែលឃើញ"), "the quiet device is flagged in Khmer");
            let failures = board.text("#failures").await;
            let frozen = modula_i18n::table(modula_i18n::Page::Dashboard, "km")["error.BRANCH_FROZEN"].as_str().unwrap().to_string();
            assert!(failures.contains(&frozen) && failures.contains("BRANCH_FROZEN"), "{failures}");
        } else {
            let audit = board.text("#audit").await;
            assert!(audit.contains("Paid out ៛4,000: ice."), "{audit}");
            assert!(board.text("#devices").await.contains("never seen while others sync"));
        }
        board.resize(1280, 800).await;
        board.screenshot(&format!("25-dashboard-{lang}")).await;
        board.script("document.getElementById('sales-card').scrollIntoView({block: 'start'});", json!([])).await;
        board.screenshot(&format!("25-dashboard-{lang}-sales")).await;
        board.script("window.scrollTo(0, 0);", json!([])).await;
        open_everything(&board, lang).await;

        if lang == "en" {
            // Switching after sign-in redraws what the script wrote, from the data it has.
            board.choose_language("km").await;
            board.wait_text("#report-title", 10, "the title in Khmer", |t| t.starts_with("របាយការណ៍")).await;
            every_card_in(&board, "km").await;
            board.choose_language("en").await;
            board.wait_text("#report-title", 10, "the title in English", |t| t.starts_with("Day report")).await;
            every_card_in(&board, "en").await;
            continue;
        }

        // Khmer at three sizes, none scrolling sideways (a phone's 390 px included); the
        // switch stays on a phone.
        for (w, h) in [(1280, 800), (800, 1280), (390, 844)] {
            board.resize(w, h).await;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            board.script("window.scrollTo(0, 0);", json!([])).await;
            all_in(&board, "km", &format!("{w}x{h}")).await;
            board.screenshot(&format!("25-dashboard-km-{w}x{h}")).await;
            let widths = board.script("return [document.documentElement.scrollWidth, window.innerWidth];", json!([])).await;
            let (page, screen) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
            assert!(page <= screen, "no sideways scroll at {w} px in Khmer: page {page} px on a {screen} px screen");
        }
        assert!(board.visible(".lang-choice[data-lang='en']").await, "the switch on a phone");
        assert!(board.visible(".lang-choice[data-lang='km']").await, "the switch on a phone");

        // The check can fail: an English sentence slipped into the Khmer page is caught.
        let js = "const p = document.createElement('p'); p.id = 'stray'; p.textContent = 'Sales of the day'; \
                  document.querySelector('main').prepend(p);";
        board.script(js, json!([])).await;
        let bad = board.foreign_text("km").await;
        assert!(bad.iter().any(|s| s == "Sales of the day"), "the check reports the English text: {bad:?}");
        board.script("document.getElementById('stray').remove();", json!([])).await;
        all_in(&board, "km", "the stray text removed").await;
    }
}

/// A wrong password in Khmer: the Khmer sentence for the server's code, the server's own
/// detail beneath it. The choice of language survives a reload, and so does the shop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sign_in_says_why_in_khmer_and_the_choice_is_remembered() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let board = Browser::start(&driver).await;
    let url = format!("{}/dashboard", shop.base);
    board.goto(&url).await;
    let lang = board.script("return document.documentElement.lang;", json!([])).await;
    assert_eq!(lang, json!("en"), "English when nothing is stored (the browser is en-US)");
    all_in(&board, "en", "the first visit").await;
    board.choose_language("km").await;
    all_in(&board, "km", "the sign-in form in Khmer").await;

    // Remembered across a reload.
    board.goto(&url).await;
    board.find("#login-form").await;
    let lang = board.script("return document.documentElement.lang;", json!([])).await;
    assert_eq!(lang, json!("km"), "the choice survived the reload");
    let pressed = board.script("return document.querySelector(\".lang-choice[data-lang='km']\").getAttribute('aria-pressed');", json!([])).await;
    assert_eq!(pressed, json!("true"));
    all_in(&board, "km", "after the reload").await;

    // A wrong password: the sentence for the code the server answers, its detail beneath.
    sign_in(&board, &shop, "not the password").await;
    let sentence = board.wait_text("#login-error .problem-sentence", 15, "the reason", |t| !t.is_empty()).await;
    let code = board.script("return document.getElementById('login-error').dataset.code;", json!([])).await;
    assert_eq!(code, json!("UNAUTHORIZED"));
    let km = modula_i18n::table(modula_i18n::Page::Dashboard, "km");
    assert_eq!(sentence, km["error.UNAUTHORIZED"].as_str().unwrap());
    let detail = board.text("#login-error .problem-detail").await;
    assert_eq!(detail, "wrong shop, login or password", "the server's detail beneath");
    let below = board.script(
        "const s = document.querySelector('#login-error .problem-sentence').getBoundingClientRect(); \
         const d = document.querySelector('#login-error .problem-detail').getBoundingClientRect(); return d.top >= s.bottom - 1;",
        json!([]),
    ).await;
    assert_eq!(below, json!(true), "the detail sits beneath the sentence");
    assert!(!board.visible("#dashboard-view").await, "still signed out");
    all_in(&board, "km", "the refusal").await;
    board.screenshot("25-dashboard-km-sign-in-refused").await;

    // The right password: the dashboard in Khmer; signing out keeps the shop and the language.
    board.fill("#login-password", MANAGER_PASSWORD).await;
    board.click("#login-submit").await;
    board.wait_text("#who", 15, "signed in", |t| t.contains("អ្នកគ្រប់គ្រង")).await;
    board.find("#audit tr").await;
    all_in(&board, "km", "signed in").await;
    assert!(board.visible("#lang-switch").await, "the switch after sign-in");
    board.click("#logout").await;
    board.find("#login-view:not([hidden])").await;
    board.goto(&url).await;
    board.find("#login-form").await;
    let remembered = board.script("return [document.getElementById('login-shop').value, document.documentElement.lang];", json!([])).await;
    assert_eq!(remembered, json!([shop.slug, "km"]));
    all_in(&board, "km", "back at the sign-in").await;
}
