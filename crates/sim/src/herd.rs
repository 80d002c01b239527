//! `modula sim --herd`: the city-wide reconnect benchmark (issue 22). A thousand
//! simulated devices over two hundred branches, each holding two hundred queued sales,
//! reconnect within one second: each subscribes to its branch's nudges, pushes its queue
//! in batches and hydrates. Against real `modula serve` processes (one on SQLite; one or
//! two on PostgreSQL). Then ten thousand nudge subscribers on one process: memory per
//! subscriber and the time from a commit to the last subscriber's nudge.
//!
//! The devices are simulated in this process (HTTP clients holding prepared ops), not
//! `modula terminal` processes: a thousand till processes would measure the machine's
//! process table, not the server. Run it on a release build:
//! `cargo run --release -p modula -- sim --herd [--postgres URL --servers 2]`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use modula_rules::{hash, pricing};
use modula_wire::op::SaleLine;
use modula_wire::Policy;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::procs::{free_port, run_once, wait_ready, Proc};
use crate::world::uuid_of;

/// What to measure.
#[derive(Debug, Clone)]
pub struct HerdConfig {
    /// Simulated devices.
    pub devices: usize,
    /// Branches (devices spread evenly).
    pub branches: usize,
    /// Sales queued on each device.
    pub sales_per_device: usize,
    /// Ops per push.
    pub batch: usize,
    /// Server processes (2 only on PostgreSQL).
    pub servers: usize,
    /// Nudge subscribers for the second part (0: skip it).
    pub subscribers: usize,
    /// Commits whose nudges are timed.
    pub commits: usize,
    /// PostgreSQL server URL (a fresh database is made); `None`: SQLite.
    pub postgres: Option<String>,
    /// The `modula` binary.
    pub exe: std::path::PathBuf,
    /// Where the run keeps its files.
    pub dir: std::path::PathBuf,
}

/// Most attempts of one push (a 503 asks to come back later).
const PUSH_ATTEMPTS: u32 = 200;
/// How long the nudges of one commit may take to reach every subscriber.
const NUDGE_TIMEOUT: Duration = Duration::from_secs(30);

struct Servers {
    procs: Vec<Proc>,
    bases: Vec<String>,
}

async fn start_servers(cfg: &HerdConfig, db_url: &str, http: &reqwest::Client, sse_max: usize) -> anyhow::Result<Servers> {
    let mut s = Servers { procs: Vec::new(), bases: Vec::new() };
    for i in 0..cfg.servers {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let mut args: Vec<String> = ["serve", "--db", db_url, "--listen", &addr, "--sse-max", &sse_max.to_string(), "--sse-tenant-share", "100"]
            .map(String::from)
            .to_vec();
        if db_url.starts_with("postgres") {
            args.extend(["--db-pool-max".to_string(), (32 / cfg.servers).to_string()]);
        }
        let mut p = Proc::start(&format!("server {i}"), &cfg.exe, args, cfg.dir.join(format!("herd-server-{i}.log")))?;
        wait_ready(http, &format!("http://{addr}/readyz"), &mut p).await?;
        s.procs.push(p);
        s.bases.push(format!("http://{addr}"));
    }
    Ok(s)
}

/// A process's memory from `/proc/PID/status`: (`VmRSS`, `VmHWM`) in KiB.
fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
    };
    Ok((field("VmRSS:").unwrap_or(0), field("VmHWM:").unwrap_or(0)))
}

/// A process's CPU time so far (user + system), from `/proc/PID/stat`, in seconds.
fn cpu_s(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

/// The shop: branches, one cashier each, a menu item, and `devices` devices spread over
/// the branches: `(tenant, owner token, branch ids, cashier ids, latte id, [(device, token, branch index)])`.
struct Shop {
    tenant: Uuid,
    owner_token: String,
    branches: Vec<Uuid>,
    cashiers: Vec<Uuid>,
    latte: Uuid,
    devices: Vec<(Uuid, String, usize)>,
}

async fn call(http: &reqwest::Client, method: &str, url: String, token: &str, body: Value) -> anyhow::Result<Value> {
    let m = reqwest::Method::from_bytes(method.as_bytes())?;
    let r = http.request(m, &url).bearer_auth(token).json(&body).send().await?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{method} {url}: {status} {v}");
    }
    Ok(v)
}

