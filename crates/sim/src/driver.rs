//! Runs a schedule's steps against the world: cashiers' actions through each till's local
//! API, faults through links and processes, admin storms through the admin API. One step
//! at a time, in schedule order; the tills sync on their own meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::schedule::{Fault, Step, Tender};
use crate::world::{pin, World, MENU};
use crate::Violation;

/// What a run did, for its last line.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Steps run.
    pub steps: u64,
    /// Ops the tills answered `201` (queued or applied).
    pub answered: u64,
    /// Actions a till refused on the spot, by code (no sign-in, no drawer, frozen…).
    pub refused: BTreeMap<String, u64>,
    /// Amounts above a cap, confirmed at the till.
    pub confirmed: u64,
    /// Link faults set, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Ops sent again to the server.
    pub duplicates: u64,
    /// Till processes killed.
    pub till_crashes: u64,
    /// Server processes killed.
    pub server_kills: u64,
    /// Admin changes made.
    pub admin: u64,
    /// Quiet points reached.
    pub quiet_points: u64,
    /// Invariant checks passed.
    pub checks: u64,
    /// Voids asked for at a till.
    pub voids_tried: u64,
    /// Voids the server applied (as the till answered).
    pub voided: u64,
    /// Failures resolved, by action.
    pub resolved: BTreeMap<String, u64>,
    /// At the last quiet point: the tills' ops the server applied.
    pub applied: u64,
    /// At the last quiet point: the tills' ops the server refused, by code.
    pub rejected: BTreeMap<String, u64>,
}

/// The driver: the world, what the tills answered, and the counts.
pub struct Driver {
    /// The world.
    pub world: World,
    /// Per till, the ops it answered `201`.
    pub answered: Vec<BTreeSet<Uuid>>,
    /// Counts.
    pub stats: Stats,
}

/// A till's answer to a local API call: `(status, body)`.
type Answer = (u16, Value);

impl Driver {
    /// A driver for `world`.
    pub fn new(world: World) -> Driver {
        let n = world.tills.len();
        Driver { world, answered: vec![BTreeSet::new(); n], stats: Stats::default() }
    }

    /// Runs step `n`.
    pub async fn run(&mut self, n: u64, step: &Step) -> Result<(), Violation> {
        self.stats.steps += 1;
        let r = match step {
            Step::Sale { till, lines, tender, all_riel } => self.sale(*till, lines, *tender, *all_riel).await,
            Step::Movement { till, kind, riel, amount } => {
                let amount_key = if *riel { "amount_khr" } else { "amount_cents" };
                let body = json!({"kind": kind, amount_key: amount, "reason": "sim"});
                self.act(*till, "/api/cash-sessions/movement", body).await
            }
            Step::Open { till, float_cents, float_khr } => {
                let body = json!({"opening_float_cents": float_cents, "opening_float_khr": float_khr});
                self.act(*till, "/api/cash-sessions/open", body).await
            }
            Step::Close { till, off_cents, off_khr } => self.close(*till, *off_cents, *off_khr).await,
            Step::Shift { till, start } => {
                let path = if *start { "/api/attendance/start" } else { "/api/attendance/end" };
                self.act(*till, path, json!({})).await
            }
            Step::SignIn { till, manager } => self.sign_in(*till, *manager).await.map(|_| ()),
            Step::Link { till, fault } => {
                self.link(*till, *fault);
                Ok(())
            }
            Step::Duplicate { till } => self.duplicate(*till).await,
            Step::CrashTill { till } => self.crash_till(n, *till).await,
            Step::KillServer { server } => self.kill_server(*server).await,
            Step::Restock { branch, stock_item, qty } => self.restock(*branch, *stock_item, *qty).await,
            Step::Void { till, pick } => self.void(*till, *pick).await,
            Step::Resolve { branch, accept } => self.resolve(*branch, *accept).await,
            admin => self.admin(admin).await,
        };
        r.map_err(|e| e.at(n))
    }

    fn live(&self, till: usize) -> bool {
        !self.world.tills[till].retired
    }

