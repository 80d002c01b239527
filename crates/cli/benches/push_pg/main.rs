//! Push replay throughput on PostgreSQL with one and with two real `modula serve`
//! processes, against the raw-insert ceiling of the same database, in one run.
//!
//! `MODULA_TEST_PG=postgres://postgres@127.0.0.1:5432/test cargo bench -p modula --bench push_pg`
//! (`BENCH_OPS`, default 40,000 `sale.finalize` ops of 3 lines, from 20 devices, batches of 200,
//! so that each phase runs for seconds, not a fraction of one;
//! `BENCH_ROUNDS`, default 6: the shapes run interleaved this many times, each round in a
//! rotated order (use a multiple of 6), and the median is reported with the sorted paired
//! ratios of the rounds; `BENCH_KEEP_DB=1` keeps the database for inspection;
//! `BENCH_NEGATIVE_STOCK=1` skips the restock, so that every sale takes stock below zero;
//! `BENCH_CPU_CAP`, default 0.3: the CPU quota of each capped process, in cores).
//!
//! Every branch is restocked at the start with enough for every round, as a café that
//! keeps stock does, so sales never go below zero and a push writes its op records
//! before it locks its branch. With `BENCH_NEGATIVE_STOCK=1` every sale is flagged, and
//! the op records wait for the branch lock (the flags carry the level under it).
//!
//! Two shapes are measured: all 20 devices in one branch (the pushes of one branch are
//! serialized by its row lock, by design), and 20 devices spread over 10 branches (2 each).
//! Each shape runs on five configurations:
//! - one process; two processes with the default pool each (twice the database
//!   connections); two processes with half the pool each (the same connection budget as
//!   one process, as the README advises for several processes). These share the
//!   machine's cores with PostgreSQL and the bench, so a second process brings no CPU.
//! - one process and two processes under a CPU quota of `BENCH_CPU_CAP` cores each (a
//!   cgroup of its own, joined before the process starts, so that its runtime sizes
//!   itself to the quota; needs root and a cgroup `cpu` controller, skipped with a loud
//!   line without them): as if each ran on a small host of its own, the deployment
//!   several processes are for, so a second process brings its own CPU. The database
//!   still shares the rest of the machine. They run after the other three in each round
//!   (on larger tables), so only the capped pair is compared with each other.
//!
//! With two processes, the devices alternate between them in tens, so that each branch of
//! the spread shape has a device on each process, as a load balancer would spread them.
//!
//! For every phase it prints where the CPU went, per op: the servers of the phase, the
//! bench client, and the rest of the machine (PostgreSQL, the kernel, the idle servers and
//! any other load), with the share the hypervisor stole; and how long a push held its
//! branch lock.
//!
//! The ceiling is the fastest plain way a client inserts rows of the same size, 100 rows
//! per transaction, on one connection, with the same durability (`synchronous_commit =
//! on`): in each round, the faster of one prepared `INSERT … SELECT FROM UNNEST(…)` and
//! one multi-row `INSERT … VALUES` per transaction. One `INSERT` statement per row (a
//! tenth of the rows) is printed beside it for scale.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use modula_wire::op::SaleLine;
use modula_wire::Policy;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use uuid::Uuid;

mod servers;

use servers::*;

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

/// Server configurations each shape runs on: 1 process, 2, 2 with half pools, and 1 and
/// 2 with a CPU quota each (`CAPPED`).
const CONFIGS: usize = 5;

/// The configurations with a CPU quota per process (the last two of `CONFIGS`).
const CAPPED: usize = 3;

