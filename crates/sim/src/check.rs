//! The invariants, checked at every quiet point and at the end: links up, every queue
//! drained, then what the tills hold against what the server holds, read from its
//! database (through the store interface) and its feed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use modula_store::{CashSessionRecord, ItemSalesRecord, OpOutcome, OpRecord, SalesScope, SalesTotalsRecord, Store};
use serde_json::{json, Value};
use sqlx::{Connection, Row};
use uuid::Uuid;

use crate::driver::Driver;
use crate::schedule::Fault;
use crate::world::{uuid_of, World, MENU, STOCK, STOCK_START};
use crate::Violation;

/// How long the queues may take to drain once every link is up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a till's cache may take to equal a fresh hydration.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(45);
/// The scopes a till pulls (`modula_terminal::engine::PULL_SCOPES`).
const SCOPES: &str = "menu,policy,staff,branch,inventory,cash_sessions,attendance,voids,resolutions";
/// Ops asked of the store at once.
const OPS_PER_READ: usize = 500;

/// One op in a till's file.
#[derive(Debug, Clone)]
pub struct TillOp {
    /// Its `device_seq`.
    pub seq: i64,
    /// The op as queued.
    pub op: Value,
    /// `PENDING`, `SYNCED` or `FAILED`.
    pub status: String,
    /// The refusal's code, when `FAILED`.
    pub code: Option<String>,
    /// The refusal's message, when `FAILED`.
    pub message: Option<String>,
}

async fn till_file(dir: &std::path::Path) -> Result<sqlx::SqliteConnection, Violation> {
    let url = format!("sqlite://{}?mode=ro", dir.join("terminal.sqlite").display());
    sqlx::SqliteConnection::connect(&url).await.map_err(|e| Violation::new("till-file", format!("{}: {e}", dir.display())))
}

fn file_err(e: sqlx::Error) -> Violation {
    Violation::new("till-file", e.to_string())
}

/// Every op in a till's file, by `device_seq`.
pub async fn till_ops(dir: &std::path::Path) -> Result<Vec<TillOp>, Violation> {
    let mut c = till_file(dir).await?;
    let rows = sqlx::query("SELECT device_seq, op_json, status, code, message FROM ops ORDER BY device_seq")
        .fetch_all(&mut c)
        .await
        .map_err(file_err)?;
    let mut ops = Vec::with_capacity(rows.len());
    for r in rows {
        let op_json: String = r.get("op_json");
        let op = serde_json::from_str(&op_json).map_err(|e| Violation::new("till-file", format!("torn op_json: {e}")))?;
        ops.push(TillOp { seq: r.get("device_seq"), op, status: r.get("status"), code: r.get("code"), message: r.get("message") });
    }
    Ok(ops)
}

/// One settled op of a till (`salt` chooses which): its JSON and status.
pub async fn a_settled_op(dir: &std::path::Path, salt: u64) -> Result<Option<(String, String)>, Violation> {
    let mut c = till_file(dir).await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ops WHERE status != 'PENDING'").fetch_one(&mut c).await.map_err(file_err)?;
    if n == 0 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT op_json, status FROM ops WHERE status != 'PENDING' ORDER BY device_seq LIMIT 1 OFFSET ?")
        .bind((salt % n as u64) as i64)
        .fetch_one(&mut c)
        .await
        .map_err(file_err)?;
    Ok(Some((row.get("op_json"), row.get("status"))))
}

