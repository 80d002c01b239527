//! The server processes of the PostgreSQL push benchmark: starting `modula serve`
//! children (each optionally under a CPU quota of its own, a cgroup), and reading the CPU
//! time they and the machine spent (`/proc`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use uuid::Uuid;

use super::BIN;

/// CPU quota of each capped server process, in cores (`BENCH_CPU_CAP` sets another).
pub(crate) const CPU_CAP_CORES: f64 = 0.3;

/// A `modula serve` child, its base URL and the CPU quota it runs under, if any. Drop
/// kills the child first, then removes its quota's cgroup (empty by then).
pub(crate) struct Server(pub(crate) Child, pub(crate) String, #[allow(dead_code, reason = "kept for its drop, after the child's")] Option<CpuCap>);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A CPU quota of its own for one process: a cgroup (v2 with the `cpu` controller, else
/// v1's `cpu` hierarchy) allowing `cores` of CPU time per 10 ms period, as if the process
/// ran alone on a host that small. The process joins it before it starts (see `start`),
/// so it sizes its runtime to the quota (one worker thread), as it would on such a host.
/// Needs root; removed on drop.
pub(crate) struct CpuCap(std::path::PathBuf);

impl CpuCap {
    /// The quota period, short so that a process that used up its quota while holding a
    /// branch lock stalls the others for milliseconds, not a tenth of a second.
    const PERIOD_US: u64 = 10_000;
    /// Where the cgroups are made, and the prefix of their names.
    const PREFIX: &'static str = "modula_bench_";

    /// The cgroup root with a `cpu` controller: v2's when it delegates `cpu` to its
    /// children, else v1's; `None` when there is neither.
    pub(crate) fn root() -> Option<(&'static str, bool)> {
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control");
        if v2.is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu")) {
            return Some(("/sys/fs/cgroup", true));
        }
        std::path::Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists().then_some(("/sys/fs/cgroup/cpu", false))
    }

    /// Removes the empty cgroups an interrupted earlier run left behind.
    pub(crate) fn remove_stale() {
        let Some((root, _)) = Self::root() else { return };
        for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(Self::PREFIX) {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }

    pub(crate) fn new(cores: f64) -> Result<CpuCap, String> {
        use std::fs;
        let (root, v2) = Self::root().ok_or("no cgroup cpu controller (v2 delegating cpu, or v1's cpu hierarchy)")?;
        let quota_us = (cores * Self::PERIOD_US as f64).round() as u64;
        let dir = std::path::Path::new(root).join(format!("{}{}", Self::PREFIX, Uuid::new_v4().simple()));
        fs::create_dir(&dir).map_err(|e| format!("cannot create the cgroup {}: {e}", dir.display()))?;
        let cap = CpuCap(dir);
        let write = |file: &str, value: String| {
            fs::write(cap.0.join(file), &value).map_err(|e| format!("cannot write {value:?} to {file} of {}: {e}", cap.0.display()))
        };
        if v2 {
            write("cpu.max", format!("{quota_us} {}", Self::PERIOD_US))?;
        } else {
            write("cpu.cfs_period_us", Self::PERIOD_US.to_string())?;
            write("cpu.cfs_quota_us", quota_us.to_string())?;
        }
        Ok(cap)
    }

    /// The file a process writes its pid to, to join.
    pub(crate) fn procs(&self) -> std::path::PathBuf {
        self.0.join("cgroup.procs")
    }
}

impl Drop for CpuCap {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `modula serve` on `db`, with `--db-pool-max pool` when given, in the cgroup of `cap`
/// when given: a shell joins it and then becomes the server (`exec`), so every thread of
/// the server runs under the quota from its first instruction.
pub(crate) async fn start(db: &str, pool: Option<u32>, cap: Option<CpuCap>) -> Server {
    let port = free_port();
    let mut command = match &cap {
        Some(cap) => {
            let mut sh = Command::new("sh");
            sh.args(["-c", "echo $$ > \"$0\" && exec \"$@\"", &cap.procs().to_string_lossy(), BIN]);
            sh
        }
        None => Command::new(BIN),
    };
    command.args(["serve", "--db", db, "--listen", &format!("127.0.0.1:{port}")]);
    if let Some(pool) = pool {
        command.args(["--db-pool-max", &pool.to_string()]);
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn modula serve");
    let server = Server(child, format!("http://127.0.0.1:{port}"), cap);
    for _ in 0..600 {
        if reqwest::get(format!("{}/readyz", server.1)).await.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not become ready");
}

/// CPU time so far, in clock ticks, of process `pid` (user + system; `"self"` is the
/// bench), from `/proc/PID/stat`; 0 where there is no `/proc`.
pub(crate) fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis start at field 3; utime and stime
    // are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    fields.get(11..13).map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum()).unwrap_or(0)
}

/// Clock ticks of the whole machine so far, from `/proc/stat`'s `cpu` line: busy (user,
/// nice, system, irq, softirq) and stolen (run by the hypervisor for other guests, time
/// this machine's work waited for a core it was promised).
pub(crate) fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or("");
    let ticks: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0);
    (at(0) + at(1) + at(2) + at(5) + at(6), at(7))
}

/// Where the CPU of a phase went, in clock ticks: the bench (the client), the server
/// processes of the phase, and the whole machine busy (the rest is mostly PostgreSQL).
#[derive(Clone, Copy, Default)]
pub(crate) struct Cpu {
    pub(crate) client: u64,
    pub(crate) servers: u64,
    pub(crate) machine: u64,
    pub(crate) stolen: u64,
}

impl Cpu {
    pub(crate) fn now(servers: &[&Server]) -> Cpu {
        let servers = servers.iter().map(|s| cpu_ticks(&s.0.id().to_string())).sum();
        let (machine, stolen) = machine_ticks();
        Cpu { client: cpu_ticks("self"), servers, machine, stolen }
    }

    pub(crate) fn since(self, before: Cpu) -> Cpu {
        Cpu {
            client: self.client - before.client,
            servers: self.servers - before.servers,
            machine: self.machine - before.machine,
            stolen: self.stolen - before.stolen,
        }
    }
}

/// The quota of each capped server process, or why the capped configurations are skipped.
pub(crate) fn cpu_cap_cores() -> f64 {
    let cores = std::env::var("BENCH_CPU_CAP").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(CPU_CAP_CORES);
    // The kernel's smallest quota is 1 ms, a tenth of the period.
    cores.clamp(0.1, 1.0)
}

/// A `modula serve` under a CPU quota of `cores`, or why it could not get one.
pub(crate) async fn start_capped(db: &str, cores: f64) -> Result<Server, String> {
    Ok(start(db, None, Some(CpuCap::new(cores)?)).await)
}
