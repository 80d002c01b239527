//! The two-currency drawer (SPEC §3, §4, issue 21): a session holds dollars and riel,
//! each with its float, tender, change, movements, count and variance, plus the total
//! variance in cents at the rate of the policy when it closed. Shown by
//! `GET /v1/cash-sessions/{id}` and the pull feed. Amounts above the policy's caps are
//! applied and flagged in the audit.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::fixtures::*;

const FX_4100: &str = r#"{"khr_per_usd": 4100, "khr_rounding": 100}"#;

/// A sale as a new till sends it: at 4,100 ៛/$, with the change as given.
fn sale(ops: &mut OpBuilder, f: &Fx, s: Uuid, item: (Uuid, i64), usd: i64, khr: i64, change: (i64, i64)) -> Value {
    edit(ops.sale(f.cashier, s, &[(item.0, 1, item.1)], usd, khr), |p| {
        p["fx"] = serde_json::from_str(FX_4100).unwrap();
        p["change"] = json!({"usd_cents": change.0, "khr": change.1});
    })
}

fn open(ops: &mut OpBuilder, actor: Uuid, s: Uuid, float_cents: i64, float_khr: i64) -> Value {
    ops.raw("cashSession.open", actor, json!({"cash_session_id": s, "opening_float_cents": float_cents, "opening_float_khr": float_khr}))
}

fn riel_movement(ops: &mut OpBuilder, actor: Uuid, s: Uuid, kind: &str, khr: i64) -> Value {
    let payload = json!({"cash_session_id": s, "movement_id": Uuid::now_v7(), "kind": kind, "amount_khr": khr, "reason": "ice"});
    ops.raw("cashSession.movement", actor, payload)
}

fn close(ops: &mut OpBuilder, actor: Uuid, s: Uuid, counted_cents: i64, counted_khr: i64) -> Value {
    ops.raw("cashSession.close", actor, json!({"cash_session_id": s, "counted_cash_cents": counted_cents, "counted_khr": counted_khr}))
}

/// Float $20 + ៛40,000; a latte ($3) paid $5 with $2 back; an espresso ($2.50) paid
/// ៛20,000 with all its change in riel (៛9,700); a latte paid $1 + ៛10,000 with ៛1,800
/// back; ៛8,000 paid out and $10 paid in. Expected: $34.00 and ៛50,500.
async fn the_days_ops(f: &Fx, ops: &mut OpBuilder, s: Uuid) -> Vec<Value> {
    let ops = vec![
        open(ops, f.cashier, s, 2000, 40_000),
        sale(ops, f, s, (f.latte, LATTE_PRICE), 500, 0, (200, 0)),
        sale(ops, f, s, (f.espresso, ESPRESSO_PRICE), 0, 20_000, (0, 9_700)),
        sale(ops, f, s, (f.latte, LATTE_PRICE), 100, 10_000, (0, 1_800)),
        riel_movement(ops, f.cashier, s, "paid_out", 8_000),
        ops.movement(f.cashier, s, "paid_in", 1000),
    ];
    for res in f.push(&ops).await {
        applied(&res);
    }
    ops
}

#[tokio::test]
async fn a_session_in_dollars_and_riel_closes_with_no_variance_in_either() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    the_days_ops(&f, &mut ops, s).await;
    let open_view = f.session(s).await;
    assert_eq!((open_view["expected_cash_cents"].clone(), open_view["expected_khr"].clone()), (json!(3400), json!(50_500)), "{open_view}");
    assert_eq!(open_view["usd"], json!({"float": 2000, "tendered": 600, "change": 200, "paid_in": 1000, "paid_out": 0,
        "adjustments": 0, "refunds": 0, "expected": 3400, "counted": null, "variance": null}));
    assert_eq!(open_view["khr"], json!({"float": 40_000, "tendered": 30_000, "change": 11_500, "paid_in": 0, "paid_out": 8_000,
        "adjustments": 0, "refunds": 0, "expected": 50_500, "counted": null, "variance": null}));
    assert_eq!(open_view["variance_total_cents"], Value::Null);
    let res = f.push(&[close(&mut ops, f.cashier, s, 3400, 50_500)]).await;
    let result = applied(&res[0]);
    assert_eq!((result["variance_cents"].clone(), result["variance_khr"].clone(), result["variance_total_cents"].clone()),
               (json!(0), json!(0), json!(0)), "{result}");
    let v = f.session(s).await;
    for (field, want) in [
        ("status", json!("closed")), ("opening_float_cents", json!(2000)), ("expected_cash_cents", json!(3400)),
        ("counted_cash_cents", json!(3400)), ("variance_cents", json!(0)), ("opening_float_khr", json!(40_000)),
        ("expected_khr", json!(50_500)), ("counted_khr", json!(50_500)), ("variance_khr", json!(0)),
        ("variance_total_cents", json!(0)), ("close_khr_per_usd", json!(4100)),
    ] {
        assert_eq!(v[field], want, "{field} in {v}");
    }
    // The feed carries the same session to every till of the branch.
    let pulled = f.app.get(&format!("/v1/sync/pull?branch_id={}&scopes=cash_sessions", f.branch), &f.device_token).await;
    let changes = pulled.ok(200)["changes"].as_array().unwrap().clone();
    let fed = changes.iter().find(|c| c["id"] == json!(s)).expect("the session in the feed");
    assert_eq!(fed["data"]["khr"], v["khr"], "{fed}");
    assert_eq!(fed["data"]["variance_total_cents"], 0, "{fed}");
}

