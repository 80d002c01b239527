//! Least privilege (SPEC §5, issue 19): tenant-wide writes are the owner's; a manager
//! acts only inside their branches and only over cashiers there; the permission is
//! decided before any lock is taken; an op names only entities of its own branch.

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{Side, TestApp};
use crate::fixtures::*;

/// A tenant with branches A and B, a manager of each, cashiers of A, of B and of both.
struct Shop {
    app: TestApp,
    a: Uuid,
    b: Uuid,
    manager_a: Uuid,
    manager_b: Uuid,
    cashier_a: Uuid,
    cashier_b: Uuid,
    cashier_ab: Uuid,
    stock: Uuid,
    /// Manager A's token.
    mt: String,
}

async fn shop() -> Shop {
    let app = TestApp::spawn().await;
    let t = app.a.token.clone();
    let (a, b) = (app.branch(&t, "A").await, app.branch(&t, "B").await);
    let manager_a = app.staff(&t, "Manager A", "manager", "5678", &[a]).await;
    let manager_b = app.staff(&t, "Manager B", "manager", "6789", &[b]).await;
    let cashier_a = app.staff(&t, "Cashier A", "cashier", "1111", &[a]).await;
    let cashier_b = app.staff(&t, "Cashier B", "cashier", "2222", &[b]).await;
    let cashier_ab = app.staff(&t, "Cashier AB", "cashier", "3333", &[a, b]).await;
    let stock = app.stock_item(&t, "Beans").await;
    let mt = app.login(app.a.tenant_id, manager_a).await;
    Shop { app, a, b, manager_a, manager_b, cashier_a, cashier_b, cashier_ab, stock, mt }
}

/// What manager A may not do, each with why.
fn forbidden_to_manager_a(s: &Shop) -> Vec<(&'static str, Method, String, Option<Value>)> {
    let (a, b, owner) = (s.a, s.b, s.app.a.owner_id);
    let item = json!({"name": "Hijack", "price_cents": 1, "category": "X", "active": true, "recipe": []});
    let cashier = |branches: &[Uuid]| json!({"name": "New", "role": "cashier", "pin": "1234", "branch_ids": branches});
    vec![
        ("a manager of B", Method::PATCH, format!("/v1/staff/{}", s.manager_b), Some(json!({"active": false}))),
        ("a manager of B's PIN", Method::PATCH, format!("/v1/staff/{}", s.manager_b), Some(json!({"pin": "9999"}))),
        ("a manager of B's password", Method::PATCH, format!("/v1/staff/{}", s.manager_b), Some(json!({"password": "taken over now"}))),
        ("the owner's login", Method::PATCH, format!("/v1/staff/{owner}"), Some(json!({"login": "mine"}))),
        ("a cashier of B", Method::PATCH, format!("/v1/staff/{}", s.cashier_b), Some(json!({"active": false}))),
        ("a cashier who also works at B", Method::PATCH, format!("/v1/staff/{}", s.cashier_ab), Some(json!({"pin": "9999"}))),
        ("the owner", Method::PATCH, format!("/v1/staff/{owner}"), Some(json!({"active": false}))),
        ("a fellow manager of A", Method::PATCH, format!("/v1/staff/{}", s.manager_a), Some(json!({"role": "owner"}))),
        ("granting branch B", Method::PATCH, format!("/v1/staff/{}", s.cashier_a), Some(json!({"branch_ids": [a, b]}))),
        ("promoting a cashier", Method::PATCH, format!("/v1/staff/{}", s.cashier_a), Some(json!({"role": "manager"}))),
        ("creating a manager", Method::POST, "/v1/staff".into(), Some(json!({"name": "M", "role": "manager", "pin": "1234", "branch_ids": [a]}))),
        ("creating a cashier of B", Method::POST, "/v1/staff".into(), Some(cashier(&[b]))),
        ("creating a branch", Method::POST, "/v1/branches".into(), Some(json!({"name": "C"}))),
        ("writing the menu", Method::PUT, format!("/v1/menu/items/{}", Uuid::now_v7()), Some(item)),
        ("deleting a menu item", Method::DELETE, format!("/v1/menu/items/{}", Uuid::now_v7()), None),
        ("creating a stock item", Method::POST, "/v1/stock-items".into(), Some(json!({"name": "X", "unit": "g"}))),
        ("the tenant policy", Method::PUT, "/v1/policy".into(), Some(json!({"vat_bps": 0}))),
        ("freezing B", Method::POST, format!("/v1/branches/{b}/freeze"), None),
        ("B's policy", Method::PUT, format!("/v1/branches/{b}/policy"), Some(json!({"vat_bps": 0}))),
        ("restocking B", Method::POST, "/v1/inventory/restock".into(), Some(json!({"branch_id": b, "stock_item_id": s.stock, "qty": 5}))),
        ("enrolling a device at B", Method::POST, "/v1/devices".into(), Some(json!({"branch_id": b, "name": "X"}))),
        ("B's failures", Method::GET, format!("/v1/sync/failures?branch_id={b}"), None),
    ]
}

