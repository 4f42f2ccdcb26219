//! One task per connection: read frames, run their commands on the member's engine, write
//! the replies. Awaitable `hello` waits for a topology change (or its `maxAwaitTimeMS`) on a
//! timer; with `exhaustAllowed` it streams replies flagged `moreToCome`. Malformed input
//! closes that connection only.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::time::Duration;

use bson::{Bson, Document, doc};
use causeway_engine::{ClientInfo, Engine};
use causeway_protocol::{Message, MsgFlags, OpMsg, OpReply, ProtocolError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Accepts connections until shutdown; each gets its own task.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    engine: Engine,
    ids: Arc<AtomicI64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = ids.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, id, "connection accepted");
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve(stream, engine.clone(), id, shutdown.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Why a connection ends.
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("the client closed the connection")]
    ByClient,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed message: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("closed without a reply (fail point)")]
    FailPoint,
    #[error("the server is shutting down")]
    Shutdown,
}

struct Connection {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    buffer: Vec<u8>,
    engine: Engine,
    client: ClientInfo,
    next_request: AtomicI32,
}

async fn serve(stream: TcpStream, engine: Engine, id: i64, mut shutdown: watch::Receiver<bool>) {
    let (reader, writer) = stream.into_split();
    let mut connection = Connection {
        reader,
        writer,
        buffer: Vec::with_capacity(16 * 1024),
        engine,
        client: ClientInfo {
            app_name: None,
            connection_id: Some(id),
        },
        next_request: AtomicI32::new(1),
    };
    let ended = tokio::select! {
        ended = connection.run() => ended,
        _ = shutdown.changed() => Closed::Shutdown,
    };
    match ended {
        Closed::ByClient | Closed::Shutdown => tracing::debug!(id, "connection closed: {ended}"),
        Closed::FailPoint => tracing::info!(id, "connection closed by a fail point"),
        Closed::Io(_) | Closed::Protocol(_) => tracing::warn!(id, "connection closed: {ended}"),
    }
}

impl Connection {
    async fn run(&mut self) -> Closed {
        loop {
            let message = match self.next_message().await {
                Ok(message) => message,
                Err(closed) => return closed,
            };
            if let Err(closed) = self.handle(message).await {
                return closed;
            }
        }
    }

