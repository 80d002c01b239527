//! Benchmark of closing the day (issue 24): the daily report, the Z report, a page of the
//! sales history and the CSV export of a branch with 100,000 sales, asked over HTTP of a
//! real `modula serve` process, whose peak memory (`VmHWM`) is read from `/proc`.
//!
//! Two branches of `BENCH_SALES` (100,000) sales each, two lines per sale:
//! - **spread**: over 100 days (1,000 a day, a busy café), one drawer session a day;
//! - **one day**: every sale on one day in one session (the worst case a report can meet).
//!
//! Runs on SQLite, then on PostgreSQL when `MODULA_TEST_PG` (or `MODULA_BENCH_PG`) names a
//! reachable server (a fresh `modula_bench_*` database, dropped at the end).
//! `cargo bench -p modula --bench reports`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use modula_server::domain::{admin, bootstrap};
use modula_server::open_store;
use modula_store::{CashSessionRecord, SaleLineRecord, SaleRecord, Store};
use modula_wire::admin::{CreateBranch, EnrollDevice, PutMenuItem};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_modula");
/// Sales per branch.
const SALES_DEFAULT: usize = 100_000;
/// Days the spread branch's sales cover.
const DAYS: usize = 100;
/// Sales per write transaction while seeding.
const SEED_TX_SALES: usize = 2_000;
/// Timed requests per report figure.
const RUNS: usize = 20;
/// The first day of the history (local, Phnom Penh).
const FIRST_DAY: (i32, u32, u32) = (2026, 6, 1);

struct Shop {
    token: String,
    spread: Uuid,
    one_day: Uuid,
    one_day_session: Uuid,
}

/// Noon-ish on day `d` of the history, second `s` of it, in UTC (Phnom Penh is UTC+7).
fn sale_time(day: usize, n: usize, per_day: usize) -> DateTime<Utc> {
    let (y, m, d) = FIRST_DAY;
    let start = Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(0, 0, 0).unwrap())
        + chrono::Duration::days(day as i64);
    // 06:00 to 22:00 local is 23:00 (the day before) to 15:00 UTC: 16 hours for the day's sales.
    start - chrono::Duration::hours(1) + chrono::Duration::milliseconds((n as i64) * 16 * 3_600_000 / per_day as i64)
}

fn local_day(day: usize) -> NaiveDate {
    let (y, m, d) = FIRST_DAY;
    NaiveDate::from_ymd_opt(y, m, d).unwrap() + chrono::Duration::days(day as i64)
}

async fn seed(store: &dyn Store, sales: usize) -> Shop {
    let req = bootstrap::InitTenant {
        tenant_name: "Bench Café",
        owner_name: "Owner",
        owner_pin: "2468",
        slug: None,
        owner_sign_in: None,
    };
    let init = bootstrap::init(store, &req).await.expect("init");
    let owner = modula_server::auth::authenticate(store, &init.token).await.expect("owner");
    let mut menu = Vec::new();
    for (name, price) in [("Iced coffee", 250), ("Latte", 300), ("Croissant", 200), ("Tea", 150)] {
        let id = Uuid::now_v7();
        let item = PutMenuItem { name: name.into(), price_cents: price, category: "Cafe".into(), active: true, recipe: vec![] };
        admin::put_menu_item(store, &owner, id, item).await.expect("menu");
        menu.push((id, price));
    }
    let mut branches = Vec::new();
    for name in ["Spread", "One day"] {
        let branch = admin::create_branch(store, &owner, CreateBranch::named(name)).await.expect("branch").id;
        let device = admin::enroll_device(store, &owner, EnrollDevice { branch_id: branch, name: "Till".into() }).await.expect("device");
        branches.push((branch, device.device_id));
    }
    let (tenant, actor) = (init.tenant_id, init.owner_id);
    let mut one_day_session = Uuid::nil();
    for (b, &(branch, device)) in branches.iter().enumerate() {
        let (days, per_day) = if b == 0 { (DAYS, sales / DAYS) } else { (1, sales) };
        for day in 0..days {
            let session = CashSessionRecord {
                id: Uuid::now_v7(),
                tenant_id: tenant,
                branch_id: branch,
                device_id: device,
                opened_by: actor,
                open: false,
                drawer: Default::default(),
                counted_cash_cents: Some(0),
                counted_khr: Some(0),
                close_khr_per_usd: Some(4100),
                opened_at: sale_time(day, 0, per_day) - chrono::Duration::minutes(30),
                closed_at: Some(sale_time(day, per_day - 1, per_day) + chrono::Duration::minutes(30)),
            };
            if b == 1 {
                one_day_session = session.id;
            }
            let mut tx = store.begin_write().await.expect("tx");
            tx.insert_cash_session(&session).await.expect("session");
            tx.commit().await.expect("commit");
            for start in (0..per_day).step_by(SEED_TX_SALES) {
                let (rows, lines) = sales_of(tenant, branch, device, session.id, actor, &menu, day, start, per_day);
                let mut tx = store.begin_write().await.expect("tx");
                tx.insert_sales(&rows).await.expect("sales");
                tx.insert_sale_lines(&lines).await.expect("lines");
                tx.commit().await.expect("commit");
            }
        }
    }
    Shop { token: init.token, spread: branches[0].0, one_day: branches[1].0, one_day_session }
}