/// Device groups of `DEVICES` per round: one per phase (`CONFIGS` phases per shape).
const GROUPS: usize = 2 * CONFIGS;

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
        // main branch serves `CONFIGS` phases of `n` sales per round, each other branch
        // a tenth of as many.
        let need = |phases_x10: i64| 57 * n as i64 * rounds as i64 * phases_x10 / 10;
        let (main_need, other_need) = (need(10 * CONFIGS as i64), need(CONFIGS as i64));
        for (b, need) in std::iter::once((branch, main_need)).chain(others.iter().map(|b| (*b, other_need))) {
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

/// What one phase measured.
#[derive(Clone, Copy, Default)]
struct Phase {
    ops_per_s: f64,
    /// Mean time a push held its branch lock, in ms.
    held_ms: f64,
    /// CPU per op, in µs: the servers, the bench client, and the rest of the machine
    /// (PostgreSQL and the kernel's share of the others).
    server_us: f64,
    client_us: f64,
    rest_us: f64,
    /// Share of the machine's cores that was busy, and that the hypervisor took.
    busy: f64,
    stolen: f64,
}

/// The server device `d` talks to: devices `d` and `d + BRANCHES` (one branch's two in the
/// spread shape) go to different processes, as a load balancer would spread them.
fn server_of(d: usize, servers: usize) -> usize {
    (d / BRANCHES) % servers
}

/// 20 devices push `n` ops in all, each to its `server_of`.
async fn run(shop: &Arc<Shop>, first_device: usize, servers: &[&Server], n: usize) -> Phase {
    let c = reqwest::Client::new();
    let bases: Vec<String> = servers.iter().map(|s| s.1.clone()).collect();
    let mut queued = Vec::new();
    for d in first_device..first_device + DEVICES {
        let (open, batches) = bodies(shop, d, n / DEVICES);
        push(&c, &bases[server_of(d, bases.len())], &shop.devices[d].1, open).await;
        queued.push((d, batches));
    }
    let before = lock_holds(&c, &bases).await;
    let cpu_before = Cpu::now(servers);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (d, batches) in queued {
        let (c, shop, base) = (c.clone(), shop.clone(), bases[server_of(d, bases.len())].clone());
        tasks.push(tokio::spawn(async move {
            for b in batches {
                push(&c, &base, &shop.devices[d].1, b).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed_s = t.elapsed().as_secs_f64();
    let cpu = Cpu::now(servers).since(cpu_before);
    let ops = (n / DEVICES * DEVICES) as f64;
    let after = lock_holds(&c, &bases).await;
    let us_per_op = |ticks: u64| 1e6 * ticks as f64 / *CLOCK_TICKS_PER_S / ops;
    let cores = *CORES;
    Phase {
        ops_per_s: ops / elapsed_s,
        held_ms: 1000.0 * (after.1 - before.1) / (after.0 - before.0),
        server_us: us_per_op(cpu.servers),
        client_us: us_per_op(cpu.client),
        rest_us: us_per_op(cpu.machine.saturating_sub(cpu.servers + cpu.client)),
        busy: cpu.machine as f64 / *CLOCK_TICKS_PER_S / elapsed_s / cores,
        stolen: cpu.stolen as f64 / *CLOCK_TICKS_PER_S / elapsed_s / cores,
    }
}

/// The machine's cores: the `cpuN` lines of `/proc/stat`, which the busy ticks count.
static CORES: std::sync::LazyLock<f64> = std::sync::LazyLock::new(|| {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cores = stat.lines().filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)).count();
    cores.max(1) as f64
});

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
static CLOCK_TICKS_PER_S: std::sync::LazyLock<f64> = std::sync::LazyLock::new(|| {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok()).unwrap_or(100.0)
});

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
        CpuCap::remove_stale();
        // One process's pool is the server's default; the half-pool pair gets half each.
        let (a, b) = (start(&db, None, None).await, start(&db, None, None).await);
        let half = Some(HALF_POOL);
        let (c, d) = (start(&db, half, None).await, start(&db, half, None).await);
        let cap = cpu_cap_cores();
        let capped = match (start_capped(&db, cap).await, start_capped(&db, cap).await) {
            (Ok(e), Ok(f)) => Some((e, f)),
            (Err(why), _) | (_, Err(why)) => {
                eprintln!("=== CAPPED CONFIGURATIONS SKIPPED: {why} (they need root and a cgroup cpu controller) ===");
                None
            }
        };
        let shop = Arc::new(seed(&db, &a.1, rounds, n).await);
        let row_bytes = bodies(&shop, 0, BATCH).1[0].len() / BATCH;
        let mut configs: Vec<Vec<&Server>> = vec![vec![&a], vec![&a, &b], vec![&c, &d]];
        if let Some((e, f)) = &capped {
            configs.extend([vec![e], vec![e, f]]);
        }
        // The shapes are interleaved round by round, so drift of the machine (other load,
        // the growing tables) touches each alike; each figure is the median of its rounds.
        // Per round: one branch on every configuration, then 10 branches alike; then the
        // ceiling (UNNEST), the naive insert and the ceiling (VALUES).
        // Every phase, by shape * CONFIGS + configuration.
        let mut phases: [Vec<Phase>; 2 * CONFIGS] = Default::default();
        let (mut unnest, mut naive, mut values) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..rounds {
            let g = r * GROUPS * DEVICES;
            for shape in 0..2 {
                for config in rotated(r, configs.len()) {
                    let i = shape * CONFIGS + config;
                    checkpoint(&db).await;
                    phases[i].push(run(&shop, g + i * DEVICES, &configs[config], n).await);
                }
            }
            checkpoint(&db).await;
            unnest.push(insert_ceiling(&db, n, row_bytes, Insert::Unnest).await);
            naive.push(insert_ceiling(&db, n / 10, row_bytes, Insert::PerRow).await);
            values.push(insert_ceiling(&db, n, row_bytes, Insert::Values).await);
        }
        // The ceiling of a round is the faster of its two multi-row ways.
        let ceilings: Vec<f64> = unnest.iter().zip(&values).map(|(u, v)| u.max(*v)).collect();
        let report = Report { phases: &phases, ceilings: &ceilings };
        println!("push benchmark on PostgreSQL: {n} sale.finalize ops (3 lines) from {DEVICES} devices, batches of {BATCH}; median of {rounds} rounds");
        let ceiling = median(ceilings.clone());
        println!("  raw insert ceiling ({row_bytes}-byte rows, {CEILING_TX_ROWS} per tx, faster of UNNEST and VALUES): {ceiling:>8.0} rows/s");
        println!("  (multi-row INSERT … VALUES alone, {CEILING_TX_ROWS} per tx:                  {:>8.0} rows/s)", median(values));
        println!("  (naive: one INSERT per row, {CEILING_TX_ROWS} per tx:                         {:>8.0} rows/s)", median(naive.clone()));
        let names = config_names(cap);
        for shape in 0..2 {
            for (config, name) in names.iter().enumerate().take(configs.len()) {
                report.line(shape, config, name);
            }
        }
        report.ratios(configs.len(), &names);
        report.holds_and_cpu(configs.len(), &names);
        for shape in 0..2 {
            for (config, name) in names.iter().enumerate().take(configs.len()) {
                let runs: Vec<String> = phases[shape * CONFIGS + config].iter().map(|p| format!("{:.0}", p.ops_per_s)).collect();
                println!("    rounds, {}, {name}: {}", SHAPES[shape], runs.join(", "));
            }
        }
        let fmt = |v: &[f64]| v.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(", ");
        println!("    rounds, ceiling (faster of UNNEST, VALUES): {}", fmt(&ceilings));
        println!("    rounds, naive: {}", fmt(&naive));
        drop((a, b, c, d, capped));
        let name = db.rsplit_once('/').map(|(_, n)| n.to_string()).unwrap_or_default();
        if std::env::var_os("BENCH_KEEP_DB").is_some() {
            println!("  (database {name} kept for inspection)");
        } else if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
            let _ = c.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
        }
    });
}

