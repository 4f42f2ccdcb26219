//! `$project`, `$addFields` / `$set` and `$unset`.

use bson::{Document, doc};

use super::{parse_error, run};

fn project(spec: Document, input: Document) -> Document {
    let mut out = run(vec![doc! {"$project": spec}], vec![input]);
    assert_eq!(out.len(), 1);
    out.remove(0)
}

fn add_fields(stage: &str, spec: Document, input: Document) -> Document {
    let mut stage_doc = Document::new();
    stage_doc.insert(stage, spec);
    let mut out = run(vec![stage_doc], vec![input]);
    out.remove(0)
}

fn project_code(spec: Document) -> i32 {
    parse_error(vec![doc! {"$project": spec}]).code
}

#[test]
fn inclusion_keeps_input_order_and_id() {
    let input = doc! {"_id": 1, "a": 1, "b": 2, "c": 3};
    assert_eq!(
        project(doc! {"c": 1, "a": true}, input.clone()),
        doc! {"_id": 1, "a": 1, "c": 3}
    );
    assert_eq!(
        project(doc! {"a": 1, "_id": 0}, input.clone()),
        doc! {"a": 1}
    );
    assert_eq!(project(doc! {"_id": 1}, input.clone()), doc! {"_id": 1});
    assert_eq!(project(doc! {"missing": 1}, input.clone()), doc! {"_id": 1});
    assert_eq!(project(doc! {"b": 2.5}, input), doc! {"_id": 1, "b": 2});
}

#[test]
fn exclusion_drops_named_fields() {
    let input = doc! {"_id": 1, "a": 1, "b": {"c": 1, "d": 2}};
    assert_eq!(
        project(doc! {"a": 0}, input.clone()),
        doc! {"_id": 1, "b": {"c": 1, "d": 2}}
    );
    assert_eq!(
        project(doc! {"_id": 0}, input.clone()),
        doc! {"a": 1, "b": {"c": 1, "d": 2}}
    );
    assert_eq!(
        project(doc! {"b.c": false, "_id": 1}, input),
        doc! {"_id": 1, "a": 1, "b": {"d": 2}}
    );
}

#[test]
fn dotted_and_nested_paths_reach_into_arrays() {
    let input =
        doc! {"_id": 1, "a": [{"b": 1, "c": 2}, 5, {"c": 3}, [{"b": 4}]], "x": {"y": 1, "z": 2}};
    assert_eq!(
        project(doc! {"a.b": 1, "_id": 0}, input.clone()),
        doc! {"a": [{"b": 1}, {}, [{"b": 4}]]}
    );
    assert_eq!(
        project(doc! {"x": {"z": 1}}, input.clone()),
        doc! {"_id": 1, "x": {"z": 2}}
    );
    assert_eq!(
        project(doc! {"a.c": 0, "x": 0}, input),
        doc! {"_id": 1, "a": [{"b": 1}, 5, {}, [{"b": 4}]]}
    );
    // A scalar where a sub-document was expected is dropped by an inclusion.
    assert_eq!(
        project(doc! {"s.t": 1}, doc! {"_id": 2, "s": 7}),
        doc! {"_id": 2}
    );
    assert_eq!(
        project(doc! {"s.t": 1}, doc! {"_id": 2, "s": {"u": 7}}),
        doc! {"_id": 2, "s": {}}
    );
}

#[test]
fn computed_fields_follow_included_ones() {
    let input = doc! {"_id": 1, "a": 2, "b": "x"};
    assert_eq!(
        project(
            doc! {"sum": {"$add": ["$a", 1]}, "b": 1, "lit": "text", "n": {"$literal": 1}},
            input.clone()
        ),
        doc! {"_id": 1, "b": "x", "sum": 3, "lit": "text", "n": 1}
    );
    assert_eq!(
        project(doc! {"m": "$missing", "_id": 0}, input.clone()),
        doc! {}
    );
    assert_eq!(
        project(doc! {"_id": "$b"}, input.clone()),
        doc! {"_id": "x"}
    );
    assert_eq!(
        project(doc! {"arr": ["$a", "$missing"]}, input.clone()),
        doc! {"_id": 1, "arr": [2, null]}
    );
    assert_eq!(
        project(doc! {"s.t": "$a", "s.u": {"$literal": true}}, input),
        doc! {"_id": 1, "s": {"t": 2, "u": true}}
    );
    let with_array = doc! {"_id": 1, "s": [{"v": 1}, 2]};
    assert_eq!(
        project(doc! {"s.v": 1, "s.w": "new"}, with_array),
        doc! {"_id": 1, "s": [{"v": 1, "w": "new"}]}
    );
}

