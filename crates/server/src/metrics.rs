//! Request counters rendered as Prometheus text at `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Most distinct (route, method, status) series kept; routes are a fixed set, so this
/// only guards against a bug.
const SERIES_MAX: usize = 1024;

#[derive(Default)]
struct Series {
    count: u64,
    duration_sum_us: u64,
}

/// Time spent on branch row locks by op-lane requests (push and online lane).
#[derive(Default)]
struct BranchLock {
    count: u64,
    wait_us_sum: u64,
    held_us_sum: u64,
}

/// In-process request metrics.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
    branch_lock: Mutex<BranchLock>,
    /// Pushes decided again with their branch locked first, by what made the first
    /// decision unusable (a closed set of reasons, so the series stay bounded).
    push_retries: Mutex<BTreeMap<&'static str, u64>>,
    /// Pushes answered `503` at the push gate (no place within its wait).
    push_shed: std::sync::atomic::AtomicU64,
}

impl Metrics {
    /// Records one committed op-lane transaction: how long it waited for its branch's
    /// row lock and how long it then held it, to commit. All writers of a branch queue
    /// on that lock, so a growing wait is the sign of a branch at its write capacity.
    pub fn observe_branch_lock(&self, wait: Duration, held: Duration) {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut b = self.branch_lock.lock().unwrap_or_else(|p| p.into_inner());
        b.count += 1;
        b.wait_us_sum = b.wait_us_sum.saturating_add(us(wait));
        b.held_us_sum = b.held_us_sum.saturating_add(us(held));
    }

    /// Counts a push decided again with its branch locked first; `reason` is `branch`
    /// (an admin write reached the branch meanwhile) or `key` (a key another device
    /// inserted meanwhile).
    pub fn count_push_retry(&self, reason: &'static str) {
        let mut m = self.push_retries.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(reason).or_default() += 1;
    }

    /// Counts a push answered `503` at the push gate.
    pub fn count_push_shed(&self) {
        self.push_shed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

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
        let b = self.branch_lock.lock().unwrap_or_else(|p| p.into_inner());
        for (name, help, sum_us) in [
            ("wait", "Time op-lane writes waited for their branch's row lock.", b.wait_us_sum),
            ("held", "Time op-lane writes held their branch's row lock, to commit.", b.held_us_sum),
        ] {
            out.push_str(&format!("# HELP modula_branch_lock_{name}_seconds {help}\n"));
            out.push_str(&format!("# TYPE modula_branch_lock_{name}_seconds summary\n"));
            out.push_str(&format!("modula_branch_lock_{name}_seconds_sum {:.6}\n", sum_us as f64 / 1e6));
            out.push_str(&format!("modula_branch_lock_{name}_seconds_count {}\n", b.count));
        }
        out.push_str("# HELP modula_push_retries_total Pushes decided again with the branch locked first, by reason.\n");
        out.push_str("# TYPE modula_push_retries_total counter\n");
        for (reason, n) in self.push_retries.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&format!("modula_push_retries_total{{reason=\"{reason}\"}} {n}\n"));
        }
        out.push_str("# HELP modula_push_shed_total Pushes answered 503 at the push gate (busy; sent again later).\n");
        out.push_str("# TYPE modula_push_shed_total counter\n");
        let shed = self.push_shed.load(std::sync::atomic::Ordering::Relaxed);
        out.push_str(&format!("modula_push_shed_total {shed}\n"));
        out
    }
}