    /// POST to a till's local API.
    async fn till_post(&self, till: usize, path: &str, body: &Value) -> Result<Answer, Violation> {
        let url = format!("{}{path}", self.world.tills[till].base);
        let r = self.world.http.post(url).json(body).send().await;
        let r = r.map_err(|e| Violation::new("till-api", format!("till {till} did not answer {path}: {e}")))?;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn till_get(&self, till: usize, path: &str) -> Result<Value, Violation> {
        let url = format!("{}{path}", self.world.tills[till].base);
        let r = self.world.http.get(url).send().await;
        let r = r.map_err(|e| Violation::new("till-api", format!("till {till} did not answer {path}: {e}")))?;
        r.json().await.map_err(|e| Violation::new("till-api", format!("till {till}: {path} is not JSON: {e}")))
    }

    /// A write at a till: `201` is an answered op; a problem is a refusal on the spot,
    /// except a `5xx` other than `CACHE_MISSING`, which a till must never answer. An
    /// amount above a cap is confirmed, as a cashier would.
    async fn act(&mut self, till: usize, path: &str, body: Value) -> Result<(), Violation> {
        if !self.live(till) {
            return Ok(());
        }
        let (mut status, mut v) = self.till_post(till, path, &body).await?;
        // What a cashier does when the till says why not: sign in, or open the drawer
        // first (a refusal on the spot queues nothing, so the retry is a new action).
        if status == 401 && v["code"] == "UNAUTHORIZED" {
            self.answer(till, path, status, &v)?;
            // The cashier, or if they cannot (deactivated, moved away), the manager.
            if !self.sign_in(till, false).await? {
                self.sign_in(till, true).await?;
            }
            (status, v) = self.till_post(till, path, &body).await?;
        }
        if status == 409 && v["code"] == "NO_OPEN_CASH_SESSION" && path == "/api/sales" {
            self.answer(till, path, status, &v)?;
            let open = json!({"opening_float_cents": 5000, "opening_float_khr": 40_000});
            let (s, o) = self.till_post(till, "/api/cash-sessions/open", &open).await?;
            self.answer(till, "/api/cash-sessions/open", s, &o)?;
            (status, v) = self.till_post(till, path, &body).await?;
        }
        if status == 409 && v["code"] == "CONFIRMATION_REQUIRED" {
            self.stats.confirmed += 1;
            let mut confirmed = body.clone();
            confirmed["confirm"] = json!(true);
            (status, v) = self.till_post(till, path, &confirmed).await?;
        }
        self.answer(till, path, status, &v)
    }

    fn answer(&mut self, till: usize, path: &str, status: u16, v: &Value) -> Result<(), Violation> {
        match status {
            201 => {
                let id = v["client_op_id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
                let id = id.ok_or_else(|| Violation::new("till-api", format!("till {till}: 201 from {path} without an op id: {v}")))?;
                self.answered[till].insert(id);
                self.stats.answered += 1;
                Ok(())
            }
            s if s >= 500 && v["code"] != "CACHE_MISSING" => {
                Err(Violation::new("till-api", format!("till {till} answered {s} to {path}: {v}")))
            }
            _ => {
                let code = v["code"].as_str().unwrap_or("?").to_string();
                *self.stats.refused.entry(code).or_default() += 1;
                Ok(())
            }
        }
    }

    async fn quote(&self, till: usize, lines: &Value, usd: i64, khr: i64) -> Result<Option<Value>, Violation> {
        let body = json!({"lines": lines, "tender": {"cash_usd_cents": usd, "cash_khr": khr}});
        let (status, v) = self.till_post(till, "/api/quote", &body).await?;
        Ok((status == 200).then_some(v))
    }

    async fn sale(&mut self, till: usize, lines: &[(usize, i64)], tender: Tender, all_riel: bool) -> Result<(), Violation> {
        if !self.live(till) {
            return Ok(());
        }
        let lines: Vec<Value> = lines.iter().map(|(i, q)| json!({"menu_item_id": self.world.items[*i], "qty": q})).collect();
        let lines = Value::Array(lines);
        let Some(q) = self.quote(till, &lines, 0, 0).await? else {
            // Not priceable here (an item off the menu in this till's cache): the sale
            // itself is refused the same way.
            return self.act(till, "/api/sales", json!({"lines": lines, "tender": {"cash_usd_cents": 0, "cash_khr": 0}})).await;
        };
        let total = q["total_cents"].as_i64().unwrap_or(0);
        let total_khr = q["total_khr"].as_i64().unwrap_or(0);
        let (usd, khr) = match tender {
            Tender::ExactUsd => (total, 0),
            Tender::RoundUsd(more) => ((total + 99) / 100 * 100 + more * 100, 0),
            Tender::Riel(steps) => (0, total_khr + steps * 100),
            Tender::Mixed => {
                let usd = total / 200 * 100;
                let short = self.quote(till, &lines, usd, 0).await?.and_then(|q| q["short_khr"].as_i64()).unwrap_or(0);
                (usd, short)
            }
        };
        let mut body = json!({"lines": lines, "tender": {"cash_usd_cents": usd, "cash_khr": khr}});
        if all_riel {
            if let Some(q) = self.quote(till, &lines, usd, khr).await? {
                if q["enough"] == json!(true) {
                    body["change"] = q["change_all_khr"].clone();
                }
            }
        }
        self.act(till, "/api/sales", body).await
    }

    async fn close(&mut self, till: usize, off_cents: i64, off_khr: i64) -> Result<(), Violation> {
        if !self.live(till) {
            return Ok(());
        }
        let ctx = self.till_get(till, "/api/context").await?;
        let s = &ctx["cash_session"];
        let expected = |k: &str| s[k].as_i64().unwrap_or(0);
        let body = json!({
            "counted_cash_cents": (expected("expected_cash_cents") + off_cents).max(0),
            "counted_khr": (expected("expected_khr") + off_khr).max(0),
        });
        self.act(till, "/api/cash-sessions/close", body).await
    }

    /// Signs a person in; answers whether the till took it.
    async fn sign_in(&mut self, till: usize, manager: bool) -> Result<bool, Violation> {
        if !self.live(till) {
            return Ok(false);
        }
        let b = self.world.tills[till].branch;
        let staff = if manager { self.world.managers[b] } else { self.world.cashiers[b] };
        let (status, v) = self.till_post(till, "/api/signin", &json!({"staff_id": staff, "pin": pin(b, manager)})).await?;
        if status >= 500 {
            return Err(Violation::new("till-api", format!("till {till} answered {status} to a sign-in: {v}")));
        }
        if status != 200 {
            *self.stats.refused.entry(format!("signin:{}", v["code"].as_str().unwrap_or("?"))).or_default() += 1;
        }
        Ok(status == 200)
    }

    fn link(&mut self, till: usize, fault: Fault) {
        let name = match fault {
            Fault::Up => "up",
            Fault::Cut => "cut",
            Fault::LoseAnswers => "lose-answers",
            Fault::Slow(_) => "slow",
            Fault::DropNudges => "drop-nudges",
        };
        *self.stats.faults.entry(name).or_default() += 1;
        self.world.tills[till].link.set(fault);
    }

    /// Sends one of the till's settled ops to the server again, by push, as a retry from
    /// a lost answer would: the server must answer the stored outcome, never apply again.
    async fn duplicate(&mut self, till: usize) -> Result<(), Violation> {
        let t = &self.world.tills[till];
        let Some((op_json, status)) = crate::check::a_settled_op(&t.dir, self.stats.steps).await? else { return Ok(()) };
        let op: Value = serde_json::from_str(&op_json).map_err(|e| Violation::new("till-file", e.to_string()))?;
        let url = match self.world.server_base() {
            Ok(base) => format!("{base}/v1/sync/push"),
            Err(_) => return Ok(()),
        };
        let body = json!({"device_id": t.device_id, "operations": [op]});
        let Ok(r) = self.world.http.post(url).bearer_auth(&t.token).json(&body).send().await else { return Ok(()) };
        let code = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if code != 200 {
            // A revoked device (401), a busy or restarting server (503): nothing to judge.
            return Ok(());
        }
        self.stats.duplicates += 1;
        let res = &v["results"][0];
        let want = if status == "SYNCED" { "DUPLICATE" } else { "REJECTED" };
        if res["status"] != want || res["replayed"] != json!(true) {
            let msg = format!("till {till}'s {status} op {} sent again was answered {res}", op["client_op_id"]);
            return Err(Violation::new("exactly-once", msg));
        }
        Ok(())
    }

    /// kill -9 of a till while a sale may be in flight; an answered sale must survive.
    async fn crash_till(&mut self, n: u64, till: usize) -> Result<(), Violation> {
        if !self.live(till) {
            return Ok(());
        }
        let url = format!("{}/api/sales", self.world.tills[till].base);
        let body = json!({"lines": [{"menu_item_id": self.world.items[3], "qty": 1}],
                          "tender": {"cash_usd_cents": MENU[3].1 * 4, "cash_khr": 0}});
        let http = self.world.http.clone();
        let in_flight = tokio::spawn(async move {
            let r = http.post(url).json(&body).send().await.ok()?;
            (r.status().as_u16() == 201).then_some(())?;
            r.json::<Value>().await.ok()
        });
        tokio::time::sleep(Duration::from_millis(n % 40)).await;
        self.stats.till_crashes += 1;
        self.world.tills[till].proc.kill9().await;
        if let Ok(Some(v)) = in_flight.await {
            self.answer(till, "/api/sales (killed)", 201, &v)?;
        }
        self.world.crash_till(till).await.map_err(|e| Violation::new("process", format!("{e:#}")))
    }

    async fn kill_server(&mut self, s: usize) -> Result<(), Violation> {
        self.stats.server_kills += 1;
        self.world.kill_server(s).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.world.restart_server(s).await.map_err(|e| Violation::new("process", format!("{e:#}")))
    }

    /// A manager signs in at the till and voids one of its synced sales; whatever the
    /// outcome, the checks read voids from the server's sales.
    async fn void(&mut self, till: usize, pick: u64) -> Result<(), Violation> {
        if !self.live(till) {
            return Ok(());
        }
        let ops = crate::check::till_ops(&self.world.tills[till].dir).await?;
        let mut sales = ops.iter().rev().filter(|o| o.status == "SYNCED" && o.op["type"] == "sale.finalize");
        let Some(sale) = sales.nth(pick as usize) else { return Ok(()) };
        let Some(sale_id) = sale.op["payload"]["sale_id"].as_str().map(str::to_string) else { return Ok(()) };
        self.sign_in(till, true).await?;
        self.stats.voids_tried += 1;
        let path = format!("/api/sales/{sale_id}/void");
        let (status, v) = self.till_post(till, &path, &json!({"reason": "sim void"})).await?;
        match status {
            200 => self.stats.voided += 1,
            s if s >= 500 && v["code"] != "SERVICE_UNAVAILABLE" => {
                return Err(Violation::new("till-api", format!("till {till} answered {s} to a void: {v}")));
            }
            _ => *self.stats.refused.entry(format!("void:{}", v["code"].as_str().unwrap_or("?"))).or_default() += 1,
        }
        Ok(())
    }

    /// A manager resolves the oldest open failure of a branch (accepting a sale when
    /// asked and possible, else dismissing it).
    async fn resolve(&mut self, branch: usize, accept: bool) -> Result<(), Violation> {
        let path = format!("/v1/sync/failures?branch_id={}", self.world.branches[branch]);
        let (status, v) = self.world.admin("GET", &path, Value::Null).await.map_err(|e| Violation::new("admin", format!("{e:#}")))?;
        if status != 200 {
            return Err(Violation::new("admin", format!("GET {path} answered {status}: {v}")));
        }
        let open = v["failures"].as_array().into_iter().flatten().rev().find(|f| f["resolution"].is_null()).cloned();
        let Some(f) = open else { return Ok(()) };
        let id = f["client_op_id"].as_str().unwrap_or_default();
        let action = if accept && f["type"] == "sale.finalize" { "accept" } else { "dismiss" };
        let url = format!("/v1/sync/failures/{id}/resolve");
        let (mut status, mut answer) = self.world.admin("POST", &url, json!({"action": action, "note": "sim"})).await.map_err(|e| Violation::new("admin", format!("{e:#}")))?;
        if status == 409 && action == "accept" {
            // Not acceptable (its session never reached the server): dismissed instead.
            (status, answer) = self.world.admin("POST", &url, json!({"action": "dismiss", "note": "sim"})).await.map_err(|e| Violation::new("admin", format!("{e:#}")))?;
        }
        if status != 200 {
            return Err(Violation::new("admin", format!("resolving {id} answered {status}: {answer}")));
        }
        self.stats.admin += 1;
        *self.stats.resolved.entry(answer["resolution"]["action"].as_str().unwrap_or("?").to_string()).or_default() += 1;
        Ok(())
    }

    /// A restock is not idempotent: it is sent once, and a lost answer makes the branch's
    /// stock unknowable (its check is then skipped, and said so).
    async fn restock(&mut self, branch: usize, stock_item: usize, qty: i64) -> Result<(), Violation> {
        let w = &mut self.world;
        let body = json!({"branch_id": w.branches[branch], "stock_item_id": w.stock_items[stock_item], "qty": qty});
        self.stats.admin += 1;
        match w.admin_once("POST", "/v1/inventory/restock", Some(body)).await {
            Ok((200, _)) => *w.restocked.entry((branch, stock_item)).or_default() += qty,
            Ok((503, _)) => {} // refused before anything was written
            Ok((s, v)) if s < 500 => return Err(Violation::new("admin", format!("a restock answered {s}: {v}"))),
            _ => {
                w.stock_unknown.insert(branch);
            }
        }
        Ok(())
    }

    async fn admin(&mut self, step: &Step) -> Result<(), Violation> {
        let w = &self.world;
        let (method, path, body) = match step {
            Step::Price { item, price_cents } => {
                let (name, _, recipe) = MENU[*item];
                let recipe: Vec<Value> = recipe.iter().map(|(s, q)| json!({"stock_item_id": w.stock_items[*s], "qty": q})).collect();
                let active = price_cents % 9 != 0;
                let body = json!({"name": name, "price_cents": price_cents, "category": "Menu", "active": active, "recipe": recipe});
                ("PUT", format!("/v1/menu/items/{}", w.items[*item]), body)
            }
            Step::Rate { khr_per_usd } => ("PUT", "/v1/policy".to_string(), json!({"khr_per_usd": khr_per_usd})),
            Step::Freeze { branch, frozen } => {
                let what = if *frozen { "freeze" } else { "unfreeze" };
                ("POST", format!("/v1/branches/{}/{what}", w.branches[*branch]), json!({}))
            }
            Step::Active { branch, manager, active } => {
                let id = if *manager { w.managers[*branch] } else { w.cashiers[*branch] };
                ("PATCH", format!("/v1/staff/{id}"), json!({"active": active}))
            }
            Step::MoveCashier { branch, away } => {
                let to = if *away { (branch + 1) % w.branches.len() } else { *branch };
                ("PATCH", format!("/v1/staff/{}", w.cashiers[*branch]), json!({"branch_ids": [w.branches[to]]}))
            }
            Step::Revoke { till } => {
                self.world.tills[*till].retired = true;
                ("DELETE", format!("/v1/devices/{}", self.world.tills[*till].device_id), json!({}))
            }
            other => return Err(Violation::new("sim", format!("not an admin step: {other:?}"))),
        };
        self.stats.admin += 1;
        let (status, v) = self.world.admin(method, &path, body).await.map_err(|e| Violation::new("admin", format!("{e:#}")))?;
        if !(200..300).contains(&status) {
            return Err(Violation::new("admin", format!("{method} {path} answered {status}: {v}")));
        }
        Ok(())
    }
}
