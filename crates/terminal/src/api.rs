//! The terminal's local HTTP API (SPEC §6), used by its page and by outside tests.
//! Thin handlers over [`Terminal`]; every refusal is problem+json.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use modula_wire::{BranchStatus, ErrorCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::{self, MovementRequest, SaleRequest, Terminal};
use crate::db::{self, QueueStatus};
use crate::error::{problem_response, TerminalError, TerminalResult};
use crate::local;

/// Largest request body the local API reads, in bytes.
pub const LOCAL_BODY_MAX_BYTES: usize = 256 * 1024;
/// Default page of `/api/ops`.
pub const OPS_PAGE_DEFAULT: i64 = 200;

type Shared = Arc<Terminal>;

/// The `/api` routes, each registered from its handler's `#[utoipa::path]`, and their
/// OpenAPI document.
pub fn api(t: &Shared) -> (Router<Shared>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    use utoipa_axum::{router::OpenApiRouter, routes};
    // The writes that take an Idempotency-Key (one checkout, one sale).
    let keyed = OpenApiRouter::new()
        .routes(routes!(sale))
        .routes(routes!(open_session))
        .routes(routes!(movement))
        .routes(routes!(close_session))
        .routes(routes!(start_work))
        .routes(routes!(end_work))
        .routes(routes!(restock))
        .routes(routes!(void_sale))
        .route_layer(axum::middleware::from_fn_with_state(t.clone(), crate::idempotency::idempotent));
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(status))
        .routes(routes!(ops))
        .routes(routes!(context))
        .routes(routes!(receipts))
        .routes(routes!(receipt))
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
        .routes(routes!(quote))
        .routes(routes!(close_preview))
        .routes(routes!(outage))
        .merge(keyed)
        .split_for_parts()
}

/// The local API router, behind the guard of `own` (SPEC §6: Host, Origin, Content-Type).
pub fn router(t: Shared, own: crate::guard::LocalOrigin) -> Router {
    let (api, doc) = api(&t);
    let doc = Bytes::from(doc.to_json().unwrap_or_else(|e| panic!("the OpenAPI document serializes: {e}")));
    api.route("/", get(page_html))
        .route("/assets/page.css", get(page_css))
        .route("/assets/core.js", get(core_js))
        .route("/assets/page.js", get(page_js))
        .route("/assets/i18n.js", get(i18n_js))
        .route("/assets/khmer-400.woff2", get(|| font(modula_i18n::FONT_KHMER_400)))
        .route("/assets/khmer-700.woff2", get(|| font(modula_i18n::FONT_KHMER_700)))
        .route("/api/openapi.json", get(move || openapi_json(doc.clone())))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(LOCAL_BODY_MAX_BYTES))
        .layer(axum::middleware::from_fn_with_state(own, crate::guard::guard))
        .with_state(t)
}

// ------------------------------------------------------------------ the page

