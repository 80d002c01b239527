//! The Modula server: the authoritative HTTP/JSON backend of Modula Offline Sync.
//!
//! Layout: `routes` (thin axum handlers) → `domain` (what each endpoint means, over
//! the `modula_store` interface, decided with `modula_rules`) → a store backend.
//! Errors are one enum, [`error::ApiError`], mapped to problem+json in one place.

pub mod auth;
pub mod domain;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod routes;
pub mod state;

use std::sync::Arc;

use modula_store::Store;
use tokio::net::TcpListener;

pub use routes::router;
pub use state::AppState;

/// Opens the database named by `url`: `sqlite://PATH` (created if missing).
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = modula_store_sqlite::SqliteStore::connect(url).await?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        anyhow::bail!("the PostgreSQL backend is not built yet; use --db sqlite://PATH");
    }
    anyhow::bail!("unsupported --db URL {url:?}: use sqlite://PATH")
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// mimalloc: the op lanes allocate many small JSON values; glibc malloc spent a quarter
/// of push time in allocation (see the push benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
