//! The direct online lane (spec §5.2): `POST /v1/sales`, `/v1/cash-sessions`,
//! `/v1/cash-sessions/{id}/movements`, `/v1/cash-sessions/{id}/close`,
//! `/v1/attendance/start` and `/end`, each keyed by `Idempotency-Key` (= the op's
//! `client_op_id`, one key space with push, §5.1).
//!
//! Ops are built with the fixture's `OpBuilder` (so the same op can also be pushed) and sent
//! online as the op without `client_op_id`, `type` and `payload_hash`, keyed by its id.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{Resp, TestApp};
use crate::fixtures::*;

const REPLAYED: &str = "Idempotent-Replayed";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn ts(v: &Value) -> DateTime<Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("not RFC 3339 {s:?}: {e}")).with_timezone(&Utc)
}

/// The online endpoint of an op (by its type; cash ops by the payload's session id).
fn path_of(op: &Value) -> String {
    let session = op["payload"]["cash_session_id"].as_str().unwrap_or("none");
    match op["type"].as_str().expect("type") {
        "sale.finalize" => "/v1/sales".to_string(),
        "cashSession.open" => "/v1/cash-sessions".to_string(),
        "cashSession.movement" => format!("/v1/cash-sessions/{session}/movements"),
        "cashSession.close" => format!("/v1/cash-sessions/{session}/close"),
        "attendance.startWork" => "/v1/attendance/start".to_string(),
        "attendance.endWork" => "/v1/attendance/end".to_string(),
        other => panic!("no online endpoint for {other}"),
    }
}

/// The online body of an op: the op without `client_op_id`, `type` and `payload_hash`.
fn body_of(op: &Value) -> Value {
    let mut b = op.clone();
    let m = b.as_object_mut().expect("op object");
    m.remove("client_op_id");
    m.remove("type");
    m.remove("payload_hash");
    b
}

/// `POST path` with any token, optional `Idempotency-Key` and a JSON body.
async fn post_keyed(fx: &Fx, token: &str, path: &str, key: Option<&str>, body: &Value) -> Resp {
    let mut req = fx.app.client.post(format!("{}{}", fx.app.base, path)).bearer_auth(token).json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    TestApp::read(req.send().await.expect("request")).await
}

/// `POST path` with a raw body (for malformed JSON).
async fn post_raw(fx: &Fx, path: &str, key: &str, body: &'static str) -> Resp {
    let req = fx
        .app
        .client
        .post(format!("{}{}", fx.app.base, path))
        .bearer_auth(&fx.device_token)
        .header("Idempotency-Key", key)
        .header("content-type", "application/json")
        .body(body);
    TestApp::read(req.send().await.expect("request")).await
}

/// Sends `op` online with the Main device token, keyed by its `client_op_id`.
async fn send(fx: &Fx, op: &Value) -> Resp {
    send_as(fx, &fx.device_token, op).await
}

async fn send_as(fx: &Fx, token: &str, op: &Value) -> Resp {
    let key = op_id(op).to_string();
    post_keyed(fx, token, &path_of(op), Some(&key), &body_of(op)).await
}

fn replay_header(r: &Resp) -> Option<String> {
    r.headers.get(REPLAYED).map(|v| v.to_str().unwrap_or("<non-ascii>").to_string())
}

