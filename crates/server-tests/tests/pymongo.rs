//! causeway-server driven by PyMongo: runs `python/scenarios.py` (the seed's two examples as
//! written in the PyMongo documentation, `with_transaction`, contended increments, discovery
//! and secondary routing) in a virtual environment with the pinned PyMongo, which the harness
//! creates under `target/` on first use. Without Python 3, its venv module or pip, this test
//! fails and says what to install.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use server_tests::harness::{
    PYMONGO_VERSION, Server, ServerConfig, pymongo_python, run_with_timeout,
};

/// The lag of both secondaries: the scenarios' causal read must wait this long.
const LAG_MS: u64 = 300;
/// The script takes a few seconds; this bounds a hung client or server.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn pymongo_runs_the_seed_examples_transactions_and_secondary_reads() {
    let python = pymongo_python();
    let server = Server::start(ServerConfig::new().lag_ms(LAG_MS));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/scenarios.py");
    let finished = run_with_timeout(
        Command::new(python)
            .arg(&script)
            .args(["--uri", server.uri(), "--lag-ms", &LAG_MS.to_string()])
            .env("PYTHONUNBUFFERED", "1"),
        SCRIPT_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let report = format!(
        "python {} --uri {} (PyMongo {PYMONGO_VERSION}) stdout:\n{}\nstderr:\n{}",
        script.display(),
        server.uri(),
        finished.stdout,
        finished.stderr
    );
    match finished.status {
        Some(status) if status.success() => println!("{report}"),
        Some(status) => panic!("the PyMongo scenarios failed ({status}); {report}"),
        None => {
            panic!("the PyMongo scenarios ran past {SCRIPT_TIMEOUT:?} and were killed; {report}")
        }
    }
}
