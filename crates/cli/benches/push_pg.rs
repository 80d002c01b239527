//! Push replay throughput on PostgreSQL with one and with two real `modula serve`
//! processes, against the raw-insert ceiling of the same database, in one run.
//!
//! `MODULA_TEST_PG=postgres://postgres@127.0.0.1:5432/test cargo bench -p modula --bench push_pg`
//! (`BENCH_OPS`, default 40,000 `sale.finalize` ops of 3 lines, from 20 devices, batches of 200,
//! so that each phase runs for seconds, not a fraction of one;
//! `BENCH_ROUNDS`, default 6: the shapes run interleaved this many times, each round in a
//! rotated order (use a multiple of 3), and the median is reported with the sorted paired
//! ratios of the rounds; `BENCH_KEEP_DB=1` keeps the database for inspection;
//! `BENCH_NEGATIVE_STOCK=1` skips the restock, so that every sale takes stock below zero).
//!
//! Every branch is restocked at the start with enough for every round, as a café that
//! keeps stock does, so sales never go below zero and a push writes its op records
//! before it locks its branch. With `BENCH_NEGATIVE_STOCK=1` every sale is flagged, and
//! the op records wait for the branch lock (the flags carry the level under it).
//!
//! Two shapes are measured: all 20 devices in one branch (the pushes of one branch are
//! serialized by its row lock, by design), and 20 devices spread over 10 branches (2 each).
//! Each shape runs on one process, on two processes with the default pool each (twice
//! the database connections), and on two processes with half the pool each (the same
//! connection budget as one process, as the README advises for several processes).
//! The ceiling is the fastest plain way a client inserts rows of the same size, 100 rows
//! per transaction, on one connection, with the same durability (`synchronous_commit =
//! on`): in each round, the faster of one prepared `INSERT … SELECT FROM UNNEST(…)` and
//! one multi-row `INSERT … VALUES` per transaction. One `INSERT` statement per row is
//! printed beside it for scale.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use modula_wire::op::SaleLine;
use modula_wire::Policy;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_modula");
const BATCH: usize = 200;
const DEVICES: usize = 20;
/// Branches of the multi-branch runs.
const BRANCHES: usize = 10;
/// Rows per transaction of the raw-insert ceiling.
const CEILING_TX_ROWS: usize = 100;
/// `--db-pool-max` of each process of the half-pool pair: half the server's default pool
/// (`modula_store_postgres::POOL_MAX_CONNECTIONS`, 16).
const HALF_POOL: u32 = 8;
/// Device groups of `DEVICES` per round: one per phase (3 phases per shape).
const GROUPS: usize = 6;

