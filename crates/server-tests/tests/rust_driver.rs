//! causeway-server driven by the official MongoDB Rust driver (`mongodb` 3.x): the seed's
//! causal read on a lagging secondary, the seed's transaction in both of the driver's styles,
//! contended `with_transaction` increments, discovery from one seed member with secondary
//! reads routed to a secondary, a fail point with the driver's retryable write, and a clean
//! shutdown.
//!
//! Every test starts its own server (free ports), so they run in parallel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};
use mongodb::error::Error;
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::{
    ClientOptions, CollectionOptions, ReadPreference, SelectionCriteria, WriteConcern,
};
use mongodb::{Client, Collection};
use server_tests::harness::{Server, ServerConfig};

/// The lag of the secondaries in the causal-read and routing tests.
const LAG: Duration = Duration::from_millis(300);
/// A read that waited for a write `LAG` behind took at least this long (timer slack allowed).
const WAITED_AT_LEAST: Duration = Duration::from_millis(250);

fn secondary() -> SelectionCriteria {
    SelectionCriteria::ReadPreference(ReadPreference::Secondary { options: None })
}

async fn connect(server: &Server) -> Client {
    Client::with_uri_str(server.uri())
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", server.uri()))
}

/// The command each started command event names, and the `host:port` it went to.
#[derive(Clone, Default)]
struct CommandLog(Arc<Mutex<Vec<(String, String)>>>);

impl CommandLog {
    fn handler(&self) -> EventHandler<CommandEvent> {
        let log = Arc::clone(&self.0);
        EventHandler::callback(move |event| {
            if let CommandEvent::Started(started) = event {
                log.lock()
                    .expect("the command log's lock")
                    .push((started.command_name, started.connection.address.to_string()));
            }
        })
    }

    /// Where the commands named `name` went, in order.
    fn addresses_of(&self, name: &str) -> Vec<String> {
        self.0
            .lock()
            .expect("the command log's lock")
            .iter()
            .filter(|(command, _)| command == name)
            .map(|(_, address)| address.clone())
            .collect()
    }
}

/// The seed's first example: a causally consistent session writes on the primary (w:1, so
/// only the primary has it) and reads through the session from a secondary 300 ms behind —
/// the read waits for the write and sees it. The same read in a session without causal
/// consistency answers at once, with the old value.
#[tokio::test]
async fn causal_session_reads_its_own_write_on_a_lagging_secondary() {
    let server = Server::start(ServerConfig::new().lag_ms(LAG.as_millis() as u64));
    let client = connect(&server).await;
    let collection: Collection<Document> = client.database("db").collection("collection");
    collection
        .insert_one(doc! {"_id": 1, "x": 0})
        .write_concern(WriteConcern::nodes(3))
        .await
        .expect("inserting {_id: 1, x: 0} on every member");

    let (seen, waited) = write_then_read_on_secondary(&client, &collection, true, 10).await;
    assert_eq!(
        seen.get_i32("x").ok(),
        Some(10),
        "the causal read on the secondary must see the session's write, saw {seen}"
    );
    assert!(
        waited >= WAITED_AT_LEAST,
        "the secondary is {LAG:?} behind, so the causal read must have waited for the write; \
         it took {waited:?}"
    );

    let (seen, took) = write_then_read_on_secondary(&client, &collection, false, 20).await;
    assert_eq!(
        seen.get_i32("x").ok(),
        Some(10),
        "without causal consistency the read on a secondary {LAG:?} behind is stale, saw {seen}"
    );
    assert!(
        took < WAITED_AT_LEAST,
        "a read without causal consistency must not wait, it took {took:?}"
    );
}

/// In a new session (causally consistent or not), sets `x` of `{_id: 1}` on the primary with
/// w:1, then reads the document on a secondary in the same session: what it saw, and how long
/// the read took.
async fn write_then_read_on_secondary(
    client: &Client,
    collection: &Collection<Document>,
    causal: bool,
    x: i32,
) -> (Document, Duration) {
    let mut session = client
        .start_session()
        .causal_consistency(causal)
        .await
        .expect("starting a session");
    collection
        .update_one(doc! {"_id": 1}, doc! {"$set": {"x": x}})
        .write_concern(WriteConcern::nodes(1))
        .session(&mut session)
        .await
        .expect("update_one {$set: {x}} on the primary");
    let started = Instant::now();
    let seen = collection
        .find_one(doc! {"_id": 1})
        .selection_criteria(secondary())
        .session(&mut session)
        .await
        .expect("find_one on a secondary")
        .expect("the document exists on the secondary");
    (seen, started.elapsed())
}

