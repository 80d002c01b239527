//! `POST /v1/sync/push` (spec §5.1) and the reads that show its effects: sales, cash
//! sessions, attendance, inventory, failures, devices and audit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::common::TestApp;
use crate::fixtures::*;

fn ts(v: &Value) -> DateTime<Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("not RFC 3339 {s:?}: {e}")).with_timezone(&Utc)
}

/// Does `v` hold, at any depth, `key` with value `want`?
fn has_key_value(v: &Value, key: &str, want: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, x)| (k == key && x == want) || has_key_value(x, key, want)),
        Value::Array(a) => a.iter().any(|x| has_key_value(x, key, want)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Applying each op type, and what the reads show
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_op_type_applies_with_its_business_effects() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = vec![
        ops.open(fx.cashier, s, 5000),
        // 2 × 300 + 250 = 850; paid with $10 → 150 cents change = 6,150 riel → 6,200.
        ops.sale(fx.cashier, s, &[(fx.latte, 2, LATTE_PRICE), (fx.espresso, 1, ESPRESSO_PRICE)], 1000, 0),
        ops.movement(fx.cashier, s, "paid_in", 500),
        ops.movement(fx.cashier, s, "paid_out", 300),
        ops.movement(fx.manager, s, "adjustment", -100),
        ops.start_work(fx.cashier, fx.cashier),
    ];
    let res = fx.push(&batch).await;
    for r in &res {
        applied(r);
    }
    let sale = applied(&res[1]);
    assert_eq!(sale["sale_id"], batch[1]["payload"]["sale_id"]);
    assert_eq!(sale["receipt_no"], format!("{}-1", fx.device_code));
    assert_eq!(sale["total_cents"], 850);
    assert_eq!(sale["change_cents"], 150);
    assert_eq!(sale["change_khr"], 6200);
    assert_eq!(sale["price_drift_cents"], 0);
    assert_eq!(sale["items_not_on_menu"], json!([]));

    // Stock: recipe qty × line qty.
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - 2 * LATTE_BEANS - ESPRESSO_BEANS);
    assert_eq!(fx.on_hand(fx.milk).await, MILK_STOCK - 2 * LATTE_MILK);

    // Cash: 5000 + 850 + 500 − 300 − 100.
    let cs = fx.session(s).await;
    assert_eq!(cs["id"], s.to_string());
    assert_eq!(cs["device_id"], fx.device.to_string());
    assert_eq!(cs["status"], "open");
    assert_eq!(cs["opening_float_cents"], 5000);
    assert_eq!(cs["expected_cash_cents"], 5950);
    assert_eq!(cs["counted_cash_cents"], Value::Null);
    assert_eq!(cs["variance_cents"], Value::Null);

    let sales = fx.sales().await;
    assert_eq!(sales.len(), 1, "{sales:?}");
    let row = find(&sales, "sale_id", pid(&batch[1], "sale_id"));
    assert_eq!(row["receipt_no"], format!("{}-1", fx.device_code));
    assert_eq!(row["total_cents"], 850);
    assert_eq!(row["price_drift_cents"], 0);
    assert_eq!(row["device_id"], fx.device.to_string());
    assert_eq!(ts(&row["occurred_at"]), ts(&batch[1]["occurred_at"]));
    ts(&row["applied_at"]);

    let shift = pid(&batch[5], "shift_id");
    let shifts = fx.shifts().await;
    assert_eq!(shifts.len(), 1, "{shifts:?}");
    let sh = find(&shifts, "shift_id", shift);
    assert_eq!(sh["staff_id"], fx.cashier.to_string());
    assert_eq!(sh["status"], "open");
    assert_eq!(ts(&sh["started_at"]), ts(&batch[5]["occurred_at"]));
    assert_eq!(sh["ended_at"], Value::Null);

    // End the shift and close the drawer with 50 cents too much.
    let batch2 = vec![ops.end_work(fx.cashier, fx.cashier, shift), ops.close(fx.cashier, s, 6000)];
    let res2 = fx.push(&batch2).await;
    applied(&res2[0]);
    applied(&res2[1]);
    let cs = fx.session(s).await;
    assert_eq!(cs["status"], "closed");
    assert_eq!(cs["expected_cash_cents"], 5950);
    assert_eq!(cs["counted_cash_cents"], 6000);
    assert_eq!(cs["variance_cents"], 50);
    let shifts = fx.shifts().await;
    let sh = find(&shifts, "shift_id", shift);
    assert_eq!(sh["status"], "closed");
    assert_eq!(ts(&sh["ended_at"]), ts(&batch2[0]["occurred_at"]));
}

// ---------------------------------------------------------------------------------------
// Rule 2: DUPLICATE and PAYLOAD_MISMATCH
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn duplicate_returns_the_stored_result_and_applies_nothing() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000);
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let short = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 100, 0);
    let res = fx.push(&[open.clone(), sale.clone(), short.clone()]).await;
    let open_result = applied(&res[0]);
    let sale_result = applied(&res[1]);
    rejected(&res[2], "INSUFFICIENT_TENDER");

    // The sale alone, then the whole batch again.
    let again = fx.push(std::slice::from_ref(&sale)).await;
    duplicate(&again[0], &sale_result);
    let again = fx.push(&[open.clone(), sale.clone(), short.clone()]).await;
    duplicate(&again[0], &open_result);
    duplicate(&again[1], &sale_result);
    rejected_replay(&again[2], "INSUFFICIENT_TENDER");

    // Any device of the tenant gets the same answer for the same client_op_id.
    let d2 = fx.enroll(fx.branch, "Back").await;
    let again = fx.push_as(&d2.token, d2.id, &[sale.clone(), short.clone()]).await;
    duplicate(&again[0], &sale_result);
    rejected_replay(&again[1], "INSUFFICIENT_TENDER");

    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - LATTE_BEANS);
    assert_eq!(fx.on_hand(fx.milk).await, MILK_STOCK - LATTE_MILK);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + LATTE_PRICE);
}

#[tokio::test]
async fn payload_mismatch_is_rejected_and_leaves_the_stored_op_untouched() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000);
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let short = ops.sale(fx.cashier, s, &[(fx.espresso, 1, ESPRESSO_PRICE)], 100, 0);
    let res = fx.push(&[open.clone(), sale.clone(), short.clone()]).await;
    applied(&res[0]);
    let sale_result = applied(&res[1]);
    rejected(&res[2], "INSUFFICIENT_TENDER");

    // Same ids, other payloads (validly hashed): a different receipt, two lattes, enough tender.
    let other_receipt = edit(sale.clone(), |p| p["receipt_no"] = json!("X-99"));
    let two_lattes = edit(sale.clone(), |p| {
        p["lines"][0]["qty"] = json!(2);
        p["totals"] = json!({"subtotal_cents": 600, "vat_cents": 55, "total_cents": 600});
        p["tender"]["cash_usd_cents"] = json!(1000);
    });
    let paid_now = edit(short.clone(), |p| p["tender"]["cash_usd_cents"] = json!(1000));
    // A different payload with a wrong hash too: rule 2 comes before rule 3.
    let mut bad_hash = edit(sale.clone(), |p| p["receipt_no"] = json!("X-100"));
    bad_hash["payload_hash"] = json!("0".repeat(64));
    // Another actor is another hash as well.
    let mut other_actor = sale.clone();
    other_actor["actor_id"] = json!(fx.cashier2);
    rehash(&mut other_actor);
    let res = fx.push(&[other_receipt, two_lattes, paid_now, bad_hash, other_actor]).await;
    for r in &res {
        rejected(r, "PAYLOAD_MISMATCH");
    }

    // The stored ops are as they were.
    let again = fx.push(&[sale.clone(), short.clone()]).await;
    duplicate(&again[0], &sale_result);
    rejected_replay(&again[1], "INSUFFICIENT_TENDER");
    let sales = fx.sales().await;
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(sales[0]["receipt_no"], sale["payload"]["receipt_no"]);
    assert_eq!(sales[0]["total_cents"], LATTE_PRICE);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - LATTE_BEANS);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + LATTE_PRICE);
}

// ---------------------------------------------------------------------------------------
// Rule 3: HASH_MISMATCH
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn hash_mismatch_is_rejected_and_only_hashed_fields_count() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    // Payload changed after hashing.
    let mut tampered = ops.open(fx.cashier, s, 1000);
    tampered["payload"]["opening_float_cents"] = json!(9000);
    // Actor changed after hashing.
    let mut other_actor = ops.open(fx.cashier, s, 1000);
    other_actor["actor_id"] = json!(fx.manager);
    // Type changed after hashing.
    let mut other_type = ops.start_work(fx.cashier, fx.cashier);
    other_type["type"] = json!("attendance.endWork");
    // Not hex at all, and a bad hash with a missing dependency: rule 3 before rule 4.
    let mut garbage = ops.start_work(fx.cashier, fx.cashier);
    garbage["payload_hash"] = json!("not-a-hash");
    let mut bad_and_missing = ops.start_work(fx.cashier, fx.cashier);
    bad_and_missing["payload_hash"] = json!("f".repeat(64));
    bad_and_missing["depends_on"] = json!([Uuid::now_v7()]);
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let res = fx.push(&[tampered, other_actor, other_type, garbage, bad_and_missing, sale]).await;
    for r in &res[..5] {
        rejected(r, "HASH_MISMATCH");
    }
    // Nothing was opened, nothing started.
    rejected(&res[5], "NO_OPEN_CASH_SESSION");
    assert_eq!(fx.shifts().await, Vec::<Value>::new());

    // occurred_at, device_seq and depends_on are not hashed.
    let s2 = Uuid::now_v7();
    let mut open = ops.open(fx.cashier, s2, 700);
    open["occurred_at"] = json!("2026-01-01T08:00:00Z");
    open["device_seq"] = json!(ops.seq + 100);
    let earlier = fx.push(&[ops.start_work(fx.cashier, fx.cashier)]).await;
    applied(&earlier[0]);
    open["depends_on"] = json!([earlier[0]["client_op_id"].clone()]);
    let res = fx.push(&[open]).await;
    applied(&res[0]);
    assert_eq!(fx.session(s2).await["opening_float_cents"], 700);
}

