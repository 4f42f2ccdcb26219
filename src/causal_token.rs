//! A portable causal position: a session's operation time and cluster time as a short string
//! that a web request or a queue message can carry, so that a session in another process
//! continues the causal chain.
//!
//! The format is `cw1_` followed by unpadded URL-safe base64 of 44 bytes: the operation time
//! and the cluster time (each `seconds << 32 | increment`, big-endian), then the cluster
//! time's signature key id (big-endian) and its 20-byte hash.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bson::{Binary, Document, Timestamp, doc, spec::BinarySubtype};

use crate::errors::{Error, Result};

const PREFIX: &str = "cw1_";
const LENGTH: usize = 8 + 8 + 8 + 20;

/// A causal position decoded from a token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CausalPosition {
    pub operation_time: Timestamp,
    pub cluster_time: Document,
}

fn pack(ts: Timestamp) -> [u8; 8] {
    ((u64::from(ts.time) << 32) | u64::from(ts.increment)).to_be_bytes()
}

fn unpack(bytes: &[u8]) -> Timestamp {
    let mut buf = [0; 8];
    buf.copy_from_slice(bytes);
    let n = u64::from_be_bytes(buf);
    Timestamp {
        time: (n >> 32) as u32,
        increment: n as u32,
    }
}

/// Encodes an operation time and a `$clusterTime` document.
pub(crate) fn encode(operation_time: Timestamp, cluster_time: &Document) -> Result<String> {
    let time = cluster_time
        .get_timestamp("clusterTime")
        .map_err(|_| Error::invalid_argument("the cluster time has no clusterTime"))?;
    let signature = cluster_time.get_document("signature").ok();
    let key_id = signature.and_then(|s| s.get_i64("keyId").ok()).unwrap_or(0);
    let hash = match signature.and_then(|s| s.get("hash")) {
        Some(bson::Bson::Binary(b)) if b.bytes.len() == 20 => b.bytes.clone(),
        _ => vec![0; 20],
    };
    let mut bytes = Vec::with_capacity(LENGTH);
    bytes.extend_from_slice(&pack(operation_time));
    bytes.extend_from_slice(&pack(time));
    bytes.extend_from_slice(&key_id.to_be_bytes());
    bytes.extend_from_slice(&hash);
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Decodes a token; a malformed one is an `InvalidArgument` error saying what is wrong.
pub(crate) fn decode(token: &str) -> Result<CausalPosition> {
    let body = token.strip_prefix(PREFIX).ok_or_else(|| {
        Error::invalid_argument(format!(
            "malformed causal token: it must start with '{PREFIX}'"
        ))
    })?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|e| Error::invalid_argument(format!("malformed causal token: {e}")))?;
    if bytes.len() != LENGTH {
        return Err(Error::invalid_argument(format!(
            "malformed causal token: {} bytes instead of {LENGTH}",
            bytes.len()
        )));
    }
    let operation_time = unpack(&bytes[0..8]);
    let time = unpack(&bytes[8..16]);
    let mut key = [0; 8];
    key.copy_from_slice(&bytes[16..24]);
    let cluster_time = doc! {
        "clusterTime": time,
        "signature": {
            "hash": Binary { subtype: BinarySubtype::Generic, bytes: bytes[24..44].to_vec() },
            "keyId": i64::from_be_bytes(key),
        },
    };
    Ok(CausalPosition {
        operation_time,
        cluster_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let ct = doc! {"clusterTime": Timestamp { time: 7, increment: 3 }, "signature": {"hash": Binary { subtype: BinarySubtype::Generic, bytes: vec![9; 20] }, "keyId": 42_i64}};
        let token = encode(
            Timestamp {
                time: 7,
                increment: 2,
            },
            &ct,
        )
        .expect("encodes");
        assert!(token.starts_with("cw1_") && token.len() < 70, "{token}");
        let back = decode(&token).expect("decodes");
        assert_eq!(
            back.operation_time,
            Timestamp {
                time: 7,
                increment: 2
            }
        );
        assert_eq!(back.cluster_time, ct);
    }

    #[test]
    fn malformed_tokens_are_refused_with_a_reason() {
        for bad in ["", "cw2_AAAA", "cw1_!!!", "cw1_AAAA"] {
            let error = decode(bad).expect_err("malformed");
            assert!(
                error.to_string().contains("malformed causal token"),
                "{error}"
            );
        }
    }
}
