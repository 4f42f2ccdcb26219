//! Properties of the codec over random input:
//!
//! 1. decoding random bytes, random frames, and truncated or bit-flipped valid frames returns
//!    an error or a message and never panics;
//! 2. encode → decode round-trips random documents and section layouts, for every message kind
//!    and through noop compression;
//! 3. every proper prefix of a valid frame decodes to `Ok(None)`.

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Decimal128, Document, Timestamp};
use causeway_protocol::{
    DocumentSequence, Message, MessageHeader, MsgFlags, OpCode, OpMsg, OpQuery, OpReply,
    ProtocolError, QueryFlags, ReplyFlags, compress_noop, decode, decode_frame, frame_length,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_$.é]{0,8}"
}

fn leaf() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Bson::Double),
        ".{0,16}".prop_map(Bson::String),
        any::<bool>().prop_map(Bson::Boolean),
        Just(Bson::Null),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
        any::<i64>().prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
        any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
        (any::<u32>(), any::<u32>())
            .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        vec(any::<u8>(), 0..16).prop_map(|bytes| Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes,
        })),
        ".{0,8}".prop_map(Bson::JavaScriptCode),
    ]
}

fn document_of(values: impl Strategy<Value = Bson>) -> impl Strategy<Value = Document> {
    vec((key(), values), 0..5).prop_map(|pairs| pairs.into_iter().collect())
}

fn value() -> impl Strategy<Value = Bson> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Bson::Array),
            document_of(inner).prop_map(Bson::Document),
        ]
    })
}

fn document() -> impl Strategy<Value = Document> {
    document_of(value())
}

fn msg_flags() -> impl Strategy<Value = MsgFlags> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(checksum, more, exhaust)| {
        let mut flags = MsgFlags::empty();
        flags.set(MsgFlags::CHECKSUM_PRESENT, checksum);
        flags.set(MsgFlags::MORE_TO_COME, more);
        flags.set(MsgFlags::EXHAUST_ALLOWED, exhaust);
        flags
    })
}

fn op_msg() -> impl Strategy<Value = OpMsg> {
    (
        msg_flags(),
        document(),
        // A map keeps identifiers unique, as the spec requires.
        btree_map("[a-z$é]{0,10}", vec(document(), 0..3), 0..3),
    )
        .prop_map(|(flags, body, sequences)| OpMsg {
            flags,
            body,
            sequences: sequences
                .into_iter()
                .map(|(identifier, documents)| DocumentSequence {
                    identifier,
                    documents,
                })
                .collect(),
        })
}

fn op_query() -> impl Strategy<Value = OpQuery> {
    (
        any::<u32>(),
        "[a-z]{0,6}\\.[a-z$]{0,6}",
        any::<i32>(),
        any::<i32>(),
        document(),
        proptest::option::of(document()),
    )
        .prop_map(|(flags, name, skip, ret, query, selector)| OpQuery {
            flags: QueryFlags::from_bits_retain(flags),
            full_collection_name: name,
            number_to_skip: skip,
            number_to_return: ret,
            query,
            return_fields_selector: selector,
        })
}

fn op_reply() -> impl Strategy<Value = OpReply> {
    (
        any::<u32>(),
        any::<i64>(),
        any::<i32>(),
        vec(document(), 0..4),
    )
        .prop_map(|(flags, cursor_id, starting_from, documents)| OpReply {
            flags: ReplyFlags::from_bits_retain(flags),
            cursor_id,
            starting_from,
            documents,
        })
}

/// A valid frame of any kind, possibly wrapped in noop compression.
fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
    let frame = prop_oneof![
        4 => (op_msg(), any::<i32>(), any::<i32>())
            .prop_map(|(m, id, to)| m.encode(id, to).expect("encodes")),
        1 => (op_query(), any::<i32>()).prop_map(|(q, id)| q.encode(id, 0).expect("encodes")),
        1 => (op_reply(), any::<i32>(), any::<i32>())
            .prop_map(|(r, id, to)| r.encode(id, to).expect("encodes")),
    ];
    (frame, any::<bool>()).prop_map(|(frame, compress)| {
        if compress {
            compress_noop(&frame).expect("wraps")
        } else {
            frame
        }
    })
}

/// A frame with a correct header (length and a decodable op code) and random contents.
fn plausible_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(OpCode::Msg),
            Just(OpCode::Query),
            Just(OpCode::Reply),
            Just(OpCode::Compressed),
        ],
        vec(any::<u8>(), 9..200),
    )
        .prop_map(|(op_code, body)| {
            let header = MessageHeader {
                message_length: (MessageHeader::LEN + body.len()) as i32,
                request_id: 1,
                response_to: 0,
                op_code,
            };
            [header.to_bytes().as_slice(), &body].concat()
        })
}

/// Runs every decoding entry point on `bytes`; they may fail but must not panic.
fn decode_everything(bytes: &[u8]) {
    let _ = decode(bytes);
    let _ = decode_frame(bytes);
    let _ = frame_length(bytes);
    let _ = compress_noop(bytes);
}

proptest! {
    // Property 1: cheap inputs, so more cases.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        decode_everything(&bytes);
    }

    #[test]
    fn random_frames_never_panic(bytes in plausible_frame()) {
        decode_everything(&bytes);
    }
}

