//! What the terminal refuses, and how: every refusal is an RFC 9457 problem document
//! with the spec's code, says why, and queues nothing.

use modula_rules::pricing;
use modula_wire::op::Tender;
use modula_wire::Policy;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::*;

/// Checks a problem+json answer and returns its body.
fn problem(what: &str, got: (u16, String, Value), status: u16, code: &str) -> Value {
    let (s, ct, body) = got;
    assert_eq!(s, status, "{what}: status; body {body}");
    assert!(ct.starts_with("application/problem+json"), "{what}: content-type {ct:?}; body {body}");
    assert_eq!(body["code"], json!(code), "{what}: {body}");
    assert_eq!(body["status"], json!(status), "{what}: {body}");
    let kind = format!("urn:modula:problem:{}", code.to_ascii_lowercase().replace('_', "-"));
    assert_eq!(body["type"], json!(kind), "{what}: {body}");
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{what}: no title in {body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.len() > 10), "{what}: no useful detail in {body}");
    body
}

async fn post(term: &Term, path: &str, body: Value) -> (u16, String, Value) {
    term.send_raw("POST", path, Some(&body.to_string())).await
}

/// A server with the seeded shop, a proxy, and one hydrated, online terminal.
async fn shop_and_till(dir: &std::path::Path) -> (Proc, Shop, Proxy, Term) {
    let (server, shop, proxy, term, _device) = rig(dir, &[]).await;
    (server, shop, proxy, term)
}

async fn go_offline(proxy: &Proxy, term: &Term) {
    proxy.set(Mode::Cut);
    term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;
}

/// A terminal enrolled while the link was up but started after it was cut has no cache:
/// nobody can sign in and nothing can be sold. Once connected to a tenant whose menu is
/// empty, a sale is refused with 503 CACHE_MISSING that says what is missing; when the
/// menu arrives, selling works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_cache_blocks_sign_in_and_finalize() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let proxy = Proxy::start(&server.base).await;
    let (_device, token) = shop.device("Till 1").await;
    let data = dir.path().join("t1");
    enroll(&data, &proxy.base, &token);
    proxy.set(Mode::Cut);
    let term = Term::start_enrolled(&data, &[]).await;

    // It tried the server and failed: never hydrated, offline.
    let st = term.wait_for("a failed sync attempt", 20, |s| !s["last_error"].is_null()).await;
    assert_eq!(st["hydrated"], json!(false), "{st}");
    assert_eq!(st["online"], json!(false), "{st}");
    assert_eq!(st["cache_age_s"], Value::Null, "{st}");
    let (_, ctx) = term.get("/api/context").await;
    assert_eq!(ctx["menu"], json!([]), "{ctx}");
    assert_eq!(ctx["policy"], Value::Null, "{ctx}");

    // No cached staff: the right PIN does not sign in, and the answer says why.
    let got = post(&term, "/api/signin", json!({"staff_id": shop.cashier, "pin": CASHIER_PIN})).await;
    assert!(got.2["detail"].as_str().unwrap_or_default().contains("staff list"), "{:?}", got.2);
    problem("sign-in without a staff cache", got, 503, "CACHE_MISSING");
    let got = post(&term, "/api/sales", lattes(&shop, 1)).await;
    problem("sale without a cache", got, 401, "UNAUTHORIZED");
    assert_eq!(term.status().await["pending"], json!(0));

    // The tenant's menu is emptied, then the link comes back: staff and policy arrive,
    // the menu is empty.
    let c = reqwest::Client::new();
    for item in [shop.latte, shop.espresso] {
        let (s, v) = call(&c, "DELETE", format!("{}/v1/menu/items/{item}", shop.base), &shop.owner_token, None).await;
        assert_eq!(s, 204, "{v}");
    }
    proxy.set(Mode::Up);
    term.ready().await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let (_, ctx) = term.get("/api/context").await;
    assert!(ctx["policy"].is_object(), "{ctx}");
    assert_eq!(ctx["menu"], json!([]), "{ctx}");

    let got = post(&term, "/api/sales", lattes(&shop, 1)).await;
    let p = problem("sale with no menu cached", got, 503, "CACHE_MISSING");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("menu"), "the message must say the menu is missing: {detail}");
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await;
    let got = post(&term, "/api/sales", lattes(&shop, 1)).await;
    problem("sale with no menu cached, drawer open", got, 503, "CACHE_MISSING");
    let sales_queued = term.ops("PENDING").await.len() + term.ops("SYNCED").await.len();
    assert_eq!(sales_queued, 1, "only the drawer open is queued");

    // The menu comes back (nudge → pull): the same sale now goes through.
    let latte = json!({"name": "Latte", "price_cents": 300, "category": "Coffee", "active": true,
        "recipe": [{"stock_item_id": shop.beans, "qty": 18}, {"stock_item_id": shop.milk, "qty": 150}]});
    let (s, v) = call(&c, "PUT", format!("{}/v1/menu/items/{}", shop.base, shop.latte), &shop.owner_token, Some(latte)).await;
    assert!(s == 200 || s == 201, "{s}: {v}");
    let sale = eventually("the menu reached the terminal", 20, || async {
        let (s, _, v) = post(&term, "/api/sales", lattes(&shop, 1)).await;
        match s {
            201 => Some(v),
            503 => None,
            other => panic!("unexpected {other}: {v}"),
        }
    })
    .await;
    assert_eq!(sale["receipt"]["total_cents"], json!(300), "{sale}");
    let done = term.wait_for("drained", 20, |s| s["pending"] == json!(0)).await;
    assert_eq!(done["failed"], json!(0), "{done}");
    assert_eq!(shop.sales().await.len(), 1);
}

