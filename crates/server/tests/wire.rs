//! The server over real sockets, with a minimal client built on `causeway-protocol`.

use std::time::{Duration, Instant};

use bson::{Document, doc};
use causeway_protocol::{Message, MsgFlags, OpMsg, OpQuery};
use causeway_server::{Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(members: usize) -> Server {
    Server::start(ServerConfig {
        port: 0,
        members,
        ..ServerConfig::default()
    })
    .await
    .expect("the server starts")
}

struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
    next_id: i32,
}

impl Client {
    async fn connect(server: &Server, member: usize) -> Client {
        let stream = TcpStream::connect(server.addresses()[member])
            .await
            .expect("connects");
        Client {
            stream,
            buffer: Vec::new(),
            next_id: 1,
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("writes");
    }

    async fn send(&mut self, db: &str, mut command: Document, flags: MsgFlags) -> i32 {
        command.insert("$db", db);
        let mut msg = OpMsg::new(command);
        msg.flags = flags;
        self.next_id += 1;
        let bytes = msg.encode(self.next_id, 0).expect("encodes");
        self.send_raw(&bytes).await;
        self.next_id
    }

    /// The next message, or `None` if the server closed the connection.
    async fn receive(&mut self) -> Option<Message> {
        loop {
            if let Some((message, used)) =
                causeway_protocol::decode(&self.buffer).expect("a valid reply")
            {
                self.buffer.drain(..used);
                return Some(message);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    async fn command(&mut self, db: &str, command: Document) -> Document {
        let id = self.send(db, command, MsgFlags::default()).await;
        match self.receive().await {
            Some(Message::Msg { header, msg }) => {
                assert_eq!(header.response_to, id);
                msg.body
            }
            other => panic!("expected an OP_MSG reply, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn answers_hello_and_crud_over_op_msg() {
    let server = start(3).await;
    assert!(
        server.uri().starts_with("mongodb://127.0.0.1:")
            && server.uri().ends_with("/?replicaSet=rs0")
    );
    let mut primary = Client::connect(&server, 0).await;
    let hello = primary
        .command(
            "admin",
            doc! {"hello": 1, "client": {"application": {"name": "wire-test"}}},
        )
        .await;
    assert_eq!(hello.get_bool("isWritablePrimary").ok(), Some(true));
    assert_eq!(hello.get_array("hosts").map(|h| h.len()).ok(), Some(3));
    assert!(hello.get_i64("connectionId").is_ok());
    let insert = primary
        .command("db", doc! {"insert": "c", "documents": [{"_id": 1}]})
        .await;
    assert_eq!(insert.get_i32("n").ok(), Some(1));
    let found = primary.command("db", doc! {"find": "c"}).await;
    assert_eq!(
        found
            .get_document("cursor")
            .and_then(|c| c.get_array("firstBatch"))
            .map(|b| b.len())
            .ok(),
        Some(1)
    );

    let mut secondary = Client::connect(&server, 1).await;
    let hello = secondary.command("admin", doc! {"hello": 1}).await;
    assert_eq!(hello.get_bool("secondary").ok(), Some(true));
    let refused = secondary
        .command("db", doc! {"insert": "c", "documents": [{"_id": 2}]})
        .await;
    assert_eq!(refused.get_str("codeName").ok(), Some("NotWritablePrimary"));
    server.shutdown().await;
}

#[tokio::test]
async fn answers_the_legacy_op_query_handshake() {
    let server = start(1).await;
    let mut client = Client::connect(&server, 0).await;
    let query = OpQuery {
        flags: Default::default(),
        full_collection_name: "admin.$cmd".to_owned(),
        number_to_skip: 0,
        number_to_return: -1,
        query: doc! {"isMaster": 1},
        return_fields_selector: None,
    };
    client.send_raw(&query.encode(7, 0).expect("encodes")).await;
    match client.receive().await {
        Some(Message::Reply { header, reply }) => {
            assert_eq!(header.response_to, 7);
            assert_eq!(reply.documents[0].get_bool("ismaster").ok(), Some(true));
        }
        other => panic!("expected an OP_REPLY, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn more_to_come_requests_get_no_reply() {
    let server = start(1).await;
    let mut client = Client::connect(&server, 0).await;
    client
        .send(
            "db",
            doc! {"insert": "c", "documents": [{"_id": 1}], "writeConcern": {"w": 0}},
            MsgFlags::MORE_TO_COME,
        )
        .await;
    let count = client.command("db", doc! {"count": "c"}).await;
    assert_eq!(
        count.get_i32("n").ok(),
        Some(1),
        "the first reply is the count's: the insert got none"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_input_closes_only_that_connection() {
    let server = start(1).await;
    for garbage in [&b"\x05\x00\x00\x00\x00"[..], &[0xff; 64][..], &b"\x20\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xd4\x07\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"[..]] {
        let mut bad = Client::connect(&server, 0).await;
        bad.send_raw(garbage).await;
        assert!(bad.receive().await.is_none(), "the server closes a connection that sent {garbage:?}");
    }
    let huge = 60_000_000_i32.to_le_bytes();
    let mut bad = Client::connect(&server, 0).await;
    bad.send_raw(&[&huge[..], &[0; 12]].concat()).await;
    assert!(
        bad.receive().await.is_none(),
        "an oversized frame is refused before it is read"
    );
    let mut good = Client::connect(&server, 0).await;
    assert_eq!(
        good.command("admin", doc! {"ping": 1})
            .await
            .get_f64("ok")
            .ok(),
        Some(1.0)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn close_connection_fail_point_closes_the_socket_without_a_reply() {
    let server = start(1).await;
    let mut admin = Client::connect(&server, 0).await;
    admin
        .command("admin", doc! {"configureFailPoint": "failCommand", "mode": {"times": 1}, "data": {"failCommands": ["find"], "closeConnection": true}})
        .await;
    let mut victim = Client::connect(&server, 0).await;
    victim
        .send("db", doc! {"find": "c"}, MsgFlags::default())
        .await;
    assert!(victim.receive().await.is_none());
    assert_eq!(
        admin
            .command("db", doc! {"find": "c"})
            .await
            .get_f64("ok")
            .ok(),
        Some(1.0)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_awaitable_hello_waits_and_exhaust_streams_replies() {
    let server = start(1).await;
    let mut client = Client::connect(&server, 0).await;
    let first = client.command("admin", doc! {"hello": 1}).await;
    let version = first
        .get_document("topologyVersion")
        .expect("topologyVersion")
        .clone();
    let started = Instant::now();
    let awaited = client
        .command(
            "admin",
            doc! {"hello": 1, "topologyVersion": version.clone(), "maxAwaitTimeMS": 300},
        )
        .await;
    assert!(
        started.elapsed() >= Duration::from_millis(280),
        "the reply waited for maxAwaitTimeMS"
    );
    assert_eq!(awaited.get_document("topologyVersion").ok(), Some(&version));

    let id = client
        .send(
            "admin",
            doc! {"hello": 1, "topologyVersion": version, "maxAwaitTimeMS": 100},
            MsgFlags::EXHAUST_ALLOWED,
        )
        .await;
    let mut response_to = id;
    for _ in 0..3 {
        match client.receive().await {
            Some(Message::Msg { header, msg }) => {
                assert_eq!(header.response_to, response_to);
                assert!(
                    msg.flags.more_to_come(),
                    "streamed replies carry moreToCome"
                );
                response_to = header.request_id;
            }
            other => panic!("expected a streamed hello, got {other:?}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn ports_in_use_are_reported() {
    let server = start(1).await;
    let taken = server.addresses()[0].port();
    let error = Server::start(ServerConfig {
        port: taken,
        members: 1,
        ..ServerConfig::default()
    })
    .await
    .expect_err("the port is taken");
    assert!(error.to_string().contains("cannot listen"), "{error}");
    server.shutdown().await;
}
