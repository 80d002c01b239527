//! Dollars and riel at the till (SPEC §3.1, issue 21): a sale records the rate it was
//! priced with and the change as given; a riel-paid sale made offline at one rate syncs
//! after the owner changes the rate (the stale-rate sale).

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_riel_sale_survives_a_rate_change() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await;
    term.wait_for("open synced", 20, |s| s["pending"] == json!(0)).await;
    proxy.set(Mode::Cut);
    term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;
    // An espresso ($2.00) paid with exactly 8,200 ៛ at the cached 4,100 ៛/$.
    let sale = json!({"lines": [{"menu_item_id": shop.espresso, "qty": 1}], "tender": {"cash_usd_cents": 0, "cash_khr": 8200}});
    let queued = term.act("/api/sales", sale).await;
    assert_eq!(queued["receipt"]["change_given"], json!({"usd_cents": 0, "khr": 0}), "{queued}");
    // A latte ($3.00) paid with $5: the default split gives $2 back; the cashier may give riel.
    let latte = json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}], "tender": {"cash_usd_cents": 500, "cash_khr": 0}});
    let q = term.act("/api/sales", latte.clone()).await;
    assert_eq!(q["receipt"]["change_given"], json!({"usd_cents": 200, "khr": 0}), "{q}");
    let mut in_riel = latte.clone();
    in_riel["change"] = json!({"usd_cents": 0, "khr": 8200});
    assert_eq!(term.act("/api/sales", in_riel).await["receipt"]["change_given"], json!({"usd_cents": 0, "khr": 8200}));
    let mut too_much = latte;
    too_much["change"] = json!({"usd_cents": 300, "khr": 0});
    let (s, v) = term.post("/api/sales", too_much).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("change")), "{v}");
    // The owner raises the rate while the till is offline (8,200 ៛ is then worth $1.95).
    let c = reqwest::Client::new();
    let (s, v) = call(&c, "PUT", format!("{}/v1/policy", shop.base), &shop.owner_token, Some(json!({"khr_per_usd": 4200}))).await;
    assert_eq!(s, 200, "{v}");
    proxy.set(Mode::Up);
    let done = term.wait_for("drained", 30, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(done["failed"], json!(0), "the paid sale was not refused for the newer rate: {done}");
    assert_eq!(shop.sales().await.len(), 3);
}

