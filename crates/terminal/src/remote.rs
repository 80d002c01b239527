//! The server as the terminal sees it: a thin HTTP client over the `/v1` API.
//!
//! Every call classifies its failure the way the sync engine needs it: the link is down
//! ([`RemoteError::Transport`]), the server is up but failing (`5xx`), or the server gave
//! a definite answer (`4xx` with its problem document).

use std::time::Duration;

use modula_wire::sync::{DeviceSelf, PullPage};
use modula_wire::{OpResult, Problem, PushResponse};
use uuid::Uuid;

/// Longest wait for a TCP connection to the server.
pub const CONNECT_TIMEOUT_MS: u64 = 2_000;
/// Longest wait for a push or pull answer.
pub const REQUEST_TIMEOUT_MS: u64 = 15_000;
/// Longest wait for a health probe or a direct-lane answer.
pub const QUICK_TIMEOUT_MS: u64 = 3_000;
/// Largest answer body the terminal reads (a pull page or push answer), in bytes.
pub const ANSWER_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Largest error body the terminal reads, in bytes.
pub const ERROR_BODY_MAX_BYTES: usize = 64 * 1024;

/// Why a call to the server did not give an answer to act on.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// No answer at all: connection refused, reset or timed out. The link is down.
    #[error("server unreachable: {0}")]
    Transport(String),
    /// The server answered with a 5xx: up, but failing or busy; retry later.
    #[error("server error {status}: {detail}")]
    Server {
        /// The status.
        status: u16,
        /// Its detail, when the body had one.
        detail: String,
        /// Its `Retry-After`, in seconds, when it said when to come back (a busy `503`).
        retry_after_s: Option<u64>,
    },
    /// The server refused the request with a 4xx problem document.
    #[error("refused ({}): {}", .0.code, .0.detail)]
    Refused(Box<Problem>),
    /// The answer was not what the protocol says.
    #[error("bad answer from server: {0}")]
    Protocol(String),
}

impl RemoteError {
    /// Is the link itself down (as opposed to the server answering)?
    pub fn is_transport(&self) -> bool {
        matches!(self, RemoteError::Transport(_))
    }

    /// When a busy server asked to be called again (`503` with `Retry-After`), at most
    /// `cap`: the link is fine, so this is no reason to back off further.
    pub fn retry_after(&self, cap: Duration) -> Option<Duration> {
        match self {
            RemoteError::Server { status: 503, retry_after_s: Some(s), .. } => Some(Duration::from_secs(*s).min(cap)),
            _ => None,
        }
    }
}

/// The outcome of a direct online-lane call.
#[derive(Debug)]
pub enum DirectOutcome {
    /// Applied now or earlier (201, possibly replayed): the stored result.
    Applied(serde_json::Value),
    /// A business refusal, stored by the server like a push rejection.
    Rejected(Problem),
}

/// How the terminal trusts its server (SPEC §6): HTTPS with the system's roots plus an
/// optional CA of the shop's own; plain `http://` only to a loopback server, or when
/// allowed outright.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// A CA certificate (PEM) trusted besides the system's roots (`--ca-cert FILE`).
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Allow `http://` to a server that is not on this machine (`--insecure-http`).
    pub insecure_http: bool,
}