async fn make_shop(cfg: &HerdConfig, db_url: &str, base: &str, http: &reqwest::Client, devices: usize) -> anyhow::Result<Shop> {
    let init = ["admin", "init", "--db", db_url, "--tenant", "Herd", "--owner-name", "Owner", "--owner-pin", "2468", "--json"];
    let init: Value = serde_json::from_str(&run_once(&cfg.exe, &init.map(String::from), &[]).await?)?;
    let t = init["token"].as_str().ok_or_else(|| anyhow!("no token"))?.to_string();
    let mut shop = Shop { tenant: uuid_of(&init["tenant_id"])?, owner_token: t.clone(), branches: vec![], cashiers: vec![], latte: Uuid::now_v7(), devices: vec![] };
    let beans = uuid_of(&call(http, "POST", format!("{base}/v1/stock-items"), &t, json!({"name": "Beans", "unit": "g"})).await?["id"])?;
    let latte = json!({"name": "Latte", "price_cents": 300, "category": "Coffee", "active": true, "recipe": [{"stock_item_id": beans, "qty": 18}]});
    call(http, "PUT", format!("{base}/v1/menu/items/{}", shop.latte), &t, latte).await?;
    for b in 0..cfg.branches {
        let branch = uuid_of(&call(http, "POST", format!("{base}/v1/branches"), &t, json!({"name": format!("Branch {b}")})).await?["id"])?;
        let staff = json!({"name": format!("Cashier {b}"), "role": "cashier", "pin": "1234", "branch_ids": [branch]});
        shop.cashiers.push(uuid_of(&call(http, "POST", format!("{base}/v1/staff"), &t, staff).await?["id"])?);
        let restock = json!({"branch_id": branch, "stock_item_id": beans, "qty": 1_000_000});
        call(http, "POST", format!("{base}/v1/inventory/restock"), &t, restock).await?;
        shop.branches.push(branch);
    }
    for d in 0..devices {
        let b = d % cfg.branches;
        let v = call(http, "POST", format!("{base}/v1/devices"), &t, json!({"branch_id": shop.branches[b], "name": format!("Till {d}")})).await?;
        shop.devices.push((uuid_of(&v["device_id"])?, v["token"].as_str().unwrap_or_default().to_string(), b));
    }
    Ok(shop)
}

/// A device's queue as push bodies: a drawer open, then `sales` sales, `batch` ops each.
fn queue_bodies(cfg: &HerdConfig, shop: &Shop, device: usize) -> Vec<String> {
    let (device_id, _, b) = &shop.devices[device];
    let (tenant, branch, actor) = (shop.tenant, shop.branches[*b], shop.cashiers[*b]);
    let session = Uuid::now_v7();
    let op = |seq: i64, op_type: &str, payload: Value| {
        json!({"client_op_id": Uuid::now_v7(), "type": op_type, "tenant_id": tenant, "branch_id": branch, "actor_id": actor,
               "device_seq": seq, "occurred_at": chrono::Utc::now(), "depends_on": [],
               "payload_hash": hash::payload_hash(op_type, tenant, branch, actor, &payload), "payload": payload})
    };
    let lines = vec![SaleLine { menu_item_id: shop.latte, qty: 1, unit_price_cents: 300 }];
    let totals = pricing::price(&lines, &Policy::default()).expect("a latte prices");
    let mut ops = vec![op(1, "cashSession.open", json!({"cash_session_id": session, "opening_float_cents": 2000, "opening_float_khr": 0}))];
    for s in 0..cfg.sales_per_device {
        let payload = json!({"sale_id": Uuid::now_v7(), "cash_session_id": session, "receipt_no": format!("H{device}-{s}"),
            "lines": lines, "tender": {"cash_usd_cents": 500, "cash_khr": 0}, "totals": totals,
            "fx": {"khr_per_usd": 4100, "khr_rounding": 100}, "change": {"usd_cents": 200, "khr": 0}});
        ops.push(op(s as i64 + 2, "sale.finalize", payload));
    }
    ops.chunks(cfg.batch).map(|c| json!({"device_id": device_id, "operations": c}).to_string()).collect()
}

