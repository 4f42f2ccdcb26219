//! The legacy `OP_QUERY` (2004) and its reply `OP_REPLY` (1).
//!
//! Servers since MongoDB 5.1 only accept `OP_QUERY` for the first command of a connection, the
//! legacy `hello` / `isMaster` handshake that older drivers open with: a query against
//! `admin.$cmd` answered by an `OP_REPLY` holding one document.
//!
//! ```text
//! OP_QUERY: header, int32 flags, cstring fullCollectionName, int32 numberToSkip,
//!           int32 numberToReturn, document query, [document returnFieldsSelector]
//! OP_REPLY: header, int32 responseFlags, int64 cursorID, int32 startingFrom,
//!           int32 numberReturned, document*
//! ```

use bson::{Bson, Document};

use crate::error::{DocumentLocation, ProtocolError};
use crate::header::{MessageHeader, OpCode};
use crate::reader::Reader;
use crate::writer::{write_cstring, write_document, write_frame};

wire_flags! {
    /// The flags of an `OP_QUERY`. Bit 0 and bits 8–31 are reserved; they are kept as sent
    /// and not validated.
    pub struct QueryFlags;

    /// Bit 1: leave the cursor open after the last result.
    const TAILABLE_CURSOR = 1 << 1;
    /// Bit 2 (`SlaveOk`): the query may run on a secondary.
    const SECONDARY_OK = 1 << 2;
    /// Bit 3: internal replication use.
    const OPLOG_REPLAY = 1 << 3;
    /// Bit 4: do not time the cursor out.
    const NO_CURSOR_TIMEOUT = 1 << 4;
    /// Bit 5: with a tailable cursor, block for more data.
    const AWAIT_DATA = 1 << 5;
    /// Bit 6: stream all results without `OP_GET_MORE`.
    const EXHAUST = 1 << 6;
    /// Bit 7: partial results from a sharded cluster with shards down.
    const PARTIAL = 1 << 7;
}

impl QueryFlags {
    /// Flags from their wire bits, all kept.
    pub const fn from_bits_retain(bits: u32) -> Self {
        Self(bits)
    }
}

wire_flags! {
    /// The `responseFlags` of an `OP_REPLY`. Bits 4–31 are reserved.
    pub struct ReplyFlags;

    /// Bit 0: the cursor of an `OP_GET_MORE` was not found.
    const CURSOR_NOT_FOUND = 1;
    /// Bit 1: the query failed; the single document holds `$err`.
    const QUERY_FAILURE = 1 << 1;
    /// Bit 2: internal sharding use.
    const SHARD_CONFIG_STALE = 1 << 2;
    /// Bit 3: the server supports `AWAIT_DATA` (servers always set it).
    const AWAIT_CAPABLE = 1 << 3;
}

impl ReplyFlags {
    /// Flags from their wire bits, all kept.
    pub const fn from_bits_retain(bits: u32) -> Self {
        Self(bits)
    }
}

/// A legacy `OP_QUERY`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpQuery {
    /// The flags.
    pub flags: QueryFlags,
    /// `database.collection`; `admin.$cmd` (or `db.$cmd`) for a command.
    pub full_collection_name: String,
    /// Documents to skip.
    pub number_to_skip: i32,
    /// Documents to return in the first batch (`-1` for a command: one, and close the
    /// cursor).
    pub number_to_return: i32,
    /// The query, or for a command the command document (possibly wrapped, see
    /// [`OpQuery::command`]).
    pub query: Document,
    /// Projection of the results, if any.
    pub return_fields_selector: Option<Document>,
}

impl OpQuery {
    /// The database: `full_collection_name` up to its first `.` (all of it if there is none).
    pub fn database(&self) -> &str {
        self.full_collection_name
            .split_once('.')
            .map_or(self.full_collection_name.as_str(), |(db, _)| db)
    }

    /// The collection: `full_collection_name` after its first `.` (empty if there is none).
    pub fn collection(&self) -> &str {
        self.full_collection_name
            .split_once('.')
            .map_or("", |(_, collection)| collection)
    }

    /// Whether this is a command: a query on the `$cmd` pseudo-collection.
    pub fn is_command(&self) -> bool {
        self.collection() == "$cmd"
    }

    /// The command document: `query`, or its `$query` field when drivers wrapped the command
    /// to send `$readPreference` alongside it (`{$query: {isMaster: 1}, $readPreference: ...}`).
    pub fn command(&self) -> &Document {
        match self.query.get("$query") {
            Some(Bson::Document(inner)) => inner,
            _ => &self.query,
        }
    }

    /// The frame for this query.
    pub fn encode(&self, request_id: i32, response_to: i32) -> Result<Vec<u8>, ProtocolError> {
        let mut out = Vec::new();
        self.encode_into(request_id, response_to, &mut out)?;
        Ok(out)
    }

