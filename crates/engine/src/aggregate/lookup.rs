//! `$lookup` in its equality form: `{from, localField, foreignField, as}` adds to each document
//! the array of the documents of `from` (same database, same snapshot) whose `foreignField`
//! equals the document's `localField`. As in `mongod`, a local array matches through its
//! elements, a missing local value matches a foreign `null` or missing field, and a foreign
//! array matches through its elements. The pipeline form (`let`, `pipeline`) is refused with
//! `BadValue`.

use bson::{Bson, Document, doc};

use crate::compare::type_name;
use crate::error::{CommandError, CommandResult};
use crate::query::Filter;
use crate::query::path::{Container, FieldPath, LeafArrays, any_value, check_field_path};

/// A parsed `$lookup`.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    from: String,
    local: FieldPath,
    foreign: String,
    as_path: Vec<String>,
}

impl Lookup {
    /// Parses the specification of a `$lookup` stage.
    pub(crate) fn parse(spec: &Bson) -> CommandResult<Lookup> {
        let Bson::Document(spec) = spec else {
            return Err(CommandError::failed_to_parse(format!(
                "the $lookup specification must be an Object, but found {}",
                type_name(spec)
            )));
        };
        let (mut from, mut local, mut foreign, mut as_field) = (None, None, None, None);
        for (name, value) in spec {
            let slot = match name.as_str() {
                "from" => &mut from,
                "localField" => &mut local,
                "foreignField" => &mut foreign,
                "as" => &mut as_field,
                "let" | "pipeline" => {
                    return Err(CommandError::bad_value(
                        "the pipeline form of $lookup ('let', 'pipeline') is not supported by \
                         this engine",
                    ));
                }
                other => {
                    return Err(CommandError::failed_to_parse(format!(
                        "unknown argument to $lookup: {other}"
                    )));
                }
            };
            let Bson::String(text) = value else {
                return Err(CommandError::failed_to_parse(format!(
                    "$lookup argument '{name}' must be a string, is type {}",
                    type_name(value)
                )));
            };
            *slot = Some(text.clone());
        }
        let from = from.ok_or_else(|| {
            CommandError::failed_to_parse("must specify 'from' field for a $lookup")
        })?;
        let as_field = as_field.ok_or_else(|| {
            CommandError::failed_to_parse("must specify 'as' field for a $lookup")
        })?;
        let (Some(local), Some(foreign)) = (local, foreign) else {
            return Err(CommandError::failed_to_parse(
                "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to \
                 be specified",
            ));
        };
        for path in [&local, &foreign, &as_field] {
            check_field_path(path)?;
        }
        Ok(Lookup {
            from,
            local: FieldPath::new(&local),
            foreign,
            as_path: as_field.split('.').map(str::to_owned).collect(),
        })
    }

    /// The collection it reads.
    pub(crate) fn from(&self) -> &str {
        &self.from
    }

    /// `doc` with the matching documents of `foreign` (the `from` collection) at `as`.
    pub(crate) fn apply(&self, mut doc: Document, foreign: &[Document]) -> CommandResult<Document> {
        let mut locals: Vec<Bson> = Vec::new();
        any_value(
            Container::Document(&doc),
            self.local.parts(),
            LeafArrays::Whole,
            &mut |value, _| {
                match value {
                    Some(Bson::Array(items)) => locals.extend(items.iter().cloned()),
                    Some(value) => locals.push(value.clone()),
                    None => locals.push(Bson::Null),
                }
                false
            },
        );
        let filter = Filter::parse(&doc! {self.foreign.as_str(): {"$in": locals}})?;
        let joined: Vec<Bson> = foreign
            .iter()
            .filter(|candidate| filter.matches(candidate))
            .map(|matched| Bson::Document(matched.clone()))
            .collect();
        set_path(&mut doc, &self.as_path, Bson::Array(joined));
        Ok(doc)
    }
}

/// Sets `value` at `path` below `doc`, replacing whatever is in the way with sub-documents.
fn set_path(doc: &mut Document, path: &[String], value: Bson) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = doc;
    for part in parents {
        if !matches!(current.get(part), Some(Bson::Document(_))) {
            current.insert(part.clone(), Document::new());
        }
        let Some(Bson::Document(next)) = current.get_mut(part) else {
            return;
        };
        current = next;
    }
    current.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(spec: Document) -> Lookup {
        Lookup::parse(&Bson::Document(spec)).expect("parses")
    }

    fn error(spec: Document) -> CommandError {
        Lookup::parse(&Bson::Document(spec)).expect_err("refused")
    }

    #[test]
    fn documents_join_on_equal_values_through_arrays_and_nulls() {
        let inventory = [
            doc! {"_id": 1, "sku": "a"},
            doc! {"_id": 2, "sku": "b"},
            doc! {"_id": 3, "sku": ["c", "d"]},
            doc! {"_id": 4},
        ];
        let join = lookup(
            doc! {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "stock"},
        );
        let ids = |doc: Document| -> Vec<i32> {
            doc.get_array("stock")
                .expect("an array")
                .iter()
                .filter_map(|d| d.as_document()?.get_i32("_id").ok())
                .collect()
        };
        assert_eq!(
            ids(join.apply(doc! {"item": "a"}, &inventory).expect("joins")),
            [1]
        );
        assert_eq!(
            ids(join
                .apply(doc! {"item": ["b", "d"]}, &inventory)
                .expect("joins")),
            [2, 3]
        );
        assert_eq!(
            ids(join.apply(doc! {"other": 1}, &inventory).expect("joins")),
            [4]
        );
        assert_eq!(
            ids(join.apply(doc! {"item": "z"}, &inventory).expect("joins")),
            Vec::<i32>::new()
        );
        let nested =
            lookup(doc! {"from": "i", "localField": "item", "foreignField": "sku", "as": "a.b"});
        assert_eq!(
            nested
                .apply(doc! {"item": "a", "a": 5}, &inventory[..1])
                .expect("joins"),
            doc! {"item": "a", "a": {"b": [{"_id": 1, "sku": "a"}]}}
        );
    }

    #[test]
    fn malformed_specifications_get_mongods_errors() {
        assert_eq!(
            error(doc! {"from": "i", "localField": "a", "foreignField": "b"}).message,
            "must specify 'as' field for a $lookup"
        );
        assert_eq!(
            error(doc! {"as": "x", "localField": "a", "foreignField": "b"}).message,
            "must specify 'from' field for a $lookup"
        );
        assert_eq!(
            error(doc! {"from": "i", "localField": "a", "as": "x"}).message,
            "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to be specified"
        );
        assert_eq!(
            error(doc! {"from": "i", "bogus": 1}).message,
            "unknown argument to $lookup: bogus"
        );
        assert!(
            error(doc! {"from": "i", "pipeline": [], "as": "x"})
                .message
                .contains("not supported")
        );
        assert_eq!(
            error(doc! {"from": 1, "as": "x"}).message,
            "$lookup argument 'from' must be a string, is type int"
        );
    }
}
