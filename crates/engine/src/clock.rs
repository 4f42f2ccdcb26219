//! Cluster time: `Timestamp(seconds, increment)`, strictly increasing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bson::Timestamp;

/// A point in cluster time, packed so that integer order is timestamp order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ts(pub u64);

impl Ts {
    /// Before every real time.
    pub const ZERO: Ts = Ts(0);

    /// The BSON timestamp.
    pub fn to_bson(self) -> Timestamp {
        Timestamp {
            time: (self.0 >> 32) as u32,
            increment: self.0 as u32,
        }
    }

    /// From a BSON timestamp.
    pub fn from_bson(ts: Timestamp) -> Ts {
        Ts((u64::from(ts.time) << 32) | u64::from(ts.increment))
    }

    /// The seconds part.
    pub fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// The cluster clock of one deployment: each tick returns a time later than every time
/// returned or observed before.
#[derive(Debug, Default)]
pub struct ClusterClock {
    last: AtomicU64,
}

impl ClusterClock {
    /// A clock that starts at the current wall-clock second.
    pub fn new() -> ClusterClock {
        ClusterClock {
            last: AtomicU64::new(
                Ts::from_bson(Timestamp {
                    time: wall_seconds(),
                    increment: 0,
                })
                .0,
            ),
        }
    }

    /// The latest time handed out or observed.
    pub fn now(&self) -> Ts {
        Ts(self.last.load(Ordering::Acquire))
    }

    /// A new time, later than every earlier one: the current wall-clock second with the next
    /// increment, or the next increment of the latest time if that is ahead of the wall clock.
    pub fn tick(&self) -> Ts {
        let wall = Ts::from_bson(Timestamp {
            time: wall_seconds(),
            increment: 1,
        });
        let mut current = self.last.load(Ordering::Acquire);
        loop {
            let next = wall.0.max(current + 1);
            match self.last.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ts(next),
                Err(seen) => current = seen,
            }
        }
    }

    /// Moves the clock forward to `ts` if it is ahead (gossip of a higher `$clusterTime`).
    pub fn advance(&self, ts: Ts) {
        self.last.fetch_max(ts.0, Ordering::AcqRel);
    }
}

fn wall_seconds() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_strictly_increase() {
        let clock = ClusterClock::new();
        let mut last = clock.now();
        for _ in 0..10_000 {
            let t = clock.tick();
            assert!(t > last);
            last = t;
        }
    }

    #[test]
    fn gossip_moves_the_clock_forward_only() {
        let clock = ClusterClock::new();
        let ahead = Ts::from_bson(Timestamp {
            time: u32::MAX - 1,
            increment: 7,
        });
        clock.advance(ahead);
        assert_eq!(clock.now(), ahead);
        clock.advance(Ts(1));
        assert_eq!(clock.now(), ahead);
        assert_eq!(
            clock.tick().to_bson(),
            Timestamp {
                time: u32::MAX - 1,
                increment: 8
            }
        );
    }

    #[test]
    fn packing_preserves_order() {
        let a = Ts::from_bson(Timestamp {
            time: 5,
            increment: u32::MAX,
        });
        let b = Ts::from_bson(Timestamp {
            time: 6,
            increment: 0,
        });
        assert!(a < b);
        assert_eq!(
            a.to_bson(),
            Timestamp {
                time: 5,
                increment: u32::MAX
            }
        );
    }
}
