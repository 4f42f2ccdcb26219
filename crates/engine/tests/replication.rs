//! The in-process replica set: lagging secondaries, atomic application, write concern,
//! read concern, roles.

mod common;

use std::time::Duration;

use bson::{Document, doc};
use causeway_engine::EngineOptions;
use causeway_engine::replset::ReplicaSet;
use common::*;

fn set_with_lags(lags: &[u64]) -> ReplicaSet {
    let mut builder = ReplicaSet::builder().members(lags.len() + 1);
    for (i, lag) in lags.iter().enumerate() {
        builder = builder.lag(i + 1, Duration::from_millis(*lag));
    }
    let set = builder.build();
    set.ensure_started();
    set
}

fn secondary_read(cmd: Document) -> Document {
    let mut cmd = cmd;
    cmd.insert("$readPreference", doc! {"mode": "secondary"});
    cmd
}

#[tokio::test(start_paused = true)]
async fn a_secondary_applies_writes_after_its_lag() {
    let set = set_with_lags(&[300, 0]);
    let primary = set.primary();
    run_ok(
        primary,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1, "v": 1}]},
    )
    .await;
    let lagging = set.member(1).expect("member 1");
    let read = secondary_read(doc! {"find": "c", "filter": {}});
    assert!(
        first_batch(&run_ok(lagging, "db", read.clone()).await).is_empty(),
        "not yet"
    );
    tokio::time::sleep(Duration::from_millis(299)).await;
    assert!(
        first_batch(&run_ok(lagging, "db", read.clone()).await).is_empty(),
        "still 1 ms to go"
    );
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(
        first_batch(&run_ok(lagging, "db", read).await),
        vec![doc! {"_id": 1, "v": 1}]
    );
}

#[tokio::test(start_paused = true)]
async fn a_transaction_appears_on_a_secondary_all_at_once() {
    let set = set_with_lags(&[100, 0]);
    let primary = set.primary();
    let mut s = Session::new(1);
    s.start();
    for i in 0..5 {
        s.ok_in_txn(
            primary,
            "db",
            doc! {"insert": "c", "documents": [{"_id": i}]},
        )
        .await;
    }
    run_ok(primary, "admin", s.commit()).await;
    let lagging = set.member(1).expect("member 1");
    let count = secondary_read(doc! {"count": "c"});
    for _ in 0..20 {
        let n = run_ok(lagging, "db", count.clone())
            .await
            .get_i32("n")
            .expect("n");
        assert!(n == 0 || n == 5, "a partial transaction was visible: {n}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        run_ok(lagging, "db", count).await.get_i32("n").ok(),
        Some(5)
    );
}

#[tokio::test(start_paused = true)]
async fn majority_write_concern_waits_for_a_secondary() {
    let set = set_with_lags(&[200, 200]);
    let started = tokio::time::Instant::now();
    run_ok(
        set.primary(),
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}], "writeConcern": {"w": "majority"}},
    )
    .await;
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    let started = tokio::time::Instant::now();
    run_ok(
        set.primary(),
        "db",
        doc! {"insert": "c", "documents": [{"_id": 2}], "writeConcern": {"w": 1}},
    )
    .await;
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn with_secondaries_paused_majority_times_out_and_the_write_stays() {
    let set = set_with_lags(&[0, 0]);
    set.pause(1);
    set.pause(2);
    let reply = run_ok(set.primary(), "db", doc! {"insert": "c", "documents": [{"_id": 1}], "writeConcern": {"w": "majority", "wtimeout": 500}}).await;
    let wce = reply
        .get_document("writeConcernError")
        .expect("a write concern error");
    assert_eq!(wce.get_i32("code").ok(), Some(64));
    assert_eq!(
        wce.get_document("errInfo")
            .and_then(|e| e.get_bool("wtimeout"))
            .ok(),
        Some(true)
    );
    assert_eq!(reply.get_i32("n").ok(), Some(1));
    assert_eq!(
        find_all(set.primary(), "db", "c", doc! {}).await,
        vec![doc! {"_id": 1}],
        "applied on the primary"
    );
    set.resume(1);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let read = secondary_read(doc! {"find": "c", "filter": {}});
    assert_eq!(
        first_batch(&run_ok(set.member(1).expect("m1"), "db", read).await).len(),
        1,
        "caught up after resume"
    );
}

