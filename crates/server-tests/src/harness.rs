//! Starts `causeway-server` as a child process and stops it again; provisions the Python
//! environment the PyMongo scenarios run in.
//!
//! # Finding the server binary
//!
//! `CARGO_BIN_EXE_<name>` only exists inside the crate that owns the binary, and artifact
//! dependencies are unstable, so [`server_binary`] builds the binary itself, once per process:
//! it runs `$CARGO build -p causeway-server` (the `cargo` that runs the tests, which sets
//! `CARGO`) in this workspace, with the test executable's own target directory and profile,
//! and uses `<target>/<profile>/causeway-server`. Cargo releases its build lock before it runs
//! test binaries, so the nested build does not wait on the outer one; when everything is
//! already built it takes well under a second. `CAUSEWAY_SERVER_BIN=/path/to/causeway-server`
//! skips the build and uses that binary.
//!
//! # Finding Python
//!
//! [`pymongo_python`] creates a virtual environment `target/pyenv-<PYMONGO_VERSION>` with
//! `python3 -m venv` (or `$CAUSEWAY_PYTHON -m venv`) and installs the pinned PyMongo into it
//! with that environment's pip, once; later runs reuse it. A missing interpreter, venv module
//! or pip is an error with the command that failed and its output, never a skip.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The PyMongo release the Python scenarios run with (supports Python 3.9 and later).
pub const PYMONGO_VERSION: &str = "4.20.1";

/// How long a server may take to print its `ready:` line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many of the server's last stderr lines are kept, to show when a test fails.
const STDERR_LINES_KEPT: usize = 200;

/// The root of this workspace.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/server-tests sits two levels below the workspace root")
        .to_path_buf()
}

/// The profile directory the running executable was built into (`target/debug` for tests,
/// `target/release` for `--release` examples and benches), derived from the executable's path:
/// `<target>/<profile>/deps/<test>` or `<target>/<profile>/examples/<example>`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test executable");
    let mut dir = exe
        .parent()
        .expect("the test executable lies in a directory")
        .to_path_buf();
    if matches!(
        dir.file_name().and_then(|n| n.to_str()),
        Some("deps" | "examples")
    ) {
        dir.pop();
    }
    dir
}

/// The target directory (`target/` unless `CARGO_TARGET_DIR` or `--target-dir` says otherwise).
pub fn target_dir() -> PathBuf {
    let profile = profile_dir();
    profile
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The `causeway-server` binary, built on first use (see the module documentation).
///
/// Panics with the build's output if it cannot be built.
pub fn server_binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(locate_or_build_server) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

fn locate_or_build_server() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CAUSEWAY_SERVER_BIN") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "CAUSEWAY_SERVER_BIN={} is not a file",
                path.display()
            ))
        };
    }
    let profile_dir = profile_dir();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--quiet", "-p", "causeway-server", "--bin"])
        .arg("causeway-server")
        .args(["--profile", &profile])
        .arg("--target-dir")
        .arg(target_dir());
    let output = command.output().map_err(|e| {
        format!(
            "could not run `{} build -p causeway-server` to build the server: {e}",
            Path::new(&cargo).display()
        )
    })?;
    if !output.status.success() {
        return Err(format!(
            "`cargo build -p causeway-server --profile {profile}` failed ({}); set \
             CAUSEWAY_SERVER_BIN to use a prebuilt binary instead. Its output:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let binary = profile_dir.join(format!("causeway-server{}", std::env::consts::EXE_SUFFIX));
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "`cargo build -p causeway-server` succeeded but {} does not exist",
            binary.display()
        ))
    }
}

/// How to start a server: the command-line options of `causeway-server`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    members: usize,
    lag_ms: Vec<u64>,
    replica_set: String,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            members: 3,
            lag_ms: vec![0],
            replica_set: "rs0".to_owned(),
        }
    }
}

impl ServerConfig {
    /// Three members, no lag, replica set `rs0`, free ports.
    pub fn new() -> ServerConfig {
        ServerConfig::default()
    }

    /// How many members (member 0 is the primary).
    pub fn members(mut self, members: usize) -> ServerConfig {
        self.members = members;
        self
    }

    /// The same lag for every secondary.
    pub fn lag_ms(mut self, lag_ms: u64) -> ServerConfig {
        self.lag_ms = vec![lag_ms];
        self
    }

    /// One lag per secondary, in member order (`--lag-ms 0,300`).
    pub fn lags_ms(mut self, lags_ms: &[u64]) -> ServerConfig {
        self.lag_ms = lags_ms.to_vec();
        self
    }

    /// The replica set name.
    pub fn replica_set(mut self, name: &str) -> ServerConfig {
        self.replica_set = name.to_owned();
        self
    }

