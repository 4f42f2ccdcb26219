//! `Decimal128` values compare by their exact values, as in `mongod`: never rounded to a
//! double, in filters, sorts, `_id`s, unique indexes, groups and `distinct`.

mod common;

use bson::{Bson, Decimal128, Document, doc};
use causeway_engine::Engine;
use common::*;

/// Inserts `documents` into `db.c` and returns the reply.
async fn insert(engine: &Engine, documents: Vec<Document>) -> Document {
    run(engine, "db", doc! {"insert": "c", "documents": documents}).await
}

fn dec(text: &str) -> Bson {
    Bson::Decimal128(text.parse::<Decimal128>().expect("a valid decimal"))
}

/// Two decimals that round to the same double.
const NEAR: [&str; 2] = [
    "1234567890123456789012.123456789012",
    "1234567890123456789012.123456789013",
];

#[tokio::test]
async fn a_decimal_and_the_nearest_double_are_different_ids() {
    let engine = Engine::new();
    let reply = assert_ok(
        insert(
            &engine,
            vec![
                doc! {"_id": dec("0.1")},
                doc! {"_id": 0.1},
                doc! {"_id": dec("0.10")},
            ],
        )
        .await,
    );
    // The third is the first again: equal values, whatever their spelling.
    assert_eq!(reply.get_i32("n").ok(), Some(2), "{reply}");
    let errors = reply.get_array("writeErrors").expect("one write error");
    assert_eq!(errors.len(), 1, "{reply}");
    assert_eq!(find_all(&engine, "db", "c", doc! {}).await.len(), 2);
}

#[tokio::test]
async fn filters_compare_decimals_with_doubles_exactly() {
    let engine = Engine::new();
    assert_ok(
        insert(
            &engine,
            vec![
                doc! {"_id": 1, "a": dec("0.1")},
                doc! {"_id": 2, "a": 0.1},
                doc! {"_id": 3, "a": dec("5.00")},
            ],
        )
        .await,
    );
    let ids = |docs: Vec<Document>| -> Vec<i32> {
        docs.iter().filter_map(|d| d.get_i32("_id").ok()).collect()
    };
    assert_eq!(
        ids(find_all(&engine, "db", "c", doc! {"a": 0.1}).await),
        [2]
    );
    assert_eq!(
        ids(find_all(&engine, "db", "c", doc! {"a": dec("0.1")}).await),
        [1]
    );
    assert_eq!(
        ids(find_all(&engine, "db", "c", doc! {"a": {"$lt": 0.1}}).await),
        [1]
    );
    assert_eq!(
        ids(find_all(&engine, "db", "c", doc! {"a": 5}).await),
        [3],
        "5.00 equals the integer 5"
    );
}

#[tokio::test]
async fn a_unique_index_holds_decimals_that_share_a_double() {
    let engine = Engine::new();
    run_ok(
            &engine,
            "db",
            doc! {"createIndexes": "c", "indexes": [{"key": {"price": 1}, "name": "price_1", "unique": true}]},
        ).await;
    let reply = assert_ok(
        insert(
            &engine,
            vec![doc! {"price": dec(NEAR[0])}, doc! {"price": dec(NEAR[1])}],
        )
        .await,
    );
    assert_eq!(reply.get_i32("n").ok(), Some(2), "{reply}");
    let found = find_all(&engine, "db", "c", doc! {"price": dec(NEAR[1])}).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get("price"), Some(&dec(NEAR[1])));
}

