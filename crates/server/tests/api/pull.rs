//! `GET /v1/sync/pull` (spec §5.3) and `GET /v1/sync/events` (§5.4): full hydration of every
//! scope, paging, incremental convergence, tombstones, cursor resets, access, concurrent
//! writers, and nudges.
//!
//! The client model used throughout: a cache keyed by (scope, id); a change upserts its
//! `data`, a tombstone removes the key. After any sequence of incremental pulls the cache must
//! equal what a fresh hydration gives.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{Resp, TestApp};
use crate::fixtures::*;

const ALL_SCOPES: [&str; 8] = ["menu", "policy", "staff", "branch", "inventory", "cash_sessions", "attendance", "sales"];

fn entity_of(scope: &str) -> &'static str {
    match scope {
        "menu" => "menu_item",
        "policy" => "policy",
        "staff" => "staff",
        "branch" => "branch",
        "inventory" => "stock_level",
        "cash_sessions" => "cash_session",
        "attendance" => "shift",
        "sales" => "sale",
        other => panic!("unknown scope {other:?}"),
    }
}

/// (scope, id).
type Key = (String, String);
/// The client-side cache: data by (scope, id).
type Cache = BTreeMap<Key, Value>;

fn key(c: &Value) -> Key {
    (c["scope"].as_str().unwrap_or_default().to_string(), c["id"].as_str().unwrap_or_default().to_string())
}

fn k(scope: &str, id: impl ToString) -> Key {
    (scope.to_string(), id.to_string())
}

#[track_caller]
fn version(c: &Value) -> i64 {
    c["version"].as_i64().unwrap_or_else(|| panic!("version is an integer: {c}"))
}

fn is_tombstone(c: &Value) -> bool {
    c["deleted"] == true
}

/// Asserts the shape of one change.
#[track_caller]
fn check_change(c: &Value) {
    let scope = c["scope"].as_str().unwrap_or_else(|| panic!("scope is a string: {c}"));
    assert!(ALL_SCOPES.contains(&scope), "unknown scope in {c}");
    assert_eq!(c["entity"], entity_of(scope), "entity of scope {scope}: {c}");
    let id = c["id"].as_str().unwrap_or_else(|| panic!("id is a string: {c}"));
    assert!(id.parse::<Uuid>().is_ok(), "id is a uuid: {c}");
    assert!(version(c) > 0, "version is positive: {c}");
    let deleted = c["deleted"].as_bool().unwrap_or_else(|| panic!("deleted is a bool: {c}"));
    if deleted {
        assert!(c.get("data").is_some() && c["data"].is_null(), "a tombstone has data: null: {c}");
    } else {
        assert!(c["data"].is_object(), "a live change carries a data object: {c}");
    }
}

/// Applies changes, in order, to a cache.
fn apply(cache: &mut Cache, changes: &[Value]) {
    for c in changes {
        if is_tombstone(c) {
            cache.remove(&key(c));
        } else {
            cache.insert(key(c), c["data"].clone());
        }
    }
}

/// The entries of one scope: data by id.
fn scope_of(cache: &Cache, scope: &str) -> BTreeMap<String, Value> {
    cache.iter().filter(|((s, _), _)| s == scope).map(|((_, id), v)| (id.clone(), v.clone())).collect()
}

/// The changes with this key.
fn changes_for<'a>(changes: &'a [Value], scope: &str, id: impl ToString) -> Vec<&'a Value> {
    let key = k(scope, id);
    changes.iter().filter(|c| self::key(c) == key).collect()
}

/// A list keyed by one of its fields.
#[track_caller]
fn keyed(list: &Value, field: &str) -> BTreeMap<String, Value> {
    let arr = list.as_array().unwrap_or_else(|| panic!("not a list: {list}"));
    let map: BTreeMap<String, Value> =
        arr.iter().map(|v| (v[field].as_str().unwrap_or_else(|| panic!("{field} in {v}")).to_string(), v.clone())).collect();
    assert_eq!(map.len(), arr.len(), "{field} unique in {list}");
    map
}

// ---------------------------------------------------------------------------------------
// Pull helpers
// ---------------------------------------------------------------------------------------

/// `GET /v1/sync/pull` with these query parameters (properly encoded).
async fn pull_raw(app: &TestApp, token: Option<&str>, params: &[(&str, &str)]) -> Resp {
    let mut req = app.client.get(format!("{}/v1/sync/pull", app.base)).query(params);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    TestApp::read(req.send().await.expect("pull request")).await
}

struct Page {
    changes: Vec<Value>,
    next_cursor: String,
    has_more: bool,
}

/// Asserts a well-formed 200 pull answer.
#[track_caller]
fn page_of(r: &Resp) -> Page {
    let b = r.ok(200);
    assert!(r.content_type.starts_with("application/json"), "content type {:?}", r.content_type);
    let changes = b["changes"].as_array().unwrap_or_else(|| panic!("changes is a list: {}", r.text)).clone();
    let next_cursor = b["next_cursor"].as_str().unwrap_or_else(|| panic!("next_cursor is a string: {}", r.text)).to_string();
    assert!(!next_cursor.is_empty(), "next_cursor is not empty: {}", r.text);
    let has_more = b["has_more"].as_bool().unwrap_or_else(|| panic!("has_more is a bool: {}", r.text));
    for c in &changes {
        check_change(c);
    }
    for w in changes.windows(2) {
        assert!(version(&w[0]) < version(&w[1]), "versions strictly increase within a page: {} then {}", w[0], w[1]);
    }
    Page { changes, next_cursor, has_more }
}

/// One pull page (asserts 200).
async fn pull(app: &TestApp, token: &str, branch: Uuid, scopes: Option<&str>, cursor: Option<&str>, limit: Option<u32>) -> Page {
    let branch = branch.to_string();
    let limit = limit.map(|l| l.to_string());
    let mut params: Vec<(&str, &str)> = vec![("branch_id", &branch)];
    if let Some(s) = scopes {
        params.push(("scopes", s));
    }
    if let Some(c) = cursor {
        params.push(("cursor", c));
    }
    if let Some(l) = &limit {
        params.push(("limit", l));
    }
    let r = pull_raw(app, Some(token), &params).await;
    page_of(&r)
}

/// Follows pages from `cursor` (none: a hydration) until `has_more` is false. Asserts that
/// versions strictly increase across pages, that pages respect the limit, that a page with
/// `has_more` is not empty, and that the first page of a hydration has no tombstones.
/// Returns every change and the last cursor.
async fn pull_all(
    app: &TestApp,
    token: &str,
    branch: Uuid,
    scopes: Option<&str>,
    cursor: Option<String>,
    limit: u32,
) -> (Vec<Value>, String) {
    let hydration = cursor.is_none();
    let mut cursor = cursor;
    let mut all: Vec<Value> = Vec::new();
    let mut last = i64::MIN;
    for n in 0.. {
        assert!(n < 5000, "pull never reached has_more = false");
        let p = pull(app, token, branch, scopes, cursor.as_deref(), Some(limit)).await;
        assert!(p.changes.len() <= limit as usize, "page of {} > limit {limit}", p.changes.len());
        if hydration && n == 0 {
            assert!(p.changes.iter().all(|c| !is_tombstone(c)), "no tombstones in a hydration's first page: {:?}", p.changes);
        }
        if p.has_more {
            assert!(!p.changes.is_empty(), "a page with has_more = true has changes");
        }
        for c in &p.changes {
            assert!(version(c) > last, "versions strictly increase across pages: {last} then {c}");
            last = version(c);
        }
        if let Some(s) = scopes {
            let wanted: Vec<&str> = s.split(',').collect();
            for c in &p.changes {
                assert!(wanted.contains(&c["scope"].as_str().unwrap()), "scope outside {s}: {c}");
            }
        }
        all.extend(p.changes);
        cursor = Some(p.next_cursor);
        if !p.has_more {
            break;
        }
    }
    (all, cursor.unwrap())
}

struct Hydration {
    cache: Cache,
    cursor: String,
    changes: Vec<Value>,
    /// Highest version seen.
    head: i64,
}

/// A full hydration (no cursor) at limit 1000, taken while nothing else writes: no entity
/// appears twice.
async fn hydrate(app: &TestApp, token: &str, branch: Uuid, scopes: Option<&str>) -> Hydration {
    let (changes, cursor) = pull_all(app, token, branch, scopes, None, 1000).await;
    let keys: BTreeSet<Key> = changes.iter().map(key).collect();
    assert_eq!(keys.len(), changes.len(), "no entity twice in a quiet hydration: {changes:?}");
    let mut cache = Cache::new();
    apply(&mut cache, &changes);
    let head = changes.iter().map(version).max().unwrap_or(0);
    Hydration { cache, cursor, changes, head }
}

// ---------------------------------------------------------------------------------------
// Cursor resets
// ---------------------------------------------------------------------------------------

/// Asserts `409 CURSOR_RESET` with a reason, and that the body carries no change data and
/// none of `secrets`.
#[track_caller]
fn assert_reset(r: &Resp, what: &str, secrets: &[String]) {
    assert_eq!(r.status.as_u16(), 409, "{what}: status; body: {}", r.text);
    let b = r.problem(409, "CURSOR_RESET");
    let reason = b["reason"].as_str().unwrap_or_else(|| panic!("{what}: reason is a string: {}", r.text));
    assert!(!reason.trim().is_empty(), "{what}: reason: {}", r.text);
    for field in ["changes", "data", "next_cursor", "has_more"] {
        assert!(b.get(field).is_none(), "{what}: a reset carries no {field}: {}", r.text);
    }
    for s in secrets {
        assert!(!r.text.contains(s.as_str()), "{what}: the reset leaks {s}: {}", r.text);
    }
}