// ---------------------------------------------------------------------------------------
// Rule 4: dependencies
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn dependency_on_a_rejected_op_is_dependency_failed_now_and_later() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let bad_open = ops.open(fx.cashier, s, -1); // VALIDATION_FAILED
    let sale = depends(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), &[&bad_open]);
    let paid_in = depends(ops.movement(fx.cashier, s, "paid_in", 100), &[&sale]); // depends on a dependent
    let start = ops.start_work(fx.cashier, fx.cashier); // independent
    // Rule 4 comes before rule 5: an unknown actor depending on a rejected op.
    let stranger = depends(ops.start_work(Uuid::now_v7(), Uuid::now_v7()), &[&bad_open]);
    let res = fx.push(&[bad_open.clone(), sale, paid_in, start, stranger]).await;
    rejected(&res[0], "VALIDATION_FAILED");
    rejected(&res[1], "DEPENDENCY_FAILED");
    rejected(&res[2], "DEPENDENCY_FAILED");
    applied(&res[3]);
    rejected(&res[4], "DEPENDENCY_FAILED");

    // In a later push, the earlier rejection still fails its dependents.
    let close = depends(ops.close(fx.cashier, s, 0), &[&bad_open]);
    let res = fx.push(&[close]).await;
    rejected(&res[0], "DEPENDENCY_FAILED");
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK);
}

#[tokio::test]
async fn dependency_never_seen_is_dependency_missing() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000);
    let res = fx.push(std::slice::from_ref(&open)).await;
    applied(&res[0]);
    let mut unknown = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    unknown["depends_on"] = json!([Uuid::now_v7()]);
    // One dependency applied, one never seen.
    let mut one_of_two = ops.movement(fx.cashier, s, "paid_in", 100);
    one_of_two["depends_on"] = json!([op_id(&open), Uuid::now_v7()]);
    // Rule 4 comes before rule 5.
    let mut stranger = ops.movement(Uuid::now_v7(), s, "paid_in", 100);
    stranger["depends_on"] = json!([Uuid::now_v7()]);
    let res = fx.push(&[unknown, one_of_two, stranger]).await;
    for r in &res {
        rejected(r, "DEPENDENCY_MISSING");
    }
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000);
}

#[tokio::test]
async fn dependency_satisfied_earlier_in_the_batch_or_by_an_earlier_push() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000);
    let sale = depends(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), &[&open]);
    let res = fx.push(&[open.clone(), sale.clone()]).await;
    applied(&res[0]);
    applied(&res[1]);
    let paid_in = depends(ops.movement(fx.cashier, s, "paid_in", 100), &[&open, &sale]);
    let res = fx.push(&[paid_in]).await;
    applied(&res[0]);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + LATTE_PRICE + 100);
}

// ---------------------------------------------------------------------------------------
// Rule 5: FORBIDDEN
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn forbidden_unknown_actor_and_actor_of_another_branch() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let res = fx.push(&[ops.open(fx.cashier, s, 1000)]).await;
    applied(&res[0]);
    let nobody = Uuid::now_v7();
    let b = fx.app.other_tenant("Tenant B").await;
    let batch = vec![
        ops.sale(nobody, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.start_work(nobody, nobody),
        ops.sale(fx.other_cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.movement(fx.other_cashier, s, "paid_in", 100),
        ops.start_work(fx.other_cashier, fx.other_cashier),
        // Another tenant's owner is nobody here.
        ops.start_work(b.owner_id, b.owner_id),
        // Rule 5 comes before rule 7: an unknown actor with an invalid payload.
        ops.open(nobody, Uuid::now_v7(), -5),
        // An owner not assigned to the branch does not act on its devices either.
        ops.movement(fx.owner, s, "paid_in", 100),
    ];
    let res = fx.push(&batch).await;
    for r in &res[..8] {
        rejected(r, "FORBIDDEN");
    }
    // Assigned to it, the owner may.
    fx.app.patch(&format!("/v1/staff/{}", fx.owner), &fx.owner_token, json!({"branch_ids": [fx.branch]})).await.ok(200);
    applied(&fx.push(&[ops.movement(fx.owner, s, "paid_in", 100)]).await[0]);
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.shifts().await, Vec::<Value>::new());
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1100);
}

#[tokio::test]
async fn forbidden_cashier_adjustment_and_paid_out_above_the_limit() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = vec![
        ops.open(fx.cashier, s, 10_000),
        ops.movement(fx.cashier, s, "adjustment", 50),
        ops.movement(fx.cashier, s, "adjustment", -50),
        ops.movement(fx.cashier, s, "paid_out", 2001),
        ops.movement(fx.cashier, s, "paid_out", 2000), // at the limit: fine
        ops.movement(fx.manager, s, "adjustment", -75),
        ops.movement(fx.manager, s, "paid_out", 2500),
        ops.movement(fx.owner, s, "adjustment", 25),
    ];
    // The owner acts here as one assigned to the branch.
    fx.app.patch(&format!("/v1/staff/{}", fx.owner), &fx.owner_token, json!({"branch_ids": [fx.branch]})).await.ok(200);
    let res = fx.push(&batch).await;
    applied(&res[0]);
    let m = rejected(&res[1], "FORBIDDEN");
    assert!(!m.is_empty());
    rejected(&res[2], "FORBIDDEN");
    rejected(&res[3], "FORBIDDEN");
    for r in &res[4..] {
        applied(r);
    }
    // 10000 − 2000 − 75 − 2500 + 25
    assert_eq!(fx.session(s).await["expected_cash_cents"], 5450);

    // The limit is the branch's policy: raised, the same amount is fine for a cashier.
    let r = fx.app.put(&format!("/v1/branches/{}/policy", fx.branch), &fx.owner_token, json!({"paid_out_limit_cents": 3000})).await;
    r.ok(200);
    let res = fx.push(&[ops.movement(fx.cashier, s, "paid_out", 2500), ops.movement(fx.cashier, s, "paid_out", 3001)]).await;
    applied(&res[0]);
    rejected(&res[1], "FORBIDDEN");
    assert_eq!(fx.session(s).await["expected_cash_cents"], 2950);
}

#[tokio::test]
async fn forbidden_cashier_starting_or_ending_another_staff_members_shift() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let own = ops.start_work(fx.cashier2, fx.cashier2);
    let res = fx.push(std::slice::from_ref(&own)).await;
    applied(&res[0]);
    let shift = pid(&own, "shift_id");
    let batch = vec![
        ops.end_work(fx.cashier, fx.cashier2, shift),
        ops.start_work(fx.cashier, fx.manager),
        // A manager may do it for others.
        ops.start_work(fx.manager, fx.cashier),
        ops.end_work(fx.manager, fx.cashier2, shift),
    ];
    let res = fx.push(&batch).await;
    rejected(&res[0], "FORBIDDEN");
    rejected(&res[1], "FORBIDDEN");
    applied(&res[2]);
    applied(&res[3]);
    let shifts = fx.shifts().await;
    assert_eq!(shifts.len(), 2, "{shifts:?}");
    assert_eq!(find(&shifts, "shift_id", shift)["status"], "closed");
    let started = find(&shifts, "shift_id", pid(&batch[2], "shift_id"));
    assert_eq!(started["staff_id"], fx.cashier.to_string());
    assert_eq!(started["status"], "open");
    assert!(shifts.iter().all(|s| s["staff_id"] != fx.manager.to_string()));
}

#[tokio::test]
async fn forbidden_branch_or_tenant_other_than_the_tokens() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let b = fx.app.other_tenant("Tenant B").await;
    // The owner is assigned everywhere, so only the branch/tenant of the op is wrong.
    let mut other_branch = ops.start_work(fx.owner, fx.owner);
    other_branch["branch_id"] = json!(fx.other_branch);
    rehash(&mut other_branch);
    let mut random_branch = ops.start_work(fx.owner, fx.owner);
    random_branch["branch_id"] = json!(Uuid::now_v7());
    rehash(&mut random_branch);
    let mut other_tenant = ops.start_work(fx.owner, fx.owner);
    other_tenant["tenant_id"] = json!(b.tenant_id);
    rehash(&mut other_tenant);
    let mut other_tenant_owner = ops.start_work(b.owner_id, b.owner_id);
    other_tenant_owner["tenant_id"] = json!(b.tenant_id);
    rehash(&mut other_tenant_owner);
    let res = fx.push(&[other_branch, random_branch, other_tenant, other_tenant_owner]).await;
    for r in &res {
        rejected(r, "FORBIDDEN");
    }
    // A device of the Other branch pushing ops of Main.
    let d2 = fx.enroll(fx.other_branch, "Elsewhere").await;
    let mut ops2 = OpBuilder::new(fx.tenant, fx.branch, &d2.code);
    let res = fx.push_as(&d2.token, d2.id, &[ops2.start_work(fx.owner, fx.owner), ops2.open(fx.cashier, Uuid::now_v7(), 0)]).await;
    rejected(&res[0], "FORBIDDEN");
    rejected(&res[1], "FORBIDDEN");
    for branch in [fx.branch, fx.other_branch] {
        let r = fx.app.get(&format!("/v1/attendance?branch_id={branch}"), &fx.owner_token).await;
        assert_eq!(r.ok(200)["shifts"], json!([]), "no shift started anywhere");
    }
}

