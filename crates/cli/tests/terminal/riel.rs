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