fn is_replay(r: &Resp) -> bool {
    replay_header(r).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Asserts a fresh `201` (not a replay) with a JSON object body; returns the body.
#[track_caller]
fn created(r: &Resp) -> Value {
    assert_eq!(r.status, StatusCode::CREATED, "expected 201; body: {}", r.text);
    assert!(!is_replay(r), "a first answer is not a replay: {:?}", replay_header(r));
    assert!(r.content_type.starts_with("application/json"), "content type {:?}", r.content_type);
    assert!(r.body.is_object(), "201 carries the result object: {}", r.text);
    r.body.clone()
}

/// Asserts `201` with `Idempotent-Replayed: true` and exactly the stored result.
#[track_caller]
fn created_replay(r: &Resp, stored: &Value) {
    assert_eq!(r.status, StatusCode::CREATED, "expected a replayed 201; body: {}", r.text);
    assert!(is_replay(r), "a replay has {REPLAYED}: true, got {:?}", replay_header(r));
    assert_eq!(&r.body, stored, "a replay returns the stored result");
}

/// Asserts a fresh problem answer (not a replay); returns the body.
#[track_caller]
fn refused(r: &Resp, status: u16, code: &str) -> Value {
    r.problem(status, code);
    assert!(!is_replay(r), "a first answer is not a replay: {:?}", replay_header(r));
    r.body.clone()
}

/// Asserts the stored problem again, with `Idempotent-Replayed: true`.
#[track_caller]
fn refused_replay(r: &Resp, status: u16, code: &str, first: &Value) {
    r.problem(status, code);
    assert!(is_replay(r), "a stored rejection comes back with {REPLAYED}: true, got {:?}", replay_header(r));
    assert_eq!(&r.body, first, "a replay returns the identical problem");
}

/// Asserts a 400 that is not a stored outcome (never a replay).
#[track_caller]
fn bad_request(r: &Resp, code: &str) {
    r.problem(400, code);
    assert!(!is_replay(r), "{:?}", replay_header(r));
}

/// Opens a cash session online for the Main device; returns its id.
async fn open_online(fx: &Fx, ops: &mut OpBuilder, float_cents: i64) -> Uuid {
    let s = Uuid::now_v7();
    created(&send(fx, &ops.open(fx.cashier, s, float_cents)).await);
    s
}

// ---------------------------------------------------------------------------------------
// Each endpoint, with its effects
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sale_online_is_201_with_its_result_and_takes_stock_and_cash() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 5000).await;
    // 2 × 300 + 250 = 850; paid with $10 → 150 cents change = 6,150 riel → 6,200.
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 2, LATTE_PRICE), (fx.espresso, 1, ESPRESSO_PRICE)], 1000, 0);
    let r = send(&fx, &sale).await;
    let res = created(&r);
    assert_eq!(res["sale_id"], sale["payload"]["sale_id"], "{res}");
    assert_eq!(res["receipt_no"], sale["payload"]["receipt_no"], "{res}");
    assert_eq!(res["total_cents"], 850, "{res}");
    assert_eq!(res["change_cents"], 150, "{res}");
    assert_eq!(res["change_khr"], 6200, "{res}");
    assert_eq!(res["price_drift_cents"], 0, "{res}");
    assert_eq!(res["items_not_on_menu"], json!([]), "{res}");

    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - 2 * LATTE_BEANS - ESPRESSO_BEANS);
    assert_eq!(fx.on_hand(fx.milk).await, MILK_STOCK - 2 * LATTE_MILK);
    let cs = fx.session(s).await;
    assert_eq!(cs["status"], "open");
    assert_eq!(cs["expected_cash_cents"], 5000 + 850);

    let sales = fx.sales().await;
    assert_eq!(sales.len(), 1, "{sales:?}");
    let row = find(&sales, "sale_id", pid(&sale, "sale_id"));
    assert_eq!(row["receipt_no"], sale["payload"]["receipt_no"]);
    assert_eq!(row["total_cents"], 850);
    assert_eq!(row["device_id"], fx.device.to_string());
    assert_eq!(ts(&row["occurred_at"]), ts(&sale["occurred_at"]));
}

#[tokio::test]
async fn cash_session_open_movements_and_close_online() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000);
    assert_eq!(path_of(&open), "/v1/cash-sessions");
    let r = created(&send(&fx, &open).await);
    assert_eq!(r["cash_session_id"], s.to_string(), "{r}");
    let cs = fx.session(s).await;
    assert_eq!(cs["id"], s.to_string());
    assert_eq!(cs["device_id"], fx.device.to_string());
    assert_eq!(cs["status"], "open");
    assert_eq!(cs["opening_float_cents"], 1000);
    assert_eq!(cs["expected_cash_cents"], 1000);

    // A paid-in with the session id in the payload (and the path).
    let paid_in = ops.movement(fx.cashier, s, "paid_in", 500);
    assert_eq!(path_of(&paid_in), format!("/v1/cash-sessions/{s}/movements"));
    let r = created(&send(&fx, &paid_in).await);
    assert_eq!(r["cash_session_id"], s.to_string(), "{r}");
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1500);

    // A paid-out without it in the payload: the server takes it from the path.
    let mut paid_out = body_of(&ops.movement(fx.cashier, s, "paid_out", 200));
    paid_out["payload"].as_object_mut().unwrap().remove("cash_session_id");
    let key = Uuid::now_v7().to_string();
    let path = format!("/v1/cash-sessions/{s}/movements");
    let r = post_keyed(&fx, &fx.device_token, &path, Some(&key), &paid_out).await;
    let stored = created(&r);
    assert_eq!(stored["cash_session_id"], s.to_string(), "{stored}");
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1300);
    created_replay(&post_keyed(&fx, &fx.device_token, &path, Some(&key), &paid_out).await, &stored);

    // A manager's adjustment.
    created(&send(&fx, &ops.movement(fx.manager, s, "adjustment", -100)).await);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1200);

    // Close without the id in the payload, counting 10 cents short.
    let mut close = body_of(&ops.close(fx.cashier, s, 1190));
    close["payload"].as_object_mut().unwrap().remove("cash_session_id");
    let key = Uuid::now_v7().to_string();
    let r = post_keyed(&fx, &fx.device_token, &format!("/v1/cash-sessions/{s}/close"), Some(&key), &close).await;
    let res = created(&r);
    assert_eq!(res["cash_session_id"], s.to_string(), "{res}");
    assert_eq!(res["expected_cash_cents"], 1200, "{res}");
    assert_eq!(res["counted_cash_cents"], 1190, "{res}");
    assert_eq!(res["variance_cents"], -10, "{res}");
    let cs = fx.session(s).await;
    assert_eq!(cs["status"], "closed");
    assert_eq!(cs["expected_cash_cents"], 1200);
    assert_eq!(cs["counted_cash_cents"], 1190);
    assert_eq!(cs["variance_cents"], -10);
}