// ---------------------------------------------------------------------------------------
// Rule 6: BRANCH_FROZEN
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn frozen_branch_rejects_every_write_op_deterministically() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000);
    let start = ops.start_work(fx.cashier, fx.cashier);
    let res = fx.push(&[open.clone(), start.clone()]).await;
    let open_result = applied(&res[0]);
    applied(&res[1]);
    let shift = pid(&start, "shift_id");

    fx.freeze(true).await;
    let frozen = vec![
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.movement(fx.cashier, s, "paid_in", 100),
        ops.movement(fx.manager, s, "adjustment", -10),
        ops.end_work(fx.cashier, fx.cashier, shift),
        ops.start_work(fx.cashier2, fx.cashier2),
        ops.close(fx.cashier, s, 1000),
        ops.open(fx.cashier, Uuid::now_v7(), 0), // also before its prerequisite
        // Rule 6 comes before rule 7: an invalid payload.
        edit(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), |p| p["receipt_no"] = json!("")),
    ];
    // Rule 5 comes before rule 6; rule 2 before everything.
    let stranger = ops.start_work(Uuid::now_v7(), Uuid::now_v7());
    let mut batch = frozen.clone();
    batch.push(stranger.clone());
    batch.push(open.clone());
    let res = fx.push(&batch).await;
    for r in &res[..frozen.len()] {
        rejected(r, "BRANCH_FROZEN");
    }
    rejected(&res[frozen.len()], "FORBIDDEN");
    duplicate(&res[frozen.len() + 1], &open_result);

    // Still frozen: the same answer, replayed.
    let res = fx.push(&frozen).await;
    for r in &res {
        rejected_replay(r, "BRANCH_FROZEN");
    }
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK);
    let cs = fx.session(s).await;
    assert_eq!((cs["status"].clone(), cs["expected_cash_cents"].clone()), (json!("open"), json!(1000)));
    assert_eq!(find(&fx.shifts().await, "shift_id", shift)["status"], "open");

    // After unfreezing, the stored outcome stays; new ids apply.
    fx.freeze(false).await;
    let res = fx.push(&frozen).await;
    for r in &res {
        rejected_replay(r, "BRANCH_FROZEN");
    }
    let fresh = vec![
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.movement(fx.cashier, s, "paid_in", 100),
        ops.movement(fx.manager, s, "adjustment", -10),
        ops.end_work(fx.cashier, fx.cashier, shift),
        ops.start_work(fx.cashier2, fx.cashier2),
        ops.close(fx.cashier, s, 1390),
    ];
    let res = fx.push(&fresh).await;
    for r in &res {
        applied(r);
    }
    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - LATTE_BEANS);
    let cs = fx.session(s).await;
    assert_eq!(cs["status"], "closed");
    assert_eq!(cs["expected_cash_cents"], 1000 + LATTE_PRICE + 100 - 10);
    assert_eq!(cs["variance_cents"], 0);
}

// ---------------------------------------------------------------------------------------
// Rule 7: NOT_ALLOWED_OFFLINE, UNKNOWN_OP_TYPE, VALIDATION_FAILED
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn online_only_and_unknown_op_types_are_rejected() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let restock = ops.raw("inventory.restock", fx.manager, json!({"branch_id": fx.branch, "stock_item_id": fx.beans, "qty": 100}));
    let brew = ops.raw("coffee.brew", fx.cashier, json!({"cups": 1}));
    let wrong_case = ops.raw("Sale.Finalize", fx.cashier, json!({}));
    // Rule 5 comes before rule 7.
    let stranger = ops.raw("coffee.brew", Uuid::now_v7(), json!({}));
    let batch = vec![restock, brew, wrong_case, stranger];
    let res = fx.push(&batch).await;
    rejected(&res[0], "NOT_ALLOWED_OFFLINE");
    rejected(&res[1], "UNKNOWN_OP_TYPE");
    rejected(&res[2], "UNKNOWN_OP_TYPE");
    rejected(&res[3], "FORBIDDEN");
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK);
    // Stored: a retry gets the same answers.
    let res = fx.push(&batch).await;
    rejected_replay(&res[0], "NOT_ALLOWED_OFFLINE");
    rejected_replay(&res[1], "UNKNOWN_OP_TYPE");
    rejected_replay(&res[2], "UNKNOWN_OP_TYPE");
    rejected_replay(&res[3], "FORBIDDEN");
}

#[tokio::test]
async fn validation_failed_names_the_field() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let res = fx.push(&[ops.open(fx.cashier, s, 1000)]).await;
    applied(&res[0]);
    let sale = |ops: &mut OpBuilder| ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let zero_totals = json!({"subtotal_cents": 0, "vat_cents": 0, "total_cents": 0});
    let cases: Vec<(Value, &str)> = vec![
        (edit(sale(&mut ops), |p| p["totals"]["subtotal_cents"] = json!(301)), "totals.subtotal_cents"),
        (edit(sale(&mut ops), |p| p["totals"]["total_cents"] = json!(299)), "totals.total_cents"),
        (edit(sale(&mut ops), |p| { p["lines"][0]["qty"] = json!(0); p["totals"] = zero_totals.clone(); }), "lines[0].qty"),
        (edit(sale(&mut ops), |p| { p["lines"] = json!([]); p["totals"] = zero_totals.clone(); }), "lines"),
        (edit(sale(&mut ops), |p| { p.as_object_mut().unwrap().remove("tender"); }), "tender"),
        (edit(sale(&mut ops), |p| p["tender"]["cash_khr"] = json!(-1)), "tender.cash_khr"),
        (edit(sale(&mut ops), |p| p["receipt_no"] = json!("")), "receipt_no"),
        (edit(sale(&mut ops), |p| p["sale_id"] = json!("not-a-uuid")), "sale_id"),
        (ops.open(fx.cashier, Uuid::now_v7(), -1), "opening_float_cents"),
        (ops.movement(fx.cashier, s, "bribe", 100), "kind"),
        (ops.movement(fx.cashier, s, "paid_in", 0), "amount_cents"),
        (edit(ops.movement(fx.cashier, s, "paid_in", 100), |p| { p.as_object_mut().unwrap().remove("reason"); }), "reason"),
        (ops.close(fx.cashier, s, -5), "counted_cash_cents"),
        (edit(ops.start_work(fx.cashier, fx.cashier), |p| p["shift_id"] = json!("nope")), "shift_id"),
        (ops.raw("attendance.startWork", fx.cashier, json!(42)), "payload"),
    ];
    let batch: Vec<Value> = cases.iter().map(|(op, _)| op.clone()).collect();
    let res = fx.push(&batch).await;
    for ((_, field), r) in cases.iter().zip(&res) {
        let msg = rejected(r, "VALIDATION_FAILED");
        assert!(msg.contains(field), "the message names {field:?}: {msg:?}");
    }
    // Nothing of it was applied; validation comes before prerequisites (the session is
    // still open, so the close and the others never reached it).
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    let cs = fx.session(s).await;
    assert_eq!((cs["status"].clone(), cs["expected_cash_cents"].clone()), (json!("open"), json!(1000)));
    // Rule 7 comes before rule 8: an invalid sale on an unknown session.
    let bad = edit(ops.sale(fx.cashier, Uuid::now_v7(), &[(fx.latte, 1, LATTE_PRICE)], 100, 0), |p| p["receipt_no"] = json!(""));
    let res = fx.push(&[bad]).await;
    assert!(rejected(&res[0], "VALIDATION_FAILED").contains("receipt_no"));
}

