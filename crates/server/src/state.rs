//! Shared application state handed to every handler.

use std::sync::Arc;

use modula_store::Store;

use crate::metrics::Metrics;

/// Everything a handler needs: the store and process-wide services.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// State over a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        AppState { store, metrics: Arc::new(Metrics::default()) }
    }
}
