//! Closing the day (SPEC §5.6, issue 24): the sales history in pages and as CSV, the Z
//! report of a cash session and the daily report of a branch's local day; a branch's
//! address and time zone, the policy's `vat_tin` and `receipt_footer`.

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, TimeZone, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{Resp, TestApp};
use crate::fixtures::*;

const FX_4100: &str = r#"{"khr_per_usd": 4100, "khr_rounding": 100}"#;

/// `hh:mm` on `day` in Phnom Penh (UTC+7, no daylight saving), as UTC.
fn pp(day: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(hh, mm, 0).unwrap()) - Duration::hours(7)
}

/// The op, made to have happened at `at` (not hashed).
fn at(mut op: Value, at: DateTime<Utc>) -> Value {
    op["occurred_at"] = json!(at.to_rfc3339());
    op
}

/// A sale of one `item` at 4,100 ៛/$, with its tender and the change as given.
fn sale(ops: &mut OpBuilder, f: &Fx, s: Uuid, item: (Uuid, i64), tender: (i64, i64), change: (i64, i64)) -> Value {
    edit(ops.sale(f.cashier, s, &[(item.0, 1, item.1)], tender.0, tender.1), |p| {
        p["fx"] = serde_json::from_str(FX_4100).unwrap();
        p["change"] = json!({"usd_cents": change.0, "khr": change.1});
    })
}

/// The day under test: three days ago in Phnom Penh (the branch's default zone).
pub(crate) fn day_under_test() -> NaiveDate {
    (Utc::now() + Duration::hours(7)).date_naive() - Duration::days(3)
}

/// A day at the counter, all of it on `day` in Phnom Penh but the last sale:
/// - 08:00 the drawer opens with $20 + ៛40,000;
/// - a latte ($3) paid $5 with $2 back; an espresso ($2.50) paid ៛20,000 with ៛9,700
///   back; a latte paid $1 + ៛10,000 with ៛1,800 back; a muffin ($2) paid exactly, later
///   voided with its $2 refunded from this drawer;
/// - ៛8,000 paid out, $10 paid in;
/// - 23:30 an espresso paid exactly (still this day: 16:30 UTC);
/// - 00:30 the next day an espresso paid exactly (17:30 UTC: the same UTC date);
/// - the drawer is counted $0.50 and ៛4,100 short.
///
/// Returns the session id and the sale ops.
pub(crate) async fn a_day_at_the_counter(f: &Fx, day: NaiveDate) -> (Uuid, Vec<Value>) {
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    let open = ops.raw("cashSession.open", f.cashier, json!({"cash_session_id": s, "opening_float_cents": 2000, "opening_float_khr": 40_000}));
    let riel_out = ops.raw(
        "cashSession.movement",
        f.cashier,
        json!({"cash_session_id": s, "movement_id": Uuid::now_v7(), "kind": "paid_out", "amount_khr": 8000, "reason": "ice"}),
    );
    let sales = vec![
        at(sale(&mut ops, f, s, (f.latte, LATTE_PRICE), (500, 0), (200, 0)), pp(day, 9, 0)),
        at(sale(&mut ops, f, s, (f.espresso, ESPRESSO_PRICE), (0, 20_000), (0, 9_700)), pp(day, 9, 30)),
        at(sale(&mut ops, f, s, (f.latte, LATTE_PRICE), (100, 10_000), (0, 1_800)), pp(day, 10, 0)),
        at(sale(&mut ops, f, s, (f.muffin, MUFFIN_PRICE), (200, 0), (0, 0)), pp(day, 11, 0)),
        at(sale(&mut ops, f, s, (f.espresso, ESPRESSO_PRICE), (250, 0), (0, 0)), pp(day, 23, 30)),
        at(sale(&mut ops, f, s, (f.espresso, ESPRESSO_PRICE), (250, 0), (0, 0)), pp(day + Duration::days(1), 0, 30)),
    ];
    let mut all = vec![at(open, pp(day, 8, 0))];
    all.extend(sales[..4].iter().cloned());
    all.push(at(riel_out, pp(day, 12, 0)));
    all.push(at(ops.movement(f.cashier, s, "paid_in", 1000), pp(day, 12, 30)));
    all.extend(sales[4..].iter().cloned());
    for r in f.push(&all).await {
        applied(&r);
    }
    // The muffin is voided by the manager, its $2 paid back out of this drawer.
    let muffin = sales[3]["payload"]["sale_id"].as_str().unwrap();
    let token = f.app.login(f.tenant, f.manager).await;
    let body = json!({"tenant_id": f.tenant, "branch_id": f.branch, "actor_id": f.manager, "occurred_at": Utc::now(),
                      "payload": {"cash_session_id": s, "reason": "dropped", "refund": {"usd_cents": 200, "khr": 0}}});
    let req = f.app.client.post(format!("{}/v1/sales/{muffin}/void", f.app.base)).bearer_auth(&token).json(&body);
    let voided = TestApp::read(req.header("Idempotency-Key", Uuid::now_v7().to_string()).send().await.unwrap()).await;
    voided.ok(201);
    let close = ops.raw("cashSession.close", f.cashier, json!({"cash_session_id": s, "counted_cash_cents": 3850, "counted_khr": 46_400}));
    applied(&f.push(&[at(close, pp(day + Duration::days(1), 0, 45))]).await[0]);
    (s, sales)
}

