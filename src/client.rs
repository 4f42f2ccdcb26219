//! The client: the entry point, holding the transport, the session pool and the highest
//! cluster time seen.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bson::{Document, doc};
use causeway_engine::replset::ReplicaSet;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::cluster_time::ClusterTime;
use crate::database::Database;
use crate::errors::Result;
use crate::options::{ClientOptions, SessionOptions, TransactionOptions};
use crate::session::{ClientSession, DEFAULT_SESSION_TIMEOUT, ServerSession, SessionPool};
use crate::transport::{Dispatcher, Embedded, Transport};
use crate::with_transaction::RetryPolicy;

/// A handle to a deployment: cheap to clone, shared by every task.
///
/// ```
/// # async fn example() -> causeway::Result<()> {
/// use bson::doc;
/// use causeway::Client;
///
/// let client = Client::embedded();
/// let inventory = client.database("shop").collection::<bson::Document>("inventory");
/// inventory.insert_one(doc! {"sku": "abc123", "qty": 100}).await?;
/// assert_eq!(inventory.count_documents(doc! {}).await?, 1);
/// client.shutdown().await;
/// # Ok(())
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

#[derive(Debug)]
pub(crate) struct ClientInner {
    pub transport: Arc<Dispatcher>,
    pub options: ClientOptions,
    pub pool: SessionPool,
    pub cluster_time: Mutex<Option<ClusterTime>>,
    aborts: DetachedAborts,
}

/// Commands sent on behalf of a handle that was dropped (the abort of a transaction, the
/// kill of a cursor): a message to a task that already runs, so `Drop` never awaits and never
/// spawns.
#[derive(Debug)]
struct DetachedAborts {
    sender: mpsc::UnboundedSender<(String, Document)>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<(String, Document)>>>,
    worker_started: AtomicBool,
}

impl Client {
    /// A client of a new in-process replica set (a primary and two secondaries, no lag): no
    /// network, no files, nothing to set up.
    pub fn embedded() -> Client {
        Client::embedded_with(ClientOptions::default())
    }

    /// [`Client::embedded`] with options.
    pub fn embedded_with(options: ClientOptions) -> Client {
        Client::on_replica_set(ReplicaSet::default(), options)
    }

    /// A client of an in-process replica set built with [`ReplicaSet::builder`] (members,
    /// lags, tags). Keep a handle to the set to change lags or pause members while it runs;
    /// [`Client::replica_set`] gives one back.
    ///
    /// ```
    /// use std::time::Duration;
    /// use causeway::{Client, ReplicaSet};
    ///
    /// let set = ReplicaSet::builder().members(3).lag(1, Duration::from_millis(300)).build();
    /// let client = Client::on_replica_set(set, Default::default());
    /// assert_eq!(client.replica_set().map(|s| s.len()), Some(3));
    /// ```
    pub fn on_replica_set(set: ReplicaSet, options: ClientOptions) -> Client {
        Client::with_transport(
            Transport::Embedded(Embedded::new(
                set,
                options.app_name.clone(),
                options.socket_timeout,
            )),
            options,
        )
    }

    /// The in-process replica set, for an embedded client.
    pub fn replica_set(&self) -> Option<&ReplicaSet> {
        match self.inner.transport.transport() {
            Transport::Embedded(e) => Some(e.replica_set()),
        }
    }

    /// Another client of the same deployment, with its own options, sessions and command
    /// monitoring (for the embedded transport: the same in-process engine).
    pub fn with_options(&self, options: ClientOptions) -> Client {
        Client::with_transport(
            self.inner
                .transport
                .transport()
                .with_options(options.app_name.clone(), options.socket_timeout),
            options,
        )
    }

    fn with_transport(transport: Transport, options: ClientOptions) -> Client {
        let (sender, receiver) = mpsc::unbounded_channel();
        Client {
            inner: Arc::new(ClientInner {
                transport: Arc::new(Dispatcher::new(
                    transport,
                    options.command_event_handler.clone(),
                )),
                options,
                pool: SessionPool::new(DEFAULT_SESSION_TIMEOUT),
                cluster_time: Mutex::new(None),
                aborts: DetachedAborts {
                    sender,
                    receiver: Mutex::new(Some(receiver)),
                    worker_started: AtomicBool::new(false),
                },
            }),
        }
    }

    /// The client's options.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// A handle to a database (nothing is sent).
    pub fn database(&self, name: &str) -> Database {
        Database::new(self.clone(), name)
    }

