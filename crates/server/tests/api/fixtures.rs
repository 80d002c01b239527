//! Push fixtures: a branch with staff, a device, stock and a menu, all set up through the
//! HTTP admin API; an `OpBuilder` that makes valid ops; helpers to push and to read back.

use chrono::{SecondsFormat, Utc};
use modula_rules::hash::payload_hash;
use modula_rules::pricing;
use modula_wire::op::SaleLine;
use modula_wire::Policy;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{uuid, Resp, TestApp};

/// Menu prices of the fixture (cents) and recipe quantities.
pub const LATTE_PRICE: i64 = 300;
pub const ESPRESSO_PRICE: i64 = 250;
pub const MUFFIN_PRICE: i64 = 200;
pub const LATTE_BEANS: i64 = 18;
pub const LATTE_MILK: i64 = 150;
pub const ESPRESSO_BEANS: i64 = 18;
pub const BEANS_STOCK: i64 = 1000;
pub const MILK_STOCK: i64 = 5000;

pub const CASHIER_PIN: &str = "1111";
pub const MANAGER_PIN: &str = "3333";

/// A tenant with a "Main" branch ready to take pushes, and an "Other" branch.
pub struct Fx {
    pub app: TestApp,
    pub tenant: Uuid,
    /// Owner token (a staff token, manager+).
    pub owner_token: String,
    pub owner: Uuid,
    pub branch: Uuid,
    pub other_branch: Uuid,
    /// Cashier of Main.
    pub cashier: Uuid,
    /// A second cashier of Main.
    pub cashier2: Uuid,
    /// Manager of Main.
    pub manager: Uuid,
    /// Cashier of Other only.
    pub other_cashier: Uuid,
    /// The Main device.
    pub device: Uuid,
    pub device_token: String,
    pub device_code: String,
    pub beans: Uuid,
    pub milk: Uuid,
    /// 300 cents; 18 beans + 150 milk.
    pub latte: Uuid,
    /// 250 cents; 18 beans.
    pub espresso: Uuid,
    /// 200 cents; no recipe.
    pub muffin: Uuid,
}

/// Another device of a branch.
pub struct Device {
    pub id: Uuid,
    pub token: String,
    pub code: String,
}

impl Fx {
    pub async fn new() -> Fx {
        Fx::on(TestApp::spawn().await).await
    }

    /// The seeded shop on an app of the caller's configuration.
    pub async fn on(app: TestApp) -> Fx {
        let t = app.a.token.clone();
        let branch = app.branch(&t, "Main").await;
        let other_branch = app.branch(&t, "Other").await;
        let cashier = app.staff(&t, "Cashier", "cashier", CASHIER_PIN, &[branch]).await;
        let cashier2 = app.staff(&t, "Cashier Two", "cashier", "2222", &[branch]).await;
        let manager = app.staff(&t, "Manager", "manager", MANAGER_PIN, &[branch]).await;
        let other_cashier = app.staff(&t, "Elsewhere", "cashier", "4444", &[other_branch]).await;
        let dev = enroll(&app, &t, branch, "Counter").await;
        let beans = app.stock_item(&t, "Beans").await;
        let milk = app.stock_item(&t, "Milk").await;
        for (item, qty) in [(beans, BEANS_STOCK), (milk, MILK_STOCK)] {
            let r = app.post("/v1/inventory/restock", &t, json!({"branch_id": branch, "stock_item_id": item, "qty": qty})).await;
            assert_eq!(r.ok(200)["on_hand"], qty);
        }
        let latte = Uuid::now_v7();
        let espresso = Uuid::now_v7();
        let muffin = Uuid::now_v7();
        let fx = Fx {
            tenant: app.a.tenant_id,
            owner: app.a.owner_id,
            owner_token: t,
            app,
            branch,
            other_branch,
            cashier,
            cashier2,
            manager,
            other_cashier,
            device: dev.id,
            device_token: dev.token,
            device_code: dev.code,
            beans,
            milk,
            latte,
            espresso,
            muffin,
        };
        fx.put_menu(latte, "Latte", LATTE_PRICE, json!([{"stock_item_id": beans, "qty": LATTE_BEANS}, {"stock_item_id": milk, "qty": LATTE_MILK}])).await;
        fx.put_menu(espresso, "Espresso", ESPRESSO_PRICE, json!([{"stock_item_id": beans, "qty": ESPRESSO_BEANS}])).await;
        fx.put_menu(muffin, "Muffin", MUFFIN_PRICE, json!([])).await;
        fx
    }