/// Decision: with prices including VAT (default policy), totals must be total = subtotal
/// and vat = round(subtotal × 1000 / 11000).
#[tokio::test]
async fn totals_priced_under_a_stale_vat_policy_are_applied_but_inconsistent_totals_are_not() {
    // A device whose cached policy said "VAT added on top" charged 330 for a 300 latte.
    // The customer paid: SPEC §5.1 says such a sale is never refused for a stale cache,
    // so it is applied and the difference shows as drift. Totals that no VAT policy can
    // produce (subtotal not Σ lines, total neither subtotal nor subtotal + VAT) are refused.
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let res = fx.push(&[ops.open(fx.cashier, s, 0)]).await;
    applied(&res[0]);
    let added = edit(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), |p| {
        p["totals"] = json!({"subtotal_cents": 300, "vat_cents": 30, "total_cents": 330})
    });
    let bad_subtotal = edit(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), |p| {
        p["totals"] = json!({"subtotal_cents": 290, "vat_cents": 26, "total_cents": 290})
    });
    let bad_total = edit(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), |p| {
        p["totals"] = json!({"subtotal_cents": 300, "vat_cents": 27, "total_cents": 310})
    });
    let res = fx.push(&[added, bad_subtotal, bad_total]).await;
    assert_eq!(applied(&res[0])["price_drift_cents"], json!(-30), "{}", res[0]);
    assert!(rejected(&res[1], "VALIDATION_FAILED").contains("totals.subtotal_cents"), "{}", res[1]);
    assert!(rejected(&res[2], "VALIDATION_FAILED").contains("totals.total_cents"), "{}", res[2]);
    assert_eq!(fx.sales().await.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Rule 8: prerequisites
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn no_open_cash_session_for_unknown_or_another_devices_session() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let unknown = Uuid::now_v7();
    let d2 = fx.enroll(fx.branch, "Back").await;
    let mut ops2 = OpBuilder::new(fx.tenant, fx.branch, &d2.code);
    let theirs = Uuid::now_v7();
    let res = fx.push_as(&d2.token, d2.id, &[ops2.open(fx.cashier2, theirs, 2000)]).await;
    applied(&res[0]);
    let batch = vec![
        ops.sale(fx.cashier, unknown, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.movement(fx.cashier, unknown, "paid_in", 100),
        ops.close(fx.cashier, unknown, 0),
        ops.sale(fx.cashier, theirs, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.movement(fx.cashier, theirs, "paid_in", 100),
        ops.close(fx.cashier, theirs, 2000),
    ];
    let res = fx.push(&batch).await;
    for r in &res {
        rejected(r, "NO_OPEN_CASH_SESSION");
    }
    let cs = fx.session(theirs).await;
    assert_eq!(cs["device_id"], d2.id.to_string());
    assert_eq!((cs["status"].clone(), cs["expected_cash_cents"].clone()), (json!("open"), json!(2000)));
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK);
}

#[tokio::test]
async fn cash_session_closed_refuses_sales_movements_and_a_second_close() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let res = fx.push(&[ops.open(fx.cashier, s, 1000), ops.close(fx.cashier, s, 990)]).await;
    applied(&res[0]);
    applied(&res[1]);
    let batch = vec![
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.movement(fx.cashier, s, "paid_in", 100),
        ops.movement(fx.manager, s, "adjustment", 10),
        ops.close(fx.cashier, s, 1000),
    ];
    let res = fx.push(&batch).await;
    for r in &res {
        rejected(r, "CASH_SESSION_CLOSED");
    }
    let cs = fx.session(s).await;
    assert_eq!(cs["status"], "closed");
    assert_eq!(cs["expected_cash_cents"], 1000);
    assert_eq!(cs["counted_cash_cents"], 990);
    assert_eq!(cs["variance_cents"], -10);
    assert_eq!(fx.sales().await, Vec::<Value>::new());
}

#[tokio::test]
async fn cash_session_already_open_is_per_device() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let (s1, s2, s3, s4) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let res = fx.push(&[ops.open(fx.cashier, s1, 1000), ops.open(fx.cashier2, s2, 500)]).await;
    applied(&res[0]);
    rejected(&res[1], "CASH_SESSION_ALREADY_OPEN");
    // Another device may open its own.
    let d2 = fx.enroll(fx.branch, "Back").await;
    let mut ops2 = OpBuilder::new(fx.tenant, fx.branch, &d2.code);
    let res = fx.push_as(&d2.token, d2.id, &[ops2.open(fx.cashier2, s3, 300)]).await;
    applied(&res[0]);
    // After closing, this device may open again.
    let res = fx.push(&[ops.close(fx.cashier, s1, 1000), ops.open(fx.cashier, s4, 200)]).await;
    applied(&res[0]);
    applied(&res[1]);
    assert_eq!(fx.session(s1).await["status"], "closed");
    assert_eq!(fx.session(s3).await["status"], "open");
    let cs = fx.session(s4).await;
    assert_eq!((cs["status"].clone(), cs["opening_float_cents"].clone()), (json!("open"), json!(200)));
    // The refused open left no session behind: selling into it finds none.
    let res = fx.push(&[ops.sale(fx.cashier, s2, &[(fx.latte, 1, LATTE_PRICE)], 500, 0)]).await;
    rejected(&res[0], "NO_OPEN_CASH_SESSION");
}

#[tokio::test]
async fn shift_already_open_and_no_open_shift() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let first = ops.start_work(fx.cashier, fx.cashier);
    let sh1 = pid(&first, "shift_id");
    let second = ops.start_work(fx.cashier, fx.cashier);
    let sh2 = pid(&second, "shift_id");
    let other = ops.start_work(fx.cashier2, fx.cashier2);
    let res = fx.push(&[first, second, other]).await;
    applied(&res[0]);
    rejected(&res[1], "SHIFT_ALREADY_OPEN");
    applied(&res[2]);
    // One open shift per staff member, whatever the device.
    let d2 = fx.enroll(fx.branch, "Back").await;
    let mut ops2 = OpBuilder::new(fx.tenant, fx.branch, &d2.code);
    let res = fx.push_as(&d2.token, d2.id, &[ops2.start_work(fx.cashier, fx.cashier)]).await;
    rejected(&res[0], "SHIFT_ALREADY_OPEN");

    let batch = vec![
        ops.end_work(fx.cashier, fx.cashier, sh2),           // the refused shift
        ops.end_work(fx.cashier, fx.cashier, Uuid::now_v7()), // never started
        ops.end_work(fx.manager, fx.cashier2, sh1),          // cashier2's open shift is another
        ops.end_work(fx.manager, fx.manager, Uuid::now_v7()), // manager never started
        ops.end_work(fx.cashier, fx.cashier, sh1),           // right
        ops.end_work(fx.cashier, fx.cashier, sh1),           // again
        ops.start_work(fx.cashier, fx.cashier),              // a new shift after the end
    ];
    let res = fx.push(&batch).await;
    for r in &res[..4] {
        rejected(r, "NO_OPEN_SHIFT");
    }
    applied(&res[4]);
    rejected(&res[5], "NO_OPEN_SHIFT");
    applied(&res[6]);
    let shifts = fx.shifts().await;
    assert_eq!(shifts.len(), 3, "{shifts:?}");
    assert_eq!(find(&shifts, "shift_id", sh1)["status"], "closed");
    assert_eq!(find(&shifts, "shift_id", pid(&batch[6], "shift_id"))["status"], "open");
    assert!(shifts.iter().all(|s| s["shift_id"] != sh2.to_string()));
}

#[tokio::test]
async fn insufficient_tender_counts_riel_at_the_policy_rate() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let latte = [(fx.latte, 1, LATTE_PRICE)];
    let batch = vec![
        ops.open(fx.cashier, s, 1000),
        ops.sale(fx.cashier, s, &latte, 299, 0),
        ops.sale(fx.cashier, s, &latte, 250, 2050),  // 250 + 50 = 300
        ops.sale(fx.cashier, s, &latte, 0, 12_300),  // 300
        ops.sale(fx.cashier, s, &latte, 0, 12_299),  // floor(299.97) = 299
        ops.sale(fx.cashier, s, &latte, 0, 0),
    ];
    let res = fx.push(&batch).await;
    applied(&res[0]);
    rejected(&res[1], "INSUFFICIENT_TENDER");
    let r = applied(&res[2]);
    assert_eq!((r["change_cents"].clone(), r["change_khr"].clone()), (json!(0), json!(0)));
    applied(&res[3]);
    rejected(&res[4], "INSUFFICIENT_TENDER");
    rejected(&res[5], "INSUFFICIENT_TENDER");
    assert_eq!(fx.sales().await.len(), 2);
    // Expected cash counts the sale totals, not the riel tendered.
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + 2 * LATTE_PRICE);
    assert_eq!(fx.on_hand(fx.milk).await, MILK_STOCK - 2 * LATTE_MILK);
}

// ---------------------------------------------------------------------------------------
// Exactly once: repeats, concurrency, lost responses
// ---------------------------------------------------------------------------------------

/// A batch with every kind of effect, and what it must leave behind.
fn effect_batch(fx: &Fx, ops: &mut OpBuilder, s: Uuid) -> Vec<Value> {
    vec![
        ops.open(fx.cashier, s, 1000),
        ops.sale(fx.cashier, s, &[(fx.latte, 2, LATTE_PRICE)], 1000, 0),
        ops.sale(fx.cashier, s, &[(fx.espresso, 1, ESPRESSO_PRICE)], 0, 12_300), // 300 cents in riel
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 1, 0), // INSUFFICIENT_TENDER
        ops.movement(fx.cashier, s, "paid_in", 200),
        ops.start_work(fx.cashier, fx.cashier),
    ]
}

async fn assert_effect_batch_applied_once(fx: &Fx, s: Uuid) {
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - 2 * LATTE_BEANS - ESPRESSO_BEANS);
    assert_eq!(fx.on_hand(fx.milk).await, MILK_STOCK - 2 * LATTE_MILK);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + 2 * LATTE_PRICE + ESPRESSO_PRICE + 200);
    assert_eq!(fx.sales().await.len(), 2);
    assert_eq!(fx.shifts().await.len(), 1);
}

fn assert_effect_batch_first_answer(res: &[Value]) {
    for (i, r) in res.iter().enumerate() {
        if i == 3 {
            rejected(r, "INSUFFICIENT_TENDER");
        } else {
            applied(r);
        }
    }
}

#[tokio::test]
async fn same_batch_pushed_twice_is_applied_once() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = effect_batch(&fx, &mut ops, s);
    let first = fx.push(&batch).await;
    assert_effect_batch_first_answer(&first);
    let second = fx.push(&batch).await;
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        if i == 3 {
            rejected_replay(b, "INSUFFICIENT_TENDER");
        } else {
            duplicate(b, &a["result"]);
        }
    }
    assert_effect_batch_applied_once(&fx, s).await;
}

