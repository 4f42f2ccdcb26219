//! Retryable writes: the same `lsid` + `txnNumber` sent again does not apply twice.

mod common;

use bson::doc;
use causeway_engine::Engine;
use common::*;

#[tokio::test]
async fn a_retried_write_returns_the_first_result_and_applies_once() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1, "n": 0}]},
    )
    .await;
    let s = Session::new(1);
    let inc = doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}}]};
    let first = run_ok(&engine, "db", s.retryable(inc.clone(), 1)).await;
    let again = run_ok(&engine, "db", s.retryable(inc.clone(), 1)).await;
    assert_eq!(
        first.get_i32("nModified").ok(),
        again.get_i32("nModified").ok()
    );
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await,
        vec![doc! {"_id": 1, "n": 1}]
    );
    run_ok(&engine, "db", s.retryable(inc.clone(), 2)).await;
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await,
        vec![doc! {"_id": 1, "n": 2}]
    );
    let stale = run(&engine, "db", s.retryable(inc, 1)).await;
    assert_eq!(code_name(&stale), Some("TransactionTooOld"));
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await,
        vec![doc! {"_id": 1, "n": 2}]
    );
}

#[tokio::test]
async fn a_retried_insert_does_not_duplicate() {
    let engine = Engine::new();
    let s = Session::new(2);
    let insert = doc! {"insert": "c", "documents": [{"x": 1}, {"x": 2}]};
    run_ok(&engine, "db", s.retryable(insert.clone(), 7)).await;
    let again = run_ok(&engine, "db", s.retryable(insert, 7)).await;
    assert_eq!(again.get_i32("n").ok(), Some(2));
    assert_eq!(find_all(&engine, "db", "c", doc! {}).await.len(), 2);
}

#[tokio::test]
async fn retryable_error_codes_get_the_retryable_write_label() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "admin",
        doc! {
            "configureFailPoint": "failCommand", "mode": {"times": 1},
            "data": {"failCommands": ["insert"], "errorCode": 10107},
        },
    )
    .await;
    let s = Session::new(3);
    let reply = run(
        &engine,
        "db",
        s.retryable(doc! {"insert": "c", "documents": [{"_id": 1}]}, 1),
    )
    .await;
    assert_eq!(code_name(&reply), Some("NotWritablePrimary"));
    assert_eq!(labels(&reply), vec!["RetryableWriteError"]);
    // The fail point fired before the write: the retry applies it.
    run_ok(
        &engine,
        "db",
        s.retryable(doc! {"insert": "c", "documents": [{"_id": 1}]}, 1),
    )
    .await;
    assert_eq!(find_all(&engine, "db", "c", doc! {}).await.len(), 1);
}
