//! causeway-engine: an embedded, transactional document store that answers MongoDB command
//! documents the way `mongod` does.
//!
//! The entry point is [`Engine`]: a thread-safe handle whose [`Engine::run_command`] takes a
//! database name and a command document and returns the reply document, exactly the shape the
//! MongoDB wire protocol carries. An in-process client can hand over a session's arguments
//! (`lsid`, `txnNumber`, read and write concern, `$clusterTime`, ...) apart from the command
//! with [`Engine::run_with_session`], and get the reply's times back as values: the same rules,
//! without writing those fields into every command and parsing them back.
//! [`Engine::run_command_encoded`] returns the reply as the BSON bytes the wire carries, the
//! times written straight into the encoding, for a server that sends it on.
//!
//! # Behaviour
//!
//! - **Storage** is multi-version: every committed write installs a version stamped with its
//!   cluster time; a reader sees the newest version at or before its snapshot. Versions no open
//!   snapshot can see are reclaimed as documents are written.
//! - **Transactions** (`startTransaction`, `autocommit: false`) read one snapshot plus their own
//!   writes. A write that meets a newer committed version, or another transaction's
//!   uncommitted write, fails at once with `WriteConflict` and the `TransientTransactionError`
//!   label, and the transaction is aborted. A write outside a transaction that meets another
//!   transaction's uncommitted write waits for it to end.
//! - **Retryable writes**: a write sent again with the same `lsid` and `txnNumber` returns the
//!   first result and does not apply twice.
//! - **Replies** carry `operationTime` and `$clusterTime`; errors carry `code`, `codeName` and
//!   the `errorLabels` `mongod` would give.
//! - **The oplog** holds one entry per committed write or transaction, for replication.
//! - **Replica sets** ([`replset::ReplicaSet`]): a primary and secondaries in one process, the
//!   secondaries applying the oplog in order, each entry atomically, after a lag that can be
//!   changed, paused and resumed. Write concern (`w`, `wtimeout`) waits for members; read
//!   concern `majority` reads at the majority commit point, `snapshot` at one `atClusterTime`
//!   within the history window; `afterClusterTime` waits until the member has applied it.
//!   Secondaries refuse writes (`NotWritablePrimary`) and reads without a secondary read
//!   preference.
//! - **Fail points** (`configureFailPoint: "failCommand"`) fail, delay or cut chosen commands,
//!   as the MongoDB driver test suites use them.
//! - **Numbers** compare by exact value across `int`, `long`, `double` and `decimal`: a
//!   `Decimal128` is never rounded to a double, in filters, sorts, index keys, `_id`s, groups,
//!   and in the sums, products and quotients of updates and aggregations.
//! - **Updates** take the positional operators `$` (the array element the query matched),
//!   `$[]` and `$[<identifier>]` with `arrayFilters`; `find` takes the positional projection
//!   `{"a.$": 1}`.

pub mod aggregate;
pub mod clock;
mod commands;
pub mod compare;
pub mod cursor;
mod decimal;
mod encoding;
mod engine;
pub mod error;
pub mod exact;
pub mod failpoint;
pub mod keystring;
pub mod oplog;
pub mod query;
pub mod replication;
pub mod replset;
mod reply;
pub mod request;
pub mod session;
pub mod storage;
pub mod unit;

pub use clock::{ClusterClock, Ts};
pub use engine::{
    ClientInfo, ConnectionClosed, Engine, EngineOptions, MAX_WIRE_VERSION, NodeInfo, Response,
    cluster_time_document,
};
pub use error::{CommandError, CommandResult, ErrorCode};