    /// The arguments passed to `causeway-server`.
    pub fn args(&self) -> Vec<String> {
        let lags: Vec<String> = self.lag_ms.iter().map(u64::to_string).collect();
        vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--members".into(),
            self.members.to_string(),
            "--replica-set".into(),
            self.replica_set.clone(),
            "--lag-ms".into(),
            lags.join(","),
        ]
    }
}

/// A running `causeway-server` process. Dropping it stops the process (SIGTERM, then SIGKILL
/// after 5 s), also when a test panics, and then prints the end of the server's stderr.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    uri: String,
    hosts: Vec<String>,
    replica_set: String,
    time_to_ready: Duration,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    /// Starts a server and waits for its `ready:` line; panics (with the server's stderr) if
    /// it does not come within [`READY_TIMEOUT`].
    pub fn start(config: ServerConfig) -> Server {
        Server::try_start(config).unwrap_or_else(|message| panic!("{message}"))
    }

    /// Starts a server and waits for its `ready:` line.
    pub fn try_start(config: ServerConfig) -> Result<Server, String> {
        Server::start_binary(server_binary(), config)
    }

    /// Starts `binary` with `config` and waits for its `ready:` line.
    pub fn start_binary(binary: &Path, config: ServerConfig) -> Result<Server, String> {
        let args = config.args();
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(pipe) = child.stderr.take() {
            let kept = Arc::clone(&stderr);
            thread::spawn(move || keep_tail(pipe, &kept));
        }
        let stdout = child.stdout.take().expect("the server's stdout is piped");
        let (lines_tx, lines_rx) = mpsc::channel();
        thread::spawn(move || {
            // Forward every stdout line; keeps draining after `ready:`, so the pipe never fills.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child: Some(child),
            uri: String::new(),
            hosts: Vec::new(),
            replica_set: config.replica_set.clone(),
            time_to_ready: Duration::ZERO,
            stderr,
        };
        let deadline = started + READY_TIMEOUT;
        let mut other_stdout = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(remaining) {
                Ok(line) => {
                    if let Some(uri) = line.strip_prefix("ready: ") {
                        server.time_to_ready = started.elapsed();
                        server.hosts = parse_hosts(uri).map_err(|e| {
                            format!("the server's ready line {line:?} is malformed: {e}")
                        })?;
                        if server.hosts.len() != config.members {
                            return Err(format!(
                                "the ready line {line:?} names {} hosts, expected {}",
                                server.hosts.len(),
                                config.members
                            ));
                        }
                        server.uri = uri.trim().to_owned();
                        return Ok(server);
                    }
                    other_stdout.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{} {} printed no `ready:` line within {READY_TIMEOUT:?}; stdout: \
                         {other_stdout:?}; stderr:\n{}",
                        binary.display(),
                        args.join(" "),
                        server.stderr_tail()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.as_mut().and_then(|c| c.wait().ok());
                    // Let the stderr reader catch up with the last lines.
                    thread::sleep(Duration::from_millis(50));
                    return Err(format!(
                        "{} {} closed its stdout without a `ready:` line (exit status \
                         {status:?}); stdout: {other_stdout:?}; stderr:\n{}",
                        binary.display(),
                        args.join(" "),
                        server.stderr_tail()
                    ));
                }
            }
        }
    }

    /// The connection string of the `ready:` line, e.g.
    /// `mongodb://127.0.0.1:40001,127.0.0.1:40002,127.0.0.1:40003/?replicaSet=rs0`.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// `host:port` of every member, the primary first.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// A connection string naming only `member` as seed, for discovery.
    pub fn seed_uri(&self, member: usize) -> String {
        format!(
            "mongodb://{}/?replicaSet={}",
            self.hosts[member], self.replica_set
        )
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the server is running")
    }

    /// From spawning the process to reading its `ready:` line.
    pub fn time_to_ready(&self) -> Duration {
        self.time_to_ready
    }

    /// The last lines the server wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().map(|l| format!("  {l}\n")).collect()
    }

    /// Sends SIGTERM and waits (at most `timeout`) for the process to exit; returns its exit
    /// status, or `None` if it had to be killed.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        let status = self.stop(Duration::from_secs(5));
        if thread::panicking() {
            eprintln!(
                "causeway-server ({}) stopped with {status:?}; the end of its stderr:\n{}",
                self.uri,
                self.stderr_tail()
            );
        }
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) with a pid this process spawned and has not reaped yet.
    unsafe {
        libc::kill(pid, signal);
    }
}

