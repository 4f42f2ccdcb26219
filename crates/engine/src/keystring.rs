//! An order-preserving byte encoding of BSON values ("key strings").
//!
//! For any two values `a` and `b`, `key_of(a).cmp(&key_of(b)) == compare_values(a, b)`, so plain
//! ordered maps of bytes serve the `_id` index, secondary indexes, range scans and sorts.
//!
//! # Properties
//!
//! * **Order.** Byte-wise comparison of two encodings agrees exactly with
//!   [`compare_values`](crate::compare::compare_values).
//! * **Canonical.** Values that compare equal encode to identical bytes: `Int32(1)`,
//!   `Int64(1)`, `Double(1.0)` and `Decimal128(1)` are one key, as are `0.0` and `-0.0`, every
//!   `NaN`, and a string and a symbol with the same text.
//! * **Prefix-free.** No encoding is a proper prefix of another, so the encodings of the fields
//!   of a compound key can simply be concatenated: the result orders field by field.
//! * **Directions.** A [`Direction::Descending`] field is the ascending encoding with every
//!   byte complemented. Complementing reverses the order of a prefix-free set of byte strings
//!   and keeps it prefix-free, so ascending and descending fields mix freely in one key.
//!
//! # Layout
//!
//! Every value starts with one *type tag* byte, its [`canonical_type`] rank plus one
//! (`MinKey` 1 ... `MaxKey` 128). The byte `0x00` is never a tag: it ends the fields of a
//! document and the elements of an array, so a shorter container sorts first. After the tag
//! comes the *body*:
//!
//! | Type | Body |
//! |------|------|
//! | `MinKey`, `Undefined`, `Null`, `MaxKey` | nothing |
//! | numbers | see below |
//! | `String`, `Symbol` | the UTF-8 bytes, escaped (see below) |
//! | `Document` | per field: value's tag, escaped name, value's body; then `0x00` |
//! | `Array` | per element: tag, body; then `0x00` |
//! | `Binary` | length (see below), subtype byte, raw bytes |
//! | `ObjectId` | the 12 bytes |
//! | `Boolean` | `0x00` or `0x01` |
//! | `DateTime` | milliseconds as a big-endian `i64` with the sign bit flipped |
//! | `Timestamp` | `time`, then `increment`, each a big-endian `u32` |
//! | `RegularExpression` | escaped pattern, escaped options |
//! | `DbPointer` | its BSON serialization, escaped (the order `compare.rs` uses) |
//! | `JavaScriptCode` | escaped code |
//! | `JavaScriptCodeWithScope` | escaped code, then the scope as a document body |
//!
//! **Escaped bytes** end with a single `0x00`; inside, `0x00` is written `0x01 0x01` and
//! `0x01` is written `0x01 0x02`, every other byte as itself. The mapping is monotone and
//! the terminator is below every written byte, so escaped strings order byte-wise with a prefix
//! first, and strings with embedded `\0` work.
//!
//! **Lengths** (of binary data) are one byte giving the number `n` of significant bytes
//! (0 to 8), then those `n` bytes big-endian. A longer length has more significant bytes, so
//! the encoding orders like the number.
//!
//! **Numbers** of every width are placed on one line of extended reals, by exact value, as
//! [`compare_values`](crate::compare::compare_values) orders them. The body starts with the
//! value's nearest double `d` (ties to even; a finite `Decimal128` beyond the doubles' range
//! takes `±f64::MAX`, so only the infinities have infinite `d`) as 8 bytes that order like the
//! double: the IEEE bits big-endian, with the sign bit set for positive numbers and all bits
//! complemented for negative ones; `-0.0` is written as `0.0`. Rounding is monotone, so a
//! smaller `d` always means a smaller value. The exact difference `value - d` follows, which
//! orders the values that share a `d` (an `Int64` beyond 2^53, a `Decimal128` between two
//! doubles): `0x80` when it is zero (every double, and most integers and decimals); otherwise
//! `0x81` for a positive difference, then its decimal exponent `e` of the form `0.d₁d₂… × 10^e`
//! as a big-endian `i16` with the sign bit flipped, its digits as bytes `1..=10`, and `0x00`; a
//! negative difference is `0x7f` followed by the same bytes for its magnitude, complemented.
//! Every `NaN` is eight `0x00` bytes with nothing after them, below `-inf`.
//!
//! # Index keys
//!
//! [`index_keys`] generates the keys `mongod` stores for a document under a key pattern:
//! missing fields index as `null`, arrays index once per element (an empty array as
//! `undefined`), dotted paths reach into sub-documents and through arrays of sub-documents,
//! numeric path components index arrays by position, and two fields may not expand two
//! different arrays ("parallel arrays").

use std::collections::BTreeSet;

use bson::{Bson, Document};

use crate::compare::canonical_type;
use crate::error::{CommandError, CommandResult, ErrorCode};
use crate::exact::{Exact, Finite};

/// The direction of one field of an index key or a sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// Ends the fields of a document and the elements of an array; below every type tag.
const END: u8 = 0x00;

/// Ends an escaped byte string; below every byte written inside one.
const STRING_END: u8 = 0x00;

/// The byte that starts the two-byte escapes of `0x00` and `0x01`.
const ESCAPE: u8 = 0x01;

/// Appends the encoding of `value` to `out`.
///
/// The bytes appended for equal values are identical, and byte order matches the order of
/// values (reversed for [`Direction::Descending`]). The encoding is prefix-free, so the
/// encodings of several values can be appended one after another to form a compound key.
pub fn encode_value(value: &Bson, direction: Direction, out: &mut Vec<u8>) {
    let start = out.len();
    out.push(type_tag(value));
    encode_body(value, out);
    if direction == Direction::Descending {
        for byte in &mut out[start..] {
            *byte = !*byte;
        }
    }
}

/// The ascending encoding of one value.
pub fn key_of(value: &Bson) -> Vec<u8> {
    // Room for the common keys (an `ObjectId`'s takes 13 bytes) in the first allocation.
    let mut out = Vec::with_capacity(16);
    encode_value(value, Direction::Ascending, &mut out);
    out
}

/// The index keys of `doc` for the key pattern `pattern` (dotted paths with directions).
///
/// These are the keys `mongod` would store: one key per combination of values, each the
/// concatenation of [`encode_value`] of every field of the pattern in its direction. The keys
/// are returned sorted and without duplicates (values that compare equal give one key).
///
/// * A missing field (or a path that runs into a scalar) is indexed as `null`.
/// * A field whose value is an array is indexed once per element (an array nested in the
///   array is indexed as a whole); an empty array is indexed as `undefined`.
/// * A path continues through an array into each element: `"a.b"` of `{a: [{b: 1}, {b: 2}]}`
///   gives `1` and `2` (and `null` for elements that are not documents or lack `b`).
/// * A numeric component indexes an array by position: `"a.0.b"` of `{a: [{b: 1}, {b: 2}]}`
///   gives only `1`.
/// * Several fields may expand the same array (`"a.b"` and `"a.c"` of
///   `{a: [{b: 1, c: 1}, {b: 2, c: 2}]}` give `(1, 1)` and `(2, 2)`), but two fields that reach
///   two different arrays fail with `CannotIndexParallelArrays` (171), worded as `mongod`
///   words it: `cannot index parallel arrays [b] [a]`, the later field's array first.
/// * A numeric component that both indexes an array by position and names a field of one of
///   its elements fails with code 16746, as in `mongod`.
pub fn index_keys(doc: &Document, pattern: &[(String, Direction)]) -> CommandResult<Vec<Vec<u8>>> {
    let mut generator = KeyGenerator {
        directions: pattern.iter().map(|(_, direction)| *direction).collect(),
        keys: BTreeSet::new(),
    };
    let slots = pattern
        .iter()
        .map(|(path, _)| Slot::Pending {
            path: path.as_str(),
            positional: None,
        })
        .collect();
    generator
        .expand(Some(doc), slots)
        .map_err(CommandError::from)?;
    Ok(generator.keys.into_iter().collect())
}

