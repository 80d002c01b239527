//! Table-driven isolation: tenant B's token with tenant A's ids sees nothing of A,
//! and a cashier's token (and a device's) gets 403 on every admin route.

use crate::common::{uuid, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// Tenant A's fixtures, and every string of A's that must never reach B.
struct TenantA {
    branch: Uuid,
    staff: Uuid,
    device: Uuid,
    stock: Uuid,
    menu: Uuid,
    secrets: Vec<String>,
}

async fn seed_a(app: &TestApp) -> TenantA {
    let t = &app.a.token;
    let branch = app.branch(t, "A-Branch-Secret").await;
    let staff = app.staff(t, "A-Staff-Secret", "manager", "5678", &[branch]).await;
    let (device, device_token) = app.device(t, branch).await;
    let stock = app.stock_item(t, "A-Stock-Secret").await;
    app.post("/v1/inventory/restock", t, json!({"branch_id": branch, "stock_item_id": stock, "qty": 777})).await.ok(200);
    let menu = Uuid::now_v7();
    let item = json!({"name": "A-Menu-Secret", "price_cents": 999, "category": "A-Cat-Secret", "active": true,
                      "recipe": [{"stock_item_id": stock, "qty": 1}]});
    app.put(&format!("/v1/menu/items/{menu}"), t, item).await.ok(201);
    app.put(&format!("/v1/branches/{branch}/policy"), t, json!({"khr_per_usd": 4321})).await.ok(200);
    let mut secrets: Vec<String> = [branch, staff, device, stock, menu, app.a.tenant_id, app.a.owner_id]
        .iter()
        .map(|id| id.to_string())
        .collect();
    secrets.extend(["A-Branch-Secret", "A-Staff-Secret", "A-Stock-Secret", "A-Menu-Secret", "A-Cat-Secret"].map(String::from));
    // A's numbers in the form they would leak in: bare digits also turn up by chance in
    // B's own random ids (`…-7774-…` once failed this test).
    secrets.extend([r#""khr_per_usd":4321"#, r#""on_hand":777"#].map(String::from));
    secrets.push(device_token);
    TenantA { branch, staff, device, stock, menu, secrets }
}

/// Every authenticated route with A's ids filled in.
fn routes(a: &TenantA) -> Vec<(Method, String, Option<Value>)> {
    let (b, s, d, i, m) = (a.branch, a.staff, a.device, a.stock, a.menu);
    let item = json!({"name": "Hijack", "price_cents": 1, "category": "X", "active": true, "recipe": []});
    vec![
        (Method::POST, format!("/v1/branches/{b}/freeze"), None),
        (Method::POST, format!("/v1/branches/{b}/unfreeze"), None),
        (Method::GET, format!("/v1/branches/{b}/policy"), None),
        (Method::PUT, format!("/v1/branches/{b}/policy"), Some(json!({"vat_bps": 0}))),
        (Method::PATCH, format!("/v1/staff/{s}"), Some(json!({"active": false}))),
        (Method::POST, "/v1/staff".into(), Some(json!({"name": "X", "role": "cashier", "pin": "1234", "branch_ids": [b]}))),
        (Method::POST, "/v1/devices".into(), Some(json!({"branch_id": b, "name": "X"}))),
        (Method::GET, format!("/v1/devices?branch_id={b}"), None),
        (Method::DELETE, format!("/v1/devices/{d}"), None),
        (Method::POST, "/v1/inventory/restock".into(), Some(json!({"branch_id": b, "stock_item_id": i, "qty": 1}))),
        (Method::GET, format!("/v1/inventory?branch_id={b}"), None),
        (Method::GET, format!("/v1/menu/items/{m}"), None),
        (Method::PUT, format!("/v1/menu/items/{m}"), Some(item)),
        (Method::DELETE, format!("/v1/menu/items/{m}"), None),
    ]
}

/// Routes without ids: B gets its own (empty) view, never A's.
fn listing_routes() -> Vec<(Method, &'static str)> {
    vec![
        (Method::GET, "/v1/branches"),
        (Method::GET, "/v1/staff"),
        (Method::GET, "/v1/stock-items"),
        (Method::GET, "/v1/menu/items"),
        (Method::GET, "/v1/policy"),
    ]
}

/// Fails if the answer holds any of A's data, other than what the request itself sent
/// (an id the caller named may be echoed in "no branch with id …").
fn assert_no_secrets(secrets: &[String], route: &str, request_body: &Option<Value>, text: &str) {
    let sent = format!("{route} {}", request_body.as_ref().map(|b| b.to_string()).unwrap_or_default());
    for s in secrets.iter().filter(|s| !sent.contains(s.as_str())) {
        assert!(!text.contains(s.as_str()), "{route} leaked {s:?} of tenant A: {text}");
    }
}

#[tokio::test]
async fn tenant_b_sees_nothing_of_tenant_a() {
    let app = TestApp::spawn().await;
    let a = seed_a(&app).await;
    let b = app.other_tenant("Tenant B").await;
    // B has a branch of its own, so "forbidden for lack of branches" is not what we test.
    let b_branch = app.branch(&b.token, "B-Branch").await;
    let b_mgr = app.staff(&b.token, "B-Mgr", "manager", "1111", &[b_branch]).await;
    let b_mgr_token = app.login(b.tenant_id, b_mgr).await;
    let (_, b_device_token) = app.device(&b.token, b_branch).await;

    for token in [&b.token, &b_mgr_token, &b_device_token] {
        for (method, path, body) in routes(&a) {
            let r = app.call(method.clone(), &path, Some(token), body.clone()).await;
            let status = r.status.as_u16();
            assert!(status == 403 || status == 404, "{method} {path}: expected 403/404, got {status}: {}", r.text);
            assert_no_secrets(&a.secrets, &path, &body, &r.text);
        }
        for (method, path) in listing_routes() {
            let r = app.call(method, path, Some(token), None).await;
            assert_no_secrets(&a.secrets, path, &None, &r.text);
        }
    }
    // A's data is untouched by all of that.
    let t = &app.a.token;
    let inv = app.get(&format!("/v1/inventory?branch_id={}", a.branch), t).await;
    assert_eq!(inv.ok(200)["items"][0]["on_hand"], 777);
    assert_eq!(app.get(&format!("/v1/menu/items/{}", a.menu), t).await.ok(200)["name"], "A-Menu-Secret");
    assert_eq!(app.get(&format!("/v1/branches/{}/policy", a.branch), t).await.ok(200)["khr_per_usd"], 4321);
    let branches = app.get("/v1/branches", t).await;
    assert_eq!(branches.ok(200)["branches"][0]["status"], "active");
    let devices = app.get(&format!("/v1/devices?branch_id={}", a.branch), t).await;
    assert_eq!(devices.ok(200)["devices"][0]["revoked"], false);
    let staff = app.get("/v1/staff", t).await;
    assert!(staff.ok(200)["staff"].as_array().unwrap().iter().all(|s| s["active"] == true));
}

#[tokio::test]
async fn cashier_and_device_tokens_get_403_on_admin_routes() {
    let app = TestApp::spawn().await;
    let a = seed_a(&app).await;
    let cashier = app.staff(&app.a.token, "Cashier", "cashier", "2222", &[a.branch]).await;
    let cashier_token = app.token_in_store(app.a.tenant_id, cashier).await;
    let (_, device_token) = app.device(&app.a.token, a.branch).await;
    let mut admin_routes = routes(&a);
    admin_routes.push((Method::POST, "/v1/branches".into(), Some(json!({"name": "X"}))));
    admin_routes.push((Method::POST, "/v1/stock-items".into(), Some(json!({"name": "X", "unit": "g"}))));
    admin_routes.push((Method::PUT, "/v1/policy".into(), Some(json!({"vat_bps": 0}))));
    admin_routes.push((Method::GET, "/v1/staff".into(), None));
    admin_routes.push((Method::GET, "/v1/stock-items".into(), None));
    for (method, path, body) in admin_routes.clone() {
        let r = app.call(method.clone(), &path, Some(&cashier_token), body).await;
        assert_eq!(r.status.as_u16(), 403, "cashier {method} {path}: {}", r.text);
        assert_eq!(r.body["code"], "FORBIDDEN");
    }
    // A device of the branch may read its branch (inventory, policy, menu), nothing else.
    let device_reads = [format!("/v1/inventory?branch_id={}", a.branch), format!("/v1/branches/{}/policy", a.branch), format!("/v1/menu/items/{}", a.menu)];
    for (method, path, body) in admin_routes {
        if method == Method::GET && device_reads.contains(&path) {
            continue;
        }
        let r = app.call(method.clone(), &path, Some(&device_token), body).await;
        if path == "/v1/inventory/restock" {
            // A till may restock for a manager signed in at it, and must name them
            // (tests in privilege.rs); without one it is refused.
            assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "actor_id", "device restock without an actor");
            continue;
        }
        assert_eq!(r.status.as_u16(), 403, "device {method} {path}: {}", r.text);
    }
    for path in device_reads {
        app.get(&path, &device_token).await.ok(200);
    }
    // Nothing changed.
    assert_eq!(uuid(&app.get("/v1/branches", &app.a.token).await.ok(200)["branches"][0]["id"]), a.branch);
}
