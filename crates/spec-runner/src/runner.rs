//! Running a test file: schema version, requirements, and for each test a fresh embedded
//! deployment with its initial data, entities, operations, expected events and outcome.

use std::path::Path;
use std::time::Duration;

use bson::{Bson, Document, doc};
use causeway::options::{ReadConcern, ReadPreference, WriteConcern};
use causeway::{Client, CollectionOptions};
use futures_util::TryStreamExt;

use crate::entities::Entities;
use crate::events::check_client_events;
use crate::matching::{exact_eq, parse_extended_json, show, show_doc};
use crate::operations::{Scope, run_operation};
use crate::requirements::{Deployment, parse_version};
use crate::special::NETWORK_ONLY;

/// The newest schema version the runner implements.
const SCHEMA_MAX: [u64; 3] = [1, 9, u64::MAX];

/// How long one test may take before it counts as hung.
const TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the clean-up after a test may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The verdict on one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// The first difference, or why the test could not run.
    Fail(String),
    /// Why the test does not apply to this deployment.
    Skip(String),
}

/// One test's verdict.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub description: String,
    pub verdict: Verdict,
}

fn whole_file(verdict: Verdict) -> Vec<TestResult> {
    vec![TestResult {
        description: "(file)".to_owned(),
        verdict,
    }]
}

/// Runs every test of a file.
pub async fn run_file(path: &Path, deployment: &Deployment) -> Vec<TestResult> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return whole_file(Verdict::Fail(format!("cannot read the file: {e}"))),
    };
    let file = match parse_extended_json(&text) {
        Ok(Bson::Document(doc)) => doc,
        Ok(_) => return whole_file(Verdict::Fail("the file is not a JSON object".to_owned())),
        Err(e) => return whole_file(Verdict::Fail(format!("malformed test file: {e}"))),
    };
    let Ok(tests) = file.get_array("tests") else {
        return whole_file(Verdict::Fail("the file has no `tests` array".to_owned()));
    };
    let description = |test: &Bson| {
        test.as_document()
            .and_then(|t| t.get_str("description").ok())
            .unwrap_or("(no description)")
            .to_owned()
    };
    let file_verdict = file_verdict(&file, deployment);
    let mut results = Vec::new();
    for test in tests {
        let verdict = match (&file_verdict, test) {
            (Some(verdict), _) => verdict.clone(),
            (None, Bson::Document(test)) => run_test(&file, test, deployment).await,
            (None, _) => Verdict::Fail("a test must be a document".to_owned()),
        };
        results.push(TestResult {
            description: description(test),
            verdict,
        });
    }
    results
}

/// The verdict every test of the file gets, if the file cannot run as a whole.
fn file_verdict(file: &Document, deployment: &Deployment) -> Option<Verdict> {
    let version = match file.get_str("schemaVersion") {
        Ok(v) => v,
        Err(_) => return Some(Verdict::Fail("the file has no schemaVersion".to_owned())),
    };
    match parse_version(version) {
        Ok(v) if v[0] == SCHEMA_MAX[0] && v <= SCHEMA_MAX => {}
        Ok(_) => {
            return Some(Verdict::Fail(format!(
                "schemaVersion {version} is not supported (the runner implements 1.0 to 1.9)"
            )));
        }
        Err(e) => return Some(Verdict::Fail(e)),
    }
    match deployment.unmet(file.get("runOnRequirements")) {
        Ok(None) => None,
        Ok(Some(reason)) => Some(Verdict::Skip(format!("file {reason}"))),
        Err(e) => Some(Verdict::Fail(format!("runOnRequirements: {e}"))),
    }
}

async fn run_test(file: &Document, test: &Document, deployment: &Deployment) -> Verdict {
    if let Ok(reason) = test.get_str("skipReason") {
        return Verdict::Skip(format!("skipReason: {reason}"));
    }
    match deployment.unmet(test.get("runOnRequirements")) {
        Ok(None) => {}
        Ok(Some(reason)) => return Verdict::Skip(reason),
        Err(e) => return Verdict::Fail(format!("runOnRequirements: {e}")),
    }
    if let Some(reason) = inapplicable(file, test) {
        return Verdict::Skip(reason);
    }
    let entities = Entities::new(Client::embedded());
    let verdict = match tokio::time::timeout(TEST_TIMEOUT, execute(file, test, &entities)).await {
        Ok(Ok(())) => Verdict::Pass,
        Ok(Err(difference)) => Verdict::Fail(difference),
        Err(_) => Verdict::Fail(format!(
            "the test did not finish within {} s",
            TEST_TIMEOUT.as_secs()
        )),
    };
    let cleanup = async {
        let disabled = entities.disable_fail_points().await;
        entities.close().await;
        disabled
    };
    match (
        verdict,
        tokio::time::timeout(CLEANUP_TIMEOUT, cleanup).await,
    ) {
        (Verdict::Pass, Ok(Err(e))) => Verdict::Fail(format!("clean-up: {e}")),
        (Verdict::Pass, Err(_)) => Verdict::Fail(format!(
            "clean-up (ending sessions) did not finish within {} s",
            CLEANUP_TIMEOUT.as_secs()
        )),
        (verdict, _) => verdict,
    }
}

