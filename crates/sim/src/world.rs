//! The simulated chain: its server processes, its shop (branches, staff, menu, stock,
//! devices) made through the real admin API, and its tills, each a `modula terminal`
//! process with its own data folder behind its own faulty [`Link`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::link::Link;
use crate::procs::{free_port, run_once, wait_ready, Proc};

/// How many times an admin call is retried while a server restarts.
const ADMIN_ATTEMPTS: u32 = 40;
/// Stock each branch starts with, per stock item.
pub const STOCK_START: i64 = 1_000_000;
/// A recipe: `(stock item index, qty)` per unit sold.
pub type Recipe = &'static [(usize, i64)];
/// Menu items: name, price, recipe. Recipes never change during a run, so stock can be
/// checked against the applied sales.
pub const MENU: [(&str, i64, Recipe); 4] = [
    ("Latte", 300, &[(0, 18), (1, 150)]),
    ("Espresso", 225, &[(0, 18)]),
    ("Iced tea", 175, &[(2, 1)]),
    ("Muffin", 250, &[]),
];
/// Stock items: name, unit.
pub const STOCK: [(&str, &str); 3] = [("Beans", "g"), ("Milk", "ml"), ("Tea bags", "pc")];

/// A server process.
pub struct Server {
    /// The process.
    pub proc: Proc,
    /// `host:port`.
    pub addr: String,
    /// Whether it is running (false between a kill and its restart).
    pub up: bool,
}

/// A till: its process, link, device and local API.
pub struct Till {
    /// Index in the world.
    pub idx: usize,
    /// Index of its branch.
    pub branch: usize,
    /// Its data folder.
    pub dir: PathBuf,
    /// `http://127.0.0.1:PORT`, its local API.
    pub base: String,
    /// The process.
    pub proc: Proc,
    /// Its link to its server.
    pub link: Link,
    /// Its device id.
    pub device_id: Uuid,
    /// Its device token (for duplicate deliveries).
    pub token: String,
    /// Revoked: its queue can no longer sync.
    pub retired: bool,
}

/// The chain under test.
pub struct World {
    /// The `modula` binary.
    pub exe: PathBuf,
    /// The run's folder.
    pub dir: PathBuf,
    /// The database URL.
    pub db_url: String,
    /// HTTP client (no proxy, short timeouts).
    pub http: reqwest::Client,
    /// Server processes.
    pub servers: Vec<Server>,
    /// The tenant.
    pub tenant_id: Uuid,
    /// An owner token.
    pub owner_token: String,
    /// Branch ids.
    pub branches: Vec<Uuid>,
    /// Each branch's cashier and manager ids.
    pub cashiers: Vec<Uuid>,
    /// Managers, by branch.
    pub managers: Vec<Uuid>,
    /// Menu item ids, as [`MENU`].
    pub items: Vec<Uuid>,
    /// Stock item ids, as [`STOCK`].
    pub stock_items: Vec<Uuid>,
    /// The tills.
    pub tills: Vec<Till>,
    /// Restocked per `(branch, stock item)` beyond [`STOCK_START`].
    pub restocked: BTreeMap<(usize, usize), i64>,
    /// Branches whose stock cannot be checked (a restock's answer was lost).
    pub stock_unknown: BTreeSet<usize>,
}

/// The PIN of a branch's cashier or manager.
pub fn pin(branch: usize, manager: bool) -> String {
    format!("{}", if manager { 5000 } else { 1000 } + branch)
}