    /// Starts a session; see [`StartSession`] for its options.
    pub fn start_session(&self) -> StartSession<'_> {
        StartSession {
            client: self,
            options: SessionOptions::default(),
            retry_policy: None,
        }
    }

    /// The highest cluster time the client has seen.
    pub fn cluster_time(&self) -> Option<Document> {
        self.inner
            .cluster_time
            .lock()
            .as_ref()
            .map(ClusterTime::document)
    }

    /// Ends the idle server sessions on the server (`endSessions`). Call it before the
    /// program exits; operations after it still work, with new sessions.
    pub async fn shutdown(&self) {
        let sessions = self.inner.pool.drain();
        for chunk in sessions.chunks(10_000) {
            let ids: Vec<Document> = chunk.iter().map(ServerSession::lsid).collect();
            let _ = self
                .inner
                .transport
                .run("admin", doc! {"endSessions": ids}, None, None, false)
                .await;
        }
    }

    pub(crate) fn advance_cluster_time(&self, cluster_time: &ClusterTime) {
        ClusterTime::advance(&mut self.inner.cluster_time.lock(), cluster_time);
    }

    /// The client-level defaults of a transaction's options.
    pub(crate) fn transaction_defaults(&self) -> TransactionOptions {
        TransactionOptions {
            read_concern: self.inner.options.read_concern.clone(),
            write_concern: self.inner.options.write_concern.clone(),
            read_preference: self.inner.options.read_preference.clone(),
            max_commit_time: None,
        }
    }

    /// Asks the background worker to abort a transaction whose handle was dropped.
    pub(crate) fn abort_detached(&self, lsid: Document, txn_number: i64) {
        let command = doc! {"abortTransaction": 1, "lsid": lsid, "txnNumber": txn_number, "autocommit": false};
        self.send_detached("admin", command);
    }

    /// Queues a command for the background worker. If no worker runs, no operation ever ran,
    /// so there is nothing on the server to clean up.
    pub(crate) fn send_detached(&self, db: &str, command: Document) {
        let _ = self.inner.aborts.sender.send((db.to_owned(), command));
    }

    /// Starts the abort worker on the first operation (inside the caller's runtime).
    pub(crate) fn ensure_abort_worker(&self) {
        if self.inner.aborts.worker_started.load(Ordering::Acquire) {
            return;
        }
        let Some(mut receiver) = self.inner.aborts.receiver.lock().take() else {
            return;
        };
        self.inner
            .aborts
            .worker_started
            .store(true, Ordering::Release);
        let transport = self.inner.transport.clone();
        tokio::spawn(async move {
            while let Some((db, command)) = receiver.recv().await {
                if let Err(e) = transport.run(&db, command, None, None, false).await {
                    tracing::debug!(error = %e, "cleanup for a dropped handle failed; the server cleans up on its own");
                }
            }
        });
    }
}

/// Starts a session. Await it, or set options first.
#[must_use = "a session starts when the builder is awaited"]
pub struct StartSession<'a> {
    client: &'a Client,
    options: SessionOptions,
    retry_policy: Option<RetryPolicy>,
}

impl StartSession<'_> {
    /// Whether reads see the session's own writes and never go back in time (default: true).
    pub fn causal_consistency(mut self, on: bool) -> Self {
        self.options.causal_consistency = Some(on);
        self
    }

    /// Whether every read of the session sees one point in time (default: false).
    pub fn snapshot(mut self, on: bool) -> Self {
        self.options.snapshot = Some(on);
        self
    }

    /// A snapshot session reading at this time (instead of the time of its first read).
    pub fn snapshot_time(mut self, time: bson::Timestamp) -> Self {
        self.options.snapshot = Some(true);
        self.options.snapshot_time = Some(time);
        self
    }

    /// Options for transactions started on the session.
    pub fn default_transaction_options(mut self, options: TransactionOptions) -> Self {
        self.options.default_transaction_options = Some(options);
        self
    }

    /// All the options at once.
    pub fn options(mut self, options: SessionOptions) -> Self {
        self.options = options;
        self
    }

    /// The retry policy of `with_transaction` on this session.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = Some(policy);
        self
    }

    fn start(self) -> Result<ClientSession> {
        if self.options.snapshot == Some(true) && self.options.causal_consistency == Some(true) {
            return Err(crate::errors::Error::invalid_argument(
                "a session cannot be both causally consistent and a snapshot session",
            ));
        }
        Ok(ClientSession::new(
            self.client.clone(),
            self.options,
            self.retry_policy.unwrap_or_default(),
        ))
    }
}

impl std::future::IntoFuture for StartSession<'_> {
    type Output = Result<ClientSession>;
    type IntoFuture = std::future::Ready<Result<ClientSession>>;

    fn into_future(self) -> Self::IntoFuture {
        std::future::ready(self.start())
    }
}
