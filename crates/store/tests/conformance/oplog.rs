//! The op log and the device sync bookkeeping.

use modula_store::*;
use serde_json::json;
use uuid::Uuid;

use crate::{change, id, op_rec, rejected, t, world, Backend};

conformance!(the_op_log_round_trips_and_lists_rejections_newest_first);
async fn the_op_log_round_trips_and_lists_rejections_newest_first(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let applied = op_rec(&w, 1, OpOutcome::Applied(json!({"sale_id": "x", "n": 1.5}).into()), t(100));
    let mut old = op_rec(&w, 2, rejected(Some("lines[0].qty")), t(101));
    old.payload = Some(json!({"sale_id": "kept", "receipt_no": "ñ-1", "lines": []}).into());
    let new = op_rec(&w, 3, rejected(None), t(102));
    let mut online = op_rec(&w, 4, rejected(None), t(103));
    online.lane = Lane::Online;
    online.device_id = None;
    online.device_seq = None;
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_ops(&[applied.clone(), old.clone(), new.clone(), online.clone()]).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin_read().await.unwrap();
    let mut got = tx.ops_by_ids(w.tenant.id, &[applied.client_op_id, new.client_op_id, id()]).await.unwrap();
    got.sort_by_key(|o| o.device_seq);
    assert_eq!(got, vec![applied.clone(), new.clone()]);
    assert!(tx.ops_by_ids(id(), &[applied.client_op_id]).await.unwrap().is_empty(), "tenant-scoped");
    assert!(tx.ops_by_ids(w.tenant.id, &[]).await.unwrap().is_empty());
    // The same lookup outside any transaction (PostgreSQL: one statement on the pool;
    // SQLite: the trait's default, a read transaction).
    let mut outside = store.ops_by_ids(w.tenant.id, &[applied.client_op_id, new.client_op_id, id()]).await.unwrap();
    outside.sort_by_key(|o| o.device_seq);
    assert_eq!(outside, vec![applied.clone(), new.clone()]);
    assert!(store.ops_by_ids(id(), &[applied.client_op_id]).await.unwrap().is_empty(), "tenant-scoped");
    assert!(store.ops_by_ids(w.tenant.id, &[]).await.unwrap().is_empty());
    let listed = tx.rejected_ops(w.tenant.id, w.branch.id, 10).await.unwrap();
    assert_eq!(listed, vec![online.clone(), new.clone(), old.clone()]);
    assert_eq!(tx.rejected_ops(w.tenant.id, w.branch.id, 1).await.unwrap(), vec![online]);
    drop(tx);

    let mut tx = store.begin_write().await.unwrap();
    let again = tx.insert_ops(&[applied]).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "keys are unique: {again:?}");
}

conformance!(a_rejected_op_has_one_resolution);
async fn a_rejected_op_has_one_resolution(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let op = op_rec(&w, 1, rejected(None), t(100));
    let first = ResolutionRecord {
        tenant_id: w.tenant.id,
        client_op_id: op.client_op_id,
        branch_id: w.branch.id,
        action: "accept".into(),
        actor_id: id(),
        note: "the money was in the drawer".into(),
        at: t(200),
        result: Some(json!({"sale_id": "s"}).into()),
    };
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_ops(std::slice::from_ref(&op)).await.unwrap();
    assert!(tx.insert_resolution(&first).await.unwrap());
    let second = ResolutionRecord { action: "dismiss".into(), result: None, note: "no".into(), ..first.clone() };
    assert!(!tx.insert_resolution(&second).await.unwrap(), "one resolution per op");
    tx.commit().await.unwrap();
    let mut tx = store.begin_read().await.unwrap();
    assert_eq!(tx.resolutions(w.tenant.id, &[op.client_op_id, id()]).await.unwrap(), vec![first.clone()]);
    assert!(tx.resolutions(id(), &[op.client_op_id]).await.unwrap().is_empty(), "tenant-scoped");
    assert!(tx.resolutions(w.tenant.id, &[]).await.unwrap().is_empty());
}

conformance!(device_seqs_are_noted_and_gaps_reported);
async fn device_seqs_are_noted_and_gaps_reported(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let mut tx = store.begin_write().await.unwrap();
    tx.note_device_seqs(w.device.id, &[], t(50)).await.unwrap();
    let info = tx.device_sync_info(w.tenant.id, w.branch.id).await.unwrap();
    assert_eq!((info[0].last_seen_at, info[0].last_device_seq, info[0].gaps.clone()), (None, 0, vec![]));
    tx.note_device_seqs(w.device.id, &[1, 2, 5, 2], t(51)).await.unwrap();
    let info = tx.device_sync_info(w.tenant.id, w.branch.id).await.unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].device, DeviceRecord { last_seen_at: Some(t(51)), ..w.device.clone() });
    assert_eq!(info[0].last_seen_at, Some(t(51)));
    assert_eq!(info[0].last_device_seq, 5);
    assert_eq!(info[0].gaps, vec![(3, 4)]);
    tx.note_device_seqs(w.device.id, &[3], t(52)).await.unwrap();
    let info = tx.device_sync_info(w.tenant.id, w.branch.id).await.unwrap();
    assert_eq!((info[0].last_device_seq, info[0].gaps.clone()), (5, vec![(4, 4)]), "the highest seq never drops");
    assert!(tx.device_sync_info(id(), w.branch.id).await.unwrap().is_empty(), "tenant-scoped");
    tx.commit().await.unwrap();
}

conformance!(large_batches_are_split_into_several_statements);
/// More rows than one statement of either backend takes (bound-parameter limits).
async fn large_batches_are_split_into_several_statements(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let n = 2_345;
    let changes: Vec<ChangeRecord> = (0..n).map(|i| change(w.branch.id, "sales", id(), Some(json!({"i": i})))).collect();
    let ops: Vec<OpRecord> = (1..=n).map(|i| op_rec(&w, i, rejected(None), t(i))).collect();
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.record_changes(w.branch.id, &changes).await.unwrap(), n);
    tx.insert_ops(&ops).await.unwrap();
    let seqs: Vec<i64> = (1..=n).collect();
    tx.note_device_seqs(w.device.id, &seqs, t(0)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin_read().await.unwrap();
    let rows = tx.pull_changes(w.branch.id, 0, &["sales"], false, 10_000).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), seqs, "contiguous positions, in order");
    assert_eq!(rows[1_500].data.as_deref(), Some(r#"{"i":1500}"#));
    let ids: Vec<Uuid> = ops.iter().map(|o| o.client_op_id).collect();
    assert_eq!(tx.ops_by_ids(w.tenant.id, &ids).await.unwrap().len(), ops.len());
    let info = tx.device_sync_info(w.tenant.id, w.branch.id).await.unwrap();
    assert_eq!((info[0].last_device_seq, info[0].gaps.len()), (n, 0));
}
