//! Who may act is checked on every action (SPEC §6, issue 20): a person deactivated or
//! moved off the branch is signed out at their next action, with the reason; nobody stays
//! signed in past the policy's idle_signout_minutes (0 = never), across restarts; the page
//! clears the cart when its person signs out.

use serde_json::{json, Value};
use sqlx::Connection;

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

/// Moves the till's record of the last action `minutes` into the past (from the side).
async fn idle_for(term: &Term, minutes: i64) {
    let url = format!("sqlite://{}", term.data.join("terminal.sqlite").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let at = (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    sqlx::query("UPDATE device SET last_action_at = ? WHERE id = 1").bind(at).execute(&mut conn).await.unwrap();
}

async fn set_policy(shop: &Shop, term: &Term, patch: Value, want: impl Fn(&Value) -> bool) {
    let c = reqwest::Client::new();
    let (s, v) = call(&c, "PUT", format!("{}/v1/policy", shop.base), &shop.owner_token, Some(patch)).await;
    assert_eq!(s, 200, "{v}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let ctx = term.get("/api/context").await.1;
        if want(&ctx["policy"]) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the till never got the policy: {ctx}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_sign_in_ends_after_the_policys_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, mut term, _device) = rig(dir.path(), &[]).await;
    assert_eq!(term.get("/api/context").await.1["policy"]["idle_signout_minutes"], 30, "the default");
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await;
    // An action 29 minutes ago keeps the sign-in; 31 minutes ends it, also after a restart.
    idle_for(&term, 29).await;
    assert_eq!(term.status().await["signed_in"]["staff_id"], json!(shop.cashier));
    term.act("/api/sales", lattes(&shop, 1)).await;
    idle_for(&term, 31).await;
    term.kill9();
    term.restart().await;
    assert_eq!(term.status().await["signed_in"], Value::Null, "idle: nobody is shown signed in");
    let (s, v) = term.post("/api/sales", lattes(&shop, 1)).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("UNAUTHORIZED")), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("30 minutes without activity"), "{v}");
    let (s, v) = term.post("/api/sales", lattes(&shop, 1)).await;
    assert!(s == 401 && v["detail"].as_str().unwrap().contains("nobody is signed in"), "signed out for good: {v}");
    // 0 = never.
    set_policy(&shop, &term, json!({"idle_signout_minutes": 0}), |p| p["idle_signout_minutes"] == 0).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    idle_for(&term, 60 * 24 * 3).await;
    assert_eq!(term.status().await["signed_in"]["staff_id"], json!(shop.cashier));
    assert_eq!(term.post("/api/sales", lattes(&shop, 1)).await.0, 201);
    // A bad value is refused by the server.
    let c = reqwest::Client::new();
    let (s, v) = call(&c, "PUT", format!("{}/v1/policy", shop.base), &shop.owner_token, Some(json!({"idle_signout_minutes": -1}))).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("idle_signout_minutes")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_taken_off_the_branch_is_signed_out_at_the_next_action() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await;
    let c = reqwest::Client::new();
    let (s, v) = call(&c, "PATCH", format!("{}/v1/staff/{}", shop.base, shop.cashier), &shop.owner_token, Some(json!({"active": false}))).await;
    assert_eq!(s, 200, "{v}");
    term.wait_for("signed out once the till knows", 20, |s| s["signed_in"].is_null()).await;
    let (s, v) = term.post("/api/sales", lattes(&shop, 1)).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("UNAUTHORIZED")), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("may no longer work at this branch"), "{v}");
    // Nothing was queued for them after the deactivation.
    let ops = term.get("/api/ops").await.1;
    assert_eq!(ops["ops"].as_array().unwrap().len(), 1, "only the drawer's open: {ops}");
}

/// The page empties the cart when its person signs out, so the next one starts clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_clears_the_cart() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let b = Browser::start(&driver).await;
    b.goto(&term.base).await;
    b.wait_text("#signed-in-name", 15, "cashier signed in", |t| t.contains("Dara")).await;
    b.click(&format!("button.menu-item[data-item-id='{}']", shop.latte)).await;
    b.fill("#tender-usd", "5.00").await;
    b.wait_text("#cart", 10, "latte in the cart", |t| t.contains("Latte")).await;
    b.click("#signout").await;
    b.select("#signin-staff", &shop.manager.to_string()).await;
    b.fill("#signin-pin", MANAGER_PIN).await;
    b.click("#signin-submit").await;
    b.wait_text("#signed-in-name", 15, "manager signed in", |t| t.contains("Vanna")).await;
    assert_eq!(b.text("#cart").await.trim(), "", "the cashier's cart is gone");
    let tender = b.script("return document.getElementById('tender-usd').value", json!([])).await;
    assert_eq!(tender, json!(""), "and the tender");
}
