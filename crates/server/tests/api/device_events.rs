//! `POST /v1/devices/me/events`: a till's PIN lockout reaches the branch's audit trail,
//! once per event id; only a device token of the tenant may report, about its staff.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::fixtures::*;

fn lockout(event_id: Uuid, staff: Uuid) -> Value {
    json!({"event_id": event_id, "kind": "pin_locked", "staff_id": staff, "occurred_at": "2026-12-06T10:00:00Z",
           "failures": 5, "locked_until": "2026-12-06T10:05:00Z"})
}

#[tokio::test]
async fn a_tills_lockout_is_audited_once_in_its_branch() {
    let fx = Fx::new().await;
    let event = Uuid::now_v7();
    let body = json!({"events": [lockout(event, fx.cashier)]});
    let r = fx.app.post("/v1/devices/me/events", &fx.device_token, body.clone()).await;
    assert_eq!(r.ok(200)["recorded"], 1);
    // Sent again after a lost answer: nothing new.
    let r = fx.app.post("/v1/devices/me/events", &fx.device_token, body).await;
    assert_eq!(r.ok(200)["recorded"], 0);
    let audit = fx.app.get(&format!("/v1/audit?branch_id={}", fx.branch), &fx.owner_token).await;
    let locks: Vec<&Value> = audit.ok(200)["events"].as_array().unwrap().iter().filter(|e| e["action"] == "pin_locked").collect();
    assert_eq!(locks.len(), 1, "{}", audit.text);
    assert_eq!(locks[0]["module"], "auth");
    assert_eq!(locks[0]["actor_id"], fx.cashier.to_string());
    assert_eq!(locks[0]["device_id"], fx.device.to_string());
    assert_eq!(locks[0]["occurred_at"], "2026-12-06T10:00:00Z");
    assert_eq!(locks[0]["details"]["failures_in_a_row"], 5);
    // The other branch's trail does not have it.
    let other = fx.app.get(&format!("/v1/audit?branch_id={}", fx.other_branch), &fx.owner_token).await;
    assert!(!other.text.contains("pin_locked"), "{}", other.text);
}

#[tokio::test]
async fn only_a_device_reports_and_only_about_its_tenants_staff() {
    let fx = Fx::new().await;
    let post = |token: &str, body: Value| {
        let token = token.to_string();
        let app = &fx.app;
        async move { app.post("/v1/devices/me/events", &token, body).await }
    };
    let one = |staff: Uuid| json!({"events": [lockout(Uuid::now_v7(), staff)]});
    post(&fx.owner_token, one(fx.cashier)).await.problem(403, "FORBIDDEN");
    let manager = fx.app.login(fx.tenant, fx.manager).await;
    post(&manager, one(fx.cashier)).await.problem(403, "FORBIDDEN");
    // Events about someone the tenant does not know are skipped, the others recorded.
    let other_tenant = fx.app.other_tenant("Tenant B").await;
    let mixed = json!({"events": [lockout(Uuid::now_v7(), other_tenant.owner_id), lockout(Uuid::now_v7(), Uuid::now_v7()),
                                  lockout(Uuid::now_v7(), fx.cashier)]});
    let r = post(&fx.device_token, mixed).await;
    assert_eq!((r.ok(200)["recorded"].clone(), r.body["skipped"].clone()), (json!(1), json!(2)), "{}", r.text);
    let many: Vec<Value> = (0..51).map(|_| lockout(Uuid::now_v7(), fx.cashier)).collect();
    post(&fx.device_token, json!({"events": many})).await.problem(413, "PAYLOAD_TOO_LARGE");
    let mut odd = lockout(Uuid::now_v7(), fx.cashier);
    odd["kind"] = json!("door_opened");
    post(&fx.device_token, json!({"events": [odd]})).await.problem(400, "BAD_REQUEST");
    let mut far = lockout(Uuid::now_v7(), fx.cashier);
    far["occurred_at"] = json!("2300-01-01T00:00:00Z");
    post(&fx.device_token, json!({"events": [far]})).await.problem(400, "BAD_REQUEST");
    let mut none = lockout(Uuid::now_v7(), fx.cashier);
    none["failures"] = json!(0);
    assert_eq!(post(&fx.device_token, json!({"events": [none]})).await.ok(200)["skipped"], 1);
    fx.app.call(reqwest::Method::POST, "/v1/devices/me/events", None, Some(one(fx.cashier))).await.problem(401, "UNAUTHORIZED");
    // Only the one good event reached the audit trail.
    let audit = fx.app.get(&format!("/v1/audit?branch_id={}", fx.branch), &fx.owner_token).await;
    let locks = audit.ok(200)["events"].as_array().unwrap().iter().filter(|e| e["action"] == "pin_locked").count();
    assert_eq!(locks, 1);
}
