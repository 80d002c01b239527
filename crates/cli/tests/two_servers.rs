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

/// A TCP balancer in front of `upstreams`: each connection goes to the next upstream in
/// turn that accepts it (a stopped process is skipped). Returns its address.
async fn balancer(upstreams: Vec<std::net::SocketAddr>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut next = 0usize;
        while let Ok((mut inbound, _)) = listener.accept().await {
            let order: Vec<_> = (0..upstreams.len()).map(|i| upstreams[(next + i) % upstreams.len()]).collect();
            next += 1;
            tokio::spawn(async move {
                for up in order {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(up).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Reads an event stream until it ends; returns everything it said.
async fn read_stream(r: reqwest::Response) -> String {
    let mut r = r;
    let mut text = String::new();
    while let Ok(Some(chunk)) = r.chunk().await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

fn sigterm(child: &Child) {
    let out = Command::new("kill").args(["-TERM", &child.id().to_string()]).output().expect("kill -TERM");
    assert!(out.status.success());
}

/// SPEC §7: `modula serve` stops within 10 s of SIGTERM even with 50 event subscribers
/// and pushes in flight: each subscriber gets a last `reconnect` event and its stream
/// ends; every push it answered is durable (the other process replays it as DUPLICATE);
/// and a real terminal behind a TCP balancer in front of both processes carries on
/// through the other one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopping_server_ends_its_streams_keeps_its_answers_and_exits_in_time() {
    let Some(admin) = pg_url() else { return };
    let db = fresh_db(&admin);
    let (a, b) = (start(&db).await, start(&db).await);
    let shop = seed(&db, &b.base).await;
    let c = reqwest::Client::new();

    // A till behind the balancer, selling before the stop.
    let addr = |s: &Server| s.base.trim_start_matches("http://").parse::<std::net::SocketAddr>().unwrap();
    let lb = balancer(vec![addr(&a), addr(&b)]).await;
    let till_dev = post(&c, format!("{}/v1/devices", b.base), &shop.owner_token, json!({"branch_id": shop.branch, "name": "Till"})).await;
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["terminal", "enroll", "--data", data.path().to_str().unwrap(), "--server", &lb])
        .env("MODULA_DEVICE_TOKEN", till_dev["token"].as_str().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let till_port = free_port();
    let till_child = Command::new(BIN)
        .args(["terminal", "run", "--data", data.path().to_str().unwrap(), "--listen", &format!("127.0.0.1:{till_port}")])
        .args(["--backoff-cap-s", "1", "--probe-interval-s", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _till = Server { child: till_child, base: format!("http://127.0.0.1:{till_port}") };
    let till = format!("http://127.0.0.1:{till_port}");
    let till_status = || async { c.get(format!("{till}/api/status")).send().await.ok()?.json::<Value>().await.ok() };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !till_status().await.is_some_and(|s| s["hydrated"] == true) {
        assert!(Instant::now() < deadline, "the till never hydrated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let local = |path: &str, body: Value| c.post(format!("{till}{path}")).json(&body).send();
    assert!(local("/api/signin", json!({"staff_id": shop.cashier, "pin": "1111"})).await.unwrap().status().is_success());
    assert_eq!(local("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await.unwrap().status(), 201);
    let sale = json!({"lines": [{"menu_item_id": shop.latte, "qty": 1}], "tender": {"cash_usd_cents": 300, "cash_khr": 0}});
    assert_eq!(local("/api/sales", sale.clone()).await.unwrap().status(), 201);

    // 50 subscribers on A, 2 per device.
    let mut tokens = Vec::new();
    for i in 0..25 {
        let d = post(&c, format!("{}/v1/devices", b.base), &shop.owner_token, json!({"branch_id": shop.branch, "name": format!("S{i}")})).await;
        tokens.push(d["token"].as_str().unwrap().to_string());
    }
    let mut streams = Vec::new();
    for t in tokens.iter().chain(tokens.iter()) {
        let r = c.get(format!("{}/v1/sync/events?branch_id={}", a.base, shop.branch)).bearer_auth(t).send().await.unwrap();
        assert_eq!(r.status(), 200);
        streams.push(tokio::spawn(read_stream(r)));
    }

    // Pushes in flight on A: 10 ops at a time until A stops answering.
    let (session, mut all) = batches(&shop, 600);
    let all: Vec<Value> = all.drain(..).flatten().collect();
    let pusher = {
        let (c, base, token, device) = (c.clone(), a.base.clone(), shop.device_token.clone(), shop.device);
        let all = all.clone();
        tokio::spawn(async move {
            let mut answered = 0usize;
            for chunk in all.chunks(10) {
                let body = json!({"device_id": device, "operations": chunk});
                let Ok(r) = c.post(format!("{base}/v1/sync/push")).bearer_auth(&token).json(&body).send().await else { break };
                if !r.status().is_success() {
                    break;
                }
                let v: Value = r.json().await.unwrap();
                assert!(v["results"].as_array().unwrap().iter().all(|r| r["status"] == "APPLIED"), "{v}");
                answered += chunk.len();
            }
            answered
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut a = a;
    let stopping = Instant::now();
    sigterm(&a.child);
    let status = loop {
        if let Some(s) = a.child.try_wait().unwrap() {
            break s;
        }
        assert!(stopping.elapsed() < Duration::from_secs(10), "modula serve did not stop within 10 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "a clean exit: {status:?}");
    for s in streams {
        let text = tokio::time::timeout(Duration::from_secs(5), s).await.expect("the stream ended").unwrap();
        assert!(text.contains("event: reconnect"), "a last event told the subscriber to reconnect: {text}");
    }

    // Every answered push is durable: B replays it as DUPLICATE; the rest applies on B.
    let answered = pusher.await.unwrap();
    assert!(answered > 0, "some pushes were answered before the stop");
    let bases = vec![b.base.clone()];
    for (i, chunk) in all.chunks(10).enumerate() {
        let results = push(&c, &shop, &bases, 0, chunk).await;
        let want = if (i + 1) * 10 <= answered { "DUPLICATE" } else { "APPLIED" };
        assert!(results.iter().all(|r| r["status"] == want), "chunk {i} ({answered} answered): {results:?}");
    }
    // 600 pushed sales and the till's one, each once.
    let listed = get(&c, format!("{}/v1/sales?branch_id={}", b.base, shop.branch), &shop.owner_token).await;
    assert_eq!(listed["sales"].as_array().unwrap().len(), 601, "each sale applied once");
    let cs = get(&c, format!("{}/v1/cash-sessions/{session}", b.base), &shop.owner_token).await;
    assert_eq!(cs["expected_cash_cents"], 1000 + 300 * 600);

    // The till carries on through B: a sale after the stop syncs.
    assert_eq!(local("/api/sales", sale).await.unwrap().status(), 201);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !till_status().await.is_some_and(|s| s["pending"] == 0 && s["synced"] == 3) {
        assert!(Instant::now() < deadline, "the till's sale never synced through B: {:?}", till_status().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two managers void the same sale at the same moment through two server processes: one
/// void applies (stock back once, one refund), the other is `SALE_ALREADY_VOIDED`.
#[tokio::test]
async fn concurrent_voids_of_one_sale_on_two_servers_apply_once() {
    let Some(admin) = pg_url() else { return };
    let db = fresh_db(&admin);
    let (a, b) = (start(&db).await, start(&db).await);
    let shop = seed(&db, &a.base).await;
    let c = reqwest::Client::new();
    let staff = json!({"name": "M", "role": "manager", "pin": "5555", "branch_ids": [shop.branch]});
    let manager: Uuid = post(&c, format!("{}/v1/staff", a.base), &shop.owner_token, staff).await["id"].as_str().unwrap().parse().unwrap();
    const SALES: usize = 5;
    let (session, batches) = batches(&shop, SALES);
    let bases = vec![a.base.clone(), b.base.clone()];
    for batch in &batches {
        push(&c, &shop, &bases, 0, batch).await;
    }
    let sale_ids: Vec<String> = batches.concat().iter().filter(|o| o["type"] == "sale.finalize").map(|o| o["payload"]["sale_id"].as_str().unwrap().to_string()).collect();
    for sale in &sale_ids {
        let void = |base: String| {
            let body = json!({"tenant_id": shop.tenant, "branch_id": shop.branch, "actor_id": manager, "occurred_at": chrono::Utc::now(),
                              "payload": {"cash_session_id": session, "reason": "twice?", "refund": {"usd_cents": 300, "khr": 0}}});
            let req = c.post(format!("{base}/v1/sales/{sale}/void")).bearer_auth(&shop.device_token).json(&body);
            let req = req.header("Idempotency-Key", Uuid::now_v7().to_string());
            async move {
                let r = req.send().await.expect("void");
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let ((sa, va), (sb, vb)) = tokio::join!(void(a.base.clone()), void(b.base.clone()));
        let mut statuses = [sa, sb];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "{va} {vb}");
        let refused = if sa == 409 { &va } else { &vb };
        assert_eq!(refused["code"], "SALE_ALREADY_VOIDED", "{refused}");
    }
    let inv = get(&c, format!("{}/v1/inventory?branch_id={}", b.base, shop.branch), &shop.owner_token).await;
    let beans = inv["items"].as_array().unwrap().iter().find(|i| i["stock_item_id"] == shop.beans.to_string()).unwrap().clone();
    assert_eq!(beans["on_hand"], 100000, "every sale's stock came back once");
    let cs = get(&c, format!("{}/v1/cash-sessions/{session}", b.base), &shop.owner_token).await;
    assert_eq!((cs["usd"]["refunds"].clone(), cs["expected_cash_cents"].clone()), (json!(300 * SALES as i64), json!(1000)), "{cs}");
}
