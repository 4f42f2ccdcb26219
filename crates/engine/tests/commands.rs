//! One test per command family: the replies `mongod` gives, and its errors for bad input.

mod common;

use bson::{Bson, Document, doc};
use causeway_engine::Engine;
use common::*;

async fn seeded() -> Engine {
    let engine = Engine::new();
    run_ok(
        &engine,
        "shop",
        doc! {"insert": "inventory", "documents": [
            {"_id": 1, "sku": "abc123", "qty": 100, "tags": ["a", "b"]},
            {"_id": 2, "sku": "def456", "qty": 5, "tags": ["b"]},
            {"_id": 3, "sku": "ghi789", "qty": 50, "dims": {"w": 2}},
        ]},
    )
    .await;
    engine
}

#[tokio::test]
async fn insert_generates_ids_and_reports_duplicates() {
    let engine = seeded().await;
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"insert": "inventory", "documents": [{"sku": "new"}]},
    )
    .await;
    assert_eq!(reply.get_i32("n").ok(), Some(1));
    let docs = find_all(&engine, "shop", "inventory", doc! {"sku": "new"}).await;
    assert!(matches!(docs[0].get("_id"), Some(Bson::ObjectId(_))));
    assert_eq!(
        docs[0].keys().next().map(String::as_str),
        Some("_id"),
        "_id comes first"
    );

    let reply = run_ok(
        &engine,
        "shop",
        doc! {"insert": "inventory", "documents": [{"_id": 9}, {"_id": 1}, {"_id": 10}]},
    )
    .await;
    assert_eq!(
        reply.get_i32("n").ok(),
        Some(1),
        "ordered inserts stop at the first error"
    );
    let error = reply.get_array("writeErrors").expect("writeErrors")[0]
        .as_document()
        .expect("doc")
        .clone();
    assert_eq!(error.get_i32("index").ok(), Some(1));
    assert_eq!(error.get_i32("code").ok(), Some(11000));
    assert_eq!(error.get_str("codeName").ok(), Some("DuplicateKey"));
    assert_eq!(
        error.get_document("keyPattern").ok(),
        Some(&doc! {"_id": 1})
    );
    assert!(
        error
            .get_str("errmsg")
            .expect("errmsg")
            .starts_with("E11000 duplicate key error collection: shop.inventory index: _id_")
    );

    let reply = run_ok(
        &engine,
        "shop",
        doc! {"insert": "inventory", "ordered": false, "documents": [{"_id": 1}, {"_id": 11}]},
    )
    .await;
    assert_eq!(
        reply.get_i32("n").ok(),
        Some(1),
        "unordered inserts go on after an error"
    );
    assert_eq!(
        find_all(
            &engine,
            "shop",
            "inventory",
            doc! {"_id": {"$in": [9, 10, 11]}}
        )
        .await
        .len(),
        2
    );
}

#[tokio::test]
async fn insert_refuses_bad_documents_and_changes_nothing() {
    let engine = seeded().await;
    for (documents, code) in [
        (Bson::Array(vec![]), "InvalidLength"),
        (Bson::String("x".into()), "TypeMismatch"),
        (
            Bson::Array(vec![Bson::Document(doc! {"_id": [1, 2]})]),
            "InvalidIdField",
        ),
        (
            Bson::Array(vec![Bson::Document(doc! {"$bad": 1})]),
            "BadValue",
        ),
    ] {
        let reply = run(
            &engine,
            "shop",
            doc! {"insert": "inventory", "documents": documents},
        )
        .await;
        let name = code_name(&reply).or_else(|| {
            reply
                .get_array("writeErrors")
                .ok()
                .and_then(|e| e[0].as_document())
                .and_then(|e| e.get_str("codeName").ok())
        });
        assert_eq!(name, Some(code), "{reply}");
    }
    let big = "x".repeat(16 * 1024 * 1024);
    let reply = run(
        &engine,
        "shop",
        doc! {"insert": "inventory", "documents": [{"big": big}]},
    )
    .await;
    let error = reply.get_array("writeErrors").expect("writeErrors")[0]
        .as_document()
        .expect("doc")
        .clone();
    assert_eq!(error.get_i32("code").ok(), Some(10334));
    assert_eq!(
        find_all(&engine, "shop", "inventory", doc! {}).await.len(),
        3
    );
}