/// Sales `start..` (at most `SEED_TX_SALES`) of `day`, two lines each.
#[allow(clippy::too_many_arguments)]
fn sales_of(
    tenant: Uuid,
    branch: Uuid,
    device: Uuid,
    session: Uuid,
    actor: Uuid,
    menu: &[(Uuid, i64)],
    day: usize,
    start: usize,
    per_day: usize,
) -> (Vec<SaleRecord>, Vec<SaleLineRecord>) {
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for n in start..(start + SEED_TX_SALES).min(per_day) {
        let (a, b) = (menu[n % menu.len()], menu[(n / 3) % menu.len()]);
        let total = a.1 * 2 + b.1;
        let id = Uuid::now_v7();
        let details = json!({"lines": [{"menu_item_id": a.0, "qty": 2, "unit_price_cents": a.1},
                                       {"menu_item_id": b.0, "qty": 1, "unit_price_cents": b.1}],
                             "tender": {"cash_usd_cents": total, "cash_khr": 0},
                             "totals": {"subtotal_cents": total, "vat_cents": total / 11, "total_cents": total}});
        rows.push(SaleRecord {
            id,
            tenant_id: tenant,
            branch_id: branch,
            device_id: device,
            cash_session_id: session,
            client_op_id: Uuid::now_v7(),
            receipt_no: format!("T001-{}", day * per_day + n + 1),
            actor_id: actor,
            total_cents: total,
            vat_cents: total / 11,
            price_drift_cents: 0,
            details: details.into(),
            occurred_at: sale_time(day, n, per_day),
            applied_at: sale_time(day, n, per_day) + chrono::Duration::seconds(3),
            void: None,
        });
        lines.push(SaleLineRecord { sale_id: id, line_no: 0, menu_item_id: a.0, qty: 2, unit_price_cents: a.1 });
        lines.push(SaleLineRecord { sale_id: id, line_no: 1, menu_item_id: b.0, qty: 1, unit_price_cents: b.1 });
    }
    (rows, lines)
}

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(db: &str) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(BIN)
        .args(["serve", "--db", db, "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn modula serve");
    let server = Server(child, format!("http://127.0.0.1:{port}"));
    let c = reqwest::Client::new();
    for _ in 0..200 {
        if c.get(format!("{}/readyz", server.1)).send().await.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become ready"); // (the drop kills and waits for it)
}

/// (`VmRSS`, `VmHWM`) of a process, in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok())
    };
    (field("VmRSS:").unwrap_or(0.0) / 1024.0, field("VmHWM:").unwrap_or(0.0) / 1024.0)
}

/// p50 and max of `RUNS` GETs of `path`, in ms; the last body.
async fn time_get(c: &reqwest::Client, base: &str, token: &str, path: &str) -> (f64, f64, Value) {
    let mut ms = Vec::new();
    let mut body = Value::Null;
    for _ in 0..RUNS {
        let t = Instant::now();
        let r = c.get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        body = r.json().await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() - 1], body)
}

/// Streams a CSV export, counting rows without keeping them: (rows, bytes, seconds).
async fn time_csv(c: &reqwest::Client, base: &str, token: &str, query: &str) -> (usize, usize, f64) {
    let t = Instant::now();
    let mut r = c.get(format!("{base}/v1/sales?{query}&format=csv")).bearer_auth(token).send().await.unwrap();
    assert!(r.status().is_success());
    let (mut lines, mut bytes) = (0usize, 0usize);
    while let Some(chunk) = r.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
    }
    (lines.saturating_sub(1), bytes, t.elapsed().as_secs_f64())
}