#[tokio::test]
async fn a_count_off_in_both_currencies_shows_each_variance_and_the_total() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    the_days_ops(&f, &mut ops, s).await;
    // 50 cents and ៛4,100 short: −$0.50 − $1.00 at the closing rate = −$1.50.
    let result = applied(&f.push(&[close(&mut ops, f.cashier, s, 3350, 46_400)]).await[0]);
    assert_eq!((result["variance_cents"].clone(), result["variance_khr"].clone(), result["variance_total_cents"].clone()),
               (json!(-50), json!(-4100), json!(-150)), "{result}");
    let v = f.session(s).await;
    assert_eq!((v["variance_cents"].clone(), v["variance_khr"].clone(), v["variance_total_cents"].clone()), (json!(-50), json!(-4100), json!(-150)));
    // The close's audit event holds the same figures.
    let audit = f.app.get(&format!("/v1/audit?branch_id={}", f.branch), &f.owner_token).await;
    let events = audit.ok(200)["events"].as_array().unwrap().clone();
    let close_event = events.iter().find(|e| e["action"] == "close").expect("the close's event");
    assert_eq!(close_event["details"]["variance_total_cents"], -150, "{close_event}");
}

/// The total variance is taken at the policy's rate when the session closed, whatever it
/// was when it opened.
#[tokio::test]
async fn the_total_variance_is_at_the_rate_of_the_close() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    applied(&f.push(&[open(&mut ops, f.cashier, s, 0, 0)]).await[0]);
    f.app.put("/v1/policy", &f.owner_token, json!({"khr_per_usd": 4000})).await.ok(200);
    let result = applied(&f.push(&[close(&mut ops, f.cashier, s, 0, 8_000)]).await[0]);
    assert_eq!((result["variance_khr"].clone(), result["variance_total_cents"].clone()), (json!(8000), json!(200)), "{result}");
}

#[tokio::test]
async fn a_riel_paid_out_is_held_to_the_dollar_limit_at_the_policy_rate() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    applied(&f.push(&[open(&mut ops, f.cashier, s, 0, 200_000)]).await[0]);
    // The limit is $20: ៛82,000 at 4,100. A cashier may pay out that much, not more.
    applied(&f.push(&[riel_movement(&mut ops, f.cashier, s, "paid_out", 82_000)]).await[0]);
    let msg = rejected(&f.push(&[riel_movement(&mut ops, f.cashier, s, "paid_out", 90_000)]).await[0], "FORBIDDEN");
    assert!(msg.contains("$20.00"), "{msg}");
    applied(&f.push(&[riel_movement(&mut ops, f.manager, s, "paid_out", 90_000)]).await[0]);
    // Riel adjustments need a manager too; a movement with both amounts or none is invalid.
    rejected(&f.push(&[riel_movement(&mut ops, f.cashier, s, "adjustment", -100)]).await[0], "FORBIDDEN");
    let both = edit(riel_movement(&mut ops, f.cashier, s, "paid_in", 100), |p| p["amount_cents"] = json!(100));
    assert!(rejected(&f.push(&[both]).await[0], "VALIDATION_FAILED").contains("amount_khr"));
    let v = f.session(s).await;
    assert_eq!(v["khr"]["paid_out"], 172_000, "{v}");
    assert_eq!(v["expected_khr"], 28_000, "{v}");
}

