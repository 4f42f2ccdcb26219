//! The CRUD, aggregation and index operations of `Collection`, through the public API.

use bson::{Bson, Document, doc};
use causeway::action::{IndexModel, ReturnDocument};
use causeway::options::WriteConcern;
use causeway::{Client, Collection, ErrorKind};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    #[serde(rename = "_id")]
    id: i32,
    sku: String,
    qty: i32,
}

fn item(id: i32, sku: &str, qty: i32) -> Item {
    Item {
        id,
        sku: sku.to_owned(),
        qty,
    }
}

/// A fresh embedded client and a collection of `n` documents `{_id: i, i, even}`.
async fn numbers(n: i32) -> (Client, Collection<Document>) {
    let client = Client::embedded();
    let coll = client.database("test").collection::<Document>("numbers");
    if n > 0 {
        coll.insert_many((0..n).map(|i| doc! {"_id": i, "i": i, "even": i % 2 == 0}))
            .await
            .expect("insert");
    }
    (client, coll)
}

/// A fresh embedded client and a typed collection of three items.
async fn items() -> (Client, Collection<Item>) {
    let client = Client::embedded();
    let coll = client.database("test").collection::<Item>("items");
    coll.insert_many([item(1, "a", 5), item(2, "b", 7), item(3, "c", 9)])
        .await
        .expect("insert");
    (client, coll)
}

/// All documents matching `filter`, by `_id`.
async fn all<T>(coll: &Collection<T>, filter: Document) -> Vec<T>
where
    T: Serialize + serde::de::DeserializeOwned + Send + Sync,
{
    coll.find(filter)
        .sort(doc! {"_id": 1})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("cursor")
}

fn is_invalid_argument(result: Result<impl std::fmt::Debug, causeway::Error>) -> bool {
    matches!(
        result.map_err(|e| e.kind().clone()),
        Err(ErrorKind::InvalidArgument { .. })
    )
}

#[tokio::test]
async fn update_one_changes_only_the_first_match() {
    let (_client, coll) = numbers(6).await;
    let result = coll
        .update_one(doc! {"even": true}, doc! {"$set": {"tag": "x"}})
        .await
        .expect("update");
    assert_eq!((result.matched_count, result.modified_count), (1, 1));
    assert_eq!(result.upserted_id, None);
    assert_eq!(all(&coll, doc! {"tag": "x"}).await.len(), 1);

    let none = coll
        .update_one(doc! {"i": 99}, doc! {"$set": {"tag": "y"}})
        .await
        .expect("update");
    assert_eq!((none.matched_count, none.modified_count), (0, 0));
    assert_eq!(all(&coll, doc! {}).await.len(), 6);
}

#[tokio::test]
async fn update_many_changes_every_match_and_counts_real_changes() {
    let (_client, coll) = numbers(6).await;
    let result = coll
        .update_many(doc! {"even": true}, doc! {"$set": {"tag": "x"}})
        .comment("tag the evens")
        .await
        .expect("update");
    assert_eq!((result.matched_count, result.modified_count), (3, 3));
    let again = coll
        .update_many(doc! {"i": {"$lt": 4}}, doc! {"$set": {"tag": "x"}})
        .await
        .expect("update");
    // 0 and 2 already carry the tag.
    assert_eq!((again.matched_count, again.modified_count), (4, 2));
}

#[tokio::test]
async fn updates_upsert_when_nothing_matches() {
    let (_client, coll) = numbers(0).await;
    let result = coll
        .update_one(doc! {"sku": "abc"}, doc! {"$inc": {"qty": 5}})
        .upsert(true)
        .await
        .expect("upsert");
    assert_eq!((result.matched_count, result.modified_count), (0, 0));
    let id = result.upserted_id.expect("an upserted _id");
    assert!(matches!(id, Bson::ObjectId(_)));
    assert_eq!(
        all(&coll, doc! {}).await,
        vec![doc! {"_id": id, "sku": "abc", "qty": 5}]
    );

    let many = coll
        .update_many(doc! {"_id": 7}, doc! {"$set": {"qty": 1}})
        .upsert(true)
        .await
        .expect("upsert");
    assert_eq!(many.upserted_id, Some(Bson::Int32(7)));

    // The second time the document exists: no upsert.
    let matched = coll
        .update_one(doc! {"sku": "abc"}, doc! {"$inc": {"qty": 5}})
        .upsert(true)
        .await
        .expect("update");
    assert_eq!(
        (
            matched.matched_count,
            matched.modified_count,
            matched.upserted_id
        ),
        (1, 1, None)
    );
}

