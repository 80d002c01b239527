//! PIN lockout per person (SPEC §6, issue 20): wrong PINs count per person and say how
//! many tries are left; the fifth locks only that person, for 5 minutes, and the lock
//! survives a restart; the lockout reaches the server's audit trail when online; the
//! page counts the lock down.

use serde_json::{json, Value};

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

async fn try_pin(term: &Term, staff: uuid::Uuid, pin: &str) -> (u16, Option<String>, Value) {
    let r = term.http.post(format!("{}/api/signin", term.base)).json(&json!({"staff_id": staff, "pin": pin})).send().await.unwrap();
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (status, retry_after, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_persons_wrong_pins_lock_only_them_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, mut term, device) = rig(dir.path(), &[]).await;
    for left in [4, 3, 2, 1] {
        let (s, _, v) = try_pin(&term, shop.cashier, "0000").await;
        assert_eq!((s, v["code"].as_str()), (401, Some("UNAUTHORIZED")), "{v}");
        assert_eq!(v["attempts_left"], left, "{v}");
        assert!(v["detail"].as_str().unwrap().contains(&left.to_string()), "the cashier reads how many are left: {v}");
    }
    let (s, retry_after, v) = try_pin(&term, shop.cashier, "0000").await;
    assert_eq!((s, v["code"].as_str()), (429, Some("PIN_LOCKED")), "{v}");
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((295..=300).contains(&wait), "{wait}");
    assert_eq!(v["retry_after_s"], wait, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("Dara"), "names whose sign-in is locked: {v}");
    // Even the right PIN waits; the manager is not locked by the cashier's failures.
    assert_eq!(try_pin(&term, shop.cashier, CASHIER_PIN).await.0, 429);
    assert_eq!(try_pin(&term, shop.manager, MANAGER_PIN).await.0, 200);
    // A restart (kill -9) keeps the lock.
    term.kill9();
    term.restart().await;
    term.ready().await;
    assert_eq!(try_pin(&term, shop.cashier, CASHIER_PIN).await.0, 429, "the lock survived the restart");
    // The lockout reaches the branch's audit trail, with the till and the person.
    let c = reqwest::Client::new();
    let url = format!("{}/v1/audit?branch_id={}", shop.base, shop.branch);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let lock = loop {
        let (_, v) = call(&c, "GET", url.clone(), &shop.owner_token, None).await;
        if let Some(e) = v["events"].as_array().unwrap().iter().find(|e| e["action"] == "pin_locked") {
            break e.clone();
        }
        assert!(std::time::Instant::now() < deadline, "the lockout never reached the server: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(lock["actor_id"], json!(shop.cashier));
    assert_eq!(lock["device_id"], json!(device));
    assert_eq!(lock["details"]["failures_in_a_row"], 5);
    // Once the lock has passed (moved into the past in the till's file), the right PIN works
    // and clears the count.
    term.kill9();
    let url = format!("sqlite://{}", term.data.join("terminal.sqlite").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::query("UPDATE pin_lockouts SET locked_until = '2000-01-01T00:00:00.000000Z'").execute(&mut conn).await.unwrap();
    drop(conn);
    term.restart().await;
    term.ready().await;
    assert_eq!(try_pin(&term, shop.cashier, CASHIER_PIN).await.0, 200);
    let (s, _, v) = try_pin(&term, shop.cashier, "0000").await;
    assert_eq!((s, v["attempts_left"].as_i64()), (401, Some(4)), "a success cleared the count: {v}");
}

/// The page counts a person's lock down, and choosing someone else clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_counts_the_lock_down() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    for _ in 0..4 {
        try_pin(&term, shop.cashier, "0000").await;
    }
    let b = Browser::start(&driver).await;
    b.goto(&term.base).await;
    b.select("#signin-staff", &shop.cashier.to_string()).await;
    b.fill("#signin-pin", "0000").await;
    b.click("#signin-submit").await;
    let first = b.wait_text("#signin-error", 15, "lock shown", |t| t.contains("Try again in") || t.contains("try again in")).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let later = b.text("#signin-error").await;
    assert!(first.contains("4:5") || first.contains("5:00"), "{first}");
    assert_ne!(first, later, "the countdown ticks: {first} / {later}");
    b.select("#signin-staff", &shop.manager.to_string()).await;
    b.wait_text("#signin-error", 5, "cleared for another person", |t| t.is_empty()).await;
}