#[tokio::test]
async fn find_sorts_skips_limits_projects_and_batches() {
    let engine = seeded().await;
    let reply = run_ok(&engine, "shop", doc! {
        "find": "inventory", "filter": {"qty": {"$gte": 5}}, "sort": {"qty": -1}, "skip": 1, "limit": 2,
        "projection": {"sku": 1, "_id": 0},
    }).await;
    assert_eq!(
        first_batch(&reply),
        vec![doc! {"sku": "ghi789"}, doc! {"sku": "def456"}]
    );
    let cursor = reply.get_document("cursor").expect("cursor");
    assert_eq!(cursor.get_i64("id").ok(), Some(0));
    assert_eq!(cursor.get_str("ns").ok(), Some("shop.inventory"));

    let reply = run_ok(&engine, "shop", doc! {"find": "inventory", "batchSize": 2}).await;
    assert_eq!(first_batch(&reply).len(), 2);
    let id = reply
        .get_document("cursor")
        .and_then(|c| c.get_i64("id"))
        .expect("id");
    assert_ne!(id, 0);
    let more = run_ok(
        &engine,
        "shop",
        doc! {"getMore": id, "collection": "inventory"},
    )
    .await;
    let next = more.get_document("cursor").expect("cursor");
    assert_eq!(next.get_array("nextBatch").map(|b| b.len()).ok(), Some(1));
    assert_eq!(next.get_i64("id").ok(), Some(0));
    let gone = run(
        &engine,
        "shop",
        doc! {"getMore": id, "collection": "inventory"},
    )
    .await;
    assert_eq!(code_name(&gone), Some("CursorNotFound"));

    let reply = run_ok(&engine, "shop", doc! {"find": "inventory", "batchSize": 1}).await;
    let id = reply
        .get_document("cursor")
        .and_then(|c| c.get_i64("id"))
        .expect("id");
    let killed = run_ok(
        &engine,
        "shop",
        doc! {"killCursors": "inventory", "cursors": [id, 12345_i64]},
    )
    .await;
    assert_eq!(
        killed.get_array("cursorsKilled").map(|a| a.len()).ok(),
        Some(1)
    );
    assert_eq!(
        killed.get_array("cursorsNotFound").map(|a| a.len()).ok(),
        Some(1)
    );

    let missing = run_ok(&engine, "shop", doc! {"find": "nothing"}).await;
    assert!(first_batch(&missing).is_empty());
}

#[tokio::test]
async fn find_refuses_malformed_filters_naming_the_problem() {
    let engine = seeded().await;
    let reply = run(
        &engine,
        "shop",
        doc! {"find": "inventory", "filter": {"qty": {"$bogus": 1}}},
    )
    .await;
    assert_eq!(code_name(&reply), Some("BadValue"));
    assert!(reply.get_str("errmsg").expect("errmsg").contains("$bogus"));
    let reply = run(&engine, "shop", doc! {"find": "inventory", "filter": 5}).await;
    assert_eq!(code_name(&reply), Some("TypeMismatch"));
    let reply = run(&engine, "shop", doc! {"find": "inventory", "limit": -1}).await;
    assert_eq!(code_name(&reply), Some("BadValue"));
    let reply = run(
        &engine,
        "shop",
        doc! {"find": "inventory", "bogusOption": 1},
    )
    .await;
    assert_eq!(reply.get_i32("code").ok(), Some(40415));
}

