//! `with_transaction`: commit on Ok, abort on Err, panic and cancellation, and the retry rules
//! of the convenient transactions API.

mod common;

use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use bson::{Bson, Document, doc};
use causeway::{
    Attempt, AttemptPhase, Client, ErrorKind, Label, RetryPolicy, TransactionState, backoff_delay,
};
use common::*;

fn collections(
    client: &Client,
) -> (
    causeway::Collection<Document>,
    causeway::Collection<Document>,
) {
    let db = client.database("shop");
    (db.collection("orders"), db.collection("inventory"))
}

#[tokio::test]
async fn commits_when_the_body_returns_ok() {
    let client = Client::embedded();
    let (orders, _) = collections(&client);
    let mut session = client.start_session().await.expect("session");
    let orders_ref = &orders;
    let id = session
        .with_transaction(move |txn| async move {
            let r = txn
                .collection(orders_ref)
                .insert_one(doc! {"_id": 1, "sku": "abc123"})
                .await?;
            Ok::<_, causeway::Error>(r.inserted_id)
        })
        .await
        .expect("committed");
    assert_eq!(id, Bson::Int32(1));
    assert_eq!(
        contents(&orders).await,
        vec![doc! {"_id": 1, "sku": "abc123"}]
    );
}

#[derive(Debug, thiserror::Error)]
enum ShopError {
    #[error("out of stock: {0}")]
    OutOfStock(String),
    #[error("database: {0}")]
    Database(#[from] causeway::Error),
}

#[tokio::test]
async fn aborts_when_the_body_returns_err_and_returns_the_callers_error_unchanged() {
    let client = Client::embedded();
    let (orders, _) = collections(&client);
    let mut session = client.start_session().await.expect("session");
    let runs = AtomicUsize::new(0);
    let (orders_ref, runs_ref) = (&orders, &runs);
    let result: Result<(), ShopError> = session
        .with_transaction(move |txn| async move {
            runs_ref.fetch_add(1, Ordering::SeqCst);
            txn.collection(orders_ref)
                .insert_one(doc! {"_id": 1})
                .await?;
            Err(ShopError::OutOfStock("abc123".into()))
        })
        .await;
    assert!(
        matches!(result, Err(ShopError::OutOfStock(ref sku)) if sku == "abc123"),
        "{result:?}"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "a non-transient error is not retried"
    );
    assert!(
        contents(&orders).await.is_empty(),
        "nothing of an aborted transaction is visible"
    );
    assert!(!session.in_transaction());
}

#[tokio::test]
async fn a_panic_aborts_reaches_the_caller_and_leaves_the_session_usable() {
    let client = Client::embedded();
    let (orders, _) = collections(&client);
    let outcome = {
        let orders = orders.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let mut session = client.start_session().await.expect("session");
            let orders_ref = &orders;
            let _: Result<(), causeway::Error> = session
                .with_transaction(move |txn| async move {
                    txn.collection(orders_ref)
                        .insert_one(doc! {"_id": 1})
                        .await?;
                    panic!("boom in the body");
                })
                .await;
        })
        .await
    };
    let panic = outcome.expect_err("the panic reaches the caller");
    assert!(panic.is_panic());
    assert!(contents(&orders).await.is_empty());

    // In one task: the session survives a caught panic and commits the next transaction.
    let mut session = client.start_session().await.expect("session");
    let orders_ref = &orders;
    let caught = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        session
            .with_transaction(move |txn| async move {
                txn.collection(orders_ref)
                    .insert_one(doc! {"_id": 2})
                    .await?;
                if txn.is_active() {
                    panic!("boom again");
                }
                Ok::<_, causeway::Error>(())
            })
            .into_future(),
    ))
    .await;
    assert!(caught.is_err());
    assert!(!session.in_transaction());
    session
        .with_transaction(move |txn| async move {
            txn.collection(orders_ref)
                .insert_one(doc! {"_id": 3})
                .await
                .map(|_| ())
        })
        .await
        .expect("the session is usable after a panic");
    assert_eq!(contents(&orders).await, vec![doc! {"_id": 3}]);
}

/// Polls a future `n` times, then drops it; whether it finished.
async fn poll_n_then_drop<F: IntoFuture>(future: F, n: usize) -> bool {
    let mut future = Box::pin(future.into_future());
    for _ in 0..n {
        let ready =
            std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_ready())).await;
        if ready {
            return true;
        }
        // Let other tasks (replication, the abort worker) run between polls.
        tokio::task::yield_now().await;
    }
    false
}

