use crate::common::TestApp;
use modula_server::state::ServerConfig;
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
    r.problem(429, "LOGIN_LOCKED");
    assert!(r.headers.get("retry-after").is_some());
    app.call(Method::POST, "/v1/auth/login", None, Some(body("1234"))).await.problem(429, "LOGIN_LOCKED");
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

/// The failed sign-ins in a row the server has counted for a staff member (what the
/// throttle judged), read from the store.
async fn judged_failures(app: &TestApp, staff: Uuid) -> i64 {
    let mut tx = app.store.begin_read().await.unwrap();
    tx.staff(app.a.tenant_id, staff).await.unwrap().unwrap().failed_pin_attempts
}

/// 60 concurrent wrong guesses at one account, then the right PIN: the throttle counts
/// each attempt under the account's row lock before judging it, so exactly 5 are judged
/// and the rest are refused while locked (or turned away at the busy gate); the right PIN
/// is refused too, and works once the lock has ended. (The right PIN is sent after the
/// burst is answered: sent with it, it may be judged among the first five, and rightly
/// succeed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_cannot_outrun_the_lock() {
    // Far longer than the burst takes; the lock's end is then brought forward from the side.
    let config = ServerConfig { login_lock_base: std::time::Duration::from_secs(600), ..ServerConfig::default() };
    let app = TestApp::spawn_with(config).await;
    let branch = app.branch(&app.a.token, "Main").await;
    let mgr = app.staff(&app.a.token, "Mgr", "manager", "5678", &[branch]).await;
    let body = |pin: &str| json!({"tenant_id": app.a.tenant_id, "staff_id": mgr, "pin": pin});
    let guesses: Vec<_> = (0..60).map(|i| body(&format!("{:04}", 1000 + i))).collect();
    let attempts = guesses.into_iter().map(|b| app.call(Method::POST, "/v1/auth/login", None, Some(b)));
    let answers = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert!(statuses.iter().all(|s| [401, 429, 503].contains(s)), "every guess refused: {statuses:?}");
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    assert!(wrong <= 4, "at most 4 plain refusals before the lock: {statuses:?}");
    assert_eq!(judged_failures(&app, mgr).await, 5, "exactly 5 attempts were judged: {statuses:?}");
    for r in answers.iter().filter(|r| r.status == 429) {
        r.problem(429, "LOGIN_LOCKED");
        assert!(r.headers.get("retry-after").is_some());
    }
    let r = app.call(Method::POST, "/v1/auth/login", None, Some(body("5678"))).await;
    r.problem(429, "LOGIN_LOCKED");
    let wait_s: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((590..=600).contains(&wait_s), "the first lock lasts the base period: {wait_s}");
    // Ten minutes later (the lock moved into the past from the side, the count kept):
    let mut tx = app.store.begin_write().await.unwrap();
    let ended = chrono::Utc::now() - chrono::Duration::seconds(1);
    tx.set_pin_lockout(app.a.tenant_id, mgr, 5, Some(ended)).await.unwrap();
    tx.commit().await.unwrap();
    app.call(Method::POST, "/v1/auth/login", None, Some(body("5678"))).await.ok(200);
    assert_eq!(judged_failures(&app, mgr).await, 0, "a success clears the count");
}

/// Each lockout lasts longer than the one before: the base, then twice it.
#[tokio::test]
async fn lock_periods_grow_with_each_lockout() {
    let config = ServerConfig { login_lock_base: std::time::Duration::from_secs(1), ..ServerConfig::default() };
    let app = TestApp::spawn_with(config).await;
    let body = json!({"tenant_id": app.a.tenant_id, "staff_id": app.a.owner_id, "pin": "9999"});
    let retry_after = |r: &crate::common::Resp| -> u64 {
        r.headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Retry-After")
    };
    for _ in 0..4 {
        app.call(Method::POST, "/v1/auth/login", None, Some(body.clone())).await.problem(401, "UNAUTHORIZED");
    }
    let first = app.call(Method::POST, "/v1/auth/login", None, Some(body.clone())).await;
    first.problem(429, "LOGIN_LOCKED");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..4 {
        app.call(Method::POST, "/v1/auth/login", None, Some(body.clone())).await.problem(401, "UNAUTHORIZED");
    }
    let second = app.call(Method::POST, "/v1/auth/login", None, Some(body.clone())).await;
    second.problem(429, "LOGIN_LOCKED");
    assert_eq!((retry_after(&first), retry_after(&second)), (1, 2), "the second lock lasts twice the first");
    assert_eq!(judged_failures(&app, app.a.owner_id).await, 10, "a lock that ended did not clear the count");
}

/// Guessing across accounts from one address: 20 judged failures in a row, whatever the
/// accounts (unknown ones too), lock the address; then even the owner's right PIN from
/// it is refused until the lock ends, and a success clears the address's count.
#[tokio::test]
async fn failures_across_accounts_lock_the_client_address() {
    let config = ServerConfig { login_lock_base: std::time::Duration::from_secs(1), ..ServerConfig::default() };
    let app = TestApp::spawn_with(config).await;
    let branch = app.branch(&app.a.token, "Main").await;
    let mut accounts = vec![app.a.owner_id];
    for i in 0..3 {
        accounts.push(app.staff(&app.a.token, &format!("Mgr {i}"), "manager", "5678", &[branch]).await);
    }
    let attempt = |staff: Uuid, pin: &str| {
        app.call(Method::POST, "/v1/auth/login", None, Some(json!({"tenant_id": app.a.tenant_id, "staff_id": staff, "pin": pin})))
    };
    // 19 failures: 4 per known account (below their own lock) and 3 unknown ids.
    for staff in &accounts {
        for _ in 0..4 {
            attempt(*staff, "0000").await.problem(401, "UNAUTHORIZED");
        }
    }
    for _ in 0..3 {
        attempt(Uuid::now_v7(), "0000").await.problem(401, "UNAUTHORIZED");
    }
    // The 20th locks the address.
    let r = attempt(Uuid::now_v7(), "0000").await;
    r.problem(429, "LOGIN_LOCKED");
    attempt(app.a.owner_id, "1234").await.problem(429, "LOGIN_LOCKED");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    attempt(app.a.owner_id, "1234").await.ok(200);
    // The success cleared the address's count: 19 more failures lock nothing.
    for _ in 0..19 {
        attempt(Uuid::now_v7(), "0000").await.problem(401, "UNAUTHORIZED");
    }
}
