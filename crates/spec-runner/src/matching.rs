//! The matching rules of the unified test format ("Evaluating Matches"): extra fields allowed
//! in root-level documents only, numbers compared across int/long/double, and the `$$`
//! special operators. Every mismatch is reported with the path where it was found.

use bson::{Bson, Document};

/// What the special operators look up in the test's entity map.
pub trait Lookup {
    /// The `lsid` of a session entity (`$$sessionLsid`).
    fn session_lsid(&self, name: &str) -> Result<Document, String>;
    /// A value saved with `saveResultAsEntity` (`$$matchesEntity`).
    fn saved_value(&self, name: &str) -> Result<Bson, String>;
}

/// Asserts that `actual` matches `expected`; `root` says whether `actual` is a root-level
/// document (which may have fields `expected` does not name). `path` names the value in
/// the messages.
pub fn match_value(
    expected: &Bson,
    actual: Option<&Bson>,
    root: bool,
    lookup: &dyn Lookup,
    path: &str,
) -> Result<(), String> {
    if let Some((op, operand)) = special_operator(expected) {
        return match_operator(op, operand, actual, root, lookup, path);
    }
    let Some(actual) = actual else {
        return Err(format!(
            "{}: expected {}, got nothing",
            show_path(path),
            show(expected)
        ));
    };
    match expected {
        Bson::Document(expected_doc) => {
            let Bson::Document(actual_doc) = actual else {
                return Err(format!(
                    "{}: expected a document {}, got {}",
                    show_path(path),
                    show(expected),
                    show(actual)
                ));
            };
            match_document(expected_doc, actual_doc, root, lookup, path)
        }
        Bson::Array(expected_items) => {
            let Bson::Array(actual_items) = actual else {
                return Err(format!(
                    "{}: expected an array {}, got {}",
                    show_path(path),
                    show(expected),
                    show(actual)
                ));
            };
            if expected_items.len() != actual_items.len() {
                return Err(format!(
                    "{}: expected {} elements {}, got {} elements {}",
                    show_path(path),
                    expected_items.len(),
                    show(expected),
                    actual_items.len(),
                    show(actual)
                ));
            }
            for (i, (e, a)) in expected_items.iter().zip(actual_items).enumerate() {
                match_value(e, Some(a), false, lookup, &join(path, &i.to_string()))?;
            }
            Ok(())
        }
        _ => {
            if scalars_equal(expected, actual) {
                Ok(())
            } else {
                Err(format!(
                    "{}: expected {}, got {}",
                    show_path(path),
                    show(expected),
                    show(actual)
                ))
            }
        }
    }
}

/// Matches an iterable result (find, aggregate): the same number of elements, each matched as
/// a root-level document.
pub fn match_root_array(
    expected: &Bson,
    actual: &[Bson],
    lookup: &dyn Lookup,
    path: &str,
) -> Result<(), String> {
    let Bson::Array(expected_items) = expected else {
        return match_value(
            expected,
            Some(&Bson::Array(actual.to_vec())),
            true,
            lookup,
            path,
        );
    };
    if expected_items.len() != actual.len() {
        return Err(format!(
            "{}: expected {} documents {}, got {} documents {}",
            show_path(path),
            expected_items.len(),
            show(expected),
            actual.len(),
            show(&Bson::Array(actual.to_vec()))
        ));
    }
    for (i, (e, a)) in expected_items.iter().zip(actual).enumerate() {
        match_value(e, Some(a), true, lookup, &join(path, &i.to_string()))?;
    }
    Ok(())
}

fn match_document(
    expected: &Document,
    actual: &Document,
    root: bool,
    lookup: &dyn Lookup,
    path: &str,
) -> Result<(), String> {
    for (key, value) in expected {
        let child = join(path, key);
        match_value(value, actual.get(key), false, lookup, &child)?;
    }
    if !root {
        if let Some(extra) = actual.keys().find(|k| !expected.contains_key(k.as_str())) {
            return Err(format!(
                "{}: unexpected field `{extra}` in {} (expected {})",
                show_path(path),
                show(&Bson::Document(actual.clone())),
                show(&Bson::Document(expected.clone()))
            ));
        }
    }
    Ok(())
}

/// The operator of a document whose first and only key starts with `$$`.
fn special_operator(value: &Bson) -> Option<(&str, &Bson)> {
    let Bson::Document(doc) = value else {
        return None;
    };
    if doc.len() != 1 {
        return None;
    }
    let (key, operand) = doc.iter().next()?;
    key.starts_with("$$").then_some((key.as_str(), operand))
}