#[tokio::test]
async fn a_future_dropped_at_any_await_point_aborts_and_the_session_stays_usable() {
    let client = Client::embedded();
    let (orders, inventory) = collections(&client);
    inventory
        .insert_one(doc! {"_id": "abc123", "qty": 1000})
        .await
        .expect("seed");
    let mut session = client.start_session().await.expect("session");
    let (orders_ref, inventory_ref) = (&orders, &inventory);
    let mut n = 1;
    loop {
        let finished = poll_n_then_drop(
            session.with_transaction(move |txn| async move {
                txn.collection(orders_ref)
                    .insert_one(doc! {"sku": "abc123"})
                    .await?;
                tokio::task::yield_now().await;
                txn.collection(inventory_ref)
                    .update_one(doc! {"_id": "abc123"}, doc! {"$inc": {"qty": -1}})
                    .await?;
                tokio::task::yield_now().await;
                txn.collection(orders_ref)
                    .insert_one(doc! {"sku": "abc123", "second": true})
                    .await?;
                tokio::task::yield_now().await;
                Ok::<_, causeway::Error>(())
            }),
            n,
        )
        .await;
        if finished {
            break;
        }
        assert!(
            !session.in_transaction(),
            "dropped after {n} polls: the transaction is over"
        );
        // Let the background task deliver the abort.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let orders_now = contents(&orders).await;
        let stock_now = contents(&inventory).await;
        if session.transaction_state() == TransactionState::Committed {
            // Dropped while waiting for the commit's reply: the commit may have happened, but
            // all or nothing of it.
            let committed =
                orders_now.len() == 2 && stock_now == vec![doc! {"_id": "abc123", "qty": 999}];
            let nothing =
                orders_now.is_empty() && stock_now == vec![doc! {"_id": "abc123", "qty": 1000}];
            assert!(
                committed || nothing,
                "dropped after {n} polls during commit: {orders_now:?} {stock_now:?}"
            );
            orders.delete_many(doc! {}).await.expect("reset");
            inventory
                .update_one(doc! {"_id": "abc123"}, doc! {"$set": {"qty": 1000}})
                .await
                .expect("reset");
        } else {
            assert!(
                orders_now.is_empty(),
                "dropped after {n} polls: nothing visible"
            );
            assert_eq!(stock_now, vec![doc! {"_id": "abc123", "qty": 1000}]);
        }
        // Writes to the same documents do not wait: the transaction released them.
        inventory
            .update_one(doc! {"_id": "abc123"}, doc! {"$inc": {"qty": 0}})
            .await
            .expect("not blocked");
        n += 1;
        assert!(n < 50, "the body must finish within a few polls");
    }
    assert!(n > 3, "the body had several await points");
    assert_eq!(
        contents(&orders).await.len(),
        2,
        "the run that was not dropped committed"
    );
}

#[tokio::test]
async fn a_transient_error_runs_the_body_again_and_the_hook_sees_every_attempt() {
    let (client, _) = recorded_client();
    let (orders, _) = collections(&client);
    fail_point(&client, times(2), doc! {"failCommands": ["insert"], "errorCode": 112, "errorLabels": ["TransientTransactionError"]}).await;
    let attempts = Arc::new(Mutex::new(Vec::<Attempt>::new()));
    let sink = attempts.clone();
    let policy = RetryPolicy::new()
        .jitter(|| 1.0)
        .on_attempt(move |a| sink.lock().expect("lock").push(a.clone()));
    let mut session = client.start_session().await.expect("session");
    let runs = AtomicUsize::new(0);
    let (orders_ref, runs_ref) = (&orders, &runs);
    session
        .with_transaction(move |txn| async move {
            runs_ref.fetch_add(1, Ordering::SeqCst);
            txn.collection(orders_ref)
                .insert_one(doc! {"_id": 1})
                .await
                .map(|_| ())
        })
        .retry_policy(policy)
        .await
        .expect("committed on the third attempt");
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let attempts = attempts.lock().expect("lock").clone();
    let numbers: Vec<u32> = attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    assert!(attempts[0].retry_labels.is_empty());
    assert_eq!(
        attempts[1].retry_labels,
        vec![Label::TransientTransactionError]
    );
    assert_eq!(
        attempts[1].backoff,
        backoff_delay(1, 1.0),
        "backoff before attempt 2"
    );
    assert_eq!(
        attempts[2].backoff,
        backoff_delay(2, 1.0),
        "backoff before attempt 3"
    );
    assert_eq!(contents(&orders).await, vec![doc! {"_id": 1}]);
}

