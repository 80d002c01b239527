//! `kill -9` of the terminal: an op whose enqueue was answered survives the crash whole and
//! syncs exactly once; a crash mid-enqueue leaves the whole op or nothing (SPEC §6).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sqlx::{Connection, Row};
use uuid::Uuid;

use crate::harness::*;

/// Price of a latte and what one uses (see `harness::seed`).
const LATTE_CENTS: i64 = 300;
const LATTE_BEANS: i64 = 18;
const LATTE_MILK: i64 = 150;

/// One op as the terminal's file holds it.
#[derive(Debug)]
struct DiskOp {
    seq: i64,
    id: Uuid,
    status: String,
    op: modula_wire::Op,
    stock: Option<Vec<(Uuid, i64)>>,
}

/// What a crash left in the terminal's SQLite file (read with the process dead).
#[derive(Debug)]
struct Disk {
    ops: Vec<DiskOp>,
    next_device_seq: i64,
    next_receipt_no: i64,
    code: String,
    /// Dollars of sales (tendered − change) in the open local cash session.
    cash_sales_cents: i64,
    /// Riel of sales (tendered − change) in the open local cash session.
    cash_sales_khr: i64,
    stock_pending: HashMap<Uuid, i64>,
}

impl Disk {
    fn sales(&self) -> impl Iterator<Item = &DiskOp> {
        self.ops.iter().filter(|o| o.op.op_type == "sale.finalize")
    }

    /// Σ of one currency's cash of the queued sales: tender in, change out.
    fn sales_net(&self, tender: &str, change: &str) -> i64 {
        let n = |v: &Value| v.as_i64().unwrap();
        self.sales().map(|o| n(&o.op.payload["tender"][tender]) - n(&o.op.payload["change"][change])).sum()
    }

    /// Dollars the queued sales put into the drawer, net of change.
    fn sales_total(&self) -> i64 {
        self.sales_net("cash_usd_cents", "usd_cents")
    }

    /// Lattes sold by the queued sales (every sale in these tests is lattes only).
    fn lattes(&self) -> i64 {
        self.sales().map(|o| o.op.payload["lines"][0]["qty"].as_i64().unwrap()).sum()
    }
}

