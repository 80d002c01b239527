//! The real `modula` binary: `admin init`, `serve` over a real socket, and `demo`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_modula");

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn init(db: &str, tenant: &str, pin: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["admin", "init", "--db", db, "--tenant", tenant, "--owner-name", "Owner", "--owner-pin", pin, "--json"])
        .output()
        .expect("run modula admin init")
}

/// `modula demo` serving from `data` on free ports, and what it printed up to its
/// "Ctrl-C" line (every address and credential).
fn start_demo(data: &std::path::Path) -> (Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run modula demo");
    let stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    (child, text)
}

/// `modula serve` on `db` and a free loopback port, ready; killed when the guard drops.
async fn serve(db: &str) -> (KillOnDrop, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args(["serve", "--db", db, "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn modula serve");
    let guard = KillOnDrop(child);
    wait_ready(&base).await;
    (guard, base)
}

async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} did not become ready");
}

#[tokio::test]
async fn admin_init_then_serve_then_login_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let out = init(&db, "Café One", "1234");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first: Value = serde_json::from_slice(&out.stdout).expect("init prints JSON");
    for key in ["tenant_id", "owner_id", "token", "slug"] {
        assert!(first[key].is_string(), "{key} missing in {first}");
    }
    assert_eq!(first["slug"], "cafe-one", "the slug is made from the name");
    // Running it again on the same database adds a second tenant, this one with an owner
    // sign-in for the dashboard (the password from the environment, off the command line).
    let out = Command::new(BIN)
        .args(["admin", "init", "--db", &db, "--tenant", "Café Two", "--owner-name", "Owner", "--owner-pin", "5678"])
        .args(["--owner-login", "Boss", "--json"])
        .env("MODULA_OWNER_PASSWORD", "boss password 1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let second: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(first["tenant_id"], second["tenant_id"]);

    let (_guard, base) = serve(&db).await;

    let client = reqwest::Client::new();
    let token = first["token"].as_str().unwrap();
    let r = client.post(format!("{base}/v1/branches")).bearer_auth(token).json(&json!({"name": "Main"})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let login = json!({"tenant": second["slug"], "login": "boss", "password": "boss password 1"});
    let r = client.post(format!("{base}/v1/auth/login")).json(&login).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["role"], "owner");
    assert_eq!(body["staff_id"], second["owner_id"]);
    // Tenant two's token does not see tenant one's branch.
    let r = client.get(format!("{base}/v1/branches")).bearer_auth(body["token"].as_str().unwrap()).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["branches"], json!([]));
}

#[test]
fn admin_init_refuses_a_bad_pin_or_password_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let out = init(&db, "Café", "12");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("owner-pin"), "{stderr}");
    let base = ["admin", "init", "--db", &db, "--tenant", "Café", "--owner-name", "Owner", "--owner-pin", "1234"];
    let out = Command::new(BIN).args(base).args(["--owner-login", "boss", "--owner-password", "short"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("owner-password") && stderr.contains("10 characters") && !stderr.contains("short"), "{stderr}");
    // A password without a login (or the reverse) is refused before anything is made.
    let out = Command::new(BIN).args(base).env("MODULA_OWNER_PASSWORD", "long enough password").output().unwrap();
    assert!(!out.status.success(), "a password needs a login");
    let out = Command::new(BIN).args(base).args(["--owner-login", "boss"]).env_remove("MODULA_OWNER_PASSWORD").output().unwrap();
    assert!(!out.status.success(), "a login needs a password");
    // None of it made a tenant: the first good init gets the name's slug.
    let out = init(&db, "Café", "1234");
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(made["slug"], "cafe");
}

#[test]
fn demo_seeds_once_and_prints_how_to_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(BIN)
            .args(["demo", "--no-serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path())
            .output()
            .expect("run modula demo")
    };
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("owner token:") && text.contains("cashier id") && text.contains("PIN 1111"), "{text}");
    assert!(text.contains("dashboard login sokha  password ") && text.contains("dashboard login vanna"), "{text}");
    // A second run reuses the seeded tenant rather than adding another.
    let again = String::from_utf8_lossy(&run().stdout).to_string();
    let tenant = |t: &str| t.lines().find(|l| l.contains("tenant_id")).map(str::to_string);
    assert_eq!(tenant(&text), tenant(&again));
}

