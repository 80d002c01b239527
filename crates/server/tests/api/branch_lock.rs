//! A push decides with its branch unlocked and locks the branch only for the branch-wide
//! writes (PostgreSQL). What commits while it decides must still be obeyed: an admin
//! write (a freeze, a deactivation, a new price) makes it decide again with the branch
//! locked first, and a stock level another writer moved meanwhile is the one the
//! sale's negative-stock flag reports.
//!
//! On PostgreSQL the push is held after it decided: the side locks the push's cash
//! session, whose update it writes before it locks the branch, the change is made
//! through the API meanwhile, then the side lets go. For a stock level the side holds the
//! branch instead, as another writer of it would, so that the push has written its op
//! record before the level moves. SQLite runs one writer at a time, so there the change
//! simply comes first. The outcome must be the same on both backends; on PostgreSQL the
//! retry counter shows which path decided it.

use modula_rules::pricing;
use modula_wire::op::SaleLine;
use modula_wire::Policy;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{until_a_writer_waits, until_writers_wait, Backend, Side};
use crate::fixtures::*;

/// Starts `ops` as a push of the Main device on its own task.
fn spawn_push(fx: &Fx, ops: &[Value]) -> tokio::task::JoinHandle<Value> {
    spawn_push_as(fx, &fx.device_token, fx.device, ops)
}

/// Starts `ops` as a push of any device on its own task.
fn spawn_push_as(fx: &Fx, token: &str, device: Uuid, ops: &[Value]) -> tokio::task::JoinHandle<Value> {
    let req = fx.app.client.post(format!("{}/v1/sync/push", fx.app.base)).bearer_auth(token);
    let body = json!({"device_id": device, "operations": ops});
    tokio::spawn(async move {
        let resp = req.json(&body).send().await.expect("push");
        assert_eq!(resp.status().as_u16(), 200, "push status");
        resp.json().await.expect("push answer")
    })
}

/// A side connection holding the Main branch as another of its writers would.
async fn hold_branch(fx: &Fx) -> Side {
    let mut side = Side::open(&fx.app).await;
    let lock = format!("BEGIN; SELECT id FROM branches WHERE id = '{}' FOR NO KEY UPDATE", fx.branch);
    side.exec("BEGIN IMMEDIATE", &lock).await;
    side
}

/// Pushes `ops` as the Main device while `during` runs (see the module docs): on
/// PostgreSQL the push has decided and waits on its session `s` when `during` starts.
async fn push_while(fx: &Fx, s: Uuid, ops: &[Value], during: impl std::future::Future<Output = ()>) -> Value {
    if fx.app.backend == Backend::Sqlite {
        during.await;
        return spawn_push(fx, ops).await.expect("push task");
    }
    let mut side = Side::open(&fx.app).await;
    side.exec("", &format!("BEGIN; SELECT id FROM cash_sessions WHERE id = '{s}' FOR UPDATE")).await;
    let push = spawn_push(fx, ops);
    until_a_writer_waits(&fx.app).await;
    during.await;
    side.exec("", "ROLLBACK").await;
    push.await.expect("push task")
}

/// The push retries counted for `reason` in `/metrics` (0 when the series is absent).
async fn retries(fx: &Fx, reason: &str) -> u64 {
    let page = fx.app.call(reqwest::Method::GET, "/metrics", None, None).await.text;
    let series = format!("modula_push_retries_total{{reason=\"{reason}\"}} ");
    page.lines().find_map(|l| l.strip_prefix(series.as_str())).map_or(0, |v| v.parse().expect("counter value"))
}

/// What the retry counter must show: PostgreSQL decides again; SQLite, where nothing
/// else writes while a push runs, never has to.
fn expected_retries(fx: &Fx) -> u64 {
    match fx.app.backend {
        Backend::Sqlite => 0,
        Backend::Postgres { .. } => 1,
    }
}

/// A fixture with an open session `s` on the Main device and one sale of `item`, not
/// pushed yet.
async fn with_sale(item: fn(&Fx) -> (Uuid, i64)) -> (Fx, Uuid, Value) {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_session(&fx, &mut ops).await;
    let (id, price) = item(&fx);
    let sale = ops.sale(fx.cashier, s, &[(id, 1, price)], price, 0);
    (fx, s, sale)
}

fn muffin(fx: &Fx) -> (Uuid, i64) {
    (fx.muffin, MUFFIN_PRICE)
}

