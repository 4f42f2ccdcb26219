//! Dotted paths into documents and arrays.
//!
//! A path such as `"a.b.0"` names a value by descending through sub-documents. When the descent
//! meets an array, `mongod` looks inside it in two ways at once: into every element that is a
//! document (`{a: [{b: 1}, {b: 2}]}` reaches `1` and `2` through `"a.b"`), and, when the next
//! component is a number, at that position (`"a.0"`). [`any_value`] walks a path the way the
//! query matcher does; [`for_each_key_value`] walks it the way index and sort keys are made;
//! [`get_path`] is the plain lookup without array expansion.

use std::fmt;

use bson::{Bson, Document};
use smallvec::SmallVec;

use crate::error::{CommandError, CommandResult};

/// Refuses a dotted path `mongod` cannot build a field path from: empty (40352), ending in a
/// dot (40353), or with a component [`check_path_component`] refuses. Sort keys, projections
/// and aggregation field paths all go through it.
pub(crate) fn check_field_path(path: &str) -> CommandResult<()> {
    if path.is_empty() {
        return Err(CommandError::with_code(
            40352,
            "FieldPath cannot be constructed with empty string",
        ));
    }
    if path.ends_with('.') {
        return Err(CommandError::with_code(
            40353,
            "FieldPath must not end with a '.'.",
        ));
    }
    path.split('.').try_for_each(check_path_component)
}

/// Refuses a field path component `mongod` refuses: empty (15998), starting with `$` (16410)
/// or holding a NUL (16411).
pub(crate) fn check_path_component(part: &str) -> CommandResult<()> {
    if part.is_empty() {
        return Err(CommandError::with_code(
            15998,
            "FieldPath field names may not be empty strings.",
        ));
    }
    if part.starts_with('$') {
        return Err(CommandError::with_code(
            16410,
            "FieldPath field names may not start with '$'. Consider using $getField or \
             $setField.",
        ));
    }
    if part.contains('\0') {
        return Err(CommandError::with_code(
            16411,
            "FieldPath field names may not contain '\\0'.",
        ));
    }
    Ok(())
}

/// A parsed dotted path (`"a.b.0"`), split into its components once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    /// Inline up to two components: most paths have one or two, and every filter and update
    /// of every command parses its paths.
    parts: SmallVec<[String; 2]>,
    /// The path as written, kept only when it has several components (otherwise it is the
    /// one component: no second copy).
    joined: Option<String>,
}

