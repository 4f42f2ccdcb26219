//! Reply documents made with room for the fields a reply ends up with.

use std::sync::LazyLock;

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
    static ROOMY: LazyLock<Document> = LazyLock::new(|| {
        let mut room = Document::new();
        for field in ["a", "b", "c", "d", "e", "f", "g"] {
            room.insert(field, 0);
        }
        room.clear();
        room
    });
    ROOMY.clone()
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
}
