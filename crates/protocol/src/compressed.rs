//! `OP_COMPRESSED` (2012), with the noop compressor only.
//!
//! ```text
//! header, int32 originalOpcode, int32 uncompressedSize, uint8 compressorId,
//! compressedMessage (the wrapped message without its header)
//! ```
//!
//! A frame compressed with noop (id 0) is unwrapped and decoded as the message it carries;
//! snappy, zlib, zstd and reserved ids are refused with
//! [`ProtocolError::UnsupportedCompressor`]. A server that never lists a compressor in its
//! `hello` reply receives no compressed frames from a conforming driver, so refusal only
//! meets misbehaving peers.

use std::fmt;

use crate::error::ProtocolError;
use crate::header::{MessageHeader, OpCode};
use crate::reader::Reader;
use crate::writer::write_frame;

/// A compressor id of `OP_COMPRESSED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compressor {
    /// 0: the message is stored as is.
    Noop,
    /// 1: snappy.
    Snappy,
    /// 2: zlib.
    Zlib,
    /// 3: zstd.
    Zstd,
    /// 4–255: reserved.
    Reserved(u8),
}

impl Compressor {
    /// The id on the wire.
    pub const fn id(self) -> u8 {
        match self {
            Compressor::Noop => 0,
            Compressor::Snappy => 1,
            Compressor::Zlib => 2,
            Compressor::Zstd => 3,
            Compressor::Reserved(id) => id,
        }
    }
}

impl From<u8> for Compressor {
    fn from(id: u8) -> Self {
        match id {
            0 => Compressor::Noop,
            1 => Compressor::Snappy,
            2 => Compressor::Zlib,
            3 => Compressor::Zstd,
            other => Compressor::Reserved(other),
        }
    }
}

impl fmt::Display for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compressor::Noop => f.write_str("noop (id 0)"),
            Compressor::Snappy => f.write_str("snappy (id 1)"),
            Compressor::Zlib => f.write_str("zlib (id 2)"),
            Compressor::Zstd => f.write_str("zstd (id 3)"),
            Compressor::Reserved(id) => write!(f, "reserved id {id}"),
        }
    }
}

/// Bytes between the header and the compressed message.
const PREFIX_LEN: usize = 4 + 4 + 1;

