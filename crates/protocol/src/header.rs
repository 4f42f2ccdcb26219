//! The standard message header that starts every frame, and the op codes it names.

use std::fmt;

use crate::MAX_MESSAGE_SIZE;
use crate::error::ProtocolError;
use crate::reader::Reader;

/// The op code of a frame: which message layout follows the header.
///
/// Codes this crate does not decode (the legacy `OP_UPDATE`, `OP_INSERT`, `OP_GET_MORE`,
/// `OP_DELETE`, `OP_KILL_CURSORS`, or anything else) are kept as [`OpCode::Other`]; use
/// [`OpCode::from`] to build one so that known codes always get their own variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// `OP_REPLY` (1): the legacy reply to an `OP_QUERY`.
    Reply,
    /// `OP_QUERY` (2004): legacy query, still used by older drivers for the first `hello` /
    /// `isMaster` of a connection.
    Query,
    /// `OP_COMPRESSED` (2012): another message wrapped by a compressor.
    Compressed,
    /// `OP_MSG` (2013): the extensible message every command uses.
    Msg,
    /// Any other code.
    Other(i32),
}

impl OpCode {
    /// The code as it appears on the wire.
    pub const fn code(self) -> i32 {
        match self {
            OpCode::Reply => 1,
            OpCode::Query => 2004,
            OpCode::Compressed => 2012,
            OpCode::Msg => 2013,
            OpCode::Other(code) => code,
        }
    }

    /// The length of the smallest valid frame of this kind, header included, or `None` for
    /// codes this crate does not decode.
    ///
    /// - `OP_MSG`: header, flags, one kind-0 section holding an empty document (26).
    /// - `OP_QUERY`: header, flags, an empty collection name, skip, return count, an empty
    ///   query (34).
    /// - `OP_REPLY`: header, flags, cursor id, starting from, count (36).
    /// - `OP_COMPRESSED`: header, original op code, uncompressed size, compressor id (25).
    pub const fn min_message_length(self) -> Option<usize> {
        match self {
            OpCode::Msg => Some(MessageHeader::LEN + 4 + 1 + 5),
            OpCode::Query => Some(MessageHeader::LEN + 4 + 1 + 4 + 4 + 5),
            OpCode::Reply => Some(MessageHeader::LEN + 4 + 8 + 4 + 4),
            OpCode::Compressed => Some(MessageHeader::LEN + 4 + 4 + 1),
            OpCode::Other(_) => None,
        }
    }
}

impl From<i32> for OpCode {
    fn from(code: i32) -> Self {
        match code {
            1 => OpCode::Reply,
            2004 => OpCode::Query,
            2012 => OpCode::Compressed,
            2013 => OpCode::Msg,
            other => OpCode::Other(other),
        }
    }
}

impl From<OpCode> for i32 {
    fn from(op: OpCode) -> Self {
        op.code()
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpCode::Reply => f.write_str("OP_REPLY"),
            OpCode::Query => f.write_str("OP_QUERY"),
            OpCode::Compressed => f.write_str("OP_COMPRESSED"),
            OpCode::Msg => f.write_str("OP_MSG"),
            OpCode::Other(code) => write!(f, "op code {code}"),
        }
    }
}

/// The 16-byte header that starts every frame. All fields are little-endian `int32`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageHeader {
    /// Length of the whole frame in bytes, this header included.
    pub message_length: i32,
    /// Identifier of this message, chosen by its sender.
    pub request_id: i32,
    /// For a reply, the `request_id` of the request it answers (or, for the follow-ups of an
    /// exhaust reply, of the previous reply); 0 otherwise.
    pub response_to: i32,
    /// Which message layout follows.
    pub op_code: OpCode,
}

impl MessageHeader {
    /// Size of the header on the wire.
    pub const LEN: usize = 16;

    /// Reads a header from the first [`MessageHeader::LEN`] bytes of `bytes`, without
    /// validating it (see [`MessageHeader::frame_length`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(bytes, 0).sub_reader(Self::LEN, "message header")?;
        Ok(MessageHeader {
            message_length: r.i32("message header")?,
            request_id: r.i32("message header")?,
            response_to: r.i32("message header")?,
            op_code: OpCode::from(r.i32("message header")?),
        })
    }

    /// The header as it appears on the wire.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        let fields = [
            self.message_length,
            self.request_id,
            self.response_to,
            self.op_code.code(),
        ];
        for (chunk, field) in out.chunks_exact_mut(4).zip(fields) {
            chunk.copy_from_slice(&field.to_le_bytes());
        }
        out
    }

    /// Validates the header and returns the length of the frame it starts: the op code must be
    /// one this crate decodes, and the length at least the smallest message of that kind and
    /// at most [`MAX_MESSAGE_SIZE`].
    pub fn frame_length(&self) -> Result<usize, ProtocolError> {
        let length = check_announced_length(self.message_length)?;
        let minimum = self
            .op_code
            .min_message_length()
            .ok_or(ProtocolError::UnknownOpCode(self.op_code.code()))?;
        if length < minimum {
            return Err(ProtocolError::MessageTooSmall {
                length: self.message_length,
                minimum,
            });
        }
        Ok(length)
    }
}

