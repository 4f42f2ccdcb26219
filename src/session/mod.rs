//! Client sessions: causal consistency, the transaction state machine, and how every command
//! sent through a session is decorated and how its reply is absorbed.
//!
//! The rules are those of the MongoDB driver specifications (driver sessions, causal
//! consistency, transactions, retryable writes); each is noted where it is applied.

mod pool;
mod state;

use std::time::Duration;

use bson::{Document, Timestamp};
use parking_lot::Mutex;

use crate::client::Client;
use crate::errors::{Error, Result};
use crate::options::{SessionOptions, TransactionOptions};
use crate::with_transaction::RetryPolicy;

pub(crate) use pool::{ServerSession, SessionPool};
pub use state::TransactionState;
pub(crate) use state::{End, Prepared, SessionState};

/// A logical session: operations sent through it are causally ordered (by default), and it
/// runs transactions.
///
/// Start one with [`Client::start_session`]. A session is used by one task at a time (its
/// methods take `&mut self`); share the client, not the session.
///
/// ```
/// # async fn example() -> causeway::Result<()> {
/// use bson::doc;
/// use causeway::Client;
///
/// let client = Client::embedded();
/// let orders = client.database("shop").collection::<bson::Document>("orders");
/// let mut session = client.start_session().await?;
/// orders.insert_one(doc! {"sku": "abc123", "qty": 100}).session(&mut session).await?;
/// // Causally consistent: this read sees the write above.
/// let order = orders.find_one(doc! {"sku": "abc123"}).session(&mut session).await?;
/// assert!(order.is_some());
/// # Ok(())
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
/// ```
#[derive(Debug)]
pub struct ClientSession {
    pub(crate) txn: Txn,
    pub(crate) retry_policy: RetryPolicy,
}

/// The transaction a [`ClientSession::with_transaction`] body (or a scoped
/// [`Transaction`](crate::Transaction)) runs in: every operation started through it — with
/// [`Txn::collection`] or [`Txn::run_command`] — is part of the transaction.
///
/// It is a shared reference to the session's state (which uses interior mutability), so a
/// body can hold it across awaits and the future stays `Send`.
#[derive(Debug)]
pub struct Txn {
    pub(crate) core: SessionCore,
}

/// What a session operation works with: the client, and the session's state behind a lock
/// held only between awaits.
#[derive(Debug)]
pub(crate) struct SessionCore {
    pub client: Client,
    pub state: Mutex<SessionState>,
}

impl SessionCore {
    /// A session of `client`: explicit (started by the user) or implicit (one operation).
    pub fn new(client: Client, options: SessionOptions, implicit: bool) -> SessionCore {
        let server = client.inner.pool.acquire();
        let state = SessionState::new(server, options, implicit);
        SessionCore {
            client,
            state: Mutex::new(state),
        }
    }

    /// Returns the server session to the pool (once).
    pub fn end(&self) {
        let mut state = self.state.lock();
        if let Some(server) = state.end() {
            self.client.inner.pool.release(server);
        }
    }
}

impl Drop for SessionCore {
    fn drop(&mut self) {
        let aborted = self.state.get_mut().abandon();
        if let Some((lsid, txn_number)) = aborted {
            self.client.abort_detached(lsid, txn_number);
        }
        self.end();
    }
}

impl ClientSession {
    pub(crate) fn new(
        client: Client,
        options: SessionOptions,
        retry_policy: RetryPolicy,
    ) -> ClientSession {
        ClientSession {
            txn: Txn {
                core: SessionCore::new(client, options, false),
            },
            retry_policy,
        }
    }

    /// The client that started the session.
    pub fn client(&self) -> &Client {
        &self.txn.core.client
    }

    /// The session id (`lsid`) the server knows it by.
    pub fn id(&self) -> Document {
        self.txn.core.state.lock().lsid()
    }

    /// The options the session was started with.
    pub fn options(&self) -> SessionOptions {
        self.txn.core.state.lock().options.clone()
    }

    /// The highest cluster time the session has seen (`$clusterTime`).
    pub fn cluster_time(&self) -> Option<Document> {
        self.txn
            .core
            .state
            .lock()
            .cluster_time
            .as_ref()
            .map(crate::cluster_time::ClusterTime::document)
    }

    /// The time of the latest operation the session has seen; causally consistent reads
    /// happen at or after it.
    pub fn operation_time(&self) -> Option<Timestamp> {
        self.txn.core.state.lock().operation_time
    }