async fn run(backend: &str, db: &str, sales: usize) {
    let t = Instant::now();
    let shop = {
        // The seeding process's own store, closed before the server starts.
        let store: Arc<dyn Store> = open_store(db).await.expect("store");
        seed(store.as_ref(), sales).await
    };
    if db.starts_with("postgres") {
        // What autovacuum does within a minute of such a load: statistics and the
        // visibility map, without which the planner guesses one row per table.
        let mut c = sqlx::PgConnection::connect(db).await.expect("connect");
        c.execute("VACUUM ANALYZE").await.expect("vacuum analyze");
    }
    println!("{backend}: seeded 2 × {sales} sales in {:.1} s", t.elapsed().as_secs_f64());
    let server = serve(db).await;
    let pid = server.0.id();
    let (base, token) = (server.1.clone(), shop.token.clone());
    let c = reqwest::Client::new();
    let (spread, one_day, session) = (shop.spread, shop.one_day, shop.one_day_session);
    let (rss0, _) = memory_mib(pid);
    let mid = local_day(DAYS / 2);
    let (p50, max, r) = time_get(&c, &base, &token, &format!("/v1/reports/daily?branch_id={spread}&date={mid}")).await;
    assert_eq!(r["sales_count"].as_u64(), Some((sales / DAYS) as u64), "{r}");
    println!("{backend}: daily report, {} sales that day of {sales}: p50 {p50:.1} ms, max {max:.1} ms", sales / DAYS);
    let (p50, max, r) = time_get(&c, &base, &token, &format!("/v1/reports/daily?branch_id={one_day}&date={}", local_day(0))).await;
    assert_eq!(r["sales_count"].as_u64(), Some(sales as u64), "{r}");
    println!("{backend}: daily report, all {sales} sales on the day: p50 {p50:.1} ms, max {max:.1} ms");
    let (p50, max, r) = time_get(&c, &base, &token, &format!("/v1/reports/z?cash_session_id={session}")).await;
    assert_eq!(r["sales_count"].as_u64(), Some(sales as u64), "{r}");
    println!("{backend}: Z report of a session of {sales} sales: p50 {p50:.1} ms, max {max:.1} ms");
    let (p50, max, r) = time_get(&c, &base, &token, &format!("/v1/sales?branch_id={spread}&limit=1000")).await;
    assert_eq!(r["sales"].as_array().map(Vec::len), Some(1000));
    println!("{backend}: a page of 1,000 sales (JSON): p50 {p50:.1} ms, max {max:.1} ms");
    let (_, hwm_reports) = memory_mib(pid);
    // Memory flat in rows: a tenth of the history, then all of it.
    let tenth_to = Utc.from_utc_datetime(&local_day(DAYS / 10).and_hms_opt(0, 0, 0).unwrap()) - chrono::Duration::hours(7);
    let q = format!("branch_id={spread}&to={}", tenth_to.to_rfc3339().replace('+', "%2B"));
    let (rows, bytes, secs) = time_csv(&c, &base, &token, &q).await;
    let (_, hwm_tenth) = memory_mib(pid);
    println!("{backend}: CSV of {rows} rows: {:.2} s, {:.0} rows/s, {:.1} MiB", secs, rows as f64 / secs, bytes as f64 / 1048576.0);
    let (rows_all, bytes, secs) = time_csv(&c, &base, &token, &format!("branch_id={spread}")).await;
    assert_eq!(rows_all, sales, "every row exported");
    let (_, hwm_all) = memory_mib(pid);
    println!(
        "{backend}: CSV of {rows_all} rows: {:.2} s, {:.0} rows/s, {:.1} MiB",
        secs,
        rows_all as f64 / secs,
        bytes as f64 / 1048576.0
    );
    println!(
        "{backend}: server memory: RSS {rss0:.1} MiB at start; peak {hwm_reports:.1} MiB after the reports, \
         {hwm_tenth:.1} MiB after the CSV of {rows} rows, {hwm_all:.1} MiB after the CSV of {rows_all}"
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks the harness for its tests: none.
    }
    let sales: usize = std::env::var("BENCH_SALES").ok().and_then(|v| v.parse().ok()).unwrap_or(SALES_DEFAULT);
    assert!(sales >= DAYS && sales.is_multiple_of(DAYS), "BENCH_SALES must be a multiple of {DAYS}");
    let dir = tempfile::tempdir().unwrap();
    // BENCH_KEEP=DIR keeps the SQLite file there (and the PostgreSQL database), to look into afterwards.
    let db_dir = std::env::var("BENCH_KEEP").map(std::path::PathBuf::from).unwrap_or_else(|_| dir.path().to_path_buf());
    run("SQLite", &format!("sqlite://{}", db_dir.join("bench.db").display()), sales).await;
    if std::env::var("BENCH_SQLITE_ONLY").is_ok() {
        return;
    }
    let admin = std::env::var("MODULA_BENCH_PG").or_else(|_| std::env::var("MODULA_TEST_PG")).ok();
    let Some(admin) = admin else {
        println!("PostgreSQL: skipped (set MODULA_TEST_PG or MODULA_BENCH_PG)");
        return;
    };
    let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await else {
        println!("PostgreSQL: skipped ({admin} is unreachable)");
        return;
    };
    let name = format!("modula_bench_{}", Uuid::new_v4().simple());
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    run("PostgreSQL", &format!("{base}/{name}"), sales).await;
    if std::env::var("BENCH_KEEP").is_ok() {
        println!("PostgreSQL: kept the database {name}");
    } else {
        conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.ok();
    }
}