/// The VAT of the sales among `ops` at `indexes`, as their tills priced it.
fn vat_of(ops: &[Value], indexes: &[usize]) -> i64 {
    indexes.iter().map(|&i| ops[i]["payload"]["totals"]["vat_cents"].as_i64().unwrap()).sum()
}

/// The session's drawer as the reports show it: every flow per currency.
fn the_drawer() -> Value {
    json!({
        "usd": {"float": 2000, "tendered": 1300, "change": 200, "paid_in": 1000, "paid_out": 0, "adjustments": 0,
                "refunds": 200, "expected": 3900, "counted": 3850, "variance": -50},
        "khr": {"float": 40_000, "tendered": 30_000, "change": 11_500, "paid_in": 0, "paid_out": 8000, "adjustments": 0,
                "refunds": 0, "expected": 50_500, "counted": 46_400, "variance": -4100},
    })
}

#[tokio::test]
async fn a_day_in_two_currencies_gives_its_z_and_daily_reports() {
    let f = Fx::new().await;
    let day = day_under_test();
    let (s, sales) = a_day_at_the_counter(&f, day).await;
    // The VAT of each price (10% included): latte 27, espresso 23.
    assert_eq!((vat_of(&sales, &[0]), vat_of(&sales, &[1])), (27, 23));

    let z = f.app.get(&format!("/v1/reports/z?cash_session_id={s}"), &f.owner_token).await;
    let z = z.ok(200);
    let want = json!({
        "sales_count": 5, "gross_cents": 1350, "vat_cents": vat_of(&sales, &[0, 1, 2, 4, 5]), "net_cents": 1350 - 123,
        "voids": {"count": 1, "total_cents": 200},
        "by_item": [
            {"menu_item_id": f.espresso, "name": "Espresso", "qty": 3, "total_cents": 750},
            {"menu_item_id": f.latte, "name": "Latte", "qty": 2, "total_cents": 600},
        ],
        "cash": the_drawer(),
        "variance_total_cents": -150,
    });
    assert_eq!(z, &want, "Z report");
    assert_eq!(z["vat_cents"], 123);

    // The local day: the 23:30 sale is on it, the 00:30 one is not, though both are on the
    // same UTC date.
    let daily = f.app.get(&format!("/v1/reports/daily?branch_id={}&date={day}", f.branch), &f.owner_token).await;
    let want = json!({
        "sales_count": 4, "gross_cents": 1100, "vat_cents": 100, "net_cents": 1000,
        "voids": {"count": 1, "total_cents": 200},
        "by_item": [
            {"menu_item_id": f.latte, "name": "Latte", "qty": 2, "total_cents": 600},
            {"menu_item_id": f.espresso, "name": "Espresso", "qty": 2, "total_cents": 500},
        ],
        "cash": the_drawer(),
        "variance_total_cents": -150,
    });
    assert_eq!(daily.ok(200), &want, "daily report of {day}");
    let next = day + Duration::days(1);
    let daily = f.app.get(&format!("/v1/reports/daily?branch_id={}&date={next}", f.branch), &f.owner_token).await;
    let zero = json!({"float": 0, "tendered": 0, "change": 0, "paid_in": 0, "paid_out": 0, "adjustments": 0, "refunds": 0,
                      "expected": 0, "counted": null, "variance": null});
    let want = json!({
        "sales_count": 1, "gross_cents": 250, "vat_cents": 23, "net_cents": 227, "voids": {"count": 0, "total_cents": 0},
        "by_item": [{"menu_item_id": f.espresso, "name": "Espresso", "qty": 1, "total_cents": 250}],
        "cash": {"usd": zero, "khr": zero}, "variance_total_cents": null,
    });
    assert_eq!(daily.ok(200), &want, "the next day: its sale, no drawer opened");

    // In UTC, both late sales fall on the same day.
    f.app.patch(&format!("/v1/branches/{}", f.branch), &f.owner_token, json!({"timezone": "UTC"})).await.ok(200);
    let daily = f.app.get(&format!("/v1/reports/daily?branch_id={}&date={day}", f.branch), &f.owner_token).await;
    assert_eq!((daily.ok(200)["sales_count"].clone(), daily.ok(200)["gross_cents"].clone()), (json!(5), json!(1350)));
}

