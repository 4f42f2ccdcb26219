//! The `failCommand` fail point.

mod common;

use bson::doc;
use causeway_engine::{ClientInfo, ConnectionClosed, Engine};
use common::*;

#[tokio::test]
async fn error_code_and_labels_replace_the_reply() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "admin",
        doc! {
            "configureFailPoint": "failCommand", "mode": {"times": 1},
            "data": {"failCommands": ["find"], "errorCode": 112, "errorLabels": ["Custom"]},
        },
    )
    .await;
    let reply = run(&engine, "db", doc! {"find": "c"}).await;
    assert_eq!(code_name(&reply), Some("WriteConflict"));
    assert_eq!(labels(&reply), vec!["Custom"]);
    assert!(reply.get_timestamp("operationTime").is_ok());
    run_ok(&engine, "db", doc! {"find": "c"}).await;
}

#[tokio::test]
async fn close_connection_surfaces_as_a_closed_connection() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "admin",
        doc! {
            "configureFailPoint": "failCommand", "mode": {"times": 1},
            "data": {"failCommands": ["insert"], "closeConnection": true},
        },
    )
    .await;
    assert_eq!(
        engine
            .run_command("db", doc! {"insert": "c", "documents": [{"_id": 1}]})
            .await,
        Err(ConnectionClosed)
    );
    assert!(
        find_all(&engine, "db", "c", doc! {}).await.is_empty(),
        "the command did not run"
    );
}

#[tokio::test]
async fn write_concern_error_is_added_after_the_write_applies() {
    let engine = Engine::new();
    run_ok(&engine, "admin", doc! {
        "configureFailPoint": "failCommand", "mode": {"times": 1},
        "data": {"failCommands": ["insert"], "writeConcernError": {"code": 91, "errmsg": "Replication is being shut down"}},
    }).await;
    let s = Session::new(1);
    let reply = run_ok(
        &engine,
        "db",
        s.retryable(doc! {"insert": "c", "documents": [{"_id": 1}]}, 1),
    )
    .await;
    assert_eq!(
        reply
            .get_document("writeConcernError")
            .and_then(|w| w.get_i32("code"))
            .ok(),
        Some(91)
    );
    assert_eq!(labels(&reply), vec!["RetryableWriteError"]);
    assert_eq!(find_all(&engine, "db", "c", doc! {}).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn block_connection_delays_the_reply() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "admin",
        doc! {
            "configureFailPoint": "failCommand", "mode": "alwaysOn",
            "data": {"failCommands": ["ping"], "blockConnection": true, "blockTimeMS": 250},
        },
    )
    .await;
    let start = tokio::time::Instant::now();
    run_ok(&engine, "admin", doc! {"ping": 1}).await;
    assert_eq!(start.elapsed(), std::time::Duration::from_millis(250));
}

#[tokio::test]
async fn app_name_selects_the_client() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "admin",
        doc! {
            "configureFailPoint": "failCommand", "mode": "alwaysOn",
            "data": {"failCommands": ["ping"], "errorCode": 2, "appName": "victim"},
        },
    )
    .await;
    run_ok(&engine, "admin", doc! {"ping": 1}).await;
    let victim = ClientInfo {
        app_name: Some("victim".into()),
        connection_id: None,
    };
    let reply = engine
        .run_command_as(&victim, "admin", doc! {"ping": 1})
        .await
        .expect("reply");
    assert_eq!(code_name(&reply), Some("BadValue"));
}