/// The push gate: with one place and no patience, a burst of pushes is partly answered
/// `503` with `Retry-After`, before anything of those is applied; what got in applied
/// each op once, and sending the refused ones again answers them as the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_push_lane_sheds_pushes_with_retry_after_and_applies_nothing_of_them() {
    let config = modula_server::state::ServerConfig {
        push_slots: 1,
        push_wait: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    let fx = Fx::on(TestApp::spawn_with(config).await).await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = effect_batch(&fx, &mut ops, s);
    let body = json!({"device_id": fx.device, "operations": batch});
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (client, url, token, body) = (fx.app.client.clone(), format!("{}/v1/sync/push", fx.app.base), fx.device_token.clone(), body.clone());
        tasks.push(tokio::spawn(async move { TestApp::read(client.post(url).bearer_auth(token).json(&body).send().await.expect("send")).await }));
    }
    let (mut shed, mut served) = (0, 0);
    for t in tasks {
        let r = t.await.expect("task");
        if r.status.as_u16() == 503 {
            r.problem(503, "SERVICE_UNAVAILABLE");
            assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "{}", r.text);
            shed += 1;
        } else {
            check_push(&r, &batch);
            served += 1;
        }
    }
    assert!(shed > 0 && served > 0, "{shed} shed, {served} served");
    let again = fx.push(&batch).await;
    assert!(again.iter().all(|r| r["replayed"] == json!(true)), "{again:?}");
    let applied_sales = batch.iter().zip(&again).filter(|(o, r)| o["type"] == "sale.finalize" && r["status"] == "DUPLICATE").count();
    assert!(applied_sales > 0);
    assert_eq!(fx.sales().await.len(), applied_sales, "each op applied once");
    let metrics = fx.app.call(reqwest::Method::GET, "/metrics", None, None).await;
    assert!(metrics.text.contains(&format!("modula_push_shed_total {shed}")), "{}", metrics.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_pushes_of_one_batch_apply_each_op_once() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = effect_batch(&fx, &mut ops, s);
    let body = json!({"device_id": fx.device, "operations": batch});
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = fx.app.client.clone();
        let url = format!("{}/v1/sync/push", fx.app.base);
        let token = fx.device_token.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            TestApp::read(client.post(url).bearer_auth(token).json(&body).send().await.expect("send")).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(check_push(&t.await.expect("task"), &batch));
    }
    for i in 0..batch.len() {
        let fresh: Vec<&Vec<Value>> = answers.iter().filter(|a| a[i].get("replayed").and_then(Value::as_bool) != Some(true)).collect();
        assert_eq!(fresh.len(), 1, "op {i} answered fresh exactly once: {:?}", answers.iter().map(|a| &a[i]).collect::<Vec<_>>());
        let first = &fresh[0][i];
        for a in &answers {
            if std::ptr::eq(a, fresh[0]) {
                continue;
            }
            if i == 3 {
                rejected_replay(&a[i], "INSUFFICIENT_TENDER");
            } else {
                duplicate(&a[i], &first["result"]);
            }
        }
        if i == 3 {
            rejected(first, "INSUFFICIENT_TENDER");
        } else {
            applied(first);
        }
    }
    assert_effect_batch_applied_once(&fx, s).await;
}

/// Sends a push over a raw socket and hangs up without reading the answer: with `None`
/// once the server starts answering, with `Some(d)` after `d` whatever the server is doing.
async fn push_and_hang_up(fx: &Fx, ops: &[Value], hang_up_after: Option<Duration>) {
    let addr = fx.app.base.trim_start_matches("http://").to_string();
    let body = serde_json::to_vec(&json!({"device_id": fx.device, "operations": ops})).unwrap();
    let head = format!(
        "POST /v1/sync/push HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        fx.device_token,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(&body).await.expect("write body");
    stream.flush().await.unwrap();
    match hang_up_after {
        None => {
            let mut first = [0u8; 1];
            tokio::time::timeout(Duration::from_secs(60), stream.read_exact(&mut first)).await.expect("answer in time").expect("read");
        }
        Some(d) => tokio::time::sleep(d).await,
    }
    drop(stream);
}

#[tokio::test]
async fn lost_response_then_retry_is_applied_once() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = effect_batch(&fx, &mut ops, s);
    // The server answered; the answer never reached the device.
    push_and_hang_up(&fx, &batch, None).await;
    let retry = fx.push(&batch).await;
    for (i, r) in retry.iter().enumerate() {
        if i == 3 {
            rejected_replay(r, "INSUFFICIENT_TENDER");
        } else {
            assert_eq!(r["status"], "DUPLICATE", "{r}");
            assert_eq!(r["replayed"], true, "{r}");
            assert!(r["result"].is_object(), "{r}");
        }
    }
    let sale = &retry[1]["result"];
    assert_eq!(sale["total_cents"], 2 * LATTE_PRICE);
    assert_eq!(sale["change_cents"], 1000 - 2 * LATTE_PRICE);
    // And again: the same stored answers.
    let again = fx.push(&batch).await;
    for i in [0, 1, 2, 4, 5] {
        duplicate(&again[i], &retry[i]["result"]);
    }
    assert_effect_batch_applied_once(&fx, s).await;
}

/// The device gives up while the server is still working on a long push (the server may
/// or may not have applied it); its retry is answered (not `503`: an abandoned push must
/// not leave the device or the database locked) and everything is applied once.
#[tokio::test]
async fn client_hanging_up_mid_push_then_retry_is_applied_once() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let mut batch = effect_batch(&fx, &mut ops, s);
    for _ in 0..400 {
        batch.push(ops.movement(fx.cashier, s, "paid_in", 1));
    }
    for wait_ms in [0, 50, 150] {
        push_and_hang_up(&fx, &batch, Some(Duration::from_millis(wait_ms))).await;
    }
    let started = std::time::Instant::now();
    let retry = fx.push(&batch).await;
    let took = started.elapsed();
    for (i, r) in retry.iter().enumerate() {
        if i == 3 {
            assert_eq!((r["status"].clone(), r["code"].clone()), (json!("REJECTED"), json!("INSUFFICIENT_TENDER")), "{r}");
        } else {
            let st = r["status"].as_str().unwrap_or("");
            assert!(st == "APPLIED" || st == "DUPLICATE", "op {i}: {r}");
            assert!(r["result"].is_object(), "{r}");
        }
    }
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - 2 * LATTE_BEANS - ESPRESSO_BEANS);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + 2 * LATTE_PRICE + ESPRESSO_PRICE + 200 + 400);
    assert_eq!(fx.sales().await.len(), 2);
    assert_eq!(fx.shifts().await.len(), 1);
    assert!(took < Duration::from_secs(8), "the retry waited {took:?} for an abandoned push");
}

/// Devices that hang up at every possible moment of a push (before, during and right
/// after the server opens its transaction) must not leave the database wedged: the
/// device's next push and an unrelated admin write still succeed, and nothing is applied
/// twice. (A transient 5xx may be retried, as a terminal would, a few times.)
#[tokio::test]
async fn abandoned_pushes_do_not_wedge_later_writes() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = effect_batch(&fx, &mut ops, s);
    let first = fx.push(&batch).await;
    assert_effect_batch_first_answer(&first);
    for round in 0..3u64 {
        for i in 0..200u64 {
            push_and_hang_up(&fx, &batch, Some(Duration::from_micros(i * 50 + round * 17))).await;
        }
    }
    let body = json!({"device_id": fx.device, "operations": batch});
    let mut seen = Vec::new();
    let mut answer = None;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let r = fx.push_raw(&fx.device_token, body.clone()).await;
        seen.push(format!("{} after {:?}", r.status, started.elapsed()));
        if r.status.is_server_error() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        answer = Some(r);
        break;
    }
    let r = answer.unwrap_or_else(|| panic!("the device's next push after abandoned pushes kept failing: {seen:?}"));
    let retry = check_push(&r, &batch);
    for (i, (a, b)) in first.iter().zip(&retry).enumerate() {
        if i == 3 {
            rejected_replay(b, "INSUFFICIENT_TENDER");
        } else {
            duplicate(b, &a["result"]);
        }
    }
    let restock = json!({"branch_id": fx.branch, "stock_item_id": fx.milk, "qty": 1});
    let r = fx.app.post("/v1/inventory/restock", &fx.owner_token, restock).await;
    assert_eq!(r.status.as_u16(), 200, "an admin write after abandoned pushes: {}", r.text);
    assert_eq!(fx.on_hand(fx.milk).await, MILK_STOCK - 2 * LATTE_MILK + 1);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - 2 * LATTE_BEANS - ESPRESSO_BEANS);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + 2 * LATTE_PRICE + ESPRESSO_PRICE + 200);
    assert_eq!(fx.sales().await.len(), 2);
}

// ---------------------------------------------------------------------------------------
// A rejection does not block; batch order
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_rejected_op_does_not_block_later_independent_ops() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let (bad, good) = (Uuid::now_v7(), Uuid::now_v7());
    let bad_open = ops.open(fx.cashier, bad, -1);
    let bad_sale = depends(ops.sale(fx.cashier, bad, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), &[&bad_open]);
    let start = ops.start_work(fx.cashier, fx.cashier);
    let good_open = ops.open(fx.cashier, good, 100);
    let good_sale = depends(ops.sale(fx.cashier, good, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), &[&good_open]);
    let res = fx.push(&[bad_open.clone(), bad_sale, start, good_open, good_sale]).await;
    assert_eq!(statuses(&res), ["REJECTED/VALIDATION_FAILED", "REJECTED/DEPENDENCY_FAILED", "APPLIED", "APPLIED", "APPLIED"]);
    rejected(&res[0], "VALIDATION_FAILED");
    rejected(&res[1], "DEPENDENCY_FAILED");
    // Later dependents of the rejected op fail too; independent ones still apply.
    let later = vec![
        depends(ops.movement(fx.cashier, bad, "paid_in", 100), &[&bad_open]),
        ops.movement(fx.cashier, good, "paid_in", 100),
    ];
    let res = fx.push(&later).await;
    rejected(&res[0], "DEPENDENCY_FAILED");
    applied(&res[1]);
    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(fx.session(good).await["expected_cash_cents"], 100 + LATTE_PRICE + 100);
}

