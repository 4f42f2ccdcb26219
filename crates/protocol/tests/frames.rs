//! Whole-frame decoding through the public API: `decode`, `decode_frame`, `frame_length`,
//! `Message`, and noop compression.

use bson::doc;
use causeway_protocol::{
    Message, MessageHeader, MsgFlags, OpCode, OpMsg, OpQuery, OpReply, ProtocolError, QueryFlags,
    compress_noop, decode, decode_frame, frame_length,
};

fn hello_msg() -> OpMsg {
    OpMsg::new(doc! { "hello": 1, "$db": "admin" })
}

fn legacy_hello() -> OpQuery {
    OpQuery {
        flags: QueryFlags::SECONDARY_OK,
        full_collection_name: "admin.$cmd".into(),
        number_to_skip: 0,
        number_to_return: -1,
        query: doc! { "isMaster": 1 },
        return_fields_selector: None,
    }
}

fn decode_whole(bytes: &[u8]) -> Message {
    let (message, used) = decode(bytes).expect("decodes").expect("a whole frame");
    assert_eq!(used, bytes.len());
    message
}

fn header_bytes(length: i32, op_code: OpCode) -> Vec<u8> {
    MessageHeader {
        message_length: length,
        request_id: 1,
        response_to: 0,
        op_code,
    }
    .to_bytes()
    .to_vec()
}

#[test]
fn every_kind_round_trips_through_message() {
    let msg = OpMsg {
        flags: MsgFlags::CHECKSUM_PRESENT | MsgFlags::EXHAUST_ALLOWED,
        ..OpMsg::from_command(
            doc! { "insert": "c", "documents": [{ "a": 1 }], "$db": "d" },
            &["documents"],
        )
    };
    let frame = msg.encode(1, 0).expect("encodes");
    match decode_whole(&frame) {
        Message::Msg { header, msg: got } => {
            assert_eq!(got, msg);
            assert_eq!(header.op_code, OpCode::Msg);
            assert_eq!(header.message_length as usize, frame.len());
        }
        other => panic!("expected OP_MSG, got {other:?}"),
    }

    let query = legacy_hello();
    let frame = query.encode(2, 0).expect("encodes");
    assert!(matches!(decode_whole(&frame), Message::Query { query: got, .. } if got == query));

    let reply = OpReply::new(vec![doc! { "ismaster": true, "ok": 1.0 }]);
    let frame = reply.encode(3, 2).expect("encodes");
    let message = decode_whole(&frame);
    assert_eq!((message.request_id(), message.response_to()), (3, 2));
    assert!(matches!(message, Message::Reply { reply: got, .. } if got == reply));
}

#[test]
fn message_encode_reproduces_the_frame() {
    for frame in [
        hello_msg().encode(5, 0),
        legacy_hello().encode(6, 0),
        OpReply::new(vec![doc! { "ok": 1 }]).encode(7, 6),
    ] {
        let frame = frame.expect("encodes");
        let message = decode_frame(&frame).expect("decodes");
        assert!(!message.was_compressed());
        assert_eq!(message.encode().expect("re-encodes"), frame);
    }
}

#[test]
fn noop_compressed_frames_decode_as_what_they_carry() {
    let checksummed = OpMsg {
        flags: MsgFlags::CHECKSUM_PRESENT,
        ..hello_msg()
    };
    let frames = [
        checksummed.encode(8, 0),
        legacy_hello().encode(9, 0),
        OpReply::new(vec![doc! {}]).encode(10, 9),
    ];
    for frame in frames {
        let frame = frame.expect("encodes");
        let plain = decode_frame(&frame).expect("decodes");
        let wrapped = compress_noop(&frame).expect("wraps");
        let message = decode_whole(&wrapped);
        assert!(message.was_compressed());
        assert_eq!(message.header().op_code, OpCode::Compressed);
        assert_eq!(message.header().message_length as usize, wrapped.len());
        assert_eq!(message.request_id(), plain.request_id());
        assert_eq!(message.response_to(), plain.response_to());
        // Re-encoding drops the compression.
        assert_eq!(message.encode().expect("re-encodes"), frame);
    }
}

#[test]
fn partial_input_needs_more_bytes() {
    let frame = hello_msg().encode(1, 0).expect("encodes");
    for len in 0..frame.len() {
        assert!(
            decode(&frame[..len])
                .expect("no error on a prefix")
                .is_none(),
            "prefix of {len}"
        );
    }
}

