//! Spawning a server under test: ours (the built `exec-server` binary) or the Codex peer.
//!
//! A server prints its `ws://IP:PORT` URL as the first stdout line and logs to stderr.
//! [`ServerProcess`] waits for that line with a deadline, forwards everything else the server
//! writes to the test's stderr (keeping a copy for failure messages), and kills the server when
//! dropped. The server runs in a process group of its own and the whole group is killed: the
//! peer's `codex` is a Node.js launcher whose native child would otherwise outlive it.
//! It does not restart servers or check their health; tests do that through the protocol.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::{fmt, io};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// The environment variable that names the Codex peer binary (`.../node_modules/.bin/codex`).
/// When it is set, the conformance cases also run against the peer.
pub const PEER_ENV: &str = "EXEC_PEER_CODEX";

/// How long a server may take to print its URL. Longer than [`crate::DEFAULT_DEADLINE`] because
/// the peer starts through a Node.js wrapper, and a loaded CI machine may be building meanwhile.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// The listen address every server under test gets: loopback, port chosen by the kernel.
const LISTEN_ARGS: [&str; 2] = ["--listen", "ws://127.0.0.1:0"];

/// Which server a test talks to. Cheap to clone; each [`Target::spawn`] starts a fresh server.
#[derive(Debug, Clone)]
pub enum Target {
    /// Our `exec-server` binary (in tests: `env!("CARGO_BIN_EXE_exec-server")`).
    Ours { binary: PathBuf },
    /// The Codex peer: a `codex` binary run as `codex exec-server`.
    Peer { codex: PathBuf },
}

impl Target {
    /// Our server, from the path of the built binary.
    pub fn ours(binary: impl Into<PathBuf>) -> Target {
        Target::Ours { binary: binary.into() }
    }

    /// The peer named by [`PEER_ENV`], or `None` when the variable is unset or empty.
    pub fn peer_from_env() -> Option<Target> {
        let codex = std::env::var_os(PEER_ENV).filter(|value| !value.is_empty())?;
        Some(Target::Peer { codex: PathBuf::from(codex) })
    }

    /// Whether this is the Codex peer (for the few places where the peer's answer is documented
    /// to differ from ours).
    pub fn is_peer(&self) -> bool {
        matches!(self, Target::Peer { .. })
    }

    /// The base command, without the CODEX_HOME that [`Target::spawn_with`] adds for the peer.
    pub fn command(&self) -> Command {
        match self {
            Target::Ours { binary } => {
                let mut command = Command::new(binary);
                command.args(LISTEN_ARGS);
                command
            }
            Target::Peer { codex } => {
                let mut command = Command::new(codex);
                command.arg("exec-server").args(LISTEN_ARGS);
                command
            }
        }
    }

    /// Starts a fresh server and waits for its URL; panics with the server's stderr on failure.
    pub async fn spawn(&self) -> ServerProcess {
        self.spawn_with(|_| {}).await
    }

    /// Like [`Target::spawn`], letting the caller adjust the command first (say, its environment).
    pub async fn spawn_with(&self, configure: impl FnOnce(&mut Command)) -> ServerProcess {
        let mut command = self.command();
        let codex_home = match self {
            Target::Ours { .. } => None,
            Target::Peer { .. } => {
                let home = TempDir::new("codex-home");
                command.env("CODEX_HOME", home.path());
                Some(home)
            }
        };
        configure(&mut command);
        match ServerProcess::start(command).await {
            Ok(mut server) => {
                server.scratch = codex_home;
                server
            }
            Err(error) => panic!("could not start {self}: {error}"),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ours { binary } => write!(formatter, "our server {}", binary.display()),
            Target::Peer { codex } => write!(formatter, "the Codex peer {}", codex.display()),
        }
    }
}

/// A running server. Dropping it kills the server's process group (SIGKILL).
#[derive(Debug)]
pub struct ServerProcess {
    /// Owned here alone. Leads its own process group, which [`Drop`] kills; `kill_on_drop` is a
    /// second line of defence for the leader.
    child: tokio::process::Child,
    /// The process group id (the leader's pid), kept after the leader has been reaped so the
    /// rest of the group can still be killed.
    group: Option<Pid>,
    /// The URL from the server's first stdout line.
    url: String,
    /// Everything the server wrote after its URL (stdout lines and stderr), appended by the
    /// forwarding tasks and read for failure messages.
    output: Arc<Mutex<String>>,
    /// A folder that lives as long as the server (the peer's CODEX_HOME), removed on drop.
    scratch: Option<TempDir>,
}

impl ServerProcess {
    /// Spawns `command` with piped stdout/stderr and a null stdin, then waits for the URL line.
    pub async fn start(command: Command) -> io::Result<ServerProcess> {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut command = tokio::process::Command::from(command);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|error| with_context(error, &format!("spawn {program}")))?;
        let group = child.id().and_then(|pid| i32::try_from(pid).ok()).map(Pid::from_raw);

