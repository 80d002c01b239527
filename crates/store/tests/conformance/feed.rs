//! The change feed: positions, pulls, tombstone purging and nudges.

use std::time::Duration;

use modula_store::*;
use serde_json::json;
use uuid::Uuid;

use crate::{change, id, world, Backend, Kind};

conformance!(record_changes_hands_out_contiguous_positions_and_pull_reads_them);
async fn record_changes_hands_out_contiguous_positions_and_pull_reads_them(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let b = w.branch.id;
    let (menu1, menu2, sale1) = (id(), id(), id());
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.stream_position(b).await.unwrap(), StreamPosition { head: 0, purged_seq: 0 });
    let first = vec![
        change(b, "menu", menu1, Some(json!({"name": "Latte", "price": 250}))),
        change(b, "menu", menu2, Some(json!({"name": "Tea"}))),
        change(b, "sales", sale1, Some(json!({"total": 1}))),
    ];
    assert_eq!(tx.record_changes(b, &first).await.unwrap(), 3);
    // Re-upserting an entity moves it to the end; the head moves by the number of rows.
    let second = vec![change(b, "menu", menu1, Some(json!({"name": "Latte", "price": 300})))];
    assert_eq!(tx.record_changes(b, &second).await.unwrap(), 4);
    // One entity twice in one call: the later version wins, at the later position.
    let third = vec![change(b, "sales", sale1, Some(json!({"total": 2}))), change(b, "sales", sale1, None)];
    assert_eq!(tx.record_changes(b, &third).await.unwrap(), 6);
    tx.commit().await.unwrap();

    let mut tx = store.begin_read().await.unwrap();
    assert_eq!(tx.stream_position(b).await.unwrap(), StreamPosition { head: 6, purged_seq: 0 });
    let all = tx.pull_changes(b, 0, &["menu", "sales"], true, 100).await.unwrap();
    let seqs: Vec<(i64, Uuid, bool)> = all.iter().map(|c| (c.seq, c.entity_id, c.deleted)).collect();
    assert_eq!(seqs, vec![(2, menu2, false), (4, menu1, false), (6, sale1, true)]);
    assert_eq!(all[1].data.as_deref(), Some(r#"{"name":"Latte","price":300}"#), "data is the JSON text as written");
    assert_eq!((all[1].scope.as_str(), all[1].entity.as_str()), ("menu", "thing"));
    assert_eq!(all[2].data, None);
    let live = tx.pull_changes(b, 0, &["menu", "sales"], false, 100).await.unwrap();
    assert_eq!(live.iter().map(|c| c.seq).collect::<Vec<_>>(), [2, 4], "no tombstones on a full hydration");
    let menu_only = tx.pull_changes(b, 2, &["menu"], true, 100).await.unwrap();
    assert_eq!(menu_only.iter().map(|c| c.seq).collect::<Vec<_>>(), [4]);
    let limited = tx.pull_changes(b, 0, &["menu", "sales"], true, 2).await.unwrap();
    assert_eq!(limited.iter().map(|c| c.seq).collect::<Vec<_>>(), [2, 4]);
    assert!(tx.pull_changes(b, 0, &[], true, 100).await.unwrap().is_empty());
    assert!(tx.pull_changes(id(), 0, &["menu"], true, 100).await.unwrap().is_empty());
}

conformance!(purging_tombstones_raises_purged_seq);
async fn purging_tombstones_raises_purged_seq(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let b = w.branch.id;
    let mut tx = store.begin_write().await.unwrap();
    let changes = vec![
        change(b, "menu", id(), None),
        change(b, "menu", id(), Some(json!({}))),
        change(b, "sales", id(), None),
        change(b, "menu", id(), Some(json!({}))),
    ];
    tx.record_changes(b, &changes).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.purge_tombstones(chrono::Utc::now() - chrono::Duration::days(1)).await.unwrap(), 0, "too young");
    assert_eq!(tx.purge_tombstones(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 2);
    assert_eq!(tx.stream_position(b).await.unwrap(), StreamPosition { head: 4, purged_seq: 3 });
    let left = tx.pull_changes(b, 0, &["menu", "sales"], true, 10).await.unwrap();
    assert_eq!(left.iter().map(|c| c.seq).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(tx.purge_tombstones(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 0);
    assert_eq!(tx.stream_position(b).await.unwrap().purged_seq, 3, "purged_seq never goes down");
    tx.commit().await.unwrap();
}

async fn next_nudge(rx: &mut tokio::sync::broadcast::Receiver<BranchHead>, wait: Duration) -> Option<BranchHead> {
    tokio::time::timeout(wait, rx.recv()).await.ok().map(|r| r.expect("no lag in this test"))
}

conformance!(nudges_cross_processes_after_commit_only);
/// Nudges come after commit only, once per subscriber, never for a rolled-back write.
///
/// PostgreSQL: `theirs` listens on another store (another process's pool and listener),
/// so the nudge crosses processes through LISTEN/NOTIFY. SQLite announces in-process only
/// (`Store::nudges`: "from any writer … the backend can hear"), so there `theirs` is a
/// second subscriber of the writing store.
async fn nudges_cross_processes_after_commit_only(b: &Backend) {
    let writer = b.store();
    let other = b.open().await;
    let w = world(writer).await;
    let mut theirs = match b.kind() {
        Kind::Postgres => other.nudges(),
        Kind::Sqlite => writer.nudges(),
    };
    let mut mine = writer.nudges();

    let mut tx = writer.begin_write().await.unwrap();
    let rows = [change(w.branch.id, "menu", id(), Some(json!({}))), change(w.branch.id, "menu", id(), None)];
    assert_eq!(tx.record_changes(w.branch.id, &rows).await.unwrap(), 2);
    assert_eq!(next_nudge(&mut theirs, Duration::from_millis(500)).await, None, "nothing before commit");
    assert_eq!(next_nudge(&mut mine, Duration::from_millis(10)).await, None);
    tx.commit().await.unwrap();

    let want = BranchHead { branch_id: w.branch.id, head: 2 };
    assert_eq!(next_nudge(&mut theirs, Duration::from_secs(5)).await, Some(want), "another process hears it");
    assert_eq!(next_nudge(&mut mine, Duration::from_secs(5)).await, Some(want));
    assert_eq!(next_nudge(&mut mine, Duration::from_millis(500)).await, None, "announced once per process");
    assert_eq!(next_nudge(&mut theirs, Duration::from_millis(10)).await, None, "and once per subscriber");

    // A rolled-back write is never announced.
    let mut tx = writer.begin_write().await.unwrap();
    tx.record_changes(w.branch.id, &[change(w.branch.id, "menu", id(), None)]).await.unwrap();
    drop(tx);
    assert_eq!(next_nudge(&mut theirs, Duration::from_millis(500)).await, None);
    assert_eq!(next_nudge(&mut mine, Duration::from_millis(10)).await, None);
}
