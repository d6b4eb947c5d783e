//! [`McpTransport`]: an MCP server's stdio as an rmcp client transport, fed from any byte source.
//!
//! A launcher supplies a [`ProcessIo`]: the server's stdin (an `AsyncWrite`), stdout and stderr
//! (`AsyncRead`s) and a [`ProcessHandle`] to wait for or kill the process. The transport then
//! owns all of it:
//!
//! - stdout is read by one task, split into newline-delimited JSON-RPC messages with a line cap,
//!   and handed to rmcp through a bounded channel (so `receive` is cancel-safe: rmcp polls it
//!   inside a `select!`). A line that is not a JSON-RPC message is logged and skipped.
//! - stderr is read by another task, line by line, into `tracing` (target `exec_mcp::stderr`).
//!   It never reaches the protocol stream.
//! - `send` writes one message and a newline under an async lock, so concurrent sends never
//!   interleave. A write that fails (the server exited or closed its stdin) is not reported as
//!   a send error: the request stays pending and fails, like every other unanswered request,
//!   with the reason the session ended. If stdout has not ended within the close grace after
//!   such a failure, the session ends anyway ("stopped reading its stdin"), so a server that
//!   closed its stdin but lingers cannot hang its client.
//! - When stdout ends (the server exited, wrote a line past the cap, or the byte source failed,
//!   say because an executor disconnected), every request still waiting for an answer gets a
//!   JSON-RPC error naming the server and the reason, code [`SERVER_ENDED_CODE`], before the
//!   stream ends. Without that, rmcp would fail them with a bare "transport closed".
//! - `close` closes stdin, gives the process [`crate::LaunchSpec::close_grace`] to exit, then
//!   kills it; dropping the transport kills it at once (through the handle's `Drop`).
//!
//! It does not know where the process runs or how it was started.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rmcp::RoleClient;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ErrorCode, ErrorData, JsonRpcMessage, RequestId,
    ServerJsonRpcMessage,
};
use rmcp::transport::Transport;
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::launch::LaunchSpec;

/// The JSON-RPC error code of the errors the transport itself gives to requests that the server
/// can no longer answer. From the range JSON-RPC leaves to implementations.
pub const SERVER_ENDED_CODE: i32 = -32099;

/// How many parsed stdout messages may wait for rmcp to take them. Small: the channel only
/// decouples reading from rmcp's loop; when it is full the reader stops reading and the server
/// blocks on its stdout, which is the backpressure we want.
const INCOMING_QUEUE_MESSAGES: usize = 16;

/// The longest stderr line logged as one event; the rest of a longer line is logged as further
/// events. Stderr is diagnostics, so a cut is harmless, and it bounds memory.
const STDERR_LINE_BYTES: usize = 64 * 1024;

/// How much of a skipped non-JSON-RPC stdout line is quoted in the warning.
const SKIPPED_LINE_QUOTE_BYTES: usize = 200;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessExit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl fmt::Display for ProcessExit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessExit::Code(code) => write!(formatter, "exit code {code}"),
            ProcessExit::Signal(signal) => write!(formatter, "signal {signal}"),
        }
    }
}

/// Control of a launched process, implemented by each launcher.
///
/// Contract: `wait` is cancel-safe and may be called again after being cancelled; `kill` ends
/// the process and everything it started (its process group, for a local child) and then
/// waits for it; after either returned, the process is gone. **Dropping a handle whose process
/// may still run must end it without waiting** (a transport dropped without `close` relies on
/// this).
#[async_trait]
pub trait ProcessHandle: Send + fmt::Debug {
    /// Waits until the process has exited.
    async fn wait(&mut self) -> io::Result<ProcessExit>;

    /// Ends the process forcibly and waits until it has exited.
    async fn kill(&mut self) -> io::Result<ProcessExit>;
}

