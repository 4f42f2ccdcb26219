//! `with_transaction`: run a body in a transaction, commit on `Ok`, abort on `Err`, panic or
//! cancellation, and retry on the labels that say a retry may succeed — the algorithm of the
//! convenient transactions API specification, step for step.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;
use tracing::Instrument;

use crate::action::BoxFuture;
use crate::errors::{Error, ErrorKind, Label, find_error};
use crate::options::TransactionOptions;
use crate::session::{ClientSession, Txn};

/// The first backoff step.
const BACKOFF_INITIAL: Duration = Duration::from_millis(5);
/// The largest backoff.
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// How long `with_transaction` keeps retrying by default.
const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(120);

/// The backoff before transaction attempt `attempt` (counting from 0):
/// `jitter * min(5 ms * 1.5^attempt, 500 ms)`, with `jitter` in `[0, 1]`.
pub fn backoff_delay(attempt: u32, jitter: f64) -> Duration {
    let exponential =
        BACKOFF_INITIAL.as_secs_f64() * 1.5_f64.powi(i32::try_from(attempt).unwrap_or(i32::MAX));
    let capped = exponential.min(BACKOFF_MAX.as_secs_f64());
    Duration::from_secs_f64(capped * jitter.clamp(0.0, 1.0))
}

/// Why an attempt runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptPhase {
    /// The transaction runs (the body is called): the first time, or again after a
    /// `TransientTransactionError`.
    Transaction,
    /// Only the commit is sent again, after an `UnknownTransactionCommitResult`.
    CommitRetry,
}

/// One attempt of `with_transaction`, as the [`RetryPolicy::on_attempt`] hook and the
/// `tracing` span of the attempt see it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Attempt {
    /// 1 for the first transaction attempt, counting transaction attempts.
    pub number: u32,
    /// What runs.
    pub phase: AttemptPhase,
    /// How long `with_transaction` slept before it.
    pub backoff: Duration,
    /// The labels of the error that caused this retry (empty for the first attempt).
    pub retry_labels: Vec<Label>,
}

/// How `with_transaction` retries: a time limit (120 s by default, as the specification
/// says), an optional maximum number of transaction attempts, the jitter source of the
/// backoff, and a hook that sees every attempt.
///
/// Time is tokio's clock, so tests can pause it; the jitter source can be fixed, so backoffs
/// are exact.
#[derive(Clone)]
pub struct RetryPolicy {
    time_limit: Duration,
    max_attempts: Option<u32>,
    jitter: Arc<dyn Fn() -> f64 + Send + Sync>,
    on_attempt: Option<AttemptHook>,
}

/// The hook [`RetryPolicy::on_attempt`] installs.
type AttemptHook = Arc<dyn Fn(&Attempt) + Send + Sync>;

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("time_limit", &self.time_limit)
            .field("max_attempts", &self.max_attempts)
            .field("on_attempt", &self.on_attempt.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            time_limit: DEFAULT_TIME_LIMIT,
            max_attempts: None,
            jitter: Arc::new(rand::random::<f64>),
            on_attempt: None,
        }
    }
}

impl RetryPolicy {
    /// The default policy: 120 s, no attempt limit, random jitter.
    pub fn new() -> RetryPolicy {
        RetryPolicy::default()
    }

    /// Stop retrying once this much time has passed since the call began.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// Run the transaction at most this many times.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// The source of jitter, a number in `[0, 1]` per backoff (random by default).
    pub fn jitter(mut self, source: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.jitter = Arc::new(source);
        self
    }

    /// A hook called at the start of every attempt.
    pub fn on_attempt(mut self, hook: impl Fn(&Attempt) + Send + Sync + 'static) -> Self {
        self.on_attempt = Some(Arc::new(hook));
        self
    }

    /// The backoff before transaction attempt `attempt` (counting from 0), with this policy's
    /// jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        backoff_delay(attempt, (self.jitter)())
    }

    fn notify(&self, attempt: &Attempt) {
        if let Some(hook) = &self.on_attempt {
            hook(attempt);
        }
    }
}

/// Runs a transaction body with commit and retries; built by
/// [`ClientSession::with_transaction`]. Await it.
#[must_use = "the transaction runs when awaited"]
pub struct WithTransaction<'s, F> {
    session: &'s mut ClientSession,
    body: F,
    options: TransactionOptions,
    policy: Option<RetryPolicy>,
}

impl<'s, F> WithTransaction<'s, F> {
    /// Options of the transaction (unset fields come from the session's defaults, then the
    /// client).
    pub fn options(mut self, options: TransactionOptions) -> Self {
        self.options = options;
        self
    }