/// Checks a `messageLength` on its own (before the rest of the header has arrived): at least
/// a header, at most [`MAX_MESSAGE_SIZE`].
pub(crate) fn check_announced_length(message_length: i32) -> Result<usize, ProtocolError> {
    match usize::try_from(message_length) {
        Ok(length) if length > MAX_MESSAGE_SIZE => Err(ProtocolError::MessageTooLarge {
            length,
            max: MAX_MESSAGE_SIZE,
        }),
        Ok(length) if length >= MessageHeader::LEN => Ok(length),
        _ => Err(ProtocolError::MessageTooSmall {
            length: message_length,
            minimum: MessageHeader::LEN,
        }),
    }
}

/// Given the first [`MessageHeader::LEN`] bytes of a frame (more are ignored), the length of
/// the whole frame, header included: how many bytes a reader must have before calling
/// [`decode`](crate::decode) or [`decode_frame`](crate::decode_frame).
///
/// Fails if fewer than 16 bytes are given, if the op code is not one this crate decodes, or if
/// the length is below that op code's minimum or above [`MAX_MESSAGE_SIZE`]; so a reader
/// never buffers an oversized frame.
pub fn frame_length(header_bytes: &[u8]) -> Result<usize, ProtocolError> {
    MessageHeader::parse(header_bytes)?.frame_length()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_codes_map_both_ways() {
        for (code, op) in [
            (1, OpCode::Reply),
            (2004, OpCode::Query),
            (2012, OpCode::Compressed),
            (2013, OpCode::Msg),
            (2002, OpCode::Other(2002)),
            (-7, OpCode::Other(-7)),
        ] {
            assert_eq!(OpCode::from(code), op);
            assert_eq!(i32::from(op), code);
        }
        assert_eq!(OpCode::Msg.to_string(), "OP_MSG");
        assert_eq!(OpCode::Other(5).to_string(), "op code 5");
    }

    #[test]
    fn header_round_trips() {
        let header = MessageHeader {
            message_length: 0x0102_0304,
            request_id: -1,
            response_to: 7,
            op_code: OpCode::Msg,
        };
        let bytes = header.to_bytes();
        assert_eq!(&bytes[..4], &[4, 3, 2, 1]);
        assert_eq!(&bytes[12..], &2013i32.to_le_bytes());
        assert_eq!(MessageHeader::parse(&bytes).ok(), Some(header));
    }

    fn header(length: i32, op_code: OpCode) -> [u8; 16] {
        MessageHeader {
            message_length: length,
            request_id: 1,
            response_to: 0,
            op_code,
        }
        .to_bytes()
    }

    #[test]
    fn frame_length_validates() {
        assert_eq!(frame_length(&header(26, OpCode::Msg)).ok(), Some(26));
        assert_eq!(frame_length(&header(36, OpCode::Reply)).ok(), Some(36));
        assert!(matches!(
            frame_length(&header(25, OpCode::Msg)),
            Err(ProtocolError::MessageTooSmall {
                length: 25,
                minimum: 26
            })
        ));
        assert!(matches!(
            frame_length(&header(-1, OpCode::Msg)),
            Err(ProtocolError::MessageTooSmall {
                length: -1,
                minimum: 16
            })
        ));
        assert!(matches!(
            frame_length(&header(48_000_001, OpCode::Msg)),
            Err(ProtocolError::MessageTooLarge {
                length: 48_000_001,
                max: 48_000_000
            })
        ));
        assert_eq!(
            frame_length(&header(48_000_000, OpCode::Msg)).ok(),
            Some(48_000_000)
        );
        assert!(matches!(
            frame_length(&header(100, OpCode::Other(2002))),
            Err(ProtocolError::UnknownOpCode(2002))
        ));
        assert!(matches!(
            frame_length(&header(100, OpCode::Msg)[..15]),
            Err(ProtocolError::Truncated {
                what: "message header",
                needed: 16,
                available: 15
            })
        ));
    }
}