/// The streams and the handle of a started server, as a launcher hands them to
/// [`McpTransport::new`].
pub struct ProcessIo {
    /// The server's stdin. Dropping it must deliver end-of-input to the server.
    pub stdin: Box<dyn AsyncWrite + Send + Unpin>,
    /// The server's stdout. It must end (or fail) once the process is gone; an executor
    /// launcher fails it with an error saying why when the connection drops.
    pub stdout: Box<dyn AsyncRead + Send + Unpin>,
    /// The server's stderr, if the launcher has it.
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Waits for and kills the process.
    pub process: Box<dyn ProcessHandle>,
}

impl fmt::Debug for ProcessIo {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("ProcessIo").field("process", &self.process).finish_non_exhaustive()
    }
}

/// An error of [`McpTransport`]'s `send` or `close`. Messages name the server.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A message was sent after the transport closed.
    #[error("mcp server `{server}`: the transport is closed")]
    Closed { server: Arc<str> },
    /// A message could not be encoded as JSON.
    #[error("mcp server `{server}`: cannot encode a message: {source}")]
    Encode {
        server: Arc<str>,
        #[source]
        source: serde_json::Error,
    },
    /// Waiting for or killing the process failed while closing.
    #[error("mcp server `{server}`: cannot end the process: {source}")]
    End {
        server: Arc<str>,
        #[source]
        source: io::Error,
    },
}

/// Why the stream of server messages ended, readable after the transport has been handed to
/// rmcp. Cheap to clone; every clone sees the same value.
#[derive(Debug, Clone, Default)]
pub struct EndReason {
    reason: Arc<Mutex<Option<String>>>,
}

impl EndReason {
    /// `None` while the server's stdout is open; then a sentence naming the server and why its
    /// output ended (for example "mcp server `time` exited with exit code 3").
    pub fn get(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, reason: String) {
        *self.reason.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
    }
}

/// An MCP server's stdio as an rmcp [`Transport`] for the client role. See the module docs.
///
/// Fields are owned as follows: `incoming` is fed by the stdout task alone; `stdin` is shared
/// with in-flight `send` futures and emptied by `close`; `pending` is written by `send` (new
/// requests) and `receive` (answers).
pub struct McpTransport {
    server: Arc<str>,
    /// Parsed messages from the stdout task, then one [`StdoutEnd`].
    incoming: mpsc::Receiver<Incoming>,
    /// The stdout task, aborted on drop: its output has no reader then.
    stdout_task: JoinHandle<()>,
    /// `None` once closed; a send then fails with [`TransportError::Closed`].
    stdin: Arc<tokio::sync::Mutex<Option<Box<dyn AsyncWrite + Send + Unpin>>>>,
    /// Set to `true` by a `send` whose write failed; `receive` then gives stdout the close
    /// grace to end before ending the session itself.
    stdin_failed: Arc<watch::Sender<bool>>,
    stdin_failed_seen: watch::Receiver<bool>,
    /// When `receive` stops waiting for stdout to end after a failed write.
    stdin_failed_deadline: Option<tokio::time::Instant>,
    /// `None` once `close` has ended the process.
    process: Option<Box<dyn ProcessHandle>>,
    /// Ids of requests sent and not answered yet.
    pending: Arc<Mutex<HashSet<RequestId>>>,
    /// How stdout ended, kept here until the reason has been worked out (that awaits the
    /// process, and `receive` may be cancelled meanwhile).
    stdout_end: Option<StdoutEnd>,
    /// Set once stdout has ended: the requests still to fail, and why.
    ending: Option<Ending>,
    end_reason: EndReason,
    close_grace: Duration,
}

impl fmt::Debug for McpTransport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("McpTransport")
            .field("server", &self.server)
            .field("process", &self.process)
            .field("end_reason", &self.end_reason.get())
            .finish_non_exhaustive()
    }
}

/// What the stdout task hands to `receive`.
#[expect(
    clippy::large_enum_variant,
    reason = "messages are the common case; boxing them would allocate per message to save a few \
              hundred bytes in a 16-slot queue"
)]
enum Incoming {
    Message(ServerJsonRpcMessage),
    End(StdoutEnd),
}

