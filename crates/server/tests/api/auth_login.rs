//! `POST /v1/auth/login` with shop, login and password; the throttle; logout; what
//! ends a sign-in. No server endpoint accepts a PIN.

use crate::common::{TestApp, OWNER_PASSWORD};
use modula_server::state::ServerConfig;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

impl TestApp {
    async fn sign_in(&self, body: Value) -> crate::common::Resp {
        self.call(Method::POST, "/v1/auth/login", None, Some(body)).await
    }

    /// The owner's sign-in body with this password (the shop by slug).
    fn owner_body(&self, password: &str) -> Value {
        json!({"tenant": self.a.slug, "login": "owner", "password": password})
    }
}

#[tokio::test]
async fn login_with_a_password_returns_a_working_token_with_the_role() {
    let app = TestApp::spawn().await;
    let branch = app.branch(&app.a.token, "Main").await;
    let mgr = app.staff(&app.a.token, "Mgr", "manager", "5678", &[branch]).await;
    let (login, password) = app.sign_in_of(mgr);
    // By slug, with the login in another case and spaces around it.
    let before = chrono::Utc::now();
    let r = app.sign_in(json!({"tenant": app.a.slug, "login": format!(" {} ", login.to_uppercase()), "password": password})).await;
    let body = r.ok(200);
    assert_eq!(body["role"], "manager");
    assert_eq!(body["staff_id"], mgr.to_string());
    assert_eq!(body["tenant_id"], app.a.tenant_id.to_string());
    let expires_at: chrono::DateTime<chrono::Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    let hours = (expires_at - before).num_minutes() as f64 / 60.0;
    assert!((11.9..=12.1).contains(&hours), "a sign-in lasts 12 hours: {hours}");
    let token = body["token"].as_str().unwrap();
    // The token works and is scoped to the manager's branch.
    let r = app.get("/v1/branches", token).await;
    let names: Vec<_> = r.ok(200)["branches"].as_array().unwrap().iter().map(|b| b["name"].clone()).collect();
    assert_eq!(names, vec![json!("Main")]);
    // By tenant id too.
    app.sign_in(json!({"tenant": app.a.tenant_id.to_string(), "login": login, "password": password})).await.ok(200);
    app.sign_in(app.owner_body(OWNER_PASSWORD)).await.ok(200);
}

/// The PIN is a till credential: the old PIN sign-in body is refused as malformed, and a
/// PIN sent as a password is too short to be anyone's.
#[tokio::test]
async fn no_server_endpoint_accepts_a_pin() {
    let app = TestApp::spawn().await;
    let r = app.sign_in(json!({"tenant_id": app.a.tenant_id, "staff_id": app.a.owner_id, "pin": "1234"})).await;
    r.problem(400, "BAD_REQUEST");
    let r = app.sign_in(json!({"tenant": app.a.slug, "login": "owner", "password": "1234"})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "password");
    assert!(!r.text.contains("1234"), "never echo a credential: {}", r.text);
}

