//! `modula sim`: the swarm simulation (crate `modula-sim`) from the command line.

use std::path::PathBuf;

use clap::Args;

/// Options of `modula sim`.
#[derive(Args)]
pub struct SimArgs {
    /// The schedule's seed: the same seed draws the same steps.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Tills (processes), spread over the branches.
    #[arg(long, default_value_t = 6)]
    pub tills: usize,
    /// Branches (default 2; with --herd, 200).
    #[arg(long)]
    pub branches: Option<usize>,
    /// How long to draw steps, in minutes (fractions allowed).
    #[arg(long, default_value_t = 1.0)]
    pub minutes: f64,
    /// Stop after this many steps (a failing run prints the command that replays it).
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Run two server processes on a fresh database of this PostgreSQL server instead of
    /// one on SQLite (e.g. postgres://postgres@127.0.0.1:5432/test).
    #[arg(long, env = "MODULA_SIM_PG")]
    pub postgres: Option<String>,
    /// Where to keep the run's files (kept when an invariant breaks).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Instead of the simulation, the city-wide reconnect benchmark (run it on a release
    /// build): --devices devices over --branches branches, each with --sales queued sales,
    /// reconnect within a second; then --subscribers nudge streams on one process.
    #[arg(long)]
    pub herd: bool,
    /// Herd: simulated devices.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Herd: sales queued per device.
    #[arg(long, default_value_t = 200)]
    pub sales: usize,
    /// Herd: ops per push.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Herd: server processes (2 needs --postgres).
    #[arg(long, default_value_t = 1)]
    pub servers: usize,
    /// Herd: nudge subscribers on one process (0 skips that part).
    #[arg(long, default_value_t = 10_000)]
    pub subscribers: usize,
    /// Herd: commits whose nudges are timed.
    #[arg(long, default_value_t = 20)]
    pub commits: usize,
}

/// Runs the simulation; fails (exit status 1) when an invariant broke.
pub async fn run(a: SimArgs) -> anyhow::Result<()> {
    let dir = a.dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("modula-sim-{}-{}", a.seed, std::process::id())));
    if a.herd {
        return herd(&a, dir).await;
    }
    let branches = a.branches.unwrap_or(2);
    let cfg = modula_sim::Config {
        seed: a.seed,
        tills: a.tills,
        branches,
        minutes: a.minutes,
        max_steps: a.max_steps,
        postgres: a.postgres.clone(),
        exe: std::env::current_exe()?,
        dir: dir.clone(),
    };
    let out = modula_sim::run(&cfg).await?;
    if let Some(v) = &out.violation {
        let pg = a.postgres.as_deref().map(|p| format!(" --postgres {p}")).unwrap_or_default();
        eprintln!("{v}");
        eprintln!("files kept in {}", dir.display());
        eprintln!(
            "replay: modula sim --seed {} --tills {} --branches {} --max-steps {}{pg}",
            a.seed, a.tills, branches, v.step.max(1)
        );
    }
    println!("{}", out.summary);
    anyhow::ensure!(out.violation.is_none(), "an invariant broke (see above)");
    Ok(())
}

async fn herd(a: &SimArgs, dir: PathBuf) -> anyhow::Result<()> {
    let cfg = modula_sim::herd::HerdConfig {
        devices: a.devices,
        branches: a.branches.unwrap_or(200),
        sales_per_device: a.sales,
        batch: a.batch,
        servers: a.servers,
        subscribers: a.subscribers,
        commits: a.commits,
        postgres: a.postgres.clone(),
        exe: std::env::current_exe()?,
        dir: dir.clone(),
    };
    let report = modula_sim::herd::run(&cfg).await?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{report}");
    Ok(())
}
