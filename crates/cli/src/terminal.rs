//! `modula terminal enroll | run | status`: the POS terminal agent.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use modula_terminal::TerminalConfig;

/// The terminal's subcommands.
#[derive(Subcommand)]
pub enum TerminalCommand {
    /// Enroll this device once with the device token a manager got from `POST /v1/devices`.
    Enroll(EnrollArgs),
    /// Run the terminal: sync engine and the cashier's local page/API.
    Run(RunArgs),
    /// Print the queue state (online, pending, failed with reasons) for a person.
    Status(StatusArgs),
}

/// Options of `modula terminal enroll`.
#[derive(Args)]
pub struct EnrollArgs {
    /// The terminal's data folder (holds its one SQLite file).
    #[arg(long)]
    pub data: PathBuf,
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub server: String,
    /// The device token. Prefer --token-file or the environment variable: a command
    /// line is visible to other users of the machine.
    #[arg(long, env = "MODULA_DEVICE_TOKEN", hide_env_values = true, required_unless_present = "token_file", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// A file holding the device token (surrounding whitespace ignored).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// How the terminal trusts its server (enroll and run).
#[derive(Args)]
pub struct TlsArgs {
    /// A CA certificate (PEM) to trust besides the system's roots, e.g. the shop's own.
    #[arg(long, env = "MODULA_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Allow plain http:// to a server that is not on this machine (tokens and the feed
    /// then cross the network in the clear).
    #[arg(long)]
    pub insecure_http: bool,
}

impl TlsArgs {
    fn options(&self) -> anyhow::Result<modula_terminal::remote::TlsOptions> {
        let ca_cert_pem = match &self.ca_cert {
            Some(p) => Some(std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read --ca-cert {}: {e}", p.display()))?),
            None => None,
        };
        Ok(modula_terminal::remote::TlsOptions { ca_cert_pem, insecure_http: self.insecure_http })
    }
}

impl EnrollArgs {
    /// The token from the flag, the environment or the file.
    fn token(&self) -> anyhow::Result<String> {
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => t.trim().to_string(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the device token from {}: {e}", path.display()))?
                .trim()
                .to_string(),
            (None, None) => anyhow::bail!("give the device token with --token-file FILE or MODULA_DEVICE_TOKEN"),
        };
        anyhow::ensure!(!token.is_empty(), "the device token is empty");
        Ok(token)
    }
}

/// Options of `modula terminal run`.
#[derive(Args)]
pub struct RunArgs {
    /// The enrolled data folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Address of the local page and API (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Never use the direct online lane; every op goes through the queue's push.
    #[arg(long)]
    pub no_direct_lane: bool,
    /// Seconds between pulls while online (nudges pull sooner).
    #[arg(long, default_value_t = 180)]
    pub pull_interval_s: u64,
    /// Longest retry delay after a failed sync, in seconds.
    #[arg(long, default_value_t = 30)]
    pub backoff_cap_s: u64,
    /// Seconds between health probes while nothing is pending.
    #[arg(long, default_value_t = 5)]
    pub probe_interval_s: u64,
    /// Most ops sent in one push (a slow link may want smaller pushes).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub push_batch_max: u64,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Demo aid: send all server traffic through an in-process proxy that the page's
    /// "Simulate outage" toggle (`POST /api/outage`) can cut, so an outage is real.
    #[arg(long)]
    pub outage_switch: bool,
    /// Test aid (fault injection): abort at this named point (`enqueue-committed`).
    #[arg(long, hide = true, value_parser = clap::builder::PossibleValuesParser::new(modula_terminal::FAILPOINTS))]
    pub failpoint: Option<String>,
}

/// Options of `modula terminal status`.
#[derive(Args)]
pub struct StatusArgs {
    /// The enrolled data folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Print a progress line every second until nothing is pending.
    #[arg(long)]
    pub watch: bool,
}

/// Runs a terminal subcommand.
pub async fn run(cmd: TerminalCommand) -> anyhow::Result<()> {
    match cmd {
        TerminalCommand::Enroll(a) => {
            let d = modula_terminal::enroll(&a.data, &a.server, &a.token()?, &a.tls.options()?).await?;
            println!("enrolled {} ({}) of branch {} at {}", d.name, d.code, d.branch_id, d.server_url);
            Ok(())
        }
        TerminalCommand::Run(a) => {
            let config = TerminalConfig {
                direct_lane: !a.no_direct_lane,
                pull_interval_ms: a.pull_interval_s.max(1) * 1000,
                backoff_cap_ms: a.backoff_cap_s.max(1) * 1000,
                probe_interval_ms: a.probe_interval_s.max(1) * 1000,
                push_batch_max: a.push_batch_max as usize,
                outage_switch: a.outage_switch,
                tls: a.tls.options()?,
                failpoint: a.failpoint,
                ..TerminalConfig::default()
            };
            let t = modula_terminal::open(&a.data, config).await?;
            let listener = tokio::net::TcpListener::bind(a.listen).await?;
            tracing::info!(addr = %listener.local_addr()?, device = %t.device.code, "terminal listening");
            tokio::select! {
                r = modula_terminal::run(t, listener) => r,
                _ = crate::shutdown_signal() => Ok(()),
            }
        }
        TerminalCommand::Status(a) if a.watch => watch(&a.data).await,
        TerminalCommand::Status(a) => {
            print!("{}", modula_terminal::status_text(&a.data).await?);
            Ok(())
        }
    }
}

/// One progress line per second while a backlog drains.
async fn watch(data: &std::path::Path) -> anyhow::Result<()> {
    let mut last: Option<(i64, std::time::Instant)> = None;
    loop {
        let c = modula_terminal::counts(data).await?;
        let now = std::time::Instant::now();
        let rate = last.map(|(synced, at)| (c.synced + c.failed - synced) as f64 / (now - at).as_secs_f64().max(1e-3));
        let total = c.pending + c.synced + c.failed;
        let done_pct = if total == 0 { 100.0 } else { 100.0 * (c.synced + c.failed) as f64 / total as f64 };
        println!(
            "pending {:>7}  synced {:>7}  failed {:>5}  {:5.1}% done{}",
            c.pending,
            c.synced,
            c.failed,
            done_pct,
            rate.map(|r| format!("  {r:.0} ops/s")).unwrap_or_default()
        );
        if c.pending == 0 {
            return Ok(());
        }
        last = Some((c.synced + c.failed, now));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
