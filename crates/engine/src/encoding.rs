//! Documents encoded to BSON in one allocation of their exact size, and decoded from it
//! without `bson`'s intermediate copies.
//!
//! `bson` encodes into a buffer that grows from empty (four or five reallocations for a small
//! document) and has no entry point that takes a sized buffer or reports a size without
//! encoding. The engine encodes every document it stores and measures every document it
//! returns in a batch, so it computes the size first and writes once. The bytes are the ones
//! `bson` writes (a property test below holds the two to it).
//!
//! Going the other way, `bson` turns each element into an owned raw value first (a nested
//! document is copied whole before it is converted), and the engine decodes a stored document
//! for every filter it checks. [`decode`] reads the common types straight into a [`Document`]
//! and leaves the rare ones, and anything malformed, to `bson`.

use std::sync::LazyLock;

use bson::oid::ObjectId;
use bson::spec::{BinarySubtype, ElementType};
use bson::{Binary, Bson, DateTime, Decimal128, Document, Timestamp};

use smallvec::SmallVec;

use crate::reply::Reply;

/// The length of the encoding of `doc`, or `None` if it holds what only `bson` encodes: a
/// `DbPointer` (whose fields `bson` keeps private) or a key with a NUL byte (which `bson`
/// refuses with an error).
pub fn encoded_len(doc: &Document) -> Option<usize> {
    let mut len = 4 + 1;
    for (key, value) in doc {
        if key.contains('\0') {
            return None;
        }
        len += 1 + key.len() + 1 + value_len(value)?;
    }
    Some(len)
}

/// `doc` encoded, in a buffer whose capacity is its length; `None` as for [`encoded_len`].
pub fn encode(doc: &Document) -> Option<Vec<u8>> {
    let len = encoded_len(doc)?;
    let mut buf = Vec::with_capacity(len);
    write_document(doc, &mut buf);
    debug_assert_eq!(buf.len(), len);
    Some(buf)
}

/// Appends the elements of `doc` to `buf`, without the document's length and terminator
/// (for a caller that writes elements of its own around them). The caller has checked the
/// document with [`encoded_len`].
pub fn write_elements(doc: &Document, buf: &mut Vec<u8>) {
    for (key, value) in doc {
        write_element(key, value, buf);
    }
}

/// `reply` encoded with `operationTime` and `$clusterTime` after its fields, as `mongod`
/// sends it (the signature is all zeros: no keys are configured), in one buffer of its exact
/// size; a reply kept as values is written from them. `None` as for [`encoded_len`].
pub fn encode_reply(
    reply: &Reply,
    operation_time: Timestamp,
    cluster_time: Timestamp,
) -> Option<Vec<u8>> {
    // `operationTime`: type, name and NUL, the timestamp.
    const OPERATION_TIME: usize = 1 + 13 + 1 + 8;
    // `$clusterTime`: type, name and NUL, then a document of `clusterTime` (type, name, NUL,
    // timestamp) and `signature`, a document of `hash` (type, name, NUL, length, subtype,
    // twenty bytes) and `keyId` (type, name, NUL, int64).
    const SIGNATURE: usize = 4 + (1 + 4 + 1 + 4 + 1 + 20) + (1 + 5 + 1 + 8) + 1;
    const CLUSTER_TIME: usize = 1 + 12 + 1 + (4 + (1 + 11 + 1 + 8) + (1 + 9 + 1 + SIGNATURE) + 1);
    let fields = reply_fields(reply);
    let fields_len = match reply {
        Reply::Document(reply) => encoded_len(reply)?,
        Reply::Ok | Reply::Written { .. } => {
            let elements: usize = fields
                .iter()
                .map(|(name, value)| element_len(name, value))
                .sum();
            4 + elements + 1
        }
    };
    let len = fields_len + OPERATION_TIME + CLUSTER_TIME;
    let mut buf = Vec::with_capacity(len);
    let start = open(&mut buf);
    match reply {
        Reply::Document(reply) => write_elements(reply, &mut buf),
        Reply::Ok | Reply::Written { .. } => {
            for (name, value) in &fields {
                write_element(name, value, &mut buf);
            }
        }
    }
    write_element("operationTime", &Bson::Timestamp(operation_time), &mut buf);
    key(&mut buf, ElementType::EmbeddedDocument, "$clusterTime");
    let cluster = open(&mut buf);
    write_element("clusterTime", &Bson::Timestamp(cluster_time), &mut buf);
    key(&mut buf, ElementType::EmbeddedDocument, "signature");
    let signature = open(&mut buf);
    key(&mut buf, ElementType::Binary, "hash");
    buf.extend_from_slice(&20_u32.to_le_bytes());
    buf.push(u8::from(BinarySubtype::Generic));
    buf.extend_from_slice(&[0; 20]);
    write_element("keyId", &Bson::Int64(0), &mut buf);
    close(&mut buf, signature);
    close(&mut buf, cluster);
    close(&mut buf, start);
    debug_assert_eq!(buf.len(), len);
    Some(buf)
}