/// Restock is online only: a signed-in manager restocks through the terminal (with the
/// device token, naming the manager; no PIN or staff token leaves the till) and the
/// server's on-hand moves; a cashier is refused (403); offline it is refused with
/// NOT_ALLOWED_OFFLINE and nothing changes or is queued; a manager the server no longer
/// lets act at the branch is refused by the server even while the till still knows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restock_is_online_only_and_for_managers() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term) = shop_and_till(dir.path()).await;
    let restock = json!({"stock_item_id": shop.beans, "qty": 500});

    term.sign_in(shop.manager, MANAGER_PIN).await;
    let (s, ct, v) = post(&term, "/api/inventory/restock", restock.clone()).await;
    assert_eq!(s, 200, "{ct} {v}");
    assert_eq!(v["on_hand"], json!(BEANS_START + 500), "{v}");
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START + 500);

    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let got = post(&term, "/api/inventory/restock", restock.clone()).await;
    problem("cashier restock", got, 403, "FORBIDDEN");
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START + 500);

    term.sign_in(shop.manager, MANAGER_PIN).await;
    go_offline(&proxy, &term).await;
    let got = post(&term, "/api/inventory/restock", restock.clone()).await;
    let p = problem("offline restock", got, 422, "NOT_ALLOWED_OFFLINE");
    assert!(p["detail"].as_str().unwrap().contains("offline"), "{p}");
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START + 500, "nothing changed on the server");
    let st = term.status().await;
    assert_eq!((st["pending"].clone(), st["synced"].clone(), st["failed"].clone()), (json!(0), json!(0), json!(0)), "{st}");

    // The cashier takes over while offline. Back online, the terminal does not restock
    // on the cashier's behalf.
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    proxy.set(Mode::Up);
    term.wait_for("online", 20, |s| s["online"] == json!(true)).await;
    let got = post(&term, "/api/inventory/restock", restock.clone()).await;
    problem("cashier restock after an offline sign-in", got, 403, "FORBIDDEN");
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START + 500);

    // The manager signs in again while online and can restock.
    term.sign_in(shop.manager, MANAGER_PIN).await;
    let (s, _, v) = post(&term, "/api/inventory/restock", restock.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START + 1000);

    // The owner takes the manager off the branch; the till's sign-in does not outlive
    // it at the server: the next restock is refused there.
    let c = reqwest::Client::new();
    let (s, v) = call(&c, "PATCH", format!("{}/v1/staff/{}", shop.base, shop.manager), &shop.owner_token, Some(json!({"branch_ids": []}))).await;
    assert_eq!(s, 200, "{v}");
    let got = post(&term, "/api/inventory/restock", restock).await;
    let p = problem("restock by a manager the server took off the branch", got, 403, "FORBIDDEN");
    assert!(p["detail"].as_str().unwrap().contains("not assigned"), "{p}");
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START + 1000);
}