    /// Moves the session's cluster time forward to `cluster_time` (a `$clusterTime` document
    /// from another session), if it is later. It never moves back.
    pub fn advance_cluster_time(&mut self, cluster_time: &Document) {
        if let Some(cluster_time) = crate::cluster_time::ClusterTime::from_document(cluster_time) {
            self.txn
                .core
                .state
                .get_mut()
                .advance_cluster_time(&cluster_time);
        }
    }

    /// Moves the session's operation time forward to `operation_time`, if it is later, so
    /// this session's next read is causally after whatever that time covers — typically the
    /// operation time of another session. It never moves back.
    pub fn advance_operation_time(&mut self, operation_time: Timestamp) {
        self.txn
            .core
            .state
            .get_mut()
            .advance_operation_time(operation_time);
    }

    /// The session's causal position as a compact string (operation time and cluster time),
    /// for another session — in this process or another — to continue the causal chain with
    /// [`ClientSession::continue_from`]. `None` before the session's first operation.
    ///
    /// ```
    /// # async fn example() -> causeway::Result<()> {
    /// use bson::{Document, doc};
    ///
    /// let client = causeway::Client::embedded();
    /// let coll = client.database("db").collection::<Document>("c");
    /// let mut writer = client.start_session().await?;
    /// coll.insert_one(doc! {"_id": 1}).session(&mut writer).await?;
    /// let token = writer.causal_token().expect("a position");
    ///
    /// // Elsewhere, e.g. in the handler of the next web request:
    /// let mut reader = client.start_session().await?;
    /// reader.continue_from(&token)?;
    /// assert!(coll.find_one(doc! {"_id": 1}).session(&mut reader).await?.is_some());
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
    /// ```
    pub fn causal_token(&self) -> Option<String> {
        let state = self.txn.core.state.lock();
        let operation_time = state.operation_time?;
        let cluster_time = state.cluster_time.as_ref()?;
        crate::causal_token::encode(operation_time, &cluster_time.document()).ok()
    }

    /// Continues the causal chain of the session that produced `token` (see
    /// [`ClientSession::causal_token`]): this session's next reads happen after everything
    /// that session had seen. A malformed token is an error and changes nothing.
    pub fn continue_from(&mut self, token: &str) -> Result<()> {
        let position = crate::causal_token::decode(token)?;
        self.advance_cluster_time(&position.cluster_time);
        self.advance_operation_time(position.operation_time);
        Ok(())
    }

    /// The time a snapshot session reads at: fixed by its first read, or given when it
    /// started.
    pub fn snapshot_time(&self) -> Option<Timestamp> {
        self.txn.core.state.lock().snapshot_time
    }

    /// Whether the session saw a network error: its server-side state is unknown, so its id is
    /// discarded when the session ends instead of being reused.
    pub fn is_dirty(&self) -> bool {
        self.txn.core.state.lock().is_dirty()
    }

    /// Whether [`ClientSession::end`] has been called.
    pub fn has_ended(&self) -> bool {
        self.txn.core.state.lock().has_ended()
    }

    /// Whether a transaction is open (started and neither committed nor aborted).
    pub fn in_transaction(&self) -> bool {
        self.txn.core.state.lock().in_transaction()
    }

    /// The state of the transaction machine.
    pub fn transaction_state(&self) -> TransactionState {
        self.txn.core.state.lock().txn.clone()
    }

    /// The retry policy `with_transaction` uses unless a call sets its own.
    pub fn set_retry_policy(&mut self, policy: RetryPolicy) {
        self.retry_policy = policy;
    }

    /// Ends the session: an open transaction is aborted and the server session returns to the
    /// pool. Operations on an ended session fail. Dropping the session does the same.
    pub async fn end(&mut self) {
        if self.in_transaction() {
            let _ = self.txn.abort_transaction().await;
        }
        self.txn.core.end();
    }

    /// Starts a transaction: the next operations through the returned handle belong to it.
    /// `commit(self)` commits; `abort(self)` aborts; dropping the handle without either aborts.
    ///
    /// Nothing is sent until the first operation. Fails if a transaction is already open.
    pub async fn start_transaction(&mut self) -> Result<crate::Transaction<'_>> {
        self.start_transaction_with(TransactionOptions::default())
            .await
    }

    /// [`ClientSession::start_transaction`] with options; unset fields come from the
    /// session's default transaction options, then from the client.
    pub async fn start_transaction_with(
        &mut self,
        options: TransactionOptions,
    ) -> Result<crate::Transaction<'_>> {
        self.txn.begin(&options)?;
        Ok(crate::Transaction::new(self))
    }
}

