//! Causal consistency on the embedded replica set: lagging secondaries, read preferences,
//! snapshot sessions, write concern.

mod common;

use std::time::Duration;

use bson::{Document, doc};
use causeway::options::{ClientOptions, ReadPreference, SelectionCriteria, WriteConcern};
use causeway::{Client, CollectionOptions, ErrorKind, ReplicaSet};
use tokio::time::Instant;

/// A set whose member 1 is tagged `slow` and member 2 `fast`, with these lags.
fn tagged_set(slow_lag_ms: u64, fast_lag_ms: u64) -> (Client, ReplicaSet) {
    let set = ReplicaSet::builder()
        .members(3)
        .lag(1, Duration::from_millis(slow_lag_ms))
        .lag(2, Duration::from_millis(fast_lag_ms))
        .tags(1, doc! {"speed": "slow"})
        .tags(2, doc! {"speed": "fast"})
        .build();
    let client = Client::on_replica_set(set.clone(), ClientOptions::default());
    (client, set)
}

fn on_member(speed: &str) -> ReadPreference {
    ReadPreference::Secondary(SelectionCriteria {
        tag_sets: vec![doc! {"speed": speed}],
        max_staleness: None,
    })
}

fn reading_from(
    coll: &causeway::Collection<Document>,
    speed: &str,
) -> causeway::Collection<Document> {
    coll.with_options(CollectionOptions {
        read_preference: Some(on_member(speed)),
        ..Default::default()
    })
}

/// In `session`: sets `x: 10` on `_id: 1` through `coll` (the primary), then reads `_id: 1`
/// through `slow`; the document read and how long the read took.
async fn write_then_read(
    coll: &causeway::Collection<Document>,
    slow: &causeway::Collection<Document>,
    session: &mut causeway::ClientSession,
) -> (Option<Document>, Duration) {
    coll.update_one(doc! {"_id": 1}, doc! {"$set": {"x": 10}})
        .upsert(true)
        .session(&mut *session)
        .await
        .expect("write");
    let started = Instant::now();
    let read = slow
        .find_one(doc! {"_id": 1})
        .session(&mut *session)
        .await
        .expect("read");
    (read, started.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_causally_consistent_read_on_a_lagging_secondary_waits_and_sees_the_write() {
    let (client, _set) = tagged_set(300, 0);
    let coll = client.database("db").collection::<Document>("c");
    let slow = reading_from(&coll, "slow");
    let mut session = client.start_session().await.expect("session");
    let (read, took) = write_then_read(&coll, &slow, &mut session).await;
    assert_eq!(read, Some(doc! {"_id": 1, "x": 10}));
    assert_eq!(
        took,
        Duration::from_millis(300),
        "the read waited for replication"
    );
}

#[tokio::test(start_paused = true)]
async fn without_causal_consistency_the_same_read_is_stale() {
    let (client, _set) = tagged_set(300, 0);
    let coll = client.database("db").collection::<Document>("c");
    let slow = reading_from(&coll, "slow");
    let mut session = client
        .start_session()
        .causal_consistency(false)
        .await
        .expect("session");
    let (read, took) = write_then_read(&coll, &slow, &mut session).await;
    assert_eq!(
        read, None,
        "the lagging secondary has not applied the write"
    );
    assert_eq!(took, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn reads_are_monotonic_across_secondaries_with_different_lags() {
    let (client, _set) = tagged_set(500, 100);
    let coll = client.database("db").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 1, "v": 1})
        .write_concern(WriteConcern::nodes(1))
        .await
        .expect("write");
    let mut session = client
        .start_session()
        .causal_consistency(false)
        .await
        .expect("session");
    let mut causal = client.start_session().await.expect("session");
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The fast secondary has the write; a causal session that reads it there ...
    let fast_read = reading_from(&coll, "fast")
        .find_one(doc! {"_id": 1})
        .session(&mut causal)
        .await
        .expect("read");
    assert_eq!(fast_read, Some(doc! {"_id": 1, "v": 1}));
    // ... never reads an older state afterwards, even on the slow secondary (it waits).
    let started = Instant::now();
    let slow_read = reading_from(&coll, "slow")
        .find_one(doc! {"_id": 1})
        .session(&mut causal)
        .await
        .expect("read");
    assert_eq!(slow_read, Some(doc! {"_id": 1, "v": 1}));
    assert_eq!(started.elapsed(), Duration::from_millis(350));
    // Whereas without causal consistency the slow secondary goes back in time.
    coll.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 2}})
        .write_concern(WriteConcern::nodes(1))
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let fast = reading_from(&coll, "fast")
        .find_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("read");
    let slow = reading_from(&coll, "slow")
        .find_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("read");
    assert_eq!(
        (
            fast.and_then(|d| d.get_i32("v").ok()),
            slow.and_then(|d| d.get_i32("v").ok())
        ),
        (Some(2), Some(1))
    );
}

