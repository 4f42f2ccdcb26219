//! Read preference, read concern, write concern, and the options of clients, sessions and
//! transactions.
//!
//! Options are inherited downwards: an operation's own settings, else its collection's, else
//! its database's, else the client's. Inside a transaction, the transaction's options apply:
//! those given to `start_transaction`, else the session's default transaction options, else
//! the client's.

use std::time::Duration;

use bson::{Bson, Document, doc};

/// Which members of a replica set a read may go to.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum ReadPreference {
    /// Only the primary (the default; the only choice inside a transaction).
    #[default]
    Primary,
    /// The primary if there is one, else a secondary.
    PrimaryPreferred(SelectionCriteria),
    /// Only secondaries.
    Secondary(SelectionCriteria),
    /// A secondary if there is one, else the primary.
    SecondaryPreferred(SelectionCriteria),
    /// Any member within the latency window.
    Nearest(SelectionCriteria),
}

/// Narrows the members a non-primary read preference may choose.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelectionCriteria {
    /// Tag sets tried in order; a member matches a set if it has every tag in it.
    pub tag_sets: Vec<Document>,
    /// Members lagging the primary by more than this are not chosen.
    pub max_staleness: Option<Duration>,
}

impl ReadPreference {
    /// `secondary` with no tags or staleness limit.
    pub fn secondary() -> ReadPreference {
        ReadPreference::Secondary(SelectionCriteria::default())
    }

    /// `secondaryPreferred` with no tags or staleness limit.
    pub fn secondary_preferred() -> ReadPreference {
        ReadPreference::SecondaryPreferred(SelectionCriteria::default())
    }

    /// `primaryPreferred` with no tags or staleness limit.
    pub fn primary_preferred() -> ReadPreference {
        ReadPreference::PrimaryPreferred(SelectionCriteria::default())
    }

    /// `nearest` with no tags or staleness limit.
    pub fn nearest() -> ReadPreference {
        ReadPreference::Nearest(SelectionCriteria::default())
    }

    /// The mode's name, as the server spells it.
    pub fn mode(&self) -> &'static str {
        match self {
            ReadPreference::Primary => "primary",
            ReadPreference::PrimaryPreferred(_) => "primaryPreferred",
            ReadPreference::Secondary(_) => "secondary",
            ReadPreference::SecondaryPreferred(_) => "secondaryPreferred",
            ReadPreference::Nearest(_) => "nearest",
        }
    }

    /// The selection criteria of a non-primary mode.
    pub fn criteria(&self) -> Option<&SelectionCriteria> {
        match self {
            ReadPreference::Primary => None,
            ReadPreference::PrimaryPreferred(c)
            | ReadPreference::Secondary(c)
            | ReadPreference::SecondaryPreferred(c)
            | ReadPreference::Nearest(c) => Some(c),
        }
    }

    /// The `$readPreference` document.
    pub fn to_document(&self) -> Document {
        let mut doc = doc! {"mode": self.mode()};
        if let Some(criteria) = self.criteria() {
            if !criteria.tag_sets.is_empty() {
                doc.insert(
                    "tags",
                    criteria
                        .tag_sets
                        .iter()
                        .cloned()
                        .map(Bson::Document)
                        .collect::<Vec<_>>(),
                );
            }
            if let Some(staleness) = criteria.max_staleness {
                doc.insert("maxStalenessSeconds", staleness.as_secs() as i64);
            }
        }
        doc
    }
}

/// The isolation level of reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadConcernLevel {
    /// The member's newest data.
    Local,
    /// Data a majority of members has applied: it will not be rolled back.
    Majority,
    /// One point in time across the whole read (transactions and snapshot sessions).
    Snapshot,
    /// Like local, without waiting for shard metadata.
    Available,
    /// Majority data, after confirming the member is still primary.
    Linearizable,
    /// A level this version does not know.
    Custom(String),
}