impl ClientSession {
    /// Starts a transaction without a scoped handle — the transactions specification's
    /// `startTransaction`: operations sent with `.session(&mut session)` run in it until
    /// [`ClientSession::commit_transaction`] or [`ClientSession::abort_transaction`].
    ///
    /// Prefer [`ClientSession::start_transaction`] or [`ClientSession::with_transaction`]:
    /// they cannot leave a transaction open by mistake.
    pub fn begin_transaction(&mut self, options: TransactionOptions) -> Result<()> {
        self.txn.begin(&options)
    }

    /// Commits the session's transaction (see [`ClientSession::begin_transaction`]). Calling
    /// it again after a commit sends the commit again, with `w: "majority"`.
    pub async fn commit_transaction(&mut self) -> Result<()> {
        self.txn.commit_transaction().await
    }

    /// Aborts the session's transaction (see [`ClientSession::begin_transaction`]).
    pub async fn abort_transaction(&mut self) -> Result<()> {
        self.txn.abort_transaction().await
    }
}

impl Txn {
    /// Starts another transaction on the session, after the body committed or aborted the
    /// current one (`with_transaction` then commits the new one when the body returns `Ok`).
    /// Fails while a transaction is open.
    pub fn begin_transaction(&self, options: TransactionOptions) -> Result<()> {
        self.begin(&options)
    }

    /// Starts a transaction on the session (state: starting); nothing is sent.
    pub(crate) fn begin(&self, options: &TransactionOptions) -> Result<()> {
        let defaults = self.core.client.transaction_defaults();
        self.core.state.lock().start_transaction(options, &defaults)
    }

    /// Whether the transaction is still open.
    pub fn is_active(&self) -> bool {
        self.core.state.lock().in_transaction()
    }

    /// Commits the transaction. A body of `with_transaction` may commit by itself; the
    /// combinator then does not commit again.
    pub async fn commit(&self) -> Result<()> {
        self.commit_transaction().await
    }

    /// Aborts the transaction. A body of `with_transaction` may abort by itself; the
    /// combinator then returns the body's result without committing.
    pub async fn abort(&self) -> Result<()> {
        self.abort_transaction().await
    }

    /// The session id (`lsid`).
    pub fn session_id(&self) -> Document {
        self.core.state.lock().lsid()
    }

    /// Sends `commitTransaction` (or nothing, for a transaction that wrote nothing), retrying
    /// once on a retryable error with `w: "majority"`.
    pub(crate) async fn commit_transaction(&self) -> Result<()> {
        let plan = self.core.state.lock().plan_commit()?;
        let Some(first_is_retry) = plan else {
            return Ok(());
        };
        let client = self.core.client.clone();
        let result = match client
            .run_transaction_end(
                &self.core,
                state::End::Commit {
                    retry: first_is_retry,
                },
            )
            .await
        {
            Ok(()) => Ok(()),
            // Servers label retryable errors themselves; the client labels network errors.
            Err(e) if e.contains_label(&crate::errors::Label::RetryableWriteError) => {
                tracing::debug!(error = %e, "retrying commitTransaction once with w: majority");
                client
                    .run_transaction_end(&self.core, state::End::Commit { retry: true })
                    .await
            }
            Err(e) => Err(e),
        };
        result.map_err(|e| {
            if e.is_commit_outcome_unknown() {
                Error::wrapping(crate::errors::ErrorKind::CommitOutcomeUnknown, e)
            } else {
                e
            }
        })
    }

    /// Sends `abortTransaction` (or nothing, if nothing was sent in the transaction), retrying
    /// once on a retryable error; errors after that are ignored, as the specification says.
    pub(crate) async fn abort_transaction(&self) -> Result<()> {
        if !self.core.state.lock().plan_abort()? {
            return Ok(());
        }
        let client = self.core.client.clone();
        if let Err(e) = client
            .run_transaction_end(&self.core, state::End::Abort)
            .await
        {
            if e.contains_label(&crate::errors::Label::RetryableWriteError) {
                let _ = client
                    .run_transaction_end(&self.core, state::End::Abort)
                    .await;
            } else {
                tracing::debug!(error = %e, "abortTransaction failed; the server aborts the transaction on its own");
            }
        }
        Ok(())
    }

    /// The error of a command that failed in the current attempt and aborted the transaction
    /// on the server, if any.
    pub(crate) fn swallowed_error(&self) -> Option<Error> {
        self.core.state.lock().failed_command.clone()
    }
}

/// How long the server keeps an idle session, as it reports in `hello`.
pub(crate) const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
