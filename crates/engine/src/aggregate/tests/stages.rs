//! Stages other than projections and `$group`, and pipeline-level parsing.

use bson::{Bson, Document, doc};

use super::{parse_error, pipeline, run, run_error};
use crate::aggregate::Foreign;

fn numbered(n: i32) -> Vec<Document> {
    (1..=n).map(|i| doc! {"_id": i, "v": i % 3}).collect()
}

fn ids(docs: &[Document]) -> Vec<i32> {
    docs.iter()
        .map(|d| d.get_i32("_id").expect("_id"))
        .collect()
}

#[test]
fn pipeline_documents_are_checked() {
    let error = parse_error(vec![doc! {"$foo": {}}]);
    assert_eq!(error.code, 40324);
    assert_eq!(error.message, "Unrecognized pipeline stage name: '$foo'");
    assert_eq!(parse_error(vec![doc! {"match": {}}]).code, 40324);
    let error = parse_error(vec![doc! {"$match": {}, "$limit": 1}]);
    assert_eq!(error.code, 40323);
    assert_eq!(
        error.message,
        "A pipeline stage specification object must contain exactly one field."
    );
    assert_eq!(parse_error(vec![doc! {}]).code, 40323);
    for stage in ["$out", "$merge", "$changeStream", "$bucket"] {
        let mut spec = Document::new();
        spec.insert(stage, Document::new());
        let error = parse_error(vec![spec]);
        assert_eq!(error.code, 2, "{stage}");
        assert!(
            error.message.contains("not supported by this engine"),
            "{error}"
        );
    }
    let error = match super::super::Pipeline::parse(&[Bson::Int32(1)]) {
        Ok(p) => panic!("parsed {p:?}"),
        Err(e) => e,
    };
    assert_eq!(error.code, 14);
}

#[test]
fn empty_pipeline_passes_documents_through() {
    assert_eq!(run(vec![], numbered(3)), numbered(3));
    assert!(pipeline(vec![]).leading_filter().is_none());
}

#[test]
fn match_filters_and_is_exposed_when_leading() {
    let p = pipeline(vec![doc! {"$match": {"v": 1}}, doc! {"$limit": 5}]);
    let filter = p.leading_filter().expect("leading $match");
    assert!(filter.matches(&doc! {"v": 1}));
    let out = p.run(numbered(7), &Foreign::new()).expect("runs");
    assert_eq!(ids(&out), vec![1, 4, 7]);
    assert!(
        pipeline(vec![doc! {"$limit": 1}, doc! {"$match": {}}])
            .leading_filter()
            .is_none()
    );
    assert_eq!(parse_error(vec![doc! {"$match": 1}]).code, 15959);
    assert_eq!(parse_error(vec![doc! {"$match": {"$bogus": 1}}]).code, 2);
}

#[test]
fn sort_is_stable_and_uses_the_query_order() {
    let input = vec![
        doc! {"_id": 1, "k": 2},
        doc! {"_id": 2},
        doc! {"_id": 3, "k": "a"},
        doc! {"_id": 4, "k": 2.0},
        doc! {"_id": 5, "k": null},
        doc! {"_id": 6, "k": [0, 9]},
    ];
    assert_eq!(
        ids(&run(vec![doc! {"$sort": {"k": 1}}], input.clone())),
        vec![2, 5, 6, 1, 4, 3]
    );
    assert_eq!(
        ids(&run(vec![doc! {"$sort": {"k": -1, "_id": 1}}], input)),
        vec![3, 6, 1, 4, 2, 5]
    );
    assert_eq!(parse_error(vec![doc! {"$sort": 1}]).code, 15973);
    assert_eq!(parse_error(vec![doc! {"$sort": {}}]).code, 15976);
    assert_eq!(parse_error(vec![doc! {"$sort": {"a": 2}}]).code, 15975);
    let parallel = vec![doc! {"a": [1, 2], "b": [3, 4]}];
    assert_eq!(
        run_error(vec![doc! {"$sort": {"a": 1, "b": 1}}], parallel).code,
        2
    );
}