#[tokio::test]
async fn payload_session_id_other_than_the_paths_is_400_and_not_stored() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 1000).await;
    let other = Uuid::now_v7();
    let paid_in = ops.movement(fx.cashier, s, "paid_in", 100);
    let key = op_id(&paid_in).to_string();
    let r = post_keyed(&fx, &fx.device_token, &format!("/v1/cash-sessions/{other}/movements"), Some(&key), &body_of(&paid_in)).await;
    bad_request(&r, "BAD_REQUEST");
    let close = ops.close(fx.cashier, s, 1000);
    let ckey = op_id(&close).to_string();
    let r = post_keyed(&fx, &fx.device_token, &format!("/v1/cash-sessions/{other}/close"), Some(&ckey), &body_of(&close)).await;
    bad_request(&r, "BAD_REQUEST");
    let cs = fx.session(s).await;
    assert_eq!((cs["status"].clone(), cs["expected_cash_cents"].clone()), (json!("open"), json!(1000)));
    // Not stored: the same keys with the right paths apply afresh.
    created(&send(&fx, &paid_in).await);
    created(&send(&fx, &close).await);
    let cs = fx.session(s).await;
    assert_eq!(cs["status"], "closed");
    assert_eq!(cs["expected_cash_cents"], 1100);
    assert_eq!(fx.failures().await, Vec::<Value>::new());
}

#[tokio::test]
async fn attendance_start_and_end_online() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let start = ops.start_work(fx.cashier, fx.cashier);
    let shift = pid(&start, "shift_id");
    let r = created(&send(&fx, &start).await);
    assert_eq!(r["shift_id"], shift.to_string(), "{r}");
    let shifts = fx.shifts().await;
    assert_eq!(shifts.len(), 1, "{shifts:?}");
    let sh = find(&shifts, "shift_id", shift);
    assert_eq!(sh["staff_id"], fx.cashier.to_string());
    assert_eq!(sh["status"], "open");
    assert_eq!(ts(&sh["started_at"]), ts(&start["occurred_at"]));
    assert_eq!(sh["ended_at"], Value::Null);

    let end = ops.end_work(fx.cashier, fx.cashier, shift);
    let r = created(&send(&fx, &end).await);
    assert_eq!(r["shift_id"], shift.to_string(), "{r}");
    let shifts = fx.shifts().await;
    let sh = find(&shifts, "shift_id", shift);
    assert_eq!(sh["status"], "closed");
    assert_eq!(ts(&sh["ended_at"]), ts(&end["occurred_at"]));
}

#[tokio::test]
async fn attendance_online_with_the_staff_members_own_token() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let token = fx.app.login(fx.tenant, fx.manager).await;
    let start = ops.start_work(fx.manager, fx.manager);
    let shift = pid(&start, "shift_id");
    created(&send_as(&fx, &token, &start).await);
    assert_eq!(find(&fx.shifts().await, "shift_id", shift)["status"], "open");
    let end = ops.end_work(fx.manager, fx.manager, shift);
    created(&send_as(&fx, &token, &end).await);
    assert_eq!(find(&fx.shifts().await, "shift_id", shift)["status"], "closed");
}

#[tokio::test]
async fn cash_ops_online_need_a_device_token() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let cashier_token = fx.app.token_in_store(fx.tenant, fx.cashier).await;
    for token in [&fx.owner_token, &cashier_token] {
        let r = send_as(&fx, token, &ops.open(fx.cashier, s, 1000)).await;
        r.problem(403, "FORBIDDEN");
    }
    let r = fx.app.get(&format!("/v1/cash-sessions/{s}"), &fx.owner_token).await;
    r.problem(404, "NOT_FOUND");
    // The device may.
    created(&send(&fx, &ops.open(fx.cashier, s, 1000)).await);
    let r = send_as(&fx, &fx.owner_token, &ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0)).await;
    r.problem(403, "FORBIDDEN");
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK);
}