/// Sets up the seed's inventory: `{sku: "abc123", qty: 100}`.
async fn seed_inventory(client: &Client) -> (Collection<Document>, Collection<Document>) {
    let db = client.database("db");
    let orders: Collection<Document> = db.collection("orders");
    let inventory: Collection<Document> = db.collection("inventory");
    inventory
        .insert_one(doc! {"sku": "abc123", "qty": 100})
        .await
        .expect("stocking the inventory");
    (orders, inventory)
}

async fn assert_seed_transaction_committed(
    orders: &Collection<Document>,
    inventory: &Collection<Document>,
) {
    let stock = inventory
        .find_one(doc! {"sku": "abc123"})
        .await
        .expect("reading the stock")
        .expect("the stock exists");
    assert_eq!(
        stock.get_i32("qty").ok(),
        Some(0),
        "the transaction took the 100 units: {stock}"
    );
    let order_count = orders
        .count_documents(doc! {"sku": "abc123", "qty": 100})
        .await
        .expect("counting orders");
    assert_eq!(order_count, 1, "the transaction placed exactly one order");
}

/// The seed's transaction: `start_transaction`, insert an order, take the stock, commit. The
/// order is invisible outside the transaction until the commit.
#[tokio::test]
async fn seed_transaction_commits_with_start_transaction_and_commit() {
    let server = Server::start(ServerConfig::new());
    let client = connect(&server).await;
    let (orders, inventory) = seed_inventory(&client).await;

    let mut session = client.start_session().await.expect("starting a session");
    session
        .start_transaction()
        .await
        .expect("starting the transaction");
    orders
        .insert_one(doc! {"sku": "abc123", "qty": 100})
        .session(&mut session)
        .await
        .expect("inserting the order in the transaction");
    let updated = inventory
        .update_one(
            doc! {"sku": "abc123", "qty": {"$gte": 100}},
            doc! {"$inc": {"qty": -100}},
        )
        .session(&mut session)
        .await
        .expect("taking the stock in the transaction");
    assert_eq!(updated.modified_count, 1, "the stock guard matched");
    let outside = orders
        .count_documents(doc! {})
        .await
        .expect("counting orders outside the transaction");
    assert_eq!(
        outside, 0,
        "an uncommitted order must be invisible outside its transaction"
    );
    session
        .commit_transaction()
        .await
        .expect("committing the transaction");

    assert_seed_transaction_committed(&orders, &inventory).await;
}

/// The seed's transaction through the driver's convenient API, `and_run2` (an async closure)
/// and `and_run` (a boxed future with a context): each commits once.
#[tokio::test]
async fn seed_transaction_commits_with_and_run2_and_and_run() {
    let server = Server::start(ServerConfig::new());
    let client = connect(&server).await;
    let (orders, inventory) = seed_inventory(&client).await;

    let mut session = client.start_session().await.expect("starting a session");
    session
        .start_transaction()
        .and_run2(async |session| {
            orders
                .insert_one(doc! {"sku": "abc123", "qty": 100})
                .session(&mut *session)
                .await?;
            inventory
                .update_one(
                    doc! {"sku": "abc123", "qty": {"$gte": 100}},
                    doc! {"$inc": {"qty": -100}},
                )
                .session(&mut *session)
                .await?;
            Ok(())
        })
        .await
        .expect("the seed transaction through and_run2");
    assert_seed_transaction_committed(&orders, &inventory).await;

    // Again with `and_run`, restocking first.
    inventory
        .update_one(doc! {"sku": "abc123"}, doc! {"$inc": {"qty": 100}})
        .await
        .expect("restocking");
    orders
        .delete_many(doc! {})
        .await
        .expect("clearing the orders");
    session
        .start_transaction()
        .and_run((&orders, &inventory), |session, (orders, inventory)| {
            Box::pin(async move {
                orders
                    .insert_one(doc! {"sku": "abc123", "qty": 100})
                    .session(&mut *session)
                    .await?;
                inventory
                    .update_one(
                        doc! {"sku": "abc123", "qty": {"$gte": 100}},
                        doc! {"$inc": {"qty": -100}},
                    )
                    .session(&mut *session)
                    .await?;
                Ok(())
            })
        })
        .await
        .expect("the seed transaction through and_run");
    assert_seed_transaction_committed(&orders, &inventory).await;
}