#[test]
fn projection_errors() {
    let error = parse_error(vec![doc! {"$project": {"a": 1, "b": 0}}]);
    assert_eq!(error.code, 31254);
    assert_eq!(
        error.message,
        "Invalid $project :: caused by :: Cannot do exclusion on field b in inclusion projection"
    );
    let error = parse_error(vec![doc! {"$project": {}}]);
    assert_eq!(
        error.message,
        "Invalid $project :: caused by :: projection specification must have at least one field"
    );
    assert_eq!(project_code(doc! {"a": 0, "b": 1}), 31253);
    assert_eq!(project_code(doc! {"a": 0, "b": "$x"}), 31252);
    assert_eq!(project_code(doc! {"a": 1, "a.b": 1}), 31249);
    assert_eq!(project_code(doc! {"a.b": 1, "a": 1}), 31250);
    assert_eq!(project_code(doc! {}), 51272);
    assert_eq!(project_code(doc! {"a": {}}), 51270);
    assert_eq!(project_code(doc! {"$a": 1}), 16410);
    assert_eq!(project_code(doc! {"a..b": 1}), 15998);
    assert_eq!(project_code(doc! {"a": {"$add": [1], "b": 1}}), 16410);
    assert_eq!(project_code(doc! {"a": {"$nope": 1}}), 31325);
    assert_eq!(project_code(doc! {"a": {"$abs": {"$nope": 1}}}), 168);
    assert_eq!(project_code(doc! {"a": {"$map": {}}}), 2);
    assert_eq!(parse_error(vec![doc! {"$project": 1}]).code, 15969);
}

#[test]
fn add_fields_appends_replaces_and_merges() {
    let input = doc! {"_id": 1, "a": 1, "sub": {"x": 1}, "list": [{"k": 1}, {"k": 2}]};
    assert_eq!(
        add_fields(
            "$addFields",
            doc! {"b": {"$multiply": ["$a", 10]}, "a": 5, "flag": true},
            input.clone()
        ),
        doc! {"_id": 1, "a": 5, "sub": {"x": 1}, "list": [{"k": 1}, {"k": 2}], "b": 10, "flag": true}
    );
    assert_eq!(
        add_fields(
            "$set",
            doc! {"sub": {"y": "$a"}, "list.j": 0},
            input.clone()
        ),
        doc! {"_id": 1, "a": 1, "sub": {"x": 1, "y": 1}, "list": [{"k": 1, "j": 0}, {"k": 2, "j": 0}]}
    );
    assert_eq!(
        add_fields("$set", doc! {"a": "$$REMOVE", "e": {}}, input.clone()),
        doc! {"_id": 1, "sub": {"x": 1}, "list": [{"k": 1}, {"k": 2}], "e": {}}
    );
    assert_eq!(
        add_fields("$set", doc! {"sub": {"$literal": {"z": 1}}}, input),
        doc! {"_id": 1, "a": 1, "sub": {"z": 1}, "list": [{"k": 1}, {"k": 2}]}
    );
    assert_eq!(
        add_fields("$set", doc! {"m.j": 0}, doc! {"m": [1, {"k": 1}, [2]]}),
        doc! {"m": [{"j": 0}, {"k": 1, "j": 0}, [{"j": 0}]]}
    );
    assert_eq!(parse_error(vec![doc! {"$addFields": "x"}]).code, 40272);
    assert_eq!(
        parse_error(vec![doc! {"$set": {"a": 1, "a.b": 2}}]).code,
        31249
    );
}

#[test]
fn unset_removes_paths() {
    let input = doc! {"_id": 1, "a": 1, "b": {"c": 1, "d": 2}, "e": [{"c": 1}, 3]};
    let out = run(vec![doc! {"$unset": "a"}], vec![input.clone()]);
    assert_eq!(
        out,
        vec![doc! {"_id": 1, "b": {"c": 1, "d": 2}, "e": [{"c": 1}, 3]}]
    );
    let out = run(vec![doc! {"$unset": ["_id", "b.c", "e.c"]}], vec![input]);
    assert_eq!(out, vec![doc! {"a": 1, "b": {"d": 2}, "e": [{}, 3]}]);
    assert_eq!(parse_error(vec![doc! {"$unset": []}]).code, 31119);
    assert_eq!(parse_error(vec![doc! {"$unset": [1]}]).code, 31120);
    assert_eq!(parse_error(vec![doc! {"$unset": {"a": 1}}]).code, 31002);
    let error = parse_error(vec![doc! {"$unset": "$a"}]);
    assert_eq!(error.code, 16410);
    assert!(
        error
            .message
            .starts_with("Invalid $unset :: caused by :: FieldPath"),
        "{error}"
    );
    let error = parse_error(vec![doc! {"$unset": ["v", "v.w"]}]);
    assert_eq!(error.code, 31249);
    assert_eq!(
        error.message,
        "Invalid $unset :: caused by :: Path collision at v.w remaining portion w"
    );
    assert_eq!(parse_error(vec![doc! {"$unset": "v."}]).code, 40353);
}
