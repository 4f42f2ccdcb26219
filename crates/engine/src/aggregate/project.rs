//! `$project`, `$addFields` / `$set` and `$unset`: reshaping documents field by field.
//!
//! A specification is parsed into a tree of paths. An *inclusion* projection keeps the named
//! fields (and `_id`, unless excluded) in the order of the input document, then appends the
//! computed fields in the order of the specification. An *exclusion* projection drops the
//! named fields. `$addFields` keeps everything and sets the computed fields, appending new ones.
//! Dotted paths reach into sub-documents and into the documents of arrays.

use bson::{Bson, Document};

use crate::aggregate::expr::{Expr, is_operator, split_path, truthy};
use crate::error::{CommandError, CommandResult};

/// A parsed `$project`, `$addFields` or `$unset` specification.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    kind: Kind,
    root: Node,
}

/// What a projection does with the fields it does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Drops them (`{a: 1}`).
    Inclusion,
    /// Keeps them (`{a: 0}`, `$unset`).
    Exclusion,
    /// Keeps them and sets computed fields (`$addFields`).
    AddFields,
}

/// The fields named at one level of the specification, in specification order.
#[derive(Debug, Clone, Default)]
struct Node {
    children: Vec<(String, Child)>,
}

/// What the specification says of one field.
#[derive(Debug, Clone)]
enum Child {
    Include,
    Exclude,
    Computed(Expr),
    Nested(Node),
}

impl Node {
    fn get(&self, name: &str) -> Option<&Child> {
        self.children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, child)| child)
    }

    fn has_computed(&self) -> bool {
        self.children.iter().any(|(_, child)| match child {
            Child::Computed(_) => true,
            Child::Nested(node) => node.has_computed(),
            Child::Include | Child::Exclude => false,
        })
    }

    /// Adds `leaf` at `parts` (the components of `full`), refusing a path that another path of
    /// the specification already covers.
    fn insert(&mut self, parts: &[String], full: &str, leaf: Child) -> CommandResult<()> {
        let Some((first, rest)) = parts.split_first() else {
            return Ok(());
        };
        let position = self.children.iter().position(|(n, _)| n == first);
        if rest.is_empty() {
            if position.is_some() {
                return Err(CommandError::with_code(
                    31250,
                    format!("Path collision at {full}"),
                ));
            }
            self.children.push((first.clone(), leaf));
            return Ok(());
        }
        let index = match position {
            Some(index) => index,
            None => {
                self.children
                    .push((first.clone(), Child::Nested(Node::default())));
                self.children.len() - 1
            }
        };
        match &mut self.children[index].1 {
            Child::Nested(node) => node.insert(rest, full, leaf),
            _ => Err(CommandError::with_code(
                31249,
                format!(
                    "Path collision at {full} remaining portion {}",
                    rest.join(".")
                ),
            )),
        }
    }
}

/// How many components a projected path may have.
const MAX_PATH_DEPTH: usize = 200;

/// Refuses a path nested deeper than [`MAX_PATH_DEPTH`].
fn check_depth(path: &str) -> CommandResult<()> {
    if path.split('.').count() > MAX_PATH_DEPTH {
        return Err(CommandError::bad_value(format!(
            "a projected path may have at most {MAX_PATH_DEPTH} components"
        )));
    }
    Ok(())
}

/// Whether a sub-document of a specification is an expression (`{$add: [...]}`) rather than
/// more fields: it has one field, named like an operator.
fn is_expression(spec: &Document) -> bool {
    spec.len() == 1 && spec.keys().all(|k| k.starts_with('$'))
}

/// Parses a computed value; an unknown operator at the top of it is refused as `mongod`'s
/// projection parser refuses it.
fn computed(value: &Bson) -> CommandResult<Child> {
    if let Bson::Document(spec) = value {
        if let Some(name) = spec.keys().next().filter(|_| is_expression(spec)) {
            if !is_operator(name) {
                return Err(CommandError::with_code(
                    31325,
                    format!("Unknown expression {name}"),
                ));
            }
        }
    }
    Ok(Child::Computed(Expr::parse(value)?))
}

/// Collects a `$project` specification, tracking whether it includes or excludes.
struct ProjectBuilder {
    kind: Option<Kind>,
    root: Node,
}

