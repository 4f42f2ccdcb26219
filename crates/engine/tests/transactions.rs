//! The transaction rules, at the command level.

mod common;

use bson::doc;
use causeway_engine::Engine;
use common::*;

#[tokio::test]
async fn a_transaction_does_not_see_a_later_commit() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1, "v": 1}]},
    )
    .await;
    let mut s = Session::new(1);
    s.start();
    let first = s
        .ok_in_txn(&engine, "db", doc! {"find": "c", "filter": {"_id": 1}})
        .await;
    assert_eq!(first_batch(&first)[0].get_i32("v").ok(), Some(1));
    run_ok(
        &engine,
        "db",
        doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"v": 2}}}]},
    )
    .await;
    run_ok(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 2}]},
    )
    .await;
    let again = s
        .ok_in_txn(&engine, "db", doc! {"find": "c", "filter": {}})
        .await;
    assert_eq!(first_batch(&again), vec![doc! {"_id": 1, "v": 1}]);
    run_ok(&engine, "admin", s.commit()).await;
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await,
        vec![doc! {"_id": 1, "v": 2}, doc! {"_id": 2}]
    );
}

#[tokio::test]
async fn own_writes_are_visible_inside_and_invisible_outside_until_commit() {
    let engine = Engine::new();
    let mut s = Session::new(2);
    s.start();
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1, "qty": 5}]},
    )
    .await;
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"qty": 1}}}]},
    )
    .await;
    let inside = s
        .ok_in_txn(&engine, "db", doc! {"find": "c", "filter": {}})
        .await;
    assert_eq!(first_batch(&inside), vec![doc! {"_id": 1, "qty": 6}]);
    assert!(
        find_all(&engine, "db", "c", doc! {}).await.is_empty(),
        "uncommitted writes are invisible"
    );
    run_ok(&engine, "admin", s.commit()).await;
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await,
        vec![doc! {"_id": 1, "qty": 6}]
    );
}

#[tokio::test]
async fn two_transactions_updating_one_document_get_exactly_one_write_conflict() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1, "n": 0}]},
    )
    .await;
    let (mut a, mut b) = (Session::new(3), Session::new(4));
    a.start();
    b.start();
    let update = doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}}]};
    a.ok_in_txn(&engine, "db", update.clone()).await;
    let conflict = run(&engine, "db", b.in_txn(update.clone())).await;
    assert_eq!(code_name(&conflict), Some("WriteConflict"), "{conflict}");
    assert_eq!(labels(&conflict), vec!["TransientTransactionError"]);
    run_ok(&engine, "admin", a.commit()).await;
    let after = run(&engine, "admin", b.commit()).await;
    assert_eq!(
        code_name(&after),
        Some("NoSuchTransaction"),
        "the conflict aborted b: {after}"
    );
    assert_eq!(labels(&after), vec!["TransientTransactionError"]);
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await,
        vec![doc! {"_id": 1, "n": 1}]
    );
}

#[tokio::test]
async fn a_write_to_a_document_committed_after_the_snapshot_conflicts() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1, "n": 0}]},
    )
    .await;
    let mut s = Session::new(5);
    s.start();
    s.ok_in_txn(&engine, "db", doc! {"find": "c", "filter": {}})
        .await;
    run_ok(
        &engine,
        "db",
        doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"n": 5}}}]},
    )
    .await;
    let conflict = run(
        &engine,
        "db",
        s.in_txn(doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}}]}),
    )
    .await;
    assert_eq!(code_name(&conflict), Some("WriteConflict"));
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await,
        vec![doc! {"_id": 1, "n": 5}]
    );
}

