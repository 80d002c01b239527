//! `GET /openapi.json` (SPEC §5.5, issue 25): the OpenAPI 3.1 document, generated from
//! the code. The router is walked against it (every route documented, every documented
//! operation routed), its examples and real answers are validated against its schemas,
//! and the problem codes are an enum of the whole vocabulary.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::TestApp;

const METHODS: [(&str, Method); 5] =
    [("get", Method::GET), ("post", Method::POST), ("put", Method::PUT), ("patch", Method::PATCH), ("delete", Method::DELETE)];

async fn document(app: &TestApp) -> Value {
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert!(r.content_type.starts_with("application/json"), "{}", r.content_type);
    r.body.clone()
}

/// A validator of `schema` (which may `$ref` the document's components).
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"].clone(),
        "allOf": [schema],
    });
    jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("a valid JSON Schema: {e}: {schema}"))
}

fn errors(doc: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    validator(doc, schema).iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path)).collect()
}

/// The schema of `method path`'s answer with `status`.
fn answer_schema(doc: &Value, path: &str, method: &str, status: u16) -> Value {
    let content = &doc["paths"][path][method]["responses"][status.to_string()]["content"];
    let schema = content["application/json"]["schema"].clone();
    assert!(schema.is_object(), "{method} {path} documents a {status} JSON answer: {content}");
    schema
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_the_problem_codes_as_an_enum() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    // Kept where CI's validator reads it (scripts/test sets MODULA_OPENAPI_OUT).
    if let Ok(dir) = std::env::var("MODULA_OPENAPI_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join("server.json"), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    }
    assert!(doc["info"]["title"].as_str().unwrap_or("").contains("Modula"));
    let codes: Vec<String> = modula_wire::ErrorCode::ALL.iter().map(|c| c.to_string()).collect();
    let listed: Vec<String> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("ErrorCode is an enum: {}", doc["components"]["schemas"]["ErrorCode"]))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, codes, "every problem code, in order");
    assert_eq!(doc["components"]["schemas"]["Problem"]["properties"]["code"]["$ref"], "#/components/schemas/ErrorCode");
    // Every operation says how it refuses: a problem+json body.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if path.starts_with("/v1") {
                let p = &op["responses"]["401"]["content"]["application/problem+json"]["schema"]["$ref"];
                assert_eq!(p, "#/components/schemas/Problem", "{method} {path}");
                let public = path == "/v1/auth/login";
                assert_eq!(op["security"] == json!([{}]), public, "{method} {path}: a token unless it is sign-in");
            }
        }
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

/// Every route of the router is in the document and every documented operation is
/// routed: each path is asked each method without a token; a documented one answers
/// (401, or 400/415 for a body it cannot read), an undocumented one is 405.
#[tokio::test]
async fn the_router_and_the_document_have_the_same_routes() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let paths = doc["paths"].as_object().unwrap();
    let v1: Vec<&String> = paths.keys().filter(|p| p.starts_with("/v1/")).collect();
    assert!(v1.len() >= 38, "the whole /v1 API is described: {}", v1.len());
    let mut operations = 0;
    for path in paths.keys() {
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "01939b6e-7a00-7c2e-9a51-3f0c2d7e8a11" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for (name, method) in METHODS {
            let documented = paths[path].get(name).is_some();
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let r = app.call(method.clone(), &concrete, None, body).await;
            let status = r.status.as_u16();
            if documented {
                operations += 1;
                assert!(![404, 405].contains(&status), "{name} {path} is documented, so routed: {status} {}", r.text);
                if path.starts_with("/v1/") && path != "/v1/auth/login" {
                    assert!([401, 400, 415, 422].contains(&status), "{name} {path} wants a token: {status} {}", r.text);
                }
            } else {
                assert_eq!(status, 405, "{name} {path} is not documented, so not routed: {}", r.text);
            }
        }
    }
    assert!(operations >= 47, "{operations} operations");
    // No `/v1` route is added by hand beside the documented ones: the routing source
    // registers them only through `routes!` (one declaration for route and document).
    let source = include_str!("../../src/routes/mod.rs");
    for (i, _) in source.match_indices(".route(\"") {
        let path = source[i + 8..].split('"').next().unwrap_or_default();
        let documented = paths.contains_key(path);
        let pages = path.starts_with("/dashboard") || path == "/openapi.json";
        assert!(documented || pages, "{path} is routed outside the OpenAPI document");
    }
    // Handlers read bodies and query strings only through the extractors that name the
    // failing field (`ApiJson`, `ApiQuery`), never through axum's bare `Json` or `Query`.
    for (file, source) in [
        ("admin.rs", include_str!("../../src/routes/admin.rs")),
        ("feed.rs", include_str!("../../src/routes/feed.rs")),
        ("online.rs", include_str!("../../src/routes/online.rs")),
        ("sync.rs", include_str!("../../src/routes/sync.rs")),
        ("health.rs", include_str!("../../src/routes/health.rs")),
        ("dashboard.rs", include_str!("../../src/routes/dashboard.rs")),
    ] {
        for bare in ["): Query<", "): Json<", "): axum::Json<", "): axum::extract::Query<"] {
            assert!(!source.contains(bare), "routes/{file} takes `{bare}`: use ApiQuery or ApiJson");
        }
    }
}