/// The local API's refusals, offline: each is problem+json with the spec's code (and
/// field where one is to blame), and none queues anything. Sign-in works offline
/// against the cached PIN hashes; five wrong PINs lock it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_api_refusals_are_problems_and_queue_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term) = shop_and_till(dir.path()).await;

    // Nobody signed in.
    problem("sale, nobody signed in", post(&term, "/api/sales", lattes(&shop, 1)).await, 401, "UNAUTHORIZED");
    let got = post(&term, "/api/cash-sessions/open", json!({"opening_float_cents": 0})).await;
    problem("open, nobody signed in", got, 401, "UNAUTHORIZED");
    // Unknown paths.
    problem("unknown GET", term.send_raw("GET", "/api/nope", None).await, 404, "NOT_FOUND");
    problem("unknown POST", post(&term, "/api/sales/extra", json!({})).await, 404, "NOT_FOUND");

    go_offline(&proxy, &term).await;

    // Sign-in offline, from the cached hashes.
    let (s, v) = term.post("/api/signin", json!({"staff_id": shop.cashier, "pin": CASHIER_PIN})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["staff_id"], json!(shop.cashier), "{v}");
    assert_eq!(v["role"], json!("cashier"), "{v}");

    let got = post(&term, "/api/sales", lattes(&shop, 1)).await;
    problem("sale without a drawer", got, 409, "NO_OPEN_CASH_SESSION");
    let open = term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000})).await;
    assert_eq!(open["status"], json!("PENDING"), "{open}");
    let got = post(&term, "/api/cash-sessions/open", json!({"opening_float_cents": 2000})).await;
    problem("second open", got, 409, "CASH_SESSION_ALREADY_OPEN");

    // Bad bodies.
    let got = term.send_raw("POST", "/api/sales", Some("{not json")).await;
    problem("not JSON", got, 400, "BAD_REQUEST");
    let bad_id = json!({"lines": [{"menu_item_id": "not-a-uuid", "qty": 1}], "tender": {"cash_usd_cents": 300, "cash_khr": 0}});
    let p = problem("malformed id", post(&term, "/api/sales", bad_id).await, 400, "BAD_REQUEST");
    assert_eq!(p["field"], json!("lines[0].menu_item_id"), "{p}");
    let bad_type = json!({"opening_float_cents": "lots"});
    let p = problem("wrong type", post(&term, "/api/cash-sessions/open", bad_type).await, 400, "BAD_REQUEST");
    assert_eq!(p["field"], json!("opening_float_cents"), "{p}");

    // Business refusals.
    let unknown = json!({"lines": [{"menu_item_id": Uuid::now_v7(), "qty": 1}], "tender": {"cash_usd_cents": 300, "cash_khr": 0}});
    let p = problem("unknown item", post(&term, "/api/sales", unknown).await, 422, "VALIDATION_FAILED");
    assert_eq!(p["field"], json!("lines[0].menu_item_id"), "{p}");
    let zero = json!({"lines": [{"menu_item_id": shop.latte, "qty": 0}], "tender": {"cash_usd_cents": 300, "cash_khr": 0}});
    let p = problem("zero qty", post(&term, "/api/sales", zero).await, 422, "VALIDATION_FAILED");
    assert_eq!(p["field"], json!("lines[0].qty"), "{p}");
    let short = json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}], "tender": {"cash_usd_cents": 299, "cash_khr": 0}});
    problem("short tender", post(&term, "/api/sales", short).await, 409, "INSUFFICIENT_TENDER");
    let adjust = json!({"kind": "adjustment", "amount_cents": -150, "reason": "miscount"});
    problem("cashier adjustment", post(&term, "/api/cash-sessions/movement", adjust).await, 403, "FORBIDDEN");

    // A good sale still goes through, offline.
    let sale = term.act("/api/sales", lattes(&shop, 1)).await;
    assert_eq!(sale["status"], json!("PENDING"), "{sale}");
    let st = term.status().await;
    assert_eq!(st["pending"], json!(2), "only the open and the sale are queued: {st}");
    let seqs: Vec<i64> = term.ops("PENDING").await.iter().map(|o| o["device_seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2], "refusals take no device_seq");

    // Five wrong PINs lock that person's sign-in (the fifth answers the lock), even with
    // the right PIN.
    for i in 0..4 {
        let got = post(&term, "/api/signin", json!({"staff_id": shop.manager, "pin": "0000"})).await;
        problem(&format!("wrong PIN #{}", i + 1), got, 401, "UNAUTHORIZED");
    }
    let got = post(&term, "/api/signin", json!({"staff_id": shop.manager, "pin": "0000"})).await;
    problem("wrong PIN #5", got, 429, "PIN_LOCKED");
    let got = post(&term, "/api/signin", json!({"staff_id": shop.manager, "pin": MANAGER_PIN})).await;
    problem("locked sign-in", got, 429, "PIN_LOCKED");
    // The wait is also a Retry-After header, in seconds, at most the 5-minute lockout.
    let r = term.http.post(format!("{}/api/signin", term.base)).json(&json!({"staff_id": shop.manager, "pin": MANAGER_PIN}));
    let r = r.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let wait_s: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait_s), "Retry-After {wait_s}");

    // Back online, the queued work is applied.
    proxy.set(Mode::Up);
    let done = term.wait_for("drained", 30, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(done["failed"], json!(0), "{done}");
    assert_eq!(done["synced"], json!(2), "{done}");
    assert_eq!(shop.sales().await.len(), 1);
}

