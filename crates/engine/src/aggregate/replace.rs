//! `$replaceRoot` / `$replaceWith`: each document replaced by the document an expression gives.

use bson::{Bson, Document};

use crate::aggregate::expr::{Expr, Value, type_name};
use crate::aggregate::show::{self, Style};
use crate::error::{CommandError, CommandResult};

/// A parsed `$replaceRoot` / `$replaceWith` stage.
#[derive(Debug, Clone)]
pub(crate) struct ReplaceRoot {
    expr: Expr,
    /// How error messages name the expression.
    what: &'static str,
}

impl ReplaceRoot {
    /// Parses the argument of `$replaceWith`: the expression itself.
    pub(crate) fn replace_with(spec: &Bson) -> CommandResult<ReplaceRoot> {
        Ok(ReplaceRoot {
            expr: Expr::parse(spec)?,
            what: "'replacement document'",
        })
    }

    /// Parses the argument of `$replaceRoot`: `{newRoot: <expression>}`.
    pub(crate) fn parse_replace_root(spec: &Bson) -> CommandResult<ReplaceRoot> {
        let Bson::Document(options) = spec else {
            return Err(CommandError::with_code(
                40229,
                format!(
                    "expected an object as specification for $replaceRoot stage, got {}",
                    crate::compare::type_name(spec)
                ),
            ));
        };
        let mut new_root = None;
        for (name, value) in options {
            if name != "newRoot" {
                return Err(CommandError::with_code(
                    40415,
                    format!("BSON field '$replaceRoot.{name}' is an unknown field."),
                ));
            }
            new_root = Some(Expr::parse(value)?);
        }
        let expr = new_root.ok_or_else(|| {
            CommandError::with_code(
                40414,
                "BSON field '$replaceRoot.newRoot' is missing but a required field",
            )
        })?;
        Ok(ReplaceRoot {
            expr,
            what: "'newRoot'",
        })
    }

    /// The document that replaces `doc`.
    pub(crate) fn apply(&self, doc: &Document) -> CommandResult<Document> {
        match self.expr.eval(doc)? {
            Some(Bson::Document(root)) => Ok(root),
            other => Err(CommandError::with_code(
                40228,
                format!(
                    "{} expression must evaluate to an object, but resulting value was: {}. \
                     Type of resulting value: '{}'. Input document: {}",
                    self.what,
                    shown(&other),
                    type_name(&other),
                    show::document(doc, Style::Document)
                ),
            )),
        }
    }
}

fn shown(value: &Value) -> String {
    value.as_ref().map_or_else(
        || "MISSING".to_owned(),
        |v| show::value_in(v, Style::Document),
    )
}