/// 4 tasks × 50 transactions, each reading a counter and writing it back incremented: write
/// conflicts abort some attempts, the driver retries them (TransientTransactionError), and
/// no increment is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_with_transaction_increments_are_exact() {
    const TASKS: usize = 4;
    const PER_TASK: usize = 50;
    let server = Server::start(ServerConfig::new());
    let client = connect(&server).await;
    let counters: Collection<Document> = client.database("db").collection("counters");
    counters
        .insert_one(doc! {"_id": "hits", "n": 0_i64})
        .await
        .expect("creating the counter");
    let attempts = Arc::new(AtomicUsize::new(0));

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let client = client.clone();
        let counters = counters.clone();
        let attempts = Arc::clone(&attempts);
        tasks.push(tokio::spawn(async move {
            let mut session = client.start_session().await.expect("starting a session");
            for i in 0..PER_TASK {
                // `and_run` rather than `and_run2` inside a spawned task: the async closure
                // hits rust-lang/rust#96865 ("Send is not general enough"), as the driver's
                // documentation warns.
                session
                    .start_transaction()
                    .and_run((&counters, &attempts), |session, (counters, attempts)| {
                        Box::pin(async move {
                            attempts.fetch_add(1, Ordering::Relaxed);
                            let current = counters
                                .find_one(doc! {"_id": "hits"})
                                .session(&mut *session)
                                .await?
                                .and_then(|d| d.get_i64("n").ok())
                                .ok_or_else(|| Error::custom("the counter has no i64 `n`"))?;
                            counters
                                .update_one(doc! {"_id": "hits"}, doc! {"$set": {"n": current + 1}})
                                .session(&mut *session)
                                .await?;
                            Ok(())
                        })
                    })
                    .await
                    .unwrap_or_else(|e| panic!("task {task}, increment {i}: {e}"));
            }
        }));
    }
    for task in tasks {
        task.await.expect("an incrementing task panicked");
    }

    let total = counters
        .find_one(doc! {"_id": "hits"})
        .await
        .expect("reading the counter")
        .and_then(|d| d.get_i64("n").ok());
    let attempts = attempts.load(Ordering::Relaxed);
    println!(
        "{} increments in {attempts} attempts ({} retried after write conflicts)",
        TASKS * PER_TASK,
        attempts - TASKS * PER_TASK
    );
    assert_eq!(
        total,
        Some((TASKS * PER_TASK) as i64),
        "every committed increment counts exactly once ({attempts} attempts)"
    );
}