async fn read_disk(data: &Path) -> Disk {
    let url = format!("sqlite://{}", data.join("terminal.sqlite").display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.expect("open the terminal's file");
    let rows = sqlx::query("SELECT device_seq, client_op_id, type, op_json, status, stock_json FROM ops ORDER BY device_seq")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let ops = rows
        .iter()
        .map(|r| {
            let op_json: String = r.get("op_json");
            let op: modula_wire::Op = serde_json::from_str(&op_json).unwrap_or_else(|e| panic!("torn op_json {op_json:?}: {e}"));
            let ty: String = r.get("type");
            assert_eq!(ty, op.op_type);
            let stock: Option<String> = r.get("stock_json");
            DiskOp {
                seq: r.get("device_seq"),
                id: r.get::<String, _>("client_op_id").parse().unwrap(),
                status: r.get("status"),
                op,
                stock: stock.map(|s| serde_json::from_str(&s).unwrap()),
            }
        })
        .collect();
    let dev = sqlx::query("SELECT next_device_seq, next_receipt_no, code FROM device WHERE id = 1").fetch_one(&mut c).await.unwrap();
    let cash: Option<(i64, i64)> =
        sqlx::query_as("SELECT tendered_cents - change_cents, tendered_khr - change_khr FROM local_cash_session WHERE open = 1")
            .fetch_optional(&mut c)
            .await
            .unwrap();
    let (cash, cash_khr) = cash.expect("an open local cash session");
    let stock = sqlx::query("SELECT stock_item_id, qty FROM local_stock_pending").fetch_all(&mut c).await.unwrap();
    let disk = Disk {
        ops,
        next_device_seq: dev.get("next_device_seq"),
        next_receipt_no: dev.get("next_receipt_no"),
        code: dev.get("code"),
        cash_sales_cents: cash,
        cash_sales_khr: cash_khr,
        stock_pending: stock.iter().map(|r| (r.get::<String, _>("stock_item_id").parse().unwrap(), r.get("qty"))).collect(),
    };
    c.close().await.unwrap();
    disk
}

/// Every op in the file is whole, and the counters and local effects agree with the ops:
/// nothing of a half-written enqueue is visible.
fn assert_whole(shop: &Shop, d: &Disk) {
    for (i, o) in d.ops.iter().enumerate() {
        assert_eq!(o.seq, i as i64 + 1, "device_seq must be 1..n without gaps: {:?}", d.ops.iter().map(|o| o.seq).collect::<Vec<_>>());
        assert_eq!(o.op.device_seq, o.seq, "op_json and its row disagree on device_seq");
        assert_eq!(o.op.client_op_id, o.id, "op_json and its row disagree on client_op_id");
        assert_eq!((o.op.tenant_id, o.op.branch_id), (shop.tenant, shop.branch));
        let hash = modula_rules::hash::payload_hash(&o.op.op_type, o.op.tenant_id, o.op.branch_id, o.op.actor_id, &o.op.payload);
        assert_eq!(o.op.payload_hash, hash, "payload hash of op #{}", o.seq);
        assert_ne!(o.status, "FAILED", "nothing here is refused: {o:?}");
    }
    assert_eq!(d.next_device_seq, d.ops.len() as i64 + 1, "the device_seq counter moves with the ops");
    let sales: Vec<&DiskOp> = d.sales().collect();
    assert_eq!(d.next_receipt_no, sales.len() as i64 + 1, "the receipt counter moves with the sales");
    let receipts: BTreeSet<String> = sales.iter().map(|o| o.op.payload["receipt_no"].as_str().unwrap().to_string()).collect();
    let want: BTreeSet<String> = (1..=sales.len()).map(|n| format!("{}-{n}", d.code)).collect();
    assert_eq!(receipts, want, "receipt numbers are 1..n, each once");
    for s in &sales {
        let q = s.op.payload["lines"][0]["qty"].as_i64().unwrap();
        assert_eq!(s.op.payload["totals"]["total_cents"], json!(LATTE_CENTS * q));
        let mut stock = s.stock.clone().expect("a sale's stock deductions");
        stock.sort();
        let mut want = vec![(shop.beans, LATTE_BEANS * q), (shop.milk, LATTE_MILK * q)];
        want.sort();
        assert_eq!(stock, want, "stock_json of sale #{}", s.seq);
    }
    assert_eq!(d.cash_sales_cents, d.sales_total(), "local cash session = sum of the queued sales");
    assert_eq!(d.cash_sales_khr, d.sales_net("cash_khr", "khr"), "the same in riel");
    let mut pending: HashMap<Uuid, i64> = HashMap::new();
    for o in d.ops.iter().filter(|o| o.status == "PENDING") {
        for (item, q) in o.stock.iter().flatten() {
            *pending.entry(*item).or_default() += q;
        }
    }
    for item in [shop.beans, shop.milk] {
        let have = d.stock_pending.get(&item).copied().unwrap_or(0);
        assert_eq!(have, pending.get(&item).copied().unwrap_or(0), "local pending stock of {item}");
    }
}

/// The server's sales of the branch: every one is a queued sale, applied once.
async fn assert_server_has_exactly(shop: &Shop, d: &Disk, float_cents: i64, session: &str) {
    let sales = shop.sales().await;
    let server: BTreeSet<String> = sales.iter().map(|s| s["receipt_no"].as_str().unwrap().to_string()).collect();
    let queued: BTreeSet<String> = d.sales().map(|o| o.op.payload["receipt_no"].as_str().unwrap().to_string()).collect();
    assert_eq!(sales.len(), queued.len(), "one server sale per queued sale: {sales:?}");
    assert_eq!(server, queued);
    let total: i64 = sales.iter().map(|s| s["total_cents"].as_i64().unwrap()).sum();
    assert_eq!(total, d.sales_total());
    let lattes = d.lattes();
    assert_eq!(shop.on_hand(shop.beans).await, BEANS_START - LATTE_BEANS * lattes);
    assert_eq!(shop.on_hand(shop.milk).await, MILK_START - LATTE_MILK * lattes);
    let cs = shop.get(&format!("/v1/cash-sessions/{session}")).await;
    assert_eq!(cs["expected_cash_cents"], json!(float_cents + d.sales_total()), "{cs}");
    let devs = shop.get(&format!("/v1/sync/devices?branch_id={}", shop.branch)).await;
    let dev = &devs["devices"][0];
    assert_eq!(dev["last_device_seq"], json!(d.ops.len()), "{devs}");
    assert_eq!(dev["gaps"], json!([]), "{devs}");
}

/// Opens a cash drawer session online and waits until it is synced; returns its id.
async fn open_synced(term: &Term, float_cents: i64) -> String {
    let open = term.act("/api/cash-sessions/open", json!({"opening_float_cents": float_cents})).await;
    term.wait_for("open synced", 20, |s| s["pending"] == json!(0) && s["synced"] == json!(1)).await;
    open["cash_session"]["id"].as_str().unwrap().to_string()
}

/// `kill -9` right after an enqueue was answered while the link is cut: after restart the
/// op is still there, `PENDING`, with the same id and `device_seq`; the counters went on
/// (the next sale gets the next receipt number); after restore it is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_op_survives_kill9_and_syncs_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, mut term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let session = open_synced(&term, 5000).await;

    proxy.set(Mode::Cut);
    let sale = term.act("/api/sales", lattes(&shop, 2)).await;
    term.kill9();
    assert_eq!(sale["status"], json!("PENDING"), "{sale}");
    let id = sale["client_op_id"].as_str().unwrap().to_string();
    assert_eq!(sale["device_seq"], json!(2), "{sale}");

    let disk = read_disk(&term.data).await;
    assert_whole(&shop, &disk);
    assert_eq!(disk.ops.len(), 2);

    term.restart().await;
    let pending = term.ops("PENDING").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["client_op_id"], json!(id));
    assert_eq!(pending[0]["device_seq"], json!(2));
    assert_eq!(pending[0]["type"], json!("sale.finalize"));
    let st = term.status().await;
    assert_eq!((st["pending"].clone(), st["synced"].clone()), (json!(1), json!(1)), "{st}");
    assert_eq!(st["signed_in"]["staff_id"], json!(shop.cashier), "sign-in survives a restart: {st}");
    let (_, ctx) = term.get("/api/context").await;
    assert_eq!(ctx["cash_session"]["cash_sales_cents"], json!(600), "{ctx}");

    // The counters were durable with the op: the next sale follows it.
    let next = term.act("/api/sales", lattes(&shop, 1)).await;
    assert_eq!(next["device_seq"], json!(3), "{next}");
    assert_ne!(next["receipt"]["receipt_no"], sale["receipt"]["receipt_no"]);
    assert!(shop.sales().await.is_empty(), "nothing reached the server while cut");

    proxy.set(Mode::Up);
    let done = term.wait_for("drained", 30, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!((done["synced"].clone(), done["failed"].clone()), (json!(3), json!(0)), "{done}");
    let synced = term.ops("SYNCED").await;
    assert!(synced.iter().any(|o| o["client_op_id"] == json!(id)), "{synced:?}");

    // Another crash after the sync: nothing is sent twice.
    term.kill9();
    let disk = read_disk(&term.data).await;
    assert_whole(&shop, &disk);
    assert!(disk.ops.iter().all(|o| o.status == "SYNCED"), "{disk:?}");
    term.restart().await;
    term.ready().await;
    let st = term.status().await;
    assert_eq!((st["pending"].clone(), st["synced"].clone()), (json!(0), json!(3)), "{st}");
    assert_server_has_exactly(&shop, &disk, 5000, &session).await;
}

