//! The versions of one document.

use std::collections::VecDeque;

use crate::clock::Ts;

/// One committed version of a document: its BSON bytes, or none for a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The commit time of the write that installed it.
    pub ts: Ts,
    /// The document's BSON bytes, empty for a delete (no document encodes to nothing, and an
    /// empty box does not allocate). Not an `Option`: the box's pointer, never null, is then
    /// free to tell a [`Record`]'s two shapes apart, which keeps a record at three words.
    bytes: Box<[u8]>,
}

impl Version {
    /// A version committed at `ts`: a document's bytes, or `None` for a delete.
    pub fn new(ts: Ts, doc: Option<Box<[u8]>>) -> Version {
        Version {
            ts,
            bytes: doc.unwrap_or_default(),
        }
    }

    /// The document's BSON bytes, or `None` if the write deleted it.
    pub fn doc(&self) -> Option<&[u8]> {
        (!self.bytes.is_empty()).then_some(&*self.bytes)
    }
}

/// The committed versions of one document, oldest first.
///
/// Most documents have one version, kept inline; a document updated while older snapshots may
/// still read it keeps the versions they see, in a list of its own. A collection holds a
/// record per document in its map's nodes, so the record's size counts once per document:
/// 24 bytes (a test holds it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A single version.
    One(Version),
    /// Several versions, oldest first, never empty (old versions leave from the front as new
    /// ones arrive at the back).
    Many(Box<VecDeque<Version>>),
}

impl Record {
    /// A record with one version.
    pub fn new(version: Version) -> Record {
        Record::One(version)
    }

    /// All versions, oldest first.
    pub fn versions(&self) -> Versions<'_> {
        match self {
            Record::One(v) => Versions::One(Some(v)),
            Record::Many(vs) => Versions::Many(vs.iter()),
        }
    }

    /// How many versions are kept.
    pub fn len(&self) -> usize {
        match self {
            Record::One(_) => 1,
            Record::Many(vs) => vs.len(),
        }
    }

    /// Whether no version is kept (never: a record has at least one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The newest version (`None` only for a record emptied by mistake: `Many` is never
    /// empty).
    pub fn latest(&self) -> Option<&Version> {
        match self {
            Record::One(v) => Some(v),
            Record::Many(vs) => vs.back(),
        }
    }

    /// The oldest version kept (`None` as for [`Record::latest`]).
    pub fn oldest(&self) -> Option<&Version> {
        match self {
            Record::One(v) => Some(v),
            Record::Many(vs) => vs.front(),
        }
    }

    /// The version a reader at `at` sees: the newest committed at or before `at`.
    pub fn visible_at(&self, at: Ts) -> Option<&Version> {
        match self {
            Record::One(v) => (v.ts <= at).then_some(v),
            Record::Many(vs) => vs.iter().rev().find(|v| v.ts <= at),
        }
    }

    /// The document a reader at `at` sees, if it exists for that reader.
    pub fn doc_at(&self, at: Ts) -> Option<&[u8]> {
        self.visible_at(at).and_then(Version::doc)
    }

    /// Appends a newer version.
    pub fn push(&mut self, version: Version) {
        match self {
            Record::One(_) => {
                let Record::One(old) =
                    std::mem::replace(self, Record::Many(Box::new(VecDeque::with_capacity(2))))
                else {
                    return;
                };
                if let Record::Many(vs) = self {
                    vs.push_back(old);
                    vs.push_back(version);
                }
            }
            Record::Many(vs) => vs.push_back(version),
        }
    }

    /// Drops the versions no reader at or after `horizon` can see: everything older than the
    /// newest version committed at or before `horizon`. Returns the dropped versions.
    pub fn prune(&mut self, horizon: Ts) -> Vec<Version> {
        let Record::Many(vs) = self else {
            return Vec::new();
        };
        // Versions are in time order: find the newest at or before the horizon by bisection,
        // so a hot document with a long history costs the same as a cold one.
        let keep_from = vs.partition_point(|v| v.ts <= horizon).saturating_sub(1);
        let dropped: Vec<Version> = vs.drain(..keep_from).collect();
        if vs.len() == 1
            && let Some(only) = vs.pop_front()
        {
            *self = Record::One(only);
        }
        dropped
    }

    /// Keeps at most `max` versions by dropping the oldest, but never one a reader at `hard`
    /// (an open snapshot, the majority point) still sees. Returns the dropped versions and
    /// the time before which this record can no longer answer (the oldest kept version's).
    pub fn truncate_history(&mut self, max: usize, hard: Ts) -> (Vec<Version>, Option<Ts>) {
        let Record::Many(vs) = self else {
            return (Vec::new(), None);
        };
        let mut dropped = Vec::new();
        while vs.len() > max.max(1) && vs.get(1).is_some_and(|next| next.ts <= hard) {
            if let Some(old) = vs.pop_front() {
                dropped.push(old);
            }
        }
        let floor = (!dropped.is_empty())
            .then(|| vs.front().map(|v| v.ts))
            .flatten();
        (dropped, floor)
    }

    /// Whether nothing is left for any reader at or after `horizon`: the only version is a
    /// delete at or before it.
    pub fn is_dead(&self, horizon: Ts) -> bool {
        matches!(self, Record::One(v) if v.doc().is_none() && v.ts <= horizon)
    }
}