async fn execute(file: &Document, test: &Document, entities: &Entities) -> Result<(), String> {
    if let Some(data) = file.get("initialData") {
        initial_data(&entities.setup, data)
            .await
            .map_err(|e| format!("initialData: {e}"))?;
    }
    if let Some(list) = file.get("createEntities") {
        entities
            .create_all(list)
            .await
            .map_err(|e| format!("createEntities: {e}"))?;
    }
    let operations = test
        .get_array("operations")
        .map_err(|_| "the test has no `operations` array".to_owned())?;
    let scope = Scope {
        entities,
        txn: None,
    };
    for (i, op) in operations.iter().enumerate() {
        let Bson::Document(op) = op else {
            return Err(format!("operation {i} is not a document"));
        };
        let name = op.get_str("name").unwrap_or("?");
        run_operation(scope, op)
            .await
            .map_err(|f| format!("operation {i} ({name}): {f}"))?;
    }
    for client in entities.clients() {
        client.events.set_enabled(false);
    }
    entities.disable_fail_points().await?;
    if let Some(expected) = test.get("expectEvents") {
        check_events(entities, expected).map_err(|e| format!("expectEvents: {e}"))?;
    }
    if let Some(outcome) = test.get("outcome") {
        check_outcome(&entities.setup, outcome)
            .await
            .map_err(|e| format!("outcome: {e}"))?;
    }
    Ok(())
}

/// Drops each collection, then inserts its documents (or creates it empty) with a majority
/// write concern, through the internal client.
async fn initial_data(setup: &Client, data: &Bson) -> Result<(), String> {
    let Bson::Array(items) = data else {
        return Err("initialData must be an array".to_owned());
    };
    let majority = CollectionOptions {
        write_concern: Some(WriteConcern::majority()),
        ..CollectionOptions::default()
    };
    for item in items {
        let Bson::Document(spec) = item else {
            return Err("collectionData must be a document".to_owned());
        };
        let (db_name, coll_name) = names(spec)?;
        let db = setup.database(db_name);
        let coll = db
            .collection::<Document>(coll_name)
            .with_options(majority.clone());
        coll.drop()
            .await
            .map_err(|e| format!("dropping {db_name}.{coll_name}: {e}"))?;
        let documents: Vec<Document> = spec
            .get_array("documents")
            .map_err(|_| format!("collectionData {db_name}.{coll_name} has no `documents`"))?
            .iter()
            .map(|d| {
                d.as_document()
                    .cloned()
                    .ok_or_else(|| "initialData documents must be documents".to_owned())
            })
            .collect::<Result<_, _>>()?;
        let create_options = spec.get_document("createOptions").ok();
        if create_options.is_some() || documents.is_empty() {
            let mut command = doc! {"create": coll_name};
            if let Some(options) = create_options {
                command.extend(options.clone());
            }
            command.insert("writeConcern", doc! {"w": "majority"});
            db.run_command(command)
                .await
                .map_err(|e| format!("creating {db_name}.{coll_name}: {e}"))?;
        }
        if !documents.is_empty() {
            coll.insert_many(documents)
                .await
                .map_err(|e| format!("inserting into {db_name}.{coll_name}: {e}"))?;
        }
    }
    Ok(())
}

fn names(spec: &Document) -> Result<(&str, &str), String> {
    let db = spec
        .get_str("databaseName")
        .map_err(|_| "collectionData needs `databaseName`".to_owned())?;
    let coll = spec
        .get_str("collectionName")
        .map_err(|_| "collectionData needs `collectionName`".to_owned())?;
    Ok((db, coll))
}

fn check_events(entities: &Entities, expected: &Bson) -> Result<(), String> {
    let Bson::Array(items) = expected else {
        return Err("expectEvents must be an array".to_owned());
    };
    for item in items {
        let Bson::Document(for_client) = item else {
            return Err("expectedEventsForClient must be a document".to_owned());
        };
        let name = for_client
            .get_str("client")
            .map_err(|_| "expectedEventsForClient needs `client`".to_owned())?;
        let client = entities.client(name)?;
        check_client_events(for_client, &client.events.events(), entities)?;
    }
    Ok(())
}

