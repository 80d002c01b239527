//! The op lanes' combined writes: SQLite takes the interface's defaults (each part as
//! its own statements; on one local file a round trip costs nothing worth saving).

use modula_store::BatchTx;

use crate::tx::SqliteTx;

impl BatchTx for SqliteTx {}
