//! The `$clusterTime` a session or client has seen: ordered by its time only (the signature
//! goes along unchanged), and only ever moved forward.

use std::cmp::Ordering;
use std::sync::Arc;

use bson::{Document, Timestamp};

/// A `$clusterTime` and its time; cheap to clone (the document is shared).
#[derive(Debug, Clone)]
pub(crate) struct ClusterTime {
    time: Timestamp,
    /// The document as a server sent it, signature included; `None` for an unsigned time
    /// (the embedded engine's, which signs nothing and gives the time alone).
    document: Option<Arc<Document>>,
}

impl ClusterTime {
    /// The cluster time a `$clusterTime` document holds, if it has one.
    pub fn from_document(document: &Document) -> Option<ClusterTime> {
        let time = document.get_timestamp("clusterTime").ok()?;
        Some(ClusterTime {
            time,
            document: Some(Arc::new(document.clone())),
        })
    }

    /// An unsigned cluster time.
    pub fn unsigned(time: Timestamp) -> ClusterTime {
        ClusterTime {
            time,
            document: None,
        }
    }

    /// Its time.
    pub fn time(&self) -> Timestamp {
        self.time
    }

    /// The `$clusterTime` document (an unsigned time gets the all-zero signature the
    /// embedded engine itself puts in its replies).
    pub fn document(&self) -> Document {
        match &self.document {
            Some(document) => Document::clone(document),
            None => {
                causeway_engine::cluster_time_document(causeway_engine::Ts::from_bson(self.time))
            }
        }
    }

    /// Replaces `slot` with `newer` if it is later (or `slot` is empty).
    pub fn advance(slot: &mut Option<ClusterTime>, newer: &ClusterTime) {
        if slot.as_ref().is_none_or(|current| newer > current) {
            *slot = Some(newer.clone());
        }
    }
}

impl PartialEq for ClusterTime {
    fn eq(&self, other: &ClusterTime) -> bool {
        self.time == other.time
    }
}

impl PartialOrd for ClusterTime {
    fn partial_cmp(&self, other: &ClusterTime) -> Option<Ordering> {
        Some(self.time.cmp(&other.time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn moves_forward_only_and_ignores_the_signature() {
        let at = |time: u32, key: i64| {
            ClusterTime::from_document(&doc! {"clusterTime": Timestamp { time, increment: 1 }, "signature": {"keyId": key}})
                .expect("a cluster time")
        };
        let mut slot = None;
        ClusterTime::advance(&mut slot, &at(5, 1));
        ClusterTime::advance(&mut slot, &at(3, 2));
        assert_eq!(
            slot.as_ref().map(ClusterTime::time),
            Some(Timestamp {
                time: 5,
                increment: 1
            })
        );
        assert_eq!(
            at(5, 1),
            at(5, 9),
            "the signature does not take part in comparisons"
        );
        ClusterTime::advance(&mut slot, &at(6, 2));
        assert_eq!(slot.map(|c| c.time().time), Some(6));
        assert!(ClusterTime::from_document(&doc! {"signature": {}}).is_none());
    }
}