// ---------------------------------------------------------------------------------------
// Idempotency: replays, keys, mismatches
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn repeat_with_the_same_key_and_body_is_replayed_and_applied_once() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 1000).await;
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let first = created(&send(&fx, &sale).await);
    assert_eq!(first["total_cents"], LATTE_PRICE);
    assert_eq!(first["change_cents"], 200);
    created_replay(&send(&fx, &sale).await, &first);
    created_replay(&send(&fx, &sale).await, &first);
    // occurred_at and device_seq are not hashed: still a replay.
    let mut later = sale.clone();
    later["occurred_at"] = json!("2026-01-01T09:00:00Z");
    later["device_seq"] = json!(ops.seq + 50);
    created_replay(&send(&fx, &later).await, &first);

    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - LATTE_BEANS);
    assert_eq!(fx.on_hand(fx.milk).await, MILK_STOCK - LATTE_MILK);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + LATTE_PRICE);
}

#[tokio::test]
async fn missing_or_non_uuid_idempotency_key_is_400_and_applies_nothing() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 1000).await;
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let start = ops.start_work(fx.cashier, fx.cashier);
    for op in [&sale, &start] {
        let r = post_keyed(&fx, &fx.device_token, &path_of(op), None, &body_of(op)).await;
        bad_request(&r, "IDEMPOTENCY_KEY_MISSING");
        for bad in ["not-a-uuid", "12345", ""] {
            let r = post_keyed(&fx, &fx.device_token, &path_of(op), Some(bad), &body_of(op)).await;
            bad_request(&r, "IDEMPOTENCY_KEY_MISSING");
        }
    }
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.shifts().await, Vec::<Value>::new());
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000);
    // With a key, both apply.
    created(&send(&fx, &sale).await);
    created(&send(&fx, &start).await);
    assert_eq!(fx.sales().await.len(), 1);
}

#[tokio::test]
async fn malformed_body_is_400_and_not_stored() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 1000).await;
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let key = op_id(&sale).to_string();
    bad_request(&post_raw(&fx, "/v1/sales", &key, "{\"tenant_id\": ").await, "BAD_REQUEST");
    bad_request(&post_raw(&fx, "/v1/sales", &key, "[1,2]").await, "BAD_REQUEST");
    for field in ["payload", "actor_id"] {
        let mut body = body_of(&sale);
        body.as_object_mut().unwrap().remove(field);
        let r = post_keyed(&fx, &fx.device_token, "/v1/sales", Some(&key), &body).await;
        bad_request(&r, "BAD_REQUEST");
    }
    let mut bad_actor = body_of(&sale);
    bad_actor["actor_id"] = json!("nobody");
    bad_request(&post_keyed(&fx, &fx.device_token, "/v1/sales", Some(&key), &bad_actor).await, "BAD_REQUEST");
    let start = ops.start_work(fx.cashier, fx.cashier);
    bad_request(&post_raw(&fx, "/v1/attendance/start", &op_id(&start).to_string(), "not json").await, "BAD_REQUEST");
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.failures().await, Vec::<Value>::new());
    // Nothing was stored under the keys: the good bodies apply afresh.
    let r = created(&send(&fx, &sale).await);
    assert_eq!(r["sale_id"], sale["payload"]["sale_id"]);
    created(&send(&fx, &start).await);
    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(fx.shifts().await.len(), 1);
}

