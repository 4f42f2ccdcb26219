//! causeway-server: the embedded replica set of causeway over the MongoDB wire protocol.
//!
//! Each member listens on its own port (consecutive from the first), so any MongoDB driver
//! connects with an ordinary connection string, discovers the set from any member, and sends
//! secondary reads to secondaries — which apply the primary's oplog after their lag.
//!
//! ```no_run
//! # async fn example() -> Result<(), causeway_server::ServerError> {
//! use causeway_server::{Server, ServerConfig};
//!
//! let server = Server::start(ServerConfig { port: 0, ..ServerConfig::default() }).await?;
//! println!("{}", server.uri()); // mongodb://127.0.0.1:PORT,.../?replicaSet=rs0
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod connection;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use causeway_engine::replset::ReplicaSet;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How to run the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The address to listen on.
    pub bind: String,
    /// The first member's port; the others take the next ones. `0` picks free ports.
    pub port: u16,
    /// How many members (the first is the primary).
    pub members: usize,
    /// The replica set name.
    pub replica_set: String,
    /// Each secondary's lag behind the primary, in order; the last one repeats for the rest.
    pub lags: Vec<Duration>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            bind: "127.0.0.1".to_owned(),
            port: 27017,
            members: 3,
            replica_set: "rs0".to_owned(),
            lags: vec![Duration::ZERO],
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A member's port could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A running server: the replica set and one listener per member.
#[derive(Debug)]
pub struct Server {
    set: ReplicaSet,
    addresses: Vec<SocketAddr>,
    name: String,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Server {
    /// Binds every member's port, builds the replica set and starts serving. When it returns,
    /// every member accepts connections.
    pub async fn start(config: ServerConfig) -> Result<Server, ServerError> {
        if config.members == 0 || config.members > 50 {
            return Err(ServerError::Config(format!(
                "members must be between 1 and 50, not {}",
                config.members
            )));
        }
        let (listeners, first_port) = bind_members(&config).await?;
        let mut builder = ReplicaSet::builder()
            .members(config.members)
            .name(config.replica_set.clone())
            .address(config.bind.clone(), first_port);
        for member in 1..config.members {
            let lag = config
                .lags
                .get(member - 1)
                .or(config.lags.last())
                .copied()
                .unwrap_or_default();
            builder = builder.lag(member, lag);
        }
        let set = builder.build();
        set.ensure_started();
        let (shutdown, _) = watch::channel(false);
        let connection_ids = Arc::new(AtomicI64::new(1));
        let mut tasks = JoinSet::new();
        let mut addresses = Vec::new();
        for (member, listener) in listeners.into_iter().enumerate() {
            addresses.push(listener.local_addr().map_err(|source| ServerError::Bind {
                address: config.bind.clone(),
                source,
            })?);
            let Some(engine) = set.member(member).cloned() else {
                continue;
            };
            tasks.spawn(connection::accept_loop(
                listener,
                engine,
                connection_ids.clone(),
                shutdown.subscribe(),
            ));
        }
        tracing::info!(members = config.members, set = %config.replica_set, first_port, "serving");
        Ok(Server {
            set,
            addresses,
            name: config.replica_set,
            shutdown,
            tasks,
        })
    }

    /// The connection string of the set: `mongodb://HOST:PORT,.../?replicaSet=NAME`.
    pub fn uri(&self) -> String {
        let hosts: Vec<String> = self.set.hosts();
        format!("mongodb://{}/?replicaSet={}", hosts.join(","), self.name)
    }

    /// The addresses the members listen on.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// The replica set (to change lags or pause members while serving).
    pub fn replica_set(&self) -> &ReplicaSet {
        &self.set
    }

    /// Stops accepting, closes every connection, and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Binds one listener per member on consecutive ports (for port 0: the first free range
/// found among random bases).
async fn bind_members(config: &ServerConfig) -> Result<(Vec<TcpListener>, u16), ServerError> {
    if config.port != 0 {
        let mut listeners = Vec::new();
        for i in 0..config.members {
            let port = u16::try_from(usize::from(config.port) + i).map_err(|_| {
                ServerError::Config(format!("port {} + {i} is beyond 65535", config.port))
            })?;
            let address = format!("{}:{port}", config.bind);
            let listener = TcpListener::bind(&address)
                .await
                .map_err(|source| ServerError::Bind { address, source })?;
            listeners.push(listener);
        }
        return Ok((listeners, config.port));
    }
    let mut last_error = None;
    for _ in 0..64 {
        let base: u16 = rand::random_range(20_000..60_000);
        let mut listeners = Vec::new();
        for i in 0..config.members {
            let address = format!("{}:{}", config.bind, usize::from(base) + i);
            match TcpListener::bind(&address).await {
                Ok(listener) => listeners.push(listener),
                Err(source) => {
                    last_error = Some(ServerError::Bind { address, source });
                    break;
                }
            }
        }
        if listeners.len() == config.members {
            return Ok((listeners, base));
        }
    }
    Err(last_error
        .unwrap_or_else(|| ServerError::Config("no free range of ports found".to_owned())))
}
