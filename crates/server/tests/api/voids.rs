//! Voids and failure resolution (SPEC §4 `sale.void`, §5.1, §5.2, §5.6, issue 23): a
//! manager voids a sale online (its stock back, its refund out of an open session, once);
//! a refused sale is accepted into its own session, even closed, or dismissed.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{Resp, TestApp};
use crate::fixtures::*;

const FX_4100: &str = r#"{"khr_per_usd": 4100, "khr_rounding": 100}"#;

/// A latte ($3.00) paid $5 with $2 back, at 4,100 ៛/$.
fn latte_sale(f: &Fx, ops: &mut OpBuilder, actor: Uuid, s: Uuid) -> Value {
    edit(ops.sale(actor, s, &[(f.latte, 1, LATTE_PRICE)], 500, 0), |p| {
        p["fx"] = serde_json::from_str(FX_4100).unwrap();
        p["change"] = json!({"usd_cents": 200, "khr": 0});
    })
}

fn open(ops: &mut OpBuilder, actor: Uuid, s: Uuid) -> Value {
    ops.raw("cashSession.open", actor, json!({"cash_session_id": s, "opening_float_cents": 2000, "opening_float_khr": 40_000}))
}

/// `POST /v1/sales/{sale}/void` keyed by `key`, with `token`, acting as `actor`.
async fn void(f: &Fx, token: &str, key: Uuid, actor: Uuid, sale: &Value, session: Uuid, refund: Value) -> Resp {
    let sale_id = sale["payload"]["sale_id"].as_str().unwrap();
    let body = json!({"tenant_id": f.tenant, "branch_id": f.branch, "actor_id": actor, "occurred_at": chrono::Utc::now(),
                      "payload": {"cash_session_id": session, "reason": "wrong drink", "refund": refund}});
    let req = f.app.client.post(format!("{}/v1/sales/{sale_id}/void", f.app.base)).bearer_auth(token).json(&body);
    TestApp::read(req.header("Idempotency-Key", key.to_string()).send().await.expect("request")).await
}

/// The cashier opens a drawer and sells a latte at Main's till, both applied: the ops
/// builder, the session and the sale's op.
async fn a_latte_sold(f: &Fx) -> (OpBuilder, Uuid, Value) {
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    let opened = open(&mut ops, f.cashier, s);
    let sale = latte_sale(f, &mut ops, f.cashier, s);
    for r in f.push(&[opened, sale.clone()]).await {
        applied(&r);
    }
    (ops, s, sale)
}

async fn manager_token(f: &Fx) -> String {
    f.app.login(f.tenant, f.manager).await
}