/// The first byte of a value's encoding: its canonical type rank plus one, so that `END` is
/// below every type.
fn type_tag(value: &Bson) -> u8 {
    // Ranks go up to 127 (`MaxKey`), so this never saturates.
    canonical_type(value).saturating_add(1)
}

/// Appends the part of a value's encoding that follows its type tag.
fn encode_body(value: &Bson, out: &mut Vec<u8>) {
    match value {
        Bson::MinKey | Bson::MaxKey | Bson::Null | Bson::Undefined => {}
        Bson::Double(_) | Bson::Int32(_) | Bson::Int64(_) | Bson::Decimal128(_) => {
            encode_number(value, out);
        }
        Bson::String(s) | Bson::Symbol(s) => encode_bytes(s.as_bytes(), out),
        Bson::Document(doc) => encode_document(doc, out),
        Bson::Array(elements) => {
            for element in elements {
                out.push(type_tag(element));
                encode_body(element, out);
            }
            out.push(END);
        }
        Bson::Binary(binary) => {
            encode_length(binary.bytes.len(), out);
            out.push(u8::from(binary.subtype));
            out.extend_from_slice(&binary.bytes);
        }
        Bson::ObjectId(oid) => out.extend_from_slice(&oid.bytes()),
        Bson::Boolean(b) => out.push(u8::from(*b)),
        Bson::DateTime(dt) => out.extend_from_slice(&ordered_i64(dt.timestamp_millis())),
        Bson::Timestamp(ts) => {
            out.extend_from_slice(&ts.time.to_be_bytes());
            out.extend_from_slice(&ts.increment.to_be_bytes());
        }
        Bson::RegularExpression(regex) => {
            encode_bytes(regex.pattern.as_str().as_bytes(), out);
            encode_bytes(regex.options.as_str().as_bytes(), out);
        }
        Bson::DbPointer(_) => encode_bytes(&db_pointer_bytes(value), out),
        Bson::JavaScriptCode(code) => encode_bytes(code.as_bytes(), out),
        Bson::JavaScriptCodeWithScope(cws) => {
            encode_bytes(cws.code.as_bytes(), out);
            encode_document(&cws.scope, out);
        }
    }
}

/// Appends a document's fields (tag, name, body) and the end marker.
fn encode_document(doc: &Document, out: &mut Vec<u8>) {
    for (name, value) in doc {
        out.push(type_tag(value));
        encode_bytes(name.as_bytes(), out);
        encode_body(value, out);
    }
    out.push(END);
}

/// Appends `bytes` escaped so that they order byte-wise and end unambiguously.
fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    if bytes.iter().all(|&b| b > ESCAPE) {
        out.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                0x00 => out.extend_from_slice(&[ESCAPE, 0x01]),
                0x01 => out.extend_from_slice(&[ESCAPE, 0x02]),
                _ => out.push(b),
            }
        }
    }
    out.push(STRING_END);
}

/// Appends a length as a count of significant bytes followed by those bytes, big-endian.
fn encode_length(len: usize, out: &mut Vec<u8>) {
    let bytes = u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let significant = &bytes[first..];
    // At most 8.
    out.push(significant.len() as u8);
    out.extend_from_slice(significant);
}

/// Appends a number: its nearest double, then the exact difference between the number and
/// that double (see the module docs).
fn encode_number(value: &Bson, out: &mut Vec<u8>) {
    let (nearest, difference) = match value {
        Bson::Int32(i) => (f64::from(*i), None),
        Bson::Int64(i) => {
            let nearest = *i as f64;
            // `nearest` is an integer in [-2^63, 2^63], so the conversion is exact; the
            // difference is non-zero only beyond 2^53.
            let difference = i128::from(*i) - nearest as i128;
            (
                nearest,
                (difference != 0).then(|| Finite::from_i128(difference)),
            )
        }
        Bson::Double(f) => (*f, None),
        Bson::Decimal128(d) => match Exact::from_decimal(d) {
            Exact::Finite(exact) => {
                let nearest = exact.nearest_f64();
                let difference = match Exact::from_f64(nearest) {
                    Exact::Finite(double) => exact.minus(&double),
                    // The nearest double of a finite value is finite.
                    _ => Finite::zero(),
                };
                (nearest, Some(difference))
            }
            special => (special.nearest_f64(), None),
        },
        _ => return,
    };
    out.extend_from_slice(&ordered_f64(nearest));
    if nearest.is_nan() {
        return;
    }
    match difference {
        Some(d) if !d.is_zero() => {
            let start = out.len();
            out.push(if d.is_negative() { 0x7f } else { 0x81 });
            let exponent = i16::try_from(d.exponent()).unwrap_or(if d.exponent() < 0 {
                i16::MIN
            } else {
                i16::MAX
            });
            out.extend_from_slice(&(exponent ^ i16::MIN).to_be_bytes());
            out.extend(d.digits().iter().map(|&digit| digit + 1));
            out.push(0x00);
            if d.is_negative() {
                // A larger magnitude is a smaller number.
                for byte in &mut out[start + 1..] {
                    *byte = !*byte;
                }
            }
        }
        _ => out.push(0x80),
    }
}

/// A double as 8 bytes that order like the number; `-0.0` as `0.0`, every `NaN` lowest.
fn ordered_f64(f: f64) -> [u8; 8] {
    if f.is_nan() {
        return [0; 8];
    }
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    let ordered = if f.is_sign_negative() {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// A signed integer as 8 bytes that order like the number.
fn ordered_i64(i: i64) -> [u8; 8] {
    (i ^ i64::MIN).to_be_bytes()
}

/// The bytes [`compare_values`](crate::compare::compare_values) orders `DbPointer`s by: the
/// value serialized as field `v` of a document (empty if it cannot be serialized).
fn db_pointer_bytes(value: &Bson) -> Vec<u8> {
    let mut doc = Document::new();
    doc.insert("v", value.clone());
    doc.to_vec().unwrap_or_default()
}

static NULL: Bson = Bson::Null;
static UNDEFINED: Bson = Bson::Undefined;

/// What key generation knows about one field of the key pattern.
#[derive(Debug, Clone, Copy)]
enum Slot<'a> {
    /// Still to be looked up: the rest of the dotted path, relative to the current document.
    Pending {
        path: &'a str,
        /// Set when the array being expanded is indexed by position by this path.
        positional: Option<Positional<'a>>,
    },
    /// Resolved to the value the key holds for this field.
    Done(&'a Bson),
}

/// A path that selects an element of an array by its position.
#[derive(Debug, Clone, Copy)]
struct Positional<'a> {
    /// The array.
    array: &'a [Bson],
    /// The element at the position.
    element: &'a Bson,
    /// What the path leads to from the array (`None`: nothing).
    found: Option<Found<'a>>,
}

/// The end of a path walk: a value and the part of the path after it.
///
/// The walk stops at the end of the path or at the first array on it.
#[derive(Debug, Clone, Copy)]
struct Found<'a> {
    /// The field name (or array index) the value was found under.
    name: &'a str,
    /// The value: an array when `rest` is not empty.
    value: &'a Bson,
    /// The part of the path after `value`.
    rest: &'a str,
}

/// Generates the keys of one document, expanding one array at a time.
struct KeyGenerator {
    directions: Vec<Direction>,
    keys: BTreeSet<Vec<u8>>,
}