/// Unwraps a complete `OP_COMPRESSED` frame whose header has been validated into the frame
/// it carries: a header with the original op code and length, and the message after it.
pub(crate) fn decompress(frame: &[u8], header: &MessageHeader) -> Result<Vec<u8>, ProtocolError> {
    let mut r = Reader::new(frame, 0);
    r.take(MessageHeader::LEN, "message header")?;
    let original = OpCode::from(r.i32("OP_COMPRESSED originalOpcode")?);
    let uncompressed_size = r.i32("OP_COMPRESSED uncompressedSize")?;
    let compressor = Compressor::from(r.u8("OP_COMPRESSED compressorId")?);
    match original {
        OpCode::Compressed => return Err(ProtocolError::NestedCompression),
        OpCode::Other(code) => return Err(ProtocolError::UnknownOpCode(code)),
        OpCode::Msg | OpCode::Query | OpCode::Reply => {}
    }
    let header_len = MessageHeader::LEN as i32;
    let inner_length =
        uncompressed_size
            .checked_add(header_len)
            .ok_or(ProtocolError::MessageTooLarge {
                length: usize::try_from(uncompressed_size).unwrap_or(0) + MessageHeader::LEN,
                max: crate::MAX_MESSAGE_SIZE,
            })?;
    let inner = MessageHeader {
        message_length: inner_length,
        request_id: header.request_id,
        response_to: header.response_to,
        op_code: original,
    };
    let inner_frame_length = inner.frame_length()?;
    if compressor != Compressor::Noop {
        return Err(ProtocolError::UnsupportedCompressor(compressor));
    }
    let payload = r.take(r.remaining(), "OP_COMPRESSED message")?;
    let declared = inner_frame_length - MessageHeader::LEN;
    if payload.len() != declared {
        return Err(ProtocolError::LengthMismatch {
            what: "OP_COMPRESSED uncompressedSize",
            declared,
            actual: payload.len(),
        });
    }
    let mut out = Vec::with_capacity(inner_frame_length);
    out.extend_from_slice(&inner.to_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Wraps one complete encoded frame in an `OP_COMPRESSED` frame using the noop compressor,
/// keeping its request id and response-to. An `OP_MSG` checksum inside stays valid: it covers
/// the uncompressed message, whose header decompression restores.
///
/// Fails if `frame` is not exactly one frame of a decodable, uncompressed kind, or if the
/// result would exceed [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE).
pub fn compress_noop(frame: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let header = MessageHeader::parse(frame)?;
    let length = header.frame_length()?;
    if header.op_code == OpCode::Compressed {
        return Err(ProtocolError::NestedCompression);
    }
    if frame.len() != length {
        return Err(ProtocolError::LengthMismatch {
            what: "message header",
            declared: length,
            actual: frame.len(),
        });
    }
    let payload = frame.get(MessageHeader::LEN..).unwrap_or_default();
    let size = i32::try_from(payload.len()).map_err(|_| ProtocolError::MessageTooLarge {
        length: frame.len(),
        max: crate::MAX_MESSAGE_SIZE,
    })?;
    let mut out = Vec::with_capacity(frame.len() + PREFIX_LEN);
    write_frame(
        &mut out,
        header.request_id,
        header.response_to,
        OpCode::Compressed,
        false,
        |out| {
            out.extend_from_slice(&header.op_code.code().to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.push(Compressor::Noop.id());
            out.extend_from_slice(payload);
            Ok(())
        },
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::OpMsg;
    use bson::doc;

    fn msg_frame() -> Vec<u8> {
        OpMsg::new(doc! { "ping": 1, "$db": "admin" })
            .encode(11, 4)
            .expect("encodes")
    }

    fn parse(frame: &[u8]) -> MessageHeader {
        MessageHeader::parse(frame).expect("header")
    }

    #[test]
    fn noop_round_trip_restores_the_frame() {
        let frame = msg_frame();
        let wrapped = compress_noop(&frame).expect("wraps");
        let header = parse(&wrapped);
        assert_eq!(header.op_code, OpCode::Compressed);
        assert_eq!(header.message_length as usize, frame.len() + PREFIX_LEN);
        assert_eq!((header.request_id, header.response_to), (11, 4));
        assert_eq!(&wrapped[16..20], &2013i32.to_le_bytes());
        assert_eq!(wrapped[24], 0);
        assert_eq!(decompress(&wrapped, &header).expect("unwraps"), frame);
    }

    #[test]
    fn compressors_other_than_noop_are_refused() {
        let mut wrapped = compress_noop(&msg_frame()).expect("wraps");
        for id in [1u8, 2, 3, 4, 255] {
            wrapped[24] = id;
            let header = parse(&wrapped);
            assert!(matches!(
                decompress(&wrapped, &header),
                Err(ProtocolError::UnsupportedCompressor(c)) if c.id() == id
            ));
        }
        assert_eq!(Compressor::from(2).to_string(), "zlib (id 2)");
        assert_eq!(Compressor::from(9).to_string(), "reserved id 9");
    }

    #[test]
    fn original_op_code_and_size_are_checked() {
        let wrapped = compress_noop(&msg_frame()).expect("wraps");
        let header = parse(&wrapped);

        let mut nested = wrapped.clone();
        nested[16..20].copy_from_slice(&2012i32.to_le_bytes());
        assert!(matches!(
            decompress(&nested, &header),
            Err(ProtocolError::NestedCompression)
        ));
        let mut unknown = wrapped.clone();
        unknown[16..20].copy_from_slice(&2002i32.to_le_bytes());
        assert!(matches!(
            decompress(&unknown, &header),
            Err(ProtocolError::UnknownOpCode(2002))
        ));

        let payload_len = wrapped.len() - 25;
        for (size, expect_mismatch) in [
            (payload_len as i32 + 1, true),
            (payload_len as i32 - 1, true),
        ] {
            let mut bad = wrapped.clone();
            bad[20..24].copy_from_slice(&size.to_le_bytes());
            let result = decompress(&bad, &header);
            assert_eq!(
                matches!(result, Err(ProtocolError::LengthMismatch { .. })),
                expect_mismatch,
                "{result:?}"
            );
        }
        for (size, small) in [
            (-20, true),
            (5, true),
            (i32::MAX, false),
            (48_000_000, false),
        ] {
            let mut bad = wrapped.clone();
            bad[20..24].copy_from_slice(&i32::to_le_bytes(size));
            let result = decompress(&bad, &header);
            if small {
                assert!(
                    matches!(result, Err(ProtocolError::MessageTooSmall { .. })),
                    "{result:?}"
                );
            } else {
                assert!(
                    matches!(result, Err(ProtocolError::MessageTooLarge { .. })),
                    "{result:?}"
                );
            }
        }
    }

    #[test]
    fn compress_noop_validates_its_input() {
        let frame = msg_frame();
        assert!(matches!(
            compress_noop(&frame[..frame.len() - 1]),
            Err(ProtocolError::LengthMismatch { .. })
        ));
        let wrapped = compress_noop(&frame).expect("wraps");
        assert!(matches!(
            compress_noop(&wrapped),
            Err(ProtocolError::NestedCompression)
        ));
    }
}
