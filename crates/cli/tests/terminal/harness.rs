//! Real processes over real sockets: a `modula serve` on SQLite, `modula terminal`
//! processes, and a TCP proxy between them that can cut the link, drop responses after
//! the server got the request, or delay.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

pub const BIN: &str = env!("CARGO_BIN_EXE_modula");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct Proc {
    pub child: Child,
    pub base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

fn log_file(dir: &Path, name: &str) -> Stdio {
    std::fs::File::create(dir.join(name)).map(Stdio::from).unwrap_or_else(|_| Stdio::null())
}

/// Waits until `url` answers 200, or the process exits (`false`: it could not start,
/// e.g. its port was taken between `free_port` and its bind by another test's process).
async fn ready_or_exited(p: &mut Proc, url: &str, what: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().is_success() {
                return true;
            }
        }
        if p.child.try_wait().ok().flatten().is_some() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not become ready at {url}");
}

/// Most ports tried when a process cannot bind the free port it was given.
const PORT_TRIES: usize = 5;

/// `modula serve` on a SQLite file in `dir`.
pub async fn start_server(dir: &Path) -> Proc {
    let db = format!("sqlite://{}", dir.join("server.db").display());
    for _ in 0..PORT_TRIES {
        let port = free_port();
        let child = Command::new(BIN)
            .args(["serve", "--db", &db, "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log_file(dir, "server.log"))
            .spawn()
            .expect("spawn modula serve");
        let mut p = Proc { child, base: format!("http://127.0.0.1:{port}") };
        let url = format!("{}/readyz", p.base);
        if ready_or_exited(&mut p, &url, "server").await {
            return p;
        }
    }
    panic!("the server could not start on {PORT_TRIES} ports; see {}", dir.join("server.log").display());
}

/// The seeded shop.
#[derive(Clone, Debug)]
pub struct Shop {
    pub base: String,
    pub tenant: Uuid,
    /// The shop's slug (the dashboard's sign-in asks for it).
    pub slug: String,
    pub owner_token: String,
    pub branch: Uuid,
    pub cashier: Uuid,
    pub manager: Uuid,
    pub beans: Uuid,
    pub milk: Uuid,
    /// Latte $3.00: 18 g beans, 150 ml milk.
    pub latte: Uuid,
    /// Espresso $2.00: 18 g beans.
    pub espresso: Uuid,
}

pub const CASHIER_PIN: &str = "1111";
pub const MANAGER_PIN: &str = "5555";
/// The manager's dashboard sign-in (login `vanna`); the PIN is for tills only.
pub const MANAGER_LOGIN: &str = "vanna";
pub const MANAGER_PASSWORD: &str = "vanna's password";
pub const BEANS_START: i64 = 10_000;
pub const MILK_START: i64 = 20_000;

pub async fn call(c: &reqwest::Client, method: &str, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = c.request(m, url).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn ok(c: &reqwest::Client, method: &str, url: String, token: &str, body: Value) -> Value {
    let (s, v) = call(c, method, url, token, Some(body)).await;
    assert!((200..300).contains(&s), "{s}: {v}");
    v
}

fn id(v: &Value, k: &str) -> Uuid {
    v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}")).parse().unwrap()
}

/// Seeds a tenant over HTTP: one branch, a cashier and a manager, beans, milk, a latte
/// and an espresso.
pub async fn seed(dir: &Path, server: &Proc) -> Shop {
    let db = format!("sqlite://{}", dir.join("server.db").display());
    let out = Command::new(BIN)
        .args(["admin", "init", "--db", &db, "--tenant", "Café", "--owner-name", "O", "--owner-pin", "2468", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = init["token"].as_str().unwrap().to_string();
    let base = server.base.clone();
    let c = reqwest::Client::new();
    let branch = id(&ok(&c, "POST", format!("{base}/v1/branches"), &t, json!({"name": "Riverside"})).await, "id");
    let staff = |name: &str, role: &str, pin: &str| json!({"name": name, "role": role, "pin": pin, "branch_ids": [branch]});
    let cashier = id(&ok(&c, "POST", format!("{base}/v1/staff"), &t, staff("Dara", "cashier", CASHIER_PIN)).await, "id");
    let mut manager_body = staff("Vanna", "manager", MANAGER_PIN);
    manager_body["login"] = json!(MANAGER_LOGIN);
    manager_body["password"] = json!(MANAGER_PASSWORD);
    let manager = id(&ok(&c, "POST", format!("{base}/v1/staff"), &t, manager_body).await, "id");
    let beans = id(&ok(&c, "POST", format!("{base}/v1/stock-items"), &t, json!({"name": "Beans", "unit": "g"})).await, "id");
    let milk = id(&ok(&c, "POST", format!("{base}/v1/stock-items"), &t, json!({"name": "Milk", "unit": "ml"})).await, "id");
    for (item, qty) in [(beans, BEANS_START), (milk, MILK_START)] {
        let body = json!({"branch_id": branch, "stock_item_id": item, "qty": qty});
        ok(&c, "POST", format!("{base}/v1/inventory/restock"), &t, body).await;
    }
    let (latte, espresso) = (Uuid::now_v7(), Uuid::now_v7());
    let latte_body = json!({"name": "Latte", "price_cents": 300, "category": "Coffee", "active": true,
        "recipe": [{"stock_item_id": beans, "qty": 18}, {"stock_item_id": milk, "qty": 150}]});
    ok(&c, "PUT", format!("{base}/v1/menu/items/{latte}"), &t, latte_body).await;
    let espresso_body = json!({"name": "Espresso", "price_cents": 200, "category": "Coffee", "active": true,
        "recipe": [{"stock_item_id": beans, "qty": 18}]});
    ok(&c, "PUT", format!("{base}/v1/menu/items/{espresso}"), &t, espresso_body).await;
    Shop {
        base,
        tenant: id(&init, "tenant_id"),
        slug: init["slug"].as_str().unwrap().to_string(),
        owner_token: t,
        branch,
        cashier,
        manager,
        beans,
        milk,
        latte,
        espresso,
    }
}

impl Shop {
    /// A new device of the branch: `(device_id, token)`.
    pub async fn device(&self, name: &str) -> (Uuid, String) {
        let c = reqwest::Client::new();
        let body = json!({"branch_id": self.branch, "name": name});
        let v = ok(&c, "POST", format!("{}/v1/devices", self.base), &self.owner_token, body).await;
        (id(&v, "device_id"), v["token"].as_str().unwrap().to_string())
    }

    /// An owner GET on the server.
    pub async fn get(&self, path: &str) -> Value {
        let c = reqwest::Client::new();
        let (s, v) = call(&c, "GET", format!("{}{path}", self.base), &self.owner_token, None).await;
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }

    /// An owner POST on the server.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let c = reqwest::Client::new();
        call(&c, "POST", format!("{}{path}", self.base), &self.owner_token, Some(body)).await
    }

    /// On-hand of a stock item in the branch, by the server.
    pub async fn on_hand(&self, item: Uuid) -> i64 {
        let inv = self.get(&format!("/v1/inventory?branch_id={}", self.branch)).await;
        let row = inv["items"].as_array().unwrap().iter().find(|r| r["stock_item_id"] == json!(item)).cloned();
        row.unwrap()["on_hand"].as_i64().unwrap()
    }

    /// Sales the server holds for the branch.
    pub async fn sales(&self) -> Vec<Value> {
        self.get(&format!("/v1/sales?branch_id={}", self.branch)).await["sales"].as_array().unwrap().clone()
    }
}

// ------------------------------------------------------------------ proxy

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward both ways.
    Up = 0,
    /// Refuse new connections and sever open ones.
    Cut = 1,
    /// Forward requests, but throw away the server's answers and close the client side
    /// once the server has answered (the server did the work; the client never hears).
    DropResponses = 2,
}

/// A TCP proxy in front of the server.
pub struct Proxy {
    pub base: String,
    mode: Arc<AtomicU8>,
    delay_ms: Arc<AtomicU64>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
    /// Answers thrown away in `DropResponses` mode.
    pub dropped: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy on a random loopback port forwarding to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(Mode::Up as u8));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (gen_tx, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(gen_tx);
        let dropped = Arc::new(AtomicU64::new(0));
        let task = {
            let (mode, delay_ms, generation, dropped) = (mode.clone(), delay_ms.clone(), generation.clone(), dropped.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else { continue };
                    if mode.load(Ordering::SeqCst) == Mode::Cut as u8 {
                        drop(client);
                        continue;
                    }
                    let conn = Conn {
                        upstream: upstream.clone(),
                        mode: mode.clone(),
                        delay_ms: delay_ms.clone(),
                        cut: generation.subscribe(),
                        dropped: dropped.clone(),
                    };
                    tokio::spawn(conn.run(client));
                }
            })
        };
        Proxy { base, mode, delay_ms, generation, dropped, task }
    }

    /// Sets the mode; `Cut` also severs every open connection.
    pub fn set(&self, m: Mode) {
        self.mode.store(m as u8, Ordering::SeqCst);
        if m != Mode::Up {
            self.generation.send_modify(|g| *g += 1);
        }
    }

    /// Delays every chunk forwarded by this long.
    pub fn delay(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }
}