#[tokio::test]
async fn replace_one_replaces_typed_documents_and_upserts() {
    let (_client, coll) = items().await;
    let result = coll
        .replace_one(doc! {"sku": "b"}, item(2, "bb", 70))
        .await
        .expect("replace");
    assert_eq!((result.matched_count, result.modified_count), (1, 1));
    assert_eq!(
        coll.find_one(doc! {"_id": 2}).await.expect("find"),
        Some(item(2, "bb", 70))
    );

    let missing = coll
        .replace_one(doc! {"sku": "z"}, item(9, "z", 1))
        .await
        .expect("replace");
    assert_eq!(missing.matched_count, 0);
    let replacement = item(9, "z", 1);
    let upserted = coll
        .replace_one(doc! {"sku": "z"}, &replacement)
        .upsert(true)
        .await
        .expect("upsert");
    assert_eq!(upserted.upserted_id, Some(Bson::Int32(9)));
    assert_eq!(all(&coll, doc! {}).await.len(), 4);
}

#[tokio::test]
async fn deletes_one_or_many() {
    let (_client, coll) = numbers(10).await;
    let one = coll.delete_one(doc! {"even": true}).await.expect("delete");
    assert_eq!(one.deleted_count, 1);
    let many = coll.delete_many(doc! {"even": true}).await.expect("delete");
    assert_eq!(many.deleted_count, 4);
    let none = coll.delete_many(doc! {"even": true}).await.expect("delete");
    assert_eq!(none.deleted_count, 0);
    assert_eq!(all(&coll, doc! {}).await.len(), 5);
    let rest = coll
        .delete_many(doc! {})
        .hint(doc! {"_id": 1})
        .await
        .expect("delete");
    assert_eq!(rest.deleted_count, 5);
}

#[tokio::test]
async fn unacknowledged_writes_report_nothing_but_apply() {
    let (_client, coll) = numbers(4).await;
    let result = coll
        .update_many(doc! {}, doc! {"$set": {"seen": true}})
        .write_concern(WriteConcern::unacknowledged())
        .await
        .expect("update");
    assert_eq!((result.matched_count, result.modified_count), (0, 0));
    let deleted = coll
        .delete_one(doc! {"i": 0})
        .write_concern(WriteConcern::unacknowledged())
        .await
        .expect("delete");
    assert_eq!(deleted.deleted_count, 0);
    assert_eq!(all(&coll, doc! {"seen": true}).await.len(), 3);
}

#[tokio::test]
async fn find_one_and_update_returns_the_document_before_or_after() {
    let (_client, coll) = numbers(5).await;
    let before = coll
        .find_one_and_update(doc! {"even": true}, doc! {"$inc": {"i": 100}})
        .sort(doc! {"i": -1})
        .await
        .expect("find and modify");
    assert_eq!(before, Some(doc! {"_id": 4, "i": 4, "even": true}));

    let after = coll
        .find_one_and_update(doc! {"_id": 4}, doc! {"$inc": {"i": 100}})
        .return_document(ReturnDocument::After)
        .projection(doc! {"i": 1, "_id": 0})
        .await
        .expect("find and modify");
    assert_eq!(after, Some(doc! {"i": 204}));

    let none = coll
        .find_one_and_update(doc! {"_id": 99}, doc! {"$set": {"i": 0}})
        .await
        .expect("find and modify");
    assert_eq!(none, None);

    // An upsert returns nothing before, the new document after.
    let upserted_before = coll
        .find_one_and_update(doc! {"_id": 50}, doc! {"$set": {"i": 50}})
        .upsert(true)
        .await
        .expect("upsert");
    assert_eq!(upserted_before, None);
    let upserted_after = coll
        .find_one_and_update(doc! {"_id": 60}, doc! {"$set": {"i": 60}})
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await
        .expect("upsert");
    assert_eq!(upserted_after, Some(doc! {"_id": 60, "i": 60}));
    assert_eq!(all(&coll, doc! {}).await.len(), 7);
}

