//! A server on loopback inside the test process, and helpers to run the `exec-client` binary.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use exec_transport::server::{self, Admission, ServerConfig};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// No single wait in these tests may take longer.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub const CLIENT: &str = env!("CARGO_BIN_EXE_exec-client");

/// A server running on this test's runtime; stopped (every process killed) on drop.
pub struct TestServer {
    pub address: SocketAddr,
    shutdown: CancellationToken,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Self::config()).await
    }

    fn config() -> ServerConfig {
        // As the exec-server binary does: `envPolicy` starts from the server's own environment.
        ServerConfig { base_environment: std::env::vars().collect(), ..ServerConfig::default() }
    }

    pub async fn with_token(token: &str) -> TestServer {
        let admission = Admission { auth_token: Some(token.to_owned()), allowed_origins: Vec::new() };
        Self::start_with(ServerConfig { admission, ..Self::config() }).await
    }

    async fn start_with(config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let engine = exec_engine::Engine::new(exec_engine::Config::default());
        tokio::spawn(server::run(listener, engine, config, shutdown.clone()));
        TestServer { address, shutdown }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.address)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `exec-client ARGS` with the URL in the environment and the three stdio pipes captured.
pub fn client(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(CLIENT);
    command
        .args(args)
        .env("EXEC_SERVER_URL", url)
        .env_remove("EXEC_SERVER_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// What a finished client printed and how it exited.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs a command to completion (stdin as configured), within the deadline.
pub async fn finish(command: Command) -> Finished {
    finish_within(command, DEADLINE).await
}

/// [`finish`] with a deadline of its own, for runs that move a lot of data (a debug build on a
/// loaded machine copies 100 MiB in tens of seconds: a hang guard, not a timing check).
pub async fn finish_within(mut command: Command, deadline: Duration) -> Finished {
    let output =
        tokio::time::timeout(deadline, command.output()).await.expect("exec-client finishes").unwrap();
    Finished {
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A unique temporary path (not created).
pub fn temp_path(name: &str) -> std::path::PathBuf {
    let unique = format!("exec-client-test-{}-{name}-{}", std::process::id(), uuid_like());
    std::env::temp_dir().join(unique)
}

fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Reads a process handle to its end: everything it printed, and its exit status. Any event but
/// output, the exit and the close fails the test.
pub async fn drain(handle: &mut exec_transport::ProcessHandle) -> (Vec<u8>, Option<exec_engine::ExitStatus>) {
    use exec_engine::Event;
    let mut output = Vec::new();
    let mut status = None;
    while let Some(event) =
        tokio::time::timeout(DEADLINE, handle.next_event()).await.expect("an event in time")
    {
        match event {
            Event::Output(chunk) => output.extend_from_slice(&chunk.data),
            Event::Exited { status: exit, .. } => status = Some(exit),
            Event::Closed { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    (output, status)
}
