//! Random and mutated command documents: every one gets a well-formed reply, and the engine
//! answers the next command correctly.

mod common;

use bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use causeway_engine::Engine;
use common::*;
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "insert",
    "update",
    "delete",
    "find",
    "findAndModify",
    "aggregate",
    "count",
    "distinct",
    "getMore",
    "killCursors",
    "create",
    "drop",
    "createIndexes",
    "dropIndexes",
    "listIndexes",
    "listCollections",
    "listDatabases",
    "dropDatabase",
    "commitTransaction",
    "abortTransaction",
    "endSessions",
    "hello",
    "isMaster",
    "ping",
    "buildInfo",
    "configureFailPoint",
    "bogus",
];

const FIELDS: &[&str] = &[
    "documents",
    "updates",
    "deletes",
    "filter",
    "query",
    "q",
    "u",
    "limit",
    "skip",
    "sort",
    "projection",
    "batchSize",
    "key",
    "pipeline",
    "cursor",
    "indexes",
    "index",
    "update",
    "remove",
    "new",
    "upsert",
    "multi",
    "ordered",
    "lsid",
    "txnNumber",
    "autocommit",
    "startTransaction",
    "readConcern",
    "writeConcern",
    "maxTimeMS",
    "mode",
    "data",
    "collection",
    "cursors",
    "$gt",
    "$in",
    "$set",
    "$inc",
    "$match",
    "$group",
    "_id",
    "a",
    "b.c",
];

fn leaf() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<f64>().prop_map(Bson::Double),
        any::<bool>().prop_map(Bson::Boolean),
        Just(Bson::Null),
        "[a-z$.]{0,6}".prop_map(Bson::String),
        proptest::sample::select(NAMES).prop_map(|s| Bson::String(s.to_owned())),
        Just(Bson::Binary(Binary {
            subtype: BinarySubtype::Uuid,
            bytes: vec![1; 16]
        })),
        Just(Bson::Timestamp(bson::Timestamp {
            time: 1,
            increment: 1
        })),
    ]
}

fn value() -> impl Strategy<Value = Bson> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            proptest::collection::vec((proptest::sample::select(FIELDS), inner), 0..4).prop_map(
                |fields| {
                    Bson::Document(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }
            ),
        ]
    })
}

fn command() -> impl Strategy<Value = Document> {
    (
        proptest::sample::select(NAMES),
        prop_oneof![
            Just(Bson::String("c".into())),
            Just(Bson::Int32(1)),
            value()
        ],
        proptest::collection::vec((proptest::sample::select(FIELDS), value()), 0..5),
    )
        .prop_map(|(name, target, fields)| {
            let mut cmd = doc! {name: target};
            for (k, v) in fields {
                cmd.insert(k, v);
            }
            cmd
        })
}

/// Valid commands with one field replaced by a random value.
fn mutated() -> impl Strategy<Value = Document> {
    let valid = vec![
        doc! {"insert": "c", "documents": [{"_id": 1, "a": 1}]},
        doc! {"update": "c", "updates": [{"q": {"a": 1}, "u": {"$inc": {"a": 1}}, "upsert": true}]},
        doc! {"delete": "c", "deletes": [{"q": {"a": {"$gt": 0}}, "limit": 1}]},
        doc! {"find": "c", "filter": {"a": {"$in": [1, 2]}}, "sort": {"a": -1}, "limit": 3},
        doc! {"findAndModify": "c", "query": {"a": 1}, "update": {"$set": {"b": 2}}, "new": true},
        doc! {"aggregate": "c", "pipeline": [{"$match": {"a": 1}}, {"$group": {"_id": "$a", "n": {"$sum": 1}}}], "cursor": {}},
        doc! {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1", "unique": true}]},
        doc! {"distinct": "c", "key": "a", "query": {}},
    ];
    (
        proptest::sample::select(valid),
        any::<proptest::sample::Index>(),
        value(),
    )
        .prop_map(|(mut cmd, at, v)| {
            let keys: Vec<String> = cmd.keys().cloned().collect();
            let key = at.get(&keys).clone();
            if key != keys[0] {
                cmd.insert(key, v);
            } else {
                cmd.insert("documents", v);
            }
            cmd
        })
}

fn well_formed(reply: &Document) -> Result<(), String> {
    let ok = match reply.get("ok") {
        Some(Bson::Double(v)) if *v == 0.0 || *v == 1.0 => *v == 1.0,
        other => return Err(format!("bad ok field {other:?} in {reply}")),
    };
    if !ok
        && (reply.get_i32("code").is_err()
            || reply.get_str("errmsg").is_err()
            || reply.get_str("codeName").is_err())
    {
        return Err(format!(
            "error reply without code, codeName or errmsg: {reply}"
        ));
    }
    if reply.get_timestamp("operationTime").is_err() || reply.get_document("$clusterTime").is_err()
    {
        return Err(format!(
            "reply without operationTime or $clusterTime: {reply}"
        ));
    }
    Ok(())
}

fn check(commands: Vec<Document>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let engine = Engine::new();
        run_ok(
            &engine,
            "sanity",
            doc! {"insert": "c", "documents": [{"_id": 1, "v": "kept"}]},
        )
        .await;
        for cmd in commands {
            if let Ok(reply) = engine.run_command("fuzz", cmd.clone()).await {
                prop_assert!(
                    well_formed(&reply).is_ok(),
                    "{:?} for {}",
                    well_formed(&reply),
                    cmd
                );
            }
            run(
                &engine,
                "admin",
                doc! {"configureFailPoint": "failCommand", "mode": "off"},
            )
            .await;
            let still = find_all(&engine, "sanity", "c", doc! {}).await;
            prop_assert_eq!(still, vec![doc! {"_id": 1, "v": "kept"}]);
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_commands_get_well_formed_replies(commands in proptest::collection::vec(command(), 1..6)) {
        check(commands)?;
    }

    #[test]
    fn mutated_commands_get_well_formed_replies(commands in proptest::collection::vec(mutated(), 1..6)) {
        check(commands)?;
    }
}
