use crate::common::{uuid, TestApp};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn create_list_freeze_and_unfreeze_a_branch() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let r = app.post("/v1/branches", t, json!({"name": "  Riverside  "})).await;
    let b = r.ok(201);
    assert_eq!(b["name"], "Riverside");
    assert_eq!(b["status"], "active");
    let id = uuid(&b["id"]);
    let r = app.get("/v1/branches", t).await;
    assert_eq!(r.ok(200)["branches"][0]["id"], id.to_string());

    let r = app.post(&format!("/v1/branches/{id}/freeze"), t, json!({})).await;
    assert_eq!(r.ok(200), &json!({"id": id, "status": "frozen"}));
    let r = app.get("/v1/branches", t).await;
    assert_eq!(r.ok(200)["branches"][0]["status"], "frozen");
    let r = app.post(&format!("/v1/branches/{id}/unfreeze"), t, json!({})).await;
    assert_eq!(r.ok(200), &json!({"id": id, "status": "active"}));
}

#[tokio::test]
async fn freeze_works_without_a_body() {
    let app = TestApp::spawn().await;
    let id = app.branch(&app.a.token, "B").await;
    let r = app.call(reqwest::Method::POST, &format!("/v1/branches/{id}/freeze"), Some(&app.a.token), None).await;
    assert_eq!(r.ok(200)["status"], "frozen");
}

#[tokio::test]
async fn branch_bad_input() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let r = app.post("/v1/branches", t, json!({})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "name");
    let r = app.post("/v1/branches", t, json!({"name": 7})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "name");
    let r = app.post("/v1/branches", t, json!({"name": "   "})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "name");
    let r = app.post("/v1/branches", t, json!({"name": "x".repeat(121)})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "name");
    let r = app.post(&format!("/v1/branches/{}/freeze", Uuid::now_v7()), t, json!({})).await;
    r.problem(404, "NOT_FOUND");
    let r = app.post("/v1/branches/not-a-uuid/freeze", t, json!({})).await;
    r.problem(400, "BAD_REQUEST");
}

#[tokio::test]
async fn managers_administer_only_their_branches() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let mine = app.branch(t, "Mine").await;
    let other = app.branch(t, "Other").await;
    let mgr = app.staff(t, "Mgr", "manager", "5678", &[mine]).await;
    let mt = app.login(app.a.tenant_id, mgr).await;
    app.post(&format!("/v1/branches/{mine}/freeze"), &mt, json!({})).await.ok(200);
    app.post(&format!("/v1/branches/{other}/freeze"), &mt, json!({})).await.problem(403, "FORBIDDEN");
    // A new branch is a tenant-wide change: the owner's alone (SPEC §5).
    app.post("/v1/branches", &mt, json!({"name": "New"})).await.problem(403, "FORBIDDEN");
    let r = app.get("/v1/branches", &mt).await;
    assert_eq!(r.ok(200)["branches"].as_array().unwrap().len(), 1, "{:?}", r.body);
}

#[tokio::test]
async fn tenant_policy_and_branch_override() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let r = app.get("/v1/policy", t).await;
    assert_eq!(
        r.ok(200),
        &json!({"currency": "USD", "vat_bps": 1000, "prices_include_vat": true, "khr_per_usd": 4100,
                "khr_rounding": 100, "paid_out_limit_cents": 2000, "idle_signout_minutes": 30,
                "max_tender_cents": 20000, "max_float_cents": 50000, "blind_close": true, "vat_tin": "",
                "receipt_footer": ""})
    );
    let r = app.put("/v1/policy", t, json!({"khr_per_usd": 4050})).await;
    assert_eq!(r.ok(200)["khr_per_usd"], 4050);
    assert_eq!(r.body["vat_bps"], 1000);

    let b = app.branch(t, "Airport").await;
    let r = app.put(&format!("/v1/branches/{b}/policy"), t, json!({"vat_bps": 0, "prices_include_vat": false})).await;
    let eff = r.ok(200);
    assert_eq!(eff["vat_bps"], 0);
    assert_eq!(eff["prices_include_vat"], false);
    assert_eq!(eff["khr_per_usd"], 4050);
    // The tenant changes show through fields the branch does not override.
    app.put("/v1/policy", t, json!({"khr_per_usd": 4000, "vat_bps": 500})).await.ok(200);
    let r = app.get(&format!("/v1/branches/{b}/policy"), t).await;
    assert_eq!(r.ok(200)["khr_per_usd"], 4000);
    assert_eq!(r.body["vat_bps"], 0);
    // `{}` clears the override.
    let r = app.put(&format!("/v1/branches/{b}/policy"), t, json!({})).await;
    assert_eq!(r.ok(200)["vat_bps"], 500);
}