#[tokio::test]
async fn update_counts_matches_modifications_and_upserts() {
    let engine = seeded().await;
    let reply = run_ok(&engine, "shop", doc! {"update": "inventory", "updates": [
        {"q": {"sku": "abc123", "qty": {"$gte": 100}}, "u": {"$inc": {"qty": -100}}},
        {"q": {"qty": {"$lt": 1000}}, "u": {"$set": {"checked": true}}, "multi": true},
        {"q": {"sku": "zzz"}, "u": {"$set": {"qty": 1}, "$setOnInsert": {"new": true}}, "upsert": true},
        {"q": {"_id": 2}, "u": {"$set": {"qty": 5}}},
    ]}).await;
    assert_eq!(reply.get_i32("n").ok(), Some(1 + 3 + 1 + 1));
    assert_eq!(reply.get_i32("nModified").ok(), Some(1 + 3));
    let upserted = reply.get_array("upserted").expect("upserted")[0]
        .as_document()
        .expect("doc")
        .clone();
    assert_eq!(upserted.get_i32("index").ok(), Some(2));
    let new = find_all(&engine, "shop", "inventory", doc! {"sku": "zzz"}).await;
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].get_bool("new").ok(), Some(true));
    assert_eq!(new[0].get("_id"), upserted.get("_id"));
    let abc = find_all(&engine, "shop", "inventory", doc! {"_id": 1}).await;
    assert_eq!(abc[0].get_i32("qty").ok(), Some(0));

    let reply = run_ok(
        &engine,
        "shop",
        doc! {"update": "inventory", "updates": [
            {"q": {"_id": 1}, "u": {"$set": {"_id": 99}}},
        ]},
    )
    .await;
    let error = reply.get_array("writeErrors").expect("writeErrors")[0]
        .as_document()
        .expect("doc")
        .clone();
    assert_eq!(error.get_str("codeName").ok(), Some("ImmutableField"));

    let reply = run_ok(
        &engine,
        "shop",
        doc! {"update": "inventory", "updates": [
            {"q": {"_id": 2}, "u": {"sku": "replaced"}},
        ]},
    )
    .await;
    assert_eq!(reply.get_i32("nModified").ok(), Some(1));
    assert_eq!(
        find_all(&engine, "shop", "inventory", doc! {"_id": 2}).await,
        vec![doc! {"_id": 2, "sku": "replaced"}]
    );

    let reply = run(
        &engine,
        "shop",
        doc! {"update": "inventory", "updates": [{"q": {}, "u": {"$frob": {"a": 1}}}]},
    )
    .await;
    let text = reply.to_string();
    assert!(text.contains("$frob"), "{reply}");
}

#[tokio::test]
async fn current_date_writes_the_time_of_the_update() {
    let engine = seeded().await;
    let before = bson::DateTime::now();
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"update": "inventory", "updates": [
            {"q": {"_id": 1}, "u": {"$currentDate": {"at": true, "ts": {"$type": "timestamp"}}}},
        ]},
    )
    .await;
    assert_eq!(reply.get_i32("nModified").ok(), Some(1));
    let after = bson::DateTime::now();
    let doc = &find_all(&engine, "shop", "inventory", doc! {"_id": 1}).await[0];
    let at = doc.get_datetime("at").expect("a date");
    assert!(
        before <= *at && *at <= after,
        "{at} not in [{before}, {after}]"
    );
    let ts = doc.get_timestamp("ts").expect("a timestamp");
    let seconds = |d: &bson::DateTime| (d.timestamp_millis() / 1000) as u32;
    assert!(
        (seconds(&before)..=seconds(&after)).contains(&ts.time),
        "{ts:?}"
    );
}

#[tokio::test]
async fn upsert_copies_equality_fields_of_the_filter() {
    let engine = Engine::new();
    run_ok(
        &engine,
        "db",
        doc! {"update": "c", "updates": [
            {"q": {"_id": 7, "a.b": 1, "n": {"$gt": 5}}, "u": {"$set": {"x": 1}}, "upsert": true},
        ]},
    )
    .await;
    assert_eq!(
        find_all(&engine, "db", "c", doc! {}).await,
        vec![doc! {"_id": 7, "a": {"b": 1}, "x": 1}]
    );
}