impl KeyGenerator {
    /// Resolves the pending fields against `obj` (`None`: an empty document) and emits the
    /// keys, recursing into the elements of the one array the fields reach.
    fn expand<'a>(
        &mut self,
        obj: Option<&'a Document>,
        mut slots: Vec<Slot<'a>>,
    ) -> Result<(), KeyError<'a>> {
        // The array this level expands, with the fields that reach it.
        let mut array: Option<(Found<'a>, &'a [Bson])> = None;
        let mut array_slots = Vec::new();
        // False when the array is an array element selected by position: it is then indexed
        // as a whole rather than element by element.
        let mut index_elements = true;

        for (i, slot) in slots.iter_mut().enumerate() {
            let Slot::Pending { path, positional } = *slot else {
                continue;
            };
            let in_obj = obj.is_some_and(|o| o.contains_key(first_component(path)));
            let mut selected_array = false;
            let found = match (in_obj, positional) {
                (true, Some(p)) => {
                    return Err(KeyError::AmbiguousField {
                        name: first_component(path),
                        array: p.array,
                    });
                }
                (true, None) => obj.and_then(|o| walk_document(o, path)),
                (false, Some(p)) => {
                    selected_array = matches!(p.element, Bson::Array(_));
                    p.found
                }
                (false, None) => None,
            };
            *slot = match found {
                None => Slot::Done(&NULL),
                Some(
                    found @ Found {
                        value: Bson::Array(elements),
                        ..
                    },
                ) => {
                    match array {
                        None => array = Some((found, elements)),
                        Some((first, _)) if std::ptr::eq(first.value, found.value) => {}
                        Some((first, _)) => {
                            return Err(KeyError::ParallelArrays {
                                later: found.name,
                                earlier: first.name,
                            });
                        }
                    }
                    array_slots.push(i);
                    if selected_array {
                        index_elements = false;
                    }
                    Slot::Pending {
                        path: found.rest,
                        positional: None,
                    }
                }
                Some(found) => Slot::Done(found.value),
            };
        }

        let Some((array, elements)) = array else {
            self.emit(&slots);
            return Ok(());
        };

        if elements.is_empty() {
            // An empty array at the end of a path is indexed as `undefined`; a path that goes
            // on into it finds nothing.
            for &i in &array_slots {
                if let Slot::Pending { path: "", .. } = slots[i] {
                    slots[i] = Slot::Done(&UNDEFINED);
                }
            }
            return self.expand(None, slots);
        }

        // Paths whose next component is a position in the array select that element for
        // every element of the array.
        let mut all_positional = true;
        for &i in &array_slots {
            let Slot::Pending { path, .. } = slots[i] else {
                continue;
            };
            let selected = array_index(first_component(path)).and_then(|ix| elements.get(ix));
            match selected {
                Some(element) if !path.is_empty() => {
                    slots[i] = Slot::Pending {
                        path,
                        positional: Some(Positional {
                            array: elements,
                            element,
                            found: walk_array(elements, path),
                        }),
                    };
                }
                _ => all_positional = false,
            }
        }

        if all_positional {
            // Every element would give the same keys: look at the elements only to reject
            // ambiguous paths, and go on once.
            for element in elements {
                let Bson::Document(element) = element else {
                    continue;
                };
                for &i in &array_slots {
                    if let Slot::Pending { path, .. } = slots[i] {
                        let name = first_component(path);
                        if element.contains_key(name) {
                            return Err(KeyError::AmbiguousField {
                                name,
                                array: elements,
                            });
                        }
                    }
                }
            }
            return self.expand(None, slots);
        }

        for element in elements {
            let mut next = slots.clone();
            for &i in &array_slots {
                if let Slot::Pending { path: "", .. } = next[i] {
                    next[i] = Slot::Done(if index_elements { element } else { array.value });
                }
            }
            let obj = match element {
                Bson::Document(doc) => Some(doc),
                _ => None,
            };
            self.expand(obj, next)?;
        }
        Ok(())
    }

    /// Adds the key of fully resolved fields.
    fn emit(&mut self, slots: &[Slot<'_>]) {
        let mut key = Vec::new();
        for (slot, direction) in slots.iter().zip(&self.directions) {
            let value = match slot {
                Slot::Done(value) => value,
                // Not reached: every pending field is resolved before a key is emitted.
                Slot::Pending { .. } => &NULL,
            };
            encode_value(value, *direction, &mut key);
        }
        self.keys.insert(key);
    }
}

/// The part of a dotted path before its first dot.
fn first_component(path: &str) -> &str {
    path.split_once('.').map_or(path, |(first, _)| first)
}

/// The path split at its first dot (the rest is empty when there is none).
fn split_path(path: &str) -> (&str, &str) {
    path.split_once('.').unwrap_or((path, ""))
}

/// The array position a path component names: decimal digits without leading zeros.
fn array_index(component: &str) -> Option<usize> {
    let canonical = !component.is_empty()
        && component.bytes().all(|b| b.is_ascii_digit())
        && (component == "0" || !component.starts_with('0'));
    if canonical {
        component.parse().ok()
    } else {
        None
    }
}

/// Follows `path` from a document through sub-documents, stopping at its end or at the first
/// array on it; `None` if a component is missing or is a scalar before the end.
fn walk_document<'a>(doc: &'a Document, path: &'a str) -> Option<Found<'a>> {
    let (name, rest) = split_path(path);
    walk_from(name, doc.get(name)?, rest)
}

/// Like [`walk_document`], from an array whose elements are named by their positions.
fn walk_array<'a>(elements: &'a [Bson], path: &'a str) -> Option<Found<'a>> {
    let (name, rest) = split_path(path);
    walk_from(name, elements.get(array_index(name)?)?, rest)
}

fn walk_from<'a>(name: &'a str, value: &'a Bson, rest: &'a str) -> Option<Found<'a>> {
    match value {
        _ if rest.is_empty() => Some(Found { name, value, rest }),
        Bson::Array(_) => Some(Found { name, value, rest }),
        Bson::Document(doc) => walk_document(doc, rest),
        _ => None,
    }
}

/// Why a document cannot be indexed; turned into a [`CommandError`] by [`index_keys`].
#[derive(Debug)]
enum KeyError<'a> {
    /// Two fields reach two different arrays.
    ParallelArrays {
        /// The array found second (by a later field of the pattern).
        later: &'a str,
        /// The array found first.
        earlier: &'a str,
    },
    /// A numeric component both indexes an array and names a field of one of its elements.
    AmbiguousField { name: &'a str, array: &'a [Bson] },
}

