//! The change feed: branch heads, change rows, pulls and tombstones. (the SQLite side of [`modula_store::FeedTx`]).

use async_trait::async_trait;
use modula_store::*;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::convert::{store_error, ts, Cols};
use crate::tx::{get, SqliteTx, INSERT_ROWS_MAX};

#[async_trait]
impl FeedTx for SqliteTx {
    async fn record_changes(&mut self, branch_id: Uuid, changes: &[ChangeRecord]) -> StoreResult<i64> {
        self.require_write("record_changes")?;
        let count = i64::try_from(changes.len()).map_err(|_| StoreError::Internal("too many changes".into()))?;
        let head: i64 = sqlx::query_scalar("UPDATE branches SET head = head + ? WHERE id = ? RETURNING head")
            .bind(count)
            .bind(branch_id)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(store_error)?;
        let first = head - count + 1;
        let now = ts(chrono::Utc::now());
        for (chunk_no, chunk) in changes.chunks(INSERT_ROWS_MAX).enumerate() {
            let base = first + (chunk_no * INSERT_ROWS_MAX) as i64;
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO changes (branch_id, scope, entity, entity_id, seq, deleted, data, changed_at) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut b, (i, c)| {
                debug_assert_eq!(c.branch_id, branch_id, "one branch per call");
                b.push_bind(branch_id)
                    .push_bind(c.scope)
                    .push_bind(c.entity)
                    .push_bind(c.entity_id)
                    .push_bind(base + i as i64)
                    .push_bind(c.deleted as i64)
                    .push_bind(c.data.as_ref().map(|d| d.as_str().to_owned()))
                    .push_bind(now);
            });
            q.push(
                " ON CONFLICT (branch_id, scope, entity_id) DO UPDATE SET seq = excluded.seq, deleted = excluded.deleted, \
                 data = excluded.data, entity = excluded.entity, changed_at = excluded.changed_at",
            );
            q.build().execute(&mut *self.tx).await.map_err(store_error)?;
        }
        self.moved.retain(|m| m.branch_id != branch_id);
        self.moved.push(BranchHead { branch_id, head });
        Ok(head)
    }

    async fn stream_position(&mut self, branch_id: Uuid) -> StoreResult<StreamPosition> {
        let row = sqlx::query("SELECT head, purged_seq FROM branches WHERE id = ?")
            .bind(branch_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?
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
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT seq, scope, entity, entity_id, deleted, data FROM changes WHERE branch_id = ",
        );
        q.push_bind(branch_id).push(" AND seq > ").push_bind(after_seq).push(" AND scope IN (");
        let mut list = q.separated(", ");
        for scope in scopes {
            list.push_bind(*scope);
        }
        q.push(")");
        if !with_tombstones {
            q.push(" AND deleted = 0");
        }
        q.push(" ORDER BY seq LIMIT ").push_bind(limit);
        let rows = q.build().fetch_all(&mut *self.tx).await.map_err(store_error)?;
        rows.iter().map(|r| StoredChange::from_row(&Cols(r))).collect()
    }

    async fn purge_tombstones(&mut self, older_than: Timestamp) -> StoreResult<u64> {
        self.require_write("purge_tombstones")?;
        sqlx::query(
            "UPDATE branches SET purged_seq = MAX(purged_seq, (SELECT MAX(seq) FROM changes c \
               WHERE c.branch_id = branches.id AND c.deleted = 1 AND c.changed_at < ?)) \
             WHERE id IN (SELECT branch_id FROM changes WHERE deleted = 1 AND changed_at < ?)",
        )
        .bind(ts(older_than))
        .bind(ts(older_than))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        let done = sqlx::query("DELETE FROM changes WHERE deleted = 1 AND changed_at < ?")
            .bind(ts(older_than))
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }
}