#[tokio::test]
async fn policy_bad_input_names_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let r = app.put("/v1/policy", t, json!({"vat_bps": 20000})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "vat_bps");
    let r = app.put("/v1/policy", t, json!({"khr_rounding": 7})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "khr_rounding");
    let r = app.put("/v1/policy", t, json!({"currency": "usd"})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "currency");
    let r = app.put("/v1/policy", t, json!({"vat_bps": "ten"})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "vat_bps");
    let b = app.branch(t, "B").await;
    let r = app.put(&format!("/v1/branches/{b}/policy"), t, json!({"khr_per_usd": 0})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "khr_per_usd");
    assert_eq!(app.get("/v1/policy", t).await.ok(200)["vat_bps"], 1000);
}

/// Freeze, unfreeze and restock are a manager's actions of no op: each is one event of
/// the branch's audit log, with the manager as actor, no device and no op key.
#[tokio::test]
async fn freeze_unfreeze_and_restock_are_audited() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let branch = app.branch(t, "Audited").await;
    let stock = app.stock_item(t, "beans").await;
    app.post(&format!("/v1/branches/{branch}/freeze"), t, json!({})).await.ok(200);
    app.post(&format!("/v1/branches/{branch}/unfreeze"), t, json!({})).await.ok(200);
    let r = app.post("/v1/inventory/restock", t, json!({"branch_id": branch, "stock_item_id": stock, "qty": 500})).await;
    r.ok(200);
    let r = app.get(&format!("/v1/audit?branch_id={branch}"), t).await;
    let events = r.ok(200)["events"].as_array().unwrap().clone();
    let what: Vec<(&str, &str)> = events.iter().map(|e| (e["module"].as_str().unwrap(), e["action"].as_str().unwrap())).collect();
    assert_eq!(what, [("branch", "freeze"), ("branch", "unfreeze"), ("inventory", "restock")], "{}", r.text);
    for e in &events {
        assert_eq!(e["actor_id"], app.a.owner_id.to_string(), "{e}");
        assert_eq!(e["lane"], "online");
        assert!(e["device_id"].is_null() && e["client_op_id"].is_null(), "{e}");
    }
    assert_eq!(events[0]["details"], json!({"status": "frozen", "previous_status": "active"}));
    assert_eq!(events[1]["details"], json!({"status": "active", "previous_status": "frozen"}));
    assert_eq!(events[2]["details"], json!({"stock_item_id": stock, "qty": 500, "on_hand": 500}));
}

#[tokio::test]
async fn a_policy_change_does_not_undo_a_freeze_committed_while_it_waits() {
    use crate::common::{until_a_writer_waits, Side};
    let app = TestApp::spawn().await;
    let t = app.a.token.clone();
    let b = app.branch(&t, "Main").await;
    // Another writer holds the branch; the policy change queues behind it.
    let mut side = Side::open(&app).await;
    side.exec("BEGIN IMMEDIATE", &format!("BEGIN; SELECT id FROM branches WHERE id = '{b}' FOR NO KEY UPDATE")).await;
    let put = app.client.put(format!("{}/v1/branches/{b}/policy", app.base)).bearer_auth(&t).json(&json!({"vat_bps": 1000}));
    let put = tokio::spawn(async move { put.send().await.expect("put policy").status().as_u16() });
    until_a_writer_waits(&app).await;
    // That writer freezes the branch and commits.
    let freeze = format!("UPDATE branches SET status = 'frozen' WHERE id = {}", side.id(b));
    side.exec(&freeze, &freeze).await;
    side.exec("COMMIT", "COMMIT").await;
    assert_eq!(put.await.expect("put task"), 200);
    let r = app.get("/v1/branches", &t).await;
    let main = r.ok(200)["branches"].as_array().expect("branches").iter().find(|x| x["id"] == b.to_string()).cloned();
    assert_eq!(main.expect("the branch")["status"], "frozen", "the policy change wrote back a stale status: {}", r.text);
}
