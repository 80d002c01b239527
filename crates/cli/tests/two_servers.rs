//! Two real `modula serve` processes on one PostgreSQL database (needs `MODULA_TEST_PG`,
//! set by `scripts/test`; skipped with a loud line without it).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use modula_wire::op::SaleLine;
use modula_wire::Policy;
use serde_json::{json, Value};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_modula");

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pg_url() -> Option<String> {
    let url = std::env::var("MODULA_TEST_PG").ok().filter(|u| u.starts_with("postgres"));
    if url.is_none() {
        eprintln!("\n=== SKIPPED: two-server tests need PostgreSQL (set MODULA_TEST_PG; scripts/test does) ===\n");
    }
    url
}

/// A fresh database of one test, dropped when the test ends (also when it fails).
/// Dereferences to its URL.
struct Db {
    url: String,
    admin_url: String,
    name: String,
}

impl std::ops::Deref for Db {
    type Target = String;
    fn deref(&self) -> &String {
        &self.url
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = Command::new("psql").arg(&self.admin_url).args(["-qtAc", &sql]).output();
    }
}

fn fresh_db(admin_url: &str) -> Db {
    let name = format!("modula_t_{}", Uuid::new_v4().simple());
    let out = Command::new("psql").arg(admin_url).args(["-qtAc", &format!("CREATE DATABASE {name}")]).output().expect("psql");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url);
    Db { url: format!("{base}/{name}"), admin_url: admin_url.to_string(), name }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(db: &str) -> Server {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["serve", "--db", db, "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn modula serve");
    // Owned at once, so the process is killed and reaped even if it never gets ready.
    let server = Server { child, base: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{}/readyz", server.base)).await {
            if r.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server on {db} did not become ready");
}

/// The tenant, seeded over HTTP: a branch, a cashier, a device, beans and a latte.
struct Shop {
    tenant: Uuid,
    owner_token: String,
    branch: Uuid,
    cashier: Uuid,
    device: Uuid,
    device_token: String,
    beans: Uuid,
    latte: Uuid,
}

async fn post(c: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = c.post(url).bearer_auth(token).json(&body).send().await.expect("request");
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {v}");
    v
}

async fn seed(db: &str, base: &str) -> Shop {
    let out = Command::new(BIN)
        .args(["admin", "init", "--db", db, "--tenant", "Chain", "--owner-name", "O", "--owner-pin", "1234", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = init["token"].as_str().unwrap().to_string();
    let c = reqwest::Client::new();
    let id = |v: &Value, k: &str| v[k].as_str().unwrap().parse::<Uuid>().unwrap();
    let branch = id(&post(&c, format!("{base}/v1/branches"), &t, json!({"name": "Main"})).await, "id");
    let staff = json!({"name": "C", "role": "cashier", "pin": "1111", "branch_ids": [branch]});
    let cashier = id(&post(&c, format!("{base}/v1/staff"), &t, staff).await, "id");
    let dev = post(&c, format!("{base}/v1/devices"), &t, json!({"branch_id": branch, "name": "Till"})).await;
    let beans = id(&post(&c, format!("{base}/v1/stock-items"), &t, json!({"name": "Beans", "unit": "g"})).await, "id");
    post(&c, format!("{base}/v1/inventory/restock"), &t, json!({"branch_id": branch, "stock_item_id": beans, "qty": 100000})).await;
    let latte = Uuid::now_v7();
    let item = json!({"name": "Latte", "price_cents": 300, "category": "Coffee", "active": true,
                      "recipe": [{"stock_item_id": beans, "qty": 18}]});
    let r = c.put(format!("{base}/v1/menu/items/{latte}")).bearer_auth(&t).json(&item).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    Shop {
        tenant: id(&init, "tenant_id"),
        owner_token: t,
        branch,
        cashier,
        device: id(&dev, "device_id"),
        device_token: dev["token"].as_str().unwrap().to_string(),
        beans,
        latte,
    }
}

fn op(shop: &Shop, op_type: &str, seq: i64, payload: Value) -> Value {
    let hash = modula_rules::hash::payload_hash(op_type, shop.tenant, shop.branch, shop.cashier, &payload);
    json!({"client_op_id": Uuid::now_v7(), "type": op_type, "tenant_id": shop.tenant, "branch_id": shop.branch,
           "actor_id": shop.cashier, "device_seq": seq, "occurred_at": chrono::Utc::now(), "payload": payload,
           "payload_hash": hash})
}

/// An open session and `n` one-latte sales after it, in batches of 200.
fn batches(shop: &Shop, n: usize) -> (Uuid, Vec<Vec<Value>>) {
    let session = Uuid::now_v7();
    let mut ops = vec![op(shop, "cashSession.open", 1, json!({"cash_session_id": session, "opening_float_cents": 1000}))];
    for i in 0..n {
        let lines = vec![SaleLine { menu_item_id: shop.latte, qty: 1, unit_price_cents: 300 }];
        let totals = modula_rules::pricing::price(&lines, &Policy::default()).unwrap();
        let payload = json!({"sale_id": Uuid::now_v7(), "cash_session_id": session, "receipt_no": format!("D001-{i}"),
                             "lines": lines, "tender": {"cash_usd_cents": 300, "cash_khr": 0}, "totals": totals});
        ops.push(op(shop, "sale.finalize", i as i64 + 2, payload));
    }
    (session, ops.chunks(200).map(|c| c.to_vec()).collect())
}

/// Pushes one batch, retrying on transport errors and 5xx against `bases` in turn.
async fn push(c: &reqwest::Client, shop: &Shop, bases: &[String], start: usize, ops: &[Value]) -> Vec<Value> {
    let body = json!({"device_id": shop.device, "operations": ops});
    for attempt in 0..40 {
        let base = &bases[(start + attempt) % bases.len()];
        let sent = c.post(format!("{base}/v1/sync/push")).bearer_auth(&shop.device_token).json(&body).send().await;
        if let Ok(r) = sent {
            if r.status().is_success() {
                let v: Value = r.json().await.unwrap();
                return v["results"].as_array().unwrap().clone();
            }
            assert!(r.status().is_server_error(), "push refused: {}", r.status());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("push never succeeded");
}

async fn get(c: &reqwest::Client, url: String, token: &str) -> Value {
    c.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

async fn assert_exact(c: &reqwest::Client, base: &str, shop: &Shop, session: Uuid, sales: usize) {
    let listed = get(c, format!("{base}/v1/sales?branch_id={}", shop.branch), &shop.owner_token).await;
    assert_eq!(listed["sales"].as_array().unwrap().len(), sales, "each sale applied once");
    let inv = get(c, format!("{base}/v1/inventory?branch_id={}", shop.branch), &shop.owner_token).await;
    let beans = inv["items"].as_array().unwrap().iter().find(|i| i["stock_item_id"] == shop.beans.to_string()).unwrap().clone();
    assert_eq!(beans["on_hand"], 100000 - 18 * sales as i64);
    let cs = get(c, format!("{base}/v1/cash-sessions/{session}"), &shop.owner_token).await;
    assert_eq!(cs["expected_cash_cents"], 1000 + 300 * sales as i64);
}

#[tokio::test]
async fn eight_clients_alternating_between_two_servers_apply_each_op_once() {
    let Some(admin) = pg_url() else { return };
    let db = fresh_db(&admin);
    let (a, b) = (start(&db).await, start(&db).await);
    let shop = std::sync::Arc::new(seed(&db, &a.base).await);
    let (session, batches) = batches(&shop, 400);
    let batches = std::sync::Arc::new(batches);
    let bases = vec![a.base.clone(), b.base.clone()];
    let mut tasks = Vec::new();
    for client in 0..8 {
        let (shop, batches, bases) = (shop.clone(), batches.clone(), bases.clone());
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut answers = Vec::new();
            for (i, batch) in batches.iter().enumerate() {
                answers.extend(push(&c, &shop, &bases, client + i, batch).await);
            }
            answers
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.unwrap());
    }
    for i in 0..all[0].len() {
        let applied = all.iter().filter(|a| a[i]["status"] == "APPLIED").count();
        assert_eq!(applied, 1, "op {i} applied exactly once across the clients");
        for answers in &all {
            assert!(answers[i]["status"] == "APPLIED" || answers[i]["status"] == "DUPLICATE", "{}", answers[i]);
            assert_eq!(answers[i]["result"], all[0][i]["result"], "identical answers for identical ops");
        }
    }
    let c = reqwest::Client::new();
    assert_exact(&c, &a.base, &shop, session, 400).await;
    assert_exact(&c, &b.base, &shop, session, 400).await;
}

#[tokio::test]
async fn killing_one_server_mid_stream_loses_nothing() {
    let Some(admin) = pg_url() else { return };
    let db = fresh_db(&admin);
    let (mut a, b) = (start(&db).await, start(&db).await);
    let shop = std::sync::Arc::new(seed(&db, &b.base).await);
    let (session, batches) = batches(&shop, 900); // under the 1,000-row report bound
    let c = reqwest::Client::new();
    let bases = vec![a.base.clone(), b.base.clone()];
    for (i, batch) in batches.iter().enumerate() {
        if i == 3 {
            // SIGKILL while the next push is on its way to A; the client falls over to B.
            let pusher = push(&c, &shop, &bases, 0, batch);
            let killer = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                a.child.kill().expect("kill -9");
            };
            let (answers, ()) = tokio::join!(pusher, killer);
            assert!(answers.iter().all(|r| r["status"] == "APPLIED" || r["status"] == "DUPLICATE"));
            continue;
        }
        let answers = push(&c, &shop, &bases, 0, batch).await;
        assert!(answers.iter().all(|r| r["status"] == "APPLIED" || r["status"] == "DUPLICATE"));
    }
    assert_exact(&c, &b.base, &shop, session, 900).await;
}

#[tokio::test]
async fn a_puller_and_a_subscriber_on_b_see_what_is_written_on_a() {
    let Some(admin) = pg_url() else { return };
    let db = fresh_db(&admin);
    let (a, b) = (start(&db).await, start(&db).await);
    let shop = std::sync::Arc::new(seed(&db, &a.base).await);
    let c = reqwest::Client::new();
    // Subscribe on B first.
    let mut events = c
        .get(format!("{}/v1/sync/events?branch_id={}", b.base, shop.branch))
        .bearer_auth(&shop.device_token)
        .send()
        .await
        .unwrap();
    let _connect_nudge = events.chunk().await.unwrap();
    let restock = json!({"branch_id": shop.branch, "stock_item_id": shop.beans, "qty": 5});
    post(&c, format!("{}/v1/inventory/restock", a.base), &shop.owner_token, restock).await;
    let got = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let chunk = events.chunk().await.unwrap().unwrap();
            let text = String::from_utf8_lossy(&chunk).to_string();
            if text.contains("event: nudge") {
                return text;
            }
        }
    })
    .await
    .expect("a nudge on B within 2 s of a write on A");
    assert!(got.contains(&shop.branch.to_string()), "{got}");

    // A writer on A; a puller on B with small pages sees every sale, in order.
    let (_, batches) = batches(&shop, 300);
    let writer = {
        let (c, shop, base) = (c.clone(), shop.clone(), a.base.clone());
        tokio::spawn(async move {
            for batch in &batches {
                push(&c, &shop, std::slice::from_ref(&base), 0, batch).await;
            }
        })
    };
    let mut seen = std::collections::HashSet::new();
    let (mut cursor, mut last_version) = (None::<String>, 0i64);
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 300 {
        assert!(Instant::now() < deadline, "puller saw only {} of 300 sales", seen.len());
        let mut url = format!("{}/v1/sync/pull?branch_id={}&scopes=sales&limit=7", b.base, shop.branch);
        if let Some(cur) = &cursor {
            url.push_str(&format!("&cursor={cur}"));
        }
        let page = get(&c, url, &shop.device_token).await;
        for ch in page["changes"].as_array().unwrap() {
            let v = ch["version"].as_i64().unwrap();
            assert!(v > last_version, "versions only grow: {v} after {last_version}");
            last_version = v;
            seen.insert(ch["id"].as_str().unwrap().to_string());
        }
        cursor = Some(page["next_cursor"].as_str().unwrap().to_string());
        if page["has_more"] == false {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    writer.await.unwrap();
    assert_eq!(seen.len(), 300);
}