/// Compares each collection's contents (sorted by `_id`, read with a local read concern from
/// the primary) exactly with the expected documents, in any key order.
async fn check_outcome(setup: &Client, outcome: &Bson) -> Result<(), String> {
    let Bson::Array(items) = outcome else {
        return Err("outcome must be an array".to_owned());
    };
    let local = CollectionOptions {
        read_concern: Some(ReadConcern::local()),
        read_preference: Some(ReadPreference::Primary),
        ..CollectionOptions::default()
    };
    for item in items {
        let Bson::Document(spec) = item else {
            return Err("collectionData must be a document".to_owned());
        };
        let (db_name, coll_name) = names(spec)?;
        let expected = spec
            .get_array("documents")
            .map_err(|_| format!("{db_name}.{coll_name}: no `documents`"))?;
        let coll = setup
            .database(db_name)
            .collection::<Document>(coll_name)
            .with_options(local.clone());
        let actual: Vec<Document> = coll
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .map_err(|e| format!("reading {db_name}.{coll_name}: {e}"))?
            .try_collect()
            .await
            .map_err(|e| format!("reading {db_name}.{coll_name}: {e}"))?;
        let show_all = |docs: &[Document]| docs.iter().map(show_doc).collect::<Vec<_>>().join(", ");
        if actual.len() != expected.len() {
            return Err(format!(
                "{db_name}.{coll_name}: expected {} documents [{}], got {} [{}]",
                expected.len(),
                expected.iter().map(show).collect::<Vec<_>>().join(", "),
                actual.len(),
                show_all(&actual)
            ));
        }
        for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
            if !exact_eq(e, &Bson::Document(a.clone())) {
                return Err(format!(
                    "{db_name}.{coll_name}: document {i}: expected {}, got {}",
                    show(e),
                    show_doc(a)
                ));
            }
        }
    }
    Ok(())
}

/// Commands sent while a connection is established (the handshake).
const HANDSHAKE_COMMANDS: &[&str] = &["hello", "isMaster", "ismaster", "saslStart", "saslContinue"];

/// Why a test cannot apply to an in-process deployment (or to what causeway can observe),
/// found before it runs.
fn inapplicable(file: &Document, test: &Document) -> Option<String> {
    let mut operations = Vec::new();
    if let Ok(ops) = test.get_array("operations") {
        collect_operations(ops, &mut operations);
    }
    for op in &operations {
        let name = op.get_str("name").unwrap_or_default();
        if let Some((_, why)) = NETWORK_ONLY.iter().find(|(n, _)| *n == name) {
            return Some(format!("uses {name}, which {why}"));
        }
        if name == "failPoint" {
            let commands = op
                .get_document("arguments")
                .and_then(|a| a.get_document("failPoint"))
                .and_then(|f| f.get_document("data"))
                .and_then(|d| d.get_array("failCommands"))
                .map(|c| c.iter().filter_map(Bson::as_str).collect::<Vec<_>>())
                .unwrap_or_default();
            if let Some(command) = commands.iter().find(|c| HANDSHAKE_COMMANDS.contains(c)) {
                return Some(format!(
                    "sets a fail point on `{command}`, the connection handshake, which only a network connection performs"
                ));
            }
        }
    }
    for expected in test.get_array("expectEvents").into_iter().flatten() {
        let event_type = expected
            .as_document()
            .and_then(|e| e.get_str("eventType").ok())
            .unwrap_or("command");
        if event_type != "command" {
            return Some(format!(
                "expects `{event_type}` events (connection pool or server monitoring), which only a network connection produces"
            ));
        }
    }
    let mut entity_lists: Vec<&Bson> = file.get("createEntities").into_iter().collect();
    for op in &operations {
        if op.get_str("name").ok() == Some("createEntities") {
            entity_lists.extend(
                op.get_document("arguments")
                    .ok()
                    .and_then(|a| a.get("entities")),
            );
        }
    }
    for list in entity_lists {
        for entity in list.as_array().into_iter().flatten() {
            let observed = entity
                .as_document()
                .and_then(|e| e.get_document("client").ok())
                .and_then(|c| c.get_array("observeEvents").ok());
            for event in observed.into_iter().flatten().filter_map(Bson::as_str) {
                if !event.starts_with("command") {
                    return Some(format!(
                        "observes {event}, a connection pool or server monitoring event, which only a network connection produces"
                    ));
                }
            }
        }
    }
    None
}

fn collect_operations<'a>(ops: &'a [Bson], out: &mut Vec<&'a Document>) {
    for op in ops.iter().filter_map(Bson::as_document) {
        out.push(op);
        if let Ok(callback) = op
            .get_document("arguments")
            .and_then(|a| a.get_array("callback"))
        {
            collect_operations(callback, out);
        }
    }
}