/// What the herd saw.
#[derive(Default)]
struct Tally {
    push_ms: Vec<f64>,
    other_answers: std::collections::BTreeMap<u16, u64>,
    not_applied: u64,
    retried_503: u64,
    pull_ms: Vec<f64>,
}

async fn push_all(http: &reqwest::Client, base: &str, token: &str, bodies: Vec<String>, tally: &Mutex<Tally>) -> anyhow::Result<()> {
    for body in bodies {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            let r = http.post(format!("{base}/v1/sync/push")).bearer_auth(token).header("content-type", "application/json").body(body.clone()).send().await;
            let r = r.context("a push")?;
            let status = r.status().as_u16();
            let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
            let v: Value = r.json().await.unwrap_or(Value::Null);
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            {
                let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                if status == 200 {
                    t.push_ms.push(ms);
                    t.not_applied += v["results"].as_array().into_iter().flatten().filter(|r| r["status"] != "APPLIED").count() as u64;
                } else {
                    *t.other_answers.entry(status).or_default() += 1;
                    t.retried_503 += u64::from(status == 503);
                }
            }
            if status == 200 {
                break;
            }
            if status != 503 || retry_after.is_none() || attempts >= PUSH_ATTEMPTS {
                bail!("a push answered {status} (Retry-After {retry_after:?}): {v}");
            }
            tokio::time::sleep(Duration::from_millis(retry_after.unwrap_or(1).min(2) * 500)).await;
        }
    }
    Ok(())
}

async fn hydrate(http: &reqwest::Client, base: &str, token: &str, branch: Uuid) -> anyhow::Result<()> {
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let mut q = vec![("branch_id", branch.to_string()), ("limit", "1000".to_string())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let r = http.get(format!("{base}/v1/sync/pull")).bearer_auth(token).query(&q).send().await?;
        if r.status().as_u16() == 503 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let v: Value = r.error_for_status()?.json().await?;
        cursor = v["next_cursor"].as_str().map(str::to_string);
        if v["has_more"] != json!(true) {
            return Ok(());
        }
    }
    bail!("a hydration did not end")
}