#[tokio::test]
async fn an_unknown_commit_result_retries_only_the_commit_with_majority() {
    let (client, sent) = recorded_client();
    let (orders, _) = collections(&client);
    fail_point(
        &client,
        times(2),
        doc! {"failCommands": ["commitTransaction"], "errorCode": 91, "closeConnection": false},
    )
    .await;
    let phases = Arc::new(Mutex::new(Vec::new()));
    let sink = phases.clone();
    let policy = RetryPolicy::new().on_attempt(move |a| sink.lock().expect("lock").push(a.phase));
    let mut session = client.start_session().await.expect("session");
    let runs = AtomicUsize::new(0);
    let (orders_ref, runs_ref) = (&orders, &runs);
    session
        .with_transaction(move |txn| async move {
            runs_ref.fetch_add(1, Ordering::SeqCst);
            txn.collection(orders_ref)
                .insert_one(doc! {"_id": 1})
                .await
                .map(|_| ())
        })
        .retry_policy(policy)
        .await
        .expect("committed");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the body ran once");
    let commits = sent.named("commitTransaction");
    assert_eq!(
        commits.len(),
        3,
        "commit, its retry, then with_transaction's retry"
    );
    assert!(commits[0].get("writeConcern").is_none());
    for retry in &commits[1..] {
        assert_eq!(
            retry.get_document("writeConcern").ok(),
            Some(&doc! {"w": "majority", "wtimeout": 10_000_i64})
        );
    }
    assert_eq!(
        *phases.lock().expect("lock"),
        vec![AttemptPhase::Transaction, AttemptPhase::CommitRetry]
    );
    assert_eq!(contents(&orders).await.len(), 1);
}

