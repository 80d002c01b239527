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
use axum::routing::get;
use axum::{middleware, Router};

use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

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

/// The `/v1` routes, each registered from its handler's `#[utoipa::path]` (one
/// declaration for the route and its entry in the OpenAPI document), and that document.
pub fn v1(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    // The push route goes through the push gate before its body is read.
    let (schemas, paths, push) = routes!(sync::push);
    let push = (schemas, paths, push.layer(middleware::from_fn_with_state(state.clone(), admit_push)));
    let v1 = OpenApiRouter::new()
        .routes(routes!(admin::login))
        .routes(routes!(admin::logout))
        .routes(routes!(admin::create_branch, admin::list_branches))
        .routes(routes!(admin::update_branch))
        .routes(routes!(admin::freeze_branch))
        .routes(routes!(admin::unfreeze_branch))
        .routes(routes!(admin::put_branch_policy, admin::branch_policy))
        .routes(routes!(admin::create_staff, admin::list_staff))
        .routes(routes!(admin::patch_staff))
        .routes(routes!(admin::enroll_device, admin::list_devices))
        .routes(routes!(admin::device_self))
        .routes(routes!(admin::device_events))
        .routes(routes!(admin::revoke_device))
        .routes(routes!(admin::create_stock_item, admin::list_stock_items))
        .routes(routes!(admin::restock))
        .routes(routes!(admin::inventory))
        .routes(routes!(admin::list_menu_items))
        .routes(routes!(admin::put_menu_item, admin::delete_menu_item, admin::get_menu_item))
        .routes(routes!(admin::put_tenant_policy, admin::tenant_policy))
        .routes(push)
        .routes(routes!(feed::pull))
        .routes(routes!(feed::events))
        .routes(routes!(sync::failures))
        .routes(routes!(sync::resolve))
        .routes(routes!(sync::devices))
        .routes(routes!(sync::sales, online::sale))
        .routes(routes!(sync::sale))
        .routes(routes!(sync::z_report))
        .routes(routes!(sync::daily_report))
        .routes(routes!(online::void_sale))
        .routes(routes!(online::open_session, sync::cash_sessions))
        .routes(routes!(sync::cash_session))
        .routes(routes!(online::movement))
        .routes(routes!(online::close_session))
        .routes(routes!(sync::attendance))
        .routes(routes!(online::start_work))
        .routes(routes!(online::end_work))
        .routes(routes!(sync::audit));
    let (router, mut doc) = OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi()).nest("/v1", v1).split_for_parts();
    doc.paths.paths.extend(crate::openapi::health_paths().paths);
    (router, doc)
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let (v1, doc) = v1(&state);
    let doc = axum::body::Bytes::from(doc.to_json().unwrap_or_else(|e| panic!("the OpenAPI document serializes: {e}")));
    v1.route("/openapi.json", get(move || openapi_json(doc.clone())))
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

/// `GET /openapi.json`: the OpenAPI 3.1 document, serialized once at start (each answer
/// shares its bytes).
async fn openapi_json(doc: axum::body::Bytes) -> Response {
    use axum::http::header;
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-cache")], doc).into_response()
}
