//! `OP_MSG` (op code 2013): flag bits, a body document, document sequences, and an optional
//! CRC-32C checksum.
//!
//! ```text
//! header     16 bytes
//! flagBits   uint32
//! sections   one or more of:
//!              kind 0: uint8 0, document                       (the body; exactly one)
//!              kind 1: uint8 1, int32 size, cstring identifier, document*
//!                      (size counts itself, the identifier and the documents)
//! [checksum] uint32, present iff flagBits has checksumPresent
//! ```

use std::collections::HashSet;

use bson::{Bson, Document, RawDocument};

use crate::checksum;
use crate::error::{DocumentLocation, ProtocolError};
use crate::header::{MessageHeader, OpCode};
use crate::reader::Reader;
use crate::writer::{patch, write_cstring, write_document, write_frame};

wire_flags! {
    /// The `flagBits` of an `OP_MSG`.
    ///
    /// The low 16 bits are *required*: a receiver must refuse a message with one it does not
    /// know, so decoding fails on any of bits 2–15. The high 16 bits are *optional*: unknown
    /// ones are ignored (and kept, so a decoded message re-encodes to the same bits).
    pub struct MsgFlags;

    /// Bit 0, `checksumPresent`: a CRC-32C of the message follows the sections. Set it on a
    /// message to encode and [`OpMsg::encode`] appends the checksum.
    const CHECKSUM_PRESENT = 1;
    /// Bit 1, `moreToCome`: on a request, the sender wants no reply; on a reply, more replies
    /// follow without further requests (exhaust).
    const MORE_TO_COME = 1 << 1;
    /// Bit 16, `exhaustAllowed` (requests only): the sender accepts several replies, flagged
    /// `moreToCome`, to this request.
    const EXHAUST_ALLOWED = 1 << 16;
}

impl MsgFlags {
    /// The required half of the flag word.
    const REQUIRED: u32 = 0xffff;

    /// Flags from their wire bits, refusing unknown required bits (2–15).
    pub fn from_bits(bits: u32) -> Result<Self, ProtocolError> {
        let known = Self::CHECKSUM_PRESENT.0 | Self::MORE_TO_COME.0;
        let unknown = bits & Self::REQUIRED & !known;
        if unknown != 0 {
            return Err(ProtocolError::UnknownRequiredFlags(unknown));
        }
        Ok(Self(bits))
    }

    /// Whether `checksumPresent` is set.
    pub const fn checksum_present(self) -> bool {
        self.contains(Self::CHECKSUM_PRESENT)
    }

    /// Whether `moreToCome` is set.
    pub const fn more_to_come(self) -> bool {
        self.contains(Self::MORE_TO_COME)
    }

    /// Whether `exhaustAllowed` is set.
    pub const fn exhaust_allowed(self) -> bool {
        self.contains(Self::EXHAUST_ALLOWED)
    }
}

/// A kind-1 section: documents that belong under `identifier` in the command, sent one after
/// another instead of as a BSON array (`documents` of `insert`, `updates` of `update`,
/// `deletes` of `delete`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DocumentSequence {
    /// The command argument the documents are the value of.
    pub identifier: String,
    /// The documents, in order; there may be none.
    pub documents: Vec<Document>,
}

/// An `OP_MSG`: flags, exactly one body document, and any number of document sequences with
/// distinct identifiers.
///
/// The spec lets sections come in any order; decoding accepts any order, and encoding writes
/// the body first and then the sequences in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpMsg {
    /// The flag bits.
    pub flags: MsgFlags,
    /// The kind-0 section: the command (on a request) or the reply document.
    pub body: Document,
    /// The kind-1 sections.
    pub sequences: Vec<DocumentSequence>,
}

impl OpMsg {
    /// A message with no flags and no sequences.
    pub fn new(body: Document) -> Self {
        OpMsg {
            flags: MsgFlags::empty(),
            body,
            sequences: Vec::new(),
        }
    }

