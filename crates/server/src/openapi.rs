//! The OpenAPI 3.1 description of the HTTP API (`GET /openapi.json`, SPEC §5.5),
//! generated from the code: every `/v1` route is registered through
//! `utoipa_axum::routes!` from its handler's `#[utoipa::path]`, so a route and its
//! entry in the document are one declaration; schemas come from the wire types'
//! `ToSchema`. `tests/api/openapi.rs` walks the router against the document and
//! validates the examples against their schemas.

use std::collections::BTreeMap;

use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response};
use utoipa::{Modify, OpenApi};

/// The document's fixed parts: title, the bearer scheme, the problem schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Modula Offline Sync",
        description = "The café point-of-sale sync server: the push replay lane, the direct online lane, \
                       the pull feed, admin and reports. Every non-2xx answer is an RFC 9457 \
                       application/problem+json body whose `code` is one of `ErrorCode`."
    ),
    components(schemas(modula_wire::ErrorCode, modula_wire::Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in and sign-out."),
        (name = "admin", description = "Branches, staff, devices, menu, stock and policy (manager or owner)."),
        (name = "sync", description = "The till's push, pull and nudges."),
        (name = "online", description = "The direct online lane (Idempotency-Key)."),
        (name = "reports", description = "Sales, cash sessions, reports, attendance and audit."),
        (name = "health", description = "Liveness, readiness and metrics; no token."),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(
                "A staff token (`POST /v1/auth/login`, `modula admin init`) or a device token (`POST /v1/devices`).",
            )).build()),
        );
    }
}

/// The refusals every operation may answer, each an `application/problem+json`
/// [`modula_wire::Problem`].
pub struct Refusals;

/// The statuses of [`Refusals`], with what each means here.
pub const REFUSALS: [(u16, &str); 13] = [
    (400, "The request is not valid (BAD_REQUEST, IDEMPOTENCY_KEY_MISSING)."),
    (401, "No token, or a wrong, expired or revoked one (UNAUTHORIZED)."),
    (403, "The caller may not do this (FORBIDDEN)."),
    (404, "No such thing, or not the caller's to see (NOT_FOUND)."),
    (405, "The path does not take this method (METHOD_NOT_ALLOWED)."),
    (409, "It conflicts with what is recorded (CONFLICT and the cash-session codes)."),
    (413, "The body or batch is over a limit (PAYLOAD_TOO_LARGE)."),
    (415, "The body is not JSON (UNSUPPORTED_MEDIA_TYPE)."),
    (422, "A field is invalid (VALIDATION_FAILED, PAYLOAD_MISMATCH, ...)."),
    (423, "The branch is frozen (BRANCH_FROZEN)."),
    (429, "Too many wrong sign-ins (LOGIN_LOCKED, PIN_LOCKED); see Retry-After."),
    (500, "A bug on the server (INTERNAL)."),
    (503, "The store is busy or down (SERVICE_UNAVAILABLE); see Retry-After."),
];

impl utoipa::IntoResponses for Refusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        modula_wire::openapi::problem_responses(&REFUSALS)
    }
}

/// `/healthz`, `/readyz` and `/metrics`, described by hand: they are outside `/v1`, take
/// no token and answer no JSON of the wire's.
pub fn health_paths() -> utoipa::openapi::Paths {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
    let op = |summary: &str, ok: &str| {
        OperationBuilder::new()
            .tag("health")
            .summary(Some(summary))
            .security(utoipa::openapi::security::SecurityRequirement::default())
            .response("200", ResponseBuilder::new().description(ok).build())
            .build()
    };
    PathsBuilder::new()
        .path("/healthz", PathItem::new(HttpMethod::Get, op("Liveness.", "`{status: \"ok\"}`.")))
        .path("/readyz", PathItem::new(HttpMethod::Get, op("Readiness: the store answers.", "`{status: \"ready\"}`; 503 when not.")))
        .path("/metrics", PathItem::new(HttpMethod::Get, op("Prometheus metrics.", "Prometheus text format.")))
        .build()
}
