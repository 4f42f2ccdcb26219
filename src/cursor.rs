//! Cursors: a `Stream` of results that fetches further batches with `getMore`.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bson::{Bson, Document, doc};
use futures_core::Stream;
use serde::de::DeserializeOwned;

use crate::action::{BoxFuture, from_document};
use crate::client::Client;
use crate::errors::{Error, Result};
use crate::operation::{OpKind, Operation};
use crate::options::ReadPreference;
use crate::session::SessionCore;

/// The session a cursor's batches are fetched in: the caller's, or its own implicit one,
/// released when the cursor is exhausted or dropped.
#[derive(Debug, Clone)]
pub(crate) enum CursorSession<'a> {
    Borrowed(&'a SessionCore),
    Owned(Arc<SessionCore>),
}

impl CursorSession<'_> {
    fn core(&self) -> &SessionCore {
        match self {
            CursorSession::Borrowed(s) => s,
            CursorSession::Owned(s) => s,
        }
    }
}

/// A batch of results and the cursor id after it (`0`: exhausted).
type Batch = (VecDeque<Document>, i64);

/// The results of a query, read with `futures_util::TryStreamExt` (`try_next`,
/// `try_collect`) or any `Stream` combinator.
///
/// ```
/// # async fn example() -> causeway::Result<()> {
/// use bson::{Document, doc};
/// use futures_util::TryStreamExt;
///
/// let client = causeway::Client::embedded();
/// let items = client.database("shop").collection::<Document>("items");
/// items.insert_many((0..250).map(|i| doc! {"i": i})).await?;
/// let all: Vec<Document> = items.find(doc! {}).batch_size(100).await?.try_collect().await?;
/// assert_eq!(all.len(), 250);
/// # Ok(())
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
/// ```
#[must_use = "a cursor does nothing unless read"]
pub struct Cursor<'a, T> {
    client: Client,
    session: CursorSession<'a>,
    db: String,
    collection: String,
    id: i64,
    batch_size: Option<i64>,
    selection: Option<ReadPreference>,
    buffer: VecDeque<Document>,
    pending: Option<BoxFuture<'a, Result<Batch>>>,
    _results: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Cursor<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("id", &self.id)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl<'a, T> Cursor<'a, T> {
    /// A cursor from a reply with `cursor: {id, ns, firstBatch}`.
    pub(crate) fn from_reply(
        client: Client,
        session: CursorSession<'a>,
        reply: &Document,
        batch_size: Option<i64>,
        selection: Option<ReadPreference>,
    ) -> Result<Cursor<'a, T>> {
        let cursor = reply
            .get_document("cursor")
            .map_err(|_| Error::invalid_response("a reply without a cursor"))?;
        let id = cursor
            .get_i64("id")
            .map_err(|_| Error::invalid_response("a cursor without an id"))?;
        let ns = cursor.get_str("ns").unwrap_or_default();
        let (db, collection) = ns.split_once('.').unwrap_or((ns, ""));
        let buffer = cursor
            .get_array("firstBatch")
            .map_err(|_| Error::invalid_response("a cursor without firstBatch"))?
            .iter()
            .map(|d| match d {
                Bson::Document(d) => Ok(d.clone()),
                _ => Err(Error::invalid_response(
                    "a batch with a non-document result",
                )),
            })
            .collect::<Result<VecDeque<_>>>()?;
        Ok(Cursor {
            client,
            session,
            db: db.to_owned(),
            collection: collection.to_owned(),
            id,
            batch_size,
            selection,
            buffer,
            pending: None,
            _results: PhantomData,
        })
    }

    /// Whether the server holds more results.
    pub fn has_more_batches(&self) -> bool {
        self.id != 0
    }

    fn get_more(&self) -> BoxFuture<'a, Result<Batch>> {
        let mut command = doc! {"getMore": self.id, "collection": self.collection.clone()};
        if let Some(size) = self.batch_size {
            command.insert("batchSize", size);
        }
        let mut op = Operation::new(self.db.clone(), command, OpKind::GetMore);
        op.read_preference = self.selection.clone();
        let client = self.client.clone();
        let session = self.session.clone();
        Box::pin(async move {
            let reply = client.execute(op, Some(session.core())).await?;
            let cursor = reply
                .get_document("cursor")
                .map_err(|_| Error::invalid_response("a getMore reply without a cursor"))?;
            let id = cursor.get_i64("id").unwrap_or(0);
            let batch = cursor
                .get_array("nextBatch")
                .map_err(|_| Error::invalid_response("a getMore reply without nextBatch"))?
                .iter()
                .filter_map(|d| d.as_document().cloned())
                .collect();
            Ok((batch, id))
        })
    }
}

impl<T: DeserializeOwned> Stream for Cursor<'_, T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(doc) = self.buffer.pop_front() {
                return Poll::Ready(Some(from_document(doc)));
            }
            if self.id == 0 {
                return Poll::Ready(None);
            }
            if self.pending.is_none() {
                let next = self.get_more();
                self.pending = Some(next);
            }
            let Some(pending) = self.pending.as_mut() else {
                return Poll::Ready(None);
            };
            match pending.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => {
                    self.pending = None;
                    match result {
                        Ok((batch, id)) => {
                            self.buffer = batch;
                            self.id = id;
                        }
                        Err(e) => {
                            self.id = 0;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
            }
        }
    }
}

impl<T> Drop for Cursor<'_, T> {
    fn drop(&mut self) {
        if self.id != 0 {
            let lsid = self.session.core().state.lock().lsid();
            let command =
                doc! {"killCursors": self.collection.clone(), "cursors": [self.id], "lsid": lsid};
            self.client.send_detached(&self.db, command);
        }
    }
}
