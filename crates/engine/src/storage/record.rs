//! The versions of one document.

use crate::clock::Ts;

/// One committed version of a document: its BSON bytes, or `None` for a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The commit time of the write that installed it.
    pub ts: Ts,
    /// The document's BSON bytes; `None` if the write deleted it.
    pub doc: Option<Box<[u8]>>,
}

/// The committed versions of one document, oldest first.
///
/// Most documents have one version, kept inline; a document updated while older snapshots are
/// open keeps the versions those snapshots still see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A single version.
    One(Version),
    /// Several versions, oldest first, never empty.
    Many(Vec<Version>),
}

impl Record {
    /// A record with one version.
    pub fn new(version: Version) -> Record {
        Record::One(version)
    }

    /// All versions, oldest first.
    pub fn versions(&self) -> &[Version] {
        match self {
            Record::One(v) => std::slice::from_ref(v),
            Record::Many(vs) => vs,
        }
    }

    /// The newest version.
    pub fn latest(&self) -> &Version {
        match self {
            Record::One(v) => v,
            // `Many` is never empty; fall back to a harmless reading if it were.
            Record::Many(vs) => vs.last().unwrap_or(&TOMBSTONE),
        }
    }

    /// The version a reader at `at` sees: the newest committed at or before `at`.
    pub fn visible_at(&self, at: Ts) -> Option<&Version> {
        self.versions().iter().rev().find(|v| v.ts <= at)
    }

    /// The document a reader at `at` sees, if it exists for that reader.
    pub fn doc_at(&self, at: Ts) -> Option<&[u8]> {
        self.visible_at(at).and_then(|v| v.doc.as_deref())
    }

    /// Appends a newer version.
    pub fn push(&mut self, version: Version) {
        match self {
            Record::One(_) => {
                let Record::One(old) = std::mem::replace(self, Record::Many(Vec::with_capacity(2)))
                else {
                    return;
                };
                if let Record::Many(vs) = self {
                    vs.push(old);
                    vs.push(version);
                }
            }
            Record::Many(vs) => vs.push(version),
        }
    }

    /// Drops the versions no reader at or after `horizon` can see: everything older than the
    /// newest version committed at or before `horizon`. Returns the dropped versions.
    pub fn prune(&mut self, horizon: Ts) -> Vec<Version> {
        let Record::Many(vs) = self else {
            return Vec::new();
        };
        let keep_from = vs.iter().rposition(|v| v.ts <= horizon).unwrap_or(0);
        let dropped: Vec<Version> = vs.drain(..keep_from).collect();
        if vs.len() == 1
            && let Some(only) = vs.pop()
        {
            *self = Record::One(only);
        }
        dropped
    }

    /// Whether nothing is left for any reader at or after `horizon`: the only version is a
    /// delete at or before it.
    pub fn is_dead(&self, horizon: Ts) -> bool {
        matches!(self, Record::One(v) if v.doc.is_none() && v.ts <= horizon)
    }
}

static TOMBSTONE: Version = Version {
    ts: Ts::ZERO,
    doc: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ts: u64, doc: Option<&[u8]>) -> Version {
        Version {
            ts: Ts(ts),
            doc: doc.map(Box::from),
        }
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
        assert_eq!(r.latest().ts, Ts(30));
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
    fn a_delete_older_than_every_reader_is_dead() {
        let mut r = Record::new(v(10, Some(b"a")));
        r.push(v(20, None));
        assert!(!r.is_dead(Ts(30)));
        r.prune(Ts(30));
        assert!(r.is_dead(Ts(30)));
        assert!(!r.is_dead(Ts(15)));
    }
}
