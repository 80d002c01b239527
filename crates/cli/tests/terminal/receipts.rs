//! Receipts at the till (SPEC §6, issue 24): every sale kept locally with its lines,
//! totals, tender, change, sync state and void; `GET /api/receipts` and
//! `GET /api/receipts/{sale_id}` behind the guard. Names and time stay as at the sale
//! through a restart, the sync and a renamed menu item.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::*;

pub const SHOP_ADDRESS: &str = "No. 12, Street 240, Daun Penh, Phnom Penh";
pub const SHOP_TIMEZONE: &str = "Asia/Phnom_Penh";
pub const SHOP_VAT_TIN: &str = "K009-902104567";
pub const SHOP_FOOTER: &str = "Thank you for coming!\nWi-Fi: riverside-guest";

/// Gives the seeded shop what its receipts print (branch address and time zone, the
/// policy's VAT TIN and footer) and waits until `term` has pulled them.
pub async fn set_receipt_details(shop: &Shop, term: &Term) {
    let c = reqwest::Client::new();
    let url = format!("{}/v1/branches/{}", shop.base, shop.branch);
    let (s, v) = call(&c, "PATCH", url, &shop.owner_token, Some(json!({"address": SHOP_ADDRESS, "timezone": SHOP_TIMEZONE}))).await;
    assert_eq!(s, 200, "{v}");
    let url = format!("{}/v1/policy", shop.base);
    let (s, v) = call(&c, "PUT", url, &shop.owner_token, Some(json!({"vat_tin": SHOP_VAT_TIN, "receipt_footer": SHOP_FOOTER}))).await;
    assert_eq!(s, 200, "{v}");
    // The branch change is earlier in the branch's stream than the policy's.
    term.wait_for_context("the receipt details pulled", 30, |c| c["policy"]["vat_tin"] == json!(SHOP_VAT_TIN)).await;
}

/// `GET /api/receipts{query}` that must answer 200: its receipts.
async fn receipts(term: &Term, query: &str) -> Vec<Value> {
    let (s, v) = term.get(&format!("/api/receipts{query}")).await;
    assert_eq!(s, 200, "{query}: {v}");
    v["receipts"].as_array().unwrap_or_else(|| panic!("no receipts in {v}")).clone()
}

/// `GET /api/receipts/{id}` that must answer 200.
async fn receipt(term: &Term, id: &Value) -> Value {
    let (s, v) = term.get(&format!("/api/receipts/{}", id.as_str().unwrap())).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn without_sync(list: &[Value]) -> Vec<Value> {
    list.iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("sync");
            r
        })
        .collect()
}

