//! The manager's dashboard (`GET /dashboard`, its assets) and the list it needs,
//! `GET /v1/cash-sessions?branch_id=`: shape, variance, order, who may read it.

use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::common::uuid;
use crate::fixtures::*;

/// Every id the page documents for browser tests.
const IDS: &[&str] = &[
    "login-shop", "login-name", "login-password", "login-submit", "login-error", "branch-select", "freeze",
    "unfreeze", "branch-status", "devices", "failures", "sales", "sales-count", "sales-total", "cash-sessions",
    "audit", "message", "logout",
];

#[tokio::test]
async fn dashboard_page_is_html_with_the_documented_ids_and_needs_no_token() {
    let fx = Fx::new().await;
    for path in ["/dashboard", "/dashboard?shop=x&login=y"] {
        let r = fx.app.call(Method::GET, path, None, None).await;
        assert_eq!(r.status.as_u16(), 200, "{path}: {}", r.text);
        assert!(r.content_type.starts_with("text/html"), "content type {:?}", r.content_type);
        for id in IDS {
            assert!(r.text.contains(&format!("id=\"{id}\"")), "element #{id} in the page");
        }
        // Documented in the comment at the top, for whoever writes browser tests.
        let comment_end = r.text.find("-->").expect("a comment at the top");
        for id in IDS {
            assert!(r.text[..comment_end].contains(&format!("#{id}")), "#{id} documented in the top comment");
        }
        assert!(r.text.contains("/dashboard/dashboard.js") && r.text.contains("/dashboard/dashboard.css"));
        assert!(!r.text.contains("http://") && !r.text.contains("https://"), "no CDN or external asset");
    }
    let js = fx.app.call(Method::GET, "/dashboard/dashboard.js", None, None).await;
    assert_eq!(js.status.as_u16(), 200);
    assert!(js.content_type.starts_with("text/javascript"), "{:?}", js.content_type);
    for api in ["/v1/auth/login", "/v1/branches", "/v1/sync/devices", "/v1/sync/failures", "/v1/sales", "/v1/cash-sessions", "/v1/audit", "/v1/sync/events", "sessionStorage"] {
        assert!(js.text.contains(api), "the script uses {api}");
    }
    let css = fx.app.call(Method::GET, "/dashboard/dashboard.css", None, None).await;
    assert_eq!(css.status.as_u16(), 200);
    assert!(css.content_type.starts_with("text/css"), "{:?}", css.content_type);
}

fn sessions_of(r: &crate::common::Resp) -> Vec<Value> {
    assert_eq!(r.status.as_u16(), 200, "list: {}", r.text);
    assert!(r.content_type.starts_with("application/json"), "{:?}", r.content_type);
    r.body["cash_sessions"].as_array().unwrap_or_else(|| panic!("cash_sessions: {}", r.text)).clone()
}

async fn list(fx: &Fx, branch: Uuid, token: &str) -> crate::common::Resp {
    fx.app.get(&format!("/v1/cash-sessions?branch_id={branch}"), token).await
}

/// Opens, sells, pays in and out, and closes one session of the Main device; returns its
/// id, float, expected cash and counted cash.
async fn closed_session(fx: &Fx, ops: &mut OpBuilder) -> (Uuid, i64, i64, i64) {
    let s = Uuid::now_v7();
    let float = 5000;
    let open = ops.open(fx.cashier, s, float);
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 2, LATTE_PRICE), (fx.muffin, 1, MUFFIN_PRICE)], 1000, 0);
    let paid_in = ops.movement(fx.manager, s, "paid_in", 700);
    let paid_out = ops.movement(fx.manager, s, "paid_out", 150);
    let expected = float + 2 * LATTE_PRICE + MUFFIN_PRICE + 700 - 150;
    let counted = expected - 125;
    let close = ops.close(fx.cashier, s, counted);
    for res in fx.push(&[open, sale, paid_in, paid_out, close]).await {
        applied(&res);
    }
    (s, float, expected, counted)
}