    /// Creates or replaces a menu item through the admin API.
    pub async fn put_menu(&self, id: Uuid, name: &str, price: i64, recipe: Value) {
        let body = json!({"name": name, "price_cents": price, "category": "Cafe", "active": true, "recipe": recipe});
        let r = self.app.put(&format!("/v1/menu/items/{id}"), &self.owner_token, body).await;
        assert!(r.status.is_success(), "put menu item: {} {}", r.status, r.text);
    }

    /// An op builder for the Main device.
    pub fn ops(&self) -> OpBuilder {
        OpBuilder::new(self.tenant, self.branch, &self.device_code)
    }

    /// Enrolls another device in `branch`.
    pub async fn enroll(&self, branch: Uuid, name: &str) -> Device {
        enroll(&self.app, &self.owner_token, branch, name).await
    }

    /// `POST /v1/sync/push` with any token, device id and body.
    pub async fn push_raw(&self, token: &str, body: Value) -> Resp {
        self.app.post("/v1/sync/push", token, body).await
    }

    /// Pushes `ops` as the Main device; asserts 200 with one result per op, in order.
    pub async fn push(&self, ops: &[Value]) -> Vec<Value> {
        self.push_as(&self.device_token, self.device, ops).await
    }

    /// Pushes `ops` as `device`; asserts 200 with one result per op, in order.
    pub async fn push_as(&self, token: &str, device: Uuid, ops: &[Value]) -> Vec<Value> {
        let r = self.push_raw(token, json!({"device_id": device, "operations": ops})).await;
        check_push(&r, ops)
    }

    // ---- reads (owner token) ----

    pub async fn on_hand(&self, item: Uuid) -> i64 {
        let r = self.app.get(&format!("/v1/inventory?branch_id={}", self.branch), &self.owner_token).await;
        let items = r.ok(200)["items"].as_array().expect("items").clone();
        let it = items.iter().find(|i| i["stock_item_id"] == item.to_string()).unwrap_or_else(|| panic!("no stock item {item}: {}", r.text));
        it["on_hand"].as_i64().expect("on_hand")
    }

    pub async fn session(&self, id: Uuid) -> Value {
        let r = self.app.get(&format!("/v1/cash-sessions/{id}"), &self.owner_token).await;
        r.ok(200).clone()
    }

    pub async fn sales(&self) -> Vec<Value> {
        let r = self.app.get(&format!("/v1/sales?branch_id={}", self.branch), &self.owner_token).await;
        r.ok(200)["sales"].as_array().unwrap_or_else(|| panic!("sales: {}", r.text)).clone()
    }

    pub async fn shifts(&self) -> Vec<Value> {
        let r = self.app.get(&format!("/v1/attendance?branch_id={}", self.branch), &self.owner_token).await;
        r.ok(200)["shifts"].as_array().unwrap_or_else(|| panic!("shifts: {}", r.text)).clone()
    }

    pub async fn failures(&self) -> Vec<Value> {
        let r = self.app.get(&format!("/v1/sync/failures?branch_id={}", self.branch), &self.owner_token).await;
        r.ok(200)["failures"].as_array().unwrap_or_else(|| panic!("failures: {}", r.text)).clone()
    }

    pub async fn devices(&self) -> Vec<Value> {
        let r = self.app.get(&format!("/v1/sync/devices?branch_id={}", self.branch), &self.owner_token).await;
        r.ok(200)["devices"].as_array().unwrap_or_else(|| panic!("devices: {}", r.text)).clone()
    }

    /// Audit events of Main since `since` (RFC 3339).
    pub async fn audit(&self, since: &str) -> Vec<Value> {
        let r = self.app.get(&format!("/v1/audit?branch_id={}&since={}", self.branch, since), &self.owner_token).await;
        r.ok(200)["events"].as_array().unwrap_or_else(|| panic!("audit: {}", r.text)).clone()
    }

    pub async fn freeze(&self, on: bool) {
        let what = if on { "freeze" } else { "unfreeze" };
        let r = self.app.post(&format!("/v1/branches/{}/{what}", self.branch), &self.owner_token, json!({})).await;
        assert_eq!(r.ok(200)["status"], if on { "frozen" } else { "active" });
    }
}