#[tokio::test]
async fn find_one_and_replace_round_trips_typed_documents() {
    let (_client, coll) = items().await;
    let before = coll
        .find_one_and_replace(doc! {"sku": "a"}, item(1, "aa", 50))
        .await
        .expect("replace");
    assert_eq!(before, Some(item(1, "a", 5)));
    let after = coll
        .find_one_and_replace(doc! {"sku": "aa"}, item(1, "aaa", 500))
        .return_document(ReturnDocument::After)
        .await
        .expect("replace");
    assert_eq!(after, Some(item(1, "aaa", 500)));
    let upserted = coll
        .find_one_and_replace(doc! {"_id": 4}, item(4, "d", 1))
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await
        .expect("upsert");
    assert_eq!(upserted, Some(item(4, "d", 1)));
}

#[tokio::test]
async fn find_one_and_delete_removes_the_first_in_sort_order() {
    let (_client, coll) = items().await;
    let deleted = coll
        .find_one_and_delete(doc! {})
        .sort(doc! {"qty": -1})
        .await
        .expect("delete");
    assert_eq!(deleted, Some(item(3, "c", 9)));
    assert_eq!(
        all(&coll, doc! {}).await,
        vec![item(1, "a", 5), item(2, "b", 7)]
    );
    let none = coll
        .find_one_and_delete(doc! {"sku": "c"})
        .await
        .expect("delete");
    assert_eq!(none, None);
}

#[tokio::test]
async fn count_documents_counts_matches_with_skip_and_limit() {
    let (_client, coll) = numbers(20).await;
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 20);
    assert_eq!(
        coll.count_documents(doc! {"even": true})
            .await
            .expect("count"),
        10
    );
    assert_eq!(
        coll.count_documents(doc! {"even": true})
            .skip(3)
            .await
            .expect("count"),
        7
    );
    assert_eq!(
        coll.count_documents(doc! {})
            .skip(5)
            .limit(10)
            .await
            .expect("count"),
        10
    );
    assert_eq!(
        coll.count_documents(doc! {})
            .skip(15)
            .limit(10)
            .await
            .expect("count"),
        5
    );
    assert_eq!(
        coll.count_documents(doc! {"i": 99}).await.expect("count"),
        0
    );
}

#[tokio::test]
async fn estimated_document_count_counts_the_collection() {
    let (client, coll) = numbers(12).await;
    assert_eq!(coll.estimated_document_count().await.expect("count"), 12);
    let missing = client.database("test").collection::<Document>("missing");
    assert_eq!(missing.estimated_document_count().await.expect("count"), 0);
}

#[tokio::test]
async fn distinct_unwinds_arrays_and_filters() {
    let client = Client::embedded();
    let coll = client.database("test").collection::<Document>("tags");
    coll.insert_many([
        doc! {"tags": ["b", "a"], "n": {"k": 1}, "keep": true},
        doc! {"tags": "c", "n": {"k": 2}, "keep": true},
        doc! {"tags": ["a", 1], "n": {"k": 1}, "keep": false},
    ])
    .await
    .expect("insert");
    let tags = coll.distinct("tags", doc! {}).await.expect("distinct");
    assert_eq!(
        tags,
        vec![
            Bson::Int32(1),
            Bson::from("a"),
            Bson::from("b"),
            Bson::from("c")
        ]
    );
    let kept = coll
        .distinct("tags", doc! {"keep": true})
        .await
        .expect("distinct");
    assert_eq!(
        kept,
        vec![Bson::from("a"), Bson::from("b"), Bson::from("c")]
    );
    let nested = coll.distinct("n.k", doc! {}).await.expect("distinct");
    assert_eq!(nested, vec![Bson::Int32(1), Bson::Int32(2)]);
    let missing = coll.distinct("nope", doc! {}).await.expect("distinct");
    assert!(missing.is_empty());
}

