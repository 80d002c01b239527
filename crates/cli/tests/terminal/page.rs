//! The cashier's page and what it needs from the local API: `GET /` (embedded, with the
//! element ids the browser tests use), `POST /api/quote` (the sale's own pricing, without
//! selling) and the simulated outage switch (`--outage-switch`, `POST /api/outage`).

use modula_rules::pricing;
use modula_wire::op::{SaleLine, Tender};
use modula_wire::Policy;
use serde_json::{json, Value};

use crate::harness::*;

/// Element ids the page must always carry (documented at the top of index.html).
const PAGE_IDS: &[&str] = &[
    "conn", "pending", "failed", "cache-age", "frozen", "message", "outage-toggle",
    "signin-staff", "signin-pin", "signin-submit", "signout", "signin-error",
    "menu", "cart", "tender-usd", "tender-khr", "change", "charge", "receipt",
    "session", "open-float", "open-session", "movement-kind", "movement-amount", "movement-reason",
    "movement-submit", "close-counted", "close-session", "start-work", "end-work", "open-shifts",
    "failed-list", "restock-item", "restock-qty", "restock-submit", "restock-reason",
    "receipts", "receipts-list", "receipts-count", "receipt-detail", "print-view", "print-paper", "print-close",
];

fn problem(what: &str, got: (u16, String, Value), status: u16, code: &str) -> Value {
    let (s, ct, body) = got;
    assert_eq!(s, status, "{what}: status; body {body}");
    assert!(ct.starts_with("application/problem+json"), "{what}: content-type {ct:?}; body {body}");
    assert_eq!(body["code"], json!(code), "{what}: {body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.len() > 10), "{what}: no useful detail in {body}");
    body
}

async fn post(term: &Term, path: &str, body: Value) -> (u16, String, Value) {
    term.send_raw("POST", path, Some(&body.to_string())).await
}

async fn policy(term: &Term) -> Policy {
    let (s, ctx) = term.get("/api/context").await;
    assert_eq!(s, 200, "{ctx}");
    serde_json::from_value(ctx["policy"].clone()).expect("cached policy")
}

/// `GET /` is the embedded page with every documented id; its CSS and JS are served
/// from the binary too (no CDN); the outage endpoint does not exist without the switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_is_served_from_the_binary_with_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let (_device, token) = shop.device("Till 1").await;
    let term = Term::start(&dir.path().join("t1"), &server.base, &token, &[]).await;

    let (s, ct, html) = term.get_text("/").await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    for id in PAGE_IDS {
        assert!(html.contains(&format!("id=\"{id}\"")), "the page has no element id {id:?}");
    }
    assert!(html.contains("/assets/core.js") && html.contains("/assets/page.js") && html.contains("/assets/page.css"));
    assert!(!html.contains("http://") && !html.contains("https://"), "the page loads nothing from the internet");
    for (path, kind) in
        [("/assets/core.js", "text/javascript"), ("/assets/page.js", "text/javascript"), ("/assets/page.css", "text/css")]
    {
        let (s, ct, body) = term.get_text(path).await;
        assert_eq!(s, 200, "{path}");
        assert!(ct.starts_with(kind), "{path}: {ct}");
        assert!(body.len() > 1000, "{path} is empty");
    }
    let (_, _, core) = term.get_text("/assets/core.js").await;
    let (_, _, page) = term.get_text("/assets/page.js").await;
    let js = core + &page;
    for endpoint in ["/api/status", "/api/context", "/api/quote", "/api/sales", "/api/outage", "/api/ops?status=FAILED", "/api/receipts"] {
        assert!(js.contains(endpoint), "the page never calls {endpoint}");
    }
    assert!(js.contains("AbortController"), "every fetch has a timeout");

    // No switch: no outage endpoint, and the status says so.
    let st = term.ready().await;
    assert_eq!(st["outage_switch"], json!(false), "{st}");
    assert_eq!(st["simulated_outage"], json!(false), "{st}");
    problem("outage without the switch", post(&term, "/api/outage", json!({"on": true})).await, 404, "NOT_FOUND");
    assert_eq!(term.status().await["online"], json!(true));
}