async fn enroll(app: &TestApp, token: &str, branch: Uuid, name: &str) -> Device {
    let r = app.post("/v1/devices", token, json!({"branch_id": branch, "name": name})).await;
    let b = r.ok(201);
    Device {
        id: uuid(&b["device_id"]),
        token: b["token"].as_str().expect("token").to_string(),
        code: b["code"].as_str().expect("code").to_string(),
    }
}

/// Asserts a 200 push answer with one result per op, in request order; returns the results.
#[track_caller]
pub fn check_push(r: &Resp, ops: &[Value]) -> Vec<Value> {
    assert_eq!(r.status.as_u16(), 200, "push status; body: {}", r.text);
    let results = r.body["results"].as_array().unwrap_or_else(|| panic!("no results: {}", r.text)).clone();
    assert_eq!(results.len(), ops.len(), "one result per op: {}", r.text);
    for (op, res) in ops.iter().zip(&results) {
        assert_eq!(res["client_op_id"], op["client_op_id"], "results in request order: {}", r.text);
    }
    results
}

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Builds valid ops for one device: fresh UUIDv7 ids, incrementing `device_seq`,
/// `occurred_at` now, `payload_hash` computed with the shared rules.
pub struct OpBuilder {
    pub tenant: Uuid,
    pub branch: Uuid,
    pub code: String,
    /// The last `device_seq` handed out.
    pub seq: i64,
    /// The last receipt counter handed out.
    pub receipts: i64,
}

impl OpBuilder {
    pub fn new(tenant: Uuid, branch: Uuid, code: &str) -> OpBuilder {
        OpBuilder { tenant, branch, code: code.to_string(), seq: 0, receipts: 0 }
    }

    /// Any op type and payload, hashed correctly.
    pub fn raw(&mut self, op_type: &str, actor: Uuid, payload: Value) -> Value {
        self.seq += 1;
        let hash = payload_hash(op_type, self.tenant, self.branch, actor, &payload);
        json!({
            "client_op_id": Uuid::now_v7(),
            "type": op_type,
            "tenant_id": self.tenant,
            "branch_id": self.branch,
            "actor_id": actor,
            "device_seq": self.seq,
            "occurred_at": now(),
            "payload": payload,
            "payload_hash": hash,
            "depends_on": [],
        })
    }

    pub fn open(&mut self, actor: Uuid, session: Uuid, float_cents: i64) -> Value {
        self.raw("cashSession.open", actor, json!({"cash_session_id": session, "opening_float_cents": float_cents}))
    }

    /// A sale of `(menu_item_id, qty, unit_price_cents)` lines, totals priced with the
    /// default policy, paid with `usd` cents and `khr` riel.
    pub fn sale(&mut self, actor: Uuid, session: Uuid, lines: &[(Uuid, i64, i64)], usd: i64, khr: i64) -> Value {
        let sale_lines: Vec<SaleLine> = lines
            .iter()
            .map(|&(menu_item_id, qty, unit_price_cents)| SaleLine { menu_item_id, qty, unit_price_cents })
            .collect();
        let totals = pricing::price(&sale_lines, &Policy::default()).expect("price");
        self.receipts += 1;
        let payload = json!({
            "sale_id": Uuid::now_v7(),
            "cash_session_id": session,
            "receipt_no": format!("{}-{}", self.code, self.receipts),
            "lines": sale_lines,
            "tender": {"cash_usd_cents": usd, "cash_khr": khr},
            "totals": totals,
        });
        self.raw("sale.finalize", actor, payload)
    }

    pub fn movement(&mut self, actor: Uuid, session: Uuid, kind: &str, amount_cents: i64) -> Value {
        let payload = json!({"cash_session_id": session, "movement_id": Uuid::now_v7(), "kind": kind,
                             "amount_cents": amount_cents, "reason": format!("{kind} test")});
        self.raw("cashSession.movement", actor, payload)
    }

    pub fn close(&mut self, actor: Uuid, session: Uuid, counted_cents: i64) -> Value {
        self.raw("cashSession.close", actor, json!({"cash_session_id": session, "counted_cash_cents": counted_cents}))
    }

    /// Starts a new shift (fresh `shift_id`, see [`pid`]).
    pub fn start_work(&mut self, actor: Uuid, staff: Uuid) -> Value {
        self.raw("attendance.startWork", actor, json!({"shift_id": Uuid::now_v7(), "staff_id": staff}))
    }

