//! Errors raised while decoding or encoding wire protocol frames.

use std::fmt;

use crate::compressed::Compressor;

/// Where a BSON document sits inside a frame, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentLocation {
    /// The body (kind-0 section) of an `OP_MSG`.
    Body,
    /// A document of an `OP_MSG` document sequence (kind-1 section).
    Sequence {
        /// The sequence's identifier.
        identifier: String,
        /// Position of the document within the sequence, from 0.
        position: usize,
    },
    /// The query document of an `OP_QUERY`.
    Query,
    /// The return fields selector of an `OP_QUERY`.
    ReturnFieldsSelector,
    /// A document of an `OP_REPLY`.
    Reply {
        /// Position of the document within the reply, from 0.
        position: usize,
    },
}

impl fmt::Display for DocumentLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentLocation::Body => f.write_str("OP_MSG body"),
            DocumentLocation::Sequence {
                identifier,
                position,
            } => write!(f, "document {position} of sequence {identifier:?}"),
            DocumentLocation::Query => f.write_str("OP_QUERY query"),
            DocumentLocation::ReturnFieldsSelector => {
                f.write_str("OP_QUERY return fields selector")
            }
            DocumentLocation::Reply { position } => write!(f, "OP_REPLY document {position}"),
        }
    }
}

/// Everything that can go wrong turning bytes into messages or messages into bytes.
///
/// Any decoding error means the peer does not speak the protocol (or the bytes were
/// corrupted): the connection should be closed, since the stream can no longer be framed
/// reliably.
///
/// Where a variant carries an `index`, it is the position of the offending document among all
/// the documents of the frame, counted from 0 in wire order; `location` says which part of the
/// message it belongs to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A fixed-size field or a structure runs past the end of the bytes that should hold it.
    #[error("truncated {what}: needs {needed} bytes, {available} available")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes there were.
        available: usize,
    },

    /// The header announces a length smaller than the smallest valid message of its kind.
    #[error("announced message length {length} is below the minimum of {minimum} bytes")]
    MessageTooSmall {
        /// The announced `messageLength`.
        length: i32,
        /// The smallest valid length.
        minimum: usize,
    },

    /// A message is larger than [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE).
    #[error("message of {length} bytes exceeds the maximum of {max} bytes")]
    MessageTooLarge {
        /// The announced or encoded length.
        length: usize,
        /// The maximum.
        max: usize,
    },

    /// A declared length disagrees with the bytes actually present.
    #[error("{what} declares {declared} bytes but {actual} are present")]
    LengthMismatch {
        /// Which length.
        what: &'static str,
        /// The length declared on the wire.
        declared: usize,
        /// The length found.
        actual: usize,
    },

    /// The op code is not one this crate decodes (`OP_MSG`, `OP_QUERY`, `OP_REPLY`,
    /// `OP_COMPRESSED`); the legacy write and cursor op codes are refused here too.
    #[error("unknown or unsupported op code {0}")]
    UnknownOpCode(i32),

    /// An `OP_COMPRESSED` frame wraps another `OP_COMPRESSED`.
    #[error("OP_COMPRESSED wraps another OP_COMPRESSED message")]
    NestedCompression,

    /// An `OP_COMPRESSED` frame uses a compressor other than noop.
    #[error("unsupported compressor {0} (only noop, id 0, is supported)")]
    UnsupportedCompressor(Compressor),

    /// The `OP_MSG` checksum does not match the message.
    #[error(
        "OP_MSG checksum mismatch: message carries {expected:#010x}, computed {computed:#010x}"
    )]
    BadChecksum {
        /// The checksum carried by the message.
        expected: u32,
        /// The CRC-32C of the message's bytes.
        computed: u32,
    },

    /// Required `OP_MSG` flag bits (the low 16) that this crate does not know are set.
    #[error("unknown required OP_MSG flag bits set: {0:#06x}")]
    UnknownRequiredFlags(u32),

    /// An `OP_MSG` section has a payload type other than 0 or 1.
    #[error("unknown OP_MSG section kind {kind} at offset {offset}")]
    UnknownSectionKind {
        /// The payload type byte.
        kind: u8,
        /// Its offset from the start of the frame.
        offset: usize,
    },

    /// An `OP_MSG` has no kind-0 (body) section.
    #[error("OP_MSG has no body section (kind 0)")]
    MissingBody,

    /// An `OP_MSG` has more than one kind-0 (body) section.
    #[error("OP_MSG has more than one body section (kind 0)")]
    MultipleBodies,

    /// A document sequence's size field is too small or runs past the end of the message.
    #[error(
        "invalid document sequence size {size} at offset {offset} ({available} bytes remain for it)"
    )]
    InvalidSectionSize {
        /// The declared size.
        size: i32,
        /// Offset of the size field from the start of the frame.
        offset: usize,
        /// Bytes left in the message from the size field on.
        available: usize,
    },

    /// Two document sequences of one `OP_MSG` share an identifier.
    #[error("document sequence identifier {0:?} appears more than once")]
    DuplicateIdentifier(String),

    /// A document sequence and a field of the body share a name, so they cannot be folded
    /// into one command document.
    #[error("document sequence {0:?} conflicts with a body field of the same name")]
    SequenceConflict(String),

    /// A C string (sequence identifier, collection name) has no terminating NUL within its
    /// bounds.
    #[error("{what} is not NUL-terminated")]
    UnterminatedCString {
        /// Which string.
        what: &'static str,
    },

    /// A C string is not valid UTF-8.
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 {
        /// Which string.
        what: &'static str,
    },

    /// A string to encode as a C string contains a NUL byte.
    #[error("{what} contains a NUL byte")]
    InteriorNul {
        /// Which string.
        what: &'static str,
    },

    /// A document's length prefix is below 5 or runs past the bytes available for it.
    #[error(
        "document #{index} ({location}) declares length {length}, but {available} bytes are available (and at least 5 are needed)"
    )]
    InvalidDocumentLength {
        /// Position of the document in the frame.
        index: usize,
        /// Where it is.
        location: DocumentLocation,
        /// The declared length.
        length: i32,
        /// Bytes available for it.
        available: usize,
    },

    /// A document is larger than [`MAX_DOCUMENT_SIZE`](crate::MAX_DOCUMENT_SIZE).
    #[error("document #{index} ({location}) of {length} bytes exceeds the maximum of {max} bytes")]
    DocumentTooLarge {
        /// Position of the document in the frame.
        index: usize,
        /// Where it is.
        location: DocumentLocation,
        /// Its length.
        length: usize,
        /// The maximum.
        max: usize,
    },

    /// A document's bytes are not valid BSON.
    #[error("invalid BSON in document #{index} ({location}): {source}")]
    InvalidBson {
        /// Position of the document in the frame.
        index: usize,
        /// Where it is.
        location: DocumentLocation,
        /// What the BSON library found (boxed: it is large, and errors are rare).
        #[source]
        source: Box<bson::error::Error>,
    },

    /// A document nests documents or arrays deeper than
    /// [`MAX_NESTING_DEPTH`](crate::MAX_NESTING_DEPTH).
    #[error("document #{index} ({location}) nests deeper than {max} levels")]
    NestingTooDeep {
        /// Position of the document in the frame.
        index: usize,
        /// Where it is.
        location: DocumentLocation,
        /// The maximum depth.
        max: usize,
    },

    /// A document could not be serialized to BSON while encoding.
    #[error("cannot encode document #{index} ({location}) as BSON: {source}")]
    BsonEncode {
        /// Position of the document in the frame.
        index: usize,
        /// Where it is.
        location: DocumentLocation,
        /// What the BSON library found (boxed: it is large, and errors are rare).
        #[source]
        source: Box<bson::error::Error>,
    },

    /// Bytes remain after the last field of a message that has a fixed layout.
    #[error("{count} unexpected bytes after {what}")]
    TrailingBytes {
        /// What they follow.
        what: &'static str,
        /// How many.
        count: usize,
    },

    /// An `OP_REPLY`'s `numberReturned` disagrees with the documents it carries.
    #[error("OP_REPLY numberReturned is {declared} but {actual} documents are present")]
    CountMismatch {
        /// `numberReturned` as declared.
        declared: i32,
        /// Documents found.
        actual: usize,
    },
}
