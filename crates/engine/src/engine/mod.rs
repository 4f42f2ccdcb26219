//! The engine handle: one node's state behind a lock, the command loop, transactions and
//! reply decoration.

mod replica;
mod transactions;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bson::{Binary, Bson, Document, RawDocumentBuf, Timestamp, doc, spec::BinarySubtype};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::clock::{ClusterClock, Ts};
use crate::commands::{self, CommandSpec, Exec};
use crate::cursor::Cursors;
use crate::error::{CommandError, CommandResult, ErrorCode, labels};
use crate::failpoint::{FailAction, FailPoints};
use crate::oplog::{Oplog, OplogEntry};
use crate::replication::Replication;
use crate::reply::Reply;
use crate::request::{GenericFields, ReadConcernLevel, Request, SessionArguments};
use crate::session::TxnState;
use crate::storage::{Catalog, TxnId};
use crate::unit::{StatementError, WriteUnit};

/// The wire version of MongoDB 8.0, which the engine reports.
pub const MAX_WIRE_VERSION: i32 = 25;

/// How an engine behaves.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Transactions open longer than this are aborted (`transactionLifetimeLimitSeconds`).
    pub transaction_lifetime: Duration,
    /// How many recent oplog entries are kept for [`Engine::oplog_after`] (default: none;
    /// subscribers get every entry regardless).
    pub oplog_capacity: usize,
    /// How far back snapshot reads (`atClusterTime`) can go: committed versions are kept this
    /// long (`minSnapshotHistoryWindowInSeconds`, 300 s by default, as in `mongod`). A hot
    /// document keeps every version written in the window.
    pub snapshot_history: Duration,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            transaction_lifetime: Duration::from_secs(60),
            oplog_capacity: 0,
            snapshot_history: Duration::from_secs(300),
        }
    }
}

/// How a node describes itself in `hello`: its replica set and its role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The replica set name (`setName`).
    pub set_name: String,
    /// This member's address (`me`).
    pub me: String,
    /// Every member's address (`hosts`).
    pub hosts: Vec<String>,
    /// The primary's address, if one is known.
    pub primary: Option<String>,
    /// Whether this member is the primary.
    pub is_primary: bool,
    /// The member's tags (`tags` in `hello`), which read preferences may select on.
    pub tags: Document,
}

impl Default for NodeInfo {
    /// The primary of a one-member replica set `rs0` at `localhost:27017`.
    fn default() -> NodeInfo {
        let me = "localhost:27017".to_owned();
        NodeInfo {
            set_name: "rs0".to_owned(),
            hosts: vec![me.clone()],
            primary: Some(me.clone()),
            me,
            is_primary: true,
            tags: Document::new(),
        }
    }
}

/// Who sends a command: what the client said of itself in its handshake.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The application name (`client.application.name`), which fail points may select.
    pub app_name: Option<String>,
    /// The connection's id, reported by `hello`.
    pub connection_id: Option<i64>,
}

/// The client of commands run without one.
static ANONYMOUS: ClientInfo = ClientInfo {
    app_name: None,
    connection_id: None,
};

/// The connection was closed without a reply (the `closeConnection` fail point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection closed without a reply")]
pub struct ConnectionClosed;

/// An embedded node that answers MongoDB commands.
///
/// Cheap to clone (a handle to shared state); `Send + Sync`. Commands never block a thread:
/// the state lock is held only while a command computes, and waits (for another transaction to
/// end, for a fail point's delay) are async.
///
/// ```
/// # tokio_test_block_on(async {
/// use bson::doc;
/// use causeway_engine::Engine;
///
/// let engine = Engine::new();
/// let reply = engine.run_command("shop", doc! {"insert": "orders", "documents": [{"sku": "abc123", "qty": 100}]}).await?;
/// assert_eq!(reply.get_i32("n")?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime").block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("cluster_time", &self.shared.clock.now())
            .finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
    clock: Arc<ClusterClock>,
    failpoints: Mutex<FailPoints>,
    txn_ended: watch::Sender<u64>,
    next_unit: AtomicU64,
    options: EngineOptions,
    node: parking_lot::RwLock<NodeInfo>,
    process_id: bson::oid::ObjectId,
    topology_counter: AtomicU64,
    topology_changed: watch::Sender<u64>,
    /// Documents examined by queries.
    scanned_objects: AtomicU64,
    /// The replica set this node belongs to, and its index in it.
    replication: Option<(Arc<Replication>, usize)>,
}