/// The cursor with its middle character replaced by another one.
fn flip_middle(c: &str) -> String {
    let mut chars: Vec<char> = c.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

// ---------------------------------------------------------------------------------------
// Server-side views to compare with
// ---------------------------------------------------------------------------------------

async fn menu_view(fx: &Fx) -> BTreeMap<String, Value> {
    let r = fx.app.get("/v1/menu/items", &fx.owner_token).await;
    keyed(&r.ok(200)["items"], "id")
}

async fn staff_view(fx: &Fx) -> BTreeMap<String, Value> {
    let r = fx.app.get("/v1/staff", &fx.owner_token).await;
    keyed(&r.ok(200)["staff"], "id")
}

async fn policy_view(fx: &Fx, branch: Uuid) -> Value {
    fx.app.get(&format!("/v1/branches/{branch}/policy"), &fx.owner_token).await.ok(200).clone()
}

async fn branch_view(fx: &Fx, branch: Uuid) -> Value {
    let r = fx.app.get("/v1/branches", &fx.owner_token).await;
    keyed(&r.ok(200)["branches"], "id").remove(&branch.to_string()).expect("branch listed")
}

async fn inventory_view(fx: &Fx, branch: Uuid) -> BTreeMap<String, Value> {
    let r = fx.app.get(&format!("/v1/inventory?branch_id={branch}"), &fx.owner_token).await;
    keyed(&r.ok(200)["items"], "stock_item_id")
}

async fn stock_items_view(fx: &Fx) -> BTreeMap<String, Value> {
    let r = fx.app.get("/v1/stock-items", &fx.owner_token).await;
    keyed(&r.ok(200)["items"], "id")
}

async fn sales_view(fx: &Fx, branch: Uuid) -> BTreeMap<String, Value> {
    let r = fx.app.get(&format!("/v1/sales?branch_id={branch}"), &fx.owner_token).await;
    keyed(&r.ok(200)["sales"], "sale_id")
}

async fn shifts_view(fx: &Fx, branch: Uuid) -> BTreeMap<String, Value> {
    let r = fx.app.get(&format!("/v1/attendance?branch_id={branch}"), &fx.owner_token).await;
    keyed(&r.ok(200)["shifts"], "shift_id")
}

/// Does this PHC string verify `pin`?
fn verifies(phc: &str, pin: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let parsed = PasswordHash::new(phc).unwrap_or_else(|e| panic!("pin_hash is a PHC string ({e}): {phc}"));
    argon2::Argon2::default().verify_password(pin.as_bytes(), &parsed).is_ok()
}

/// Asserts a staff entry of `branch`'s stream: the staff view, plus an argon2id
/// `pin_hash` exactly when the person is active and assigned to that branch (SPEC §5.3);
/// never a PIN.
#[track_caller]
fn check_staff_data(data: &Value, view: &Value, branch: Uuid) {
    let obj = data.as_object().unwrap_or_else(|| panic!("staff data is an object: {data}"));
    for secret in ["pin", "login", "password", "password_hash"] {
        assert!(!obj.contains_key(secret), "staff data never carries a {secret} (no till needs it): {data}");
    }
    let signs_in_here = view["active"] == json!(true)
        && view["branch_ids"].as_array().is_some_and(|b| b.contains(&json!(branch)));
    if signs_in_here {
        let hash = obj.get("pin_hash").and_then(Value::as_str).unwrap_or_else(|| panic!("pin_hash is a string: {data}"));
        assert!(hash.starts_with("$argon2id$"), "pin_hash is argon2id PHC: {hash}");
    } else {
        assert!(!obj.contains_key("pin_hash"), "no PIN hash of someone who cannot sign in at {branch}: {data}");
    }
    let mut without = obj.clone();
    without.remove("pin_hash");
    let mut view = view.as_object().expect("a staff view is an object").clone();
    view.remove("login");
    assert_eq!(without, view, "staff data is the staff member as GET /v1/staff lists it (plus pin_hash, less login)");
}

fn inv(item: Uuid, name: &str, on_hand: i64) -> Value {
    json!({"stock_item_id": item, "name": name, "unit": "g", "on_hand": on_hand})
}

// ---------------------------------------------------------------------------------------
// 1. Full hydration equals the server's state, scope by scope
// ---------------------------------------------------------------------------------------

/// The state the hydration tests read: pushes of both kinds, an inactive and a deleted menu
/// item, policy at both levels, a never-stocked stock item, a frozen branch.
struct HydFx {
    fx: Fx,
    batch: Vec<Value>,
    s1: Uuid,
    s2: Uuid,
    shift1: Uuid,
    tea: Uuid,
    sugar: Uuid,
}

async fn hydration_fixture() -> HydFx {
    let fx = Fx::new().await;
    let t = fx.owner_token.clone();
    let mut ops = fx.ops();
    let (s1, s2) = (Uuid::now_v7(), Uuid::now_v7());
    let mut batch = vec![
        ops.open(fx.cashier, s1, 1000),
        ops.sale(fx.cashier, s1, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.sale(fx.cashier, s1, &[(fx.espresso, 2, ESPRESSO_PRICE)], 500, 0),
        ops.close(fx.cashier, s1, 1800),
        ops.open(fx.cashier, s2, 500),
        ops.start_work(fx.cashier, fx.cashier),
        ops.start_work(fx.manager, fx.manager),
    ];
    let shift1 = pid(&batch[5], "shift_id");
    batch.push(ops.end_work(fx.cashier, fx.cashier, shift1));
    for r in fx.push(&batch).await {
        applied(&r);
    }
    // Admin state: an inactive item, a deleted item, policy at both levels, an unstocked item,
    // a frozen branch.
    let tea = Uuid::now_v7();
    let r = fx.app.put(&format!("/v1/menu/items/{tea}"), &t, json!({"name": "Tea", "price_cents": 150, "category": "Tea", "active": false, "recipe": []})).await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = fx.app.delete(&format!("/v1/menu/items/{}", fx.muffin), &t).await;
    assert!(r.status.is_success(), "{}", r.text);
    fx.app.put("/v1/policy", &t, json!({"khr_per_usd": 4000})).await.ok(200);
    fx.app.put(&format!("/v1/branches/{}/policy", fx.branch), &t, json!({"vat_bps": 500})).await.ok(200);
    let sugar = fx.app.stock_item(&t, "Sugar").await;
    fx.freeze(true).await;

    HydFx { fx, batch, s1, s2, shift1, tea, sugar }
}

#[tokio::test]
async fn hydration_of_admin_scopes_equals_the_servers_state() {
    let HydFx { fx, tea, sugar, .. } = hydration_fixture().await;
    let t = fx.owner_token.clone();
    // menu
    let h = hydrate(&fx.app, &t, fx.branch, Some("menu")).await;
    let menu = scope_of(&h.cache, "menu");
    assert_eq!(menu, menu_view(&fx).await, "menu = GET /v1/menu/items");
    assert_eq!(menu.len(), 3, "latte, espresso, tea (inactive); not the deleted muffin: {menu:?}");
    assert!(!menu.contains_key(&fx.muffin.to_string()));
    assert_eq!(
        menu[&fx.latte.to_string()],
        json!({"id": fx.latte, "name": "Latte", "price_cents": LATTE_PRICE, "category": "Cafe", "active": true,
               "recipe": [{"stock_item_id": fx.beans, "qty": LATTE_BEANS}, {"stock_item_id": fx.milk, "qty": LATTE_MILK}]})
    );
    assert_eq!(menu[&tea.to_string()]["active"], false);
    for (id, data) in &menu {
        assert_eq!(data, fx.app.get(&format!("/v1/menu/items/{id}"), &t).await.ok(200), "menu item {id} = GET /v1/menu/items/{{id}}");
    }

    // policy
    let h = hydrate(&fx.app, &t, fx.branch, Some("policy")).await;
    assert_eq!(h.changes.len(), 1, "one policy per branch: {:?}", h.changes);
    assert_eq!(h.changes[0]["id"], fx.branch.to_string());
    let pol = &h.changes[0]["data"];
    assert_eq!(pol, &policy_view(&fx, fx.branch).await, "policy = GET /v1/branches/{{id}}/policy");
    assert_eq!(pol["vat_bps"], 500);
    assert_eq!(pol["khr_per_usd"], 4000);
    let h_other = hydrate(&fx.app, &t, fx.other_branch, Some("policy")).await;
    assert_eq!(h_other.changes.len(), 1);
    assert_eq!(h_other.changes[0]["id"], fx.other_branch.to_string());
    assert_eq!(h_other.changes[0]["data"], policy_view(&fx, fx.other_branch).await);
    assert_eq!(h_other.changes[0]["data"]["vat_bps"], 1000);
    assert_eq!(h_other.changes[0]["data"]["khr_per_usd"], 4000);

    // staff: everyone of the tenant, also staff of other branches only (without their
    // PIN hashes: only the active staff of this branch sign in at its tills)
    let h = hydrate(&fx.app, &t, fx.branch, Some("staff")).await;
    let staff = scope_of(&h.cache, "staff");
    let view = staff_view(&fx).await;
    assert_eq!(staff.keys().collect::<Vec<_>>(), view.keys().collect::<Vec<_>>(), "staff ids = GET /v1/staff");
    assert_eq!(staff.len(), 5, "owner, 2 cashiers, manager, other branch's cashier");
    for (id, data) in &staff {
        check_staff_data(data, &view[id], fx.branch);
    }
    assert!(staff.contains_key(&fx.other_cashier.to_string()));
    for foreign in [fx.owner, fx.other_cashier] {
        assert!(staff[&foreign.to_string()].get("pin_hash").is_none(), "no hash of {foreign} in Main's stream");
    }
    let h_other = hydrate(&fx.app, &t, fx.other_branch, Some("staff")).await;
    let hashed: Vec<String> =
        scope_of(&h_other.cache, "staff").into_iter().filter(|(_, d)| d.get("pin_hash").is_some()).map(|(id, _)| id).collect();
    assert_eq!(hashed, vec![fx.other_cashier.to_string()], "Other's stream holds its own cashier's hash only");
    let cashier_hash = staff[&fx.cashier.to_string()]["pin_hash"].as_str().unwrap();
    assert!(verifies(cashier_hash, CASHIER_PIN), "the cashier's pin_hash verifies the cashier's PIN");
    assert!(!verifies(cashier_hash, MANAGER_PIN), "and not another PIN");
    assert!(verifies(staff[&fx.manager.to_string()]["pin_hash"].as_str().unwrap(), MANAGER_PIN));
    assert!(!h.changes.iter().any(|c| c.to_string().contains("\"pin\"")), "no PIN anywhere");

    // branch
    let h = hydrate(&fx.app, &t, fx.branch, Some("branch")).await;
    assert_eq!(h.changes.len(), 1, "a branch stream has its own branch only: {:?}", h.changes);
    assert_eq!(h.changes[0]["id"], fx.branch.to_string());
    let mut data = h.changes[0]["data"].clone();
    assert_eq!(data["tenant_name"], "Tenant A", "the shop's name, for receipts");
    data.as_object_mut().unwrap().remove("tenant_name");
    assert_eq!(
        data,
        json!({"id": fx.branch, "name": "Main", "status": "frozen", "address": "", "timezone": "Asia/Phnom_Penh"})
    );
    assert_eq!(data, branch_view(&fx, fx.branch).await);

    // inventory: every stock item of the tenant
    let h = hydrate(&fx.app, &t, fx.branch, Some("inventory")).await;
    let levels = scope_of(&h.cache, "inventory");
    let beans_left = BEANS_STOCK - LATTE_BEANS - 2 * ESPRESSO_BEANS;
    let milk_left = MILK_STOCK - LATTE_MILK;
    let want: BTreeMap<String, Value> = [
        (fx.beans.to_string(), inv(fx.beans, "Beans", beans_left)),
        (fx.milk.to_string(), inv(fx.milk, "Milk", milk_left)),
        (sugar.to_string(), inv(sugar, "Sugar", 0)),
    ]
    .into_iter()
    .collect();
    assert_eq!(levels, want);
    let invv = inventory_view(&fx, fx.branch).await;
    let items = stock_items_view(&fx).await;
    assert_eq!(levels.keys().collect::<Vec<_>>(), items.keys().collect::<Vec<_>>(), "every stock item of the tenant");
    for (id, data) in &levels {
        assert_eq!(data["on_hand"], invv[id]["on_hand"], "on_hand of {id} = GET /v1/inventory");
        assert_eq!(data["name"], invv[id]["name"]);
        assert_eq!(data["unit"], items[id]["unit"]);
    }

    // The other branch: tenant-wide state, its own stock levels, none of Main's sales.
    let other = hydrate(&fx.app, &t, fx.other_branch, None).await;
    assert_eq!(scope_of(&other.cache, "menu"), menu);
    let other_staff = scope_of(&other.cache, "staff");
    assert_eq!(other_staff.keys().collect::<Vec<_>>(), staff.keys().collect::<Vec<_>>(), "the same staff entries");
    for (id, data) in &other_staff {
        check_staff_data(data, &view[id], fx.other_branch);
    }
    assert_eq!(scope_of(&other.cache, "inventory").values().map(|v| v["on_hand"].clone()).collect::<Vec<_>>(), vec![json!(0); 3]);
    for s in ["sales", "attendance", "cash_sessions"] {
        assert!(scope_of(&other.cache, s).is_empty(), "nothing of Main's {s} in Other's stream");
    }
    assert_eq!(scope_of(&other.cache, "branch")[&fx.other_branch.to_string()]["status"], "active");
}

#[tokio::test]
async fn hydration_of_push_lane_scopes_equals_the_reports() {
    let HydFx { fx, batch, s1, s2, shift1, .. } = hydration_fixture().await;
    let t = fx.owner_token.clone();
    let sales = scope_of(&hydrate(&fx.app, &t, fx.branch, Some("sales")).await.cache, "sales");
    let shifts = scope_of(&hydrate(&fx.app, &t, fx.branch, Some("attendance")).await.cache, "attendance");
    let sessions = scope_of(&hydrate(&fx.app, &t, fx.branch, Some("cash_sessions")).await.cache, "cash_sessions");

    // Concrete values first.
    assert_eq!(sales.len(), 2, "{sales:?}");
    assert_eq!(sales[&pid(&batch[1], "sale_id").to_string()]["total_cents"], LATTE_PRICE);
    assert_eq!(sales[&pid(&batch[2], "sale_id").to_string()]["total_cents"], 2 * ESPRESSO_PRICE);
    assert_eq!(sales[&pid(&batch[1], "sale_id").to_string()]["receipt_no"], format!("{}-1", fx.device_code));
    assert_eq!(shifts.len(), 2, "{shifts:?}");
    assert_eq!(shifts[&shift1.to_string()]["status"], "closed");
    assert_eq!(shifts[&shift1.to_string()]["staff_id"], fx.cashier.to_string());
    assert_eq!(shifts[&pid(&batch[6], "shift_id").to_string()]["status"], "open");
    assert_eq!(sessions.keys().cloned().collect::<BTreeSet<_>>(), [s1.to_string(), s2.to_string()].into_iter().collect());
    assert_eq!(sessions[&s1.to_string()]["status"], "closed");
    assert_eq!(sessions[&s1.to_string()]["expected_cash_cents"], 1000 + LATTE_PRICE + 2 * ESPRESSO_PRICE);
    assert_eq!(sessions[&s1.to_string()]["counted_cash_cents"], 1800);
    assert_eq!(sessions[&s1.to_string()]["variance_cents"], 0);
    assert_eq!(sessions[&s2.to_string()]["status"], "open");
    assert_eq!(sessions[&s2.to_string()]["opening_float_cents"], 500);

    // Then each entry is exactly what the report shows (every mismatch listed).
    let mut mismatches: Vec<String> = Vec::new();
    let mut compare = |what: String, feed: &Value, report: &Value| {
        if feed != report {
            mismatches.push(format!("{what}:\n  pull:   {feed}\n  report: {report}"));
        }
    };
    let sv = sales_view(&fx, fx.branch).await;
    assert_eq!(sales.keys().collect::<Vec<_>>(), sv.keys().collect::<Vec<_>>(), "sale ids = GET /v1/sales");
    for (id, data) in &sales {
        compare(format!("sale {id} vs GET /v1/sales"), data, &sv[id]);
    }
    let shv = shifts_view(&fx, fx.branch).await;
    assert_eq!(shifts.keys().collect::<Vec<_>>(), shv.keys().collect::<Vec<_>>(), "shift ids = GET /v1/attendance");
    for (id, data) in &shifts {
        compare(format!("shift {id} vs GET /v1/attendance"), data, &shv[id]);
    }
    for (id, data) in &sessions {
        let report = fx.app.get(&format!("/v1/cash-sessions/{id}"), &t).await.ok(200).clone();
        compare(format!("cash session {id} vs GET /v1/cash-sessions/{{id}}"), data, &report);
    }
    assert!(mismatches.is_empty(), "pull data differs from the reports:\n{}", mismatches.join("\n"));
}

#[tokio::test]
async fn hydration_of_all_scopes_is_the_union_of_each_scope() {
    let HydFx { fx, .. } = hydration_fixture().await;
    let t = fx.owner_token.clone();
    // All scopes (default and explicit) = the union of the scopes; a device sees the same.
    let mut union = Cache::new();
    for s in ALL_SCOPES {
        union.extend(hydrate(&fx.app, &t, fx.branch, Some(s)).await.cache);
    }
    assert_eq!(union.len(), 3 + 1 + 5 + 1 + 3 + 2 + 2 + 2);
    let all = hydrate(&fx.app, &t, fx.branch, None).await;
    assert_eq!(all.cache, union, "default scopes = all scopes");
    let explicit = hydrate(&fx.app, &t, fx.branch, Some(&ALL_SCOPES.join(","))).await;
    assert_eq!(explicit.cache, union);
    let by_device = hydrate(&fx.app, &fx.device_token, fx.branch, None).await;
    assert_eq!(by_device.cache, union, "the branch's device hydrates the same state");
}

#[tokio::test]
async fn a_new_branch_stream_starts_with_the_tenant_state_and_itself() {
    let fx = Fx::new().await;
    let t = fx.owner_token.clone();
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    for r in fx.push(&[ops.open(fx.cashier, s, 100), ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0)]).await {
        applied(&r);
    }
    fx.app.put("/v1/policy", &t, json!({"khr_rounding": 500})).await.ok(200);
    let fresh = fx.app.branch(&t, "Fresh").await;
    let h = hydrate(&fx.app, &t, fresh, None).await;
    let count = |s: &str| scope_of(&h.cache, s).len();
    assert_eq!(
        ALL_SCOPES.iter().map(|s| count(s)).collect::<Vec<_>>(),
        vec![3, 1, 5, 1, 2, 0, 0, 0],
        "menu 3, policy 1, staff 5, branch 1, inventory 2, nothing else: {:?}",
        h.changes
    );
    assert_eq!(scope_of(&h.cache, "menu"), menu_view(&fx).await);
    let staff = scope_of(&h.cache, "staff");
    let view = staff_view(&fx).await;
    for (id, data) in &staff {
        check_staff_data(data, &view[id], fresh);
    }
    assert!(staff.values().all(|d| d.get("pin_hash").is_none()), "nobody works at Fresh yet: no hashes");
    assert_eq!(h.cache[&k("policy", fresh)], policy_view(&fx, fresh).await);
    assert_eq!(h.cache[&k("policy", fresh)]["khr_rounding"], 500);
    assert_eq!(
        h.cache[&k("branch", fresh)],
        json!({"id": fresh, "name": "Fresh", "status": "active", "address": "", "timezone": "Asia/Phnom_Penh",
               "tenant_name": "Tenant A"})
    );
    assert_eq!(h.cache[&k("inventory", fx.beans)], inv(fx.beans, "Beans", 0));
    assert_eq!(h.cache[&k("inventory", fx.milk)], inv(fx.milk, "Milk", 0));
}

// ---------------------------------------------------------------------------------------
// 2. Paging
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn paging_with_limit_2_yields_the_same_set_as_one_big_pull() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = vec![
        ops.open(fx.cashier, s, 1000),
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.sale(fx.cashier, s, &[(fx.muffin, 1, MUFFIN_PRICE)], 500, 0),
        ops.start_work(fx.cashier, fx.cashier),
    ];
    for r in fx.push(&batch).await {
        applied(&r);
    }
    for (token, scopes, n) in [
        (&fx.device_token, None, 3 + 1 + 5 + 1 + 2 + 1 + 1 + 2),
        (&fx.owner_token, Some("menu,inventory"), 3 + 2),
        (&fx.owner_token, Some("sales"), 2),
    ] {
        let big = hydrate(&fx.app, token, fx.branch, scopes).await;
        assert_eq!(big.changes.len(), n, "{scopes:?}: {:?}", big.changes);
        let (paged, last_cursor) = pull_all(&fx.app, token, fx.branch, scopes, None, 2).await;
        let keys: BTreeSet<Key> = paged.iter().map(key).collect();
        assert_eq!(keys.len(), paged.len(), "no duplicates across pages: {paged:?}");
        assert_eq!(paged, big.changes, "{scopes:?}: pages of 2 = one big pull, change for change");
        // The last cursor is at the head: nothing more, and it stays usable.
        let p = pull(&fx.app, token, fx.branch, scopes, Some(&last_cursor), Some(2)).await;
        assert!(p.changes.is_empty() && !p.has_more, "{scopes:?}: nothing after the last page: {:?}", p.changes);
        assert!(pull(&fx.app, token, fx.branch, scopes, Some(&p.next_cursor), None).await.changes.is_empty());
    }
    // Page by page: exactly 2 per page but the last.
    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let p = pull(&fx.app, &fx.owner_token, fx.branch, Some("menu,inventory"), cursor.as_deref(), Some(2)).await;
        sizes.push(p.changes.len());
        cursor = Some(p.next_cursor);
        if !p.has_more {
            break;
        }
    }
    assert!(sizes == vec![2, 2, 1] || sizes == vec![2, 2, 1, 0], "page sizes of 5 changes at limit 2: {sizes:?}");
}