#[tokio::test]
async fn abort_leaves_nothing_behind_including_created_collections() {
    let engine = Engine::new();
    let mut s = Session::new(6);
    s.start();
    s.ok_in_txn(&engine, "db", doc! {"create": "fresh"}).await;
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"insert": "fresh", "documents": [{"_id": 1}]},
    )
    .await;
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"insert": "implicit", "documents": [{"_id": 1}]},
    )
    .await;
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"createIndexes": "fresh", "indexes": [{"key": {"a": 1}, "name": "a_1"}]},
    )
    .await;
    let listed = run_ok(&engine, "db", doc! {"listCollections": 1}).await;
    assert!(
        first_batch(&listed).is_empty(),
        "collections created in an open transaction are invisible"
    );
    run_ok(&engine, "admin", s.abort()).await;
    let listed = run_ok(&engine, "db", doc! {"listCollections": 1}).await;
    assert!(first_batch(&listed).is_empty(), "{listed}");
    let dbs = run_ok(&engine, "admin", doc! {"listDatabases": 1}).await;
    assert!(dbs.get_array("databases").expect("databases").is_empty());
    // The names are free again.
    run_ok(&engine, "db", doc! {"create": "fresh"}).await;
}

#[tokio::test]
async fn an_index_created_after_a_transactions_writes_holds_them_once_it_commits() {
    let engine = Engine::new();
    let mut s = Session::new(17);
    s.start();
    s.ok_in_txn(&engine, "db", doc! {"create": "fresh"}).await;
    let first = doc! {"insert": "fresh", "documents": [{"_id": 1, "a": 5}]};
    s.ok_in_txn(&engine, "db", first).await;
    let index = doc! {
        "createIndexes": "fresh",
        "indexes": [{"key": {"a": 1}, "name": "a_1", "unique": true}],
    };
    s.ok_in_txn(&engine, "db", index).await;
    let second = doc! {"insert": "fresh", "documents": [{"_id": 2, "a": 6}]};
    s.ok_in_txn(&engine, "db", second).await;
    run_ok(&engine, "admin", s.commit()).await;
    // Both documents, the one written before the index and the one after, are in it.
    assert_eq!(
        find_all(&engine, "db", "fresh", doc! {"a": 5}).await,
        vec![doc! {"_id": 1, "a": 5}]
    );
    assert_eq!(
        find_all(&engine, "db", "fresh", doc! {"a": 6}).await,
        vec![doc! {"_id": 2, "a": 6}]
    );
    for a in [5, 6] {
        let reply = run(
            &engine,
            "db",
            doc! {"insert": "fresh", "documents": [{"a": a}]},
        )
        .await;
        let errors = reply.get_array("writeErrors").expect("a write error");
        let code = errors[0].as_document().and_then(|e| e.get_i32("code").ok());
        assert_eq!(code, Some(11000), "{reply}");
    }
}

#[tokio::test]
async fn a_retried_commit_succeeds_again() {
    let engine = Engine::new();
    let mut s = Session::new(7);
    s.start();
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    run_ok(&engine, "admin", s.commit()).await;
    run_ok(&engine, "admin", s.commit()).await;
    let abort = run(&engine, "admin", s.abort()).await;
    assert_eq!(code_name(&abort), Some("TransactionCommitted"));
    assert_eq!(find_all(&engine, "db", "c", doc! {}).await.len(), 1);
}

#[tokio::test]
async fn a_stale_txn_number_is_refused() {
    let engine = Engine::new();
    let mut s = Session::new(8);
    s.txn_number = 5;
    s.start();
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    run_ok(&engine, "admin", s.commit()).await;
    let mut old = Session::new(8);
    old.txn_number = 2;
    old.start();
    let reply = run(
        &engine,
        "db",
        old.in_txn(doc! {"insert": "c", "documents": [{"_id": 2}]}),
    )
    .await;
    assert_eq!(code_name(&reply), Some("TransactionTooOld"));
    assert_eq!(find_all(&engine, "db", "c", doc! {}).await.len(), 1);
}

#[tokio::test]
async fn unknown_and_aborted_transactions_are_no_such_transaction() {
    let engine = Engine::new();
    let mut s = Session::new(9);
    s.start();
    s.in_txn(doc! {});
    // Continuing a transaction that never started.
    let reply = run(&engine, "db", s.in_txn(doc! {"find": "c"})).await;
    assert_eq!(code_name(&reply), Some("NoSuchTransaction"));
    assert_eq!(labels(&reply), vec!["TransientTransactionError"]);
    s.start();
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    run_ok(&engine, "admin", s.abort()).await;
    let reply = run(&engine, "admin", s.commit()).await;
    assert_eq!(code_name(&reply), Some("NoSuchTransaction"));
    let reply = run(&engine, "admin", s.abort()).await;
    assert_eq!(code_name(&reply), Some("NoSuchTransaction"));
}