/// A quote is the sale's receipt before the sale (same lines, totals and change), equals
/// the shared rules on the same inputs, needs no sign-in or drawer, and queues nothing.
/// A short tender is not a refusal for a quote: it says by how much.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quote_prices_like_the_sale_and_reports_short_tender() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let (_device, token) = shop.device("Till 1").await;
    let term = Term::start(&dir.path().join("t1"), &server.base, &token, &[]).await;
    term.ready().await;
    let policy = policy(&term).await;

    let cart = json!({
        "lines": [{"menu_item_id": shop.latte, "qty": 2}, {"menu_item_id": shop.espresso, "qty": 1}],
        "tender": {"cash_usd_cents": 500, "cash_khr": 15000},
    });
    // Nobody signed in, no drawer: a quote still prices.
    let (s, quote) = term.post("/api/quote", cart.clone()).await;
    assert_eq!(s, 200, "{quote}");
    let before = term.status().await;
    assert_eq!((before["pending"].clone(), before["synced"].clone()), (json!(0), json!(0)), "a quote queues nothing");

    // The shared rules on the same inputs.
    let lines = [
        SaleLine { menu_item_id: shop.latte, qty: 2, unit_price_cents: 300 },
        SaleLine { menu_item_id: shop.espresso, qty: 1, unit_price_cents: 200 },
    ];
    let tender = Tender { cash_usd_cents: 500, cash_khr: 15000 };
    let totals = pricing::price(&lines, &policy).unwrap();
    let change = pricing::change(totals.total_cents, &tender, &policy).unwrap();
    assert_eq!(quote["subtotal_cents"], json!(totals.subtotal_cents), "{quote}");
    assert_eq!(quote["vat_cents"], json!(totals.vat_cents), "{quote}");
    assert_eq!(quote["total_cents"], json!(totals.total_cents), "{quote}");
    assert_eq!(quote["tendered_cents"], json!(pricing::tendered_cents(&tender, &policy)), "{quote}");
    assert_eq!(quote["change_cents"], json!(change.change_cents), "{quote}");
    assert_eq!(quote["change_khr"], json!(change.change_khr), "{quote}");
    assert_eq!(quote["short_cents"], json!(0), "{quote}");
    assert_eq!(quote["enough"], json!(true), "{quote}");
    assert_eq!(totals.total_cents, 800);
    assert!(change.change_cents > 0 && change.change_khr > 0, "{change:?}");

    // The real sale of the same cart answers the same receipt.
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000})).await;
    let sale = term.act("/api/sales", cart.clone()).await;
    let receipt = &sale["receipt"];
    for k in ["lines", "subtotal_cents", "vat_cents", "total_cents", "change_cents", "change_khr"] {
        assert_eq!(quote[k], receipt[k], "{k}: quote {quote} vs receipt {receipt}");
    }
    assert_eq!(quote["lines"][0]["name"], json!("Latte"), "{quote}");
    assert_eq!(quote["lines"][0]["unit_price_cents"], json!(300), "{quote}");

    // Riel total: the least riel step that pays the total by the shared tender rule.
    let total_khr = quote["total_khr"].as_i64().unwrap();
    assert_eq!(total_khr % policy.khr_rounding, 0);
    let pays = |khr: i64| pricing::tendered_cents(&Tender { cash_usd_cents: 0, cash_khr: khr }, &policy) >= 800;
    assert!(pays(total_khr) && !pays(total_khr - policy.khr_rounding), "total_khr {total_khr}");

    // Short tender: a quote says by how much; the sale refuses.
    let short = json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}], "tender": {"cash_usd_cents": 100, "cash_khr": 2050}});
    let (s, q) = term.post("/api/quote", short.clone()).await;
    assert_eq!(s, 200, "{q}");
    let tendered = pricing::tendered_cents(&Tender { cash_usd_cents: 100, cash_khr: 2050 }, &policy);
    assert_eq!(q["tendered_cents"], json!(tendered), "{q}");
    assert_eq!(q["enough"], json!(false), "{q}");
    assert_eq!(q["short_cents"], json!(300 - tendered), "{q}");
    assert_eq!(q["change_cents"], json!(tendered - 300), "{q}");
    assert_eq!(q["change_khr"], json!(0), "{q}");
    let short_khr = q["short_khr"].as_i64().unwrap();
    let covers = |extra: i64| {
        pricing::tendered_cents(&Tender { cash_usd_cents: 100, cash_khr: 2050 + extra }, &policy) >= 300
    };
    assert!(covers(short_khr) && !covers(short_khr - policy.khr_rounding), "short_khr {short_khr}: {q}");
    problem("short sale", post(&term, "/api/sales", short).await, 409, "INSUFFICIENT_TENDER");

    // Refusals are problem+json like the rest, and queue nothing.
    let no_lines = json!({"lines": [], "tender": {"cash_usd_cents": 0, "cash_khr": 0}});
    let p = problem("empty quote", post(&term, "/api/quote", no_lines).await, 422, "VALIDATION_FAILED");
    assert_eq!(p["field"], json!("lines"), "{p}");
    let unknown = json!({"lines": [{"menu_item_id": uuid::Uuid::now_v7(), "qty": 1}], "tender": {"cash_usd_cents": 0, "cash_khr": 0}});
    let p = problem("unknown item", post(&term, "/api/quote", unknown).await, 422, "VALIDATION_FAILED");
    assert_eq!(p["field"], json!("lines[0].menu_item_id"), "{p}");
    let zero = json!({"lines": [{"menu_item_id": shop.latte, "qty": 0}], "tender": {"cash_usd_cents": 0, "cash_khr": 0}});
    problem("zero qty", post(&term, "/api/quote", zero).await, 422, "VALIDATION_FAILED");
    let negative = json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}], "tender": {"cash_usd_cents": -5, "cash_khr": 0}});
    let p = problem("negative cash", post(&term, "/api/quote", negative).await, 422, "VALIDATION_FAILED");
    assert_eq!(p["field"], json!("tender.cash_usd_cents"), "{p}");
    problem("bad body", term.send_raw("POST", "/api/quote", Some("{\"lines\": 1}")).await, 400, "BAD_REQUEST");
    let after = term.status().await;
    assert_eq!(after["pending"].as_i64().unwrap() + after["synced"].as_i64().unwrap(), 2, "open + sale only: {after}");
}

