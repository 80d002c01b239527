//! Handlers of the pull feed and the nudge stream (§5.3, §5.4).

use std::convert::Infallible;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::Stream;
use serde::Deserialize;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use uuid::Uuid;

use super::admin::BranchQuery;
use crate::auth::Auth;
use crate::domain::{branch_for_read, pull};
use crate::extract::ApiQuery;
use crate::error::{ApiError, ApiResult};
use crate::sse_slots::Subscriber;
use crate::state::AppState;

/// Query of `GET /v1/sync/pull`.
#[derive(Debug, Deserialize)]
pub struct PullQuery {
    branch_id: Uuid,
    scopes: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, path = "/sync/pull", tag = "sync", params(("branch_id" = Uuid, Query, description = "The branch."), ("scopes" = Option<String>, Query, description = "Comma-separated scopes."), ("cursor" = Option<String>, Query, description = "The opaque cursor of the page before."), ("limit" = Option<u32>, Query, description = "Page size.")), responses((status = 200, description = "A page of changes.", body = modula_wire::sync::PullPage), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn pull(State(s): State<AppState>, auth: Auth, ApiQuery(q): ApiQuery<PullQuery>) -> ApiResult<Response> {
    let key = s.cursor_key.get_or_try_init(|| pull::cursor_key(s.store.as_ref())).await?;
    let req = pull::PullRequest { branch_id: q.branch_id, scopes: q.scopes, cursor: q.cursor, limit: q.limit };
    let page = pull::pull(s.store.as_ref(), key, &auth, req).await?;
    pull::note_seen(s.store.clone(), &auth);
    Ok(([(header::CONTENT_TYPE, "application/json")], page.json).into_response())
}

/// `GET /v1/sync/events?branch_id=`: a `nudge` now, then on every move of the branch
/// stream; heartbeats while idle. A slow subscriber skips nudges it lagged behind on
/// (the next one carries the newest head); it never holds a writer up.
#[utoipa::path(get, path = "/sync/events", tag = "sync", params(("branch_id" = Uuid, Query, description = "The branch.")), responses((status = 200, description = "Server-sent nudges.", body = String, content_type = "text/event-stream"), crate::openapi::Refusals), security(("bearer" = [])))]
pub async fn events(
    State(s): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<BranchQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let subscriber = match auth.principal {
        crate::auth::Principal::Device { device_id, .. } => Subscriber::Device(device_id),
        crate::auth::Principal::Staff { staff_id, .. } => Subscriber::Staff(staff_id),
    };
    let permit = s
        .sse_slots
        .take(auth.tenant_id, subscriber)
        .map_err(|full| ApiError::Busy { detail: full.detail(), retry_after_s: 5 })?;
    let branch_id = q.branch_id;
    let receiver = s.store.nudges();
    let head = {
        let mut tx = s.store.begin_read().await?;
        branch_for_read(tx.as_mut(), &auth, branch_id).await?;
        tx.stream_position(branch_id).await?.head
    };
    crate::domain::pull::note_seen(s.store.clone(), &auth);
    let first = tokio_stream::once(nudge(branch_id, head));
    let moves = BroadcastStream::new(receiver).filter_map(move |m| match m {
        Ok(h) if h.branch_id == branch_id => Some(nudge(branch_id, h.head)),
        _ => None,
    });
    // When the process stops: one last `reconnect` event (with a short retry hint), then
    // the stream ends, so a stopping server is not held open by its subscribers.
    let mut stopping = s.stopping.subscribe();
    let stopped = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let last = tokio_stream::once(reconnect());
    let live = futures_util::StreamExt::take_until(first.chain(moves), stopped);
    let stream = live.chain(last).map(move |e| {
        let _held = &permit;
        Ok(e)
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(s.config.sse_heartbeat).text("heartbeat")))
}

/// The last event of a stream whose server is stopping: connect again (to this server once
/// it is back, or to another behind the same address).
fn reconnect() -> Event {
    Event::default().event("reconnect").retry(std::time::Duration::from_millis(500)).data("the server is restarting")
}

fn nudge(branch_id: Uuid, head: i64) -> Event {
    Event::default().event("nudge").data(serde_json::json!({"branch_id": branch_id, "head": head}).to_string())
}
