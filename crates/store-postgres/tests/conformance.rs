//! Conformance of `PgStore` to the `modula_store` contract, against a real PostgreSQL.
//!
//! Every test gets a fresh database (`modula_t_<uuid>`), created through the server named
//! by `MODULA_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`) and dropped at
//! the end. When that server is unreachable the tests print `SKIPPED: …` and pass.

use std::time::Duration;

use chrono::DateTime;
use modula_store::*;
use modula_store_postgres::PgStore;
use modula_wire::admin::RecipeLine;
use modula_wire::{BranchStatus, ErrorCode, Policy, PolicyPatch, Role};
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database of its own for one test.
struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates the database, or `None` (after saying so loudly) when PostgreSQL is unreachable.
    async fn create() -> Option<TestDb> {
        let admin_url = std::env::var("MODULA_TEST_PG").unwrap_or_else(|_| DEFAULT_URL.to_string());
        let mut admin = match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&admin_url)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return skipped(&admin_url, &e.to_string()),
            Err(_) => return skipped(&admin_url, "connection timed out"),
        };
        let name = format!("modula_t_{}", Uuid::new_v4().simple());
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("CREATE DATABASE");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some(TestDb { admin_url, name, url })
    }

    async fn store(&self) -> PgStore {
        PgStore::connect(&self.url).await.expect("connect to the test database")
    }

    /// Drops the database (best effort, also when stores are still connected).
    async fn drop(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let _ = admin.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await;
            admin.close().await.ok();
        }
    }
}

fn skipped(url: &str, why: &str) -> Option<TestDb> {
    eprintln!("\n=== SKIPPED: PostgreSQL not reachable at {url} ({why}) ===\n");
    None
}

/// `url` with its database replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _db)| server);
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// An instant `secs` after a fixed base, with microseconds (what the store keeps).
fn t(secs: i64) -> Timestamp {
    DateTime::from_timestamp(1_700_000_000 + secs, 123_456_000).expect("in range")
}

fn id() -> Uuid {
    Uuid::now_v7()
}

/// A tenant with one branch and one device in it.
struct World {
    tenant: TenantRecord,
    branch: BranchRecord,
    device: DeviceRecord,
}

fn tenant_rec() -> TenantRecord {
    TenantRecord { id: id(), name: "Café".into(), policy: Policy::default(), created_at: t(0) }
}

fn branch_rec(tenant_id: Uuid, name: &str) -> BranchRecord {
    BranchRecord {
        id: id(),
        tenant_id,
        name: name.into(),
        status: BranchStatus::Active,
        policy_override: PolicyPatch::default(),
        created_at: t(1),
        admin_version: 0,
    }
}

fn device_rec(tenant_id: Uuid, branch_id: Uuid, code: &str) -> DeviceRecord {
    DeviceRecord {
        id: id(),
        tenant_id,
        branch_id,
        name: format!("till {code}"),
        code: code.into(),
        created_at: t(2),
        revoked_at: None,
    }
}

async fn world(store: &PgStore) -> World {
    let tenant = tenant_rec();
    let branch = branch_rec(tenant.id, "Riverside");
    let device = device_rec(tenant.id, branch.id, "A");
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_tenant(&tenant).await.unwrap();
    tx.insert_branch(&branch).await.unwrap();
    tx.insert_device(&device).await.unwrap();
    tx.commit().await.unwrap();
    World { tenant, branch, device }
}

fn staff_rec(tenant_id: Uuid, name: &str, branch_ids: Vec<Uuid>) -> StaffRecord {
    StaffRecord {
        id: id(),
        tenant_id,
        name: name.into(),
        role: Role::Cashier,
        pin_hash: "$argon2id$v=19$fake".into(),
        active: true,
        branch_ids,
        failed_pin_attempts: 0,
        locked_until: None,
        updated_at: t(3),
    }
}

/// An open cash session of the world's device, opened by `opened_by` at `opened_at`.
fn session_rec(w: &World, opened_by: Uuid, opened_at: Timestamp) -> CashSessionRecord {
    CashSessionRecord {
        id: id(),
        tenant_id: w.tenant.id,
        branch_id: w.branch.id,
        device_id: w.device.id,
        opened_by,
        open: true,
        opening_float_cents: 0,
        cash_sales_cents: 0,
        paid_in_cents: 0,
        paid_out_cents: 0,
        adjustments_cents: 0,
        counted_cash_cents: None,
        opened_at,
        closed_at: None,
    }
}

fn menu_rec(tenant_id: Uuid, name: &str, category: &str) -> MenuItemRecord {
    MenuItemRecord {
        id: id(),
        tenant_id,
        name: name.into(),
        price_cents: 250,
        category: category.into(),
        active: true,
        recipe: vec![RecipeLine { stock_item_id: id(), qty: 2 }],
        deleted: false,
        updated_at: t(4),
    }
}