fn espresso(fx: &Fx) -> (Uuid, i64) {
    (fx.espresso, ESPRESSO_PRICE)
}

async fn open_session(fx: &Fx, ops: &mut OpBuilder) -> Uuid {
    let s = Uuid::now_v7();
    applied(&fx.push(&[ops.open(fx.cashier, s, 0)]).await[0]);
    s
}

/// The push's one sale was rejected with `code`, none was stored, and the push was
/// decided again with the branch locked first (on PostgreSQL).
async fn obeyed(fx: &Fx, answer: &Value, code: &str) {
    rejected(&answer["results"][0], code);
    assert_eq!(fx.sales().await.len(), 0, "no sale after a {code} change");
    assert_eq!(retries(fx, "branch").await, expected_retries(fx));
}

#[tokio::test]
async fn a_freeze_committed_while_a_push_decides_is_obeyed() {
    let (fx, s, sale) = with_sale(muffin).await;
    let answer = push_while(&fx, s, &[sale], fx.freeze(true)).await;
    obeyed(&fx, &answer, "BRANCH_FROZEN").await;
}

#[tokio::test]
async fn a_deactivation_committed_while_a_push_decides_is_obeyed() {
    let (fx, s, sale) = with_sale(muffin).await;
    let deactivate = async {
        fx.app.patch(&format!("/v1/staff/{}", fx.cashier), &fx.owner_token, json!({"active": false})).await.ok(200);
    };
    let answer = push_while(&fx, s, &[sale], deactivate).await;
    obeyed(&fx, &answer, "FORBIDDEN").await;
}

#[tokio::test]
async fn a_wrong_password_elsewhere_while_a_push_decides_changes_none_of_its_decisions() {
    let (fx, s, sale) = with_sale(muffin).await;
    let (login, _) = fx.app.sign_in_of(fx.manager);
    let wrong_pin = async {
        let body = json!({"tenant": fx.tenant.to_string(), "login": login, "password": "not the password"});
        let r = fx.app.call(reqwest::Method::POST, "/v1/auth/login", None, Some(body)).await;
        assert_eq!(r.status.as_u16(), 401, "{}", r.text);
    };
    let answer = push_while(&fx, s, &[sale], wrong_pin).await;
    applied(&answer["results"][0]);
    assert_eq!(retries(&fx, "branch").await, 0, "a sign-in attempt is no input of an op");
}

#[tokio::test]
async fn a_price_changed_while_a_push_decides_is_the_price_it_compares_with() {
    let (fx, s, sale) = with_sale(espresso).await;
    let recipe = json!([{"stock_item_id": fx.beans, "qty": ESPRESSO_BEANS}]);
    let reprice = fx.put_menu(fx.espresso, "Espresso", ESPRESSO_PRICE + 40, recipe);
    let answer = push_while(&fx, s, std::slice::from_ref(&sale), reprice).await;
    let result = applied(&answer["results"][0]);
    let total = |unit_price_cents| {
        let line = SaleLine { menu_item_id: fx.espresso, qty: 1, unit_price_cents };
        pricing::price(&[line], &Policy::default()).expect("price").total_cents
    };
    let drift = total(ESPRESSO_PRICE + 40) - total(ESPRESSO_PRICE);
    assert!(drift > 0);
    assert_eq!(result["price_drift_cents"], drift, "drift against the price committed meanwhile: {result}");
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - ESPRESSO_BEANS, "the stock was taken once");
    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(retries(&fx, "branch").await, expected_retries(&fx));
}

#[tokio::test]
async fn a_stock_level_moved_while_a_push_waits_for_its_branch_is_the_level_its_audit_flags() {
    // Decided at 1000 beans, the espresso takes none below zero, so on PostgreSQL its op
    // record is written before the branch lock; another writer of the branch leaves 10
    // beans meanwhile, and the record's audit event is corrected under the lock.
    let (fx, _, sale) = with_sale(espresso).await;
    let since = now();
    let mut side = hold_branch(&fx).await;
    let push = spawn_push(&fx, std::slice::from_ref(&sale));
    until_a_writer_waits(&fx.app).await;
    let take = format!("UPDATE inventory SET on_hand = 10 WHERE branch_id = {} AND stock_item_id = {}", side.id(fx.branch), side.id(fx.beans));
    side.exec(&take, &take).await;
    side.exec("COMMIT", "COMMIT").await;
    let answer = push.await.expect("push task");
    applied(&answer["results"][0]);
    let below = 10 - ESPRESSO_BEANS;
    assert_eq!(fx.on_hand(fx.beans).await, below);
    let events = fx.audit(&since).await;
    let event = find(&events, "client_op_id", op_id(&sale));
    let flags = json!([{"on_hand": below, "stock_item_id": fx.beans}]);
    assert_eq!(event["details"]["negative_stock"], flags, "flagged from the level under the lock: {event}");
    // A stock level decides no rejection: no reason to decide again.
    assert_eq!(retries(&fx, "branch").await, 0);
}

