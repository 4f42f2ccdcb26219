//! The session core: what the session adds to each command, the transaction state machine,
//! the labels the client adds, retryable writes, and the server-session pool.

mod common;

use bson::{Bson, Document, doc};
use causeway::options::{ReadPreference, TransactionOptions, WriteConcern};
use causeway::{Client, ErrorKind, Label, TransactionState};
use common::*;

#[tokio::test]
async fn a_causally_consistent_session_sends_after_cluster_time_from_its_second_operation() {
    let (client, sent) = recorded_client();
    let coll = client.database("db").collection::<Document>("c");
    let mut session = client.start_session().await.expect("session");
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("insert");
    coll.find_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("find");
    let insert = &sent.named("insert")[0];
    assert!(
        insert.get("readConcern").is_none(),
        "the first operation has no operation time to wait for"
    );
    let find = &sent.named("find")[0];
    let after = find
        .get_document("readConcern")
        .and_then(|rc| rc.get_timestamp("afterClusterTime"))
        .expect("afterClusterTime");
    assert_eq!(Some(after), session.operation_time());
    assert!(
        find.get_document("$clusterTime").is_ok(),
        "the cluster time is gossiped"
    );
}

#[tokio::test]
async fn without_causal_consistency_no_after_cluster_time_is_sent() {
    let (client, sent) = recorded_client();
    let coll = client.database("db").collection::<Document>("c");
    let mut session = client
        .start_session()
        .causal_consistency(false)
        .await
        .expect("session");
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("insert");
    coll.find_one(doc! {})
        .session(&mut session)
        .await
        .expect("find");
    assert!(sent.named("find")[0].get("readConcern").is_none());
}

#[tokio::test]
async fn advance_operation_time_continues_another_sessions_chain() {
    let (client, sent) = recorded_client();
    let coll = client.database("db").collection::<Document>("c");
    let mut first = client.start_session().await.expect("session");
    coll.insert_one(doc! {"_id": 1})
        .session(&mut first)
        .await
        .expect("insert");
    let mut second = client.start_session().await.expect("session");
    second.advance_cluster_time(&first.cluster_time().expect("cluster time"));
    second.advance_operation_time(first.operation_time().expect("operation time"));
    assert!(
        coll.find_one(doc! {"_id": 1})
            .session(&mut second)
            .await
            .expect("find")
            .is_some()
    );
    let find = &sent.named("find")[0];
    assert_eq!(
        find.get_document("readConcern")
            .and_then(|rc| rc.get_timestamp("afterClusterTime"))
            .ok(),
        first.operation_time()
    );
    // Times never go backwards.
    let later = second.operation_time().expect("time");
    second.advance_operation_time(bson::Timestamp {
        time: 1,
        increment: 1,
    });
    assert_eq!(second.operation_time(), Some(later));
}

#[tokio::test]
async fn a_transaction_sends_read_concern_first_and_write_concern_only_on_commit() {
    let (client, sent) = recorded_client();
    let coll = client.database("db").collection::<Document>("c");
    let mut session = client
        .start_session()
        .default_transaction_options(TransactionOptions {
            read_concern: Some(causeway::options::ReadConcern::snapshot()),
            write_concern: Some(WriteConcern::majority()),
            ..Default::default()
        })
        .await
        .expect("session");
    let txn = session.start_transaction().await.expect("start");
    txn.collection(&coll)
        .insert_one(doc! {"_id": 1})
        .await
        .expect("insert");
    txn.collection(&coll).find_one(doc! {}).await.expect("find");
    txn.commit().await.expect("commit");
    let commands = sent.all();
    let (insert, find, commit) = (&commands[0], &commands[1], &commands[2]);
    assert_eq!(insert.get_bool("startTransaction").ok(), Some(true));
    assert_eq!(
        insert
            .get_document("readConcern")
            .and_then(|rc| rc.get_str("level"))
            .ok(),
        Some("snapshot")
    );
    assert!(insert.get("writeConcern").is_none());
    for command in [insert, find, commit] {
        assert_eq!(command.get_bool("autocommit").ok(), Some(false));
        assert_eq!(command.get_i64("txnNumber").ok(), Some(1));
    }
    assert!(find.get("readConcern").is_none() && find.get("startTransaction").is_none());
    assert_eq!(
        commit.get_document("writeConcern").ok(),
        Some(&doc! {"w": "majority"})
    );
}

#[tokio::test]
async fn an_empty_transaction_sends_nothing() {
    let (client, sent) = recorded_client();
    let mut session = client.start_session().await.expect("session");
    session
        .start_transaction()
        .await
        .expect("start")
        .commit()
        .await
        .expect("commit");
    session
        .start_transaction()
        .await
        .expect("start")
        .abort()
        .await
        .expect("abort");
    drop(session.start_transaction().await.expect("start"));
    assert!(sent.all().is_empty(), "{:?}", sent.names());
}

