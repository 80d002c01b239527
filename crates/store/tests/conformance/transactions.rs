//! Transactions: read snapshots, and writers serialized across processes.
//!
//! The tests with two stores open them on one database, as two server processes would.
//! PostgreSQL serializes writers on the rows they lock (the device row, the branch row,
//! the secret's row); SQLite serializes all writers on its single write lock, taken at
//! `BEGIN IMMEDIATE` (the second writer waits in `begin_write`). Either way the second
//! writer waits for the first's commit and then sees it, which is what these tests check.

use std::time::Duration;

use modula_store::*;
use serde_json::json;

use crate::{change, id, t, tenant_rec, world, Backend};

conformance!(a_read_transaction_is_one_read_only_snapshot);
async fn a_read_transaction_is_one_read_only_snapshot(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let mut read = store.begin_read().await.unwrap();
    assert_eq!(read.stream_position(w.branch.id).await.unwrap().head, 0);
    let mut tx = store.begin_write().await.unwrap();
    tx.record_changes(w.branch.id, &[change(w.branch.id, "menu", id(), Some(json!(1)))]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(read.stream_position(w.branch.id).await.unwrap().head, 0, "the snapshot does not move");
    assert!(read.pull_changes(w.branch.id, 0, &["menu"], true, 10).await.unwrap().is_empty());
    // That writes through it fail: `a_read_transaction_refuses_writes_and_locks`.
    drop(read);
    let mut fresh = store.begin_read().await.unwrap();
    assert_eq!(fresh.stream_position(w.branch.id).await.unwrap().head, 1);
}

conformance!(a_read_transaction_refuses_writes_and_locks);
/// Split from `a_read_transaction_is_one_read_only_snapshot` (writes fail) and
/// `pushes_of_one_device_are_serialized_by_its_row_lock` (a read transaction cannot lock),
/// which also found that SQLite's read transactions took writes and "locks" (fixed: every
/// write and lock method of `SqliteTx` checks that its transaction is a write one).
///
/// A write through a read transaction is a bug of the caller: it fails as `Internal`
/// (never `Unavailable`, which would have the client retry it forever), writes nothing,
/// and a lock asked in a read transaction is refused rather than silently not taken.
async fn a_read_transaction_refuses_writes_and_locks(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let tenant = tenant_rec();
    let mut read = store.begin_read().await.unwrap();
    let write = read.insert_tenant(&tenant).await;
    assert!(matches!(write, Err(StoreError::Internal(_))), "writes fail: {write:?}");
    // A caller that commits anyway has still written nothing.
    let _ = read.commit().await;
    let mut read = store.begin_read().await.unwrap();
    assert_eq!(read.tenant(tenant.id).await.unwrap(), None, "nothing written");
    drop(read);

    // Also when another writer committed after the snapshot was taken.
    let mut read = store.begin_read().await.unwrap();
    assert_eq!(read.stream_position(w.branch.id).await.unwrap().head, 0);
    let mut tx = store.begin_write().await.unwrap();
    tx.record_changes(w.branch.id, &[change(w.branch.id, "menu", id(), Some(json!(1)))]).await.unwrap();
    tx.commit().await.unwrap();
    let write = read.insert_tenant(&tenant_rec()).await;
    assert!(matches!(write, Err(StoreError::Internal(_))), "writes fail after a concurrent commit too: {write:?}");
    drop(read);

    let mut read = store.begin_read().await.unwrap();
    let locked = read.lock_device(w.tenant.id, w.device.id).await;
    assert!(locked.is_err(), "a read transaction cannot lock: {locked:?}");
}

conformance!(the_first_server_secret_wins_also_across_processes);
async fn the_first_server_secret_wins_also_across_processes(b: &Backend) {
    let a = b.store();
    let other = b.open().await;
    let mut first = a.begin_write().await.unwrap();
    assert_eq!(first.server_secret("k", b"first").await.unwrap(), b"first");
    // A concurrent asker waits for the first to commit, then gets its value.
    let second = tokio::spawn(async move {
        let mut tx = other.begin_write().await.unwrap();
        let got = tx.server_secret("k", b"second").await.unwrap();
        tx.commit().await.unwrap();
        got
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // PostgreSQL: on the first's uncommitted row; SQLite: on the write lock.
    assert!(!second.is_finished(), "the second asker waits for the first");
    first.commit().await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap(), b"first");
    let mut tx = a.begin_write().await.unwrap();
    assert_eq!(tx.server_secret("k", b"third").await.unwrap(), b"first");
    assert_eq!(tx.server_secret("other", b"x").await.unwrap(), b"x");
    tx.commit().await.unwrap();
}

conformance!(pushes_of_one_device_are_serialized_by_its_row_lock);
async fn pushes_of_one_device_are_serialized_by_its_row_lock(b: &Backend) {
    let a = b.store();
    let other = b.open().await;
    let w = world(a).await;
    let (tenant_id, device_id, branch_id) = (w.tenant.id, w.device.id, w.branch.id);
    let mut first = a.begin_write().await.unwrap();
    assert_eq!(first.lock_device(tenant_id, device_id).await.unwrap(), Some(w.device.clone()));
    first.note_device_seqs(device_id, &[1, 2], t(1)).await.unwrap();

    let second = tokio::spawn(async move {
        let mut tx = other.begin_write().await.unwrap();
        tx.lock_device(tenant_id, device_id).await.unwrap().expect("the device");
        // After the wait this transaction sees what the first committed.
        let info = tx.device_sync_info(tenant_id, branch_id).await.unwrap();
        tx.note_device_seqs(device_id, &[3], t(2)).await.unwrap();
        tx.commit().await.unwrap();
        info[0].last_device_seq
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second push waits for the first's commit");
    first.commit().await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap(), 2);

    // That a read transaction cannot lock: `a_read_transaction_refuses_writes_and_locks`.
    let mut tx = a.begin_write().await.unwrap();
    assert_eq!(tx.lock_device(id(), device_id).await.unwrap(), None, "tenant-scoped");
}

conformance!(writers_of_one_branch_commit_in_position_order);
async fn writers_of_one_branch_commit_in_position_order(b: &Backend) {
    let a = b.store();
    let other = b.open().await;
    let w = world(a).await;
    let branch_id = w.branch.id;
    let mut first = a.begin_write().await.unwrap();
    assert_eq!(first.record_changes(branch_id, &[change(branch_id, "sales", id(), Some(json!(1)))]).await.unwrap(), 1);
    let second = tokio::spawn(async move {
        let mut tx = other.begin_write().await.unwrap();
        let head = tx.record_changes(branch_id, &[change(branch_id, "sales", id(), Some(json!(2)))]).await.unwrap();
        tx.commit().await.unwrap();
        head
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // PostgreSQL: on the branch row; SQLite: on the write lock.
    assert!(!second.is_finished(), "the second writer waits for the first");
    let mut read = a.begin_read().await.unwrap();
    assert_eq!(read.stream_position(branch_id).await.unwrap().head, 0, "nothing visible before commit");
    drop(read);
    first.commit().await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap(), 2);
    let mut read = a.begin_read().await.unwrap();
    let rows = read.pull_changes(branch_id, 0, &["sales"], true, 10).await.unwrap();
    let data: Vec<(i64, Option<&str>)> = rows.iter().map(|r| (r.seq, r.data.as_deref())).collect();
    assert_eq!(data, vec![(1, Some("1")), (2, Some("2"))]);
}

conformance!(sign_in_attempts_of_one_account_are_serialized_by_its_row_lock);
/// A sign-in attempt locks the account's row, counts, judges, then commits: a second
/// attempt (another process) waits, and then sees the first one's count.
async fn sign_in_attempts_of_one_account_are_serialized_by_its_row_lock(b: &Backend) {
    let a = b.store();
    let other = b.open().await;
    let w = world(a).await;
    let ann = crate::staff_rec(w.tenant.id, "Ann", vec![w.branch.id]);
    let (tenant_id, ann_id) = (w.tenant.id, ann.id);
    let mut tx = a.begin_write().await.unwrap();
    tx.insert_staff(&ann).await.unwrap();
    tx.commit().await.unwrap();

    let mut first = a.begin_write().await.unwrap();
    assert_eq!(first.lock_staff(tenant_id, ann_id).await.unwrap().map(|s| s.failed_logins), Some(0));
    first.set_login_lockout(tenant_id, ann_id, 1, None).await.unwrap();
    let second = tokio::spawn(async move {
        let mut tx = other.begin_write().await.unwrap();
        let seen = tx.lock_staff(tenant_id, ann_id).await.unwrap().expect("Ann").failed_logins;
        tx.set_login_lockout(tenant_id, ann_id, seen + 1, None).await.unwrap();
        tx.commit().await.unwrap();
        seen
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second attempt waits for the first's commit");
    first.commit().await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap(), 1, "and counts after it");

    let mut tx = a.begin_write().await.unwrap();
    assert_eq!(tx.lock_staff(id(), ann_id).await.unwrap(), None, "tenant-scoped");
    assert_eq!(tx.lock_staff(tenant_id, ann_id).await.unwrap().unwrap().failed_logins, 2);
    drop(tx);
    let mut read = a.begin_read().await.unwrap();
    assert!(read.lock_staff(tenant_id, ann_id).await.is_err(), "a read transaction cannot lock");
}

conformance!(address_throttles_are_locked_stored_and_purged);
/// The sign-in throttle of an address: a new address starts at zero, a change is kept,
/// a second process's attempt waits for the first, and idle unlocked rows are purged.
async fn address_throttles_are_locked_stored_and_purged(b: &Backend) {
    let a = b.store();
    let other = b.open().await;
    let mut first = a.begin_write().await.unwrap();
    let fresh = first.lock_login_address("203.0.113.7").await.unwrap();
    assert_eq!((fresh.address.as_str(), fresh.failures, fresh.locked_until), ("203.0.113.7", 0, None));
    first.set_login_address(&AddressThrottle { failures: 1, updated_at: t(10), ..fresh }).await.unwrap();
    let second = tokio::spawn(async move {
        let mut tx = other.begin_write().await.unwrap();
        let seen = tx.lock_login_address("203.0.113.7").await.unwrap();
        tx.set_login_address(&AddressThrottle { failures: seen.failures + 1, locked_until: Some(t(500)), ..seen.clone() })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        seen.failures
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second attempt waits for the first's commit");
    first.commit().await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap(), 1);

    let mut tx = a.begin_write().await.unwrap();
    let idle = AddressThrottle { address: "198.51.100.1".into(), failures: 3, locked_until: None, updated_at: t(10) };
    tx.set_login_address(&idle).await.unwrap();
    assert_eq!(tx.purge_login_addresses(t(100)).await.unwrap(), 1, "the idle address goes; the locked one stays");
    let kept = tx.lock_login_address("203.0.113.7").await.unwrap();
    assert_eq!((kept.failures, kept.locked_until), (2, Some(t(500))));
    assert_eq!(tx.lock_login_address("198.51.100.1").await.unwrap().failures, 0, "purged: a fresh start");
    drop(tx);
    let mut read = a.begin_read().await.unwrap();
    assert!(read.lock_login_address("203.0.113.7").await.is_err(), "a read transaction cannot lock");
}
