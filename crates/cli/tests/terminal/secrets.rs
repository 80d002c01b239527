//! Secrets at the till (SPEC §3, §5.3): a till holds the PIN hashes of the active staff
//! of its own branch and of nobody else, and drops one when its holder leaves.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sqlx::{Connection, Row, SqliteConnection};
use uuid::Uuid;

use crate::harness::*;

/// Each cached staff member of the till at `data`, and whether its entry holds a PIN hash
/// (read from the till's own SQLite file, beside the running process).
async fn cached_hashes(data: &std::path::Path) -> BTreeMap<Uuid, bool> {
    let url = format!("sqlite://{}?mode=ro", data.join("terminal.sqlite").display());
    let mut conn = SqliteConnection::connect(&url).await.expect("open the till's file");
    let rows = sqlx::query("SELECT id, data FROM cache WHERE scope = 'staff'").fetch_all(&mut conn).await.unwrap();
    rows.iter()
        .map(|r| {
            let id: String = r.get("id");
            let data: Value = serde_json::from_str(&r.get::<String, _>("data")).unwrap();
            (id.parse().unwrap(), data.get("pin_hash").is_some_and(|h| !h.is_null()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_drops_the_pin_hash_of_staff_who_leave_its_branch() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, term, _device) = rig(dir.path(), &[]).await;
    let data = dir.path().join("t1");
    let c = reqwest::Client::new();
    let (s, other) = call(&c, "POST", format!("{}/v1/branches", shop.base), &shop.owner_token, Some(json!({"name": "Old Market"}))).await;
    assert_eq!(s, 201, "{other}");
    let other: Uuid = other["id"].as_str().unwrap().parse().unwrap();

    // The staff of Riverside carry their hashes here; the owner (of no branch) does not.
    let held = eventually("the till caches its staff", 20, || async {
        let h = cached_hashes(&data).await;
        (h.len() >= 3).then_some(h)
    })
    .await;
    assert_eq!((held[&shop.cashier], held[&shop.manager]), (true, true), "{held:?}");
    assert!(held.iter().filter(|(id, _)| **id != shop.cashier && **id != shop.manager).all(|(_, h)| !h), "{held:?}");
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    assert_eq!(term.post("/api/signout", json!({})).await.0, 204);

    // The cashier moves to Old Market; the manager is deactivated.
    let patch = |id: Uuid, body: Value| call(&c, "PATCH", format!("{}/v1/staff/{id}", shop.base), &shop.owner_token, Some(body));
    assert_eq!(patch(shop.cashier, json!({"branch_ids": [other]})).await.0, 200);
    assert_eq!(patch(shop.manager, json!({"active": false})).await.0, 200);

    // The till's next pull replaces both entries with ones without a hash.
    let held = eventually("the till drops the hashes", 20, || async {
        let h = cached_hashes(&data).await;
        (!h[&shop.cashier] && !h[&shop.manager]).then_some(h)
    })
    .await;
    assert!(held.values().all(|h| !h), "no hash left at the till: {held:?}");
    let (s, v) = term.post("/api/signin", json!({"staff_id": shop.cashier, "pin": CASHIER_PIN})).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("UNAUTHORIZED")), "{v}");
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn enroll_with(data: &std::path::Path, server: &str, how: &[&str], env: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["terminal", "enroll", "--data", data.to_str().unwrap(), "--server", server]).args(how);
    cmd.env_remove("MODULA_DEVICE_TOKEN");
    if let Some(token) = env {
        cmd.env("MODULA_DEVICE_TOKEN", token);
    }
    cmd.output().unwrap()
}

/// The token comes from a file or the environment as well as the flag, and nothing prints
/// it; the data folder is 0700 and its files 0600, and a start narrows wider modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tills_secrets_stay_private_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;

    // From a file.
    let (_, token) = shop.device("Till 1").await;
    let file = dir.path().join("token.txt");
    std::fs::write(&file, format!("  {token}\n")).unwrap();
    let data = dir.path().join("till1");
    let out = enroll_with(&data, &server.base, &["--token-file", file.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("enrolled") && !said.contains(&token), "enroll never prints the token: {said}");
    assert_eq!(mode(&data), 0o700, "the data folder");
    assert_eq!(mode(&data.join("terminal.sqlite")), 0o600, "the database");

    // From the environment.
    let (_, token2) = shop.device("Till 2").await;
    let data2 = dir.path().join("till2");
    let out = enroll_with(&data2, &server.base, &[], Some(&token2));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Neither given, or an empty file: refused with what to do.
    let out = enroll_with(&dir.path().join("till3"), &server.base, &[], None);
    assert!(!out.status.success());
    std::fs::write(&file, "\n").unwrap();
    let out = enroll_with(&dir.path().join("till3"), &server.base, &["--token-file", file.to_str().unwrap()], None);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("empty"), "{}", String::from_utf8_lossy(&out.stderr));

    // Someone widened the modes; the next start narrows them, WAL files included.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("terminal.sqlite"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let term = Term::start_enrolled(&data, &[]).await;
    term.ready().await;
    assert_eq!(mode(&data), 0o700);
    for f in ["terminal.sqlite", "terminal.sqlite-wal", "terminal.sqlite-shm"] {
        let path = data.join(f);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{f}");
        }
    }
    // `terminal status` does not print the token either.
    let out = std::process::Command::new(BIN).args(["terminal", "status", "--data", data.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success() && !String::from_utf8_lossy(&out.stdout).contains(&token));
}