#[tokio::test]
async fn a_non_primary_read_preference_or_w0_in_a_transaction_is_refused_before_sending() {
    let (client, sent) = recorded_client();
    let coll = client.database("db").collection::<Document>("c");
    let mut session = client.start_session().await.expect("session");
    session
        .begin_transaction(TransactionOptions {
            read_preference: Some(ReadPreference::secondary()),
            ..Default::default()
        })
        .expect("start");
    let error = coll
        .find_one(doc! {})
        .session(&mut session)
        .await
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("read preference in a transaction must be primary")
    );
    session.abort_transaction().await.expect("abort");
    let error = session
        .begin_transaction(TransactionOptions {
            write_concern: Some(WriteConcern::unacknowledged()),
            ..Default::default()
        })
        .expect_err("refused");
    assert!(matches!(error.kind(), ErrorKind::TransactionState { .. }));
    assert!(sent.all().is_empty());
}

#[tokio::test]
async fn every_illegal_state_move_gives_its_error() {
    let client = Client::embedded();
    let coll = client.database("db").collection::<Document>("c");
    let mut session = client.start_session().await.expect("session");
    let message = |r: causeway::Result<()>| r.expect_err("illegal").to_string();

    assert_eq!(
        message(session.commit_transaction().await),
        "No transaction started"
    );
    assert_eq!(
        message(session.abort_transaction().await),
        "No transaction started"
    );

    session
        .begin_transaction(TransactionOptions::default())
        .expect("start");
    assert_eq!(
        message(session.begin_transaction(TransactionOptions::default())),
        "Transaction already in progress"
    );
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("insert");
    assert_eq!(
        message(session.begin_transaction(TransactionOptions::default())),
        "Transaction already in progress"
    );
    session.commit_transaction().await.expect("commit");
    session
        .commit_transaction()
        .await
        .expect("committing again retries the commit");
    assert_eq!(
        message(session.abort_transaction().await),
        "Cannot call abortTransaction after calling commitTransaction"
    );

    session
        .begin_transaction(TransactionOptions::default())
        .expect("start");
    coll.insert_one(doc! {"_id": 2})
        .session(&mut session)
        .await
        .expect("insert");
    session.abort_transaction().await.expect("abort");
    assert_eq!(
        message(session.abort_transaction().await),
        "Cannot call abortTransaction twice"
    );
    assert_eq!(
        message(session.commit_transaction().await),
        "Cannot call commitTransaction after calling abortTransaction"
    );
    assert_eq!(session.transaction_state(), TransactionState::Aborted);

    // An operation after the transaction ended runs outside it and resets the state.
    coll.insert_one(doc! {"_id": 3})
        .session(&mut session)
        .await
        .expect("insert");
    assert_eq!(session.transaction_state(), TransactionState::None);

    let mut snapshot = client
        .start_session()
        .snapshot(true)
        .await
        .expect("snapshot session");
    assert!(
        snapshot
            .begin_transaction(TransactionOptions::default())
            .is_err()
    );
    assert!(
        client
            .start_session()
            .snapshot(true)
            .causal_consistency(true)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_dropped_transaction_handle_aborts_and_the_session_starts_the_next() {
    let client = Client::embedded();
    let coll = client.database("db").collection::<Document>("c");
    let mut session = client.start_session().await.expect("session");
    {
        let txn = session.start_transaction().await.expect("start");
        txn.collection(&coll)
            .insert_one(doc! {"_id": 1})
            .await
            .expect("insert");
    }
    assert!(!session.in_transaction());
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    // The document is not held: a plain write does not wait for the dropped transaction.
    coll.insert_one(doc! {"_id": 1, "plain": true})
        .await
        .expect("not blocked");
    let txn = session
        .start_transaction()
        .await
        .expect("the next transaction");
    txn.collection(&coll)
        .insert_one(doc! {"_id": 2})
        .await
        .expect("insert");
    txn.commit().await.expect("commit");
    assert_eq!(
        contents(&coll).await,
        vec![doc! {"_id": 1, "plain": true}, doc! {"_id": 2}]
    );
}

/// The error of an insert in a transaction that meets the fail point `data` (once).
async fn transaction_insert_error(client: &Client, data: Document) -> causeway::Error {
    let coll = client.database("db").collection::<Document>("c");
    fail_point(client, times(1), data).await;
    let mut session = client.start_session().await.expect("session");
    let txn = session.start_transaction().await.expect("start");
    txn.collection(&coll)
        .insert_one(doc! {"_id": 1})
        .await
        .expect_err("the fail point fires")
}

#[tokio::test]
async fn a_network_error_inside_a_transaction_is_transient() {
    let client = Client::embedded();
    let error = transaction_insert_error(
        &client,
        doc! {"failCommands": ["insert"], "closeConnection": true},
    )
    .await;
    assert!(error.is_network_error());
    assert!(error.contains_label(&Label::TransientTransactionError));
}

#[tokio::test]
async fn a_network_error_on_commit_is_an_unknown_commit_result() {
    let client = Client::embedded();
    let coll = client.database("db").collection::<Document>("c");
    fail_point(
        &client,
        times(2),
        doc! {"failCommands": ["commitTransaction"], "closeConnection": true},
    )
    .await;
    let mut session = client.start_session().await.expect("session");
    let txn = session.start_transaction().await.expect("start");
    txn.collection(&coll)
        .insert_one(doc! {"_id": 1})
        .await
        .expect("insert");
    let error = txn.commit().await.expect_err("closed twice");
    assert!(error.is_commit_outcome_unknown());
    assert!(matches!(error.kind(), ErrorKind::CommitOutcomeUnknown));
    session
        .commit_transaction()
        .await
        .expect("committing again is safe");
    assert_eq!(contents(&coll).await, vec![doc! {"_id": 1}]);
}

#[tokio::test]
async fn a_single_write_carries_a_txn_number_and_is_retried_once() {
    let (client, sent) = recorded_client();
    let coll = client.database("db").collection::<Document>("c");
    fail_point(
        &client,
        times(1),
        doc! {"failCommands": ["insert"], "errorCode": 10107},
    )
    .await;
    coll.insert_one(doc! {"_id": 1})
        .await
        .expect("retried once");
    let inserts = sent.named("insert");
    assert_eq!(inserts.len(), 2);
    assert_eq!(
        inserts[0].get_i64("txnNumber").ok(),
        inserts[1].get_i64("txnNumber").ok()
    );
    assert!(inserts[0].get_i64("txnNumber").is_ok());
    assert_eq!(inserts[0].get("lsid"), inserts[1].get("lsid"));
    assert_eq!(contents(&coll).await, vec![doc! {"_id": 1}]);

    fail_point(
        &client,
        times(2),
        doc! {"failCommands": ["insert"], "errorCode": 10107},
    )
    .await;
    let error = coll
        .insert_one(doc! {"_id": 2})
        .await
        .expect_err("retried only once");
    assert!(error.contains_label(&Label::RetryableWriteError));
}

#[tokio::test]
async fn multi_document_writes_are_not_retryable() {
    let (client, sent) = recorded_client();
    let coll = client.database("db").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 1}).await.expect("insert");
    coll.update_many(doc! {}, doc! {"$set": {"a": 1}})
        .await
        .expect("update");
    assert!(sent.named("update")[0].get("txnNumber").is_none());
}