#[tokio::test]
async fn a_void_returns_stock_and_cash_exactly_once() {
    let f = Fx::new().await;
    let (_, s, sale) = a_latte_sold(&f).await;
    assert_eq!((f.on_hand(f.beans).await, f.on_hand(f.milk).await), (BEANS_STOCK - LATTE_BEANS, MILK_STOCK - LATTE_MILK));
    let mt = manager_token(&f).await;
    let key = Uuid::now_v7();
    let r = void(&f, &mt, key, f.manager, &sale, s, json!({"usd_cents": 300, "khr": 0})).await;
    let result = r.ok(201).clone();
    // $20 + $5 − $2 − $3 refunded = $20; riel untouched.
    assert_eq!((result["expected_cash_cents"].clone(), result["expected_khr"].clone()), (json!(2000), json!(40_000)), "{result}");
    assert_eq!((f.on_hand(f.beans).await, f.on_hand(f.milk).await), (BEANS_STOCK, MILK_STOCK), "the recipe's stock came back");
    let session = f.session(s).await;
    assert_eq!((session["usd"]["refunds"].clone(), session["expected_cash_cents"].clone()), (json!(300), json!(2000)), "{session}");
    // The same key again is a replay; another key is SALE_ALREADY_VOIDED; nothing moves twice.
    let again = void(&f, &mt, key, f.manager, &sale, s, json!({"usd_cents": 300, "khr": 0})).await;
    assert_eq!(again.ok(201), &result);
    assert_eq!(again.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    void(&f, &mt, Uuid::now_v7(), f.manager, &sale, s, json!({"usd_cents": 300, "khr": 0})).await.problem(409, "SALE_ALREADY_VOIDED");
    assert_eq!(f.on_hand(f.beans).await, BEANS_STOCK);
    assert_eq!(f.session(s).await["usd"]["refunds"], 300);
    // The sale shows its void, in the list and in detail.
    let sale_id = sale["payload"]["sale_id"].as_str().unwrap();
    let listed = f.sales().await;
    assert_eq!(listed.iter().find(|x| x["sale_id"] == sale_id).unwrap()["voided"], true);
    let detail = f.app.get(&format!("/v1/sales/{sale_id}"), &mt).await.ok(200).clone();
    let other = f.app.other_tenant("Elsewhere Café").await;
    f.app.get(&format!("/v1/sales/{sale_id}"), &other.token).await.problem(404, "NOT_FOUND");
    assert_eq!(detail["void"]["refund"], json!({"usd_cents": 300, "khr": 0}), "{detail}");
    assert_eq!((detail["void"]["reason"].clone(), detail["void"]["actor_id"].clone()), (json!("wrong drink"), json!(f.manager)));
    assert_eq!(detail["lines"], json!([{"menu_item_id": f.latte, "name": "Latte", "qty": 1, "unit_price_cents": 300, "line_total_cents": 300}]));
    assert_eq!((detail["tender"]["cash_usd_cents"].clone(), detail["change"].clone()), (json!(500), json!({"usd_cents": 200, "khr": 0})));
    let voided_at: chrono::DateTime<chrono::Utc> = detail["void"]["at"].as_str().expect("void.at").parse().expect("RFC 3339");
    assert!((chrono::Utc::now() - voided_at).num_seconds().abs() < 300, "void.at is when it was voided: {detail}");
    // An item taken off the menu keeps its name on the sales that sold it.
    f.app.delete(&format!("/v1/menu/items/{}", f.latte), &f.owner_token).await.ok(204);
    let detail = f.app.get(&format!("/v1/sales/{sale_id}"), &mt).await.ok(200).clone();
    assert_eq!(detail["lines"][0]["name"], "Latte", "{detail}");
    // One audit event, naming the manager; the tills learn it from the feed.
    let audit = f.app.get(&format!("/v1/audit?branch_id={}", f.branch), &f.owner_token).await;
    let voids: Vec<Value> = audit.ok(200)["events"].as_array().unwrap().iter().filter(|e| e["action"] == "void").cloned().collect();
    assert_eq!(voids.len(), 1, "{voids:?}");
    assert_eq!(voids[0]["actor_id"], json!(f.manager));
    let pulled = f.app.get(&format!("/v1/sync/pull?branch_id={}&scopes=voids", f.branch), &f.device_token).await;
    let changes = pulled.ok(200)["changes"].as_array().unwrap().clone();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!((changes[0]["id"].clone(), changes[0]["data"]["refund"]["usd_cents"].clone()), (json!(sale_id), json!(300)));
}

/// The owner's own token voids in any branch of the tenant, assigned to it or not (SPEC
/// §5: an owner may do everything in the tenant); the audit names the owner.
#[tokio::test]
async fn the_owner_voids_in_a_branch_they_are_not_assigned_to() {
    let f = Fx::new().await;
    let staff = f.app.get("/v1/staff", &f.owner_token).await;
    let owner = find(staff.ok(200)["staff"].as_array().unwrap(), "id", f.owner).clone();
    assert_eq!(owner["branch_ids"], json!([]), "the owner is assigned to no branch: {owner}");
    let (_, s, sale) = a_latte_sold(&f).await;
    let r = void(&f, &f.owner_token, Uuid::now_v7(), f.owner, &sale, s, json!({"usd_cents": 300, "khr": 0})).await;
    r.ok(201);
    assert_eq!(f.session(s).await["usd"]["refunds"], 300);
    let audit = f.app.get(&format!("/v1/audit?branch_id={}", f.branch), &f.owner_token).await;
    let voids: Vec<Value> = audit.ok(200)["events"].as_array().unwrap().iter().filter(|e| e["action"] == "void").cloned().collect();
    assert_eq!((voids.len(), voids[0]["actor_id"].clone(), voids[0]["device_id"].clone()), (1, json!(f.owner), Value::Null), "{voids:?}");
}

#[tokio::test]
async fn voids_are_refused_to_cashiers_other_branches_queues_and_wrong_refunds() {
    let f = Fx::new().await;
    let (mut ops, s, sale) = a_latte_sold(&f).await;
    let refund = json!({"usd_cents": 300, "khr": 0});
    // A till with its cashier as the actor: a void needs a manager.
    let r = void(&f, &f.device_token, Uuid::now_v7(), f.cashier, &sale, s, refund.clone()).await;
    assert!(r.problem(403, "FORBIDDEN")["detail"].as_str().unwrap().contains("void"), "{}", r.text);
    // A refund that is not the sale's total (within a riel step).
    let r = void(&f, &f.device_token, Uuid::now_v7(), f.manager, &sale, s, json!({"usd_cents": 200, "khr": 0})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "refund");
    // By push (a till's queue): never.
    let queued = ops.raw("sale.void", f.manager, json!({"sale_id": sale["payload"]["sale_id"], "cash_session_id": s,
                                                         "reason": "x", "refund": refund}));
    rejected(&f.push(&[queued]).await[0], "NOT_ALLOWED_OFFLINE");
    // A manager of another branch, on this branch's sale.
    let other = f.app.staff(&f.owner_token, "Other manager", "manager", "7777", &[f.other_branch]).await;
    let ot = f.app.login(f.tenant, other).await;
    let body = json!({"tenant_id": f.tenant, "branch_id": f.other_branch, "actor_id": other, "occurred_at": chrono::Utc::now(),
                      "payload": {"cash_session_id": s, "reason": "x", "refund": refund}});
    let sale_id = sale["payload"]["sale_id"].as_str().unwrap();
    let req = f.app.client.post(format!("{}/v1/sales/{sale_id}/void", f.app.base)).bearer_auth(&ot).json(&body);
    let r = TestApp::read(req.header("Idempotency-Key", Uuid::now_v7().to_string()).send().await.unwrap()).await;
    r.problem(403, "FORBIDDEN");
    // Out of a closed session: refused; the sale is untouched by every refusal above.
    applied(&f.push(&[ops.raw("cashSession.close", f.cashier, json!({"cash_session_id": s, "counted_cash_cents": 2300, "counted_khr": 40_000}))]).await[0]);
    void(&f, &f.device_token, Uuid::now_v7(), f.manager, &sale, s, refund.clone()).await.problem(409, "CASH_SESSION_CLOSED");
    assert_eq!(f.on_hand(f.beans).await, BEANS_STOCK - LATTE_BEANS);
    assert!(f.sales().await.iter().all(|x| x["voided"] == false));
    // A till with its manager signed in voids out of a new session.
    let s2 = Uuid::now_v7();
    applied(&f.push(&[open(&mut ops, f.cashier, s2)]).await[0]);
    void(&f, &f.device_token, Uuid::now_v7(), f.manager, &sale, s2, json!({"usd_cents": 0, "khr": 12_300})).await.ok(201);
    assert_eq!(f.session(s2).await["khr"]["refunds"], 12_300);
}

/// A sale refused FORBIDDEN (its cashier deactivated while the till was offline) left its
/// money in the drawer: the closed session shows it as over. Accepting it applies it into
/// that session, whose variance goes to 0; a second accept answers the first.
#[tokio::test]
async fn an_accepted_failure_fixes_the_closed_drawer_once() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    applied(&f.push(&[open(&mut ops, f.cashier, s)]).await[0]);
    f.app.patch(&format!("/v1/staff/{}", f.cashier), &f.owner_token, json!({"active": false})).await.ok(200);
    let sale = latte_sale(&f, &mut ops, f.cashier, s);
    rejected(&f.push(std::slice::from_ref(&sale)).await[0], "FORBIDDEN");
    // The manager closes the drawer with the sale's $3 in it.
    let close = ops.raw("cashSession.close", f.manager, json!({"cash_session_id": s, "counted_cash_cents": 2300, "counted_khr": 40_000}));
    applied(&f.push(&[close]).await[0]);
    assert_eq!(f.session(s).await["variance_cents"], 300);
    let mt = manager_token(&f).await;
    let failures = f.app.get(&format!("/v1/sync/failures?branch_id={}", f.branch), &mt).await.ok(200).clone();
    let row = failures["failures"][0].clone();
    assert_eq!((row["receipt_no"].clone(), row["total_cents"].clone(), row["actor_name"].clone(), row["resolution"].clone()),
               (sale["payload"]["receipt_no"].clone(), json!(300), json!("Cashier"), Value::Null), "{row}");
    let id = sale["client_op_id"].as_str().unwrap();
    let path = format!("/v1/sync/failures/{id}/resolve");
    // Two managers at once: one outcome.
    let (a, b) = tokio::join!(
        f.app.post(&path, &mt, json!({"action": "accept", "note": "it was paid"})),
        f.app.post(&path, &f.owner_token, json!({"action": "accept", "note": "me too"})),
    );
    let (a, b) = (a.ok(200).clone(), b.ok(200).clone());
    assert_eq!(a["resolution"], b["resolution"], "one resolution answers both");
    assert_eq!(a["resolution"]["action"], "accept");
    let session = f.session(s).await;
    assert_eq!((session["variance_cents"].clone(), session["status"].clone()), (json!(0), json!("closed")), "{session}");
    assert_eq!(f.sales().await.len(), 1);
    assert_eq!(f.on_hand(f.beans).await, BEANS_STOCK - LATTE_BEANS);
    // Later: the same answer, nothing applied again.
    let again = f.app.post(&path, &mt, json!({"action": "dismiss", "note": "changed my mind"})).await;
    assert_eq!(again.ok(200)["resolution"], a["resolution"]);
    assert_eq!(f.sales().await.len(), 1);
    // The audit names the manager and the original op; the feed tells the tills.
    let audit = f.app.get(&format!("/v1/audit?branch_id={}", f.branch), &f.owner_token).await;
    let event = audit.ok(200)["events"].as_array().unwrap().iter().find(|e| e["action"] == "resolve.accept").cloned().expect("event");
    assert_eq!(event["details"]["client_op_id"], json!(id));
    assert!(event["actor_id"] == json!(f.manager) || event["actor_id"] == json!(f.owner), "{event}");
    let pulled = f.app.get(&format!("/v1/sync/pull?branch_id={}&scopes=resolutions", f.branch), &f.device_token).await;
    assert_eq!(pulled.ok(200)["changes"][0]["data"]["action"], "accept");
}

