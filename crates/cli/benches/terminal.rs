//! Terminal benchmark (issue 7): durable enqueue rate and latency of `POST /api/sales`,
//! and the time to drain a backlog of queued sales after the link comes back.
//! Real `modula serve` (SQLite) and `modula terminal run` processes, a TCP proxy between
//! them, and the raw fsynced-commit ceiling of SQLite measured in the same run.
//!
//! `cargo bench -p modula --bench terminal` (`BENCH_ENQUEUE`, default 2,000 timed sales;
//! `BENCH_BACKLOG`, default 10,000 queued sales to drain).

#[path = "../tests/terminal/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use harness::*;
use serde_json::json;
use sqlx::{Connection, Executor};

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// One-row fsynced commits per second into a fresh WAL SQLite file (synchronous=FULL).
async fn commit_ceiling(dir: &std::path::Path, n: usize) -> f64 {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let opts = SqliteConnectOptions::new()
        .filename(dir.join("ceiling.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)").await.unwrap();
    let payload = "x".repeat(700);
    let t0 = Instant::now();
    for i in 0..n {
        let mut tx = c.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (?, ?)").bind(i as i64).bind(&payload).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

async fn enqueue(term: &Term, shop: &Shop, n: usize) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let body = if i % 2 == 0 { lattes(shop, 1) } else { lattes(shop, 2) };
        let t0 = Instant::now();
        let (s, v) = term.post("/api/sales", body).await;
        lat.push(t0.elapsed());
        assert_eq!(s, 201, "{v}");
    }
    lat
}

/// The same sales, each with its own `Idempotency-Key` (what the page sends): one more
/// lookup and one more fsynced commit per sale.
async fn enqueue_keyed(term: &Term, shop: &Shop, n: usize) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let body = if i % 2 == 0 { lattes(shop, 1) } else { lattes(shop, 2) };
        let t0 = Instant::now();
        let r = term.http.post(format!("{}/api/sales", term.base)).header("idempotency-key", uuid::Uuid::now_v7().to_string());
        let r = r.json(&body).send().await.unwrap();
        lat.push(t0.elapsed());
        assert_eq!(r.status().as_u16(), 201);
    }
    lat
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let timed = env_n("BENCH_ENQUEUE", 2_000);
        let backlog = env_n("BENCH_BACKLOG", 10_000);
        let dir = tempfile::tempdir().unwrap();
        let server = start_server(dir.path()).await;
        let shop = seed(dir.path(), &server).await;
        shop.post("/v1/inventory/restock", json!({"branch_id": shop.branch, "stock_item_id": shop.beans, "qty": 10_000_000}))
            .await;
        let proxy = Proxy::start(&server.base).await;
        let (_, token) = shop.device("Bench till").await;
        let term = Term::start(&dir.path().join("t"), &proxy.base, &token, &["--no-direct-lane"]).await;
        term.ready().await;
        term.sign_in(shop.cashier, CASHIER_PIN).await;
        term.act("/api/cash-sessions/open", json!({"opening_float_cents": 10_000})).await;
        term.wait_for("open synced", 30, |s| s["pending"] == json!(0)).await;

        let ceiling = commit_ceiling(dir.path(), 2_000).await;

        // Enqueue while offline: every answer is one durable local commit.
        proxy.set(Mode::Cut);
        term.wait_for("offline", 30, |s| s["online"] == json!(false)).await;
        enqueue(&term, &shop, 200).await; // warm-up
        let t0 = Instant::now();
        let mut lat = enqueue(&term, &shop, timed).await;
        let secs = t0.elapsed().as_secs_f64();
        lat.sort();
        println!("SQLite fsynced commit ceiling: {ceiling:.0} commits/s ({:.3} ms each)", 1e3 / ceiling);
        println!(
            "enqueue POST /api/sales (offline, 1 client, {timed} sales): {:.0} sales/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            timed as f64 / secs,
            pct(&lat, 0.50),
            pct(&lat, 0.99),
            pct(&lat, 1.0)
        );

        // The same with an Idempotency-Key per sale, in the same run.
        let t0 = Instant::now();
        let mut keyed = enqueue_keyed(&term, &shop, timed).await;
        let keyed_secs = t0.elapsed().as_secs_f64();
        keyed.sort();
        println!(
            "enqueue with Idempotency-Key ({timed} sales): {:.0} sales/s, p50 {:.2} ms, p99 {:.2} ms; {:.2}x the time of unkeyed",
            timed as f64 / keyed_secs,
            pct(&keyed, 0.50),
            pct(&keyed, 0.99),
            keyed_secs / secs
        );

        // Fill the backlog, then restore the link and time the drain.
        let queued = term.status().await["pending"].as_i64().unwrap() as usize;
        enqueue(&term, &shop, backlog.saturating_sub(queued)).await;
        let before = term.status().await;
        let pending = before["pending"].as_i64().unwrap();
        let server_before = shop.sales().await.len();
        proxy.set(Mode::Up);
        let t0 = Instant::now();
        let done = term.wait_for("drained", 600, |s| s["pending"] == json!(0)).await;
        let drain = t0.elapsed().as_secs_f64();
        assert_eq!(done["failed"], json!(0), "{done}");
        println!(
            "drain {pending} queued ops after reconnect: {drain:.2} s ({:.0} ops/s), server sales {} → listed {}",
            pending as f64 / drain,
            server_before,
            shop.sales().await.len()
        );
        let devices = shop.get(&format!("/v1/sync/devices?branch_id={}", shop.branch)).await;
        println!("server device bookkeeping: {}", devices["devices"][0]);
    });
}