#[tokio::test]
async fn reports_refuse_bad_input_and_the_wrong_caller() {
    let f = Fx::new().await;
    let day = day_under_test();
    let (s, _) = a_day_at_the_counter(&f, day).await;
    let daily = |q: String| format!("/v1/reports/daily?{q}");
    for (q, field) in [
        (format!("branch_id={}&date=2026-02-30", f.branch), "date"),
        (format!("branch_id={}&date=06-12-2026", f.branch), "date"),
        (format!("branch_id={}&date=", f.branch), "date"),
    ] {
        let r = f.app.get(&daily(q), &f.owner_token).await;
        assert_eq!(r.problem(400, "BAD_REQUEST")["field"], field, "{}", r.text);
    }
    // A parameter missing or not a UUID is a 400 naming it, on every report.
    for (path, field) in [
        (daily(format!("branch_id={}", f.branch)), "date"),
        (daily(format!("date={day}")), "branch_id"),
        (daily(format!("branch_id=nope&date={day}")), "branch_id"),
        ("/v1/reports/z".to_string(), "cash_session_id"),
        ("/v1/reports/z?cash_session_id=nope".to_string(), "cash_session_id"),
        ("/v1/sales".to_string(), "branch_id"),
        ("/v1/sales?branch_id=42&format=csv".to_string(), "branch_id"),
    ] {
        let r = f.app.get(&path, &f.owner_token).await;
        assert_eq!(r.problem(400, "BAD_REQUEST")["field"], field, "{path}: {}", r.text);
    }
    f.app.get(&format!("/v1/reports/z?cash_session_id={}", Uuid::now_v7()), &f.owner_token).await.problem(404, "NOT_FOUND");
    // A branch nobody has.
    let nowhere = Uuid::now_v7();
    f.app.get(&daily(format!("branch_id={nowhere}&date={day}")), &f.owner_token).await.problem(404, "NOT_FOUND");
    f.app.get(&format!("/v1/sales?branch_id={nowhere}"), &f.owner_token).await.problem(404, "NOT_FOUND");
    // A cashier's token (should one exist) reads none of it.
    let cashier = f.app.token_in_store(f.tenant, f.cashier).await;
    f.app.get(&format!("/v1/reports/z?cash_session_id={s}"), &cashier).await.problem(403, "FORBIDDEN");
    f.app.get(&daily(format!("branch_id={}&date={day}", f.branch)), &cashier).await.problem(403, "FORBIDDEN");
    f.app.get(&format!("/v1/sales?branch_id={}", f.branch), &cashier).await.problem(403, "FORBIDDEN");
    // Another tenant's owner: nothing of this tenant exists for them.
    let other = f.app.other_tenant("Elsewhere").await;
    f.app.get(&format!("/v1/reports/z?cash_session_id={s}"), &other.token).await.problem(404, "NOT_FOUND");
    f.app.get(&daily(format!("branch_id={}&date={day}", f.branch)), &other.token).await.problem(404, "NOT_FOUND");
    f.app.get(&format!("/v1/sales?branch_id={}", f.branch), &other.token).await.problem(404, "NOT_FOUND");
    // A manager of another branch, and another branch's till.
    let elsewhere = f.app.staff(&f.owner_token, "Boss Elsewhere", "manager", "9876", &[f.other_branch]).await;
    let elsewhere = f.app.login(f.tenant, elsewhere).await;
    let till = f.enroll(f.other_branch, "Other till").await;
    for token in [&elsewhere, &till.token] {
        f.app.get(&format!("/v1/reports/z?cash_session_id={s}"), token).await.problem(403, "FORBIDDEN");
        f.app.get(&daily(format!("branch_id={}&date={day}", f.branch)), token).await.problem(403, "FORBIDDEN");
        f.app.get(&format!("/v1/sales?branch_id={}", f.branch), token).await.problem(403, "FORBIDDEN");
        f.app.get(&format!("/v1/sales?branch_id={}&format=csv", f.branch), token).await.problem(403, "FORBIDDEN");
    }
    // The branch's own till and its manager may read them.
    f.app.get(&format!("/v1/reports/z?cash_session_id={s}"), &f.device_token).await.ok(200);
    let manager = f.app.login(f.tenant, f.manager).await;
    f.app.get(&daily(format!("branch_id={}&date={day}", f.branch)), &manager).await.ok(200);
    // No token at all.
    let r = f.app.call(reqwest::Method::GET, &format!("/v1/reports/z?cash_session_id={s}"), None, None).await;
    r.problem(401, "UNAUTHORIZED");
    // The listing's own limits.
    for (q, field) in [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"), ("limit=99999999999999999999", "limit"), ("cursor=s1.x.y", "cursor"), ("from=yesterday", "from"),
                       ("to=2026-13-01T00:00:00Z", "to")] {
        let r = f.app.get(&format!("/v1/sales?branch_id={}&{q}", f.branch), &f.owner_token).await;
        assert_eq!(r.problem(400, "BAD_REQUEST")["field"], field, "{q}: {}", r.text);
        // The same refusal as CSV: a problem, not a download.
        let r = f.app.get(&format!("/v1/sales?branch_id={}&format=csv&{q}", f.branch), &f.owner_token).await;
        assert_eq!(r.problem(400, "BAD_REQUEST")["field"], field, "csv {q}: {}", r.text);
    }
}

