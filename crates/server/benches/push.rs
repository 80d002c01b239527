//! Push replay throughput over HTTP against the raw SQLite ceilings, measured in one run.
//!
//! `cargo bench -p modula-server --bench push` prints, for 10,000 `sale.finalize` ops
//! (3 lines each) in batches of 200:
//! - new ops from one device, new ops from 20 devices at once, and the same batches
//!   re-pushed (all duplicates), each in ops/s over HTTP on loopback;
//! - the raw ceilings on the same database file: inserting 10,000 rows of the same size
//!   with 200 per transaction, and looking 10,000 of them up by primary key, 200 per
//!   transaction;
//! - the ratios the push issue sets targets for (new ≥ 25% of insert ceiling,
//!   duplicates ≥ 50% of lookup ceiling).
//!
//! Set `BENCH_OPS` to change the op count (default 10,000).

use std::sync::Arc;
use std::time::Instant;

use modula_server::auth::authenticate;
use modula_server::domain::{admin, bootstrap};
use modula_server::{router, AppState};
use modula_store_sqlite::SqliteStore;
use modula_wire::admin::*;
use modula_wire::op::SaleLine;
use modula_wire::{Policy, Role};
use serde_json::{json, Value};
use uuid::Uuid;

const BATCH: usize = 200;
const DEVICES: usize = 20;

struct Setup {
    base: String,
    tenant: Uuid,
    branch: Uuid,
    cashier: Uuid,
    menu: Vec<(Uuid, i64)>,
    devices: Vec<(Uuid, String)>,
}

fn op(setup: &Setup, op_type: &str, seq: i64, payload: Value) -> Value {
    let hash = modula_rules::hash::payload_hash(op_type, setup.tenant, setup.branch, setup.cashier, &payload);
    json!({"client_op_id": Uuid::now_v7(), "type": op_type, "tenant_id": setup.tenant, "branch_id": setup.branch,
           "actor_id": setup.cashier, "device_seq": seq, "occurred_at": chrono::Utc::now(),
           "payload": payload, "payload_hash": hash, "depends_on": []})
}

fn sale(setup: &Setup, session: Uuid, seq: i64, code: &str) -> Value {
    let lines: Vec<SaleLine> = setup
        .menu
        .iter()
        .enumerate()
        .map(|(i, (id, price))| SaleLine { menu_item_id: *id, qty: 1 + i as i64, unit_price_cents: *price })
        .collect();
    let totals = modula_rules::pricing::price(&lines, &Policy::default()).expect("price");
    let payload = json!({"sale_id": Uuid::now_v7(), "cash_session_id": session, "receipt_no": format!("{code}-{seq}"),
                         "lines": lines, "tender": {"cash_usd_cents": totals.total_cents, "cash_khr": 0}, "totals": totals});
    op(setup, "sale.finalize", seq, payload)
}

async fn setup(store: Arc<SqliteStore>) -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(AppState::new(store.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let s = store.as_ref();
    let init = bootstrap::init_tenant(s, "Bench", "Owner", "1234").await.unwrap();
    let owner = authenticate(s, &init.token).await.unwrap();
    let branch = admin::create_branch(s, &owner, CreateBranch::named("Main")).await.unwrap().id;
    let cashier = admin::create_staff(s, &owner, CreateStaff { name: "C".into(), role: Role::Cashier, pin: "1111".into(), branch_ids: vec![branch], login: None, password: None })
        .await
        .unwrap()
        .id;
    let mut stock = Vec::new();
    for name in ["beans", "milk", "cups"] {
        stock.push(admin::create_stock_item(s, &owner, CreateStockItem { name: name.into(), unit: "g".into() }).await.unwrap().id);
    }
    let mut menu = Vec::new();
    for (i, price) in [250i64, 300, 175].into_iter().enumerate() {
        let id = Uuid::now_v7();
        let recipe = vec![RecipeLine { stock_item_id: stock[i], qty: 18 }, RecipeLine { stock_item_id: stock[(i + 1) % 3], qty: 1 }];
        let item = PutMenuItem { name: format!("item {i}"), price_cents: price, category: "C".into(), active: true, recipe };
        admin::put_menu_item(s, &owner, id, item).await.unwrap();
        menu.push((id, price));
    }
    let mut devices = Vec::new();
    for i in 0..=DEVICES {
        let d = admin::enroll_device(s, &owner, EnrollDevice { branch_id: branch, name: format!("d{i}") }).await.unwrap();
        devices.push((d.device_id, d.token));
    }
    Setup { base, tenant: init.tenant_id, branch, cashier, menu, devices }
}

/// A push body, serialized ahead of time (a terminal's queue holds its ops ready to send).
fn body(setup: &Setup, device: usize, ops: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({"device_id": setup.devices[device].0, "operations": ops})).unwrap()
}

#[derive(serde::Deserialize)]
struct Answer {
    results: Vec<Status>,
}

#[derive(serde::Deserialize)]
struct Status {
    status: String,
}

async fn push_body(client: &reqwest::Client, setup: &Setup, device: usize, body: Vec<u8>) -> Vec<String> {
    let r = client
        .post(format!("{}/v1/sync/push", setup.base))
        .bearer_auth(&setup.devices[device].1)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("push");
    assert!(r.status().is_success(), "push failed: {}", r.status());
    let bytes = r.bytes().await.unwrap();
    let answer: Answer = serde_json::from_slice(&bytes).unwrap();
    answer.results.into_iter().map(|s| s.status).collect()
}