/// `--outage-switch`: the terminal's server traffic goes through its own proxy; cutting
/// it really cuts the link (offline, a sale stays PENDING and never reaches the server),
/// and restoring it syncs the sale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_switch_really_cuts_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let (_device, token) = shop.device("Till 1").await;
    let term = Term::start(&dir.path().join("t1"), &server.base, &token, &["--outage-switch"]).await;
    let st = term.ready().await;
    assert_eq!(st["outage_switch"], json!(true), "{st}");
    assert_eq!(st["simulated_outage"], json!(false), "{st}");
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let open = term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000})).await;
    assert_eq!(open["status"], json!("SYNCED"), "online, through the proxy: {open}");

    let (s, v) = term.post("/api/outage", json!({"on": true})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["simulated_outage"], json!(true), "{v}");
    assert_eq!(v["online"], json!(false), "the probe through the cut proxy failed: {v}");
    let st = term.wait_for("offline", 10, |s| s["online"] == json!(false)).await;
    assert_eq!(st["simulated_outage"], json!(true), "{st}");

    let sale = term.act("/api/sales", lattes(&shop, 2)).await;
    assert_eq!(sale["status"], json!("PENDING"), "{sale}");
    // The push loop keeps retrying (backoff cap 1 s) and gets nowhere.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let st = term.status().await;
    assert_eq!((st["online"].clone(), st["pending"].clone()), (json!(false), json!(1)), "{st}");
    assert!(st["last_error"].as_str().is_some(), "the failed sync is recorded: {st}");
    assert_eq!(shop.sales().await.len(), 0, "nothing reached the server while cut");

    let (s, v) = term.post("/api/outage", json!({"on": false})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["simulated_outage"], json!(false), "{v}");
    let st = term.wait_for("synced after restore", 20, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(st["synced"], json!(2), "{st}");
    let sales = shop.sales().await;
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(sales[0]["receipt_no"], sale["receipt"]["receipt_no"]);
    problem("bad outage body", post(&term, "/api/outage", json!({"on": "yes"})).await, 400, "BAD_REQUEST");
}