impl ReadConcernLevel {
    /// The level as the server spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ReadConcernLevel::Local => "local",
            ReadConcernLevel::Majority => "majority",
            ReadConcernLevel::Snapshot => "snapshot",
            ReadConcernLevel::Available => "available",
            ReadConcernLevel::Linearizable => "linearizable",
            ReadConcernLevel::Custom(s) => s,
        }
    }

    /// The level with this spelling.
    pub fn parse(level: &str) -> ReadConcernLevel {
        match level {
            "local" => ReadConcernLevel::Local,
            "majority" => ReadConcernLevel::Majority,
            "snapshot" => ReadConcernLevel::Snapshot,
            "available" => ReadConcernLevel::Available,
            "linearizable" => ReadConcernLevel::Linearizable,
            other => ReadConcernLevel::Custom(other.to_owned()),
        }
    }
}

/// A read concern: how current and how durable the data a read sees must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadConcern {
    /// The level.
    pub level: ReadConcernLevel,
}

impl ReadConcern {
    /// `local`.
    pub fn local() -> ReadConcern {
        ReadConcern {
            level: ReadConcernLevel::Local,
        }
    }

    /// `majority`.
    pub fn majority() -> ReadConcern {
        ReadConcern {
            level: ReadConcernLevel::Majority,
        }
    }

    /// `snapshot`.
    pub fn snapshot() -> ReadConcern {
        ReadConcern {
            level: ReadConcernLevel::Snapshot,
        }
    }

    /// `available`.
    pub fn available() -> ReadConcern {
        ReadConcern {
            level: ReadConcernLevel::Available,
        }
    }

    /// `linearizable`.
    pub fn linearizable() -> ReadConcern {
        ReadConcern {
            level: ReadConcernLevel::Linearizable,
        }
    }
}

/// How many members must acknowledge a write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Acknowledgment {
    /// This many members (`0`: unacknowledged, no reply awaited).
    Nodes(u32),
    /// A majority of the voting members.
    Majority,
    /// A write-concern mode configured on the replica set.
    Custom(String),
}

/// A write concern: what must happen before a write is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteConcern {
    /// `w`: how many members.
    pub w: Option<Acknowledgment>,
    /// `j`: whether to wait for the journal.
    pub journal: Option<bool>,
    /// `wtimeout`: how long to wait for the acknowledgment before reporting an error (the write
    /// stays applied).
    pub w_timeout: Option<Duration>,
}

impl WriteConcern {
    /// `{w: "majority"}`.
    pub fn majority() -> WriteConcern {
        WriteConcern {
            w: Some(Acknowledgment::Majority),
            ..WriteConcern::default()
        }
    }

    /// `{w: n}`.
    pub fn nodes(n: u32) -> WriteConcern {
        WriteConcern {
            w: Some(Acknowledgment::Nodes(n)),
            ..WriteConcern::default()
        }
    }

    /// `{w: 0}`: the write is not acknowledged.
    pub fn unacknowledged() -> WriteConcern {
        WriteConcern::nodes(0)
    }

    /// The same write concern with a `wtimeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> WriteConcern {
        self.w_timeout = Some(timeout);
        self
    }

    /// Whether the write is unacknowledged (`w: 0`, without `j: true`).
    pub fn is_unacknowledged(&self) -> bool {
        self.w == Some(Acknowledgment::Nodes(0)) && self.journal != Some(true)
    }

    /// The `writeConcern` document; `None` if nothing is set.
    pub fn to_document(&self) -> Option<Document> {
        let mut doc = Document::new();
        match &self.w {
            Some(Acknowledgment::Nodes(n)) => {
                doc.insert("w", i32::try_from(*n).unwrap_or(i32::MAX));
            }
            Some(Acknowledgment::Majority) => {
                doc.insert("w", "majority");
            }
            Some(Acknowledgment::Custom(mode)) => {
                doc.insert("w", mode.clone());
            }
            None => {}
        }
        if let Some(j) = self.journal {
            doc.insert("j", j);
        }
        if let Some(timeout) = self.w_timeout {
            doc.insert(
                "wtimeout",
                i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX),
            );
        }
        (!doc.is_empty()).then_some(doc)
    }
}

