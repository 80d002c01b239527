//! One checkout, one sale (SPEC §6): the local API's write endpoints take an optional
//! `Idempotency-Key` header. The first successful answer for a key is kept (7 days); a
//! repeat with the same body answers it again, with `Idempotent-Replayed: true`, and
//! queues nothing; a repeat with another body is `422 PAYLOAD_MISMATCH`. Keyed writes
//! run one at a time, so two requests with one key sent at once make one sale. A refusal
//! is not kept: nothing was queued, so the same key may try again. An action that queues
//! an op keeps its answer in the op's own transaction, so no crash can leave the op queued
//! without its key; the final answer (after the direct lane) then replaces it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use modula_wire::ErrorCode;
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use crate::app::Terminal;
use crate::db::ts;
use crate::error::{TerminalError, TerminalResult};

/// The header.
pub const HEADER: &str = "idempotency-key";
/// Longest key, in bytes.
pub const KEY_MAX_BYTES: usize = 128;
/// How long a kept answer is replayed.
pub const KEEP_DAYS: i64 = 7;

tokio::task_local! {
    /// The keyed write being run, if any: an action that queues an op keeps its answer in
    /// the op's own transaction ([`keep_with_op`]).
    static KEYED: KeyedWrite;
}

/// What identifies a keyed write's first answer.
#[derive(Debug, Clone)]
struct KeyedWrite {
    key: String,
    endpoint: String,
    body_sha256: String,
}

/// A kept first answer.
struct Kept {
    endpoint: String,
    body_sha256: String,
    status: u16,
    response: String,
}

/// The middleware of the write routes.
pub async fn idempotent(State(t): State<Arc<Terminal>>, req: Request, next: Next) -> Response {
    let key = match key_of(&req) {
        Ok(None) => return next.run(req).await,
        Ok(Some(key)) => key,
        Err(e) => return e.into_response(),
    };
    // Run to completion in a task of its own: a client that gives up (the page's timeout)
    // must not cancel the request between the sale's commit and the keeping of its answer,
    // or its retry with the same key would sell again.
    let work = tokio::spawn(async move {
        match keyed(&t, key, req, next).await {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
        }
    });
    work.await.unwrap_or_else(|e| TerminalError::Internal(format!("a keyed request failed: {e}")).into_response())
}

fn key_of(req: &Request) -> TerminalResult<Option<String>> {
    let Some(v) = req.headers().get(HEADER) else { return Ok(None) };
    let key = v.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > KEY_MAX_BYTES || !key.bytes().all(|b| b.is_ascii_graphic()) {
        let msg = format!("Idempotency-Key must be 1 to {KEY_MAX_BYTES} printable characters (a UUID is best)");
        return Err(TerminalError::invalid("Idempotency-Key", msg));
    }
    Ok(Some(key.to_string()))
}

async fn keyed(t: &Terminal, key: String, req: Request, next: Next) -> TerminalResult<Response> {
    let endpoint = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, crate::api::LOCAL_BODY_MAX_BYTES)
        .await
        .map_err(|_| TerminalError::refuse(ErrorCode::PayloadTooLarge, "the request body is too large or was cut off"))?;
    let body_sha256 = hex::encode(Sha256::digest(&bytes));
    // One keyed write at a time: the second of two simultaneous requests finds the first's answer.
    let _one_at_a_time = t.idempotency_lock.lock().await;
    if let Some(kept) = find(t, &key).await? {
        if kept.endpoint != endpoint || kept.body_sha256 != body_sha256 {
            let msg = "this Idempotency-Key was used for another request; a new checkout needs a new key";
            return Err(TerminalError::refuse(ErrorCode::PayloadMismatch, msg));
        }
        return Ok(replay(kept));
    }
    let write = KeyedWrite { key: key.clone(), endpoint: endpoint.clone(), body_sha256: body_sha256.clone() };
    let resp = KEYED.scope(write, next.run(Request::from_parts(parts, Body::from(bytes)))).await;
    if !resp.status().is_success() {
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let answer = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| TerminalError::Internal(format!("reading an answer: {e}")))?;
    let kept = Kept { endpoint, body_sha256, status: parts.status.as_u16(), response: String::from_utf8_lossy(&answer).into_owned() };
    keep(t, &key, &kept).await?;
    Ok(Response::from_parts(parts, Body::from(answer)))
}

fn replay(kept: Kept) -> Response {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, kept.response).into_response();
    let h = resp.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

async fn find(t: &Terminal, key: &str) -> TerminalResult<Option<Kept>> {
    let mut conn = t.db.reader().acquire().await?;
    let row: Option<(String, String, i64, String)> =
        sqlx::query_as("SELECT endpoint, body_sha256, status, response FROM local_requests WHERE key = ? AND created_at >= ?")
            .bind(key)
            .bind(ts(chrono::Utc::now() - chrono::Duration::days(KEEP_DAYS)))
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|(endpoint, body_sha256, status, response)| Kept { endpoint, body_sha256, status: status as u16, response }))
}

/// Keeps the final answer (after the direct lane, say): it replaces the one kept with the
/// op, if any.
async fn keep(t: &Terminal, key: &str, kept: &Kept) -> TerminalResult<()> {
    let mut w = t.db.writer().await;
    // Expired answers go here, off the enqueue transaction.
    sqlx::query("DELETE FROM local_requests WHERE created_at < ?")
        .bind(ts(chrono::Utc::now() - chrono::Duration::days(KEEP_DAYS)))
        .execute(&mut *w)
        .await?;
    write_kept(&mut w, key, kept).await
}

/// Keeps `response` as the answer of the keyed write being run, if any, in `conn`'s
/// transaction: the op it queues and the answer that stops a retry from queueing it again
/// are durable together. Outside a keyed write it does nothing.
pub async fn keep_with_op(conn: &mut SqliteConnection, status: u16, response: &str) -> TerminalResult<()> {
    let Ok(write) = KEYED.try_with(KeyedWrite::clone) else { return Ok(()) };
    let kept = Kept { endpoint: write.endpoint, body_sha256: write.body_sha256, status, response: response.to_string() };
    write_kept(conn, &write.key, &kept).await
}

async fn write_kept(conn: &mut SqliteConnection, key: &str, kept: &Kept) -> TerminalResult<()> {
    sqlx::query(
        "INSERT INTO local_requests (key, endpoint, body_sha256, status, response, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET status = excluded.status, response = excluded.response",
    )
    .bind(key)
    .bind(&kept.endpoint)
    .bind(&kept.body_sha256)
    .bind(kept.status as i64)
    .bind(&kept.response)
    .bind(ts(chrono::Utc::now()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