#[tokio::test]
async fn ops_are_applied_in_device_seq_order_answered_in_request_order() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000); // seq 1
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0); // seq 2
    let res = fx.push(&[sale.clone(), open.clone()]).await;
    applied(&res[0]);
    applied(&res[1]);
    let start = ops.start_work(fx.cashier, fx.cashier); // seq 3
    let end = ops.end_work(fx.cashier, fx.cashier, pid(&start, "shift_id")); // seq 4
    let close = ops.close(fx.cashier, s, 1300); // seq 5
    let open2 = ops.open(fx.cashier, Uuid::now_v7(), 0); // seq 6: after the close
    let res = fx.push(&[open2, close, end, start]).await;
    for r in &res {
        applied(r);
    }
    let cs = fx.session(s).await;
    assert_eq!(cs["status"], "closed");
    assert_eq!(cs["variance_cents"], 0);
    assert_eq!(fx.shifts().await[0]["status"], "closed");
}

#[tokio::test]
async fn out_of_order_batch_with_depends_on_applies() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000); // seq 1
    let sale = depends(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), &[&open]); // seq 2
    let res = fx.push(&[sale, open]).await;
    applied(&res[0]);
    applied(&res[1]);
}

// ---------------------------------------------------------------------------------------
// Access revalidated now: revoked device, deactivated / demoted / moved staff
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn revoked_device_gets_401_and_nothing_is_applied() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.cashier, s, 1000);
    applied(&fx.push(std::slice::from_ref(&open)).await[0]);
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let r = fx.app.delete(&format!("/v1/devices/{}", fx.device), &fx.owner_token).await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    let r = fx.push_raw(&fx.device_token, json!({"device_id": fx.device, "operations": [sale, open]})).await;
    r.problem(401, "UNAUTHORIZED");
    assert_eq!(fx.sales().await, Vec::<Value>::new());
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK);
}

#[tokio::test]
async fn staff_deactivated_demoted_or_moved_while_offline_are_forbidden_on_replay() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let open = ops.open(fx.manager, s, 1000);
    let early_sale = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0);
    let res = fx.push(&[open, early_sale.clone()]).await;
    applied(&res[0]);
    let early_result = applied(&res[1]);

    // Queued while offline, before the changes below.
    let queued = vec![
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0), // 0: deactivated
        ops.start_work(fx.cashier, fx.cashier),                         // 1: deactivated
        ops.movement(fx.manager, s, "adjustment", 50),                  // 2: demoted
        ops.movement(fx.manager, s, "paid_out", 2500),                  // 3: demoted
        ops.movement(fx.manager, s, "paid_in", 100),                    // 4: demoted, still allowed
        ops.sale(fx.cashier2, s, &[(fx.espresso, 1, ESPRESSO_PRICE)], 500, 0), // 5: moved
        ops.start_work(fx.cashier2, fx.cashier2),                       // 6: moved
    ];
    let t = &fx.owner_token;
    fx.app.patch(&format!("/v1/staff/{}", fx.cashier), t, json!({"active": false})).await.ok(200);
    fx.app.patch(&format!("/v1/staff/{}", fx.manager), t, json!({"role": "cashier"})).await.ok(200);
    fx.app.patch(&format!("/v1/staff/{}", fx.cashier2), t, json!({"branch_ids": [fx.other_branch]})).await.ok(200);

    let mut batch = vec![early_sale];
    batch.extend(queued);
    let res = fx.push(&batch).await;
    // Already applied: its stored answer (rule 2 before rule 5).
    duplicate(&res[0], &early_result);
    for i in [1, 2, 3, 4, 6, 7] {
        rejected(&res[i], "FORBIDDEN");
    }
    applied(&res[5]);
    assert_eq!(fx.sales().await.len(), 1);
    assert_eq!(fx.shifts().await, Vec::<Value>::new());
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + LATTE_PRICE + 100);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - LATTE_BEANS);
}

// ---------------------------------------------------------------------------------------
// Stale cache: price drift and items no longer on the menu
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn stale_price_sale_is_applied_with_price_drift() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let since = now();
    let open = ops.open(fx.cashier, s, 0);
    // Priced from the cache: 2 × 300 + 250 = 850.
    let sale = ops.sale(fx.cashier, s, &[(fx.latte, 2, LATTE_PRICE), (fx.espresso, 1, ESPRESSO_PRICE)], 1000, 0);
    // Meanwhile: latte up to 350, espresso down to 200 → now 900, drift +50.
    fx.put_menu(fx.latte, "Latte", 350, json!([{"stock_item_id": fx.beans, "qty": LATTE_BEANS}, {"stock_item_id": fx.milk, "qty": LATTE_MILK}])).await;
    fx.put_menu(fx.espresso, "Espresso", 200, json!([{"stock_item_id": fx.beans, "qty": ESPRESSO_BEANS}])).await;
    let res = fx.push(&[open, sale.clone()]).await;
    let r = applied(&res[1]);
    assert_eq!(r["total_cents"], 850, "charged prices are kept");
    assert_eq!(r["change_cents"], 150);
    assert_eq!(r["price_drift_cents"], 50);
    assert_eq!(r["items_not_on_menu"], json!([]));
    let sales = fx.sales().await;
    let row = find(&sales, "sale_id", pid(&sale, "sale_id"));
    assert_eq!((row["total_cents"].clone(), row["price_drift_cents"].clone()), (json!(850), json!(50)));
    assert_eq!(fx.session(s).await["expected_cash_cents"], 850);
    assert_eq!(fx.on_hand(fx.beans).await, BEANS_STOCK - 2 * LATTE_BEANS - ESPRESSO_BEANS);
    // The audit event records the drift too.
    let events = fx.audit(&since).await;
    let ev = find(&events, "client_op_id", op_id(&sale));
    assert!(has_key_value(&ev["details"], "price_drift_cents", &json!(50)), "drift in the audit details: {ev}");
}

#[tokio::test]
async fn sale_of_deleted_or_unknown_menu_item_is_applied_and_flagged() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let since = now();
    let open = ops.open(fx.cashier, s, 0);
    let sale = ops.sale(fx.cashier, s, &[(fx.muffin, 1, MUFFIN_PRICE), (fx.latte, 1, LATTE_PRICE)], 500, 0);
    let ghost = Uuid::now_v7();
    let ghost_sale = ops.sale(fx.cashier, s, &[(ghost, 1, 100)], 100, 0);
    let r = fx.app.delete(&format!("/v1/menu/items/{}", fx.muffin), &fx.owner_token).await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    let res = fx.push(&[open, sale.clone(), ghost_sale]).await;
    let r = applied(&res[1]);
    assert_eq!(r["total_cents"], MUFFIN_PRICE + LATTE_PRICE);
    assert_eq!(r["items_not_on_menu"], json!([fx.muffin]));
    let r = applied(&res[2]);
    assert_eq!(r["total_cents"], 100);
    assert_eq!(r["items_not_on_menu"], json!([ghost]));
    assert_eq!(fx.sales().await.len(), 2);
    assert_eq!(fx.session(s).await["expected_cash_cents"], MUFFIN_PRICE + LATTE_PRICE + 100);
    // The latte line still takes its stock.
    assert_eq!(fx.on_hand(fx.milk).await, MILK_STOCK - LATTE_MILK);
    let events = fx.audit(&since).await;
    let ev = find(&events, "client_op_id", op_id(&sale));
    assert!(ev["details"].to_string().contains(&fx.muffin.to_string()), "deleted item in the audit details: {ev}");
}

// ---------------------------------------------------------------------------------------
// Manager reports: failures, devices, audit
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn failures_report_lists_every_rejected_op_once() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let nobody = Uuid::now_v7();
    let mut bad_hash = ops.start_work(fx.cashier, fx.cashier);
    bad_hash["payload_hash"] = json!("0".repeat(64));
    let batch = vec![
        ops.open(fx.cashier, s, 1000),
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 10, 0),
        bad_hash,
        ops.start_work(nobody, nobody),
        ops.raw("coffee.brew", fx.cashier, json!({})),
        ops.movement(fx.cashier, s, "paid_in", 0),
        ops.end_work(fx.cashier, fx.cashier, Uuid::now_v7()),
    ];
    let res = fx.push(&batch).await;
    applied(&res[0]);
    let codes = ["INSUFFICIENT_TENDER", "HASH_MISMATCH", "FORBIDDEN", "UNKNOWN_OP_TYPE", "VALIDATION_FAILED", "NO_OPEN_SHIFT"];
    for (r, code) in res[1..].iter().zip(codes) {
        rejected(r, code);
    }
    // A second device's rejection shows as well.
    let d2 = fx.enroll(fx.branch, "Back").await;
    let mut ops2 = OpBuilder::new(fx.tenant, fx.branch, &d2.code);
    let other = ops2.close(fx.cashier, Uuid::now_v7(), 0);
    rejected(&fx.push_as(&d2.token, d2.id, std::slice::from_ref(&other)).await[0], "NO_OPEN_CASH_SESSION");
    // Replays add nothing.
    fx.push(&batch).await;

    let failures = fx.failures().await;
    assert_eq!(failures.len(), 7, "{failures:?}");
    for (op, code) in batch[1..].iter().zip(codes) {
        let f = find(&failures, "client_op_id", op_id(op));
        assert_eq!(f["device_id"], fx.device.to_string());
        assert_eq!(f["actor_id"], op["actor_id"]);
        assert_eq!(f["type"], op["type"]);
        assert_eq!(f["code"], code);
        assert!(!f["message"].as_str().unwrap_or("").is_empty(), "{f}");
        assert_eq!(ts(&f["occurred_at"]), ts(&op["occurred_at"]));
        ts(&f["recorded_at"]);
    }
    let f = find(&failures, "client_op_id", op_id(&other));
    assert_eq!(f["device_id"], d2.id.to_string());
    assert_eq!(f["code"], "NO_OPEN_CASH_SESSION");
    // Another branch's report is empty.
    let r = fx.app.get(&format!("/v1/sync/failures?branch_id={}", fx.other_branch), &fx.owner_token).await;
    assert_eq!(r.ok(200)["failures"], json!([]));
}