/// Every example in the document is valid against the schema it illustrates.
#[tokio::test]
async fn the_examples_are_valid_against_their_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let mut checked = 0;
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let Some(example) = schema.get("example") else { continue };
        let e = errors(&doc, &json!({"$ref": format!("#/components/schemas/{name}")}), example);
        assert!(e.is_empty(), "the example of {name} is valid: {e:?}\n{example}");
        checked += 1;
    }
    assert!(checked >= 10, "the request and answer types carry examples: {checked}");
    // An example that breaks its schema is caught (the check can fail).
    let bad = json!({"name": 7, "role": "cashier", "pin": "4821", "branch_ids": []});
    assert!(!errors(&doc, &json!({"$ref": "#/components/schemas/CreateStaff"}), &bad).is_empty());
    let bad_code = json!({"type": "t", "title": "t", "status": 400, "detail": "d", "code": "NO_SUCH_CODE"});
    assert!(!errors(&doc, &json!({"$ref": "#/components/schemas/Problem"}), &bad_code).is_empty());
}

/// Real answers of a short story (a branch, a cashier, a till, stock, a menu item, the
/// policy, a refusal) are valid against the schemas the document gives them.
#[tokio::test]
async fn real_answers_match_their_documented_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let owner = app.a.token.clone();
    let check = |path: &str, method: &str, status: u16, body: &Value| {
        let e = errors(&doc, &answer_schema(&doc, path, method, status), body);
        assert!(e.is_empty(), "{method} {path} {status} answers its schema: {e:?}\n{body}");
    };
    let r = app.post("/v1/branches", &owner, json!({"name": "Riverside", "address": "12 Quay"})).await;
    check("/v1/branches", "post", 201, r.ok(201));
    let branch = r.body["id"].as_str().unwrap().to_string();
    let r = app.post("/v1/staff", &owner, json!({"name": "Dara", "role": "cashier", "pin": "4821", "branch_ids": [branch]})).await;
    check("/v1/staff", "post", 201, r.ok(201));
    let r = app.post("/v1/devices", &owner, json!({"branch_id": branch, "name": "Till 1"})).await;
    check("/v1/devices", "post", 201, r.ok(201));
    let device_token = r.body["token"].as_str().unwrap().to_string();
    let r = app.post("/v1/stock-items", &owner, json!({"name": "Milk", "unit": "ml"})).await;
    check("/v1/stock-items", "post", 201, r.ok(201));
    let milk = r.body["id"].as_str().unwrap().to_string();
    let r = app.post("/v1/inventory/restock", &owner, json!({"branch_id": branch, "stock_item_id": milk, "qty": 5000})).await;
    check("/v1/inventory/restock", "post", 200, r.ok(200));
    let r = app.get(&format!("/v1/inventory?branch_id={branch}"), &owner).await;
    check("/v1/inventory", "get", 200, r.ok(200));
    let item = uuid::Uuid::now_v7();
    let put = json!({"name": "Latte", "price_cents": 250, "category": "Coffee", "active": true, "recipe": [{"stock_item_id": milk, "qty": 180}]});
    let r = app.put(&format!("/v1/menu/items/{item}"), &owner, put).await;
    check("/v1/menu/items/{id}", "put", 201, r.ok(201));
    let r = app.get("/v1/menu/items", &owner).await;
    check("/v1/menu/items", "get", 200, r.ok(200));
    for path in ["/v1/branches", "/v1/staff", "/v1/stock-items"] {
        let r = app.get(path, &owner).await;
        check(path, "get", 200, r.ok(200));
    }
    let r = app.get(&format!("/v1/devices?branch_id={branch}"), &owner).await;
    check("/v1/devices", "get", 200, r.ok(200));
    assert_eq!(r.body["devices"].as_array().map(Vec::len), Some(1), "{}", r.text);
    let r = app.get("/v1/policy", &owner).await;
    check("/v1/policy", "get", 200, r.ok(200));
    let r = app.post(&format!("/v1/branches/{branch}/freeze"), &owner, json!({})).await;
    check("/v1/branches/{id}/freeze", "post", 200, r.ok(200));
    let r = app.get("/v1/devices/me", &device_token).await;
    check("/v1/devices/me", "get", 200, r.ok(200));
    let r = app.get(&format!("/v1/sync/pull?branch_id={branch}"), &device_token).await;
    check("/v1/sync/pull", "get", 200, r.ok(200));
    // A refusal answers the Problem schema.
    let r = app.post("/v1/staff", &owner, json!({"name": "", "role": "cashier", "pin": "1", "branch_ids": []})).await;
    assert!(r.status.is_client_error(), "{}", r.text);
    let problem = &doc["paths"]["/v1/staff"]["post"]["responses"][r.status.as_u16().to_string()]["content"]["application/problem+json"]["schema"];
    let e = errors(&doc, problem, &r.body);
    assert!(e.is_empty(), "the refusal answers the Problem schema: {e:?}\n{}", r.text);
}

