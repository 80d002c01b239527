//! HTTPS between the till and the server (SPEC §6, issue 20): `modula serve --tls-cert
//! --tls-key` with a test CA; a till trusting that CA (`--ca-cert`) enrolls and syncs; one
//! that does not refuses the server with a message that says the certificate is the
//! problem; plain `http://` is refused unless the server is on this machine or
//! `--insecure-http` is given.

use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::*;

/// A CA and a certificate for 127.0.0.1 and localhost signed by it: `(ca_pem, cert_pem, key_pem)`.
fn test_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Modula test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

fn enroll_cmd(data: &std::path::Path, server: &str, token: &str, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["terminal", "enroll", "--data", data.to_str().unwrap(), "--server", server])
        .args(extra)
        .env("MODULA_DEVICE_TOKEN", token)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_syncs_over_https_and_refuses_a_server_it_cannot_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki();
    for (name, pem) in [("ca.pem", &ca), ("cert.pem", &cert), ("key.pem", &key)] {
        std::fs::write(dir.path().join(name), pem).unwrap();
    }
    let path = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let db = format!("sqlite://{}", dir.path().join("server.db").display());
    let out = Command::new(BIN)
        .args(["admin", "init", "--db", &db, "--tenant", "Café", "--owner-name", "O", "--owner-pin", "2468", "--json"])
        .output()
        .unwrap();
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    let owner = init["token"].as_str().unwrap().to_string();
    let port = free_port();
    let child = Command::new(BIN)
        .args(["serve", "--db", &db, "--listen", &format!("127.0.0.1:{port}"), "--tls-cert", &path("cert.pem"), "--tls-key", &path("key.pem")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let _server = Proc { child, base: base.clone() };
    let c = reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()).build().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !c.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(std::time::Instant::now() < deadline, "the HTTPS server never got ready");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Plain HTTP to the TLS port gets nothing useful.
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.map_or(true, |r| !r.status().is_success()));

    // The shop, over HTTPS.
    let id = |v: &Value, k: &str| v[k].as_str().unwrap().to_string();
    let branch = id(&call(&c, "POST", format!("{base}/v1/branches"), &owner, Some(json!({"name": "Main"}))).await.1, "id");
    let staff = json!({"name": "Dara", "role": "cashier", "pin": "1111", "branch_ids": [branch]});
    let cashier = id(&call(&c, "POST", format!("{base}/v1/staff"), &owner, Some(staff)).await.1, "id");
    let latte = uuid::Uuid::now_v7();
    let item = json!({"name": "Latte", "price_cents": 300, "category": "Coffee", "active": true, "recipe": []});
    assert_eq!(call(&c, "PUT", format!("{base}/v1/menu/items/{latte}"), &owner, Some(item)).await.0, 201);
    let device = |name: &str| {
        let c = c.clone();
        let (base, owner, branch) = (base.clone(), owner.clone(), branch.clone());
        let name = name.to_string();
        async move { call(&c, "POST", format!("{base}/v1/devices"), &owner, Some(json!({"branch_id": branch, "name": name}))).await.1 }
    };

    // Without the CA: refused, saying the certificate does not verify.
    let d1 = device("Till 1").await;
    let out = enroll_cmd(&dir.path().join("untrusting"), &base, d1["token"].as_str().unwrap(), &[]);
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(!out.status.success() && err.contains("certificate"), "{err}");

    // Plain http:// to another machine: refused before connecting; allowed with the flag.
    let out = enroll_cmd(&dir.path().join("plain"), "http://192.0.2.1:9", d1["token"].as_str().unwrap(), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("refusing plain http://"), "{err}");
    let out = enroll_cmd(&dir.path().join("plain2"), "http://192.0.2.1:9", d1["token"].as_str().unwrap(), &["--insecure-http"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("refusing plain http://") && err.contains("cannot reach"), "{err}");

    // With the CA: enrolls, runs and syncs a sale.
    let data = dir.path().join("till");
    let out = enroll_cmd(&data, &base, d1["token"].as_str().unwrap(), &["--ca-cert", &path("ca.pem")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let till_port = free_port();
    let child = Command::new(BIN)
        .args(["terminal", "run", "--data", data.to_str().unwrap(), "--listen", &format!("127.0.0.1:{till_port}")])
        .args(["--ca-cert", &path("ca.pem"), "--backoff-cap-s", "1", "--probe-interval-s", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let till = format!("http://127.0.0.1:{till_port}");
    let _till = Proc { child, base: till.clone() };
    let lc = reqwest::Client::new();
    let status = || async { lc.get(format!("{till}/api/status")).send().await.ok()?.json::<Value>().await.ok() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !status().await.is_some_and(|s| s["hydrated"] == true && s["online"] == true) {
        assert!(std::time::Instant::now() < deadline, "the till never hydrated over HTTPS: {:?}", status().await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let local = |path: &str, body: Value| lc.post(format!("{till}{path}")).json(&body).send();
    assert_eq!(local("/api/signin", json!({"staff_id": cashier, "pin": "1111"})).await.unwrap().status(), 200);
    assert_eq!(local("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await.unwrap().status(), 201);
    let sale = json!({"lines": [{"menu_item_id": latte, "qty": 1}], "tender": {"cash_usd_cents": 300, "cash_khr": 0}});
    assert_eq!(local("/api/sales", sale).await.unwrap().status(), 201);
    while !status().await.is_some_and(|s| s["pending"] == 0 && s["synced"] == 2) {
        assert!(std::time::Instant::now() < deadline, "the sale never synced over HTTPS: {:?}", status().await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let sales = call(&c, "GET", format!("{base}/v1/sales?branch_id={branch}"), &owner, None).await.1;
    assert_eq!(sales["sales"].as_array().unwrap().len(), 1, "{sales}");
}