    /// The retry policy of this call (instead of the session's).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = Some(policy);
        self
    }
}

impl ClientSession {
    /// Runs `body` in a transaction: commits when it returns `Ok`, aborts when it returns
    /// `Err`, panics (the panic then continues) or is cancelled (the future dropped), and
    /// retries — the whole body on a `TransientTransactionError`, only the commit on an
    /// `UnknownTransactionCommitResult` — within the retry policy's time limit, with
    /// exponential backoff and jitter.
    ///
    /// The body gets a [`Txn`]; operations through [`Txn::collection`] run in the transaction.
    /// It may borrow the enclosing scope: copy references into it and use `move` closures
    /// with `async move` blocks, which keeps the future `Send` (it runs in `tokio::spawn` and
    /// in web handlers).
    ///
    /// The body may return its own error type `E`; a causeway [`Error`] found in `E` (itself
    /// or in its `source()` chain) decides the retry by its labels.
    ///
    /// **The body may run more than once**, so its side effects outside the database must be
    /// idempotent. **It must not swallow command errors**: a failed command aborts the
    /// transaction on the server; if the body still returns `Ok`, `with_transaction` returns an
    /// error of kind [`ErrorKind::SwallowedError`] naming the swallowed error instead of
    /// committing.
    ///
    /// ```
    /// # async fn example() -> causeway::Result<()> {
    /// use bson::{Document, doc};
    ///
    /// let client = causeway::Client::embedded();
    /// let shop = client.database("shop");
    /// let orders = shop.collection::<Document>("orders");
    /// let inventory = shop.collection::<Document>("inventory");
    /// inventory.insert_one(doc! {"sku": "abc123", "qty": 100}).await?;
    ///
    /// let order = doc! {"sku": "abc123", "qty": 100};
    /// let mut session = client.start_session().await?;
    /// let (orders, inventory, order) = (&orders, &inventory, &order);
    /// let order_id = session
    ///     .with_transaction(move |txn| async move {
    ///         let inserted = txn.collection(orders).insert_one(order).await?;
    ///         txn.collection(inventory)
    ///             .update_one(doc! {"sku": "abc123", "qty": {"$gte": 100}}, doc! {"$inc": {"qty": -100}})
    ///             .await?;
    ///         Ok::<_, causeway::Error>(inserted.inserted_id)
    ///     })
    ///     .await?;
    /// # let _ = order_id;
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
    /// ```
    pub fn with_transaction<'s, F, Fut, T, E>(&'s mut self, body: F) -> WithTransaction<'s, F>
    where
        F: FnMut(&'s Txn) -> Fut + Send + 's,
        Fut: Future<Output = Result<T, E>> + Send + 's,
        T: Send + 's,
        E: From<Error> + std::error::Error + Send + 'static,
    {
        WithTransaction {
            session: self,
            body,
            options: TransactionOptions::default(),
            policy: None,
        }
    }
}

impl<'s, F, Fut, T, E> IntoFuture for WithTransaction<'s, F>
where
    F: FnMut(&'s Txn) -> Fut + Send + 's,
    Fut: Future<Output = Result<T, E>> + Send + 's,
    T: Send + 's,
    E: From<Error> + std::error::Error + Send + 'static,
{
    type Output = Result<T, E>;
    type IntoFuture = BoxFuture<'s, Result<T, E>>;

    fn into_future(self) -> Self::IntoFuture {
        let policy = self
            .policy
            .unwrap_or_else(|| self.session.retry_policy.clone());
        let txn: &'s Txn = &self.session.txn;
        Box::pin(run(txn, self.body, self.options, policy))
    }
}

/// Aborts the transaction if the attempt's future is dropped (cancellation) while it is
/// open. The abort is queued to the client's background task; the session is usable at once.
struct CancelGuard<'s> {
    txn: Option<&'s Txn>,
}

impl CancelGuard<'_> {
    fn disarm(&mut self) {
        self.txn = None;
    }
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if let Some(txn) = self.txn {
            txn.abandon();
        }
    }
}

/// The causeway error a body's error carries, if any.
fn driver_error<E: std::error::Error + 'static>(error: &E) -> Option<&Error> {
    find_error(error)
}

