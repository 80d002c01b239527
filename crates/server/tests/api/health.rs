use crate::common::TestApp;
use reqwest::Method;

#[tokio::test]
async fn healthz_readyz_and_metrics_need_no_token() {
    let app = TestApp::spawn().await;
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.ok(200)["status"], "ok");
    let r = app.call(Method::GET, "/readyz", None, None).await;
    let backend = match app.backend {
        crate::common::Backend::Sqlite => "sqlite",
        crate::common::Backend::Postgres { .. } => "postgres",
    };
    assert_eq!(r.ok(200)["backend"], backend);
    // Generate some traffic, then check it is counted.
    app.call(Method::GET, "/v1/branches", None, None).await.problem(401, "UNAUTHORIZED");
    let r = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(r.content_type.starts_with("text/plain"), "{}", r.content_type);
    assert!(r.text.contains("modula_info{"), "{}", r.text);
    assert!(
        r.text.contains(r#"modula_http_requests_total{route="/v1/branches",method="GET",status="401"} 1"#),
        "{}",
        r.text
    );
}
