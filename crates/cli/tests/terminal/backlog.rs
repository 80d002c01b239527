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
