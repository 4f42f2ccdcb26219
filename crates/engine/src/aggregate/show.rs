//! Values written the way `mongod` writes them into error messages.

use bson::{Bson, Document};

/// How documents and arrays are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// As a BSON object prints: `{ a: 1, b: [ 2 ] }`.
    Bson,
    /// As an aggregation document prints: `{a: 1, b: [2]}`.
    Document,
}

/// `doc` written in `style`.
pub(crate) fn document(doc: &Document, style: Style) -> String {
    if doc.is_empty() {
        return "{}".to_owned();
    }
    let fields: Vec<String> = doc
        .iter()
        .map(|(name, value)| format!("{name}: {}", value_in(value, style)))
        .collect();
    match style {
        Style::Bson => format!("{{ {} }}", fields.join(", ")),
        Style::Document => format!("{{{}}}", fields.join(", ")),
    }
}

/// `value` written in `style`.
pub(crate) fn value_in(value: &Bson, style: Style) -> String {
    match value {
        Bson::Document(doc) => document(doc, style),
        Bson::Array(items) if items.is_empty() => "[]".to_owned(),
        Bson::Array(items) => {
            let items: Vec<String> = items.iter().map(|item| value_in(item, style)).collect();
            match style {
                Style::Bson => format!("[ {} ]", items.join(", ")),
                Style::Document => format!("[{}]", items.join(", ")),
            }
        }
        Bson::String(s) => format!("\"{s}\""),
        Bson::Double(f) if f.is_nan() => "nan".to_owned(),
        Bson::Double(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.to_owned(),
        Bson::Double(f) if f.fract() == 0.0 => format!("{f:.1}"),
        Bson::Double(f) => f.to_string(),
        Bson::Int32(i) => i.to_string(),
        Bson::Int64(i) => i.to_string(),
        Bson::Null => "null".to_owned(),
        Bson::Boolean(b) => b.to_string(),
        Bson::DateTime(d) => format!("new Date({})", d.timestamp_millis()),
        Bson::ObjectId(oid) => format!("ObjectId('{}')", oid.to_hex()),
        other => other.to_string(),
    }
}