/// The cashier's page (plain HTML, CSS and JS embedded in the binary; no CDN).
pub const PAGE_HTML: &str = include_str!("page/index.html");
/// Its stylesheet.
pub const PAGE_CSS: &str = include_str!("page/page.css");
/// Its script.
pub const PAGE_JS: &str = include_str!("page/page.js");
/// The page's shared helpers, loaded before [`PAGE_JS`].
pub const CORE_JS: &str = include_str!("page/core.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

async fn page_html() -> Response {
    asset("text/html; charset=utf-8", PAGE_HTML)
}

async fn page_css() -> Response {
    asset("text/css; charset=utf-8", PAGE_CSS)
}

async fn core_js() -> Response {
    asset("text/javascript; charset=utf-8", CORE_JS)
}

async fn page_js() -> Response {
    asset("text/javascript; charset=utf-8", PAGE_JS)
}

/// The page's words in both languages and the script that applies them
/// (crates/i18n), loaded before [`CORE_JS`].
async fn i18n_js() -> Response {
    asset("text/javascript; charset=utf-8", modula_i18n::script(modula_i18n::Page::Till))
}

/// The Khmer font (crates/i18n), served with the page: a till is often offline.
async fn font(bytes: &'static [u8]) -> Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("font/woff2"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=86400"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// `GET /api/openapi.json`: this API's OpenAPI 3.1 document, serialized once at start
/// (each answer shares its bytes).
async fn openapi_json(doc: Bytes) -> Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    let mut r = doc.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

async fn not_found() -> Response {
    let p = modula_wire::Problem::new(404, ErrorCode::NotFound, "no such endpoint on this terminal");
    problem_response(&p)
}

async fn method_not_allowed() -> Response {
    let p = modula_wire::Problem::new(405, ErrorCode::MethodNotAllowed, "this endpoint does not take that method");
    problem_response(&p)
}

/// A request body; one that cannot be read (over [`LOCAL_BODY_MAX_BYTES`], cut off) is
/// refused as problem+json like everything else.
struct RawBody(Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for RawBody {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(RawBody(b)),
            Err(e) => {
                let status = e.status().as_u16();
                let code = if status == 413 { ErrorCode::PayloadTooLarge } else { ErrorCode::BadRequest };
                let detail = format!("cannot read the request body: {}", e.body_text());
                Err(problem_response(&modula_wire::Problem::new(code.http_status(), code, detail)))
            }
        }
    }
}

/// Parses a JSON body, naming what is wrong.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> TerminalResult<T> {
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        TerminalError::Rejected(modula_rules::Rejection {
            code: ErrorCode::BadRequest,
            message: format!("bad request body: {}", e.inner()),
            field: (field != ".").then_some(field),
        })
    })
}

type Created = (StatusCode, Json<app::Queued>);

fn created(q: app::Queued) -> Created {
    (StatusCode::CREATED, Json(q))
}

// ------------------------------------------------------------------ reads

/// The answer of `GET /api/status` (SPEC §6): the sync state the status bar shows, and
/// who and what this till is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TillStatus {
    /// The server answered this till's last request.
    pub online: bool,
    /// Offline since the server last answered (durable: a restart offline keeps it);
    /// null while online, or if it never answered.
    #[schema(required = true)]
    pub offline_since: Option<DateTime<Utc>>,
    /// While a backlog drains (online only): how many of its ops are settled, of how
    /// many; null otherwise.
    #[schema(required = true)]
    pub sync: Option<app::DrainProgress>,
    /// Ops waiting for the server.
    pub pending: i64,
    /// Ops the server refused.
    pub failed: i64,
    /// Ops the server applied.
    pub synced: i64,
    /// When a push last got an answer; null before the first.
    #[schema(required = true)]
    pub last_push_at: Option<DateTime<Utc>>,
    /// When the last pull finished; null before the first.
    #[schema(required = true)]
    pub last_pull_at: Option<DateTime<Utc>>,
    /// Seconds since the last pull (the cache's age); null before the first.
    #[schema(required = true)]
    pub cache_age_s: Option<i64>,
    /// The cached status of this till's branch; null before the first pull.
    #[schema(required = true)]
    pub branch_status: Option<BranchStatus>,
    /// The cache has been fully hydrated once.
    pub hydrated: bool,
    /// The last sync failure, for people; null when none.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// This till.
    pub device: StatusDevice,
    /// Who is signed in here; null when nobody is.
    #[schema(required = true)]
    pub signed_in: Option<app::SignedIn>,
    /// The till was started with `--outage-switch` (`POST /api/outage` exists).
    pub outage_switch: bool,
    /// The simulated outage is on.
    pub simulated_outage: bool,
}

/// The till in [`TillStatus`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusDevice {
    /// Its id.
    pub device_id: Uuid,
    /// Its display name.
    pub name: String,
    /// Its receipt prefix.
    pub code: String,
    /// Its branch.
    pub branch_id: Uuid,
}

