//! `$group` and its accumulators.

use bson::{Document, doc};

use super::{parse_error, run};

fn group(spec: Document, input: Vec<Document>) -> Vec<Document> {
    run(vec![doc! {"$group": spec}], input)
}

fn sales() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "item": "a", "qty": 2, "price": 10.0},
        doc! {"_id": 2, "item": "b", "qty": 1, "price": 20.0},
        doc! {"_id": 3, "item": "a", "qty": 5},
        doc! {"_id": 4, "item": "c", "qty": "n/a", "price": null},
        doc! {"_id": 5, "item": "b", "qty": 3, "price": 5.0},
    ]
}

#[test]
fn groups_in_order_of_first_appearance() {
    let out = group(
        doc! {"_id": "$item", "n": {"$sum": 1}, "qty": {"$sum": "$qty"}, "count": {"$count": {}}},
        sales(),
    );
    assert_eq!(
        out,
        vec![
            doc! {"_id": "a", "n": 2, "qty": 7, "count": 2},
            doc! {"_id": "b", "n": 2, "qty": 4, "count": 2},
            doc! {"_id": "c", "n": 1, "qty": 0, "count": 1},
        ]
    );
    assert!(group(doc! {"_id": null, "n": {"$sum": 1}}, vec![]).is_empty());
}

#[test]
fn ids_are_constants_expressions_or_documents() {
    assert_eq!(
        group(doc! {"_id": null, "total": {"$sum": "$qty"}}, sales()),
        vec![doc! {"_id": null, "total": 11}]
    );
    assert_eq!(
        group(doc! {"_id": "$missing", "n": {"$sum": 1}}, sales()),
        vec![doc! {"_id": null, "n": 5}]
    );
    let out = group(doc! {"_id": {"item": "$item", "p": "$price"}}, sales());
    assert_eq!(out[2], doc! {"_id": {"item": "a"}});
    assert_eq!(out[3], doc! {"_id": {"item": "c", "p": null}});
    assert_eq!(out.len(), 5);
    // With one field, a missing value is null (and groups with null).
    let out = group(doc! {"_id": {"p": "$price"}, "n": {"$sum": 1}}, sales());
    assert_eq!(out[2], doc! {"_id": {"p": null}, "n": 2});
    let out = group(doc! {"_id": {"$mod": ["$_id", 2]}}, sales());
    assert_eq!(out, vec![doc! {"_id": 1}, doc! {"_id": 0}]);
}

#[test]
fn equal_numbers_share_a_group() {
    let input = vec![
        doc! {"k": 1, "v": 1},
        doc! {"k": 1.0, "v": 2},
        doc! {"k": 1_i64, "v": 3},
        doc! {"k": "1", "v": 4},
    ];
    assert_eq!(
        group(doc! {"_id": "$k", "vs": {"$push": "$v"}}, input),
        vec![
            doc! {"_id": 1, "vs": [1, 2, 3]},
            doc! {"_id": "1", "vs": [4]}
        ]
    );
}

#[test]
fn sum_and_avg_follow_numeric_types() {
    let input = vec![
        doc! {"v": i32::MAX},
        doc! {"v": 1},
        doc! {"v": "x"},
        doc! {"v": [5]},
    ];
    assert_eq!(
        group(
            doc! {"_id": null, "s": {"$sum": "$v"}, "a": {"$avg": "$v"}},
            input
        ),
        vec![doc! {"_id": null, "s": 2_147_483_648_i64, "a": 1_073_741_824.0}]
    );
    let doubles: Vec<Document> = (0..10).map(|_| doc! {"v": 0.1}).collect();
    assert_eq!(
        group(doc! {"_id": null, "s": {"$sum": "$v"}}, doubles),
        vec![doc! {"_id": null, "s": 1.0}]
    );
    assert_eq!(
        group(
            doc! {"_id": null, "a": {"$avg": "$nothing"}, "s": {"$sum": "$nothing"}},
            sales()
        ),
        vec![doc! {"_id": null, "a": null, "s": 0}]
    );
}

#[test]
fn min_and_max_ignore_null_and_missing() {
    assert_eq!(
        group(
            doc! {"_id": null, "lo": {"$min": "$price"}, "hi": {"$max": "$price"}, "q": {"$max": "$qty"}},
            sales()
        ),
        vec![doc! {"_id": null, "lo": 5.0, "hi": 20.0, "q": "n/a"}]
    );
    assert_eq!(
        group(doc! {"_id": null, "lo": {"$min": "$nothing"}}, sales()),
        vec![doc! {"_id": null, "lo": null}]
    );
}

#[test]
fn first_last_push_and_add_to_set() {
    let out = group(
        doc! {
            "_id": "$item",
            "first": {"$first": "$price"},
            "last": {"$last": "$price"},
            "prices": {"$push": "$price"},
            "qtys": {"$addToSet": "$qty"},
        },
        sales(),
    );
    assert_eq!(
        out[0],
        doc! {"_id": "a", "first": 10.0, "last": null, "prices": [10.0], "qtys": [2, 5]}
    );
    assert_eq!(
        out[2],
        doc! {"_id": "c", "first": null, "last": null, "prices": [null], "qtys": ["n/a"]}
    );
    let dupes = vec![
        doc! {"v": 1},
        doc! {"v": 1.0},
        doc! {"v": [1]},
        doc! {"v": [1]},
        doc! {},
    ];
    assert_eq!(
        group(doc! {"_id": null, "set": {"$addToSet": "$v"}}, dupes),
        vec![doc! {"_id": null, "set": [1, [1]]}]
    );
}

#[test]
fn group_specification_errors() {
    let code = |spec: Document| parse_error(vec![doc! {"$group": spec}]).code;
    assert_eq!(code(doc! {"n": {"$sum": 1}}), 15955);
    assert_eq!(code(doc! {"_id": null, "n": 1}), 40234);
    assert_eq!(code(doc! {"_id": null, "n": {"$sum": 1, "$avg": 1}}), 40238);
    assert_eq!(code(doc! {"_id": null, "n": {}}), 40234);
    assert_eq!(code(doc! {"_id": null, "n": {"a": 1}}), 40234);
    let error = parse_error(vec![doc! {"$group": {"_id": null, "n": {"$foo": 1}}}]);
    assert_eq!(
        (error.code, error.message.as_str()),
        (15952, "unknown group operator '$foo'")
    );
    assert_eq!(code(doc! {"_id": null, "n": {"$stdDevPop": "$a"}}), 2);
    assert_eq!(code(doc! {"_id": null, "n": {"$sum": [1, 2]}}), 40237);
    assert_eq!(code(doc! {"_id": null, "a.b": {"$sum": 1}}), 40235);
    assert_eq!(code(doc! {"_id": null, "$a": {"$sum": 1}}), 40236);
    assert_eq!(code(doc! {"_id": null, "n": {"$count": 1}}), 14);
    assert_eq!(code(doc! {"_id": null, "n": {"$sum": {"$bad": 1}}}), 168);
    assert_eq!(parse_error(vec![doc! {"$group": []}]).code, 15947);
}