#[tokio::test]
async fn aggregate_streams_results_over_several_batches() {
    let (_client, coll) = numbers(250).await;
    let cursor = coll
        .aggregate([doc! {"$match": {"even": true}}, doc! {"$sort": {"i": -1}}])
        .batch_size(40)
        .await
        .expect("aggregate");
    assert!(cursor.has_more_batches());
    let results: Vec<Document> = cursor.try_collect().await.expect("cursor");
    assert_eq!(results.len(), 125);
    assert_eq!(results[0].get_i32("i").ok(), Some(248));
    assert_eq!(results[124].get_i32("i").ok(), Some(0));

    let groups: Vec<Document> = coll
        .aggregate([
            doc! {"$group": {"_id": "$even", "n": {"$sum": 1}}},
            doc! {"$sort": {"_id": 1}},
        ])
        .await
        .expect("aggregate")
        .try_collect()
        .await
        .expect("cursor");
    assert_eq!(
        groups,
        vec![doc! {"_id": false, "n": 125}, doc! {"_id": true, "n": 125}]
    );
}

#[tokio::test]
async fn reads_in_a_transaction_see_its_writes() {
    let (client, coll) = numbers(10).await;
    let mut session = client.start_session().await.expect("session");
    let txn = session.start_transaction().await.expect("transaction");
    let inside = txn.collection(&coll);
    inside
        .delete_many(doc! {"even": true})
        .await
        .expect("delete");
    assert_eq!(inside.count_documents(doc! {}).await.expect("count"), 5);
    let odd: Vec<Document> = inside
        .aggregate([doc! {"$match": {}}, doc! {"$sort": {"i": 1}}])
        .batch_size(2)
        .await
        .expect("aggregate")
        .try_collect()
        .await
        .expect("cursor");
    assert_eq!(odd.len(), 5);
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 10);
    txn.commit().await.expect("commit");
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 5);
}

#[tokio::test]
async fn unique_index_refuses_duplicates() {
    let (_client, coll) = items().await;
    let created = coll
        .create_index(IndexModel::new(doc! {"sku": 1, "qty": -1}).unique(true))
        .await
        .expect("create index");
    assert_eq!(created.index_name, "sku_1_qty_-1");
    // The same index again is no change.
    coll.create_index(IndexModel::new(doc! {"sku": 1, "qty": -1}).unique(true))
        .await
        .expect("create index again");
    let named = coll
        .create_index(IndexModel::new(doc! {"qty": 1}).name("by_qty"))
        .await
        .expect("create index");
    assert_eq!(named.index_name, "by_qty");

    let duplicate = coll
        .insert_one(item(10, "a", 5))
        .await
        .expect_err("a duplicate key");
    assert_eq!(duplicate.code(), Some(11000));
    coll.insert_one(item(11, "a", 6))
        .await
        .expect("a different key");
    let conflicting = coll
        .update_one(doc! {"_id": 11}, doc! {"$set": {"qty": 5}})
        .await
        .expect_err("a duplicate key");
    assert_eq!(conflicting.code(), Some(11000));
}

#[tokio::test]
async fn drop_removes_the_collection_and_tolerates_a_missing_one() {
    let (client, coll) = numbers(3).await;
    coll.create_index(IndexModel::new(doc! {"i": 1}).unique(true))
        .await
        .expect("create index");
    coll.drop().await.expect("drop");
    let db = client.database("test");
    assert!(
        !db.list_collection_names()
            .await
            .expect("list")
            .contains(&"numbers".to_owned())
    );
    assert!(all(&coll, doc! {}).await.is_empty());
    coll.drop().await.expect("drop a missing collection");
    // The unique index went with it.
    coll.insert_many([doc! {"i": 1}, doc! {"i": 1}])
        .await
        .expect("insert");
}