impl From<KeyError<'_>> for CommandError {
    fn from(err: KeyError<'_>) -> CommandError {
        match err {
            KeyError::ParallelArrays { later, earlier } => CommandError::new(
                ErrorCode::CannotIndexParallelArrays,
                format!("cannot index parallel arrays [{later}] [{earlier}]"),
            ),
            KeyError::AmbiguousField { name, array } => CommandError::with_code(
                16746,
                format!(
                    "Ambiguous field name found in array (do not use numeric field names in \
                     embedded elements in an array), field: '{name}' for array: {}",
                    Bson::Array(array.to_vec())
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    /// 2^53: every `i64` of smaller magnitude is exactly a double.
    const TWO_53: f64 = 9_007_199_254_740_992.0;

    /// 2^63: every `i64` rounds to a double of at most this magnitude.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;

    use std::cmp::Ordering;

    use bson::{
        Binary, Decimal128, JavaScriptCodeWithScope, Regex, Timestamp, doc, oid::ObjectId,
        raw::CString, spec::BinarySubtype,
    };
    use proptest::prelude::*;

    use super::*;
    use crate::compare::compare_values;

    fn desc_key(value: &Bson) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(value, Direction::Descending, &mut out);
        out
    }

    fn dec(s: &str) -> Bson {
        Bson::Decimal128(s.parse::<Decimal128>().expect("valid decimal"))
    }

    fn binary(subtype: u8, bytes: &[u8]) -> Bson {
        Bson::Binary(Binary {
            subtype: BinarySubtype::from(subtype),
            bytes: bytes.to_vec(),
        })
    }

    fn regex(pattern: &str, options: &str) -> Bson {
        Bson::RegularExpression(Regex {
            pattern: CString::try_from(pattern).expect("no nul"),
            options: CString::try_from(options).expect("no nul"),
        })
    }

    fn code_with_scope(code: &str, scope: Document) -> Bson {
        Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
            code: code.to_owned(),
            scope,
        })
    }

    /// A `DbPointer`, whose fields the driver keeps private, read from raw BSON.
    fn db_pointer(namespace: &str, oid: [u8; 12]) -> Bson {
        let mut element = vec![0x0C, b'v', 0];
        let len = i32::try_from(namespace.len() + 1).expect("short namespace");
        element.extend_from_slice(&len.to_le_bytes());
        element.extend_from_slice(namespace.as_bytes());
        element.push(0);
        element.extend_from_slice(&oid);
        let total = i32::try_from(element.len() + 5).expect("short document");
        let mut raw = total.to_le_bytes().to_vec();
        raw.extend_from_slice(&element);
        raw.push(0);
        let doc = Document::from_reader(raw.as_slice()).expect("valid BSON");
        doc.get("v").cloned().expect("field v")
    }

    /// Asserts that the values are in strictly ascending order, by `compare_values` and by key.
    fn assert_ascending(values: &[Bson]) {
        for pair in values.windows(2) {
            assert_eq!(
                compare_values(&pair[0], &pair[1]),
                Ordering::Less,
                "compare_values {pair:?}"
            );
            assert!(key_of(&pair[0]) < key_of(&pair[1]), "keys {pair:?}");
            assert!(
                desc_key(&pair[0]) > desc_key(&pair[1]),
                "descending keys {pair:?}"
            );
        }
    }

    /// Asserts that the values are equal, by `compare_values` and by identical keys.
    fn assert_same_key(values: &[Bson]) {
        for pair in values.windows(2) {
            assert_eq!(
                compare_values(&pair[0], &pair[1]),
                Ordering::Equal,
                "compare_values {pair:?}"
            );
            assert_eq!(key_of(&pair[0]), key_of(&pair[1]), "keys {pair:?}");
        }
    }

    #[test]
    fn types_order_by_canonical_rank() {
        assert_ascending(&[
            Bson::MinKey,
            Bson::Undefined,
            Bson::Null,
            Bson::Double(f64::NAN),
            Bson::Double(f64::INFINITY),
            Bson::String(String::new()),
            Bson::Document(doc! {}),
            Bson::Array(vec![]),
            binary(0, b""),
            Bson::ObjectId(ObjectId::from_bytes([0; 12])),
            Bson::Boolean(false),
            Bson::DateTime(bson::DateTime::from_millis(i64::MIN)),
            Bson::Timestamp(Timestamp {
                time: 0,
                increment: 0,
            }),
            regex("", ""),
            db_pointer("", [0; 12]),
            Bson::JavaScriptCode(String::new()),
            code_with_scope("", doc! {}),
            Bson::MaxKey,
        ]);
    }

    #[test]
    fn equal_numbers_of_every_width_share_a_key() {
        assert_same_key(&[
            Bson::Int32(1),
            Bson::Int64(1),
            Bson::Double(1.0),
            dec("1"),
            dec("1.000"),
        ]);
        assert_same_key(&[
            Bson::Double(-0.0),
            Bson::Double(0.0),
            Bson::Int32(0),
            Bson::Int64(0),
            dec("-0"),
        ]);
        assert_same_key(&[
            Bson::Double(f64::NAN),
            Bson::Double(-f64::NAN),
            Bson::Double(f64::from_bits(0x7FF0_0000_0000_0001)),
            dec("NaN"),
        ]);
        assert_same_key(&[Bson::Double(f64::INFINITY), dec("Infinity")]);
        assert_same_key(&[Bson::Int64(5), dec("5.00"), dec("0.0005E4")]);
        assert_same_key(&[Bson::Int64(1 << 53), Bson::Double(TWO_53)]);
        assert_same_key(&[Bson::Int64(i64::MIN), Bson::Double(-TWO_63)]);
        assert_same_key(&[
            Bson::Int32(i32::MIN),
            Bson::Int64(i64::from(i32::MIN)),
            Bson::Double(f64::from(i32::MIN)),
        ]);
    }

    #[test]
    fn numbers_order_exactly_across_widths() {
        let two_53 = 1_i64 << 53;
        assert_ascending(&[
            Bson::Double(f64::NAN),
            Bson::Double(f64::NEG_INFINITY),
            Bson::Double(-1e300),
            Bson::Double(-TWO_63 - 4096.0),
            Bson::Int64(i64::MIN),
            Bson::Int64(i64::MIN + 1),
            Bson::Int64(i64::MIN + 512),
            Bson::Int64(i64::MIN + 513),
            Bson::Double(-TWO_53 - 2.0),
            Bson::Int64(-two_53 - 1),
            Bson::Double(-TWO_53),
            Bson::Int64(-two_53 + 1),
            Bson::Int32(-3),
            Bson::Double(-2.5),
            Bson::Int64(-2),
            Bson::Double(-f64::MIN_POSITIVE),
            Bson::Int32(0),
            Bson::Double(5e-324),
            Bson::Double(0.5),
            dec("0.75"),
            Bson::Int32(1),
            Bson::Double(2.5),
            Bson::Int64(3),
            Bson::Int32(i32::MAX),
            Bson::Int64(two_53 - 1),
            Bson::Double(TWO_53),
            Bson::Int64(two_53 + 1),
            Bson::Double(TWO_53 + 2.0),
            Bson::Int64(two_53 + 3),
            Bson::Int64(i64::MAX - 1024),
            Bson::Int64(i64::MAX - 1),
            Bson::Int64(i64::MAX),
            Bson::Double(TWO_63),
            Bson::Double(1e300),
            Bson::Double(f64::MAX),
            Bson::Double(f64::INFINITY),
        ]);
    }

    #[test]
    fn numbers_take_ten_bytes_unless_they_fall_between_doubles() {
        assert_eq!(key_of(&Bson::Int32(7)).len(), 10);
        assert_eq!(key_of(&Bson::Double(-1e300)).len(), 10);
        assert_eq!(key_of(&Bson::Int64(1 << 60)).len(), 10);
        assert_eq!(key_of(&Bson::Double(TWO_63)).len(), 10);
        assert_eq!(key_of(&dec("0.125")).len(), 10);
        assert_eq!(key_of(&Bson::Double(f64::NAN)).len(), 9);
        // Tag, double, sign, exponent, one digit, end.
        assert_eq!(key_of(&Bson::Int64((1 << 60) + 1)).len(), 14);
        // The difference between 0.1 and the double nearest to it has 38 digits.
        assert_eq!(key_of(&dec("0.1")).len(), 1 + 8 + 1 + 2 + 38 + 1);
    }

    #[test]
    fn decimals_order_exactly_against_doubles_and_each_other() {
        assert_ascending(&[
            Bson::Double(f64::NEG_INFINITY),
            dec("-1E400"),
            Bson::Double(f64::MIN),
            dec("-0.1000000000000000055511151231257828"),
            Bson::Double(-0.1),
            dec("-0.1"),
            Bson::Int32(0),
            dec("1E-6176"),
            Bson::Double(5e-324),
            dec("0.1"),
            Bson::Double(0.1),
            dec("0.1000000000000000055511151231257828"),
            Bson::Int64(9_007_199_254_740_992),
            dec("9007199254740992.5"),
            Bson::Int64(9_007_199_254_740_993),
            dec("9007199254740993.5"),
            Bson::Double(TWO_53 + 2.0),
            dec("1234567890123456789012.123456789012"),
            dec("1234567890123456789012.123456789013"),
            Bson::Double(f64::MAX),
            dec("1E400"),
            dec("9.999999999999999999999999999999999E+6144"),
            Bson::Double(f64::INFINITY),
        ]);
    }

    #[test]
    fn strings_order_byte_wise_with_embedded_nuls() {
        assert_ascending(&[
            Bson::String(String::new()),
            Bson::String("\0".into()),
            Bson::String("\0\0".into()),
            Bson::String("\0\u{1}".into()),
            Bson::String("\u{1}".into()),
            Bson::String("\u{1}\0".into()),
            Bson::String("\u{2}".into()),
            Bson::String("a".into()),
            Bson::String("a\0".into()),
            Bson::String("a\0b".into()),
            Bson::String("a\u{1}".into()),
            Bson::String("ab".into()),
            Bson::String("b".into()),
            Bson::String("\u{ff}".into()),
            Bson::String("\u{10000}".into()),
        ]);
        assert_same_key(&[Bson::String("x\0y".into()), Bson::Symbol("x\0y".into())]);
    }

    #[test]
    fn documents_order_by_type_then_name_then_value_then_length() {
        assert_ascending(&[
            Bson::Document(doc! {}),
            Bson::Document(doc! {"b": Bson::MinKey}),
            Bson::Document(doc! {"b": Bson::Null}),
            Bson::Document(doc! {"b": 1}),
            Bson::Document(doc! {"b": 1, "a": 1}),
            Bson::Document(doc! {"b": 2}),
            Bson::Document(doc! {"a": "x"}),
            Bson::Document(doc! {"a\0": "x"}),
            Bson::Document(doc! {"b": "x"}),
            Bson::Document(doc! {"a": {}}),
            Bson::Document(doc! {"a": {"a": 1}}),
            Bson::Document(doc! {"a": []}),
            Bson::Document(doc! {"a": Bson::MaxKey}),
        ]);
        assert_same_key(&[
            Bson::Document(doc! {"a": 1_i32, "b": "s"}),
            Bson::Document(doc! {"a": 1.0, "b": Bson::Symbol("s".into())}),
        ]);
    }

    #[test]
    fn arrays_order_element_wise_with_prefixes_first() {
        assert_ascending(&[
            Bson::Array(vec![]),
            Bson::Array(vec![Bson::MinKey]),
            Bson::Array(vec![Bson::Null]),
            Bson::Array(vec![Bson::Int32(1)]),
            Bson::Array(vec![Bson::Int32(1), Bson::MinKey]),
            Bson::Array(vec![Bson::Int32(1), Bson::Int32(2)]),
            Bson::Array(vec![Bson::Double(1.5)]),
            Bson::Array(vec![Bson::String(String::new())]),
            Bson::Array(vec![Bson::Array(vec![])]),
            Bson::Array(vec![Bson::Array(vec![Bson::Int32(0)])]),
            Bson::Array(vec![Bson::MaxKey]),
        ]);
        assert_same_key(&[
            Bson::Array(vec![Bson::Int64(2), Bson::Double(-0.0)]),
            Bson::Array(vec![Bson::Double(2.0), Bson::Int32(0)]),
        ]);
    }

    #[test]
    fn binary_orders_by_length_then_subtype_then_bytes() {
        assert_ascending(&[
            binary(0, b""),
            binary(5, b""),
            binary(0, b"\xff"),
            binary(4, b"\x00"),
            binary(0, b"\x00\x00"),
            binary(0, b"\x00\x01"),
            binary(0x80, b"\x00\x00"),
            binary(0, &[0; 255]),
            binary(0, &[0; 256]),
            binary(0, &[0; 70_000]),
        ]);
    }

    #[test]
    fn fixed_width_types_order_by_value() {
        assert_ascending(&[
            Bson::ObjectId(ObjectId::from_bytes([0; 12])),
            Bson::ObjectId(ObjectId::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
            Bson::ObjectId(ObjectId::from_bytes([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
            Bson::ObjectId(ObjectId::from_bytes([0xff; 12])),
        ]);
        assert_ascending(&[Bson::Boolean(false), Bson::Boolean(true)]);
        assert_ascending(
            &[i64::MIN, -86_400_000, -1, 0, 1, 1_700_000_000_000, i64::MAX]
                .map(|ms| Bson::DateTime(bson::DateTime::from_millis(ms))),
        );
        assert_ascending(
            &[(0, 0), (0, 1), (0, u32::MAX), (1, 0), (u32::MAX, u32::MAX)]
                .map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        );
    }

    #[test]
    fn regexes_and_code_order_by_their_strings() {
        assert_ascending(&[
            regex("", ""),
            regex("", "i"),
            regex("a", ""),
            regex("a", "i"),
            regex("a", "im"),
            regex("a", "m"),
            regex("ab", ""),
        ]);
        assert_ascending(&[
            Bson::JavaScriptCode(String::new()),
            Bson::JavaScriptCode("\0".into()),
            Bson::JavaScriptCode("f()".into()),
        ]);
        assert_ascending(&[
            code_with_scope("", doc! {}),
            code_with_scope("", doc! {"x": 1}),
            code_with_scope("", doc! {"x": 2}),
            code_with_scope("f", doc! {}),
        ]);
        assert_same_key(&[
            code_with_scope("f", doc! {"x": 1}),
            code_with_scope("f", doc! {"x": 1.0}),
        ]);
    }

    #[test]
    fn db_pointers_order_like_compare_values() {
        let pointers = [
            db_pointer("", [0; 12]),
            db_pointer("a", [0; 12]),
            db_pointer("a", [1; 12]),
            db_pointer("ab", [0; 12]),
            db_pointer("b", [0; 12]),
        ];
        for a in &pointers {
            for b in &pointers {
                assert_eq!(
                    key_of(a).cmp(&key_of(b)),
                    compare_values(a, b),
                    "{a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn descending_keys_reverse_and_compound_keys_order_field_by_field() {
        let key = |a: &Bson, b: &Bson| {
            let mut out = Vec::new();
            encode_value(a, Direction::Ascending, &mut out);
            encode_value(b, Direction::Descending, &mut out);
            out
        };
        let s = |text: &str| Bson::String(text.into());
        // (a ascending, b descending): "a" < "ab" but a-first wins; b larger sorts first.
        let ordered = [
            key(&s("a"), &s("z")),
            key(&s("a"), &s("b")),
            key(&s("a"), &s("")),
            key(&s("ab"), &Bson::MaxKey),
            key(&s("ab"), &Bson::MinKey),
            key(&Bson::Int32(1), &s("a")),
        ];
        // Strings sort after numbers, so the last key goes first once sorted.
        let mut sorted = ordered.to_vec();
        sorted.sort();
        assert_eq!(sorted[0], ordered[5]);
        assert_eq!(&sorted[1..], &ordered[..5]);
    }

    fn pattern(fields: &[(&str, Direction)]) -> Vec<(String, Direction)> {
        fields
            .iter()
            .map(|(path, direction)| ((*path).to_owned(), *direction))
            .collect()
    }

    fn asc(paths: &[&str]) -> Vec<(String, Direction)> {
        pattern(
            &paths
                .iter()
                .map(|path| (*path, Direction::Ascending))
                .collect::<Vec<_>>(),
        )
    }

    /// The sorted, deduplicated keys of ascending compound values.
    fn expected(rows: &[&[Bson]]) -> Vec<Vec<u8>> {
        let keys: BTreeSet<Vec<u8>> = rows
            .iter()
            .map(|row| {
                let mut key = Vec::new();
                for value in *row {
                    encode_value(value, Direction::Ascending, &mut key);
                }
                key
            })
            .collect();
        keys.into_iter().collect()
    }

    fn keys(doc: Document, paths: &[&str]) -> Vec<Vec<u8>> {
        index_keys(&doc, &asc(paths)).expect("indexable")
    }

    #[test]
    fn index_keys_of_scalars_and_missing_fields() {
        let doc = doc! {"a": 1, "b": {"c": "x"}, "d": 5};
        assert_eq!(keys(doc.clone(), &["a"]), expected(&[&[Bson::Int32(1)]]));
        assert_eq!(keys(doc.clone(), &["b.c"]), expected(&[&["x".into()]]));
        assert_eq!(
            keys(doc.clone(), &["b"]),
            expected(&[&[Bson::Document(doc! {"c": "x"})]])
        );
        assert_eq!(keys(doc.clone(), &["z"]), expected(&[&[Bson::Null]]));
        assert_eq!(keys(doc.clone(), &["d.e"]), expected(&[&[Bson::Null]]));
        assert_eq!(keys(doc.clone(), &["b.z"]), expected(&[&[Bson::Null]]));
        assert_eq!(
            keys(doc, &["a", "z", "b.c"]),
            expected(&[&[Bson::Int32(1), Bson::Null, "x".into()]])
        );
    }

    #[test]
    fn index_keys_expand_arrays() {
        assert_eq!(
            keys(doc! {"a": [3, 1, 2, 1.0, 3_i64]}, &["a"]),
            expected(&[&[Bson::Int32(1)], &[Bson::Int32(2)], &[Bson::Int32(3)]])
        );
        assert_eq!(
            keys(doc! {"a": []}, &["a"]),
            expected(&[&[Bson::Undefined]])
        );
        assert_eq!(
            keys(doc! {"a": {"b": []}}, &["a.b"]),
            expected(&[&[Bson::Undefined]])
        );
        assert_eq!(keys(doc! {"a": []}, &["a.b"]), expected(&[&[Bson::Null]]));
        // A nested array is one key.
        assert_eq!(
            keys(doc! {"a": [[1, 2], 3]}, &["a"]),
            expected(&[&[Bson::Array(vec![1.into(), 2.into()])], &[Bson::Int32(3)]])
        );
        // Compound with one array: one key per element.
        assert_eq!(
            keys(doc! {"a": 1, "b": [1, 2]}, &["a", "b"]),
            expected(&[
                &[Bson::Int32(1), Bson::Int32(1)],
                &[Bson::Int32(1), Bson::Int32(2)]
            ])
        );
    }

    #[test]
    fn index_keys_follow_paths_through_arrays_of_documents() {
        assert_eq!(
            keys(doc! {"a": [{"b": 1}, {"b": 2}]}, &["a.b"]),
            expected(&[&[Bson::Int32(1)], &[Bson::Int32(2)]])
        );
        // Elements that are not documents, or lack the field, give null.
        assert_eq!(
            keys(doc! {"a": [{"b": 1}, 5, {"c": 1}, [{"b": 9}]]}, &["a.b"]),
            expected(&[&[Bson::Null], &[Bson::Int32(1)]])
        );
        // Arrays at two levels of one path.
        assert_eq!(
            keys(doc! {"a": [{"b": [1, 2]}, {"b": [2, 3]}]}, &["a.b"]),
            expected(&[&[Bson::Int32(1)], &[Bson::Int32(2)], &[Bson::Int32(3)]])
        );
        // Two fields through the same array pair up element by element.
        assert_eq!(
            keys(
                doc! {"a": [{"b": 1, "c": "x"}, {"b": 2, "c": "y"}]},
                &["a.b", "a.c"]
            ),
            expected(&[&[Bson::Int32(1), "x".into()], &[Bson::Int32(2), "y".into()]])
        );
        assert_eq!(
            keys(doc! {"a": [{"b": 1}, {"b": 2}]}, &["a", "a.b"]),
            expected(&[
                &[Bson::Document(doc! {"b": 1}), Bson::Int32(1)],
                &[Bson::Document(doc! {"b": 2}), Bson::Int32(2)]
            ])
        );
    }

    #[test]
    fn index_keys_with_positional_components() {
        let doc = doc! {"a": [{"b": 1}, {"b": 2}], "c": {"0": "zero"}};
        assert_eq!(
            keys(doc.clone(), &["a.0.b"]),
            expected(&[&[Bson::Int32(1)]])
        );
        assert_eq!(
            keys(doc.clone(), &["a.1.b"]),
            expected(&[&[Bson::Int32(2)]])
        );
        assert_eq!(keys(doc.clone(), &["a.2.b"]), expected(&[&[Bson::Null]]));
        assert_eq!(
            keys(doc.clone(), &["a.0"]),
            expected(&[&[Bson::Document(doc! {"b": 1})]])
        );
        assert_eq!(keys(doc.clone(), &["c.0"]), expected(&[&["zero".into()]]));
        // "01" is not a position; it is looked up in each element.
        assert_eq!(keys(doc.clone(), &["a.01.b"]), expected(&[&[Bson::Null]]));
        // A positional field next to one that expands the same array.
        assert_eq!(
            keys(doc, &["a.0.b", "a.b"]),
            expected(&[
                &[Bson::Int32(1), Bson::Int32(1)],
                &[Bson::Int32(1), Bson::Int32(2)]
            ])
        );
        // An array selected by position is indexed as a whole.
        assert_eq!(
            keys(doc! {"a": [[1, 2], 3]}, &["a.0"]),
            expected(&[&[Bson::Array(vec![1.into(), 2.into()])]])
        );
        // An array reached by position at the end of a longer path is expanded.
        assert_eq!(
            keys(doc! {"a": [{"b": [1, 2]}]}, &["a.0.b"]),
            expected(&[&[Bson::Int32(1)], &[Bson::Int32(2)]])
        );
        let err =
            index_keys(&doc! {"a": [{"0": 1}, {"b": 2}]}, &asc(&["a.0"])).expect_err("ambiguous");
        assert_eq!(err.code, 16746);
    }

    #[test]
    fn index_keys_reject_parallel_arrays() {
        let err = index_keys(&doc! {"a": [1, 2], "b": [3, 4]}, &asc(&["a", "b"]))
            .expect_err("parallel arrays");
        assert_eq!(err.code, 171);
        assert_eq!(err.code_name, "CannotIndexParallelArrays");
        assert_eq!(err.message, "cannot index parallel arrays [b] [a]");

        let err = index_keys(
            &doc! {"x": {"a": [1]}, "y": [{"b": 1}]},
            &asc(&["x.a", "y.b"]),
        )
        .expect_err("parallel arrays");
        assert_eq!(err.message, "cannot index parallel arrays [y] [a]");

        let err = index_keys(&doc! {"a": [{"b": [1], "c": [2]}]}, &asc(&["a.b", "a.c"]))
            .expect_err("parallel arrays below a shared array");
        assert_eq!(err.code, 171);

        // One array and an empty one are still parallel, as in mongod.
        assert!(index_keys(&doc! {"a": [1], "b": []}, &asc(&["a", "b"])).is_err());
        // An array next to scalars is fine.
        assert!(index_keys(&doc! {"a": [1], "b": 2}, &asc(&["a", "b"])).is_ok());
    }

    #[test]
    fn index_keys_use_each_field_direction() {
        let doc = doc! {"a": 1, "b": [1, 2]};
        let keys = index_keys(
            &doc,
            &pattern(&[("a", Direction::Ascending), ("b", Direction::Descending)]),
        )
        .expect("indexable");
        let mut two = key_of(&Bson::Int32(1));
        two.extend(desc_key(&Bson::Int32(2)));
        let mut one = key_of(&Bson::Int32(1));
        one.extend(desc_key(&Bson::Int32(1)));
        // Sorted: b descending puts 2 first.
        assert_eq!(keys, vec![two, one]);
    }

    // ---- property tests ----

    fn arb_i64() -> impl Strategy<Value = i64> {
        let two_53 = 1_i64 << 53;
        prop_oneof![
            any::<i64>(),
            -4_i64..4,
            two_53 - 4..two_53 + 4,
            -two_53 - 4..-two_53 + 4,
            (1_i64 << 62) - 1100..(1_i64 << 62) + 1100,
            i64::MAX - 1100..=i64::MAX,
            i64::MIN..i64::MIN + 1100,
        ]
    }

    fn arb_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            prop::sample::select(vec![
                f64::NAN,
                -f64::NAN,
                f64::from_bits(0x7FF0_0000_0000_0001),
                f64::INFINITY,
                f64::NEG_INFINITY,
                0.0,
                -0.0,
                0.5,
                -2.5,
                5e-324,
                f64::MAX,
                f64::MIN,
                TWO_53,
                TWO_63,
                -TWO_63,
            ]),
            // Integers, exactly or rounded, and their neighbouring doubles.
            (arb_i64(), -1_i64..=1).prop_map(|(i, step)| {
                let f = i as f64;
                let bits = f.to_bits();
                match step {
                    -1 => f64::from_bits(bits.wrapping_sub(1)),
                    1 => f64::from_bits(bits.wrapping_add(1)),
                    _ => f,
                }
            }),
        ]
    }

    fn arb_number() -> BoxedStrategy<Bson> {
        prop_oneof![
            any::<i32>().prop_map(Bson::Int32),
            (-4_i32..4).prop_map(Bson::Int32),
            arb_i64().prop_map(Bson::Int64),
            arb_f64().prop_map(Bson::Double),
            prop::sample::select(vec![
                "0",
                "-0",
                "1",
                "1.0",
                "2.5",
                "-2.5",
                "NaN",
                "Infinity",
                "-Infinity",
                "1E400",
                "9007199254740993",
                "0.1",
            ])
            .prop_map(dec),
            any::<[u8; 16]>().prop_map(|bytes| Bson::Decimal128(Decimal128::from_bytes(bytes))),
            arb_f64().prop_filter_map("finite", decimal_spelling),
            arb_decimal_digits().prop_map(|(c, e)| dec(&format!("{c}E{e}"))),
        ]
        .boxed()
    }

    /// The shortest decimal spelling of a double, as a `Decimal128` (near the double, and
    /// equal to it only when the double is a short decimal).
    fn decimal_spelling(f: f64) -> Option<Bson> {
        f.is_finite().then(|| dec(&format!("{f:e}")))
    }

    /// A coefficient of up to 34 digits and a small exponent.
    fn arb_decimal_digits() -> impl Strategy<Value = (u128, i32)> {
        (0_u128..10_u128.pow(34), -40_i32..40)
    }

    /// Pairs of numbers, many of them close: neighbouring integers, and an integer with its
    /// nearest double.
    fn arb_number_pair() -> BoxedStrategy<(Bson, Bson)> {
        prop_oneof![
            (arb_number(), arb_number()),
            (arb_i64(), -3_i64..=3)
                .prop_map(|(i, d)| (Bson::Int64(i), Bson::Int64(i.saturating_add(d)))),
            arb_i64().prop_map(|i| (Bson::Int64(i), Bson::Double(i as f64))),
            (arb_i64(), arb_f64()).prop_map(|(i, f)| (Bson::Int64(i), Bson::Double(f))),
            arb_f64().prop_filter_map("finite", |f| Some((Bson::Double(f), decimal_spelling(f)?))),
            arb_decimal_digits().prop_map(|(c, e)| (
                dec(&format!("{c}E{e}")),
                dec(&format!("{}E{e}", (c + 1) % 10_u128.pow(34)))
            )),
            // An integer and a decimal just beside it.
            (
                arb_i64(),
                prop::sample::select(vec![".5", ".000000000000001", ".999999999999999"])
            )
                .prop_map(|(i, fraction)| (Bson::Int64(i), dec(&format!("{i}{fraction}")))),
        ]
        .boxed()
    }

    /// Short strings over an alphabet with the escaped bytes, so that equal and prefix pairs
    /// are common.
    fn arb_string() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!['\0', '\u{1}', '\u{2}', 'a', 'b', '\u{ff}']),
            0..4,
        )
        .prop_map(String::from_iter)
    }

    fn arb_leaf() -> BoxedStrategy<Bson> {
        prop_oneof![
            4 => arb_number(),
            2 => arb_string().prop_map(Bson::String),
            1 => arb_string().prop_map(Bson::Symbol),
            1 => (
                prop::sample::select(vec![0_u8, 1, 4, 0x80]),
                prop::collection::vec(prop::sample::select(vec![0_u8, 1, 0xff]), 0..3)
            )
                .prop_map(|(subtype, bytes)| binary(subtype, &bytes)),
            1 => prop_oneof![
                prop::sample::select(vec![[0_u8; 12], [1; 12], [0xff; 12]]),
                any::<[u8; 12]>()
            ]
            .prop_map(|bytes| Bson::ObjectId(ObjectId::from_bytes(bytes))),
            1 => any::<bool>().prop_map(Bson::Boolean),
            1 => arb_i64().prop_map(|ms| Bson::DateTime(bson::DateTime::from_millis(ms))),
            1 => (
                prop_oneof![0_u32..2, Just(u32::MAX)],
                prop_oneof![0_u32..2, Just(u32::MAX)]
            )
                .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
            1 => (
                prop::sample::select(vec!["", "a", "ab", "b"]),
                prop::sample::select(vec!["", "i", "im", "m"])
            )
                .prop_map(|(pattern, options)| regex(pattern, options)),
            1 => (
                prop::sample::select(vec!["", "a", "ab", "b"]),
                prop::sample::select(vec![[0_u8; 12], [1; 12]])
            )
                .prop_map(|(namespace, oid)| db_pointer(namespace, oid)),
            1 => arb_string().prop_map(Bson::JavaScriptCode),
            1 => prop::sample::select(vec![
                Bson::MinKey,
                Bson::MaxKey,
                Bson::Null,
                Bson::Undefined,
            ]),
        ]
        .boxed()
    }

    fn arb_name() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["", "a", "b", "ab", "a\0", "0"]).prop_map(str::to_owned)
    }

    fn arb_bson() -> BoxedStrategy<Bson> {
        arb_leaf()
            .prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec((arb_name(), inner.clone()), 0..4)
                        .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
                    (
                        arb_string(),
                        prop::collection::vec((arb_name(), inner), 0..3)
                    )
                        .prop_map(|(code, fields)| code_with_scope(
                            &code,
                            fields.into_iter().collect()
                        )),
                ]
            })
            .boxed()
    }

    /// The number of values in `value`, counting itself and everything nested in it.
    fn count_values(value: &Bson) -> usize {
        1 + match value {
            Bson::Document(doc) => doc.values().map(count_values).sum(),
            Bson::JavaScriptCodeWithScope(cws) => cws.scope.values().map(count_values).sum(),
            Bson::Array(elements) => elements.iter().map(count_values).sum(),
            _ => 0,
        }
    }

    /// `value` with its `n`th value (in pre-order, counting from 0) replaced by `with`.
    fn replace_nth(value: &Bson, n: &mut usize, with: &Bson) -> Bson {
        if *n == 0 {
            *n = usize::MAX;
            return with.clone();
        }
        *n = n.saturating_sub(1);
        let mut replace_in = |doc: &Document| -> Document {
            doc.iter()
                .map(|(name, v)| (name.clone(), replace_nth(v, n, with)))
                .collect()
        };
        match value {
            Bson::Document(doc) => Bson::Document(replace_in(doc)),
            Bson::JavaScriptCodeWithScope(cws) => {
                code_with_scope(&cws.code, replace_in(&cws.scope))
            }
            Bson::Array(elements) => Bson::Array(
                elements
                    .iter()
                    .map(|element| replace_nth(element, n, with))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// An equal value written differently: numbers in other widths, strings as symbols.
    fn respell(value: &Bson) -> Bson {
        let respell_doc = |doc: &Document| -> Document {
            doc.iter().map(|(k, v)| (k.clone(), respell(v))).collect()
        };
        match value {
            Bson::Int32(i) => Bson::Double(f64::from(*i)),
            Bson::Int64(i) => match i32::try_from(*i) {
                Ok(small) => Bson::Int32(small),
                Err(_) if (*i as f64) as i128 == i128::from(*i) => Bson::Double(*i as f64),
                Err(_) => Bson::Int64(*i),
            },
            Bson::Double(f) if f.is_nan() => Bson::Double(-f64::NAN),
            Bson::Double(f) if *f == 0.0 => Bson::Int64(0),
            Bson::Double(f) if f.fract() == 0.0 && f.abs() < TWO_63 => Bson::Int64(*f as i64),
            Bson::Double(f) => Bson::Double(-(-*f)),
            Bson::String(s) => Bson::Symbol(s.clone()),
            Bson::Symbol(s) => Bson::String(s.clone()),
            Bson::Document(doc) => Bson::Document(respell_doc(doc)),
            Bson::JavaScriptCodeWithScope(cws) => {
                code_with_scope(&cws.code, respell_doc(&cws.scope))
            }
            Bson::Array(elements) => Bson::Array(elements.iter().map(respell).collect()),
            other => other.clone(),
        }
    }

    /// Pairs of values: independent ones, and ones that differ in one nested value.
    fn arb_pair() -> BoxedStrategy<(Bson, Bson)> {
        prop_oneof![
            (arb_bson(), arb_bson()),
            (arb_bson(), any::<usize>(), arb_bson()).prop_map(|(a, n, with)| {
                let mut n = n % count_values(&a);
                let b = replace_nth(&a, &mut n, &with);
                (a, b)
            }),
            arb_bson().prop_map(|a| {
                let b = respell(&a);
                (a, b)
            }),
            arb_number_pair(),
        ]
        .boxed()
    }

    fn arb_direction() -> impl Strategy<Value = Direction> {
        prop_oneof![Just(Direction::Ascending), Just(Direction::Descending)]
    }

    fn directed(ord: Ordering, direction: Direction) -> Ordering {
        match direction {
            Direction::Ascending => ord,
            Direction::Descending => ord.reverse(),
        }
    }

    fn is_proper_prefix(a: &[u8], b: &[u8]) -> bool {
        a.len() < b.len() && b.starts_with(a)
    }

    /// A value with all of its nested values gathered, for checking sub-documents as well.
    fn all_nested(value: &Bson, out: &mut Vec<Bson>) {
        out.push(value.clone());
        match value {
            Bson::Document(doc) => doc.values().for_each(|v| all_nested(v, out)),
            Bson::JavaScriptCodeWithScope(cws) => {
                cws.scope.values().for_each(|v| all_nested(v, out))
            }
            Bson::Array(elements) => elements.iter().for_each(|v| all_nested(v, out)),
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn keys_order_like_compare_values((a, b) in arb_pair()) {
            let (ka, kb) = (key_of(&a), key_of(&b));
            prop_assert_eq!(ka.cmp(&kb), compare_values(&a, &b));
        }

        #[test]
        fn number_keys_order_like_compare_values((a, b) in arb_number_pair()) {
            let (ka, kb) = (key_of(&a), key_of(&b));
            prop_assert_eq!(ka.cmp(&kb), compare_values(&a, &b));
            prop_assert!(!is_proper_prefix(&ka, &kb) && !is_proper_prefix(&kb, &ka));
        }

        #[test]
        fn respelled_values_have_identical_keys(a in arb_bson()) {
            let b = respell(&a);
            prop_assert_eq!(compare_values(&a, &b), Ordering::Equal);
            prop_assert_eq!(key_of(&a), key_of(&b));
        }

        #[test]
        fn keys_are_prefix_free((a, b) in arb_pair()) {
            let (ka, kb) = (key_of(&a), key_of(&b));
            prop_assert!(!is_proper_prefix(&ka, &kb) && !is_proper_prefix(&kb, &ka));
            let (da, db) = (desc_key(&a), desc_key(&b));
            prop_assert!(!is_proper_prefix(&da, &db) && !is_proper_prefix(&db, &da));
        }

        #[test]
        fn descending_keys_reverse_the_order((a, b) in arb_pair()) {
            prop_assert_eq!(desc_key(&a).cmp(&desc_key(&b)), compare_values(&b, &a));
        }

        #[test]
        fn compound_keys_order_field_by_field(
            (a1, a2) in arb_pair(),
            (b1, b2) in arb_pair(),
            (c1, c2) in arb_pair(),
            directions in [arb_direction(), arb_direction(), arb_direction()],
        ) {
            let compound = |values: [&Bson; 3]| {
                let mut key = Vec::new();
                for (value, direction) in values.into_iter().zip(directions) {
                    encode_value(value, direction, &mut key);
                }
                key
            };
            let expected = directed(compare_values(&a1, &a2), directions[0])
                .then(directed(compare_values(&b1, &b2), directions[1]))
                .then(directed(compare_values(&c1, &c2), directions[2]));
            prop_assert_eq!(compound([&a1, &b1, &c1]).cmp(&compound([&a2, &b2, &c2])), expected);
        }

        #[test]
        fn nested_values_order_like_compare_values(a in arb_bson(), b in arb_bson()) {
            let mut values = Vec::new();
            all_nested(&a, &mut values);
            all_nested(&b, &mut values);
            let mut by_key: Vec<(Vec<u8>, Bson)> =
                values.into_iter().map(|v| (key_of(&v), v)).collect();
            by_key.sort_by(|x, y| x.0.cmp(&y.0));
            for pair in by_key.windows(2) {
                let ord = compare_values(&pair[0].1, &pair[1].1);
                prop_assert_ne!(ord, Ordering::Greater);
                prop_assert_eq!(ord == Ordering::Equal, pair[0].0 == pair[1].0);
            }
        }
    }

    fn arb_index_doc() -> impl Strategy<Value = Document> {
        let names = || prop::sample::select(vec!["a", "b", "c", "0", "1"]).prop_map(str::to_owned);
        let leaf = prop_oneof![
            (-2_i32..3).prop_map(Bson::Int32),
            Just(Bson::Null),
            Just(Bson::String("s".into())),
        ];
        let value = leaf.prop_recursive(3, 16, 3, move |inner| {
            prop_oneof![
                prop::collection::vec((names(), inner.clone()), 0..3)
                    .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
                prop::collection::vec(inner, 0..3).prop_map(Bson::Array),
            ]
        });
        prop::collection::vec((names(), value), 0..4)
            .prop_map(|fields| fields.into_iter().collect())
    }

    fn arb_pattern() -> impl Strategy<Value = Vec<(String, Direction)>> {
        let path = prop::sample::select(vec![
            "a", "b", "a.b", "a.c", "a.0", "a.1", "a.b.c", "a.0.b", "b.a", "0", "a.b.0",
        ])
        .prop_map(str::to_owned);
        prop::collection::vec((path, arb_direction()), 1..4)
    }

    /// Whether any value in the document is an array.
    fn has_array(value: &Bson) -> bool {
        match value {
            Bson::Array(_) => true,
            Bson::Document(doc) => doc.values().any(has_array),
            _ => false,
        }
    }

    /// The value at a dotted path through sub-documents only (`null` when there is none).
    fn plain_lookup<'a>(doc: &'a Document, path: &str) -> &'a Bson {
        let mut current = doc;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            match (current.get(part), parts.peek()) {
                (Some(value), None) => return value,
                (Some(Bson::Document(sub)), Some(_)) => current = sub,
                _ => break,
            }
        }
        &NULL
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn index_keys_are_sorted_unique_and_match_plain_lookups(
            doc in arb_index_doc(),
            pattern in arb_pattern(),
        ) {
            match index_keys(&doc, &pattern) {
                Ok(keys) => {
                    prop_assert!(!keys.is_empty());
                    prop_assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
                    if !has_array(&Bson::Document(doc.clone())) {
                        let mut key = Vec::new();
                        for (path, direction) in &pattern {
                            encode_value(plain_lookup(&doc, path), *direction, &mut key);
                        }
                        prop_assert_eq!(keys, vec![key]);
                    }
                }
                Err(err) => prop_assert!(err.code == 171 || err.code == 16746, "{err}"),
            }
        }

        #[test]
        fn single_field_keys_of_a_flat_array_are_its_elements(
            elements in prop::collection::vec(arb_number(), 1..6),
            direction in arb_direction(),
        ) {
            let doc = doc! {"a": elements.clone()};
            let keys = index_keys(&doc, &[("a".to_owned(), direction)]).expect("indexable");
            let mut expected: Vec<Vec<u8>> = elements
                .iter()
                .map(|value| {
                    let mut key = Vec::new();
                    encode_value(value, direction, &mut key);
                    key
                })
                .collect();
            expected.sort();
            expected.dedup();
            prop_assert_eq!(keys, expected);
        }
    }
}
