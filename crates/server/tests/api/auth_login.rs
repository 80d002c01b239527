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