/// The `/api/status` answer.
pub async fn status_json(t: &Terminal) -> TerminalResult<TillStatus> {
    // The drain lock first, then a connection: a push holds it from its commit to its
    // count of what is left, so these counts and this progress are of the same moment.
    let drain_guard = t.drain.lock().await;
    let mut conn = t.db.reader().acquire().await?;
    let counts = db::counts(&mut conn).await?;
    let drain = *drain_guard;
    drop(drain_guard);
    let dev = db::device(&mut conn).await?.ok_or_else(|| TerminalError::Internal("not enrolled".into()))?;
    let branch = app::branch_status(&mut conn, dev.branch_id).await?;
    let signed_in = t.signed_in(&mut conn).await?;
    let cache_age_s = dev.last_pull_at.map(|at| (Utc::now() - at).num_seconds().max(0));
    let online = t.link.online();
    Ok(TillStatus {
        online,
        // Offline since the server last answered (durable: a restart offline keeps it).
        offline_since: if online { None } else { dev.last_contact_at },
        // While a backlog drains: how many of its ops are settled, of how many.
        sync: if online { app::DrainProgress::shown(drain, counts.pending) } else { None },
        pending: counts.pending,
        failed: counts.failed,
        synced: counts.synced,
        last_push_at: dev.last_push_at,
        last_pull_at: dev.last_pull_at,
        cache_age_s,
        branch_status: branch,
        hydrated: dev.hydrated_at.is_some(),
        last_error: dev.last_error,
        device: StatusDevice { device_id: dev.device_id, name: dev.name, code: dev.code, branch_id: dev.branch_id },
        signed_in,
        outage_switch: t.outage.is_some(),
        simulated_outage: t.simulated_outage(),
    })
}

#[utoipa::path(get, path = "/api/status", tag = "till", responses((status = 200, description = "Online or offline, pending, failed and synced counts, cache age, branch status, offline_since, sync {done, total}.", body = TillStatus), crate::openapi::Refusals))]
async fn status(State(t): State<Shared>) -> TerminalResult<Json<TillStatus>> {
    Ok(Json(status_json(&t).await?))
}

/// The answer of `GET /api/ops`: a page of the queue, oldest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpsPage {
    /// The ops, by `device_seq`.
    pub ops: Vec<OpRow>,
    /// When more ops follow this page: the `device_seq` to ask `after=` for the next one;
    /// null on the last page.
    #[schema(required = true)]
    pub next_after: Option<i64>,
}