/// A sale paid in riel only: the receipt's change is what the shared rules give for the
/// same total, tender and the tenant's default policy; a riel tender short of the total
/// is refused as the rules refuse it. The server accepts every such sale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn riel_tender_change_follows_the_shared_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term) = shop_and_till(dir.path()).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 0})).await;

    let (_, ctx) = term.get("/api/context").await;
    let policy: Policy = serde_json::from_value(ctx["policy"].clone()).unwrap_or_else(|e| panic!("{e}: {ctx}"));
    assert_eq!(policy, Policy::default(), "the seeded shop runs the default policy");

    // (lattes, espressos, riel handed over, total in cents)
    let cases = [(1, 0, 15_000, 300), (2, 1, 40_000, 800), (0, 1, 8_200, 200), (1, 0, 12_300, 300), (3, 2, 57_777, 1300)];
    let mut nonzero_khr = 0;
    for (lattes_n, espressos_n, khr, total) in cases {
        let mut lines = Vec::new();
        if lattes_n > 0 {
            lines.push(json!({"menu_item_id": shop.latte, "qty": lattes_n}));
        }
        if espressos_n > 0 {
            lines.push(json!({"menu_item_id": shop.espresso, "qty": espressos_n}));
        }
        let sale = term.act("/api/sales", json!({"lines": lines, "tender": {"cash_usd_cents": 0, "cash_khr": khr}})).await;
        let r = &sale["receipt"];
        assert_eq!(r["total_cents"], json!(total), "{sale}");
        let want = pricing::change(total, &Tender { cash_usd_cents: 0, cash_khr: khr }, &policy).unwrap();
        assert_eq!(r["change_cents"], json!(want.change_cents), "{khr} riel for {total} cents: {sale}");
        assert_eq!(r["change_khr"], json!(want.change_khr), "{khr} riel for {total} cents: {sale}");
        assert_eq!(r["tender"], json!({"cash_usd_cents": 0, "cash_khr": khr}), "{sale}");
        if want.change_khr > 0 {
            nonzero_khr += 1;
        }
    }
    assert!(nonzero_khr >= 3, "the cases must exercise riel change");
    // Spot-check the rules themselves on one case: 15,000 riel = 365 cents, change 65
    // cents = 2,665 riel, rounded to 2,700.
    let c = pricing::change(300, &Tender { cash_usd_cents: 0, cash_khr: 15_000 }, &policy).unwrap();
    assert_eq!((c.change_cents, c.change_khr), (65, 2_700));

    // 12,000 riel is 292 cents: short of a $3.00 latte, here and by the rules.
    let short = Tender { cash_usd_cents: 0, cash_khr: 12_000 };
    let rules = pricing::change(300, &short, &policy).unwrap_err();
    assert_eq!(rules.code.to_string(), "INSUFFICIENT_TENDER");
    let got = post(&term, "/api/sales", json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}], "tender": short})).await;
    problem("short riel tender", got, 409, "INSUFFICIENT_TENDER");

    let done = term.wait_for("drained", 30, |s| s["pending"] == json!(0)).await;
    assert_eq!(done["failed"], json!(0), "the server agrees with every sale: {done}");
    assert_eq!(shop.sales().await.len(), cases.len());
}