#[tokio::test]
async fn dismissals_and_what_cannot_be_accepted() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    let sale = latte_sale(&f, &mut ops, f.cashier, s);
    // A sale before any session: NO_OPEN_CASH_SESSION, and its session never exists.
    rejected(&f.push(std::slice::from_ref(&sale)).await[0], "NO_OPEN_CASH_SESSION");
    // A refused movement (no session either).
    let movement = ops.movement(f.cashier, s, "paid_in", 100);
    rejected(&f.push(std::slice::from_ref(&movement)).await[0], "NO_OPEN_CASH_SESSION");
    let applied_open = open(&mut ops, f.cashier, Uuid::now_v7());
    applied(&f.push(std::slice::from_ref(&applied_open)).await[0]);
    let mt = manager_token(&f).await;
    let resolve = |op: &Value, body: Value| {
        let path = format!("/v1/sync/failures/{}/resolve", op["client_op_id"].as_str().unwrap());
        let (app, mt) = (&f.app, mt.clone());
        async move { app.post(&path, &mt, body).await }
    };
    resolve(&movement, json!({"action": "accept", "note": ""})).await.problem(422, "VALIDATION_FAILED");
    resolve(&applied_open, json!({"action": "dismiss", "note": "x"})).await.problem(409, "CONFLICT");
    let r = resolve(&sale, json!({"action": "accept"})).await;
    assert!(r.problem(409, "CONFLICT")["detail"].as_str().unwrap().contains("cash session"), "{}", r.text);
    resolve(&sale, json!({"action": "dismiss"})).await.problem(422, "VALIDATION_FAILED");
    resolve(&sale, json!({"action": "refund", "note": "x"})).await.problem(400, "BAD_REQUEST");
    let done = resolve(&sale, json!({"action": "dismiss", "note": "customer left without the drink"})).await.ok(200).clone();
    assert_eq!((done["resolution"]["action"].clone(), done["resolution"]["note"].clone()),
               (json!("dismiss"), json!("customer left without the drink")));
    assert!(f.sales().await.is_empty());
    // Another tenant's owner sees neither the failure nor any sale of this one.
    let other = f.app.other_tenant("Elsewhere Café").await;
    f.app.post(&format!("/v1/sync/failures/{}/resolve", movement["client_op_id"].as_str().unwrap()), &other.token,
               json!({"action": "dismiss", "note": "x"})).await.problem(404, "NOT_FOUND");
    let refused_sale = sale["payload"]["sale_id"].as_str().unwrap();
    f.app.get(&format!("/v1/sales/{refused_sale}"), &other.token).await.problem(404, "NOT_FOUND");
    // A cashier's till token cannot resolve; an unknown id is 404.
    f.app.post(&format!("/v1/sync/failures/{}/resolve", movement["client_op_id"].as_str().unwrap()), &f.device_token,
               json!({"action": "dismiss", "note": "x"})).await.problem(403, "FORBIDDEN");
    f.app.post(&format!("/v1/sync/failures/{}/resolve", Uuid::now_v7()), &mt, json!({"action": "dismiss", "note": "x"}))
        .await
        .problem(404, "NOT_FOUND");
}
