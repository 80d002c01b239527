//! How long a till has been offline and how far its backlog has drained (SPEC §6
//! `/api/status` `offline_since` and `sync: {done, total}`, issue 25).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_tells_how_long_offline_and_how_far_the_backlog_drained() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &["--push-batch-max", "4"]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000})).await;
    let online = term.wait_for("online, nothing pending", 20, |s| s["pending"] == 0 && s["online"] == true).await;
    assert_eq!((online["offline_since"].clone(), online["sync"].clone()), (Value::Null, Value::Null), "{online}");

    let cut_at = Utc::now();
    proxy.set(Mode::Cut);
    for _ in 0..20 {
        term.act("/api/sales", lattes(&shop, 1)).await;
    }
    let offline = term.wait_for("offline", 20, |s| s["online"] == false).await;
    let since: DateTime<Utc> = offline["offline_since"].as_str().expect("offline_since while offline").parse().unwrap();
    assert!(since <= Utc::now(), "{offline}");
    assert!(since >= cut_at - chrono::Duration::seconds(30), "the last answer was just before the cut: {offline}");
    assert_eq!(offline["sync"], Value::Null, "nothing drains while offline: {offline}");
    // A restart offline (kill -9, start) keeps it: it is the server's last answer, on disk.
    let mut term = term;
    term.kill9();
    term.restart().await;
    let again = term.wait_for("offline after a restart", 20, |s| s["online"] == false).await;
    assert_eq!(again["offline_since"], offline["offline_since"], "{again}");

    // Back online over a slow link, four ops a push: the drain is seen as it goes.
    proxy.delay(150);
    proxy.set(Mode::Up);
    let started = Instant::now();
    let mut seen: Vec<(i64, i64)> = Vec::new();
    let done = loop {
        assert!(started.elapsed() < Duration::from_secs(60), "drained in time; saw {seen:?}");
        let s = term.status().await;
        if let Some(sync) = s["sync"].as_object() {
            let (d, t) = (sync["done"].as_i64().unwrap(), sync["total"].as_i64().unwrap());
            assert!(s["online"] == true, "a drain is shown only online: {s}");
            assert!(0 < d && d < t && t <= 20, "done within total: {s}");
            assert_eq!(t - d, s["pending"].as_i64().unwrap(), "total = done + pending: {s}");
            seen.push((d, t));
        }
        if s["pending"] == 0 && s["online"] == true {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    };
    assert!(!seen.is_empty(), "the drain's progress was seen at least once");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "done never goes back: {seen:?}");
    assert_eq!((done["offline_since"].clone(), done["sync"].clone()), (Value::Null, Value::Null), "over: {done}");
    assert_eq!(shop.sales().await.len(), 20);
}

/// A backlog longer than a page of `GET /api/ops` is read page by page: each page says
/// where the next starts (`next_after`), the last says null, and every op is read once,
/// oldest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_read_page_by_page_with_next_after() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    proxy.set(Mode::Cut);
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 2000})).await;
    for _ in 0..6 {
        term.act("/api/sales", lattes(&shop, 1)).await;
    }
    let mut seqs = Vec::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let (s, page) = term.get(&format!("/api/ops?status=PENDING&limit=3&after={after}")).await;
        assert_eq!(s, 200, "{page}");
        pages += 1;
        assert!(pages <= 3, "paging ends: {page}");
        let ops = page["ops"].as_array().unwrap();
        assert!(ops.len() <= 3, "{page}");
        seqs.extend(ops.iter().map(|o| o["device_seq"].as_i64().unwrap()));
        match page["next_after"].as_i64() {
            Some(next) => {
                assert_eq!(Some(next), ops.last().and_then(|o| o["device_seq"].as_i64()), "{page}");
                after = next;
            }
            None => {
                assert!(page["next_after"].is_null(), "the last page says null: {page}");
                break;
            }
        }
    }
    assert_eq!((pages, seqs), (3, (1..=7).collect::<Vec<i64>>()), "7 ops in pages of 3, each once, oldest first");
    let (_, whole) = term.get("/api/ops?status=PENDING").await;
    assert_eq!((whole["ops"].as_array().unwrap().len(), whole["next_after"].clone()), (7, Value::Null), "{whole}");
}
