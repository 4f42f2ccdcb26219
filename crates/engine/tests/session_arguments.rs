//! Commands whose session arguments come apart from them (`Engine::run_with_session`) follow
//! the same rules as commands that carry them as fields.

mod common;

use bson::{Document, doc};
use causeway_engine::request::SessionArguments;
use causeway_engine::session::SessionKey;
use causeway_engine::{ClientInfo, Engine, Response};
use common::*;

async fn run_apart(
    engine: &Engine,
    db: &str,
    command: Document,
    session: SessionArguments,
) -> Response {
    engine
        .run_with_session(&ClientInfo::default(), db, command, session)
        .await
        .expect("a reply")
}

fn in_transaction(txn_number: i64, start: bool) -> SessionArguments {
    SessionArguments {
        lsid: Some(SessionKey::from_uuid([7; 16])),
        txn_number: Some(txn_number),
        autocommit: Some(false),
        start_transaction: start,
        ..SessionArguments::default()
    }
}

#[tokio::test]
async fn a_transaction_given_apart_commits_and_reports_its_times_apart() {
    let engine = Engine::new();
    let before = engine.cluster_time();
    let insert = run_apart(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}]},
        in_transaction(1, true),
    )
    .await;
    assert!(ok(&insert.reply), "{}", insert.reply);
    assert!(
        !insert.reply.contains_key("operationTime") && !insert.reply.contains_key("$clusterTime"),
        "the times come apart from the reply: {}",
        insert.reply
    );
    assert!(
        find_all(&engine, "db", "c", doc! {}).await.is_empty(),
        "not visible before the commit"
    );
    let commit = run_apart(
        &engine,
        "admin",
        doc! {"commitTransaction": 1},
        in_transaction(1, false),
    )
    .await;
    assert!(ok(&commit.reply), "{}", commit.reply);
    assert_eq!(find_all(&engine, "db", "c", doc! {}).await.len(), 1);
    assert!(commit.operation_time > before.to_bson());
    assert!(commit.cluster_time >= commit.operation_time);
    let reply = commit.into_document();
    assert!(reply.get_timestamp("operationTime").is_ok(), "{reply}");
    assert!(reply.get_document("$clusterTime").is_ok(), "{reply}");
}

#[tokio::test]
async fn session_arguments_given_apart_are_checked_like_fields() {
    let engine = Engine::new();
    let code = |response: Response| response.reply.get_i32("code").ok();
    let insert = || doc! {"insert": "c", "documents": [{"_id": 1}]};
    let negative = SessionArguments {
        txn_number: Some(-1),
        ..in_transaction(0, true)
    };
    assert_eq!(
        code(run_apart(&engine, "db", insert(), negative).await),
        Some(2)
    );
    let no_lsid = SessionArguments {
        lsid: None,
        ..in_transaction(1, true)
    };
    assert_eq!(
        code(run_apart(&engine, "db", insert(), no_lsid).await),
        Some(72)
    );
    let autocommit_true = SessionArguments {
        autocommit: Some(true),
        ..in_transaction(1, true)
    };
    assert_eq!(
        code(run_apart(&engine, "db", insert(), autocommit_true).await),
        Some(72)
    );
    let bad_read_concern = SessionArguments {
        read_concern: Some(doc! {"level": "bogus"}),
        ..SessionArguments::default()
    };
    assert_eq!(
        code(run_apart(&engine, "db", doc! {"find": "c"}, bad_read_concern).await),
        Some(9),
        "FailedToParse"
    );
    assert!(
        find_all(&engine, "db", "c", doc! {}).await.is_empty(),
        "refused commands change nothing"
    );
}

#[tokio::test]
async fn session_fields_inside_the_command_are_ignored_when_given_apart() {
    let engine = Engine::new();
    // The command's own fields would make this a transaction; apart, it has no session.
    let command = doc! {
        "insert": "c", "documents": [{"_id": 1}],
        "lsid": {"id": bson::Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: vec![1; 16] }},
        "txnNumber": 1_i64, "autocommit": false, "startTransaction": true,
    };
    let response = run_apart(&engine, "db", command, SessionArguments::default()).await;
    assert!(ok(&response.reply), "{}", response.reply);
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await.len(),
        1,
        "committed at once, outside any transaction"
    );
}

