//! The `arrayFilters` of an update: each names an identifier that update paths use as
//! `$[<identifier>]`, and the condition an array element must meet to be updated there.
//!
//! An array filter is a query on the identifier as if each element were the value of a field
//! of that name: `{"i": {$gte: 100}}` tests elements themselves, `{"i.qty": 0}` a field of
//! document elements, and `$and` / `$or` / `$nor` may combine conditions on one identifier.

use bson::{Bson, Document};

use super::filter::Filter;
use crate::error::{CommandError, CommandResult, ErrorCode};

/// One array filter.
#[derive(Debug, Clone)]
pub struct ArrayFilter {
    identifier: String,
    filter: Filter,
}

impl ArrayFilter {
    /// The identifier paths use as `$[<identifier>]`.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// Whether an array element meets the filter.
    pub fn accepts(&self, element: &Bson) -> bool {
        let mut wrapped = Document::new();
        wrapped.insert(self.identifier.clone(), element.clone());
        self.filter.matches(&wrapped)
    }
}

/// Parses the `arrayFilters` of an update, with `mongod`'s errors for a filter without an
/// identifier, with two, with one that is not a lowercase-first alphanumeric name, or with
/// one that another filter already uses.
pub fn parse_array_filters(filters: &[Bson]) -> CommandResult<Vec<ArrayFilter>> {
    let mut parsed: Vec<ArrayFilter> = Vec::with_capacity(filters.len());
    for (index, filter) in filters.iter().enumerate() {
        let Bson::Document(spec) = filter else {
            return Err(CommandError::type_mismatch(format!(
                "BSON field 'arrayFilters.{index}' is the wrong type '{}', expected type 'object'",
                crate::compare::type_name(filter)
            )));
        };
        let identifier = identifier_of(spec)?;
        if parsed.iter().any(|f| f.identifier == identifier) {
            return Err(CommandError::failed_to_parse(format!(
                "Found multiple array filters with the same top-level field name {identifier}"
            )));
        }
        let filter = Filter::parse(spec)?;
        parsed.push(ArrayFilter { identifier, filter });
    }
    Ok(parsed)
}

/// The one identifier an array filter's conditions name.
fn identifier_of(spec: &Document) -> CommandResult<String> {
    let mut names: Vec<&str> = Vec::new();
    collect_names(spec, &mut names);
    let Some(&first) = names.first() else {
        return Err(CommandError::failed_to_parse(
            "Cannot use an expression without a top-level field name in arrayFilters",
        ));
    };
    if let Some(other) = names.iter().find(|&&n| n != first) {
        return Err(CommandError::failed_to_parse(format!(
            "Error parsing array filter :: caused by :: Expected a single top-level field name, \
             found '{first}' and '{other}'"
        )));
    }
    let mut chars = first.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric());
    if !well_formed {
        return Err(CommandError::new(
            ErrorCode::BadValue,
            format!(
                "Error parsing array filter :: caused by :: The top-level field name must be an \
                 alphanumeric string beginning with a lowercase letter, found '{first}'"
            ),
        ));
    }
    Ok(first.to_owned())
}

/// The first components of the field names a filter's conditions use, looking through
/// `$and`, `$or` and `$nor`.
fn collect_names<'a>(spec: &'a Document, names: &mut Vec<&'a str>) {
    for (key, value) in spec {
        if matches!(key.as_str(), "$and" | "$or" | "$nor") {
            if let Bson::Array(branches) = value {
                for branch in branches {
                    if let Bson::Document(branch) = branch {
                        collect_names(branch, names);
                    }
                }
            }
        } else if !key.starts_with('$') {
            names.push(key.split('.').next().unwrap_or(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn error(filters: Vec<Bson>) -> CommandError {
        parse_array_filters(&filters).expect_err("refused")
    }

    #[test]
    fn elements_are_tested_as_the_identifier_field() {
        let filters = parse_array_filters(&[
            Bson::Document(doc! {"i": {"$gte": 100}}),
            Bson::Document(doc! {"$or": [{"d.qty": 0}, {"d.sku": "x"}]}),
        ])
        .expect("parses");
        assert_eq!(filters[0].identifier(), "i");
        assert!(filters[0].accepts(&Bson::Int32(100)));
        assert!(!filters[0].accepts(&Bson::Int32(99)));
        assert_eq!(filters[1].identifier(), "d");
        assert!(filters[1].accepts(&Bson::Document(doc! {"qty": 0})));
        assert!(filters[1].accepts(&Bson::Document(doc! {"sku": "x", "qty": 5})));
        assert!(!filters[1].accepts(&Bson::Document(doc! {"qty": 1})));
    }

    #[test]
    fn malformed_filters_get_mongods_errors() {
        let e = error(vec![Bson::Document(doc! {})]);
        assert!(e.is(ErrorCode::FailedToParse));
        assert_eq!(
            e.message,
            "Cannot use an expression without a top-level field name in arrayFilters"
        );
        let e = error(vec![Bson::Document(doc! {"i": 0, "j": 0})]);
        assert_eq!(
            e.message,
            "Error parsing array filter :: caused by :: Expected a single top-level field name, \
             found 'i' and 'j'"
        );
        let e = error(vec![
            Bson::Document(doc! {"i": 0}),
            Bson::Document(doc! {"i.a": 1}),
        ]);
        assert_eq!(
            e.message,
            "Found multiple array filters with the same top-level field name i"
        );
        let e = error(vec![Bson::Document(doc! {"I": 0})]);
        assert!(e.is(ErrorCode::BadValue));
        assert!(error(vec![Bson::Int32(1)]).is(ErrorCode::TypeMismatch));
        assert!(error(vec![Bson::Document(doc! {"i": {"$bogus": 1}})]).is(ErrorCode::BadValue));
    }
}