enum StdoutEnd {
    Eof,
    /// Not an end of stdout: a write to stdin failed and stdout stayed open for the close grace.
    StdinFailed,
    TooLong {
        limit: usize,
    },
    Failed(io::Error),
}

struct Ending {
    message: String,
    unanswered: VecDeque<RequestId>,
}

impl McpTransport {
    /// Takes ownership of a started server's streams and process. Spawns the stdout and stderr
    /// readers, so it must be called inside a Tokio runtime.
    pub fn new(spec: &LaunchSpec, io: ProcessIo) -> McpTransport {
        let server: Arc<str> = Arc::from(spec.server_name.as_str());
        let (sender, incoming) = mpsc::channel(INCOMING_QUEUE_MESSAGES);
        let (stdin_failed, stdin_failed_seen) = watch::channel(false);
        let stdout_task =
            tokio::spawn(read_stdout(Arc::clone(&server), io.stdout, spec.max_line_bytes, sender));
        if let Some(stderr) = io.stderr {
            // Not kept: it ends by itself at end of stderr, after the process is gone, and
            // keeping it running until then is how the last lines of a dying server get logged.
            drop(tokio::spawn(log_stderr(Arc::clone(&server), stderr)));
        }
        McpTransport {
            server,
            incoming,
            stdout_task,
            stdin: Arc::new(tokio::sync::Mutex::new(Some(io.stdin))),
            stdin_failed: Arc::new(stdin_failed),
            stdin_failed_seen,
            stdin_failed_deadline: None,
            process: Some(io.process),
            pending: Arc::new(Mutex::new(HashSet::new())),
            stdout_end: None,
            ending: None,
            end_reason: EndReason::default(),
            close_grace: spec.close_grace,
        }
    }

    /// The server's name.
    pub fn server_name(&self) -> &str {
        &self.server
    }

    /// A handle that tells, later, why the server's output ended.
    pub fn end_reason(&self) -> EndReason {
        self.end_reason.clone()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashSet<RequestId>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Says why stdout ended, asking the process for its exit status for at most the close
    /// grace (stdout usually ends a moment before the exit is reported).
    async fn describe_end(&mut self) -> String {
        let server = &self.server;
        match self.stdout_end.as_ref() {
            Some(StdoutEnd::TooLong { limit }) => {
                format!("mcp server `{server}` wrote a stdout line longer than {limit} bytes")
            }
            Some(StdoutEnd::Failed(error)) => {
                format!("mcp server `{server}`: reading its stdout failed: {error}")
            }
            Some(end @ (StdoutEnd::Eof | StdoutEnd::StdinFailed)) => {
                // After a failed write the grace has already been spent waiting for stdout, so
                // the exit status is only taken if it is there now.
                let (what, patience) = match end {
                    StdoutEnd::StdinFailed => ("stopped reading its stdin", Duration::ZERO),
                    _ => ("closed its stdout", self.close_grace),
                };
                let Some(process) = self.process.as_mut() else {
                    return format!("mcp server `{server}` {what}");
                };
                match tokio::time::timeout(patience, process.wait()).await {
                    Ok(Ok(exit)) => format!("mcp server `{server}` exited with {exit}"),
                    Ok(Err(error)) => format!("mcp server `{server}` {what} ({error})"),
                    Err(_still_running) => format!("mcp server `{server}` {what}"),
                }
            }
            None => format!("mcp server `{server}` closed its stdout"),
        }
    }
}

impl Drop for McpTransport {
    fn drop(&mut self) {
        self.stdout_task.abort();
        // `self.process` drops next; its `Drop` ends the process if `close` did not.
    }
}

impl Transport<RoleClient> for McpTransport {
    type Error = TransportError;