/// A sale request's outcome as the client saw it.
#[derive(Debug, Clone)]
struct Answered {
    id: String,
    seq: i64,
    receipt_no: String,
}

/// Posts sales one after another until the terminal stops answering. Returns whether
/// the last request went unanswered (it may or may not have been saved).
async fn fire(http: reqwest::Client, url: String, bodies: Vec<Value>, answered: Arc<Mutex<Vec<Answered>>>) -> bool {
    for body in bodies {
        let resp = match http.post(&url).json(&body).send().await {
            Ok(r) => r,
            Err(_) => return true,
        };
        let status = resp.status().as_u16();
        let Ok(v) = resp.json::<Value>().await else { return true };
        assert_eq!(status, 201, "an enqueue that answered must have saved the sale: {v}");
        answered.lock().unwrap().push(Answered {
            id: v["client_op_id"].as_str().unwrap().to_string(),
            seq: v["device_seq"].as_i64().unwrap(),
            receipt_no: v["receipt"]["receipt_no"].as_str().unwrap().to_string(),
        });
    }
    false
}

/// `kill -9` at random points of a stream of enqueues (seeded: link up or cut, one to
/// three concurrent clients, a kill 0–30 ms after the start or, mostly, after the first
/// answer): every answered op is in the queue, at
/// most the in-flight ones more, each whole; `device_seq` stays 1..n; the local cash
/// session equals the queued sales; after restore everything is applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_at_random_points_never_tears_the_queue() {
    let mut rng = StdRng::seed_from_u64(0x5eed_7e57);
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, proxy, mut term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let session = open_synced(&term, 2000).await;

    let mut answered_all: Vec<Answered> = Vec::new();
    let mut unanswered_all = 0usize;
    let mut warm_rounds = 0;
    for round in 0..12 {
        let mode = if rng.gen_bool(0.5) { Mode::Up } else { Mode::Cut };
        let clients = rng.gen_range(1..=3usize);
        let warm = rng.gen_bool(0.75);
        warm_rounds += warm as usize;
        let delay_ms = rng.gen_range(0..=30u64);
        proxy.set(mode);
        let answered = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let bodies = (0..200).map(|_| lattes(&shop, rng.gen_range(1..=3))).collect();
                let url = format!("{}/api/sales", term.base);
                tokio::spawn(fire(term.http.clone(), url, bodies, answered.clone()))
            })
            .collect();
        if warm {
            // Mostly kill mid-stream, not only before the first request lands.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while answered.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        term.kill9();
        let mut in_flight = 0;
        for t in tasks {
            in_flight += t.await.expect("client task") as usize;
        }
        let answered = answered.lock().unwrap().clone();

        let disk = read_disk(&term.data).await;
        assert_whole(&shop, &disk);
        let on_disk: HashMap<String, (i64, String)> = disk
            .sales()
            .map(|o| (o.id.to_string(), (o.seq, o.op.payload["receipt_no"].as_str().unwrap().to_string())))
            .collect();
        let before: BTreeSet<&str> = answered_all.iter().map(|a| a.id.as_str()).collect();
        for a in answered_all.iter().chain(&answered) {
            let got = on_disk.get(&a.id).unwrap_or_else(|| panic!("round {round}: answered op {a:?} is not in the queue"));
            assert_eq!(got, &(a.seq, a.receipt_no.clone()), "round {round}: {a:?}");
        }
        // Sales in the queue that no client heard about: earlier rounds' and this one's.
        let extra = disk.sales().count() as i64 - (before.len() + answered.len() + unanswered_all) as i64;
        assert!(extra >= 0, "round {round}: the queue lost ops");
        let extra = extra as usize;
        assert!(
            extra <= in_flight,
            "round {round}: {extra} unanswered ops in the queue but only {in_flight} requests were in flight"
        );
        eprintln!(
            "round {round}: link {mode:?}, {clients} clients, kill {delay_ms} ms after {}: {} answered, {extra} saved unanswered, {} queued",
            if warm { "the first answer" } else { "the start" },
            answered.len(),
            disk.ops.len()
        );
        unanswered_all += extra;
        answered_all.extend(answered);

        term.restart().await;
        let ops = term.ops("").await;
        let seqs: Vec<i64> = ops.iter().map(|o| o["device_seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=disk.ops.len() as i64).collect::<Vec<_>>(), "round {round}");
        let ids: BTreeSet<String> = ops.iter().map(|o| o["client_op_id"].as_str().unwrap().to_string()).collect();
        assert!(answered_all.iter().all(|a| ids.contains(&a.id)), "round {round}: /api/ops lost an answered op");
        let (_, ctx) = term.get("/api/context").await;
        assert_eq!(ctx["cash_session"]["cash_sales_cents"], json!(disk.sales_total()), "round {round}: {ctx}");
    }
    // Each warm round killed only after an answer: the loop did test something.
    assert!(answered_all.len() >= warm_rounds, "{} answered in {warm_rounds} warm rounds", answered_all.len());

    proxy.set(Mode::Up);
    let done = term.wait_for("drained", 40, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!(done["failed"], json!(0), "{done}");
    term.kill9();
    let disk = read_disk(&term.data).await;
    assert_whole(&shop, &disk);
    assert_eq!(done["synced"], json!(disk.ops.len()), "{done}");
    assert_server_has_exactly(&shop, &disk, 2000, &session).await;
}

/// A crash just after a keyed sale is durable and before its answer leaves (the
/// `enqueue-committed` failpoint aborts the process there): the retry with the same
/// `Idempotency-Key` after a restart answers that sale again and queues nothing, so one
/// checkout is one sale across a crash (SPEC §6, §7). Then it syncs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_sale_cut_off_by_a_crash_is_answered_again_not_sold_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, shop, _proxy, mut term, _device) = rig(dir.path(), &[]).await;
    term.sign_in(shop.cashier, CASHIER_PIN).await;
    let session = open_synced(&term, 5000).await;
    term.kill9();
    let mut crashing = Term::start_enrolled(&term.data, &["--failpoint", "enqueue-committed"]).await;
    let keyed = |t: &Term| {
        let req = t.http.post(format!("{}/api/sales", t.base)).header("idempotency-key", "checkout-7");
        req.json(&lattes(&shop, 2)).send()
    };
    let cut_off = keyed(&crashing).await;
    assert!(cut_off.is_err(), "the till died before answering: {cut_off:?}");
    crashing.kill9();
    let disk = read_disk(&term.data).await;
    assert_whole(&shop, &disk);
    assert_eq!(disk.ops.len(), 2, "the sale was durable before the crash: {disk:?}");
    let sold = disk.ops.iter().find(|o| o.op.op_type == "sale.finalize").expect("the sale is queued").id;

    let again = Term::start_enrolled(&term.data, &[]).await;
    let r = keyed(&again).await.expect("the till answers after the restart");
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(r.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["client_op_id"], json!(sold), "the same sale answered: {body}");
    let done = again.wait_for("drained", 30, |s| s["pending"] == json!(0) && s["online"] == json!(true)).await;
    assert_eq!((done["synced"].clone(), done["failed"].clone()), (json!(2), json!(0)), "one open, one sale: {done}");
    let disk = read_disk(&again.data).await;
    assert_eq!(disk.ops.len(), 2, "no second sale queued: {disk:?}");
    assert_server_has_exactly(&shop, &disk, 5000, &session).await;
}