/// The versions of a record, oldest first.
#[derive(Debug, Clone)]
pub enum Versions<'a> {
    /// The single version (until taken).
    One(Option<&'a Version>),
    /// The versions of a multi-version record.
    Many(std::collections::vec_deque::Iter<'a, Version>),
}

impl<'a> Iterator for Versions<'a> {
    type Item = &'a Version;

    fn next(&mut self) -> Option<&'a Version> {
        match self {
            Versions::One(v) => v.take(),
            Versions::Many(it) => it.next(),
        }
    }
}

impl DoubleEndedIterator for Versions<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Versions::One(v) => v.take(),
            Versions::Many(it) => it.next_back(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ts: u64, doc: Option<&[u8]>) -> Version {
        Version::new(Ts(ts), doc.map(Box::from))
    }

    #[test]
    fn a_record_is_three_words() {
        assert_eq!(std::mem::size_of::<Record>(), 24);
        assert_eq!(v(1, None).doc(), None);
        assert_eq!(v(1, Some(b"a")).doc(), Some(&b"a"[..]));
    }

    #[test]
    fn readers_see_the_newest_version_at_or_before_their_time() {
        let mut r = Record::new(v(10, Some(b"a")));
        r.push(v(20, Some(b"b")));
        r.push(v(30, None));
        assert_eq!(r.doc_at(Ts(5)), None);
        assert_eq!(r.doc_at(Ts(10)), Some(&b"a"[..]));
        assert_eq!(r.doc_at(Ts(25)), Some(&b"b"[..]));
        assert_eq!(r.doc_at(Ts(30)), None);
        assert_eq!(r.latest().map(|v| v.ts), Some(Ts(30)));
        assert_eq!(r.oldest().map(|v| v.ts), Some(Ts(10)));
        assert_eq!(r.versions().count(), 3);
    }

    #[test]
    fn pruning_keeps_what_the_horizon_can_see() {
        let mut r = Record::new(v(10, Some(b"a")));
        r.push(v(20, Some(b"b")));
        r.push(v(30, Some(b"c")));
        let dropped = r.prune(Ts(25));
        assert_eq!(dropped, vec![v(10, Some(b"a"))]);
        assert_eq!(r.doc_at(Ts(25)), Some(&b"b"[..]));
        assert_eq!(r.prune(Ts(30)).len(), 1);
        assert_eq!(r, Record::One(v(30, Some(b"c"))));
        assert!(r.prune(Ts(5)).is_empty());
    }

    #[test]
    fn history_is_capped_but_never_below_what_readers_need() {
        let mut r = Record::new(v(1, Some(b"a")));
        for ts in 2..=10 {
            r.push(v(ts, Some(b"x")));
        }
        let (dropped, floor) = r.truncate_history(4, Ts(8));
        assert_eq!(dropped.len(), 6);
        assert_eq!(floor, Some(Ts(7)));
        assert_eq!(r.len(), 4);
        // A reader at 5 still needs version 5: nothing older than it goes.
        let mut r = Record::new(v(1, Some(b"a")));
        for ts in 2..=10 {
            r.push(v(ts, Some(b"x")));
        }
        let (dropped, floor) = r.truncate_history(2, Ts(5));
        assert_eq!((dropped.len(), floor), (4, Some(Ts(5))));
        assert_eq!(r.doc_at(Ts(5)), Some(&b"x"[..]));
    }

    #[test]
    fn a_delete_older_than_every_reader_is_dead() {
        let mut r = Record::new(v(10, Some(b"a")));
        r.push(v(20, None));
        assert!(!r.is_dead(Ts(30)));
        r.prune(Ts(30));
        assert!(r.is_dead(Ts(30)));
        assert!(!r.is_dead(Ts(15)));
    }
}
