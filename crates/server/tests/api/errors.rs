use crate::common::TestApp;
use serde_json::json;

#[tokio::test]
async fn malformed_json_wrong_media_type_and_oversize_are_problems() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/branches", app.base);
    let send = |body: Vec<u8>, ct: &'static str| {
        app.client.post(&url).bearer_auth(&app.a.token).header("content-type", ct).body(body).send()
    };
    let r = TestApp::read(send(b"{\"name\": ".to_vec(), "application/json").await.unwrap()).await;
    r.problem(400, "BAD_REQUEST");
    let r = TestApp::read(send(b"[1,2]".to_vec(), "application/json").await.unwrap()).await;
    r.problem(400, "BAD_REQUEST");
    // A whole object followed by more text is not one JSON document.
    let r = TestApp::read(send(b"{\"name\": \"A\"} {\"name\": \"B\"}".to_vec(), "application/json").await.unwrap()).await;
    r.problem(400, "BAD_REQUEST");
    // A wrong field type names the field (found by the second, tracked parse).
    let r = TestApp::read(send(b"{\"name\": 7}".to_vec(), "application/json").await.unwrap()).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "name", "{}", r.text);
    let r = TestApp::read(send(b"name=x".to_vec(), "text/plain").await.unwrap()).await;
    r.problem(415, "UNSUPPORTED_MEDIA_TYPE");
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(5 * 1024 * 1024)).into_bytes();
    let r = TestApp::read(send(big, "application/json").await.unwrap()).await;
    r.problem(413, "PAYLOAD_TOO_LARGE");
    // Nothing was created by any of them.
    assert_eq!(app.get("/v1/branches", &app.a.token).await.ok(200)["branches"], json!([]));
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    app.get("/v1/nope", &app.a.token).await.problem(404, "NOT_FOUND");
    app.delete("/v1/branches", &app.a.token).await.problem(405, "METHOD_NOT_ALLOWED");
}
