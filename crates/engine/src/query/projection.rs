//! Projections (`{sku: 1, _id: 0}`), with the rules of `mongod`'s `find`.
//!
//! A projection includes fields (`{a: 1, "b.c": 1}`, `_id` too unless `_id: 0`) or excludes
//! them (`{a: 0}`); the two may not be mixed except for `_id`. `true`/`false` and any number
//! count as 1/0, and sub-documents nest (`{a: {b: 1}}` is `{"a.b": 1}`). Paths reach into
//! sub-documents and into the documents of arrays. `{a: {$slice: n | [skip, n]}}` trims an array
//! and `{a: {$elemMatch: {...}}}` keeps its first matching element (any query on the element,
//! see [`ElementFilter`]). The positional `{"a.$": 1}` keeps, of the first array on
//! the path, the element the query matched ([`Projection::apply_at`]). `$meta`, literal values
//! and aggregation expressions are refused with `BadValue`. An empty projection returns the
//! whole document.
//! Output fields keep the document's order; `$elemMatch` fields come last, as in `mongod` 4.4+.

use bson::{Bson, Document};

use super::filter::ElementFilter;
use super::path::check_field_path;
use super::update::type_name;
use crate::compare::Number;
use crate::error::{CommandError, CommandResult};

/// A parsed projection.
#[derive(Debug, Clone)]
pub struct Projection {
    mode: Mode,
    root: Tree,
    /// The path of a positional projection (`"a.b"` for `{"a.b.$": 1}`), if there is one.
    positional: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `{}`: the whole document.
    Identity,
    Inclusion,
    Exclusion,
}

/// The projection of one document level, in specification order.
#[derive(Debug, Clone, Default)]
struct Tree {
    children: Vec<(String, Node)>,
}

#[derive(Debug, Clone)]
enum Node {
    Include,
    Exclude,
    Slice(Slice),
    ElemMatch(ElementFilter),
    Sub(Tree),
}

/// A `$slice`: `limit` elements from the start (from the end if negative), or `limit` elements
/// after `skip` (counted from the end if negative).
#[derive(Debug, Clone, Copy)]
struct Slice {
    skip: Option<i32>,
    limit: i32,
}

/// What parsing has learnt about the projection so far.
#[derive(Default)]
struct ParseState {
    mode: Option<Mode>,
    id_specified: bool,
    id_included: bool,
    id_excluded: bool,
    has_slice: bool,
    has_elem_match: bool,
    positional: Option<Vec<String>>,
}

impl Projection {
    /// Parses a projection document.
    pub fn parse(spec: &Document) -> CommandResult<Projection> {
        if spec.is_empty() {
            return Ok(Projection {
                mode: Mode::Identity,
                root: Tree::default(),
                positional: None,
            });
        }
        let mut state = ParseState::default();
        let mut root = Tree::default();
        for (name, value) in spec {
            state.id_specified |= name == "_id" || name.starts_with("_id.");
            parse_element(&mut state, &mut root, name, value, true)?;
        }
        let mode = state.mode.unwrap_or_else(|| state.default_mode());
        if mode == Mode::Inclusion && !state.id_specified {
            root.children.push(("_id".to_owned(), Node::Include));
        }
        if mode == Mode::Exclusion && state.id_included {
            root.children
                .retain(|(name, node)| !(name == "_id" && matches!(node, Node::Include)));
        }
        Ok(Projection {
            mode,
            root,
            positional: state.positional,
        })
    }

    /// Whether the projection is positional, so that [`Projection::apply_at`] needs the
    /// array position the query matched.
    pub fn is_positional(&self) -> bool {
        self.positional.is_some()
    }

    /// The projected copy of `doc`, a positional projection keeping the element at
    /// `position` (where the query matched, see
    /// [`Filter::matched_position`](super::Filter::matched_position)) of the first array on
    /// its path. Without a position, or one past the array's end, that is `mongod`'s error
    /// 51246.
    pub fn apply_at(&self, doc: &Document, position: Option<usize>) -> CommandResult<Document> {
        let mut out = self.apply(doc);
        if let Some(path) = &self.positional {
            let mismatch = || {
                CommandError::with_code(
                    51246,
                    "positional operator '.$' couldn't find a matching element in the array",
                )
            };
            let position = position.ok_or_else(mismatch)?;
            if !keep_element(&mut out, path, position) {
                return Err(mismatch());
            }
        }
        Ok(out)
    }