    /// Like [`OpQuery::encode`], appending the frame to `out` (left unchanged on error).
    pub fn encode_into(
        &self,
        request_id: i32,
        response_to: i32,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        write_frame(out, request_id, response_to, OpCode::Query, false, |out| {
            out.extend_from_slice(&self.flags.bits().to_le_bytes());
            write_cstring(out, &self.full_collection_name, "full collection name")?;
            out.extend_from_slice(&self.number_to_skip.to_le_bytes());
            out.extend_from_slice(&self.number_to_return.to_le_bytes());
            write_document(out, &self.query, 0, || DocumentLocation::Query)?;
            if let Some(selector) = &self.return_fields_selector {
                write_document(out, selector, 1, || DocumentLocation::ReturnFieldsSelector)?;
            }
            Ok(())
        })
    }
}

/// A legacy `OP_REPLY`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpReply {
    /// The flags.
    pub flags: ReplyFlags,
    /// The cursor to fetch more from, 0 for none (always 0 for a command reply).
    pub cursor_id: i64,
    /// Position of the first document in the cursor's results.
    pub starting_from: i32,
    /// The documents; `numberReturned` on the wire is their count.
    pub documents: Vec<Document>,
}

impl OpReply {
    /// A command reply: no flags, cursor 0, starting from 0, the given documents.
    pub fn new(documents: Vec<Document>) -> Self {
        OpReply {
            flags: ReplyFlags::empty(),
            cursor_id: 0,
            starting_from: 0,
            documents,
        }
    }

    /// The frame for this reply; `response_to` is the `request_id` of the `OP_QUERY`.
    pub fn encode(&self, request_id: i32, response_to: i32) -> Result<Vec<u8>, ProtocolError> {
        let mut out = Vec::new();
        self.encode_into(request_id, response_to, &mut out)?;
        Ok(out)
    }