/// Options of a transaction; unset fields are inherited from the session's default
/// transaction options, then from the client.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TransactionOptions {
    /// The read concern of the whole transaction (sent with its first command).
    pub read_concern: Option<ReadConcern>,
    /// The write concern of the commit (and abort).
    pub write_concern: Option<WriteConcern>,
    /// Must be primary (the default): transactions run on the primary.
    pub read_preference: Option<ReadPreference>,
    /// `maxTimeMS` of `commitTransaction`.
    pub max_commit_time: Option<Duration>,
}

impl TransactionOptions {
    /// Fills unset fields from `defaults`.
    pub(crate) fn or(&self, defaults: &TransactionOptions) -> TransactionOptions {
        TransactionOptions {
            read_concern: self
                .read_concern
                .clone()
                .or_else(|| defaults.read_concern.clone()),
            write_concern: self
                .write_concern
                .clone()
                .or_else(|| defaults.write_concern.clone()),
            read_preference: self
                .read_preference
                .clone()
                .or_else(|| defaults.read_preference.clone()),
            max_commit_time: self.max_commit_time.or(defaults.max_commit_time),
        }
    }
}

/// Options of a session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionOptions {
    /// Reads see the session's own writes and never go back in time (default: `true`, unless
    /// `snapshot` is set).
    pub causal_consistency: Option<bool>,
    /// Every read of the session sees one point in time (default: `false`).
    pub snapshot: Option<bool>,
    /// Options for transactions started on the session.
    pub default_transaction_options: Option<TransactionOptions>,
    /// For a snapshot session: the time to read at (default: fixed by the first read).
    pub snapshot_time: Option<bson::Timestamp>,
}

/// Options of a client: the defaults of every operation.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// The default read preference.
    pub read_preference: Option<ReadPreference>,
    /// The default read concern.
    pub read_concern: Option<ReadConcern>,
    /// The default write concern.
    pub write_concern: Option<WriteConcern>,
    /// Retry a failed write once when the server says it may (default: `true`).
    pub retry_writes: bool,
    /// Retry a failed read once when the server says it may (default: `true`).
    pub retry_reads: bool,
    /// The application name the client announces.
    pub app_name: Option<String>,
    /// Receives an event for every command sent (see [`crate::events`]).
    pub command_event_handler: Option<crate::events::EventHandler>,
    /// How long to wait for a reply before giving up on the connection (a network error);
    /// `None` waits as long as it takes.
    pub socket_timeout: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            read_preference: None,
            read_concern: None,
            write_concern: None,
            retry_writes: true,
            retry_reads: true,
            app_name: None,
            command_event_handler: None,
            socket_timeout: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_concern_documents() {
        assert_eq!(WriteConcern::default().to_document(), None);
        assert_eq!(
            WriteConcern::majority()
                .with_timeout(Duration::from_secs(10))
                .to_document(),
            Some(doc! {"w": "majority", "wtimeout": 10_000_i64})
        );
        assert!(WriteConcern::unacknowledged().is_unacknowledged());
    }

    #[test]
    fn transaction_options_inherit_unset_fields() {
        let explicit = TransactionOptions {
            read_concern: Some(ReadConcern::snapshot()),
            ..Default::default()
        };
        let defaults = TransactionOptions {
            read_concern: Some(ReadConcern::local()),
            write_concern: Some(WriteConcern::majority()),
            ..Default::default()
        };
        let merged = explicit.or(&defaults);
        assert_eq!(merged.read_concern, Some(ReadConcern::snapshot()));
        assert_eq!(merged.write_concern, Some(WriteConcern::majority()));
    }

    #[test]
    fn read_preference_documents() {
        assert_eq!(
            ReadPreference::Primary.to_document(),
            doc! {"mode": "primary"}
        );
        let pref = ReadPreference::Secondary(SelectionCriteria {
            tag_sets: vec![doc! {"dc": "east"}],
            max_staleness: Some(Duration::from_secs(90)),
        });
        assert_eq!(
            pref.to_document(),
            doc! {"mode": "secondary", "tags": [{"dc": "east"}], "maxStalenessSeconds": 90_i64}
        );
    }
}
