use crate::common::{uuid, TestApp};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn create_and_patch_staff() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let b1 = app.branch(t, "One").await;
    let b2 = app.branch(t, "Two").await;
    let r = app.post("/v1/staff", t, json!({"name": "Dara", "role": "cashier", "pin": "1111", "branch_ids": [b1]})).await;
    let s = r.ok(201).clone();
    let id = uuid(&s["id"]);
    assert_eq!(s, json!({"id": id, "name": "Dara", "role": "cashier", "branch_ids": [b1], "active": true, "login": null}));
    assert!(!r.text.contains("pin"), "never echo a PIN or its hash: {}", r.text);

    let r = app.patch(&format!("/v1/staff/{id}"), t, json!({"role": "manager", "branch_ids": [b1, b2]})).await;
    let mut want = vec![b1, b2];
    want.sort();
    assert_eq!(r.ok(200)["role"], "manager");
    assert_eq!(r.body["branch_ids"], json!(want));
    // A manager gets a server sign-in; a new password works at once, the old one stops.
    let sign_in = |password: &str| json!({"tenant": app.a.slug, "login": "dara", "password": password});
    let login = |body| app.call(reqwest::Method::POST, "/v1/auth/login", None, Some(body));
    let r = app.patch(&format!("/v1/staff/{id}"), t, json!({"login": " Dara ", "password": "first password"})).await;
    assert_eq!(r.ok(200)["login"], "dara", "logins are kept normalized");
    assert!(!r.text.contains("password"), "never echo a password or its hash: {}", r.text);
    login(sign_in("first password")).await.ok(200);
    app.patch(&format!("/v1/staff/{id}"), t, json!({"password": "second password"})).await.ok(200);
    login(sign_in("second password")).await.ok(200);
    login(sign_in("first password")).await.problem(401, "UNAUTHORIZED");
    // A new PIN is a till credential only: the server sign-in is unchanged by it.
    app.patch(&format!("/v1/staff/{id}"), t, json!({"pin": "22223333"})).await.ok(200);
    login(sign_in("second password")).await.ok(200);
    let r = app.get("/v1/staff", t).await;
    assert_eq!(r.ok(200)["staff"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn staff_bad_input() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let b = app.branch(t, "One").await;
    let post = |body| app.post("/v1/staff", t, body);
    let r = post(json!({"name": "D", "role": "cashier", "pin": "12", "branch_ids": [b]})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "pin");
    let r = post(json!({"name": "D", "role": "barista", "pin": "1234", "branch_ids": [b]})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "role");
    let r = post(json!({"name": "D", "role": "cashier", "pin": "1234", "branch_ids": [b, Uuid::now_v7()]})).await;
    assert_eq!(r.problem(404, "NOT_FOUND")["field"], "branch_ids[1]");
    let r = post(json!({"name": "D", "role": "cashier", "pin": "1234"})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "branch_ids");
    app.patch(&format!("/v1/staff/{}", Uuid::now_v7()), t, json!({"active": false})).await.problem(404, "NOT_FOUND");
    let r = app.patch(&format!("/v1/staff/{}", app.a.owner_id), t, json!({"active": "no"})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "active");
}

#[tokio::test]
async fn no_escalation_and_the_last_owner_stays() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let b = app.branch(t, "One").await;
    let mgr = app.staff(t, "Mgr", "manager", "5678", &[b]).await;
    let mt = app.login(app.a.tenant_id, mgr).await;
    let r = app.post("/v1/staff", &mt, json!({"name": "X", "role": "owner", "pin": "1234", "branch_ids": [b]})).await;
    r.problem(403, "FORBIDDEN");
    app.patch(&format!("/v1/staff/{mgr}"), &mt, json!({"role": "owner"})).await.problem(403, "FORBIDDEN");
    app.patch(&format!("/v1/staff/{}", app.a.owner_id), &mt, json!({"active": false})).await.problem(403, "FORBIDDEN");
    // A manager can create a cashier for their own branch only.
    let other = app.branch(t, "Other").await;
    app.post("/v1/staff", &mt, json!({"name": "C", "role": "cashier", "pin": "1234", "branch_ids": [b]})).await.ok(201);
    let r = app.post("/v1/staff", &mt, json!({"name": "C", "role": "cashier", "pin": "1234", "branch_ids": [other]})).await;
    r.problem(403, "FORBIDDEN");
    // The only owner cannot demote or deactivate themself.
    app.patch(&format!("/v1/staff/{}", app.a.owner_id), t, json!({"role": "manager"})).await.problem(409, "CONFLICT");
    app.patch(&format!("/v1/staff/{}", app.a.owner_id), t, json!({"active": false})).await.problem(409, "CONFLICT");
    // With a second owner it is allowed.
    app.staff(t, "Owner 2", "owner", "9999", &[]).await;
    app.patch(&format!("/v1/staff/{}", app.a.owner_id), t, json!({"role": "manager"})).await.ok(200);
}