#[tokio::test]
async fn delete_removes_one_or_all_matches() {
    let engine = seeded().await;
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"delete": "inventory", "deletes": [{"q": {"tags": "b"}, "limit": 1}]},
    )
    .await;
    assert_eq!(reply.get_i32("n").ok(), Some(1));
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"delete": "inventory", "deletes": [{"q": {}, "limit": 0}]},
    )
    .await;
    assert_eq!(reply.get_i32("n").ok(), Some(2));
    assert!(
        find_all(&engine, "shop", "inventory", doc! {})
            .await
            .is_empty()
    );
    let reply = run(
        &engine,
        "shop",
        doc! {"delete": "inventory", "deletes": [{"q": {}, "limit": 5}]},
    )
    .await;
    assert_eq!(code_name(&reply), Some("FailedToParse"));
}

#[tokio::test]
async fn find_and_modify_returns_the_old_or_new_document() {
    let engine = seeded().await;
    let reply = run_ok(&engine, "shop", doc! {
        "findAndModify": "inventory", "query": {"qty": {"$gt": 1}}, "sort": {"qty": 1}, "update": {"$inc": {"qty": 1}},
    }).await;
    assert_eq!(
        reply
            .get_document("value")
            .and_then(|v| v.get_i32("qty"))
            .ok(),
        Some(5)
    );
    assert_eq!(
        reply
            .get_document("lastErrorObject")
            .and_then(|l| l.get_bool("updatedExisting"))
            .ok(),
        Some(true)
    );
    let reply = run_ok(&engine, "shop", doc! {
        "findAndModify": "inventory", "query": {"_id": 2}, "update": {"$inc": {"qty": 1}}, "new": true, "fields": {"qty": 1},
    }).await;
    assert_eq!(
        reply.get_document("value").ok(),
        Some(&doc! {"_id": 2, "qty": 7})
    );
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"findAndModify": "inventory", "query": {"_id": 3}, "remove": true},
    )
    .await;
    assert_eq!(
        reply
            .get_document("value")
            .and_then(|v| v.get_str("sku"))
            .ok(),
        Some("ghi789")
    );
    let reply = run_ok(&engine, "shop", doc! {
        "findAndModify": "inventory", "query": {"_id": 50}, "update": {"$set": {"a": 1}}, "upsert": true, "new": true,
    }).await;
    assert_eq!(
        reply.get_document("value").ok(),
        Some(&doc! {"_id": 50, "a": 1})
    );
    assert_eq!(
        reply
            .get_document("lastErrorObject")
            .and_then(|l| l.get_i32("upserted"))
            .ok(),
        Some(50)
    );
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"findAndModify": "inventory", "query": {"_id": 404}, "remove": true},
    )
    .await;
    assert_eq!(reply.get("value"), Some(&Bson::Null));
    let reply = run(
        &engine,
        "shop",
        doc! {"findAndModify": "inventory", "query": {}},
    )
    .await;
    assert_eq!(code_name(&reply), Some("FailedToParse"));
}

#[tokio::test]
async fn count_and_distinct() {
    let engine = seeded().await;
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"count": "inventory", "query": {"qty": {"$gt": 10}}},
    )
    .await;
    assert_eq!(reply.get_i32("n").ok(), Some(2));
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"count": "inventory", "skip": 1, "limit": 1},
    )
    .await;
    assert_eq!(reply.get_i32("n").ok(), Some(1));
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"distinct": "inventory", "key": "tags"},
    )
    .await;
    assert_eq!(
        reply.get_array("values").ok(),
        Some(&vec![Bson::String("a".into()), Bson::String("b".into())])
    );
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"distinct": "inventory", "key": "dims.w", "query": {}},
    )
    .await;
    assert_eq!(reply.get_array("values").ok(), Some(&vec![Bson::Int32(2)]));
}