/// A quiet point: servers up, links up (nudges still dropped where they were), every
/// live till drained, then every invariant.
pub async fn quiet(d: &mut Driver, store: &dyn Store) -> Result<(), Violation> {
    d.stats.quiet_points += 1;
    for s in 0..d.world.servers.len() {
        d.world.restart_server(s).await.map_err(|e| Violation::new("process", format!("{e:#}")))?;
    }
    for t in &d.world.tills {
        if t.link.fault() != Fault::DropNudges {
            t.link.set(Fault::Up);
        }
    }
    drained(&d.world).await?;
    if d.stats.quiet_points == 1 {
        sabotage(&d.world, store).await?;
    }
    let mut all_ops = Vec::new();
    for t in 0..d.world.tills.len() {
        let ops = till_ops(&d.world.tills[t].dir).await?;
        ops_are_whole(d, t, &ops)?;
        all_ops.push(ops);
    }
    let records = server_records(&d.world, store, &all_ops).await?;
    d.stats.applied = records.values().filter(|r| matches!(r.outcome, OpOutcome::Applied(_))).count() as u64;
    d.stats.rejected.clear();
    for r in records.values() {
        if let OpOutcome::Rejected { code, .. } = &r.outcome {
            *d.stats.rejected.entry(code.to_string()).or_default() += 1;
        }
    }
    ops_match_the_server(&d.world, &all_ops, &records)?;
    one_audit_event_per_applied_op(&d.world, store, &records).await?;
    d.stats.checks += 4;
    let books = Books::read(&d.world, store, &records).await?;
    sales_once(&d.world, &all_ops, &books)?;
    drawers_add_up(&d.world, store, &all_ops, &books).await?;
    reports_add_up(&d.world, store, &all_ops, &books).await?;
    stock_adds_up(&d.world, store, &all_ops, &books).await?;
    no_seq_gaps(&d.world, &all_ops).await?;
    d.stats.checks += 5;
    for t in 0..d.world.tills.len() {
        if !d.world.tills[t].retired {
            cache_converges(&d.world, t).await?;
            d.stats.checks += 1;
        }
    }
    feed_replays_to_the_state(&d.world, store).await?;
    d.stats.checks += 1;
    Ok(())
}

/// The environment variable that makes a run break its own database on purpose, to show
/// that the checks catch it: `extra-sale` copies a sale at the first quiet point.
pub const SABOTAGE_ENV: &str = "MODULA_SIM_SABOTAGE";

async fn sabotage(w: &World, store: &dyn Store) -> Result<(), Violation> {
    if std::env::var(SABOTAGE_ENV).as_deref() != Ok("extra-sale") {
        return Ok(());
    }
    let mut tx = store.begin_write().await.map_err(store_err)?;
    for branch in &w.branches {
        if let Some(sale) = tx.list_sales(w.tenant_id, *branch, 1).await.map_err(store_err)?.pop() {
            let copy = modula_store::SaleRecord { id: Uuid::now_v7(), client_op_id: Uuid::now_v7(), ..sale };
            tx.insert_sales(&[copy]).await.map_err(store_err)?;
            break;
        }
    }
    tx.commit().await.map_err(store_err)
}