/// One queued op as `GET /api/ops` lists it, with what people recognise it by (issue 23).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpRow {
    /// The op's id (its idempotency key).
    pub client_op_id: Uuid,
    /// The op's type (`sale.finalize`, `cashSession.open`, ...).
    #[serde(rename = "type")]
    pub op_type: String,
    /// Its place in this till's queue.
    pub device_seq: i64,
    /// Where it is.
    pub status: QueueStatus,
    /// The server's code when it refused the op; else null.
    #[schema(required = true)]
    pub code: Option<String>,
    /// The server's message when it refused the op; else null.
    #[schema(required = true)]
    pub message: Option<String>,
    /// When it happened at the till.
    pub occurred_at: String,
    /// When the server settled it; null while pending.
    #[schema(required = true)]
    pub settled_at: Option<String>,
    /// A sale's receipt number; null for other ops.
    #[schema(required = true)]
    pub receipt_no: Option<String>,
    /// A sale's total in cents; null for other ops.
    #[schema(required = true)]
    pub total_cents: Option<i64>,
    /// The name of who did it, from the cache; null when unknown.
    #[schema(required = true)]
    pub actor_name: Option<String>,
    /// A sale's (or void's) sale id; null for other ops.
    #[schema(required = true)]
    pub sale_id: Option<String>,
    /// For a refused op: how a manager resolved it, once the `resolutions` feed brings
    /// it; else null.
    #[schema(required = true, value_type = Option<modula_wire::reads::ResolutionView>)]
    pub resolution: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct OpsQuery {
    status: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/ops", tag = "till", params(("status" = Option<String>, Query, description = "PENDING, FAILED or SYNCED."), ("after" = Option<i64>, Query, description = "device_seq to page after."), ("limit" = Option<i64>, Query, description = "Page size, 1 to 1000 (default 200).")), responses((status = 200, description = "`{ops: [...], next_after}`, oldest first.", body = OpsPage), crate::openapi::Refusals))]
async fn ops(
    State(t): State<Shared>,
    q: Result<Query<OpsQuery>, axum::extract::rejection::QueryRejection>,
) -> TerminalResult<Json<OpsPage>> {
    let Query(q) = q.map_err(|e| TerminalError::invalid("query", format!("bad query string: {e}")))?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(QueueStatus::parse(s).ok_or_else(|| {
            TerminalError::invalid("status", "status must be PENDING, FAILED or SYNCED")
        })?),
    };
    let limit = q.limit.unwrap_or(OPS_PAGE_DEFAULT).clamp(1, db::OPS_PAGE_MAX);
    let mut conn = t.db.reader().acquire().await?;
    let mut rows = db::ops_by_status(&mut conn, status, q.after.unwrap_or(0), limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_after = if more { rows.last().map(|o| o.device_seq) } else { None };
    let names: std::collections::HashMap<String, String> = db::cached_scope(&mut conn, "staff")
        .await?
        .into_iter()
        .filter_map(|s| Some((s["id"].as_str()?.to_string(), s["name"].as_str()?.to_string())))
        .collect();
    let mut ops = Vec::with_capacity(rows.len());
    for o in rows {
        // What people recognise a refused op by (issue 23): a sale's receipt number and
        // amount, who did it, and whether a manager has resolved it since.
        let op: Value = serde_json::from_str(&o.op_json).unwrap_or(Value::Null);
        let resolution = match o.status {
            QueueStatus::Failed => db::cached_entity(&mut conn, "resolutions", o.client_op_id).await?,
            _ => None,
        };
        ops.push(OpRow {
            client_op_id: o.client_op_id,
            op_type: o.op_type,
            device_seq: o.device_seq,
            status: o.status,
            code: o.code,
            message: o.message,
            occurred_at: o.occurred_at,
            settled_at: o.settled_at,
            receipt_no: op["payload"]["receipt_no"].as_str().map(str::to_string),
            total_cents: op["payload"]["totals"]["total_cents"].as_i64(),
            actor_name: op["actor_id"].as_str().and_then(|id| names.get(id)).cloned(),
            sale_id: op["payload"]["sale_id"].as_str().map(str::to_string),
            resolution,
        });
    }
    Ok(Json(OpsPage { ops, next_after }))
}

/// The most recent voids the page is told about (to mark a receipt VOID).
const VOIDED_SHOWN_MAX: i64 = 500;

/// Everything the cashier's page draws besides the status bar.
#[utoipa::path(get, path = "/api/context", tag = "till", responses((status = 200, description = "What the page draws from: menu, staff, branch, policy, open drawer and shifts, from the cache.", body = serde_json::Value), crate::openapi::Refusals))]
async fn context(State(t): State<Shared>) -> TerminalResult<Json<Value>> {
    let mut conn = t.db.reader().acquire().await?;
    let signed_in = t.signed_in(&mut conn).await?;
    let policy = app::cached_policy(&mut conn, t.device.branch_id).await?;
    let mut menu = app::cached_menu(&mut conn).await?;
    menu.retain(|m| m.active);
    menu.sort_by(|a, b| (&a.category, &a.name).cmp(&(&b.category, &b.name)));
    let session = local::latest_session(&mut conn).await?.map(|s| app::session_json(&s));
    let shifts = local::open_shifts(&mut conn).await?;
    let staff: Vec<Value> = db::cached_scope(&mut conn, "staff")
        .await?
        .into_iter()
        .filter(|s| s["active"] == json!(true))
        .filter(|s| s["branch_ids"].as_array().is_some_and(|b| b.contains(&json!(t.device.branch_id))))
        .map(|s| json!({"id": s["id"], "name": s["name"], "role": s["role"]}))
        .collect();
    let open_shifts: Vec<Value> = shifts
        .into_iter()
        .map(|(shift, staff, started)| json!({"shift_id": shift, "staff_id": staff, "started_at": started}))
        .collect();
    let pending: Vec<(String, i64)> = local::stock_pending(&mut conn).await?;
    let mut stock: Vec<Value> = db::cached_scope(&mut conn, "inventory")
        .await?
        .into_iter()
        .map(|s| {
            let id = s["stock_item_id"].as_str().unwrap_or_default().to_string();
            let on_hand = s["on_hand"].as_i64().unwrap_or(0);
            let used: i64 = pending.iter().filter(|(i, _)| *i == id).map(|(_, q)| *q).sum();
            json!({"stock_item_id": id, "name": s["name"], "unit": s["unit"], "on_hand": on_hand,
                   "estimated_on_hand": on_hand.saturating_sub(used)})
        })
        .collect();
    stock.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let voided: Vec<String> = db::recent_ids(&mut conn, "voids", VOIDED_SHOWN_MAX).await?;
    Ok(Json(json!({
        "signed_in": signed_in, "policy": policy, "menu": menu, "cash_session": session,
        "open_shifts": open_shifts, "staff": staff, "stock": stock, "voided_sale_ids": voided,
    })))
}

// ------------------------------------------------------------------ receipts

#[derive(Debug, Deserialize)]
struct ReceiptsQuery {
    limit: Option<String>,
}

/// A `limit` that is not a whole number in 1 ..= [`crate::receipts::RECEIPTS_PAGE_MAX`]:
/// `400` naming it.
fn bad_limit() -> TerminalError {
    TerminalError::Rejected(modula_rules::Rejection {
        code: ErrorCode::BadRequest,
        message: format!("limit must be a whole number from 1 to {}", crate::receipts::RECEIPTS_PAGE_MAX),
        field: Some("limit".into()),
    })
}

/// `GET /api/receipts?limit=`: this till's receipts, newest first.
#[utoipa::path(get, path = "/api/receipts", tag = "till", params(("limit" = Option<u32>, Query, description = "1 to 500, default 50.")), responses((status = 200, description = "`{receipts: [...]}`, newest first.", body = crate::receipts::ReceiptsPage), crate::openapi::Refusals))]
async fn receipts(
    State(t): State<Shared>,
    q: Result<Query<ReceiptsQuery>, axum::extract::rejection::QueryRejection>,
) -> TerminalResult<Json<crate::receipts::ReceiptsPage>> {
    let Query(q) = q.map_err(|_| bad_limit())?;
    let limit = match q.limit.as_deref() {
        None => crate::receipts::RECEIPTS_PAGE_DEFAULT,
        Some(s) => s.parse::<i64>().ok().filter(|n| (1..=crate::receipts::RECEIPTS_PAGE_MAX).contains(n)).ok_or_else(bad_limit)?,
    };
    let mut conn = t.db.reader().acquire().await?;
    let list = crate::receipts::list(&mut conn, t.device.branch_id, limit).await?;
    Ok(Json(crate::receipts::ReceiptsPage { receipts: list }))
}

/// `GET /api/receipts/{sale_id}`: one receipt of this till (`404` for any other id).
#[utoipa::path(get, path = "/api/receipts/{sale_id}", tag = "till", params(("sale_id" = Uuid, Path, description = "The sale.")), responses((status = 200, description = "One receipt, to reprint.", body = crate::receipts::StoredReceipt), crate::openapi::Refusals))]
async fn receipt(State(t): State<Shared>, Path(sale_id): Path<String>) -> TerminalResult<Json<crate::receipts::StoredReceipt>> {
    let unknown = || TerminalError::refuse(ErrorCode::NotFound, "this till has no receipt of that sale");
    let sale_id = Uuid::parse_str(&sale_id).map_err(|_| unknown())?;
    let mut conn = t.db.reader().acquire().await?;
    let found = crate::receipts::one(&mut conn, t.device.branch_id, sale_id).await?;
    Ok(Json(found.ok_or_else(unknown)?))
}

// ------------------------------------------------------------------ sign-in

/// Body of `POST /api/signin`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SignInRequest {
    /// Who signs in.
    staff_id: Uuid,
    /// Their PIN.
    pin: String,
}

