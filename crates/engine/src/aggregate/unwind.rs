//! `$unwind`: one output document per element of an array field.

use bson::{Bson, Document};

use crate::aggregate::expr::split_path;
use crate::error::{CommandError, CommandResult};

/// A parsed `$unwind` stage.
#[derive(Debug, Clone)]
pub(crate) struct Unwind {
    path: Vec<String>,
    index_field: Option<Vec<String>>,
    preserve: bool,
}

impl Unwind {
    /// Parses `"$path"` or `{path, includeArrayIndex, preserveNullAndEmptyArrays}`.
    pub(crate) fn parse(spec: &Bson) -> CommandResult<Unwind> {
        match spec {
            Bson::String(path) => Ok(Unwind {
                path: unwind_path(path)?,
                index_field: None,
                preserve: false,
            }),
            Bson::Document(options) => Unwind::parse_options(options),
            other => Err(CommandError::with_code(
                15981,
                format!(
                    "expected either a string or an object as specification for $unwind stage, \
                     got {}",
                    crate::compare::type_name(other)
                ),
            )),
        }
    }

    fn parse_options(options: &Document) -> CommandResult<Unwind> {
        let mut path = None;
        let mut index_field = None;
        let mut preserve = false;
        for (name, value) in options {
            match (name.as_str(), value) {
                ("path", Bson::String(p)) => path = Some(unwind_path(p)?),
                ("path", other) => {
                    return Err(CommandError::with_code(
                        28808,
                        format!(
                            "expected a string as the path for $unwind stage, got {}",
                            crate::compare::type_name(other)
                        ),
                    ));
                }
                ("includeArrayIndex", Bson::String(field)) if !field.is_empty() => {
                    if field.starts_with('$') {
                        return Err(CommandError::with_code(
                            28822,
                            format!(
                                "includeArrayIndex option to $unwind stage should not be \
                                 prefixed with a '$': {field}"
                            ),
                        ));
                    }
                    index_field = Some(split_path(field)?);
                }
                ("includeArrayIndex", other) => {
                    return Err(CommandError::with_code(
                        28810,
                        format!(
                            "expected a non-empty string for the includeArrayIndex option to \
                             $unwind stage, got {}",
                            crate::compare::type_name(other)
                        ),
                    ));
                }
                ("preserveNullAndEmptyArrays", Bson::Boolean(b)) => preserve = *b,
                ("preserveNullAndEmptyArrays", other) => {
                    return Err(CommandError::with_code(
                        28809,
                        format!(
                            "expected a boolean for the preserveNullAndEmptyArrays option to \
                             $unwind stage, got {}",
                            crate::compare::type_name(other)
                        ),
                    ));
                }
                _ => {
                    return Err(CommandError::with_code(
                        28811,
                        format!("unrecognized option to $unwind stage: {name}"),
                    ));
                }
            }
        }
        let path = path
            .ok_or_else(|| CommandError::with_code(28812, "no path specified to $unwind stage"))?;
        Ok(Unwind {
            path,
            index_field,
            preserve,
        })
    }

    /// The documents `doc` unwinds into.
    pub(crate) fn apply(&self, doc: Document) -> Vec<Document> {
        match nested(&doc, &self.path) {
            Some(Bson::Array(items)) if !items.is_empty() => {
                let items = items.clone();
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let mut out = doc.clone();
                        set_nested(&mut out, &self.path, item);
                        self.set_index(&mut out, Bson::Int64(i as i64));
                        out
                    })
                    .collect()
            }
            Some(Bson::Array(_)) if self.preserve => {
                let mut out = doc;
                remove_nested(&mut out, &self.path);
                self.set_index(&mut out, Bson::Null);
                vec![out]
            }
            Some(Bson::Array(_)) | None | Some(Bson::Null) if !self.preserve => Vec::new(),
            _ => {
                let mut out = doc;
                self.set_index(&mut out, Bson::Null);
                vec![out]
            }
        }
    }

    fn set_index(&self, doc: &mut Document, index: Bson) {
        if let Some(field) = &self.index_field {
            set_nested(doc, field, index);
        }
    }
}

fn unwind_path(path: &str) -> CommandResult<Vec<String>> {
    match path.strip_prefix('$') {
        Some(rest) if !rest.is_empty() => split_path(rest),
        _ => Err(CommandError::with_code(
            28818,
            format!("path option to $unwind stage should be prefixed with a '$': {path}"),
        )),
    }
}

/// The value at `path`, through sub-documents only.
fn nested<'a>(doc: &'a Document, path: &[String]) -> Option<&'a Bson> {
    let (first, rest) = path.split_first()?;
    let value = doc.get(first)?;
    match (rest.is_empty(), value) {
        (true, _) => Some(value),
        (false, Bson::Document(sub)) => nested(sub, rest),
        _ => None,
    }
}

/// Sets the value at `path`, making sub-documents where there are none.
fn set_nested(doc: &mut Document, path: &[String], value: Bson) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        doc.insert(first.clone(), value);
        return;
    }
    if !matches!(doc.get(first), Some(Bson::Document(_))) {
        doc.insert(first.clone(), Document::new());
    }
    if let Some(Bson::Document(sub)) = doc.get_mut(first) {
        set_nested(sub, rest, value);
    }
}

fn remove_nested(doc: &mut Document, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            doc.remove(last);
        }
        [first, rest @ ..] => {
            if let Some(Bson::Document(sub)) = doc.get_mut(first) {
                remove_nested(sub, rest);
            }
        }
    }
}
