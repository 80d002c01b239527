use crate::common::TestApp;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn login_with_pin_returns_a_working_token_with_the_role() {
    let app = TestApp::spawn().await;
    let branch = app.branch(&app.a.token, "Main").await;
    let mgr = app.staff(&app.a.token, "Mgr", "manager", "5678", &[branch]).await;
    let r = app
        .call(Method::POST, "/v1/auth/login", None, Some(json!({"tenant_id": app.a.tenant_id, "staff_id": mgr, "pin": "5678"})))
        .await;
    let body = r.ok(200);
    assert_eq!(body["role"], "manager");
    assert_eq!(body["staff_id"], mgr.to_string());
    let token = body["token"].as_str().unwrap();
    // The token works and is scoped to the manager's branch.
    let r = app.get("/v1/branches", token).await;
    let names: Vec<_> = r.ok(200)["branches"].as_array().unwrap().iter().map(|b| b["name"].clone()).collect();
    assert_eq!(names, vec![json!("Main")]);
}

#[tokio::test]
async fn wrong_pin_is_401_and_repeated_failures_lock_sign_in() {
    let app = TestApp::spawn().await;
    let body = |pin: &str| json!({"tenant_id": app.a.tenant_id, "staff_id": app.a.owner_id, "pin": pin});
    for _ in 0..4 {
        app.call(Method::POST, "/v1/auth/login", None, Some(body("9999"))).await.problem(401, "UNAUTHORIZED");
    }
    // The fifth failure locks; during the lock even the right PIN is refused.
    let r = app.call(Method::POST, "/v1/auth/login", None, Some(body("9999"))).await;
    r.problem(429, "PIN_LOCKED");
    assert!(r.headers.get("retry-after").is_some());
    app.call(Method::POST, "/v1/auth/login", None, Some(body("1234"))).await.problem(429, "PIN_LOCKED");
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let app = TestApp::spawn().await;
    let body = |pin: &str| json!({"tenant_id": app.a.tenant_id, "staff_id": app.a.owner_id, "pin": pin});
    for _ in 0..4 {
        app.call(Method::POST, "/v1/auth/login", None, Some(body("9999"))).await.problem(401, "UNAUTHORIZED");
    }
    app.call(Method::POST, "/v1/auth/login", None, Some(body("1234"))).await.ok(200);
    for _ in 0..4 {
        app.call(Method::POST, "/v1/auth/login", None, Some(body("9999"))).await.problem(401, "UNAUTHORIZED");
    }
    app.call(Method::POST, "/v1/auth/login", None, Some(body("1234"))).await.ok(200);
}

#[tokio::test]
async fn login_bad_input_and_unknown_staff() {
    let app = TestApp::spawn().await;
    let login = |b| app.call(Method::POST, "/v1/auth/login", None, Some(b));
    let r = login(json!({"tenant_id": app.a.tenant_id, "staff_id": Uuid::now_v7(), "pin": "1234"})).await;
    r.problem(401, "UNAUTHORIZED");
    let r = login(json!({"tenant_id": Uuid::now_v7(), "staff_id": app.a.owner_id, "pin": "1234"})).await;
    r.problem(401, "UNAUTHORIZED");
    let r = login(json!({"tenant_id": app.a.tenant_id, "staff_id": app.a.owner_id, "pin": "12a4"})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "pin");
    let r = login(json!({"tenant_id": app.a.tenant_id, "staff_id": app.a.owner_id})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "pin");
    let r = login(json!({"tenant_id": "not-a-uuid", "staff_id": app.a.owner_id, "pin": "1234"})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "tenant_id");
}

#[tokio::test]
async fn deactivated_staff_lose_their_token_and_cannot_log_in() {
    let app = TestApp::spawn().await;
    let branch = app.branch(&app.a.token, "Main").await;
    let mgr = app.staff(&app.a.token, "Mgr", "manager", "5678", &[branch]).await;
    let token = app.login(app.a.tenant_id, mgr, "5678").await;
    app.get("/v1/branches", &token).await.ok(200);
    app.patch(&format!("/v1/staff/{mgr}"), &app.a.token, json!({"active": false})).await.ok(200);
    app.get("/v1/branches", &token).await.problem(401, "UNAUTHORIZED");
    let r = app
        .call(Method::POST, "/v1/auth/login", None, Some(json!({"tenant_id": app.a.tenant_id, "staff_id": mgr, "pin": "5678"})))
        .await;
    r.problem(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_are_401() {
    let app = TestApp::spawn().await;
    app.call(Method::GET, "/v1/branches", None, None).await.problem(401, "UNAUTHORIZED");
    app.get("/v1/branches", "mdl_nope").await.problem(401, "UNAUTHORIZED");
    let r = app.client.get(format!("{}/v1/branches", app.base)).header("authorization", "Basic abc").send().await.unwrap();
    TestApp::read(r).await.problem(401, "UNAUTHORIZED");
}

/// `POST /v1/auth/logout` revokes the calling token at once (`204`; the token is then
/// `401`); the person's other sign-ins stay. A device does not sign itself out.
#[tokio::test]
async fn logout_revokes_the_calling_token_only() {
    let app = TestApp::spawn().await;
    let branch = app.branch(&app.a.token, "Main").await;
    let mgr = app.staff(&app.a.token, "Mgr", "manager", "5678", &[branch]).await;
    let (laptop, phone) = (app.login(app.a.tenant_id, mgr, "5678").await, app.login(app.a.tenant_id, mgr, "5678").await);
    let r = app.call(Method::POST, "/v1/auth/logout", Some(&laptop), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get("/v1/branches", &laptop).await.problem(401, "UNAUTHORIZED");
    app.call(Method::POST, "/v1/auth/logout", Some(&laptop), None).await.problem(401, "UNAUTHORIZED");
    app.get("/v1/branches", &phone).await.ok(200);
    let (_, device_token) = app.device(&app.a.token, branch).await;
    app.call(Method::POST, "/v1/auth/logout", Some(&device_token), None).await.problem(403, "FORBIDDEN");
    app.get(&format!("/v1/sync/pull?branch_id={branch}"), &device_token).await.ok(200);
    app.call(Method::POST, "/v1/auth/logout", None, None).await.problem(401, "UNAUTHORIZED");
}

/// A new credential, a deactivation or a role change deletes every token of that person
/// in the same transaction: reactivating them does not bring an old sign-in back.
#[tokio::test]
async fn a_new_pin_deactivation_or_role_change_ends_every_sign_in() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let branch = app.branch(t, "Main").await;
    let mgr = app.staff(t, "Mgr", "manager", "5678", &[branch]).await;
    let path = format!("/v1/staff/{mgr}");
    let patch = |body: serde_json::Value| app.patch(&path, t, body);
    for (change, undo) in [
        (json!({"active": false}), Some(json!({"active": true}))),
        (json!({"role": "cashier"}), Some(json!({"role": "manager"}))),
        (json!({"pin": "8765"}), None),
    ] {
        // (The PIN change comes last: until then the PIN is the one it was created with.)
        let token = app.login(app.a.tenant_id, mgr, "5678").await;
        app.get("/v1/branches", &token).await.ok(200);
        // A name change is no credential: the token survives it.
        patch(json!({"name": "Manager"})).await.ok(200);
        app.get("/v1/branches", &token).await.ok(200);
        patch(change.clone()).await.ok(200);
        if let Some(undo) = undo {
            patch(undo).await.ok(200);
        }
        app.get("/v1/branches", &token).await.problem(401, "UNAUTHORIZED");
    }
    // The owner's own token survived all of it.
    app.get("/v1/branches", t).await.ok(200);
}