    /// Like [`OpReply::encode`], appending the frame to `out` (left unchanged on error).
    pub fn encode_into(
        &self,
        request_id: i32,
        response_to: i32,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        write_frame(out, request_id, response_to, OpCode::Reply, false, |out| {
            let count = self.documents.len();
            let count = i32::try_from(count).map_err(|_| ProtocolError::MessageTooLarge {
                length: count,
                max: crate::MAX_MESSAGE_SIZE,
            })?;
            out.extend_from_slice(&self.flags.bits().to_le_bytes());
            out.extend_from_slice(&self.cursor_id.to_le_bytes());
            out.extend_from_slice(&self.starting_from.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            for (position, document) in self.documents.iter().enumerate() {
                write_document(out, document, position, || DocumentLocation::Reply {
                    position,
                })?;
            }
            Ok(())
        })
    }
}

/// Decodes a complete `OP_QUERY` frame whose header has been validated.
pub(crate) fn decode_query(frame: &[u8]) -> Result<OpQuery, ProtocolError> {
    let mut r = Reader::new(frame, 0);
    r.take(MessageHeader::LEN, "message header")?;
    let flags = QueryFlags::from_bits_retain(r.u32("OP_QUERY flags")?);
    let full_collection_name = r.cstring("full collection name")?.to_owned();
    let number_to_skip = r.i32("OP_QUERY numberToSkip")?;
    let number_to_return = r.i32("OP_QUERY numberToReturn")?;
    let query = r.document(0, || DocumentLocation::Query)?;
    let return_fields_selector = if r.is_empty() {
        None
    } else {
        Some(r.document(1, || DocumentLocation::ReturnFieldsSelector)?)
    };
    if !r.is_empty() {
        return Err(ProtocolError::TrailingBytes {
            what: "OP_QUERY return fields selector",
            count: r.remaining(),
        });
    }
    Ok(OpQuery {
        flags,
        full_collection_name,
        number_to_skip,
        number_to_return,
        query,
        return_fields_selector,
    })
}

/// Decodes a complete `OP_REPLY` frame whose header has been validated.
pub(crate) fn decode_reply(frame: &[u8]) -> Result<OpReply, ProtocolError> {
    let mut r = Reader::new(frame, 0);
    r.take(MessageHeader::LEN, "message header")?;
    let flags = ReplyFlags::from_bits_retain(r.u32("OP_REPLY flags")?);
    let cursor_id = r.i64("OP_REPLY cursorID")?;
    let starting_from = r.i32("OP_REPLY startingFrom")?;
    let declared = r.i32("OP_REPLY numberReturned")?;
    let mut documents = Vec::new();
    while !r.is_empty() {
        let position = documents.len();
        documents.push(r.document(position, || DocumentLocation::Reply { position })?);
    }
    if usize::try_from(declared).ok() != Some(documents.len()) {
        return Err(ProtocolError::CountMismatch {
            declared,
            actual: documents.len(),
        });
    }
    Ok(OpReply {
        flags,
        cursor_id,
        starting_from,
        documents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn hello_query() -> OpQuery {
        OpQuery {
            flags: QueryFlags::SECONDARY_OK,
            full_collection_name: "admin.$cmd".into(),
            number_to_skip: 0,
            number_to_return: -1,
            query: doc! { "isMaster": 1, "client": { "driver": { "name": "old" } } },
            return_fields_selector: None,
        }
    }

    #[test]
    fn query_round_trips() {
        let mut query = hello_query();
        let frame = query.encode(5, 0).expect("encodes");
        assert_eq!(decode_query(&frame).expect("decodes"), query);

        query.return_fields_selector = Some(doc! { "a": 1 });
        query.flags = QueryFlags::from_bits_retain(0xffff_ffff);
        let frame = query.encode(5, 0).expect("encodes");
        assert_eq!(decode_query(&frame).expect("decodes"), query);
    }

    #[test]
    fn query_helpers() {
        let mut query = hello_query();
        assert_eq!(query.database(), "admin");
        assert_eq!(query.collection(), "$cmd");
        assert!(query.is_command());
        assert_eq!(query.command(), &query.query);

        query.query = doc! {
            "$query": { "hello": 1 },
            "$readPreference": { "mode": "secondaryPreferred" },
        };
        assert_eq!(query.command(), &doc! { "hello": 1 });

        query.full_collection_name = "test.users.archive".into();
        assert_eq!(query.database(), "test");
        assert_eq!(query.collection(), "users.archive");
        assert!(!query.is_command());
        query.full_collection_name = "nodot".into();
        assert_eq!((query.database(), query.collection()), ("nodot", ""));
    }

    #[test]
    fn query_exact_bytes() {
        let query = OpQuery {
            full_collection_name: "a.$cmd".into(),
            number_to_return: -1,
            ..OpQuery::default()
        };
        let frame = query.encode(1, 0).expect("encodes");
        let mut expected = vec![40, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xd4, 0x07, 0, 0];
        expected.extend([0, 0, 0, 0]);
        expected.extend(b"a.$cmd\0");
        expected.extend([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        expected.extend([5, 0, 0, 0, 0]);
        assert_eq!(frame, expected);
    }

    #[test]
    fn query_errors() {
        let frame = hello_query().encode(1, 0).expect("encodes");

        let mut trailing = frame.clone();
        trailing.extend([5, 0, 0, 0, 0, 9]);
        assert!(matches!(
            decode_query(&trailing),
            Err(ProtocolError::TrailingBytes { count: 1, .. })
        ));

        // The collection name runs to the end of the frame without a NUL.
        let mut unterminated = frame[..20].to_vec();
        unterminated.extend(b"admin.$cmd");
        assert!(matches!(
            decode_query(&unterminated),
            Err(ProtocolError::UnterminatedCString { .. })
        ));

        let mut bad_selector = frame.clone();
        bad_selector.extend([6, 0, 0, 0, 0]);
        assert!(matches!(
            decode_query(&bad_selector),
            Err(ProtocolError::InvalidDocumentLength {
                index: 1,
                location: DocumentLocation::ReturnFieldsSelector,
                ..
            })
        ));

        let cut = &frame[..frame.len() - 1];
        assert!(matches!(
            decode_query(cut),
            Err(ProtocolError::InvalidDocumentLength {
                index: 0,
                location: DocumentLocation::Query,
                ..
            })
        ));

        let mut nul = hello_query();
        nul.full_collection_name = "admin\0.$cmd".into();
        assert!(matches!(
            nul.encode(1, 0),
            Err(ProtocolError::InteriorNul { .. })
        ));
    }

    #[test]
    fn reply_round_trips() {
        for documents in [
            vec![],
            vec![doc! { "ismaster": true, "ok": 1.0 }],
            vec![doc! {}, doc! { "a": [1, 2] }, doc! { "b": null }],
        ] {
            let mut reply = OpReply::new(documents);
            let frame = reply.encode(2, 5).expect("encodes");
            assert_eq!(decode_reply(&frame).expect("decodes"), reply);

            reply.flags = ReplyFlags::AWAIT_CAPABLE | ReplyFlags::QUERY_FAILURE;
            reply.cursor_id = -42;
            reply.starting_from = 7;
            let frame = reply.encode(2, 5).expect("encodes");
            assert_eq!(decode_reply(&frame).expect("decodes"), reply);
        }
    }

    #[test]
    fn reply_exact_bytes() {
        let frame = OpReply::new(vec![doc! {}]).encode(3, 1).expect("encodes");
        let mut expected = vec![41, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0];
        expected.extend([0; 4 + 8 + 4]);
        expected.extend([1, 0, 0, 0]);
        expected.extend([5, 0, 0, 0, 0]);
        assert_eq!(frame, expected);
    }

    #[test]
    fn reply_count_must_match() {
        let frame = OpReply::new(vec![doc! {}, doc! {}])
            .encode(1, 0)
            .expect("encodes");
        let count_at = 16 + 4 + 8 + 4;
        for (declared, actual) in [(1, 2), (3, 2), (-1, 2), (0, 2)] {
            let mut bad = frame.clone();
            bad[count_at..count_at + 4].copy_from_slice(&i32::to_le_bytes(declared));
            assert!(
                matches!(
                    decode_reply(&bad),
                    Err(ProtocolError::CountMismatch { declared: d, actual: a }) if d == declared && a == actual
                ),
                "declared {declared}"
            );
        }
    }
}