#[tokio::test]
async fn invalid_updates_are_refused_before_sending() {
    let (_client, coll) = numbers(2).await;
    assert!(is_invalid_argument(
        coll.update_one(doc! {}, doc! {"i": 5}).await
    ));
    assert!(is_invalid_argument(coll.update_one(doc! {}, doc! {}).await));
    assert!(is_invalid_argument(
        coll.update_many(doc! {}, doc! {"$set": {"i": 5}, "i": 6})
            .upsert(true)
            .await
    ));
    assert!(is_invalid_argument(
        coll.find_one_and_update(doc! {}, doc! {"i": 5}).await
    ));
    assert!(is_invalid_argument(
        coll.replace_one(doc! {"_id": 9}, doc! {"$set": {"i": 5}})
            .upsert(true)
            .await
    ));
    assert!(is_invalid_argument(
        coll.find_one_and_replace(doc! {"_id": 9}, doc! {"$inc": {"i": 1}})
            .upsert(true)
            .await
    ));
    assert!(is_invalid_argument(
        coll.create_index(IndexModel::new(doc! {})).await
    ));
    // Nothing changed.
    assert_eq!(
        all(&coll, doc! {}).await,
        vec![
            doc! {"_id": 0, "i": 0, "even": true},
            doc! {"_id": 1, "i": 1, "even": false}
        ]
    );
}

#[tokio::test]
async fn writes_in_a_transaction_are_invisible_outside_until_commit() {
    let (client, coll) = items().await;
    let mut session = client.start_session().await.expect("session");
    let txn = session.start_transaction().await.expect("transaction");
    let inside = txn.collection(&coll);
    let updated = inside
        .update_many(doc! {}, doc! {"$inc": {"qty": 1}})
        .await
        .expect("update");
    assert_eq!(updated.modified_count, 3);
    inside
        .replace_one(doc! {"_id": 1}, item(1, "x", 0))
        .await
        .expect("replace");
    let deleted = inside.delete_one(doc! {"_id": 2}).await.expect("delete");
    assert_eq!(deleted.deleted_count, 1);
    let taken = inside
        .find_one_and_delete(doc! {"_id": 3})
        .await
        .expect("find and delete");
    assert_eq!(taken, Some(item(3, "c", 10)));
    inside
        .update_one(doc! {"_id": 4}, doc! {"$set": {"sku": "d", "qty": 1}})
        .upsert(true)
        .await
        .expect("upsert");
    let skus = inside.distinct("sku", doc! {}).await.expect("distinct");
    assert_eq!(skus, vec![Bson::from("d"), Bson::from("x")]);

    // Outside the transaction nothing changed yet.
    assert_eq!(
        all(&coll, doc! {}).await,
        vec![item(1, "a", 5), item(2, "b", 7), item(3, "c", 9)]
    );
    let outside = coll.distinct("sku", doc! {}).await.expect("distinct");
    assert_eq!(outside.len(), 3);

    txn.commit().await.expect("commit");
    assert_eq!(
        all(&coll, doc! {}).await,
        vec![item(1, "x", 0), item(4, "d", 1)]
    );
}

#[tokio::test]
async fn an_aborted_transaction_leaves_nothing_behind() {
    let (client, coll) = items().await;
    let mut session = client.start_session().await.expect("session");
    let txn = session.start_transaction().await.expect("transaction");
    txn.collection(&coll)
        .find_one_and_update(doc! {"_id": 1}, doc! {"$set": {"qty": 0}})
        .await
        .expect("update");
    txn.collection(&coll)
        .delete_many(doc! {})
        .await
        .expect("delete");
    txn.abort().await.expect("abort");
    assert_eq!(all(&coll, doc! {}).await.len(), 3);
    assert_eq!(
        coll.find_one(doc! {"_id": 1}).await.expect("find"),
        Some(item(1, "a", 5))
    );
}