#[tokio::test(start_paused = true)]
async fn after_cluster_time_waits_for_the_secondary_or_expires() {
    let set = set_with_lags(&[300, 0]);
    let reply = run_ok(
        set.primary(),
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}], "writeConcern": {"w": 1}},
    )
    .await;
    let op_time = reply.get_timestamp("operationTime").expect("operationTime");
    let lagging = set.member(1).expect("member 1");
    let started = tokio::time::Instant::now();
    let read = secondary_read(
        doc! {"find": "c", "filter": {}, "readConcern": {"afterClusterTime": op_time}},
    );
    assert_eq!(first_batch(&run_ok(lagging, "db", read).await).len(), 1);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(300),
        "the read waited for replication"
    );

    set.pause(1);
    let reply = run_ok(
        set.primary(),
        "db",
        doc! {"insert": "c", "documents": [{"_id": 2}], "writeConcern": {"w": 1}},
    )
    .await;
    let op_time = reply.get_timestamp("operationTime").expect("operationTime");
    let read = secondary_read(
        doc! {"find": "c", "filter": {}, "readConcern": {"afterClusterTime": op_time}, "maxTimeMS": 1000},
    );
    assert_eq!(
        code_name(&run(lagging, "db", read).await),
        Some("MaxTimeMSExpired")
    );
}

#[tokio::test(start_paused = true)]
async fn secondaries_refuse_writes_and_reads_without_secondary_ok() {
    let set = set_with_lags(&[0, 0]);
    let secondary = set.member(1).expect("member 1");
    let reply = run(
        secondary,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    assert_eq!(code_name(&reply), Some("NotWritablePrimary"));
    let mut s = Session::new(1);
    s.start();
    assert_eq!(
        code_name(&run(secondary, "db", s.in_txn(doc! {"find": "c"})).await),
        Some("NotWritablePrimary")
    );
    assert_eq!(
        code_name(&run(secondary, "db", doc! {"find": "c"}).await),
        Some("NotPrimaryNoSecondaryOk")
    );
    let hello = run_ok(secondary, "admin", doc! {"hello": 1}).await;
    assert_eq!(hello.get_bool("secondary").ok(), Some(true));
    assert_eq!(hello.get_bool("isWritablePrimary").ok(), Some(false));
    assert_eq!(hello.get_str("primary").ok(), Some("localhost:27017"));
    assert_eq!(hello.get_array("hosts").map(|h| h.len()).ok(), Some(3));
}

#[tokio::test(start_paused = true)]
async fn majority_reads_see_only_what_a_majority_applied() {
    let set = set_with_lags(&[1000, 1000]);
    run_ok(
        set.primary(),
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}], "writeConcern": {"w": 1}},
    )
    .await;
    let local = first_batch(&run_ok(set.primary(), "db", doc! {"find": "c"}).await);
    let majority = first_batch(
        &run_ok(
            set.primary(),
            "db",
            doc! {"find": "c", "readConcern": {"level": "majority"}},
        )
        .await,
    );
    assert_eq!((local.len(), majority.len()), (1, 0));
    tokio::time::sleep(Duration::from_millis(1001)).await;
    let majority = first_batch(
        &run_ok(
            set.primary(),
            "db",
            doc! {"find": "c", "readConcern": {"level": "majority"}},
        )
        .await,
    );
    assert_eq!(majority.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn catalog_changes_replicate() {
    let set = set_with_lags(&[0]);
    run_ok(
        set.primary(),
        "db",
        doc! {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1", "unique": true}]},
    )
    .await;
    run_ok(
        set.primary(),
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1, "a": 5}]},
    )
    .await;
    let secondary = set.member(1).expect("member 1");
    let indexes =
        first_batch(&run_ok(secondary, "db", secondary_read(doc! {"listIndexes": "c"})).await);
    assert_eq!(indexes.len(), 2);
    let found = first_batch(
        &run_ok(
            secondary,
            "db",
            secondary_read(doc! {"find": "c", "filter": {"a": 5}}),
        )
        .await,
    );
    assert_eq!(found.len(), 1);
    run_ok(set.primary(), "db", doc! {"drop": "c"}).await;
    let listed =
        first_batch(&run_ok(secondary, "db", secondary_read(doc! {"listCollections": 1})).await);
    assert!(listed.is_empty());
    let status = run_ok(secondary, "admin", doc! {"replSetGetStatus": 1}).await;
    assert_eq!(status.get_i32("myState").ok(), Some(2));
    assert_eq!(status.get_array("members").map(|m| m.len()).ok(), Some(2));
}

