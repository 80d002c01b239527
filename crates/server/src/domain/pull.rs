//! The pull hydration feed (SPEC §5.3): a branch stream read in commit order, behind an
//! opaque, tamper-evident cursor bound to tenant, branch and scope set.
//!
//! Why no committed change is ever skipped: every writer moves the branch head
//! (`UPDATE branches SET head = head + n`) inside its own transaction, so writers of one
//! branch are serialized on that row (SQLite: on its single write lock; PostgreSQL: on
//! the row lock) and positions are handed out in commit order. A reader's snapshot holds
//! either all of a writer's changes or none, and no later position can commit before an
//! earlier one, so "everything after my cursor" never has a hole that fills in later.

use hmac::{Hmac, Mac};
use modula_store::{Store, StoredChange};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::branch_for_read;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};

/// Every scope of the feed, in canonical order.
/// (`voids` and `resolutions` came after the first release: a pull that names no scopes
/// gets them too, so its older cursors are reset once.)
pub const SCOPES: [&str; 10] =
    ["menu", "policy", "staff", "branch", "inventory", "cash_sessions", "attendance", "sales", "voids", "resolutions"];
/// Page size when none is asked for.
pub const PULL_LIMIT_DEFAULT: i64 = 500;
/// Largest page.
pub const PULL_LIMIT_MAX: i64 = 1000;
/// Name of the cursor HMAC key in the database.
pub const CURSOR_KEY_NAME: &str = "cursor_hmac_v1";

const CURSOR_VERSION: u8 = 1;
const CURSOR_BODY_LEN: usize = 1 + 16 + 16 + 8 + 8;
const CURSOR_MAC_LEN: usize = 16;

/// The cursor HMAC key of this database: created by the first process that asks, then
/// the same for every process (so each accepts the others' cursors).
pub async fn cursor_key(store: &dyn Store) -> ApiResult<Vec<u8>> {
    let mut candidate = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut candidate);
    let mut tx = store.begin_write().await?;
    let key = tx.server_secret(CURSOR_KEY_NAME, &candidate).await?;
    tx.commit().await?;
    Ok(key)
}

/// A parsed pull request.
pub struct PullRequest {
    /// Which stream.
    pub branch_id: Uuid,
    /// `scopes=` as sent (None: all).
    pub scopes: Option<String>,
    /// `cursor=` as sent (None: full hydration).
    pub cursor: Option<String>,
    /// `limit=` as sent.
    pub limit: Option<String>,
}

/// A page of the feed, its JSON already rendered.
pub struct PullPage {
    /// `{"changes": [...], "next_cursor": "...", "has_more": bool}`.
    pub json: String,
}

fn cursor_reset(reason: &str) -> ApiError {
    ApiError::CursorReset(reason.to_string())
}

/// The canonical scope list of a request: known scopes, deduplicated, in canonical order.
fn parse_scopes(raw: Option<&str>) -> ApiResult<Vec<&'static str>> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(SCOPES.to_vec());
    };
    let asked: Vec<&str> = raw.split(',').map(str::trim).collect();
    if let Some(bad) = asked.iter().find(|s| !SCOPES.contains(s)) {
        let detail = format!("unknown scope {bad:?}; scopes are {}", SCOPES.join(","));
        return Err(ApiError::bad_field("scopes", detail));
    }
    Ok(SCOPES.iter().copied().filter(|s| asked.contains(s)).collect())
}

fn parse_limit(raw: Option<&str>) -> ApiResult<i64> {
    let Some(raw) = raw else { return Ok(PULL_LIMIT_DEFAULT) };
    match raw.parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n.min(PULL_LIMIT_MAX)),
        _ => Err(ApiError::bad_field("limit", format!("limit must be a whole number from 1 to {PULL_LIMIT_MAX}"))),
    }
}