#[tokio::test]
async fn sessions_are_pooled_last_in_first_out_and_ended_on_shutdown() {
    let (client, sent) = recorded_client();
    let coll = client.database("db").collection::<Document>("c");
    let mut a = client.start_session().await.expect("a");
    let b = client.start_session().await.expect("b");
    let (a_id, b_id) = (a.id(), b.id());
    coll.insert_one(doc! {"_id": 1})
        .session(&mut a)
        .await
        .expect("insert");
    drop(a);
    drop(b);
    let reused = client.start_session().await.expect("reused");
    assert_eq!(
        reused.id(),
        b_id,
        "the most recently returned session is reused first"
    );
    drop(reused);
    client.shutdown().await;
    let ended = sent.named("endSessions");
    assert_eq!(ended.len(), 1);
    let ids = ended[0].get_array("endSessions").expect("ids");
    assert!(ids.contains(&Bson::Document(a_id)) && ids.contains(&Bson::Document(b_id)));
}

#[tokio::test]
async fn an_ended_session_refuses_operations() {
    let client = Client::embedded();
    let coll = client.database("db").collection::<Document>("c");
    let mut session = client.start_session().await.expect("session");
    session.end().await;
    assert!(session.has_ended());
    let error = coll
        .insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect_err("ended");
    assert!(matches!(error.kind(), ErrorKind::SessionEnded));
}

#[tokio::test]
async fn times_reach_the_session_and_run_command_replies_without_monitoring() {
    // No event handler: the embedded transport gives the engine the session's arguments apart
    // from the command, and the times come back apart from the reply.
    let client = Client::embedded();
    let db = client.database("db");
    let coll = db.collection::<Document>("c");
    let mut session = client.start_session().await.expect("session");
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("insert");
    let operation_time = session.operation_time().expect("an operation time");
    let cluster_time = session.cluster_time().expect("a cluster time");
    assert!(cluster_time.get_timestamp("clusterTime").expect("its time") >= operation_time);
    assert!(
        cluster_time.get_document("signature").is_ok(),
        "{cluster_time}"
    );
    let client_time = client.cluster_time().expect("the client's cluster time");
    assert_eq!(
        client_time.get_timestamp("clusterTime").ok(),
        cluster_time.get_timestamp("clusterTime").ok()
    );
    let pong = db.run_command(doc! {"ping": 1}).await.expect("pong");
    assert!(pong.get_timestamp("operationTime").is_ok(), "{pong}");
    assert!(pong.get_document("$clusterTime").is_ok(), "{pong}");
}

#[tokio::test(start_paused = true)]
async fn a_reply_later_than_the_socket_timeout_is_a_network_error_inside_a_transaction() {
    let options = causeway::options::ClientOptions {
        socket_timeout: Some(std::time::Duration::from_millis(50)),
        ..Default::default()
    };
    let client = Client::on_replica_set(causeway::ReplicaSet::default(), options);
    let error = transaction_insert_error(
        &client,
        doc! {"failCommands": ["insert"], "blockConnection": true, "blockTimeMS": 500},
    )
    .await;
    assert!(error.is_network_error(), "{error}");
    assert!(error.contains_label(&Label::TransientTransactionError));
}