    /// The projected copy of `doc`.
    pub fn apply(&self, doc: &Document) -> Document {
        match self.mode {
            Mode::Identity => doc.clone(),
            Mode::Inclusion => {
                let mut out = include_document(&self.root, doc);
                append_elem_matches(&self.root, doc, &mut out);
                out
            }
            Mode::Exclusion => exclude_document(&self.root, doc),
        }
    }
}

impl ParseState {
    /// The mode of a projection without plain inclusions or exclusions (`mongod`'s defaults).
    fn default_mode(&self) -> Mode {
        if self.has_slice {
            if self.id_included {
                Mode::Inclusion
            } else {
                Mode::Exclusion
            }
        } else if self.has_elem_match || self.id_included {
            Mode::Inclusion
        } else {
            Mode::Exclusion
        }
    }

    fn note_inclusion(&mut self, name: &str, top_level_id: bool) -> CommandResult<()> {
        if top_level_id {
            self.id_included = true;
            return Ok(());
        }
        if self.mode == Some(Mode::Exclusion) {
            return Err(CommandError::with_code(
                31253,
                format!("Cannot do inclusion on field {name} in exclusion projection"),
            ));
        }
        self.mode = Some(Mode::Inclusion);
        Ok(())
    }

    fn note_exclusion(&mut self, name: &str, top_level_id: bool) -> CommandResult<()> {
        if top_level_id {
            self.id_excluded = true;
            return Ok(());
        }
        if self.mode == Some(Mode::Inclusion) {
            return Err(CommandError::with_code(
                31254,
                format!("Cannot do exclusion on field {name} in inclusion projection"),
            ));
        }
        self.mode = Some(Mode::Exclusion);
        Ok(())
    }
}

fn parse_element(
    state: &mut ParseState,
    parent: &mut Tree,
    name: &str,
    value: &Bson,
    is_root: bool,
) -> CommandResult<()> {
    let positional = has_positional(name);
    let top_level_id = is_root && name == "_id";
    match value {
        Bson::Document(sub) => {
            if positional {
                return Err(CommandError::with_code(
                    31271,
                    "positional projection cannot be used with an expression or sub object",
                ));
            }
            check_field_path(name)?;
            parse_sub_document(state, parent, name, sub, is_root)
        }
        Bson::Boolean(_)
        | Bson::Int32(_)
        | Bson::Int64(_)
        | Bson::Double(_)
        | Bson::Decimal128(_) => {
            if positional {
                return parse_positional(state, parent, name, value);
            }
            check_field_path(name)?;
            if truthy(value) {
                add_node(parent, name, Node::Include)?;
                state.note_inclusion(name, top_level_id)
            } else {
                add_node(parent, name, Node::Exclude)?;
                state.note_exclusion(name, top_level_id)
            }
        }
        _ => Err(CommandError::bad_value(format!(
            "literal values in find projections are not supported by this engine (field '{name}')"
        ))),
    }
}

fn parse_sub_document(
    state: &mut ParseState,
    parent: &mut Tree,
    name: &str,
    sub: &Document,
    is_root: bool,
) -> CommandResult<()> {
    let mut fields = sub.iter();
    if let (Some((operator, argument)), None) = (fields.next(), fields.next()) {
        if operator.starts_with('$') {
            return parse_operator(state, parent, name, operator, argument, is_root);
        }
    }
    if sub.is_empty() {
        return Err(CommandError::with_code(
            51270,
            format!(
                "An empty sub-projection is not a valid value. Found empty object at path {name}"
            ),
        ));
    }
    let tree = sub_tree(parent, name)?;
    for (field, value) in sub {
        parse_element(state, tree, field, value, false)?;
    }
    Ok(())
}