fn change(branch_id: Uuid, scope: &'static str, entity_id: Uuid, data: Option<serde_json::Value>) -> ChangeRecord {
    ChangeRecord { branch_id, scope, entity: "thing", entity_id, deleted: data.is_none(), data: data.map(Into::into), new_entity: false }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_tokens_staff_and_branches_round_trip() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    assert_eq!(store.backend(), "postgres");
    store.ping().await.unwrap();
    let setting = |name: &'static str| sqlx::query_scalar::<_, String>(name).fetch_one(store.pool());
    assert_eq!(setting("SHOW synchronous_commit").await.unwrap(), "on");
    assert_eq!(setting("SHOW lock_timeout").await.unwrap(), "10s");
    let w = world(&store).await;
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.tenant(w.tenant.id).await.unwrap(), Some(w.tenant.clone()));
    assert_eq!(tx.tenant(id()).await.unwrap(), None);
    let policy = Policy { vat_bps: 700, ..Policy::default() };
    tx.set_tenant_policy(w.tenant.id, &policy).await.unwrap();
    assert_eq!(tx.tenant(w.tenant.id).await.unwrap().unwrap().policy, policy);
    assert_eq!(tx.next_device_number(w.tenant.id).await.unwrap(), 1);
    assert_eq!(tx.next_device_number(w.tenant.id).await.unwrap(), 2);

    let token = TokenRecord {
        token_hash: "ab".repeat(32),
        tenant_id: w.tenant.id,
        subject: TokenSubject::Device(w.device.id),
        created_at: t(5),
        expires_at: Some(t(6)),
    };
    tx.insert_token(&token).await.unwrap();
    assert_eq!(tx.token(&token.token_hash).await.unwrap(), Some(token));
    assert_eq!(tx.token("nope").await.unwrap(), None);

    // Branches list by name in byte order ("Z" before "a"), whatever the database collation.
    let other = branch_rec(w.tenant.id, "Zeta");
    let lower = branch_rec(w.tenant.id, "alpha");
    tx.insert_branch(&other).await.unwrap();
    tx.insert_branch(&lower).await.unwrap();
    let names: Vec<String> = tx.list_branches(w.tenant.id).await.unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["Riverside", "Zeta", "alpha"]);
    let mut frozen = other.clone();
    frozen.status = BranchStatus::Frozen;
    frozen.policy_override = PolicyPatch { vat_bps: Some(0), ..PolicyPatch::default() };
    tx.update_branch(&frozen).await.unwrap();
    assert_eq!(tx.branch(w.tenant.id, other.id).await.unwrap(), Some(frozen));
    assert_eq!(tx.branch(id(), other.id).await.unwrap(), None, "another tenant's branch is invisible");

    let mut branch_ids = vec![other.id, w.branch.id];
    branch_ids.sort();
    let mut bob = staff_rec(w.tenant.id, "bob", branch_ids);
    let alice = staff_rec(w.tenant.id, "Alice", vec![]);
    tx.insert_staff(&bob).await.unwrap();
    tx.insert_staff(&alice).await.unwrap();
    assert_eq!(tx.staff(w.tenant.id, bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(tx.staff(id(), bob.id).await.unwrap(), None);
    assert_eq!(tx.list_staff(w.tenant.id).await.unwrap(), vec![alice.clone(), bob.clone()]);
    bob.role = Role::Manager;
    bob.active = false;
    bob.branch_ids = vec![lower.id];
    bob.updated_at = t(9);
    tx.update_staff(&bob).await.unwrap();
    tx.set_pin_lockout(w.tenant.id, bob.id, 5, Some(t(10))).await.unwrap();
    bob.failed_pin_attempts = 5;
    bob.locked_until = Some(t(10));
    tx.commit().await.unwrap();

    let mut read = store.begin_read().await.unwrap();
    assert_eq!(read.staff(w.tenant.id, bob.id).await.unwrap(), Some(bob));
    drop(read);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_stock_and_menu_round_trip() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let w = world(&store).await;
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.device(w.tenant.id, w.device.id).await.unwrap(), Some(w.device.clone()));
    assert_eq!(tx.device(id(), w.device.id).await.unwrap(), None);
    let second = device_rec(w.tenant.id, w.branch.id, "B");
    tx.insert_device(&second).await.unwrap();
    let dup = device_rec(w.tenant.id, w.branch.id, "B");
    assert!(matches!(tx.insert_device(&dup).await, Err(StoreError::Conflict(_))), "device codes are unique");
    drop(tx);

    let mut tx = store.begin_write().await.unwrap();
    tx.insert_device(&second).await.unwrap();
    tx.revoke_device(w.tenant.id, second.id, t(20)).await.unwrap();
    tx.revoke_device(w.tenant.id, second.id, t(30)).await.unwrap();
    let devices = tx.list_devices(w.tenant.id, w.branch.id).await.unwrap();
    assert_eq!(devices.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(), ["A", "B"]);
    assert_eq!(devices[1].revoked_at, Some(t(20)), "revoking is idempotent");

    let beans = StockItemRecord { id: id(), tenant_id: w.tenant.id, name: "beans".into(), unit: "g".into() };
    let milk = StockItemRecord { id: id(), tenant_id: w.tenant.id, name: "Milk".into(), unit: "ml".into() };
    tx.insert_stock_item(&beans).await.unwrap();
    tx.insert_stock_item(&milk).await.unwrap();
    assert_eq!(tx.stock_item(w.tenant.id, beans.id).await.unwrap(), Some(beans.clone()));
    assert_eq!(tx.list_stock_items(w.tenant.id).await.unwrap(), vec![milk.clone(), beans.clone()]);
    assert_eq!(tx.on_hand(w.branch.id, beans.id).await.unwrap(), 0);
    assert_eq!(tx.add_on_hand(w.branch.id, beans.id, 5).await.unwrap(), 5);
    assert_eq!(tx.add_on_hand(w.branch.id, beans.id, -7).await.unwrap(), -2);
    assert_eq!(tx.on_hand(w.branch.id, beans.id).await.unwrap(), -2);
    assert_eq!(tx.inventory(w.tenant.id, w.branch.id).await.unwrap(), vec![(milk, 0), (beans, -2)]);

    let latte = menu_rec(w.tenant.id, "Latte", "coffee");
    let mut tea = menu_rec(w.tenant.id, "Tea", "Tea");
    let espresso = menu_rec(w.tenant.id, "Espresso", "coffee");
    for m in [&latte, &tea, &espresso] {
        assert!(tx.upsert_menu_item(m).await.unwrap());
    }
    let names: Vec<String> = tx.list_menu_items(w.tenant.id).await.unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["Tea", "Espresso", "Latte"], "by category then name, byte order");
    tea.deleted = true;
    tea.price_cents = 300;
    assert!(tx.upsert_menu_item(&tea).await.unwrap());
    assert_eq!(tx.menu_item(w.tenant.id, tea.id).await.unwrap(), Some(tea.clone()), "tombstones stay readable");
    assert_eq!(tx.list_menu_items(w.tenant.id).await.unwrap(), vec![espresso, latte]);
    tx.commit().await.unwrap();
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_menu_id_of_another_tenant_is_refused() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let a = world(&store).await;
    let b = world(&store).await;
    let mut tx = store.begin_write().await.unwrap();
    let item = menu_rec(a.tenant.id, "Latte", "coffee");
    assert!(tx.upsert_menu_item(&item).await.unwrap());
    let stolen = MenuItemRecord { tenant_id: b.tenant.id, name: "Stolen".into(), ..item.clone() };
    assert!(!tx.upsert_menu_item(&stolen).await.unwrap(), "the id belongs to tenant a");
    assert_eq!(tx.menu_item(a.tenant.id, item.id).await.unwrap(), Some(item.clone()), "nothing written");
    assert_eq!(tx.menu_item(b.tenant.id, item.id).await.unwrap(), None);
    tx.commit().await.unwrap();
    db.drop().await;
}