fn match_operator(
    op: &str,
    operand: &Bson,
    actual: Option<&Bson>,
    root: bool,
    lookup: &dyn Lookup,
    path: &str,
) -> Result<(), String> {
    let place = show_path(path);
    match op {
        "$$exists" => {
            let want = operand.as_bool().ok_or_else(|| {
                format!("{place}: $$exists needs a boolean, got {}", show(operand))
            })?;
            match (want, actual) {
                (true, Some(_)) | (false, None) => Ok(()),
                (true, None) => Err(format!(
                    "{place}: expected the field to exist, it is absent"
                )),
                (false, Some(a)) => Err(format!(
                    "{place}: expected the field to be absent, got {}",
                    show(a)
                )),
            }
        }
        "$$unsetOrMatches" => match actual {
            None => Ok(()),
            Some(_) => match_value(operand, actual, root, lookup, path),
        },
        "$$type" => {
            let Some(actual) = actual else {
                return Err(format!(
                    "{place}: expected a value of type {}, got nothing",
                    show(operand)
                ));
            };
            let names: Vec<&str> = match operand {
                Bson::String(s) => vec![s.as_str()],
                Bson::Array(items) => items.iter().filter_map(Bson::as_str).collect(),
                _ => return Err(format!("{place}: malformed $$type {}", show(operand))),
            };
            for name in &names {
                if !KNOWN_TYPES.contains(name) {
                    return Err(format!("{place}: unknown $$type `{name}`"));
                }
            }
            if names.iter().any(|n| type_matches(n, actual)) {
                Ok(())
            } else {
                Err(format!(
                    "{place}: expected type {}, got {} ({})",
                    show(operand),
                    show(actual),
                    type_name(actual)
                ))
            }
        }
        "$$sessionLsid" => {
            let name = operand
                .as_str()
                .ok_or_else(|| format!("{place}: $$sessionLsid needs a session name"))?;
            let lsid = Bson::Document(lookup.session_lsid(name)?);
            match actual {
                Some(a) if exact_eq(&lsid, a) => Ok(()),
                Some(a) => Err(format!(
                    "{place}: expected the lsid of {name} {}, got {}",
                    show(&lsid),
                    show(a)
                )),
                None => Err(format!("{place}: expected the lsid of {name}, got nothing")),
            }
        }
        "$$matchesEntity" => {
            let name = operand
                .as_str()
                .ok_or_else(|| format!("{place}: $$matchesEntity needs an entity name"))?;
            let value = lookup.saved_value(name)?;
            match_value(&value, actual, root, lookup, path)
        }
        "$$lte" => {
            let (Some(limit), Some(value)) = (as_f64(operand), actual.and_then(as_f64)) else {
                return Err(format!(
                    "{place}: $$lte {} needs numbers, got {}",
                    show(operand),
                    actual.map_or_else(|| "nothing".to_owned(), show)
                ));
            };
            if value <= limit {
                Ok(())
            } else {
                Err(format!("{place}: expected at most {limit}, got {value}"))
            }
        }
        "$$matchesHexBytes" => {
            let hex = operand
                .as_str()
                .ok_or_else(|| format!("{place}: $$matchesHexBytes needs a string"))?;
            let bytes = decode_hex(hex)
                .ok_or_else(|| format!("{place}: malformed $$matchesHexBytes `{hex}`"))?;
            match actual {
                Some(Bson::Binary(b)) if b.bytes == bytes => Ok(()),
                Some(Bson::String(s)) if s.as_bytes() == bytes.as_slice() => Ok(()),
                other => Err(format!(
                    "{place}: expected bytes {hex}, got {}",
                    other.map_or_else(|| "nothing".to_owned(), show)
                )),
            }
        }
        "$$matchAsDocument" => {
            let Some(Bson::String(text)) = actual else {
                return Err(format!(
                    "{place}: $$matchAsDocument needs a string, got {}",
                    actual.map_or_else(|| "nothing".to_owned(), show)
                ));
            };
            let parsed = parse_extended_json(text)
                .map_err(|e| format!("{place}: $$matchAsDocument: {e}"))?;
            match_value(operand, Some(&parsed), false, lookup, path)
        }
        "$$matchAsRoot" => match_value(operand, actual, true, lookup, path),
        other => Err(format!("{place}: unsupported special operator {other}")),
    }
}

/// Parses a string of (relaxed or canonical) extended JSON.
pub fn parse_extended_json(text: &str) -> Result<Bson, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Bson::try_from(value).map_err(|e| e.to_string())
}

const KNOWN_TYPES: &[&str] = &[
    "double",
    "string",
    "object",
    "array",
    "binData",
    "undefined",
    "objectId",
    "bool",
    "date",
    "null",
    "regex",
    "dbPointer",
    "javascript",
    "symbol",
    "javascriptWithScope",
    "int",
    "timestamp",
    "long",
    "decimal",
    "minKey",
    "maxKey",
    "number",
];

fn type_matches(name: &str, value: &Bson) -> bool {
    name == type_name(value)
        || (name == "number"
            && matches!(
                value,
                Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
            ))
}

pub use causeway::engine::compare::type_name;

/// A number as `f64` (int, long and double; not decimal).
pub fn as_f64(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) => Some(*n),
        _ => None,
    }
}

/// Scalars equal under the flexible numeric comparison.
fn scalars_equal(expected: &Bson, actual: &Bson) -> bool {
    match (expected, actual) {
        (Bson::Int32(a), Bson::Int32(b)) => a == b,
        (Bson::Int64(a), Bson::Int64(b)) => a == b,
        (Bson::Int32(a), Bson::Int64(b)) | (Bson::Int64(b), Bson::Int32(a)) => i64::from(*a) == *b,
        _ => match (as_f64(expected), as_f64(actual)) {
            (Some(a), Some(b)) => a == b,
            _ => expected == actual,
        },
    }
}