fn parse_operator(
    state: &mut ParseState,
    parent: &mut Tree,
    name: &str,
    operator: &str,
    argument: &Bson,
    is_root: bool,
) -> CommandResult<()> {
    match operator {
        "$slice" => {
            add_node(parent, name, Node::Slice(parse_slice(argument)?))?;
            state.has_slice = true;
            Ok(())
        }
        "$elemMatch" => {
            let Bson::Document(condition) = argument else {
                return Err(CommandError::with_code(
                    31274,
                    format!(
                        "elemMatch: Invalid argument, object required, but got {}",
                        type_name(argument)
                    ),
                ));
            };
            if !is_root || name.contains('.') {
                return Err(CommandError::with_code(
                    31275,
                    "Cannot use $elemMatch projection on a nested field.",
                ));
            }
            add_node(
                parent,
                name,
                Node::ElemMatch(ElementFilter::for_elem_match(condition)?),
            )?;
            state.has_elem_match = true;
            Ok(())
        }
        "$meta" => Err(CommandError::bad_value(
            "$meta projections are not supported by this engine",
        )),
        other => Err(CommandError::bad_value(format!(
            "the projection expression {other} is not supported by this engine"
        ))),
    }
}

fn parse_slice(argument: &Bson) -> CommandResult<Slice> {
    if Number::from_bson(argument).is_some() {
        return Ok(Slice {
            skip: None,
            limit: number_int(argument),
        });
    }
    let Bson::Array(items) = argument else {
        return Err(CommandError::with_code(
            31273,
            "$slice only supports numbers and [skip, limit] arrays",
        ));
    };
    let [skip, limit] = items.as_slice() else {
        return Err(CommandError::with_code(
            31272,
            "$slice array argument should be of form [skip, limit]",
        ));
    };
    if Number::from_bson(skip).is_none() {
        return Err(CommandError::with_code(
            31257,
            format!(
                "$slice expects the skip argument to be a number, got {}",
                type_name(skip)
            ),
        ));
    }
    if Number::from_bson(limit).is_none() {
        return Err(CommandError::with_code(
            31258,
            format!(
                "$slice expects the limit argument to be a number, got {}",
                type_name(limit)
            ),
        ));
    }
    let limit = number_int(limit);
    if limit <= 0 {
        return Err(CommandError::with_code(
            31259,
            format!("$slice limit must be positive, got {limit}"),
        ));
    }
    Ok(Slice {
        skip: Some(number_int(skip)),
        limit,
    })
}

/// A number as a 32-bit integer, truncated and saturated (`NaN` is 0).
fn number_int(value: &Bson) -> i32 {
    match value {
        Bson::Int32(i) => *i,
        Bson::Int64(i) => i32::try_from(*i).unwrap_or(if *i < 0 { i32::MIN } else { i32::MAX }),
        // `as` truncates toward zero, saturates, and maps NaN to 0.
        other => Number::from_bson(other).map_or(0, |n| n.as_f64() as i32),
    }
}

fn truthy(value: &Bson) -> bool {
    match value {
        Bson::Boolean(b) => *b,
        other => Number::from_bson(other).is_some_and(|n| n.as_f64() != 0.0),
    }
}

/// Whether a projected path uses the positional operator (`a.$`, `a.$.b`).
/// Parses `{"a.b.$": 1}`: an inclusion of `a.b` whose first array is cut to the matched
/// element when the projection is applied.
fn parse_positional(
    state: &mut ParseState,
    parent: &mut Tree,
    name: &str,
    value: &Bson,
) -> CommandResult<()> {
    let Some(path) = name.strip_suffix(".$") else {
        return Err(CommandError::with_code(
            31394,
            "As of 4.4, it's illegal to specify positional operator in the middle of a path. \
             Positional projection may only be used at the end, for example: a.b.$. If the \
             query previously used a form like a.b.$.d, remove the parts following the '$' and \
             the results will be equivalent.",
        ));
    };
    if state.positional.is_some() {
        return Err(CommandError::with_code(
            31276,
            "Cannot specify more than one positional projection per query.",
        ));
    }
    if !truthy(value) {
        return Err(CommandError::with_code(
            31395,
            "positional projection cannot be used with exclusion",
        ));
    }
    check_field_path(path)?;
    add_node(parent, path, Node::Include)?;
    state.note_inclusion(path, false)?;
    state.positional = Some(path.split('.').map(str::to_owned).collect());
    Ok(())
}