#[tokio::test]
async fn operations_take_an_explicit_session() {
    let (client, coll) = numbers(4).await;
    let mut session = client.start_session().await.expect("session");
    coll.update_many(doc! {}, doc! {"$set": {"s": 1}})
        .session(&mut session)
        .await
        .expect("update");
    let values = coll
        .distinct("s", doc! {})
        .session(&mut session)
        .await
        .expect("distinct");
    assert_eq!(values, vec![Bson::Int32(1)]);
    let count = coll
        .estimated_document_count()
        .session(&mut session)
        .await
        .expect("count");
    assert_eq!(count, 4);
    coll.delete_many(doc! {})
        .session(&mut session)
        .await
        .expect("delete");
    assert_eq!(
        coll.estimated_document_count()
            .session(&mut session)
            .await
            .expect("count"),
        0
    );
}

#[tokio::test]
async fn positional_updates_change_the_matched_and_the_filtered_elements() {
    let client = Client::embedded();
    let carts = client.database("test").collection::<Document>("carts");
    carts
        .insert_one(doc! {"_id": 1, "items": [{"sku": "a", "qty": 0}, {"sku": "b", "qty": 3}, {"sku": "c", "qty": 0}]})
        .await
        .expect("insert");
    carts
        .update_one(
            doc! {"_id": 1, "items.sku": "b"},
            doc! {"$inc": {"items.$.qty": 1}},
        )
        .await
        .expect("the matched element");
    let after = carts
        .find_one_and_update(doc! {"_id": 1}, doc! {"$set": {"items.$[empty].qty": 9}})
        .array_filters([doc! {"empty.qty": 0}])
        .return_document(ReturnDocument::After)
        .await
        .expect("the filtered elements")
        .expect("the cart");
    let quantities: Vec<i32> = after
        .get_array("items")
        .expect("items")
        .iter()
        .filter_map(|i| i.as_document()?.get_i32("qty").ok())
        .collect();
    assert_eq!(quantities, [9, 4, 9]);

    let unused = carts
        .update_one(doc! {"_id": 1}, doc! {"$set": {"items.0.qty": 1}})
        .array_filters([doc! {"x": 0}])
        .await
        .expect_err("an unused array filter");
    assert_eq!(unused.code(), Some(9), "{unused}");
}

#[tokio::test]
async fn a_document_without_an_id_gets_one_first_and_is_told_it() {
    let client = Client::embedded();
    let db = client.database("test");
    let coll = db.collection::<Document>("orders");
    let original = doc! {"sku": "abc123", "qty": 100, "tags": ["a", {"b": 1}]};
    let inserted = coll.insert_one(&original).await.expect("insert");
    let Bson::ObjectId(_) = inserted.inserted_id else {
        panic!("an ObjectId was expected, got {}", inserted.inserted_id)
    };
    let stored = all(&coll, doc! {}).await;
    let mut expected = doc! {"_id": inserted.inserted_id.clone()};
    expected.extend(original.clone());
    assert_eq!(stored, vec![expected]);
    assert_eq!(stored[0].keys().next().map(String::as_str), Some("_id"));
    // The caller's document is left as it was.
    assert!(!original.contains_key("_id"));

    // A typed value without `_id` takes the same way through serde.
    #[derive(Serialize, Deserialize)]
    struct Order {
        sku: String,
    }
    let typed = db.collection::<Order>("typed");
    let many = typed
        .insert_many([Order { sku: "a".into() }, Order { sku: "b".into() }])
        .await
        .expect("insert");
    let raw = all(&db.collection::<Document>("typed"), doc! {}).await;
    assert_eq!(raw.len(), 2);
    for (position, doc) in raw.iter().enumerate() {
        assert_eq!(doc.keys().next().map(String::as_str), Some("_id"), "{doc}");
        assert_eq!(
            Some(doc.get("_id").expect("_id")),
            many.inserted_ids.get(&position)
        );
    }
}