/// Every sale of the branch, page by page (`limit` rows each).
async fn all_pages(f: &Fx, query: &str, limit: usize) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let c = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let r = f.app.get(&format!("/v1/sales?branch_id={}&limit={limit}{query}{c}", f.branch), &f.owner_token).await;
        let page = r.ok(200);
        let got = page["sales"].as_array().unwrap();
        assert!(got.len() <= limit, "a page holds at most its limit");
        rows.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return rows,
        }
    }
    panic!("paging did not end");
}

/// `n` sales in session `s`, spread a minute apart back from `end`.
fn spread_sales(f: &Fx, ops: &mut OpBuilder, s: Uuid, n: usize, end: DateTime<Utc>) -> Vec<Value> {
    (0..n).map(|i| at(ops.sale(f.cashier, s, &[(f.muffin, 1, MUFFIN_PRICE)], 200, 0), end - Duration::minutes(i as i64))).collect()
}

#[tokio::test]
async fn paging_while_sales_arrive_yields_every_row_once() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    let end = (Utc::now() - Duration::hours(1)).trunc_subsecs(0);
    let mut first = vec![ops.open(f.cashier, s, 0)];
    first.extend(spread_sales(&f, &mut ops, s, 240, end));
    for chunk in first.chunks(100) {
        for r in f.push(chunk).await {
            applied(&r);
        }
    }
    let before: Vec<String> = first[1..].iter().map(|o| o["payload"]["sale_id"].as_str().unwrap().to_string()).collect();
    // A second till syncs sales made during the same hours while a reader pages.
    let second = f.enroll(f.branch, "Second").await;
    let mut ops2 = OpBuilder::new(f.tenant, f.branch, &second.code);
    let s2 = Uuid::now_v7();
    let mut late = vec![ops2.open(f.cashier, s2, 0)];
    late.extend(spread_sales(&f, &mut ops2, s2, 120, end + Duration::seconds(30)));
    let writer = {
        let (app, token, device) = (f.app.base.clone(), second.token.clone(), second.id);
        let client = f.app.client.clone();
        tokio::spawn(async move {
            for chunk in late.chunks(10) {
                let body = json!({"device_id": device, "operations": chunk});
                let r = client.post(format!("{app}/v1/sync/push")).bearer_auth(&token).json(&body).send().await.unwrap();
                assert!(r.status().is_success(), "push: {}", r.status());
                tokio::task::yield_now().await;
            }
        })
    };
    let paged = all_pages(&f, "", 17).await;
    writer.await.unwrap();
    let ids: Vec<String> = paged.iter().map(|r| r["sale_id"].as_str().unwrap().to_string()).collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no row twice");
    for id in &before {
        assert!(unique.contains(id), "sale {id} was there before paging began and must be read");
    }
    // Newest first by (occurred_at, id).
    let keys: Vec<(String, String)> =
        paged.iter().map(|r| (r["occurred_at"].as_str().unwrap().to_string(), r["sale_id"].as_str().unwrap().to_string())).collect();
    let times: Vec<DateTime<Utc>> = keys.iter().map(|(t, _)| t.parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // Once everything arrived, paging again reads all 360 once; a span reads its part.
    assert_eq!(all_pages(&f, "", 50).await.len(), 360);
    let from = (end - Duration::minutes(9)).to_rfc3339();
    let to = (end + Duration::seconds(1)).to_rfc3339();
    let span = format!("&from={}&to={}", urlenc(&from), urlenc(&to));
    // 10 sales of the first till in (end − 9 min … end], 10 of the second's by 30 s later.
    assert_eq!(all_pages(&f, &span, 7).await.len(), 10 + 9, "from is included, to excluded");
    // A sale exactly at `to` is outside the span (the first till's newest, at `end`).
    let span = format!("&from={}&to={}", urlenc(&from), urlenc(&end.to_rfc3339()));
    let rows = all_pages(&f, &span, 7).await;
    assert_eq!(rows.len(), 9 + 9, "to excluded");
    assert!(rows.iter().all(|r| r["occurred_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap() < end));
}

fn urlenc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn csv_streams_every_row_and_matches_the_json() {
    let f = Fx::new().await;
    let day = day_under_test();
    a_day_at_the_counter(&f, day).await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    let mut more = vec![ops.open(f.cashier, s, 0)];
    more.extend(spread_sales(&f, &mut ops, s, 1500, Utc::now() - Duration::hours(2)));
    for chunk in more.chunks(250) {
        for r in f.push(chunk).await {
            applied(&r);
        }
    }
    let json_rows = all_pages(&f, "", 1000).await;
    assert_eq!(json_rows.len(), 1506);
    for how in ["accept", "format"] {
        let url = format!("{}/v1/sales?branch_id={}", f.app.base, f.branch);
        let req = match how {
            "accept" => f.app.client.get(&url).header("Accept", "text/csv"),
            _ => f.app.client.get(format!("{url}&format=csv")),
        };
        let resp = req.bearer_auth(&f.owner_token).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/csv"), "{ct}");
        assert!(resp.headers().get("content-length").is_none(), "streamed, not buffered whole");
        let text = resp.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(header, ["sale_id", "receipt_no", "total_cents", "vat_cents", "price_drift_cents", "device_id", "actor_id",
                            "cash_session_id", "occurred_at", "applied_at", "voided"]);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), json_rows.len(), "{how}: every row");
        for (rec, row) in records.iter().zip(&json_rows) {
            for (i, name) in header.iter().enumerate() {
                let field = &rec[i];
                match &row[name] {
                    Value::String(s) if name.ends_with("_at") => {
                        let a: DateTime<Utc> = s.parse().unwrap();
                        let b: DateTime<Utc> = field.parse().unwrap();
                        assert_eq!(a, b, "{name}");
                    }
                    Value::String(s) => assert_eq!(field, s, "{name}"),
                    other => assert_eq!(field, other.to_string(), "{name}"),
                }
            }
        }
        assert_eq!(records.iter().filter(|r| &r[10] == "true").count(), 1, "the void is marked");
    }
    // A receipt number a forged till wrote like a formula is inert in the export.
    let formula = edit(ops.sale(f.cashier, s, &[(f.muffin, 1, MUFFIN_PRICE)], 200, 0), |p| {
        p["receipt_no"] = json!("=HYPERLINK(\"http://evil.example\")");
    });
    applied(&f.push(&[formula]).await[0]);
    let url = format!("{}/v1/sales?branch_id={}&format=csv", f.app.base, f.branch);
    let text = f.app.client.get(url).bearer_auth(&f.owner_token).send().await.unwrap().text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let forged: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).filter(|r| r[1].contains("HYPERLINK")).collect();
    assert_eq!(forged.len(), 1);
    assert_eq!(&forged[0][1], "'=HYPERLINK(\"http://evil.example\")", "starts with a quote, not =");
    // A span and the CSV agree too.
    let from = pp(day, 0, 0).to_rfc3339();
    let url = format!("{}/v1/sales?branch_id={}&format=csv&from={}", f.app.base, f.branch, urlenc(&from));
    let text = f.app.client.get(url).bearer_auth(&f.owner_token).send().await.unwrap().text().await.unwrap();
    assert_eq!(csv::Reader::from_reader(text.as_bytes()).records().count(), 1507);
    let to = pp(day, 10, 0).to_rfc3339();
    let url = format!("{}/v1/sales?branch_id={}&format=csv&to={}", f.app.base, f.branch, urlenc(&to));
    let text = f.app.client.get(url).bearer_auth(&f.owner_token).send().await.unwrap().text().await.unwrap();
    assert_eq!(csv::Reader::from_reader(text.as_bytes()).records().count(), 2, "the two sales before 10:00 that day");
}