#[tokio::test]
async fn max_time_ms_expired_on_commit_is_not_retried() {
    let (client, sent) = recorded_client();
    let (orders, _) = collections(&client);
    fail_point(
        &client,
        times(1),
        doc! {"failCommands": ["commitTransaction"], "errorCode": 50},
    )
    .await;
    let mut session = client.start_session().await.expect("session");
    let orders_ref = &orders;
    let error = session
        .with_transaction(move |txn| async move {
            txn.collection(orders_ref)
                .insert_one(doc! {"_id": 1})
                .await
                .map(|_| ())
        })
        .await
        .expect_err("MaxTimeMSExpired ends it");
    assert_eq!(error.code_name(), Some("MaxTimeMSExpired"));
    assert!(error.is_commit_outcome_unknown());
    assert!(matches!(error.kind(), ErrorKind::CommitOutcomeUnknown));
    assert_eq!(sent.named("commitTransaction").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn reaching_the_time_limit_returns_the_last_error_with_its_labels() {
    let client = Client::embedded();
    let (orders, _) = collections(&client);
    fail_point(&client, Bson::String("alwaysOn".into()), doc! {"failCommands": ["insert"], "errorCode": 112, "errorLabels": ["TransientTransactionError"]}).await;
    let mut session = client.start_session().await.expect("session");
    let orders_ref = &orders;
    let started = tokio::time::Instant::now();
    let error = session
        .with_transaction(move |txn| async move {
            txn.collection(orders_ref)
                .insert_one(doc! {"_id": 1})
                .await
                .map(|_| ())
        })
        .retry_policy(
            RetryPolicy::new()
                .time_limit(Duration::from_secs(2))
                .jitter(|| 1.0),
        )
        .await
        .expect_err("runs out of time");
    assert!(matches!(error.kind(), ErrorKind::Timeout { .. }), "{error}");
    assert!(
        error.is_transient(),
        "the labels of the last error are copied"
    );
    let source = std::error::Error::source(&error)
        .and_then(|s| s.downcast_ref::<causeway::Error>())
        .expect("a source");
    assert_eq!(source.code_name(), Some("WriteConflict"));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_body_that_commits_or_aborts_by_itself_is_respected() {
    let (client, sent) = recorded_client();
    let (orders, _) = collections(&client);
    let mut session = client.start_session().await.expect("session");
    let orders_ref = &orders;
    session
        .with_transaction(move |txn| async move {
            txn.collection(orders_ref)
                .insert_one(doc! {"_id": 1})
                .await?;
            txn.commit().await
        })
        .await
        .expect("committed by the body");
    assert_eq!(
        sent.named("commitTransaction").len(),
        1,
        "not committed twice"
    );
    session
        .with_transaction(move |txn| async move {
            txn.collection(orders_ref)
                .insert_one(doc! {"_id": 2})
                .await?;
            txn.abort().await
        })
        .await
        .expect("aborted by the body");
    assert_eq!(sent.named("commitTransaction").len(), 1);
    assert_eq!(contents(&orders).await, vec![doc! {"_id": 1}]);
}

#[tokio::test]
async fn a_swallowed_duplicate_key_fails_fast_naming_it() {
    let client = Client::embedded();
    let (orders, _) = collections(&client);
    orders.insert_one(doc! {"_id": 1}).await.expect("seed");
    let mut session = client.start_session().await.expect("session");
    let runs = AtomicUsize::new(0);
    let (orders_ref, runs_ref) = (&orders, &runs);
    let error = session
        .with_transaction(move |txn| async move {
            runs_ref.fetch_add(1, Ordering::SeqCst);
            let _ignored = txn.collection(orders_ref).insert_one(doc! {"_id": 1}).await;
            txn.collection(orders_ref)
                .insert_one(doc! {"_id": 2})
                .await
                .ok();
            Ok::<_, causeway::Error>(())
        })
        .await
        .expect_err("a swallowed error is caught");
    assert!(matches!(error.kind(), ErrorKind::SwallowedError));
    assert!(error.to_string().contains("E11000"), "{error}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "no retry loop");
    assert_eq!(contents(&orders).await, vec![doc! {"_id": 1}]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_read_increment_writes_reach_the_exact_total() {
    let client = Client::embedded();
    let counters = client.database("db").collection::<Document>("counters");
    counters
        .insert_one(doc! {"_id": 1, "n": 0_i64})
        .await
        .expect("seed");
    let retries = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, counters, retries) = (client.clone(), counters.clone(), retries.clone());
            tokio::spawn(async move {
                let mut session = client.start_session().await.expect("session");
                let hook_retries = retries.clone();
                session.set_retry_policy(RetryPolicy::new().on_attempt(move |a| {
                    if a.number > 1 {
                        hook_retries.fetch_add(1, Ordering::SeqCst);
                    }
                }));
                let counters = &counters;
                for _ in 0..50 {
                    session
                        .with_transaction(move |txn| async move {
                            let coll = txn.collection(counters);
                            let current = coll
                                .find_one(doc! {"_id": 1})
                                .await?
                                .and_then(|d| d.get_i64("n").ok())
                                .unwrap_or(0);
                            coll.update_one(doc! {"_id": 1}, doc! {"$set": {"n": current + 1}})
                                .await?;
                            Ok::<_, causeway::Error>(())
                        })
                        .await
                        .expect("committed");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(
        contents(&counters).await,
        vec![doc! {"_id": 1, "n": 400_i64}]
    );
    assert!(
        retries.load(Ordering::SeqCst) > 0,
        "eight writers on one document conflict"
    );
}

/// Compiles only if the future is `Send`, as in a web handler.
fn assert_send<F: IntoFuture>(future: F) -> F::IntoFuture
where
    F::IntoFuture: Send,
{
    future.into_future()
}

#[tokio::test]
async fn compiles_inside_tokio_spawn_with_borrowed_captures() {
    let client = Client::embedded();
    let handle = tokio::spawn(async move {
        let shop = client.database("shop");
        let orders = shop.collection::<Document>("orders");
        let inventory = shop.collection::<Document>("inventory");
        inventory
            .insert_one(doc! {"sku": "abc123", "qty": 100})
            .await?;
        let order = doc! {"sku": "abc123", "qty": 100};
        let mut session = client.start_session().await?;
        let (orders, inventory, order) = (&orders, &inventory, &order);
        let id = assert_send(session.with_transaction(move |txn| async move {
            let inserted = txn.collection(orders).insert_one(order).await?;
            txn.collection(inventory)
                .update_one(
                    doc! {"sku": "abc123", "qty": {"$gte": 100}},
                    doc! {"$inc": {"qty": -100}},
                )
                .await?;
            Ok::<_, causeway::Error>(inserted.inserted_id)
        }))
        .await?;
        Ok::<_, causeway::Error>(id)
    });
    assert!(matches!(handle.await.expect("task"), Ok(Bson::ObjectId(_))));
}
