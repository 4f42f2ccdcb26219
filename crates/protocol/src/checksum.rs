//! The optional `OP_MSG` checksum: CRC-32C (Castagnoli) over every byte of the message except
//! the trailing four that hold the checksum itself, header included.

use crc::{CRC_32_ISCSI, Crc, Table};

/// CRC-32C: the catalogue calls the Castagnoli polynomial with iSCSI's parameters
/// `CRC_32_ISCSI`. Slice-by-16 tables, built at compile time.
const CASTAGNOLI: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// Size of the checksum field at the end of an `OP_MSG` that carries one.
pub const CHECKSUM_LEN: usize = 4;

/// The CRC-32C (Castagnoli) of `bytes`, as `OP_MSG` uses it.
///
/// ```
/// assert_eq!(causeway_protocol::crc32c(b"123456789"), 0xE306_9283);
/// ```
pub fn crc32c(bytes: &[u8]) -> u32 {
    CASTAGNOLI.checksum(bytes)
}

/// Splits a complete `OP_MSG` frame that carries a checksum into the checksummed bytes and
/// the checksum carried, or `None` if the frame is too short to hold one.
pub(crate) fn split(frame: &[u8]) -> Option<(&[u8], u32)> {
    let at = frame.len().checked_sub(CHECKSUM_LEN)?;
    let (covered, tail) = frame.split_at(at);
    let carried = u32::from_le_bytes(tail.try_into().ok()?);
    Some((covered, carried))
}

/// Appends the checksum of the frame that starts at `start` in `out` and runs to its end.
pub(crate) fn append(out: &mut Vec<u8>, start: usize) {
    let sum = crc32c(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&sum.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // RFC 3720 (iSCSI), B.4: 32 bytes of zeros, and of 0xff.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
    }

    #[test]
    fn append_then_split() {
        let mut frame = b"123456789".to_vec();
        append(&mut frame, 0);
        assert_eq!(&frame[9..], &0xE306_9283u32.to_le_bytes());
        let (covered, carried) = split(&frame).expect("long enough");
        assert_eq!(covered, b"123456789");
        assert_eq!(carried, 0xE306_9283);
        assert!(split(&[1, 2, 3]).is_none());
    }
}
