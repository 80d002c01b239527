//! Pieces of the OpenAPI documents the server (`/openapi.json`) and the till
//! (`/api/openapi.json`) both use.

use std::collections::BTreeMap;

use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response};

/// One `application/problem+json` answer of the `Problem` schema per `(status, what it
/// means here)`: the refusals an operation may answer.
pub fn problem_responses(statuses: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    let mut b = ResponsesBuilder::new();
    for (status, what) in statuses {
        assert!((400..600).contains(status), "a refusal is a 4xx or 5xx");
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        b = b.response(status.to_string(), ResponseBuilder::new().description(*what).content("application/problem+json", content));
    }
    b.build().into()
}
