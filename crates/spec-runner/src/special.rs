//! Special test operations (`object: testRunner`): fail points, assertions on sessions,
//! commands and the deployment's catalog, and `createEntities`.

use bson::{Bson, Document, doc};
use causeway::{ErrorCode, TransactionState};

use crate::events::Kind;
use crate::matching::{exact_eq, show};
use crate::operations::{self, Failure, Scope, check_args, doc_arg, str_arg};

/// The operations that only make sense on a network connection, and why.
pub const NETWORK_ONLY: &[(&str, &str)] = &[(
    "assertNumberConnectionsCheckedOut",
    "counts checked-out pool connections, which exist only on a network connection",
)];

pub async fn run(scope: Scope<'_>, name: &str, args: &Document) -> Result<(), Failure> {
    let entities = scope.entities;
    match name {
        "failPoint" => {
            check_args(args, name, &["client", "failPoint"])?;
            // The client must exist; the fail point is set through the internal client (one
            // deployment), which keeps `configureFailPoint` out of the entity's events.
            entities.client(str_arg(args, "client", name)?)?;
            let command = doc_arg(args, "failPoint", name)?.clone();
            let fail_point = command
                .get_str("configureFailPoint")
                .map_err(|_| "failPoint needs `configureFailPoint`".to_owned())?
                .to_owned();
            entities
                .setup
                .database("admin")
                .run_command(command)
                .await
                .map_err(|e| format!("configureFailPoint failed: {e}"))?;
            entities
                .fail_points
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(fail_point);
            Ok(())
        }
        "targetedFailPoint" => Err(
            "targetedFailPoint: the session is not pinned to a mongos (the deployment is a replica set)"
                .to_owned(),
        ),
        "assertSessionTransactionState" => {
            check_args(args, name, &["session", "state"])?;
            let session_name = str_arg(args, "session", name)?;
            let want = str_arg(args, "state", name)?;
            if scope.txn.is_some_and(|(s, _)| s == session_name) {
                return Err(format!(
                    "{name} on `{session_name}` inside its withTransaction callback: the transaction handle does not expose the state"
                ));
            }
            let session = entities.session(session_name)?;
            let state = session.session.lock().await.transaction_state();
            let got = match state {
                TransactionState::None => "none",
                TransactionState::Starting => "starting",
                TransactionState::InProgress => "in_progress",
                TransactionState::Committed | TransactionState::CommittedEmpty => "committed",
                TransactionState::Aborted => "aborted",
                _ => "unknown",
            };
            if got != want {
                return Err(format!(
                    "expected transaction state {want}, got {got} ({state:?})"
                ));
            }
            Ok(())
        }
        "assertSessionPinned" => Err(
            "assertSessionPinned: sessions are never pinned on a replica set deployment".to_owned(),
        ),
        "assertSessionUnpinned" => {
            check_args(args, name, &["session"])?;
            entities.session(str_arg(args, "session", name)?)?;
            Ok(())
        }
        "assertSessionDirty" | "assertSessionNotDirty" => {
            check_args(args, name, &["session"])?;
            let session = entities.session(str_arg(args, "session", name)?)?;
            let dirty = session.session.lock().await.is_dirty();
            let want = name == "assertSessionDirty";
            if dirty != want {
                return Err(format!("{name}: the session is {}dirty", if dirty { "" } else { "not " }));
            }
            Ok(())
        }
        "assertSameLsidOnLastTwoCommands" | "assertDifferentLsidOnLastTwoCommands" => {
            check_args(args, name, &["client"])?;
            let client = entities.client(str_arg(args, "client", name)?)?;
            let started: Vec<_> = client
                .events
                .events()
                .into_iter()
                .filter(|e| e.kind == Kind::Started)
                .collect();
            let [.., first, second] = started.as_slice() else {
                return Err(format!(
                    "{name}: fewer than two commandStartedEvents were observed"
                ));
            };
            let lsid = |e: &crate::events::Observed| {
                e.command
                    .as_ref()
                    .and_then(|c| c.get("lsid").cloned())
                    .ok_or_else(|| format!("{name}: `{}` was sent without an lsid", e.command_name))
            };
            let (a, b) = (lsid(first)?, lsid(second)?);
            let same = exact_eq(&a, &b);
            if name == "assertSameLsidOnLastTwoCommands" && !same {
                return Err(format!(
                    "expected `{}` and `{}` to use the same lsid, got {} and {}",
                    first.command_name,
                    second.command_name,
                    show(&a),
                    show(&b)
                ));
            }
            if name == "assertDifferentLsidOnLastTwoCommands" && same {
                return Err(format!(
                    "expected `{}` and `{}` to use different lsids, both used {}",
                    first.command_name,
                    second.command_name,
                    show(&a)
                ));
            }
            Ok(())
        }
        "assertCollectionExists" | "assertCollectionNotExists" => {
            check_args(args, name, &["databaseName", "collectionName"])?;
            let db = str_arg(args, "databaseName", name)?;
            let coll = str_arg(args, "collectionName", name)?;
            let names = entities
                .setup
                .database(db)
                .list_collection_names()
                .await
                .map_err(|e| format!("{name}: listCollections failed: {e}"))?;
            let exists = names.iter().any(|n| n == coll);
            let want = name == "assertCollectionExists";
            if exists != want {
                return Err(format!(
                    "expected collection {db}.{coll} {}to exist; collections: {names:?}",
                    if want { "" } else { "not " }
                ));
            }
            Ok(())
        }
        "assertIndexExists" | "assertIndexNotExists" => {
            check_args(args, name, &["databaseName", "collectionName", "indexName"])?;
            let db = str_arg(args, "databaseName", name)?;
            let coll = str_arg(args, "collectionName", name)?;
            let index = str_arg(args, "indexName", name)?;
            let names = index_names(scope, db, coll).await?;
            let exists = names.iter().any(|n| n == index);
            let want = name == "assertIndexExists";
            if exists != want {
                return Err(format!(
                    "expected index {index} on {db}.{coll} {}to exist; indexes: {names:?}",
                    if want { "" } else { "not " }
                ));
            }
            Ok(())
        }
        "createEntities" => {
            check_args(args, name, &["entities"])?;
            let list = args
                .get("entities")
                .ok_or("createEntities needs `entities`")?;
            entities.create_all(list).await
        }
        "wait" => operations::wait(args).await,
        other => match NETWORK_ONLY.iter().find(|(n, _)| *n == other) {
            Some((_, why)) => Err(format!("{other}: {why}")),
            None => Err(format!("unsupported special operation `{other}`")),
        },
    }
}

/// The names of a collection's indexes (`listIndexes` through the internal client).
async fn index_names(scope: Scope<'_>, db: &str, coll: &str) -> Result<Vec<String>, Failure> {
    let reply = scope
        .entities
        .setup
        .database(db)
        .run_command(doc! {"listIndexes": coll, "cursor": {"batchSize": 100_000}})
        .await;
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) if e.has_code(ErrorCode::NamespaceNotFound) => return Ok(Vec::new()),
        Err(e) => return Err(format!("listIndexes on {db}.{coll} failed: {e}")),
    };
    let batch = reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .map_err(|_| format!("listIndexes reply without cursor.firstBatch: {reply}"))?;
    Ok(batch
        .iter()
        .filter_map(Bson::as_document)
        .filter_map(|d| d.get_str("name").ok().map(str::to_owned))
        .collect())
}
