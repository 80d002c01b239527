//! The manager's dashboard (§5.5): one static page, its stylesheet and its script,
//! embedded in the binary. The page signs in through `POST /v1/auth/login` and reads the
//! JSON API with the token it got; it has no server-side state of its own.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../dashboard/index.html");
const CSS: &str = include_str!("../dashboard/dashboard.css");
const JS: &str = include_str!("../dashboard/dashboard.js");

/// Only this origin's own files and API; no inline script, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        body,
    )
        .into_response()
}

/// `GET /dashboard`.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /dashboard/dashboard.css`.
pub async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// `GET /dashboard/dashboard.js`.
pub async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

/// `GET /dashboard/i18n.js`: the page's words in both languages and the script that
/// applies them (crates/i18n), loaded before the dashboard's own script.
pub async fn i18n_js() -> Response {
    asset("text/javascript; charset=utf-8", modula_i18n::script(modula_i18n::Page::Dashboard))
}

fn font(bytes: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "font/woff2"),
            (header::CACHE_CONTROL, "max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response()
}

/// `GET /dashboard/khmer-400.woff2`: Noto Sans Khmer, regular (crates/i18n).
pub async fn khmer_400() -> Response {
    font(modula_i18n::FONT_KHMER_400)
}

/// `GET /dashboard/khmer-700.woff2`: Noto Sans Khmer, bold.
pub async fn khmer_700() -> Response {
    font(modula_i18n::FONT_KHMER_700)
}

#[cfg(test)]
mod tests {
    /// Every literal string key the dashboard's markup and script ask for is in its table.
    #[test]
    fn every_key_the_dashboard_names_is_in_its_table() {
        let missing = modula_i18n::missing_keys(modula_i18n::Page::Dashboard, &[super::PAGE, super::JS]);
        assert!(missing.is_empty(), "keys missing from crates/i18n/tables/dashboard.*.json: {missing:?}");
    }
}
