//! Cut link, restore, dropped responses: everything ends applied exactly once.

use serde_json::json;

use crate::harness::*;

/// Sales, cash-session ops and attendance done while the link is cut stay PENDING and
/// the terminal shows offline; after restore they are SYNCED once and the server's
/// counts, stock and expected cash are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_work_syncs_exactly_once_after_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;

    // Online: start work and open the drawer go straight through.
    let start = term.act("/api/attendance/start", json!({})).await;
    let open = term.act("/api/cash-sessions/open", json!({"opening_float_cents": 5000})).await;
    let session = open["cash_session"]["id"].as_str().unwrap().to_string();
    term.wait_for("online ops synced", 20, |s| s["pending"] == json!(0)).await;
    assert_eq!(start["status"], json!("SYNCED"), "{start}");

    proxy.set(Mode::Cut);
    let mut receipts = Vec::new();
    for n in 1..=3 {
        let sale = term.act("/api/sales", lattes(&shop, n)).await;
        assert_eq!(sale["status"], json!("PENDING"), "{sale}");
        receipts.push(sale["receipt"]["receipt_no"].as_str().unwrap().to_string());
    }
    term.act("/api/cash-sessions/movement", json!({"kind": "paid_in", "amount_cents": 700, "reason": "change float"}))
        .await;
    term.act("/api/attendance/end", json!({})).await;
    let offline = term.wait_for("offline with 5 pending", 20, |s| s["online"] == json!(false)).await;
    assert_eq!(offline["pending"], json!(5), "{offline}");
    assert_eq!(shop.sales().await.len(), 0, "nothing reached the server while cut");

    proxy.set(Mode::Up);
    let done = term.wait_for("drained", 30, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(done["failed"], json!(0), "{done}");
    assert_eq!(done["synced"], json!(7), "{done}");

    let sales = shop.sales().await;
    assert_eq!(sales.len(), 3, "{sales:?}");
    let mut got: Vec<String> = sales.iter().map(|s| s["receipt_no"].as_str().unwrap().to_string()).collect();
    got.sort();
    receipts.sort();
    assert_eq!(got, receipts);
    let lattes_sold = 1 + 2 + 3;
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START - 18 * lattes_sold);
    assert_eq!(shop.on_hand(shop.milk).await, MILK_START - 150 * lattes_sold);
    let cs = shop.get(&format!("/v1/cash-sessions/{session}")).await;
    assert_eq!(cs["expected_cash_cents"], json!(5000 + 300 * lattes_sold + 700), "{cs}");
    let shifts = shop.get(&format!("/v1/attendance?branch_id={}", shop.branch)).await;
    let shifts = shifts["shifts"].as_array().unwrap().clone();
    assert_eq!(shifts.len(), 1, "{shifts:?}");
    assert_eq!(shifts[0]["status"], json!("closed"));
}