#[tokio::test]
async fn cash_sessions_list_has_the_shape_variance_after_close_and_newest_first() {
    let fx = Fx::new().await;
    let r = list(&fx, fx.branch, &fx.owner_token).await;
    assert!(sessions_of(&r).is_empty(), "nothing yet: {}", r.text);

    let mut ops = fx.ops();
    let (first, float, expected, counted) = closed_session(&fx, &mut ops).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // A second device opens after the first session closed; the Main device opens again.
    let dev2 = fx.enroll(fx.branch, "Patio").await;
    let mut ops2 = OpBuilder::new(fx.tenant, fx.branch, &dev2.code);
    let second = Uuid::now_v7();
    applied(&fx.push_as(&dev2.token, dev2.id, &[ops2.open(fx.cashier2, second, 2000)]).await[0]);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let third = Uuid::now_v7();
    applied(&fx.push(&[ops.open(fx.cashier, third, 3000)]).await[0]);

    let sessions = sessions_of(&list(&fx, fx.branch, &fx.owner_token).await);
    let ids: Vec<Uuid> = sessions.iter().map(|s| uuid(&s["id"])).collect();
    assert_eq!(ids, vec![third, second, first], "newest first");

    for s in &sessions {
        for key in [
            "id", "device_id", "status", "opening_float_cents", "expected_cash_cents", "counted_cash_cents",
            "variance_cents", "opened_at", "closed_at",
        ] {
            assert!(s.get(key).is_some(), "{key} in {s}");
        }
    }
    let closed = &sessions[2];
    assert_eq!(closed["status"], "closed");
    assert_eq!(uuid(&closed["device_id"]), fx.device);
    assert_eq!(closed["opening_float_cents"], float);
    assert_eq!(closed["expected_cash_cents"], expected);
    assert_eq!(closed["counted_cash_cents"], counted);
    assert_eq!(closed["variance_cents"], -125, "variance = counted − expected");
    assert!(closed["closed_at"].is_string() && closed["opened_at"].is_string(), "{closed}");
    // The same numbers as the one-session read.
    let one = fx.session(first).await;
    for key in ["expected_cash_cents", "counted_cash_cents", "variance_cents", "status", "opened_at", "closed_at"] {
        assert_eq!(closed[key], one[key], "{key} as GET /v1/cash-sessions/{{id}}");
    }

    let open2 = &sessions[1];
    assert_eq!(open2["status"], "open");
    assert_eq!(uuid(&open2["device_id"]), dev2.id);
    assert_eq!(open2["expected_cash_cents"], 2000);
    assert!(open2["counted_cash_cents"].is_null() && open2["variance_cents"].is_null() && open2["closed_at"].is_null());
    assert_eq!(sessions[0]["opening_float_cents"], 3000);

    // Another branch of the same tenant lists none of these.
    assert!(sessions_of(&list(&fx, fx.other_branch, &fx.owner_token).await).is_empty());
}

#[tokio::test]
async fn cash_sessions_list_is_for_managers_of_the_branch_and_its_devices() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let (s, ..) = closed_session(&fx, &mut ops).await;
    let only = |r: &crate::common::Resp| {
        let sessions = sessions_of(r);
        assert_eq!(sessions.len(), 1, "{}", r.text);
        assert_eq!(uuid(&sessions[0]["id"]), s);
    };

    // The branch's manager and the branch's own device may read it.
    let manager = fx.app.login(fx.tenant, fx.manager).await;
    only(&list(&fx, fx.branch, &manager).await);
    only(&list(&fx, fx.branch, &fx.device_token).await);

    // A cashier may not, nor a manager or device of another branch.
    let cashier = fx.app.token_in_store(fx.tenant, fx.cashier).await;
    list(&fx, fx.branch, &cashier).await.problem(403, "FORBIDDEN");
    let other_dev = fx.enroll(fx.other_branch, "Elsewhere").await;
    list(&fx, fx.branch, &other_dev.token).await.problem(403, "FORBIDDEN");
    list(&fx, fx.other_branch, &fx.device_token).await.problem(403, "FORBIDDEN");
    list(&fx, fx.other_branch, &manager).await.problem(403, "FORBIDDEN");

    // No token, a bad one, or no branch_id.
    let r = fx.app.call(Method::GET, &format!("/v1/cash-sessions?branch_id={}", fx.branch), None, None).await;
    r.problem(401, "UNAUTHORIZED");
    list(&fx, fx.branch, "mdl_not_a_token").await.problem(401, "UNAUTHORIZED");
    fx.app.get("/v1/cash-sessions", &fx.owner_token).await.problem(400, "BAD_REQUEST");
    fx.app.get("/v1/cash-sessions?branch_id=nope", &fx.owner_token).await.problem(400, "BAD_REQUEST");
}

#[tokio::test]
async fn cash_sessions_of_another_tenant_are_invisible() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let (s, ..) = closed_session(&fx, &mut ops).await;
    let b = fx.app.other_tenant("Tenant B").await;
    let b_branch = fx.app.branch(&b.token, "B Main").await;

    // A's branch id with B's token is unknown: 404, and nothing of A in the answer.
    let r = list(&fx, fx.branch, &b.token).await;
    r.problem(404, "NOT_FOUND");
    assert!(!r.text.contains(&s.to_string()) && !r.text.contains(&fx.device.to_string()), "{}", r.text);
    // B's own branch lists nothing of A.
    let r = list(&fx, b_branch, &b.token).await;
    assert!(sessions_of(&r).is_empty(), "{}", r.text);
    // And A's tokens cannot read B's branch either.
    list(&fx, b_branch, &fx.owner_token).await.problem(404, "NOT_FOUND");
    list(&fx, b_branch, &fx.device_token).await.problem(404, "NOT_FOUND");
    // The one-session read agrees.
    fx.app.get(&format!("/v1/cash-sessions/{s}"), &b.token).await.problem(404, "NOT_FOUND");
}
