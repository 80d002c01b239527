//! Both lanes under a bad link: answers lost after the server applied the op, a link
//! slower than the direct lane's timeout, and a backlog delivered twice. Whatever the
//! terminal hears, every op ends SYNCED and applied exactly once, in `device_seq` order.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::*;

/// A server with the seeded shop, a proxy in front of it, and one enrolled, hydrated
/// terminal (run with `extra`) with the cashier signed in and a drawer opened with a
/// $50.00 float (synced). Answers `(server, shop, proxy, term, device_id, session_id)`.
async fn till(dir: &std::path::Path, extra: &[&str]) -> (Proc, Shop, Proxy, Term, Uuid, String) {
    let (server, shop, proxy, term, device) = rig(dir, extra).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let open = term.act("/api/cash-sessions/open", json!({"opening_float_cents": 5000})).await;
    let session = open["cash_session"]["id"].as_str().unwrap().to_string();
    let s = term.wait_for("drawer open synced", 20, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(s["synced"], json!(1), "{s}");
    (server, shop, proxy, term, device, session)
}

fn op_id(queued: &Value) -> String {
    queued["client_op_id"].as_str().unwrap_or_else(|| panic!("no client_op_id in {queued}")).to_string()
}

/// The server's audit events of the branch, oldest first.
async fn audit(shop: &Shop) -> Vec<Value> {
    shop.get(&format!("/v1/audit?branch_id={}", shop.branch)).await["events"].as_array().unwrap().clone()
}

/// Audit events of one op.
async fn audit_of(shop: &Shop, client_op_id: &str) -> Vec<Value> {
    audit(shop).await.into_iter().filter(|e| e["client_op_id"].as_str() == Some(client_op_id)).collect()
}

/// A sale whose answer is thrown away after the server applied it: the terminal keeps
/// it PENDING, retries, gets DUPLICATE and settles it SYNCED; the server holds it once.
async fn dropped_answer_applied_once(extra: &[&str], lane: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device, session) = till(dir.path(), extra).await;
    // Let the pull that the drawer's nudge triggers finish first: a pull whose answer is
    // dropped would (rightly) mark the link offline, and the sale would skip the direct
    // lane.
    let before = term.status().await["last_pull_at"].clone();
    let deadline = Instant::now() + Duration::from_secs(3);
    while term.status().await["last_pull_at"] == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    proxy.set(Mode::DropResponses);
    let sale = term.act("/api/sales", lattes(&shop, 2)).await;
    assert_eq!(sale["status"], json!("PENDING"), "the terminal never heard the server's answer: {sale}");
    let id = op_id(&sale);
    let receipt_no = sale["receipt"]["receipt_no"].as_str().unwrap().to_string();

    // The server did the work although nobody heard about it.
    let sales = eventually("the server applied the sale", 20, || async {
        let s = shop.sales().await;
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert!(proxy.dropped.load(Ordering::SeqCst) > 0, "the proxy dropped no answer: the test proved nothing");
    let pending: Vec<String> = term.ops("PENDING").await.iter().map(op_id).collect();
    assert_eq!(pending, vec![id.clone()], "an op whose answer was lost must stay PENDING");
    // Let the terminal retry into the void at least once more.
    let seen = proxy.dropped.load(Ordering::SeqCst);
    eventually("another lost answer", 20, || async { (proxy.dropped.load(Ordering::SeqCst) > seen).then_some(()) }).await;

    proxy.set(Mode::Up);
    let done = term.wait_for("drained", 30, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(done["failed"], json!(0), "{done}");
    assert_eq!(done["synced"], json!(2), "{done}");
    let synced: Vec<String> = term.ops("SYNCED").await.iter().map(op_id).collect();
    assert!(synced.contains(&id), "{synced:?}");

    let sales = shop.sales().await;
    assert_eq!(sales.len(), 1, "applied exactly once: {sales:?}");
    assert_eq!(sales[0]["receipt_no"], json!(receipt_no));
    assert_eq!(sales[0]["total_cents"], json!(600));
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START - 2 * 18);
    assert_eq!(shop.on_hand(shop.milk).await, MILK_START - 2 * 150);
    let cs = shop.get(&format!("/v1/cash-sessions/{session}")).await;
    assert_eq!(cs["expected_cash_cents"], json!(5000 + 600), "{cs}");
    let events = audit_of(&shop, &id).await;
    assert_eq!(events.len(), 1, "one audit event for one applied op: {events:?}");
    let log = std::fs::read_to_string(term.data.join("terminal.log")).unwrap_or_default();
    assert_eq!(events[0]["lane"], json!(lane), "{events:?}\nterminal log:\n{log}");
}

/// Push lane (`--no-direct-lane`): the push's answer is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_answer_dropped_after_apply_ends_synced_once() {
    dropped_answer_applied_once(&["--no-direct-lane"], "offline").await;
}

/// Direct lane (default): the `POST /v1/sales` answer is lost; the push that follows
/// replays the same `client_op_id` and gets DUPLICATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_answer_dropped_after_apply_ends_synced_once() {
    dropped_answer_applied_once(&["--probe-interval-s", "600"], "online").await;
}