#[tokio::test]
async fn default_limit_is_500_and_bad_parameters_are_400() {
    let fx = Arc::new(Fx::new().await);
    // 12 entities in Main's stream so far; 495 more menu items make 507.
    let mut set = tokio::task::JoinSet::new();
    for w in 0..5 {
        let fx = fx.clone();
        set.spawn(async move {
            for i in 0..99 {
                fx.put_menu(Uuid::now_v7(), &format!("Item {w}-{i}"), 100 + i, json!([])).await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("menu writer");
    }
    let t = &fx.owner_token;
    let p = pull(&fx.app, t, fx.branch, None, None, None).await;
    assert_eq!(p.changes.len(), 500, "default limit 500");
    assert!(p.has_more);
    let p2 = pull(&fx.app, t, fx.branch, None, Some(&p.next_cursor), None).await;
    assert_eq!(p2.changes.len(), 7);
    assert!(!p2.has_more);
    let p = pull(&fx.app, t, fx.branch, None, None, Some(1000)).await;
    assert_eq!(p.changes.len(), 507);
    assert!(!p.has_more);

    let b = fx.branch.to_string();
    let r = pull_raw(&fx.app, Some(t), &[("branch_id", &b), ("limit", "1001")]).await;
    match r.status.as_u16() {
        200 => assert!(page_of(&r).changes.len() <= 1000),
        _ => {
            r.problem(400, "BAD_REQUEST");
        }
    }
    let r = pull_raw(&fx.app, Some(t), &[("branch_id", &b), ("limit", "1000000")]).await;
    match r.status.as_u16() {
        200 => assert!(page_of(&r).changes.len() <= 1000),
        _ => {
            r.problem(400, "BAD_REQUEST");
        }
    }
    let bad: Vec<Vec<(&str, &str)>> = vec![
        vec![("branch_id", &b), ("limit", "0")],
        vec![("branch_id", &b), ("limit", "-1")],
        vec![("branch_id", &b), ("limit", "ten")],
        vec![("branch_id", &b), ("limit", "2.5")],
        vec![("branch_id", &b), ("scopes", "menu,bogus")],
        vec![("branch_id", &b), ("scopes", "menus")],
        vec![("branch_id", &b), ("scopes", "MENU")],
        vec![("branch_id", "not-a-uuid")],
        vec![("scopes", "menu")],
    ];
    for params in bad {
        let r = pull_raw(&fx.app, Some(t), &params).await;
        assert_eq!(r.status.as_u16(), 400, "{params:?}: {}", r.text);
        r.problem(400, "BAD_REQUEST");
        assert!(r.body.get("changes").is_none());
    }
    // An unknown branch.
    let r = pull_raw(&fx.app, Some(t), &[("branch_id", &Uuid::now_v7().to_string())]).await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "unknown branch: {} {}", r.status, r.text);
}

// ---------------------------------------------------------------------------------------
// 3. Incremental convergence and 4. tombstones
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn incremental_pulls_converge_to_a_fresh_hydration() {
    let fx = Fx::new().await;
    let t = fx.owner_token.clone();
    let mut main = hydrate(&fx.app, &fx.device_token, fx.branch, None).await;
    let mut other = hydrate(&fx.app, &t, fx.other_branch, None).await;

    // Admin edits of every kind.
    let tea = Uuid::now_v7();
    fx.put_menu(tea, "Tea", 150, json!([])).await;
    let latte_recipe = json!([{"stock_item_id": fx.beans, "qty": LATTE_BEANS}, {"stock_item_id": fx.milk, "qty": LATTE_MILK}]);
    fx.put_menu(fx.latte, "Latte", 350, latte_recipe).await;
    let r = fx.app.delete(&format!("/v1/menu/items/{}", fx.muffin), &t).await;
    assert!(r.status.is_success(), "{}", r.text);
    fx.app.put("/v1/policy", &t, json!({"khr_per_usd": 4000})).await.ok(200);
    fx.app.put(&format!("/v1/branches/{}/policy", fx.branch), &t, json!({"paid_out_limit_cents": 5000})).await.ok(200);
    fx.app.patch(&format!("/v1/staff/{}", fx.cashier2), &t, json!({"active": false})).await.ok(200);
    fx.app.patch(&format!("/v1/staff/{}", fx.manager), &t, json!({"pin": "7777"})).await.ok(200);
    let barista = fx.app.staff(&t, "Barista", "cashier", "8888", &[fx.branch]).await;
    let sugar = fx.app.stock_item(&t, "Sugar").await;
    fx.app.post("/v1/inventory/restock", &t, json!({"branch_id": fx.branch, "stock_item_id": fx.beans, "qty": 100})).await.ok(200);
    fx.app.post("/v1/inventory/restock", &t, json!({"branch_id": fx.other_branch, "stock_item_id": fx.milk, "qty": 7})).await.ok(200);
    // Pushes.
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = vec![
        ops.open(fx.cashier, s, 1000),
        ops.sale(fx.cashier, s, &[(fx.latte, 1, 350)], 500, 0),
        ops.start_work(fx.cashier, fx.cashier),
        ops.close(fx.cashier, s, 1350),
    ];
    for r in fx.push(&batch).await {
        applied(&r);
    }
    fx.freeze(true).await;

    // Main.
    let (inc, _) = pull_all(&fx.app, &fx.device_token, fx.branch, None, Some(main.cursor.clone()), 500).await;
    for c in &inc {
        assert!(version(c) > main.head, "incremental changes come after the cursor: {c}");
    }
    apply(&mut main.cache, &inc);
    let fresh = hydrate(&fx.app, &fx.device_token, fx.branch, None).await;
    assert_eq!(main.cache, fresh.cache, "hydrate + incremental = fresh hydration (Main)");

    let one = |scope: &str, id: Uuid| -> Value {
        let hits = changes_for(&inc, scope, id);
        assert_eq!(hits.len(), 1, "exactly one {scope} change for {id} in {inc:?}");
        hits[0].clone()
    };
    assert!(is_tombstone(&one("menu", fx.muffin)), "muffin's delete arrives as a tombstone");
    assert_eq!(one("menu", tea)["data"]["name"], "Tea");
    assert_eq!(one("menu", fx.latte)["data"]["price_cents"], 350);
    assert!(changes_for(&inc, "menu", fx.espresso).is_empty(), "espresso did not change: {inc:?}");
    assert_eq!(one("staff", fx.cashier2)["data"]["active"], false);
    assert!(one("staff", fx.cashier2)["data"].get("pin_hash").is_none(), "a deactivated cashier's hash leaves the till");
    assert!(changes_for(&inc, "staff", fx.other_cashier).is_empty(), "other cashier did not change");
    let new_hash = one("staff", fx.manager)["data"]["pin_hash"].as_str().unwrap().to_string();
    assert!(verifies(&new_hash, "7777") && !verifies(&new_hash, MANAGER_PIN), "the new PIN's hash");
    assert_eq!(one("staff", barista)["data"]["name"], "Barista");
    let pol = one("policy", fx.branch)["data"].clone();
    assert_eq!((pol["khr_per_usd"].clone(), pol["paid_out_limit_cents"].clone()), (json!(4000), json!(5000)));
    assert_eq!(one("branch", fx.branch)["data"]["status"], "frozen");
    assert_eq!(one("inventory", sugar)["data"], inv(sugar, "Sugar", 0));
    assert_eq!(one("inventory", fx.beans)["data"], inv(fx.beans, "Beans", BEANS_STOCK + 100 - LATTE_BEANS));
    assert_eq!(one("inventory", fx.milk)["data"], inv(fx.milk, "Milk", MILK_STOCK - LATTE_MILK));
    assert_eq!(one("sales", pid(&batch[1], "sale_id"))["data"]["total_cents"], 350);
    assert_eq!(one("cash_sessions", s)["data"]["status"], "closed");
    assert_eq!(one("attendance", pid(&batch[2], "shift_id"))["data"]["status"], "open");

    // Other: the tenant-wide changes fan out to it, Main's own do not.
    let (inc, _) = pull_all(&fx.app, &t, fx.other_branch, None, Some(other.cursor.clone()), 500).await;
    apply(&mut other.cache, &inc);
    let fresh = hydrate(&fx.app, &t, fx.other_branch, None).await;
    assert_eq!(other.cache, fresh.cache, "hydrate + incremental = fresh hydration (Other)");
    assert!(changes_for(&inc, "menu", fx.muffin).iter().all(|c| is_tombstone(c)) && changes_for(&inc, "menu", fx.muffin).len() == 1);
    assert_eq!(changes_for(&inc, "menu", tea).len(), 1);
    assert_eq!(changes_for(&inc, "staff", fx.cashier2)[0]["data"]["active"], false);
    assert_eq!(changes_for(&inc, "staff", barista).len(), 1);
    let pol = &changes_for(&inc, "policy", fx.other_branch)[0]["data"];
    assert_eq!((pol["khr_per_usd"].clone(), pol["paid_out_limit_cents"].clone()), (json!(4000), json!(2000)));
    assert_eq!(changes_for(&inc, "inventory", sugar)[0]["data"], inv(sugar, "Sugar", 0));
    assert_eq!(changes_for(&inc, "inventory", fx.milk)[0]["data"], inv(fx.milk, "Milk", 7));
    for c in &inc {
        assert!(!["sales", "cash_sessions", "attendance", "branch"].contains(&c["scope"].as_str().unwrap()), "nothing of Main's own in Other's stream: {c}");
    }
}

#[tokio::test]
async fn deletes_arrive_as_tombstones_in_every_branch_stream() {
    let fx = Fx::new().await;
    let t = fx.owner_token.clone();
    let main = hydrate(&fx.app, &fx.device_token, fx.branch, Some("menu")).await;
    let other = hydrate(&fx.app, &t, fx.other_branch, Some("menu")).await;
    assert!(main.cache.contains_key(&k("menu", fx.espresso)));
    let r = fx.app.delete(&format!("/v1/menu/items/{}", fx.espresso), &t).await;
    assert!(r.status.is_success(), "{}", r.text);

    for (token, branch, h) in [(&fx.device_token, fx.branch, &main), (&t, fx.other_branch, &other)] {
        let p = pull(&fx.app, token, branch, Some("menu"), Some(&h.cursor), None).await;
        assert!(!p.has_more);
        assert_eq!(p.changes.len(), 1, "just the tombstone: {:?}", p.changes);
        let c = &p.changes[0];
        assert_eq!((c["scope"].clone(), c["entity"].clone(), c["id"].clone()), (json!("menu"), json!("menu_item"), json!(fx.espresso.to_string())));
        assert_eq!(c["deleted"], true);
        assert_eq!(c["data"], Value::Null);
        assert!(version(c) > h.head);
        let mut cache = h.cache.clone();
        apply(&mut cache, &p.changes);
        let fresh = hydrate(&fx.app, token, branch, Some("menu")).await;
        assert!(!fresh.cache.contains_key(&k("menu", fx.espresso)), "a hydration has no tombstones");
        assert_eq!(cache, fresh.cache);
    }

    // Put back under the same id: the cursor from before the delete sees it once, live.
    let after_delete = pull(&fx.app, &fx.device_token, fx.branch, Some("menu"), Some(&main.cursor), None).await.next_cursor;
    fx.put_menu(fx.espresso, "Espresso", 260, json!([])).await;
    let p = pull(&fx.app, &fx.device_token, fx.branch, Some("menu"), Some(&main.cursor), None).await;
    assert_eq!(p.changes.len(), 1, "{:?}", p.changes);
    assert_eq!(p.changes[0]["deleted"], false);
    assert_eq!(p.changes[0]["data"]["price_cents"], 260);
    let p = pull(&fx.app, &fx.device_token, fx.branch, Some("menu"), Some(&after_delete), None).await;
    assert_eq!(p.changes.len(), 1);
    assert_eq!(p.changes[0]["data"]["name"], "Espresso");

    // Created and deleted after a cursor: whatever arrives, the item is not in the cache.
    let cursor = p.next_cursor;
    let ghost = Uuid::now_v7();
    fx.put_menu(ghost, "Ghost", 100, json!([])).await;
    let r = fx.app.delete(&format!("/v1/menu/items/{ghost}"), &t).await;
    assert!(r.status.is_success());
    let p = pull(&fx.app, &fx.device_token, fx.branch, Some("menu"), Some(&cursor), None).await;
    let hits = changes_for(&p.changes, "menu", ghost);
    assert!(hits.len() <= 1 && hits.iter().all(|c| is_tombstone(c)), "at most a tombstone for a created-then-deleted item: {:?}", p.changes);
}

#[tokio::test]
async fn an_entity_changed_twice_appears_once_at_its_latest_version() {
    let fx = Fx::new().await;
    let t = fx.owner_token.clone();
    let h = hydrate(&fx.app, &t, fx.branch, None).await;
    for price in [310, 320, 330] {
        fx.put_menu(fx.muffin, "Muffin", price, json!([])).await;
    }
    for qty in [5, 6] {
        fx.app.post("/v1/inventory/restock", &t, json!({"branch_id": fx.branch, "stock_item_id": fx.beans, "qty": qty})).await.ok(200);
    }
    fx.put_menu(fx.espresso, "Espresso", 255, json!([])).await;
    let (inc, _) = pull_all(&fx.app, &t, fx.branch, None, Some(h.cursor.clone()), 500).await;
    assert_eq!(inc.len(), 3, "muffin, beans, espresso, once each: {inc:?}");
    let muffin = changes_for(&inc, "menu", fx.muffin);
    assert_eq!(muffin.len(), 1);
    assert_eq!(muffin[0]["data"]["price_cents"], 330);
    let beans = changes_for(&inc, "inventory", fx.beans);
    assert_eq!(beans.len(), 1);
    assert_eq!(beans[0]["data"]["on_hand"], BEANS_STOCK + 11);
    // Commit order: the muffin's last edit, then beans, then espresso.
    assert_eq!(inc.iter().map(key).collect::<Vec<_>>(), vec![k("menu", fx.muffin), k("inventory", fx.beans), k("menu", fx.espresso)]);
    // A fresh hydration holds each at the same version.
    let fresh = hydrate(&fx.app, &t, fx.branch, None).await;
    for c in &inc {
        let f = fresh.changes.iter().find(|f| key(f) == key(c)).unwrap();
        assert_eq!(version(f), version(c), "hydration version of {:?}", key(c));
    }
    // The hydration's changes are in version order, and untouched entities keep theirs.
    let latte_then = h.changes.iter().find(|c| key(c) == k("menu", fx.latte)).unwrap();
    let latte_now = fresh.changes.iter().find(|c| key(c) == k("menu", fx.latte)).unwrap();
    assert_eq!(version(latte_then), version(latte_now));
}

#[tokio::test]
async fn push_lane_writes_appear_in_the_pull_of_their_branch_only() {
    let fx = Fx::new().await;
    let t = fx.owner_token.clone();
    let main = hydrate(&fx.app, &fx.device_token, fx.branch, None).await;
    let other = hydrate(&fx.app, &t, fx.other_branch, None).await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = vec![
        ops.open(fx.cashier, s, 1000),
        ops.sale(fx.cashier, s, &[(fx.latte, 2, LATTE_PRICE)], 1000, 0),
        ops.movement(fx.cashier, s, "paid_in", 200),
        ops.start_work(fx.cashier, fx.cashier),
    ];
    for r in fx.push(&batch).await {
        applied(&r);
    }
    let (inc, _) = pull_all(&fx.app, &fx.device_token, fx.branch, None, Some(main.cursor.clone()), 500).await;
    let mut scopes: Vec<Key> = inc.iter().map(key).collect();
    scopes.sort();
    let mut want = vec![
        k("cash_sessions", s),
        k("sales", pid(&batch[1], "sale_id")),
        k("attendance", pid(&batch[3], "shift_id")),
        k("inventory", fx.beans),
        k("inventory", fx.milk),
    ];
    want.sort();
    assert_eq!(scopes, want, "the push's effects, once each: {inc:?}");
    let get = |scope: &str, id: Uuid| changes_for(&inc, scope, id)[0]["data"].clone();
    assert_eq!(get("cash_sessions", s), fx.session(s).await);
    assert_eq!(get("cash_sessions", s)["expected_cash_cents"], 1000 + 2 * LATTE_PRICE + 200);
    let sale_id = pid(&batch[1], "sale_id");
    assert_eq!(get("sales", sale_id), sales_view(&fx, fx.branch).await[&sale_id.to_string()], "sale data = its GET /v1/sales element");
    assert_eq!(get("sales", sale_id)["receipt_no"], format!("{}-1", fx.device_code));
    let shift = pid(&batch[3], "shift_id");
    assert_eq!(get("attendance", shift), shifts_view(&fx, fx.branch).await[&shift.to_string()]);
    assert_eq!(get("inventory", fx.beans), inv(fx.beans, "Beans", BEANS_STOCK - 2 * LATTE_BEANS));
    assert_eq!(get("inventory", fx.milk), inv(fx.milk, "Milk", MILK_STOCK - 2 * LATTE_MILK));
    // The other branch's stream did not move.
    let p = pull(&fx.app, &t, fx.other_branch, None, Some(&other.cursor), None).await;
    assert!(p.changes.is_empty(), "Main's push is not in Other's stream: {:?}", p.changes);
}

// ---------------------------------------------------------------------------------------
// 5. Cursor misuse → 409 CURSOR_RESET
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn cursor_misuse_is_409_cursor_reset_without_data() {
    let fx = Fx::new().await;
    let t = fx.owner_token.clone();
    let b = fx.branch.to_string();
    let scopes = "menu,staff";
    // A cursor with something after it, so a misuse that were served would show data.
    let h = hydrate(&fx.app, &t, fx.branch, Some(scopes)).await;
    let early = pull(&fx.app, &t, fx.branch, Some(scopes), None, Some(1)).await.next_cursor;
    fx.put_menu(fx.latte, "Latte", 333, json!([])).await;
    let c = h.cursor.clone();
    let secrets: Vec<String> = vec![fx.latte.to_string(), fx.espresso.to_string(), fx.muffin.to_string(), "Latte".into(), "Espresso".into(), "argon2".into()];

    // Control: the cursor works where it belongs.
    let p = pull(&fx.app, &t, fx.branch, Some(scopes), Some(&c), None).await;
    assert_eq!(p.changes.len(), 1);
    assert!(!pull(&fx.app, &t, fx.branch, Some(scopes), Some(&early), None).await.changes.is_empty());

    for (what, s) in [("fewer scopes", Some("menu")), ("more scopes", Some("menu,staff,policy")), ("other scopes", Some("sales")), ("all scopes (default)", None)] {
        let mut params = vec![("branch_id", b.as_str()), ("cursor", c.as_str())];
        if let Some(s) = s {
            params.push(("scopes", s));
        }
        assert_reset(&pull_raw(&fx.app, Some(&t), &params).await, what, &secrets);
    }
    // Another branch of the same tenant.
    let ob = fx.other_branch.to_string();
    for cur in [&c, &early] {
        let r = pull_raw(&fx.app, Some(&t), &[("branch_id", &ob), ("scopes", scopes), ("cursor", cur)]).await;
        assert_reset(&r, "other branch", &secrets);
    }
    // Another tenant, on its own branch, with its owner token and with its device.
    let tb = fx.app.other_tenant("Tenant B").await;
    let tb_branch = fx.app.branch(&tb.token, "B Main").await;
    let (_, tb_device_token) = fx.app.device(&tb.token, tb_branch).await;
    let tbb = tb_branch.to_string();
    for token in [&tb.token, &tb_device_token] {
        let r = pull_raw(&fx.app, Some(token), &[("branch_id", &tbb), ("scopes", scopes), ("cursor", &c)]).await;
        assert_reset(&r, "other tenant", &secrets);
    }
    // Tampered: one character flipped in the middle, appended, truncated; garbage.
    let tampered = [
        ("flipped", flip_middle(&c)),
        ("flipped early", flip_middle(&early)),
        ("appended", format!("{c}A")),
        ("appended early", format!("{early}0")),
        ("truncated", c[..c.len() - 1].to_string()),
        ("garbage", "abc".to_string()),
        ("garbage 0", "0".to_string()),
        ("garbage json", "{\"seq\":0}".to_string()),
    ];
    for (what, bad) in &tampered {
        assert_ne!(bad, &c);
        let r = pull_raw(&fx.app, Some(&t), &[("branch_id", &b), ("scopes", scopes), ("cursor", bad)]).await;
        assert_reset(&r, what, &secrets);
    }
    // The device of the branch gets the same answer for a tampered cursor.
    let r = pull_raw(&fx.app, Some(&fx.device_token), &[("branch_id", &b), ("scopes", scopes), ("cursor", &flip_middle(&c))]).await;
    assert_reset(&r, "flipped (device)", &secrets);
    // The genuine cursors still work afterwards.
    assert_eq!(pull(&fx.app, &t, fx.branch, Some(scopes), Some(&c), None).await.changes.len(), 1);
}

#[tokio::test]
async fn a_cursor_older_than_purged_tombstones_is_reset() {
    let fx = Fx::new().await;
    let t = fx.owner_token.clone();
    let before = hydrate(&fx.app, &fx.device_token, fx.branch, None).await;
    let other_before = hydrate(&fx.app, &t, fx.other_branch, Some("menu")).await;
    let r = fx.app.delete(&format!("/v1/menu/items/{}", fx.muffin), &t).await;
    assert!(r.status.is_success(), "{}", r.text);
    // A cursor taken after the tombstone.
    let (inc, after) = pull_all(&fx.app, &fx.device_token, fx.branch, None, Some(before.cursor.clone()), 500).await;
    assert!(inc.iter().any(|c| key(c) == k("menu", fx.muffin) && is_tombstone(c)));

    let mut tx = fx.app.store.begin_write().await.unwrap();
    let purged = tx.purge_tombstones(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap();
    tx.commit().await.unwrap();
    assert!(purged >= 1, "the muffin's tombstone was purged: {purged}");

    let secrets = vec![fx.latte.to_string(), "Latte".to_string()];
    let b = fx.branch.to_string();
    let r = pull_raw(&fx.app, Some(&fx.device_token), &[("branch_id", &b), ("cursor", &before.cursor)]).await;
    assert_reset(&r, "older than the purged tombstone (Main)", &secrets);
    let ob = fx.other_branch.to_string();
    let r = pull_raw(&fx.app, Some(&t), &[("branch_id", &ob), ("scopes", "menu"), ("cursor", &other_before.cursor)]).await;
    assert_reset(&r, "older than the purged tombstone (Other)", &secrets);
    // A cursor from after the tombstone still works, and so does a fresh hydration.
    let p = pull(&fx.app, &fx.device_token, fx.branch, None, Some(&after), None).await;
    assert!(p.changes.is_empty(), "{:?}", p.changes);
    let fresh = hydrate(&fx.app, &fx.device_token, fx.branch, None).await;
    let mut cache = before.cache.clone();
    apply(&mut cache, &inc);
    assert_eq!(cache, fresh.cache);
    assert!(!fresh.cache.contains_key(&k("menu", fx.muffin)));
}

// ---------------------------------------------------------------------------------------
// 6. Access
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn who_may_pull() {
    let fx = Fx::new().await;
    let t = fx.owner_token.clone();
    let (b, ob) = (fx.branch.to_string(), fx.other_branch.to_string());
    let manager_token = fx.app.login(fx.tenant, fx.manager).await;
    let cashier_token = fx.app.token_in_store(fx.tenant, fx.cashier).await;
    let other_device = fx.enroll(fx.other_branch, "Elsewhere").await;
    let secrets = vec![fx.latte.to_string(), "Latte".to_string()];
    let no_leak = |r: &Resp, what: &str| {
        assert!(r.body.get("changes").is_none(), "{what}: {}", r.text);
        for s in &secrets {
            assert!(!r.text.contains(s.as_str()), "{what} leaks {s}: {}", r.text);
        }
    };

    // Allowed: the branch's device, its manager, the owner.
    for (what, token) in [("device", &fx.device_token), ("manager", &manager_token), ("owner", &t)] {
        let p = page_of(&pull_raw(&fx.app, Some(token), &[("branch_id", &b)]).await);
        assert!(p.changes.iter().any(|c| key(c) == k("menu", fx.latte)), "{what} hydrates Main");
    }
    page_of(&pull_raw(&fx.app, Some(&t), &[("branch_id", &ob)]).await);
    page_of(&pull_raw(&fx.app, Some(&other_device.token), &[("branch_id", &ob)]).await);

    // A device for another branch, a manager not of that branch, a cashier: 403.
    let r = pull_raw(&fx.app, Some(&fx.device_token), &[("branch_id", &ob)]).await;
    r.problem(403, "FORBIDDEN");
    no_leak(&r, "device on another branch");
    let r = pull_raw(&fx.app, Some(&other_device.token), &[("branch_id", &b)]).await;
    r.problem(403, "FORBIDDEN");
    no_leak(&r, "other branch's device on Main");
    let r = pull_raw(&fx.app, Some(&manager_token), &[("branch_id", &ob)]).await;
    r.problem(403, "FORBIDDEN");
    no_leak(&r, "manager of another branch");
    for br in [&b, &ob] {
        let r = pull_raw(&fx.app, Some(&cashier_token), &[("branch_id", br)]).await;
        r.problem(403, "FORBIDDEN");
        no_leak(&r, "cashier");
    }
    // A valid cursor does not change who may use it.
    let cur = pull(&fx.app, &fx.device_token, fx.branch, None, None, Some(2)).await.next_cursor;
    let r = pull_raw(&fx.app, Some(&cashier_token), &[("branch_id", &b), ("cursor", &cur), ("limit", "2")]).await;
    r.problem(403, "FORBIDDEN");
    no_leak(&r, "cashier with a cursor");

    // No token, a made-up token, a revoked device: 401.
    let r = pull_raw(&fx.app, None, &[("branch_id", &b)]).await;
    r.problem(401, "UNAUTHORIZED");
    no_leak(&r, "no token");
    let r = pull_raw(&fx.app, Some("not-a-token"), &[("branch_id", &b)]).await;
    r.problem(401, "UNAUTHORIZED");
    let d2 = fx.enroll(fx.branch, "Back").await;
    page_of(&pull_raw(&fx.app, Some(&d2.token), &[("branch_id", &b)]).await);
    let r = fx.app.delete(&format!("/v1/devices/{}", d2.id), &t).await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    let r = pull_raw(&fx.app, Some(&d2.token), &[("branch_id", &b)]).await;
    r.problem(401, "UNAUTHORIZED");
    no_leak(&r, "revoked device");

    // Another tenant's owner on Main: nothing.
    let tb = fx.app.other_tenant("Tenant B").await;
    let r = pull_raw(&fx.app, Some(&tb.token), &[("branch_id", &b)]).await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "other tenant on Main: {} {}", r.status, r.text);
    no_leak(&r, "other tenant");
    // And its own branch stream has none of tenant A.
    let tb_branch = fx.app.branch(&tb.token, "B Main").await;
    let h = hydrate(&fx.app, &tb.token, tb_branch, None).await;
    let text = serde_json::to_string(&h.changes).unwrap();
    for s in [fx.latte.to_string(), fx.cashier.to_string(), fx.beans.to_string(), fx.branch.to_string()] {
        assert!(!text.contains(&s), "tenant B's stream shows tenant A's {s}");
    }
    assert_eq!(scope_of(&h.cache, "staff").len(), 1, "only tenant B's owner");
}

// ---------------------------------------------------------------------------------------
// 7. Concurrency: a cursor never skips a concurrently committed change
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_make_a_paging_reader_miss_a_change() {
    let fx = Arc::new(Fx::new().await);
    let d2 = fx.enroll(fx.branch, "Back").await;
    let done = Arc::new(AtomicBool::new(false));

    // The reader: a hydration and then cursor pulls at limit 3, until the writers are done
    // and a pull started after that comes back without more.
    let reader = {
        let fx = fx.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut cursor: Option<String> = None;
            let mut seen: Vec<Value> = Vec::new();
            let mut pulls = 0u32;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let p = pull(&fx.app, &fx.device_token, fx.branch, None, cursor.as_deref(), Some(3)).await;
                pulls += 1;
                assert!(p.changes.len() <= 3, "limit 3: {:?}", p.changes);
                seen.extend(p.changes);
                cursor = Some(p.next_cursor);
                if !p.has_more {
                    if finished {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            }
            (seen, pulls)
        })
    };

    let mut writers = tokio::task::JoinSet::new();
    // 1: restocks of Main (and a few of Other).
    {
        let fx = fx.clone();
        writers.spawn(async move {
            for i in 0..50i64 {
                let (branch, item) = match i % 5 {
                    4 => (fx.other_branch, fx.milk),
                    n if n % 2 == 0 => (fx.branch, fx.beans),
                    _ => (fx.branch, fx.milk),
                };
                let r = fx.app.post("/v1/inventory/restock", &fx.owner_token, json!({"branch_id": branch, "stock_item_id": item, "qty": i + 1})).await;
                r.ok(200);
            }
        });
    }
    // 2: menu edits: creates, replaces, deletes.
    {
        let fx = fx.clone();
        writers.spawn(async move {
            let mut created: Vec<Uuid> = Vec::new();
            for i in 0..50i64 {
                match i % 5 {
                    0 | 1 => {
                        let id = Uuid::now_v7();
                        fx.put_menu(id, &format!("Special {i}"), 400 + i, json!([])).await;
                        created.push(id);
                    }
                    2 => fx.put_menu(fx.espresso, "Espresso", ESPRESSO_PRICE + i, json!([{"stock_item_id": fx.beans, "qty": ESPRESSO_BEANS}])).await,
                    3 => {
                        let id = created.remove(0);
                        let r = fx.app.delete(&format!("/v1/menu/items/{id}"), &fx.owner_token).await;
                        assert!(r.status.is_success(), "{}", r.text);
                    }
                    _ => fx.put_menu(fx.muffin, "Muffin", MUFFIN_PRICE + i, json!([])).await,
                }
            }
        });
    }
    // 3: the Main device pushes a session with sales, one op per push.
    {
        let fx = fx.clone();
        writers.spawn(async move {
            let mut ops = fx.ops();
            let s = Uuid::now_v7();
            let mut all = vec![ops.open(fx.cashier, s, 1000)];
            for i in 0..48 {
                let line = if i % 2 == 0 { (fx.latte, 1, LATTE_PRICE) } else { (fx.espresso, 1, ESPRESSO_PRICE) };
                all.push(ops.sale(fx.cashier, s, &[line], 500, 0));
            }
            all.push(ops.close(fx.cashier, s, 0));
            for op in all {
                applied(&fx.push(std::slice::from_ref(&op)).await[0]);
            }
        });
    }
    // 4: a second device records shifts; staff and policy edits in between.
    {
        let fx = fx.clone();
        writers.spawn(async move {
            let mut ops = OpBuilder::new(fx.tenant, fx.branch, &d2.code);
            for i in 0..50i64 {
                match i % 5 {
                    0 | 2 => {
                        let start = ops.start_work(fx.cashier2, fx.cashier2);
                        let shift = pid(&start, "shift_id");
                        applied(&fx.push_as(&d2.token, d2.id, &[start]).await[0]);
                        let end = ops.end_work(fx.cashier2, fx.cashier2, shift);
                        applied(&fx.push_as(&d2.token, d2.id, &[end]).await[0]);
                    }
                    1 => {
                        fx.app.patch(&format!("/v1/staff/{}", fx.other_cashier), &fx.owner_token, json!({"active": (i / 5) % 2 == 0})).await.ok(200);
                    }
                    3 => {
                        fx.app.put("/v1/policy", &fx.owner_token, json!({"paid_out_limit_cents": 2000 + i})).await.ok(200);
                    }
                    _ => {
                        fx.app.put(&format!("/v1/branches/{}/policy", fx.branch), &fx.owner_token, json!({"khr_rounding": if i % 2 == 0 { 100 } else { 500 }})).await.ok(200);
                    }
                }
            }
        });
    }
    while let Some(r) = writers.join_next().await {
        r.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let (seen, pulls) = tokio::time::timeout(Duration::from_secs(120), reader).await.expect("reader finishes").expect("reader");
    assert!(pulls > 10, "the reader pulled while the writers wrote: {pulls}");

    // Versions strictly increase over the whole sequence.
    for w in seen.windows(2) {
        assert!(version(&w[0]) < version(&w[1]), "versions strictly increase across the whole sequence: {} then {}", w[0], w[1]);
    }
    let mut cache = Cache::new();
    apply(&mut cache, &seen);
    let mut last_version: BTreeMap<Key, i64> = BTreeMap::new();
    for c in &seen {
        last_version.insert(key(c), version(c));
    }
    let fresh = hydrate(&fx.app, &fx.device_token, fx.branch, None).await;
    assert!(seen.len() > fresh.changes.len(), "(test check) the reader saw entities move while it read: {} changes seen", seen.len());
    assert_eq!(cache.keys().collect::<Vec<_>>(), fresh.cache.keys().collect::<Vec<_>>(), "the reader has exactly the entities of a fresh hydration");
    assert_eq!(cache, fresh.cache, "the reader's cache equals a fresh hydration");
    for c in &fresh.changes {
        assert_eq!(last_version.get(&key(c)), Some(&version(c)), "the reader saw {:?} at its latest version", key(c));
    }
    // Concrete end state.
    assert_eq!(scope_of(&fresh.cache, "sales").len(), 48);
    assert_eq!(scope_of(&fresh.cache, "attendance").len(), 20);
    assert_eq!(scope_of(&fresh.cache, "menu").len(), 3 + 20 - 10);
    assert_eq!(fresh.cache[&k("inventory", fx.beans)], inv(fx.beans, "Beans", fx.on_hand(fx.beans).await));
    assert_eq!(fresh.cache[&k("menu", fx.muffin)]["price_cents"], MUFFIN_PRICE + 49);
    assert_eq!(fresh.cache[&k("policy", fx.branch)]["paid_out_limit_cents"], 2000 + 48);
}

// ---------------------------------------------------------------------------------------
// 8. Nudges over SSE
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Sse {
    Comment,
    Event { name: String, data: String },
}

/// A running `GET /v1/sync/events` subscription; events arrive, time-stamped, on `rx`.
struct Subscription {
    rx: tokio::sync::mpsc::UnboundedReceiver<(Instant, Sse)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscription {
    /// What has arrived so far.
    fn drain(&mut self) -> Vec<(Instant, Sse)> {
        let mut out = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            out.push(e);
        }
        out
    }

    /// What arrives until `deadline`.
    async fn until(&mut self, deadline: Instant) -> Vec<(Instant, Sse)> {
        let mut out = self.drain();
        while let Ok(Some(e)) = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), self.rx.recv()).await {
            out.push(e);
        }
        out
    }
}

