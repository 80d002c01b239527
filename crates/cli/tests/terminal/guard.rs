//! The till's local API answers only its own page (SPEC §6, issue 20): `Host` must be the
//! till's address or `localhost:PORT` (421), a body must be JSON (415), an `Origin` must
//! be the till's own (403); the page carries a strict CSP and may not be framed. Tried
//! over HTTP with each header, and from a real page of another origin in Chromium.

use serde_json::{json, Value};

use crate::harness::*;
use crate::webdriver::{chromedriver, Browser};

/// A request to the till with the given headers and body; `(status, code)`.
async fn send(term: &Term, method: &str, path: &str, headers: &[(&str, String)], body: Option<&str>) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = term.http.request(m, format!("{}{path}", term.base));
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    if let Some(b) = body {
        r = r.body(b.to_string());
    }
    let r = r.send().await.expect("terminal request");
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert!(ct.starts_with("application/problem+json"), "{status}: {ct} {v}");
    }
    (status, v["code"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_requests_for_the_till_from_its_own_page_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    let port = term.port;
    let signin = json!({"staff_id": shop.manager, "pin": MANAGER_PIN}).to_string();
    let json_ct = ("content-type", "application/json".to_string());
    /// Why, method, path, headers, the status and code it gets.
    type Case<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("a body that is not JSON", "POST", "/api/signin", vec![("content-type", "text/plain".into())], 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("a form post", "POST", "/api/signin", vec![("content-type", "application/x-www-form-urlencoded".into())], 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("no content type", "POST", "/api/signin", vec![], 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("another origin", "POST", "/api/signin", vec![json_ct.clone(), ("origin", "http://evil.example".into())], 403, "FORBIDDEN"),
        ("an opaque origin", "POST", "/api/signin", vec![json_ct.clone(), ("origin", "null".into())], 403, "FORBIDDEN"),
        ("another port", "POST", "/api/signin", vec![json_ct.clone(), ("origin", format!("http://127.0.0.1:{}", port + 1))], 403, "FORBIDDEN"),
        ("a rebinding name", "POST", "/api/signin", vec![json_ct.clone(), ("host", format!("rebind.evil.example:{port}"))], 421, "MISDIRECTED_REQUEST"),
        ("a rebinding read", "GET", "/api/status", vec![("host", format!("rebind.evil.example:{port}"))], 421, "MISDIRECTED_REQUEST"),
        ("a rebinding page", "GET", "/", vec![("host", format!("rebind.evil.example:{port}"))], 421, "MISDIRECTED_REQUEST"),
        ("a read from another origin", "GET", "/api/context", vec![("origin", "http://evil.example".into())], 403, "FORBIDDEN"),
        ("the API description to another origin", "GET", "/api/openapi.json", vec![("origin", "http://evil.example".into())], 403, "FORBIDDEN"),
        ("the API description to a rebinding name", "GET", "/api/openapi.json", vec![("host", format!("rebind.evil.example:{port}"))], 421, "MISDIRECTED_REQUEST"),
        ("the page's words to a rebinding name", "GET", "/assets/i18n.js", vec![("host", format!("rebind.evil.example:{port}"))], 421, "MISDIRECTED_REQUEST"),
    ];
    for (why, method, path, headers, status, code) in cases {
        let body = (method == "POST").then_some(signin.as_str());
        let (s, c) = send(&term, method, path, &headers, body).await;
        assert_eq!((s, c.as_str().unwrap_or("")), (status, code), "{why}");
    }
    // None of them signed anyone in (nor counted as a wrong PIN).
    assert_eq!(term.status().await["signed_in"], Value::Null);
    // The till's own requests go through: its address, localhost, its own origin.
    let own = [
        vec![json_ct.clone()],
        vec![json_ct.clone(), ("host", format!("localhost:{port}")), ("origin", format!("http://localhost:{port}"))],
        vec![json_ct.clone(), ("origin", format!("http://127.0.0.1:{port}"))],
    ];
    for headers in own {
        let (s, c) = send(&term, "POST", "/api/signin", &headers, Some(&signin)).await;
        assert_eq!(s, 200, "{headers:?}: {c}");
    }
    // A body-less sign-out needs no content type.
    assert_eq!(send(&term, "POST", "/api/signout", &[], None).await.0, 204);
    // The page: a strict CSP, no framing.
    let r = term.http.get(format!("{}/", term.base)).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    for part in ["frame-ancestors 'none'", "script-src 'self'", "default-src 'none'", "connect-src 'self'"] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
}

/// Serves one HTML page on a loopback port of its own (another origin than the till).
async fn serve_page(html: &'static str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", html.len());
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(html.as_bytes()).await;
            });
        }
    });
    port
}

/// A page of another origin in the same browser tries the till: a JSON sign-in (which
/// needs a preflight), a "simple" text/plain one (no preflight, so only the Origin check
/// stops it) and a read. Each fails, nobody is signed in; the till's own page, in the
/// same browser, still signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_another_origin_cannot_drive_the_till() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    let evil = serve_page("<!doctype html><title>a game</title><p>nothing to see</p>").await;
    let b = Browser::start(&driver).await;
    b.goto(&format!("http://127.0.0.1:{evil}/")).await;
    let script = r#"
        const [till, body, done] = arguments;
        const out = {};
        const attempt = async (name, init, path) => {
          try { const r = await fetch(till + path, init); out[name] = r.type === 'opaque' ? 'opaque' : r.status; }
          catch (e) { out[name] = 'blocked'; }
        };
        (async () => {
          await attempt('json', {method: 'POST', headers: {'Content-Type': 'application/json'}, body}, '/api/signin');
          await attempt('simple', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body}, '/api/signin');
          await attempt('read', {}, '/api/status');
          done(out);
        })();
    "#;
    let body = json!({"staff_id": shop.manager, "pin": MANAGER_PIN}).to_string();
    let out = b.script_async(script, json!([term.base, body])).await;
    assert_eq!(out["json"], "blocked", "{out}");
    assert_eq!(out["read"], "blocked", "{out}");
    // The simple request is sent (the browser cannot stop it), opaque to the page; the
    // till refused it for its Origin.
    assert_eq!(out["simple"], "opaque", "{out}");
    assert_eq!(term.status().await["signed_in"], Value::Null, "the foreign page signed nobody in");

    // The till's own page in the same browser works.
    b.goto(&format!("{}/", term.base)).await;
    b.select("#signin-staff", &shop.manager.to_string()).await;
    b.fill("#signin-pin", MANAGER_PIN).await;
    b.click("#signin-submit").await;
    b.wait_text("#signed-in-name", 15, "manager signed in", |t| t.contains("Vanna")).await;
    assert_eq!(term.status().await["signed_in"]["staff_id"], json!(shop.manager));
}