#[tokio::test]
async fn demoted_staff_lose_admin_rights_at_once() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let b = app.branch(t, "One").await;
    let mgr = app.staff(t, "Mgr", "manager", "5678", &[b]).await;
    let mt = app.login(app.a.tenant_id, mgr).await;
    app.get(&format!("/v1/inventory?branch_id={b}"), &mt).await.ok(200);
    app.patch(&format!("/v1/staff/{mgr}"), t, json!({"role": "cashier"})).await.ok(200);
    // A role change ends the person's sign-ins (SPEC §5): the token is gone.
    app.get(&format!("/v1/inventory?branch_id={b}"), &mt).await.problem(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn enroll_use_and_revoke_a_device() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let b = app.branch(t, "One").await;
    let other = app.branch(t, "Two").await;
    let r = app.post("/v1/devices", t, json!({"branch_id": b, "name": "Front counter"})).await;
    let d = r.ok(201).clone();
    let device_id = uuid(&d["device_id"]);
    let token = d["token"].as_str().unwrap().to_string();
    assert_eq!(d["code"], "D001");
    assert!(token.len() >= 64, "a 256-bit token: {token}");
    let r = app.post("/v1/devices", t, json!({"branch_id": b, "name": "Back"})).await;
    assert_eq!(r.ok(201)["code"], "D002");

    // The device reads its own branch only, and cannot administer.
    app.get(&format!("/v1/inventory?branch_id={b}"), &token).await.ok(200);
    app.get(&format!("/v1/inventory?branch_id={other}"), &token).await.problem(403, "FORBIDDEN");
    app.get(&format!("/v1/branches/{b}/policy"), &token).await.ok(200);
    app.get("/v1/menu/items", &token).await.ok(200);
    app.post("/v1/branches", &token, json!({"name": "X"})).await.problem(403, "FORBIDDEN");
    app.post(&format!("/v1/branches/{b}/freeze"), &token, json!({})).await.problem(403, "FORBIDDEN");

    let r = app.get(&format!("/v1/devices?branch_id={b}"), t).await;
    assert_eq!(r.ok(200)["devices"][0]["device_id"], device_id.to_string());
    assert!(!r.text.contains(&token), "tokens are never listed");

    let r = app.delete(&format!("/v1/devices/{device_id}"), t).await;
    assert_eq!(r.status.as_u16(), 204);
    app.get(&format!("/v1/inventory?branch_id={b}"), &token).await.problem(401, "UNAUTHORIZED");
    let r = app.get(&format!("/v1/devices?branch_id={b}"), t).await;
    assert_eq!(r.ok(200)["devices"][0]["revoked"], true);
    app.delete(&format!("/v1/devices/{}", Uuid::now_v7()), t).await.problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn device_bad_input() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let r = app.post("/v1/devices", t, json!({"branch_id": Uuid::now_v7(), "name": "X"})).await;
    r.problem(404, "NOT_FOUND");
    let b = app.branch(t, "One").await;
    let r = app.post("/v1/devices", t, json!({"branch_id": b})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "name");
    let r = app.post("/v1/devices", t, json!({"branch_id": b, "name": ""})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "name");
}
