//! Helpers the encoders share: framing with a back-patched header, documents, C strings.

use bson::Document;

use crate::checksum;
use crate::error::{DocumentLocation, ProtocolError};
use crate::header::{MessageHeader, OpCode};
use crate::{MAX_DOCUMENT_SIZE, MAX_MESSAGE_SIZE};

/// Appends one frame to `out`: a header, what `write_body` writes, and (if `checksum`) the
/// CRC-32C of the whole. On error `out` is left as it was.
pub(crate) fn write_frame(
    out: &mut Vec<u8>,
    request_id: i32,
    response_to: i32,
    op_code: OpCode,
    checksum: bool,
    write_body: impl FnOnce(&mut Vec<u8>) -> Result<(), ProtocolError>,
) -> Result<(), ProtocolError> {
    let start = out.len();
    let result = write_frame_at(
        out,
        start,
        request_id,
        response_to,
        op_code,
        checksum,
        write_body,
    );
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn write_frame_at(
    out: &mut Vec<u8>,
    start: usize,
    request_id: i32,
    response_to: i32,
    op_code: OpCode,
    checksum: bool,
    write_body: impl FnOnce(&mut Vec<u8>) -> Result<(), ProtocolError>,
) -> Result<(), ProtocolError> {
    out.extend_from_slice(&[0; MessageHeader::LEN]);
    write_body(out)?;
    let trailer = if checksum { checksum::CHECKSUM_LEN } else { 0 };
    let length = out.len() - start + trailer;
    let too_large = ProtocolError::MessageTooLarge {
        length,
        max: MAX_MESSAGE_SIZE,
    };
    if length > MAX_MESSAGE_SIZE {
        return Err(too_large);
    }
    let header = MessageHeader {
        message_length: i32::try_from(length).map_err(|_| too_large)?,
        request_id,
        response_to,
        op_code,
    };
    patch(out, start, &header.to_bytes());
    if checksum {
        checksum::append(out, start);
    }
    Ok(())
}

/// Overwrites `out[at..at + bytes.len()]`, which the caller wrote earlier as a placeholder.
pub(crate) fn patch(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = out.get_mut(at..at + bytes.len()) {
        slot.copy_from_slice(bytes);
    }
}

/// Appends `document` as BSON.
pub(crate) fn write_document(
    out: &mut Vec<u8>,
    document: &Document,
    index: usize,
    location: impl Fn() -> DocumentLocation,
) -> Result<(), ProtocolError> {
    let bytes = document
        .to_vec()
        .map_err(|source| ProtocolError::BsonEncode {
            index,
            location: location(),
            source: Box::new(source),
        })?;
    if bytes.len() > MAX_DOCUMENT_SIZE {
        return Err(ProtocolError::DocumentTooLarge {
            index,
            location: location(),
            length: bytes.len(),
            max: MAX_DOCUMENT_SIZE,
        });
    }
    out.extend_from_slice(&bytes);
    Ok(())
}

/// Appends `text` and a NUL terminator.
pub(crate) fn write_cstring(
    out: &mut Vec<u8>,
    text: &str,
    what: &'static str,
) -> Result<(), ProtocolError> {
    if text.as_bytes().contains(&0) {
        return Err(ProtocolError::InteriorNul { what });
    }
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    Ok(())
}