/// `modula demo` as a newcomer runs it: a server and two terminals whose pages load, a
/// dashboard that loads, and terminals that hydrate from the seeded café.
#[test]
fn demo_serves_server_terminals_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (child, text) = start_demo(dir.path());
    let _guard = KillOnDrop(child);
    let urls: Vec<String> = text.split_whitespace().filter(|w| w.starts_with("http://")).map(str::to_string).collect();
    let pages: Vec<&String> = urls.iter().filter(|u| text.lines().any(|l| l.contains("cashier's page") && l.contains(u.as_str()))).collect();
    let board = urls.iter().find(|u| u.ends_with("/dashboard")).unwrap_or_else(|| panic!("{text}"));
    // The printed shop, login and password sign in (what a newcomer types on the board).
    let word_after = |key: &str| -> String {
        let at = text.find(key).unwrap_or_else(|| panic!("{key} in {text}"));
        text[at + key.len()..].split_whitespace().next().unwrap().to_string()
    };
    let sign_in = json!({"tenant": word_after("shop "), "login": word_after("dashboard login "), "password": word_after("password ")});
    assert_eq!(pages.len(), 2, "two terminals: {text}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        for url in pages.iter().map(|u| u.as_str()).chain([board.as_str()]) {
            let r = c.get(url).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{url}");
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            assert!(ct.starts_with("text/html"), "{url}: {ct}");
        }
        let api = board.trim_end_matches("/dashboard");
        let r = c.post(format!("{api}/v1/auth/login")).json(&sign_in).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{sign_in}");
        for page in &pages {
            let status = format!("{}api/status", page);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let s: serde_json::Value = c.get(&status).send().await.unwrap().json().await.unwrap();
                if s["hydrated"] == serde_json::json!(true) && s["online"] == serde_json::json!(true) {
                    assert_eq!(s["outage_switch"], serde_json::json!(true), "{s}");
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "terminal {page} never hydrated: {s}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let ctx: serde_json::Value = c.get(format!("{page}api/context")).send().await.unwrap().json().await.unwrap();
            assert!(ctx["menu"].as_array().is_some_and(|m| m.len() >= 6), "seeded menu cached: {ctx}");
        }
    });
}

/// Every shop gets a slug: made from its name (`-2`, `-3` when taken) or given with
/// `--slug`; a given slug that is taken or malformed is refused, creating nothing.
#[test]
fn admin_init_gives_each_shop_its_own_slug() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let slug_of = |out: std::process::Output| -> String {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["slug"].as_str().unwrap().to_string()
    };
    assert_eq!(slug_of(init(&db, "Mekong Bean Café", "1234")), "mekong-bean-cafe");
    assert_eq!(slug_of(init(&db, "Mekong Bean Café", "1234")), "mekong-bean-cafe-2");
    assert_eq!(slug_of(init(&db, "កាហ្វេ", "1234")), "cafe", "a Khmer name gives a plain slug");
    let with_slug = |slug: &str| {
        Command::new(BIN)
            .args(["admin", "init", "--db", &db, "--tenant", "Riverside", "--owner-name", "O", "--owner-pin", "1234"])
            .args(["--slug", slug, "--json"])
            .output()
            .unwrap()
    };
    assert_eq!(slug_of(with_slug("riverside-pp")), "riverside-pp");
    for (bad, says) in [("riverside-pp", "taken"), ("Riverside PP", "lowercase")] {
        let out = with_slug(bad);
        assert!(!out.status.success(), "{bad} must be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{bad}: {err}");
    }
    // Text output names the slug too.
    let out = Command::new(BIN)
        .args(["admin", "init", "--db", &db, "--tenant", "Text", "--owner-name", "O", "--owner-pin", "1234"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("slug:      text"), "{}", String::from_utf8_lossy(&out.stdout));
}