#[tokio::test]
async fn wrong_password_is_401_and_repeated_failures_lock_sign_in() {
    let app = TestApp::spawn().await;
    for _ in 0..4 {
        app.sign_in(app.owner_body("not the password")).await.problem(401, "UNAUTHORIZED");
    }
    // The fifth failure locks; during the lock even the right password is refused.
    let r = app.sign_in(app.owner_body("not the password")).await;
    r.problem(429, "LOGIN_LOCKED");
    assert!(r.headers.get("retry-after").is_some());
    app.sign_in(app.owner_body(OWNER_PASSWORD)).await.problem(429, "LOGIN_LOCKED");
    // Failed and locked attempts are in the tenant's audit trail (owner only).
    let r = app.get("/v1/audit", &app.a.token).await;
    let actions: Vec<&str> = r.ok(200)["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    let mut want = vec!["login_failed"; 4];
    want.extend(["login_failed_locked", "login_locked"]);
    assert_eq!(actions, want);
    let event = &r.body["events"][4];
    assert_eq!(event["module"], "auth");
    assert_eq!(event["actor_id"], app.a.owner_id.to_string());
    assert_eq!(event["details"]["failures_in_a_row"], 5);
    assert!(!r.text.contains("not the password"), "the audit never holds a tried password");
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let app = TestApp::spawn().await;
    for _ in 0..2 {
        for _ in 0..4 {
            app.sign_in(app.owner_body("not the password")).await.problem(401, "UNAUTHORIZED");
        }
        app.sign_in(app.owner_body(OWNER_PASSWORD)).await.ok(200);
    }
}

/// An unknown shop, an unknown login, a cashier and a wrong password all get the same
/// `401` with the same words: nothing tells which half was wrong.
#[tokio::test]
async fn unknown_shops_and_logins_look_like_wrong_passwords() {
    let app = TestApp::spawn().await;
    let wrong = app.sign_in(app.owner_body("not the password")).await;
    let detail = wrong.problem(401, "UNAUTHORIZED")["detail"].clone();
    let other = app.other_tenant("Tenant B").await;
    for body in [
        json!({"tenant": app.a.slug, "login": "nobody", "password": OWNER_PASSWORD}),
        json!({"tenant": "no-such-shop", "login": "owner", "password": OWNER_PASSWORD}),
        json!({"tenant": Uuid::now_v7().to_string(), "login": "owner", "password": OWNER_PASSWORD}),
        // Tenant B's owner has the same login and password, but not in tenant A.
        json!({"tenant": other.slug, "login": "owner", "password": "a wrong one here"}),
    ] {
        let r = app.sign_in(body.clone()).await;
        assert_eq!(r.problem(401, "UNAUTHORIZED")["detail"], detail, "{body}");
    }
    // Malformed fields are refused before any database work.
    let r = app.sign_in(json!({"tenant": "Not A Slug!", "login": "owner", "password": OWNER_PASSWORD})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "tenant");
    let r = app.sign_in(json!({"tenant": app.a.slug, "login": "a b", "password": OWNER_PASSWORD})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "login");
    let r = app.sign_in(json!({"tenant": app.a.slug, "login": "owner", "password": "x".repeat(257)})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "password");
    let r = app.sign_in(json!({"tenant": app.a.slug, "login": "owner"})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "password");
}

/// Cashiers have no server sign-in: none can be given, and a demotion takes it away.
#[tokio::test]
async fn cashiers_have_no_server_sign_in() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let b = app.branch(t, "Main").await;
    let body = json!({"name": "Cam", "role": "cashier", "pin": "1111", "branch_ids": [b], "login": "cam", "password": "cashier password"});
    let r = app.post("/v1/staff", t, body).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "login");
    let cam = app.staff(t, "Cam", "cashier", "1111", &[b]).await;
    let r = app.patch(&format!("/v1/staff/{cam}"), t, json!({"login": "cam", "password": "cashier password"})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "login");
    // Half a sign-in is refused.
    let r = app.post("/v1/staff", t, json!({"name": "M", "role": "manager", "pin": "1111", "branch_ids": [b], "login": "m"})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "password");
    // A manager demoted to cashier loses the login; the sign-in stops working.
    let mgr = app.staff(t, "Mgr", "manager", "5678", &[b]).await;
    let (login, password) = app.sign_in_of(mgr);
    let token = app.login(app.a.tenant_id, mgr).await;
    let r = app.patch(&format!("/v1/staff/{mgr}"), t, json!({"role": "cashier"})).await;
    assert_eq!(r.ok(200)["login"], Value::Null);
    app.get("/v1/branches", &token).await.problem(401, "UNAUTHORIZED");
    let r = app.sign_in(json!({"tenant": app.a.slug, "login": login, "password": password})).await;
    r.problem(401, "UNAUTHORIZED");
}

/// Logins are unique in a tenant; another tenant may use the same one.
#[tokio::test]
async fn a_login_is_unique_in_its_tenant() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let b = app.branch(t, "Main").await;
    let body = |login: &str| json!({"name": "M", "role": "manager", "pin": "1111", "branch_ids": [b], "login": login, "password": "a password here"});
    app.post("/v1/staff", t, body("dara")).await.ok(201);
    app.post("/v1/staff", t, body("DARA")).await.problem(409, "CONFLICT");
    let other = app.post("/v1/staff", t, body("sok")).await;
    let sok = other.ok(201)["id"].as_str().unwrap().to_string();
    app.patch(&format!("/v1/staff/{sok}"), t, json!({"login": "dara"})).await.problem(409, "CONFLICT");
    app.patch(&format!("/v1/staff/{sok}"), t, json!({"login": "sok"})).await.ok(200);
    let tb = app.other_tenant("Tenant B").await;
    let bb = app.branch(&tb.token, "B Main").await;
    let r = app.post("/v1/staff", &tb.token, json!({"name": "M", "role": "manager", "pin": "1111", "branch_ids": [bb], "login": "dara", "password": "a password here"})).await;
    r.ok(201);
}