/// Given only one member (a secondary) as seed, the driver discovers the whole set: writes go
/// to member 0, the primary; `ReadPreference::Secondary` reads go to a secondary — `hello`
/// there names itself as a secondary, and a read right after a w:1 write on a set 300 ms
/// behind is stale there and fresh on the primary.
#[tokio::test]
async fn driver_discovers_the_set_from_one_seed_and_routes_secondary_reads() {
    let server = Server::start(ServerConfig::new().lag_ms(LAG.as_millis() as u64));
    let seed = server.seed_uri(1);
    let log = CommandLog::default();
    let mut options = ClientOptions::parse(&seed)
        .await
        .unwrap_or_else(|e| panic!("parsing {seed}: {e}"));
    options.command_event_handler = Some(log.handler());
    let client = Client::with_options(options).expect("a client from the seed list");
    let db = client.database("db");

    let hello = db
        .run_command(doc! {"hello": 1})
        .selection_criteria(secondary())
        .await
        .expect("hello on a secondary");
    let me = hello.get_str("me").expect("hello names the member: me");
    assert!(
        hello.get_bool("secondary").ok() == Some(true) && me != server.hosts()[0],
        "ReadPreference::Secondary must reach a secondary; hello there said {hello}"
    );
    assert!(
        server.hosts().iter().any(|h| h == me),
        "hello's `me` ({me}) is one of the set's hosts {:?}",
        server.hosts()
    );

    let probes: Collection<Document> = db.collection_with_options(
        "probes",
        CollectionOptions::builder()
            .write_concern(WriteConcern::nodes(1))
            .build(),
    );
    probes
        .insert_one(doc! {"_id": "probe"})
        .await
        .expect("a w:1 insert through the discovered primary");
    let on_secondary = probes
        .find_one(doc! {"_id": "probe"})
        .selection_criteria(secondary())
        .await
        .expect("find_one on a secondary");
    let on_primary = probes
        .find_one(doc! {"_id": "probe"})
        .await
        .expect("find_one on the primary");
    assert_eq!(
        on_secondary, None,
        "a secondary {LAG:?} behind has not applied the w:1 insert yet"
    );
    assert_eq!(
        on_primary,
        Some(doc! {"_id": "probe"}),
        "the primary has the insert"
    );

    let inserts = log.addresses_of("insert");
    let finds = log.addresses_of("find");
    assert_eq!(
        inserts,
        vec![server.hosts()[0].clone()],
        "the insert goes to member 0, the primary"
    );
    assert_eq!(finds.len(), 2, "two finds were sent: {finds:?}");
    assert!(
        finds[0] != server.hosts()[0] && server.hosts().contains(&finds[0]),
        "the secondary read went to a secondary, not to {}: {finds:?}",
        server.hosts()[0]
    );
    assert_eq!(
        finds[1],
        server.hosts()[0],
        "the default (primary) read went to the primary"
    );
}

/// A `failCommand` fail point makes the next insert fail with HostUnreachable (6), a
/// retryable error: the server labels it RetryableWriteError, the driver retries once with the
/// same `txnNumber`, and the document is written exactly once.
#[tokio::test]
async fn fail_point_error_is_retried_by_the_driver_as_a_retryable_write() {
    let server = Server::start(ServerConfig::new());
    let log = CommandLog::default();
    let mut options = ClientOptions::parse(server.uri())
        .await
        .expect("parsing the server's URI");
    options.command_event_handler = Some(log.handler());
    let client = Client::with_options(options).expect("a client");
    client
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": {"times": 1},
            "data": {"failCommands": ["insert"], "errorCode": 6},
        })
        .await
        .expect("configuring the failCommand fail point");
    let items: Collection<Document> = client.database("db").collection("items");
    items
        .insert_one(doc! {"_id": 1})
        .await
        .expect("the insert succeeds on the driver's retry");
    assert_eq!(
        log.addresses_of("insert").len(),
        2,
        "the driver sent the insert twice: the failed attempt and the retry"
    );
    let count = items
        .count_documents(doc! {})
        .await
        .expect("counting the items");
    assert_eq!(count, 1, "the retried insert wrote the document once");
}

/// SIGTERM stops a server with connected clients, with exit code 0.
#[tokio::test]
async fn server_exits_with_code_zero_on_sigterm_with_a_client_connected() {
    let mut server = Server::start(ServerConfig::new());
    let client = connect(&server).await;
    client
        .database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .expect("ping");
    let status = server
        .stop(Duration::from_secs(10))
        .expect("the server exits within 10 s of SIGTERM");
    assert!(
        status.success(),
        "the server's exit status after SIGTERM: {status}"
    );
}

/// SIGTERM sent as soon as the `ready:` line is read stops the server with exit code 0: the
/// contract says it shuts down cleanly once ready, so the signal handlers must be in place
/// before the line is printed.
#[test]
fn server_exits_with_code_zero_on_sigterm_right_after_ready() {
    for attempt in 0..10 {
        let mut server = Server::start(ServerConfig::new());
        let status = server.stop(Duration::from_secs(5));
        assert!(
            status.is_some_and(|s| s.success()),
            "start {attempt}: SIGTERM right after `ready:` must exit with code 0, got {}; \
             stderr:\n{}",
            status.map_or("no exit within 5 s".to_owned(), |s| s.to_string()),
            server.stderr_tail()
        );
    }
}