struct Conn {
    upstream: String,
    mode: Arc<AtomicU8>,
    delay_ms: Arc<AtomicU64>,
    cut: tokio::sync::watch::Receiver<u64>,
    dropped: Arc<AtomicU64>,
}

impl Conn {
    async fn run(mut self, client: TcpStream) {
        let Ok(server) = TcpStream::connect(&self.upstream).await else { return };
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let delay = self.delay_ms.clone();
        let up = async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let d = delay.load(Ordering::SeqCst);
                if d > 0 {
                    tokio::time::sleep(Duration::from_millis(d)).await;
                }
                if sw.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        };
        let mode = self.mode.clone();
        let dropped = self.dropped.clone();
        let down = async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match sr.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                match mode.load(Ordering::SeqCst) {
                    m if m == Mode::DropResponses as u8 => {
                        dropped.fetch_add(1, Ordering::SeqCst);
                        return; // the answer is lost; both sides get closed
                    }
                    m if m == Mode::Cut as u8 => return,
                    _ => {}
                }
                let d = delay.load(Ordering::SeqCst);
                if d > 0 {
                    tokio::time::sleep(Duration::from_millis(d)).await;
                }
                if cw.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        };
        let start_gen = *self.cut.borrow();
        tokio::select! {
            _ = up => {}
            _ = down => {}
            _ = async { while self.cut.changed().await.is_ok() { if *self.cut.borrow() != start_gen { return; } } } => {}
        }
    }
}