/// `modula demo` stops on Ctrl-C (SIGINT) within 10 s, its tills' event streams included,
/// and so does `modula serve` on SIGTERM with a subscriber connected.
#[test]
fn demo_and_serve_stop_on_their_signals() {
    let dir = tempfile::tempdir().unwrap();
    let (mut demo, text) = start_demo(dir.path());
    assert!(text.contains("/dashboard"), "{text}");
    // Let the tills connect their event streams first.
    std::thread::sleep(Duration::from_secs(2));
    let stop = |child: &Child, signal: &str| {
        let out = Command::new("kill").args([signal, &child.id().to_string()]).output().unwrap();
        assert!(out.status.success());
    };
    let wait = |child: &mut Child, what: &str| {
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "{what} exited cleanly: {status:?}");
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{what} did not stop within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    stop(&demo, "-INT");
    wait(&mut demo, "modula demo");

    // `modula serve` with the demo's database and one subscriber, stopped by SIGTERM.
    let info: Value = serde_json::from_slice(&std::fs::read(dir.path().join("demo.json")).unwrap()).unwrap();
    let db = format!("sqlite://{}", dir.path().join("server.db").display());
    let port = free_port();
    let serve = Command::new(BIN)
        .args(["serve", "--db", &db, "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut serve = KillOnDrop(serve);
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = rt.block_on(async {
        wait_ready(&base).await;
        let b = &info["branches"][0];
        let url = format!("{base}/v1/sync/events?branch_id={}", b["id"].as_str().unwrap());
        let mut r = reqwest::Client::new().get(url).bearer_auth(b["device_token"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let _ = r.chunk().await; // the first nudge: subscribed
        stop(&serve.0, "-TERM");
        let mut text = String::new();
        while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(10), r.chunk()).await.expect("the stream ended") {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    });
    assert!(text.contains("event: reconnect"), "{text}");
    wait(&mut serve.0, "modula serve");
}

/// `modula admin set-password`: an operator gives an owner who has no password a login
/// and password from the server's machine, and later resets it (ending the earlier
/// sign-ins); a cashier gets none; the password never comes from the command line.
#[tokio::test]
async fn admin_set_password_gives_and_resets_a_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let init: Value = serde_json::from_slice(&init(&db, "Café One", "1234").stdout).unwrap();
    let owner = init["owner_id"].as_str().unwrap().to_string();
    let set = |who: &str, extra: &[&str], password: Option<&str>| {
        let mut c = Command::new(BIN);
        c.args(["admin", "set-password", "--db", &db, "--tenant", "cafe-one", "--who", who]).args(extra);
        c.env_remove("MODULA_NEW_PASSWORD");
        if let Some(p) = password {
            c.env("MODULA_NEW_PASSWORD", p);
        }
        c.output().unwrap()
    };
    // No login yet: one must be given; no password: refused; a short one: refused.
    assert!(!set(&owner, &[], Some("first password")).status.success());
    assert!(!set(&owner, &["--login", "boss"], None).status.success());
    let out = set(&owner, &["--login", "boss"], Some("short"));
    assert!(!out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("short"));
    let out = set(&owner, &["--login", "boss"], Some("first password"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (_guard, base) = serve(&db).await;
    let c = reqwest::Client::new();
    let login = |password: &str| {
        let body = json!({"tenant": "cafe-one", "login": "boss", "password": password});
        c.post(format!("{base}/v1/auth/login")).json(&body).send()
    };
    let r = login("first password").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    // A reset by login, with a file: the old password and the old sign-in end.
    let file = dir.path().join("pw.txt");
    std::fs::write(&file, "second password\n").unwrap();
    let out = set("boss", &["--password-file", file.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(login("first password").await.unwrap().status().as_u16(), 401);
    let r = login("second password").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let fresh = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    for (what, old) in [("the earlier sign-in", token.as_str()), ("the init token", init["token"].as_str().unwrap())] {
        let r = c.get(format!("{base}/v1/branches")).bearer_auth(old).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{what} ended with the reset");
    }
    // A cashier gets no server sign-in.
    let branch: Value = c.post(format!("{base}/v1/branches")).bearer_auth(&fresh).json(&json!({"name": "Main"})).send().await.unwrap().json().await.unwrap();
    let staff = json!({"name": "Dara", "role": "cashier", "pin": "1111", "branch_ids": [branch["id"]]});
    let cashier: Value = c.post(format!("{base}/v1/staff")).bearer_auth(&fresh).json(&staff).send().await.unwrap().json().await.unwrap();
    let out = set(cashier["id"].as_str().unwrap(), &["--login", "dara"], Some("cashier password"));
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("cashiers have no server sign-in"));
}

/// `modula sim` (issue 22): a short seeded run on SQLite holds every invariant and sums
/// up what it did on its last line.
#[test]
fn sim_runs_a_seed_and_every_invariant_holds() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["sim", "--seed", "11", "--tills", "3", "--branches", "2", "--max-steps", "160", "--minutes", "5"])
        .arg("--dir")
        .arg(dir.path().join("run"))
        .env_remove("MODULA_SIM_PG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or("");
    assert!(last.starts_with("sim seed=11 tills=3 branches=2 backend=sqlite: 160 steps"), "{last}");
    assert!(last.contains("quiet points 2") && last.ends_with("every invariant held"), "{last}");
}

/// The checks can fail: a sale copied behind the server's back (MODULA_SIM_SABOTAGE) is
/// caught, the run exits non-zero and prints the command that replays it.
#[test]
fn sim_catches_a_doubled_sale_and_prints_how_to_replay_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["sim", "--seed", "12", "--tills", "2", "--branches", "1", "--max-steps", "160", "--minutes", "5"])
        .arg("--dir")
        .arg(dir.path().join("run"))
        .env("MODULA_SIM_SABOTAGE", "extra-sale")
        .env_remove("MODULA_SIM_PG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("invariant sales-once broken at step 150"), "{stderr}");
    assert!(stderr.contains("replay: modula sim --seed 12 --tills 2 --branches 1 --max-steps 150"), "{stderr}");
    assert!(stdout.lines().last().unwrap_or("").contains("FAILED: invariant sales-once"), "{stdout}");
}

/// Logs written to a pipe or a file carry no colour codes (only a terminal gets them).
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("server.db").display());
    let child = Command::new(BIN)
        .args(["serve", "--db", &db, "--listen", &format!("127.0.0.1:{}", free_port())])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stderr = child.0.stderr.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines().take(20) {
        let line = line.unwrap();
        let listening = line.contains("listening");
        lines.push(line);
        if listening {
            break;
        }
    }
    let text = lines.join("\n");
    assert!(text.contains("listening"), "the server logged that it listens: {text}");
    assert!(!text.contains('\u{1b}'), "no escape codes in piped logs: {text:?}");
}