/// A cursor the server no longer accepts (`CURSOR_RESET`) makes the terminal drop its
/// cache and hydrate anew; the queue and the local effects survive the reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_reset_rehydrates_and_keeps_the_queue() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, mut term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await;
    term.wait_for("open synced", 20, |s| s["pending"] == json!(0)).await;
    proxy.set(Mode::Cut);
    term.act("/api/sales", lattes(&shop, 2)).await;
    term.kill9();

    // Tamper with the stored cursor and plant an entity the server never sent.
    let ghost = uuid::Uuid::now_v7();
    let db = format!("sqlite://{}", term.data.join("terminal.sqlite").display());
    let mut c = sqlx::SqliteConnection::connect(&db).await.unwrap();
    let cursor: String = sqlx::query_scalar("SELECT pull_cursor FROM device").fetch_one(&mut c).await.unwrap();
    let tampered = format!("{}{}", &cursor[..cursor.len() - 2], if cursor.ends_with("00") { "11" } else { "00" });
    sqlx::query("UPDATE device SET pull_cursor = ?").bind(&tampered).execute(&mut c).await.unwrap();
    let data = json!({"id": ghost, "name": "Ghost", "price_cents": 1, "category": "X", "active": true, "recipe": []});
    sqlx::query("INSERT INTO cache (scope, id, entity, version, data) VALUES ('menu', ?, 'menu_item', 1, ?)")
        .bind(ghost.to_string())
        .bind(data.to_string())
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();

    proxy.set(Mode::Up);
    term.restart().await;
    let done = term.wait_for("drained", 30, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(done["synced"], json!(2), "{done}");
    // The reset dropped the planted entity; the real menu came back.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, ctx) = term.get("/api/context").await;
        let ids: Vec<String> = ctx["menu"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
        if !ids.contains(&ghost.to_string()) && ids.contains(&shop.latte.to_string()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "cache not rehydrated: {ids:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(shop.sales().await.len(), 1);
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START - 36);
    let log = std::fs::read_to_string(term.data.join("terminal.log")).unwrap_or_default();
    assert!(log.contains("cursor reset"), "the terminal logged the reset:\n{log}");
}

/// `modula terminal status` tells a person what is queued and why things failed, and
/// `--watch` prints progress until the queue is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_command_shows_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    proxy.set(Mode::Cut);
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await;
    term.act("/api/sales", lattes(&shop, 1)).await;
    let status = |args: &[&str]| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["terminal", "status", "--data", term.data.to_str().unwrap()]).args(args);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = status(&[]);
    assert!(text.contains("pending 2, failed 0"), "{text}");
    assert!(text.contains("Till 1"), "{text}");
    assert!(text.contains("last sync error"), "offline shows the last error: {text}");
    proxy.set(Mode::Up);
    let data = term.data.clone();
    let text = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["terminal", "status", "--watch", "--data"]).arg(data);
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    })
    .await
    .unwrap();
    let last = text.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("pending       0") && last.contains("100.0% done"), "{text}");
}

/// A revoked device: the server answers every push with 401. The ops stay PENDING (never
/// dropped, never FAILED), and the reason is visible in `/api/status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_device_keeps_its_queue_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let (device, token) = shop.device("Till 1").await;
    let term = Term::start(&dir.path().join("t1"), &server.base, &token, &[]).await;
    term.ready().await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let c = reqwest::Client::new();
    let (s, _) = call(&c, "DELETE", format!("{}/v1/devices/{device}", shop.base), &shop.owner_token, None).await;
    assert_eq!(s, 204);
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await;
    term.act("/api/sales", lattes(&shop, 1)).await;
    let st = term
        .wait_for("the refusal recorded", 20, |s| s["last_error"].as_str().is_some_and(|e| e.contains("UNAUTHORIZED")))
        .await;
    assert_eq!(st["pending"], json!(2), "{st}");
    assert_eq!(st["failed"], json!(0), "a refused request is not a refused op: {st}");
    assert_eq!(st["online"], json!(true), "the server answers: {st}");
    assert_eq!(shop.sales().await.len(), 0);
}

/// Bodies the local API cannot use are problem+json refusals, never a panic or a
/// plain-text error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_bodies_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let (_device, token) = shop.device("Till 1").await;
    let term = Term::start(&dir.path().join("t1"), &server.base, &token, &[]).await;
    term.ready().await;
    term.sign_in(shop.manager, MANAGER_PIN).await;
    for body in ["[1, 2]", "42", "\"x\"", "true"] {
        let (s, ct, v) = term.send_raw("POST", "/api/inventory/restock", Some(body)).await;
        assert_eq!(s, 422, "{body}: {v}");
        assert!(ct.starts_with("application/problem+json"), "{ct}");
        assert_eq!(v["code"], json!("VALIDATION_FAILED"), "{v}");
    }
    let huge = format!("{{\"pin\": \"{}\"}}", "1".repeat(300 * 1024));
    let (s, ct, v) = term.send_raw("POST", "/api/signin", Some(&huge)).await;
    assert_eq!(s, 413, "{v}");
    assert!(ct.starts_with("application/problem+json"), "{ct}");
    assert_eq!(v["code"], json!("PAYLOAD_TOO_LARGE"), "{v}");
    assert_eq!(term.status().await["online"], json!(true), "the terminal is still up");
}

