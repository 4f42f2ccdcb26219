//! The figures of `docs/PERFORMANCE.md` (section "Server, over the wire"), measured against the `causeway-server` binary:
//!
//! - time from spawning the process to its `ready:` line (20 starts, median);
//! - `ping` round trips per second on one connection, raw `OP_MSG` frames (built with
//!   `causeway-protocol`) and through the official Rust driver;
//! - the seed transaction (insert an order, take the stock with a `$gte` guard, commit) from
//!   the official Rust driver with 1 and 8 concurrent sessions;
//! - CPU used by the server in 10 idle seconds with a PyMongo client (and, separately, an
//!   official Rust driver client, or none) connected.
//!
//! ```sh
//! cargo run --release -p server-tests --example measure
//! cargo run --release -p server-tests --example measure -- startup ping   # some of them
//! ```
//!
//! The harness builds the release server first (`cargo build --release -p causeway-server`),
//! and the PyMongo environment under `target/` if it is missing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use causeway_protocol::{Message, MessageHeader, OpMsg, decode_frame};
use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, WriteConcern};
use mongodb::{Client, Collection};
use server_tests::harness::{
    PYMONGO_VERSION, Server, ServerConfig, process_cpu_time, process_cpu_time_precise,
    pymongo_python, server_binary,
};

const STARTS: usize = 20;
const PING_SECONDS: u64 = 3;
const TRANSACTION_SECONDS: u64 = 5;
const WARM_UP: Duration = Duration::from_secs(1);
const IDLE: Duration = Duration::from_secs(10);