proptest! {
    // Property 1, from valid frames.

    #[test]
    fn truncated_frames_never_panic(frame in valid_frame(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(frame.len());
        decode_everything(&frame[..cut]);
        // The truncated frame with its header patched to match: a complete but short frame.
        let mut patched = frame[..cut].to_vec();
        if patched.len() >= 4 {
            patched[..4].copy_from_slice(&(cut as i32).to_le_bytes());
        }
        decode_everything(&patched);
    }

    #[test]
    fn bit_flips_never_panic(
        frame in valid_frame(),
        flips in vec((any::<prop::sample::Index>(), 0..8u8), 1..5),
    ) {
        let mut corrupt = frame;
        for (at, bit) in flips {
            let at = at.index(corrupt.len());
            corrupt[at] ^= 1 << bit;
        }
        decode_everything(&corrupt);
    }

    #[test]
    fn a_checksum_catches_every_single_bit_flip(
        msg in op_msg(),
        at in any::<prop::sample::Index>(),
        bit in 0..8u8,
    ) {
        let msg = OpMsg { flags: msg.flags | MsgFlags::CHECKSUM_PRESENT, ..msg };
        let mut frame = msg.encode(3, 4).expect("encodes");
        let at = at.index(frame.len());
        frame[at] ^= 1 << bit;
        // An error, or a longer announced length; never a message.
        prop_assert!(!matches!(decode(&frame), Ok(Some(_))));
    }
}

proptest! {
    // Property 2.

    #[test]
    fn op_msg_round_trips(msg in op_msg(), id in any::<i32>(), to in any::<i32>()) {
        let frame = msg.encode(id, to).expect("encodes");
        let (message, used) = decode(&frame).expect("decodes").expect("whole");
        prop_assert_eq!(used, frame.len());
        prop_assert_eq!(message.header().message_length as usize, frame.len());
        prop_assert_eq!((message.request_id(), message.response_to()), (id, to));
        prop_assert_eq!(message.encode().expect("re-encodes"), frame.clone());
        match message {
            Message::Msg { msg: got, .. } => prop_assert_eq!(got, msg.clone()),
            other => prop_assert!(false, "not an OP_MSG: {:?}", other),
        }

        let wrapped = compress_noop(&frame).expect("wraps");
        match decode_frame(&wrapped).expect("decodes") {
            Message::Msg { msg: got, header } => {
                prop_assert_eq!(got, msg);
                prop_assert_eq!(header.op_code, OpCode::Compressed);
            }
            other => prop_assert!(false, "not an OP_MSG: {:?}", other),
        }
    }

    #[test]
    fn op_query_round_trips(query in op_query(), id in any::<i32>()) {
        let frame = query.encode(id, 0).expect("encodes");
        match decode_frame(&frame).expect("decodes") {
            Message::Query { query: got, header } => {
                prop_assert_eq!(got, query);
                prop_assert_eq!(header.request_id, id);
            }
            other => prop_assert!(false, "not an OP_QUERY: {:?}", other),
        }
    }

    #[test]
    fn op_reply_round_trips(reply in op_reply(), id in any::<i32>(), to in any::<i32>()) {
        let frame = reply.encode(id, to).expect("encodes");
        match decode_frame(&frame).expect("decodes") {
            Message::Reply { reply: got, header } => {
                prop_assert_eq!(got, reply);
                prop_assert_eq!((header.request_id, header.response_to), (id, to));
            }
            other => prop_assert!(false, "not an OP_REPLY: {:?}", other),
        }
    }

    #[test]
    fn sequences_fold_back_into_the_command(
        body in document(),
        arrays in btree_map("[a-z]{1,6}", vec(document(), 0..4), 0..3),
    ) {
        let mut command = body;
        let mut fields = Vec::new();
        for (name, documents) in arrays {
            command.insert(name.clone(), documents.into_iter().map(Bson::Document).collect::<Vec<_>>());
            fields.push(name);
        }
        let names: Vec<&str> = fields.iter().map(String::as_str).collect();
        let msg = OpMsg::from_command(command.clone(), &names);
        prop_assert_eq!(msg.sequences.len(), fields.len());

        let frame = msg.encode(1, 0).expect("encodes");
        let Message::Msg { msg: decoded, .. } = decode_frame(&frame).expect("decodes") else {
            return Err(TestCaseError::fail("not an OP_MSG"));
        };
        let folded = decoded.into_command().expect("folds");
        // Same fields and values; the pulled-out arrays move to the end.
        let mut expected = command;
        for name in &fields {
            if let Some(value) = expected.remove(name) {
                expected.insert(name.clone(), value);
            }
        }
        prop_assert_eq!(folded, expected);
    }

    // Property 3.

    #[test]
    fn every_proper_prefix_needs_more_bytes(frame in valid_frame()) {
        for len in 0..frame.len() {
            match decode(&frame[..len]) {
                Ok(None) => {}
                other => prop_assert!(false, "prefix of {} of {}: {:?}", len, frame.len(), other),
            }
        }
        prop_assert!(matches!(decode(&frame), Ok(Some((_, used))) if used == frame.len()));
    }
}

#[test]
fn flipping_the_checksum_flag_off_is_an_error() {
    // Without the flag, the checksum's bytes would be read as a section: never a message.
    let msg = OpMsg {
        flags: MsgFlags::CHECKSUM_PRESENT,
        ..OpMsg::new(bson::doc! { "ping": 1 })
    };
    let mut frame = msg.encode(1, 0).expect("encodes");
    frame[16] &= !1;
    assert!(matches!(
        decode(&frame),
        Err(ProtocolError::MultipleBodies
            | ProtocolError::UnknownSectionKind { .. }
            | ProtocolError::InvalidSectionSize { .. }
            | ProtocolError::Truncated { .. }
            | ProtocolError::InvalidDocumentLength { .. }
            | ProtocolError::InvalidBson { .. })
    ));
}