/// A receipt as the sale's answer (`POST /api/sales`) and the queue describe it.
fn assert_as_sold(r: &Value, sold: &Value, ops: &[Value], ctx: &Value, cashier: Uuid) {
    let s = &sold["receipt"];
    assert_eq!(r["sale_id"], s["sale_id"], "{r}");
    assert_eq!(r["receipt_no"], s["receipt_no"], "{r}");
    assert_eq!(r["client_op_id"], sold["client_op_id"], "{r}");
    let op = ops.iter().find(|o| o["client_op_id"] == sold["client_op_id"]).unwrap_or_else(|| panic!("op of {sold}"));
    assert_eq!(r["occurred_at"], op["occurred_at"], "the receipt's time is its op's: {r}");
    assert_eq!(r["occurred_at"], s["occurred_at"], "and the sale's answer said so: {r}");
    assert_eq!(r["cashier"], json!({"id": cashier, "name": "Dara"}), "{r}");
    assert_eq!(r["cash_session_id"], ctx["cash_session"]["id"], "{r}");
    for k in ["subtotal_cents", "vat_cents", "total_cents", "tender"] {
        assert_eq!(r[k], s[k], "{k}: {r}");
    }
    assert_eq!(r["change"], s["change_given"], "{r}");
    assert_eq!(r["fx"], json!({"khr_per_usd": ctx["policy"]["khr_per_usd"], "khr_rounding": ctx["policy"]["khr_rounding"]}), "{r}");
    assert_eq!(r["sync"], json!({"status": "PENDING", "code": null, "message": null}), "{r}");
    assert_eq!((r["voided"].clone(), r["void"].clone()), (json!(false), Value::Null), "{r}");
    let h = &r["header"];
    assert_eq!(
        (h["tenant_name"].clone(), h["branch_name"].clone(), h["address"].clone(), h["timezone"].clone()),
        (json!("Café"), json!("Riverside"), json!(SHOP_ADDRESS), json!(SHOP_TIMEZONE)),
        "{r}"
    );
    assert_eq!((h["vat_tin"].clone(), h["receipt_footer"].clone()), (json!(SHOP_VAT_TIN), json!(SHOP_FOOTER)), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_stay_as_sold_through_a_restart_the_sync_and_a_renamed_item() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, mut term, _device) = rig(dir.path(), &[]).await;
    set_receipt_details(&shop, &term).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000, "opening_float_khr": 0})).await;
    term.wait_for("the drawer synced", 20, |s| s["pending"] == json!(0)).await;
    assert!(receipts(&term, "").await.is_empty(), "no sale, no receipt");

    // Two sales offline: dollars, then riel only.
    proxy.set(Mode::Cut);
    term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;
    let a = term.act("/api/sales", lattes(&shop, 2)).await;
    let mixed = json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}, {"menu_item_id": shop.espresso, "qty": 3}],
                       "tender": {"cash_usd_cents": 0, "cash_khr": 50000}});
    let (s, quote) = term.post("/api/quote", mixed.clone()).await;
    assert_eq!(s, 200, "{quote}");
    let b = term.act("/api/sales", mixed).await;
    let ops = term.ops("PENDING").await;
    let (_, ctx) = term.get("/api/context").await;

    let list = receipts(&term, "").await;
    assert_eq!(list.len(), 2, "{list:?}");
    let (rb, ra) = (&list[0], &list[1]);
    assert_eq!(rb["sale_id"], b["receipt"]["sale_id"], "newest first");
    assert_as_sold(ra, &a, &ops, &ctx, shop.cashier);
    assert_as_sold(rb, &b, &ops, &ctx, shop.cashier);
    assert_eq!(ra["lines"], json!([{"menu_item_id": shop.latte, "name": "Latte", "qty": 2, "unit_price_cents": 300, "line_total_cents": 600}]));
    assert_eq!(rb["lines"], json!([
        {"menu_item_id": shop.latte, "name": "Latte", "qty": 1, "unit_price_cents": 300, "line_total_cents": 300},
        {"menu_item_id": shop.espresso, "name": "Espresso", "qty": 3, "unit_price_cents": 200, "line_total_cents": 600},
    ]));
    assert_eq!(rb["tender"], json!({"cash_usd_cents": 0, "cash_khr": 50000}));
    assert_eq!(rb["total_khr"], quote["total_khr"], "the riel total as the quote showed it");
    assert_eq!(rb["change"], quote["change_given"], "{rb}");
    assert!(rb["change"]["khr"].as_i64().unwrap() > 0, "change in riel for a riel tender: {rb}");
    for r in &list {
        assert_eq!(receipt(&term, &r["sale_id"]).await, *r, "one receipt reads as in the list");
    }

    // kill -9 and restart: the receipts are the till's own, kept on disk.
    term.kill9();
    term.restart().await;
    assert_eq!(receipts(&term, "").await, list, "the same receipts after a restart");

    // Back online: the sales sync; only the sync state moves, never the time.
    proxy.set(Mode::Up);
    term.wait_for("synced", 30, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    let synced = receipts(&term, "").await;
    for r in &synced {
        assert_eq!(r["sync"], json!({"status": "SYNCED", "code": null, "message": null}), "{r}");
    }
    assert_eq!(without_sync(&synced), without_sync(&list), "synced receipts are otherwise as sold");
    let server = shop.sales().await;
    for r in &synced {
        let s = server.iter().find(|s| s["sale_id"] == r["sale_id"]).unwrap_or_else(|| panic!("{r} on the server"));
        let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().timestamp_millis();
        assert_eq!(at(&s["occurred_at"]), at(&r["occurred_at"]), "the server's sale has the receipt's time: {s}");
    }

    // A renamed, repriced item: old receipts keep the name and price they were sold at.
    let body = json!({"name": "Iced latte", "price_cents": 350, "category": "Coffee", "active": true,
        "recipe": [{"stock_item_id": shop.beans, "qty": 18}, {"stock_item_id": shop.milk, "qty": 150}]});
    let c = reqwest::Client::new();
    let (s, v) = call(&c, "PUT", format!("{}/v1/menu/items/{}", shop.base, shop.latte), &shop.owner_token, Some(body)).await;
    assert_eq!(s, 200, "{v}");
    term.wait_for_context("the new name pulled", 30, |c| {
        c["menu"].as_array().is_some_and(|m| m.iter().any(|i| i["name"] == json!("Iced latte")))
    })
    .await;
    let after = receipts(&term, "").await;
    assert_eq!(without_sync(&after), without_sync(&list), "renaming an item changes no receipt");
    assert_eq!(after[1]["lines"][0]["name"], json!("Latte"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_void_shows_on_the_receipt_made_here_or_at_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000, "opening_float_khr": 0})).await;
    let a = term.act("/api/sales", lattes(&shop, 1)).await["receipt"]["sale_id"].clone();
    let b = term.act("/api/sales", lattes(&shop, 2)).await["receipt"]["sale_id"].clone();
    term.wait_for("synced", 20, |s| s["pending"] == json!(0)).await;
    assert_eq!(receipt(&term, &a).await["voided"], json!(false));

    // At the till: a manager voids it; its receipt shows the void at once.
    term.sign_in(shop.manager, MANAGER_PIN).await;
    let (s, v) = term.post(&format!("/api/sales/{}/void", a.as_str().unwrap()), json!({"reason": "wrong drink"})).await;
    assert_eq!(s, 200, "{v}");
    let r = receipt(&term, &a).await;
    assert_eq!(r["voided"], json!(true), "{r}");
    assert_eq!((r["void"]["reason"].clone(), r["void"]["refund"].clone()), (json!("wrong drink"), json!({"usd_cents": 300, "khr": 0})), "{r}");
    assert_eq!(r["void"]["actor_id"], json!(shop.manager), "{r}");
    assert_eq!(r["sync"]["status"], "SYNCED", "the sale itself stays synced: {r}");
    assert_eq!(receipt(&term, &b).await["voided"], json!(false), "the other sale is not voided");

    // At the dashboard (the manager signed in there, through the server): the feed brings
    // it to the receipt.
    let c = reqwest::Client::new();
    let login = json!({"tenant": shop.slug, "login": MANAGER_LOGIN, "password": MANAGER_PASSWORD});
    let (s, session) = call(&c, "POST", format!("{}/v1/auth/login", shop.base), "", Some(login)).await;
    assert_eq!(s, 200, "{session}");
    let manager_token = session["token"].as_str().unwrap();
    let (_, ctx) = term.get("/api/context").await;
    let body = json!({"tenant_id": shop.tenant, "branch_id": shop.branch, "actor_id": shop.manager, "occurred_at": chrono::Utc::now(),
        "payload": {"cash_session_id": ctx["cash_session"]["id"], "reason": "customer changed their mind",
                    "refund": {"usd_cents": 600, "khr": 0}}});
    let r = reqwest::Client::new()
        .post(format!("{}/v1/sales/{}/void", shop.base, b.as_str().unwrap()))
        .bearer_auth(manager_token)
        .header("idempotency-key", Uuid::now_v7().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text().await);
    let rb = eventually("the dashboard's void on the till's receipt", 30, || async {
        let r = receipt(&term, &b).await;
        (r["voided"] == json!(true)).then_some(r)
    })
    .await;
    assert_eq!(rb["void"]["reason"], json!("customer changed their mind"), "{rb}");
    assert_eq!(rb["void"]["refund"], json!({"usd_cents": 600, "khr": 0}), "{rb}");
    // The list says the same, and the till's own void is still there (now as the server
    // recorded it).
    let list = receipts(&term, "").await;
    assert_eq!((list[0]["voided"].clone(), list[1]["voided"].clone()), (json!(true), json!(true)), "{list:?}");
    let ra = eventually("the till's void as the server recorded it", 30, || async {
        let r = receipt(&term, &a).await;
        r["void"]["voided_at"].is_string().then_some(r)
    })
    .await;
    assert_eq!(ra["void"]["reason"], json!("wrong drink"), "{ra}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_routes_page_refuse_bad_input_and_keep_to_the_guard() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000, "opening_float_khr": 0})).await;
    term.wait_for("the drawer synced", 20, |s| s["pending"] == json!(0)).await;
    proxy.set(Mode::Cut);
    term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;
    let mut sold = Vec::new();
    for _ in 0..52 {
        sold.push(term.act("/api/sales", lattes(&shop, 1)).await["receipt"]["sale_id"].clone());
    }
    // Default 50, newest first; at most 500.
    let page = receipts(&term, "").await;
    assert_eq!(page.len(), 50);
    assert_eq!(page[0]["sale_id"], sold[51]);
    assert!(page.windows(2).all(|w| w[0]["device_seq"].as_i64() > w[1]["device_seq"].as_i64()), "newest first");
    assert_eq!(receipts(&term, "?limit=500").await.len(), 52);
    let one = receipts(&term, "?limit=1").await;
    assert_eq!((one.len(), one[0]["sale_id"].clone()), (1, sold[51].clone()));

    // A bad limit is a 400 naming it.
    for bad in ["0", "-1", "501", "abc", "1.5", ""] {
        let (s, ct, v) = term.send_raw("GET", &format!("/api/receipts?limit={bad}"), None).await;
        assert_eq!((s, v["code"].as_str(), v["field"].as_str()), (400, Some("BAD_REQUEST"), Some("limit")), "limit={bad}: {v}");
        assert!(ct.starts_with("application/problem+json"), "{ct}");
    }
    // An unknown id is a 404.
    for unknown in [Uuid::now_v7().to_string(), "not-a-sale".to_string()] {
        let (s, ct, v) = term.send_raw("GET", &format!("/api/receipts/{unknown}"), None).await;
        assert_eq!((s, v["code"].as_str()), (404, Some("NOT_FOUND")), "{unknown}: {v}");
        assert!(ct.starts_with("application/problem+json"), "{ct}");
    }

    // The guard: another origin 403, another host 421; the till's own origin reads.
    let id = sold[0].as_str().unwrap();
    for path in ["/api/receipts".to_string(), format!("/api/receipts/{id}")] {
        let get = |headers: Vec<(&'static str, String)>| {
            let mut r = term.http.get(format!("{}{path}", term.base));
            for (k, v) in headers {
                r = r.header(k, v);
            }
            async move {
                let r = r.send().await.unwrap();
                let s = r.status().as_u16();
                (s, r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (s, v) = get(vec![("origin", "http://evil.example".into())]).await;
        assert_eq!((s, v["code"].as_str()), (403, Some("FORBIDDEN")), "{path}: {v}");
        let (s, v) = get(vec![("host", format!("rebind.evil.example:{}", term.port))]).await;
        assert_eq!((s, v["code"].as_str()), (421, Some("MISDIRECTED_REQUEST")), "{path}: {v}");
        let (s, v) = get(vec![("origin", format!("http://localhost:{}", term.port)), ("host", format!("localhost:{}", term.port))]).await;
        assert_eq!(s, 200, "{path}: {v}");
    }
}