/// One nudge stream, counting its nudges and stamping the last one (µs since `origin`).
async fn subscribe(http: reqwest::Client, url: String, token: String, origin: Instant, seen: Arc<AtomicU64>, last_us: Arc<AtomicU64>) {
    let Ok(mut r) = http.get(url).bearer_auth(token).send().await else { return };
    if !r.status().is_success() {
        return;
    }
    let mut carry = String::new();
    while let Ok(Some(chunk)) = r.chunk().await {
        carry.push_str(&String::from_utf8_lossy(&chunk));
        let n = carry.matches("event: nudge").count() as u64;
        if n > 0 {
            last_us.store(origin.elapsed().as_micros() as u64, Ordering::SeqCst);
            seen.fetch_add(n, Ordering::SeqCst);
        }
        // Keep only a possibly cut-off tail for the next chunk.
        let keep = carry.len().saturating_sub(16);
        carry = carry[carry.char_indices().map(|(i, _)| i).find(|i| *i >= keep).unwrap_or(carry.len())..].to_string();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the benchmark and answers its report.
pub async fn run(cfg: &HerdConfig) -> anyhow::Result<String> {
    anyhow::ensure!(cfg.servers == 1 || cfg.postgres.is_some(), "two server processes need --postgres");
    std::fs::create_dir_all(&cfg.dir)?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(4096).timeout(Duration::from_secs(120)).build()?;
    let mut report = String::new();
    let backend = match &cfg.postgres {
        Some(_) => format!("PostgreSQL, {} server process(es)", cfg.servers),
        None => "SQLite, 1 server process".to_string(),
    };
    {
        let sim_cfg = crate::Config { seed: 0, tills: 1, branches: 1, minutes: 0.0, max_steps: None, postgres: cfg.postgres.clone(), exe: cfg.exe.clone(), dir: cfg.dir.join("herd") };
        std::fs::create_dir_all(&sim_cfg.dir)?;
        let (db_url, drop_db) = crate::database(&sim_cfg).await?;
        let servers = start_servers(cfg, &db_url, &http, 4 * cfg.devices + 100).await?;
        let shop = make_shop(cfg, &db_url, &servers.bases[0], &http, cfg.devices).await?;
        report.push_str(&reconnect(cfg, &http, &servers, &shop).await?.replace("{backend}", &backend));
        drop(servers);
        drop_db.await;
    }
    if cfg.subscribers > 0 {
        let sim_cfg = crate::Config { seed: 1, tills: 1, branches: 1, minutes: 0.0, max_steps: None, postgres: cfg.postgres.clone(), exe: cfg.exe.clone(), dir: cfg.dir.join("sse") };
        std::fs::create_dir_all(&sim_cfg.dir)?;
        let (db_url, drop_db) = crate::database(&sim_cfg).await?;
        let one = HerdConfig { servers: 1, ..cfg.clone() };
        let servers = start_servers(&one, &db_url, &http, cfg.subscribers + 100).await?;
        let devices = cfg.subscribers.div_ceil(2);
        let shop = make_shop(&one, &db_url, &servers.bases[0], &http, devices).await?;
        let idle_kib = idle_connection_kib(cfg, &http).await?;
        report.push('\n');
        report.push_str(&nudges(cfg, &http, &servers, &shop).await?.replace("{idle}", &format!("{idle_kib:.1}")));
        drop(servers);
        drop_db.await;
    }
    Ok(report)
}

/// The reconnect: every device subscribes, pushes its queue and hydrates, all starting
/// within one second.
async fn reconnect(cfg: &HerdConfig, http: &reqwest::Client, servers: &Servers, shop: &Shop) -> anyhow::Result<String> {
    let bodies: Vec<Vec<String>> = (0..shop.devices.len()).map(|d| queue_bodies(cfg, shop, d)).collect();
    let ops: usize = cfg.devices * (cfg.sales_per_device + 1);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let pids: Vec<String> = servers.procs.iter().filter_map(|p| p.pid()).map(|p| p.to_string()).collect();
    let cpu_before: Vec<f64> = pids.iter().map(|p| cpu_s(p)).collect();
    let me_before = cpu_s("self");
    let origin = Instant::now();
    let mut tasks = Vec::new();
    let mut streams = Vec::new();
    for (d, queue) in bodies.into_iter().enumerate() {
        let (_, token, b) = shop.devices[d].clone();
        let base = servers.bases[d % servers.bases.len()].clone();
        let branch = shop.branches[b];
        let events = format!("{base}/v1/sync/events?branch_id={branch}");
        streams.push(tokio::spawn(subscribe(http.clone(), events, token.clone(), origin, Arc::default(), Arc::default())));
        let (http, tally) = (http.clone(), tally.clone());
        let start_at = Duration::from_micros((d as u64 * 1_000_000) / cfg.devices as u64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(start_at.saturating_sub(origin.elapsed())).await;
            push_all(&http, &base, &token, queue, &tally).await?;
            let drained_at = origin.elapsed();
            let pulled = Instant::now();
            hydrate(&http, &base, &token, branch).await?;
            tally.lock().unwrap_or_else(|p| p.into_inner()).pull_ms.push(pulled.elapsed().as_secs_f64() * 1000.0);
            anyhow::Ok(drained_at)
        }));
    }
    let mut drained = Duration::ZERO;
    let mut failures = Vec::new();
    for t in tasks {
        match t.await? {
            Ok(at) => drained = drained.max(at),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let all_done = origin.elapsed();
    let server_cpu: Vec<f64> = pids.iter().zip(&cpu_before).map(|(p, b)| cpu_s(p) - b).collect();
    let bench_cpu = cpu_s("self") - me_before;
    for s in streams {
        s.abort();
    }
    let rss: Vec<(u64, u64)> = servers.procs.iter().filter_map(|p| p.pid()).filter_map(|pid| memory_kib(pid).ok()).collect();
    let t = tally.lock().unwrap_or_else(|p| p.into_inner());
    let mut push = t.push_ms.clone();
    push.sort_by(f64::total_cmp);
    let mut pull = t.pull_ms.clone();
    pull.sort_by(f64::total_cmp);
    let peak_mib: Vec<String> = rss.iter().map(|(_, hwm)| format!("{:.0} MiB", *hwm as f64 / 1024.0)).collect();
    Ok(format!(
        "herd on {{backend}}: {} devices over {} branches, {} queued ops ({} sales each + a drawer open), pushed {} per request, \
         all reconnecting within 1 s\n  every queue empty after {:.2} s ({:.0} ops/s); with every hydration done {:.2} s\n  \
         push latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} pushes; hydration p50 {:.0} ms, p99 {:.0} ms\n  \
         answers other than 200: {:?} (503 retried after Retry-After: {}); ops not APPLIED: {}; devices that gave up: {}{}\n  \
         server peak RSS: {}\n  CPU over the {:.1} s: server(s) {} s, this benchmark's devices {:.1} s (of {} cores × {:.1} s)",
        cfg.devices, cfg.branches, ops, cfg.sales_per_device, cfg.batch,
        drained.as_secs_f64(), ops as f64 / drained.as_secs_f64().max(1e-9), all_done.as_secs_f64(),
        percentile(&push, 0.5), percentile(&push, 0.99), push.last().copied().unwrap_or(0.0), push.len(),
        percentile(&pull, 0.5), percentile(&pull, 0.99),
        t.other_answers, t.retried_503, t.not_applied, failures.len(),
        failures.first().map(|f| format!(" (first: {f})")).unwrap_or_default(),
        peak_mib.join(" + "),
        all_done.as_secs_f64(),
        server_cpu.iter().map(|c| format!("{c:.1}")).collect::<Vec<_>>().join(" + "),
        bench_cpu,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        all_done.as_secs_f64(),
    ))
}

/// What one bare connection costs the server: a fresh process, as many idle TCP
/// connections as subscribers (no request sent), its RSS before and after.
async fn idle_connection_kib(cfg: &HerdConfig, http: &reqwest::Client) -> anyhow::Result<f64> {
    let sim_cfg = crate::Config { seed: 2, tills: 1, branches: 1, minutes: 0.0, max_steps: None, postgres: None, exe: cfg.exe.clone(), dir: cfg.dir.join("idle") };
    std::fs::create_dir_all(&sim_cfg.dir)?;
    let (db_url, _) = crate::database(&sim_cfg).await?;
    let one = HerdConfig { servers: 1, postgres: None, ..cfg.clone() };
    let servers = start_servers(&one, &db_url, http, cfg.subscribers + 100).await?;
    let pid = servers.procs[0].pid().ok_or_else(|| anyhow!("the server is not running"))?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, _) = memory_kib(pid)?;
    let addr = servers.bases[0].trim_start_matches("http://").to_string();
    let mut idle = Vec::with_capacity(cfg.subscribers);
    for _ in 0..cfg.subscribers {
        idle.push(tokio::net::TcpStream::connect(&addr).await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, _) = memory_kib(pid)?;
    drop(idle);
    Ok(after.saturating_sub(before) as f64 / cfg.subscribers.max(1) as f64)
}

/// Nudge fan-out: `subscribers` streams (two per device) on one process; a tenant-wide
/// menu edit nudges every branch stream. Memory per subscriber from the server's RSS
/// before and after they connect; per commit, the time from sending it to each
/// subscriber's nudge.
async fn nudges(cfg: &HerdConfig, http: &reqwest::Client, servers: &Servers, shop: &Shop) -> anyhow::Result<String> {
    let pid = servers.procs[0].pid().ok_or_else(|| anyhow!("the server is not running"))?;
    let base = &servers.bases[0];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_before, _) = memory_kib(pid)?;
    let origin = Instant::now();
    let mut counters = Vec::new();
    let mut tasks = Vec::new();
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    for i in 0..cfg.subscribers {
        let (_, token, b) = &shop.devices[i / 2];
        let (seen, last) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        counters.push((seen.clone(), last.clone()));
        let url = format!("{base}/v1/sync/events?branch_id={}", shop.branches[*b]);
        tasks.push(tokio::spawn(subscribe(client.clone(), url, token.clone(), origin, seen, last)));
    }
    // Connected: each stream's first event (the current head) has arrived.
    let deadline = Instant::now() + Duration::from_secs(120);
    while counters.iter().any(|(seen, _)| seen.load(Ordering::SeqCst) == 0) {
        if Instant::now() > deadline {
            let connected = counters.iter().filter(|(s, _)| s.load(Ordering::SeqCst) > 0).count();
            bail!("only {connected} of {} subscribers connected", cfg.subscribers);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_after, _) = memory_kib(pid)?;
    let per_sub_kib = (rss_after.saturating_sub(rss_before)) as f64 / cfg.subscribers as f64;
    let mut each_ms = Vec::new();
    let mut last_ms = Vec::new();
    for k in 0..cfg.commits {
        let want: Vec<u64> = counters.iter().map(|(s, _)| s.load(Ordering::SeqCst) + 1).collect();
        let sent_us = origin.elapsed().as_micros() as u64;
        let body = json!({"name": "Latte", "price_cents": 300 + k as i64, "category": "Coffee", "active": true, "recipe": []});
        call(http, "PUT", format!("{base}/v1/menu/items/{}", shop.latte), &shop.owner_token, body).await?;
        let deadline = Instant::now() + NUDGE_TIMEOUT;
        while counters.iter().zip(&want).any(|((s, _), w)| s.load(Ordering::SeqCst) < *w) {
            if Instant::now() > deadline {
                let got = counters.iter().zip(&want).filter(|((s, _), w)| s.load(Ordering::SeqCst) >= **w).count();
                bail!("commit {k}: only {got} of {} subscribers got its nudge within {NUDGE_TIMEOUT:?}", cfg.subscribers);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let lat: Vec<f64> = counters.iter().map(|(_, l)| (l.load(Ordering::SeqCst).saturating_sub(sent_us)) as f64 / 1000.0).collect();
        last_ms.push(lat.iter().copied().fold(0.0, f64::max));
        each_ms.extend(lat);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for t in tasks {
        t.abort();
    }
    each_ms.sort_by(f64::total_cmp);
    last_ms.sort_by(f64::total_cmp);
    Ok(format!(
        "nudges on one process: {} subscribers ({} devices, 2 streams each, {} branches)\n  server RSS {:.0} MiB before, {:.0} MiB with them: {:.1} KiB per subscriber \
         (as many idle TCP connections that send nothing, on a fresh process: {{idle}} KiB each)\n  \
         over {} tenant-wide commits: commit → a subscriber's nudge p50 {:.0} ms, p99 {:.0} ms; commit → the last subscriber's nudge p50 {:.0} ms, p99 {:.0} ms",
        cfg.subscribers, cfg.subscribers.div_ceil(2), cfg.branches,
        rss_before as f64 / 1024.0, rss_after as f64 / 1024.0, per_sub_kib,
        cfg.commits, percentile(&each_ms, 0.5), percentile(&each_ms, 0.99), percentile(&last_ms, 0.5), percentile(&last_ms, 0.99),
    ))
}