/// A link slower than the direct lane's timeout: the cashier's answer still comes at
/// once (PENDING, from the queue); the timed-out direct request reaches the server late
/// and the push of the same op follows it; the sale is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_link_falls_back_to_queue_and_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device, session) = till(dir.path(), &[]).await;

    proxy.delay(4_000); // per chunk, each way: longer than the direct lane's 3 s
    let t0 = Instant::now();
    let sale = term.act("/api/sales", lattes(&shop, 1)).await;
    let took = t0.elapsed();
    assert_eq!(sale["status"], json!("PENDING"), "{sale}");
    assert!(took < Duration::from_secs(6), "the cashier waited {took:?} on a slow link");
    let id = op_id(&sale);
    assert_eq!(term.status().await["pending"], json!(1));

    // The slow request still arrives; the terminal cannot know yet.
    eventually("the slow request reached the server", 25, || async { (!shop.sales().await.is_empty()).then_some(()) })
        .await;
    let pending: Vec<String> = term.ops("PENDING").await.iter().map(op_id).collect();
    assert_eq!(pending, vec![id.clone()]);

    proxy.delay(0);
    let done = term.wait_for("drained", 40, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(done["failed"], json!(0), "{done}");
    assert_eq!(done["synced"], json!(2), "{done}");

    let sales = shop.sales().await;
    assert_eq!(sales.len(), 1, "applied exactly once: {sales:?}");
    assert_eq!(sales[0]["receipt_no"], sale["receipt"]["receipt_no"]);
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START - 18);
    assert_eq!(shop.on_hand(shop.milk).await, MILK_START - 150);
    let cs = shop.get(&format!("/v1/cash-sessions/{session}")).await;
    assert_eq!(cs["expected_cash_cents"], json!(5000 + 300), "{cs}");
    assert_eq!(audit_of(&shop, &id).await.len(), 1);
}

/// 50 sales while cut, then a drain whose answer is lost (the whole backlog is applied
/// and later delivered again, mixed with 5 newer sales): the server holds each sale
/// once, applied in `device_seq` order, and its device report shows no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_delivered_twice_arrives_in_device_seq_order() {
    const OFFLINE: usize = 50;
    const LATER: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, device, session) = till(dir.path(), &[]).await;

    proxy.set(Mode::Cut);
    let mut receipts = Vec::new();
    let mut lattes_sold = 0;
    let mut espressos_sold = 0;
    let mut sell = |i: usize| {
        // Alternate items so that an order mix-up would show in the totals too.
        if i.is_multiple_of(3) {
            espressos_sold += 1;
            json!({"lines": [{"menu_item_id": shop.espresso, "qty": 1}], "tender": {"cash_usd_cents": 200, "cash_khr": 0}})
        } else {
            lattes_sold += 1;
            lattes(&shop, 1)
        }
    };
    for i in 0..OFFLINE {
        let s = term.act("/api/sales", sell(i)).await;
        assert_eq!(s["status"], json!("PENDING"), "{s}");
        receipts.push(s["receipt"]["receipt_no"].as_str().unwrap().to_string());
    }
    let st = term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;
    assert_eq!(st["pending"], json!(OFFLINE), "{st}");
    assert!(shop.sales().await.is_empty(), "nothing reached the server while cut");

    // The backlog goes through, its answer does not.
    proxy.set(Mode::DropResponses);
    eventually("the backlog applied", 30, || async { (shop.sales().await.len() >= OFFLINE).then_some(()) }).await;
    assert!(proxy.dropped.load(Ordering::SeqCst) > 0);
    assert_eq!(term.status().await["pending"], json!(OFFLINE), "no answer was heard, nothing may be settled");
    for i in OFFLINE..OFFLINE + LATER {
        let s = term.act("/api/sales", sell(i)).await;
        assert_eq!(s["status"], json!("PENDING"), "{s}");
        receipts.push(s["receipt"]["receipt_no"].as_str().unwrap().to_string());
    }

    proxy.set(Mode::Up);
    let total = OFFLINE + LATER;
    let done = term.wait_for("drained", 30, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(done["failed"], json!(0), "{done}");
    assert_eq!(done["synced"], json!(total + 1), "{done}");

    // Each sale once.
    let sales = shop.sales().await;
    assert_eq!(sales.len(), total, "{sales:?}");
    let mut got: Vec<String> = sales.iter().map(|s| s["receipt_no"].as_str().unwrap().to_string()).collect();
    got.sort();
    let mut want = receipts.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START - 18 * (lattes_sold + espressos_sold));
    assert_eq!(shop.on_hand(shop.milk).await, MILK_START - 150 * lattes_sold);
    let cs = shop.get(&format!("/v1/cash-sessions/{session}")).await;
    assert_eq!(cs["expected_cash_cents"], json!(5000 + 300 * lattes_sold + 200 * espressos_sold), "{cs}");

    // The terminal's queue: 1..=n, all synced.
    let ops = term.ops("SYNCED").await;
    let seqs: Vec<i64> = ops.iter().map(|o| o["device_seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=(total as i64 + 1)).collect::<Vec<_>>());

    // The server saw every device_seq, without a gap.
    let devices = shop.get(&format!("/v1/sync/devices?branch_id={}", shop.branch)).await;
    let me = devices["devices"].as_array().unwrap().iter().find(|d| d["device_id"] == json!(device)).cloned();
    let me = me.unwrap_or_else(|| panic!("device {device} not in {devices}"));
    assert_eq!(me["last_device_seq"], json!(total + 1), "{me}");
    assert_eq!(me["gaps"], json!([]), "{me}");

    // And applied them in device_seq order, each once.
    let seq_of: HashMap<String, i64> = ops.iter().map(|o| (op_id(o), o["device_seq"].as_i64().unwrap())).collect();
    let applied: Vec<i64> =
        audit(&shop).await.iter().filter_map(|e| e["client_op_id"].as_str().and_then(|id| seq_of.get(id).copied())).collect();
    assert_eq!(applied, (1..=(total as i64 + 1)).collect::<Vec<_>>(), "audit order by device_seq");
    assert_eq!(applied.iter().collect::<HashSet<_>>().len(), total + 1);
}
