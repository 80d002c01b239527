//! The change feed: branch streams, their heads and tombstones, and nudges.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

/// The change feed: the part of [`Tx`] for branch streams.
#[async_trait]
pub trait FeedTx: Send {
    /// Where a branch stream stands.
    async fn stream_position(&mut self, branch_id: Uuid) -> StoreResult<StreamPosition>;

    /// Changes of a branch stream after `after_seq` in the given scopes, in stream order,
    /// at most `limit`; tombstones only when `with_tombstones`.
    async fn pull_changes(
        &mut self,
        branch_id: Uuid,
        after_seq: i64,
        scopes: &[&str],
        with_tombstones: bool,
        limit: i64,
    ) -> StoreResult<Vec<StoredChange>>;

    /// Deletes tombstones changed before `older_than` and raises each affected branch's
    /// `purged_seq`; returns how many were deleted.
    async fn purge_tombstones(&mut self, older_than: Timestamp) -> StoreResult<u64>;

    /// Moves the branch head past `changes` (all of one branch) and stores each at its
    /// own position, replacing the entity's older change. Returns the new head.
    async fn record_changes(&mut self, branch_id: Uuid, changes: &[ChangeRecord]) -> StoreResult<i64>;
}

/// One change for the branch change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    /// Stream.
    pub branch_id: Uuid,
    /// `menu`, `sales`, `cash_sessions`, …
    pub scope: &'static str,
    /// Entity type name.
    pub entity: &'static str,
    /// Entity id.
    pub entity_id: Uuid,
    /// Tombstone.
    pub deleted: bool,
    /// Current state (None for a tombstone).
    pub data: Option<modula_wire::JsonText>,
    /// The entity has never been in the stream (a new sale): a store may insert the row
    /// without looking for an older version to replace. A wrong `true` makes the write
    /// fail (a unique key), never duplicates an entity.
    pub new_entity: bool,
}

/// A change as stored in a branch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    /// Position in the branch stream.
    pub seq: i64,
    /// Scope.
    pub scope: String,
    /// Entity type.
    pub entity: String,
    /// Entity id.
    pub entity_id: Uuid,
    /// Tombstone.
    pub deleted: bool,
    /// The entity's JSON text (None for a tombstone).
    pub data: Option<String>,
}

/// Where a branch stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPosition {
    /// The position of the latest change.
    pub head: i64,
    /// Tombstones at or below this position were purged: older cursors must reset.
    pub purged_seq: i64,
}

/// A nudge: a branch stream moved to `head` (sent after commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchHead {
    /// The branch.
    pub branch_id: Uuid,
    /// Its stream's new head.
    pub head: i64,
}

impl StoredChange {
    /// Decodes a `changes` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(StoredChange {
            seq: row.int("seq")?,
            scope: row.text("scope")?,
            entity: row.text("entity")?,
            entity_id: row.uuid("entity_id")?,
            deleted: row.flag("deleted")?,
            data: row.opt_text("data")?,
        })
    }
}