#[tokio::test]
async fn a_restock_while_a_push_decides_is_no_reason_to_decide_again() {
    let (fx, s, sale) = with_sale(espresso).await;
    let restock = async {
        let body = json!({"branch_id": fx.branch, "stock_item_id": fx.beans, "qty": 500});
        fx.app.post("/v1/inventory/restock", &fx.owner_token, body).await.ok(200);
    };
    let answer = push_while(&fx, s, std::slice::from_ref(&sale), restock).await;
    applied(&answer["results"][0]);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK + 500 - ESPRESSO_BEANS);
    assert_eq!(retries(&fx, "branch").await, 0, "stock decides nothing");
}

#[tokio::test]
async fn each_sale_of_a_batch_flags_the_level_the_sales_before_it_left() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_session(&fx, &mut ops).await;
    let since = now();
    // 1000 beans: 50 espressos leave 100, 6 more leave -8, a muffin takes none.
    let batch = [
        ops.sale(fx.cashier, s, &[(fx.espresso, 50, ESPRESSO_PRICE)], 50 * ESPRESSO_PRICE, 0),
        ops.sale(fx.cashier, s, &[(fx.espresso, 6, ESPRESSO_PRICE)], 6 * ESPRESSO_PRICE, 0),
        ops.sale(fx.cashier, s, &[(fx.muffin, 1, MUFFIN_PRICE)], MUFFIN_PRICE, 0),
    ];
    for r in fx.push(&batch).await {
        applied(&r);
    }
    let left = BEANS_STOCK - 56 * ESPRESSO_BEANS;
    assert_eq!(left, -8);
    assert_eq!(fx.on_hand(fx.beans).await, left);
    let events = fx.audit(&since).await;
    let flags = |op: &Value| find(&events, "client_op_id", op_id(op))["details"]["negative_stock"].clone();
    assert_eq!(flags(&batch[0]), json!([]));
    assert_eq!(flags(&batch[1]), json!([{"on_hand": left, "stock_item_id": fx.beans}]));
    assert_eq!(flags(&batch[2]), json!([]));
}

#[tokio::test]
async fn a_sale_id_another_device_takes_while_a_push_decides_is_rejected_after_all() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = open_session(&fx, &mut ops).await;
    let second = fx.enroll(fx.branch, "Second counter").await;
    let mut ops2 = OpBuilder::new(fx.tenant, fx.branch, &second.code);
    let s2 = Uuid::now_v7();
    applied(&fx.push_as(&second.token, second.id, &[ops2.open(fx.cashier2, s2, 0)]).await[0]);
    // Both counters claim one sale id (a terminal bug): the first to commit keeps it.
    let sale = ops.sale(fx.cashier, s, &[(fx.muffin, 1, MUFFIN_PRICE)], MUFFIN_PRICE, 0);
    let mut twin = ops2.sale(fx.cashier2, s2, &[(fx.muffin, 1, MUFFIN_PRICE)], MUFFIN_PRICE, 0);
    twin["payload"]["sale_id"] = sale["payload"]["sale_id"].clone();
    rehash(&mut twin);
    let answer = if fx.app.backend == Backend::Sqlite {
        // One writer at a time: the second push simply comes second.
        applied(&fx.push(std::slice::from_ref(&sale)).await[0]);
        spawn_push_as(&fx, &second.token, second.id, std::slice::from_ref(&twin)).await.expect("second push")
    } else {
        let mut side = hold_branch(&fx).await;
        let first = spawn_push(&fx, std::slice::from_ref(&sale));
        until_a_writer_waits(&fx.app).await;
        // The second push's sale insert waits for the first's uncommitted row.
        let late = spawn_push_as(&fx, &second.token, second.id, std::slice::from_ref(&twin));
        until_writers_wait(&fx.app, 2).await;
        side.exec("", "COMMIT").await;
        applied(&first.await.expect("first push")["results"][0]);
        late.await.expect("second push")
    };
    let message = rejected(&answer["results"][0], "VALIDATION_FAILED");
    assert!(message.contains("sale id"), "{message}");
    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(retries(&fx, "key").await, expected_retries(&fx));
}