impl ProjectBuilder {
    fn add(&mut self, path: &str, value: &Bson) -> CommandResult<()> {
        check_depth(path)?;
        let parts = split_path(path)?;
        let leaf = match value {
            Bson::Boolean(_)
            | Bson::Int32(_)
            | Bson::Int64(_)
            | Bson::Double(_)
            | Bson::Decimal128(_) => {
                let included = truthy(&Some(value.clone()));
                if path != "_id" {
                    let kind = if included {
                        Kind::Inclusion
                    } else {
                        Kind::Exclusion
                    };
                    self.set_kind(kind, path)?;
                }
                if included {
                    Child::Include
                } else {
                    Child::Exclude
                }
            }
            Bson::Document(spec) if spec.is_empty() => {
                return Err(CommandError::with_code(
                    51270,
                    "An empty sub-projection is not a valid value. Found empty object at path",
                ));
            }
            Bson::Document(spec) if !is_expression(spec) => {
                for (name, sub) in spec {
                    self.add(&format!("{path}.{name}"), sub)?;
                }
                return Ok(());
            }
            _ => {
                if self.kind == Some(Kind::Exclusion) {
                    return Err(CommandError::with_code(
                        31252,
                        "Cannot use expression other than $meta in exclusion projection",
                    ));
                }
                self.kind = Some(Kind::Inclusion);
                computed(value)?
            }
        };
        self.root.insert(&parts, path, leaf)
    }

    fn set_kind(&mut self, kind: Kind, path: &str) -> CommandResult<()> {
        match (self.kind, kind) {
            (Some(Kind::Exclusion), Kind::Inclusion) => Err(CommandError::with_code(
                31253,
                format!("Cannot do inclusion on field {path} in exclusion projection"),
            )),
            (Some(Kind::Inclusion), Kind::Exclusion) => Err(CommandError::with_code(
                31254,
                format!("Cannot do exclusion on field {path} in inclusion projection"),
            )),
            _ => {
                self.kind = Some(kind);
                Ok(())
            }
        }
    }
}

impl Projection {
    /// Parses the specification of `$project`.
    pub(crate) fn project(spec: &Document) -> CommandResult<Projection> {
        if spec.is_empty() {
            return Err(CommandError::with_code(
                51272,
                "projection specification must have at least one field",
            ));
        }
        let mut builder = ProjectBuilder {
            kind: None,
            root: Node::default(),
        };
        for (path, value) in spec {
            builder.add(path, value)?;
        }
        let id_excluded = matches!(builder.root.get("_id"), Some(Child::Exclude));
        let kind = builder.kind.unwrap_or(if id_excluded {
            Kind::Exclusion
        } else {
            Kind::Inclusion
        });
        let mut root = builder.root;
        if kind == Kind::Inclusion && root.get("_id").is_none() {
            root.children.insert(0, ("_id".to_owned(), Child::Include));
        }
        Ok(Projection { kind, root })
    }

    /// Parses the specification of `$addFields` / `$set`: every value is an expression, and a
    /// sub-document of fields (not of an operator) sets fields inside the sub-document.
    pub(crate) fn add_fields(spec: &Document) -> CommandResult<Projection> {
        let mut root = Node::default();
        for (path, value) in spec {
            add_computed(&mut root, path, value)?;
        }
        Ok(Projection {
            kind: Kind::AddFields,
            root,
        })
    }

    /// The exclusion of `paths` (`$unset`).
    pub(crate) fn unset(paths: &[&str]) -> CommandResult<Projection> {
        let mut root = Node::default();
        for path in paths {
            root.insert(&split_path(path)?, path, Child::Exclude)?;
        }
        Ok(Projection {
            kind: Kind::Exclusion,
            root,
        })
    }

    /// The projected copy of `doc`.
    pub(crate) fn apply(&self, doc: &Document) -> CommandResult<Document> {
        match self.kind {
            Kind::Exclusion => Ok(exclude(&self.root, doc)),
            Kind::Inclusion => {
                let mut out = include(&self.root, doc);
                compute(&self.root, &mut out, doc)?;
                Ok(out)
            }
            Kind::AddFields => {
                let mut out = doc.clone();
                compute(&self.root, &mut out, doc)?;
                Ok(out)
            }
        }
    }
}