impl World {
    /// Starts the servers on `db_url` and makes the shop.
    pub async fn build(exe: &Path, dir: &Path, db_url: &str, servers: usize, branches: usize, tills: usize) -> anyhow::Result<World> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build()?;
        let init = run_once(
            exe,
            &["admin", "init", "--db", db_url, "--tenant", "Sim Café", "--owner-name", "Owner", "--owner-pin", "2468", "--json"]
                .map(String::from),
            &[],
        )
        .await?;
        let init: Value = serde_json::from_str(&init).context("admin init --json")?;
        let mut w = World {
            exe: exe.to_path_buf(),
            dir: dir.to_path_buf(),
            db_url: db_url.to_string(),
            http,
            servers: Vec::new(),
            tenant_id: uuid_of(&init["tenant_id"])?,
            owner_token: init["token"].as_str().ok_or_else(|| anyhow!("no token from admin init"))?.to_string(),
            branches: Vec::new(),
            cashiers: Vec::new(),
            managers: Vec::new(),
            items: Vec::new(),
            stock_items: Vec::new(),
            tills: Vec::new(),
            restocked: BTreeMap::new(),
            stock_unknown: BTreeSet::new(),
        };
        let pool = (32 / servers.max(1)).clamp(4, 16).to_string();
        for s in 0..servers {
            let port = free_port()?;
            let addr = format!("127.0.0.1:{port}");
            let mut args = vec!["serve".into(), "--db".into(), db_url.to_string(), "--listen".into(), addr.clone()];
            if db_url.starts_with("postgres") {
                args.extend(["--db-pool-max".to_string(), pool.clone()]);
            }
            let mut proc = Proc::start(&format!("server {s}"), exe, args, dir.join(format!("server-{s}.log")))?;
            wait_ready(&w.http, &format!("http://{addr}/readyz"), &mut proc).await?;
            w.servers.push(Server { proc, addr, up: true });
        }
        w.make_shop(branches).await?;
        for t in 0..tills {
            let till = w.start_till(t, t % branches).await?;
            w.tills.push(till);
        }
        Ok(w)
    }

    async fn make_shop(&mut self, branches: usize) -> anyhow::Result<()> {
        for b in 0..branches {
            let v = self.admin_ok("POST", "/v1/branches", json!({"name": format!("Branch {b}")})).await?;
            self.branches.push(uuid_of(&v["id"])?);
        }
        for (b, branch) in self.branches.clone().into_iter().enumerate() {
            for manager in [false, true] {
                let role = if manager { "manager" } else { "cashier" };
                let body = json!({"name": format!("{role} {b}"), "role": role, "pin": pin(b, manager), "branch_ids": [branch]});
                let id = uuid_of(&self.admin_ok("POST", "/v1/staff", body).await?["id"])?;
                if manager { self.managers.push(id) } else { self.cashiers.push(id) }
            }
        }
        for (name, unit) in STOCK {
            let v = self.admin_ok("POST", "/v1/stock-items", json!({"name": name, "unit": unit})).await?;
            self.stock_items.push(uuid_of(&v["id"])?);
        }
        for (name, price_cents, recipe) in MENU {
            let id = Uuid::now_v7();
            let recipe: Vec<Value> = recipe.iter().map(|(s, qty)| json!({"stock_item_id": self.stock_items[*s], "qty": qty})).collect();
            let body = json!({"name": name, "price_cents": price_cents, "category": "Menu", "active": true, "recipe": recipe});
            self.admin_ok("PUT", &format!("/v1/menu/items/{id}"), body).await?;
            self.items.push(id);
        }
        for branch in self.branches.clone() {
            for item in self.stock_items.clone() {
                let body = json!({"branch_id": branch, "stock_item_id": item, "qty": STOCK_START});
                self.admin_ok("POST", "/v1/inventory/restock", body).await?;
            }
        }
        Ok(())
    }

    async fn start_till(&mut self, idx: usize, branch: usize) -> anyhow::Result<Till> {
        let dev = self.admin_ok("POST", "/v1/devices", json!({"branch_id": self.branches[branch], "name": format!("Till {idx}")})).await?;
        let token = dev["token"].as_str().ok_or_else(|| anyhow!("no device token"))?.to_string();
        let server = &self.servers[idx % self.servers.len()];
        let link = Link::start(server.addr.clone()).await?;
        let dir = self.dir.join(format!("till-{idx}"));
        let token_file = self.dir.join(format!("till-{idx}.token"));
        std::fs::write(&token_file, &token)?;
        let enroll = ["terminal", "enroll", "--data", path_str(&dir)?, "--server", &link.base, "--token-file", path_str(&token_file)?];
        run_once(&self.exe, &enroll.map(String::from), &[]).await?;
        let port = free_port()?;
        let args: Vec<String> = [
            "terminal", "run", "--data", path_str(&dir)?, "--listen", &format!("127.0.0.1:{port}"),
            "--pull-interval-s", "3", "--backoff-cap-s", "2", "--probe-interval-s", "1",
        ]
        .map(String::from)
        .to_vec();
        let mut proc = Proc::start(&format!("till {idx}"), &self.exe, args, self.dir.join(format!("till-{idx}.log")))?;
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&self.http, &format!("{base}/api/status"), &mut proc).await?;
        Ok(Till { idx, branch, dir, base, proc, link, device_id: uuid_of(&dev["device_id"])?, token, retired: false })
    }

    /// The base URL of a running server, for admin calls and checks.
    pub fn server_base(&self) -> anyhow::Result<String> {
        let s = self.servers.iter().find(|s| s.up).ok_or_else(|| anyhow!("no server is running"))?;
        Ok(format!("http://{}", s.addr))
    }

    /// One admin call with the owner token: `(status, body)`; a transport error is `Err`.
    pub async fn admin_once(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.server_base()?);
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.http.request(method, url).bearer_auth(&self.owner_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// An idempotent admin call, retried through transport errors and 503s (a server
    /// restarting); answers `(status, body)`.
    pub async fn admin(&self, method: &str, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let mut last = String::new();
        for _ in 0..ADMIN_ATTEMPTS {
            match self.admin_once(method, path, Some(body.clone())).await {
                Ok((503, v)) => last = format!("503 {v}"),
                Ok(answer) => return Ok(answer),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        bail!("{method} {path} kept failing: {last}")
    }

    /// [`World::admin`] that must succeed (2xx); answers the body.
    pub async fn admin_ok(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let (status, v) = self.admin(method, path, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path} answered {status}: {v}");
        }
        Ok(v)
    }

    /// kill -9 of a server process.
    pub async fn kill_server(&mut self, s: usize) {
        self.servers[s].proc.kill9().await;
        self.servers[s].up = false;
    }

    /// Restarts a killed server on its port and waits until it answers.
    pub async fn restart_server(&mut self, s: usize) -> anyhow::Result<()> {
        let server = &mut self.servers[s];
        if server.up {
            return Ok(());
        }
        server.proc.restart()?;
        let url = format!("http://{}/readyz", server.addr);
        wait_ready(&self.http, &url, &mut server.proc).await?;
        server.up = true;
        Ok(())
    }

    /// kill -9 of a till, then its restart on the same data folder.
    pub async fn crash_till(&mut self, t: usize) -> anyhow::Result<()> {
        let till = &mut self.tills[t];
        till.proc.kill9().await;
        till.proc.restart()?;
        let url = format!("{}/api/status", till.base);
        wait_ready(&self.http, &url, &mut till.proc).await
    }
}

/// A UUID from a JSON string.
pub fn uuid_of(v: &Value) -> anyhow::Result<Uuid> {
    v.as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| anyhow!("not a UUID: {v}"))
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().ok_or_else(|| anyhow!("a path that is not UTF-8: {}", p.display()))
}