/// The nudges among events: (arrival, parsed data).
#[track_caller]
fn nudges(events: &[(Instant, Sse)]) -> Vec<(Instant, Value)> {
    events
        .iter()
        .filter_map(|(at, e)| match e {
            Sse::Event { name, data } if name == "nudge" => {
                let v: Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("nudge data is JSON ({e}): {data}"));
                assert!(v["head"].as_i64().is_some(), "nudge head is an integer: {v}");
                Some((*at, v))
            }
            _ => None,
        })
        .collect()
}

/// Opens `GET /v1/sync/events` and asserts 200 `text/event-stream`; a task parses the stream.
async fn subscribe(app: &TestApp, token: &str, branch: Uuid) -> Subscription {
    let resp = app
        .client
        .get(format!("{}/v1/sync/events", app.base))
        .query(&[("branch_id", branch.to_string())])
        .bearer_auth(token)
        .send()
        .await
        .expect("events request");
    let status = resp.status().as_u16();
    let ct = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if status != 200 {
        let r = TestApp::read(resp).await;
        panic!("events: {} {}", r.status, r.text);
    }
    assert!(ct.starts_with("text/event-stream"), "content type {ct:?}");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut resp = resp;
        let mut buf: Vec<u8> = Vec::new();
        let mut name = String::new();
        let mut data: Vec<String> = Vec::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            buf.extend_from_slice(&chunk);
            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = buf.drain(..=pos).collect();
                let mut line = String::from_utf8_lossy(&raw[..raw.len() - 1]).into_owned();
                if line.ends_with('\r') {
                    line.pop();
                }
                let now = Instant::now();
                if line.is_empty() {
                    if !data.is_empty() || !name.is_empty() {
                        let ev_name = if name.is_empty() { "message".to_string() } else { std::mem::take(&mut name) };
                        let ev = Sse::Event { name: ev_name, data: data.join("\n") };
                        data.clear();
                        if tx.send((now, ev)).is_err() {
                            return;
                        }
                    }
                } else if line.starts_with(':') {
                    if tx.send((now, Sse::Comment)).is_err() {
                        return;
                    }
                } else {
                    let (field, value) = match line.split_once(':') {
                        Some((f, v)) => (f.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()),
                        None => (line.clone(), String::new()),
                    };
                    match field.as_str() {
                        "event" => name = value,
                        "data" => data.push(value),
                        _ => {}
                    }
                }
            }
        }
    });
    Subscription { rx, task }
}