    /// A message carrying `command`, with each of `sequence_fields` that holds an array of
    /// documents pulled out of the body into a document sequence (in the order given), as
    /// drivers send `insert`'s `documents`.
    ///
    /// A named field that is missing, not an array, or holds anything but documents stays in
    /// the body: the message means the same either way. An empty array becomes an empty
    /// sequence.
    pub fn from_command(mut command: Document, sequence_fields: &[&str]) -> Self {
        let mut sequences = Vec::new();
        for &field in sequence_fields {
            let all_documents = match command.get(field) {
                Some(Bson::Array(values)) => values.iter().all(|v| matches!(v, Bson::Document(_))),
                _ => false,
            };
            if !all_documents {
                continue;
            }
            if let Some(Bson::Array(values)) = command.remove(field) {
                let documents = values
                    .into_iter()
                    .filter_map(|value| match value {
                        Bson::Document(document) => Some(document),
                        _ => None,
                    })
                    .collect();
                sequences.push(DocumentSequence {
                    identifier: field.to_owned(),
                    documents,
                });
            }
        }
        OpMsg {
            flags: MsgFlags::empty(),
            body: command,
            sequences,
        }
    }

    /// The sequence named `identifier`, if any.
    pub fn sequence(&self, identifier: &str) -> Option<&DocumentSequence> {
        self.sequences.iter().find(|s| s.identifier == identifier)
    }

    /// The command as one document, what a server executes: each sequence becomes an array
    /// field of the body named by its identifier, appended after the body's own fields.
    ///
    /// Fails with [`ProtocolError::SequenceConflict`] if the body already has a field of that
    /// name.
    pub fn into_command(self) -> Result<Document, ProtocolError> {
        let OpMsg {
            mut body,
            sequences,
            ..
        } = self;
        for sequence in sequences {
            if body.contains_key(&sequence.identifier) {
                return Err(ProtocolError::SequenceConflict(sequence.identifier));
            }
            let array = sequence.documents.into_iter().map(Bson::Document).collect();
            body.insert(sequence.identifier, Bson::Array(array));
        }
        Ok(body)
    }

    /// The frame for this message. A checksum is appended iff `flags` has
    /// [`MsgFlags::CHECKSUM_PRESENT`].
    ///
    /// Fails if a document cannot be serialized or exceeds
    /// [`MAX_DOCUMENT_SIZE`](crate::MAX_DOCUMENT_SIZE), if an identifier contains a NUL or
    /// repeats, or if the frame would exceed [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE).
    pub fn encode(&self, request_id: i32, response_to: i32) -> Result<Vec<u8>, ProtocolError> {
        let mut out = Vec::new();
        self.encode_into(request_id, response_to, &mut out)?;
        Ok(out)
    }

    /// Like [`OpMsg::encode`], appending the frame to `out` (left unchanged on error).
    pub fn encode_into(
        &self,
        request_id: i32,
        response_to: i32,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        let checksum = self.flags.checksum_present();
        write_frame(out, request_id, response_to, OpCode::Msg, checksum, |out| {
            self.write_sections(out)
        })
    }