    /// Reads until one whole frame is buffered, and decodes it.
    async fn next_message(&mut self) -> Result<Message, Closed> {
        loop {
            if let Some((message, used)) = causeway_protocol::decode(&self.buffer)? {
                self.buffer.drain(..used);
                return Ok(message);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.reader.read(&mut chunk).await?;
            if n == 0 {
                return Err(Closed::ByClient);
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    fn request_id(&self) -> i32 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }

    async fn handle(&mut self, message: Message) -> Result<(), Closed> {
        match message {
            Message::Msg { header, msg } => {
                let flags = msg.flags;
                let command = msg.into_command()?;
                self.handle_command(header.request_id, flags, command).await
            }
            Message::Query { header, query } => {
                let reply = if query.is_command() {
                    let db = query.database().to_owned();
                    let command = query.command().clone();
                    self.note_handshake(&command);
                    self.engine
                        .run_command_as(&self.client, &db, command)
                        .await
                        .map_err(|_| Closed::FailPoint)?
                } else {
                    doc! {
                        "ok": 0.0,
                        "errmsg": "OP_QUERY is only supported for the hello / isMaster handshake; use OP_MSG",
                        "code": 352,
                        "codeName": "UnsupportedOpQueryCommand",
                    }
                };
                let bytes =
                    OpReply::new(vec![reply]).encode(self.request_id(), header.request_id)?;
                self.writer.write_all(&bytes).await?;
                Ok(())
            }
            Message::Reply { .. } => Err(Closed::Protocol(ProtocolError::UnknownOpCode(1))),
        }
    }

    /// Remembers what the client says of itself in its first `hello` (the application name
    /// fail points may select).
    fn note_handshake(&mut self, command: &Document) {
        if self.client.app_name.is_none()
            && let Ok(name) = command
                .get_document("client")
                .and_then(|c| c.get_document("application"))
                .and_then(|a| a.get_str("name"))
        {
            self.client.app_name = Some(name.to_owned());
        }
    }

    async fn handle_command(
        &mut self,
        request_id: i32,
        flags: MsgFlags,
        mut command: Document,
    ) -> Result<(), Closed> {
        let db = match command.remove("$db") {
            Some(Bson::String(db)) => db,
            _ => {
                let reply = doc! {"ok": 0.0, "errmsg": "OP_MSG requires a $db argument", "code": 40571, "codeName": "Location40571"};
                return self.send(OpMsg::new(reply), request_id).await;
            }
        };
        let name = command.keys().next().cloned().unwrap_or_default();
        let is_hello = matches!(name.as_str(), "hello" | "isMaster" | "ismaster");
        if is_hello {
            self.note_handshake(&command);
            if let Some((known, max_wait)) = awaitable(&command) {
                return self
                    .awaitable_hello(request_id, flags, &db, command, known, max_wait)
                    .await;
            }
        }
        // The reply comes encoded: the engine writes its times into the bytes, with no
        // document to build and encode again here.
        let reply = self
            .engine
            .run_command_encoded(&self.client, &db, command)
            .await
            .map_err(|_| Closed::FailPoint)?;
        if flags.more_to_come() {
            // The client wants no reply (an unacknowledged write).
            return Ok(());
        }
        let bytes =
            OpMsg::encode_encoded_body(MsgFlags::empty(), &reply, self.request_id(), request_id)?;
        self.writer.write_all(&bytes).await?;
        Ok(())
    }

    /// An awaitable `hello`: answer when the topology changes or `maxAwaitTimeMS` passes; with
    /// `exhaustAllowed`, keep answering on the same request (each reply flagged
    /// `moreToCome`) until the client goes away.
    async fn awaitable_hello(
        &mut self,
        request_id: i32,
        flags: MsgFlags,
        db: &str,
        command: Document,
        mut known: Document,
        max_wait: Duration,
    ) -> Result<(), Closed> {
        let mut response_to = request_id;
        loop {
            tokio::select! {
                () = self.engine.wait_for_topology_change(&known, max_wait) => {}
                closed = wait_for_close(&mut self.reader) => return Err(closed),
            }
            let reply = self
                .engine
                .run_command_as(&self.client, db, command.clone())
                .await
                .map_err(|_| Closed::FailPoint)?;
            if let Ok(version) = reply.get_document("topologyVersion") {
                known = version.clone();
            }
            let mut message = OpMsg::new(reply);
            if flags.exhaust_allowed() {
                message.flags.insert(MsgFlags::MORE_TO_COME);
            }
            let id = self.request_id();
            let bytes = message.encode(id, response_to)?;
            self.writer.write_all(&bytes).await?;
            if !flags.exhaust_allowed() {
                return Ok(());
            }
            response_to = id;
        }
    }

    async fn send(&mut self, message: OpMsg, response_to: i32) -> Result<(), Closed> {
        let bytes = message.encode(self.request_id(), response_to)?;
        self.writer.write_all(&bytes).await?;
        Ok(())
    }
}

/// The `topologyVersion` and `maxAwaitTimeMS` of an awaitable `hello`.
fn awaitable(command: &Document) -> Option<(Document, Duration)> {
    let known = command.get_document("topologyVersion").ok()?.clone();
    let ms = match command.get("maxAwaitTimeMS")? {
        Bson::Int32(n) => i64::from(*n),
        Bson::Int64(n) => *n,
        Bson::Double(f) => *f as i64,
        _ => return None,
    };
    Some((known, Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
}

/// Resolves when the client closes its end (while a reply is being awaited it sends nothing,
/// so any byte or EOF ends the wait; bytes read here would be a protocol violation).
async fn wait_for_close(reader: &mut OwnedReadHalf) -> Closed {
    let mut byte = [0u8; 1];
    match reader.peek(&mut byte).await {
        Ok(0) => Closed::ByClient,
        Ok(_) => {
            // The client sent something while a streamed reply was pending: keep waiting for
            // it to be read normally (an exhaust stream ends when the client closes).
            std::future::pending::<()>().await;
            Closed::ByClient
        }
        Err(e) => Closed::Io(e),
    }
}
