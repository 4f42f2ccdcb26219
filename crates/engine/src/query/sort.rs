//! Sort specifications (`{qty: -1, _id: 1}`).
//!
//! Documents compare field by field in the BSON order (see [`compare_values`]). A field's value
//! is taken the way `mongod` makes sort keys (see [`for_each_key_value`]): a missing field sorts
//! as `null`, an array by its smallest element when ascending and its largest when descending,
//! and an empty array below `null`.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::filter::describe;
use super::path::{FieldPath, KeyArrays, check_field_path, for_each_key_value};
use crate::compare::compare_values;
use crate::error::{CommandError, CommandResult};
use crate::keystring::Direction;

/// A parsed sort specification.
#[derive(Debug, Clone)]
pub struct SortSpec {
    fields: Vec<SortField>,
    natural: Option<Direction>,
}

/// One field of a sort specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortField {
    /// The dotted path sorted on.
    pub path: FieldPath,
    /// Ascending (`1`) or descending (`-1`).
    pub direction: Direction,
}

/// The values a document sorts by, one per field of the [`SortSpec`] that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey(Vec<Bson>);

impl SortKey {
    /// The values, in the order of the sort's fields.
    pub fn values(&self) -> &[Bson] {
        &self.0
    }
}

static NULL: Bson = Bson::Null;

impl SortSpec {
    /// Parses a sort document.
    ///
    /// Each value must be `1` or `-1`; `{$natural: 1}` asks for storage order and is kept
    /// apart (see [`SortSpec::natural`]); `{$meta: ...}` sorts are not supported.
    pub fn parse(spec: &Document) -> CommandResult<SortSpec> {
        let mut fields = Vec::with_capacity(spec.len());
        let mut natural = None;
        for (name, value) in spec {
            let direction = parse_direction(name, value)?;
            if name == "$natural" {
                natural = Some(direction);
                continue;
            }
            check_field_path(name)?;
            fields.push(SortField {
                path: FieldPath::new(name),
                direction,
            });
        }
        Ok(SortSpec { fields, natural })
    }

    /// The fields sorted on, most significant first (`$natural` excluded).
    pub fn fields(&self) -> &[SortField] {
        &self.fields
    }

    /// The direction of a `$natural` sort, if the specification has one.
    pub fn natural(&self) -> Option<Direction> {
        self.natural
    }