fn keep_tail(pipe: impl Read, kept: &Mutex<VecDeque<String>>) {
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { break };
        let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() == STDERR_LINES_KEPT {
            kept.pop_front();
        }
        kept.push_back(line);
    }
}

/// The `host:port` list of a `mongodb://` connection string.
pub fn parse_hosts(uri: &str) -> Result<Vec<String>, String> {
    let rest = uri
        .trim()
        .strip_prefix("mongodb://")
        .ok_or("it does not start with mongodb://")?;
    let hosts = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts: Vec<String> = hosts.split(',').map(str::to_owned).collect();
    if hosts.iter().any(|h| h.rsplit_once(':').is_none()) {
        return Err(format!("a host without a port in {hosts:?}"));
    }
    Ok(hosts)
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn process_cpu_time(pid: u32) -> Result<Duration, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path} has no command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime), counted from 1 over the whole line; `fields` starts at
    // field 3.
    let ticks = |index: usize| -> Result<u64, String> {
        fields
            .get(index - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("{path} has no field {index}"))
    };
    let total = ticks(14)? + ticks(15)?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second)
        .ok()
        .filter(|&t| t > 0)
        .unwrap_or(100);
    Ok(Duration::from_nanos(total * 1_000_000_000 / per_second))
}

/// CPU time a process's live threads have run, in nanoseconds, summed over
/// `/proc/<pid>/task/*/schedstat` (finer than [`process_cpu_time`]'s clock ticks; threads that
/// have exited are not counted).
pub fn process_cpu_time_precise(pid: u32) -> Result<Duration, String> {
    let tasks = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for entry in std::fs::read_dir(&tasks).map_err(|e| format!("listing {tasks}: {e}"))? {
        let path = entry
            .map_err(|e| format!("listing {tasks}: {e}"))?
            .path()
            .join("schedstat");
        // A thread may exit between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .ok_or_else(|| format!("{} has no run time", path.display()))?;
    }
    Ok(Duration::from_nanos(total))
}

/// The Python interpreter of a virtual environment with [`PYMONGO_VERSION`] installed, created
/// on first use under the target directory and reused afterwards (see the module
/// documentation). Panics with the failing command's output if it cannot be provisioned.
pub fn pymongo_python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(provision_pymongo) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

fn has_pinned_pymongo(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            &format!("import pymongo, sys; sys.exit(pymongo.version != {PYMONGO_VERSION:?})"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_step(what: &str, command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| {
        format!(
            "{what}: could not run {command:?}: {e}. The PyMongo scenarios need Python 3 with \
             its venv module and pip (Debian: apt-get install python3 python3-venv python3-pip)"
        )
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {command:?} failed ({}). The PyMongo scenarios need Python 3 with its \
             venv module and pip (Debian: apt-get install python3 python3-venv python3-pip) \
             and PyPI reachable. Its output:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn provision_pymongo() -> Result<PathBuf, String> {
    let venv = target_dir().join(format!("pyenv-{PYMONGO_VERSION}"));
    let python = venv_python(&venv);
    if has_pinned_pymongo(&python) {
        return Ok(python);
    }
    // Build in a directory of its own and rename it into place, so that a run interrupted
    // half-way, or another process doing the same, never leaves a broken environment behind.
    // Only `bin/python` of the environment is ever run, and it finds its environment from its
    // own location, so the rename is safe.
    let building = target_dir().join(format!(
        "pyenv-{PYMONGO_VERSION}.building-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&building);
    let base = std::env::var_os("CAUSEWAY_PYTHON").unwrap_or_else(|| "python3".into());
    run_step(
        "creating the Python virtual environment",
        Command::new(&base).args(["-m", "venv"]).arg(&building),
    )?;
    run_step(
        "installing PyMongo",
        Command::new(venv_python(&building))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(format!("pymongo=={PYMONGO_VERSION}")),
    )?;
    if !has_pinned_pymongo(&venv_python(&building)) {
        return Err(format!(
            "pymongo {PYMONGO_VERSION} was installed into {} but does not import",
            building.display()
        ));
    }
    if has_pinned_pymongo(&python) {
        // Another process finished first.
        let _ = std::fs::remove_dir_all(&building);
        return Ok(python);
    }
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::rename(&building, &venv)
        .map_err(|e| format!("moving {} to {}: {e}", building.display(), venv.display()))?;
    Ok(python)
}

/// The output of a finished child process, both streams.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status, or `None` if it ran past its time and was killed.
    pub status: Option<ExitStatus>,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Runs `command` to completion, killing it after `timeout`.
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> Result<Finished, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {command:?}: {e}"))?;
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    };
    let stdout = read_all(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read_all(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(e) => return Err(format!("waiting for {command:?}: {e}")),
        }
    };
    Ok(Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}
