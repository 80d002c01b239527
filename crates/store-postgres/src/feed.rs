//! The change feed: branch heads, change rows, pulls and tombstones. (the PostgreSQL side of [`modula_store::FeedTx`]).

use std::collections::HashMap;

use async_trait::async_trait;
use modula_store::*;
use modula_wire::JsonText;
use uuid::Uuid;

use crate::convert::{count, store_error, Cols};
use crate::nudge::NUDGE_CHANNEL;
use crate::tx::{get, PgTx};

impl PgTx {
    /// Moves a branch head by `n` and queues its nudge (delivered by PostgreSQL to every
    /// listening process if, and only when, this transaction commits). The row lock taken
    /// here is held to commit: the branch's writers commit in position order.
    pub(crate) async fn move_head(&mut self, branch_id: Uuid, n: i64) -> StoreResult<i64> {
        let sql = "UPDATE branches SET head = head + $1 WHERE id = $2 \
                   RETURNING head, pg_notify($3, id::text || ':' || head::text)";
        let row = sqlx::query(sql).bind(n).bind(branch_id).bind(NUDGE_CHANNEL).fetch_one(&mut *self.tx).await;
        get(&row.map_err(store_error)?, "head")
    }

    /// Upserts placed change rows in one statement: one array per column, so the text is
    /// the same for every batch size and stays prepared on the connection.
    pub(crate) async fn insert_changes(&mut self, branch_id: Uuid, rows: &[PlacedChange<'_>], now: Timestamp) -> StoreResult<()> {
        let sql = "INSERT INTO changes (branch_id, scope, entity, entity_id, seq, deleted, data, changed_at) \
                   SELECT $1, r.scope, r.entity, r.entity_id, r.seq, r.deleted, r.data, $2 \
                   FROM UNNEST($3::text[], $4::text[], $5::uuid[], $6::int8[], $7::bool[], $8::text[]) \
                     AS r(scope, entity, entity_id, seq, deleted, data) \
                   ON CONFLICT (branch_id, scope, entity_id) DO UPDATE SET seq = EXCLUDED.seq, deleted = EXCLUDED.deleted, \
                   data = EXCLUDED.data, entity = EXCLUDED.entity, changed_at = EXCLUDED.changed_at";
        let scopes: Vec<&str> = rows.iter().map(|r| r.change.scope).collect();
        let entities: Vec<&str> = rows.iter().map(|r| r.change.entity).collect();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.change.entity_id).collect();
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        let deleted: Vec<bool> = rows.iter().map(|r| r.change.deleted).collect();
        let data: Vec<Option<&str>> = rows.iter().map(|r| r.data).collect();
        let q = sqlx::query(sql).bind(branch_id).bind(now).bind(scopes).bind(entities).bind(ids);
        self.exec(q.bind(seqs).bind(deleted).bind(data)).await?;
        Ok(())
    }

    /// Locks, in the order multi-branch writers lock them, the branches whose tombstones
    /// a purge deletes (so the purge never deadlocks with a writer of one of them).
    pub(crate) async fn lock_branches_with_tombstones(&mut self, older_than: Timestamp) -> StoreResult<()> {
        let sql = "SELECT id FROM branches WHERE id IN \
                     (SELECT branch_id FROM changes WHERE deleted AND changed_at < $1) \
                   ORDER BY tenant_id, name, id FOR NO KEY UPDATE";
        self.all(sqlx::query(sql).bind(older_than)).await?;
        Ok(())
    }
}

#[async_trait]
impl FeedTx for PgTx {
    async fn stream_position(&mut self, branch_id: Uuid) -> StoreResult<StreamPosition> {
        let sql = "SELECT head, purged_seq FROM branches WHERE id = $1";
        let row = self
            .one(sqlx::query(sql).bind(branch_id))
            .await?
            .ok_or_else(|| StoreError::Internal(format!("branch {branch_id} has no stream")))?;
        Ok(StreamPosition { head: get(&row, "head")?, purged_seq: get(&row, "purged_seq")? })
    }

    async fn pull_changes(
        &mut self,
        branch_id: Uuid,
        after_seq: i64,
        scopes: &[&str],
        with_tombstones: bool,
        limit: i64,
    ) -> StoreResult<Vec<StoredChange>> {
        let sql = "SELECT seq, scope, entity, entity_id, deleted, data FROM changes \
                   WHERE branch_id = $1 AND seq > $2 AND scope = ANY($3) AND (NOT deleted OR $4) \
                   ORDER BY seq LIMIT $5";
        let q = sqlx::query(sql).bind(branch_id).bind(after_seq).bind(scopes).bind(with_tombstones).bind(limit);
        let rows = self.all(q).await?;
        rows.iter().map(|r| StoredChange::from_row(&Cols(r))).collect()
    }

    async fn purge_tombstones(&mut self, older_than: Timestamp) -> StoreResult<u64> {
        self.lock_branches_with_tombstones(older_than).await?;
        let sql = "WITH gone AS (DELETE FROM changes WHERE deleted AND changed_at < $1 RETURNING branch_id, seq), \
                   top AS (SELECT branch_id, MAX(seq) AS seq FROM gone GROUP BY branch_id), \
                   raised AS (UPDATE branches b SET purged_seq = GREATEST(b.purged_seq, top.seq) \
                              FROM top WHERE b.id = top.branch_id) \
                   SELECT COUNT(*) FROM gone";
        let deleted: i64 = sqlx::query_scalar(sql).bind(older_than).fetch_one(&mut *self.tx).await.map_err(store_error)?;
        u64::try_from(deleted).map_err(|_| StoreError::Internal(format!("purged {deleted} tombstones?")))
    }

    async fn record_changes(&mut self, branch_id: Uuid, changes: &[ChangeRecord]) -> StoreResult<i64> {
        let n = count(changes.len())?;
        let head = self.move_head(branch_id, n).await?;
        let placed = place(branch_id, changes, head - n + 1);
        let now = chrono::Utc::now();
        self.insert_changes(branch_id, &placed, now).await?;
        self.moved.retain(|m| m.branch_id != branch_id);
        self.moved.push(BranchHead { branch_id, head });
        Ok(head)
    }
}

/// A change with its position in the stream and its JSON.
pub(crate) struct PlacedChange<'a> {
    pub(crate) seq: i64,
    pub(crate) change: &'a ChangeRecord,
    pub(crate) data: Option<&'a str>,
}

/// Gives each change its position (`first`, `first + 1`, …). An entity listed twice keeps
/// only its later version, at the later position, as if the rows were upserted one by one
/// (PostgreSQL refuses to upsert one row twice in one statement).
pub(crate) fn place(branch_id: Uuid, changes: &[ChangeRecord], first: i64) -> Vec<PlacedChange<'_>> {
    let mut placed: Vec<PlacedChange<'_>> = Vec::with_capacity(changes.len());
    let mut index: HashMap<(&str, Uuid), usize> = HashMap::with_capacity(changes.len());
    for (seq, change) in (first..).zip(changes) {
        debug_assert_eq!(change.branch_id, branch_id, "one branch per call");
        let row = PlacedChange { seq, change, data: change.data.as_ref().map(JsonText::as_str) };
        match index.get(&(change.scope, change.entity_id)) {
            Some(&i) => placed[i] = row,
            None => {
                index.insert((change.scope, change.entity_id), placed.len());
                placed.push(row);
            }
        }
    }
    placed
}