#[tokio::test]
async fn the_store_rewrites_the_audit_details_of_an_op_it_holds_and_refuses_an_unknown_key() {
    use modula_store::{Lane, OpAudit, OpOutcome, OpRecord};
    use modula_wire::JsonText;
    let fx = Fx::new().await;
    let since = now();
    let details = |v: Value| JsonText::from(v);
    let record = OpRecord {
        tenant_id: fx.tenant,
        client_op_id: Uuid::now_v7(),
        branch_id: fx.branch,
        device_id: Some(fx.device),
        actor_id: fx.cashier,
        op_type: "sale.finalize".into(),
        payload_hash: "0".repeat(64),
        device_seq: Some(1),
        lane: Lane::Offline,
        outcome: OpOutcome::Applied(details(json!({"sale_id": Uuid::now_v7()}))),
        occurred_at: chrono::Utc::now(),
        recorded_at: chrono::Utc::now(),
        audit: Some(OpAudit { module: "sale".into(), action: "finalize".into(), details: details(json!({"negative_stock": []})) }),
        payload: None,
    };
    let flagged = details(json!({"negative_stock": [{"on_hand": -1, "stock_item_id": fx.beans}]}));
    let mut tx = fx.app.store.begin_write().await.expect("begin");
    tx.insert_ops(std::slice::from_ref(&record)).await.expect("insert");
    tx.set_op_audit_details(fx.tenant, &[(record.client_op_id, &flagged)]).await.expect("set");
    // A key the transaction does not hold is an error, not a silent no-op.
    assert!(tx.set_op_audit_details(fx.tenant, &[(Uuid::now_v7(), &flagged)]).await.is_err());
    tx.commit().await.expect("commit");
    let events = fx.audit(&since).await;
    let event = find(&events, "client_op_id", record.client_op_id);
    assert_eq!(event["details"]["negative_stock"][0]["on_hand"], -1, "{event}");
    let stored = fx.app.store.ops_by_ids(fx.tenant, &[record.client_op_id]).await.expect("read");
    assert_eq!(stored[0].outcome, record.outcome, "only the audit details changed");
}

#[tokio::test]
async fn the_store_locks_a_branch_and_adds_stock_in_one_call_or_adds_none_without_the_branch() {
    let fx = Fx::new().await;
    let mut deltas = vec![(fx.beans, -5), (fx.milk, 7)];
    deltas.sort();
    let mut tx = fx.app.store.begin_write().await.expect("begin");
    let expected = tx.branch(fx.tenant, fx.branch).await.expect("read");
    let locked = tx.lock_branch_adding_on_hand(fx.tenant, fx.branch, &deltas).await.expect("lock and add");
    assert_eq!(locked.branch, expected, "the branch row, as read");
    let levels: Vec<(Uuid, i64)> = locked.levels.iter().map(|(item, on_hand)| (item.id, *on_hand)).collect();
    let stock = |id: Uuid| if id == fx.beans { BEANS_STOCK } else { MILK_STOCK };
    let want: Vec<(Uuid, i64)> = deltas.iter().map(|(id, d)| (*id, stock(*id) + d)).collect();
    assert_eq!(levels, want, "the new levels, in the order of the deltas");
    assert!(locked.levels.iter().all(|(item, _)| item.tenant_id == fx.tenant && !item.name.is_empty()));
    tx.commit().await.expect("commit");
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - 5);
    assert_eq!(fx.on_hand(fx.milk).await, MILK_STOCK + 7);

    // No such branch: nothing is locked and no stock is added.
    let mut tx = fx.app.store.begin_write().await.expect("begin");
    let missing = tx.lock_branch_adding_on_hand(fx.tenant, Uuid::now_v7(), &deltas).await.expect("lock");
    assert!(missing.branch.is_none() && missing.levels.is_empty(), "{missing:?}");
    tx.commit().await.expect("commit");
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - 5, "no stock added without the branch");

    // An item that is not the tenant's is an error, not a silent skip.
    let mut tx = fx.app.store.begin_write().await.expect("begin");
    assert!(tx.lock_branch_adding_on_hand(fx.tenant, fx.branch, &[(Uuid::now_v7(), 1)]).await.is_err());
}