/// The fields of a reply kept as values, in the order of its document (none for a document),
/// held inline.
fn reply_fields(reply: &Reply) -> SmallVec<[(&'static str, Bson); 3]> {
    let mut fields = SmallVec::new();
    match *reply {
        Reply::Document(_) => {}
        Reply::Ok => fields.push(("ok", Bson::Double(1.0))),
        Reply::Written { n, modified } => {
            fields.push(("n", Bson::Int32(n)));
            if let Some(modified) = modified {
                fields.push(("nModified", Bson::Int32(modified)));
            }
            fields.push(("ok", Bson::Double(1.0)));
        }
    }
    fields
}

/// The length of an element whose value has a fixed size (what [`reply_fields`] holds).
fn element_len(name: &str, value: &Bson) -> usize {
    1 + name.len() + 1 + value_len(value).unwrap_or(0)
}

fn value_len(value: &Bson) -> Option<usize> {
    Some(match value {
        Bson::Double(_) | Bson::Int64(_) | Bson::Timestamp(_) | Bson::DateTime(_) => 8,
        Bson::Int32(_) => 4,
        Bson::Boolean(_) => 1,
        Bson::Null | Bson::Undefined | Bson::MinKey | Bson::MaxKey => 0,
        Bson::ObjectId(_) => 12,
        Bson::Decimal128(_) => 16,
        Bson::String(s) | Bson::JavaScriptCode(s) | Bson::Symbol(s) => string_len(s),
        Bson::Document(doc) => encoded_len(doc)?,
        Bson::Array(values) => {
            let mut len = 4 + 1;
            for (index, value) in values.iter().enumerate() {
                len += 1 + decimal_digits(index) + 1 + value_len(value)?;
            }
            len
        }
        Bson::Binary(binary) => {
            let old = binary.subtype == BinarySubtype::BinaryOld;
            4 + 1 + if old { 4 } else { 0 } + binary.bytes.len()
        }
        Bson::RegularExpression(regex) => {
            regex.pattern.as_str().len() + 1 + regex.options.as_str().len() + 1
        }
        Bson::JavaScriptCodeWithScope(code) => {
            4 + string_len(&code.code) + encoded_len(&code.scope)?
        }
        Bson::DbPointer(_) => return None,
    })
}

fn string_len(s: &str) -> usize {
    4 + s.len() + 1
}

fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// Writes a document: its length, its elements, its terminator.
fn write_document(doc: &Document, buf: &mut Vec<u8>) {
    let start = open(buf);
    write_elements(doc, buf);
    close(buf, start);
}

/// Starts a document or array at the end of `buf`; returns where its length goes.
fn open(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    start
}

/// Ends the document or array that starts at `start`, and writes its length there.
fn close(buf: &mut Vec<u8>, start: usize) {
    buf.push(0);
    write_length_at(buf, start);
}

/// Writes the length of what runs from `start` to the end of `buf`, at `start`. Lengths fit
/// in an `i32`: `encoded_len` was computed first, and callers refuse documents over 16 MiB
/// before the length is read by anyone (a longer one is only ever discarded).
fn write_length_at(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn write_element(name: &str, value: &Bson, buf: &mut Vec<u8>) {
    key(buf, value.element_type(), name);
    write_value(value, buf);
}

/// An element's type and name.
fn key(buf: &mut Vec<u8>, element_type: ElementType, name: &str) {
    buf.push(element_type as u8);
    buf.extend_from_slice(name.as_bytes());
    buf.push(0);
}

fn write_value(value: &Bson, buf: &mut Vec<u8>) {
    match value {
        Bson::Double(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Bson::Int32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Bson::Int64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Bson::Boolean(v) => buf.push(u8::from(*v)),
        Bson::Null | Bson::Undefined | Bson::MinKey | Bson::MaxKey => {}
        Bson::ObjectId(id) => buf.extend_from_slice(&id.bytes()),
        Bson::Decimal128(d) => buf.extend_from_slice(&d.bytes()),
        Bson::DateTime(dt) => buf.extend_from_slice(&dt.timestamp_millis().to_le_bytes()),
        Bson::Timestamp(ts) => {
            buf.extend_from_slice(&ts.increment.to_le_bytes());
            buf.extend_from_slice(&ts.time.to_le_bytes());
        }
        Bson::String(s) | Bson::JavaScriptCode(s) | Bson::Symbol(s) => write_string(s, buf),
        Bson::Document(doc) => write_document(doc, buf),
        Bson::Array(values) => {
            let start = open(buf);
            let mut index = [0; 20];
            for (i, value) in values.iter().enumerate() {
                write_element(decimal(i, &mut index), value, buf);
            }
            close(buf, start);
        }
        Bson::Binary(binary) => {
            let old = binary.subtype == BinarySubtype::BinaryOld;
            let inner = binary.bytes.len() as u32;
            let len = if old { inner + 4 } else { inner };
            buf.extend_from_slice(&len.to_le_bytes());
            buf.push(u8::from(binary.subtype));
            if old {
                buf.extend_from_slice(&inner.to_le_bytes());
            }
            buf.extend_from_slice(&binary.bytes);
        }
        Bson::RegularExpression(regex) => {
            for part in [regex.pattern.as_str(), regex.options.as_str()] {
                buf.extend_from_slice(part.as_bytes());
                buf.push(0);
            }
        }
        Bson::JavaScriptCodeWithScope(code) => {
            let start = open(buf);
            write_string(&code.code, buf);
            write_document(&code.scope, buf);
            write_length_at(buf, start);
        }
        // `encoded_len` refuses it, and no caller writes without asking it first.
        Bson::DbPointer(_) => {}
    }
}

fn write_string(s: &str, buf: &mut Vec<u8>) {
    buf.extend_from_slice(&((s.len() + 1) as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

/// `n` in decimal, written into `room` (twenty bytes hold any `usize`).
fn decimal(mut n: usize, room: &mut [u8; 20]) -> &str {
    let mut at = room.len();
    loop {
        at -= 1;
        room[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&room[at..]).unwrap_or("0")
}

/// How deep [`decode`] follows nested documents and arrays before leaving a document to
/// `bson` (stored documents are rarely nested more than a few levels).
const MAX_DECODE_DEPTH: usize = 100;

/// The document whose BSON bytes are exactly `bytes`, or `None` if they are malformed or hold
/// what this decoder leaves to `bson`: regular expressions, JavaScript code, symbols,
/// `DbPointer`s, the old binary subtype, or nesting deeper than a hundred levels. Callers
/// then decode with `bson`, which reads those and reports what is malformed. Whatever this
/// returns, `bson` returns too (a property test holds the two to it).
pub fn decode(bytes: &[u8]) -> Option<Document> {
    decode_document(bytes, 0)
}

fn decode_document(bytes: &[u8], depth: usize) -> Option<Document> {
    let mut elements = elements_of(bytes, depth)?;
    let mut doc = document_with_room(count_elements(elements));
    while !elements.is_empty() {
        let (key, value) = next_element(&mut elements, depth)?;
        doc.insert(key, value);
    }
    Some(doc)
}

fn decode_array(bytes: &[u8], depth: usize) -> Option<Vec<Bson>> {
    let mut elements = elements_of(bytes, depth)?;
    let mut values = Vec::with_capacity(count_elements(elements));
    while !elements.is_empty() {
        // An array's keys are its indexes; `bson` reads them as keys and then ignores them.
        let (_, value) = next_element(&mut elements, depth)?;
        values.push(value);
    }
    Some(values)
}

/// An empty document with room for `fields` fields (up to 28; more grow as usual).
/// `bson::Document` has no `with_capacity`, and one made empty grows as fields arrive: its
/// hash table is rebuilt and its entries moved at the fourth field, again at the eighth and
/// the fifteenth. A copy of an emptied document that held as many fields gets its table at
/// once, and its entries take the table's capacity on the first insert. Decoding sizes
/// documents with it (an eleven-field document decoded in about a tenth less time), and
/// replies take room for the times with it (see `reply::document`).
pub(crate) fn document_with_room(fields: usize) -> Document {
    static ROOMY: LazyLock<[Document; 3]> = LazyLock::new(|| [7, 14, 28].map(emptied_document));
    match fields {
        0..=3 => Document::new(),
        4..=7 => ROOMY[0].clone(),
        8..=14 => ROOMY[1].clone(),
        _ => ROOMY[2].clone(),
    }
}

/// An empty document that held `fields` fields.
fn emptied_document(fields: usize) -> Document {
    let mut doc = Document::new();
    for field in 0..fields {
        doc.insert(field.to_string(), Bson::Null);
    }
    doc.clear();
    doc
}

/// How many elements `elements` (a document's or an array's) holds, to size what they are
/// decoded into: a hint only, so bytes it cannot walk count as none (decoding finds what is
/// wrong with them).
fn count_elements(mut elements: &[u8]) -> usize {
    let mut count = 0;
    while let Some((&element_type, rest)) = elements.split_first() {
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return 0;
        };
        let value = &rest[nul + 1..];
        let Some(len) = ElementType::from(element_type).and_then(|t| value_size(t, value)) else {
            return 0;
        };
        let Some(next) = value.get(len..) else {
            return 0;
        };
        elements = next;
        count += 1;
    }
    count
}

/// The size of the value of type `element_type` at the front of `value`, by its type or
/// the length it starts with.
fn value_size(element_type: ElementType, value: &[u8]) -> Option<usize> {
    let prefix = || -> Option<usize> {
        let (length, _) = value.split_first_chunk::<4>()?;
        usize::try_from(i32::from_le_bytes(*length)).ok()
    };
    Some(match element_type {
        ElementType::Double
        | ElementType::DateTime
        | ElementType::Timestamp
        | ElementType::Int64 => 8,
        ElementType::Int32 => 4,
        ElementType::Boolean => 1,
        ElementType::ObjectId => 12,
        ElementType::Decimal128 => 16,
        ElementType::Null | ElementType::Undefined | ElementType::MinKey | ElementType::MaxKey => 0,
        ElementType::String | ElementType::JavaScriptCode | ElementType::Symbol => 4 + prefix()?,
        ElementType::EmbeddedDocument
        | ElementType::Array
        | ElementType::JavaScriptCodeWithScope => prefix()?,
        ElementType::Binary => 4 + 1 + prefix()?,
        ElementType::DbPointer => 4 + prefix()? + 12,
        ElementType::RegularExpression => {
            let pattern = value.iter().position(|&b| b == 0)? + 1;
            pattern + value[pattern..].iter().position(|&b| b == 0)? + 1
        }
    })
}

/// The elements of a document or array whose bytes are exactly `bytes`: after the length,
/// before the terminating NUL.
fn elements_of(bytes: &[u8], depth: usize) -> Option<&[u8]> {
    if depth > MAX_DECODE_DEPTH {
        return None;
    }
    let (length, rest) = bytes.split_first_chunk::<4>()?;
    let (last, elements) = rest.split_last()?;
    (usize::try_from(i32::from_le_bytes(*length)).ok() == Some(bytes.len()) && *last == 0)
        .then_some(elements)
}

/// Reads one element (type, key, value) from the front of `input`.
fn next_element<'a>(input: &mut &'a [u8], depth: usize) -> Option<(&'a str, Bson)> {
    let (&element_type, rest) = input.split_first()?;
    let nul = rest.iter().position(|&b| b == 0)?;
    let key = std::str::from_utf8(&rest[..nul]).ok()?;
    *input = &rest[nul + 1..];
    Some((key, read_value(element_type, input, depth)?))
}

/// Reads a value of the given element type from the front of `input`.
fn read_value(element_type: u8, input: &mut &[u8], depth: usize) -> Option<Bson> {
    Some(match ElementType::from(element_type)? {
        ElementType::Double => Bson::Double(f64::from_le_bytes(take(input)?)),
        ElementType::String => Bson::String(read_string(input)?.to_owned()),
        ElementType::EmbeddedDocument => {
            Bson::Document(decode_document(take_sized(input)?, depth + 1)?)
        }
        ElementType::Array => Bson::Array(decode_array(take_sized(input)?, depth + 1)?),
        ElementType::Binary => {
            let len = usize::try_from(i32::from_le_bytes(take(input)?)).ok()?;
            let [subtype] = take(input)?;
            let subtype = BinarySubtype::from(subtype);
            if subtype == BinarySubtype::BinaryOld {
                return None;
            }
            let bytes = take_slice(input, len)?.to_vec();
            Bson::Binary(Binary { subtype, bytes })
        }
        ElementType::Undefined => Bson::Undefined,
        ElementType::ObjectId => Bson::ObjectId(ObjectId::from_bytes(take(input)?)),
        ElementType::Boolean => match take(input)? {
            [0] => Bson::Boolean(false),
            [1] => Bson::Boolean(true),
            _ => return None,
        },
        ElementType::DateTime => {
            Bson::DateTime(DateTime::from_millis(i64::from_le_bytes(take(input)?)))
        }
        ElementType::Null => Bson::Null,
        ElementType::Int32 => Bson::Int32(i32::from_le_bytes(take(input)?)),
        ElementType::Timestamp => {
            let increment = u32::from_le_bytes(take(input)?);
            let time = u32::from_le_bytes(take(input)?);
            Bson::Timestamp(Timestamp { time, increment })
        }
        ElementType::Int64 => Bson::Int64(i64::from_le_bytes(take(input)?)),
        ElementType::Decimal128 => Bson::Decimal128(Decimal128::from_bytes(take(input)?)),
        ElementType::MinKey => Bson::MinKey,
        ElementType::MaxKey => Bson::MaxKey,
        ElementType::RegularExpression
        | ElementType::JavaScriptCode
        | ElementType::JavaScriptCodeWithScope
        | ElementType::Symbol
        | ElementType::DbPointer => return None,
    })
}

/// The next `N` bytes of `input`.
fn take<const N: usize>(input: &mut &[u8]) -> Option<[u8; N]> {
    let (bytes, rest) = input.split_first_chunk::<N>()?;
    *input = rest;
    Some(*bytes)
}

fn take_slice<'a>(input: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    let (bytes, rest) = input.split_at_checked(len)?;
    *input = rest;
    Some(bytes)
}

/// A length-prefixed document or array: its bytes, length included.
fn take_sized<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (length, _) = input.split_first_chunk::<4>()?;
    let len = usize::try_from(i32::from_le_bytes(*length)).ok()?;
    take_slice(input, len)
}

/// A string: its length (terminator included), its UTF-8 bytes and a NUL.
fn read_string<'a>(input: &mut &'a [u8]) -> Option<&'a str> {
    let len = usize::try_from(i32::from_le_bytes(take(input)?)).ok()?;
    let (nul, text) = take_slice(input, len)?.split_last()?;
    if *nul != 0 {
        return None;
    }
    std::str::from_utf8(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::oid::ObjectId;
    use bson::{Binary, DateTime, Decimal128, JavaScriptCodeWithScope, Regex, Timestamp, doc};
    use proptest::prelude::*;

    /// Values of every type, nested.
    fn value() -> impl Strategy<Value = Bson> {
        let leaf = prop_oneof![
            common_leaf(),
            ".{0,8}".prop_map(Bson::JavaScriptCode),
            ".{0,8}".prop_map(Bson::Symbol),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(|bytes| Bson::Binary(Binary {
                subtype: BinarySubtype::BinaryOld,
                bytes
            })),
            ("[a-z.*]{0,6}", "[imsx]{0,3}").prop_filter_map("a regex", |(p, o)| {
                Some(Bson::RegularExpression(Regex {
                    pattern: p.try_into().ok()?,
                    options: o.try_into().ok()?,
                }))
            }),
        ];
        leaf.prop_recursive(3, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..12).prop_map(Bson::Array),
                document(inner.clone()).prop_map(Bson::Document),
                (".{0,8}", document(inner)).prop_map(|(code, scope)| {
                    Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code, scope })
                }),
            ]
        })
    }

    /// Values of the types [`decode`] reads itself, nested.
    fn common_value() -> impl Strategy<Value = Bson> {
        common_leaf().prop_recursive(3, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..12).prop_map(Bson::Array),
                document(inner).prop_map(Bson::Document),
            ]
        })
    }

    fn common_leaf() -> impl Strategy<Value = Bson> {
        prop_oneof![
            any::<f64>().prop_map(Bson::Double),
            ".{0,12}".prop_map(Bson::String),
            any::<bool>().prop_map(Bson::Boolean),
            Just(Bson::Null),
            Just(Bson::Undefined),
            Just(Bson::MinKey),
            Just(Bson::MaxKey),
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            (any::<u32>(), any::<u32>())
                .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
            any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
            any::<i64>().prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
            any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
            (
                prop_oneof![
                    Just(BinarySubtype::Generic),
                    Just(BinarySubtype::Uuid),
                    Just(BinarySubtype::UserDefined(0x80)),
                ],
                proptest::collection::vec(any::<u8>(), 0..24)
            )
                .prop_map(|(subtype, bytes)| Bson::Binary(Binary { subtype, bytes })),
        ]
    }

    fn document(values: impl Strategy<Value = Bson>) -> impl Strategy<Value = Document> {
        proptest::collection::vec((".{0,6}", values), 0..6)
            .prop_map(|fields| fields.into_iter().collect())
    }

    proptest! {
        #[test]
        fn encodes_as_bson_does(doc in document(value())) {
            let expected = doc.to_vec();
            match (encode(&doc), expected) {
                (Some(ours), Ok(theirs)) => {
                    prop_assert_eq!(encoded_len(&doc), Some(theirs.len()));
                    prop_assert_eq!(ours.capacity(), theirs.len());
                    prop_assert_eq!(ours, theirs);
                }
                // A key with a NUL byte somewhere: ours declines, bson refuses.
                (None, Err(_)) => {}
                (ours, theirs) => prop_assert!(false, "ours {:?}, bson's {:?}", ours, theirs),
            }
        }
    }

    /// Whether `value` holds a type [`decode`] leaves to `bson`.
    fn left_to_bson(value: &Bson) -> bool {
        match value {
            Bson::RegularExpression(_)
            | Bson::JavaScriptCode(_)
            | Bson::JavaScriptCodeWithScope(_)
            | Bson::Symbol(_)
            | Bson::DbPointer(_) => true,
            Bson::Binary(b) => b.subtype == BinarySubtype::BinaryOld,
            Bson::Document(doc) => doc.values().any(left_to_bson),
            Bson::Array(values) => values.iter().any(left_to_bson),
            _ => false,
        }
    }

    /// `bson`'s decoding of `bytes`, re-encoded (compared as bytes: a NaN is not equal to
    /// itself).
    fn bson_decodes(bytes: &[u8]) -> Option<Vec<u8>> {
        let raw = bson::RawDocument::from_bytes(bytes).ok()?;
        Document::try_from(raw).ok()?.to_vec().ok()
    }

    proptest! {
        #[test]
        fn decodes_as_bson_does(doc in document(value())) {
            let Ok(bytes) = doc.to_vec() else { return Ok(()) };
            match decode(&bytes) {
                Some(ours) => {
                    prop_assert_eq!(ours.to_vec().ok(), bson_decodes(&bytes));
                    prop_assert_eq!(ours.to_vec().ok(), Some(bytes));
                }
                None => prop_assert!(left_to_bson(&Bson::Document(doc))),
            }
        }

        #[test]
        fn decodes_every_common_type(doc in document(common_value())) {
            // (`bson` refuses keys holding a NUL byte.)
            let Ok(bytes) = doc.to_vec() else { return Ok(()) };
            let ours = decode(&bytes).map(|d| d.to_vec().ok());
            prop_assert_eq!(ours, Some(Some(bytes)));
        }

        #[test]
        fn counts_the_elements_bson_finds(doc in document(value())) {
            let Ok(bytes) = doc.to_vec() else { return Ok(()) };
            let elements = elements_of(&bytes, 0).expect("a whole document");
            let raw = bson::RawDocument::from_bytes(&bytes).expect("valid");
            prop_assert_eq!(count_elements(elements), raw.iter().count());
        }

        #[test]
        fn accepts_nothing_bson_refuses(
            doc in document(common_value()),
            changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let Ok(mut bytes) = doc.to_vec() else { return Ok(()) };
            for (at, byte) in changes {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
            if let Some(ours) = decode(&bytes) {
                prop_assert_eq!(ours.to_vec().ok(), bson_decodes(&bytes));
            }
        }
    }

    #[test]
    fn decoding_stops_at_the_end_of_the_bytes() {
        let bytes = doc! {"a": {"b": [1, "two"]}}.to_vec().expect("encodes");
        assert!(decode(&bytes).is_some());
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None, "the length must be the whole input");
        let mut deep = doc! {};
        for _ in 0..=MAX_DECODE_DEPTH {
            deep = doc! {"d": deep};
        }
        let deep_bytes = deep.to_vec().expect("encodes");
        assert_eq!(decode(&deep_bytes), None, "left to bson");
        assert!(bson_decodes(&deep_bytes).is_some());
    }

    #[test]
    fn declines_what_only_bson_encodes() {
        assert_eq!(encoded_len(&doc! {"a\0b": 1}), None);
        assert!(doc! {"a\0b": 1}.to_vec().is_err());
        let pointer = bson::RawDocumentBuf::from_bytes(
            // {p: DbPointer("db.c", ObjectId(0…0))}
            [
                &29_i32.to_le_bytes()[..],
                &[0x0C, b'p', 0],
                &5_i32.to_le_bytes(),
                b"db.c\0",
                &[0; 12],
                &[0],
            ]
            .concat(),
        )
        .expect("a valid document");
        let pointer = Document::try_from(pointer.as_ref()).expect("decodes");
        assert_eq!(encoded_len(&pointer), None);
        assert_eq!(encode(&pointer), None);
    }

    #[test]
    fn replies_carry_their_times_as_the_document_path_does() {
        let (op, ct) = (
            Timestamp {
                time: 7,
                increment: 2,
            },
            Timestamp {
                time: 8,
                increment: 1,
            },
        );
        let replies = [
            Reply::Document(doc! {"n": 1, "ok": 1.0}),
            Reply::Ok,
            Reply::Written {
                n: 3,
                modified: Some(2),
            },
            Reply::Written {
                n: 1,
                modified: None,
            },
        ];
        for reply in replies {
            let ours = encode_reply(&reply, op, ct).expect("encodable");
            // The document path's reply: the bytes must be its encoding.
            let expected = crate::engine::Response {
                reply: reply.clone().into_document(true),
                operation_time: op,
                cluster_time: ct,
            }
            .into_document();
            assert_eq!(Some(ours.clone()), expected.to_vec().ok(), "{reply:?}");
            assert_eq!(ours.capacity(), ours.len());
        }
        assert_eq!(encode_reply(&doc! {"a\0": 1}.into(), op, ct), None);
    }

    #[test]
    fn array_indexes_are_decimal() {
        let long: Vec<Bson> = (0..123).map(Bson::Int32).collect();
        let doc = doc! {"a": long};
        assert_eq!(encode(&doc), doc.to_vec().ok());
        assert_eq!(decimal_digits(0), 1);
        assert_eq!(decimal_digits(10), 2);
        assert_eq!(decimal(1234, &mut [0; 20]), "1234");
    }
}