/// The data of one node, guarded by the engine's lock.
#[derive(Debug)]
pub(crate) struct State {
    pub catalog: Catalog,
    pub sessions: crate::session::SessionTable,
    pub cursors: Cursors,
    pub oplog: Oplog,
    /// The newest commit time; new snapshots read here.
    pub last_committed: Ts,
    /// Snapshot times of open transactions, with counts.
    snapshots: BTreeMap<Ts, usize>,
    /// Counts transactions that ended; waiters for a transaction to end watch it.
    ended_seq: u64,
    open_transactions: usize,
    last_sweep: Instant,
    /// Versions older than this may have been reclaimed: snapshot reads before it fail.
    history_floor: Ts,
}

/// A command's result before decoration.
struct Outcome {
    reply: Reply,
    /// `operationTime`: the commit time of its write, or its read time.
    op_time: Ts,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    /// A node with default options and its own cluster clock.
    pub fn new() -> Engine {
        Engine::with_options(EngineOptions::default())
    }

    /// A node with these options.
    pub fn with_options(options: EngineOptions) -> Engine {
        Engine::with_clock(options, Arc::new(ClusterClock::new()))
    }

    /// A node sharing a cluster clock with other members of its deployment.
    pub fn with_clock(options: EngineOptions, clock: Arc<ClusterClock>) -> Engine {
        Engine::build(options, clock, None)
    }

    /// Member `index` of a replica set whose progress `replication` tracks.
    pub fn member(
        options: EngineOptions,
        clock: Arc<ClusterClock>,
        replication: Arc<Replication>,
        index: usize,
        node: NodeInfo,
    ) -> Engine {
        let engine = Engine::build(options, clock, Some((replication, index)));
        *engine.shared.node.write() = node;
        engine
    }