#[tokio::test]
async fn a_manager_administers_only_cashiers_of_their_own_branches() {
    let s = shop().await;
    for (why, method, path, body) in forbidden_to_manager_a(&s) {
        let r = s.app.call(method.clone(), &path, Some(&s.mt), body.clone()).await;
        assert_eq!(r.status, 403, "{why}: {method} {path} {body:?} → {} {}", r.status, r.text);
        assert_eq!(r.body["code"], "FORBIDDEN", "{why}: {}", r.text);
    }
    // Nothing of it happened.
    let staff = s.app.get("/v1/staff", &s.app.a.token).await;
    let list = staff.ok(200)["staff"].as_array().unwrap().clone();
    let of = |id: Uuid| find(&list, "id", id).clone();
    for id in [s.manager_b, s.cashier_b, s.cashier_ab, s.app.a.owner_id] {
        assert_eq!(of(id)["active"], true, "{id} is still active");
    }
    assert_eq!(of(s.cashier_a)["role"], "cashier");
    assert_eq!(of(s.cashier_a)["branch_ids"], json!([s.a]));
    assert_eq!(of(s.manager_a)["role"], "manager");
    assert_eq!(list.len(), 6, "no staff member was created: {list:?}");
    s.app.login(s.app.a.tenant_id, s.manager_b).await;

    // What is theirs to do, they may.
    let t = &s.mt;
    s.app.patch(&format!("/v1/staff/{}", s.cashier_a), t, json!({"pin": "4444"})).await.ok(200);
    s.app.post("/v1/staff", t, json!({"name": "New A", "role": "cashier", "pin": "1234", "branch_ids": [s.a]})).await.ok(201);
    s.app.post(&format!("/v1/branches/{}/freeze", s.a), t, json!({})).await.ok(200);
    let restock = json!({"branch_id": s.a, "stock_item_id": s.stock, "qty": 5});
    s.app.post("/v1/inventory/restock", t, restock).await.ok(200);
    s.app.patch(&format!("/v1/staff/{}", s.cashier_a), t, json!({"active": false})).await.ok(200);
}

/// A refused caller never waits for a lock: the branch row (PostgreSQL) or the database
/// write lock (SQLite) is held from the side, and manager A's writes at B are refused at
/// once; the owner's freeze of B waits for it.
#[tokio::test]
async fn a_refusal_takes_no_lock() {
    let s = shop().await;
    let (_, till_a) = s.app.device(&s.app.a.token, s.a).await;
    let mut side = Side::open(&s.app).await;
    let b = side.id(s.b);
    side.exec("BEGIN IMMEDIATE", "BEGIN").await;
    side.exec("SELECT 1", &format!("SELECT id FROM branches WHERE id = {b} FOR UPDATE")).await;
    let started = std::time::Instant::now();
    for (what, path, body) in [
        ("freeze", format!("/v1/branches/{}/freeze", s.b), json!({})),
        ("policy", format!("/v1/branches/{}/policy", s.b), json!({"vat_bps": 0})),
        ("restock", "/v1/inventory/restock".to_string(), json!({"branch_id": s.b, "stock_item_id": s.stock, "qty": 1})),
    ] {
        let method = if what == "policy" { Method::PUT } else { Method::POST };
        let r = s.app.call(method, &path, Some(&s.mt), Some(body)).await;
        assert_eq!(r.status, 403, "{what}: {}", r.text);
    }
    let r = s.app.patch(&format!("/v1/staff/{}", s.cashier_b), &s.mt, json!({"active": false})).await;
    assert_eq!(r.status, 403, "{}", r.text);
    // A till of A acting at B is refused at once too.
    let at_b = json!({"branch_id": s.b, "stock_item_id": s.stock, "qty": 1, "actor_id": s.manager_b});
    assert_eq!(s.app.post("/v1/inventory/restock", &till_a, at_b).await.status, 403);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "refused without waiting: {:?}", started.elapsed());
    // The owner's freeze does wait for the lock, and goes through once it is released.
    let app = &s.app;
    let freeze_b = format!("/v1/branches/{}/freeze", s.b);
    let owner_freeze = app.post(&freeze_b, &app.a.token, json!({}));
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        side.exec("COMMIT", "COMMIT").await;
    };
    let (r, ()) = tokio::join!(owner_freeze, release);
    r.ok(200);
}

