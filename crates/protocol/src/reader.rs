//! Bounds-checked little-endian reading and BSON document parsing shared by the decoders.
//!
//! Nothing here indexes a slice without checking its length first, so no input can make it
//! panic.

use bson::raw::{RawArray, RawBsonRef, RawDocument};
use bson::{Bson, Document, JavaScriptCodeWithScope};

use crate::error::{DocumentLocation, ProtocolError};
use crate::{MAX_DOCUMENT_SIZE, MAX_NESTING_DEPTH};

/// A cursor over a region of a frame.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    /// Offset of `bytes[0]` from the start of the frame, for error messages.
    base: usize,
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, which start `base` bytes into the frame.
    pub(crate) fn new(bytes: &'a [u8], base: usize) -> Self {
        Reader {
            bytes,
            base,
            pos: 0,
        }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Offset of the next byte from the start of the frame.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The next `n` bytes, consumed.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ProtocolError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let taken = rest.get(..n).ok_or(ProtocolError::Truncated {
            what,
            needed: n,
            available: rest.len(),
        })?;
        self.pos += n;
        Ok(taken)
    }

    /// The next `n` bytes as a reader of their own, consumed.
    pub(crate) fn sub_reader(
        &mut self,
        n: usize,
        what: &'static str,
    ) -> Result<Self, ProtocolError> {
        let base = self.offset();
        Ok(Reader::new(self.take(n, what)?, base))
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ProtocolError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ProtocolError> {
        let [byte] = self.array(what)?;
        Ok(byte)
    }

    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, ProtocolError> {
        self.array(what).map(i32::from_le_bytes)
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, ProtocolError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, ProtocolError> {
        self.array(what).map(i64::from_le_bytes)
    }

    /// A NUL-terminated UTF-8 string, consumed with its terminator.
    pub(crate) fn cstring(&mut self, what: &'static str) -> Result<&'a str, ProtocolError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(ProtocolError::UnterminatedCString { what })?;
        let text = rest.get(..len).unwrap_or_default();
        let text = std::str::from_utf8(text).map_err(|_| ProtocolError::InvalidUtf8 { what })?;
        self.pos += len + 1;
        Ok(text)
    }

    /// A BSON document, length-checked, validated and converted, consumed.
    ///
    /// `index` and `location` only label errors.
    pub(crate) fn document(
        &mut self,
        index: usize,
        location: impl FnOnce() -> DocumentLocation,
    ) -> Result<Document, ProtocolError> {
        let available = self.remaining();
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let length = match rest.get(..4) {
            Some(&[a, b, c, d]) => i32::from_le_bytes([a, b, c, d]),
            _ => {
                return Err(ProtocolError::Truncated {
                    what: "document length",
                    needed: 4,
                    available,
                });
            }
        };
        let len = usize::try_from(length).unwrap_or(0);
        if len > MAX_DOCUMENT_SIZE {
            return Err(ProtocolError::DocumentTooLarge {
                index,
                location: location(),
                length: len,
                max: MAX_DOCUMENT_SIZE,
            });
        }
        if len < MIN_DOCUMENT_SIZE || len > available {
            return Err(ProtocolError::InvalidDocumentLength {
                index,
                location: location(),
                length,
                available,
            });
        }
        let bytes = rest.get(..len).unwrap_or_default();
        let document = parse_document(bytes).map_err(|fault| match fault {
            Fault::Bson(source) => ProtocolError::InvalidBson {
                index,
                location: location(),
                source: Box::new(source),
            },
            Fault::TooDeep => ProtocolError::NestingTooDeep {
                index,
                location: location(),
                max: MAX_NESTING_DEPTH,
            },
        })?;
        self.pos += len;
        Ok(document)
    }
}

/// The smallest BSON document: a 4-byte length and the terminating NUL.
pub(crate) const MIN_DOCUMENT_SIZE: usize = 5;

/// Why a document's bytes could not be converted.
enum Fault {
    Bson(bson::error::Error),
    TooDeep,
}

impl From<bson::error::Error> for Fault {
    fn from(error: bson::error::Error) -> Self {
        Fault::Bson(error)
    }
}

/// Validates `bytes` (exactly one document) and converts them to a [`Document`].
///
/// The conversion is written out here rather than left to `Document::try_from` so that the
/// nesting depth is bounded: the library's conversion recurses without limit, and a hostile
/// frame of nested empty documents would otherwise overflow the stack.
fn parse_document(bytes: &[u8]) -> Result<Document, Fault> {
    let raw = RawDocument::from_bytes(bytes)?;
    convert_document(raw, 1)
}

fn convert_document(raw: &RawDocument, depth: usize) -> Result<Document, Fault> {
    let mut out = Document::new();
    for element in raw {
        let (key, value) = element?;
        out.insert(key.as_str(), convert_value(value, depth)?);
    }
    Ok(out)
}

fn convert_array(raw: &RawArray, depth: usize) -> Result<Vec<Bson>, Fault> {
    raw.into_iter()
        .map(|value| convert_value(value?, depth))
        .collect()
}

/// Converts one value found in a container at `depth`.
fn convert_value(value: RawBsonRef<'_>, depth: usize) -> Result<Bson, Fault> {
    let child = depth + 1;
    let nests = matches!(
        value,
        RawBsonRef::Document(_) | RawBsonRef::Array(_) | RawBsonRef::JavaScriptCodeWithScope(_)
    );
    if nests && child > MAX_NESTING_DEPTH {
        return Err(Fault::TooDeep);
    }
    Ok(match value {
        RawBsonRef::Document(doc) => Bson::Document(convert_document(doc, child)?),
        RawBsonRef::Array(array) => Bson::Array(convert_array(array, child)?),
        RawBsonRef::JavaScriptCodeWithScope(code) => {
            Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                code: code.code.to_owned(),
                scope: convert_document(code.scope, child)?,
            })
        }
        leaf => Bson::try_from(leaf)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn bytes_of(doc: &Document) -> Vec<u8> {
        doc.to_vec().expect("test document encodes")
    }

    #[test]
    fn reads_integers_and_cstrings() {
        let bytes = [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, b'a', b'b', 0, 9];
        let mut r = Reader::new(&bytes, 10);
        assert_eq!(r.i32("x").ok(), Some(1));
        assert_eq!(r.u32("x").ok(), Some(u32::MAX));
        assert_eq!(r.offset(), 18);
        assert_eq!(r.cstring("s").ok(), Some("ab"));
        assert_eq!(r.u8("x").ok(), Some(9));
        assert!(r.is_empty());
        assert!(matches!(
            r.u8("tail"),
            Err(ProtocolError::Truncated {
                what: "tail",
                needed: 1,
                available: 0
            })
        ));
    }

    #[test]
    fn cstring_errors() {
        let mut r = Reader::new(b"abc", 0);
        assert!(matches!(
            r.cstring("id"),
            Err(ProtocolError::UnterminatedCString { what: "id" })
        ));
        let mut r = Reader::new(b"\xff\xfe\0", 0);
        assert!(matches!(
            r.cstring("id"),
            Err(ProtocolError::InvalidUtf8 { what: "id" })
        ));
    }

    #[test]
    fn documents_round_trip_and_are_consumed() {
        let doc = doc! { "a": 1, "b": { "c": [1, "x", { "d": null }] } };
        let mut bytes = bytes_of(&doc);
        bytes.push(7);
        let mut r = Reader::new(&bytes, 0);
        assert_eq!(r.document(0, || DocumentLocation::Body).ok(), Some(doc));
        assert_eq!(r.remaining(), 1);
    }

    #[test]
    fn document_length_errors() {
        let mut r = Reader::new(&[4, 0, 0, 0, 0], 0);
        assert!(matches!(
            r.document(3, || DocumentLocation::Query),
            Err(ProtocolError::InvalidDocumentLength {
                index: 3,
                length: 4,
                available: 5,
                ..
            })
        ));
        let mut r = Reader::new(&[6, 0, 0, 0, 0], 0);
        assert!(matches!(
            r.document(0, || DocumentLocation::Query),
            Err(ProtocolError::InvalidDocumentLength { length: 6, .. })
        ));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0], 0);
        assert!(matches!(
            r.document(0, || DocumentLocation::Query),
            Err(ProtocolError::InvalidDocumentLength { length: -1, .. })
        ));
        let big = (MAX_DOCUMENT_SIZE as i32 + 1).to_le_bytes();
        let mut r = Reader::new(&big, 0);
        assert!(matches!(
            r.document(0, || DocumentLocation::Query),
            Err(ProtocolError::DocumentTooLarge { .. })
        ));
        let mut r = Reader::new(&[5, 0], 0);
        assert!(matches!(
            r.document(0, || DocumentLocation::Query),
            Err(ProtocolError::Truncated {
                what: "document length",
                ..
            })
        ));
    }

    #[test]
    fn invalid_bson_is_an_error() {
        // Not NUL-terminated.
        let mut r = Reader::new(&[5, 0, 0, 0, 1], 0);
        assert!(matches!(
            r.document(0, || DocumentLocation::Body),
            Err(ProtocolError::InvalidBson { .. })
        ));
        // An element of unknown type 0x42.
        let mut r = Reader::new(&[8, 0, 0, 0, 0x42, b'a', 0, 0], 0);
        assert!(matches!(
            r.document(0, || DocumentLocation::Body),
            Err(ProtocolError::InvalidBson { .. })
        ));
        // A string whose length runs past the document.
        let bad = doc! { "s": "hello" };
        let mut bytes = bytes_of(&bad);
        bytes[7] = 0x7f;
        let mut r = Reader::new(&bytes, 0);
        assert!(matches!(
            r.document(0, || DocumentLocation::Body),
            Err(ProtocolError::InvalidBson { .. })
        ));
    }

    /// `depth` documents nested inside each other under the key "a", built as bytes.
    fn nested_bytes(depth: usize) -> Vec<u8> {
        // The document at level k from the inside (k = 1 is the empty one) is 5 + 8(k - 1)
        // bytes: length, then type 0x03, key "a", NUL, the inner document, then its NUL.
        let mut bytes = Vec::with_capacity(5 + 8 * depth);
        for level in (2..=depth).rev() {
            let len = (5 + 8 * (level - 1)) as i32;
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(&[0x03, b'a', 0]);
        }
        bytes.extend_from_slice(&[5, 0, 0, 0, 0]);
        bytes.resize(bytes.len() + depth - 1, 0);
        bytes
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = nested_bytes(MAX_NESTING_DEPTH);
        let mut r = Reader::new(&ok, 0);
        assert!(r.document(0, || DocumentLocation::Body).is_ok());

        let too_deep = nested_bytes(MAX_NESTING_DEPTH + 1);
        let mut r = Reader::new(&too_deep, 0);
        assert!(matches!(
            r.document(0, || DocumentLocation::Body),
            Err(ProtocolError::NestingTooDeep { .. })
        ));

        // Far deeper than any stack would survive with unbounded recursion.
        let hostile = nested_bytes(200_000);
        let mut r = Reader::new(&hostile, 0);
        assert!(r.document(0, || DocumentLocation::Body).is_err());
    }

    #[test]
    fn code_with_scope_converts() {
        let doc = doc! {
            "f": Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                code: "x".into(),
                scope: doc! { "x": [1, { "y": 2 }] },
            })
        };
        let bytes = bytes_of(&doc);
        let mut r = Reader::new(&bytes, 0);
        assert_eq!(r.document(0, || DocumentLocation::Body).ok(), Some(doc));
    }
}