/// Replaces the first array on `path` in `doc` with its element at `position`; false when the
/// path reaches no array or the array has no such element.
fn keep_element(doc: &mut Document, path: &[String], position: usize) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    match doc.get_mut(first) {
        Some(Bson::Array(items)) => match items.get(position) {
            Some(item) => {
                *items = vec![item.clone()];
                true
            }
            None => false,
        },
        Some(Bson::Document(sub)) => keep_element(sub, rest, position),
        _ => false,
    }
}

fn has_positional(name: &str) -> bool {
    name == "$" || name.ends_with(".$") || name.contains(".$.")
}

impl Tree {
    fn get(&self, name: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, node)| node)
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.children.iter().position(|(n, _)| n == name)
    }
}

/// Adds `node` at the dotted `path` below `tree`; a path already projected, or one below a
/// projected field, is a collision.
fn add_node(tree: &mut Tree, path: &str, node: Node) -> CommandResult<()> {
    let parts: Vec<&str> = path.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        return Ok(());
    };
    let mut current = tree;
    for (i, part) in parents.iter().enumerate() {
        current = match current.position(part) {
            None => {
                current
                    .children
                    .push(((*part).to_owned(), Node::Sub(Tree::default())));
                let at = current.children.len() - 1;
                sub_tree_at(current, at, path, &parts[i + 1..])?
            }
            Some(at) => sub_tree_at(current, at, path, &parts[i + 1..])?,
        };
    }
    if current.get(last).is_some() {
        return Err(CommandError::with_code(
            31250,
            format!("Path collision at {path}"),
        ));
    }
    current.children.push(((*last).to_owned(), node));
    Ok(())
}

fn sub_tree_at<'t>(
    tree: &'t mut Tree,
    at: usize,
    path: &str,
    rest: &[&str],
) -> CommandResult<&'t mut Tree> {
    match tree.children.get_mut(at) {
        Some((_, Node::Sub(sub))) => Ok(sub),
        _ => Err(CommandError::with_code(
            31249,
            format!(
                "Path collision at {path} remaining portion {}",
                rest.join(".")
            ),
        )),
    }
}

/// The sub-projection at the dotted `path` below `tree`, created if missing.
fn sub_tree<'t>(tree: &'t mut Tree, path: &str) -> CommandResult<&'t mut Tree> {
    let mut current = tree;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let at = match current.position(part) {
            Some(at) => at,
            None => {
                current
                    .children
                    .push(((*part).to_owned(), Node::Sub(Tree::default())));
                current.children.len() - 1
            }
        };
        current = sub_tree_at(current, at, path, &parts[i + 1..])?;
    }
    Ok(current)
}

// ---------------------------------------------------------------------------------------------
// Applying
// ---------------------------------------------------------------------------------------------

fn include_document(tree: &Tree, doc: &Document) -> Document {
    let mut out = Document::new();
    for (name, value) in doc {
        let projected = match tree.get(name) {
            Some(Node::Include) => Some(value.clone()),
            Some(Node::Slice(slice)) => Some(slice.apply(value)),
            Some(Node::Sub(sub)) => include_value(sub, value),
            Some(Node::Exclude | Node::ElemMatch(_)) | None => None,
        };
        if let Some(projected) = projected {
            out.insert(name.clone(), projected);
        }
    }
    out
}

/// A value below an inclusion: documents are projected, arrays element-wise (dropping scalars),
/// scalars are dropped.
fn include_value(tree: &Tree, value: &Bson) -> Option<Bson> {
    match value {
        Bson::Document(doc) => Some(Bson::Document(include_document(tree, doc))),
        Bson::Array(items) => Some(Bson::Array(
            items
                .iter()
                .filter_map(|item| include_value(tree, item))
                .collect(),
        )),
        _ => None,
    }
}

fn append_elem_matches(tree: &Tree, doc: &Document, out: &mut Document) {
    for (name, node) in &tree.children {
        if let Node::ElemMatch(matcher) = node {
            if let Some(found) = first_match(matcher, doc.get(name)) {
                out.insert(name.clone(), found);
            }
        }
    }
}