    fn build(
        options: EngineOptions,
        clock: Arc<ClusterClock>,
        replication: Option<(Arc<Replication>, usize)>,
    ) -> Engine {
        let start = clock.now();
        let state = State {
            catalog: Catalog::new(),
            sessions: Default::default(),
            cursors: Cursors::default(),
            oplog: Oplog::new(options.oplog_capacity),
            last_committed: start,
            snapshots: BTreeMap::new(),
            ended_seq: 0,
            open_transactions: 0,
            last_sweep: Instant::now(),
            history_floor: Ts::ZERO,
        };
        Engine {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                clock,
                failpoints: Mutex::new(FailPoints::default()),
                txn_ended: watch::channel(0).0,
                next_unit: AtomicU64::new(1),
                options,
                node: parking_lot::RwLock::new(NodeInfo::default()),
                process_id: bson::oid::ObjectId::new(),
                topology_counter: AtomicU64::new(0),
                topology_changed: watch::channel(0).0,
                scanned_objects: AtomicU64::new(0),
                replication,
            }),
        }
    }

    /// How the node describes itself.
    pub fn node_info(&self) -> NodeInfo {
        self.shared.node.read().clone()
    }

    /// Changes how the node describes itself (its role in a replica set); `hello` reports a
    /// new topology version.
    pub fn set_node_info(&self, info: NodeInfo) {
        *self.shared.node.write() = info;
        let counter = self.shared.topology_counter.fetch_add(1, Ordering::AcqRel) + 1;
        self.shared.topology_changed.send_replace(counter);
    }

    /// The topology version `hello` reports (`{processId, counter}`).
    pub fn topology_version(&self) -> Document {
        doc! {
            "processId": self.shared.process_id,
            "counter": self.shared.topology_counter.load(Ordering::Acquire) as i64,
        }
    }

    /// For an awaitable `hello`: waits until the topology version is no longer `known` (the
    /// one the client last saw), at most `max_wait`. Returns at once if it already differs.
    /// A waiting client costs nothing: the wait is a timer and a channel.
    pub async fn wait_for_topology_change(&self, known: &Document, max_wait: Duration) {
        let mut changed = self.shared.topology_changed.subscribe();
        if *known != self.topology_version() {
            return;
        }
        let _ = tokio::time::timeout(max_wait, changed.changed()).await;
    }

    /// The newest cluster time this node has seen or made.
    pub fn cluster_time(&self) -> Ts {
        self.shared.clock.now()
    }

    /// The newest commit time.
    pub fn last_committed(&self) -> Ts {
        self.shared.state.lock().last_committed
    }

    /// A receiver of every oplog entry committed from now on, in order.
    pub fn subscribe_oplog(&self) -> mpsc::UnboundedReceiver<Arc<OplogEntry>> {
        self.shared.state.lock().oplog.subscribe()
    }

    /// The retained oplog entries later than `after`, oldest first.
    pub fn oplog_after(&self, after: Ts) -> Vec<Arc<OplogEntry>> {
        self.shared.state.lock().oplog.read_after(after)
    }

    /// Runs one command on database `db` for an anonymous client; see [`Engine::run_command_as`].
    pub fn run_command<'a>(
        &'a self,
        db: &'a str,
        command: Document,
    ) -> impl Future<Output = Result<Document, ConnectionClosed>> + 'a {
        self.run_command_as(&ANONYMOUS, db, command)
    }

    /// Runs one command on database `db` and returns the reply `mongod` would send: `{ok: 1,
    /// ...}` or `{ok: 0, errmsg, code, codeName, errorLabels}`, always with `operationTime` and
    /// `$clusterTime`. `Err(ConnectionClosed)` means the connection must close without a reply.
    ///
    /// Nothing happens until the future is first polled.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would hold its arguments twice"
    )]
    pub fn run_command_as<'a>(
        &'a self,
        client: &'a ClientInfo,
        db: &'a str,
        command: Document,
    ) -> impl Future<Output = Result<Document, ConnectionClosed>> + 'a {
        async move {
            let answer = self.run_document(client, db, command, true).await?;
            Ok(answer.into_response(true).into_document())
        }
    }

    /// Runs one command as [`Engine::run_command_as`] does and returns the reply encoded as
    /// BSON, the bytes the wire carries. The same reply, made for less: `operationTime` and
    /// `$clusterTime` are written into the encoding instead of being inserted into a
    /// document first (eleven allocations per reply), and the whole encoding takes one
    /// allocation of its exact size.
    ///
    /// ```
    /// # tokio_test_block_on(async {
    /// use bson::doc;
    /// use causeway_engine::{ClientInfo, Engine};
    ///
    /// let engine = Engine::new();
    /// let command = doc! {"insert": "orders", "documents": [{"sku": "abc123", "qty": 100}]};
    /// let reply = engine.run_command_encoded(&ClientInfo::default(), "shop", command).await?;
    /// assert_eq!(reply.get_i32("n")?, 1);
    /// assert!(reply.get_timestamp("operationTime").is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # });
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime").block_on(f)
    /// # }
    /// ```
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would hold its arguments twice"
    )]
    pub fn run_command_encoded<'a>(
        &'a self,
        client: &'a ClientInfo,
        db: &'a str,
        command: Document,
    ) -> impl Future<Output = Result<RawDocumentBuf, ConnectionClosed>> + 'a {
        async move {
            let answer = self.run_document(client, db, command, false).await?;
            Ok(answer.into_encoded())
        }
    }

    /// Runs a command that carries its session arguments as fields; `reply_gets_times` says
    /// whether the reply document will get the times as fields (and so is made with room
    /// for them).
    //
    // This and the other entry points return async blocks rather than being `async fn`s: an
    // `async fn` keeps its by-value arguments twice in its state, and every caller's future
    // holds this one.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would hold its arguments twice"
    )]
    fn run_document<'a>(
        &'a self,
        client: &'a ClientInfo,
        db: &'a str,
        command: Document,
        reply_gets_times: bool,
    ) -> impl Future<Output = Result<Answer, ConnectionClosed>> + 'a {
        async move {
            // The fields are found inside the awaited expression, so that this future keeps no
            // room for them while the command runs.
            {
                let fields = GenericFields::find(&command);
                if let Some(ts) = fields.cluster_time {
                    self.shared.clock.advance(ts);
                }
                let (action, summary) = self.admit(
                    client,
                    &command,
                    fields.has_txn_number(),
                    fields.has_autocommit(),
                );
                let request = Request::parse_found(db, command, fields, reply_gets_times);
                self.respond(client, summary, action, request)
            }
            .await
        }
    }

    /// Runs one command whose session arguments come apart from it, as an in-process client
    /// sends them: nothing is written into the command to be parsed back, and the times come
    /// back as values instead of reply fields. Otherwise the same as
    /// [`Engine::run_command_as`]: the session arguments the body carries itself are ignored.
    ///
    /// ```
    /// # tokio_test_block_on(async {
    /// use bson::doc;
    /// use causeway_engine::{ClientInfo, Engine};
    /// use causeway_engine::request::SessionArguments;
    ///
    /// let engine = Engine::new();
    /// let command = doc! {"insert": "orders", "documents": [{"sku": "abc123", "qty": 100}]};
    /// let response = engine
    ///     .run_with_session(&ClientInfo::default(), "shop", command, SessionArguments::default())
    ///     .await?;
    /// assert_eq!(response.reply.get_i32("n")?, 1);
    /// assert!(response.operation_time <= response.cluster_time);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # });
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime").block_on(f)
    /// # }
    /// ```
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would hold its arguments twice"
    )]
    pub fn run_with_session<'a>(
        &'a self,
        client: &'a ClientInfo,
        db: &'a str,
        command: Document,
        session: SessionArguments,
    ) -> impl Future<Output = Result<Response, ConnectionClosed>> + 'a {
        // An async block for the reason given at `run_document`.
        async move {
            if let Some(ts) = session.cluster_time {
                self.shared.clock.advance(ts);
            }
            let (action, summary) = self.admit(
                client,
                &command,
                session.txn_number.is_some(),
                session.autocommit.is_some(),
            );
            let request = Request::with_session(db, command, session);
            let answer = self.respond(client, summary, action, request).await?;
            Ok(answer.into_response(false))
        }
    }

    /// What a fail point does to `command` from `client`, if one fires, and what the label
    /// rules need to know of the command.
    fn admit(
        &self,
        client: &ClientInfo,
        command: &Document,
        has_txn_number: bool,
        has_autocommit: bool,
    ) -> (Option<Box<FailAction>>, RequestSummary) {
        let name = command.keys().next().map_or("", String::as_str);
        // Boxed: fail points fire rarely, and every command's future would carry its room.
        let action = self
            .shared
            .failpoints
            .lock()
            .check(name, client.app_name.as_deref())
            .map(Box::new);
        let summary = RequestSummary {
            commit_or_abort: matches!(name, "commitTransaction" | "abortTransaction"),
            has_txn_number,
            has_autocommit,
        };
        (action, summary)
    }

    /// Runs a parsed command (or answers its parse error), doing what a fail point that
    /// fired for it says.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would hold its arguments twice"
    )]
    fn respond<'a>(
        &'a self,
        client: &'a ClientInfo,
        summary: RequestSummary,
        action: Option<Box<FailAction>>,
        request: CommandResult<Request<'a>>,
    ) -> impl Future<Output = Result<Answer, ConnectionClosed>> + 'a {
        // An async block for the reason given at `run_document`.
        async move {
            let mut labels_override = None;
            let mut injected_wc_error = None;
            if let Some(action) = action {
                let FailAction {
                    close_connection,
                    block,
                    error,
                    write_concern_error,
                    labels_override: lo,
                } = *action;
                if let Some(delay) = block {
                    tokio::time::sleep(delay).await;
                }
                if close_connection {
                    return Err(ConnectionClosed);
                }
                labels_override = lo;
                if let Some(error) = error {
                    let reply = error.to_reply().into();
                    return Ok(self.decorate(reply, None, &summary, labels_override.as_deref()));
                }
                injected_wc_error = write_concern_error;
            }
            // Matched by reference: moved into a local, the request would take room twice in
            // this future while the command runs.
            let result = match &request {
                Ok(req) if matches!(req.name(), "hello" | "isMaster" | "ismaster") => {
                    Ok(self.hello(req, client))
                }
                Ok(req) => self.execute(req).await,
                Err(e) => Err(e.clone()),
            };
            let (mut reply, op_time) = match result {
                Ok(outcome) => (outcome.reply, Some(outcome.op_time)),
                Err(e) => (e.to_reply().into(), None),
            };
            if let Some(wce) = injected_wc_error {
                reply.edit(|reply| {
                    reply.insert("writeConcernError", wce);
                });
            }
            Ok(self.decorate(reply, op_time, &summary, labels_override.as_deref()))
        }
    }

    /// Adds the error labels, and the operation and cluster times.
    fn decorate(
        &self,
        mut reply: Reply,
        op_time: Option<Ts>,
        req: &RequestSummary,
        labels_override: Option<&[String]>,
    ) -> Answer {
        // A reply kept as values is a success without a write concern error.
        let (code, wc_code) = reply.as_document().map_or((None, None), |reply| {
            let code = match reply.get("ok") {
                Some(Bson::Double(ok)) if *ok == 0.0 => reply.get_i32("code").ok(),
                _ => None,
            };
            let wc_code = match reply.get("writeConcernError") {
                Some(Bson::Document(wce)) => wce.get_i32("code").ok(),
                _ => None,
            };
            (code, wc_code)
        });
        if code.is_some() || wc_code.is_some() || labels_override.is_some() {
            reply.edit(|reply| {
                let labels: Vec<String> = match labels_override {
                    Some(labels) => labels.to_vec(),
                    None => {
                        let mut labels: Vec<String> = match reply.get("errorLabels") {
                            Some(Bson::Array(existing)) => existing
                                .iter()
                                .filter_map(|l| l.as_str().map(str::to_owned))
                                .collect(),
                            _ => Vec::new(),
                        };
                        for label in req.labels(code, wc_code) {
                            if !labels.iter().any(|l| l == label) {
                                labels.push(label.to_owned());
                            }
                        }
                        labels
                    }
                };
                reply.remove("errorLabels");
                if !labels.is_empty() {
                    reply.insert("errorLabels", labels);
                }
            });
        }
        let op_time = op_time.unwrap_or_else(|| self.shared.state.lock().last_committed);
        Answer {
            reply,
            operation_time: op_time.to_bson(),
            cluster_time: self.shared.clock.now().to_bson(),
        }
    }

    /// The `hello` / `isMaster` reply.
    fn hello(&self, req: &Request<'_>, client: &ClientInfo) -> Outcome {
        let node = self.shared.node.read().clone();
        let (last, majority) = {
            let state = self.shared.state.lock();
            (state.last_committed, self.majority_point(&state))
        };
        let legacy = req.name() != "hello";
        let mut reply = Document::new();
        if req.body.get("helloOk") == Some(&Bson::Boolean(true)) {
            reply.insert("helloOk", true);
        }
        reply.insert("topologyVersion", self.topology_version());
        reply.insert("hosts", node.hosts.clone());
        reply.insert("setName", node.set_name.clone());
        reply.insert("setVersion", 1);
        reply.insert(
            if legacy {
                "ismaster"
            } else {
                "isWritablePrimary"
            },
            node.is_primary,
        );
        reply.insert("secondary", !node.is_primary);
        if let Some(primary) = &node.primary {
            reply.insert("primary", primary.clone());
        }
        reply.insert("me", node.me.clone());
        if !node.tags.is_empty() {
            reply.insert("tags", node.tags.clone());
        }
        if node.is_primary {
            reply.insert(
                "electionId",
                bson::oid::ObjectId::from_bytes([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1]),
            );
        }
        let write_date = bson::DateTime::from_millis(i64::from(last.seconds()) * 1000);
        reply.insert(
            "lastWrite",
            doc! {
                "opTime": {"ts": last.to_bson(), "t": 1_i64},
                "lastWriteDate": write_date,
                "majorityOpTime": {"ts": majority.to_bson(), "t": 1_i64},
                "majorityWriteDate": bson::DateTime::from_millis(i64::from(majority.seconds()) * 1000),
            },
        );
        reply.insert("maxBsonObjectSize", 16 * 1024 * 1024);
        reply.insert("maxMessageSizeBytes", 48_000_000);
        reply.insert("maxWriteBatchSize", 100_000);
        reply.insert("localTime", bson::DateTime::now());
        reply.insert("logicalSessionTimeoutMinutes", 30);
        reply.insert("connectionId", client.connection_id.unwrap_or(0));
        reply.insert("minWireVersion", 0);
        reply.insert("maxWireVersion", MAX_WIRE_VERSION);
        reply.insert("readOnly", false);
        reply.insert("ok", 1.0);
        Outcome {
            reply: reply.into(),
            op_time: last,
        }
    }

    fn next_unit_id(&self) -> TxnId {
        TxnId(self.shared.next_unit.fetch_add(1, Ordering::Relaxed))
    }

    async fn execute(&self, req: &Request<'_>) -> CommandResult<Outcome> {
        let Some(spec) = commands::lookup(req.name()) else {
            return Err(CommandError::new(
                ErrorCode::CommandNotFound,
                format!("no such command: '{}'", req.name()),
            ));
        };
        if spec.admin_only && req.db != "admin" {
            return Err(CommandError::new(
                ErrorCode::Unauthorized,
                format!("{} may only be run against the admin database.", req.name()),
            ));
        }
        self.check_role(spec, req)?;
        self.await_read_point(req).await?;
        let outcome = match spec.name {
            "commitTransaction" => self.commit_transaction(req)?,
            "abortTransaction" => self.abort_transaction(req)?,
            "configureFailPoint" => {
                let count = self.shared.failpoints.lock().configure(&req.body)?;
                let op_time = self.shared.state.lock().last_committed;
                Outcome {
                    reply: crate::reply::of(
                        req.reply_gets_times,
                        [("count", (count as i64).into()), ("ok", 1.0.into())],
                    )
                    .into(),
                    op_time,
                }
            }
            "endSessions" => self.end_sessions(req)?,
            "replSetGetStatus" => self.replica_set_status(),
            _ if req.in_transaction() => self.run_in_transaction(spec, req)?,
            _ => self.run_statement(spec, req).await?,
        };
        let mut outcome = outcome;
        let waits = match spec.name {
            "commitTransaction" | "abortTransaction" => true,
            _ => spec.writes && !req.in_transaction(),
        };
        if waits
            && let Some(wce) = self
                .await_write_concern(req.write_concern.as_ref(), outcome.op_time)
                .await
        {
            outcome.reply.edit(|reply| {
                reply.insert("writeConcernError", wce);
            });
        }
        Ok(outcome)
    }

    /// Runs a command outside a transaction: one write unit, committed at the end; if another
    /// transaction holds a write it needs, waits for that transaction to end and runs again.
    async fn run_statement(
        &self,
        spec: &'static CommandSpec,
        req: &Request<'_>,
    ) -> CommandResult<Outcome> {
        if req
            .read_concern
            .as_ref()
            .is_some_and(|rc| rc.level == Some(ReadConcernLevel::Snapshot))
            && !spec.snapshot_reads
        {
            return Err(CommandError::new(
                ErrorCode::InvalidOptions,
                format!(
                    "Command {} does not support {{ readConcern: {{ level: \"snapshot\" }} }} outside a transaction",
                    spec.name
                ),
            ));
        }
        let deadline = req.max_time.map(|t| Instant::now() + t);
        loop {
            let (seen, blocker_started, mut ended) = {
                let mut guard = self.shared.state.lock();
                let state = &mut *guard;
                self.sweep_expired(state, Instant::now());
                if let Some(reply) = self.retryable_write_replay(state, spec, req)? {
                    return Ok(Outcome {
                        reply: reply.into(),
                        op_time: state.last_committed,
                    });
                }
                let snapshot = self.read_point(state, req)?;
                let mut unit = WriteUnit::new(self.next_unit_id(), snapshot);
                let mut exec = Exec {
                    catalog: &mut state.catalog,
                    cursors: &mut state.cursors,
                    unit: &mut unit,
                    txn: None,
                    lsid: req.lsid.clone(),
                    scanned_objects: &self.shared.scanned_objects,
                    reply_gets_times: req.reply_gets_times,
                };
                match spec.handler.run(&mut exec, req) {
                    Ok(mut reply) => {
                        let committed = self.commit_unit(state, unit)?;
                        if req
                            .read_concern
                            .as_ref()
                            .is_some_and(|rc| rc.level == Some(ReadConcernLevel::Snapshot))
                        {
                            reply.edit(|reply| stamp_snapshot_time(reply, snapshot));
                        }
                        if req.is_retryable_write()
                            && spec.retryable
                            && let (Some(key), Some(number)) = (&req.lsid, req.txn_number)
                        {
                            let session = state.sessions.get_or_create(key, Instant::now());
                            session.retry = Some(crate::session::RetryRecord {
                                command: spec.name.to_owned(),
                                reply: reply.clone().into_document(req.reply_gets_times),
                            });
                            session.txn_number = Some(number);
                        }
                        return Ok(Outcome {
                            reply,
                            op_time: committed.unwrap_or(snapshot),
                        });
                    }
                    Err(StatementError::Failed(e)) => {
                        unit.abort(&mut state.catalog);
                        return Err(e);
                    }
                    Err(StatementError::Blocked(blocker)) => {
                        unit.abort(&mut state.catalog);
                        // Subscribed under the lock: an end after it is either seen in the
                        // value or woken for (see `end_transaction`).
                        (
                            state.ended_seq,
                            self.transaction_start(state, blocker),
                            self.shared.txn_ended.subscribe(),
                        )
                    }
                }
            };
            let lifetime_end =
                blocker_started.map(|s| s + self.shared.options.transaction_lifetime);
            let wake = match (deadline, lifetime_end) {
                (Some(d), Some(l)) => Some(d.min(l)),
                (d, l) => d.or(l),
            };
            let wait = ended.wait_for(|seq| *seq > seen);
            match wake {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at, wait).await;
                }
                None => {
                    let _ = wait.await;
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(CommandError::new(
                    ErrorCode::MaxTimeMSExpired,
                    "operation exceeded time limit",
                ));
            }
        }
    }

    /// For a retryable write already executed with this `txnNumber`, its recorded reply.
    fn retryable_write_replay(
        &self,
        state: &mut State,
        spec: &CommandSpec,
        req: &Request<'_>,
    ) -> CommandResult<Option<Document>> {
        let (Some(key), Some(number)) = (&req.lsid, req.txn_number) else {
            return Ok(None);
        };
        if !req.is_retryable_write() {
            return Ok(None);
        }
        if !spec.retryable {
            return Err(CommandError::new(
                ErrorCode::OperationNotSupportedInTransaction,
                format!(
                    "Command '{}' is not supported as a retryable write",
                    spec.name
                ),
            ));
        }
        let now = Instant::now();
        let session = state.sessions.get_or_create(key, now);
        match session.txn_number {
            Some(current) if number < current => Err(CommandError::new(
                ErrorCode::TransactionTooOld,
                format!(
                    "Retryable write with txnNumber {number} is prohibited on session because a newer retryable write with txnNumber {current} has already started on this session."
                ),
            )),
            Some(current) if number == current => match (&session.txn, &session.retry) {
                (TxnState::None, Some(record)) if record.command == spec.name => {
                    Ok(Some(record.reply.clone()))
                }
                (TxnState::None, _) => Ok(None),
                _ => Err(CommandError::new(
                    ErrorCode::IllegalOperation,
                    format!(
                        "txnNumber {number} was used to start a transaction, so it cannot be used for a retryable write"
                    ),
                )),
            },
            _ => {
                let old = std::mem::replace(&mut session.txn, TxnState::None);
                session.txn_number = Some(number);
                session.retry = None;
                if let TxnState::InProgress(txn) = old {
                    self.end_transaction(state, *txn, false)?;
                }
                Ok(None)
            }
        }
    }

    /// The snapshot a statement (or a transaction's first command) reads: the newest commit,
    /// or the majority commit point for `majority` and `snapshot` read concerns, or the given
    /// `atClusterTime`. A time older than the kept history is `SnapshotTooOld`.
    fn read_point(&self, state: &mut State, req: &Request<'_>) -> CommandResult<Ts> {
        let Some(rc) = &req.read_concern else {
            return Ok(state.last_committed);
        };
        let primary = self.shared.node.read().is_primary;
        for wanted in [rc.after_cluster_time, rc.at_cluster_time]
            .into_iter()
            .flatten()
        {
            if wanted > self.shared.clock.now() {
                return Err(CommandError::new(
                    ErrorCode::InvalidOptions,
                    "readConcern afterClusterTime value must not be greater than the current clusterTime",
                ));
            }
            // On a primary, a no-op write would move the optime past `wanted`; in memory,
            // moving the read point there is the same. A secondary has waited for it.
            if primary && wanted > state.last_committed {
                state.last_committed = wanted;
            }
        }
        match (rc.level, rc.at_cluster_time) {
            (Some(ReadConcernLevel::Snapshot), Some(at)) => {
                if at < state.history_floor {
                    return Err(CommandError::new(
                        ErrorCode::SnapshotTooOld,
                        format!(
                            "Read timestamp {:?} is older than the oldest available timestamp",
                            at.to_bson()
                        ),
                    ));
                }
                if at > state.last_committed {
                    return Err(CommandError::new(
                        ErrorCode::SnapshotUnavailable,
                        "atClusterTime is later than the newest commit on this node",
                    ));
                }
                Ok(at)
            }
            (Some(ReadConcernLevel::Snapshot | ReadConcernLevel::Majority), _) => {
                Ok(self.majority_point(state))
            }
            _ => Ok(state.last_committed),
        }
    }

    /// Commits a unit's writes at a new cluster time; `None` if it wrote nothing.
    fn commit_unit(&self, state: &mut State, unit: WriteUnit) -> CommandResult<Option<Ts>> {
        if unit.is_empty() {
            return Ok(None);
        }
        let ts = self.shared.clock.tick();
        let horizon = self.horizon(state, ts);
        let replicated = state.oplog.is_read();
        let (ops, truncated) = unit.commit(&mut state.catalog, ts, horizon, replicated)?;
        state.history_floor = state
            .history_floor
            .max(horizon.soft)
            .max(truncated.unwrap_or(Ts::ZERO));
        state.last_committed = ts;
        if replicated {
            state.oplog.push(OplogEntry {
                ts,
                wall: Instant::now(),
                ops,
            });
        }
        if let Some((replication, me)) = &self.shared.replication {
            replication.record(*me, ts);
        }
        Ok(Some(ts))
    }
}

