//! Dollars and riel on the wire (SPEC §3.1, §4, issue 21): a sale carries the rate the till
//! priced with (`fx`) and the change as given (`change`); the server judges the tender at
//! that rate, never refuses a paid sale for a newer one, and records the drift. Ops of the
//! first release (no `fx`, no `change`) keep their first meaning: recorded fixtures of every
//! op type replay on this server.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::fixtures::*;

#[tokio::test]
async fn a_paid_sale_is_never_refused_for_a_newer_rate() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    applied(&f.push(&[ops.open(f.cashier, s, 0)]).await[0]);
    // Offline at 4,100 ៛/$, an espresso ($2.50) paid with 10,300 ៛ (worth $2.51).
    let at_4100 = json!({"khr_per_usd": 4100, "khr_rounding": 100});
    let sale = edit(ops.sale(f.cashier, s, &[(f.espresso, 1, ESPRESSO_PRICE)], 0, 10_300), |p| {
        p["fx"] = at_4100.clone();
        p["change"] = json!({"usd_cents": 0, "khr": 0});
    });
    // The same sale as a first-release till would send it: no fx, judged at the rate now.
    let old = ops.sale(f.cashier, s, &[(f.espresso, 1, ESPRESSO_PRICE)], 0, 10_300);
    // Meanwhile the owner raises the rate to 4,200 (10,300 ៛ is then worth $2.45).
    f.app.put("/v1/policy", &f.owner_token, json!({"khr_per_usd": 4200})).await.ok(200);
    let res = f.push(&[sale.clone(), old]).await;
    let result = applied(&res[0]);
    assert_eq!(result["fx"], at_4100, "{result}");
    assert_eq!(result["fx_drift"], json!({"khr_per_usd": 100}), "{result}");
    assert_eq!(result["change"], json!({"usd_cents": 0, "khr": 0}));
    rejected(&res[1], "INSUFFICIENT_TENDER");
    // The drift is in the sale's audit event.
    let audit = f.app.get(&format!("/v1/audit?branch_id={}", f.branch), &f.owner_token).await;
    let event = audit.ok(200)["events"].as_array().unwrap().iter().find(|e| e["client_op_id"] == sale["client_op_id"]).cloned();
    assert_eq!(event.expect("the sale's event")["details"]["fx_drift"]["khr_per_usd"], 100);
    // A sale at today's rate has no drift to report.
    let today = edit(ops.sale(f.cashier, s, &[(f.espresso, 1, ESPRESSO_PRICE)], 300, 0), |p| {
        p["fx"] = json!({"khr_per_usd": 4200, "khr_rounding": 100});
    });
    assert_eq!(applied(&f.push(&[today]).await[0])["fx_drift"], json!({"khr_per_usd": 0}));
}

#[tokio::test]
async fn the_change_given_and_the_rate_are_checked() {
    let f = Fx::new().await;
    let mut ops = f.ops();
    let s = Uuid::now_v7();
    applied(&f.push(&[ops.open(f.cashier, s, 0)]).await[0]);
    let with = |ops: &mut OpBuilder, usd: i64, fx: Value, change: Value| {
        edit(ops.sale(f.cashier, s, &[(f.latte, 1, LATTE_PRICE)], usd, 0), |p| {
            p["fx"] = fx;
            p["change"] = change;
        })
    };
    let fx = json!({"khr_per_usd": 4100, "khr_rounding": 100});
    // $5 for a $3 latte: $2 owed. The default split, all in riel (8,200 ៛), and within a step.
    let good = [json!({"usd_cents": 200, "khr": 0}), json!({"usd_cents": 0, "khr": 8200}), json!({"usd_cents": 100, "khr": 4100})];
    for change in good {
        let op = with(&mut ops, 500, fx.clone(), change.clone());
        assert_eq!(applied(&f.push(&[op]).await[0])["change"], change);
    }
    let bad = [
        (json!({"khr_per_usd": 4100, "khr_rounding": 100}), json!({"usd_cents": 300, "khr": 0}), "change"),
        (json!({"khr_per_usd": 4100, "khr_rounding": 100}), json!({"usd_cents": 0, "khr": 8000}), "change"),
        (json!({"khr_per_usd": 4100, "khr_rounding": 7}), json!({"usd_cents": 200, "khr": 0}), "fx.khr_rounding"),
        (json!({"khr_per_usd": 0, "khr_rounding": 100}), json!({"usd_cents": 200, "khr": 0}), "fx.khr_per_usd"),
        (json!({"khr_per_usd": 4100, "khr_rounding": 100}), json!({"usd_cents": -200, "khr": 0}), "change.usd_cents"),
    ];
    for (fx, change, field) in bad {
        let op = with(&mut ops, 500, fx.clone(), change.clone());
        let res = f.push(&[op]).await;
        let msg = rejected(&res[0], "VALIDATION_FAILED");
        assert!(msg.contains(field), "{field}: {msg}");
    }
    // Only the good sales count, each with its tender in and its change out: $15 in,
    // $2 + $1 out; 8,200 ៛ + 4,100 ៛ out.
    let session = f.session(s).await;
    assert_eq!((session["expected_cash_cents"].clone(), session["expected_khr"].clone()), (json!(1200), json!(-12_300)), "{session}");
}

/// Ops recorded in the first release's shape (every op type; `first_release/ops.json`,
/// ids of the seeded shop filled in) replay on this server with their first meaning: the
/// drawer counts the sale's total in dollars, the riel tender judged at the current rate.
#[tokio::test]
async fn first_release_ops_of_every_type_still_apply() {
    let f = Fx::new().await;
    let recorded: Vec<Value> = serde_json::from_str(include_str!("first_release/ops.json")).unwrap();
    let mut ops = f.ops();
    let types: std::collections::BTreeSet<&str> = recorded.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types.len(), 6, "every op type of the first release: {types:?}");
    let text = serde_json::to_string(&recorded).unwrap().replace("{latte}", &f.latte.to_string()).replace("{cashier}", &f.cashier.to_string());
    let recorded: Vec<Value> = serde_json::from_str(&text).unwrap();
    let built: Vec<Value> = recorded.iter().map(|r| ops.raw(r["type"].as_str().unwrap(), f.cashier, r["payload"].clone())).collect();
    for (res, op) in f.push(&built).await.iter().zip(&built) {
        applied(res);
        assert!(op["payload"].get("fx").is_none() && op["payload"].get("change").is_none());
    }
    let session = f.session("0193a000-0000-7000-8000-000000000001".parse().unwrap()).await;
    assert_eq!(session["expected_cash_cents"], 1000 + 300 + 200 - 100, "{session}");
    assert_eq!(session["variance_cents"], 0, "{session}");
    assert_eq!(session["status"], "closed");
    // No riel float, no riel count: riel was not counted, the total is the dollar variance.
    for (field, want) in [("opening_float_khr", json!(0)), ("expected_khr", json!(0)), ("counted_khr", Value::Null),
                          ("variance_khr", Value::Null), ("variance_total_cents", json!(0))] {
        assert_eq!(session[field], want, "{field} in {session}");
    }
    // The riel-paid sale counts its total as dollars (its first meaning), no riel.
    assert_eq!((session["usd"]["tendered"].clone(), session["khr"]["tendered"].clone()), (json!(300), json!(0)), "{session}");
    let sales = f.sales().await;
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0]["total_cents"], 300);
}
