//! The combined writes of the op lanes, which a backend may send as fewer statements.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

/// The op lanes' combined writes: the part of [`Tx`] a backend may send as fewer statements. Every default method is correct; a backend overrides one only to save round trips.
#[async_trait]
pub trait BatchTx: BranchTx + CatalogTx + DeviceTx + OpLogTx + SalesTx + AuditTx + FeedTx + Send {
    /// [`BranchTx::lock_branch`], then, when the branch is found, [`CatalogTx::add_on_hand_many`]:
    /// what a push that decided before locking does first under the lock, in one round
    /// trip where the backend can. The lock order is the same: the branch row, then the
    /// stock rows in id order.
    async fn lock_branch_adding_on_hand(
        &mut self,
        tenant_id: Uuid,
        branch_id: Uuid,
        deltas: &[(Uuid, i64)],
    ) -> StoreResult<LockedBranch> {
        let asked_at = std::time::Instant::now();
        let branch = self.lock_branch(tenant_id, branch_id).await?;
        let waited = asked_at.elapsed();
        let levels = match branch {
            Some(_) => self.add_on_hand_many(tenant_id, branch_id, deltas).await?,
            None => Vec::new(),
        };
        Ok(LockedBranch { branch, levels, waited })
    }

    /// The last writes of a request of the op lanes, as one unit: the same effect as
    /// [`FeedTx::record_changes`] (when there are changes), [`SalesTx::insert_sales`],
    /// [`AuditTx::insert_audits`], [`DeviceTx::note_device_seqs`] (when there is a device) and
    /// [`OpLogTx::insert_ops`], in that order. Returns the new branch head, if it moved.
    async fn write_batch(&mut self, batch: &WriteBatch<'_>) -> StoreResult<Option<i64>> {
        let head = if batch.changes.is_empty() {
            None
        } else {
            Some(self.record_changes(batch.branch_id, batch.changes).await?)
        };
        self.insert_sales(batch.sales).await?;
        self.insert_sale_lines(batch.sale_lines).await?;
        self.insert_audits(batch.audits).await?;
        if let Some(device_id) = batch.device_id {
            self.note_device_seqs(device_id, batch.device_seqs, batch.at).await?;
        }
        self.insert_ops(batch.ops).await?;
        Ok(head)
    }
}

/// What [`BatchTx::lock_branch_adding_on_hand`] did.
#[derive(Debug)]
pub struct LockedBranch {
    /// The branch, locked; `None`: not found (and no stock added).
    pub branch: Option<BranchRecord>,
    /// Each item of `deltas` with its new on-hand, in the order of `deltas`.
    pub levels: Vec<(StockItemRecord, i64)>,
    /// How long the branch lock took to get, from asking (measured by the store inside
    /// the statement where it is one statement; the stock upsert after it is not in it).
    pub waited: std::time::Duration,
}

/// The buffered rows of one request of the op lanes ([`BatchTx::write_batch`]).
pub struct WriteBatch<'a> {
    /// The branch whose stream the changes go to.
    pub branch_id: Uuid,
    /// Change-feed rows, in order (all of `branch_id`).
    pub changes: &'a [ChangeRecord],
    /// New sales.
    pub sales: &'a [SaleRecord],
    /// The new sales' lines.
    pub sale_lines: &'a [SaleLineRecord],
    /// Audit events that belong to no op, in order (an applied op's event travels in its
    /// record, [`OpRecord::audit`]; the op lanes write none of these today).
    pub audits: &'a [AuditRecord],
    /// The device that sent the ops, if any, and the `device_seq`s it used.
    pub device_id: Option<Uuid>,
    /// See `device_id`.
    pub device_seqs: &'a [i64],
    /// New op records.
    pub ops: &'a [OpRecord],
    /// When the device was last seen (now).
    pub at: Timestamp,
}
