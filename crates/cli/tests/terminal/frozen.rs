//! A branch frozen while the terminal is offline: the server is the judge on replay
//! (`BRANCH_FROZEN`, never retried, visible everywhere), later independent work still
//! syncs; a frozen branch the terminal knows of refuses writes locally.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::harness::*;

/// The terminal's answer to a write while it knows the branch is frozen: `423`
/// problem+json `BRANCH_FROZEN`.
async fn assert_refused_frozen(term: &Term, path: &str, body: Value) {
    let r = term.http.post(format!("{}{path}", term.base)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 423, "{path}: {v}");
    assert!(ctype.starts_with("application/problem+json"), "{path}: content-type {ctype:?}");
    assert_eq!(v["code"], json!("BRANCH_FROZEN"), "{path}: {v}");
    assert_eq!(v["status"], json!(423), "{path}: {v}");
    assert!(v["detail"].as_str().is_some_and(|d| d.contains("frozen")), "{path}: a reason for the cashier: {v}");
}

/// Ops queued offline while a manager froze the branch end `FAILED`/`BRANCH_FROZEN` on
/// replay — in `/api/status`, `/api/ops?status=FAILED` and the server's failures report —
/// and their local effects are undone. While the terminal knows the branch is frozen it
/// refuses writes itself (423). After unfreezing, new ops that do not depend on a
/// refused one sync, and the refused ones are never retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_while_offline_fails_replay_then_independent_ops_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, device) = rig(dir.path(), &[]).await;
    let st = term.status().await;
    assert_eq!(st["branch_status"], json!("active"), "{st}");
    term.sign_in(shop.cashier, CASHIER_PIN).await;

    // Online: shift started and drawer opened, both synced.
    let start = term.act("/api/attendance/start", json!({})).await;
    let shift = start["shift_id"].as_str().unwrap().to_string();
    let open = term.act("/api/cash-sessions/open", json!({"opening_float_cents": 4000})).await;
    let session = open["cash_session"]["id"].as_str().unwrap().to_string();
    term.wait_for("online ops synced", 20, |s| s["pending"] == json!(0) && s["synced"] == json!(2)).await;

    // Offline work, while a manager freezes the branch on the server.
    proxy.set(Mode::Cut);
    let mut offline = Vec::new();
    offline.push(term.act("/api/sales", lattes(&shop, 1)).await);
    offline.push(term.act("/api/sales", lattes(&shop, 2)).await);
    offline.push(term.act("/api/cash-sessions/movement", json!({"kind": "paid_in", "amount_cents": 500, "reason": "float top-up"})).await);
    offline.push(term.act("/api/attendance/end", json!({})).await);
    assert!(offline.iter().all(|o| o["status"] == json!("PENDING")), "{offline:?}");
    let (_, ctx) = term.get("/api/context").await;
    assert_eq!(ctx["cash_session"]["cash_sales_cents"], json!(900), "{ctx}");
    assert_eq!(ctx["open_shifts"], json!([]), "the shift ended locally: {ctx}");
    let (s, v) = shop.post(&format!("/v1/branches/{}/freeze", shop.branch), json!({})).await;
    assert_eq!((s, v["status"].clone()), (200, json!("frozen")), "{v}");

    // Link back: the replay is refused, deterministically, and never retried.
    proxy.set(Mode::Up);
    let st = term
        .wait_for("replay refused and freeze pulled", 30, |s| {
            s["pending"] == json!(0) && s["online"] == json!(true) && s["branch_status"] == json!("frozen")
        })
        .await;
    assert_eq!((st["failed"].clone(), st["synced"].clone()), (json!(4), json!(2)), "{st}");

    let failed = term.ops("FAILED").await;
    let ids = |ops: &[Value]| ops.iter().map(|o| o["client_op_id"].as_str().unwrap().to_string()).collect::<BTreeSet<_>>();
    assert_eq!(ids(&failed), ids(&offline), "{failed:?}");
    for f in &failed {
        assert_eq!(f["code"], json!("BRANCH_FROZEN"), "{f}");
        assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "a reason for people: {f}");
    }
    let report = shop.get(&format!("/v1/sync/failures?branch_id={}", shop.branch)).await;
    let report = report["failures"].as_array().unwrap().clone();
    assert_eq!(ids(&report), ids(&offline), "{report:?}");
    for f in &report {
        assert_eq!(f["code"], json!("BRANCH_FROZEN"), "{f}");
        assert_eq!(f["device_id"], json!(device), "{f}");
        assert_eq!(f["actor_id"], json!(shop.cashier), "{f}");
    }
    assert!(shop.sales().await.is_empty());
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START);

    // The refused ops' local effects are gone: no sales, no paid-in, the shift open again.
    let (_, ctx) = term.get("/api/context").await;
    let cs = &ctx["cash_session"];
    assert_eq!((cs["cash_sales_cents"].clone(), cs["paid_in_cents"].clone()), (json!(0), json!(0)), "{ctx}");
    assert_eq!(cs["expected_cash_cents"], json!(4000), "{ctx}");
    let open_shifts: Vec<Value> = ctx["open_shifts"].as_array().unwrap().clone();
    assert_eq!(open_shifts.len(), 1, "{ctx}");
    assert_eq!(open_shifts[0]["shift_id"], json!(shift), "{ctx}");

    // Known frozen: writes are refused here, with a reason, and nothing is queued.
    assert_refused_frozen(&term, "/api/sales", lattes(&shop, 1)).await;
    assert_refused_frozen(&term, "/api/cash-sessions/movement", json!({"kind": "paid_in", "amount_cents": 100, "reason": "x"}))
        .await;
    assert_refused_frozen(&term, "/api/cash-sessions/close", json!({"counted_cash_cents": 4000})).await;
    assert_refused_frozen(&term, "/api/attendance/end", json!({})).await;
    let st = term.status().await;
    assert_eq!((st["pending"].clone(), st["failed"].clone(), st["synced"].clone()), (json!(0), json!(4), json!(2)), "{st}");

    // Unfrozen: the terminal learns it (nudge → pull) and new work syncs.
    let (s, v) = shop.post(&format!("/v1/branches/{}/unfreeze", shop.branch), json!({})).await;
    assert_eq!((s, v["status"].clone()), (200, json!("active")), "{v}");
    term.wait_for("unfreeze pulled", 20, |s| s["branch_status"] == json!("active")).await;
    let sale = term.act("/api/sales", lattes(&shop, 3)).await;
    let end = term.act("/api/attendance/end", json!({})).await;
    assert_eq!(end["shift_id"], json!(shift), "{end}");
    let st = term.wait_for("new work synced", 20, |s| s["pending"] == json!(0)).await;
    assert_eq!((st["failed"].clone(), st["synced"].clone()), (json!(4), json!(4)), "{st}");
    let synced = ids(&term.ops("SYNCED").await);
    assert!(synced.contains(sale["client_op_id"].as_str().unwrap()) && synced.contains(end["client_op_id"].as_str().unwrap()));

    // Exactly the new sale on the server; the refused ones stayed refused.
    let sales = shop.sales().await;
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(sales[0]["receipt_no"], sale["receipt"]["receipt_no"]);
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START - 18 * 3);
    assert_eq!(shop.on_hand(shop.milk).await, MILK_START - 150 * 3);
    let cs = shop.get(&format!("/v1/cash-sessions/{session}")).await;
    assert_eq!(cs["expected_cash_cents"], json!(4000 + 900), "{cs}");
    let shifts = shop.get(&format!("/v1/attendance?branch_id={}", shop.branch)).await;
    let shifts = shifts["shifts"].as_array().unwrap().clone();
    assert_eq!(shifts.len(), 1, "{shifts:?}");
    assert_eq!(shifts[0]["status"], json!("closed"), "{shifts:?}");
    let report = shop.get(&format!("/v1/sync/failures?branch_id={}", shop.branch)).await;
    assert_eq!(ids(report["failures"].as_array().unwrap()), ids(&offline), "no new failures, no retries: {report}");
    let failed = term.ops("FAILED").await;
    assert!(failed.iter().all(|f| f["code"] == json!("BRANCH_FROZEN")), "{failed:?}");
}