#[tokio::test]
async fn a_branch_has_an_address_and_a_time_zone_and_the_policy_prints_on_receipts() {
    let f = Fx::new().await;
    let t = &f.owner_token;
    let r = f.app.post("/v1/branches", t, json!({"name": "Riverside", "address": "7 Sisowath Quay", "timezone": "Asia/Bangkok"})).await;
    let created = r.ok(201).clone();
    assert_eq!((created["address"].clone(), created["timezone"].clone()), (json!("7 Sisowath Quay"), json!("Asia/Bangkok")));
    let plain = f.app.post("/v1/branches", t, json!({"name": "Plain"})).await;
    assert_eq!((plain.ok(201)["address"].clone(), plain.ok(201)["timezone"].clone()), (json!(""), json!("Asia/Phnom_Penh")));
    for (body, field) in [
        (json!({"name": "X", "timezone": "Mars/Olympus"}), "timezone"),
        (json!({"name": "X", "address": "a".repeat(201)}), "address"),
        (json!({"name": "X", "address": "line\u{0007}bell"}), "address"),
    ] {
        let r = f.app.post("/v1/branches", t, body).await;
        assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], field, "{}", r.text);
    }
    let path = format!("/v1/branches/{}", f.branch);
    let r = f.app.patch(&path, t, json!({"address": "  41 Street 278, Phnom Penh ", "timezone": "Asia/Phnom_Penh"})).await;
    assert_eq!(r.ok(200)["address"], "41 Street 278, Phnom Penh", "trimmed");
    assert_eq!(r.ok(200)["name"], "Main", "unchanged fields stay");
    f.app.patch(&path, t, json!({"timezone": "Not/AZone"})).await.problem(422, "VALIDATION_FAILED");
    // Only a manager of that branch; another tenant does not see it.
    let elsewhere = f.app.staff(t, "Boss Elsewhere", "manager", "9876", &[f.other_branch]).await;
    let elsewhere = f.app.login(f.tenant, elsewhere).await;
    f.app.patch(&path, &elsewhere, json!({"address": "hijacked"})).await.problem(403, "FORBIDDEN");
    f.app.patch(&path, &f.device_token, json!({"address": "hijacked"})).await.problem(403, "FORBIDDEN");
    let other = f.app.other_tenant("Elsewhere").await;
    f.app.patch(&path, &other.token, json!({"address": "hijacked"})).await.problem(404, "NOT_FOUND");
    let manager = f.app.login(f.tenant, f.manager).await;
    f.app.patch(&path, &manager, json!({"name": "Main Street"})).await.ok(200);
    let listed = f.app.get("/v1/branches", t).await;
    let main = find(listed.ok(200)["branches"].as_array().unwrap(), "id", f.branch).clone();
    assert_eq!((main["name"].clone(), main["address"].clone()), (json!("Main Street"), json!("41 Street 278, Phnom Penh")));

    // The policy's receipt fields, checked and sent to the tills.
    f.app.put("/v1/policy", t, json!({"vat_tin": "K009-902104567", "receipt_footer": "Thank you!\nអរគុណ"})).await.ok(200);
    let r = f.app.put("/v1/policy", t, json!({"vat_tin": "x".repeat(41)})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "vat_tin");
    let r = f.app.put("/v1/policy", t, json!({"receipt_footer": "1\n2\n3\n4\n5"})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "receipt_footer");
    let pulled = f.app.get(&format!("/v1/sync/pull?branch_id={}&scopes=branch,policy", f.branch), &f.device_token).await;
    let changes = pulled.ok(200)["changes"].as_array().unwrap().clone();
    let branch = changes.iter().find(|c| c["scope"] == "branch").expect("the branch row");
    assert_eq!(branch["data"]["address"], "41 Street 278, Phnom Penh", "{branch}");
    assert_eq!(branch["data"]["timezone"], "Asia/Phnom_Penh");
    assert_eq!(branch["data"]["tenant_name"], "Tenant A", "a receipt's header names the shop");
    let policy = changes.iter().find(|c| c["scope"] == "policy").expect("the policy row");
    assert_eq!((policy["data"]["vat_tin"].clone(), policy["data"]["receipt_footer"].clone()),
               (json!("K009-902104567"), json!("Thank you!\nអរគុណ")));
    // The change is in the audit trail.
    let events = f.audit("1970-01-01T00:00:00Z").await;
    assert!(events.iter().any(|e| e["module"] == "branch" && e["action"] == "update"), "{events:?}");
}

#[tokio::test]
async fn the_listing_carries_vat_actor_and_void() {
    let f = Fx::new().await;
    let day = day_under_test();
    let (s, sales) = a_day_at_the_counter(&f, day).await;
    let rows = f.sales().await;
    assert_eq!(rows.len(), 6);
    let muffin = find(&rows, "sale_id", sales[3]["payload"]["sale_id"].as_str().unwrap());
    assert_eq!(muffin["voided"], true);
    assert_eq!(muffin["actor_id"], json!(f.cashier));
    assert_eq!(muffin["vat_cents"], 18);
    assert_eq!(muffin["cash_session_id"], json!(s));
    assert_eq!(rows.iter().filter(|r| r["voided"] == true).count(), 1);
    let first: Resp = f.app.get(&format!("/v1/sales?branch_id={}&limit=2", f.branch), &f.owner_token).await;
    assert_eq!(first.ok(200)["sales"].as_array().unwrap().len(), 2);
    assert!(first.ok(200)["next_cursor"].is_string());
    let last = f.app.get(&format!("/v1/sales?branch_id={}&limit=6", f.branch), &f.owner_token).await;
    assert!(last.ok(200)["next_cursor"].is_null(), "no cursor when nothing follows");
}
