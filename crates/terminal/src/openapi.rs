//! The OpenAPI 3.1 description of the till's local API (`GET /api/openapi.json`, SPEC
//! §6), generated from the code: every `/api` route is registered through
//! `utoipa_axum::routes!` from its handler's `#[utoipa::path]`.

use std::collections::BTreeMap;

use utoipa::openapi::{RefOr, Response};
use utoipa::OpenApi;

/// The document's fixed parts.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Modula till (local API)",
        description = "The API of one till, on its own loopback address, for its page and for outside \
                       tests. It answers only its own Host and Origin, takes bodies only as \
                       application/json, and needs no token: the signed-in person is the actor. \
                       Every refusal is an RFC 9457 application/problem+json body whose `code` is one \
                       of `ErrorCode`."
    ),
    components(schemas(modula_wire::ErrorCode, modula_wire::Problem)),
    tags((name = "till", description = "The cashier's page's API."))
)]
pub struct ApiDoc;

/// The refusals every operation may answer.
pub struct Refusals;

/// The statuses of [`Refusals`], with what each means at a till.
pub const REFUSALS: [(u16, &str); 12] = [
    (400, "The body or query is not valid."),
    (401, "Nobody is signed in, or a wrong PIN (UNAUTHORIZED)."),
    (403, "The signed-in person may not do this, or the Origin is another site's (FORBIDDEN)."),
    (404, "No such thing (NOT_FOUND)."),
    (405, "The path does not take this method (METHOD_NOT_ALLOWED)."),
    (409, "It conflicts with the drawer or shift state, or needs confirming (CONFIRMATION_REQUIRED)."),
    (415, "The body is not application/json (UNSUPPORTED_MEDIA_TYPE)."),
    (421, "The Host is not the till's own (MISDIRECTED_REQUEST)."),
    (422, "A field is invalid, or it needs the internet (NOT_ALLOWED_OFFLINE)."),
    (423, "The branch is frozen (BRANCH_FROZEN)."),
    (429, "Too many wrong PINs (PIN_LOCKED); see Retry-After."),
    (503, "The menu or policy is not cached yet (CACHE_MISSING), or the server is unreachable for an online-only action."),
];

impl utoipa::IntoResponses for Refusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        modula_wire::openapi::problem_responses(&REFUSALS)
    }
}