#[tokio::test]
async fn same_key_other_body_is_422_payload_mismatch_and_the_stored_op_is_untouched() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 1000).await;
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let stored = created(&send(&fx, &sale).await);
    let key = op_id(&sale).to_string();

    // Other payload: another receipt; two lattes paid in full.
    let other_receipt = edit(sale.clone(), |p| p["receipt_no"] = json!("X-99"));
    let two_lattes = edit(sale.clone(), |p| {
        p["lines"][0]["qty"] = json!(2);
        p["totals"] = json!({"subtotal_cents": 600, "vat_cents": 55, "total_cents": 600});
        p["tender"]["cash_usd_cents"] = json!(1000);
    });
    // Other actor.
    let mut other_actor = sale.clone();
    other_actor["actor_id"] = json!(fx.cashier2);
    for op in [&other_receipt, &two_lattes, &other_actor] {
        let r = send(&fx, op).await;
        refused(&r, 422, "PAYLOAD_MISMATCH");
    }
    // Other type: the same body to another endpoint.
    let r = post_keyed(&fx, &fx.device_token, "/v1/cash-sessions", Some(&key), &body_of(&sale)).await;
    refused(&r, 422, "PAYLOAD_MISMATCH");
    let r = post_keyed(&fx, &fx.device_token, "/v1/attendance/start", Some(&key), &body_of(&ops.start_work(fx.cashier, fx.cashier))).await;
    refused(&r, 422, "PAYLOAD_MISMATCH");

    // Untouched: the original body replays the original result; applied once.
    created_replay(&send(&fx, &sale).await, &stored);
    let sales = fx.sales().await;
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(sales[0]["receipt_no"], sale["payload"]["receipt_no"]);
    assert_eq!(sales[0]["total_cents"], LATTE_PRICE);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - LATTE_BEANS);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + LATTE_PRICE);
    assert_eq!(fx.shifts().await, Vec::<Value>::new());

    // A stored rejection is untouched too.
    let short = ops.sale(fx.cashier, s, &[(fx.espresso, 1, ESPRESSO_PRICE)], 100, 0);
    let first = refused(&send(&fx, &short).await, 409, "INSUFFICIENT_TENDER");
    let paid_now = edit(short.clone(), |p| p["tender"]["cash_usd_cents"] = json!(1000));
    refused(&send(&fx, &paid_now).await, 422, "PAYLOAD_MISMATCH");
    refused_replay(&send(&fx, &short).await, 409, "INSUFFICIENT_TENDER", &first);
    assert_eq!(fx.sales().await.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Business rejections: status codes, stored and replayed, listed as failures
// ---------------------------------------------------------------------------------------

/// Asserts the failures report lists `op` (sent online by `device`) with `code`.
#[track_caller]
fn listed(failures: &[Value], op: &Value, code: &str, device: Uuid) {
    let f = find(failures, "client_op_id", op_id(op));
    assert_eq!(f["code"], code, "{f}");
    assert_eq!(f["type"], op["type"], "{f}");
    assert_eq!(f["actor_id"], op["actor_id"], "{f}");
    assert_eq!(f["device_id"], device.to_string(), "{f}");
    assert!(!f["message"].as_str().unwrap_or("").is_empty(), "{f}");
    assert_eq!(ts(&f["occurred_at"]), ts(&op["occurred_at"]), "{f}");
    ts(&f["recorded_at"]);
    if let Some(lane) = f.get("lane") {
        assert_eq!(lane, "online", "{f}");
    }
}

#[tokio::test]
async fn forbidden_is_403_stored_replayed_and_listed() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 10_000).await;
    let nobody = Uuid::now_v7();
    let cases = vec![
        ops.sale(nobody, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.sale(fx.other_cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.movement(fx.cashier, s, "adjustment", 50),
        ops.movement(fx.cashier, s, "paid_out", 2001),
        ops.start_work(fx.cashier, fx.manager),
        ops.start_work(nobody, nobody),
    ];
    let mut firsts = Vec::new();
    for op in &cases {
        firsts.push(refused(&send(&fx, op).await, 403, "FORBIDDEN"));
    }
    for (op, first) in cases.iter().zip(&firsts) {
        refused_replay(&send(&fx, op).await, 403, "FORBIDDEN", first);
    }
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.shifts().await, Vec::<Value>::new());
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 10_000);
    let failures = fx.failures().await;
    assert_eq!(failures.len(), cases.len(), "each rejection listed once: {failures:?}");
    for op in &cases {
        listed(&failures, op, "FORBIDDEN", fx.device);
    }
}

#[tokio::test]
async fn frozen_branch_is_423_stored_and_replayed_after_unfreezing() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 1000).await;
    fx.freeze(true).await;
    let cases = vec![
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.movement(fx.cashier, s, "paid_in", 100),
        ops.close(fx.cashier, s, 1000),
        ops.start_work(fx.cashier, fx.cashier),
        ops.open(fx.cashier, Uuid::now_v7(), 0),
    ];
    let mut firsts = Vec::new();
    for op in &cases {
        firsts.push(refused(&send(&fx, op).await, 423, "BRANCH_FROZEN"));
    }
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.shifts().await, Vec::<Value>::new());
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK);
    let cs = fx.session(s).await;
    assert_eq!((cs["status"].clone(), cs["expected_cash_cents"].clone()), (json!("open"), json!(1000)));

    // The stored outcome stays after unfreezing; new keys apply.
    fx.freeze(false).await;
    for (op, first) in cases.iter().zip(&firsts) {
        refused_replay(&send(&fx, op).await, 423, "BRANCH_FROZEN", first);
    }
    let failures = fx.failures().await;
    for op in &cases {
        listed(&failures, op, "BRANCH_FROZEN", fx.device);
    }
    created(&send(&fx, &ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0)).await);
    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + LATTE_PRICE);
}