/// The paths the argument of `$unset` names: a path or a non-empty array of paths.
pub(crate) fn unset_paths(value: &Bson) -> CommandResult<Vec<&str>> {
    match value {
        Bson::String(path) => Ok(vec![path.as_str()]),
        Bson::Array(items) if items.is_empty() => Err(CommandError::with_code(
            31119,
            "$unset specification must be a string or an array with at least one field",
        )),
        Bson::Array(items) => items
            .iter()
            .map(|item| match item {
                Bson::String(path) => Ok(path.as_str()),
                _ => Err(CommandError::with_code(
                    31120,
                    "$unset specification must be a string or an array containing only string \
                     values",
                )),
            })
            .collect(),
        _ => Err(CommandError::with_code(
            31002,
            "$unset specification must be a string or an array",
        )),
    }
}

fn add_computed(node: &mut Node, path: &str, value: &Bson) -> CommandResult<()> {
    check_depth(path)?;
    match value {
        Bson::Document(spec) if !spec.is_empty() && !is_expression(spec) => {
            for (name, sub) in spec {
                add_computed(node, &format!("{path}.{name}"), sub)?;
            }
            Ok(())
        }
        _ => node.insert(&split_path(path)?, path, computed(value)?),
    }
}

/// The fields of `doc` an inclusion keeps, in input order.
fn include(node: &Node, doc: &Document) -> Document {
    let mut out = Document::new();
    for (name, value) in doc {
        match node.get(name) {
            Some(Child::Include) => {
                out.insert(name.clone(), value.clone());
            }
            Some(Child::Nested(sub)) => {
                if let Some(kept) = include_value(sub, value) {
                    out.insert(name.clone(), kept);
                }
            }
            _ => {}
        }
    }
    out
}

/// What an inclusion keeps of a value below a dotted path: sub-documents are projected, arrays
/// element by element, and scalars dropped.
fn include_value(node: &Node, value: &Bson) -> Option<Bson> {
    match value {
        Bson::Document(doc) => Some(Bson::Document(include(node, doc))),
        Bson::Array(items) => Some(Bson::Array(
            items
                .iter()
                .filter_map(|item| include_value(node, item))
                .collect(),
        )),
        _ => None,
    }
}

/// `doc` without the fields an exclusion names.
fn exclude(node: &Node, doc: &Document) -> Document {
    let mut out = Document::new();
    for (name, value) in doc {
        match node.get(name) {
            Some(Child::Exclude) => {}
            Some(Child::Nested(sub)) => {
                out.insert(name.clone(), exclude_value(sub, value));
            }
            _ => {
                out.insert(name.clone(), value.clone());
            }
        }
    }
    out
}

fn exclude_value(node: &Node, value: &Bson) -> Bson {
    match value {
        Bson::Document(doc) => Bson::Document(exclude(node, doc)),
        Bson::Array(items) => {
            Bson::Array(items.iter().map(|item| exclude_value(node, item)).collect())
        }
        other => other.clone(),
    }
}

/// Sets the computed fields of `node` in `out`, evaluating against `root`. A computed value
/// that is missing removes the field.
fn compute(node: &Node, out: &mut Document, root: &Document) -> CommandResult<()> {
    for (name, child) in &node.children {
        match child {
            Child::Computed(expr) => match expr.eval(root)? {
                Some(value) => {
                    out.insert(name.clone(), value);
                }
                None => {
                    out.remove(name);
                }
            },
            Child::Nested(sub) if sub.has_computed() => {
                let current = out.get(name).cloned();
                let value = compute_value(sub, current, root)?;
                out.insert(name.clone(), value);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Sets computed fields below a dotted path: into a sub-document, into each element of an
/// array, or into a new document replacing a scalar or a missing value.
fn compute_value(node: &Node, current: Option<Bson>, root: &Document) -> CommandResult<Bson> {
    match current {
        Some(Bson::Document(mut doc)) => {
            compute(node, &mut doc, root)?;
            Ok(Bson::Document(doc))
        }
        Some(Bson::Array(items)) => Ok(Bson::Array(
            items
                .into_iter()
                .map(|item| compute_value(node, Some(item), root))
                .collect::<CommandResult<_>>()?,
        )),
        _ => {
            let mut doc = Document::new();
            compute(node, &mut doc, root)?;
            Ok(Bson::Document(doc))
        }
    }
}
