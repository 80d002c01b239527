//! Secrets at the till (SPEC §3, §5.3): a till holds the PIN hashes of the active staff
//! of its own branch and of nobody else, and drops one when its holder leaves.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sqlx::{Connection, Row, SqliteConnection};
use uuid::Uuid;

use crate::harness::*;

/// Each cached staff member of the till at `data`, and whether its entry holds a PIN hash
/// (read from the till's own SQLite file, beside the running process).
async fn cached_hashes(data: &std::path::Path) -> BTreeMap<Uuid, bool> {
    let url = format!("sqlite://{}?mode=ro", data.join("terminal.sqlite").display());
    let mut conn = SqliteConnection::connect(&url).await.expect("open the till's file");
    let rows = sqlx::query("SELECT id, data FROM cache WHERE scope = 'staff'").fetch_all(&mut conn).await.unwrap();
    rows.iter()
        .map(|r| {
            let id: String = r.get("id");
            let data: Value = serde_json::from_str(&r.get::<String, _>("data")).unwrap();
            (id.parse().unwrap(), data.get("pin_hash").is_some_and(|h| !h.is_null()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_drops_the_pin_hash_of_staff_who_leave_its_branch() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    let data = dir.path().join("t1");
    let c = reqwest::Client::new();
    let (s, other) = call(&c, "POST", format!("{}/v1/branches", shop.base), &shop.owner_token, Some(json!({"name": "Old Market"}))).await;
    assert_eq!(s, 201, "{other}");
    let other: Uuid = other["id"].as_str().unwrap().parse().unwrap();

    // The staff of Riverside carry their hashes here; the owner (of no branch) does not.
    let held = eventually("the till caches its staff", 20, || async {
        let h = cached_hashes(&data).await;
        (h.len() >= 3).then_some(h)
    })
    .await;
    assert_eq!((held[&shop.cashier], held[&shop.manager]), (true, true), "{held:?}");
    assert!(held.iter().filter(|(id, _)| **id != shop.cashier && **id != shop.manager).all(|(_, h)| !h), "{held:?}");
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    assert_eq!(term.post("/api/signout", json!({})).await.0, 204);

    // The cashier moves to Old Market; the manager is deactivated.
    let patch = |id: Uuid, body: Value| call(&c, "PATCH", format!("{}/v1/staff/{id}", shop.base), &shop.owner_token, Some(body));
    assert_eq!(patch(shop.cashier, json!({"branch_ids": [other]})).await.0, 200);
    assert_eq!(patch(shop.manager, json!({"active": false})).await.0, 200);

    // The till's next pull replaces both entries with ones without a hash.
    let held = eventually("the till drops the hashes", 20, || async {
        let h = cached_hashes(&data).await;
        (!h[&shop.cashier] && !h[&shop.manager]).then_some(h)
    })
    .await;
    assert!(held.values().all(|h| !h), "no hash left at the till: {held:?}");
    let (s, v) = term.post("/api/signin", json!({"staff_id": shop.cashier, "pin": CASHIER_PIN})).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("UNAUTHORIZED")), "{v}");
}
