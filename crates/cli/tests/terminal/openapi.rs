//! The till's `GET /api/openapi.json` (SPEC §6, issue 25): generated from the code; the
//! router is walked against it and real answers are validated against its schemas.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;

const METHODS: [(&str, Method); 5] =
    [("get", Method::GET), ("post", Method::POST), ("put", Method::PUT), ("patch", Method::PATCH), ("delete", Method::DELETE)];

fn errors(doc: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let root = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "components": doc["components"].clone(), "allOf": [schema]});
    let v = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("a valid JSON Schema: {e}: {schema}"));
    v.iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path)).collect()
}

/// The fields of `answer` are exactly the properties of the schema `name`, and every one
/// of them is required (always present, null where it has no value).
fn fields_are_documented(doc: &Value, name: &str, answer: &Value) {
    let schema = &doc["components"]["schemas"][name];
    let documented: std::collections::BTreeSet<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    let required: std::collections::BTreeSet<&str> = schema["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let answered: std::collections::BTreeSet<&str> = answer.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(answered, documented, "{name}: the answer's fields are the documented ones: {answer}");
    assert_eq!(required, documented, "{name}: every documented field is required");
}

/// Writes the document where CI's validator reads it (`MODULA_OPENAPI_OUT`, see
/// scripts/test), when set.
pub fn keep_for_validator(name: &str, doc: &Value) {
    if let Ok(dir) = std::env::var("MODULA_OPENAPI_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tills_router_and_its_document_agree_and_answers_match() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    let (s, doc) = term.get("/api/openapi.json").await;
    assert_eq!(s, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.1.0");
    keep_for_validator("terminal.json", &doc);
    let codes: Vec<Value> = modula_wire::ErrorCode::ALL.iter().map(|c| json!(c.to_string())).collect();
    assert_eq!(doc["components"]["schemas"]["ErrorCode"]["enum"], json!(codes), "the problem codes as an enum");

    // Every documented operation is routed; every other method on its path is 405.
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 17, "the whole local API: {}", paths.len());
    for path in paths.keys() {
        let concrete = path.replace("{sale_id}", "01939b6e-7a00-7c2e-9a51-3f0c2d7e8a11");
        for (name, method) in METHODS {
            let documented = paths[path].get(name).is_some();
            let mut req = term.http.request(method.clone(), format!("{}{concrete}", term.base));
            if method != Method::GET {
                req = req.json(&json!({"probe": true}));
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            if documented {
                assert_ne!(status, 405, "{name} {path} is routed");
                if status == 404 {
                    let p: Value = r.json().await.unwrap();
                    assert_ne!(p["detail"], "no such endpoint on this terminal", "{name} {path} is routed");
                }
            } else {
                assert_eq!(status, 405, "{name} {path} is not documented, so not routed");
            }
        }
    }
    // No `/api` route is added by hand beside the documented ones.
    let source = include_str!("../../../terminal/src/api.rs");
    for (i, _) in source.match_indices(".route(\"") {
        let path = source[i + 8..].split('"').next().unwrap_or_default();
        assert!(!path.starts_with("/api/") || path == "/api/openapi.json", "{path} is routed outside the OpenAPI document");
    }

    // Real answers match the schemas the document gives them.
    let schema = |path: &str, method: &str, status: u16| {
        let s = doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"].clone();
        assert!(s.is_object(), "{method} {path} documents its {status} answer");
        s
    };
    let (s, signed) = term.post("/api/signin", json!({"staff_id": shop.cashier, "pin": CASHIER_PIN})).await;
    assert_eq!(s, 200, "{signed}");
    let e = errors(&doc, &schema("/api/signin", "post", 200), &signed);
    assert!(e.is_empty(), "sign-in answers its schema: {e:?} {signed}");
    let (s, opened) = term.post("/api/cash-sessions/open", json!({"opening_float_cents": 2000})).await;
    assert_eq!(s, 201, "{opened}");
    let e = errors(&doc, &schema("/api/cash-sessions/open", "post", 201), &opened);
    assert!(e.is_empty(), "open answers its schema: {e:?} {opened}");
    let (s, quote) = term.post("/api/quote", lattes(&shop, 2)).await;
    assert_eq!(s, 200, "{quote}");
    let e = errors(&doc, &schema("/api/quote", "post", 200), &quote);
    assert!(e.is_empty(), "a quote answers its schema: {e:?} {quote}");
    let (s, sold) = term.post("/api/sales", lattes(&shop, 2)).await;
    assert_eq!(s, 201, "{sold}");
    let e = errors(&doc, &schema("/api/sales", "post", 201), &sold);
    assert!(e.is_empty(), "a sale answers its schema: {e:?} {sold}");
    // A refusal answers the Problem schema.
    let (s, refused) = term.post("/api/sales", json!({"lines": [], "tender": {"cash_usd_cents": 0, "cash_khr": 0}})).await;
    let p = &doc["paths"]["/api/sales"]["post"]["responses"][s.to_string()]["content"]["application/problem+json"]["schema"];
    assert!(p.is_object(), "{s} is a documented refusal: {refused}");
    let e = errors(&doc, p, &refused);
    assert!(e.is_empty(), "the refusal answers Problem: {e:?} {refused}");

    // Status, the queue and the receipts answer named schemas (not any JSON): online and
    // offline, a receipt synced then voided (the till's own void, then the feed's), and a
    // refused sale a manager resolved.
    let named = |path: &str| {
        let s = schema(path, "get", 200);
        let name = s["$ref"].as_str().unwrap_or_default();
        assert!(name.starts_with("#/components/schemas/"), "GET {path} documents a named schema: {s}");
        assert!(doc.pointer(&name[1..]).is_some_and(|d| d["type"] == "object"), "{name} is in the document");
        s
    };
    let matches = |path: &str, answer: &Value| {
        let e = errors(&doc, &named(path), answer);
        assert!(e.is_empty(), "GET {path} answers its schema: {e:?} {answer}");
    };
    let sale_id = sold["receipt"]["sale_id"].as_str().unwrap().to_string();
    let status = term.wait_for("synced", 20, |s| s["pending"] == json!(0)).await;
    assert!(status["signed_in"].is_object() && status["last_push_at"].is_string(), "{status}");
    matches("/api/status", &status);
    fields_are_documented(&doc, "TillStatus", &status);
    term.sign_in(shop.manager, MANAGER_PIN).await;
    let (s, v) = term.post(&format!("/api/sales/{sale_id}/void"), json!({"reason": "wrong drink"})).await;
    assert_eq!(s, 200, "{v}");
    let receipt_path = format!("/api/receipts/{sale_id}");
    let (s, own) = term.get(&receipt_path).await;
    assert_eq!(s, 200, "{own}");
    assert_eq!((own["voided"].clone(), own["sync"]["status"].clone()), (json!(true), json!("SYNCED")), "{own}");
    matches("/api/receipts/{sale_id}", &own);
    fields_are_documented(&doc, "StoredReceipt", &own);
    fields_are_documented(&doc, "ReceiptVoid", &own["void"]);
    term.wait_for_context("the void from the feed", 20, |c| c["voided_sale_ids"].as_array().is_some_and(|a| a.contains(&json!(sale_id)))).await;
    let (s, fed) = term.get(&receipt_path).await;
    assert_eq!((s, fed["void"]["reason"].clone()), (200, json!("wrong drink")), "{fed}");
    matches("/api/receipts/{sale_id}", &fed);
    fields_are_documented(&doc, "ReceiptVoid", &fed["void"]);
    proxy.set(Mode::Cut);
    let offline = term.wait_for("offline", 20, |s| s["online"] == json!(false)).await;
    assert!(offline["offline_since"].is_string(), "{offline}");
    matches("/api/status", &offline);
    term.act("/api/sales", lattes(&shop, 1)).await;
    let (s, v) = shop.post(&format!("/v1/branches/{}/freeze", shop.branch), json!({})).await;
    assert_eq!(s, 200, "{v}");
    proxy.set(Mode::Up);
    term.wait_for("refused", 30, |s| s["failed"] == json!(1)).await;
    let id = term.ops("FAILED").await[0]["client_op_id"].as_str().unwrap().to_string();
    let (s, v) = shop.post(&format!("/v1/sync/failures/{id}/resolve"), json!({"action": "dismiss", "note": "paid by card"})).await;
    assert_eq!(s, 200, "{v}");
    eventually("the resolution at the till", 30, || async { term.ops("FAILED").await[0]["resolution"].is_object().then_some(()) }).await;
    let (s, ops) = term.get("/api/ops").await;
    assert_eq!(s, 200, "{ops}");
    let all = ops["ops"].as_array().unwrap();
    assert!(all.iter().any(|o| o["status"] == "SYNCED" && o["receipt_no"].is_string() && o["actor_name"].is_string()), "{ops}");
    assert!(all.iter().any(|o| o["status"] == "FAILED" && o["resolution"].is_object()), "{ops}");
    matches("/api/ops", &ops);
    for op in all {
        fields_are_documented(&doc, "OpRow", op);
    }
    let (s, list) = term.get("/api/receipts").await;
    assert_eq!(s, 200, "{list}");
    let receipts = list["receipts"].as_array().unwrap();
    assert!(receipts.iter().any(|r| r["sale_id"] == json!(sale_id) && r["voided"] == json!(true)), "{list}");
    assert!(receipts.iter().any(|r| r["sync"]["status"] == "FAILED"), "{list}");
    matches("/api/receipts", &list);
    let status = term.wait_for("online", 20, |s| s["online"] == json!(true)).await;
    matches("/api/status", &status);
}
