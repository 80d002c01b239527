//! The Modula POS terminal agent (SPEC §6).
//!
//! One process per POS device: a durable op queue and a cache in one SQLite file, the
//! sync engine that drains the queue and keeps the cache fresh, and the local HTTP API
//! the cashier's page (and outside tests) use.
//!
//! Code map: [`db`] the SQLite file ([`at_rest`]: its folder `0700`, files `0600`); [`local`] local effects (own cash sessions, shifts,
//! stock estimate); [`app`] the cashier's actions, decided offline with the shared rules;
//! [`receipts`] every sale of this till kept for the receipts list and reprints;
//! [`settle`] what the server's answers do to the queue; [`engine`] the sync loops;
//! [`remote`] the HTTP client to the server; [`outage`] the simulated-outage proxy;
//! [`api`] the local HTTP API and the cashier's page (`src/page/`), behind [`guard`]
//! (only its own page may drive it) and [`idempotency`] (one checkout, one sale);
//! [`error`] the one
//! error type and its problem+json form.

pub mod api;
pub mod at_rest;
pub mod app;
pub mod db;
pub mod engine;
pub mod error;
pub mod guard;
pub mod idempotency;
pub mod local;
pub mod openapi;
pub mod outage;
pub mod receipts;
pub mod remote;
pub mod settle;

use std::path::Path;
use std::sync::Arc;

pub use app::{Terminal, TerminalConfig, FAILPOINTS};
pub use error::{TerminalError, TerminalResult};

/// `modula terminal enroll`: asks the server who the token's device is and stores the
/// identity in `DIR/terminal.sqlite`. Refuses a folder that is already enrolled.
pub async fn enroll(dir: &Path, server_url: &str, token: &str, tls: &remote::TlsOptions) -> anyhow::Result<db::DeviceRow> {
    remote::check_server_url(server_url, tls).map_err(anyhow::Error::msg)?;
    let database = db::Db::open(dir).await?;
    let mut w = database.writer().await;
    if let Some(d) = db::device(&mut w).await? {
        anyhow::bail!(
            "{} is already enrolled as device {} ({}); use a new data folder to enroll again",
            dir.display(),
            d.name,
            d.code
        );
    }
    let remote = remote::Remote::new(server_url, token, tls).map_err(anyhow::Error::msg)?;
    let me = remote.whoami().await.map_err(|e| match e {
        remote::RemoteError::Refused(p) => anyhow::anyhow!("the server did not accept the device token: {}", p.detail),
        other => anyhow::anyhow!("cannot reach the server at {server_url}: {other}"),
    })?;
    let row = db::DeviceRow {
        server_url: remote.base().to_string(),
        token: token.to_string(),
        device_id: me.device_id,
        tenant_id: me.tenant_id,
        branch_id: me.branch_id,
        name: me.name,
        code: me.code,
        // A reinstall continues after what the server has seen: each sale takes one
        // device_seq and one receipt number, so no receipt number that reached the server
        // can repeat either.
        next_device_seq: me.last_device_seq + 1,
        next_receipt_no: me.last_device_seq + 1,
        pull_cursor: None,
        hydrated_at: None,
        last_pull_at: None,
        last_push_at: None,
        last_contact_at: None,
        last_error: None,
        signed_in_staff: None,
        last_action_at: None,
    };
    db::insert_device(&mut w, &row).await?;
    Ok(row)
}

/// Opens an enrolled data folder as a [`Terminal`] (engine not started).
pub async fn open(dir: &Path, config: TerminalConfig) -> anyhow::Result<Arc<Terminal>> {
    let database = db::Db::open(dir).await?;
    let device = {
        let mut w = database.writer().await;
        db::device(&mut w).await?
    };
    let Some(device) = device else {
        anyhow::bail!("{} is not enrolled; run `modula terminal enroll --data {} --server URL --token TOKEN` first", dir.display(), dir.display());
    };
    let outage = match config.outage_switch {
        true => Some(outage::Outage::start(&device.server_url).await?),
        false => None,
    };
    Ok(Arc::new(Terminal::with_outage(database, device, config, outage)?))
}

/// `modula terminal run`: starts the sync engine and serves the local API on `listener`
/// until the process ends.
pub async fn run(t: Arc<Terminal>, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    engine::spawn(t.clone());
    let own = guard::LocalOrigin::new(listener.local_addr()?);
    axum::serve(listener, api::router(t, own)).await?;
    Ok(())
}

/// `modula terminal status`: the queue state for a person, read from the data folder.
pub async fn status_text(dir: &Path) -> anyhow::Result<String> {
    let database = db::Db::open(dir).await?;
    let mut conn = database.reader().acquire().await?;
    let Some(dev) = db::device(&mut conn).await? else {
        anyhow::bail!("{} is not enrolled", dir.display());
    };
    let c = db::counts(&mut conn).await?;
    let age = |t: Option<chrono::DateTime<chrono::Utc>>| match t {
        Some(t) => format!("{} s ago", (chrono::Utc::now() - t).num_seconds().max(0)),
        None => "never".to_string(),
    };
    let mut out = format!(
        "Terminal {} ({}) → {}\n  last contact with server: {}\n  last push: {}, last pull: {}\n  pending {}, failed {}, synced {}\n",
        dev.name,
        dev.code,
        dev.server_url,
        age(dev.last_contact_at),
        age(dev.last_push_at),
        age(dev.last_pull_at),
        c.pending,
        c.failed,
        c.synced
    );
    if let Some(e) = &dev.last_error {
        out.push_str(&format!("  last sync error: {e}\n"));
    }
    let failed = db::ops_by_status(&mut conn, Some(db::QueueStatus::Failed), 0, 20).await?;
    for f in &failed {
        out.push_str(&format!(
            "  FAILED #{} {} {}: {}\n",
            f.device_seq,
            f.op_type,
            f.code.as_deref().unwrap_or("?"),
            f.message.as_deref().unwrap_or("")
        ));
    }
    Ok(out)
}

/// Queue counts of a data folder (for `modula terminal status --watch`).
pub async fn counts(dir: &Path) -> anyhow::Result<db::Counts> {
    let database = db::Db::open(dir).await?;
    let mut conn = database.reader().acquire().await?;
    Ok(db::counts(&mut conn).await?)
}