// ------------------------------------------------------------------ terminal

/// A `modula terminal run` process.
pub struct Term {
    pub proc: Option<Proc>,
    pub data: PathBuf,
    pub base: String,
    pub port: u16,
    pub http: reqwest::Client,
    extra: Vec<String>,
}

/// Enrolls a terminal in `data` against `server_url` (usually the proxy).
pub fn enroll(data: &Path, server_url: &str, token: &str) {
    let out = Command::new(BIN)
        .args(["terminal", "enroll", "--data", data.to_str().unwrap(), "--server", server_url, "--token", token])
        .output()
        .unwrap();
    assert!(out.status.success(), "enroll: {}", String::from_utf8_lossy(&out.stderr));
}

impl Term {
    /// Enrolls and starts a terminal; `extra` are more `terminal run` flags.
    pub async fn start(data: &Path, server_url: &str, token: &str, extra: &[&str]) -> Term {
        enroll(data, server_url, token);
        Term::start_enrolled(data, extra).await
    }

    /// (Re)starts the process on the same port and data folder (a running one is killed
    /// first, with SIGKILL: a restart is a crash and a start).
    pub async fn restart(&mut self) {
        self.kill9();
        assert!(self.launch().await, "the terminal restarted on its port {}", self.port);
    }

    /// Starts the process; `false` if it exited before it was ready.
    async fn launch(&mut self) -> bool {
        let mut args = vec![
            "terminal".to_string(),
            "run".into(),
            "--data".into(),
            self.data.to_str().unwrap().into(),
            "--listen".into(),
            format!("127.0.0.1:{}", self.port),
            "--backoff-cap-s".into(),
            "1".into(),
        ];
        args.extend(self.extra.iter().cloned());
        let child = Command::new(BIN)
            .args(&args)
            .env("RUST_LOG", "info,modula_terminal=debug")
            .stdout(Stdio::null())
            .stderr(log_file(&self.data, "terminal.log"))
            .spawn()
            .expect("spawn modula terminal run");
        let mut proc = Proc { child, base: self.base.clone() };
        let ready = ready_or_exited(&mut proc, &format!("{}/api/status", self.base), "terminal").await;
        self.proc = Some(proc);
        ready
    }

