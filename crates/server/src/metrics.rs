//! Request counters rendered as Prometheus text at `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Most distinct (route, method, status) series kept; routes are a fixed set, so this
/// only guards against a bug.
const SERIES_MAX: usize = 1024;

#[derive(Default)]
struct Series {
    count: u64,
    duration_sum_us: u64,
}

/// In-process request metrics.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, route: &str, method: &str, status: u16, duration_us: u64) {
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let key = (route.to_string(), method.to_string(), status);
        if map.len() >= SERIES_MAX && !map.contains_key(&key) {
            return;
        }
        let s = map.entry(key).or_default();
        s.count += 1;
        s.duration_sum_us += duration_us;
    }

    /// Prometheus text exposition.
    pub fn render(&self, backend: &str) -> String {
        let map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP modula_info Server build and storage backend.\n# TYPE modula_info gauge\n");
        out.push_str(&format!(
            "modula_info{{version=\"{}\",backend=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION"),
            backend
        ));
        out.push_str("# HELP modula_http_requests_total HTTP requests by route, method and status.\n");
        out.push_str("# TYPE modula_http_requests_total counter\n");
        for ((route, method, status), s) in map.iter() {
            out.push_str(&format!(
                "modula_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}\n",
                s.count
            ));
        }
        out.push_str("# HELP modula_http_request_duration_seconds_sum Total time spent answering.\n");
        out.push_str("# TYPE modula_http_request_duration_seconds_sum counter\n");
        for ((route, method, status), s) in map.iter() {
            out.push_str(&format!(
                "modula_http_request_duration_seconds_sum{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {:.6}\n",
                s.duration_sum_us as f64 / 1e6
            ));
        }
        out
    }
}

/// Middleware recording every request.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
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