/// While the terminal is online it learns a freeze from the nudge, and refuses writes
/// itself; a refused write leaves nothing behind (no op, no counter moved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_frozen_branch_refuses_writes_locally() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.manager, MANAGER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await;
    term.wait_for("open synced", 20, |s| s["pending"] == json!(0) && s["synced"] == json!(1)).await;

    let (s, _) = shop.post(&format!("/v1/branches/{}/freeze", shop.branch), json!({})).await;
    assert_eq!(s, 200);
    let st = term.wait_for("freeze pulled", 20, |s| s["branch_status"] == json!("frozen")).await;
    assert_eq!(st["online"], json!(true), "{st}");

    assert_refused_frozen(&term, "/api/sales", lattes(&shop, 1)).await;
    assert_refused_frozen(&term, "/api/cash-sessions/movement", json!({"kind": "adjustment", "amount_cents": -50, "reason": "r"}))
        .await;
    assert_refused_frozen(&term, "/api/cash-sessions/close", json!({"counted_cash_cents": 1000})).await;
    assert_refused_frozen(&term, "/api/attendance/start", json!({})).await;
    assert_refused_frozen(&term, "/api/attendance/start", json!({"staff_id": shop.cashier})).await;
    // Also when offline with the freeze cached.
    proxy.set(Mode::Cut);
    term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;
    assert_refused_frozen(&term, "/api/sales", lattes(&shop, 2)).await;
    let all = term.ops("").await;
    assert_eq!(all.len(), 1, "refusals queue nothing: {all:?}");

    proxy.set(Mode::Up);
    let (s, _) = shop.post(&format!("/v1/branches/{}/unfreeze", shop.branch), json!({})).await;
    assert_eq!(s, 200);
    term.wait_for("unfreeze pulled", 30, |s| s["branch_status"] == json!("active") && s["online"] == json!(true)).await;
    let sale = term.act("/api/sales", lattes(&shop, 1)).await;
    assert_eq!(sale["device_seq"], json!(2), "no device_seq was used by the refusals: {sale}");
    assert!(sale["receipt"]["receipt_no"].as_str().unwrap().ends_with("-1"), "{sale}");
    term.wait_for("sale synced", 20, |s| s["pending"] == json!(0) && s["synced"] == json!(2)).await;
    assert_eq!(shop.sales().await.len(), 1);
    assert!(shop.get(&format!("/v1/sync/failures?branch_id={}", shop.branch)).await["failures"].as_array().unwrap().is_empty());
}