#[tokio::test]
async fn prerequisites_are_409_stored_and_replayed() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let latte = [(fx.latte, 1, LATTE_PRICE)];
    let unknown = Uuid::now_v7();
    let mut expect: Vec<(Value, &str, Value)> = Vec::new();

    let no_session = ops.sale(fx.cashier, unknown, &latte, 500, 0);
    expect.push((no_session.clone(), "NO_OPEN_CASH_SESSION", refused(&send(&fx, &no_session).await, 409, "NO_OPEN_CASH_SESSION")));
    let s = open_online(&fx, &mut ops, 1000).await;
    let second_open = ops.open(fx.cashier, Uuid::now_v7(), 500);
    expect.push((second_open.clone(), "CASH_SESSION_ALREADY_OPEN", refused(&send(&fx, &second_open).await, 409, "CASH_SESSION_ALREADY_OPEN")));
    let short = ops.sale(fx.cashier, s, &latte, 299, 0);
    expect.push((short.clone(), "INSUFFICIENT_TENDER", refused(&send(&fx, &short).await, 409, "INSUFFICIENT_TENDER")));
    created(&send(&fx, &ops.close(fx.cashier, s, 1000)).await);
    let after_close = ops.movement(fx.cashier, s, "paid_in", 100);
    expect.push((after_close.clone(), "CASH_SESSION_CLOSED", refused(&send(&fx, &after_close).await, 409, "CASH_SESSION_CLOSED")));
    created(&send(&fx, &ops.start_work(fx.cashier, fx.cashier)).await);
    let second_start = ops.start_work(fx.cashier, fx.cashier);
    expect.push((second_start.clone(), "SHIFT_ALREADY_OPEN", refused(&send(&fx, &second_start).await, 409, "SHIFT_ALREADY_OPEN")));
    let no_shift = ops.end_work(fx.cashier2, fx.cashier2, Uuid::now_v7());
    expect.push((no_shift.clone(), "NO_OPEN_SHIFT", refused(&send(&fx, &no_shift).await, 409, "NO_OPEN_SHIFT")));

    for (op, code, first) in &expect {
        refused_replay(&send(&fx, op).await, 409, code, first);
    }
    let failures = fx.failures().await;
    assert_eq!(failures.len(), expect.len(), "{failures:?}");
    for (op, code, _) in &expect {
        listed(&failures, op, code, fx.device);
    }
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.shifts().await.len(), 1);
    let cs = fx.session(s).await;
    assert_eq!((cs["status"].clone(), cs["expected_cash_cents"].clone()), (json!("closed"), json!(1000)));
}

#[tokio::test]
async fn validation_failed_is_422_naming_the_field() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 1000).await;
    let cases: Vec<(Value, &str)> = vec![
        (ops.open(fx.cashier, Uuid::now_v7(), -1), "opening_float_cents"),
        (edit(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), |p| p["receipt_no"] = json!("")), "receipt_no"),
        (edit(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), |p| p["totals"]["total_cents"] = json!(299)), "totals.total_cents"),
        (ops.movement(fx.cashier, s, "paid_in", 0), "amount_cents"),
        (ops.movement(fx.cashier, s, "bribe", 100), "kind"),
        (ops.close(fx.cashier, s, -5), "counted_cash_cents"),
        (edit(ops.start_work(fx.cashier, fx.cashier), |p| p["shift_id"] = json!("nope")), "shift_id"),
    ];
    let mut firsts = Vec::new();
    for (op, field) in &cases {
        let r = send(&fx, op).await;
        let b = refused(&r, 422, "VALIDATION_FAILED");
        let got = b["field"].as_str().unwrap_or_else(|| panic!("VALIDATION_FAILED names the field {field}: {b}"));
        assert!(got.contains(field), "field {got:?} names {field:?}: {b}");
        firsts.push(b);
    }
    for ((op, _), first) in cases.iter().zip(&firsts) {
        refused_replay(&send(&fx, op).await, 422, "VALIDATION_FAILED", first);
    }
    let failures = fx.failures().await;
    for (op, _) in &cases {
        listed(&failures, op, "VALIDATION_FAILED", fx.device);
    }
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    let cs = fx.session(s).await;
    assert_eq!((cs["status"].clone(), cs["expected_cash_cents"].clone()), (json!("open"), json!(1000)));
}