    /// Whether there is no field to sort on (`{}` or only `$natural`).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Compares two documents in this sort order. Equal documents compare `Equal`; callers that
    /// want ties in input order use a stable sort.
    pub fn compare(&self, a: &Document, b: &Document) -> Ordering {
        self.fields
            .iter()
            .map(|field| field.order(sort_value(a, field).0, sort_value(b, field).0))
            .find(|ord| ord.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// The sort key of `doc`, computed once so that sorting many documents does not walk their
    /// arrays again at each comparison.
    ///
    /// Fails as `mongod` does when two fields of the sort go through different arrays
    /// ("cannot sort with keys that are parallel arrays").
    pub fn key(&self, doc: &Document) -> CommandResult<SortKey> {
        let mut values = Vec::with_capacity(self.fields.len());
        let mut array_paths: Vec<&[String]> = Vec::new();
        for field in &self.fields {
            let (value, arrays) = sort_value(doc, field);
            values.push(value.clone());
            if let Some(depth) = arrays.first_array_depth {
                let prefix = &field.path.parts()[..depth.min(field.path.parts().len())];
                if array_paths.iter().any(|other| !related(other, prefix)) {
                    return Err(CommandError::bad_value(
                        "cannot sort with keys that are parallel arrays",
                    ));
                }
                array_paths.push(prefix);
            }
        }
        Ok(SortKey(values))
    }

    /// Compares two keys made by [`SortSpec::key`] of this specification.
    pub fn compare_keys(&self, a: &SortKey, b: &SortKey) -> Ordering {
        self.fields
            .iter()
            .zip(a.0.iter().zip(&b.0))
            .map(|(field, (x, y))| field.order(x, y))
            .find(|ord| ord.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl SortField {
    /// Orders two sort values of this field.
    fn order(&self, a: &Bson, b: &Bson) -> Ordering {
        match self.direction {
            Direction::Ascending => compare_values(a, b),
            Direction::Descending => compare_values(b, a),
        }
    }
}

/// The value `doc` sorts by on `field`: the smallest of its key values ascending, the largest
/// descending.
fn sort_value<'a>(doc: &'a Document, field: &SortField) -> (&'a Bson, KeyArrays) {
    let mut best: Option<&'a Bson> = None;
    let wanted = match field.direction {
        Direction::Ascending => Ordering::Less,
        Direction::Descending => Ordering::Greater,
    };
    let arrays = for_each_key_value(doc, field.path.parts(), &mut |value: &'a Bson| {
        if best.is_none_or(|b| compare_values(value, b) == wanted) {
            best = Some(value);
        }
    });
    (best.unwrap_or(&NULL), arrays)
}

/// Whether one path is a prefix of the other.
fn related(a: &[String], b: &[String]) -> bool {
    a.iter().zip(b).all(|(x, y)| x == y)
}

fn parse_direction(name: &str, value: &Bson) -> CommandResult<Direction> {
    if let Bson::Document(expr) = value {
        return Err(match expr.keys().next().map(String::as_str) {
            Some("$meta") => CommandError::bad_value("$meta sort is not supported by this engine"),
            _ => CommandError::with_code(
                17312,
                "$meta is the only expression supported by $sort right now",
            ),
        });
    }
    let number = match value {
        Bson::Int32(i) => f64::from(*i),
        Bson::Int64(i) => *i as f64,
        Bson::Double(f) => *f,
        Bson::Decimal128(d) => crate::compare::decimal_to_f64(d),
        _ => {
            return Err(CommandError::with_code(
                15974,
                format!(
                    "Illegal key in $sort specification: {}",
                    describe(name, value)
                ),
            ));
        }
    };
    if number == 1.0 {
        Ok(Direction::Ascending)
    } else if number == -1.0 {
        Ok(Direction::Descending)
    } else {
        Err(CommandError::with_code(
            15975,
            "$sort key ordering must be 1 (for ascending) or -1 (for descending)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn spec(s: Document) -> SortSpec {
        SortSpec::parse(&s).unwrap_or_else(|e| panic!("{s} should parse: {e}"))
    }

    /// The `_id`s of `docs` after a stable sort by `s`, through `compare` and through keys.
    fn order(s: Document, docs: &[Document]) -> Vec<i32> {
        let sort = spec(s);
        let mut by_compare = docs.to_vec();
        by_compare.sort_by(|a, b| sort.compare(a, b));
        let mut by_key: Vec<(SortKey, &Document)> = docs
            .iter()
            .map(|d| (sort.key(d).expect("no parallel arrays"), d))
            .collect();
        by_key.sort_by(|a, b| sort.compare_keys(&a.0, &b.0));
        let ids = |docs: Vec<&Document>| -> Vec<i32> {
            docs.iter()
                .map(|d| d.get_i32("_id").expect("_id"))
                .collect()
        };
        let compared = ids(by_compare.iter().collect());
        assert_eq!(compared, ids(by_key.into_iter().map(|(_, d)| d).collect()));
        compared
    }

    #[test]
    fn sorts_by_bson_order_with_missing_as_null() {
        let docs = [
            doc! {"_id": 1, "a": "x"},
            doc! {"_id": 2, "a": 10},
            doc! {"_id": 3},
            doc! {"_id": 4, "a": null},
            doc! {"_id": 5, "a": 2.5},
            doc! {"_id": 6, "a": Bson::MinKey},
        ];
        assert_eq!(order(doc! {"a": 1}, &docs), vec![6, 3, 4, 5, 2, 1]);
        assert_eq!(order(doc! {"a": -1}, &docs), vec![1, 2, 5, 3, 4, 6]);
    }

    #[test]
    fn arrays_sort_by_smallest_ascending_and_largest_descending() {
        let docs = [
            doc! {"_id": 1, "a": [1, 9]},
            doc! {"_id": 2, "a": 5},
            doc! {"_id": 3, "a": [3, 4]},
            doc! {"_id": 4, "a": []},
            doc! {"_id": 5, "a": null},
        ];
        assert_eq!(order(doc! {"a": 1}, &docs), vec![4, 5, 1, 3, 2]);
        assert_eq!(order(doc! {"a": -1}, &docs), vec![1, 2, 3, 5, 4]);
    }

    #[test]
    fn dotted_paths_reach_through_arrays() {
        let docs = [
            doc! {"_id": 1, "a": [{"b": 5}, {"b": 1}]},
            doc! {"_id": 2, "a": {"b": 3}},
            doc! {"_id": 3, "a": [{"b": 4}, {"b": 7}]},
        ];
        assert_eq!(order(doc! {"a.b": 1}, &docs), vec![1, 2, 3]);
        assert_eq!(order(doc! {"a.b": -1}, &docs), vec![3, 1, 2]);
        assert_eq!(order(doc! {"a.0.b": 1}, &docs), vec![2, 3, 1]);
        // A scalar next to documents in the array sorts as null.
        let mixed = [
            doc! {"_id": 1, "a": [{"b": 5}, 2]},
            doc! {"_id": 2, "a": [{"b": 3}]},
        ];
        assert_eq!(order(doc! {"a.b": 1}, &mixed), vec![1, 2]);
    }

    #[test]
    fn later_fields_break_ties() {
        let docs = [
            doc! {"_id": 1, "a": 1, "b": 1},
            doc! {"_id": 2, "a": 0, "b": 5},
            doc! {"_id": 3, "a": 1, "b": 3},
        ];
        assert_eq!(order(doc! {"a": 1, "b": -1}, &docs), vec![2, 3, 1]);
        assert_eq!(order(doc! {}, &docs), vec![1, 2, 3]);
        assert!(spec(doc! {}).is_empty());
    }

    #[test]
    fn natural_order_is_kept_apart() {
        let sort = spec(doc! {"$natural": -1});
        assert!(sort.is_empty());
        assert_eq!(sort.natural(), Some(Direction::Descending));
        assert_eq!(
            sort.compare(&doc! {"a": 1}, &doc! {"a": 2}),
            Ordering::Equal
        );
        let fields = spec(doc! {"a": 1, "b.c": -1.0});
        assert_eq!(fields.natural(), None);
        assert_eq!(
            fields.fields(),
            &[
                SortField {
                    path: FieldPath::new("a"),
                    direction: Direction::Ascending
                },
                SortField {
                    path: FieldPath::new("b.c"),
                    direction: Direction::Descending
                },
            ]
        );
    }

    #[test]
    fn parallel_arrays_cannot_be_keyed() {
        let sort = spec(doc! {"a": 1, "b": 1});
        let error = sort
            .key(&doc! {"a": [1, 2], "b": [3, 4]})
            .expect_err("parallel arrays");
        assert!(error.message.contains("parallel arrays"), "{error}");
        assert!(sort.key(&doc! {"a": [1, 2], "b": 3}).is_ok());
        let shared = spec(doc! {"a.x": 1, "a.y": 1});
        let key = shared
            .key(&doc! {"a": [{"x": 2, "y": 1}, {"x": 1, "y": 3}]})
            .expect("shared array");
        assert_eq!(key.values(), &[Bson::Int32(1), Bson::Int32(1)]);
    }

    fn parse_error(s: Document) -> CommandError {
        match SortSpec::parse(&s) {
            Ok(sort) => panic!("{s} should not parse: {sort:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_specifications_are_refused_as_mongod_does() {
        for value in [
            Bson::Int32(0),
            Bson::Int32(2),
            Bson::Double(0.5),
            Bson::Int64(i64::MAX),
        ] {
            let error = parse_error(doc! {"a": value});
            assert_eq!(error.code, 15975, "{error}");
        }
        let error = parse_error(doc! {"a": "asc"});
        assert_eq!(error.code, 15974);
        assert_eq!(
            error.message,
            "Illegal key in $sort specification: a: \"asc\""
        );
        assert_eq!(parse_error(doc! {"a": true}).code, 15974);
        assert_eq!(parse_error(doc! {"a": {"$meta": "textScore"}}).code, 2);
        assert_eq!(parse_error(doc! {"a": {"x": 1}}).code, 17312);
        assert_eq!(parse_error(doc! {"": 1}).code, 40352);
        assert_eq!(parse_error(doc! {"a..b": 1}).code, 15998);
        assert_eq!(parse_error(doc! {"a.": 1}).code, 40353);
        assert_eq!(parse_error(doc! {"a.$b": 1}).code, 16410);
        assert_eq!(parse_error(doc! {"$a": 1}).code, 16410);
    }
}