#[tokio::test]
async fn a_duplicate_key_inside_a_transaction_aborts_it() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    let mut s = Session::new(10);
    s.start();
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 2}]},
    )
    .await;
    let dup = s
        .ok_in_txn(
            &engine,
            "db",
            doc! {"insert": "c", "documents": [{"_id": 1}]},
        )
        .await;
    let errors = dup.get_array("writeErrors").expect("write errors");
    let error = errors[0].as_document().expect("document");
    assert_eq!(error.get_i32("code").ok(), Some(11000));
    assert_eq!(error.get_document("keyValue").ok(), Some(&doc! {"_id": 1}));
    let commit = run(&engine, "admin", s.commit()).await;
    assert_eq!(code_name(&commit), Some("NoSuchTransaction"));
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await,
        vec![doc! {"_id": 1}]
    );
}

#[tokio::test]
async fn commands_not_allowed_in_a_transaction_are_refused() {
    let engine = Engine::new();
    let mut s = Session::new(11);
    s.start();
    let reply = run(&engine, "db", s.in_txn(doc! {"count": "c"})).await;
    assert_eq!(
        code_name(&reply),
        Some("OperationNotSupportedInTransaction")
    );
    for cmd in [doc! {"drop": "c"}, doc! {"listCollections": 1}] {
        s.start();
        let reply = run(&engine, "db", s.in_txn(cmd)).await;
        assert_eq!(
            code_name(&reply),
            Some("OperationNotSupportedInTransaction"),
            "{reply}"
        );
    }
}

#[tokio::test]
async fn only_the_first_command_may_carry_a_read_concern() {
    let engine = Engine::new();
    let mut s = Session::new(12);
    s.start();
    let mut first = s.in_txn(doc! {"find": "c"});
    first.insert("readConcern", doc! {"level": "snapshot"});
    run_ok(&engine, "db", first).await;
    let mut second = s.in_txn(doc! {"find": "c"});
    second.insert("readConcern", doc! {"level": "snapshot"});
    assert_eq!(
        code_name(&run(&engine, "db", second).await),
        Some("InvalidOptions")
    );
}

#[tokio::test]
async fn a_write_outside_a_transaction_waits_for_the_transaction_holding_its_document() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1, "n": 0}]},
    )
    .await;
    let mut s = Session::new(13);
    s.start();
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}}]},
    )
    .await;
    let writer = {
        let engine = engine.clone();
        tokio::spawn(async move {
            run(
                &engine,
                "db",
                doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 10}}}]},
            )
            .await
        })
    };
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(
        !writer.is_finished(),
        "the plain write waits for the transaction"
    );
    run_ok(&engine, "admin", s.commit()).await;
    let reply = assert_ok(writer.await.expect("task"));
    assert_eq!(reply.get_i32("nModified").ok(), Some(1));
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await,
        vec![doc! {"_id": 1, "n": 11}]
    );
}

#[tokio::test(start_paused = true)]
async fn transactions_past_the_lifetime_limit_are_aborted() {
    let engine = Engine::new();
    let mut s = Session::new(14);
    s.start();
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    tokio::time::advance(std::time::Duration::from_secs(61)).await;
    // Any command sweeps expired transactions; a plain write to the same document no longer waits.
    run_ok(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    let commit = run(&engine, "admin", s.commit()).await;
    assert_eq!(code_name(&commit), Some("NoSuchTransaction"));
}

#[tokio::test]
async fn every_reply_carries_operation_time_and_cluster_time() {
    let engine = Engine::new();
    for reply in [
        run(&engine, "db", doc! {"ping": 1}).await,
        run(&engine, "db", doc! {"insert": "c", "documents": [{"x": 1}]}).await,
        run(&engine, "db", doc! {"bogus": 1}).await,
    ] {
        assert!(reply.get_timestamp("operationTime").is_ok(), "{reply}");
        let ct = reply.get_document("$clusterTime").expect("$clusterTime");
        assert!(ct.get_timestamp("clusterTime").is_ok());
        assert!(
            ct.get_document("signature")
                .and_then(|s| s.get_i64("keyId"))
                .is_ok()
        );
    }
}
