//! causeway-protocol: the MongoDB wire protocol as pure functions, bytes in and values out,
//! shared by `causeway-server` and the client's wire transport. There is no I/O here: callers
//! read and write the bytes.
//!
//! # Frames
//!
//! Every message is one frame: a 16-byte [`MessageHeader`] (little-endian `int32`s
//! `messageLength`, `requestID`, `responseTo`, `opCode`; the length counts the header) and a
//! body whose layout the op code names:
//!
//! - **`OP_MSG`** (2013, [`OpMsg`]): `uint32` flag bits ([`MsgFlags`]), then sections: exactly
//!   one *body* (kind 0: a BSON document) and any number of *document sequences* (kind 1: an
//!   `int32` size, a NUL-terminated identifier, and BSON documents back to back), in any
//!   order, and when the `checksumPresent` flag is set a trailing CRC-32C ([`crc32c`]) of
//!   everything before it. Every command and reply travels this way.
//! - **`OP_QUERY`** (2004, [`OpQuery`]) and **`OP_REPLY`** (1, [`OpReply`]): the legacy pair,
//!   kept for the `hello` / `isMaster` handshake that older drivers send as a query on
//!   `admin.$cmd`, and the reply to it.
//! - **`OP_COMPRESSED`** (2012): another message wrapped by a compressor. Only the *noop*
//!   compressor (id 0) is supported: such frames are unwrapped and decoded as the message they
//!   carry ([`Message::was_compressed`] tells), and [`compress_noop`] produces them. Snappy,
//!   zlib and zstd are refused ([`ProtocolError::UnsupportedCompressor`]); a server that
//!   advertises no compressor in its handshake never receives them from a conforming driver.
//!
//! # Reading
//!
//! [`decode`] takes the bytes buffered so far and returns the first message and how many bytes
//! it used, or `Ok(None)` if the frame is not complete yet. It rejects a bad header (a length
//! below the minimum for its op code or above [`MAX_MESSAGE_SIZE`], an unknown op code) as soon
//! as the header has arrived, before the frame is buffered. A reader that prefers exact reads
//! calls [`frame_length`] on the first 16 bytes, reads the rest, and calls [`decode_frame`].
//!
//! Decoding validates everything: lengths against the bytes present, every document against
//! its bounds ([`MAX_DOCUMENT_SIZE`], [`MAX_NESTING_DEPTH`]) and as BSON, section kinds, flag
//! bits, identifiers, and the checksum. No input makes it panic; any error means the stream
//! can no longer be trusted and the connection should be closed.
//!
//! # Writing
//!
//! Each message type has `encode(request_id, response_to)`, returning the exact bytes of the
//! frame, and `encode_into` to append them to a buffer. [`OpMsg::from_command`] pulls chosen
//! array fields out of a command into document sequences (as drivers send `insert`'s
//! `documents`); [`OpMsg::into_command`] folds sequences back into the body (what a server
//! executes). [`OpMsg::encode_encoded_body`] frames a body that is already BSON (a reply a
//! server made as bytes) without decoding it.
//!
//! ```
//! use bson::doc;
//! use causeway_protocol::{Message, OpMsg, decode};
//!
//! let insert = doc! { "insert": "c", "documents": [{ "_id": 1 }, { "_id": 2 }], "$db": "test" };
//! let request = OpMsg::from_command(insert.clone(), &["documents"]);
//! let bytes = request.encode(7, 0)?;
//!
//! let (message, used) = decode(&bytes)?.expect("a whole frame");
//! assert_eq!(used, bytes.len());
//! assert_eq!(message.request_id(), 7);
//! let Message::Msg { msg, .. } = message else { unreachable!() };
//! assert_eq!(msg.sequence("documents").map(|s| s.documents.len()), Some(2));
//! assert_eq!(msg.into_command()?, insert);
//!
//! // One byte short: more bytes are needed.
//! assert!(decode(&bytes[..bytes.len() - 1])?.is_none());
//! # Ok::<(), causeway_protocol::ProtocolError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod flags;
mod checksum;
mod compressed;
mod error;
mod header;
mod msg;
mod query;
mod reader;
mod writer;

pub use checksum::{CHECKSUM_LEN, crc32c};
pub use compressed::{Compressor, compress_noop};
pub use error::{DocumentLocation, ProtocolError};
pub use header::{MessageHeader, OpCode, frame_length};
pub use msg::{DocumentSequence, MsgFlags, OpMsg};
pub use query::{OpQuery, OpReply, QueryFlags, ReplyFlags};

/// The largest frame accepted or produced, header included: the `maxMessageSizeBytes` a
/// MongoDB server announces in its `hello` reply.
pub const MAX_MESSAGE_SIZE: usize = 48_000_000;

/// The `maxBSONObjectSize` a MongoDB server announces: the largest document a user may store.
pub const MAX_BSON_OBJECT_SIZE: usize = 16 * 1024 * 1024;