/// A till's online-only manager action goes with its device token and names the manager
/// signed in at it as `actor_id`, checked like an op's actor: active, a manager or owner,
/// assigned to the branch (an owner too). The audit event names both.
#[tokio::test]
async fn a_till_acts_only_for_a_manager_of_its_branch() {
    let s = shop().await;
    let app = &s.app;
    let (till_a, token) = app.device(&app.a.token, s.a).await;
    let restock = |actor: Option<Uuid>, branch: Uuid| {
        let mut body = json!({"branch_id": branch, "stock_item_id": s.stock, "qty": 3});
        if let Some(a) = actor {
            body["actor_id"] = json!(a);
        }
        app.post("/v1/inventory/restock", &token, body)
    };
    let since = chrono::Utc::now();
    let r = restock(Some(s.manager_a), s.a).await;
    assert_eq!(r.ok(200)["on_hand"], 3);
    let retired = app.staff(&app.a.token, "Retired", "manager", "7777", &[s.a]).await;
    app.patch(&format!("/v1/staff/{retired}"), &app.a.token, json!({"active": false})).await.ok(200);
    for (why, actor, branch, status) in [
        ("a cashier of A", Some(s.cashier_a), s.a, 403),
        ("a manager of B", Some(s.manager_b), s.a, 403),
        ("the owner, not assigned to A", Some(app.a.owner_id), s.a, 403),
        ("a deactivated manager of A", Some(retired), s.a, 403),
        ("nobody of this tenant", Some(Uuid::now_v7()), s.a, 403),
        ("another branch", Some(s.manager_a), s.b, 403),
        ("no actor named", None, s.a, 422),
    ] {
        let r = restock(actor, branch).await;
        assert_eq!(r.status.as_u16(), status, "{why}: {}", r.text);
    }
    // A staff token acts as itself only.
    let r = app.post("/v1/inventory/restock", &s.mt, json!({"branch_id": s.a, "stock_item_id": s.stock, "qty": 1, "actor_id": s.manager_b})).await;
    r.problem(403, "FORBIDDEN");
    // One restock happened, and the audit says who and where.
    let inv = app.get(&format!("/v1/inventory?branch_id={}", s.a), &app.a.token).await;
    assert_eq!(find(inv.ok(200)["items"].as_array().unwrap(), "stock_item_id", s.stock)["on_hand"], 3);
    let audit = app.get(&format!("/v1/audit?branch_id={}&since={}", s.a, since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)), &app.a.token).await;
    let restocks: Vec<&Value> = audit.ok(200)["events"].as_array().unwrap().iter().filter(|e| e["action"] == "restock").collect();
    assert_eq!(restocks.len(), 1, "{}", audit.text);
    assert_eq!(restocks[0]["actor_id"], s.manager_a.to_string());
    assert_eq!(restocks[0]["device_id"], till_a.to_string());
}

/// An op names only a shift or a cash session of its own branch (SPEC §5.1 rule 8): an
/// end of shift or a sale from Main's till naming Other's is `FORBIDDEN`, and nothing of
/// Other changes.
#[tokio::test]
async fn an_op_names_only_entities_of_its_own_branch() {
    let fx = Fx::new().await;
    let t = &fx.owner_token;
    // Cashier Two works at both branches and starts a shift at Other's till.
    fx.app.patch(&format!("/v1/staff/{}", fx.cashier2), t, json!({"branch_ids": [fx.branch, fx.other_branch]})).await.ok(200);
    let other = fx.enroll(fx.other_branch, "Other till").await;
    let mut other_ops = OpBuilder::new(fx.tenant, fx.other_branch, &other.code);
    let start = other_ops.start_work(fx.cashier2, fx.cashier2);
    let other_session = Uuid::now_v7();
    let open = other_ops.open(fx.other_cashier, other_session, 1000);
    for r in fx.push_as(&other.token, other.id, &[start.clone(), open]).await {
        applied(&r);
    }
    let shift = pid(&start, "shift_id");

    // From Main's till: the manager ends that shift, a cashier sells into that session.
    let mut ops = fx.ops();
    let res = fx
        .push(&[
            ops.end_work(fx.manager, fx.cashier2, shift),
            ops.sale(fx.cashier, other_session, &[(fx.latte, 1, LATTE_PRICE)], LATTE_PRICE, 0),
            ops.movement(fx.manager, other_session, "paid_in", 100),
        ])
        .await;
    for r in &res {
        let m = rejected(r, "FORBIDDEN");
        assert!(m.contains("another branch"), "{m}");
    }
    let shifts = fx.app.get(&format!("/v1/attendance?branch_id={}", fx.other_branch), t).await;
    assert_eq!(find(shifts.ok(200)["shifts"].as_array().unwrap(), "shift_id", shift)["status"], "open");
    let session = fx.session(other_session).await;
    assert_eq!(session["expected_cash_cents"], 1000, "{session}");
    assert!(fx.shifts().await.is_empty(), "Main's attendance is untouched");
    assert!(fx.sales().await.is_empty());
    // At its own branch the same end of shift is applied.
    applied(&fx.push_as(&other.token, other.id, &[other_ops.end_work(fx.cashier2, fx.cashier2, shift)]).await[0]);
}