#[tokio::test]
async fn devices_report_shows_last_seq_and_gaps() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let d2 = fx.enroll(fx.branch, "Back").await;
    let op1 = ops.open(fx.cashier, s, 0);
    let op2 = ops.start_work(fx.cashier, fx.cashier);
    let op3 = ops.movement(fx.cashier, s, "paid_in", 100);
    let op4 = ops.movement(fx.cashier, s, "paid_in", 100);
    let op5 = ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 10, 0); // rejected, still seen
    assert_eq!(op5["device_seq"], 5);
    let before = Utc::now();
    fx.push(&[op1, op2, op5]).await;
    let devices = fx.devices().await;
    let d = find(&devices, "device_id", fx.device);
    assert_eq!(d["name"], "Counter");
    assert_eq!(d["last_device_seq"], 5);
    assert_eq!(d["gaps"], json!([[3, 4]]));
    assert!(ts(&d["last_seen_at"]) >= before - chrono::Duration::seconds(1), "{d}");
    // A device that never pushed.
    let never = find(&devices, "device_id", d2.id);
    assert_eq!(never["gaps"], json!([]));
    assert!(never["last_device_seq"] == 0 || never["last_device_seq"].is_null(), "{never}");

    fx.push(&[op3]).await;
    let devices = fx.devices().await;
    assert_eq!(find(&devices, "device_id", fx.device)["gaps"], json!([[4, 4]]));
    fx.push(&[op4]).await;
    let devices = fx.devices().await;
    let d = find(&devices, "device_id", fx.device);
    assert_eq!(d["gaps"], json!([]));
    assert_eq!(d["last_device_seq"], 5);
    assert_eq!(fx.session(s).await["expected_cash_cents"], 200);

    // Skipping 6..9, then 10..11 and 14.
    ops.seq = 9;
    let a = ops.movement(fx.cashier, s, "paid_in", 1);
    let b = ops.movement(fx.cashier, s, "paid_in", 1);
    ops.seq = 13;
    let c = ops.movement(fx.cashier, s, "paid_in", 1);
    fx.push(&[c, a, b]).await;
    let devices = fx.devices().await;
    let d = find(&devices, "device_id", fx.device);
    assert_eq!(d["last_device_seq"], 14);
    assert_eq!(d["gaps"], json!([[6, 9], [12, 13]]));
}

#[tokio::test]
async fn audit_has_one_offline_event_per_applied_op() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let t0 = now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let first = vec![
        ops.open(fx.cashier, s, 1000),
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.movement(fx.manager, s, "adjustment", 5),
        ops.start_work(fx.cashier, fx.cashier),
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 1, 0), // rejected
    ];
    let res = fx.push(&first).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t1 = now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = vec![ops.end_work(fx.cashier, fx.cashier, pid(&first[3], "shift_id")), ops.close(fx.cashier, s, 1305)];
    let res2 = fx.push(&second).await;
    let applied_ops: Vec<(&Value, &Value)> = first.iter().zip(&res).chain(second.iter().zip(&res2)).filter(|(_, r)| r["status"] == "APPLIED").collect();
    assert_eq!(applied_ops.len(), 6, "{:?} {:?}", statuses(&res), statuses(&res2));

    let events = fx.audit(&t0).await;
    for (op, _) in &applied_ops {
        let ev = find(&events, "client_op_id", op_id(op));
        assert_eq!(ev["lane"], "offline", "{ev}");
        assert_eq!(ev["device_id"], fx.device.to_string());
        assert_eq!(ev["actor_id"], op["actor_id"]);
        assert!(!ev["module"].as_str().unwrap_or("").is_empty(), "{ev}");
        assert!(!ev["action"].as_str().unwrap_or("").is_empty(), "{ev}");
        assert_eq!(ts(&ev["occurred_at"]), ts(&op["occurred_at"]));
        ts(&ev["applied_at"]);
    }
    // No event claims the rejected sale was applied.
    assert!(events.iter().all(|e| e["client_op_id"] != first[4]["client_op_id"] || e["lane"] != "offline" || e["action"].as_str().is_none_or(|a| a.contains("reject"))));
    let offline = |evs: &[Value]| evs.iter().filter(|e| e["lane"] == "offline").count();
    let n = offline(&events);

    // Replays write no new events.
    fx.push(&first).await;
    fx.push(&second).await;
    assert_eq!(offline(&fx.audit(&t0).await), n);

    // `since` filters.
    let later = fx.audit(&t1).await;
    for op in &second {
        find(&later, "client_op_id", op_id(op));
    }
    for op in &first {
        assert!(later.iter().all(|e| e["client_op_id"] != op["client_op_id"]), "{op} is before {t1}");
    }
}

// ---------------------------------------------------------------------------------------
// Whole-request errors and who may push and read
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn push_needs_a_device_token_of_the_same_device() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let op = ops.start_work(fx.cashier, fx.cashier);
    let body = json!({"device_id": fx.device, "operations": [op.clone()]});
    // A staff token (owner, cashier): 403.
    fx.push_raw(&fx.owner_token, body.clone()).await.problem(403, "FORBIDDEN");
    let cashier_token = fx.app.token_in_store(fx.tenant, fx.cashier).await;
    fx.push_raw(&cashier_token, body.clone()).await.problem(403, "FORBIDDEN");
    // No token, a made-up token: 401.
    fx.app.call(reqwest::Method::POST, "/v1/sync/push", None, Some(body.clone())).await.problem(401, "UNAUTHORIZED");
    fx.push_raw("not-a-token", body.clone()).await.problem(401, "UNAUTHORIZED");
    // Another device's id in the body: 403.
    let d2 = fx.enroll(fx.branch, "Back").await;
    fx.push_raw(&d2.token, body.clone()).await.problem(403, "FORBIDDEN");
    fx.push_raw(&fx.device_token, json!({"device_id": d2.id, "operations": [op.clone()]})).await.problem(403, "FORBIDDEN");
    fx.push_raw(&fx.device_token, json!({"device_id": Uuid::now_v7(), "operations": [op.clone()]})).await.problem(403, "FORBIDDEN");
    // None of those applied it.
    applied(&fx.push(&[op]).await[0]);
}

#[tokio::test]
async fn too_many_ops_or_too_large_a_body_is_413() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let mut batch = vec![ops.open(fx.cashier, s, 1000)];
    for _ in 0..500 {
        batch.push(ops.movement(fx.cashier, s, "paid_in", 1));
    }
    assert_eq!(batch.len(), 501);
    let r = fx.push_raw(&fx.device_token, json!({"device_id": fx.device, "operations": batch})).await;
    r.problem(413, "PAYLOAD_TOO_LARGE");
    // 4 MiB of body in a single op.
    let huge = edit(ops.movement(fx.cashier, s, "paid_in", 1), |p| p["reason"] = json!("x".repeat(4 * 1024 * 1024 + 1)));
    let r = fx.push_raw(&fx.device_token, json!({"device_id": fx.device, "operations": [huge]})).await;
    r.problem(413, "PAYLOAD_TOO_LARGE");
    // Exactly 500 is fine, and nothing of the refused push had been applied.
    batch.truncate(500);
    let res = fx.push(&batch).await;
    for r in &res {
        applied(r);
    }
    assert_eq!(fx.session(s).await["expected_cash_cents"], 1000 + 499);
}

#[tokio::test]
async fn malformed_json_or_missing_fields_are_400() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let good = ops.start_work(fx.cashier, fx.cashier);
    let url = format!("{}/v1/sync/push", fx.app.base);
    let raw = |body: &'static str| {
        fx.app.client.post(&url).bearer_auth(&fx.device_token).header("content-type", "application/json").body(body).send()
    };
    TestApp::read(raw("{\"device_id\": ").await.unwrap()).await.problem(400, "BAD_REQUEST");
    TestApp::read(raw("[1,2]").await.unwrap()).await.problem(400, "BAD_REQUEST");
    let mut without = |field: &str| {
        let mut op = ops.start_work(fx.cashier, fx.cashier);
        op.as_object_mut().unwrap().remove(field);
        op
    };
    let mut bodies = vec![
        json!({"operations": [good.clone()]}),
        json!({"device_id": fx.device}),
        json!({"device_id": fx.device, "operations": good.clone()}),
        json!({"device_id": "nope", "operations": [good.clone()]}),
    ];
    for field in ["client_op_id", "type", "tenant_id", "branch_id", "actor_id", "device_seq", "occurred_at", "payload", "payload_hash"] {
        bodies.push(json!({"device_id": fx.device, "operations": [good.clone(), without(field)]}));
    }
    let mut bad_seq = ops.start_work(fx.cashier, fx.cashier);
    bad_seq["device_seq"] = json!("seven");
    bodies.push(json!({"device_id": fx.device, "operations": [good.clone(), bad_seq]}));
    let mut bad_time = ops.start_work(fx.cashier, fx.cashier);
    bad_time["occurred_at"] = json!("yesterday");
    bodies.push(json!({"device_id": fx.device, "operations": [good.clone(), bad_time]}));
    for body in bodies {
        let r = fx.push_raw(&fx.device_token, body.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{body}: {}", r.text);
        r.problem(400, "BAD_REQUEST");
    }
    // None of them applied the good op.
    applied(&fx.push(&[good]).await[0]);
}