/// No op stays PENDING once the links are up (revoked tills aside: they cannot sync).
async fn drained(w: &World) -> Result<(), Violation> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    for t in w.tills.iter().filter(|t| !t.retired) {
        loop {
            let s: Value = match w.http.get(format!("{}/api/status", t.base)).send().await {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(e) => return Err(Violation::new("till-api", format!("till {} did not answer its status: {e}", t.idx))),
            };
            if s["pending"] == json!(0) {
                break;
            }
            if Instant::now() > deadline {
                let msg = format!("till {} still has {} PENDING ops {DRAIN_TIMEOUT:?} after every link came up: {s}", t.idx, s["pending"]);
                return Err(Violation::new("drained", msg));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// A till's queue: `device_seq` 1..n without gaps, every op it answered is there, every
/// refusal has a reason to show.
fn ops_are_whole(d: &Driver, t: usize, ops: &[TillOp]) -> Result<(), Violation> {
    for (i, o) in ops.iter().enumerate() {
        if o.seq != i as i64 + 1 || o.op["device_seq"] != json!(o.seq) {
            return Err(Violation::new("device-seq", format!("till {t}: op #{} at position {i} ({})", o.seq, o.op["device_seq"])));
        }
        if o.status == "FAILED" && (o.code.is_none() || o.message.as_deref().unwrap_or("").is_empty()) {
            return Err(Violation::new("failed-reason", format!("till {t}: FAILED op #{} has no code or reason", o.seq)));
        }
    }
    let held: BTreeSet<Uuid> = ops.iter().filter_map(|o| o.op["client_op_id"].as_str().and_then(|s| s.parse().ok())).collect();
    if let Some(lost) = d.answered[t].iter().find(|id| !held.contains(id)) {
        return Err(Violation::new("answered-kept", format!("till {t} answered op {lost} and no longer holds it")));
    }
    Ok(())
}

fn op_id(o: &TillOp) -> Result<Uuid, Violation> {
    uuid_of(&o.op["client_op_id"]).map_err(|e| Violation::new("till-file", e.to_string()))
}

async fn server_records(w: &World, store: &dyn Store, all: &[Vec<TillOp>]) -> Result<BTreeMap<Uuid, OpRecord>, Violation> {
    let ids: Vec<Uuid> = all.iter().flatten().map(op_id).collect::<Result<_, _>>()?;
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(OPS_PER_READ) {
        let recs = store.ops_by_ids(w.tenant_id, chunk).await.map_err(store_err)?;
        out.extend(recs.into_iter().map(|r| (r.client_op_id, r)));
    }
    Ok(out)
}

fn store_err(e: modula_store::StoreError) -> Violation {
    Violation::new("store", e.to_string())
}

/// Every settled op is on the server exactly as the till says: SYNCED ⇔ applied, with
/// its one audit event; FAILED ⇔ rejected with the same code. A live till holds no
/// PENDING op; a revoked one's PENDING ops never reached the server.
fn ops_match_the_server(w: &World, all: &[Vec<TillOp>], recs: &BTreeMap<Uuid, OpRecord>) -> Result<(), Violation> {
    for (t, ops) in all.iter().enumerate() {
        for o in ops {
            let id = op_id(o)?;
            let rec = recs.get(&id);
            let bad = |what: String| Err(Violation::new("op-outcome", format!("till {t} op #{} ({id}, {}): {what}", o.seq, o.op["type"])));
            match (o.status.as_str(), rec.map(|r| &r.outcome)) {
                ("SYNCED", Some(OpOutcome::Applied(_))) => {}
                ("FAILED", Some(OpOutcome::Rejected { code, .. })) => {
                    if o.code.as_deref() != Some(code.to_string().as_str()) {
                        return bad(format!("FAILED {:?} at the till, rejected {code} on the server", o.code));
                    }
                }
                // A revoked till cannot learn outcomes: its PENDING op may never have
                // reached the server, or reached it and lost its answer before the
                // revocation. Either is consistent; the op is stranded, not lost or doubled.
                ("PENDING", _) if w.tills[t].retired => {}
                (status, server) => return bad(format!("{status} at the till, {server:?} on the server")),
            }
        }
    }
    Ok(())
}

/// The audit log holds one event per applied op and none for a rejected one.
async fn one_audit_event_per_applied_op(w: &World, store: &dyn Store, recs: &BTreeMap<Uuid, OpRecord>) -> Result<(), Violation> {
    let mut tx = store.begin_read().await.map_err(store_err)?;
    let mut events: BTreeMap<Uuid, u32> = BTreeMap::new();
    for branch in &w.branches {
        let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        for e in tx.list_audit(w.tenant_id, *branch, epoch, i64::MAX).await.map_err(store_err)? {
            if let Some(id) = e.client_op_id {
                *events.entry(id).or_default() += 1;
            }
        }
    }
    for (id, rec) in recs {
        let count = events.get(id).copied().unwrap_or(0);
        let want = u32::from(matches!(rec.outcome, OpOutcome::Applied(_)));
        if count != want {
            let msg = format!("op {id} ({}, {:?}) has {count} audit events", rec.op_type, rec.outcome);
            return Err(Violation::new("audit", msg));
        }
    }
    Ok(())
}

/// What is in the books: the tills' ops the server applied or a manager accepted, and
/// every branch's sales with their voids, read from the database.
struct Books {
    /// Ops applied, or refused and then accepted.
    counted: BTreeSet<Uuid>,
    /// Each branch's sales.
    sales: Vec<Vec<modula_store::SaleRecord>>,
}

impl Books {
    async fn read(w: &World, store: &dyn Store, recs: &BTreeMap<Uuid, OpRecord>) -> Result<Books, Violation> {
        let mut counted: BTreeSet<Uuid> =
            recs.values().filter(|r| matches!(r.outcome, OpOutcome::Applied(_))).map(|r| r.client_op_id).collect();
        let mut tx = store.begin_read().await.map_err(store_err)?;
        let refused: Vec<Uuid> = recs.values().filter(|r| !counted.contains(&r.client_op_id)).map(|r| r.client_op_id).collect();
        for r in tx.resolutions(w.tenant_id, &refused).await.map_err(store_err)? {
            if r.action == "accept" {
                counted.insert(r.client_op_id);
            }
        }
        let mut sales = Vec::new();
        for branch in &w.branches {
            sales.push(tx.list_sales(w.tenant_id, *branch, i64::MAX).await.map_err(store_err)?);
        }
        Ok(Books { counted, sales })
    }

    fn voided(&self) -> impl Iterator<Item = (usize, &modula_store::SaleRecord)> {
        self.sales.iter().enumerate().flat_map(|(b, s)| s.iter().filter(|s| s.void.is_some()).map(move |s| (b, s)))
    }
}

/// The tills' ops in the books (applied, or accepted later).
fn applied<'a>(all: &'a [Vec<TillOp>], books: &'a Books) -> impl Iterator<Item = (usize, &'a TillOp)> {
    all.iter().enumerate().flat_map(move |(t, ops)| {
        ops.iter()
            .filter(move |o| o.op["client_op_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()).is_some_and(|id| books.counted.contains(&id)))
            .map(move |o| (t, o))
    })
}

/// Each branch's sales are its sale ops in the books (applied, or accepted), each once.
fn sales_once(w: &World, all: &[Vec<TillOp>], books: &Books) -> Result<(), Violation> {
    for (b, sales) in books.sales.iter().enumerate() {
        let ids: BTreeSet<Uuid> = sales.iter().map(|s| s.id).collect();
        if ids.len() != sales.len() {
            return Err(Violation::new("sales-once", format!("branch {b}: a sale id twice among {} sales", sales.len())));
        }
        let want: BTreeSet<Uuid> = applied(all, books)
            .filter(|(t, o)| w.tills[*t].branch == b && o.op["type"] == "sale.finalize")
            .filter_map(|(_, o)| o.op["payload"]["sale_id"].as_str().and_then(|s| s.parse().ok()))
            .collect();
        if want != ids {
            let msg = format!("branch {b}: {} sales on the server, {} sale ops in the books (differ: {:?})", ids.len(), want.len(),
                              want.symmetric_difference(&ids).take(3).collect::<Vec<_>>());
            return Err(Violation::new("sales-once", msg));
        }
    }
    Ok(())
}

/// A session's flows as its applied ops say, worked out here independently of the rules.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Flows {
    usd: [i64; 7],
    khr: [i64; 7],
    counted: (Option<i64>, Option<i64>),
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn add_op(f: &mut Flows, op: &Value) {
    let p = &op["payload"];
    match op["type"].as_str().unwrap_or("") {
        "cashSession.open" => {
            f.usd[0] += n(&p["opening_float_cents"]);
            f.khr[0] += n(&p["opening_float_khr"]);
        }
        "sale.finalize" if p["change"].is_object() => {
            f.usd[1] += n(&p["tender"]["cash_usd_cents"]);
            f.khr[1] += n(&p["tender"]["cash_khr"]);
            f.usd[2] += n(&p["change"]["usd_cents"]);
            f.khr[2] += n(&p["change"]["khr"]);
        }
        "sale.finalize" => f.usd[1] += n(&p["totals"]["total_cents"]),
        "cashSession.movement" => {
            let slot = match p["kind"].as_str() {
                Some("paid_in") => 3,
                Some("paid_out") => 4,
                _ => 5,
            };
            if p["amount_khr"].is_i64() { f.khr[slot] += n(&p["amount_khr"]) } else { f.usd[slot] += n(&p["amount_cents"]) }
        }
        "cashSession.close" => f.counted = (p["counted_cash_cents"].as_i64(), p["counted_khr"].as_i64()),
        _ => {}
    }
}

fn flows_of(s: &CashSessionRecord) -> Flows {
    let row = |c: &modula_wire::CashFlows| [c.float, c.tendered, c.change, c.paid_in, c.paid_out, c.adjustments, c.refunds];
    Flows { usd: row(&s.drawer.usd), khr: row(&s.drawer.khr), counted: (s.counted_cash_cents, s.counted_khr) }
}

/// Per session and currency, the server's flows are the sum of the session's ops in the
/// books (float, tender in, change out, movements, counts) and of the refunds of the
/// voids paid out of it, each once; expected cash follows.
async fn drawers_add_up(w: &World, store: &dyn Store, all: &[Vec<TillOp>], books: &Books) -> Result<(), Violation> {
    let mut want: BTreeMap<Uuid, Flows> = BTreeMap::new();
    for (_, o) in applied(all, books) {
        if let Some(s) = o.op["payload"]["cash_session_id"].as_str().and_then(|s| s.parse().ok()) {
            add_op(want.entry(s).or_default(), &o.op);
        }
    }
    for (_, sale) in books.voided() {
        let v = sale.void.as_ref().expect("voided");
        let f = want.entry(v.cash_session_id).or_default();
        f.usd[6] += v.refund_cents;
        f.khr[6] += v.refund_khr;
    }
    let mut tx = store.begin_read().await.map_err(store_err)?;
    for (id, flows) in &want {
        let s = tx.cash_session(w.tenant_id, *id).await.map_err(store_err)?;
        let Some(s) = s else { return Err(Violation::new("drawer", format!("session {id} has applied ops but is not on the server"))) };
        let got = flows_of(&s);
        if &got != flows {
            return Err(Violation::new("drawer", format!("session {id}: the server holds {got:?}, its applied ops add up to {flows:?}")));
        }
        let expected_usd = got.usd[0] + got.usd[1] - got.usd[2] + got.usd[3] - got.usd[4] + got.usd[5] - got.usd[6];
        let expected_khr = got.khr[0] + got.khr[1] - got.khr[2] + got.khr[3] - got.khr[4] + got.khr[5] - got.khr[6];
        let view = (modula_rules::cash::expected(&s.drawer.usd), modula_rules::cash::expected(&s.drawer.khr));
        if view != (expected_usd, expected_khr) {
            return Err(Violation::new("drawer", format!("session {id}: expected {view:?}, its flows give {:?}", (expected_usd, expected_khr))));
        }
    }
    Ok(())
}

/// What a report of some sales must say, summed here from the sale ops themselves.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct ReportSums {
    totals: SalesTotalsRecord,
    /// menu item → (qty, qty × unit price)
    items: BTreeMap<Uuid, (i64, i64)>,
}

impl ReportSums {
    fn add(&mut self, op: &Value, voided: bool) {
        let total = n(&op["payload"]["totals"]["total_cents"]);
        if voided {
            self.totals.voids_count += 1;
            self.totals.voids_total_cents += total;
            return;
        }
        self.totals.sales_count += 1;
        self.totals.gross_cents += total;
        self.totals.vat_cents += n(&op["payload"]["totals"]["vat_cents"]);
        for line in op["payload"]["lines"].as_array().into_iter().flatten() {
            let Some(item) = line["menu_item_id"].as_str().and_then(|s| s.parse().ok()) else { continue };
            let (qty, unit) = (n(&line["qty"]), n(&line["unit_price_cents"]));
            let e = self.items.entry(item).or_default();
            e.0 += qty;
            e.1 += qty * unit;
        }
    }

    fn of_server(totals: SalesTotalsRecord, items: Vec<ItemSalesRecord>) -> ReportSums {
        ReportSums { totals, items: items.into_iter().map(|i| (i.menu_item_id, (i.qty, i.total_cents))).collect() }
    }
}

/// Every session's Z figures and every branch's whole-history figures, as the database
/// sums them for the reports (sales, VAT, voids apart, quantity and amount per item),
/// equal the sums of the sale ops in the books: each sale's lines and VAT were written
/// once, with it, whatever the faults.
async fn reports_add_up(w: &World, store: &dyn Store, all: &[Vec<TillOp>], books: &Books) -> Result<(), Violation> {
    let voided: BTreeSet<Uuid> = books.voided().map(|(_, s)| s.id).collect();
    let mut per_session: BTreeMap<Uuid, ReportSums> = BTreeMap::new();
    let mut per_branch: Vec<ReportSums> = vec![ReportSums::default(); w.branches.len()];
    for (t, o) in applied(all, books) {
        if o.op["type"] != "sale.finalize" {
            continue;
        }
        let p = &o.op["payload"];
        let (Ok(session), Ok(sale)) = (uuid_of(&p["cash_session_id"]), uuid_of(&p["sale_id"])) else { continue };
        per_session.entry(session).or_default().add(&o.op, voided.contains(&sale));
        per_branch[w.tills[t].branch].add(&o.op, voided.contains(&sale));
    }
    let mut tx = store.begin_read().await.map_err(store_err)?;
    for (id, want) in &per_session {
        let scope = SalesScope::Session(*id);
        let got = ReportSums::of_server(
            tx.sales_totals(w.tenant_id, &scope).await.map_err(store_err)?,
            tx.sales_by_item(w.tenant_id, &scope).await.map_err(store_err)?,
        );
        if &got != want {
            return Err(Violation::new("reports", format!("session {id}: the Z sums are {got:?}, its sale ops add up to {want:?}")));
        }
    }
    let (from, to) = (chrono::DateTime::<chrono::Utc>::UNIX_EPOCH, chrono::Utc::now() + chrono::Duration::days(3650));
    for (b, want) in per_branch.iter().enumerate() {
        let scope = SalesScope::Branch { branch_id: w.branches[b], from, to };
        let got = ReportSums::of_server(
            tx.sales_totals(w.tenant_id, &scope).await.map_err(store_err)?,
            tx.sales_by_item(w.tenant_id, &scope).await.map_err(store_err)?,
        );
        if &got != want {
            return Err(Violation::new("reports", format!("branch {b}: the sums are {got:?}, its sale ops add up to {want:?}")));
        }
    }
    Ok(())
}

/// Stock per branch = start + restocks − Σ sales in the books + Σ voided sales, by their
/// (fixed) recipes.
async fn stock_adds_up(w: &World, store: &dyn Store, all: &[Vec<TillOp>], books: &Books) -> Result<(), Violation> {
    let mut used: BTreeMap<(usize, usize), i64> = BTreeMap::new();
    let mut take = |branch: usize, lines: &Value, sign: i64| {
        for line in lines.as_array().into_iter().flatten() {
            let item = line["menu_item_id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
            let Some(i) = item.and_then(|id| w.items.iter().position(|x| *x == id)) else { continue };
            for (s, qty) in MENU[i].2 {
                *used.entry((branch, *s)).or_default() += sign * qty * n(&line["qty"]);
            }
        }
    };
    for (t, o) in applied(all, books).filter(|(_, o)| o.op["type"] == "sale.finalize") {
        take(w.tills[t].branch, &o.op["payload"]["lines"], 1);
    }
    for (b, sale) in books.voided() {
        let details: Value = serde_json::from_str(sale.details.as_str()).unwrap_or(Value::Null);
        take(b, &details["lines"], -1);
    }
    let mut tx = store.begin_read().await.map_err(store_err)?;
    for (b, branch) in w.branches.iter().enumerate() {
        if w.stock_unknown.contains(&b) {
            continue; // a restock's answer was lost: what it did is unknowable
        }
        let inv = tx.inventory(w.tenant_id, *branch).await.map_err(store_err)?;
        for (s, item) in w.stock_items.iter().enumerate() {
            let on_hand = inv.iter().find(|(rec, _)| rec.id == *item).map(|(_, q)| *q).unwrap_or(0);
            let want = STOCK_START + w.restocked.get(&(b, s)).copied().unwrap_or(0) - used.get(&(b, s)).copied().unwrap_or(0);
            if on_hand != want {
                let msg = format!("branch {b} {}: on hand {on_hand}, restocks − applied sales = {want}", STOCK[s].0);
                return Err(Violation::new("stock", msg));
            }
        }
    }
    Ok(())
}

/// The server has seen every `device_seq` of each live till: no gaps, up to its last.
async fn no_seq_gaps(w: &World, all: &[Vec<TillOp>]) -> Result<(), Violation> {
    for (b, branch) in w.branches.iter().enumerate() {
        let v = w.admin_ok("GET", &format!("/v1/sync/devices?branch_id={branch}"), Value::Null).await;
        let v = v.map_err(|e| Violation::new("admin", format!("{e:#}")))?;
        for t in w.tills.iter().filter(|t| t.branch == b && !t.retired) {
            let dev = v["devices"].as_array().into_iter().flatten().find(|d| d["device_id"] == json!(t.device_id));
            let Some(dev) = dev else { continue };
            let last = all[t.idx].last().map(|o| o.seq);
            if dev["gaps"] != json!([]) || (last.is_some() && dev["last_device_seq"] != json!(last)) {
                return Err(Violation::new("device-seq", format!("till {}: server sees {dev}, the till's last op is #{last:?}", t.idx)));
            }
        }
    }
    Ok(())
}

/// A full hydration of the till's branch, `page` changes at a time: `(scope, id)` →
/// `(version, data)`.
async fn hydrate(w: &World, token: &str, branch: Uuid, page: usize) -> Result<BTreeMap<(String, String), (i64, Value)>, Violation> {
    let base = w.server_base().map_err(|e| Violation::new("process", e.to_string()))?;
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let mut q = vec![("branch_id", branch.to_string()), ("scopes", SCOPES.to_string()), ("limit", page.to_string())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let r = w.http.get(format!("{base}/v1/sync/pull")).bearer_auth(token).query(&q).send().await;
        let v: Value = match r {
            Ok(r) if r.status().is_success() => r.json().await.map_err(|e| Violation::new("pull", e.to_string()))?,
            Ok(r) => return Err(Violation::new("pull", format!("a pull answered {}", r.status()))),
            Err(e) => return Err(Violation::new("pull", e.to_string())),
        };
        for c in v["changes"].as_array().into_iter().flatten() {
            let key = (c["scope"].as_str().unwrap_or("").to_string(), c["id"].as_str().unwrap_or("").to_string());
            if c["deleted"] == json!(true) {
                out.remove(&key);
            } else {
                out.insert(key, (n(&c["version"]), c["data"].clone()));
            }
        }
        cursor = v["next_cursor"].as_str().map(str::to_string);
        if v["has_more"] != json!(true) {
            return Ok(out);
        }
    }
    Err(Violation::new("pull", "a hydration did not end".to_string()))
}

async fn till_cache(dir: &std::path::Path) -> Result<BTreeMap<(String, String), (i64, Value)>, Violation> {
    let mut c = till_file(dir).await?;
    let rows = sqlx::query("SELECT scope, id, version, data FROM cache").fetch_all(&mut c).await.map_err(file_err)?;
    let mut out = BTreeMap::new();
    for r in rows {
        let data: String = r.get("data");
        let data = serde_json::from_str(&data).map_err(|e| Violation::new("till-file", e.to_string()))?;
        out.insert((r.get("scope"), r.get("id")), (r.get("version"), data));
    }
    Ok(out)
}

/// A till's cache equals a fresh hydration of its branch (within its periodic pull, for
/// a till whose nudges are dropped).
async fn cache_converges(w: &World, t: usize) -> Result<(), Violation> {
    let till = &w.tills[t];
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let fresh = hydrate(w, &till.token, w.branches[till.branch], 1000).await?;
        let cache = till_cache(&till.dir).await?;
        if fresh == cache {
            return Ok(());
        }
        if Instant::now() > deadline {
            let diff: Vec<_> = fresh.keys().chain(cache.keys()).filter(|k| fresh.get(*k) != cache.get(*k)).take(3).collect();
            let msg = format!("till {t}'s cache differs from a fresh hydration at {diff:?} after {CONVERGE_TIMEOUT:?}");
            return Err(Violation::new("cache", msg));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Replaying a branch's feed from zero in small pages gives the same as one big page,
/// and its stock and drawers are the database's.
async fn feed_replays_to_the_state(w: &World, store: &dyn Store) -> Result<(), Violation> {
    let mut tx = store.begin_read().await.map_err(store_err)?;
    for (b, branch) in w.branches.iter().enumerate() {
        let Some(till) = w.tills.iter().find(|t| t.branch == b && !t.retired) else { continue };
        let small = hydrate(w, &till.token, *branch, 7).await?;
        let big = hydrate(w, &till.token, *branch, 1000).await?;
        if small != big {
            return Err(Violation::new("feed", format!("branch {b}: the feed in pages of 7 differs from one page")));
        }
        let inv = tx.inventory(w.tenant_id, *branch).await.map_err(store_err)?;
        for (rec, on_hand) in inv {
            let fed = big.get(&("inventory".to_string(), rec.id.to_string())).map(|(_, d)| n(&d["on_hand"]));
            if fed != Some(on_hand) {
                return Err(Violation::new("feed", format!("branch {b} {}: fed {fed:?}, on hand {on_hand}", rec.name)));
            }
        }
        for ((scope, id), (_, data)) in big.iter().filter(|(k, _)| k.0 == "cash_sessions") {
            let s = tx.cash_session(w.tenant_id, id.parse().unwrap_or_default()).await.map_err(store_err)?;
            let Some(s) = s else { return Err(Violation::new("feed", format!("{scope} {id} is fed but not in the database"))) };
            let db = (modula_rules::cash::expected(&s.drawer.usd), modula_rules::cash::expected(&s.drawer.khr));
            if (n(&data["expected_cash_cents"]), n(&data["expected_khr"])) != db {
                return Err(Violation::new("feed", format!("session {id}: fed {data}, the database gives {db:?}")));
            }
        }
    }
    Ok(())
}