#[tokio::test(start_paused = true)]
async fn snapshot_reads_at_a_cluster_time_within_the_history_window() {
    let set = ReplicaSet::builder()
        .members(1)
        .engine_options(EngineOptions {
            snapshot_history: Duration::from_secs(1),
            ..EngineOptions::default()
        })
        .build();
    set.ensure_started();
    let primary = set.primary();
    let first = run_ok(
        primary,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1, "v": 1}]},
    )
    .await;
    let at = first.get_timestamp("operationTime").expect("time");
    run_ok(
        primary,
        "db",
        doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"v": 2}}}]},
    )
    .await;
    let old = run_ok(
        primary,
        "db",
        doc! {"find": "c", "readConcern": {"level": "snapshot", "atClusterTime": at}},
    )
    .await;
    assert_eq!(first_batch(&old), vec![doc! {"_id": 1, "v": 1}]);
    assert_eq!(
        old.get_document("cursor")
            .and_then(|c| c.get_timestamp("atClusterTime"))
            .ok(),
        Some(at)
    );
    // Versions older than the window go once the document is written again.
    std::thread::sleep(Duration::from_millis(2100));
    run_ok(
        primary,
        "db",
        doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"v": 3}}}]},
    )
    .await;
    let gone = run(
        primary,
        "db",
        doc! {"find": "c", "readConcern": {"level": "snapshot", "atClusterTime": at}},
    )
    .await;
    assert_eq!(code_name(&gone), Some("SnapshotTooOld"));
}

#[tokio::test(start_paused = true)]
async fn a_hot_document_keeps_a_bounded_history_and_older_snapshot_reads_fail() {
    let set = ReplicaSet::builder().members(1).build();
    set.ensure_started();
    let primary = set.primary();
    let first = run_ok(
        primary,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1, "v": 0}]},
    )
    .await;
    let at_first = first.get_timestamp("operationTime").expect("time");
    let mut recent = at_first;
    for i in 1..=200 {
        let reply = run_ok(
            primary,
            "db",
            doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"v": i}}}]},
        )
        .await;
        if i == 190 {
            recent = reply.get_timestamp("operationTime").expect("time");
        }
    }
    let old = run(
        primary,
        "db",
        doc! {"find": "c", "readConcern": {"level": "snapshot", "atClusterTime": at_first}},
    )
    .await;
    assert_eq!(
        code_name(&old),
        Some("SnapshotTooOld"),
        "an error, never a wrong answer"
    );
    let newer = run_ok(
        primary,
        "db",
        doc! {"find": "c", "readConcern": {"level": "snapshot", "atClusterTime": recent}},
    )
    .await;
    assert_eq!(first_batch(&newer), vec![doc! {"_id": 1, "v": 190}]);
}
