//! HTTP routing: thin handlers that extract, call the domain core, and answer.

mod admin;
mod dashboard;
mod feed;
mod health;
mod online;
mod sync;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{middleware, Router};

use crate::extract::problemize;
use crate::state::AppState;

/// Middleware recording every request in [`crate::metrics::Metrics`].
async fn track_metrics(State(state): State<AppState>, req: Request, next: middleware::Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    state.metrics.observe(&route, &method, resp.status().as_u16(), duration_us);
    resp
}

/// Middleware: runs the request on its own task, so a client that hangs up never
/// cancels a handler half-way through a database transaction. The work finishes and
/// commits (a retry then gets the stored answer); only the unread response is lost.
async fn run_to_completion(req: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    match tokio::spawn(next.run(req)).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = %e, "request task failed");
            crate::error::ApiError::Internal(format!("request task failed: {e}")).into_response()
        }
    }
}

/// Middleware of the push route: a place in the push lane (`push_gate`) before the body
/// is read, or `503` with `Retry-After`.
async fn admit_push(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let gate = state.push_gate.clone();
    let place = gate.enter().await;
    let resp = match place {
        Ok(_) => next.run(req).await,
        Err(busy) => {
            state.metrics.count_push_shed();
            busy.into_response()
        }
    };
    resp
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/auth/login", post(admin::login))
        .route("/auth/logout", post(admin::logout))
        .route("/branches", post(admin::create_branch).get(admin::list_branches))
        .route("/branches/{id}", axum::routing::patch(admin::update_branch))
        .route("/branches/{id}/freeze", post(admin::freeze_branch))
        .route("/branches/{id}/unfreeze", post(admin::unfreeze_branch))
        .route("/branches/{id}/policy", put(admin::put_branch_policy).get(admin::branch_policy))
        .route("/staff", post(admin::create_staff).get(admin::list_staff))
        .route("/staff/{id}", axum::routing::patch(admin::patch_staff))
        .route("/devices", post(admin::enroll_device).get(admin::list_devices))
        .route("/devices/me", get(admin::device_self))
        .route("/devices/me/events", post(admin::device_events))
        .route("/devices/{id}", axum::routing::delete(admin::revoke_device))
        .route("/stock-items", post(admin::create_stock_item).get(admin::list_stock_items))
        .route("/inventory/restock", post(admin::restock))
        .route("/inventory", get(admin::inventory))
        .route("/menu/items", get(admin::list_menu_items))
        .route(
            "/menu/items/{id}",
            put(admin::put_menu_item).delete(admin::delete_menu_item).get(admin::get_menu_item),
        )
        .route("/policy", put(admin::put_tenant_policy).get(admin::tenant_policy))
        .route("/sync/push", post(sync::push).layer(middleware::from_fn_with_state(state.clone(), admit_push)))
        .route("/sync/pull", get(feed::pull))
        .route("/sync/events", get(feed::events))
        .route("/sync/failures", get(sync::failures))
        .route("/sync/failures/{client_op_id}/resolve", post(sync::resolve))
        .route("/sync/devices", get(sync::devices))
        .route("/sales", get(sync::sales).post(online::sale))
        .route("/sales/{id}", get(sync::sale))
        .route("/reports/z", get(sync::z_report))
        .route("/reports/daily", get(sync::daily_report))
        .route("/sales/{id}/void", post(online::void_sale))
        .route("/cash-sessions", post(online::open_session).get(sync::cash_sessions))
        .route("/cash-sessions/{id}", get(sync::cash_session))
        .route("/cash-sessions/{id}/movements", post(online::movement))
        .route("/cash-sessions/{id}/close", post(online::close_session))
        .route("/attendance", get(sync::attendance))
        .route("/attendance/start", post(online::start_work))
        .route("/attendance/end", post(online::end_work))
        .route("/audit", get(sync::audit));
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/", get(dashboard::page))
        .route("/dashboard/dashboard.css", get(dashboard::css))
        .route("/dashboard/dashboard.js", get(dashboard::js))
        .route("/dashboard/i18n.js", get(dashboard::i18n_js))
        .route("/dashboard/khmer-400.woff2", get(dashboard::khmer_400))
        .route("/dashboard/khmer-700.woff2", get(dashboard::khmer_700))
        .layer(DefaultBodyLimit::max(modula_wire::limits::BODY_MAX_BYTES))
        .layer(middleware::from_fn(problemize))
        .layer(middleware::from_fn(run_to_completion))
        .route_layer(middleware::from_fn_with_state(state.clone(), track_metrics))
        .with_state(state)
}
