//! `causeway-server`: serves the embedded replica set over the MongoDB wire protocol.

use std::process::ExitCode;
use std::time::Duration;

use causeway_server::{Server, ServerConfig};
use clap::Parser;

/// Serve an in-process MongoDB replica set (primary and lagging secondaries) over the wire
/// protocol, each member on its own port.
#[derive(Debug, Parser)]
#[command(name = "causeway-server", version)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// The first member's port; the others take consecutive ports (0: pick free ports).
    #[arg(long, default_value_t = 27017)]
    port: u16,
    /// How many members (the first is the primary).
    #[arg(long, default_value_t = 3)]
    members: usize,
    /// The replica set name.
    #[arg(long = "replica-set", default_value = "rs0")]
    replica_set: String,
    /// Each secondary's lag in milliseconds: one value for all, or a comma-separated list in
    /// member order.
    #[arg(long = "lag-ms", value_delimiter = ',', default_value = "0")]
    lag_ms: Vec<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let config = ServerConfig {
        bind: args.bind,
        port: args.port,
        members: args.members,
        replica_set: args.replica_set,
        lags: args.lag_ms.into_iter().map(Duration::from_millis).collect(),
    };
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("causeway-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Listen for the signals before announcing readiness: a signal sent the moment the line
    // is read must find its handler in place.
    let signals = Signals::install();
    println!("ready: {}", server.uri());
    signals.wait().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), listened for from the moment they are installed.
struct Signals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let unix = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(interrupt), Ok(terminate)) => Some((interrupt, terminate)),
                _ => None,
            };
            Signals { unix }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut interrupt, mut terminate)) = self.unix {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