    pub fn end_work(&mut self, actor: Uuid, staff: Uuid, shift: Uuid) -> Value {
        self.raw("attendance.endWork", actor, json!({"shift_id": shift, "staff_id": staff}))
    }
}

/// The op's `client_op_id`.
pub fn op_id(op: &Value) -> Uuid {
    uuid(&op["client_op_id"])
}

/// A payload field holding a UUID (`sale_id`, `shift_id`, …).
pub fn pid(op: &Value, field: &str) -> Uuid {
    uuid(&op["payload"][field])
}

/// Sets `depends_on` (not hashed).
pub fn depends(mut op: Value, on: &[&Value]) -> Value {
    op["depends_on"] = json!(on.iter().map(|o| op_id(o)).collect::<Vec<_>>());
    op
}

/// Recomputes `payload_hash` from the op's current fields.
pub fn rehash(op: &mut Value) {
    let hash = payload_hash(
        op["type"].as_str().expect("type"),
        uuid(&op["tenant_id"]),
        uuid(&op["branch_id"]),
        uuid(&op["actor_id"]),
        &op["payload"],
    );
    op["payload_hash"] = json!(hash);
}

/// Changes the payload and rehashes, so the op stays valid as far as the hash goes.
pub fn edit(mut op: Value, f: impl FnOnce(&mut Value)) -> Value {
    f(&mut op["payload"]);
    rehash(&mut op);
    op
}

fn replayed(res: &Value) -> bool {
    res.get("replayed").and_then(Value::as_bool).unwrap_or(false)
}

/// Asserts `APPLIED` (not a replay); returns the `result`.
#[track_caller]
pub fn applied(res: &Value) -> Value {
    assert_eq!(res["status"], "APPLIED", "expected APPLIED: {res}");
    assert!(!replayed(res), "a fresh apply is not a replay: {res}");
    assert!(res.get("code").is_none_or(Value::is_null), "no code on APPLIED: {res}");
    assert!(res["result"].is_object(), "APPLIED carries a result object: {res}");
    res["result"].clone()
}

/// Asserts `REJECTED` with `code`, a message, and not a replay; returns the message.
#[track_caller]
pub fn rejected(res: &Value, code: &str) -> String {
    assert_eq!(res["status"], "REJECTED", "expected REJECTED {code}: {res}");
    assert_eq!(res["code"], code, "code: {res}");
    assert!(!replayed(res), "a fresh rejection is not a replay: {res}");
    let msg = res["message"].as_str().unwrap_or_else(|| panic!("a rejection has a message: {res}"));
    assert!(!msg.trim().is_empty(), "message: {res}");
    msg.to_string()
}

/// Asserts the stored rejection `code` returned again with `replayed: true`.
#[track_caller]
pub fn rejected_replay(res: &Value, code: &str) {
    assert_eq!(res["status"], "REJECTED", "expected REJECTED {code} (replayed): {res}");
    assert_eq!(res["code"], code, "code: {res}");
    assert!(replayed(res), "a stored rejection comes back with replayed: true: {res}");
}

/// Asserts `DUPLICATE` with `replayed: true` and exactly the stored `result`.
#[track_caller]
pub fn duplicate(res: &Value, stored: &Value) {
    assert_eq!(res["status"], "DUPLICATE", "expected DUPLICATE: {res}");
    assert!(replayed(res), "DUPLICATE has replayed: true: {res}");
    assert_eq!(&res["result"], stored, "DUPLICATE returns the stored result");
}

/// Statuses of a push answer, for messages and quick checks.
pub fn statuses(results: &[Value]) -> Vec<String> {
    results.iter().map(|r| format!("{}{}", r["status"].as_str().unwrap_or("?"), r["code"].as_str().map(|c| format!("/{c}")).unwrap_or_default())).collect()
}

/// The one entry of `list` whose `key` is `id`.
#[track_caller]
pub fn find<'a>(list: &'a [Value], key: &str, id: impl ToString) -> &'a Value {
    let id = id.to_string();
    let hits: Vec<&Value> = list.iter().filter(|v| v[key] == id.as_str()).collect();
    assert_eq!(hits.len(), 1, "exactly one entry with {key} = {id} in {list:?}");
    hits[0]
}