#[test]
fn limit_and_skip() {
    assert_eq!(ids(&run(vec![doc! {"$limit": 2}], numbered(5))), vec![1, 2]);
    assert_eq!(
        ids(&run(vec![doc! {"$limit": 2.0}], numbered(5))),
        vec![1, 2]
    );
    assert_eq!(ids(&run(vec![doc! {"$skip": 3}], numbered(5))), vec![4, 5]);
    assert_eq!(
        ids(&run(vec![doc! {"$skip": 0_i64}], numbered(2))),
        vec![1, 2]
    );
    assert!(run(vec![doc! {"$skip": 9}], numbered(5)).is_empty());
    assert_eq!(
        ids(&run(
            vec![doc! {"$skip": 1}, doc! {"$limit": 2}],
            numbered(5)
        )),
        vec![2, 3]
    );
    let error = parse_error(vec![doc! {"$limit": 0}]);
    assert_eq!(
        (error.code, error.message.as_str()),
        (15958, "the limit must be positive")
    );
    let error = parse_error(vec![doc! {"$limit": -1}]);
    assert_eq!(error.code, 5_107_201);
    assert_eq!(
        error.message,
        "invalid argument to $limit stage: Expected a non-negative number in: $limit: -1"
    );
    let error = parse_error(vec![doc! {"$limit": "1"}]);
    assert_eq!(
        error.message,
        "invalid argument to $limit stage: Expected a number in: $limit: \"1\""
    );
    let error = parse_error(vec![doc! {"$limit": 1.5}]);
    assert_eq!(
        (error.code, error.message.as_str()),
        (
            5_107_201,
            "invalid argument to $limit stage: Expected an integer: $limit: 1.5"
        )
    );
    assert_eq!(parse_error(vec![doc! {"$limit": 1e300}]).code, 5_107_201);
    assert_eq!(parse_error(vec![doc! {"$skip": -1}]).code, 5_107_200);
    assert_eq!(parse_error(vec![doc! {"$skip": "1"}]).code, 5_107_200);
    assert_eq!(parse_error(vec![doc! {"$skip": 0.5}]).code, 5_107_200);
}

#[test]
fn count_outputs_one_document_or_none() {
    assert_eq!(
        run(vec![doc! {"$count": "n"}], numbered(4)),
        vec![doc! {"n": 4}]
    );
    assert!(run(vec![doc! {"$count": "n"}], vec![]).is_empty());
    assert_eq!(parse_error(vec![doc! {"$count": ""}]).code, 40157);
    assert_eq!(parse_error(vec![doc! {"$count": "_id"}]).code, 15948);
    assert_eq!(parse_error(vec![doc! {"$count": 1}]).code, 40156);
    assert_eq!(parse_error(vec![doc! {"$count": "$n"}]).code, 40158);
    assert_eq!(parse_error(vec![doc! {"$count": "a.b"}]).code, 40160);
}

#[test]
fn unwind_string_form() {
    let input = vec![
        doc! {"_id": 1, "a": [1, 2]},
        doc! {"_id": 2, "a": []},
        doc! {"_id": 3, "a": null},
        doc! {"_id": 4},
        doc! {"_id": 5, "a": "x"},
        doc! {"_id": 6, "a": [[3]]},
    ];
    assert_eq!(
        run(vec![doc! {"$unwind": "$a"}], input),
        vec![
            doc! {"_id": 1, "a": 1},
            doc! {"_id": 1, "a": 2},
            doc! {"_id": 5, "a": "x"},
            doc! {"_id": 6, "a": [3]},
        ]
    );
    let nested = vec![
        doc! {"_id": 1, "s": {"t": [1, 2], "u": 0}},
        doc! {"_id": 2, "s": [{"t": [1]}]},
    ];
    assert_eq!(
        run(vec![doc! {"$unwind": "$s.t"}], nested),
        vec![
            doc! {"_id": 1, "s": {"t": 1, "u": 0}},
            doc! {"_id": 1, "s": {"t": 2, "u": 0}}
        ]
    );
}

