//! Properties: `$match` + `$count` agrees with filtering directly, and parsing and running
//! arbitrary stages never panics.

use bson::{Bson, Document, doc};
use proptest::prelude::*;
use proptest::sample::select;

use super::super::{Foreign, Pipeline};
use crate::query::Filter;

fn scalar() -> impl Strategy<Value = Bson> {
    prop_oneof![
        (-3i32..4).prop_map(Bson::Int32),
        prop_oneof![Just(i64::MAX), Just(-2i64), Just(7i64)].prop_map(Bson::Int64),
        select(vec![
            -1.5f64,
            0.0,
            -0.0,
            2.0,
            0.5,
            f64::NAN,
            f64::INFINITY,
            1e300
        ])
        .prop_map(Bson::Double),
        select(vec![
            "",
            "x",
            "y",
            "$a",
            "$b.c",
            "$a.0",
            "$$ROOT",
            "$$REMOVE",
            "$$CURRENT.a",
            "$$x",
            "%Y-%m-%d %H",
            "%",
            "$",
            "a.b",
            "+05:30",
            "UTC",
            "12",
        ])
        .prop_map(|s| Bson::String(s.to_owned())),
        Just(Bson::Null),
        any::<bool>().prop_map(Bson::Boolean),
        select(vec![-1i64, 0, 1_709_214_330_123, i64::MAX, i64::MIN])
            .prop_map(|ms| Bson::DateTime(bson::DateTime::from_millis(ms))),
    ]
}

const KEYS: &[&str] = &[
    "a",
    "b",
    "c",
    "_id",
    "path",
    "newRoot",
    "date",
    "format",
    "timezone",
    "onNull",
    "if",
    "then",
    "else",
    "includeArrayIndex",
    "preserveNullAndEmptyArrays",
    "$add",
    "$subtract",
    "$multiply",
    "$divide",
    "$mod",
    "$abs",
    "$ceil",
    "$floor",
    "$round",
    "$concat",
    "$toLower",
    "$toUpper",
    "$substrCP",
    "$strLenCP",
    "$eq",
    "$ne",
    "$gt",
    "$lt",
    "$cmp",
    "$and",
    "$or",
    "$not",
    "$cond",
    "$ifNull",
    "$in",
    "$size",
    "$arrayElemAt",
    "$first",
    "$last",
    "$isArray",
    "$type",
    "$toString",
    "$toInt",
    "$toLong",
    "$toDouble",
    "$max",
    "$min",
    "$sum",
    "$avg",
    "$push",
    "$addToSet",
    "$count",
    "$year",
    "$hour",
    "$isoWeek",
    "$dateToString",
    "$literal",
    "$foo",
    "$map",
    "$exists",
    "$gte",
    "a.b",
];

fn value() -> impl Strategy<Value = Bson> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            prop::collection::vec((select(KEYS), inner), 0..4).prop_map(|fields| {
                Bson::Document(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

const STAGES: &[&str] = &[
    "$match",
    "$project",
    "$addFields",
    "$set",
    "$unset",
    "$group",
    "$sort",
    "$limit",
    "$skip",
    "$count",
    "$unwind",
    "$replaceRoot",
    "$replaceWith",
    "$sortByCount",
    "$lookup",
    "$bogus",
];

fn stage() -> impl Strategy<Value = Bson> {
    (select(STAGES), value()).prop_map(|(name, spec)| {
        let mut stage = Document::new();
        stage.insert(name, spec);
        Bson::Document(stage)
    })
}

fn document() -> impl Strategy<Value = Document> {
    prop::collection::vec((select(vec!["a", "b", "c"]), value()), 0..4)
        .prop_map(|fields| fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn leaf_filter() -> impl Strategy<Value = Document> {
    let ops = vec![
        "", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$exists", "$type",
    ];
    (select(vec!["a", "b", "a.b"]), select(ops), scalar()).prop_map(|(field, op, value)| {
        let arg = match op {
            "" | "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte" => value,
            "$in" => Bson::Array(vec![value, Bson::Int32(1)]),
            "$exists" => Bson::Boolean(matches!(value, Bson::Boolean(true))),
            _ => Bson::String("number".to_owned()),
        };
        let mut spec = Document::new();
        if op.is_empty() {
            spec.insert(field, arg);
        } else {
            let mut ops = Document::new();
            ops.insert(op, arg);
            spec.insert(field, ops);
        }
        spec
    })
}

fn filter_spec() -> impl Strategy<Value = Document> {
    prop_oneof![
        leaf_filter(),
        prop::collection::vec(leaf_filter(), 1..3).prop_map(|branches| {
            doc! {"$or": branches.into_iter().map(Bson::Document).collect::<Vec<_>>()}
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn match_then_count_agrees_with_filtering(
        spec in filter_spec(),
        docs in prop::collection::vec(document(), 0..8),
    ) {
        let Ok(filter) = Filter::parse(&spec) else {
            return Ok(());
        };
        let expected = docs.iter().filter(|d| filter.matches(d)).count();
        let stages = [
            Bson::Document(doc! {"$match": spec}),
            Bson::Document(doc! {"$count": "n"}),
        ];
        let out = Pipeline::parse(&stages).expect("parses").run(docs, &Foreign::new()).expect("runs");
        if expected == 0 {
            prop_assert!(out.is_empty());
        } else {
            prop_assert_eq!(out, vec![doc! {"n": expected as i32}]);
        }
    }

    #[test]
    fn parse_and_run_never_panic(
        stages in prop::collection::vec(stage(), 1..4),
        docs in prop::collection::vec(document(), 0..5),
    ) {
        if let Ok(pipeline) = Pipeline::parse(&stages) {
            let _ = pipeline.run(docs, &Foreign::new());
        }
    }

    #[test]
    fn expressions_never_panic(expr in value(), doc in document()) {
        let stages = [
            Bson::Document(doc! {"$project": {"out": expr.clone()}}),
        ];
        if let Ok(pipeline) = Pipeline::parse(&stages) {
            let _ = pipeline.run(vec![doc.clone()], &Foreign::new());
        }
        let stages = [Bson::Document(doc! {"$group": {"_id": expr}})];
        if let Ok(pipeline) = Pipeline::parse(&stages) {
            let _ = pipeline.run(vec![doc], &Foreign::new());
        }
    }
}