/// A day at the counter in both currencies, a void and a closed session: the sales
/// history (JSON and its CSV media type), a sale's detail, the Z and the daily report
/// answer the schemas the document gives them.
#[tokio::test]
async fn closing_the_day_answers_its_documented_schemas() {
    let f = crate::fixtures::Fx::new().await;
    let day = crate::closing::day_under_test();
    let (session, sales) = crate::closing::a_day_at_the_counter(&f, day).await;
    let doc = document(&f.app).await;
    let check = |path: &str, body: &Value| {
        let e = errors(&doc, &answer_schema(&doc, path, "get", 200), body);
        assert!(e.is_empty(), "GET {path} answers its schema: {e:?}\n{body}");
    };
    let r = f.app.get(&format!("/v1/reports/z?cash_session_id={session}"), &f.owner_token).await;
    check("/v1/reports/z", r.ok(200));
    assert!(r.body["variance_total_cents"].is_i64() && r.body["by_item"].as_array().is_some_and(|a| a.len() == 2), "{}", r.text);
    let r = f.app.get(&format!("/v1/reports/daily?branch_id={}&date={day}", f.branch), &f.owner_token).await;
    check("/v1/reports/daily", r.ok(200));
    let r = f.app.get(&format!("/v1/sales?branch_id={}&limit=3", f.branch), &f.owner_token).await;
    check("/v1/sales", r.ok(200));
    assert!(r.body["next_cursor"].is_string() && r.body["sales"].as_array().is_some_and(|a| a.len() == 3), "{}", r.text);
    let sale = sales[0]["payload"]["sale_id"].as_str().unwrap();
    let r = f.app.get(&format!("/v1/sales/{sale}"), &f.owner_token).await;
    check("/v1/sales/{id}", r.ok(200));
    let csv = &doc["paths"]["/v1/sales"]["get"]["responses"]["200"]["content"]["text/csv"];
    assert!(csv.is_object(), "the CSV answer is documented: {}", doc["paths"]["/v1/sales"]["get"]["responses"]["200"]);
}

