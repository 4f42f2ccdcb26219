//! Replies: documents made with room for the fields a reply ends up with, and the most
//! frequent replies kept as values until the caller says in what form it wants them.

use bson::{Bson, Document};

/// An empty reply document. With `room` (the reply will get `operationTime` and
/// `$clusterTime`, see `Request::reply_gets_times`) it has room for seven fields,
/// the most a reply usually has; otherwise it is an ordinary new document.
///
/// A reply gains `ok`, `operationTime` and `$clusterTime` on top of its own fields, so most
/// replies grow past the three fields a new `Document` has room for. Growing reallocates the
/// entries (144 bytes each) and rebuilds the hash table. With glibc's allocator the
/// reallocation to seven entries is a large-bin request, which first consolidates every
/// free fast-bin chunk: a measurable share of a small command's time. A copy of an emptied
/// document that held seven fields gets a table of that size at once, and its entries take
/// the table's capacity on the first insert, so the room costs two allocations and no
/// reallocation. (`bson::Document` has no `with_capacity`.)
pub(crate) fn document(room: bool) -> Document {
    if !room {
        // Without the times most replies fit the three fields a new document has room for,
        // and a smaller allocation is the cheaper one.
        return Document::new();
    }
    crate::encoding::document_with_room(7)
}

/// A reply of these fields, in this order (with room for the times, as [`document`]).
pub(crate) fn of<const N: usize>(room: bool, fields: [(&str, Bson); N]) -> Document {
    let mut reply = document(room);
    for (key, value) in fields {
        reply.insert(key, value);
    }
    reply
}

/// `{ok: 1.0}` (with room for the times, as [`document`]).
pub(crate) fn ok(room: bool) -> Document {
    let mut reply = document(room);
    reply.insert("ok", 1.0);
    reply
}

/// A command's reply on its way out. The replies sent most often — `{ok: 1}` for commits and
/// aborts, and the counts of a write with no upserts and no errors — stay values until the
/// caller asks for a document ([`Reply::into_document`]) or for bytes (which are written from
/// the values without a document in between); every other reply is a document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// Any reply.
    Document(Document),
    /// `{ok: 1.0}`.
    Ok,
    /// `{n, nModified, ok: 1.0}` (`nModified` for updates only).
    Written {
        /// Documents matched (updates) or written.
        n: i32,
        /// Documents changed, for an update.
        modified: Option<i32>,
    },
}

impl Reply {
    /// The reply as a document, with room for the times as [`document`] makes it.
    pub(crate) fn into_document(self, room: bool) -> Document {
        match self {
            Reply::Document(reply) => reply,
            Reply::Ok => ok(room),
            Reply::Written { n, modified } => {
                let mut reply = document(room);
                reply.insert("n", n);
                if let Some(modified) = modified {
                    reply.insert("nModified", modified);
                }
                reply.insert("ok", 1.0);
                reply
            }
        }
    }

    /// Changes the reply as a document (a rare need: a write concern error, a snapshot's
    /// time, labels a fail point sets), making it one first if it is values.
    pub(crate) fn edit(&mut self, change: impl FnOnce(&mut Document)) {
        let mut reply = match std::mem::replace(self, Reply::Ok) {
            Reply::Document(reply) => reply,
            values => values.into_document(false),
        };
        change(&mut reply);
        *self = Reply::Document(reply);
    }

    /// The document, if the reply is one (the values' replies are successes without error
    /// fields).
    pub(crate) fn as_document(&self) -> Option<&Document> {
        match self {
            Reply::Document(reply) => Some(reply),
            Reply::Ok | Reply::Written { .. } => None,
        }
    }
}

impl From<Document> for Reply {
    fn from(reply: Document) -> Reply {
        Reply::Document(reply)
    }
}

#[cfg(test)]
mod tests {
    use bson::{Bson, doc};

    #[test]
    fn a_roomy_document_is_an_ordinary_empty_document() {
        let mut reply = super::document(true);
        assert!(reply.is_empty());
        for (i, key) in ["n", "nModified", "ok", "operationTime", "$clusterTime"]
            .into_iter()
            .enumerate()
        {
            reply.insert(key, i as i32);
        }
        assert_eq!(
            reply,
            doc! {"n": 0, "nModified": 1, "ok": 2, "operationTime": 3, "$clusterTime": 4}
        );
        assert_eq!(super::ok(true).get("ok"), Some(&Bson::Double(1.0)));
        assert_eq!(super::ok(false), doc! {"ok": 1.0});
        assert_eq!(
            super::of(true, [("n", Bson::Int32(2)), ("ok", Bson::Double(1.0))]),
            doc! {"n": 2, "ok": 1.0}
        );
        // Each copy is its own document.
        assert!(super::document(true).is_empty());
    }

    #[test]
    fn values_become_the_documents_they_stand_for() {
        use super::Reply;
        let written = Reply::Written {
            n: 2,
            modified: Some(1),
        };
        for room in [false, true] {
            assert_eq!(
                written.clone().into_document(room),
                doc! {"n": 2, "nModified": 1, "ok": 1.0}
            );
            assert_eq!(Reply::Ok.into_document(room), doc! {"ok": 1.0});
        }
        let insert = Reply::Written {
            n: 3,
            modified: None,
        };
        assert_eq!(insert.into_document(false), doc! {"n": 3, "ok": 1.0});
        let mut edited = written;
        assert_eq!(edited.as_document(), None);
        edited.edit(|reply| {
            reply.insert("writeConcernError", doc! {"code": 64});
        });
        assert_eq!(
            edited.as_document(),
            Some(&doc! {"n": 2, "nModified": 1, "ok": 1.0, "writeConcernError": {"code": 64}})
        );
    }
}
