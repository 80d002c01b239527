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
    /// Branches.
    #[arg(long, default_value_t = 2)]
    pub branches: usize,
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
}

/// Runs the simulation; fails (exit status 1) when an invariant broke.
pub async fn run(a: SimArgs) -> anyhow::Result<()> {
    let dir = a.dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("modula-sim-{}-{}", a.seed, std::process::id())));
    let cfg = modula_sim::Config {
        seed: a.seed,
        tills: a.tills,
        branches: a.branches,
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
            a.seed, a.tills, a.branches, v.step.max(1)
        );
    }
    println!("{}", out.summary);
    anyhow::ensure!(out.violation.is_none(), "an invariant broke (see above)");
    Ok(())
}