async fn run<'s, F, Fut, T, E>(
    txn: &'s Txn,
    mut body: F,
    options: TransactionOptions,
    policy: RetryPolicy,
) -> Result<T, E>
where
    F: FnMut(&'s Txn) -> Fut + Send + 's,
    Fut: Future<Output = Result<T, E>> + Send + 's,
    E: From<Error> + std::error::Error + Send + 'static,
{
    let start = Instant::now();
    let mut attempt: u32 = 0;
    let mut last_error: Option<Error> = None;
    'transaction: loop {
        let mut backoff = Duration::ZERO;
        if let Some(last) = &last_error {
            if policy.max_attempts.is_some_and(|max| attempt >= max) {
                return Err(E::from(last.clone()));
            }
            backoff = policy.backoff(attempt);
            if start.elapsed() + backoff >= policy.time_limit {
                return Err(E::from(Error::timeout(
                    "with_transaction ran out of time to retry",
                    last.clone(),
                )));
            }
            tokio::time::sleep(backoff).await;
        }
        txn.begin(&options).map_err(E::from)?;
        attempt += 1;
        let retry_labels = last_error
            .as_ref()
            .map(|e| e.labels().to_vec())
            .unwrap_or_default();
        let span = tracing::info_span!(
            "transaction attempt",
            attempt,
            backoff_ms = backoff.as_secs_f64() * 1000.0,
            retry_labels = ?retry_labels,
        );
        policy.notify(&Attempt {
            number: attempt,
            phase: AttemptPhase::Transaction,
            backoff,
            retry_labels,
        });

        let mut guard = CancelGuard { txn: Some(txn) };
        let outcome = AssertUnwindSafe(body(txn))
            .catch_unwind()
            .instrument(span.clone())
            .await;
        let value = match outcome {
            Err(panic) => {
                if txn.is_active() {
                    let _ = txn.abort_transaction().instrument(span).await;
                }
                guard.disarm();
                std::panic::resume_unwind(panic);
            }
            Ok(Err(error)) => {
                if txn.is_active() {
                    let _ = txn.abort_transaction().instrument(span.clone()).await;
                }
                guard.disarm();
                let cause = driver_error(&error).cloned();
                match cause {
                    Some(cause) if cause.is_transient() => {
                        if start.elapsed() >= policy.time_limit {
                            return Err(E::from(Error::timeout(
                                "with_transaction ran out of time to retry",
                                cause,
                            )));
                        }
                        span.in_scope(|| tracing::debug!(labels = ?cause.labels(), "retrying the transaction"));
                        last_error = Some(cause);
                        continue 'transaction;
                    }
                    _ => return Err(error),
                }
            }
            Ok(Ok(value)) => value,
        };

        if !txn.is_active() {
            // The body committed or aborted by itself.
            guard.disarm();
            return Ok(value);
        }
        if let Some(swallowed) = txn.swallowed_error() {
            let _ = txn.abort_transaction().await;
            guard.disarm();
            let mut error = Error::wrapping(ErrorKind::SwallowedError, swallowed);
            for label in error.labels().to_vec() {
                error.remove_label(&label);
            }
            return Err(E::from(error));
        }
        guard.disarm();

        loop {
            match txn.commit_transaction().instrument(span.clone()).await {
                Ok(()) => return Ok(value),
                Err(error) if error.is_commit_outcome_unknown() && !error.is_max_time_expired() => {
                    if start.elapsed() >= policy.time_limit {
                        return Err(E::from(Error::timeout(
                            "with_transaction ran out of time to retry the commit",
                            error,
                        )));
                    }
                    span.in_scope(
                        || tracing::debug!(labels = ?error.labels(), "retrying the commit"),
                    );
                    policy.notify(&Attempt {
                        number: attempt,
                        phase: AttemptPhase::CommitRetry,
                        backoff: Duration::ZERO,
                        retry_labels: error.labels().to_vec(),
                    });
                }
                Err(error) if error.is_transient() => {
                    last_error = Some(error);
                    continue 'transaction;
                }
                Err(error) => return Err(E::from(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_formula() {
        assert_eq!(backoff_delay(0, 1.0), Duration::from_millis(5));
        assert_eq!(backoff_delay(1, 1.0), Duration::from_secs_f64(0.0075));
        assert_eq!(
            backoff_delay(2, 0.5),
            Duration::from_secs_f64(0.005 * 2.25 * 0.5)
        );
        assert_eq!(
            backoff_delay(20, 1.0),
            Duration::from_millis(500),
            "capped at 500 ms"
        );
        assert_eq!(backoff_delay(3, 0.0), Duration::ZERO);
        let policy = RetryPolicy::new().jitter(|| 0.25);
        assert_eq!(policy.backoff(4), backoff_delay(4, 0.25));
    }
}
