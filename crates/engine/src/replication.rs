//! What the members of a replica set know of each other: how far each has applied the
//! primary's oplog. The majority commit point and write-concern waits are read from here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::Ts;

/// The replication progress of every member of one replica set, shared by them all.
#[derive(Debug)]
pub struct Replication {
    applied: Vec<AtomicU64>,
    hosts: Vec<String>,
    progress: watch::Sender<u64>,
}

impl Replication {
    /// Progress for members at these addresses (member 0 is the primary), all at `start`.
    pub fn new(hosts: Vec<String>, start: Ts) -> Arc<Replication> {
        Arc::new(Replication {
            applied: hosts.iter().map(|_| AtomicU64::new(start.0)).collect(),
            hosts,
            progress: watch::channel(0).0,
        })
    }

    /// How many members there are.
    pub fn members(&self) -> usize {
        self.applied.len()
    }

    /// How many members make a majority.
    pub fn majority(&self) -> usize {
        self.applied.len() / 2 + 1
    }

    /// The members' addresses.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// How far member `member` has applied.
    pub fn applied(&self, member: usize) -> Ts {
        self.applied
            .get(member)
            .map_or(Ts::ZERO, |a| Ts(a.load(Ordering::Acquire)))
    }

    /// The newest time a majority of members has applied.
    pub fn majority_point(&self) -> Ts {
        let mut times: Vec<u64> = self
            .applied
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .collect();
        times.sort_unstable_by(|a, b| b.cmp(a));
        Ts(times.get(self.majority() - 1).copied().unwrap_or(0))
    }

    /// Records that `member` has applied everything up to `ts`, and wakes waiters.
    pub fn record(&self, member: usize, ts: Ts) {
        if let Some(applied) = self.applied.get(member) {
            applied.fetch_max(ts.0, Ordering::AcqRel);
            self.progress.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// How many members have applied `ts`.
    pub fn count_at(&self, ts: Ts) -> usize {
        self.applied
            .iter()
            .filter(|a| a.load(Ordering::Acquire) >= ts.0)
            .count()
    }

    /// Waits until `needed` members have applied `ts`; `false` if `deadline` passed first.
    pub async fn wait_for(&self, ts: Ts, needed: usize, deadline: Option<Instant>) -> bool {
        self.wait_until(|r| r.count_at(ts) >= needed, deadline)
            .await
    }

    /// Waits until `member` has applied `ts`; `false` if `deadline` passed first.
    pub async fn wait_applied(&self, member: usize, ts: Ts, deadline: Option<Instant>) -> bool {
        self.wait_until(|r| r.applied(member) >= ts, deadline).await
    }

    async fn wait_until(
        &self,
        done: impl Fn(&Replication) -> bool,
        deadline: Option<Instant>,
    ) -> bool {
        let mut progress = self.progress.subscribe();
        loop {
            if done(self) {
                return true;
            }
            let changed = progress.changed();
            match deadline {
                Some(at) => match tokio::time::timeout_at(at, changed).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => return done(self),
                },
                None => {
                    if changed.await.is_err() {
                        return done(self);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("h:{i}")).collect()
    }

    #[test]
    fn the_majority_point_is_what_a_majority_has_applied() {
        let r = Replication::new(hosts(3), Ts(1));
        r.record(0, Ts(10));
        assert_eq!(r.majority_point(), Ts(1));
        r.record(2, Ts(7));
        assert_eq!(r.majority_point(), Ts(7));
        r.record(1, Ts(9));
        assert_eq!(r.majority_point(), Ts(9));
        assert_eq!(r.count_at(Ts(8)), 2);
        r.record(1, Ts(2));
        assert_eq!(r.applied(1), Ts(9), "progress never goes back");
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_wake_on_progress_or_give_up_at_the_deadline() {
        let r = Replication::new(hosts(3), Ts(1));
        let deadline = Instant::now() + std::time::Duration::from_millis(100);
        assert!(!r.wait_for(Ts(5), 2, Some(deadline)).await);
        let waiter = {
            let r = r.clone();
            tokio::spawn(async move { r.wait_for(Ts(5), 2, None).await })
        };
        r.record(0, Ts(5));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        r.record(2, Ts(6));
        assert!(waiter.await.expect("task"));
    }
}