#[tokio::test]
async fn indexes_are_created_listed_used_and_dropped() {
    let engine = seeded().await;
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"createIndexes": "inventory", "indexes": [
            {"key": {"sku": 1}, "name": "sku_1", "unique": true},
            {"key": {"qty": -1, "sku": 1}, "name": "qty_-1_sku_1"},
        ]},
    )
    .await;
    assert_eq!(reply.get_i32("numIndexesBefore").ok(), Some(1));
    assert_eq!(reply.get_i32("numIndexesAfter").ok(), Some(3));
    let again = run_ok(&engine, "shop", doc! {"createIndexes": "inventory", "indexes": [{"key": {"sku": 1}, "name": "sku_1", "unique": true}]}).await;
    assert_eq!(again.get_i32("numIndexesAfter").ok(), Some(3));

    let listed = run_ok(&engine, "shop", doc! {"listIndexes": "inventory"}).await;
    let names: Vec<String> = first_batch(&listed)
        .iter()
        .map(|i| i.get_str("name").expect("name").to_owned())
        .collect();
    assert_eq!(names, vec!["_id_", "sku_1", "qty_-1_sku_1"]);

    let dup = run_ok(
        &engine,
        "shop",
        doc! {"insert": "inventory", "documents": [{"sku": "abc123"}]},
    )
    .await;
    let error = dup.get_array("writeErrors").expect("writeErrors")[0]
        .as_document()
        .expect("doc")
        .clone();
    assert_eq!(error.get_i32("code").ok(), Some(11000));
    assert_eq!(
        error.get_document("keyPattern").ok(),
        Some(&doc! {"sku": 1})
    );
    assert_eq!(
        error.get_document("keyValue").ok(),
        Some(&doc! {"sku": "abc123"})
    );

    // Lookups by an indexed field see updates to that field.
    run_ok(&engine, "shop", doc! {"update": "inventory", "updates": [{"q": {"sku": "abc123"}, "u": {"$set": {"sku": "renamed"}}}]}).await;
    assert!(
        find_all(&engine, "shop", "inventory", doc! {"sku": "abc123"})
            .await
            .is_empty()
    );
    assert_eq!(
        find_all(&engine, "shop", "inventory", doc! {"sku": "renamed"})
            .await
            .len(),
        1
    );
    assert_eq!(
        find_all(&engine, "shop", "inventory", doc! {"qty": 50})
            .await
            .len(),
        1
    );
    // The freed key can be taken again.
    run_ok(
        &engine,
        "shop",
        doc! {"insert": "inventory", "documents": [{"sku": "abc123"}]},
    )
    .await;

    let reply = run(&engine, "shop", doc! {"createIndexes": "inventory", "indexes": [{"key": {"qty": 1}, "name": "q", "unique": true}, ]}).await;
    assert!(ok(&reply), "qty values are distinct: {reply}");
    let reply = run(&engine, "shop", doc! {"createIndexes": "inventory", "indexes": [{"key": {"tags": 1}, "name": "t", "unique": true}]}).await;
    assert_eq!(
        code_name(&reply),
        Some("DuplicateKey"),
        "two documents share the tag 'b'"
    );
    let reply = run(
        &engine,
        "shop",
        doc! {"createIndexes": "inventory", "indexes": [{"key": {"loc": "2dsphere"}}]},
    )
    .await;
    assert_eq!(code_name(&reply), Some("CannotCreateIndex"));

    run_ok(
        &engine,
        "shop",
        doc! {"dropIndexes": "inventory", "index": "sku_1"},
    )
    .await;
    let reply = run(
        &engine,
        "shop",
        doc! {"dropIndexes": "inventory", "index": "sku_1"},
    )
    .await;
    assert_eq!(code_name(&reply), Some("IndexNotFound"));
    let reply = run(
        &engine,
        "shop",
        doc! {"dropIndexes": "inventory", "index": "_id_"},
    )
    .await;
    assert_eq!(code_name(&reply), Some("InvalidOptions"));
    run_ok(
        &engine,
        "shop",
        doc! {"insert": "inventory", "documents": [{"sku": "abc123"}]},
    )
    .await;
}