/// The status of a `GET /v1/sync/events` request that should be refused (a 200 stream is
/// not read).
async fn events_refused(app: &TestApp, token: Option<&str>, branch: &str) -> Resp {
    let mut req = app.client.get(format!("{}/v1/sync/events", app.base)).query(&[("branch_id", branch)]);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = tokio::time::timeout(Duration::from_secs(10), req.send()).await.expect("answer in time").expect("events request");
    assert_ne!(resp.status().as_u16(), 200, "events refused for token {token:?} on {branch}");
    TestApp::read(resp).await
}

#[tokio::test]
async fn an_idle_subscriber_gets_heartbeats_and_no_nudges() {
    let fx = Fx::new().await;
    let mut sub = subscribe(&fx.app, &fx.device_token, fx.branch).await;
    tokio::time::sleep(SETTLE).await;
    sub.drain();
    let start = Instant::now();
    let mut events = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout_at(tokio::time::Instant::from_std(start + Duration::from_secs(30)), sub.rx.recv()).await {
        let heartbeat = matches!(e.1, Sse::Comment);
        events.push(e);
        if heartbeat {
            break;
        }
    }
    assert!(events.iter().any(|(_, e)| matches!(e, Sse::Comment)), "a heartbeat comment within 30 s of idling: {events:?}");
    assert!(nudges(&events).is_empty(), "no nudge while nothing moves: {events:?}");
}