    fn send(
        &mut self,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), TransportError>> + Send + 'static {
        let server = Arc::clone(&self.server);
        let stdin = Arc::clone(&self.stdin);
        let stdin_failed = Arc::clone(&self.stdin_failed);
        if let JsonRpcMessage::Request(request) = &message {
            self.pending().insert(request.id.clone());
        }
        // A cancelled request will never be answered; forget it so the end of the stream does
        // not answer it either.
        if let JsonRpcMessage::Notification(notification) = &message
            && let ClientNotification::CancelledNotification(cancelled) = &notification.notification
            && let Some(id) = &cancelled.params.request_id
        {
            self.pending().remove(id);
        }
        let encoded = serde_json::to_vec(&message);
        async move {
            let mut line =
                encoded.map_err(|source| TransportError::Encode { server: Arc::clone(&server), source })?;
            line.push(b'\n');
            let mut stdin = stdin.lock().await;
            let Some(writer) = stdin.as_mut() else {
                return Err(TransportError::Closed { server });
            };
            let written = async {
                writer.write_all(&line).await?;
                writer.flush().await
            };
            if let Err(error) = written.await {
                // Not a send error: see the module docs. The request (if it is one) stays
                // pending and fails with the reason the session ends.
                tracing::debug!(%server, %error, "writing to stdin failed");
                stdin_failed.send_replace(true);
            }
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            if let Some(ending) = self.ending.as_mut() {
                let id = ending.unanswered.pop_front()?;
                let error = ErrorData::new(ErrorCode(SERVER_ENDED_CODE), ending.message.clone(), None);
                return Some(ServerJsonRpcMessage::error(error, Some(id)));
            }
            if self.stdout_end.is_none() {
                let stdin_failed_deadline = self.stdin_failed_deadline;
                let next = tokio::select! {
                    next = self.incoming.recv() => next,
                    // Cancel-safe: the deadline is kept in `self`, so a cancelled `receive`
                    // resumes waiting for the same instant.
                    // The sender lives in `self`, so this only ends when a write failed.
                    _ = self.stdin_failed_seen.wait_for(|failed| *failed), if stdin_failed_deadline.is_none() => {
                        self.stdin_failed_deadline = Some(tokio::time::Instant::now() + self.close_grace);
                        continue;
                    }
                    () = sleep_until_or_never(stdin_failed_deadline) => Some(Incoming::End(StdoutEnd::StdinFailed)),
                };
                match next {
                    Some(Incoming::Message(message)) => {
                        let answered = match &message {
                            JsonRpcMessage::Response(response) => Some(&response.id),
                            JsonRpcMessage::Error(error) => error.id.as_ref(),
                            _ => None,
                        };
                        if let Some(id) = answered {
                            self.pending().remove(id);
                        }
                        return Some(message);
                    }
                    Some(Incoming::End(end)) => self.stdout_end = Some(end),
                    // The reader always sends an end before it stops; this is only reached if it
                    // panicked.
                    None => {
                        self.stdout_end = Some(StdoutEnd::Failed(io::Error::other("stdout reader stopped")))
                    }
                }
            }
            let message = self.describe_end().await;
            tracing::warn!(server = %self.server, "{message}");
            self.end_reason.set(message.clone());
            let mut unanswered: Vec<RequestId> = self.pending().drain().collect();
            // Deterministic order for the caller, whatever the set's.
            unanswered.sort_by_key(|id| id.to_string());
            self.ending = Some(Ending { message, unanswered: unanswered.into() });
        }
    }