#[tokio::test]
async fn collections_and_databases() {
    let engine = seeded().await;
    run_ok(&engine, "shop", doc! {"create": "orders"}).await;
    let reply = run(&engine, "shop", doc! {"create": "orders"}).await;
    assert_eq!(code_name(&reply), Some("NamespaceExists"));
    let listed = run_ok(
        &engine,
        "shop",
        doc! {"listCollections": 1, "nameOnly": true},
    )
    .await;
    let names: Vec<String> = first_batch(&listed)
        .iter()
        .map(|c| c.get_str("name").expect("name").to_owned())
        .collect();
    assert_eq!(names, vec!["inventory", "orders"]);
    let filtered = run_ok(
        &engine,
        "shop",
        doc! {"listCollections": 1, "filter": {"name": "orders"}},
    )
    .await;
    assert_eq!(first_batch(&filtered).len(), 1);
    assert!(first_batch(&filtered)[0].get_document("info").is_ok());

    run_ok(&engine, "other", doc! {"insert": "x", "documents": [{}]}).await;
    let dbs = run_ok(
        &engine,
        "admin",
        doc! {"listDatabases": 1, "nameOnly": true},
    )
    .await;
    assert_eq!(dbs.get_array("databases").map(|d| d.len()).ok(), Some(2));
    let reply = run(&engine, "shop", doc! {"listDatabases": 1}).await;
    assert_eq!(
        code_name(&reply),
        Some("Unauthorized"),
        "listDatabases is admin only"
    );

    let dropped = run_ok(&engine, "shop", doc! {"drop": "orders"}).await;
    assert_eq!(dropped.get_str("ns").ok(), Some("shop.orders"));
    run_ok(&engine, "shop", doc! {"drop": "orders"}).await;
    run_ok(&engine, "other", doc! {"dropDatabase": 1}).await;
    let dbs = run_ok(&engine, "admin", doc! {"listDatabases": 1}).await;
    assert_eq!(dbs.get_array("databases").map(|d| d.len()).ok(), Some(1));
    let reply = run(
        &engine,
        "shop",
        doc! {"insert": "bad$name", "documents": [{}]},
    )
    .await;
    assert_eq!(code_name(&reply), Some("InvalidNamespace"));
}

#[tokio::test]
async fn hello_ping_build_info_and_unknown_commands() {
    let engine = Engine::new();
    let hello = run_ok(&engine, "admin", doc! {"hello": 1}).await;
    assert_eq!(hello.get_bool("isWritablePrimary").ok(), Some(true));
    assert_eq!(hello.get_str("setName").ok(), Some("rs0"));
    assert_eq!(hello.get_i32("maxWireVersion").ok(), Some(25));
    assert_eq!(hello.get_i32("logicalSessionTimeoutMinutes").ok(), Some(30));
    assert!(hello.get_document("lastWrite").is_ok());
    let legacy = run_ok(&engine, "admin", doc! {"isMaster": 1, "helloOk": true}).await;
    assert_eq!(legacy.get_bool("ismaster").ok(), Some(true));
    assert_eq!(legacy.get_bool("helloOk").ok(), Some(true));
    run_ok(&engine, "admin", doc! {"ping": 1}).await;
    let info = run_ok(&engine, "admin", doc! {"buildInfo": 1}).await;
    assert_eq!(info.get_str("version").ok(), Some("8.0.0"));
    let reply = run(&engine, "admin", doc! {"frobnicate": 1}).await;
    assert_eq!(code_name(&reply), Some("CommandNotFound"));
    assert!(
        reply
            .get_str("errmsg")
            .expect("errmsg")
            .contains("frobnicate")
    );
    let reply = run(&engine, "admin", doc! {}).await;
    assert_eq!(code_name(&reply), Some("CommandNotFound"));
}

