//! causeway: MongoDB logical sessions done right.
//!
//! Causally consistent reads (read your own writes, monotonic reads) and multi-document
//! transactions behind one closure-scoped [`ClientSession::with_transaction`] that commits on
//! `Ok`, aborts on `Err`, panic or cancellation, and retries on the labels that say a retry
//! may succeed. [`Client::embedded`] runs it all on an in-process engine with zero set-up.
//!
//! # Quickstart
//!
//! ```
//! # async fn example() -> causeway::Result<()> {
//! use bson::{Document, doc};
//! use causeway::Client;
//!
//! let client = Client::embedded();
//! let shop = client.database("shop");
//! let orders = shop.collection::<Document>("orders");
//! let inventory = shop.collection::<Document>("inventory");
//! inventory.insert_one(doc! {"sku": "abc123", "qty": 100}).await?;
//!
//! let mut session = client.start_session().await?;
//! let (orders, inventory) = (&orders, &inventory);
//! session
//!     .with_transaction(move |txn| async move {
//!         txn.collection(orders).insert_one(doc! {"sku": "abc123", "qty": 100}).await?;
//!         txn.collection(inventory)
//!             .update_one(doc! {"sku": "abc123", "qty": {"$gte": 100}}, doc! {"$inc": {"qty": -100}})
//!             .await?;
//!         Ok::<_, causeway::Error>(())
//!     })
//!     .await?;
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
//! ```
//!
//! # Behaviour
//!
//! - **The embedded deployment** ([`Client::embedded`]) is a replica set in the process: a
//!   primary and two secondaries applying its oplog, with lags set per member and changeable
//!   while it runs ([`ReplicaSet`]). Reads go where their read preference says (tag sets and
//!   `maxStalenessSeconds` included); writes wait for a majority by default, as with `mongod`.
//! - **Sessions** are causally consistent by default: a read in a session sees the session's
//!   earlier writes and never an older state than an earlier read — also on a lagging
//!   secondary, where the read waits until the secondary has caught up. A session's position
//!   travels to another process as a token ([`ClientSession::causal_token`]).
//! - **Transactions** commit all their writes or none. Inside one, operations go through the
//!   transaction handle ([`Txn::collection`]), so none runs outside it by a forgotten argument.
//! - **Retries**: a single write outside a transaction is retried once on a retryable error
//!   (retryable writes); a read likewise; `with_transaction` retries the whole transaction on
//!   `TransientTransactionError` and the commit on `UnknownTransactionCommitResult`.
//! - **Errors** are one type, [`Error`], with its server code, its labels and its kind.
//! - **Command monitoring** ([`events`]) shows every command sent, its reply and its duration.
//!
//! # Performance: pick a global allocator
//!
//! Every member of the embedded replica set stores and applies each write in your process.
//! With glibc's allocator, replicated (`w: "majority"`) transactions run at 55–75% of the
//! speed they reach on mimalloc: long-lived documents and short-lived command buffers
//! interleave, and glibc's free lists scatter over the heap. An application that embeds
//! causeway should set a global allocator such as `mimalloc`
//! (`#[global_allocator] static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;`);
//! `docs/PERFORMANCE.md` in the repository has the figures.

pub mod action;
mod causal_token;
mod client;
mod cluster_time;
mod collection;
mod cursor;
mod database;
pub mod errors;
pub mod events;
mod operation;
pub mod options;
pub mod results;
mod session;
mod transaction;
mod transport;
mod with_transaction;

pub use bson;
pub use causeway_engine as engine;
pub use causeway_engine::replset::{ReplicaSet, ReplicaSetBuilder};
pub use client::{Client, StartSession};
pub use collection::Collection;
pub use cursor::Cursor;
pub use database::{CollectionOptions, Database};
pub use errors::{Error, ErrorCode, ErrorKind, Label, Result};
pub use session::{ClientSession, TransactionState, Txn};
pub use transaction::{Transaction, TxnCollection};
pub use with_transaction::{Attempt, AttemptPhase, RetryPolicy, WithTransaction, backoff_delay};