impl FieldPath {
    /// Splits `dotted` at its dots. Empty components are kept (`"a..b"` has three).
    pub fn new(dotted: &str) -> FieldPath {
        let parts: SmallVec<[String; 2]> = dotted.split('.').map(str::to_owned).collect();
        FieldPath {
            joined: (parts.len() > 1).then(|| dotted.to_owned()),
            parts,
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        self.joined.as_deref().unwrap_or(&self.parts[0])
    }

    /// The components, in order (never empty: `""` has one empty component).
    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// Whether `self` is `other` or one of its ancestors (`"a"` of `"a.b"`, not of `"ab"`).
    pub fn is_prefix_of(&self, other: &FieldPath) -> bool {
        self.parts.len() <= other.parts.len()
            && self.parts.iter().zip(&other.parts).all(|(a, b)| a == b)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The array position a path component names: `"0"`, `"17"`; not `"01"`, `"-1"` or `""`.
///
/// Array elements are named by their index written without leading zeros, so `"01"` names
/// nothing in an array (it can still name a field of a sub-document).
pub fn array_index(part: &str) -> Option<usize> {
    let canonical = !part.is_empty()
        && part.bytes().all(|b| b.is_ascii_digit())
        && (part == "0" || !part.starts_with('0'));
    if canonical { part.parse().ok() } else { None }
}

/// Something a path component can be looked up in: a document, or an array seen as a document
/// whose field names are the element indexes (as `$elemMatch` sees an element that is an array).
#[derive(Debug, Clone, Copy)]
pub enum Container<'a> {
    /// A document.
    Document(&'a Document),
    /// An array, its elements named `"0"`, `"1"`, ...
    Array(&'a [Bson]),
}

impl<'a> Container<'a> {
    /// The container a value is, if it is a document or an array.
    pub fn of(value: &'a Bson) -> Option<Container<'a>> {
        match value {
            Bson::Document(doc) => Some(Container::Document(doc)),
            Bson::Array(items) => Some(Container::Array(items)),
            _ => None,
        }
    }

    /// The value of field `name` (for an array, the element at index `name`).
    pub fn get(self, name: &str) -> Option<&'a Bson> {
        match self {
            Container::Document(doc) => doc.get(name),
            Container::Array(items) => array_index(name).and_then(|i| items.get(i)),
        }
    }
}

impl<'a> From<&'a Document> for Container<'a> {
    fn from(doc: &'a Document) -> Container<'a> {
        Container::Document(doc)
    }
}

/// What the walk does when the path ends at an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafArrays {
    /// Visit each element, then the array itself (comparisons, `$in`, `$type`, ...).
    Expand,
    /// Visit the array itself only (`$size`, `$elemMatch`).
    Whole,
}

/// Walks `path` through `root` as `mongod`'s matcher does and calls `visit` with every value
/// reached, `None` standing for a missing value, and where it was found; stops and returns
/// `true` as soon as `visit` does.
///
/// - A missing field, or a scalar where the path wants to go deeper, is visited as `None`.
/// - An array met before the end of the path is searched: each element that is a document is
///   walked with the rest of the path; if the next component is an index (`"a.0.b"`), the
///   element at that index is walked with the components after it.
/// - An array at the end of the path is visited as [`LeafArrays`] says.
///
/// Where a value was found is the index, in the first array the walk searched or expanded, of
/// the element it came from (`None` when no array was searched, or the element was selected
/// by an index component): the position the update operator `$` stands for.
///
/// The walk allocates nothing.
pub fn any_value<'a, F>(
    root: Container<'a>,
    path: &[String],
    leaf: LeafArrays,
    visit: &mut F,
) -> bool
where
    F: FnMut(Option<&'a Bson>, Option<usize>) -> bool,
{
    walk(root, path, leaf, None, visit)
}

fn walk<'a, F>(
    root: Container<'a>,
    path: &[String],
    leaf: LeafArrays,
    position: Option<usize>,
    visit: &mut F,
) -> bool
where
    F: FnMut(Option<&'a Bson>, Option<usize>) -> bool,
{
    let mut current = root;
    for (i, part) in path.iter().enumerate() {
        let Some(value) = current.get(part) else {
            return visit(None, position);
        };
        let rest = &path[i + 1..];
        if rest.is_empty() {
            return visit_leaf(value, leaf, position, visit);
        }
        match value {
            Bson::Document(doc) => current = Container::Document(doc),
            Bson::Array(items) => return any_in_array(items, rest, leaf, position, visit),
            _ => return visit(None, position),
        }
    }
    visit(None, position)
}

fn visit_leaf<'a, F>(
    value: &'a Bson,
    leaf: LeafArrays,
    position: Option<usize>,
    visit: &mut F,
) -> bool
where
    F: FnMut(Option<&'a Bson>, Option<usize>) -> bool,
{
    if let (Bson::Array(items), LeafArrays::Expand) = (value, leaf) {
        if items
            .iter()
            .enumerate()
            .any(|(i, item)| visit(Some(item), position.or(Some(i))))
        {
            return true;
        }
    }
    visit(Some(value), position)
}

/// Searches an array met with `rest` (non-empty) of the path still to walk.
fn any_in_array<'a, F>(
    items: &'a [Bson],
    rest: &[String],
    leaf: LeafArrays,
    position: Option<usize>,
    visit: &mut F,
) -> bool
where
    F: FnMut(Option<&'a Bson>, Option<usize>) -> bool,
{
    let offset = array_index(&rest[0]);
    let after = &rest[1..];
    items.iter().enumerate().any(|(i, item)| {
        let at_offset = offset == Some(i);
        match item {
            Bson::Document(doc) => {
                walk(
                    Container::Document(doc),
                    rest,
                    leaf,
                    position.or(Some(i)),
                    visit,
                ) || (at_offset && at_position(item, after, leaf, position, visit))
            }
            _ => at_offset && at_position(item, after, leaf, position, visit),
        }
    })
}

/// Walks the element an index component selected with the components `after` it.
fn at_position<'a, F>(
    item: &'a Bson,
    after: &[String],
    leaf: LeafArrays,
    position: Option<usize>,
    visit: &mut F,
) -> bool
where
    F: FnMut(Option<&'a Bson>, Option<usize>) -> bool,
{
    if after.is_empty() {
        // The path ends at the element itself; it is not expanded even if it is an array.
        return visit(Some(item), position);
    }
    match item {
        Bson::Document(doc) => walk(Container::Document(doc), after, leaf, position, visit),
        Bson::Array(inner) => any_in_array(inner, after, leaf, position, visit),
        _ => false,
    }
}

/// Where [`for_each_key_value`] found the first array it expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyArrays {
    /// The number of leading path components naming the first expanded array, if any.
    pub first_array_depth: Option<usize>,
}

static NULL: Bson = Bson::Null;
static UNDEFINED: Bson = Bson::Undefined;

/// Calls `visit` with every value an index key or a sort key on `path` takes for `doc`, the way
/// `mongod` generates keys:
///
/// - a missing value, or a path that runs into a scalar, gives `null`;
/// - an array at the end of the path gives each of its elements (nested arrays stay whole), and
///   an empty one gives `undefined`;
/// - an array before the end is expanded: each document element is followed, every other
///   element gives `null`; an index component (`"a.0"`) selects that element instead.
///
/// Returns where the first expanded array was, so that callers can refuse parallel arrays.
pub fn for_each_key_value<'a, F>(doc: &'a Document, path: &[String], visit: &mut F) -> KeyArrays
where
    F: FnMut(&'a Bson),
{
    let mut arrays = KeyArrays::default();
    key_values(Container::Document(doc), path, 0, &mut arrays, visit);
    arrays
}

fn key_values<'a, F>(
    container: Container<'a>,
    path: &[String],
    depth: usize,
    arrays: &mut KeyArrays,
    visit: &mut F,
) where
    F: FnMut(&'a Bson),
{
    let Some((part, rest)) = path.split_first() else {
        return visit(&NULL);
    };
    let Some(value) = container.get(part) else {
        return visit(&NULL);
    };
    let depth = depth + 1;
    match value {
        Bson::Array(items) => {
            if arrays.first_array_depth.is_none() {
                arrays.first_array_depth = Some(depth);
            }
            array_key_values(items, rest, depth, arrays, visit);
        }
        _ if rest.is_empty() => visit(value),
        Bson::Document(sub) => key_values(Container::Document(sub), rest, depth, arrays, visit),
        _ => visit(&NULL),
    }
}

fn array_key_values<'a, F>(
    items: &'a [Bson],
    rest: &[String],
    depth: usize,
    arrays: &mut KeyArrays,
    visit: &mut F,
) where
    F: FnMut(&'a Bson),
{
    if rest.is_empty() {
        if items.is_empty() {
            visit(&UNDEFINED);
        }
        items.iter().for_each(&mut *visit);
        return;
    }
    if let Some(index) = array_index(&rest[0]) {
        return match items.get(index) {
            Some(item) if rest.len() == 1 => visit(item),
            Some(item) => match Container::of(item) {
                Some(inner) => key_values(inner, &rest[1..], depth + 1, arrays, visit),
                None => visit(&NULL),
            },
            None => visit(&NULL),
        };
    }
    if items.is_empty() {
        return visit(&NULL);
    }
    for item in items {
        match item {
            Bson::Document(sub) => key_values(Container::Document(sub), rest, depth, arrays, visit),
            _ => visit(&NULL),
        }
    }
}

/// The value at `path` in `doc`, following sub-documents and array indexes but never expanding
/// an array (`"a.b"` finds nothing in `{a: [{b: 1}]}`; `"a.0.b"` finds `1`).
pub fn get_path<'a>(doc: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut parts = path.split('.');
    let mut value = doc.get(parts.next()?)?;
    for part in parts {
        value = Container::of(value)?.get(part)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn reached(doc: &Document, path: &str, leaf: LeafArrays) -> Vec<Option<Bson>> {
        let path = FieldPath::new(path);
        let mut out = Vec::new();
        any_value(
            doc.into(),
            path.parts(),
            leaf,
            &mut |v: Option<&Bson>, _| {
                out.push(v.cloned());
                false
            },
        );
        out
    }

    fn keys(doc: &Document, path: &str) -> Vec<Bson> {
        let path = FieldPath::new(path);
        let mut out = Vec::new();
        for_each_key_value(doc, path.parts(), &mut |v: &Bson| out.push(v.clone()));
        out
    }

    #[test]
    fn array_indexes_are_canonical_decimals() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("12"), Some(12));
        assert_eq!(array_index("01"), None);
        assert_eq!(array_index("-1"), None);
        assert_eq!(array_index(""), None);
        assert_eq!(array_index("1a"), None);
    }