fn main() {
    let selected: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |name: &str| selected.is_empty() || selected.iter().any(|s| s == name);
    let binary = server_binary();
    println!("server: {}", binary.display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if wanted("startup") {
        startup();
    }
    if wanted("ping") {
        ping_raw();
        runtime.block_on(ping_driver());
    }
    if wanted("transactions") {
        for sessions in [1, 8] {
            runtime.block_on(seed_transactions(sessions, None));
            runtime.block_on(seed_transactions(sessions, Some(WriteConcern::nodes(1))));
        }
    }
    if wanted("idle") {
        idle_without_clients();
        idle_with_pymongo();
        runtime.block_on(idle_with_rust_driver());
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// (a) From spawning the process to reading its `ready:` line.
fn startup() {
    let mut times = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        let mut server = Server::start(ServerConfig::new());
        times.push(server.time_to_ready());
        let status = server.stop(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "the server stops with exit code 0 on SIGTERM, got {status:?}; its stderr:\n{}",
            server.stderr_tail()
        );
    }
    let (min, max) = (
        *times.iter().min().expect("some starts"),
        *times.iter().max().expect("some starts"),
    );
    println!(
        "startup to `ready:` (3 members, {STARTS} starts): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(median(times)),
        ms(min),
        ms(max)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (b) Raw OP_MSG `ping`s on one blocking TCP connection to the primary, one in flight.
fn ping_raw() {
    let server = Server::start(ServerConfig::new());
    let mut stream = TcpStream::connect(&server.hosts()[0]).expect("connecting to the primary");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let mut round_trip = |request_id: i32| {
        let frame = OpMsg::new(doc! {"ping": 1, "$db": "admin"})
            .encode(request_id, 0)
            .expect("encoding ping");
        stream.write_all(&frame).expect("sending ping");
        let mut header = [0u8; MessageHeader::LEN];
        stream.read_exact(&mut header).expect("reading the header");
        let length = i32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let mut reply = header.to_vec();
        reply.resize(length, 0);
        stream
            .read_exact(&mut reply[MessageHeader::LEN..])
            .expect("reading the reply");
        match decode_frame(&reply).expect("decoding the reply") {
            Message::Msg { msg, header } => {
                assert_eq!(header.response_to, request_id, "the reply answers the ping");
                assert_eq!(msg.body.get_f64("ok").ok(), Some(1.0), "ping: {}", msg.body);
            }
            other => panic!("a ping answered with {other:?}"),
        }
    };
    let mut id = 0;
    let warm_up_until = Instant::now() + WARM_UP;
    while Instant::now() < warm_up_until {
        id += 1;
        round_trip(id);
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(PING_SECONDS);
    let mut count = 0u64;
    while Instant::now() < until {
        id += 1;
        round_trip(id);
        count += 1;
    }
    let elapsed = started.elapsed();
    println!(
        "ping, raw OP_MSG, one connection: {:.0} round trips/s ({:.1} µs each)",
        count as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
}

/// (b) `ping` through the official driver, sequential, so one pooled connection is used.
async fn ping_driver() {
    let server = Server::start(ServerConfig::new());
    let client = Client::with_uri_str(server.uri())
        .await
        .expect("connecting the driver");
    let admin = client.database("admin");
    let ping = || async {
        admin
            .run_command(doc! {"ping": 1})
            .await
            .expect("ping through the driver");
    };
    let warm_up_until = Instant::now() + WARM_UP;
    while Instant::now() < warm_up_until {
        ping().await;
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(PING_SECONDS);
    let mut count = 0u64;
    while Instant::now() < until {
        ping().await;
        count += 1;
    }
    let elapsed = started.elapsed();
    println!(
        "ping, official Rust driver, one connection: {:.0} round trips/s ({:.1} µs each)",
        count as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
}

/// (c) The seed transaction, from `sessions` concurrent sessions on disjoint documents (each
/// session its own sku), with the commit's write concern `write_concern` (`None`: the
/// server's default, majority).
async fn seed_transactions(sessions: usize, write_concern: Option<WriteConcern>) {
    let server = Server::start(ServerConfig::new());
    let mut options = ClientOptions::parse(server.uri())
        .await
        .expect("parsing the server's URI");
    options.write_concern = write_concern.clone();
    options.max_pool_size = Some(sessions as u32 + 2);
    let client = Client::with_options(options).expect("a client");
    let db = client.database("shop");
    let orders: Collection<Document> = db.collection("orders");
    let inventory: Collection<Document> = db.collection("inventory");
    let stock: Vec<Document> = (0..sessions)
        .map(|s| doc! {"sku": format!("sku{s}"), "qty": 100_000_000_i64})
        .collect();
    inventory
        .insert_many(stock)
        .await
        .expect("stocking the inventory");
    orders
        .insert_one(doc! {"sku": "none", "qty": 0})
        .await
        .expect("creating the orders collection");

    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let (client, orders, inventory) = (client.clone(), orders.clone(), inventory.clone());
        let (counting, stop, committed) = (counting.clone(), stop.clone(), committed.clone());
        tasks.push(tokio::spawn(async move {
            let sku = format!("sku{s}");
            let mut session = client.start_session().await.expect("a session");
            while !stop.load(Ordering::Relaxed) {
                session
                    .start_transaction()
                    .await
                    .expect("starting a transaction");
                orders
                    .insert_one(doc! {"sku": &sku, "qty": 100})
                    .session(&mut session)
                    .await
                    .expect("inserting the order");
                let taken = inventory
                    .update_one(
                        doc! {"sku": &sku, "qty": {"$gte": 100}},
                        doc! {"$inc": {"qty": -100}},
                    )
                    .session(&mut session)
                    .await
                    .expect("taking the stock");
                assert_eq!(taken.modified_count, 1, "the stock lasts");
                session
                    .commit_transaction()
                    .await
                    .expect("committing the transaction");
                if counting.load(Ordering::Relaxed) {
                    committed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    let server_cpu = || process_cpu_time_precise(server.pid()).expect("the server's CPU");
    let client_cpu = || process_cpu_time_precise(std::process::id()).expect("this process's CPU");
    counting.store(true, Ordering::Relaxed);
    let (server_before, client_before) = (server_cpu(), client_cpu());
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(TRANSACTION_SECONDS)).await;
    let count = committed.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    let (server_used, client_used) = (
        server_cpu().saturating_sub(server_before),
        client_cpu().saturating_sub(client_before),
    );
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a transaction task panicked");
    }
    let concern = match write_concern {
        None => "default (majority) write concern".to_owned(),
        Some(_) => "w:1".to_owned(),
    };
    let per_transaction = |cpu: Duration| cpu.as_secs_f64() * 1e6 / count.max(1) as f64;
    println!(
        "seed transaction, official Rust driver, {sessions} concurrent session(s), {concern}: \
         {:.0} transactions/s; CPU per transaction: server {:.0} µs, driver {:.0} µs",
        count as f64 / elapsed.as_secs_f64(),
        per_transaction(server_used),
        per_transaction(client_used)
    );
}

/// A process that is stopped and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (d) For comparison: server CPU over 10 seconds with no client at all.
fn idle_without_clients() {
    let server = Server::start(ServerConfig::new());
    std::thread::sleep(Duration::from_secs(1));
    cpu_over(server.pid(), IDLE).report("no client");
}

/// (d) Server CPU over 10 idle seconds while a PyMongo client stays connected (its monitors
/// keep their awaitable `hello`s and RTT checks going).
fn idle_with_pymongo() {
    let python = pymongo_python();
    let server = Server::start(ServerConfig::new());
    let script = format!(
        "import sys, time, pymongo\n\
         client = pymongo.MongoClient({uri:?})\n\
         client.admin.command('ping')\n\
         client.db.c.find_one()\n\
         print('connected', flush=True)\n\
         time.sleep({seconds})\n",
        uri = server.uri(),
        seconds = IDLE.as_secs() + 5
    );
    let mut child = Command::new(python)
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .map(Reaped)
        .expect("starting python");
    let mut line = [0u8; 10];
    child
        .0
        .stdout
        .as_mut()
        .expect("python's stdout")
        .read_exact(&mut line)
        .expect("python connects");
    assert_eq!(&line, b"connected\n", "the PyMongo client connected");
    // Let the monitors settle into their steady state.
    std::thread::sleep(Duration::from_secs(1));
    let idle = cpu_over(server.pid(), IDLE);
    drop(child);
    idle.report(&format!("a PyMongo {PYMONGO_VERSION} client"));
}

/// (d) The same with the official Rust driver connected.
async fn idle_with_rust_driver() {
    let server = Server::start(ServerConfig::new());
    let client = Client::with_uri_str(server.uri())
        .await
        .expect("connecting the driver");
    client
        .database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .expect("ping");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = server.pid();
    let idle = tokio::task::spawn_blocking(move || cpu_over(pid, IDLE))
        .await
        .expect("measuring CPU");
    drop(client);
    idle.report("an official Rust driver client");
}

/// CPU a process used over a period, by two clocks.
struct IdleCpu {
    /// utime + stime from `/proc/<pid>/stat`, in clock ticks (10 ms).
    ticks: Duration,
    /// The threads' run time from `schedstat`, in nanoseconds.
    precise: Duration,
    elapsed: Duration,
}

impl IdleCpu {
    fn report(&self, client: &str) {
        println!(
            "idle {:.0} s with {client} connected: server CPU {:.0} ms by /proc/<pid>/stat \
             (utime+stime), {:.2} ms by schedstat ({:.3}% of one core)",
            self.elapsed.as_secs_f64(),
            ms(self.ticks),
            ms(self.precise),
            self.precise.as_secs_f64() * 100.0 / self.elapsed.as_secs_f64()
        );
    }
}

fn cpu_over(pid: u32, period: Duration) -> IdleCpu {
    let ticks = || process_cpu_time(pid).expect("the server's CPU time");
    let precise = || process_cpu_time_precise(pid).expect("the server's threads' run time");
    let (ticks_before, precise_before) = (ticks(), precise());
    let started = Instant::now();
    std::thread::sleep(period);
    IdleCpu {
        ticks: ticks().saturating_sub(ticks_before),
        precise: precise().saturating_sub(precise_before),
        elapsed: started.elapsed(),
    }
}