/// `$clusterTime` as replies carry it; the signature is all zeros (no keys are configured).
pub fn cluster_time_document(ts: Ts) -> Document {
    // Every reply carries one: copying a finished document is cheaper than building it.
    static UNSIGNED: LazyLock<Document> = LazyLock::new(|| {
        doc! {
            "clusterTime": Ts::ZERO.to_bson(),
            "signature": {
                "hash": Binary { subtype: BinarySubtype::Generic, bytes: vec![0; 20] },
                "keyId": 0_i64,
            },
        }
    });
    let mut document = UNSIGNED.clone();
    if let Some(time) = document.get_mut("clusterTime") {
        *time = Bson::Timestamp(ts.to_bson());
    }
    document
}

/// A command's reply with its times, before the caller's form is chosen: a [`Response`] (a
/// document) or the encoded bytes.
struct Answer {
    reply: Reply,
    operation_time: Timestamp,
    cluster_time: Timestamp,
}

impl Answer {
    /// The reply as a document, with room for the times as fields if they will be added
    /// (`room`, see `Request::reply_gets_times`).
    fn into_response(self, room: bool) -> Response {
        Response {
            reply: self.reply.into_document(room),
            operation_time: self.operation_time,
            cluster_time: self.cluster_time,
        }
    }

    /// The reply as `mongod` sends it, encoded as BSON in one allocation; a reply kept as
    /// values is written from them. A reply `bson` cannot encode (a key with a NUL byte)
    /// becomes an `InternalError` reply saying so.
    fn into_encoded(self) -> RawDocumentBuf {
        if let Some(bytes) =
            crate::encoding::encode_reply(&self.reply, self.operation_time, self.cluster_time)
            && let Ok(encoded) = RawDocumentBuf::from_bytes(bytes)
        {
            return encoded;
        }
        let (operation_time, cluster_time) = (self.operation_time, self.cluster_time);
        let document = self.into_response(true).into_document();
        match RawDocumentBuf::try_from(&document) {
            Ok(encoded) => encoded,
            Err(e) => Answer {
                reply: CommandError::new(
                    ErrorCode::InternalError,
                    format!("the reply cannot be encoded as BSON: {e}"),
                )
                .to_reply()
                .into(),
                operation_time,
                cluster_time,
            }
            .into_encoded(),
        }
    }
}