async fn push(client: &reqwest::Client, setup: &Setup, device: usize, ops: &[Value]) -> Vec<Value> {
    let r = client
        .post(format!("{}/v1/sync/push", setup.base))
        .bearer_auth(&setup.devices[device].1)
        .json(&json!({"device_id": setup.devices[device].0, "operations": ops}))
        .send()
        .await
        .expect("push");
    assert!(r.status().is_success(), "push failed: {}", r.status());
    let body: Value = r.json().await.unwrap();
    body["results"].as_array().unwrap().clone()
}

/// Opens a session on `device` and builds `n` sales after it, as serialized batches.
async fn queue(client: &reqwest::Client, setup: &Setup, device: usize, n: usize) -> Vec<Vec<u8>> {
    let session = Uuid::now_v7();
    let open = op(setup, "cashSession.open", 1, json!({"cash_session_id": session, "opening_float_cents": 0}));
    let res = push(client, setup, device, &[open]).await;
    assert_eq!(res[0]["status"], "APPLIED", "{}", res[0]);
    let code = format!("D{device}");
    let ops: Vec<Value> = (0..n).map(|i| sale(setup, session, i as i64 + 2, &code)).collect();
    ops.chunks(BATCH).map(|c| body(setup, device, c)).collect()
}

async fn run_batches(client: &reqwest::Client, setup: &Setup, device: usize, batches: &[Vec<u8>], want: &str) {
    for b in batches {
        for status in push_body(client, setup, device, b.clone()).await {
            assert_eq!(status, want);
        }
    }
}

async fn raw_ceilings(store: &SqliteStore, rows: usize, row_bytes: usize) -> (f64, f64) {
    let pool = store.pool();
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_raw (id BLOB PRIMARY KEY, body TEXT NOT NULL)").execute(pool).await.unwrap();
    let body = "x".repeat(row_bytes);
    let ids: Vec<Uuid> = (0..rows).map(|_| Uuid::now_v7()).collect();
    let started = Instant::now();
    for chunk in ids.chunks(BATCH) {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        for id in chunk {
            sqlx::query("INSERT INTO bench_raw (id, body) VALUES (?, ?)").bind(id).bind(&body).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let insert = rows as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for chunk in ids.chunks(BATCH) {
        let mut tx = pool.begin().await.unwrap();
        for id in chunk {
            let row = sqlx::query("SELECT body FROM bench_raw WHERE id = ?").bind(id).fetch_optional(&mut *tx).await.unwrap();
            assert!(row.is_some());
        }
        tx.commit().await.unwrap();
    }
    let lookup = rows as f64 / started.elapsed().as_secs_f64();
    (insert, lookup)
}

fn main() {
    let n: usize = std::env::var("BENCH_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
        let setup = setup(store.clone()).await;
        let client = reqwest::Client::new();

        // One device, new ops.
        // (Device DEVICES is the lone device; 0..DEVICES push together below.)
        let batches = queue(&client, &setup, DEVICES, n).await;
        let row_bytes = batches[0].len() / BATCH;
        let t = Instant::now();
        run_batches(&client, &setup, DEVICES, &batches, "APPLIED").await;
        let one_device = n as f64 / t.elapsed().as_secs_f64();
        // The same batches again: all duplicates.
        let t = Instant::now();
        run_batches(&client, &setup, DEVICES, &batches, "DUPLICATE").await;
        let duplicates = n as f64 / t.elapsed().as_secs_f64();

        // Twenty devices at once, n ops in all.
        let per_device = n / DEVICES;
        let mut queued = Vec::new();
        for d in 0..DEVICES {
            queued.push(queue(&client, &setup, d, per_device).await);
        }
        let setup = Arc::new(setup);
        let t = Instant::now();
        let mut tasks = Vec::new();
        for (d, batches) in queued.into_iter().enumerate() {
            let (client, setup) = (client.clone(), setup.clone());
            tasks.push(tokio::spawn(async move { run_batches(&client, &setup, d, &batches, "APPLIED").await }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let twenty_devices = (per_device * DEVICES) as f64 / t.elapsed().as_secs_f64();

        let (insert_ceiling, lookup_ceiling) = raw_ceilings(&store, n, row_bytes).await;
        println!("push benchmark: {n} sale.finalize ops (3 lines), batches of {BATCH}, SQLite, HTTP on loopback");
        println!("  op size on the wire:          {row_bytes} bytes");
        println!("  raw insert ceiling:           {insert_ceiling:>9.0} rows/s");
        println!("  raw PK lookup ceiling:        {lookup_ceiling:>9.0} rows/s");
        println!("  new ops, 1 device:            {one_device:>9.0} ops/s  ({:.0}% of insert ceiling)", 100.0 * one_device / insert_ceiling);
        println!("  new ops, {DEVICES} devices at once:  {twenty_devices:>9.0} ops/s  ({:.0}% of insert ceiling)", 100.0 * twenty_devices / insert_ceiling);
        println!("  duplicates, 1 device:         {duplicates:>9.0} ops/s  ({:.0}% of lookup ceiling)", 100.0 * duplicates / lookup_ceiling);
    });
}
