//! An in-process replica set: a primary and secondaries, each a full [`Engine`] with its own
//! storage, the secondaries applying the primary's oplog in order, each entry atomically, after
//! a lag that can be set, changed, paused and resumed while the set runs.
//!
//! Replication runs in one tokio task per secondary, started on first use inside a runtime.
//! A task waiting for its next entry, or for its lag to pass, costs no CPU; time is tokio's
//! clock, so tests with a paused clock see exact lags.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! use std::time::Duration;
//! use bson::doc;
//! use causeway_engine::replset::ReplicaSet;
//!
//! let set = ReplicaSet::builder().members(3).lag(1, Duration::from_millis(300)).build();
//! set.ensure_started();
//! set.primary().run_command("db", doc! {"insert": "c", "documents": [{"_id": 1}], "writeConcern": {"w": 1}}).await.unwrap();
//! let written = set.primary().last_committed();
//! tokio::time::sleep(Duration::from_millis(299)).await;
//! assert!(set.applied(1) < written, "member 1 is 300 ms behind");
//! tokio::time::sleep(Duration::from_millis(2)).await;
//! assert_eq!(set.applied(1), written);
//! # });
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bson::Document;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::clock::{ClusterClock, Ts};
use crate::engine::{Engine, EngineOptions, NodeInfo};
use crate::oplog::OplogEntry;
use crate::replication::Replication;

/// How one member replicates: its lag behind the primary, whether it is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Control {
    lag: Duration,
    paused: bool,
}

#[derive(Debug)]
struct Member {
    engine: Engine,
    host: String,
    tags: Document,
    control: watch::Sender<Control>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    members: Vec<Member>,
    replication: Arc<Replication>,
    feeds: Mutex<Vec<(usize, mpsc::UnboundedReceiver<Arc<OplogEntry>>)>>,
    started: AtomicBool,
}

/// A replica set in one process; cheap to clone (a handle).
#[derive(Debug, Clone)]
pub struct ReplicaSet {
    inner: Arc<Inner>,
}

/// Builds a [`ReplicaSet`]: members, lags, tags, names.
#[derive(Debug, Clone)]
#[must_use]
pub struct ReplicaSetBuilder {
    name: String,
    host: String,
    first_port: u16,
    lags: Vec<Duration>,
    tags: Vec<Document>,
    engine: EngineOptions,
}

impl Default for ReplicaSetBuilder {
    fn default() -> ReplicaSetBuilder {
        ReplicaSetBuilder {
            name: "rs0".to_owned(),
            host: "localhost".to_owned(),
            first_port: 27017,
            lags: vec![Duration::ZERO; 3],
            tags: vec![Document::new(); 3],
            engine: EngineOptions::default(),
        }
    }
}

impl ReplicaSetBuilder {
    /// How many members (at least 1; default 3): member 0 is the primary.
    pub fn members(mut self, members: usize) -> Self {
        let members = members.max(1);
        self.lags.resize(members, Duration::ZERO);
        self.tags.resize(members, Document::new());
        self
    }

    /// The lag of a secondary behind the primary (ignored for the primary and for members
    /// that do not exist).
    pub fn lag(mut self, member: usize, lag: Duration) -> Self {
        if member > 0
            && let Some(slot) = self.lags.get_mut(member)
        {
            *slot = lag;
        }
        self
    }

    /// The tags a member reports (for read preference tag sets).
    pub fn tags(mut self, member: usize, tags: Document) -> Self {
        if let Some(slot) = self.tags.get_mut(member) {
            *slot = tags;
        }
        self
    }

    /// The replica set name (default `rs0`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The host and first port of the members' addresses (members take consecutive ports;
    /// default `localhost:27017`).
    pub fn address(mut self, host: impl Into<String>, first_port: u16) -> Self {
        self.host = host.into();
        self.first_port = first_port;
        self
    }

    /// The options of every member's engine.
    pub fn engine_options(mut self, options: EngineOptions) -> Self {
        self.engine = options;
        self
    }

    /// Builds the set. Replication starts with [`ReplicaSet::ensure_started`] (the embedded
    /// client calls it on its first command).
    pub fn build(self) -> ReplicaSet {
        let clock = Arc::new(ClusterClock::new());
        let hosts: Vec<String> = (0..self.lags.len())
            .map(|i| format!("{}:{}", self.host, u32::from(self.first_port) + i as u32))
            .collect();
        let replication = Replication::new(hosts.clone(), clock.now());
        let members: Vec<Member> = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let node = NodeInfo {
                    set_name: self.name.clone(),
                    me: host.clone(),
                    hosts: hosts.clone(),
                    primary: hosts.first().cloned(),
                    is_primary: i == 0,
                    tags: self.tags[i].clone(),
                };
                let engine = Engine::member(
                    self.engine.clone(),
                    clock.clone(),
                    replication.clone(),
                    i,
                    node,
                );
                let control = watch::channel(Control {
                    lag: self.lags[i],
                    paused: false,
                })
                .0;
                Member {
                    engine,
                    host: host.clone(),
                    tags: self.tags[i].clone(),
                    control,
                }
            })
            .collect();
        // Subscribe now, so no entry is missed before the tasks start.
        let feeds = (1..members.len())
            .map(|i| (i, members[0].engine.subscribe_oplog()))
            .collect();
        ReplicaSet {
            inner: Arc::new(Inner {
                name: self.name,
                members,
                replication,
                feeds: Mutex::new(feeds),
                started: AtomicBool::new(false),
            }),
        }
    }
}