#[tokio::test]
async fn amounts_above_the_caps_are_applied_and_flagged_in_the_audit() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    // Caps $200 tender and $500 float (the defaults). $400 + ៛820,000 ($200) of float.
    applied(&f.push(&[open(&mut ops, f.cashier, s, 40_000, 820_000)]).await[0]);
    let big = sale(&mut ops, &f, s, (f.latte, LATTE_PRICE), 30_000, 0, (29_700, 0));
    let small = sale(&mut ops, &f, s, (f.latte, LATTE_PRICE), 500, 0, (200, 0));
    for res in f.push(&[big.clone(), small.clone()]).await {
        applied(&res);
    }
    let audit = f.app.get(&format!("/v1/audit?branch_id={}", f.branch), &f.owner_token).await;
    let events = audit.ok(200)["events"].as_array().unwrap().clone();
    let of = |id: &Value| events.iter().find(|e| &e["client_op_id"] == id).cloned().expect("an event");
    let open_event = events.iter().find(|e| e["action"] == "open").expect("the open's event");
    assert_eq!(open_event["details"]["over_cap"], json!({"cap": "max_float_cents", "amount_cents": 60_000, "cap_cents": 50_000}));
    assert_eq!(of(&big["client_op_id"])["details"]["over_cap"], json!({"cap": "max_tender_cents", "amount_cents": 30_000, "cap_cents": 20_000}));
    assert!(of(&small["client_op_id"])["details"].get("over_cap").is_none());
    // The caps are policy fields: raised, the same tender is no longer flagged.
    let policy = f.app.put("/v1/policy", &f.owner_token, json!({"max_tender_cents": 50_000, "blind_close": false})).await;
    let policy = policy.ok(200).clone();
    assert_eq!((policy["max_tender_cents"].clone(), policy["max_float_cents"].clone(), policy["blind_close"].clone()),
               (json!(50_000), json!(50_000), json!(false)), "{policy}");
    let again = sale(&mut ops, &f, s, (f.latte, LATTE_PRICE), 30_000, 0, (29_700, 0));
    applied(&f.push(std::slice::from_ref(&again)).await[0]);
    let audit = f.app.get(&format!("/v1/audit?branch_id={}", f.branch), &f.owner_token).await;
    let events = audit.ok(200)["events"].as_array().unwrap().clone();
    let event = events.iter().find(|e| e["client_op_id"] == again["client_op_id"]).expect("an event");
    assert!(event["details"].get("over_cap").is_none(), "{event}");
    let bad = f.app.put("/v1/policy", &f.owner_token, json!({"max_float_cents": 0})).await;
    assert_eq!(bad.status, 422);
}

/// Sends `op` through the direct lane with the device token, keyed by its id.
async fn online(f: &Fx, op: &Value) -> crate::common::Resp {
    let session = op["payload"]["cash_session_id"].as_str().unwrap();
    let path = match op["type"].as_str().unwrap() {
        "cashSession.open" => "/v1/cash-sessions".to_string(),
        "cashSession.movement" => format!("/v1/cash-sessions/{session}/movements"),
        _ => format!("/v1/cash-sessions/{session}/close"),
    };
    let mut body = op.clone();
    for k in ["client_op_id", "type", "payload_hash"] {
        body.as_object_mut().unwrap().remove(k);
    }
    let req = f.app.client.post(format!("{}{}", f.app.base, path)).bearer_auth(&f.device_token).json(&body);
    let req = req.header("Idempotency-Key", op["client_op_id"].as_str().unwrap());
    crate::common::TestApp::read(req.send().await.expect("request")).await
}

/// The direct lane takes the same two-currency payloads.
#[tokio::test]
async fn the_direct_lane_opens_moves_and_closes_in_both_currencies() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    let r = online(&f, &open(&mut ops, f.cashier, s, 1000, 20_000)).await;
    assert_eq!(r.ok(201)["expected_khr"], 20_000);
    let r = online(&f, &riel_movement(&mut ops, f.cashier, s, "paid_in", 5_000)).await;
    assert_eq!(r.ok(201)["expected_khr"], 25_000);
    let r = online(&f, &close(&mut ops, f.cashier, s, 1000, 25_100)).await;
    let r = r.ok(201).clone();
    // ៛100 over at 4,100 is 2.4 cents: 2.
    assert_eq!((r["variance_khr"].clone(), r["variance_total_cents"].clone()), (json!(100), json!(2)), "{r}");
}