/// An op the server cannot even read (its push is a 400 as a whole) does not block the
/// queue: the batch is halved until that op is alone, it ends FAILED with the server's
/// reason, and the ops around it sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_op_fails_alone_and_the_rest_sync() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, mut term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    proxy.set(Mode::Cut);
    term.act("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(term.act("/api/sales", lattes(&shop, 1)).await["client_op_id"].as_str().unwrap().to_string());
    }
    term.kill9();
    // Corrupt the third queued op so that no server could parse it.
    let db = format!("sqlite://{}", term.data.join("terminal.sqlite").display());
    let mut c = sqlx::SqliteConnection::connect(&db).await.unwrap();
    let broken = json!({"client_op_id": ids[1], "type": 5}).to_string();
    sqlx::query("UPDATE ops SET op_json = ? WHERE client_op_id = ?").bind(broken).bind(&ids[1]).execute(&mut c).await.unwrap();
    c.close().await.unwrap();

    proxy.set(Mode::Up);
    term.restart().await;
    let st = term.wait_for("drained", 30, |s| s["pending"] == json!(0)).await;
    assert_eq!(st["failed"], json!(1), "{st}");
    assert_eq!(st["synced"], json!(4), "{st}");
    let failed = term.ops("FAILED").await;
    assert_eq!(failed[0]["client_op_id"], json!(ids[1]), "{failed:?}");
    assert_eq!(failed[0]["code"], json!("BAD_REQUEST"), "{failed:?}");
    assert_eq!(shop.sales().await.len(), 3);
}

/// A till reinstalled on a fresh data folder with the same device token continues after
/// the sequence the server has seen: no `device_seq` and no receipt number repeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinstall_continues_device_seq_and_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let shop = seed(dir.path(), &server).await;
    let (_device, token) = shop.device("Till 1").await;
    let mut first = Term::start(&dir.path().join("first"), &server.base, &token, &[]).await;
    first.ready().await;
    first.sign_in(shop.cashier, CASHIER_PIN).await;
    first.act("/api/cash-sessions/open", json!({"opening_float_cents": 1000})).await;
    let sale = first.act("/api/sales", lattes(&shop, 1)).await;
    assert_eq!(sale["device_seq"], json!(2));
    let first_receipt = sale["receipt"]["receipt_no"].as_str().unwrap().to_string();
    first.wait_for("synced", 20, |s| s["pending"] == json!(0)).await;
    first.kill9();

    let second = Term::start(&dir.path().join("second"), &server.base, &token, &[]).await;
    second.ready().await;
    second.sign_in(shop.cashier, CASHIER_PIN).await;
    let st = second.act("/api/attendance/start", json!({})).await;
    assert_eq!(st["device_seq"], json!(3), "{st}");
    // The drawer the first install opened is still open on the server and was pulled.
    let sale = second.act("/api/sales", lattes(&shop, 1)).await;
    assert_eq!(sale["device_seq"], json!(4), "{sale}");
    assert_ne!(sale["receipt"]["receipt_no"].as_str().unwrap(), first_receipt, "receipt numbers never repeat");
    second.wait_for("synced", 20, |s| s["pending"] == json!(0) && s["failed"] == json!(0)).await;
    let devices = shop.get(&format!("/v1/sync/devices?branch_id={}", shop.branch)).await;
    assert_eq!(devices["devices"][0]["last_device_seq"], json!(4), "{devices}");
    assert_eq!(devices["devices"][0]["gaps"], json!([]), "{devices}");
    assert_eq!(shop.sales().await.len(), 2);
}