const SETTLE: Duration = Duration::from_millis(400);
const WITHIN: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_nudges_subscribers_of_its_branch_only() {
    let fx = Fx::new().await;
    let t = fx.owner_token.clone();
    let manager_token = fx.app.login(fx.tenant, fx.manager).await;
    let main_h = hydrate(&fx.app, &t, fx.branch, None).await;
    let other_h = hydrate(&fx.app, &t, fx.other_branch, None).await;
    let mut main_dev = subscribe(&fx.app, &fx.device_token, fx.branch).await;
    let mut main_mgr = subscribe(&fx.app, &manager_token, fx.branch).await;
    let mut other = subscribe(&fx.app, &t, fx.other_branch).await;
    tokio::time::sleep(SETTLE).await;
    // Anything sent at connect time is well-formed and about the subscribed branch.
    for (sub, branch) in [(&mut main_dev, fx.branch), (&mut main_mgr, fx.branch), (&mut other, fx.other_branch)] {
        for (_, n) in nudges(&sub.drain()) {
            assert_eq!(n["branch_id"], branch.to_string(), "{n}");
        }
    }

    // A restock of Main.
    fx.app.post("/v1/inventory/restock", &t, json!({"branch_id": fx.branch, "stock_item_id": fx.beans, "qty": 5})).await.ok(200);
    let done = Instant::now();
    let (a, b, o) = tokio::join!(main_dev.until(done + WITHIN), main_mgr.until(done + WITHIN), other.until(done + WITHIN));
    let p = pull(&fx.app, &t, fx.branch, None, Some(&main_h.cursor), None).await;
    let hits = changes_for(&p.changes, "inventory", fx.beans);
    assert_eq!(hits.len(), 1, "{:?}", p.changes);
    let v = version(hits[0]);
    for (who, events) in [("device", &a), ("manager", &b)] {
        let ns = nudges(events);
        assert!(
            ns.iter().any(|(_, n)| n["branch_id"] == fx.branch.to_string() && n["head"].as_i64().unwrap() >= v),
            "{who} subscriber of Main gets a nudge with head >= {v} within 1 s: {events:?}"
        );
        for (_, n) in &ns {
            assert_eq!(n["branch_id"], fx.branch.to_string());
        }
    }
    assert!(nudges(&o).is_empty(), "no nudge for Other from a write to Main: {o:?}");

    // A restock of Other: the reverse.
    fx.app.post("/v1/inventory/restock", &t, json!({"branch_id": fx.other_branch, "stock_item_id": fx.milk, "qty": 5})).await.ok(200);
    let done = Instant::now();
    let (a, o) = tokio::join!(main_dev.until(done + WITHIN), other.until(done + WITHIN));
    let p = pull(&fx.app, &t, fx.other_branch, None, Some(&other_h.cursor), None).await;
    let v = version(changes_for(&p.changes, "inventory", fx.milk)[0]);
    assert!(
        nudges(&o).iter().any(|(_, n)| n["branch_id"] == fx.other_branch.to_string() && n["head"].as_i64().unwrap() >= v),
        "Other's subscriber gets a nudge with head >= {v}: {o:?}"
    );
    assert!(nudges(&a).is_empty(), "no nudge for Main from a write to Other: {a:?}");
    main_mgr.drain();

    // A tenant-wide change moves both streams.
    fx.put_menu(fx.latte, "Latte", 305, json!([])).await;
    let done = Instant::now();
    let (a, b, o) = tokio::join!(main_dev.until(done + WITHIN), main_mgr.until(done + WITHIN), other.until(done + WITHIN));
    for (who, events, branch) in [("Main device", &a, fx.branch), ("Main manager", &b, fx.branch), ("Other", &o, fx.other_branch)] {
        assert!(
            nudges(events).iter().any(|(_, n)| n["branch_id"] == branch.to_string()),
            "{who} gets a nudge for a menu edit: {events:?}"
        );
    }

    // A push moves Main's stream: its head reaches the sale's version.
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let before_push = pull(&fx.app, &t, fx.branch, Some("sales"), None, None).await.next_cursor;
    main_dev.drain();
    applied(&fx.push(&[ops.open(fx.cashier, s, 0)]).await[0]);
    let sale = ops.sale(fx.cashier, s, &[(fx.muffin, 1, MUFFIN_PRICE)], 500, 0);
    applied(&fx.push(std::slice::from_ref(&sale)).await[0]);
    let done = Instant::now();
    let a = main_dev.until(done + WITHIN).await;
    let p = pull(&fx.app, &t, fx.branch, Some("sales"), Some(&before_push), None).await;
    let v = version(changes_for(&p.changes, "sales", pid(&sale, "sale_id"))[0]);
    assert!(nudges(&a).iter().any(|(_, n)| n["head"].as_i64().unwrap() >= v), "a push nudges with head >= {v}: {a:?}");
}