/// Seed AC-2 end to end: the drawer opened offline with a riel float, offline riel sales
/// with change in riel, a riel paid-out, the drawer closed offline with both counts; then
/// synced in order, and the server's session equals the till's in both currencies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_two_currency_day_syncs_to_the_same_drawer() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    proxy.set(Mode::Cut);
    term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;

    let open = term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000, "opening_float_khr": 40_000})).await;
    let session = open["cash_session"]["id"].as_str().unwrap().to_string();
    let sell = |body: serde_json::Value| term.act("/api/sales", body);
    // An espresso ($2.00) paid ៛10,000 ($2.43): ៛1,800 back, the default split.
    let a = sell(json!({"lines": [{"menu_item_id": shop.espresso, "qty": 1}], "tender": {"cash_usd_cents": 0, "cash_khr": 10_000}})).await;
    assert_eq!(a["receipt"]["change_given"], json!({"usd_cents": 0, "khr": 1800}), "{a}");
    // A latte ($3.00) paid $5, all its $2 change in riel (the quote offers that split).
    let latte_5 = json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}], "tender": {"cash_usd_cents": 500, "cash_khr": 0}});
    let (s, quote) = term.post("/api/quote", latte_5.clone()).await;
    assert_eq!(s, 200, "{quote}");
    assert_eq!((quote["change_default"].clone(), quote["change_all_khr"].clone()),
               (json!({"usd_cents": 200, "khr": 0}), json!({"usd_cents": 0, "khr": 8200})), "{quote}");
    let mut all_riel = latte_5;
    all_riel["change"] = quote["change_all_khr"].clone();
    let b = sell(all_riel).await;
    assert_eq!(b["receipt"]["change_given"], json!({"usd_cents": 0, "khr": 8200}), "{b}");
    // A latte paid $1 + ៛10,000: ៛1,800 back.
    let c = sell(json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}], "tender": {"cash_usd_cents": 100, "cash_khr": 10_000}})).await;
    assert_eq!(c["receipt"]["change_given"], json!({"usd_cents": 0, "khr": 1800}), "{c}");
    term.act("/api/cash-sessions/movement", json!({"kind": "paid_out", "amount_khr": 8000, "reason": "ice"})).await;

    // Expected: $20 + $5 + $1 = $26.00; ៛40,000 + 10,000 − 1,800 − 8,200 + 10,000 − 1,800 − 8,000 = ៛40,200.
    let counts = json!({"counted_cash_cents": 2600, "counted_khr": 40_200});
    let (s, preview) = term.post("/api/cash-sessions/close/preview", counts.clone()).await;
    assert_eq!(s, 200, "{preview}");
    assert_eq!((preview["expected_cash_cents"].clone(), preview["expected_khr"].clone()), (json!(2600), json!(40_200)), "{preview}");
    assert_eq!((preview["variance_cents"].clone(), preview["variance_khr"].clone(), preview["variance_total_cents"].clone()),
               (json!(0), json!(0), json!(0)), "{preview}");
    let (_, ctx) = term.get("/api/context").await;
    assert_eq!(ctx["cash_session"]["status"], "open", "the preview closes nothing: {ctx}");
    let closed = term.act("/api/cash-sessions/close", counts).await;
    let local = closed["cash_session"].clone();
    assert_eq!((local["status"].clone(), local["variance_total_cents"].clone()), (json!("closed"), json!(0)), "{local}");
    let queued = term.ops("PENDING").await;
    assert_eq!(queued.len(), 6, "open, three sales, a paid-out, the close: {queued:?}");

    proxy.set(Mode::Up);
    let done = term.wait_for("drained", 40, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!((done["failed"].clone(), done["synced"].clone()), (json!(0), json!(6)), "{done}");
    let synced = term.ops("SYNCED").await;
    let seqs: Vec<i64> = synced.iter().map(|o| o["device_seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>(), "synced in order");
    let server = shop.get(&format!("/v1/cash-sessions/{session}")).await;
    for field in [
        "status", "opening_float_cents", "expected_cash_cents", "counted_cash_cents", "variance_cents", "opening_float_khr",
        "expected_khr", "counted_khr", "variance_khr", "variance_total_cents", "close_khr_per_usd", "usd", "khr",
    ] {
        assert_eq!(server[field], local[field], "{field}: server {server} vs till {local}");
    }
    assert_eq!(server["khr"]["change"], json!(11_800), "{server}");
}

/// Amounts above the policy's caps ask for a confirmation at the till (409
/// CONFIRMATION_REQUIRED with the amount and the cap), then go through confirmed; the
/// close preview needs the signed-in person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_above_the_caps_need_a_confirmation_at_the_till() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    let (s, v) = term.post("/api/cash-sessions/close/preview", json!({"counted_cash_cents": 0, "counted_khr": 0})).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("UNAUTHORIZED")), "{v}");
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    // A float of $600 (cap $500): asked, nothing queued; confirmed, opened.
    let big_float = json!({"opening_float_cents": 60_000, "opening_float_khr": 0});
    let (s, v) = term.post("/api/cash-sessions/open", big_float.clone()).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("CONFIRMATION_REQUIRED")), "{v}");
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains("opening float is worth $600.00") && detail.contains("cap of $500.00"), "{v}");
    assert!(term.ops("").await.is_empty(), "nothing queued before the confirmation");
    let mut confirmed = big_float;
    confirmed["confirm"] = json!(true);
    term.act("/api/cash-sessions/open", confirmed).await;
    // A tender of $300 (cap $200), e.g. "3,00" typed on a keypad without a dot.
    let sale = json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}], "tender": {"cash_usd_cents": 30_000, "cash_khr": 0}});
    let (s, quote) = term.post("/api/quote", sale.clone()).await;
    assert_eq!((s, quote["over_cap"].clone()), (200, json!(20_000)), "{quote}");
    let (s, v) = term.post("/api/sales", sale.clone()).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("CONFIRMATION_REQUIRED")), "{v}");
    let mut confirmed = sale;
    confirmed["confirm"] = json!(true);
    term.act("/api/sales", confirmed).await;
    // A movement gives one amount.
    let (s, v) = term.post("/api/cash-sessions/movement", json!({"kind": "paid_in", "amount_cents": 100, "amount_khr": 100, "reason": "x"})).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("amount_khr")), "{v}");
    let done = term.wait_for("synced", 30, |s| s["pending"] == json!(0)).await;
    assert_eq!(done["failed"], json!(0), "{done}");
}