/// A manager may change their own password and login (not another manager's), giving
/// their current password, so a stolen token alone cannot take the account over; a wrong
/// one counts as a failed sign-in. The new password ends their other sign-ins.
#[tokio::test]
async fn managers_change_their_own_password() {
    let app = TestApp::spawn().await;
    let b = app.branch(&app.a.token, "Main").await;
    let mgr = app.staff(&app.a.token, "Mgr", "manager", "5678", &[b]).await;
    let other = app.staff(&app.a.token, "Other", "manager", "5679", &[b]).await;
    let (login, password) = app.sign_in_of(mgr);
    let (phone, laptop) = (app.login(app.a.tenant_id, mgr).await, app.login(app.a.tenant_id, mgr).await);
    app.patch(&format!("/v1/staff/{other}"), &laptop, json!({"password": "taken over!!"})).await.problem(403, "FORBIDDEN");
    app.patch(&format!("/v1/staff/{mgr}"), &laptop, json!({"role": "owner"})).await.problem(403, "FORBIDDEN");
    let me = format!("/v1/staff/{mgr}");
    let r = app.patch(&me, &laptop, json!({"password": "my new password"})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "current_password");
    let r = app.patch(&me, &laptop, json!({"password": "my new password", "current_password": "a wrong guess"})).await;
    r.problem(403, "FORBIDDEN");
    assert_eq!(judged_failures(&app, mgr).await, 1, "a wrong current password counts as a failed sign-in");
    app.patch(&me, &laptop, json!({"password": "my new password", "current_password": password})).await.ok(200);
    app.get("/v1/branches", &phone).await.problem(401, "UNAUTHORIZED");
    app.sign_in(json!({"tenant": app.a.slug, "login": login, "password": "my new password"})).await.ok(200);
}

#[tokio::test]
async fn deactivated_staff_lose_their_token_and_cannot_log_in() {
    let app = TestApp::spawn().await;
    let branch = app.branch(&app.a.token, "Main").await;
    let mgr = app.staff(&app.a.token, "Mgr", "manager", "5678", &[branch]).await;
    let token = app.login(app.a.tenant_id, mgr).await;
    app.get("/v1/branches", &token).await.ok(200);
    app.patch(&format!("/v1/staff/{mgr}"), &app.a.token, json!({"active": false})).await.ok(200);
    app.get("/v1/branches", &token).await.problem(401, "UNAUTHORIZED");
    let (login, password) = app.sign_in_of(mgr);
    app.sign_in(json!({"tenant": app.a.slug, "login": login, "password": password})).await.problem(401, "UNAUTHORIZED");
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
    let (laptop, phone) = (app.login(app.a.tenant_id, mgr).await, app.login(app.a.tenant_id, mgr).await);
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

/// A new password, a removed login, a deactivation or a role change deletes every token
/// of that person in the same transaction: undoing it does not bring an old sign-in
/// back. A name or PIN change is no server credential: the token survives them.
#[tokio::test]
async fn a_new_password_deactivation_or_role_change_ends_every_sign_in() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let branch = app.branch(t, "Main").await;
    let mgr = app.staff(t, "Mgr", "manager", "5678", &[branch]).await;
    let (login, password) = app.sign_in_of(mgr);
    let path = format!("/v1/staff/{mgr}");
    let patch = |body: Value| app.patch(&path, t, body);
    let restore = json!({"login": login, "password": password});
    for (change, undo) in [
        (json!({"active": false}), json!({"active": true})),
        (json!({"role": "owner"}), json!({"role": "manager"})),
        (json!({"password": "another password"}), restore.clone()),
        (json!({"login": null}), restore.clone()),
    ] {
        let token = app.login(app.a.tenant_id, mgr).await;
        app.get("/v1/branches", &token).await.ok(200);
        patch(json!({"name": "Manager", "pin": "8765"})).await.ok(200);
        app.get("/v1/branches", &token).await.ok(200);
        patch(change.clone()).await.ok(200);
        patch(undo).await.ok(200);
        app.get("/v1/branches", &token).await.problem(401, "UNAUTHORIZED");
    }
    // The owner's own token survived all of it.
    app.get("/v1/branches", t).await.ok(200);
}

/// The failed sign-ins in a row the server has counted for a staff member (what the
/// throttle judged), read from the store.
async fn judged_failures(app: &TestApp, staff: Uuid) -> i64 {
    let mut tx = app.store.begin_read().await.unwrap();
    tx.staff(app.a.tenant_id, staff).await.unwrap().unwrap().failed_logins
}

