//! `modula sim`: a seeded swarm simulation in the spirit of TigerBeetle's VOPR. It starts
//! real `modula serve` processes (one on SQLite, or two on one PostgreSQL database) and a
//! real `modula terminal` process per till, each with its own SQLite file and its own
//! faulty link, then draws steps from a seed: cashiers selling in dollars and riel,
//! drawers opened, moved and closed, shifts; link cuts, lost answers, slow links, dropped
//! nudges, duplicate deliveries; kill -9 of tills and servers; admin storms (prices, the
//! rate, freezes, deactivations, branch moves, revocations, restocks). At every quiet
//! point it checks that nothing was lost or doubled ([`check`]).
//!
//! Code map: [`schedule`] draws the steps, [`world`] builds the chain, [`link`] is the
//! faulty proxy, [`procs`] the processes, [`driver`] runs steps, [`check`] the invariants;
//! [`herd`] is the city-wide reconnect benchmark (`modula sim --herd`).

#![warn(missing_docs)]

pub mod check;
pub mod driver;
pub mod herd;
pub mod link;
pub mod procs;
pub mod schedule;
pub mod world;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::schedule::{Schedule, Shape};

/// Steps between quiet points.
pub const QUIET_EVERY: u64 = 150;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The seed of the schedule.
    pub seed: u64,
    /// Tills.
    pub tills: usize,
    /// Branches.
    pub branches: usize,
    /// How long to draw steps, in minutes (a quiet point ends the run).
    pub minutes: f64,
    /// Stop after this many steps (to replay a failing run exactly).
    pub max_steps: Option<u64>,
    /// PostgreSQL server URL (a fresh database is made on it, two server processes
    /// share it); `None`: SQLite and one server process.
    pub postgres: Option<String>,
    /// The `modula` binary to run as servers and tills.
    pub exe: PathBuf,
    /// Where the run keeps its files (kept when a check fails).
    pub dir: PathBuf,
}

/// A broken invariant (or a process that would not run), with the step it was seen at.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
    /// The step after which it was seen (0: at setup).
    pub step: u64,
}

impl Violation {
    /// A violation of `invariant`.
    pub fn new(invariant: &'static str, detail: String) -> Violation {
        Violation { invariant, detail, step: 0 }
    }

    /// The same, seen at step `n`.
    pub fn at(mut self, n: u64) -> Violation {
        if self.step == 0 {
            self.step = n;
        }
        self
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invariant {} broken at step {}: {}", self.invariant, self.step, self.detail)
    }
}

/// What a run ends with.
#[derive(Debug)]
pub struct Outcome {
    /// The counts.
    pub stats: driver::Stats,
    /// The first broken invariant, if any.
    pub violation: Option<Violation>,
    /// The summary line.
    pub summary: String,
}

/// Runs the simulation: builds the chain, draws steps until the time is up (or
/// `max_steps`), with a quiet point every [`QUIET_EVERY`] steps and at the end.
pub async fn run(cfg: &Config) -> anyhow::Result<Outcome> {
    anyhow::ensure!(cfg.tills >= 1 && cfg.branches >= 1 && cfg.branches <= cfg.tills, "need 1 ≤ branches ≤ tills");
    std::fs::create_dir_all(&cfg.dir)?;
    let (db_url, drop_db) = database(cfg).await?;
    let servers = if cfg.postgres.is_some() { 2 } else { 1 };
    let world = world::World::build(&cfg.exe, &cfg.dir, &db_url, servers, cfg.branches, cfg.tills).await?;
    let store = modula_server::open_store(&db_url).await.context("opening the database for the checks")?;
    let shape = Shape { tills: cfg.tills, branches: cfg.branches, items: world::MENU.len(), stock_items: world::STOCK.len(), servers };
    let mut d = driver::Driver::new(world);
    let mut sched = Schedule::new(cfg.seed, shape);
    let deadline = Instant::now() + Duration::from_secs_f64(cfg.minutes.max(0.0) * 60.0);
    let started = Instant::now();
    let violation = loop {
        let out_of_steps = cfg.max_steps.is_some_and(|m| sched.drawn() >= m);
        if Instant::now() >= deadline || out_of_steps {
            break check::quiet(&mut d, store.as_ref()).await.err().map(|v| v.at(sched.drawn()));
        }
        let step = sched.next_step();
        let n = sched.drawn();
        tracing::debug!(n, ?step, "step");
        if let Err(v) = d.run(n, &step).await {
            break Some(v);
        }
        if n.is_multiple_of(QUIET_EVERY) {
            if let Err(v) = check::quiet(&mut d, store.as_ref()).await {
                break Some(v.at(n));
            }
        }
    };
    let summary = summary(cfg, &d, started.elapsed(), violation.as_ref());
    let stats = d.stats.clone();
    drop(d);
    drop(store);
    if violation.is_none() {
        drop_db.await;
        let _ = std::fs::remove_dir_all(&cfg.dir);
    }
    Ok(Outcome { stats, violation, summary })
}

fn summary(cfg: &Config, d: &driver::Driver, took: Duration, violation: Option<&Violation>) -> String {
    let s = &d.stats;
    let lost: u64 = d.world.tills.iter().map(|t| t.link.lost_answers()).sum();
    let faults: u64 = s.faults.iter().filter(|(k, _)| **k != "up").map(|(_, v)| v).sum::<u64>() + s.till_crashes + s.server_kills + s.duplicates;
    let refused: u64 = s.refused.values().sum();
    let verdict = match violation {
        None => "every invariant held".to_string(),
        Some(v) => format!("FAILED: {v}"),
    };
    format!(
        "sim seed={} tills={} branches={} backend={}: {} steps in {:.0} s; ops answered {} (server: applied {}, rejected {:?}), refused at the till {} {:?}, confirmed over a cap {}; \
         voids {} of {} asked, failures resolved {:?}; \
         faults {} (links {:?}, answers lost {}, duplicates {}, till kill -9 {}, server kill -9 {}), admin changes {}; \
         quiet points {}, checks {}; {}",
        cfg.seed, cfg.tills, cfg.branches, if cfg.postgres.is_some() { "postgres x2" } else { "sqlite" },
        s.steps, took.as_secs_f64(), s.answered, s.applied, s.rejected, refused, s.refused, s.confirmed,
        s.voided, s.voids_tried, s.resolved,
        faults, s.faults, lost, s.duplicates, s.till_crashes, s.server_kills, s.admin,
        s.quiet_points, s.checks, verdict,
    )
}

/// The run's database URL, and what drops it afterwards.
pub(crate) async fn database(cfg: &Config) -> anyhow::Result<(String, std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>)> {
    let Some(pg) = &cfg.postgres else {
        let url = format!("sqlite://{}", cfg.dir.join("server.db").display());
        return Ok((url, Box::pin(async {})));
    };
    use sqlx::Connection;
    let name = format!("modula_sim_{}_{}", cfg.seed, std::process::id());
    let mut admin = sqlx::PgConnection::connect(pg).await.with_context(|| format!("connecting to {pg}"))?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    let url = match pg.rfind('/') {
        Some(i) if pg[..i].contains("//") && pg[..i].rfind('/') != Some(i) => format!("{}/{name}", &pg[..i]),
        _ => format!("{}/{name}", pg.trim_end_matches('/')),
    };
    let pg = pg.clone();
    let drop_it = Box::pin(async move {
        if let Ok(mut c) = sqlx::PgConnection::connect(&pg).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await;
        }
    });
    Ok((url, drop_it))
}