struct Server(Child, String);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `modula serve` on `db`, with `--db-pool-max pool` when given.
async fn start(db: &str, pool: Option<u32>) -> Server {
    let port = free_port();
    let mut command = Command::new(BIN);
    command.args(["serve", "--db", db, "--listen", &format!("127.0.0.1:{port}")]);
    if let Some(pool) = pool {
        command.args(["--db-pool-max", &pool.to_string()]);
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn modula serve");
    let server = Server(child, format!("http://127.0.0.1:{port}"));
    for _ in 0..600 {
        if reqwest::get(format!("{}/readyz", server.1)).await.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not become ready");
}

async fn fresh_db(admin: &str) -> String {
    let name = format!("modula_bench_{}", Uuid::new_v4().simple());
    let mut c = sqlx::PgConnection::connect(admin).await.expect("connect");
    c.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    format!("{base}/{name}")
}

struct Shop {
    tenant: Uuid,
    cashier: Uuid,
    menu: Vec<(Uuid, i64)>,
    /// Device id, token and branch, in groups of `GROUPS * DEVICES` per round: the first
    /// half of a group is in one branch, the second half is spread over `BRANCHES` branches.
    devices: Vec<(Uuid, String, Uuid)>,
}

async fn post(c: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = c.post(url).bearer_auth(token).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

/// Most stock one restock adds (`modula_wire::limits::QTY_MAX`).
const RESTOCK_MAX: i64 = 1_000_000;

async fn seed(db: &str, base: &str, rounds: usize, n: usize) -> Shop {
    let out = Command::new(BIN)
        .args(["admin", "init", "--db", db, "--tenant", "B", "--owner-name", "O", "--owner-pin", "1234", "--json"])
        .output()
        .unwrap();
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = init["token"].as_str().unwrap().to_string();
    let c = reqwest::Client::new();
    let id = |v: &Value, k: &str| v[k].as_str().unwrap().parse::<Uuid>().unwrap();
    let branch = id(&post(&c, format!("{base}/v1/branches"), &t, json!({"name": "Main"})).await, "id");
    let mut others = Vec::new();
    for i in 0..BRANCHES {
        others.push(id(&post(&c, format!("{base}/v1/branches"), &t, json!({"name": format!("B{i}")})).await, "id"));
    }
    let all: Vec<Uuid> = std::iter::once(branch).chain(others.iter().copied()).collect();
    let staff = json!({"name": "C", "role": "cashier", "pin": "1111", "branch_ids": all});
    let cashier = id(&post(&c, format!("{base}/v1/staff"), &t, staff).await, "id");
    let mut stock = Vec::new();
    for name in ["beans", "milk", "cups"] {
        stock.push(id(&post(&c, format!("{base}/v1/stock-items"), &t, json!({"name": name, "unit": "g"})).await, "id"));
    }
    let mut menu = Vec::new();
    for (i, price) in [250i64, 300, 175].into_iter().enumerate() {
        let item = Uuid::now_v7();
        let body = json!({"name": format!("item {i}"), "price_cents": price, "category": "C", "active": true,
                          "recipe": [{"stock_item_id": stock[i], "qty": 18}, {"stock_item_id": stock[(i + 1) % 3], "qty": 1}]});
        c.put(format!("{base}/v1/menu/items/{item}")).bearer_auth(&t).json(&body).send().await.unwrap();
        menu.push((item, price));
    }
    if std::env::var("BENCH_NEGATIVE_STOCK").is_err() {
        // A sale takes at most 57 of an item (see the recipes and line quantities); the
        // main branch serves 3 phases of `n` sales per round, each other branch a tenth
        // of 3 phases.
        let need = |phases_x10: i64| 57 * n as i64 * rounds as i64 * phases_x10 / 10;
        for (b, need) in std::iter::once((branch, need(30))).chain(others.iter().map(|b| (*b, need(3)))) {
            for item in &stock {
                for _ in 0..(need + RESTOCK_MAX - 1) / RESTOCK_MAX {
                    let body = json!({"branch_id": b, "stock_item_id": item, "qty": RESTOCK_MAX});
                    post(&c, format!("{base}/v1/inventory/restock"), &t, body).await;
                }
            }
        }
    }
    let mut devices = Vec::new();
    for i in 0..rounds * GROUPS * DEVICES {
        // Each round uses GROUPS groups of DEVICES: half in one branch, then half spread.
        let b = if i % (GROUPS * DEVICES) < GROUPS / 2 * DEVICES { branch } else { others[i % BRANCHES] };
        let d = post(&c, format!("{base}/v1/devices"), &t, json!({"branch_id": b, "name": format!("d{i}")})).await;
        devices.push((id(&d, "device_id"), d["token"].as_str().unwrap().to_string(), b));
    }
    Shop { tenant: id(&init, "tenant_id"), cashier, menu, devices }
}

fn op(shop: &Shop, branch: Uuid, op_type: &str, seq: i64, payload: Value) -> Value {
    let hash = modula_rules::hash::payload_hash(op_type, shop.tenant, branch, shop.cashier, &payload);
    json!({"client_op_id": Uuid::now_v7(), "type": op_type, "tenant_id": shop.tenant, "branch_id": branch,
           "actor_id": shop.cashier, "device_seq": seq, "occurred_at": chrono::Utc::now(), "payload": payload, "payload_hash": hash})
}

/// The device's open and `n` sales, as pre-serialized push bodies.
fn bodies(shop: &Shop, device: usize, n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let session = Uuid::now_v7();
    let branch = shop.devices[device].2;
    let open = op(shop, branch, "cashSession.open", 1, json!({"cash_session_id": session, "opening_float_cents": 0}));
    let lines: Vec<SaleLine> = shop.menu.iter().enumerate()
        .map(|(i, (id, price))| SaleLine { menu_item_id: *id, qty: 1 + i as i64, unit_price_cents: *price })
        .collect();
    let totals = modula_rules::pricing::price(&lines, &Policy::default()).unwrap();
    let sales: Vec<Value> = (0..n)
        .map(|i| {
            let payload = json!({"sale_id": Uuid::now_v7(), "cash_session_id": session, "receipt_no": format!("D{device}-{i}"),
                                 "lines": lines, "tender": {"cash_usd_cents": totals.total_cents, "cash_khr": 0}, "totals": totals});
            op(shop, branch, "sale.finalize", i as i64 + 2, payload)
        })
        .collect();
    let body = |ops: &[Value]| serde_json::to_vec(&json!({"device_id": shop.devices[device].0, "operations": ops})).unwrap();
    (body(&[open]), sales.chunks(BATCH).map(body).collect())
}

async fn push(c: &reqwest::Client, base: &str, token: &str, body: Vec<u8>) {
    let r = c.post(format!("{base}/v1/sync/push")).bearer_auth(token).header("content-type", "application/json")
        .body(body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // Only the statuses are read (serde skips the rest): the client shares the two cores
    // with the server and the database, so it should cost as little as it can.
    #[derive(serde::Deserialize)]
    struct Answer {
        results: Vec<Status>,
    }
    #[derive(serde::Deserialize)]
    struct Status {
        status: String,
    }
    let answer: Answer = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(answer.results.iter().all(|r| r.status == "APPLIED"));
}

/// Branch-lock holds so far and their total seconds, over the servers at `bases`
/// (from `/metrics`: `modula_branch_lock_held_seconds_count` and `_sum`).
async fn lock_holds(c: &reqwest::Client, bases: &[String]) -> (f64, f64) {
    let mut total = (0.0, 0.0);
    for base in bases {
        let page = c.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let value = |name: &str| {
            let line = page.lines().find(|l| l.split(' ').next() == Some(name));
            line.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).unwrap_or_else(|| panic!("no {name} at {base}"))
        };
        total.0 += value("modula_branch_lock_held_seconds_count");
        total.1 += value("modula_branch_lock_held_seconds_sum");
    }
    total
}

/// 20 devices push `n` ops in all; device d talks to `bases[d % bases.len()]`. Returns
/// ops/s and the mean time a push held its branch lock, in ms.
async fn run(shop: &Arc<Shop>, first_device: usize, bases: &[String], n: usize) -> (f64, f64) {
    let c = reqwest::Client::new();
    let mut queued = Vec::new();
    for d in first_device..first_device + DEVICES {
        let (open, batches) = bodies(shop, d, n / DEVICES);
        push(&c, &bases[d % bases.len()], &shop.devices[d].1, open).await;
        queued.push((d, batches));
    }
    let before = lock_holds(&c, bases).await;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (d, batches) in queued {
        let (c, shop, base) = (c.clone(), shop.clone(), bases[d % bases.len()].clone());
        tasks.push(tokio::spawn(async move {
            for b in batches {
                push(&c, &base, &shop.devices[d].1, b).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ops_per_s = (n / DEVICES * DEVICES) as f64 / t.elapsed().as_secs_f64();
    let after = lock_holds(&c, bases).await;
    (ops_per_s, 1000.0 * (after.1 - before.1) / (after.0 - before.0))
}

/// How the ceiling sends a transaction's rows.
#[derive(Clone, Copy)]
enum Insert {
    /// One prepared `INSERT … SELECT FROM UNNEST(arrays)`.
    Unnest,
    /// One multi-row `INSERT … VALUES (…), (…), …` with a bind per value.
    Values,
    /// One `INSERT` statement per row.
    PerRow,
}

/// Rows like op-log rows (a two-uuid primary key and `row_bytes` of text), 100 per
/// transaction, on one connection, sent as `how` says.
async fn insert_ceiling(db: &str, rows: usize, row_bytes: usize, how: Insert) -> f64 {
    let mut c = sqlx::PgConnection::connect(db).await.unwrap();
    c.execute("DROP TABLE IF EXISTS bench_raw").await.unwrap();
    c.execute("CREATE TABLE bench_raw (tenant_id uuid, id uuid, body text NOT NULL, PRIMARY KEY (tenant_id, id))")
        .await
        .unwrap();
    let (tenant, body) = (Uuid::now_v7(), "x".repeat(row_bytes));
    let t = Instant::now();
    for _ in 0..rows / CEILING_TX_ROWS {
        let mut tx = c.begin().await.unwrap();
        if let Insert::Values = how {
            let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new("INSERT INTO bench_raw (tenant_id, id, body) ");
            q.push_values(0..CEILING_TX_ROWS, |mut b, _| {
                b.push_bind(tenant).push_bind(Uuid::now_v7()).push_bind(body.as_str());
            });
            q.build().execute(&mut *tx).await.unwrap();
        } else if let Insert::Unnest = how {
            let ids: Vec<Uuid> = (0..CEILING_TX_ROWS).map(|_| Uuid::now_v7()).collect();
            let bodies: Vec<&str> = vec![body.as_str(); CEILING_TX_ROWS];
            sqlx::query("INSERT INTO bench_raw (tenant_id, id, body) SELECT $1, i, b FROM UNNEST($2::uuid[], $3::text[]) AS r(i, b)")
                .bind(tenant).bind(ids).bind(bodies).execute(&mut *tx).await.unwrap();
        } else {
            for _ in 0..CEILING_TX_ROWS {
                sqlx::query("INSERT INTO bench_raw (tenant_id, id, body) VALUES ($1, $2, $3)")
                    .bind(tenant).bind(Uuid::now_v7()).bind(&body).execute(&mut *tx).await.unwrap();
            }
        }
        tx.commit().await.unwrap();
    }
    (rows / CEILING_TX_ROWS * CEILING_TX_ROWS) as f64 / t.elapsed().as_secs_f64()
}

/// Flushes dirty pages so that every measured phase starts from the same state (a
/// checkpoint during a phase would slow it with the full-page writes that follow).
async fn checkpoint(db: &str) {
    if let Ok(mut c) = sqlx::PgConnection::connect(db).await {
        let _ = c.execute("CHECKPOINT").await;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let Some(admin) = std::env::var("MODULA_TEST_PG").ok() else {
        eprintln!("=== SKIPPED: set MODULA_TEST_PG=postgres://… to run the PostgreSQL push benchmark ===");
        return;
    };
    let n: usize = std::env::var("BENCH_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(40_000);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(6).clamp(1, 30);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let db = fresh_db(&admin).await;
        // One process's pool is the server's default; the half-pool pair gets half each.
        let (a, b) = (start(&db, None).await, start(&db, None).await);
        let half = Some(HALF_POOL);
        let (c, d) = (start(&db, half).await, start(&db, half).await);
        let shop = Arc::new(seed(&db, &a.1, rounds, n).await);
        let row_bytes = bodies(&shop, 0, BATCH).1[0].len() / BATCH;
        let one_a = std::slice::from_ref(&a.1);
        let (two_a, two_half) = (&[a.1.clone(), b.1.clone()][..], &[c.1.clone(), d.1.clone()][..]);
        // The shapes are interleaved round by round, so drift of the machine (other load,
        // the growing tables) touches each alike; each figure is the median of its rounds.
        // Phases: one branch on 1, 2 and 2 half-pool processes (rotated), then 10 branches
        // alike; then the ceiling (UNNEST), the naive insert and the ceiling (VALUES).
        let mut m: [Vec<f64>; 9] = Default::default();
        // Per phase of a shape: the mean time a push held its branch lock (ms).
        let mut held: [Vec<f64>; 6] = Default::default();
        for r in 0..rounds {
            let g = r * GROUPS * DEVICES;
            let shapes: [&[String]; 3] = [one_a, two_a, two_half];
            // The tables grow with every phase, so a fixed order would always give one
            // configuration the smaller database: round r starts with configuration r % 3,
            // and every 3 rounds each configuration has run first, second and third once.
            for shape in 0..2 {
                for j in 0..3 {
                    let i = shape * 3 + (r + j) % 3;
                    checkpoint(&db).await;
                    let (ops_per_s, held_ms) = run(&shop, g + i * DEVICES, shapes[i % 3], n).await;
                    m[i].push(ops_per_s);
                    held[i].push(held_ms);
                }
            }
            checkpoint(&db).await;
            m[6].push(insert_ceiling(&db, n, row_bytes, Insert::Unnest).await);
            m[7].push(insert_ceiling(&db, n, row_bytes, Insert::PerRow).await);
            m[8].push(insert_ceiling(&db, n, row_bytes, Insert::Values).await);
        }
        // The ceiling of a round is the faster of its two multi-row ways.
        m[6] = m[6].iter().zip(&m[8]).map(|(unnest, values)| unnest.max(*values)).collect();
        let [one, two, two_h, one_m, two_m, two_mh, ceiling, naive, values] = m.clone().map(median);
        println!("push benchmark on PostgreSQL: {n} sale.finalize ops (3 lines) from {DEVICES} devices, batches of {BATCH}; median of {rounds} rounds");
        println!("  raw insert ceiling ({row_bytes}-byte rows, {CEILING_TX_ROWS} per tx, faster of UNNEST and VALUES): {ceiling:>8.0} rows/s");
        println!("  (multi-row INSERT … VALUES alone, {CEILING_TX_ROWS} per tx:                  {values:>8.0} rows/s)");
        println!("  (naive: one INSERT per row, {CEILING_TX_ROWS} per tx:                         {naive:>8.0} rows/s)");
        let line = |what: &str, ops: f64, vs: Option<f64>| {
            let ratio = vs.map(|v| format!(", {:.2}x one", ops / v)).unwrap_or_default();
            println!("  {what:<42} {ops:>8.0} ops/s ({:.0}% of ceiling{ratio})", 100.0 * ops / ceiling);
        };
        line("one branch, one server process:", one, None);
        line("one branch, two server processes:", two, Some(one));
        line("one branch, two processes, half pool each:", two_h, Some(one));
        line(&format!("{BRANCHES} branches, one server process:"), one_m, None);
        line(&format!("{BRANCHES} branches, two server processes:"), two_m, Some(one_m));
        line(&format!("{BRANCHES} branches, two, half pool each:"), two_mh, Some(one_m));
        // Each round's shapes against that round's own ceiling and one-process run: the
        // machine's disk and neighbours drift by tens of percent between rounds.
        let shares = |i: usize| median(m[i].iter().zip(&m[6]).map(|(ops, c)| 100.0 * ops / c).collect());
        // Each round's paired ratio i/j, sorted.
        let paired = |i: usize, j: usize| {
            let mut v: Vec<f64> = m[i].iter().zip(&m[j]).map(|(a, b)| a / b).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v
        };
        let ratio = |i: usize, j: usize| median(paired(i, j));
        println!(
            "  per round (median): one branch {:.0}% of ceiling, two/one {:.2}x (half pools {:.2}x); \
             {BRANCHES} branches {:.0}% of ceiling, two/one {:.2}x (half pools {:.2}x)",
            shares(0), ratio(1, 0), ratio(2, 0), shares(3), ratio(4, 3), ratio(5, 3)
        );
        // The spread of the paired ratios says how far the medians can be trusted.
        let ratios = |i: usize, j: usize| paired(i, j).iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ");
        println!("    two/one per round, sorted: one branch {}; {BRANCHES} branches {}", ratios(1, 0), ratios(4, 3));
        println!("    half pools/one per round, sorted: one branch {}; {BRANCHES} branches {}", ratios(2, 0), ratios(5, 3));
        let held = held.map(median);
        println!(
            "  branch lock held per push (median of rounds): one branch {:.1} / {:.1} / {:.1} ms, \
             {BRANCHES} branches {:.1} / {:.1} / {:.1} ms (1 process / 2 / 2 half-pool)",
            held[0], held[1], held[2], held[3], held[4], held[5]
        );
        let names = [
            "one branch, 1 process", "one branch, 2 processes", "one branch, 2 half-pool processes",
            "10 branches, 1 process", "10 branches, 2 processes", "10 branches, 2 half-pool processes",
            "ceiling (faster of UNNEST, VALUES)", "naive", "VALUES",
        ];
        for (name, runs) in names.iter().zip(&m) {
            let runs: Vec<String> = runs.iter().map(|v| format!("{v:.0}")).collect();
            println!("    rounds, {name}: {}", runs.join(", "));
        }
        drop((a, b, c, d));
        let name = db.rsplit_once('/').map(|(_, n)| n.to_string()).unwrap_or_default();
        if std::env::var_os("BENCH_KEEP_DB").is_some() {
            println!("  (database {name} kept for inspection)");
        } else if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
            let _ = c.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
        }
    });
}