fn scope_digest(scopes: &[&str]) -> [u8; 8] {
    let d = Sha256::digest(scopes.join(",").as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

fn mac(key: &[u8], body: &[u8]) -> [u8; CURSOR_MAC_LEN] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(body);
    let full = m.finalize().into_bytes();
    let mut out = [0u8; CURSOR_MAC_LEN];
    out.copy_from_slice(&full[..CURSOR_MAC_LEN]);
    out
}

/// Encodes a cursor: version, tenant, branch, scope digest, position, then a truncated HMAC.
pub fn encode_cursor(key: &[u8], tenant_id: Uuid, branch_id: Uuid, scopes: &[&str], seq: i64) -> String {
    let mut body = Vec::with_capacity(CURSOR_BODY_LEN + CURSOR_MAC_LEN);
    body.push(CURSOR_VERSION);
    body.extend_from_slice(tenant_id.as_bytes());
    body.extend_from_slice(branch_id.as_bytes());
    body.extend_from_slice(&scope_digest(scopes));
    body.extend_from_slice(&seq.to_be_bytes());
    let tag = mac(key, &body);
    body.extend_from_slice(&tag);
    hex::encode(body)
}

/// Decodes and checks a cursor; returns its position or the `CURSOR_RESET` reason.
pub fn decode_cursor(key: &[u8], cursor: &str, tenant_id: Uuid, branch_id: Uuid, scopes: &[&str]) -> ApiResult<i64> {
    // Only the exact lowercase form this server writes is accepted: any altered
    // character, even one that decodes to the same byte, is a different cursor.
    if !cursor.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(cursor_reset("the cursor is not one this server issued"));
    }
    let bytes = hex::decode(cursor).map_err(|_| cursor_reset("the cursor is not one this server issued"))?;
    if bytes.len() != CURSOR_BODY_LEN + CURSOR_MAC_LEN || bytes[0] != CURSOR_VERSION {
        return Err(cursor_reset("the cursor is not one this server issued"));
    }
    let (body, tag) = bytes.split_at(CURSOR_BODY_LEN);
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(body);
    if m.verify_truncated_left(tag).is_err() {
        return Err(cursor_reset("the cursor was altered"));
    }
    let id_at = |at: usize| Uuid::from_slice(&body[at..at + 16]).unwrap_or_default();
    if id_at(1) != tenant_id || id_at(17) != branch_id {
        return Err(cursor_reset("the cursor belongs to another branch"));
    }
    if body[33..41] != scope_digest(scopes) {
        return Err(cursor_reset("the cursor was issued for another set of scopes"));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&body[41..49]);
    Ok(i64::from_be_bytes(seq))
}

/// `GET /v1/sync/pull`.
pub async fn pull(store: &dyn Store, key: &[u8], auth: &Auth, req: PullRequest) -> ApiResult<PullPage> {
    let scopes = parse_scopes(req.scopes.as_deref())?;
    let limit = parse_limit(req.limit.as_deref())?;
    let mut tx = store.begin_read().await?;
    branch_for_read(tx.as_mut(), auth, req.branch_id).await?;
    let after = match &req.cursor {
        Some(c) => Some(decode_cursor(key, c, auth.tenant_id, req.branch_id, &scopes)?),
        None => None,
    };
    let position = tx.stream_position(req.branch_id).await?;
    if let Some(after) = after {
        if after < position.purged_seq {
            return Err(cursor_reset("the cursor is older than the tombstone retention"));
        }
        if after > position.head {
            return Err(cursor_reset("the cursor is ahead of the server's stream (restored database?)"));
        }
    }
    let mut rows = tx.pull_changes(req.branch_id, after.unwrap_or(0), &scopes, after.is_some(), limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    // With nothing more to read, the cursor may move to the head this snapshot saw.
    let next_seq = match (has_more, rows.last()) {
        (true, Some(last)) => last.seq,
        _ => position.head.max(rows.last().map(|r| r.seq).unwrap_or(0)),
    };
    debug_assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq), "changes in stream order");
    let cursor = encode_cursor(key, auth.tenant_id, req.branch_id, &scopes, next_seq);
    Ok(PullPage { json: render(&rows, &cursor, has_more) })
}

/// Renders the page without re-parsing the stored entity JSON.
fn render(rows: &[StoredChange], cursor: &str, has_more: bool) -> String {
    let bytes: usize = rows.iter().map(|r| r.data.as_ref().map_or(4, String::len) + 120).sum();
    let mut out = String::with_capacity(bytes + 200);
    out.push_str("{\"changes\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // scope and entity are fixed identifiers of this server; ids are UUIDs.
        out.push_str(&format!(
            "{{\"scope\":\"{}\",\"entity\":\"{}\",\"id\":\"{}\",\"version\":{},\"deleted\":{},\"data\":",
            r.scope, r.entity, r.entity_id, r.seq, r.deleted
        ));
        out.push_str(r.data.as_deref().filter(|_| !r.deleted).unwrap_or("null"));
        out.push('}');
    }
    out.push_str(&format!("],\"next_cursor\":\"{cursor}\",\"has_more\":{has_more}}}"));
    out
}

/// How stale a device's `last_seen_at` may get while it only pulls and listens before a
/// pull or an event stream writes it again: a write per device at most this often.
pub const SEEN_REFRESH_S: i64 = 60;

/// Notes that a device caller was heard (its pull or event stream), so the dashboard's
/// "last seen" is true of a till that is online with nothing to push. At most one write
/// per device per [`SEEN_REFRESH_S`]; off the request (a spawned task), best effort: a
/// busy database delays it, never the pull, and a failure is logged, not answered.
pub fn note_seen(store: std::sync::Arc<dyn Store>, auth: &Auth) {
    let crate::auth::Principal::Device { device_id, .. } = auth.principal else { return };
    let now = chrono::Utc::now();
    let not_before = now - chrono::Duration::seconds(SEEN_REFRESH_S);
    if auth.device_seen_at.is_some_and(|seen| seen >= not_before) {
        return;
    }
    tokio::spawn(async move {
        let write = async {
            let mut tx = store.begin_write().await?;
            tx.note_device_seen(device_id, now, not_before).await?;
            tx.commit().await
        };
        if let Err(e) = write.await {
            tracing::debug!(error = %e, %device_id, "could not note that the device was seen");
        }
    });
}
