//! Concurrent transactions on one document: conflicts are real, retries converge, nothing is
//! lost.

mod common;

use bson::doc;
use causeway_engine::Engine;
use common::*;

async fn increment_with_retries(engine: &Engine, seed: u8, rounds: usize) -> usize {
    let mut s = Session::new(seed);
    let mut retries = 0;
    for _ in 0..rounds {
        loop {
            s.start();
            let read = run(
                engine,
                "db",
                s.in_txn(doc! {"find": "counter", "filter": {"_id": 1}}),
            )
            .await;
            let reply = if ok(&read) {
                let n = first_batch(&read)[0].get_i64("n").expect("n");
                let write = run(engine, "db", s.in_txn(doc! {"update": "counter", "updates": [{"q": {"_id": 1}, "u": {"$set": {"n": n + 1}}}]})).await;
                if ok(&write) {
                    run(engine, "admin", s.commit()).await
                } else {
                    write
                }
            } else {
                read
            };
            if ok(&reply) {
                break;
            }
            assert!(
                labels(&reply)
                    .iter()
                    .any(|l| l == "TransientTransactionError"),
                "unexpected failure: {reply}"
            );
            run(engine, "admin", s.abort()).await;
            retries += 1;
            tokio::task::yield_now().await;
        }
    }
    retries
}

/// An engine holding the counter document `{_id: 1, n: 0}`.
async fn counter() -> Engine {
    let engine = Engine::new();
    let seed = doc! {"insert": "counter", "documents": [{"_id": 1, "n": 0_i64}]};
    run_ok(&engine, "db", seed).await;
    engine
}

/// One task per session seed, each making `rounds` transactional increments; a task returns
/// how many times it retried.
fn spawn_incrementers(
    engine: &Engine,
    seeds: std::ops::Range<u8>,
    rounds: usize,
) -> Vec<tokio::task::JoinHandle<usize>> {
    seeds
        .map(|seed| {
            let engine = engine.clone();
            tokio::spawn(async move { increment_with_retries(&engine, seed, rounds).await })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tasks_incrementing_one_document_reach_the_exact_total() {
    let engine = counter().await;
    let tasks = spawn_incrementers(&engine, 0..8, 500);
    let mut retries = 0;
    for task in tasks {
        retries += task.await.expect("task");
    }
    let docs = find_all(&engine, "db", "counter", doc! {}).await;
    assert_eq!(docs, vec![doc! {"_id": 1, "n": 4000_i64}]);
    assert!(
        retries > 0,
        "eight writers on one document must have conflicted at least once"
    );
}

/// Writes outside a transaction wait for the transaction holding their document; each
/// transaction's end must wake them, however the two interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_waiting_for_transactions_are_all_woken() {
    let engine = counter().await;
    let transactions = spawn_incrementers(&engine, 40..44, 200);
    let plain_writes: Vec<_> = (0..4)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    let update = doc! {"update": "counter", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1_i64}}}]};
                    run_ok(&engine, "db", update).await;
                }
            })
        })
        .collect();
    // A waiter left asleep would sit until the transaction lifetime (60 s) ran out.
    let all = async {
        for task in transactions {
            task.await.expect("transactions");
        }
        for task in plain_writes {
            task.await.expect("plain writes");
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), all)
        .await
        .expect("every waiting write was woken");
    let docs = find_all(&engine, "db", "counter", doc! {}).await;
    assert_eq!(docs, vec![doc! {"_id": 1, "n": 1600_i64}]);
}