#[tokio::test]
async fn a_transient_error_given_apart_gets_its_label() {
    let engine = Engine::new();
    // A command of a transaction that was never started.
    let response = run_apart(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}]},
        in_transaction(5, false),
    )
    .await;
    assert_eq!(code_name(&response.reply), Some("NoSuchTransaction"));
    assert_eq!(
        labels(&response.reply),
        vec!["TransientTransactionError".to_owned()]
    );
}

/// Every future that runs a command holds the engine's future, and each is copied as it
/// starts (and boxed by most callers): the engine's entry points keep theirs to about a
/// kilobyte (1,224 and 968 bytes with this compiler, in debug and release builds alike). The
/// bound leaves room for other compilers and catches the growth an argument kept twice or a
/// wait inlined would bring (the same futures took 2,472 and 2,496 bytes that way).
#[test]
fn command_futures_stay_small() {
    let engine = Engine::new();
    let client = ClientInfo::default();
    let with_session =
        engine.run_with_session(&client, "db", doc! {"ping": 1}, SessionArguments::default());
    let plain = engine.run_command("db", doc! {"ping": 1});
    for (name, size) in [
        ("run_with_session", std::mem::size_of_val(&with_session)),
        ("run_command", std::mem::size_of_val(&plain)),
    ] {
        assert!(size <= 1536, "{name}'s future takes {size} bytes");
    }
}

/// `run_command_encoded` answers with the bytes of the reply `run_command` gives: two engines
/// fed the same commands give the same replies, the times aside (each engine has its own clock).
#[tokio::test]
async fn encoded_replies_are_the_replies_run_command_gives() {
    let (plain, encoded) = (Engine::new(), Engine::new());
    let client = ClientInfo::default();
    let lsid =
        doc! {"id": bson::Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: vec![7; 16] }};
    let commands = [
        (
            "shop",
            doc! {"insert": "orders", "documents": [{"_id": 1, "sku": "a"}, {"_id": 2, "sku": "b"}]},
        ),
        ("shop", doc! {"insert": "orders", "documents": [{"_id": 1}]}),
        (
            "shop",
            doc! {"update": "orders", "updates": [{"q": {"_id": 2}, "u": {"$set": {"qty": 3}}}]},
        ),
        (
            "shop",
            doc! {"find": "orders", "filter": {}, "batchSize": 1},
        ),
        (
            "shop",
            doc! {"aggregate": "orders", "pipeline": [{"$group": {"_id": null, "n": {"$sum": 1}}}], "cursor": {}},
        ),
        ("shop", doc! {"noSuchCommand": 1}),
        (
            "shop",
            doc! {"insert": "orders", "documents": [{"_id": 3}], "lsid": lsid.clone(), "txnNumber": 1_i64, "startTransaction": true, "autocommit": false},
        ),
        (
            "shop",
            doc! {"count": "orders", "lsid": lsid.clone(), "txnNumber": 1_i64, "autocommit": false},
        ),
        (
            "admin",
            doc! {"commitTransaction": 1, "lsid": lsid.clone(), "txnNumber": 1_i64, "autocommit": false},
        ),
    ];
    let without_times = |mut reply: Document| {
        let operation_time = reply.remove("operationTime");
        let cluster_time = reply.remove("$clusterTime");
        assert!(
            matches!(operation_time, Some(bson::Bson::Timestamp(_))),
            "{reply}"
        );
        assert!(
            matches!(&cluster_time, Some(bson::Bson::Document(ct)) if ct.contains_key("signature")),
            "{reply}"
        );
        reply
    };
    for (db, command) in commands {
        let expected = run(&plain, db, command.clone()).await;
        let bytes = encoded
            .run_command_encoded(&client, db, command)
            .await
            .expect("a reply");
        let got = Document::try_from(bytes.as_ref()).expect("valid BSON");
        assert_eq!(without_times(got), without_times(expected));
    }
}