#[test]
fn unwind_document_form() {
    let input = vec![
        doc! {"_id": 1, "a": ["x", "y"]},
        doc! {"_id": 2, "a": []},
        doc! {"_id": 3, "a": null},
        doc! {"_id": 4},
        doc! {"_id": 5, "a": 7},
    ];
    let stage = doc! {"$unwind": {"path": "$a", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": true}};
    assert_eq!(
        run(vec![stage], input),
        vec![
            doc! {"_id": 1, "a": "x", "i": 0_i64},
            doc! {"_id": 1, "a": "y", "i": 1_i64},
            doc! {"_id": 2, "i": null},
            doc! {"_id": 3, "a": null, "i": null},
            doc! {"_id": 4, "i": null},
            doc! {"_id": 5, "a": 7, "i": null},
        ]
    );
}

#[test]
fn unwind_errors() {
    let code = |spec: Bson| parse_error(vec![doc! {"$unwind": spec}]).code;
    assert_eq!(code(Bson::String("a".into())), 28818);
    assert_eq!(code(Bson::String("$".into())), 28818);
    assert_eq!(code(Bson::Int32(1)), 15981);
    assert_eq!(code(Bson::Document(doc! {})), 28812);
    assert_eq!(code(Bson::Document(doc! {"path": 1})), 28808);
    assert_eq!(code(Bson::Document(doc! {"path": "$a", "x": 1})), 28811);
    assert_eq!(
        code(Bson::Document(
            doc! {"path": "$a", "includeArrayIndex": "$i"}
        )),
        28822
    );
    assert_eq!(
        code(Bson::Document(doc! {"path": "$a", "includeArrayIndex": 1})),
        28810
    );
    assert_eq!(
        code(Bson::Document(
            doc! {"path": "$a", "preserveNullAndEmptyArrays": 1}
        )),
        28809
    );
}

#[test]
fn replace_root_and_replace_with() {
    let input = vec![doc! {"_id": 1, "inner": {"x": 1}, "v": 2}];
    assert_eq!(
        run(
            vec![doc! {"$replaceRoot": {"newRoot": "$inner"}}],
            input.clone()
        ),
        vec![doc! {"x": 1}]
    );
    assert_eq!(
        run(
            vec![doc! {"$replaceWith": {"v": "$v", "copy": "$$ROOT.inner"}}],
            input.clone()
        ),
        vec![doc! {"v": 2, "copy": {"x": 1}}]
    );
    let error = run_error(
        vec![doc! {"$replaceRoot": {"newRoot": "$v"}}],
        input.clone(),
    );
    assert_eq!(error.code, 40228);
    assert!(
        error.message.starts_with(
            "'newRoot' expression must evaluate to an object, but resulting value was: 2."
        ),
        "{error}"
    );
    let error = run_error(vec![doc! {"$replaceWith": "$missing"}], input);
    assert_eq!(error.code, 40228);
    assert!(error.message.contains("MISSING"), "{error}");
    assert_eq!(parse_error(vec![doc! {"$replaceRoot": {}}]).code, 40414);
    assert_eq!(
        parse_error(vec![doc! {"$replaceRoot": {"newRoot": 1, "x": 1}}]).code,
        40415
    );
    assert_eq!(parse_error(vec![doc! {"$replaceRoot": 1}]).code, 40229);
}

#[test]
fn sort_by_count_groups_and_orders() {
    let input: Vec<Document> = ["b", "a", "b", "c", "a", "b"]
        .iter()
        .map(|t| doc! {"tag": *t})
        .collect();
    assert_eq!(
        run(vec![doc! {"$sortByCount": "$tag"}], input),
        vec![
            doc! {"_id": "b", "count": 3},
            doc! {"_id": "a", "count": 2},
            doc! {"_id": "c", "count": 1},
        ]
    );
    assert_eq!(parse_error(vec![doc! {"$sortByCount": "tag"}]).code, 40148);
    assert_eq!(
        parse_error(vec![doc! {"$sortByCount": {"a": 1}}]).code,
        40147
    );
    assert_eq!(parse_error(vec![doc! {"$sortByCount": 1}]).code, 40149);
    assert_eq!(
        run(
            vec![doc! {"$sortByCount": {"$toUpper": "$tag"}}],
            vec![doc! {"tag": "x"}]
        ),
        vec![doc! {"_id": "X", "count": 1}]
    );
}