/// A command's reply, with the times that go along with it.
#[derive(Debug, Clone)]
pub struct Response {
    /// The reply, with its error labels but without `operationTime` and `$clusterTime`.
    pub reply: Document,
    /// `operationTime`: the commit time of the command's write, or its read time.
    pub operation_time: Timestamp,
    /// The time of `$clusterTime`: the newest the node has seen or made. The node signs
    /// nothing, so the time is all the `$clusterTime` document holds.
    pub cluster_time: Timestamp,
}

impl Response {
    /// The reply as `mongod` sends it, encoded as BSON: [`Response::into_document`]'s
    /// document, written in one allocation. A reply `bson` cannot encode (a key with a NUL
    /// byte) becomes an `InternalError` reply saying so.
    pub fn into_encoded(self) -> RawDocumentBuf {
        Answer {
            reply: self.reply.into(),
            operation_time: self.operation_time,
            cluster_time: self.cluster_time,
        }
        .into_encoded()
    }

    /// The reply as `mongod` sends it, with `operationTime` and `$clusterTime`.
    pub fn into_document(self) -> Document {
        let mut reply = self.reply;
        reply.insert("operationTime", self.operation_time);
        reply.insert(
            "$clusterTime",
            cluster_time_document(Ts::from_bson(self.cluster_time)),
        );
        reply
    }
}

