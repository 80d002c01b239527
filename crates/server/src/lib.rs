//! The Modula server: the authoritative HTTP/JSON backend of Modula Offline Sync.
//!
//! Layout: `routes` (thin axum handlers) → `domain` (what each endpoint means, over
//! the `modula_store` interface, decided with `modula_rules`) → a store backend.
//! Errors are one enum, [`error::ApiError`], mapped to problem+json in one place.

pub mod auth;
pub mod domain;
pub mod error;
pub mod extract;
pub mod in_flight;
pub mod login_gate;
pub mod push_gate;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod sse_slots;
pub mod state;

use std::sync::Arc;

use modula_store::Store;
use tokio::net::TcpListener;

pub use routes::router;
pub use state::AppState;

/// Opens the database named by `url`: `sqlite://PATH` (created if missing) or
/// `postgres://USER@HOST:PORT/DB` (migrated on open; several servers may share it).
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    open_store_with_pool(url, None).await
}

/// [`open_store`] with this process's PostgreSQL pool size (`None`: the default,
/// [`modula_store_postgres::POOL_MAX_CONNECTIONS`]). SQLite keeps its own small pool.
pub async fn open_store_with_pool(url: &str, pg_pool_max: Option<u32>) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = modula_store_sqlite::SqliteStore::connect(url).await?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pool = pg_pool_max.unwrap_or(modula_store_postgres::POOL_MAX_CONNECTIONS);
        let store = modula_store_postgres::PgStore::connect_with_pool(url, pool).await?;
        return Ok(Arc::new(store));
    }
    anyhow::bail!("unsupported --db URL {url:?}: use sqlite://PATH or postgres://USER@HOST:PORT/DB")
}

/// Serves the API on `listener` until `shutdown` resolves, purging expired tombstones
/// and tokens in the background.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(listener, state, shutdown, None).await
}

/// A certificate chain and its private key, PEM (`modula serve --tls-cert/--tls-key`).
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert_pem: Vec<u8>,
    /// The private key.
    pub key_pem: Vec<u8>,
}

/// [`serve`], over TLS when `tls` is given (a single-box shop; a chain usually
/// terminates TLS at its load balancer, see docs/deploy.md).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    tls: Option<TlsFiles>,
) -> anyhow::Result<()> {
    let purger = tokio::spawn(purge_forever(state.clone()));
    let stopping = state.stopping.clone();
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // On the signal: stop accepting, end every SSE stream (each sends a last `reconnect`
    // event), let the requests in flight finish; past SHUTDOWN_GRACE, stop anyway.
    let signal = {
        let stopping = stopping.clone();
        async move {
            shutdown.await;
            tracing::info!("stopping: no new connections; event streams told to reconnect; finishing requests in flight");
            stopping.send_replace(true);
        }
    };
    let mut stopped = stopping.subscribe();
    let deadline = async move {
        let _ = stopped.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let server = async move {
        match tls {
            None => axum::serve(listener, app).with_graceful_shutdown(signal).await.map_err(anyhow::Error::from),
            Some(files) => serve_tls(listener, app, signal, files).await,
        }
    };
    let result = tokio::select! {
        r = server => r,
        () = deadline => {
            tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "requests still in flight after the grace period; stopping anyway");
            Ok(())
        }
    };
    purger.abort();
    result
}

async fn serve_tls(
    listener: TcpListener,
    app: axum::extract::connect_info::IntoMakeServiceWithConnectInfo<axum::Router, std::net::SocketAddr>,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    files: TlsFiles,
) -> anyhow::Result<()> {
    // One crypto provider for the process: ring (reqwest's rustls uses it too; rustls
    // marks it deprecated only for lacking post-quantum key exchange).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(files.cert_pem, files.key_pem)
        .await
        .map_err(|e| anyhow::anyhow!("the TLS certificate or key cannot be used: {e}"))?;
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        signal.await;
        on_signal.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    let listener = listener.into_std()?;
    axum_server::from_tcp_rustls(listener, config).handle(handle).serve(app).await?;
    Ok(())
}

/// How long a stopping server waits for the requests in flight (SPEC §7: it stops within
/// 10 s of SIGTERM).
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(8);

/// How often the tombstone and token purges run.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

async fn purge_forever(state: AppState) {
    let mut tick = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tick.tick().await;
        if let Ok(retention) = chrono::Duration::from_std(state.config.tombstone_retention) {
            let cutoff = chrono::Utc::now() - retention;
            match purge_tombstones(&state, cutoff).await {
                Ok(n) if n > 0 => tracing::info!(purged = n, "expired tombstones purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "tombstone purge failed; will retry"),
            }
        }
        match purge_expired_tokens(state.store.as_ref()).await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "expired tokens purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "token purge failed; will retry"),
        }
        match purge_idle_login_addresses(state.store.as_ref()).await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "idle sign-in throttles of client addresses purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sign-in throttle purge failed; will retry"),
        }
    }
}

async fn purge_tombstones(state: &AppState, cutoff: chrono::DateTime<chrono::Utc>) -> Result<u64, modula_store::StoreError> {
    let mut tx = state.store.begin_write().await?;
    let n = tx.purge_tombstones(cutoff).await?;
    tx.commit().await?;
    Ok(n)
}

/// Deletes the sign-in throttles of client addresses with no failure for a day and no
/// lock left (the table holds only addresses that failed lately). Run hourly by [`serve`].
pub async fn purge_idle_login_addresses(store: &dyn Store) -> Result<u64, modula_store::StoreError> {
    let mut tx = store.begin_write().await?;
    let n = tx.purge_login_addresses(chrono::Utc::now() - chrono::Duration::days(1)).await?;
    tx.commit().await?;
    Ok(n)
}

/// Deletes the tokens that expired (they no longer sign anyone in; their rows only grow
/// the table). Run hourly by [`serve`].
pub async fn purge_expired_tokens(store: &dyn Store) -> Result<u64, modula_store::StoreError> {
    let mut tx = store.begin_write().await?;
    let n = tx.purge_expired_tokens(chrono::Utc::now()).await?;
    tx.commit().await?;
    Ok(n)
}

/// mimalloc: the op lanes allocate many small JSON values; glibc malloc spent a quarter
/// of push time in allocation (see the push benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