#[utoipa::path(post, path = "/api/signin", tag = "till", request_body = SignInRequest, responses((status = 200, description = "`{staff_id, pin}` in; that person is signed in at this till.", body = app::SignedIn), crate::openapi::Refusals))]
async fn sign_in(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Json<app::SignedIn>> {
    let req: SignInRequest = body(&bytes)?;
    Ok(Json(t.sign_in(req.staff_id, &req.pin).await?))
}

#[utoipa::path(post, path = "/api/signout", tag = "till", responses((status = 204, description = "Signed out."), crate::openapi::Refusals))]
async fn sign_out(State(t): State<Shared>) -> TerminalResult<StatusCode> {
    t.sign_out().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ actions

#[utoipa::path(post, path = "/api/sales", tag = "till", params(("Idempotency-Key" = Option<String>, Header, description = "One per checkout: a repeat answers the first result and queues nothing.")), request_body = app::SaleRequest, responses((status = 201, description = "Queued durably: the op and its receipt.", body = app::Queued), crate::openapi::Refusals))]
async fn sale(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Created> {
    let req: SaleRequest = body(&bytes)?;
    Ok(created(t.sale(req).await?))
}

/// `POST /api/quote`: the body of a sale, priced without selling.
#[utoipa::path(post, path = "/api/quote", tag = "till", request_body = app::SaleRequest, responses((status = 200, description = "The sale priced from the cache, nothing queued.", body = app::Quote), crate::openapi::Refusals))]
async fn quote(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Json<app::Quote>> {
    let req: SaleRequest = body(&bytes)?;
    Ok(Json(t.quote(req).await?))
}

/// Body of `POST /api/outage`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct OutageRequest {
    /// Cut the link to the server (true) or restore it (false).
    on: bool,
}

/// `POST /api/outage {"on": bool}` (only with `--outage-switch`).
#[utoipa::path(post, path = "/api/outage", tag = "till", request_body = OutageRequest, responses((status = 200, description = "`{on: bool}`: the simulated outage switch (when enabled).", body = serde_json::Value), crate::openapi::Refusals))]
async fn outage(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Json<Value>> {
    if t.outage.is_none() {
        // Before reading the body: without the switch, the endpoint does not exist.
        return Err(TerminalError::refuse(
            ErrorCode::NotFound,
            "this terminal was not started with --outage-switch, so it cannot simulate an outage",
        ));
    }
    let req: OutageRequest = body(&bytes)?;
    Ok(Json(t.set_outage(req.on).await?))
}

#[utoipa::path(post, path = "/api/cash-sessions/open", tag = "till", params(("Idempotency-Key" = Option<String>, Header, description = "One per checkout: a repeat answers the first result and queues nothing.")), request_body = app::OpenRequest, responses((status = 201, description = "`{opening_float_cents, opening_float_khr?}` in; queued.", body = app::Queued), crate::openapi::Refusals))]
async fn open_session(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Created> {
    let req: app::OpenRequest = body(&bytes)?;
    Ok(created(t.open_session(req).await?))
}

#[utoipa::path(post, path = "/api/cash-sessions/movement", tag = "till", params(("Idempotency-Key" = Option<String>, Header, description = "One per checkout: a repeat answers the first result and queues nothing.")), request_body = app::MovementRequest, responses((status = 201, description = "Queued.", body = app::Queued), crate::openapi::Refusals))]
async fn movement(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Created> {
    let req: MovementRequest = body(&bytes)?;
    Ok(created(t.movement(req).await?))
}

#[utoipa::path(post, path = "/api/cash-sessions/close/preview", tag = "till", request_body = app::CloseRequest, responses((status = 200, description = "What closing with these counts would show.", body = serde_json::Value), crate::openapi::Refusals))]
async fn close_preview(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Json<Value>> {
    let req: app::CloseRequest = body(&bytes)?;
    Ok(Json(t.close_preview(req).await?))
}

#[utoipa::path(post, path = "/api/cash-sessions/close", tag = "till", params(("Idempotency-Key" = Option<String>, Header, description = "One per checkout: a repeat answers the first result and queues nothing.")), request_body = app::CloseRequest, responses((status = 201, description = "`{counted_cash_cents, counted_khr?}` in; queued.", body = app::Queued), crate::openapi::Refusals))]
async fn close_session(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Created> {
    let req: app::CloseRequest = body(&bytes)?;
    Ok(created(t.close_session(req).await?))
}

/// Body of `POST /api/attendance/start` and `/end` (an empty body is `{}`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct ShiftRequest {
    /// Whose shift; absent or null: the signed-in person's.
    #[serde(default)]
    staff_id: Option<Uuid>,
}

#[utoipa::path(post, path = "/api/attendance/start", tag = "till", params(("Idempotency-Key" = Option<String>, Header, description = "One per checkout: a repeat answers the first result and queues nothing.")), request_body = ShiftRequest, responses((status = 201, description = "`{staff_id?}` in; queued.", body = app::Queued), crate::openapi::Refusals))]
async fn start_work(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Created> {
    let req: ShiftRequest = body(&bytes)?;
    Ok(created(t.start_work(req.staff_id).await?))
}

#[utoipa::path(post, path = "/api/attendance/end", tag = "till", params(("Idempotency-Key" = Option<String>, Header, description = "One per checkout: a repeat answers the first result and queues nothing.")), request_body = ShiftRequest, responses((status = 201, description = "`{staff_id?}` in; queued.", body = app::Queued), crate::openapi::Refusals))]
async fn end_work(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Created> {
    let req: ShiftRequest = body(&bytes)?;
    Ok(created(t.end_work(req.staff_id).await?))
}

#[utoipa::path(post, path = "/api/sales/{sale_id}/void", tag = "till", params(("Idempotency-Key" = Option<String>, Header, description = "One per checkout: a repeat answers the first result and queues nothing."), ("sale_id" = Uuid, Path, description = "The sale.")), request_body = app::VoidRequest, responses((status = 200, description = "Voided online, a manager signed in.", body = serde_json::Value), crate::openapi::Refusals))]
async fn void_sale(
    State(t): State<Shared>,
    sale_id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
    RawBody(bytes): RawBody,
) -> TerminalResult<Json<Value>> {
    let Path(sale_id) = sale_id.map_err(|_| TerminalError::invalid("sale_id", "the path must name a sale by its UUID"))?;
    let req: app::VoidRequest = body(&bytes)?;
    Ok(Json(t.void_sale(sale_id, req).await?))
}

#[utoipa::path(post, path = "/api/inventory/restock", tag = "till", params(("Idempotency-Key" = Option<String>, Header, description = "One per checkout: a repeat answers the first result and queues nothing.")), request_body = serde_json::Value, responses((status = 200, description = "Sent online.", body = serde_json::Value), crate::openapi::Refusals))]
async fn restock(State(t): State<Shared>, RawBody(bytes): RawBody) -> TerminalResult<Json<Value>> {
    let req: Value = body(&bytes)?;
    Ok(Json(t.restock(req).await?))
}

#[cfg(test)]
mod page_words_tests {
    /// Every literal string key the cashier's markup and scripts ask for is in its table.
    #[test]
    fn every_key_the_page_names_is_in_its_table() {
        let missing = modula_i18n::missing_keys(modula_i18n::Page::Till, &[super::PAGE_HTML, super::PAGE_JS, super::CORE_JS]);
        assert!(missing.is_empty(), "keys missing from crates/i18n/tables/till.*.json: {missing:?}");
    }
}