#[tokio::test(start_paused = true)]
async fn a_causal_chain_continues_across_sessions_via_advance_and_via_a_token() {
    let (client, _set) = tagged_set(300, 0);
    let coll = client.database("db").collection::<Document>("c");
    let slow = reading_from(&coll, "slow");
    let mut writer = client.start_session().await.expect("session");
    coll.insert_one(doc! {"_id": 1})
        .session(&mut writer)
        .await
        .expect("write");

    let mut by_advance = client.start_session().await.expect("session");
    by_advance.advance_cluster_time(&writer.cluster_time().expect("cluster time"));
    by_advance.advance_operation_time(writer.operation_time().expect("operation time"));
    assert!(
        slow.find_one(doc! {"_id": 1})
            .session(&mut by_advance)
            .await
            .expect("read")
            .is_some()
    );

    coll.insert_one(doc! {"_id": 2})
        .session(&mut writer)
        .await
        .expect("write");
    let token = writer.causal_token().expect("token");
    let other_process = client.with_options(ClientOptions::default());
    let mut by_token = other_process.start_session().await.expect("session");
    by_token.continue_from(&token).expect("a valid token");
    let coll2 = other_process.database("db").collection::<Document>("c");
    let started = Instant::now();
    assert!(
        reading_from(&coll2, "slow")
            .find_one(doc! {"_id": 2})
            .session(&mut by_token)
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        started.elapsed() > Duration::ZERO,
        "the read waited for the token's position"
    );

    let error = by_token
        .continue_from("not-a-token")
        .expect_err("malformed");
    assert!(matches!(error.kind(), ErrorKind::InvalidArgument { .. }));
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_session_keeps_seeing_one_point_in_time() {
    let client = Client::embedded();
    let coll = client.database("db").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 1, "v": 1})
        .await
        .expect("write");
    let mut snapshot = client
        .start_session()
        .snapshot(true)
        .await
        .expect("session");
    assert_eq!(
        coll.find_one(doc! {"_id": 1})
            .session(&mut snapshot)
            .await
            .expect("read"),
        Some(doc! {"_id": 1, "v": 1})
    );
    let at = snapshot.snapshot_time().expect("fixed by the first read");
    coll.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 2}})
        .await
        .expect("write");
    coll.insert_one(doc! {"_id": 2}).await.expect("write");
    assert_eq!(
        coll.find_one(doc! {"_id": 1})
            .session(&mut snapshot)
            .await
            .expect("read"),
        Some(doc! {"_id": 1, "v": 1})
    );
    assert_eq!(
        coll.count_documents(doc! {})
            .session(&mut snapshot)
            .await
            .expect("count"),
        1
    );
    assert_eq!(snapshot.snapshot_time(), Some(at));

    let mut pinned = client
        .start_session()
        .snapshot_time(at)
        .await
        .expect("session");
    assert_eq!(
        coll.find_one(doc! {"_id": 1})
            .session(&mut pinned)
            .await
            .expect("read"),
        Some(doc! {"_id": 1, "v": 1})
    );
    let error = pinned
        .begin_transaction(Default::default())
        .expect_err("no transactions on snapshot sessions");
    assert!(error.to_string().contains("snapshot"));
}

#[tokio::test(start_paused = true)]
async fn majority_write_concern_waits_and_times_out_with_the_write_applied() {
    let (client, set) = tagged_set(200, 200);
    let coll = client.database("db").collection::<Document>("c");
    let started = Instant::now();
    coll.insert_one(doc! {"_id": 1})
        .write_concern(WriteConcern::majority())
        .await
        .expect("write");
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(200),
        "waited for a secondary"
    );

    set.pause(1);
    set.pause(2);
    let started = Instant::now();
    let error = coll
        .insert_one(doc! {"_id": 2})
        .write_concern(WriteConcern::majority().with_timeout(Duration::from_millis(500)))
        .await
        .expect_err("times out");
    assert_eq!(started.elapsed(), Duration::from_millis(500));
    let wce = error.write_concern_error().expect("a write concern error");
    assert_eq!(wce.code, 64);
    assert!(wce.is_timeout());
    let primary_view = coll.find(doc! {}).await.expect("find");
    use futures_util::TryStreamExt;
    let all: Vec<Document> = primary_view.try_collect().await.expect("docs");
    assert_eq!(all.len(), 2, "the write stays applied on the primary");
}

#[tokio::test(start_paused = true)]
async fn after_cluster_time_beyond_a_paused_secondary_expires() {
    let (client, set) = tagged_set(0, 0);
    let coll = client.database("db").collection::<Document>("c");
    set.pause(1);
    let mut session = client.start_session().await.expect("session");
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("write");
    let error = reading_from(&coll, "slow")
        .find(doc! {})
        .max_time(Duration::from_secs(1))
        .session(&mut session)
        .await
        .expect_err("the paused secondary never gets there");
    assert_eq!(error.code_name(), Some("MaxTimeMSExpired"));
}

#[tokio::test(start_paused = true)]
async fn writes_sent_to_a_secondary_are_refused() {
    let (client, _set) = tagged_set(0, 0);
    let error = client
        .database("db")
        .run_command(doc! {"insert": "c", "documents": [{"_id": 1}]})
        .read_preference(ReadPreference::secondary())
        .await
        .expect_err("not primary");
    assert_eq!(error.code_name(), Some("NotWritablePrimary"));
}

#[tokio::test(start_paused = true)]
async fn a_secondary_read_preference_without_secondaries_fails_server_selection() {
    let client = Client::on_replica_set(
        ReplicaSet::builder().members(1).build(),
        ClientOptions::default(),
    );
    let coll = client.database("db").collection::<Document>("c");
    let error = coll
        .find_one(doc! {})
        .read_preference(ReadPreference::secondary())
        .await
        .expect_err("no secondary");
    assert!(matches!(error.kind(), ErrorKind::ServerSelection { .. }));
    assert!(
        coll.find_one(doc! {})
            .read_preference(ReadPreference::secondary_preferred())
            .await
            .is_ok()
    );
}