#[tokio::test]
async fn who_may_subscribe_to_nudges() {
    let fx = Fx::new().await;
    let (b, ob) = (fx.branch.to_string(), fx.other_branch.to_string());
    let cashier_token = fx.app.token_in_store(fx.tenant, fx.cashier).await;
    let manager_token = fx.app.login(fx.tenant, fx.manager).await;
    events_refused(&fx.app, None, &b).await.problem(401, "UNAUTHORIZED");
    events_refused(&fx.app, Some("not-a-token"), &b).await.problem(401, "UNAUTHORIZED");
    events_refused(&fx.app, Some(&cashier_token), &b).await.problem(403, "FORBIDDEN");
    events_refused(&fx.app, Some(&fx.device_token), &ob).await.problem(403, "FORBIDDEN");
    events_refused(&fx.app, Some(&manager_token), &ob).await.problem(403, "FORBIDDEN");
    events_refused(&fx.app, Some(&fx.owner_token), "not-a-uuid").await.problem(400, "BAD_REQUEST");
    let tb = fx.app.other_tenant("Tenant B").await;
    let r = events_refused(&fx.app, Some(&tb.token), &b).await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "{} {}", r.status, r.text);
    // Allowed ones get a stream.
    let _a = subscribe(&fx.app, &fx.device_token, fx.branch).await;
    let _b = subscribe(&fx.app, &manager_token, fx.branch).await;
    let _c = subscribe(&fx.app, &fx.owner_token, fx.other_branch).await;
}

