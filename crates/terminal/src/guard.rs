//! The local API's guard (SPEC §6): only the till's own page may drive it.
//!
//! A web page of another origin in the same browser can send requests to the till's
//! loopback port, and a DNS-rebinding page can even make them look same-origin. So every
//! request must name the till in `Host` (its listen address or `localhost:PORT`; else
//! `421`), a request that carries a body must say `Content-Type: application/json`
//! (else `415`: a foreign page cannot send that without a CORS preflight, which the till
//! never answers), and a request whose `Origin` is present must come from the till's own
//! origin (else `403`). The page itself is served with a strict Content-Security-Policy
//! and may not be framed.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use modula_wire::{ErrorCode, Problem};

use crate::error::problem_response;

/// The Content-Security-Policy of the cashier's page: its own scripts, styles and API
/// only; no inline script, no framing, no form posts elsewhere.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                            font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
                            frame-ancestors 'none'";

/// Which `Host` (and so which `Origin`) the till answers to.
#[derive(Debug, Clone)]
pub struct LocalOrigin {
    /// The port the local API listens on.
    port: u16,
    /// The listen address as a `Host` value (`127.0.0.1:8081`, `[::1]:8081`); `None` when
    /// listening on every interface (then any IP literal with the port is accepted: a
    /// DNS-rebinding page always comes with a name, never an IP literal).
    host: Option<String>,
}

impl LocalOrigin {
    /// The origin of a till listening on `addr`.
    pub fn new(addr: SocketAddr) -> LocalOrigin {
        let host = (!addr.ip().is_unspecified()).then(|| addr.to_string());
        LocalOrigin { port: addr.port(), host }
    }

    /// Whether a `Host` header value names this till.
    pub fn is_own_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if host == format!("localhost:{}", self.port) {
            return true;
        }
        match &self.host {
            Some(own) => host == *own,
            None => host.parse::<SocketAddr>().is_ok_and(|a| a.port() == self.port),
        }
    }

    /// Whether an `Origin` header value is this till's own page.
    pub fn is_own_origin(&self, origin: &str) -> bool {
        origin.strip_prefix("http://").is_some_and(|host| self.is_own_host(host))
    }
}

fn refuse(status: u16, code: ErrorCode, detail: &str) -> Response {
    problem_response(&Problem::new(status, code, detail))
}

/// The middleware: the three checks, then the request; security headers on the way out.
pub async fn guard(State(own): State<LocalOrigin>, req: Request, next: Next) -> Response {
    let mut resp = match check(&own, req.method(), req.headers()) {
        Some(refusal) => refusal,
        None => next.run(req).await,
    };
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    resp
}

/// The refusal a request gets, if any.
fn check(own: &LocalOrigin, method: &Method, headers: &HeaderMap) -> Option<Response> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !own.is_own_host(host) {
        let detail = "this till answers only to its own address (Host: localhost:PORT or the address it listens on)";
        return Some(refuse(421, ErrorCode::MisdirectedRequest, detail));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        if !origin.to_str().is_ok_and(|o| own.is_own_origin(o)) {
            let detail = "this till takes requests only from its own page, not from another web page";
            return Some(refuse(403, ErrorCode::Forbidden, detail));
        }
    }
    if has_body(method, headers) && !is_json(headers) {
        let detail = "send the body as Content-Type: application/json";
        return Some(refuse(415, ErrorCode::UnsupportedMediaType, detail));
    }
    None
}

/// Whether a request carries a body (a declared length above zero, or a chunked one).
fn has_body(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) && !headers.contains_key(header::CONTENT_LENGTH) {
        return false;
    }
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING)
}

fn is_json(headers: &HeaderMap) -> bool {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let own = LocalOrigin::new("127.0.0.1:8081".parse().unwrap());
        for ok in ["127.0.0.1:8081", "localhost:8081", "LOCALHOST:8081"] {
            assert!(own.is_own_host(ok), "{ok}");
        }
        for bad in ["", "127.0.0.1", "127.0.0.1:8082", "rebind.evil.example:8081", "localhost", "[::1]:8081", "evil.localhost:8081"] {
            assert!(!own.is_own_host(bad), "{bad}");
        }
        assert!(own.is_own_origin("http://127.0.0.1:8081") && own.is_own_origin("http://localhost:8081"));
        for bad in ["null", "http://evil.example", "https://127.0.0.1:8081", "http://127.0.0.1:8081.evil.example"] {
            assert!(!own.is_own_origin(bad), "{bad}");
        }
        let any = LocalOrigin::new("0.0.0.0:9000".parse().unwrap());
        assert!(any.is_own_host("192.168.1.20:9000") && any.is_own_host("localhost:9000"));
        assert!(!any.is_own_host("till.example:9000") && !any.is_own_host("192.168.1.20:9001"));
    }
}