        let output = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let stderr_task = tokio::spawn(forward_lines(stderr, "server stderr", Arc::clone(&output)));

        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut first_line = String::new();
        let read = tokio::time::timeout(STARTUP_DEADLINE, stdout.read_line(&mut first_line)).await;
        let url = first_line.trim().to_owned();
        let problem = match read {
            Err(_) => Some(format!("printed no URL within {STARTUP_DEADLINE:?}")),
            Ok(Err(error)) => Some(format!("stdout failed: {error}")),
            Ok(Ok(0)) => Some("closed stdout without printing a URL".to_owned()),
            Ok(Ok(_)) if !url.starts_with("ws://") => Some(format!("printed {url:?}, not a ws:// URL")),
            Ok(Ok(_)) => None,
        };
        if let Some(problem) = problem {
            kill_group(group);
            // Both waits are bounded and only make the message complete: the stderr task ends at
            // EOF, once every process of the group has died.
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
            let stderr = output.lock().expect("output lock").clone();
            return Err(io::Error::other(format!("{program} {problem}; its stderr:\n{stderr}")));
        }
        // The server should log only to stderr; anything else on stdout is shown, not lost.
        tokio::spawn(forward_lines(stdout.into_inner(), "server stdout", Arc::clone(&output)));
        Ok(ServerProcess { child, group, url, output, scratch: None })
    }

    /// Starts `program` with `args`.
    pub async fn start_program(
        program: impl AsRef<OsStr>,
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    ) -> io::Result<ServerProcess> {
        let mut command = Command::new(program);
        command.args(args);
        ServerProcess::start(command).await
    }

    /// Starts the peer `codex exec-server --listen ws://127.0.0.1:0` with CODEX_HOME pointed at a
    /// fresh temporary folder (removed when the server is dropped).
    pub async fn start_peer(codex: &Path) -> io::Result<ServerProcess> {
        let home = TempDir::new("codex-home");
        let mut command = Target::Peer { codex: codex.to_path_buf() }.command();
        command.env("CODEX_HOME", home.path());
        let mut server = ServerProcess::start(command).await?;
        server.scratch = Some(home);
        Ok(server)
    }

    /// The peer named by [`PEER_ENV`]; `None` when the variable is unset.
    pub async fn start_peer_from_env() -> Option<io::Result<ServerProcess>> {
        match Target::peer_from_env()? {
            Target::Peer { codex } => Some(ServerProcess::start_peer(&codex).await),
            Target::Ours { .. } => unreachable!("peer_from_env returns the peer"),
        }
    }

    /// The `ws://IP:PORT` URL the server printed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id, or `None` once it has been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends `signal` to the server process (not to its process group).
    pub fn terminate_with(&self, signal: Signal) -> io::Result<()> {
        let pid = self.pid().ok_or_else(|| io::Error::other("the server has already been reaped"))?;
        let pid = Pid::from_raw(i32::try_from(pid).map_err(io::Error::other)?);
        nix::sys::signal::kill(pid, signal).map_err(io::Error::from)
    }

    /// Waits for the server to exit; `Ok(None)` if it is still running after `deadline`.
    pub async fn wait_with_deadline(&mut self, deadline: Duration) -> io::Result<Option<ExitStatus>> {
        match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(status) => status.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// What the server wrote after its URL so far (stderr and any stray stdout), for messages.
    pub fn captured_output(&self) -> String {
        self.output.lock().expect("output lock").clone()
    }
}

/// Copies one of the server's output streams line by line to the test's stderr (which the test
/// harness captures per test) and into `sink`. Ends at EOF, when the server exits.
async fn forward_lines(stream: impl AsyncRead + Unpin, label: &str, sink: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("[{label}] {line}");
        let mut sink = sink.lock().expect("output lock");
        sink.push_str(&line);
        sink.push('\n');
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        kill_group(self.group);
    }
}

/// SIGKILL to a whole process group. The group may already be gone, which is fine.
fn kill_group(group: Option<Pid>) {
    if let Some(group) = group {
        let _ = nix::sys::signal::killpg(group, Signal::SIGKILL);
    }
}

fn with_context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

/// A uniquely named folder under the system temp dir, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/exec-test-<prefix>-<pid>-<time>-<n>`; panics if the temp dir is unusable.
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
        loop {
            let count = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("exec-test-{prefix}-{}-{nanos}-{count}", std::process::id());
            let path = std::env::temp_dir().join(name);
            match std::fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => panic!("cannot create {}: {error}", path.display()),
            }
        }
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Cleanup is a courtesy: a leftover folder in the temp dir breaks nothing.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `host:port` of a `ws://host:port` URL.
pub fn authority(url: &str) -> String {
    url.strip_prefix("ws://").expect("a ws:// URL").split('/').next().unwrap_or_default().to_owned()
}

/// Sends `request` as raw bytes on a fresh TCP connection to `server` and returns the response
/// head (status line and headers), read up to the blank line or the end of the stream.
pub async fn raw_http(server: &ServerProcess, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(authority(server.url())).await.expect("TCP connect");
        stream.write_all(request.as_bytes()).await.expect("write the request");
        let mut head = Vec::new();
        let mut buffer = [0_u8; 1024];
        while !head.windows(4).any(|window| window == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).await.expect("read the response");
            if read == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..read]);
        }
        String::from_utf8_lossy(&head).into_owned()
    };
    tokio::time::timeout(crate::DEFAULT_DEADLINE, exchange).await.expect("the HTTP exchange timed out")
}

/// The status code of a raw HTTP response head.
#[track_caller]
pub fn status_of(head: &str) -> u16 {
    head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("{head:?}"))
}

/// The status code answered to a raw HTTP `request` on a fresh connection.
pub async fn http_status(server: &ServerProcess, request: &str) -> u16 {
    status_of(&raw_http(server, request).await)
}