/// The largest single document accepted or produced in a frame: [`MAX_BSON_OBJECT_SIZE`] plus
/// the 16 KiB allowance servers grant for a command's own fields around a maximal document.
/// Whether a stored document respects [`MAX_BSON_OBJECT_SIZE`] is for the server to check.
pub const MAX_DOCUMENT_SIZE: usize = MAX_BSON_OBJECT_SIZE + 16 * 1024;

/// The deepest nesting of documents and arrays accepted in a decoded document, the top-level
/// document counting as 1: the default `maxBSONDepth` of a MongoDB server. It bounds the
/// recursion of decoding, so hostile input cannot overflow the stack. (Encoding does not check
/// it.)
pub const MAX_NESTING_DEPTH: usize = 200;

/// One decoded message, with the header of the frame it came in.
///
/// `header` is the frame's header as received: for a message that arrived inside a noop
/// `OP_COMPRESSED`, its `op_code` is [`OpCode::Compressed`] and its `message_length` is that
/// of the compressed frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// An `OP_MSG`.
    Msg {
        /// The frame's header.
        header: MessageHeader,
        /// The message.
        msg: OpMsg,
    },
    /// A legacy `OP_QUERY`.
    Query {
        /// The frame's header.
        header: MessageHeader,
        /// The query.
        query: OpQuery,
    },
    /// A legacy `OP_REPLY`.
    Reply {
        /// The frame's header.
        header: MessageHeader,
        /// The reply.
        reply: OpReply,
    },
}

impl Message {
    /// The header of the frame the message came in.
    pub fn header(&self) -> &MessageHeader {
        match self {
            Message::Msg { header, .. }
            | Message::Query { header, .. }
            | Message::Reply { header, .. } => header,
        }
    }

    /// The sender's id for this message; a reply sets its `response_to` to it.
    pub fn request_id(&self) -> i32 {
        self.header().request_id
    }

    /// The `request_id` this message answers (0 for a request).
    pub fn response_to(&self) -> i32 {
        self.header().response_to
    }

    /// Whether the message arrived inside an `OP_COMPRESSED` frame.
    pub fn was_compressed(&self) -> bool {
        self.header().op_code == OpCode::Compressed
    }

    /// The frame for this message, with the header's request id and response-to (its length
    /// and op code are recomputed). The frame is never compressed, even if the message arrived
    /// compressed: wrap it with [`compress_noop`] for that.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let (request_id, response_to) = (self.request_id(), self.response_to());
        match self {
            Message::Msg { msg, .. } => msg.encode(request_id, response_to),
            Message::Query { query, .. } => query.encode(request_id, response_to),
            Message::Reply { reply, .. } => reply.encode(request_id, response_to),
        }
    }
}

/// Decodes the first frame in `bytes`: `Ok(Some((message, used)))` when a whole frame is
/// there (`used` is its length; bytes after it are left alone), `Ok(None)` when more bytes are
/// needed.
///
/// The announced length is checked as soon as its 4 bytes are present, and the op code and
/// its minimum length as soon as the 16-byte header is, so an oversized or bogus frame is an
/// error before it is buffered.
pub fn decode(bytes: &[u8]) -> Result<Option<(Message, usize)>, ProtocolError> {
    let Some(&[a, b, c, d]) = bytes.get(..4) else {
        return Ok(None);
    };
    header::check_announced_length(i32::from_le_bytes([a, b, c, d]))?;
    if bytes.len() < MessageHeader::LEN {
        return Ok(None);
    }
    let length = frame_length(bytes)?;
    let Some(frame) = bytes.get(..length) else {
        return Ok(None);
    };
    decode_frame(frame).map(|message| Some((message, length)))
}

/// Decodes `frame`, which must be exactly one whole frame (as sized by [`frame_length`]).
pub fn decode_frame(frame: &[u8]) -> Result<Message, ProtocolError> {
    let header = MessageHeader::parse(frame)?;
    let length = header.frame_length()?;
    if frame.len() != length {
        return Err(ProtocolError::LengthMismatch {
            what: "message header",
            declared: length,
            actual: frame.len(),
        });
    }
    if header.op_code == OpCode::Compressed {
        let inner = compressed::decompress(frame, &header)?;
        let op_code = MessageHeader::parse(&inner)?.op_code;
        decode_body(&inner, op_code, header)
    } else {
        decode_body(frame, header.op_code, header)
    }
}

/// Decodes a validated, uncompressed frame of kind `op_code`, labelling it with `header`.
fn decode_body(
    frame: &[u8],
    op_code: OpCode,
    header: MessageHeader,
) -> Result<Message, ProtocolError> {
    Ok(match op_code {
        OpCode::Msg => Message::Msg {
            header,
            msg: msg::decode(frame)?,
        },
        OpCode::Query => Message::Query {
            header,
            query: query::decode_query(frame)?,
        },
        OpCode::Reply => Message::Reply {
            header,
            reply: query::decode_reply(frame)?,
        },
        OpCode::Compressed => return Err(ProtocolError::NestedCompression),
        OpCode::Other(code) => return Err(ProtocolError::UnknownOpCode(code)),
    })
}