    async fn close(&mut self) -> Result<(), TransportError> {
        let server = Arc::clone(&self.server);
        // Bounded: a send blocked on a server that stopped reading holds the lock; killing the
        // process below is what frees it.
        if let Ok(mut stdin) = tokio::time::timeout(self.close_grace, self.stdin.lock()).await
            && let Some(mut writer) = stdin.take()
        {
            // End-of-input is delivered by dropping the writer; a failed shutdown only means
            // the server is already gone, which is where we are heading anyway.
            if let Err(error) = writer.shutdown().await {
                tracing::debug!(%server, %error, "closing stdin");
            }
        }
        let Some(mut process) = self.process.take() else { return Ok(()) };
        let exit = match tokio::time::timeout(self.close_grace, process.wait()).await {
            Ok(exit) => exit,
            Err(_still_running) => {
                tracing::info!(%server, grace = ?self.close_grace, "still running after stdin closed, killing it");
                process.kill().await
            }
        };
        self.stdout_task.abort();
        match exit {
            Ok(exit) => {
                tracing::debug!(%server, %exit, "mcp server ended");
                Ok(())
            }
            Err(source) => Err(TransportError::End { server, source }),
        }
    }
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until_or_never(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Reads newline-delimited messages from stdout until it ends, then reports how it ended.
async fn read_stdout(
    server: Arc<str>,
    stdout: Box<dyn AsyncRead + Send + Unpin>,
    max_line_bytes: usize,
    sender: mpsc::Sender<Incoming>,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    // One more byte than a message may have, plus its newline: reading that many without
    // meeting a newline proves the line is too long.
    let read_limit = u64::try_from(max_line_bytes).unwrap_or(u64::MAX).saturating_add(1);
    let end = loop {
        line.clear();
        match (&mut reader).take(read_limit).read_until(b'\n', &mut line).await {
            Ok(0) => break StdoutEnd::Eof,
            Ok(_) => {}
            Err(error) => break StdoutEnd::Failed(error),
        }
        let complete = line.ends_with(b"\n");
        if !complete && line.len() > max_line_bytes {
            break StdoutEnd::TooLong { limit: max_line_bytes };
        }
        // An incomplete line shorter than the cap is the last one, cut by end of file: parse it
        // anyway, and the next read reports the end.
        let Some(message) = parse_line(&server, &line) else { continue };
        if sender.send(Incoming::Message(message)).await.is_err() {
            // The transport is gone; nobody is left to read.
            return;
        }
    };
    // Ignoring a failure is safe: it only means the transport is gone and wants no report.
    let _ = sender.send(Incoming::End(end)).await;
}

/// One stdout line as a message; blank lines and lines that are not JSON-RPC give `None`.
fn parse_line(server: &str, line: &[u8]) -> Option<ServerJsonRpcMessage> {
    let text = line.trim_ascii();
    if text.is_empty() {
        return None;
    }
    match serde_json::from_slice::<ServerJsonRpcMessage>(text) {
        Ok(message) => Some(message),
        Err(error) => {
            let quoted = String::from_utf8_lossy(&text[..text.len().min(SKIPPED_LINE_QUOTE_BYTES)]);
            tracing::warn!(%server, %error, line = %quoted, "skipped a stdout line that is not a JSON-RPC message");
            None
        }
    }
}

/// Logs each stderr line as one `tracing` event (target `exec_mcp::stderr`, field `server`).
async fn log_stderr(server: Arc<str>, stderr: Box<dyn AsyncRead + Send + Unpin>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let limit = u64::try_from(STDERR_LINE_BYTES).unwrap_or(u64::MAX);
    loop {
        line.clear();
        match (&mut reader).take(limit).read_until(b'\n', &mut line).await {
            Ok(0) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                tracing::info!(target: "exec_mcp::stderr", %server, "{}", text.trim_end_matches(['\n', '\r']));
            }
            Err(error) => {
                tracing::debug!(target: "exec_mcp::stderr", %server, %error, "reading stderr failed");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll};

    use super::*;

    /// A process that runs until killed, or has already exited with `exit`.
    #[derive(Debug)]
    struct FakeProcess {
        exit: Option<ProcessExit>,
        killed: Arc<AtomicBool>,
    }

    #[async_trait]
    impl ProcessHandle for FakeProcess {
        async fn wait(&mut self) -> io::Result<ProcessExit> {
            match self.exit {
                Some(exit) => Ok(exit),
                None => std::future::pending().await,
            }
        }

        async fn kill(&mut self) -> io::Result<ProcessExit> {
            self.killed.store(true, Ordering::SeqCst);
            self.exit = Some(ProcessExit::Signal(9));
            self.wait().await
        }
    }

    /// A stdin whose reader is gone.
    struct BrokenStdin;

    impl AsyncWrite for BrokenStdin {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
            Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A transport over in-memory streams; returns it with the server's end of stdout.
    fn fake_transport(
        stdin: Box<dyn AsyncWrite + Send + Unpin>,
        exit: Option<ProcessExit>,
    ) -> (McpTransport, tokio::io::DuplexStream, Arc<AtomicBool>) {
        let (server_stdout, stdout) = tokio::io::duplex(1024);
        let killed = Arc::new(AtomicBool::new(false));
        let process = Box::new(FakeProcess { exit, killed: Arc::clone(&killed) });
        let io = ProcessIo { stdin, stdout: Box::new(stdout), stderr: None, process };
        let mut spec = LaunchSpec::new("fake", "unused");
        spec.close_grace = Duration::from_secs(2);
        (McpTransport::new(&spec, io), server_stdout, killed)
    }

    fn message(json: serde_json::Value) -> ClientJsonRpcMessage {
        serde_json::from_value(json).expect("a client message")
    }

    fn ping(id: u32) -> ClientJsonRpcMessage {
        message(serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": "ping" }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_stops_reading_fails_pending_requests_after_the_grace() {
        // Stdout stays open: only the failed write says the server is not listening.
        let (mut transport, _server_stdout, killed) = fake_transport(Box::new(BrokenStdin), None);
        Transport::<RoleClient>::send(&mut transport, ping(99)).await.unwrap();

        let started = tokio::time::Instant::now();
        let Some(JsonRpcMessage::Error(error)) = transport.receive().await else {
            panic!("expected an error")
        };
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(error.id, Some(RequestId::Number(99)));
        assert_eq!(error.error.code, ErrorCode(SERVER_ENDED_CODE));
        assert_eq!(error.error.message, "mcp server `fake` stopped reading its stdin");
        assert!(transport.receive().await.is_none());

        Transport::<RoleClient>::close(&mut transport).await.unwrap();
        assert!(killed.load(Ordering::SeqCst), "close kills a server that does not exit");
    }

    #[tokio::test(start_paused = true)]
    async fn answered_and_cancelled_requests_are_not_failed_at_the_end() {
        let (stdin, _server_stdin) = tokio::io::duplex(1024);
        let (mut transport, mut server_stdout, killed) =
            fake_transport(Box::new(stdin), Some(ProcessExit::Code(0)));
        for id in 1..=3 {
            Transport::<RoleClient>::send(&mut transport, ping(id)).await.unwrap();
        }
        let cancel = message(serde_json::json!({
            "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 2 }
        }));
        Transport::<RoleClient>::send(&mut transport, cancel).await.unwrap();
        server_stdout.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n").await.unwrap();
        drop(server_stdout);

        assert!(matches!(transport.receive().await, Some(JsonRpcMessage::Response(_))));
        let Some(JsonRpcMessage::Error(error)) = transport.receive().await else {
            panic!("expected an error")
        };
        assert_eq!(error.id, Some(RequestId::Number(3)));
        assert_eq!(error.error.message, "mcp server `fake` exited with exit code 0");
        assert!(transport.receive().await.is_none());
        assert_eq!(
            transport.end_reason().get().as_deref(),
            Some("mcp server `fake` exited with exit code 0")
        );

        Transport::<RoleClient>::close(&mut transport).await.unwrap();
        assert!(!killed.load(Ordering::SeqCst), "a server that exited is not killed");
    }

    #[test]
    fn parse_line_skips_blank_and_foreign_lines() {
        assert!(parse_line("s", b"\n").is_none());
        assert!(parse_line("s", b"  \r\n").is_none());
        assert!(parse_line("s", b"Server started on stdio\n").is_none());
        assert!(parse_line("s", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n").is_some());
        assert!(parse_line("s", b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}").is_some());
    }

    #[test]
    fn exit_display() {
        assert_eq!(ProcessExit::Code(3).to_string(), "exit code 3");
        assert_eq!(ProcessExit::Signal(9).to_string(), "signal 9");
    }
}