/// 60 concurrent wrong passwords at one account, then the right one: the throttle counts
/// each attempt under the account's row lock before judging it, so exactly 5 are judged
/// and the rest are refused while locked (or turned away at the busy gate); the right
/// password is refused too, and works once the lock has ended. (The right one is sent
/// after the burst is answered: sent with it, it may be judged among the first five,
/// and rightly succeed.) Runs on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_cannot_outrun_the_lock() {
    // Far longer than the burst takes; the lock's end is then brought forward from the side.
    let config = ServerConfig { login_lock_base: std::time::Duration::from_secs(600), ..ServerConfig::default() };
    let app = TestApp::spawn_with(config).await;
    let branch = app.branch(&app.a.token, "Main").await;
    let mgr = app.staff(&app.a.token, "Mgr", "manager", "5678", &[branch]).await;
    let (login, password) = app.sign_in_of(mgr);
    let body = |password: &str| json!({"tenant": app.a.slug, "login": login, "password": password});
    let guesses: Vec<_> = (0..60).map(|i| body(&format!("guess number {i}"))).collect();
    let attempts = guesses.into_iter().map(|b| app.sign_in(b));
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
    let r = app.sign_in(body(&password)).await;
    r.problem(429, "LOGIN_LOCKED");
    let wait_s: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((590..=600).contains(&wait_s), "the first lock lasts the base period: {wait_s}");
    // Ten minutes later (the lock moved into the past from the side, the count kept):
    let mut tx = app.store.begin_write().await.unwrap();
    let ended = chrono::Utc::now() - chrono::Duration::seconds(1);
    tx.set_login_lockout(app.a.tenant_id, mgr, 5, Some(ended)).await.unwrap();
    tx.commit().await.unwrap();
    app.sign_in(body(&password)).await.ok(200);
    assert_eq!(judged_failures(&app, mgr).await, 0, "a success clears the count");
}

/// Each lockout lasts longer than the one before: the base, then twice it.
#[tokio::test]
async fn lock_periods_grow_with_each_lockout() {
    let config = ServerConfig { login_lock_base: std::time::Duration::from_secs(1), ..ServerConfig::default() };
    let app = TestApp::spawn_with(config).await;
    let body = app.owner_body("not the password");
    let retry_after = |r: &crate::common::Resp| -> u64 {
        r.headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Retry-After")
    };
    for _ in 0..4 {
        app.sign_in(body.clone()).await.problem(401, "UNAUTHORIZED");
    }
    let first = app.sign_in(body.clone()).await;
    first.problem(429, "LOGIN_LOCKED");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..4 {
        app.sign_in(body.clone()).await.problem(401, "UNAUTHORIZED");
    }
    let second = app.sign_in(body.clone()).await;
    second.problem(429, "LOGIN_LOCKED");
    assert_eq!((retry_after(&first), retry_after(&second)), (1, 2), "the second lock lasts twice the first");
    assert_eq!(judged_failures(&app, app.a.owner_id).await, 10, "a lock that ended did not clear the count");
}

/// Guessing across accounts from one address: 20 judged failures, whatever the accounts
/// (unknown ones too), lock the address; then even the owner's right password from it is
/// refused until the lock ends. A success does not clear the address's count (a valid
/// login must not reset the guesses at other accounts): 20 more failures lock it again.
#[tokio::test]
async fn failures_across_accounts_lock_the_client_address() {
    let config = ServerConfig { login_lock_base: std::time::Duration::from_secs(1), ..ServerConfig::default() };
    let app = TestApp::spawn_with(config).await;
    let branch = app.branch(&app.a.token, "Main").await;
    let mut logins = vec!["owner".to_string()];
    for i in 0..3 {
        let mgr = app.staff(&app.a.token, &format!("Mgr {i}"), "manager", "5678", &[branch]).await;
        logins.push(app.sign_in_of(mgr).0);
    }
    let attempt = |login: &str, password: &str| app.sign_in(json!({"tenant": app.a.slug, "login": login, "password": password}));
    // 19 failures: 4 per known account (below their own lock) and 3 unknown logins.
    for login in &logins {
        for _ in 0..4 {
            attempt(login, "a wrong password").await.problem(401, "UNAUTHORIZED");
        }
    }
    for i in 0..3 {
        attempt(&format!("nobody{i}"), "a wrong password").await.problem(401, "UNAUTHORIZED");
    }
    // The 20th locks the address.
    let r = attempt("nobody", "a wrong password").await;
    r.problem(429, "LOGIN_LOCKED");
    attempt("owner", OWNER_PASSWORD).await.problem(429, "LOGIN_LOCKED");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    attempt("owner", OWNER_PASSWORD).await.ok(200);
    // The success did not clear the address's count: the 20th failure after the lock
    // locks the address again (for twice as long).
    for i in 0..19 {
        attempt(&format!("nobody{i}"), "a wrong password").await.problem(401, "UNAUTHORIZED");
    }
    attempt("nobody", "a wrong password").await.problem(429, "LOGIN_LOCKED");
}