/// `[first matching element]` of an array value, if any.
fn first_match(matcher: &ElementFilter, value: Option<&Bson>) -> Option<Bson> {
    match value {
        Some(Bson::Array(items)) => items
            .iter()
            .find(|item| matcher.matches(item))
            .map(|item| Bson::Array(vec![item.clone()])),
        _ => None,
    }
}

fn exclude_document(tree: &Tree, doc: &Document) -> Document {
    let mut out = Document::new();
    for (name, value) in doc {
        let projected = match tree.get(name) {
            None | Some(Node::Include) => Some(value.clone()),
            Some(Node::Exclude) => None,
            Some(Node::Slice(slice)) => Some(slice.apply(value)),
            Some(Node::ElemMatch(matcher)) => first_match(matcher, Some(value)),
            Some(Node::Sub(sub)) => Some(exclude_value(sub, value)),
        };
        if let Some(projected) = projected {
            out.insert(name.clone(), projected);
        }
    }
    out
}

/// A value below an exclusion: documents are projected, arrays element-wise, scalars kept.
fn exclude_value(tree: &Tree, value: &Bson) -> Bson {
    match value {
        Bson::Document(doc) => Bson::Document(exclude_document(tree, doc)),
        Bson::Array(items) => {
            Bson::Array(items.iter().map(|item| exclude_value(tree, item)).collect())
        }
        other => other.clone(),
    }
}