/// The managers' reads (a sale in detail, cash sessions, shifts, failures and their
/// resolution, device bookkeeping, the audit trail) are typed answers: each documented
/// schema names a component, and a real answer with rows in it is valid against it.
#[tokio::test]
async fn the_managers_reads_answer_typed_schemas() {
    use crate::fixtures::{applied, rejected};
    let f = crate::fixtures::Fx::new().await;
    let day = crate::closing::day_under_test();
    let (session, sales) = crate::closing::a_day_at_the_counter(&f, day).await;
    // A shift, and a sale refused (its cashier was deactivated) then dismissed.
    let mut ops = f.ops();
    applied(&f.push(&[ops.start_work(f.cashier2, f.cashier2)]).await[0]);
    let s2 = uuid::Uuid::now_v7();
    applied(&f.push(&[ops.open(f.cashier, s2, 0)]).await[0]);
    f.app.patch(&format!("/v1/staff/{}", f.cashier), &f.owner_token, json!({"active": false})).await.ok(200);
    let refused = ops.sale(f.cashier, s2, &[(f.muffin, 1, crate::fixtures::MUFFIN_PRICE)], 200, 0);
    rejected(&f.push(std::slice::from_ref(&refused)).await[0], "FORBIDDEN");
    let id = refused["client_op_id"].as_str().unwrap();
    let resolve = format!("/v1/sync/failures/{id}/resolve");
    let doc = document(&f.app).await;
    let check = |path: &str, method: &str, body: &Value| {
        let schema = answer_schema(&doc, path, method, 200);
        assert!(schema["$ref"].as_str().is_some_and(|r| r.starts_with("#/components/schemas/")), "{path}: a typed answer, not any JSON: {schema}");
        let e = errors(&doc, &schema, body);
        assert!(e.is_empty(), "{method} {path} answers its schema: {e:?}\n{body}");
    };
    let r = f.app.post(&resolve, &f.owner_token, json!({"action": "dismiss", "note": "paid back by hand"})).await;
    check("/v1/sync/failures/{client_op_id}/resolve", "post", r.ok(200));
    assert_eq!(r.body["resolution"]["action"], "dismiss", "{}", r.text);
    let t = &f.owner_token;
    let b = f.branch;
    let voided = sales.iter().map(|s| s["payload"]["sale_id"].as_str().unwrap().to_string());
    let mut saw_void = false;
    for sale in voided {
        let r = f.app.get(&format!("/v1/sales/{sale}"), t).await;
        check("/v1/sales/{id}", "get", r.ok(200));
        saw_void |= r.body["void"].is_object();
    }
    assert!(saw_void, "a voided sale's detail was checked");
    let r = f.app.get(&format!("/v1/cash-sessions/{session}"), t).await;
    check("/v1/cash-sessions/{id}", "get", r.ok(200));
    assert_eq!(r.body["status"], "closed", "{}", r.text);
    let nonempty = |body: &Value, key: &str| {
        assert!(body[key].as_array().is_some_and(|a| !a.is_empty()), "rows under {key}: {body}");
    };
    for (path, key) in [
        (format!("/v1/cash-sessions?branch_id={b}"), "cash_sessions"),
        (format!("/v1/attendance?branch_id={b}"), "shifts"),
        (format!("/v1/sync/failures?branch_id={b}"), "failures"),
        (format!("/v1/sync/devices?branch_id={b}"), "devices"),
        (format!("/v1/audit?branch_id={b}"), "events"),
    ] {
        let r = f.app.get(&path, t).await;
        let documented = path.split('?').next().unwrap();
        check(documented, "get", r.ok(200));
        nonempty(&r.body, key);
    }
}

/// The direct lane's statuses as they really are: a first answer and a repeat of the same
/// key (`201` both, the repeat with `Idempotent-Replayed`) are documented, and nothing
/// documents a status the lane never sends for success.
#[tokio::test]
async fn the_direct_lanes_first_answer_and_repeat_are_documented() {
    let f = crate::fixtures::Fx::new().await;
    let doc = document(&f.app).await;
    let op = f.ops().start_work(f.cashier, f.cashier);
    let mut body = op.clone();
    for k in ["client_op_id", "type", "payload_hash"] {
        body.as_object_mut().unwrap().remove(k);
    }
    let key = op["client_op_id"].as_str().unwrap().to_string();
    let documented = &doc["paths"]["/v1/attendance/start"]["post"]["responses"];
    let successes: Vec<&String> = documented.as_object().unwrap().keys().filter(|s| s.starts_with('2')).collect();
    assert_eq!(successes, ["201"], "the success statuses documented: {documented}");
    for round in ["first", "repeat"] {
        let req = f.app.client.post(format!("{}/v1/attendance/start", f.app.base)).bearer_auth(&f.device_token);
        let r = req.header("Idempotency-Key", &key).json(&body).send().await.unwrap();
        let status = r.status().as_u16().to_string();
        let replayed = r.headers().get("idempotent-replayed").is_some();
        assert_eq!((status.as_str(), replayed), ("201", round == "repeat"), "{round}");
        assert!(documented[&status].is_object(), "{round}: {status} is documented: {documented}");
    }
}
