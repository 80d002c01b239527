//! `modula`: the one binary of Modula Offline Sync.
//!
//! - `modula serve --db sqlite://PATH --listen ADDR` runs the server.
//! - `modula admin init --db URL --tenant NAME --owner-name NAME --owner-pin PIN [--slug S]
//!   [--owner-login L --owner-password P | MODULA_OWNER_PASSWORD] --json`
//!   creates a tenant with its owner and prints an owner token.
//! - `modula admin set-password --db URL --tenant SLUG --who LOGIN_OR_ID [--login L]` (password
//!   from MODULA_NEW_PASSWORD or --password-file) resets a manager's or owner's sign-in.
//! - `modula demo` starts a server with a seeded demo café on SQLite.
//! - `modula terminal enroll | run | status` is the POS terminal agent.
//! - `modula sim --seed N --tills T --branches B --minutes M [--postgres URL]` runs the
//!   swarm simulation and fails if any invariant breaks.

mod demo;
mod sim;
mod terminal;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use modula_server::state::ServerConfig;
use modula_server::{open_store, open_store_with_pool, AppState};

#[derive(Parser)]
#[command(name = "modula", version, about = "Modula Offline Sync: café POS sync server and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP/JSON server.
    Serve(ServeArgs),
    /// Administration from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Start a server with a seeded demo café on SQLite and print how to use it.
    Demo(DemoArgs),
    /// The POS terminal agent: enroll, run, status.
    #[command(subcommand)]
    Terminal(terminal::TerminalCommand),
    /// The swarm simulation: real tills and servers under faults, checked for lost or
    /// doubled money.
    Sim(sim::SimArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Database URL: sqlite://PATH (created if missing).
    #[arg(long, env = "MODULA_DB", default_value = "sqlite://modula.db")]
    db: String,
    /// Address to listen on.
    #[arg(long, env = "MODULA_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Days tombstones stay in the pull feed; older cursors must rehydrate.
    #[arg(long, env = "MODULA_TOMBSTONE_RETENTION_DAYS", default_value_t = 30)]
    tombstone_retention_days: u64,
    /// Most SSE (`/v1/sync/events`) subscribers this process serves at once.
    #[arg(long, env = "MODULA_SSE_MAX", default_value_t = 1000)]
    sse_max: usize,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, env = "MODULA_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "MODULA_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The share of those one tenant may hold, in percent (one device holds at most 2).
    #[arg(long, env = "MODULA_SSE_TENANT_SHARE", default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=100))]
    sse_tenant_share: u16,
    /// Most PostgreSQL connections this process holds (default 16). Every process on the
    /// database counts against one budget: with N processes, give each about 1/N of it.
    #[arg(long, env = "MODULA_DB_POOL_MAX", value_parser = clap::value_parser!(u32).range(1..=1000))]
    db_pool_max: Option<u32>,
    /// Pushes this process decides at once; more wait up to --push-wait-ms for a place,
    /// then get 503 with Retry-After (nothing applied; the till sends them again).
    #[arg(long, env = "MODULA_PUSH_SLOTS", default_value_t = modula_server::push_gate::PUSH_SLOTS_DEFAULT as u64,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    push_slots: u64,
    /// How long a push waits for a place, in milliseconds.
    #[arg(long, env = "MODULA_PUSH_WAIT_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    push_wait_ms: u64,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a tenant with its owner; prints the ids and an owner token.
    Init(InitArgs),
    /// Set a manager's or owner's login and password from the server's machine (when
    /// nobody can sign in to do it); ends their sign-ins. The password comes from
    /// MODULA_NEW_PASSWORD or --password-file, never the command line.
    SetPassword(SetPasswordArgs),
}

#[derive(Args)]
struct SetPasswordArgs {
    /// Database URL.
    #[arg(long, env = "MODULA_DB")]
    db: String,
    /// The shop: its slug or id.
    #[arg(long)]
    tenant: String,
    /// Whose password: their staff id, or the login they have.
    #[arg(long)]
    who: String,
    /// The login to give them (kept when absent; needed if they have none).
    #[arg(long)]
    login: Option<String>,
    /// A file holding the new password (surrounding newlines ignored); else the
    /// environment variable MODULA_NEW_PASSWORD.
    #[arg(long)]
    password_file: Option<PathBuf>,
}