/// What the label rules need to know of a command.
struct RequestSummary {
    /// It is `commitTransaction` or `abortTransaction`.
    commit_or_abort: bool,
    has_txn_number: bool,
    has_autocommit: bool,
}

impl RequestSummary {
    /// The labels `mongod` gives a reply with error `code` and write-concern error `wc_code`.
    fn labels(&self, code: Option<i32>, wc_code: Option<i32>) -> Vec<&'static str> {
        let commit_or_abort = self.commit_or_abort;
        if let Some(code) = code
            && self.has_txn_number
            && self.has_autocommit
            && ErrorCode::is_transient_transaction_error(code, wc_code.is_some(), commit_or_abort)
        {
            return vec![labels::TRANSIENT_TRANSACTION_ERROR];
        }
        let retryable_write = self.has_txn_number && !self.has_autocommit;
        let txn_end = self.has_txn_number && self.has_autocommit && commit_or_abort;
        if (retryable_write || txn_end)
            && (code.is_some_and(ErrorCode::is_retriable)
                || wc_code.is_some_and(ErrorCode::is_retriable))
        {
            return vec![labels::RETRYABLE_WRITE_ERROR];
        }
        Vec::new()
    }
}

/// Snapshot reads report the time they read at: in the cursor (`find`, `aggregate`) or at the
/// top level (`distinct`).
fn stamp_snapshot_time(reply: &mut Document, at: Ts) {
    match reply.get_mut("cursor") {
        Some(Bson::Document(cursor)) => {
            cursor.insert("atClusterTime", at.to_bson());
        }
        _ => {
            reply.insert("atClusterTime", at.to_bson());
        }
    }
}