// ---------------------------------------------------------------------------------------
// PIN hashes written before they were kept in their branch
// ---------------------------------------------------------------------------------------

/// A stream of the first release held every staff member's PIN hash. Migration 0009
/// rewrites each entry that should not have one without it and moves it past every
/// cursor, so a till that holds such a hash replaces the entry on its next pull.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_takes_foreign_pin_hashes_out_of_old_streams() {
    use crate::common::Side;
    let fx = Fx::new().await;
    let before = hydrate(&fx.app, &fx.device_token, fx.branch, Some("staff")).await;
    // As in a stream of the first release: the owner's and Other's cashier's hashes in Main's.
    let mut side = Side::open(&fx.app).await;
    for who in [fx.owner, fx.other_cashier] {
        let filter = format!("branch_id = {} AND scope = 'staff' AND entity_id = {}", side.id(fx.branch), side.id(who));
        side.exec(
            &format!("UPDATE changes SET data = json_set(data, '$.pin_hash', 'old-hash') WHERE {filter}"),
            &format!("UPDATE changes SET data = jsonb_set(data::jsonb, '{{pin_hash}}', '\"old-hash\"')::text WHERE {filter}"),
        )
        .await;
    }
    let old = hydrate(&fx.app, &fx.device_token, fx.branch, Some("staff")).await;
    let hashed = |h: &Hydration| -> BTreeSet<String> {
        scope_of(&h.cache, "staff").into_iter().filter(|(_, d)| d.get("pin_hash").is_some()).map(|(id, _)| id).collect()
    };
    let own: BTreeSet<String> = [fx.cashier, fx.cashier2, fx.manager].iter().map(Uuid::to_string).collect();
    assert_eq!(hashed(&old).len(), 5, "the old stream holds everyone's hash: {:?}", old.changes);

    side.exec(
        include_str!("../../../store-sqlite/migrations/0009_staff_pin_scope.sql"),
        include_str!("../../../store-postgres/migrations/0009_staff_pin_scope.sql"),
    )
    .await;

    // The till, at the cursor it had, gets the two entries again, without a hash.
    let (inc, _) = pull_all(&fx.app, &fx.device_token, fx.branch, Some("staff"), Some(before.cursor.clone()), 500).await;
    let ids: BTreeSet<String> = inc.iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    let foreign: BTreeSet<String> = [fx.owner, fx.other_cashier].iter().map(Uuid::to_string).collect();
    assert_eq!(ids, foreign, "exactly the corrected entries come after the old cursor: {inc:?}");
    for c in &inc {
        assert!(version(c) > old.head, "moved past every cursor: {c}");
        assert!(c["data"].get("pin_hash").is_none(), "without the hash: {c}");
    }
    let fresh = hydrate(&fx.app, &fx.device_token, fx.branch, Some("staff")).await;
    assert_eq!(hashed(&fresh), own, "Main's stream holds the hashes of Main's active staff only");
    let mut cache = before.cache.clone();
    apply(&mut cache, &inc);
    assert_eq!(cache, fresh.cache, "the till's cache after its pull equals a fresh hydration");
    // Nothing else moved: a second run finds nothing to correct.
    side.exec(
        include_str!("../../../store-sqlite/migrations/0009_staff_pin_scope.sql"),
        include_str!("../../../store-postgres/migrations/0009_staff_pin_scope.sql"),
    )
    .await;
    assert_eq!(hydrate(&fx.app, &fx.device_token, fx.branch, Some("staff")).await.head, fresh.head);
}

/// Event streams are bounded per device (2), per tenant (a share of the process's) and
/// per process, each refusal a `503` with `Retry-After` that says which; a closed
/// stream gives its place back.
#[tokio::test]
async fn one_token_cannot_take_every_event_stream() {
    let config = modula_server::state::ServerConfig {
        sse_subscribers_max: 6,
        sse_tenant_share_percent: 50,
        sse_heartbeat: Duration::from_secs(1),
        ..Default::default()
    };
    let app = TestApp::spawn_with(config).await;
    let t = app.a.token.clone();
    let branch = app.branch(&t, "Main").await;
    let mut devices = Vec::new();
    for _ in 0..3 {
        devices.push(app.device(&t, branch).await.1);
    }
    let b = branch.to_string();
    let first = subscribe(&app, &devices[0], branch).await;
    let second = subscribe(&app, &devices[0], branch).await;
    let r = events_refused(&app, Some(&devices[0]), &b).await;
    assert!(r.problem(503, "SERVICE_UNAVAILABLE")["detail"].as_str().unwrap().contains("2 event streams"), "{}", r.text);
    assert!(r.headers.get("retry-after").is_some());
    let _third = subscribe(&app, &devices[1], branch).await;
    // Tenant A holds its 3 of 6.
    let r = events_refused(&app, Some(&devices[2]), &b).await;
    assert!(r.problem(503, "SERVICE_UNAVAILABLE")["detail"].as_str().unwrap().contains("share"), "{}", r.text);
    // Another tenant is not starved.
    let other = app.other_tenant("Tenant B").await;
    let ob = app.branch(&other.token, "B Main").await;
    let (_, other_device) = app.device(&other.token, ob).await;
    let _b_stream = subscribe(&app, &other_device, ob).await;
    // A closed stream gives its place back.
    drop((first, second));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.client.get(format!("{}/v1/sync/events", app.base)).query(&[("branch_id", &b)]).bearer_auth(&devices[2]).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the places never came back: {}", r.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A till that only pulls (online, nothing to push) is seen: its pull notes `last_seen_at`
/// for the dashboard (at most once a minute; off the request, so within moments).
#[tokio::test]
async fn a_device_that_only_pulls_is_seen() {
    let fx = Fx::new().await;
    let devices = fx.devices().await;
    assert_eq!(devices[0]["last_seen_at"], Value::Null, "never heard: {devices:?}");
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    fx.app.get(&format!("/v1/sync/pull?branch_id={}&scopes=menu", fx.branch), &fx.device_token).await.ok(200);
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = fx.devices().await[0]["last_seen_at"].clone();
        if !seen.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let at: chrono::DateTime<chrono::Utc> = seen.as_str().expect("seen after a pull").parse().unwrap();
    assert!(at >= before && at <= chrono::Utc::now(), "{at}");
    // A staff caller's pull notes no device.
    let other = fx.enroll(fx.branch, "Quiet").await;
    fx.app.get(&format!("/v1/sync/pull?branch_id={}&scopes=menu", fx.branch), &fx.owner_token).await.ok(200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let quiet = fx.devices().await.into_iter().find(|d| d["device_id"] == json!(other.id)).unwrap();
    assert_eq!(quiet["last_seen_at"], Value::Null, "{quiet}");
}