/// The two shapes, as the report names them.
const SHAPES: [&str; 2] = ["one branch", "10 branches"];

fn config_names(cap: f64) -> [String; CONFIGS] {
    [
        "one server process".into(),
        "two server processes".into(),
        "two processes, half pool each".into(),
        format!("one process capped at {cap} core"),
        format!("two processes capped at {cap} core each"),
    ]
}

/// The order round `r` runs `configs` configurations in. The tables grow with every
/// phase, so a fixed order would always give one configuration the smaller database: the
/// uncapped three rotate by `r % 3` and the capped two by `r % 2`, so that over 6 rounds
/// each has run in every position of its group.
fn rotated(r: usize, configs: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..3).map(|j| (r + j) % 3).collect();
    if configs > CAPPED {
        order.extend((0..2).map(|j| CAPPED + (r + j) % 2));
    }
    order
}

/// The figures of a run, by shape * CONFIGS + configuration.
struct Report<'a> {
    phases: &'a [Vec<Phase>; 2 * CONFIGS],
    ceilings: &'a [f64],
}

impl Report<'_> {
    fn ops(&self, i: usize) -> Vec<f64> {
        self.phases[i].iter().map(|p| p.ops_per_s).collect()
    }

    /// The configuration a configuration is compared with: 1 process for the uncapped
    /// ones, 1 capped process for the capped pair.
    fn baseline(config: usize) -> Option<usize> {
        match config {
            0 | CAPPED => None,
            c if c > CAPPED => Some(CAPPED),
            _ => Some(0),
        }
    }

    /// Each round's paired ratio of phase i to phase j, sorted. (Each round's shapes
    /// are compared with that round's own runs: the machine's disk and neighbours drift
    /// by tens of percent between rounds.)
    fn pairs(&self, i: usize, j: usize) -> Vec<f64> {
        let mut v: Vec<f64> = self.ops(i).iter().zip(self.ops(j)).map(|(a, b)| a / b).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }

    fn line(&self, shape: usize, config: usize, name: &str) {
        let i = shape * CONFIGS + config;
        let ops = median(self.ops(i));
        let share = median(self.ops(i).iter().zip(self.ceilings).map(|(o, c)| 100.0 * o / c).collect());
        let ratio = Self::baseline(config)
            .map(|j| format!(", {:.2}x {}", median(self.pairs(i, shape * CONFIGS + j)), if j == 0 { "one" } else { "one capped" }))
            .unwrap_or_default();
        let what = format!("{}, {name}:", SHAPES[shape]);
        println!("  {what:<56} {ops:>8.0} ops/s ({share:.0}% of ceiling{ratio})");
    }

    /// The sorted per-round ratios, which say how far the medians can be trusted.
    fn ratios(&self, configs: usize, names: &[String]) {
        for config in 1..configs {
            let Some(j) = Self::baseline(config) else { continue };
            let sorted = |shape: usize| {
                let v = self.pairs(shape * CONFIGS + config, shape * CONFIGS + j);
                v.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ")
            };
            println!("    {} / {} per round, sorted: {} {}; {} {}", names[config], names[j], SHAPES[0], sorted(0), SHAPES[1], sorted(1));
        }
    }

    /// Branch-lock holds and the CPU split of every phase (medians of the rounds).
    fn holds_and_cpu(&self, configs: usize, names: &[String]) {
        println!("  per phase (median of rounds): branch lock held per push; CPU per op in µs, servers + client + rest");
        println!("  (PostgreSQL, kernel) = all; cores busy, stolen by the hypervisor");
        for (shape, shape_name) in SHAPES.iter().enumerate() {
            for (config, name) in names.iter().enumerate().take(configs) {
                let phases = &self.phases[shape * CONFIGS + config];
                let of = |f: fn(&Phase) -> f64| median(phases.iter().map(f).collect());
                let (server, client, rest) = (of(|p| p.server_us), of(|p| p.client_us), of(|p| p.rest_us));
                let what = format!("{shape_name}, {name}:");
                println!(
                    "    {what:<56} {:>5.1} ms; {server:>5.1} + {client:>4.1} + {rest:>5.1} = {:>5.1} µs; {:.0}%, {:.0}%",
                    of(|p| p.held_ms), server + client + rest, 100.0 * of(|p| p.busy), 100.0 * of(|p| p.stolen)
                );
            }
        }
    }
}
