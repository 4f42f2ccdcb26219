//! The positional update operators: `$`, the element of an array that the query matched, and
//! `$[<identifier>]`, the elements an array filter accepts.

mod common;

use bson::{Document, doc};
use causeway_engine::Engine;
use common::*;

async fn seeded() -> Engine {
    let engine = Engine::new();
    run_ok(
            &engine,
            "db",
            doc! {"insert": "c", "documents": [
                {"_id": 1, "grades": [80, 85, 90], "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 5}]},
                {"_id": 2, "grades": [85, 100], "items": [{"sku": "b", "qty": 2}, {"sku": "a", "qty": 7}]},
            ]},
        ).await;
    engine
}

async fn update(engine: &Engine, statement: Document) -> Document {
    run(engine, "db", doc! {"update": "c", "updates": [statement]}).await
}

async fn get(engine: &Engine, id: i32) -> Document {
    find_all(engine, "db", "c", doc! {"_id": id})
        .await
        .pop()
        .expect("the document")
}

#[tokio::test]
async fn dollar_updates_the_element_the_query_matched() {
    let engine = seeded().await;
    let reply = assert_ok(
        update(
            &engine,
            doc! {"q": {"_id": 1, "grades": 85}, "u": {"$set": {"grades.$": 82}}},
        )
        .await,
    );
    assert_eq!(reply.get_i32("nModified").ok(), Some(1), "{reply}");
    assert_eq!(
        get(&engine, 1).await.get_array("grades").ok(),
        Some(&vec![80.into(), 82.into(), 90.into()])
    );

    assert_ok(
        update(
            &engine,
            doc! {"q": {"_id": 1, "items.sku": "b"}, "u": {"$inc": {"items.$.qty": 10}}},
        )
        .await,
    );
    assert_eq!(
        get(&engine, 1).await.get_array("items").ok(),
        Some(&vec![
            doc! {"sku": "a", "qty": 1}.into(),
            doc! {"sku": "b", "qty": 15}.into()
        ])
    );
}

#[tokio::test]
async fn each_document_of_a_multi_update_uses_its_own_position() {
    let engine = seeded().await;
    let reply = assert_ok(
        update(
            &engine,
            doc! {"q": {"items": {"$elemMatch": {"sku": "a"}}}, "u": {"$set": {"items.$.qty": 0}}, "multi": true},
        )
        .await,
    );
    assert_eq!(reply.get_i32("nModified").ok(), Some(2), "{reply}");
    let qty = |doc: &Document, i: usize| {
        doc.get_array("items")
            .ok()
            .and_then(|items| items[i].as_document()?.get_i32("qty").ok())
    };
    let (one, two) = (get(&engine, 1).await, get(&engine, 2).await);
    assert_eq!((qty(&one, 0), qty(&one, 1)), (Some(0), Some(5)));
    assert_eq!((qty(&two, 0), qty(&two, 1)), (Some(2), Some(0)));
}

#[tokio::test]
async fn find_and_modify_resolves_dollar_too() {
    let engine = seeded().await;
    let reply = run_ok(
            &engine,
            "db",
            doc! {"findAndModify": "c", "query": {"_id": 2, "grades": 100}, "update": {"$set": {"grades.$": 99}}, "new": true},
        ).await;
    let value = reply.get_document("value").expect("the new document");
    assert_eq!(
        value.get_array("grades").ok(),
        Some(&vec![85.into(), 99.into()])
    );
}

#[tokio::test]
async fn dollar_without_an_array_match_fails_and_changes_nothing() {
    let engine = seeded().await;
    let before = get(&engine, 1).await;
    let reply = assert_ok(
        update(
            &engine,
            doc! {"q": {"_id": 1}, "u": {"$set": {"grades.$": 0}}},
        )
        .await,
    );
    let errors = reply.get_array("writeErrors").expect("a write error");
    let error = errors[0].as_document().expect("a document");
    assert_eq!(error.get_i32("code").ok(), Some(2), "{reply}");
    assert_eq!(
        error.get_str("errmsg").ok(),
        Some("The positional operator did not find the match needed from the query.")
    );
    assert_eq!(get(&engine, 1).await, before);

    let reply = assert_ok(
        update(
            &engine,
            doc! {"q": {"_id": 3, "grades": 1}, "u": {"$set": {"grades.$": 0}}, "upsert": true},
        )
        .await,
    );
    assert!(
        reply.get_array("writeErrors").is_ok(),
        "an upsert has no position: {reply}"
    );
    assert!(
        find_all(&engine, "db", "c", doc! {"_id": 3})
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn array_filters_select_the_elements_an_identifier_updates() {
    let engine = seeded().await;
    assert_ok(
        update(
            &engine,
            doc! {"q": {"_id": 1}, "u": {"$set": {"grades.$[high]": 100}}, "arrayFilters": [{"high": {"$gte": 85}}]},
        )
        .await,
    );
    assert_eq!(
        get(&engine, 1).await.get_array("grades").ok(),
        Some(&vec![80.into(), 100.into(), 100.into()])
    );
    let reply = assert_ok(
        update(
            &engine,
            doc! {
                "q": {},
                "u": {"$inc": {"items.$[b].qty": 1, "items.$[a].qty": -1}},
                "arrayFilters": [{"b.sku": "b"}, {"a.sku": "a"}],
                "multi": true,
            },
        )
        .await,
    );
    assert_eq!(reply.get_i32("nModified").ok(), Some(2), "{reply}");
    assert_eq!(
        get(&engine, 2).await.get_array("items").ok(),
        Some(&vec![
            doc! {"sku": "b", "qty": 3}.into(),
            doc! {"sku": "a", "qty": 6}.into()
        ])
    );

    let reply = run_ok(
        &engine,
        "db",
        doc! {
            "findAndModify": "c", "query": {"_id": 2},
            "update": {"$set": {"grades.$[g]": 0}}, "arrayFilters": [{"g": {"$lt": 90}}],
            "new": true,
        },
    )
    .await;
    let value = reply.get_document("value").expect("the new document");
    assert_eq!(
        value.get_array("grades").ok(),
        Some(&vec![0.into(), 100.into()])
    );
}

#[tokio::test]
async fn malformed_array_filters_are_refused_with_mongods_errors() {
    let engine = seeded().await;
    let statement_error = |reply: &Document| -> (i32, String) {
        let error = reply
            .get_array("writeErrors")
            .ok()
            .and_then(|errors| errors.first()?.as_document().cloned())
            .unwrap_or_else(|| panic!("a write error: {reply}"));
        (
            error.get_i32("code").unwrap_or(0),
            error.get_str("errmsg").unwrap_or("").to_owned(),
        )
    };
    let reply = update(
        &engine,
        doc! {"q": {"_id": 1}, "u": {"$set": {"a.$[i]": 5}}, "arrayFilters": [{"i": 0}, {"j": 0}]},
    )
    .await;
    assert_eq!(
        statement_error(&reply),
        (
            9,
            "The array filter for identifier 'j' was not used in the update { $set: { a.$[i]: 5 } }"
                .to_owned()
        )
    );
    let reply = update(
        &engine,
        doc! {"q": {"_id": 1}, "u": {"$set": {"a.$[i]": 5}}},
    )
    .await;
    assert_eq!(
        statement_error(&reply),
        (
            2,
            "No array filter found for identifier 'i' in path 'a.$[i]'".to_owned()
        )
    );
    let reply = update(
        &engine,
        doc! {"q": {"_id": 1}, "u": {"$set": {"missing.$[i]": 5}}, "arrayFilters": [{"i": 0}]},
    )
    .await;
    assert_eq!(
        statement_error(&reply),
        (
            2,
            "The path 'missing' must exist in the document in order to apply array updates."
                .to_owned()
        )
    );
    let reply = update(
        &engine,
        doc! {"q": {"_id": 1}, "u": {"$set": {"a.$[i]": 5}}, "arrayFilters": {"i": 0}},
    )
    .await;
    assert_eq!(code_name(&reply), Some("TypeMismatch"), "{reply}");
    let reply = run(
        &engine,
        "db",
        doc! {"findAndModify": "c", "query": {"_id": 1}, "remove": true, "arrayFilters": [{"i": 0}]},
    )
    .await;
    assert_eq!(
        reply.get_str("errmsg").ok(),
        Some("Cannot specify arrayFilters and remove=true")
    );
    assert_eq!(
        get(&engine, 1).await.get_array("grades").map(Vec::len).ok(),
        Some(3)
    );
}

#[tokio::test]
async fn a_positional_projection_keeps_the_matched_element() {
    let engine = seeded().await;
    let found = first_batch(&run_ok(
            &engine,
            "db",
            doc! {"find": "c", "filter": {"grades": {"$gte": 85}}, "projection": {"grades.$": 1}, "sort": {"_id": 1}},
        ).await);
    assert_eq!(
        found,
        [
            doc! {"_id": 1, "grades": [85]},
            doc! {"_id": 2, "grades": [85]}
        ]
    );
    let found = first_batch(&run_ok(
            &engine,
            "db",
            doc! {"find": "c", "filter": {"_id": 2, "items.sku": "a"}, "projection": {"items.$": 1, "_id": 0}},
        ).await);
    assert_eq!(found, [doc! {"items": [{"sku": "a", "qty": 7}]}]);

    let reply = run(
        &engine,
        "db",
        doc! {"find": "c", "filter": {"_id": 1}, "projection": {"grades.$": 1}},
    )
    .await;
    assert_eq!(reply.get_i32("code").ok(), Some(51246), "{reply}");
    for (projection, code) in [
        (doc! {"a.$.b": 1}, 31394),
        (doc! {"a.$": 1, "b.$": 1}, 31276),
        (doc! {"a.$": 0}, 31395),
    ] {
        let reply = run(
            &engine,
            "db",
            doc! {"find": "c", "filter": {"a": 1}, "projection": projection.clone()},
        )
        .await;
        assert_eq!(
            reply.get_i32("code").ok(),
            Some(code),
            "{projection}: {reply}"
        );
    }
}

#[tokio::test]
async fn find_and_modify_projects_positionally_or_changes_nothing() {
    let engine = seeded().await;
    let reply = run_ok(
            &engine,
            "db",
            doc! {"findAndModify": "c", "query": {"_id": 1, "grades": 90}, "update": {"$inc": {"n": 1}}, "fields": {"grades.$": 1}},
        ).await;
    assert_eq!(
        reply.get_document("value").ok(),
        Some(&doc! {"_id": 1, "grades": [90]})
    );
    let before = get(&engine, 2).await;
    let reply = run(
        &engine,
        "db",
        doc! {"findAndModify": "c", "query": {"_id": 2}, "update": {"$inc": {"n": 1}}, "fields": {"grades.$": 1}},
    )
    .await;
    assert_eq!(reply.get_i32("code").ok(), Some(51246), "{reply}");
    assert_eq!(
        get(&engine, 2).await,
        before,
        "the failed command wrote nothing"
    );
}