#[tokio::test]
async fn sorts_groups_and_distinct_keep_close_decimals_apart() {
    let engine = Engine::new();
    assert_ok(
        insert(
            &engine,
            vec![
                doc! {"_id": 1, "v": dec(NEAR[1])},
                doc! {"_id": 2, "v": dec(NEAR[0])},
                doc! {"_id": 3, "v": dec(NEAR[1])},
            ],
        )
        .await,
    );
    let sorted = first_batch(
        &run_ok(
            &engine,
            "db",
            doc! {"find": "c", "sort": {"v": 1, "_id": 1}},
        )
        .await,
    );
    let order: Vec<i32> = sorted
        .iter()
        .filter_map(|d| d.get_i32("_id").ok())
        .collect();
    assert_eq!(order, [2, 1, 3]);

    let groups = first_batch(
        &run_ok(
            &engine,
            "db",
            doc! {"aggregate": "c", "pipeline": [
                {"$group": {"_id": "$v", "n": {"$sum": 1}}},
                {"$sort": {"_id": 1}},
            ], "cursor": {}},
        )
        .await,
    );
    let counts: Vec<i32> = groups.iter().filter_map(|g| g.get_i32("n").ok()).collect();
    assert_eq!(counts, [1, 2]);

    let distinct = run_ok(&engine, "db", doc! {"distinct": "c", "key": "v"}).await;
    assert_eq!(
        distinct.get_array("values").map(Vec::len).ok(),
        Some(2),
        "{distinct}"
    );
}

#[tokio::test]
async fn aggregation_arithmetic_on_decimals_is_exact() {
    let engine = Engine::new();
    assert_ok(
        insert(
            &engine,
            vec![
                doc! {"_id": 1, "g": 1, "v": dec("0.1")},
                doc! {"_id": 2, "g": 1, "v": dec("0.1")},
                doc! {"_id": 3, "g": 1, "v": dec("0.1")},
                doc! {"_id": 4, "g": 2, "v": dec("0.2"), "w": 5, "x": 1.5},
            ],
        )
        .await,
    );
    let groups = first_batch(
        &run_ok(
            &engine,
            "db",
            doc! {"aggregate": "c", "pipeline": [
                {"$group": {"_id": "$g", "sum": {"$sum": "$v"}, "avg": {"$avg": "$v"}}},
                {"$sort": {"_id": 1}},
            ], "cursor": {}},
        )
        .await,
    );
    assert_eq!(groups[0].get("sum"), Some(&dec("0.3")), "{groups:?}");
    assert_eq!(groups[0].get("avg"), Some(&dec("0.1")), "{groups:?}");

    let projected = first_batch(
        &run_ok(
            &engine,
            "db",
            doc! {"aggregate": "c", "pipeline": [
                {"$match": {"_id": 4}},
                {"$project": {
                    "add": {"$add": ["$w", "$x", "$v", dec("0.1")]},
                    "difference": {"$subtract": [dec("0.3"), "$v"]},
                    "product": {"$multiply": [dec("1.1"), dec("1.1")]},
                    "third": {"$divide": [dec("1"), 3]},
                    "abs": {"$abs": dec("-0.1")},
                    "mean": {"$avg": [dec("0.1"), dec("0.2")]},
                    "rounded": {"$round": [dec("1234567890123456789.123456789012345"), 2]},
                    "floor": {"$floor": dec("-2.5")},
                    "ceil": {"$ceil": dec("1234567890123456789.000000000000001")},
                }},
            ], "cursor": {}},
        )
        .await,
    );
    let got = &projected[0];
    // The double 1.5 (and the integer 5 with it) joins the decimals as a decimal of 15
    // significant digits, as `mongod` converts a double, hence the trailing zeros.
    assert_eq!(got.get("add"), Some(&dec("6.80000000000000")), "{got}");
    assert_eq!(got.get("difference"), Some(&dec("0.1")), "{got}");
    assert_eq!(got.get("product"), Some(&dec("1.21")), "{got}");
    assert_eq!(
        got.get("third"),
        Some(&dec("0.3333333333333333333333333333333333")),
        "{got}"
    );
    assert_eq!(got.get("abs"), Some(&dec("0.1")), "{got}");
    assert_eq!(got.get("mean"), Some(&dec("0.15")), "{got}");
    assert_eq!(
        got.get("rounded"),
        Some(&dec("1234567890123456789.12")),
        "{got}"
    );
    assert_eq!(got.get("floor"), Some(&dec("-3")), "{got}");
    assert_eq!(got.get("ceil"), Some(&dec("1234567890123456790")), "{got}");
}