impl Slice {
    /// The sliced array; other values are returned as they are.
    fn apply(&self, value: &Bson) -> Bson {
        let Bson::Array(items) = value else {
            return value.clone();
        };
        let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let limit = i64::from(self.limit);
        let (start, end) = match self.skip {
            None if limit >= 0 => (0, limit.min(len)),
            None => ((len + limit).max(0), len),
            Some(skip) => {
                let skip = i64::from(skip);
                let start = if skip < 0 {
                    (len + skip).max(0)
                } else {
                    skip.min(len)
                };
                (start, (start + limit).min(len))
            }
        };
        let start = usize::try_from(start).unwrap_or(0);
        let end = usize::try_from(end).unwrap_or(0).max(start);
        Bson::Array(items[start..end].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;
    use crate::error::ErrorCode;

    fn projection(spec: Document) -> Projection {
        Projection::parse(&spec).unwrap_or_else(|e| panic!("{spec} did not parse: {e}"))
    }

    fn project(spec: Document, doc: &Document) -> Document {
        projection(spec).apply(doc)
    }

    fn parse_error(spec: Document) -> CommandError {
        match Projection::parse(&spec) {
            Ok(p) => panic!("{spec} parsed as {p:?}"),
            Err(e) => e,
        }
    }

    /// Same fields in the same order with equal values.
    fn assert_same(actual: &Document, expected: &Document) {
        let a: Vec<_> = actual.iter().collect();
        let e: Vec<_> = expected.iter().collect();
        assert_eq!(a, e, "\n  actual: {actual}\nexpected: {expected}");
    }

    fn sample() -> Document {
        doc! {
            "_id": 1,
            "a": 1,
            "b": {"c": 2, "d": 3},
            "e": [{"f": 1, "g": 2}, 5, [{"f": 3, "g": 4}]],
            "h": [1, 2, 3, 4, 5],
        }
    }

    #[test]
    fn empty_projection_returns_the_whole_document() {
        assert_same(&project(doc! {}, &sample()), &sample());
    }

    #[test]
    fn inclusion_keeps_listed_fields_and_the_id_in_document_order() {
        let result = project(doc! {"b": 1, "a": true}, &sample());
        assert_same(&result, &doc! {"_id": 1, "a": 1, "b": {"c": 2, "d": 3}});
        let result = project(doc! {"a": 1, "_id": 0}, &sample());
        assert_same(&result, &doc! {"a": 1});
        let result = project(doc! {"_id": 1}, &sample());
        assert_same(&result, &doc! {"_id": 1});
        // Any non-zero number includes.
        let result = project(doc! {"a": -2.5, "x": 1_i64, "_id": false}, &sample());
        assert_same(&result, &doc! {"a": 1});
    }

    #[test]
    fn exclusion_drops_listed_fields() {
        let result = project(doc! {"b": 0, "e": false, "h": 0.0}, &sample());
        assert_same(&result, &doc! {"_id": 1, "a": 1});
        let result = project(doc! {"_id": 0}, &sample());
        assert_eq!(result.keys().next().map(String::as_str), Some("a"));
        let result = project(doc! {"a": 0, "_id": 1, "e": 0, "h": 0}, &sample());
        assert_same(&result, &doc! {"_id": 1, "b": {"c": 2, "d": 3}});
    }

    #[test]
    fn dotted_paths_reach_into_documents_and_arrays() {
        let result = project(doc! {"b.c": 1, "e.f": 1, "_id": 0}, &sample());
        assert_same(&result, &doc! {"b": {"c": 2}, "e": [{"f": 1}, [{"f": 3}]]});
        let result = project(doc! {"b.c": 0, "e.f": 0, "h": 0}, &sample());
        assert_same(
            &result,
            &doc! {"_id": 1, "a": 1, "b": {"d": 3}, "e": [{"g": 2}, 5, [{"g": 4}]]},
        );
        // A scalar below an included path is dropped; a document without the field stays empty.
        let result = project(doc! {"a.x": 1, "b.x": 1, "_id": 0}, &sample());
        assert_same(&result, &doc! {"b": {}});
    }

    #[test]
    fn sub_documents_nest_like_dotted_paths() {
        let nested = project(doc! {"b": {"c": 1}, "e": {"g": 1}}, &sample());
        let dotted = project(doc! {"b.c": 1, "e.g": 1}, &sample());
        assert_same(&nested, &dotted);
        let result = project(doc! {"b": {"c": 0}}, &sample());
        assert_same(
            &result.get_document("b").cloned().expect("b"),
            &doc! {"d": 3},
        );
    }

    #[test]
    fn mixing_inclusion_and_exclusion_is_refused() {
        let e = parse_error(doc! {"a": 1, "b": 0});
        assert_eq!(e.code, 31254);
        assert_eq!(
            e.message,
            "Cannot do exclusion on field b in inclusion projection"
        );
        let e = parse_error(doc! {"a": 0, "b": 1});
        assert_eq!(e.code, 31253);
        assert_eq!(
            e.message,
            "Cannot do inclusion on field b in exclusion projection"
        );
        let e = parse_error(doc! {"a": {"b": 1, "c": 0}});
        assert_eq!(e.code, 31254);
    }

    #[test]
    fn slice_trims_arrays() {
        let slice = |argument: Bson| {
            let result = project(doc! {"h": {"$slice": argument}}, &sample());
            result.get("h").cloned().expect("h")
        };
        assert_eq!(slice(Bson::Int32(2)), Bson::from(vec![1, 2]));
        assert_eq!(slice(Bson::Int32(-2)), Bson::from(vec![4, 5]));
        assert_eq!(slice(Bson::Int32(0)), Bson::from(Vec::<i32>::new()));
        assert_eq!(slice(Bson::Int64(10)), Bson::from(vec![1, 2, 3, 4, 5]));
        assert_eq!(slice(Bson::from(vec![1, 2])), Bson::from(vec![2, 3]));
        assert_eq!(slice(Bson::from(vec![-2, 5])), Bson::from(vec![4, 5]));
        assert_eq!(slice(Bson::from(vec![-10, 2])), Bson::from(vec![1, 2]));
        assert_eq!(slice(Bson::from(vec![9, 2])), Bson::from(Vec::<i32>::new()));
    }

    #[test]
    fn slice_alone_keeps_other_fields_and_with_inclusion_keeps_only_included() {
        let result = project(doc! {"h": {"$slice": 1}}, &sample());
        assert_eq!(result.len(), sample().len());
        assert_eq!(result.get("h"), Some(&Bson::from(vec![1])));
        let result = project(doc! {"h": {"$slice": 1}, "a": 1}, &sample());
        assert_same(&result, &doc! {"_id": 1, "a": 1, "h": [1]});
        let result = project(doc! {"h": {"$slice": 1}, "_id": 1}, &sample());
        assert_same(&result, &doc! {"_id": 1, "h": [1]});
        // Non-arrays are returned as they are.
        let result = project(
            doc! {"a": {"$slice": 1}, "_id": 0, "b": 0, "e": 0, "h": 0},
            &sample(),
        );
        assert_same(&result, &doc! {"a": 1});
    }

    #[test]
    fn slice_arguments_are_checked() {
        assert_eq!(parse_error(doc! {"h": {"$slice": "x"}}).code, 31273);
        assert_eq!(parse_error(doc! {"h": {"$slice": [1]}}).code, 31272);
        assert_eq!(parse_error(doc! {"h": {"$slice": ["x", 1]}}).code, 31257);
        assert_eq!(parse_error(doc! {"h": {"$slice": [1, "x"]}}).code, 31258);
        let e = parse_error(doc! {"h": {"$slice": [1, 0]}});
        assert_eq!(e.code, 31259);
        assert_eq!(e.message, "$slice limit must be positive, got 0");
    }

    #[test]
    fn elem_match_keeps_the_first_matching_element_last() {
        let doc = doc! {
            "_id": 1,
            "scores": [{"s": 3}, {"s": 8}, {"s": 9}],
            "name": "x",
            "n": [1, 5, 7],
        };
        let result = project(
            doc! {"scores": {"$elemMatch": {"s": {"$gt": 5}}}, "name": 1},
            &doc,
        );
        assert_same(&result, &doc! {"_id": 1, "name": "x", "scores": [{"s": 8}]});
        let result = project(doc! {"n": {"$elemMatch": {"$gte": 5}}}, &doc);
        assert_same(&result, &doc! {"_id": 1, "n": [5]});
        let result = project(doc! {"n": {"$elemMatch": {"$gt": 100}}}, &doc);
        assert_same(&result, &doc! {"_id": 1});
        let e = parse_error(doc! {"a.b": {"$elemMatch": {"x": 1}}});
        assert_eq!(e.code, 31275);
        assert_eq!(parse_error(doc! {"a": {"$elemMatch": 1}}).code, 31274);
    }

    #[test]
    fn unsupported_forms_are_bad_values() {
        for spec in [
            doc! {"a": {"$meta": "textScore"}},
            doc! {"a": "literal"},
            doc! {"a": null},
            doc! {"a": {"$add": [1, 2]}},
        ] {
            let e = parse_error(spec.clone());
            assert!(e.is(ErrorCode::BadValue), "{spec}: {e}");
        }
    }

    #[test]
    fn a_positional_projection_cuts_the_first_array_to_the_matched_element() {
        let p = projection(doc! {"a.b.$": 1});
        assert!(p.is_positional());
        let d = doc! {"_id": 1, "a": {"b": [1, 2, 3], "c": 0}, "z": 1};
        assert_eq!(
            p.apply_at(&d, Some(2)).expect("projects"),
            doc! {"_id": 1, "a": {"b": [3]}}
        );
        assert_eq!(
            p.apply_at(&d, Some(3)).expect_err("past the end").code,
            51246
        );
        assert_eq!(p.apply_at(&d, None).expect_err("no match").code, 51246);
        let through = projection(doc! {"a.b.$": 1, "_id": 0});
        let d = doc! {"a": [{"b": 1, "c": 1}, {"b": 2}]};
        assert_eq!(
            through.apply_at(&d, Some(1)).expect("projects"),
            doc! {"a": [{"b": 2}]}
        );
        assert!(!projection(doc! {"a": 1}).is_positional());
    }

    #[test]
    fn paths_are_validated() {
        assert_eq!(parse_error(doc! {"a": 1, "a.b": 1}).code, 31249);
        assert_eq!(parse_error(doc! {"a.b": 1, "a": 1}).code, 31250);
        assert_eq!(parse_error(doc! {"a": {}}).code, 51270);
        assert_eq!(parse_error(doc! {"a..b": 1}).code, 15998);
        assert_eq!(parse_error(doc! {"a.": 1}).code, 40353);
        assert_eq!(parse_error(doc! {"$a": 1}).code, 16410);
        // Sibling paths share their parent.
        let result = project(doc! {"b.c": 1, "b": {"d": 1}, "_id": 0}, &sample());
        assert_same(&result, &doc! {"b": {"c": 2, "d": 3}});
    }
}
