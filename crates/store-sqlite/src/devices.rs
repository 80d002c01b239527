//! Enrolled devices, their row lock, and the `device_seq` ranges they sent. (the SQLite side of [`modula_store::DeviceTx`]).

use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::{from_ts_opt, store_error, ts, ts_opt, Cols};
use crate::tx::{get, SqliteTx};

#[async_trait]
impl DeviceTx for SqliteTx {
    async fn insert_device(&mut self, d: &DeviceRecord) -> StoreResult<()> {
        self.require_write("insert_device")?;
        sqlx::query(
            "INSERT INTO devices (id, tenant_id, branch_id, name, code, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(d.id)
        .bind(d.tenant_id)
        .bind(d.branch_id)
        .bind(&d.name)
        .bind(&d.code)
        .bind(ts(d.created_at))
        .bind(ts_opt(d.revoked_at))
        .execute(&mut *self.tx)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>> {
        let row = sqlx::query("SELECT * FROM devices WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(device_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(|r| DeviceRecord::from_row(&Cols(r))).transpose()
    }

    async fn list_devices(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceRecord>> {
        let rows = sqlx::query("SELECT * FROM devices WHERE tenant_id = ? AND branch_id = ? ORDER BY code")
            .bind(tenant_id)
            .bind(branch_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| DeviceRecord::from_row(&Cols(r))).collect()
    }

    async fn revoke_device(&mut self, tenant_id: Uuid, device_id: Uuid, at: Timestamp) -> StoreResult<()> {
        self.require_write("revoke_device")?;
        sqlx::query("UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE tenant_id = ? AND id = ?")
            .bind(ts(at))
            .bind(tenant_id)
            .bind(device_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn lock_device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>> {
        // BEGIN IMMEDIATE already holds SQLite's single write lock: the row is ours.
        self.require_write("lock_device")?;
        self.device(tenant_id, device_id).await
    }

    async fn note_device_seen(&mut self, device_id: Uuid, at: Timestamp, not_before: Timestamp) -> StoreResult<()> {
        self.require_write("note_device_seen")?;
        sqlx::query("UPDATE devices SET last_seen_at = ? WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at < ?)")
            .bind(ts(at))
            .bind(device_id)
            .bind(ts(not_before))
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn note_device_seqs(&mut self, device_id: Uuid, seqs: &[i64], at: Timestamp) -> StoreResult<()> {
        self.require_write("note_device_seqs")?;
        let Some(max) = seqs.iter().copied().max() else {
            return Ok(());
        };
        if let Some((lowest_to, highest_from)) = seq_ranges::window(seqs) {
            let rows = sqlx::query(
                "SELECT from_seq, to_seq FROM device_seq_ranges \
                 WHERE device_id = ? AND from_seq <= ? AND to_seq >= ? ORDER BY from_seq",
            )
            .bind(device_id)
            .bind(highest_from)
            .bind(lowest_to)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
            let near = rows.iter().map(|r| Ok((get(r, "from_seq")?, get(r, "to_seq")?))).collect::<StoreResult<Vec<_>>>()?;
            let update = seq_ranges::merge(&near, seqs);
            for from in update.delete_froms {
                sqlx::query("DELETE FROM device_seq_ranges WHERE device_id = ? AND from_seq = ?")
                    .bind(device_id)
                    .bind(from)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
            }
            for (from, to) in update.upserts {
                sqlx::query(
                    "INSERT INTO device_seq_ranges (device_id, from_seq, to_seq) VALUES (?, ?, ?) \
                     ON CONFLICT (device_id, from_seq) DO UPDATE SET to_seq = excluded.to_seq",
                )
                .bind(device_id)
                .bind(from)
                .bind(to)
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
            }
        }
        sqlx::query("UPDATE devices SET last_seen_at = ?, last_device_seq = MAX(last_device_seq, ?) WHERE id = ?")
            .bind(ts(at))
            .bind(max)
            .bind(device_id)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn device_sync_info(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceSyncInfo>> {
        let rows = sqlx::query("SELECT * FROM devices WHERE tenant_id = ? AND branch_id = ? ORDER BY code")
            .bind(tenant_id)
            .bind(branch_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let device = DeviceRecord::from_row(&Cols(row))?;
            let range_rows = sqlx::query(
                "SELECT from_seq, to_seq FROM device_seq_ranges WHERE device_id = ? ORDER BY from_seq LIMIT ?",
            )
            .bind(device.id)
            .bind(GAPS_MAX as i64 + 1)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(store_error)?;
            let ranges = range_rows
                .iter()
                .map(|r| Ok((get::<i64>(r, "from_seq")?, get::<i64>(r, "to_seq")?)))
                .collect::<StoreResult<Vec<_>>>()?;
            let gaps = seq_ranges::gaps(&ranges, GAPS_MAX);
            out.push(DeviceSyncInfo {
                last_seen_at: from_ts_opt(get(row, "last_seen_at")?)?,
                last_device_seq: get(row, "last_device_seq")?,
                gaps,
                device,
            });
        }
        Ok(out)
    }
}

/// Gaps listed per device (the rest are left out; the first ones are what matters).
const GAPS_MAX: usize = 1000;