#[tokio::test]
async fn end_sessions_aborts_their_transactions() {
    let engine = Engine::new();
    let mut s = Session::new(1);
    s.start();
    s.ok_in_txn(
        &engine,
        "db",
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    run_ok(&engine, "admin", doc! {"endSessions": [s.lsid.clone()]}).await;
    // The document is free: a plain insert does not wait, and the transaction is gone.
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
async fn aggregate_runs_pipelines_and_refuses_unsupported_stages() {
    let engine = seeded().await;
    let reply = run_ok(
        &engine,
        "shop",
        doc! {"aggregate": "inventory", "cursor": {}, "pipeline": [
            {"$match": {"qty": {"$gte": 5}}},
            {"$unwind": "$tags"},
            {"$group": {"_id": "$tags", "total": {"$sum": "$qty"}, "n": {"$sum": 1}}},
            {"$sort": {"_id": 1}},
        ]},
    )
    .await;
    assert_eq!(
        first_batch(&reply),
        vec![
            doc! {"_id": "a", "total": 100, "n": 1},
            doc! {"_id": "b", "total": 105, "n": 2}
        ]
    );
    let reply = run_ok(&engine, "shop", doc! {"aggregate": "inventory", "cursor": {"batchSize": 1}, "pipeline": [{"$project": {"sku": 1, "_id": 0}}]}).await;
    assert_eq!(first_batch(&reply).len(), 1);
    assert_ne!(
        reply
            .get_document("cursor")
            .and_then(|c| c.get_i64("id"))
            .ok(),
        Some(0)
    );
    let reply = run(
        &engine,
        "shop",
        doc! {"aggregate": "inventory", "cursor": {}, "pipeline": [{"$merge": {}}]},
    )
    .await;
    assert_eq!(code_name(&reply), Some("BadValue"));
    let reply = run(
        &engine,
        "shop",
        doc! {"aggregate": "inventory", "cursor": {}, "pipeline": [{"$frobnicate": {}}]},
    )
    .await;
    assert_eq!(reply.get_i32("code").ok(), Some(40324));
    let reply = run(
        &engine,
        "shop",
        doc! {"aggregate": "inventory", "pipeline": []},
    )
    .await;
    assert_eq!(
        code_name(&reply),
        Some("FailedToParse"),
        "the cursor option is required"
    );
}

async fn scanned(engine: &Engine) -> i64 {
    let status = run_ok(engine, "admin", doc! {"serverStatus": 1}).await;
    status
        .get_document("metrics")
        .and_then(|m| m.get_document("queryExecutor"))
        .and_then(|q| q.get_i64("scannedObjects"))
        .expect("scannedObjects")
}

#[tokio::test]
async fn an_equality_on_an_indexed_field_uses_the_index_not_a_scan() {
    let engine = Engine::new();
    let docs: Vec<bson::Document> = (0..1000)
        .map(|i| doc! {"_id": i, "sku": format!("sku{i}"), "qty": i})
        .collect();
    run_ok(&engine, "shop", doc! {"insert": "items", "documents": docs}).await;
    run_ok(
        &engine,
        "shop",
        doc! {"createIndexes": "items", "indexes": [{"key": {"sku": 1}, "name": "sku_1"}]},
    )
    .await;

    let before = scanned(&engine).await;
    let found = first_batch(
        &run_ok(
            &engine,
            "shop",
            doc! {"find": "items", "filter": {"sku": "sku500"}},
        )
        .await,
    );
    assert_eq!(found.len(), 1);
    assert_eq!(
        scanned(&engine).await - before,
        1,
        "one candidate from the index"
    );

    let before = scanned(&engine).await;
    let found = first_batch(
        &run_ok(
            &engine,
            "shop",
            doc! {"find": "items", "filter": {"qty": 500}},
        )
        .await,
    );
    assert_eq!(found.len(), 1);
    assert_eq!(
        scanned(&engine).await - before,
        1000,
        "no index on qty: a scan"
    );

    let before = scanned(&engine).await;
    run_ok(
        &engine,
        "shop",
        doc! {"update": "items", "updates": [{"q": {"sku": "sku7"}, "u": {"$inc": {"qty": 1}}}]},
    )
    .await;
    assert_eq!(
        scanned(&engine).await - before,
        1,
        "updates find their documents through the index too"
    );
}

/// Runs `pipeline` over `shop.<coll>`.
async fn aggregate(engine: &Engine, coll: &str, pipeline: Vec<Document>) -> Document {
    run(
        engine,
        "shop",
        doc! {"aggregate": coll, "cursor": {}, "pipeline": pipeline},
    )
    .await
}

#[tokio::test]
async fn lookup_joins_another_collection_of_the_same_database() {
    let engine = seeded().await;
    run_ok(
        &engine,
        "shop",
        doc! {"insert": "orders", "documents": [
            {"_id": 10, "item": "abc123", "qty": 2},
            {"_id": 11, "item": ["def456", "ghi789"], "qty": 1},
            {"_id": 12, "item": "none", "qty": 1},
        ]},
    )
    .await;
    let reply = assert_ok(
        aggregate(
            &engine,
            "orders",
            vec![
                doc! {"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "stock"}},
                doc! {"$project": {"stock._id": 1}},
                doc! {"$sort": {"_id": 1}},
            ],
        )
        .await,
    );
    assert_eq!(
        first_batch(&reply),
        [
            doc! {"_id": 10, "stock": [{"_id": 1}]},
            doc! {"_id": 11, "stock": [{"_id": 2}, {"_id": 3}]},
            doc! {"_id": 12, "stock": []},
        ]
    );
    let reply = assert_ok(
        aggregate(
            &engine,
            "orders",
            vec![
                doc! {"$match": {"_id": 10}},
                doc! {"$lookup": {"from": "missing", "localField": "item", "foreignField": "sku", "as": "stock"}},
            ],
        )
        .await,
    );
    assert_eq!(
        first_batch(&reply)[0].get_array("stock").map(Vec::len).ok(),
        Some(0),
        "a collection that does not exist joins nothing"
    );
}

#[tokio::test]
async fn facet_runs_named_sub_pipelines_over_the_same_documents() {
    let engine = seeded().await;
    let reply = assert_ok(
        aggregate(
            &engine,
            "inventory",
            vec![doc! {"$facet": {
                "total": [{"$count": "n"}],
                "page": [{"$sort": {"qty": -1}}, {"$limit": 2}, {"$project": {"_id": 1}}],
            }}],
        )
        .await,
    );
    assert_eq!(
        first_batch(&reply),
        [doc! {"total": [{"n": 3}], "page": [{"_id": 1}, {"_id": 3}]}]
    );
    let reply = aggregate(
        &engine,
        "inventory",
        vec![doc! {"$facet": {"a": [{"$out": "x"}]}}],
    )
    .await;
    assert_eq!(reply.get_i32("code").ok(), Some(40600), "{reply}");
    let reply = aggregate(&engine, "inventory", vec![doc! {"$facet": {"a": 1}}]).await;
    assert_eq!(reply.get_i32("code").ok(), Some(40170), "{reply}");
}

#[tokio::test]
async fn union_with_appends_another_collection_and_sample_picks_at_random() {
    let engine = seeded().await;
    run_ok(
        &engine,
        "shop",
        doc! {"insert": "archive", "documents": [{"_id": 100, "sku": "old", "qty": 0}]},
    )
    .await;
    let reply = assert_ok(
        aggregate(
            &engine,
            "inventory",
            vec![
                doc! {"$project": {"_id": 1}},
                doc! {"$unionWith": {"coll": "archive", "pipeline": [{"$project": {"sku": 1}}]}},
            ],
        )
        .await,
    );
    assert_eq!(
        first_batch(&reply),
        [
            doc! {"_id": 1},
            doc! {"_id": 2},
            doc! {"_id": 3},
            doc! {"_id": 100, "sku": "old"}
        ]
    );
    let reply =
        assert_ok(aggregate(&engine, "inventory", vec![doc! {"$unionWith": "missing"}]).await);
    assert_eq!(first_batch(&reply).len(), 3);

    let picked = first_batch(&assert_ok(
        aggregate(&engine, "inventory", vec![doc! {"$sample": {"size": 2}}]).await,
    ));
    let mut ids: Vec<i32> = picked
        .iter()
        .filter_map(|d| d.get_i32("_id").ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2, "two different documents: {picked:?}");
    let all = first_batch(&assert_ok(
        aggregate(&engine, "inventory", vec![doc! {"$sample": {"size": 10}}]).await,
    ));
    assert_eq!(all.len(), 3);
    for (spec, code) in [
        (doc! {"size": -1}, 28747),
        (doc! {"size": "x"}, 28746),
        (doc! {}, 28749),
        (doc! {"size": 1, "seed": 2}, 28748),
    ] {
        let reply = aggregate(&engine, "inventory", vec![doc! {"$sample": spec.clone()}]).await;
        assert_eq!(reply.get_i32("code").ok(), Some(code), "{spec}: {reply}");
    }
}