/// Exact equality, except that the order of the keys of documents does not matter (the rule
/// for collection contents in `outcome`).
pub fn exact_eq(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Document(x), Bson::Document(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| exact_eq(v, other)))
        }
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| exact_eq(v, w))
        }
        _ => a == b,
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn show_path(path: &str) -> &str {
    if path.is_empty() { "(root)" } else { path }
}

/// A value as relaxed extended JSON, cut to a readable length.
pub fn show(value: &Bson) -> String {
    let text = value.clone().into_relaxed_extjson().to_string();
    cut(&text, 400)
}

/// A document as relaxed extended JSON, cut to a readable length.
pub fn show_doc(doc: &Document) -> String {
    show(&Bson::Document(doc.clone()))
}

/// `text` cut to at most `max` characters.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{bson, doc};

    struct NoEntities;

    impl Lookup for NoEntities {
        fn session_lsid(&self, name: &str) -> Result<Document, String> {
            if name == "session0" {
                Ok(doc! {"id": 1})
            } else {
                Err(format!("no session {name}"))
            }
        }
        fn saved_value(&self, name: &str) -> Result<Bson, String> {
            Err(format!("no entity {name}"))
        }
    }

    fn check(expected: Bson, actual: Bson, root: bool) -> Result<(), String> {
        match_value(&expected, Some(&actual), root, &NoEntities, "")
    }

    #[test]
    fn root_documents_may_have_extra_fields_nested_ones_may_not() {
        assert!(check(bson!({"x": 1}), bson!({"x": 1, "y": 2}), true).is_ok());
        assert!(check(bson!({"x": 1}), bson!({"x": 1, "y": 2}), false).is_err());
        assert!(check(bson!({"x": {"y": 1}}), bson!({"x": {"y": 1, "z": 1}}), true).is_err());
        assert!(check(bson!({"x": 1, "y": 1}), bson!({"x": 1}), true).is_err());
    }

    #[test]
    fn numbers_compare_across_types() {
        assert!(check(bson!(1), bson!(1.0), false).is_ok());
        assert!(check(bson!(1), Bson::Int64(1), false).is_ok());
        assert!(check(bson!(1), bson!(1.5), false).is_err());
        assert!(check(bson!("1"), bson!(1), false).is_err());
    }

    #[test]
    fn special_operators() {
        assert!(check(bson!({"a": {"$$exists": false}}), bson!({"b": 1}), true).is_ok());
        assert!(check(bson!({"a": {"$$exists": true}}), bson!({"b": 1}), true).is_err());
        assert!(check(bson!({"a": {"$$unsetOrMatches": 2}}), bson!({}), true).is_ok());
        assert!(check(bson!({"a": {"$$unsetOrMatches": 2}}), bson!({"a": 3}), true).is_err());
        assert!(check(bson!({"$$unsetOrMatches": {"a": 1}}), bson!({"a": 1}), true).is_ok());
        assert!(
            check(
                bson!({"a": {"$$type": ["int", "long"]}}),
                bson!({"a": 1}),
                true
            )
            .is_ok()
        );
        assert!(check(bson!({"a": {"$$type": "string"}}), bson!({"a": 1}), true).is_err());
        assert!(check(bson!({"a": {"$$type": "string"}}), bson!({}), true).is_err());
        assert!(
            check(
                bson!({"lsid": {"$$sessionLsid": "session0"}}),
                bson!({"lsid": {"id": 1}}),
                true
            )
            .is_ok()
        );
        assert!(check(bson!({"a": {"$$lte": 5}}), bson!({"a": 5.0}), true).is_ok());
        assert!(check(bson!({"a": {"$$lte": 5}}), bson!({"a": 6}), true).is_err());
        assert!(check(bson!({"a": {"$$bogus": 5}}), bson!({"a": 6}), true).is_err());
    }

    #[test]
    fn arrays_need_the_same_length() {
        assert!(check(bson!([1, 2]), bson!([1, 2, 3]), false).is_err());
        assert!(
            match_root_array(
                &bson!([{"x": 1}]),
                &[bson!({"x": 1, "y": 1})],
                &NoEntities,
                ""
            )
            .is_ok()
        );
    }

    #[test]
    fn mismatches_name_their_path() {
        let err = check(bson!({"a": {"b": 1}}), bson!({"a": {"b": 2}}), true).unwrap_err();
        assert!(err.starts_with("a.b:"), "{err}");
    }

    #[test]
    fn exact_equality_ignores_key_order_only() {
        assert!(exact_eq(&bson!({"a": 1, "b": 2}), &bson!({"b": 2, "a": 1})));
        assert!(!exact_eq(&bson!({"a": 1}), &bson!({"a": 1.0})));
        assert!(!exact_eq(&bson!({"a": 1}), &bson!({"a": 1, "b": 1})));
    }
}