fn op_rec(w: &World, seq: i64, outcome: OpOutcome, recorded_at: Timestamp) -> OpRecord {
    OpRecord {
        tenant_id: w.tenant.id,
        client_op_id: id(),
        branch_id: w.branch.id,
        device_id: Some(w.device.id),
        actor_id: id(),
        op_type: "sale.finalize".into(),
        payload_hash: format!("{seq:064}"),
        device_seq: Some(seq),
        lane: Lane::Offline,
        outcome,
        occurred_at: t(seq),
        recorded_at,
        audit: None,
    }
}

fn rejected(field: Option<&str>) -> OpOutcome {
    OpOutcome::Rejected { code: ErrorCode::ValidationFailed, message: "bad".into(), field: field.map(String::from) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_op_log_round_trips_and_lists_rejections_newest_first() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let w = world(&store).await;
    let applied = op_rec(&w, 1, OpOutcome::Applied(json!({"sale_id": "x", "n": 1.5}).into()), t(100));
    let old = op_rec(&w, 2, rejected(Some("lines[0].qty")), t(101));
    let new = op_rec(&w, 3, rejected(None), t(102));
    let mut online = op_rec(&w, 4, rejected(None), t(103));
    online.lane = Lane::Online;
    online.device_id = None;
    online.device_seq = None;
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_ops(&[applied.clone(), old.clone(), new.clone(), online.clone()]).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin_read().await.unwrap();
    let mut got = tx.ops_by_ids(w.tenant.id, &[applied.client_op_id, new.client_op_id, id()]).await.unwrap();
    got.sort_by_key(|o| o.device_seq);
    assert_eq!(got, vec![applied.clone(), new.clone()]);
    assert!(tx.ops_by_ids(id(), &[applied.client_op_id]).await.unwrap().is_empty(), "tenant-scoped");
    assert!(tx.ops_by_ids(w.tenant.id, &[]).await.unwrap().is_empty());
    // The same lookup as one statement on the pool, outside any transaction.
    let mut outside = store.ops_by_ids(w.tenant.id, &[applied.client_op_id, new.client_op_id, id()]).await.unwrap();
    outside.sort_by_key(|o| o.device_seq);
    assert_eq!(outside, vec![applied.clone(), new.clone()]);
    assert!(store.ops_by_ids(id(), &[applied.client_op_id]).await.unwrap().is_empty(), "tenant-scoped");
    assert!(store.ops_by_ids(w.tenant.id, &[]).await.unwrap().is_empty());
    let listed = tx.rejected_ops(w.tenant.id, w.branch.id, 10).await.unwrap();
    assert_eq!(listed, vec![online.clone(), new.clone(), old.clone()]);
    assert_eq!(tx.rejected_ops(w.tenant.id, w.branch.id, 1).await.unwrap(), vec![online]);
    drop(tx);

    let mut tx = store.begin_write().await.unwrap();
    let again = tx.insert_ops(&[applied]).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "keys are unique: {again:?}");
    drop(tx);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_seqs_are_noted_and_gaps_reported() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let w = world(&store).await;
    let mut tx = store.begin_write().await.unwrap();
    tx.note_device_seqs(w.device.id, &[], t(50)).await.unwrap();
    let info = tx.device_sync_info(w.tenant.id, w.branch.id).await.unwrap();
    assert_eq!((info[0].last_seen_at, info[0].last_device_seq, info[0].gaps.clone()), (None, 0, vec![]));
    tx.note_device_seqs(w.device.id, &[1, 2, 5, 2], t(51)).await.unwrap();
    let info = tx.device_sync_info(w.tenant.id, w.branch.id).await.unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].device, w.device);
    assert_eq!(info[0].last_seen_at, Some(t(51)));
    assert_eq!(info[0].last_device_seq, 5);
    assert_eq!(info[0].gaps, vec![(3, 4)]);
    tx.note_device_seqs(w.device.id, &[3], t(52)).await.unwrap();
    let info = tx.device_sync_info(w.tenant.id, w.branch.id).await.unwrap();
    assert_eq!((info[0].last_device_seq, info[0].gaps.clone()), (5, vec![(4, 4)]), "the highest seq never drops");
    assert!(tx.device_sync_info(id(), w.branch.id).await.unwrap().is_empty(), "tenant-scoped");
    tx.commit().await.unwrap();
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cash_sales_shifts_and_audit_round_trip() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let w = world(&store).await;
    let mut tx = store.begin_write().await.unwrap();
    let cashier = staff_rec(w.tenant.id, "Cam", vec![w.branch.id]);
    tx.insert_staff(&cashier).await.unwrap();
    let mut session = CashSessionRecord { opening_float_cents: 1000, ..session_rec(&w, cashier.id, t(60)) };
    tx.insert_cash_session(&session).await.unwrap();
    assert_eq!(tx.open_cash_session_of_device(w.device.id).await.unwrap(), Some(session.clone()));
    let movement = CashMovementRecord {
        id: id(),
        cash_session_id: session.id,
        kind: "paid_in".into(),
        amount_cents: 500,
        reason: "change".into(),
        actor_id: cashier.id,
        occurred_at: t(61),
    };
    assert!(!tx.cash_movement_exists(movement.id).await.unwrap());
    tx.insert_cash_movement(&movement).await.unwrap();
    assert!(tx.cash_movement_exists(movement.id).await.unwrap());

    let sale = |n: i64| SaleRecord {
        id: id(),
        tenant_id: w.tenant.id,
        branch_id: w.branch.id,
        device_id: w.device.id,
        cash_session_id: session.id,
        client_op_id: id(),
        receipt_no: format!("A-{n}"),
        actor_id: cashier.id,
        total_cents: 250 * n,
        price_drift_cents: 0,
        details: json!({"lines": [{"qty": n}], "note": "ünïcode"}).into(),
        occurred_at: t(70 + n),
        applied_at: t(80 + n),
    };
    let sales = vec![sale(1), sale(2), sale(3)];
    tx.insert_sales(&sales).await.unwrap();
    let mut taken = tx.existing_sale_ids(&[sales[0].id, id(), sales[2].id]).await.unwrap();
    taken.sort();
    let mut want = vec![sales[0].id, sales[2].id];
    want.sort();
    assert_eq!(taken, want);
    assert!(tx.existing_sale_ids(&[]).await.unwrap().is_empty());
    assert_eq!(tx.list_sales(w.tenant.id, w.branch.id, 2).await.unwrap(), vec![sales[2].clone(), sales[1].clone()]);

    session.open = false;
    session.cash_sales_cents = 1500;
    session.paid_in_cents = 500;
    session.counted_cash_cents = Some(3000);
    session.closed_at = Some(t(90));
    tx.update_cash_session(&session).await.unwrap();
    assert_eq!(tx.cash_session(w.tenant.id, session.id).await.unwrap(), Some(session.clone()));
    assert_eq!(tx.cash_session(id(), session.id).await.unwrap(), None);
    assert_eq!(tx.open_cash_session_of_device(w.device.id).await.unwrap(), None);

    let mut shift = ShiftRecord {
        id: id(),
        tenant_id: w.tenant.id,
        branch_id: w.branch.id,
        staff_id: cashier.id,
        open: true,
        started_at: t(100),
        ended_at: None,
    };
    tx.insert_shift(&shift).await.unwrap();
    assert_eq!(tx.open_shift_of_staff(cashier.id).await.unwrap(), Some(shift.clone()));
    shift.open = false;
    shift.ended_at = Some(t(200));
    tx.update_shift(&shift).await.unwrap();
    assert_eq!(tx.shift(w.tenant.id, shift.id).await.unwrap(), Some(shift.clone()));
    assert_eq!(tx.open_shift_of_staff(cashier.id).await.unwrap(), None);
    assert_eq!(tx.list_shifts(w.tenant.id, w.branch.id, 10).await.unwrap(), vec![shift]);

    let audit = |n: i64| AuditRecord {
        tenant_id: w.tenant.id,
        branch_id: Some(w.branch.id),
        module: "sale".into(),
        action: "finalize".into(),
        actor_id: Some(cashier.id),
        device_id: None,
        client_op_id: Some(id()),
        lane: Lane::Online,
        occurred_at: t(n),
        applied_at: t(300 + n),
        details: json!({"n": n}).into(),
    };
    let events = vec![audit(1), audit(2), audit(3)];
    tx.insert_audits(&events).await.unwrap();
    assert_eq!(tx.list_audit(w.tenant.id, w.branch.id, t(302), 10).await.unwrap(), events[1..].to_vec());
    assert_eq!(tx.list_audit(w.tenant.id, w.branch.id, t(0), 1).await.unwrap(), events[..1].to_vec());
    tx.commit().await.unwrap();
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_changes_hands_out_contiguous_positions_and_pull_reads_them() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let w = world(&store).await;
    let b = w.branch.id;
    let (menu1, menu2, sale1) = (id(), id(), id());
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.stream_position(b).await.unwrap(), StreamPosition { head: 0, purged_seq: 0 });
    let first = vec![
        change(b, "menu", menu1, Some(json!({"name": "Latte", "price": 250}))),
        change(b, "menu", menu2, Some(json!({"name": "Tea"}))),
        change(b, "sales", sale1, Some(json!({"total": 1}))),
    ];
    assert_eq!(tx.record_changes(b, &first).await.unwrap(), 3);
    // Re-upserting an entity moves it to the end; the head moves by the number of rows.
    let second = vec![change(b, "menu", menu1, Some(json!({"name": "Latte", "price": 300})))];
    assert_eq!(tx.record_changes(b, &second).await.unwrap(), 4);
    // One entity twice in one call: the later version wins, at the later position.
    let third = vec![change(b, "sales", sale1, Some(json!({"total": 2}))), change(b, "sales", sale1, None)];
    assert_eq!(tx.record_changes(b, &third).await.unwrap(), 6);
    tx.commit().await.unwrap();

    let mut tx = store.begin_read().await.unwrap();
    assert_eq!(tx.stream_position(b).await.unwrap(), StreamPosition { head: 6, purged_seq: 0 });
    let all = tx.pull_changes(b, 0, &["menu", "sales"], true, 100).await.unwrap();
    let seqs: Vec<(i64, Uuid, bool)> = all.iter().map(|c| (c.seq, c.entity_id, c.deleted)).collect();
    assert_eq!(seqs, vec![(2, menu2, false), (4, menu1, false), (6, sale1, true)]);
    assert_eq!(all[1].data.as_deref(), Some(r#"{"name":"Latte","price":300}"#), "data is the JSON text as written");
    assert_eq!((all[1].scope.as_str(), all[1].entity.as_str()), ("menu", "thing"));
    assert_eq!(all[2].data, None);
    let live = tx.pull_changes(b, 0, &["menu", "sales"], false, 100).await.unwrap();
    assert_eq!(live.iter().map(|c| c.seq).collect::<Vec<_>>(), [2, 4], "no tombstones on a full hydration");
    let menu_only = tx.pull_changes(b, 2, &["menu"], true, 100).await.unwrap();
    assert_eq!(menu_only.iter().map(|c| c.seq).collect::<Vec<_>>(), [4]);
    let limited = tx.pull_changes(b, 0, &["menu", "sales"], true, 2).await.unwrap();
    assert_eq!(limited.iter().map(|c| c.seq).collect::<Vec<_>>(), [2, 4]);
    assert!(tx.pull_changes(b, 0, &[], true, 100).await.unwrap().is_empty());
    assert!(tx.pull_changes(id(), 0, &["menu"], true, 100).await.unwrap().is_empty());
    drop(tx);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_transaction_is_one_read_only_snapshot() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let w = world(&store).await;
    let mut read = store.begin_read().await.unwrap();
    assert_eq!(read.stream_position(w.branch.id).await.unwrap().head, 0);
    let mut tx = store.begin_write().await.unwrap();
    tx.record_changes(w.branch.id, &[change(w.branch.id, "menu", id(), Some(json!(1)))]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(read.stream_position(w.branch.id).await.unwrap().head, 0, "the snapshot does not move");
    assert!(read.pull_changes(w.branch.id, 0, &["menu"], true, 10).await.unwrap().is_empty());
    let write = read.insert_tenant(&tenant_rec()).await;
    assert!(matches!(write, Err(StoreError::Internal(_))), "writes fail: {write:?}");
    drop(read);
    let mut fresh = store.begin_read().await.unwrap();
    assert_eq!(fresh.stream_position(w.branch.id).await.unwrap().head, 1);
    drop(fresh);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_tombstones_raises_purged_seq() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let w = world(&store).await;
    let b = w.branch.id;
    let mut tx = store.begin_write().await.unwrap();
    let changes = vec![
        change(b, "menu", id(), None),
        change(b, "menu", id(), Some(json!({}))),
        change(b, "sales", id(), None),
        change(b, "menu", id(), Some(json!({}))),
    ];
    tx.record_changes(b, &changes).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.purge_tombstones(chrono::Utc::now() - chrono::Duration::days(1)).await.unwrap(), 0, "too young");
    assert_eq!(tx.purge_tombstones(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 2);
    assert_eq!(tx.stream_position(b).await.unwrap(), StreamPosition { head: 4, purged_seq: 3 });
    let left = tx.pull_changes(b, 0, &["menu", "sales"], true, 10).await.unwrap();
    assert_eq!(left.iter().map(|c| c.seq).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(tx.purge_tombstones(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 0);
    assert_eq!(tx.stream_position(b).await.unwrap().purged_seq, 3, "purged_seq never goes down");
    tx.commit().await.unwrap();
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_server_secret_wins_also_across_processes() {
    let Some(db) = TestDb::create().await else { return };
    let (a, b) = (db.store().await, db.store().await);
    let mut first = a.begin_write().await.unwrap();
    assert_eq!(first.server_secret("k", b"first").await.unwrap(), b"first");
    // A concurrent asker waits for the first to commit, then gets its value.
    let second = tokio::spawn(async move {
        let mut tx = b.begin_write().await.unwrap();
        let got = tx.server_secret("k", b"second").await.unwrap();
        tx.commit().await.unwrap();
        got
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second asker waits on the first's uncommitted row");
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), b"first");
    let mut tx = a.begin_write().await.unwrap();
    assert_eq!(tx.server_secret("k", b"third").await.unwrap(), b"first");
    assert_eq!(tx.server_secret("other", b"x").await.unwrap(), b"x");
    tx.commit().await.unwrap();
    db.drop().await;
}

async fn next_nudge(rx: &mut tokio::sync::broadcast::Receiver<BranchHead>, wait: Duration) -> Option<BranchHead> {
    tokio::time::timeout(wait, rx.recv()).await.ok().map(|r| r.expect("no lag in this test"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nudges_cross_processes_after_commit_only() {
    let Some(db) = TestDb::create().await else { return };
    let writer = db.store().await;
    let other = db.store().await;
    let w = world(&writer).await;
    let (mut theirs, mut mine) = (other.nudges(), writer.nudges());

    let mut tx = writer.begin_write().await.unwrap();
    let rows = [change(w.branch.id, "menu", id(), Some(json!({}))), change(w.branch.id, "menu", id(), None)];
    assert_eq!(tx.record_changes(w.branch.id, &rows).await.unwrap(), 2);
    assert_eq!(next_nudge(&mut theirs, Duration::from_millis(500)).await, None, "nothing before commit");
    assert_eq!(next_nudge(&mut mine, Duration::from_millis(10)).await, None);
    tx.commit().await.unwrap();

    let want = BranchHead { branch_id: w.branch.id, head: 2 };
    assert_eq!(next_nudge(&mut theirs, Duration::from_secs(5)).await, Some(want), "another process hears it");
    assert_eq!(next_nudge(&mut mine, Duration::from_secs(5)).await, Some(want));
    assert_eq!(next_nudge(&mut mine, Duration::from_millis(500)).await, None, "announced once per process");

    // A rolled-back write is never announced.
    let mut tx = writer.begin_write().await.unwrap();
    tx.record_changes(w.branch.id, &[change(w.branch.id, "menu", id(), None)]).await.unwrap();
    drop(tx);
    assert_eq!(next_nudge(&mut theirs, Duration::from_millis(500)).await, None);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_of_one_device_are_serialized_by_its_row_lock() {
    let Some(db) = TestDb::create().await else { return };
    let (a, b) = (db.store().await, db.store().await);
    let w = world(&a).await;
    let (tenant_id, device_id, branch_id) = (w.tenant.id, w.device.id, w.branch.id);
    let mut first = a.begin_write().await.unwrap();
    assert_eq!(first.lock_device(tenant_id, device_id).await.unwrap(), Some(w.device.clone()));
    first.note_device_seqs(device_id, &[1, 2], t(1)).await.unwrap();

    let second = tokio::spawn(async move {
        let mut tx = b.begin_write().await.unwrap();
        tx.lock_device(tenant_id, device_id).await.unwrap().expect("the device");
        // After the wait this transaction sees what the first committed.
        let info = tx.device_sync_info(tenant_id, branch_id).await.unwrap();
        tx.note_device_seqs(device_id, &[3], t(2)).await.unwrap();
        tx.commit().await.unwrap();
        info[0].last_device_seq
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second push waits for the first's commit");
    first.commit().await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap(), 2);

    let mut read = a.begin_read().await.unwrap();
    assert!(read.lock_device(id(), device_id).await.is_err(), "a read transaction cannot lock");
    drop(read);
    let mut tx = a.begin_write().await.unwrap();
    assert_eq!(tx.lock_device(id(), device_id).await.unwrap(), None, "tenant-scoped");
    drop(tx);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_is_a_transient_error_and_rolls_back() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let w = world(&store).await;
    let other = device_rec(w.tenant.id, w.branch.id, "B");
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_device(&other).await.unwrap();
    tx.commit().await.unwrap();

    let mut one = store.begin_write().await.unwrap();
    let mut two = store.begin_write().await.unwrap();
    one.lock_device(w.tenant.id, w.device.id).await.unwrap();
    two.lock_device(w.tenant.id, other.id).await.unwrap();
    let tenant_id = w.tenant.id;
    let (first_id, second_id) = (w.device.id, other.id);
    let a = tokio::spawn(async move { (one.lock_device(tenant_id, second_id).await, one) });
    let b = tokio::spawn(async move { (two.lock_device(tenant_id, first_id).await, two) });
    let ((ra, one), (rb, two)) = (a.await.unwrap(), b.await.unwrap());
    let outcomes = [ra.map(|_| ()), rb.map(|_| ())];
    let victims = outcomes.iter().filter(|r| matches!(r, Err(StoreError::Unavailable(_)))).count();
    assert_eq!(victims, 1, "PostgreSQL aborts exactly one, as 'unavailable' (retry): {outcomes:?}");
    drop((one, two));
    db.drop().await;
}

/// The pids of the sessions listening for nudges on this test's database.
async fn listeners(admin: &mut PgConnection, db: &str) -> Vec<i32> {
    let sql = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%' ORDER BY pid";
    sqlx::query_scalar(sql).bind(db).fetch_all(admin).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_after_losing_its_connection() {
    let Some(db) = TestDb::create().await else { return };
    let writer = db.store().await;
    let other = db.store().await;
    let w = world(&writer).await;
    let mut theirs = other.nudges();
    let mut admin = PgConnection::connect(&db.admin_url).await.unwrap();
    let before = listeners(&mut admin, &db.name).await;
    assert_eq!(before.len(), 2, "one listening session per store");
    for pid in &before {
        sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&mut admin).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = listeners(&mut admin, &db.name).await;
        if now.len() == 2 && now.iter().all(|pid| !before.contains(pid)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "listeners did not come back: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut tx = writer.begin_write().await.unwrap();
    tx.record_changes(w.branch.id, &[change(w.branch.id, "menu", id(), None)]).await.unwrap();
    tx.commit().await.unwrap();
    let want = BranchHead { branch_id: w.branch.id, head: 1 };
    assert_eq!(next_nudge(&mut theirs, Duration::from_secs(5)).await, Some(want));
    admin.close().await.ok();
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_of_one_branch_commit_in_position_order() {
    let Some(db) = TestDb::create().await else { return };
    let (a, b) = (db.store().await, db.store().await);
    let w = world(&a).await;
    let branch_id = w.branch.id;
    let mut first = a.begin_write().await.unwrap();
    assert_eq!(first.record_changes(branch_id, &[change(branch_id, "sales", id(), Some(json!(1)))]).await.unwrap(), 1);
    let second = tokio::spawn(async move {
        let mut tx = b.begin_write().await.unwrap();
        let head = tx.record_changes(branch_id, &[change(branch_id, "sales", id(), Some(json!(2)))]).await.unwrap();
        tx.commit().await.unwrap();
        head
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second writer waits on the branch row");
    let mut read = a.begin_read().await.unwrap();
    assert_eq!(read.stream_position(branch_id).await.unwrap().head, 0, "nothing visible before commit");
    drop(read);
    first.commit().await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap(), 2);
    let mut read = a.begin_read().await.unwrap();
    let rows = read.pull_changes(branch_id, 0, &["sales"], true, 10).await.unwrap();
    let data: Vec<(i64, Option<&str>)> = rows.iter().map(|r| (r.seq, r.data.as_deref())).collect();
    assert_eq!(data, vec![(1, Some("1")), (2, Some("2"))]);
    drop(read);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_are_split_into_several_statements() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let w = world(&store).await;
    let n = 2_345;
    let changes: Vec<ChangeRecord> = (0..n).map(|i| change(w.branch.id, "sales", id(), Some(json!({"i": i})))).collect();
    let ops: Vec<OpRecord> = (1..=n).map(|i| op_rec(&w, i, rejected(None), t(i))).collect();
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.record_changes(w.branch.id, &changes).await.unwrap(), n);
    tx.insert_ops(&ops).await.unwrap();
    let seqs: Vec<i64> = (1..=n).collect();
    tx.note_device_seqs(w.device.id, &seqs, t(0)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin_read().await.unwrap();
    let rows = tx.pull_changes(w.branch.id, 0, &["sales"], false, 10_000).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), seqs, "contiguous positions, in order");
    assert_eq!(rows[1_500].data.as_deref(), Some(r#"{"i":1500}"#));
    let ids: Vec<Uuid> = ops.iter().map(|o| o.client_op_id).collect();
    assert_eq!(tx.ops_by_ids(w.tenant.id, &ids).await.unwrap().len(), ops.len());
    let info = tx.device_sync_info(w.tenant.id, w.branch.id).await.unwrap();
    assert_eq!((info[0].last_device_seq, info[0].gaps.len()), (n, 0));
    drop(tx);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_holds_at_most_its_size_and_a_bad_size_is_refused() {
    let Some(db) = TestDb::create().await else { return };
    let refused = PgStore::connect_with_pool(&db.url, 0).await;
    assert!(matches!(&refused, Err(StoreError::Internal(m)) if m.contains("pool size")), "{refused:?}");
    let store = PgStore::connect_with_pool(&db.url, 2).await.expect("connect with a pool of 2");
    // Two open transactions take the whole pool: a third waits for one to end.
    let first = store.begin_read().await.unwrap();
    let second = store.begin_read().await.unwrap();
    let third = tokio::time::timeout(Duration::from_millis(300), store.begin_read()).await;
    assert!(third.is_err(), "a third transaction must wait while the pool of 2 is in use");
    drop(first);
    let third = tokio::time::timeout(Duration::from_secs(5), store.begin_read()).await;
    assert!(matches!(third, Ok(Ok(_))), "a connection came back to the pool");
    drop(second);
    db.drop().await;
}

/// Key checks must not depend on statistics (autovacuum may be off, a restore fresh):
/// before any ANALYZE, each sale's foreign-key check (PostgreSQL's own query for
/// `sales_session_owner`) finds its session by id, whatever plan mode; the branch listing
/// index `cash_sessions_branch` is not a candidate. (With the index of migration 0006,
/// every check scanned all sessions of the branch.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sale_key_checks_find_the_session_by_id_not_by_branch() {
    let Some(db) = TestDb::create().await else { return };
    let store = db.store().await;
    let w = world(&store).await;
    let mut tx = store.begin_write().await.unwrap();
    let cashier = staff_rec(w.tenant.id, "Cam", vec![w.branch.id]);
    tx.insert_staff(&cashier).await.unwrap();
    let session = |n: i64| CashSessionRecord { open: false, closed_at: Some(t(n + 1)), ..session_rec(&w, cashier.id, t(n)) };
    let sessions: Vec<CashSessionRecord> = (0..40).map(|n| session(10 * n)).collect();
    for s in &sessions {
        tx.insert_cash_session(s).await.unwrap();
    }
    let newest = tx.list_cash_sessions(w.tenant.id, w.branch.id, 3).await.unwrap();
    assert_eq!(newest, vec![sessions[39].clone(), sessions[38].clone(), sessions[37].clone()]);
    tx.commit().await.unwrap();
    let mut c = PgConnection::connect(&db.url).await.unwrap();
    // Only index scans to choose from, so that the choice between indexes is what is tested.
    c.execute("SET enable_seqscan = off").await.unwrap();
    let s = &sessions[20];
    let check = "PREPARE key_check(uuid, uuid, uuid, uuid) AS SELECT 1 FROM ONLY cash_sessions x \
                 WHERE id = $1 AND tenant_id = $2 AND branch_id = $3 AND device_id = $4 FOR KEY SHARE OF x";
    c.execute(check).await.unwrap();
    for mode in ["force_generic_plan", "force_custom_plan"] {
        c.execute(format!("SET plan_cache_mode = {mode}").as_str()).await.unwrap();
        let explain = format!("EXPLAIN EXECUTE key_check('{}', '{}', '{}', '{}')", s.id, s.tenant_id, s.branch_id, s.device_id);
        let plan: Vec<String> = sqlx::query_scalar(&explain).fetch_all(&mut c).await.unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("cash_sessions_branch"), "{mode}: the key check must not scan the branch's sessions:\n{plan}");
        assert!(plan.contains("Index Cond: (id = ") || plan.contains("Index Cond: ((id = "), "{mode}: probe by id:\n{plan}");
    }
    c.close().await.unwrap();
    db.drop().await;
}
