//! Enrolled devices, their row lock, and the `device_seq` ranges they sent. (the PostgreSQL side of [`modula_store::DeviceTx`]).


use async_trait::async_trait;
use modula_store::*;
use uuid::Uuid;

use crate::convert::Cols;
use crate::tx::{get, PgTx};

impl PgTx {
    pub(crate) async fn gaps(&mut self, device_id: Uuid) -> StoreResult<Vec<(i64, i64)>> {
        let sql = "SELECT from_seq, to_seq FROM device_seq_ranges WHERE device_id = $1 ORDER BY from_seq LIMIT $2";
        let rows = self.all(sqlx::query(sql).bind(device_id).bind(GAPS_MAX + 1)).await?;
        let ranges = rows.iter().map(|r| Ok((get(r, "from_seq")?, get(r, "to_seq")?))).collect::<StoreResult<Vec<_>>>()?;
        Ok(seq_ranges::gaps(&ranges, GAPS_MAX as usize))
    }

    /// What to write so that the device's stored seq ranges also cover `seqs` (reads
    /// the ranges near them; the caller holds the device's row lock).
    pub(crate) async fn seq_range_update(&mut self, device_id: Uuid, seqs: &[i64]) -> StoreResult<seq_ranges::SeqRangeUpdate> {
        let Some((lowest_to, highest_from)) = seq_ranges::window(seqs) else {
            return Ok(seq_ranges::SeqRangeUpdate::default());
        };
        let sql = "SELECT from_seq, to_seq FROM device_seq_ranges \
                   WHERE device_id = $1 AND from_seq <= $2 AND to_seq >= $3 ORDER BY from_seq";
        let rows = self.all(sqlx::query(sql).bind(device_id).bind(highest_from).bind(lowest_to)).await?;
        let near = rows.iter().map(|r| Ok((get(r, "from_seq")?, get(r, "to_seq")?))).collect::<StoreResult<Vec<_>>>()?;
        Ok(seq_ranges::merge(&near, seqs))
    }
}

#[async_trait]
impl DeviceTx for PgTx {
    async fn insert_device(&mut self, d: &DeviceRecord) -> StoreResult<()> {
        let sql = "INSERT INTO devices (id, tenant_id, branch_id, name, code, created_at, revoked_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let q = sqlx::query(sql).bind(d.id).bind(d.tenant_id).bind(d.branch_id).bind(&d.name).bind(&d.code);
        self.exec(q.bind(d.created_at).bind(d.revoked_at)).await?;
        Ok(())
    }

    async fn device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>> {
        let sql = "SELECT * FROM devices WHERE tenant_id = $1 AND id = $2";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(device_id)).await?;
        row.as_ref().map(|r| DeviceRecord::from_row(&Cols(r))).transpose()
    }

    async fn list_devices(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceRecord>> {
        let sql = "SELECT * FROM devices WHERE tenant_id = $1 AND branch_id = $2 ORDER BY code";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id)).await?;
        rows.iter().map(|r| DeviceRecord::from_row(&Cols(r))).collect()
    }

    async fn revoke_device(&mut self, tenant_id: Uuid, device_id: Uuid, at: Timestamp) -> StoreResult<()> {
        let sql = "UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE tenant_id = $2 AND id = $3";
        self.exec(sqlx::query(sql).bind(at).bind(tenant_id).bind(device_id)).await?;
        Ok(())
    }

    async fn lock_device(&mut self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<DeviceRecord>> {
        // NO KEY UPDATE is the lock an UPDATE of the row takes: it excludes every other
        // locker of the row (another push of this device, a revocation) until commit, but
        // not foreign-key checks of rows referring to the device.
        let sql = "SELECT * FROM devices WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE";
        let row = self.one(sqlx::query(sql).bind(tenant_id).bind(device_id)).await?;
        row.as_ref().map(|r| DeviceRecord::from_row(&Cols(r))).transpose()
    }

    async fn note_device_seen(&mut self, device_id: Uuid, at: Timestamp, not_before: Timestamp) -> StoreResult<()> {
        let sql = "UPDATE devices SET last_seen_at = $1 WHERE id = $2 AND (last_seen_at IS NULL OR last_seen_at < $3)";
        self.exec(sqlx::query(sql).bind(at).bind(device_id).bind(not_before)).await?;
        Ok(())
    }

    async fn note_device_seqs(&mut self, device_id: Uuid, seqs: &[i64], at: Timestamp) -> StoreResult<()> {
        let Some(max) = seqs.iter().copied().max() else {
            return Ok(());
        };
        let u = self.seq_range_update(device_id, seqs).await?;
        let sql = "WITH d AS (DELETE FROM device_seq_ranges WHERE device_id = $1 AND from_seq = ANY($2::int8[])) \
                   INSERT INTO device_seq_ranges (device_id, from_seq, to_seq) \
                   SELECT $1, f, t FROM UNNEST($3::int8[], $4::int8[]) AS u(f, t) \
                   ON CONFLICT (device_id, from_seq) DO UPDATE SET to_seq = EXCLUDED.to_seq";
        let (froms, tos): (Vec<i64>, Vec<i64>) = u.upserts.iter().copied().unzip();
        self.exec(sqlx::query(sql).bind(device_id).bind(&u.delete_froms).bind(froms).bind(tos)).await?;
        let update = "UPDATE devices SET last_seen_at = $1, last_device_seq = GREATEST(last_device_seq, $2) WHERE id = $3";
        self.exec(sqlx::query(update).bind(at).bind(max).bind(device_id)).await?;
        Ok(())
    }

    async fn device_sync_info(&mut self, tenant_id: Uuid, branch_id: Uuid) -> StoreResult<Vec<DeviceSyncInfo>> {
        let sql = "SELECT * FROM devices WHERE tenant_id = $1 AND branch_id = $2 ORDER BY code";
        let rows = self.all(sqlx::query(sql).bind(tenant_id).bind(branch_id)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let device = DeviceRecord::from_row(&Cols(row))?;
            let gaps = self.gaps(device.id).await?;
            out.push(DeviceSyncInfo {
                last_seen_at: get(row, "last_seen_at")?,
                last_device_seq: get(row, "last_device_seq")?,
                gaps,
                device,
            });
        }
        Ok(out)
    }
}

/// Most gaps reported per device.
pub(crate) const GAPS_MAX: i64 = 1000;

