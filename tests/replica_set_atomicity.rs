//! Property: under concurrent transactions and reads, no reader on any member ever sees part
//! of a transaction.

use std::time::Duration;

use bson::{Document, doc};
use causeway::options::{ClientOptions, ReadPreference};
use causeway::{Client, CollectionOptions, ReplicaSet};
use futures_util::TryStreamExt;
use proptest::prelude::*;

const TOTAL: i64 = 1000;

async fn check(lags: [u64; 2], transfers: Vec<(bool, i64)>) -> Result<(), TestCaseError> {
    let set = ReplicaSet::builder()
        .members(3)
        .lag(1, Duration::from_millis(lags[0]))
        .lag(2, Duration::from_millis(lags[1]))
        .build();
    let client = Client::on_replica_set(set, ClientOptions::default());
    let accounts = client.database("bank").collection::<Document>("accounts");
    accounts
        .insert_many([
            doc! {"_id": "a", "balance": TOTAL},
            doc! {"_id": "b", "balance": 0_i64},
        ])
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let writer = {
        let (client, accounts) = (client.clone(), accounts.clone());
        tokio::spawn(async move {
            let mut session = client.start_session().await.expect("session");
            let accounts = &accounts;
            for (from_a, amount) in transfers {
                let (from, to) = if from_a { ("a", "b") } else { ("b", "a") };
                session
                    .with_transaction(move |txn| async move {
                        let coll = txn.collection(accounts);
                        coll.update_one(doc! {"_id": from}, doc! {"$inc": {"balance": -amount}})
                            .await?;
                        tokio::task::yield_now().await;
                        coll.update_one(doc! {"_id": to}, doc! {"$inc": {"balance": amount}})
                            .await?;
                        Ok::<_, causeway::Error>(())
                    })
                    .await
                    .expect("committed");
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let readers: Vec<_> = [
        ReadPreference::secondary(),
        ReadPreference::nearest(),
        ReadPreference::Primary,
    ]
    .into_iter()
    .map(|preference| {
        let accounts = accounts.with_options(CollectionOptions {
            read_preference: Some(preference),
            ..Default::default()
        });
        tokio::spawn(async move {
            for _ in 0..60 {
                let all: Vec<Document> = accounts.find(doc! {}).await?.try_collect().await?;
                let sum: i64 = all.iter().filter_map(|d| d.get_i64("balance").ok()).sum();
                if all.len() == 2 && sum != TOTAL {
                    return Ok::<_, causeway::Error>(Some(all));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(None)
        })
    })
    .collect();
    writer
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    for reader in readers {
        let seen = reader
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(
            seen.is_none(),
            "a reader saw part of a transaction: {:?}",
            seen
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn no_reader_sees_part_of_a_transaction(
        lags in [0u64..40, 0u64..40],
        transfers in proptest::collection::vec((any::<bool>(), 1i64..100), 1..15),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("runtime");
        runtime.block_on(check(lags, transfers))?;
    }
}