    /// `kill -9` the process.
    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.expect("terminal request");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.expect("terminal request");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn status(&self) -> Value {
        let (s, v) = self.get("/api/status").await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Polls `/api/status` until `pred` holds (panics after `secs`).
    pub async fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status().await;
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; status {s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls `/api/context` until `pred` holds (panics after `secs`).
    pub async fn wait_for_context(&self, what: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (_, c) = self.get("/api/context").await;
            if pred(&c) {
                return c;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; context {c}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the cache is hydrated and the terminal is online.
    pub async fn ready(&self) -> Value {
        self.wait_for("hydrated and online", 30, |s| s["hydrated"] == json!(true) && s["online"] == json!(true)).await
    }

    pub async fn sign_in(&self, staff: Uuid, pin: &str) {
        let (s, v) = self.post("/api/signin", json!({"staff_id": staff, "pin": pin})).await;
        assert_eq!(s, 200, "signin: {v}");
    }

    /// `POST` that must be accepted (201); returns the queued op.
    pub async fn act(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.post(path, body).await;
        assert_eq!(s, 201, "{path}: {v}");
        v
    }

    pub async fn ops(&self, status: &str) -> Vec<Value> {
        let (s, v) = self.get(&format!("/api/ops?status={status}&limit=1000")).await;
        assert_eq!(s, 200, "{v}");
        v["ops"].as_array().unwrap().clone()
    }
}

/// The usual rig: a server with the seeded shop, a proxy in front of it, and one
/// terminal ("Till 1", run with `extra`) enrolled through the proxy, hydrated and online.
/// Answers `(server, shop, proxy, term, device_id)`.
pub async fn rig(dir: &Path, extra: &[&str]) -> (Proc, Shop, Proxy, Term, Uuid) {
    let server = start_server(dir).await;
    let shop = seed(dir, &server).await;
    let proxy = Proxy::start(&server.base).await;
    let (device, token) = shop.device("Till 1").await;
    let term = Term::start(&dir.join("t1"), &proxy.base, &token, extra).await;
    term.ready().await;
    (server, shop, proxy, term, device)
}

/// A sale of `n` lattes paid with exact dollars.
pub fn lattes(shop: &Shop, n: i64) -> Value {
    json!({"lines": [{"menu_item_id": shop.latte, "qty": n}], "tender": {"cash_usd_cents": 300 * n, "cash_khr": 0}})
}

impl Term {
    /// Starts `terminal run` on a data folder that is already enrolled (see [`enroll`]),
    /// e.g. one enrolled while the link was up and run after it was cut.
    pub async fn start_enrolled(data: &Path, extra: &[&str]) -> Term {
        for _ in 0..PORT_TRIES {
            let port = free_port();
            let mut t = Term {
                proc: None,
                data: data.to_path_buf(),
                base: format!("http://127.0.0.1:{port}"),
                port,
                http: reqwest::Client::new(),
                extra: extra.iter().map(|s| s.to_string()).collect(),
            };
            if t.launch().await {
                return t;
            }
        }
        panic!("the terminal could not start on {PORT_TRIES} ports; see {}", data.join("terminal.log").display());
    }

    /// A request with a raw body; answers `(status, content-type, parsed body)`.
    pub async fn send_raw(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.http.request(m, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.header("content-type", "application/json").body(b.to_string());
        }
        let r = r.send().await.expect("terminal request");
        let status = r.status().as_u16();
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        (status, ct, r.json().await.unwrap_or(Value::Null))
    }
}

/// Polls `f` until it returns `Some` (panics after `secs`).
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Term {
    /// A `GET` answered as text: `(status, content-type, body)` (the page and its assets).
    pub async fn get_text(&self, path: &str) -> (u16, String, String) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.expect("terminal request");
        let status = r.status().as_u16();
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        (status, ct, r.text().await.unwrap_or_default())
    }
}