    #[test]
    fn walk_reaches_missing_scalars_and_leaf_arrays() {
        let d = doc! {"a": {"b": 1}, "c": 5, "l": [1, [2]]};
        assert_eq!(
            reached(&d, "a.b", LeafArrays::Expand),
            vec![Some(Bson::Int32(1))]
        );
        assert_eq!(reached(&d, "x", LeafArrays::Expand), vec![None]);
        assert_eq!(reached(&d, "c.d", LeafArrays::Expand), vec![None]);
        let whole = Bson::Array(vec![Bson::Int32(1), Bson::Array(vec![Bson::Int32(2)])]);
        assert_eq!(
            reached(&d, "l", LeafArrays::Expand),
            vec![
                Some(Bson::Int32(1)),
                Some(Bson::Array(vec![Bson::Int32(2)])),
                Some(whole.clone())
            ]
        );
        assert_eq!(reached(&d, "l", LeafArrays::Whole), vec![Some(whole)]);
    }

    #[test]
    fn walk_descends_into_document_elements_only() {
        let d = doc! {"a": [{"b": 1}, {"c": 2}, 3, [{"b": 4}]]};
        assert_eq!(
            reached(&d, "a.b", LeafArrays::Expand),
            vec![Some(Bson::Int32(1)), None]
        );
        let scalars = doc! {"a": [1, 2]};
        assert!(reached(&scalars, "a.b", LeafArrays::Expand).is_empty());
    }