#[tokio::test]
async fn reads_need_a_manager_or_the_branchs_device() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let since = now();
    let batch = vec![
        ops.open(fx.cashier, s, 1000),
        ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0),
        ops.start_work(fx.cashier, fx.cashier),
    ];
    fx.push(&batch).await;
    let b = fx.branch;
    let device_reads = [format!("/v1/sales?branch_id={b}"), format!("/v1/cash-sessions/{s}"), format!("/v1/attendance?branch_id={b}")];
    let manager_reads = [format!("/v1/sync/failures?branch_id={b}"), format!("/v1/sync/devices?branch_id={b}"), format!("/v1/audit?branch_id={b}&since={since}")];
    let manager_token = fx.app.login(fx.tenant, fx.manager).await;
    let cashier_token = fx.app.token_in_store(fx.tenant, fx.cashier).await;
    let d_other = fx.enroll(fx.other_branch, "Elsewhere").await;
    for path in device_reads.iter().chain(&manager_reads) {
        fx.app.get(path, &manager_token).await.ok(200);
        fx.app.get(path, &cashier_token).await.problem(403, "FORBIDDEN");
        fx.app.call(reqwest::Method::GET, path, None, None).await.problem(401, "UNAUTHORIZED");
        let r = fx.app.get(path, &d_other.token).await;
        assert!(matches!(r.status.as_u16(), 403 | 404), "other branch's device on {path}: {} {}", r.status, r.text);
    }
    for path in &device_reads {
        fx.app.get(path, &fx.device_token).await.ok(200);
    }
    for path in &manager_reads {
        fx.app.get(path, &fx.device_token).await.problem(403, "FORBIDDEN");
    }
    let r = fx.app.get(&device_reads[0], &fx.device_token).await;
    assert_eq!(r.ok(200)["sales"][0]["sale_id"], batch[1]["payload"]["sale_id"]);
    let r = fx.app.get(&device_reads[1], &fx.device_token).await;
    assert_eq!(r.ok(200)["expected_cash_cents"], 1000 + LATTE_PRICE);
    // Unknown session: 404.
    fx.app.get(&format!("/v1/cash-sessions/{}", Uuid::now_v7()), &fx.owner_token).await.problem(404, "NOT_FOUND");
    // Another tenant's owner sees none of it.
    let other = fx.app.other_tenant("Tenant B").await;
    let r = fx.app.get(&format!("/v1/cash-sessions/{s}"), &other.token).await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "{}", r.text);
    let r = fx.app.get(&format!("/v1/sales?branch_id={b}"), &other.token).await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "{}", r.text);
    assert!(!r.text.contains(&s.to_string()));
}


#[tokio::test]
async fn ids_taken_by_another_tenant_are_a_stored_validation_failure_not_a_conflict() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let (session, staff_shift) = (Uuid::now_v7(), ops.start_work(fx.cashier, fx.cashier));
    applied(&fx.push(&[ops.open(fx.cashier, session, 0), staff_shift.clone()]).await[0]);
    // Tenant B crafts ops reusing A's session and shift ids.
    let b = fx.app.other_tenant("Tenant B").await;
    let b_branch = fx.app.branch(&b.token, "B").await;
    let b_cashier = fx.app.staff(&b.token, "B cashier", "cashier", "1357", &[b_branch]).await;
    let (b_device, b_token) = fx.app.device(&b.token, b_branch).await;
    let mut b_ops = OpBuilder::new(b.tenant_id, b_branch, "D001");
    let shift_id = pid(&staff_shift, "shift_id");
    let reuse_shift = b_ops.raw("attendance.startWork", b_cashier, json!({"shift_id": shift_id, "staff_id": b_cashier}));
    let res = fx.push_as(&b_token, b_device, &[b_ops.open(b_cashier, session, 0), reuse_shift]).await;
    assert!(rejected(&res[0], "VALIDATION_FAILED").contains("cash_session_id"), "{}", res[0]);
    assert!(rejected(&res[1], "VALIDATION_FAILED").contains("shift_id"), "{}", res[1]);
    // A's session is untouched and still A's.
    assert_eq!(fx.session(session).await["device_id"], fx.device.to_string());
}

/// The value of the unlabelled series `name` in a Prometheus text page.
fn metric(page: &str, name: &str) -> f64 {
    let line = page.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| panic!("no {name} in:\n{page}"));
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("bad line {line:?}"))
}

#[tokio::test]
async fn metrics_count_the_branch_lock_of_each_write_and_not_of_a_replay() {
    let fx = Fx::new().await;
    let lock_counts = || async {
        let page = fx.app.call(reqwest::Method::GET, "/metrics", None, None).await.text;
        let counts = (metric(&page, "modula_branch_lock_wait_seconds_count"), metric(&page, "modula_branch_lock_held_seconds_count"));
        (counts, metric(&page, "modula_branch_lock_held_seconds_sum"))
    };
    assert_eq!(lock_counts().await, ((0.0, 0.0), 0.0));
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let batch = [ops.open(fx.cashier, s, 1000), ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0)];
    for r in fx.push(&batch).await {
        applied(&r);
    }
    let (counts, held_s) = lock_counts().await;
    assert_eq!(counts, (1.0, 1.0), "one write transaction, one branch lock");
    assert!(held_s > 0.0, "the lock was held for the write ({held_s} s)");
    // A batch that is all replays is answered without the lock.
    fx.push(&batch).await;
    assert_eq!(lock_counts().await.0, (1.0, 1.0));
    fx.push(&[ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], 500, 0)]).await;
    assert_eq!(lock_counts().await.0, (2.0, 2.0));
}

// ---------------------------------------------------------------------------------------
// Bounded envelopes (issue 19): limits enforced while parsing; clock skew flagged
// ---------------------------------------------------------------------------------------

/// An op whose `type` is over 64 bytes, whose `depends_on` lists over 16 ids, or whose
/// `occurred_at` lies outside 2000–2100 fails the parse: the push is `400`, naming the
/// field, and nothing of it is stored.
#[tokio::test]
async fn an_envelope_over_its_bounds_is_a_400_naming_the_field() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let good = ops.open(fx.cashier, s, 1000);
    let cases: Vec<(&str, Value)> = vec![
        ("type", envelope(&good, "type", json!("x".repeat(65)))),
        ("depends_on", envelope(&good, "depends_on", json!((0..17).map(|_| Uuid::now_v7()).collect::<Vec<_>>()))),
        ("occurred_at", envelope(&good, "occurred_at", json!("1970-01-01T00:00:00Z"))),
        ("occurred_at", envelope(&good, "occurred_at", json!("2100-01-01T00:00:00Z"))),
    ];
    for (field, bad) in cases {
        let r = fx.push_raw(&fx.device_token, json!({"device_id": fx.device, "operations": [good.clone(), bad]})).await;
        let p = r.problem(400, "BAD_REQUEST");
        assert_eq!(p["field"], format!("operations[1].{field}"), "{p}");
    }
    assert!(fx.failures().await.is_empty(), "nothing recorded");
    // At the bounds, the same op is fine.
    let deps = (0..16).map(|_| Uuid::now_v7()).collect::<Vec<_>>();
    let other = ops.start_work(fx.cashier, fx.cashier);
    let at_bounds = envelope(&envelope(&other, "occurred_at", json!("2000-01-01T00:00:00Z")), "depends_on", json!(deps));
    rejected(&fx.push(&[at_bounds]).await[0], "DEPENDENCY_MISSING");
    applied(&fx.push(&[good]).await[0]);
}

/// An op stamped in the future (a till whose clock runs fast) is applied, and its audit
/// event says how far ahead it was; one stamped now is not flagged.
#[tokio::test]
async fn a_fast_till_clock_is_flagged_in_the_audit_not_refused() {
    let fx = Fx::new().await;
    let mut ops = fx.ops();
    let s = Uuid::now_v7();
    let ahead = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let future = |op: Value| envelope(&op, "occurred_at", json!(ahead));
    let batch = vec![
        future(ops.open(fx.cashier, s, 1000)),
        future(ops.sale(fx.cashier, s, &[(fx.latte, 1, LATTE_PRICE)], LATTE_PRICE, 0)),
        ops.movement(fx.cashier, s, "paid_in", 100),
    ];
    for r in fx.push(&batch).await {
        applied(&r);
    }
    let events = fx.audit("2000-01-01T00:00:00Z").await;
    let skew = |id: Uuid| find(&events, "client_op_id", id)["details"]["clock_skew_s"].clone();
    for op in &batch[..2] {
        let s = skew(op_id(op)).as_i64().unwrap_or_else(|| panic!("flagged: {events:?}"));
        assert!((7000..=7200).contains(&s), "about two hours ahead: {s}");
    }
    assert_eq!(skew(op_id(&batch[2])), Value::Null, "a till on time is not flagged");
}

/// `op` with one envelope field replaced (`occurred_at`, `depends_on` and a parse failure
/// need no new hash).
fn envelope(op: &Value, field: &str, value: Value) -> Value {
    let mut op = op.clone();
    op[field] = value;
    op
}