/// Refuses a server URL the terminal must not speak to: not `http(s)://`, or `http://` to
/// a host other than loopback without `insecure_http`.
pub fn check_server_url(url: &str, tls: &TlsOptions) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("the server URL {url:?} is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if tls.insecure_http || is_loopback(&parsed) => Ok(()),
        "http" => Err(format!(
            "refusing plain http:// to {url}: device tokens and the feed would cross the network in the clear. \
             Use https:// (with --ca-cert FILE for the shop's own CA), or --insecure-http if you really must"
        )),
        other => Err(format!("the server URL must start with https:// (or http:// on this machine), not {other}://")),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An HTTP client bound to one server and one device token.
#[derive(Debug, Clone)]
pub struct Remote {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Remote {
    /// A client for `base` with the device's bearer token, trusting the system's roots and
    /// `tls`'s CA. (The URL rules are [`check_server_url`]'s, applied to the enrolled URL.)
    pub fn new(base: &str, token: &str, tls: &TlsOptions) -> Result<Remote, String> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(false)
            .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(pem) = &tls.ca_cert_pem {
            let ca = reqwest::Certificate::from_pem(pem).map_err(|e| format!("the --ca-cert file is not a PEM certificate: {e}"))?;
            builder = builder.add_root_certificate(ca);
        }
        let http = builder.build().map_err(|e| format!("cannot set up the HTTPS client: {e}"))?;
        Ok(Remote { http, base: base.trim_end_matches('/').to_string(), token: token.to_string() })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /healthz`: is the server reachable?
    pub async fn probe(&self) -> Result<(), RemoteError> {
        let r = self.http.get(self.url("/healthz")).timeout(Duration::from_millis(QUICK_TIMEOUT_MS)).send().await;
        let r = r.map_err(transport)?;
        check(r).await.map(drop)
    }

    /// `GET /v1/devices/me`.
    pub async fn whoami(&self) -> Result<DeviceSelf, RemoteError> {
        let r = self.http.get(self.url("/v1/devices/me")).bearer_auth(&self.token);
        let r = r.timeout(Duration::from_millis(REQUEST_TIMEOUT_MS)).send().await.map_err(transport)?;
        json(check(r).await?).await
    }

    /// `POST /v1/sync/push` with ops already serialized as JSON objects.
    pub async fn push(&self, device_id: Uuid, ops_json: &[&str]) -> Result<Vec<OpResult>, RemoteError> {
        let mut body = String::with_capacity(ops_json.iter().map(|o| o.len() + 1).sum::<usize>() + 80);
        body.push_str(&format!("{{\"device_id\":\"{device_id}\",\"operations\":["));
        body.push_str(&ops_json.join(","));
        body.push_str("]}");
        let r = self
            .http
            .post(self.url("/v1/sync/push"))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
            .send()
            .await
            .map_err(transport)?;
        let answer: PushResponse = json(check(r).await?).await?;
        Ok(answer.results)
    }

    /// `GET /v1/sync/pull`.
    pub async fn pull(&self, branch_id: Uuid, scopes: &str, cursor: Option<&str>, limit: u32) -> Result<PullPage, RemoteError> {
        let mut q = vec![("branch_id", branch_id.to_string()), ("scopes", scopes.to_string()), ("limit", limit.to_string())];
        if let Some(c) = cursor {
            q.push(("cursor", c.to_string()));
        }
        let r = self.http.get(self.url("/v1/sync/pull")).query(&q).bearer_auth(&self.token);
        let r = r.timeout(Duration::from_millis(REQUEST_TIMEOUT_MS)).send().await.map_err(transport)?;
        json(check(r).await?).await
    }

    /// Opens `GET /v1/sync/events` (the caller reads the stream).
    pub async fn events(&self, branch_id: Uuid) -> Result<reqwest::Response, RemoteError> {
        let r = self.http.get(self.url("/v1/sync/events")).query(&[("branch_id", branch_id.to_string())]);
        let r = r.bearer_auth(&self.token).send().await.map_err(transport)?;
        check(r).await
    }

    /// A direct online-lane call (§5.2) for an op: `Idempotency-Key` = its `client_op_id`.
    pub async fn direct(&self, op: &modula_wire::Op) -> Result<DirectOutcome, RemoteError> {
        let path = direct_path(op)?;
        let body = serde_json::json!({
            "tenant_id": op.tenant_id, "branch_id": op.branch_id, "actor_id": op.actor_id,
            "device_seq": op.device_seq, "occurred_at": op.occurred_at, "payload": op.payload,
            "depends_on": op.depends_on,
        });
        let r = self
            .http
            .post(self.url(&path))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", op.client_op_id.to_string())
            .json(&body)
            .timeout(Duration::from_millis(QUICK_TIMEOUT_MS))
            .send()
            .await
            .map_err(transport)?;
        match check(r).await {
            Ok(r) => Ok(DirectOutcome::Applied(json(r).await?)),
            Err(RemoteError::Refused(p)) if is_stored_rejection(&p) => Ok(DirectOutcome::Rejected(*p)),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/sales/{id}` with the device token (a sale of its branch).
    pub async fn sale(&self, sale_id: Uuid) -> Result<serde_json::Value, RemoteError> {
        let r = self.http.get(self.url(&format!("/v1/sales/{sale_id}"))).bearer_auth(&self.token);
        let r = r.timeout(Duration::from_millis(QUICK_TIMEOUT_MS)).send().await.map_err(transport)?;
        json(check(r).await?).await
    }

    /// `POST /v1/devices/me/events`: till events for the server's audit trail.
    pub async fn device_events(&self, events: &[serde_json::Value]) -> Result<(), RemoteError> {
        let body = serde_json::json!({ "events": events });
        let r = self.http.post(self.url("/v1/devices/me/events")).bearer_auth(&self.token).json(&body);
        let r = r.timeout(Duration::from_millis(QUICK_TIMEOUT_MS)).send().await.map_err(transport)?;
        check(r).await.map(|_| ())
    }

    /// `POST /v1/inventory/restock` with the device token; the body names the manager
    /// signed in at this till as `actor_id` (the server checks them like an op's actor).
    pub async fn restock(&self, body: &serde_json::Value) -> Result<serde_json::Value, RemoteError> {
        let r = self.http.post(self.url("/v1/inventory/restock")).bearer_auth(&self.token).json(body);
        let r = r.timeout(Duration::from_millis(QUICK_TIMEOUT_MS)).send().await.map_err(transport)?;
        json(check(r).await?).await
    }
}

/// The direct-lane path of an op type.
fn direct_path(op: &modula_wire::Op) -> Result<String, RemoteError> {
    let session = || op.payload["cash_session_id"].as_str().unwrap_or_default().to_string();
    Ok(match op.op_type.as_str() {
        "sale.finalize" => "/v1/sales".into(),
        "cashSession.open" => "/v1/cash-sessions".into(),
        "cashSession.movement" => format!("/v1/cash-sessions/{}/movements", session()),
        "cashSession.close" => format!("/v1/cash-sessions/{}/close", session()),
        "attendance.startWork" => "/v1/attendance/start".into(),
        "attendance.endWork" => "/v1/attendance/end".into(),
        "sale.void" => format!("/v1/sales/{}/void", op.payload["sale_id"].as_str().unwrap_or_default()),
        other => return Err(RemoteError::Protocol(format!("no direct endpoint for {other}"))),
    })
}

/// Is this direct-lane refusal an op outcome the server stored (so it is final)?
fn is_stored_rejection(p: &Problem) -> bool {
    use modula_wire::ErrorCode::*;
    matches!(
        p.code,
        Forbidden
            | BranchFrozen
            | ValidationFailed
            | PayloadMismatch
            | NotAllowedOffline
            | UnknownOpType
            | NoOpenCashSession
            | CashSessionAlreadyOpen
            | CashSessionClosed
            | ShiftAlreadyOpen
            | NoOpenShift
            | InsufficientTender
            | DependencyFailed
            | DependencyMissing
    )
}

/// A transport failure with its causes (a certificate that does not verify says so).
fn transport(e: reqwest::Error) -> RemoteError {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    RemoteError::Transport(text)
}

async fn check(r: reqwest::Response) -> Result<reqwest::Response, RemoteError> {
    let status = r.status().as_u16();
    if r.status().is_success() {
        return Ok(r);
    }
    let retry_after_s = retry_after_s(r.headers());
    let body = read_capped(r, ERROR_BODY_MAX_BYTES).await?;
    let problem: Option<Problem> = serde_json::from_slice(&body).ok();
    if status >= 500 {
        let detail = problem.map(|p| p.detail).unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        return Err(RemoteError::Server { status, detail, retry_after_s });
    }
    match problem {
        Some(p) => Err(RemoteError::Refused(Box::new(p))),
        None => Err(RemoteError::Protocol(format!("{status} without a problem document"))),
    }
}

/// A `Retry-After` given in seconds (the server's form; an HTTP date is ignored).
fn retry_after_s(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

async fn json<T: serde::de::DeserializeOwned>(r: reqwest::Response) -> Result<T, RemoteError> {
    let body = read_capped(r, ANSWER_MAX_BYTES).await?;
    serde_json::from_slice(&body).map_err(|e| RemoteError::Protocol(e.to_string()))
}

/// Reads a body, refusing one larger than `max_bytes` (with or without Content-Length).
async fn read_capped(mut r: reqwest::Response, max_bytes: usize) -> Result<Vec<u8>, RemoteError> {
    if r.content_length().is_some_and(|n| n as usize > max_bytes) {
        return Err(RemoteError::Protocol("answer too large".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(RemoteError::Protocol("answer too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
