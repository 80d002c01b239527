//! Fuzz targets: one function per parser that takes bytes from the network. Each takes
//! arbitrary bytes and panics only when a property fails: the parser itself panicked, a
//! refusal was not a client error (4xx), or a round trip changed what it carried.
//!
//! They run two ways: coverage-guided by libFuzzer (`fuzz/`, `scripts/fuzz`, bounded in
//! CI), and in `cargo test` over every input kept in `fuzz/corpus/` and
//! `fuzz/regressions/` (a crash libFuzzer finds is saved there, and so stays a test).

use modula_rules::{hash, validate};
use modula_server::domain::{login, pull};
use modula_server::error::ApiError;
use modula_server::extract::parse_json;
use modula_wire::admin::LoginRequest;
use modula_wire::op::OpType;
use modula_wire::PushRequest;
use serde_json::Value;
use uuid::Uuid;

/// A fuzz target: takes any bytes, panics only when a property fails.
pub type Target = fn(&[u8]);

/// The fuzz targets by name (the names of `fuzz/fuzz_targets/*.rs` and the corpus folders).
pub const TARGETS: [(&str, Target); 4] =
    [("push_body", push_body), ("pull_cursor", pull_cursor), ("canonical_hash", canonical_hash), ("login_body", login_body)];

/// Asserts a refusal is the client's fault: a 4xx problem, never a 5xx.
#[track_caller]
fn client_error(e: &ApiError) {
    let status = e.problem().status;
    assert!((400..500).contains(&status), "a bad input must be a 4xx, not {status}: {e:?}");
}

/// `POST /v1/sync/push` body: the server's JSON extraction, then what the push lane does
/// to each op before any database work (the type, the payload parse, the hash).
pub fn push_body(data: &[u8]) {
    let req = match parse_json::<PushRequest>(data) {
        Ok(req) => req,
        Err(e) => return client_error(&e),
    };
    for op in &req.operations {
        if let Some(t) = OpType::parse(&op.op_type) {
            let _ = validate::parse_payload(t, &op.payload);
        }
        let h = hash::payload_hash(&op.op_type, op.tenant_id, op.branch_id, op.actor_id, &op.payload);
        assert_eq!(h.len(), 64, "a payload hash is 64 hex digits: {h}");
    }
}

/// `GET /v1/sync/pull?cursor=`: a cursor the server did not issue is a `409`, and one
/// it did decodes to the position it encoded.
pub fn pull_cursor(data: &[u8]) {
    let key = [7u8; 32];
    let (tenant, branch) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let scopes = ["menu", "staff"];
    if let Ok(text) = std::str::from_utf8(data) {
        match pull::decode_cursor(&key, text, tenant, branch, &scopes) {
            Ok(seq) => assert_eq!(pull::encode_cursor(&key, tenant, branch, &scopes, seq), text, "only issued cursors decode"),
            Err(e) => assert_eq!(e.problem().status, 409, "a foreign cursor is CURSOR_RESET: {e:?}"),
        }
    }
    let mut seq = [0u8; 8];
    let n = data.len().min(8);
    seq[..n].copy_from_slice(&data[..n]);
    let seq = i64::from_be_bytes(seq);
    let issued = pull::encode_cursor(&key, tenant, branch, &scopes, seq);
    assert_eq!(pull::decode_cursor(&key, &issued, tenant, branch, &scopes).ok(), Some(seq), "an issued cursor decodes");
}

/// The RFC 8785 canonical form and the payload hash: any JSON canonicalizes to JSON that
/// canonicalizes to itself, and hashes without panicking.
pub fn canonical_hash(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let canonical = hash::canonical_json(&value);
    let again: Value = serde_json::from_str(&canonical).unwrap_or_else(|e| panic!("canonical output is JSON ({e}): {canonical}"));
    assert_eq!(hash::canonical_json(&again), canonical, "canonical JSON is a fixed point");
    let h = hash::payload_hash("sale.finalize", Uuid::nil(), Uuid::nil(), Uuid::nil(), &value);
    assert_eq!(h.len(), 64);
}

/// `POST /v1/auth/login` body: parsed and its fields checked (shop, login, password
/// length) as the server does before any database work, or refused as a client error.
/// An accepted login is normalized (checking it again gives itself).
pub fn login_body(data: &[u8]) {
    let req = match parse_json::<LoginRequest>(data) {
        Ok(req) => req,
        Err(e) => return client_error(&e),
    };
    match login::credentials(&req) {
        Ok(who) => {
            let again = LoginRequest { login: who.login.clone(), ..req };
            assert_eq!(login::credentials(&again).ok().map(|w| w.login), Some(who.login), "a normalized login is a fixed point");
        }
        Err(e) => client_error(&e),
    }
}