    #[test]
    fn walk_follows_positions_and_numeric_field_names() {
        let d = doc! {"a": [{"b": 1}, {"b": 2}]};
        // "0" is looked up in each element (missing), then used as a position.
        assert_eq!(
            reached(&d, "a.0.b", LeafArrays::Expand),
            vec![None, Some(Bson::Int32(1)), None]
        );
        let named = doc! {"a": {"0": 7}};
        assert_eq!(
            reached(&named, "a.0", LeafArrays::Expand),
            vec![Some(Bson::Int32(7))]
        );
        let nested = doc! {"a": [[5, 6]]};
        assert_eq!(
            reached(&nested, "a.0.1", LeafArrays::Expand),
            vec![Some(Bson::Int32(6))]
        );
        // A position at the end of the path is not expanded.
        assert_eq!(
            reached(&nested, "a.0", LeafArrays::Expand),
            vec![Some(Bson::Array(vec![Bson::Int32(5), Bson::Int32(6)]))]
        );
    }

    #[test]
    fn walk_stops_at_the_first_hit() {
        let d = doc! {"a": [1, 2, 3]};
        let path = FieldPath::new("a");
        let mut seen = 0;
        let hit = any_value(
            (&d).into(),
            path.parts(),
            LeafArrays::Expand,
            &mut |v: Option<&Bson>, at| {
                seen += 1;
                v == Some(&Bson::Int32(2)) && at == Some(1)
            },
        );
        assert!(hit);
        assert_eq!(seen, 2);
    }

    #[test]
    fn key_values_follow_index_key_rules() {
        assert_eq!(keys(&doc! {}, "a"), vec![Bson::Null]);
        assert_eq!(keys(&doc! {"a": []}, "a"), vec![Bson::Undefined]);
        assert_eq!(
            keys(&doc! {"a": [3, [1]]}, "a"),
            vec![Bson::Int32(3), Bson::Array(vec![Bson::Int32(1)])]
        );
        assert_eq!(
            keys(&doc! {"a": [{"b": 2}, 5, {"c": 1}]}, "a.b"),
            vec![Bson::Int32(2), Bson::Null, Bson::Null]
        );
        assert_eq!(
            keys(&doc! {"a": [{"b": 2}, {"b": 3}]}, "a.1.b"),
            vec![Bson::Int32(3)]
        );
        assert_eq!(keys(&doc! {"a": 1}, "a.b"), vec![Bson::Null]);
    }

    #[test]
    fn key_values_report_the_first_array() {
        let d = doc! {"a": {"b": [1, 2]}, "c": 1};
        let path = FieldPath::new("a.b");
        let arrays = for_each_key_value(&d, path.parts(), &mut |_: &Bson| {});
        assert_eq!(arrays.first_array_depth, Some(2));
        let path = FieldPath::new("c");
        let arrays = for_each_key_value(&d, path.parts(), &mut |_: &Bson| {});
        assert_eq!(arrays.first_array_depth, None);
    }

    #[test]
    fn get_path_follows_documents_and_indexes() {
        let d = doc! {"a": [{"b": 1}], "c": {"d": 2}};
        assert_eq!(get_path(&d, "c.d"), Some(&Bson::Int32(2)));
        assert_eq!(get_path(&d, "a.0.b"), Some(&Bson::Int32(1)));
        assert_eq!(get_path(&d, "a.b"), None);
        assert_eq!(get_path(&d, "x"), None);
    }

    #[test]
    fn prefixes_are_by_component() {
        let a = FieldPath::new("a");
        assert!(a.is_prefix_of(&FieldPath::new("a.b")));
        assert!(a.is_prefix_of(&a));
        assert!(!a.is_prefix_of(&FieldPath::new("ab")));
        assert!(!FieldPath::new("a.b").is_prefix_of(&a));
    }
}
