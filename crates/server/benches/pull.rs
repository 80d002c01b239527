//! Pull feed benchmark: full hydration and incremental pulls over HTTP, and the cost of a
//! menu edit fanned out to 1, 100 and 1,000 branch streams.
//!
//! `cargo bench -p modula-server --bench pull`. `BENCH_MENU` (default 5,000) and
//! `BENCH_OTHER` (default 20,000) size the branch stream.

use std::sync::Arc;
use std::time::Instant;

use modula_server::auth::{authenticate, Auth};
use modula_server::domain::{admin, bootstrap};
use modula_server::{router, AppState};
use modula_store::Store;
use modula_store_sqlite::SqliteStore;
use modula_wire::admin::*;
use modula_wire::op::SaleLine;
use modula_wire::{Policy, Role};
use serde_json::{json, Value};
use uuid::Uuid;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn menu_item(store: &dyn Store, owner: &Auth, id: Uuid, price_cents: i64) {
    let item = PutMenuItem { name: format!("Item {id}"), price_cents, category: "Coffee".into(), active: true, recipe: vec![] };
    admin::put_menu_item(store, owner, id, item).await.unwrap();
}

struct Pusher {
    base: String,
    tenant: Uuid,
    branch: Uuid,
    cashier: Uuid,
    device: Uuid,
    token: String,
    session: Uuid,
    seq: i64,
    item: (Uuid, i64),
}

impl Pusher {
    fn op(&mut self, op_type: &str, payload: Value) -> Value {
        self.seq += 1;
        let hash = modula_rules::hash::payload_hash(op_type, self.tenant, self.branch, self.cashier, &payload);
        json!({"client_op_id": Uuid::now_v7(), "type": op_type, "tenant_id": self.tenant, "branch_id": self.branch,
               "actor_id": self.cashier, "device_seq": self.seq, "occurred_at": chrono::Utc::now(),
               "payload": payload, "payload_hash": hash})
    }

    fn sale(&mut self) -> Value {
        let lines = vec![SaleLine { menu_item_id: self.item.0, qty: 1, unit_price_cents: self.item.1 }];
        let totals = modula_rules::pricing::price(&lines, &Policy::default()).unwrap();
        let payload = json!({"sale_id": Uuid::now_v7(), "cash_session_id": self.session, "receipt_no": format!("D-{}", self.seq),
                             "lines": lines, "tender": {"cash_usd_cents": totals.total_cents, "cash_khr": 0}, "totals": totals});
        self.op("sale.finalize", payload)
    }

    async fn push(&self, client: &reqwest::Client, ops: Vec<Value>) {
        let r = client
            .post(format!("{}/v1/sync/push", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"device_id": self.device, "operations": ops}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

/// A page as the client reads it: it counts changes without building them.
#[derive(serde::Deserialize)]
struct Page {
    changes: Vec<serde::de::IgnoredAny>,
    next_cursor: String,
    has_more: bool,
}

/// Pulls until `has_more` is false; returns (changes, bytes, next cursor).
async fn pull_all(client: &reqwest::Client, base: &str, token: &str, branch: Uuid, cursor: Option<String>) -> (usize, usize, String) {
    let (mut changes, mut bytes, mut cursor) = (0, 0, cursor);
    loop {
        let mut url = format!("{base}/v1/sync/pull?branch_id={branch}&limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let body = client.get(url).bearer_auth(token).send().await.unwrap().bytes().await.unwrap();
        bytes += body.len();
        let page: Page = serde_json::from_slice(&body).unwrap();
        changes += page.changes.len();
        cursor = Some(page.next_cursor);
        if !page.has_more {
            return (changes, bytes, cursor.unwrap());
        }
    }
}

async fn fan_out_cost(branches: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("f.db").display())).await.unwrap();
    let init = bootstrap::init_tenant(&store, "Chain", "Owner", "1234").await.unwrap();
    let owner = authenticate(&store, &init.token).await.unwrap();
    for i in 0..branches {
        admin::create_branch(&store, &owner, CreateBranch::named(format!("B{i}"))).await.unwrap();
    }
    let id = Uuid::now_v7();
    menu_item(&store, &owner, id, 100).await;
    let rounds = 20;
    let t = Instant::now();
    for i in 0..rounds {
        menu_item(&store, &owner, id, 101 + i).await;
    }
    t.elapsed().as_secs_f64() * 1000.0 / rounds as f64
}

fn main() {
    let (menu_n, other_n) = (env("BENCH_MENU", 5_000), env("BENCH_OTHER", 20_000));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::connect(&format!("sqlite://{}", dir.path().join("p.db").display())).await.unwrap());
        let s = store.as_ref();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = router(AppState::new(store.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let init = bootstrap::init_tenant(s, "Bench", "Owner", "1234").await.unwrap();
        let owner = authenticate(s, &init.token).await.unwrap();
        let branch = admin::create_branch(s, &owner, CreateBranch::named("Main")).await.unwrap().id;
        let cashier = admin::create_staff(s, &owner, CreateStaff { name: "C".into(), role: Role::Cashier, pin: "1111".into(), branch_ids: vec![branch], login: None, password: None })
            .await
            .unwrap()
            .id;
        let dev = admin::enroll_device(s, &owner, EnrollDevice { branch_id: branch, name: "D".into() }).await.unwrap();
        let seeding = Instant::now();
        let mut first_item = None;
        for i in 0..menu_n {
            let id = Uuid::now_v7();
            menu_item(s, &owner, id, 100 + i as i64 % 400).await;
            first_item.get_or_insert((id, 100));
        }
        let client = reqwest::Client::new();
        let mut p = Pusher {
            base: base.clone(), tenant: init.tenant_id, branch, cashier, device: dev.device_id, token: dev.token.clone(),
            session: Uuid::now_v7(), seq: 0, item: first_item.unwrap(),
        };
        let open = p.op("cashSession.open", json!({"cash_session_id": p.session, "opening_float_cents": 0}));
        p.push(&client, vec![open]).await;
        for _ in 0..other_n.div_ceil(200) {
            let ops: Vec<Value> = (0..200).map(|_| p.sale()).collect();
            p.push(&client, ops).await;
        }
        eprintln!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());

        let t = Instant::now();
        let (changes, bytes, mut cursor) = pull_all(&client, &base, &dev.token, branch, None).await;
        let hydrate_s = t.elapsed().as_secs_f64();

        let mut incremental_ms = Vec::new();
        for _ in 0..20 {
            let ops: Vec<Value> = (0..99).map(|_| p.sale()).collect();
            p.push(&client, ops).await; // 99 sales + the session = 100 changes
            let t = Instant::now();
            let (n, _, next) = pull_all(&client, &base, &dev.token, branch, Some(cursor)).await;
            incremental_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(n, 100, "an incremental pull sees exactly the new changes");
            cursor = next;
        }
        incremental_ms.sort_by(f64::total_cmp);

        println!("pull benchmark: SQLite, HTTP on loopback, pages of 1,000");
        println!("  full hydration:     {changes} changes, {:.1} MB, {:.3} s → {:.0} changes/s", bytes as f64 / 1e6, hydrate_s, changes as f64 / hydrate_s);
        println!("  incremental pull of 100 changes: median {:.2} ms, max {:.2} ms (20 rounds)", incremental_ms[10], incremental_ms[19]);
        for branches in [1, 100, 1000] {
            println!("  menu edit fanned out to {branches:>4} branches: {:.2} ms per edit", fan_out_cost(branches).await);
        }
    });
}