#[derive(Args)]
struct InitArgs {
    /// Database URL: sqlite://PATH (created if missing).
    #[arg(long, env = "MODULA_DB")]
    db: String,
    /// The tenant's (business's) name.
    #[arg(long)]
    tenant: String,
    /// The owner's name.
    #[arg(long)]
    owner_name: String,
    /// The owner's PIN, 4–8 digits.
    #[arg(long)]
    owner_pin: String,
    /// The shop's slug (lowercase letters, digits, hyphens); default: made from the name.
    #[arg(long)]
    slug: Option<String>,
    /// The owner's login for the dashboard and the server API (with a password).
    #[arg(long, requires = "owner_password")]
    owner_login: Option<String>,
    /// The owner's password, at least 10 characters. Prefer the environment variable:
    /// a command line is visible to other users of the machine.
    #[arg(long, env = "MODULA_OWNER_PASSWORD", hide_env_values = true, requires = "owner_login")]
    owner_password: Option<String>,
    /// Print `{"tenant_id", "owner_id", "token", "slug"}` as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `modula demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the demo's database (kept between runs).
    #[arg(long, default_value = "modula-data")]
    pub data: PathBuf,
    /// Address of the demo server.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seed, print and exit instead of serving (for scripts and tests).
    #[arg(long)]
    pub no_serve: bool,
    /// Terminals to start, one per branch (0–2); they listen on the next ports after the
    /// server's.
    #[arg(long, default_value_t = 2)]
    pub terminals: usize,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: a log file or journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => run_serve(args).await,
        Command::Admin(AdminCommand::Init(args)) => run_init(args).await,
        Command::Admin(AdminCommand::SetPassword(args)) => run_set_password(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Terminal(cmd) => terminal::run(cmd).await,
        Command::Sim(args) => sim::run(args).await,
    }
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = open_store_with_pool(&args.db, args.db_pool_max).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, backend = store.backend(), "modula server listening");
    let config = ServerConfig {
        tombstone_retention: std::time::Duration::from_secs(args.tombstone_retention_days.max(1) * 24 * 3600),
        sse_subscribers_max: args.sse_max.max(1),
        sse_tenant_share_percent: args.sse_tenant_share.into(),
        push_slots: usize::try_from(args.push_slots).unwrap_or(modula_server::push_gate::PUSH_SLOTS_DEFAULT),
        push_wait: std::time::Duration::from_millis(args.push_wait_ms),
        ..ServerConfig::default()
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()));
            Some(modula_server::TlsFiles { cert_pem: read(cert)?, key_pem: read(key)? })
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(scheme, "serving");
    modula_server::serve_with(listener, AppState::with_config(store, config), shutdown_signal(), tls).await
}

async fn run_init(args: InitArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db).await?;
    let req = modula_server::domain::bootstrap::InitTenant {
        tenant_name: &args.tenant,
        owner_name: &args.owner_name,
        owner_pin: &args.owner_pin,
        slug: args.slug.as_deref(),
        owner_sign_in: args.owner_login.as_deref().zip(args.owner_password.as_deref()),
    };
    let out = modula_server::domain::bootstrap::init(store.as_ref(), &req)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.problem().detail))?;
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("tenant_id: {}\nowner_id:  {}\ntoken:     {}\nslug:      {}", out.tenant_id, out.owner_id, out.token, out.slug);
    }
    Ok(())
}

async fn run_set_password(args: SetPasswordArgs) -> anyhow::Result<()> {
    let password = match (&args.password_file, std::env::var("MODULA_NEW_PASSWORD").ok()) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
            .trim_end_matches(['\n', '\r'])
            .to_string(),
        (None, Some(p)) => p,
        (None, None) => anyhow::bail!("give the new password in MODULA_NEW_PASSWORD or --password-file FILE"),
    };
    let store = open_store(&args.db).await?;
    let req = modula_server::domain::bootstrap::SetPassword {
        tenant: &args.tenant,
        who: &args.who,
        login: args.login.as_deref(),
        password: &password,
    };
    let id = modula_server::domain::bootstrap::set_password(store.as_ref(), &req)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.problem().detail))?;
    println!("password set for staff member {id}; their earlier sign-ins have ended");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
