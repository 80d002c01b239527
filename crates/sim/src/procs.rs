//! The processes a run spawns: `modula serve` (one on SQLite, two on PostgreSQL) and a
//! `modula terminal run` per till; each killable with SIGKILL and restartable on the
//! same port and data.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// How long a process may take to answer after it was started.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A free loopback port (bound, then released for the process to take).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A child process with the command line to start it again.
pub struct Proc {
    name: String,
    exe: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// Starts `exe args`, its output appended to `log`.
    pub fn start(name: &str, exe: &Path, args: Vec<String>, log: PathBuf) -> anyhow::Result<Proc> {
        let mut p = Proc { name: name.to_string(), exe: exe.to_path_buf(), args, log, child: None };
        p.spawn()?;
        Ok(p)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.exe)
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.exe.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }

    /// Starts the process again with the same command line.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        assert!(self.child.is_none(), "restart of a running {}", self.name);
        self.spawn()
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// Fails when the process has exited (it should run until killed).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(c) = self.child.as_mut() {
            if let Some(status) = c.try_wait()? {
                bail!("{} exited on its own ({status}); see {}", self.name, self.log.display());
            }
        }
        Ok(())
    }
}

/// Runs `exe args` to completion and answers its stdout; fails with its stderr.
pub async fn run_once(exe: &Path, args: &[String], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut cmd = Command::new(exe);
    cmd.args(args).env("RUST_LOG", "warn").env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.with_context(|| format!("running {}", exe.display()))?;
    if !out.status.success() {
        bail!("{} {:?} failed ({}): {}", exe.display(), args, out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until `GET url` answers 200.
pub async fn wait_ready(http: &reqwest::Client, url: &str, proc: &mut Proc) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(r) = http.get(url).timeout(Duration::from_secs(2)).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        proc.check_alive()?;
        if Instant::now() > deadline {
            bail!("{url} did not answer within {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