    /// The frame of a message with `flags`, no sequences and a body already encoded as BSON
    /// (a server's reply made as bytes): the frame [`OpMsg::encode`] makes for that body,
    /// without decoding and encoding it again. A checksum is appended iff `flags` has
    /// [`MsgFlags::CHECKSUM_PRESENT`].
    ///
    /// Fails if the body exceeds [`MAX_DOCUMENT_SIZE`](crate::MAX_DOCUMENT_SIZE).
    pub fn encode_encoded_body(
        flags: MsgFlags,
        body: &RawDocument,
        request_id: i32,
        response_to: i32,
    ) -> Result<Vec<u8>, ProtocolError> {
        let bytes = body.as_bytes();
        if bytes.len() > crate::MAX_DOCUMENT_SIZE {
            return Err(ProtocolError::DocumentTooLarge {
                index: 0,
                location: DocumentLocation::Body,
                length: bytes.len(),
                max: crate::MAX_DOCUMENT_SIZE,
            });
        }
        let mut out = Vec::with_capacity(MessageHeader::LEN + 4 + 1 + bytes.len());
        write_frame(
            &mut out,
            request_id,
            response_to,
            OpCode::Msg,
            flags.checksum_present(),
            |out| {
                out.extend_from_slice(&flags.bits().to_le_bytes());
                out.push(0);
                out.extend_from_slice(bytes);
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn write_sections(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        out.extend_from_slice(&self.flags.bits().to_le_bytes());
        out.push(0);
        write_document(out, &self.body, 0, || DocumentLocation::Body)?;
        let mut index = 1;
        let mut seen = HashSet::new();
        for sequence in &self.sequences {
            let identifier = sequence.identifier.as_str();
            if !seen.insert(identifier) {
                return Err(ProtocolError::DuplicateIdentifier(identifier.to_owned()));
            }
            out.push(1);
            let size_at = out.len();
            out.extend_from_slice(&[0; 4]);
            write_cstring(out, identifier, "document sequence identifier")?;
            for (position, document) in sequence.documents.iter().enumerate() {
                write_document(out, document, index, || DocumentLocation::Sequence {
                    identifier: identifier.to_owned(),
                    position,
                })?;
                index += 1;
            }
            let size = out.len() - size_at;
            let size = i32::try_from(size).map_err(|_| ProtocolError::MessageTooLarge {
                length: size,
                max: crate::MAX_MESSAGE_SIZE,
            })?;
            patch(out, size_at, &size.to_le_bytes());
        }
        Ok(())
    }
}

/// Decodes a complete `OP_MSG` frame whose header has been validated.
pub(crate) fn decode(frame: &[u8]) -> Result<OpMsg, ProtocolError> {
    let mut r = Reader::new(frame, 0);
    r.take(MessageHeader::LEN, "message header")?;
    let flags = MsgFlags::from_bits(r.u32("OP_MSG flags")?)?;
    if flags.checksum_present() {
        let (covered, expected) = checksum::split(frame).ok_or(ProtocolError::Truncated {
            what: "OP_MSG checksum",
            needed: checksum::CHECKSUM_LEN,
            available: frame.len(),
        })?;
        let computed = checksum::crc32c(covered);
        if computed != expected {
            return Err(ProtocolError::BadChecksum { expected, computed });
        }
        let sections_len = covered.len().saturating_sub(r.offset());
        r = r.sub_reader(sections_len, "OP_MSG sections")?;
    }
    let (body, sequences) = decode_sections(r)?;
    Ok(OpMsg {
        flags,
        body,
        sequences,
    })
}

fn decode_sections(mut r: Reader<'_>) -> Result<(Document, Vec<DocumentSequence>), ProtocolError> {
    let mut body = None;
    let mut sequences: Vec<DocumentSequence> = Vec::new();
    let mut identifiers = HashSet::new();
    let mut index = 0;
    while !r.is_empty() {
        let offset = r.offset();
        match r.u8("section kind")? {
            0 => {
                if body.is_some() {
                    return Err(ProtocolError::MultipleBodies);
                }
                body = Some(r.document(index, || DocumentLocation::Body)?);
                index += 1;
            }
            1 => {
                let size_offset = r.offset();
                let available = r.remaining();
                let size = r.i32("document sequence size")?;
                // The size counts itself (4) and at least the identifier's NUL (1).
                let len = usize::try_from(size)
                    .ok()
                    .filter(|&len| (5..=available).contains(&len))
                    .ok_or(ProtocolError::InvalidSectionSize {
                        size,
                        offset: size_offset,
                        available,
                    })?;
                let mut s = r.sub_reader(len - 4, "document sequence")?;
                let identifier = s.cstring("document sequence identifier")?;
                if !identifiers.insert(identifier) {
                    return Err(ProtocolError::DuplicateIdentifier(identifier.to_owned()));
                }
                let mut documents = Vec::new();
                while !s.is_empty() {
                    let position = documents.len();
                    let document = s.document(index, || DocumentLocation::Sequence {
                        identifier: identifier.to_owned(),
                        position,
                    })?;
                    documents.push(document);
                    index += 1;
                }
                sequences.push(DocumentSequence {
                    identifier: identifier.to_owned(),
                    documents,
                });
            }
            kind => return Err(ProtocolError::UnknownSectionKind { kind, offset }),
        }
    }
    let body = body.ok_or(ProtocolError::MissingBody)?;
    Ok((body, sequences))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn decode_ok(frame: &[u8]) -> OpMsg {
        decode(frame).expect("valid OP_MSG")
    }

    /// A frame built by hand: header (length patched), flags, raw section bytes, and
    /// optionally a checksum.
    fn raw_frame(flags: u32, sections: &[u8], checksum: bool) -> Vec<u8> {
        let mut out = vec![0u8; 16];
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(sections);
        let len = out.len() + if checksum { 4 } else { 0 };
        let header = MessageHeader {
            message_length: len as i32,
            request_id: 1,
            response_to: 0,
            op_code: OpCode::Msg,
        };
        out[..16].copy_from_slice(&header.to_bytes());
        if checksum {
            checksum::append(&mut out, 0);
        }
        out
    }

    fn body_section(doc: &Document) -> Vec<u8> {
        let mut out = vec![0];
        out.extend(doc.to_vec().expect("encodes"));
        out
    }

    fn sequence_section(identifier: &str, docs: &[Document]) -> Vec<u8> {
        let mut payload = identifier.as_bytes().to_vec();
        payload.push(0);
        for doc in docs {
            payload.extend(doc.to_vec().expect("encodes"));
        }
        let mut out = vec![1];
        out.extend(((payload.len() + 4) as i32).to_le_bytes());
        out.extend(payload);
        out
    }

    #[test]
    fn flags_accessors_and_validation() {
        let flags = MsgFlags::CHECKSUM_PRESENT | MsgFlags::EXHAUST_ALLOWED;
        assert!(flags.checksum_present() && flags.exhaust_allowed() && !flags.more_to_come());
        assert_eq!(flags.bits(), 0x1_0001);
        assert_eq!(
            format!("{flags:?}"),
            "MsgFlags(CHECKSUM_PRESENT | EXHAUST_ALLOWED)"
        );
        assert_eq!(format!("{:?}", MsgFlags::empty()), "MsgFlags(empty)");
        let mut f = MsgFlags::empty();
        f.set(MsgFlags::MORE_TO_COME, true);
        assert!(f.more_to_come());
        f.set(MsgFlags::MORE_TO_COME, false);
        assert_eq!(f, MsgFlags::empty());

        // Unknown optional bits are kept and ignored; unknown required bits are refused.
        let optional = MsgFlags::from_bits(0x8000_0002).expect("optional bits are ignored");
        assert!(optional.more_to_come());
        assert_eq!(
            format!("{optional:?}"),
            "MsgFlags(MORE_TO_COME | 0x80000000)"
        );
        for bit in 2..16 {
            assert!(matches!(
                MsgFlags::from_bits(1 << bit | 1),
                Err(ProtocolError::UnknownRequiredFlags(b)) if b == 1 << bit
            ));
        }
    }

    #[test]
    fn round_trip_with_sequences_and_checksum() {
        let mut msg = OpMsg::from_command(
            doc! {
                "insert": "c",
                "documents": [{ "_id": 1 }, { "_id": 2, "x": "y" }],
                "ordered": true,
                "$db": "test",
            },
            &["documents"],
        );
        msg.sequences.push(DocumentSequence {
            identifier: "empty".into(),
            documents: vec![],
        });
        for flags in [
            MsgFlags::empty(),
            MsgFlags::CHECKSUM_PRESENT,
            MsgFlags::MORE_TO_COME | MsgFlags::EXHAUST_ALLOWED | MsgFlags::CHECKSUM_PRESENT,
        ] {
            msg.flags = flags;
            let frame = msg.encode(9, 3).expect("encodes");
            let header = MessageHeader::parse(&frame).expect("header");
            assert_eq!(header.message_length as usize, frame.len());
            assert_eq!((header.request_id, header.response_to), (9, 3));
            assert_eq!(header.op_code, OpCode::Msg);
            assert_eq!(decode_ok(&frame), msg);
        }
    }

    #[test]
    fn exact_bytes_of_a_minimal_message() {
        let frame = OpMsg::new(doc! {}).encode(1, 2).expect("encodes");
        assert_eq!(
            frame,
            [
                26, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0xdd, 0x07, 0, 0, // header
                0, 0, 0, 0, // flags
                0, 5, 0, 0, 0, 0, // body: {}
            ]
        );
    }

    #[test]
    fn from_command_and_into_command() {
        let command = doc! {
            "update": "c",
            "updates": [{ "q": {}, "u": { "$set": { "a": 1 } } }],
            "mixed": [{ "a": 1 }, 2],
            "scalar": 1,
            "$db": "d",
        };
        let msg = OpMsg::from_command(command.clone(), &["updates", "mixed", "scalar", "absent"]);
        assert_eq!(msg.sequences.len(), 1);
        assert_eq!(msg.sequence("updates").map(|s| s.documents.len()), Some(1));
        assert!(msg.body.contains_key("mixed") && msg.body.contains_key("scalar"));
        assert!(!msg.body.contains_key("updates"));

        let folded = msg.into_command().expect("no conflict");
        let mut expected = command.clone();
        let updates = expected.remove("updates").expect("present");
        expected.insert("updates", updates);
        assert_eq!(folded, expected);
    }

    #[test]
    fn into_command_refuses_a_conflict() {
        let msg = OpMsg {
            flags: MsgFlags::empty(),
            body: doc! { "insert": "c", "documents": [] },
            sequences: vec![DocumentSequence {
                identifier: "documents".into(),
                documents: vec![doc! {}],
            }],
        };
        assert!(matches!(
            msg.into_command(),
            Err(ProtocolError::SequenceConflict(id)) if id == "documents"
        ));
    }

    #[test]
    fn sequence_before_body_is_accepted() {
        let mut sections = sequence_section("documents", &[doc! { "a": 1 }, doc! { "b": 2 }]);
        sections.extend(body_section(&doc! { "insert": "c" }));
        let msg = decode_ok(&raw_frame(0, &sections, false));
        assert_eq!(msg.body, doc! { "insert": "c" });
        assert_eq!(
            msg.into_command().expect("folds"),
            doc! { "insert": "c", "documents": [{ "a": 1 }, { "b": 2 }] }
        );
    }

    #[test]
    fn body_is_required_and_unique() {
        let seq = sequence_section("documents", &[doc! {}]);
        assert!(matches!(
            decode(&raw_frame(0, &[seq.clone(), seq.clone()].concat(), false)),
            Err(ProtocolError::DuplicateIdentifier(id)) if id == "documents"
        ));
        assert!(matches!(
            decode(&raw_frame(0, &seq, false)),
            Err(ProtocolError::MissingBody)
        ));
        let body = body_section(&doc! {});
        assert!(matches!(
            decode(&raw_frame(0, &[body.clone(), body].concat(), false)),
            Err(ProtocolError::MultipleBodies)
        ));
    }

    #[test]
    fn unknown_section_kind() {
        let mut sections = body_section(&doc! {});
        sections.extend([2, 5, 0, 0, 0, 0]);
        assert!(matches!(
            decode(&raw_frame(0, &sections, false)),
            Err(ProtocolError::UnknownSectionKind {
                kind: 2,
                offset: 26
            })
        ));
    }

    #[test]
    fn unknown_required_flag_is_refused() {
        let frame = raw_frame(1 << 5, &body_section(&doc! {}), false);
        assert!(matches!(
            decode(&frame),
            Err(ProtocolError::UnknownRequiredFlags(0x20))
        ));
    }

    #[test]
    fn checksum_is_verified() {
        let mut frame = raw_frame(1, &body_section(&doc! { "ping": 1 }), true);
        assert_eq!(decode_ok(&frame).body, doc! { "ping": 1 });
        let last = frame.len() - 1;
        frame[last] ^= 0x01;
        assert!(matches!(
            decode(&frame),
            Err(ProtocolError::BadChecksum { .. })
        ));
        // Corrupt the body instead: still a checksum error, not a BSON one.
        let mut frame = raw_frame(1, &body_section(&doc! { "ping": 1 }), true);
        frame[25] ^= 0x40;
        assert!(matches!(
            decode(&frame),
            Err(ProtocolError::BadChecksum { .. })
        ));
        // The flag set but no room left for sections.
        let frame = raw_frame(1, &body_section(&doc! {}), false);
        assert!(matches!(
            decode(&frame),
            Err(ProtocolError::BadChecksum { .. })
        ));
    }

    #[test]
    fn sequence_size_errors() {
        let body = body_section(&doc! {});
        for size in [-1i32, 0, 4, 100] {
            let mut sections = body.clone();
            sections.push(1);
            sections.extend(size.to_le_bytes());
            sections.extend(b"docs\0");
            assert!(
                matches!(
                    decode(&raw_frame(0, &sections, false)),
                    Err(ProtocolError::InvalidSectionSize { size: s, offset: 27, available: 9 }) if s == size
                ),
                "size {size}"
            );
        }
        // Size field itself cut short.
        let mut sections = body.clone();
        sections.extend([1, 9, 0]);
        assert!(matches!(
            decode(&raw_frame(0, &sections, false)),
            Err(ProtocolError::Truncated {
                what: "document sequence size",
                ..
            })
        ));
    }

    #[test]
    fn identifier_must_be_terminated_within_the_section() {
        let mut sections = body_section(&doc! {});
        // Size 8 covers "docs" but not its NUL, which lies outside the section.
        sections.extend([1, 8, 0, 0, 0]);
        sections.extend(b"docs\0");
        assert!(matches!(
            decode(&raw_frame(0, &sections, false)),
            Err(ProtocolError::UnterminatedCString {
                what: "document sequence identifier"
            })
        ));
        let mut sections = body_section(&doc! {});
        sections.extend([1, 7, 0, 0, 0, 0xff, 0xfe, 0]);
        assert!(matches!(
            decode(&raw_frame(0, &sections, false)),
            Err(ProtocolError::InvalidUtf8 { .. })
        ));
    }

    #[test]
    fn sequence_document_overrunning_its_section() {
        let mut sections = body_section(&doc! {});
        let mut seq = sequence_section("d", &[doc! { "a": 1 }]);
        // Shrink the declared size by one: the document now overruns the section.
        seq[1] -= 1;
        sections.extend(&seq);
        let err = decode(&raw_frame(0, &sections, false)).expect_err("overrun");
        assert!(
            matches!(
                &err,
                ProtocolError::InvalidDocumentLength {
                    index: 1,
                    location: DocumentLocation::Sequence { identifier, position: 0 },
                    ..
                } if identifier == "d"
            ),
            "{err}"
        );
    }

    #[test]
    fn invalid_bson_names_the_document() {
        let mut seq = sequence_section("d", &[doc! { "a": 1 }, doc! { "b": 1 }]);
        // Second document's element type byte: 5 (kind+size) + 2 ("d\0") + 12 + 4.
        let at = 1 + 4 + 2 + 12 + 4;
        assert_eq!(seq[at], 0x10);
        seq[at] = 0x77;
        let sections = [body_section(&doc! {}), seq].concat();
        let err = decode(&raw_frame(0, &sections, false)).expect_err("bad element type");
        assert!(
            matches!(
                &err,
                ProtocolError::InvalidBson {
                    index: 2,
                    location: DocumentLocation::Sequence { position: 1, .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("invalid BSON in document #2 (document 1 of sequence \"d\")")
        );
    }

    #[test]
    fn encode_errors() {
        let mut msg = OpMsg::new(doc! {});
        msg.sequences = vec![
            DocumentSequence {
                identifier: "a".into(),
                documents: vec![],
            },
            DocumentSequence {
                identifier: "a".into(),
                documents: vec![],
            },
        ];
        assert!(matches!(
            msg.encode(0, 0),
            Err(ProtocolError::DuplicateIdentifier(_))
        ));
        msg.sequences.truncate(1);
        msg.sequences[0].identifier = "a\0b".into();
        assert!(matches!(
            msg.encode(0, 0),
            Err(ProtocolError::InteriorNul { .. })
        ));

        // A document over the size limit.
        let big = "x".repeat(crate::MAX_DOCUMENT_SIZE);
        let msg = OpMsg::new(doc! { "s": big });
        let mut out = vec![7];
        assert!(matches!(
            msg.encode_into(0, 0, &mut out),
            Err(ProtocolError::DocumentTooLarge { index: 0, .. })
        ));
        assert_eq!(out, [7], "output untouched on error");

        // Many documents under the limit, but a frame over the message limit.
        let chunk = doc! { "s": "x".repeat(8 * 1024 * 1024) };
        let msg = OpMsg {
            sequences: vec![DocumentSequence {
                identifier: "documents".into(),
                documents: vec![chunk; 6],
            }],
            ..OpMsg::new(doc! {})
        };
        assert!(matches!(
            msg.encode(0, 0),
            Err(ProtocolError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn an_encoded_body_makes_the_frame_its_document_would() {
        let body = doc! {"n": 1, "ok": 1.0, "note": "é"};
        let raw = bson::RawDocumentBuf::try_from(&body).expect("encodable");
        for flags in [MsgFlags::empty(), MsgFlags::CHECKSUM_PRESENT] {
            let mut message = OpMsg::new(body.clone());
            message.flags = flags;
            let expected = message.encode(7, 3).expect("a frame");
            let frame = OpMsg::encode_encoded_body(flags, &raw, 7, 3).expect("a frame");
            assert_eq!(frame, expected);
            match crate::decode_frame(&frame).expect("decodes") {
                crate::Message::Msg { msg, .. } => assert_eq!(msg.body, body),
                other => panic!("not an OP_MSG: {other:?}"),
            }
        }
    }
}