#[tokio::test]
async fn dependency_failed_and_missing_are_409() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let bad_open = ops.open(fx.cashier, s, -1);
    refused(&send(&fx, &bad_open).await, 422, "VALIDATION_FAILED");
    let dependent = depends(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), &[&bad_open]);
    let first = refused(&send(&fx, &dependent).await, 409, "DEPENDENCY_FAILED");
    refused_replay(&send(&fx, &dependent).await, 409, "DEPENDENCY_FAILED", &first);
    let mut missing = ops.start_work(fx.cashier, fx.cashier);
    missing["depends_on"] = json!([Uuid::now_v7()]);
    let first = refused(&send(&fx, &missing).await, 409, "DEPENDENCY_MISSING");
    refused_replay(&send(&fx, &missing).await, 409, "DEPENDENCY_MISSING", &first);
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.shifts().await, Vec::<Value>::new());
    let failures = fx.failures().await;
    listed(&failures, &dependent, "DEPENDENCY_FAILED", fx.device);
    listed(&failures, &missing, "DEPENDENCY_MISSING", fx.device);
    // A dependency that was applied (online) is satisfied.
    let s2 = Uuid::now_v7();
    let open = ops.open(fx.cashier, s2, 100);
    created(&send(&fx, &open).await);
    let sale = depends(ops.sale(fx.cashier, s2, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), &[&open]);
    created(&send(&fx, &sale).await);
    assert_eq!(fx.session(s2).await["expected_cash_cents"], 100 + LATTE_PRICE);
}

// ---------------------------------------------------------------------------------------
// Concurrency: one key, twenty requests at once
// ---------------------------------------------------------------------------------------

/// Runs `body` on a 2-worker runtime; fails (instead of hanging the suite) if it has not
/// finished within `limit`, e.g. because the server wedged its worker threads.
fn run_with_deadline<F>(limit: std::time::Duration, body: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = rt.spawn(body);
    rt.spawn(async move {
        let _ = tx.send(handle.await);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => panic!("test task failed: {e}"),
        Err(_) => {
            rt.shutdown_background();
            panic!("no outcome within {limit:?}: the server stopped answering (deadlock?)");
        }
    }
}

#[test]
fn twenty_concurrent_requests_with_one_key_apply_once() {
    run_with_deadline(std::time::Duration::from_secs(120), twenty_concurrent_requests_with_one_key());
}

async fn twenty_concurrent_requests_with_one_key() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 1000).await;
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 2, LATTE_PRICE)], 1000, 0);
    let key = op_id(&sale).to_string();
    let body = body_of(&sale);
    let url = format!("{}/v1/sales", fx.app.base);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = fx.app.client.clone();
        let (url, key, body, token, barrier) = (url.clone(), key.clone(), body.clone(), fx.device_token.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let req = client.post(url).bearer_auth(token).header("Idempotency-Key", key).json(&body);
            barrier.wait().await;
            TestApp::read(req.send().await.expect("send")).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    let summary: Vec<String> = answers.iter().map(|r| format!("{} replay={:?} {}", r.status, replay_header(r), r.text)).collect();
    let fresh: Vec<&Resp> = answers.iter().filter(|r| r.status == StatusCode::CREATED && !is_replay(r)).collect();
    assert_eq!(fresh.len(), 1, "exactly one fresh 201: {summary:#?}");
    let stored = created(fresh[0]);
    assert_eq!(stored["total_cents"], 2 * LATTE_PRICE);
    assert_eq!(stored["change_cents"], 1000 - 2 * LATTE_PRICE);
    for r in &answers {
        if std::ptr::eq(r, fresh[0]) {
            continue;
        }
        match r.status.as_u16() {
            201 => created_replay(r, &stored),
            409 => {
                r.problem(409, "REQUEST_IN_FLIGHT");
            }
            _ => panic!("every other answer is a replayed 201 or 409 REQUEST_IN_FLIGHT: {summary:#?}"),
        }
    }
    // Afterwards: a replay.
    created_replay(&send(&fx, &sale).await, &stored);
    let sales = fx.sales().await;
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - 2 * LATTE_BEANS);
    assert_eq!(fx.on_hand(fx.milk).await, MILK_STOCK - 2 * LATTE_MILK);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + 2 * LATTE_PRICE);
}

// ---------------------------------------------------------------------------------------
// Audit and pull
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn audit_events_of_online_ops_say_lane_online() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let since = now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let s = Uuid::now_v7();
    let start = ops.start_work(fx.cashier, fx.cashier);
    let sent = vec![
        ops.open(fx.cashier, s, 1000),
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.movement(fx.cashier, s, "paid_in", 100),
        start.clone(),
        ops.end_work(fx.cashier, fx.cashier, pid(&start, "shift_id")),
        ops.close(fx.cashier, s, 1400),
    ];
    for op in &sent {
        created(&send(&fx, op).await);
    }
    // Replays write no new events.
    for op in &sent {
        assert!(is_replay(&send(&fx, op).await));
    }
    let events = fx.audit(&since).await;
    for op in &sent {
        let ev = find(&events, "client_op_id", op_id(op));
        assert_eq!(ev["lane"], "online", "{ev}");
        assert_eq!(ev["device_id"], fx.device.to_string(), "{ev}");
        assert_eq!(ev["actor_id"], op["actor_id"], "{ev}");
        assert!(!ev["module"].as_str().unwrap_or("").is_empty(), "{ev}");
        assert!(!ev["action"].as_str().unwrap_or("").is_empty(), "{ev}");
        assert_eq!(ts(&ev["occurred_at"]), ts(&op["occurred_at"]), "{ev}");
        ts(&ev["applied_at"]);
    }
    assert!(events.iter().all(|e| e["lane"] != "offline"), "nothing was pushed: {events:?}");
}