#[test]
fn decode_takes_the_first_of_several_frames() {
    let first = hello_msg().encode(1, 0).expect("encodes");
    let second = legacy_hello().encode(2, 0).expect("encodes");
    let mut buffer = [first.as_slice(), second.as_slice(), &[1, 2]].concat();
    let (message, used) = decode(&buffer).expect("decodes").expect("whole");
    assert_eq!((message.request_id(), used), (1, first.len()));
    buffer.drain(..used);
    let (message, used) = decode(&buffer).expect("decodes").expect("whole");
    assert_eq!((message.request_id(), used), (2, second.len()));
    buffer.drain(..used);
    assert!(decode(&buffer).expect("a prefix").is_none());
}

#[test]
fn oversized_or_undersized_lengths_fail_from_four_bytes() {
    for (length, too_large) in [
        (48_000_001, true),
        (i32::MAX, true),
        (15, false),
        (-1, false),
    ] {
        let result = decode(&length.to_le_bytes());
        if too_large {
            assert!(
                matches!(
                    result,
                    Err(ProtocolError::MessageTooLarge {
                        max: 48_000_000,
                        ..
                    })
                ),
                "{length}: {result:?}"
            );
        } else {
            assert!(
                matches!(
                    result,
                    Err(ProtocolError::MessageTooSmall { minimum: 16, .. })
                ),
                "{length}: {result:?}"
            );
        }
    }
    // 48 MB exactly is allowed: only more bytes are needed.
    assert!(matches!(decode(&48_000_000i32.to_le_bytes()), Ok(None)));
}

#[test]
fn bad_headers_fail_before_the_body_arrives() {
    assert!(matches!(
        decode(&header_bytes(100, OpCode::from(2002))),
        Err(ProtocolError::UnknownOpCode(2002))
    ));
    assert!(matches!(
        decode(&header_bytes(100, OpCode::from(0))),
        Err(ProtocolError::UnknownOpCode(0))
    ));
    assert!(matches!(
        decode(&header_bytes(20, OpCode::Msg)),
        Err(ProtocolError::MessageTooSmall {
            length: 20,
            minimum: 26
        })
    ));
    assert!(matches!(
        decode(&header_bytes(33, OpCode::Query)),
        Err(ProtocolError::MessageTooSmall { minimum: 34, .. })
    ));
    assert!(matches!(
        decode(&header_bytes(35, OpCode::Reply)),
        Err(ProtocolError::MessageTooSmall { minimum: 36, .. })
    ));
    assert!(matches!(
        decode(&header_bytes(24, OpCode::Compressed)),
        Err(ProtocolError::MessageTooSmall { minimum: 25, .. })
    ));
    assert!(matches!(decode(&header_bytes(26, OpCode::Msg)), Ok(None)));
}

#[test]
fn frame_length_tells_a_reader_how_much_to_read() {
    let frame = legacy_hello().encode(1, 0).expect("encodes");
    assert_eq!(frame_length(&frame[..16]).ok(), Some(frame.len()));
    assert_eq!(frame_length(&frame).ok(), Some(frame.len()));
    assert!(matches!(
        frame_length(&frame[..10]),
        Err(ProtocolError::Truncated {
            needed: 16,
            available: 10,
            ..
        })
    ));
}

#[test]
fn decode_frame_wants_exactly_one_frame() {
    let frame = hello_msg().encode(1, 0).expect("encodes");
    let longer = [frame.as_slice(), &[0]].concat();
    assert!(matches!(
        decode_frame(&longer),
        Err(ProtocolError::LengthMismatch { declared, actual, .. })
            if declared == frame.len() && actual == frame.len() + 1
    ));
    assert!(matches!(
        decode_frame(&frame[..frame.len() - 1]),
        Err(ProtocolError::LengthMismatch { .. })
    ));
}

#[test]
fn a_bad_checksum_is_reported() {
    let msg = OpMsg {
        flags: MsgFlags::CHECKSUM_PRESENT,
        ..hello_msg()
    };
    let mut frame = msg.encode(1, 0).expect("encodes");
    frame[8] ^= 0x80; // responseTo is covered by the checksum too
    let err = decode(&frame).expect_err("corrupt");
    assert!(matches!(err, ProtocolError::BadChecksum { .. }));
    assert!(err.to_string().starts_with("OP_MSG checksum mismatch"));
}

#[test]
fn error_messages_are_precise() {
    let err = decode(&header_bytes(100, OpCode::from(2005))).expect_err("legacy op");
    assert_eq!(err.to_string(), "unknown or unsupported op code 2005");
    let err = decode(&60_000_000i32.to_le_bytes()).expect_err("too large");
    assert_eq!(
        err.to_string(),
        "message of 60000000 bytes exceeds the maximum of 48000000 bytes"
    );
    let mut frame = hello_msg().encode(1, 0).expect("encodes");
    frame[16] = 0x04;
    let err = decode(&frame).expect_err("bit 2");
    assert_eq!(
        err.to_string(),
        "unknown required OP_MSG flag bits set: 0x0004"
    );
}