impl Default for ReplicaSet {
    fn default() -> ReplicaSet {
        ReplicaSet::builder().build()
    }
}

impl ReplicaSet {
    /// A builder; the default is 3 members, no lag, `rs0` at `localhost:27017..27019`.
    pub fn builder() -> ReplicaSetBuilder {
        ReplicaSetBuilder::default()
    }

    /// Starts the replication tasks, once, if called inside a tokio runtime (otherwise a later
    /// call starts them). Entries committed before are applied then, after their lag.
    pub fn ensure_started(&self) {
        if self.inner.started.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let feeds = std::mem::take(&mut *self.inner.feeds.lock());
        if feeds.is_empty() {
            self.inner.started.store(true, Ordering::Release);
            return;
        }
        self.inner.started.store(true, Ordering::Release);
        for (i, feed) in feeds {
            let member = &self.inner.members[i];
            runtime.spawn(replicate(
                member.engine.clone(),
                feed,
                member.control.subscribe(),
            ));
        }
    }

    /// The replica set name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.inner.members.len()
    }

    /// Whether the set has no members (never: it has at least one).
    pub fn is_empty(&self) -> bool {
        self.inner.members.is_empty()
    }

    /// The primary's engine.
    pub fn primary(&self) -> &Engine {
        &self.inner.members[0].engine
    }

    /// The index of the primary.
    pub fn primary_index(&self) -> usize {
        0
    }

    /// A member's engine.
    pub fn member(&self, member: usize) -> Option<&Engine> {
        self.inner.members.get(member).map(|m| &m.engine)
    }

    /// A member's address.
    pub fn host(&self, member: usize) -> Option<&str> {
        self.inner.members.get(member).map(|m| m.host.as_str())
    }

    /// Every member's address, the primary first.
    pub fn hosts(&self) -> Vec<String> {
        self.inner.members.iter().map(|m| m.host.clone()).collect()
    }

    /// A member's tags.
    pub fn tags(&self, member: usize) -> Option<&Document> {
        self.inner.members.get(member).map(|m| &m.tags)
    }

    /// How far a member has applied the oplog (the primary: its newest commit).
    pub fn applied(&self, member: usize) -> Ts {
        self.inner.replication.applied(member)
    }

    /// The newest time a majority of members has applied.
    pub fn majority_point(&self) -> Ts {
        self.inner.replication.majority_point()
    }

    /// The progress every member has made, shared with the engines.
    pub fn replication(&self) -> &Arc<Replication> {
        &self.inner.replication
    }

    /// A secondary's lag.
    pub fn lag(&self, member: usize) -> Option<Duration> {
        self.inner
            .members
            .get(member)
            .map(|m| m.control.borrow().lag)
    }

    /// Changes a secondary's lag, effective at once (entries already due are applied).
    pub fn set_lag(&self, member: usize, lag: Duration) {
        if member == 0 {
            return;
        }
        if let Some(m) = self.inner.members.get(member) {
            m.control.send_modify(|c| c.lag = lag);
        }
    }

    /// Stops a secondary from applying: it keeps answering reads from what it has.
    pub fn pause(&self, member: usize) {
        if let Some(m) = self.inner.members.get(member).filter(|_| member != 0) {
            m.control.send_modify(|c| c.paused = true);
        }
    }

    /// Lets a paused secondary apply again; it catches up with everything that is due.
    pub fn resume(&self, member: usize) {
        if let Some(m) = self.inner.members.get(member) {
            m.control.send_modify(|c| c.paused = false);
        }
    }

    /// Whether a secondary is paused.
    pub fn is_paused(&self, member: usize) -> bool {
        self.inner
            .members
            .get(member)
            .is_some_and(|m| m.control.borrow().paused)
    }
}

/// One secondary's replication: take each entry in order, wait until it is due (its commit
/// time plus the lag, re-read whenever the lag changes or the member is paused or resumed),
/// apply it.
async fn replicate(
    engine: Engine,
    mut feed: mpsc::UnboundedReceiver<Arc<OplogEntry>>,
    mut control: watch::Receiver<Control>,
) {
    while let Some(entry) = feed.recv().await {
        loop {
            let Control { lag, paused } = *control.borrow_and_update();
            if paused {
                if control.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let due = entry.wall + lag;
            if Instant::now() >= due {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                changed = control.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
        if let Err(e) = engine.apply_oplog_entry(&entry) {
            tracing::error!(error = %e, "a secondary failed to apply an oplog entry");
        }
    }
}