#[tokio::test]
async fn pull_shows_the_online_sale() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_online(&fx, &mut ops, 0).await;
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    created(&send(&fx, &sale).await);
    let path = format!("/v1/sync/pull?branch_id={}&scopes=sales", fx.branch);
    let r = fx.app.get(&path, &fx.device_token).await;
    let changes = r.ok(200)["changes"].as_array().unwrap_or_else(|| panic!("changes: {}", r.text)).clone();
    let c = find(&changes, "id", pid(&sale, "sale_id"));
    assert_eq!(c["scope"], "sales", "{c}");
    assert_eq!(c["entity"], "sale", "{c}");
    assert_eq!(c["deleted"], false, "{c}");
    assert_eq!(c["data"]["receipt_no"], sale["payload"]["receipt_no"], "{c}");
    assert_eq!(c["data"]["total_cents"], LATTE_PRICE, "{c}");
    // The cash session it went into shows too.
    let path = format!("/v1/sync/pull?branch_id={}&scopes=cash_sessions", fx.branch);
    let r = fx.app.get(&path, &fx.device_token).await;
    let changes = r.ok(200)["changes"].as_array().unwrap_or_else(|| panic!("changes: {}", r.text)).clone();
    let c = find(&changes, "id", s);
    assert_eq!(c["entity"], "cash_session", "{c}");
}

// ---------------------------------------------------------------------------------------
// Cross-lane: one key space with push
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn online_then_push_of_the_same_op_is_a_duplicate_with_the_online_result() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000);
    let open_result = created(&send(&fx, &open).await);
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let sale_result = created(&send(&fx, &sale).await);
    let short = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 100, 0);
    refused(&send(&fx, &short).await, 409, "INSUFFICIENT_TENDER");

    // The device replays its queue (these very ops, correctly hashed) through push.
    let res = fx.push(&[open.clone(), sale.clone(), short.clone()]).await;
    duplicate(&res[0], &open_result);
    duplicate(&res[1], &sale_result);
    rejected_replay(&res[2], "INSUFFICIENT_TENDER");

    // Another payload under the same id through push: PAYLOAD_MISMATCH.
    let other = edit(sale.clone(), |p| p["receipt_no"] = json!("X-1"));
    let res = fx.push(&[other]).await;
    rejected(&res[0], "PAYLOAD_MISMATCH");

    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - LATTE_BEANS);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + LATTE_PRICE);
    created_replay(&send(&fx, &sale).await, &sale_result);
}

#[tokio::test]
async fn push_then_online_of_the_same_op_is_a_replay_of_the_push_result() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000);
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let short = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 100, 0);
    let start = ops.start_work(fx.cashier, fx.cashier);
    let res = fx.push(&[open.clone(), sale.clone(), short.clone(), start.clone()]).await;
    let open_result = applied(&res[0]);
    let sale_result = applied(&res[1]);
    rejected(&res[2], "INSUFFICIENT_TENDER");
    let start_result = applied(&res[3]);

    created_replay(&send(&fx, &open).await, &open_result);
    created_replay(&send(&fx, &sale).await, &sale_result);
    created_replay(&send(&fx, &start).await, &start_result);
    let r = send(&fx, &short).await;
    r.problem(409, "INSUFFICIENT_TENDER");
    assert!(is_replay(&r), "a pushed rejection replays online: {:?}", replay_header(&r));

    // Another payload under a pushed id, online: 422.
    let other = edit(sale.clone(), |p| p["receipt_no"] = json!("X-1"));
    refused(&send(&fx, &other).await, 422, "PAYLOAD_MISMATCH");
    let mut other_actor = start.clone();
    other_actor["actor_id"] = json!(fx.manager);
    refused(&send(&fx, &other_actor).await, 422, "PAYLOAD_MISMATCH");

    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(fx.shifts().await.len(), 1);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - LATTE_BEANS);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + LATTE_PRICE);
    let res = fx.push(std::slice::from_ref(&sale)).await;
    duplicate(&res[0], &sale_result);
}
