//! [`ExecutorLauncher`]: runs an MCP server on an executor, as a process that an exec-server
//! starts (`process/start` through an [`ExecClient`]), and hands back the same [`McpTransport`]
//! as the local launcher.
//!
//! # What is sent
//!
//! [`LaunchSpec::executor_process_spec`] turns a spec into the `process/start` request: `argv` is
//! the command and its arguments, `cwd` is required, `tty: false`, `pipeStdin: true`, and the
//! environment is built by the executor from its own (see that method for the rules). The
//! process id is `mcp-<server>-<uuid v4>`, unique within the session.
//!
//! # Streams
//!
//! - **stdin** is an `AsyncWrite` whose writes become `process/write` requests, one at a time
//!   and in order, at most [`MAX_WRITE_BYTES`] each. A write is accepted at once and sent by a
//!   task; its error (stdin closed, unknown process, disconnected) is returned by the next
//!   write, flush or shutdown. `shutdown` sends an empty write with `eof: true`; dropping the
//!   writer without it sends that write too, after any write still in flight.
//! - **stdout and stderr** are `AsyncRead`s fed by one pump task that takes the process's
//!   events in seq order from the client's handle. Stdout ends after `Closed`. When delivery
//!   fails for good (`Failed`: the connection is gone and recovery, if on, gave up) stdout
//!   fails with `executor disconnected: <reason>`, so the transport ends the MCP session with
//!   that reason instead of waiting; a `Gap` (output the executor no longer had) fails it too,
//!   since a protocol stream with a hole cannot be parsed.
//! - Each stream's queue is bounded: a reader that does not read holds the pump back, and the
//!   client's handle buffers what the executor sends meanwhile (up to its per-process budget,
//!   after which the connection itself waits; nothing is lost). Once the process is being
//!   killed, output nobody took is discarded so the kill never waits on a reader.
//!
//! # Lifetime
//!
//! The [`ProcessHandle`] waits for `Closed` (the process exited and its output ended) and
//! reports the status of the preceding `Exited`; `kill` sends `process/terminate` (SIGKILL to the
//! process group on the executor) and waits for `Closed`. Closing the transport therefore
//! closes stdin, gives the server the close grace to exit, then terminates it and waits for it
//! to close. Dropping the handle while the process runs sends `process/terminate` without
//! waiting. An executor disconnect fails `wait` and `kill` with the same reason as stdout.
//!
//! Without the `eof` capability (the Codex peer's server) stdin cannot be closed remotely:
//! `shutdown` fails with [`io::ErrorKind::Unsupported`], which the transport only logs, so
//! closing the transport spends the whole close grace and then terminates the server.
//!
//! This module does not reconnect by itself (that is the [`ExecClient`]'s recovery) and does
//! not retry a failed start.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use async_trait::async_trait;
use bytes::Bytes;
use exec_engine::{Event, ExitStatus, StreamKind, WriteOptions, WriteStatus};
use exec_protocol::capability;
use exec_transport::client::{EnvInherit, EnvPolicy};
use exec_transport::{ClientError, ConnectOptions, ExecClient, ProcessSpec};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::EnvSource;
use crate::launch::{LaunchError, LaunchSpec, Launcher};
use crate::transport::{McpTransport, ProcessExit, ProcessHandle, ProcessIo};

/// The most stdin bytes one `process/write` carries. A longer message is sent as several writes,
/// in order. 1 MiB keeps a request (base64 adds a third) far below the server's message limit.
pub const MAX_WRITE_BYTES: usize = 1024 * 1024;

/// Output chunks that may wait for their reader, per stream. Small: the client buffers behind
/// it, and a full queue is the backpressure that keeps memory bounded.
const OUTPUT_QUEUE_CHUNKS: usize = 16;

/// Starts MCP servers on an executor through an exec-server.
///
/// The `source = "local"` variables of a spec are read from the launching environment: this
/// process's own, read at each launch, unless one was given with
/// [`ExecutorLauncher::with_environment`]. Everything else comes from the executor.
///
/// Cheap to clone; clones share the client (and so the connection and the session).
#[derive(Debug, Clone)]
pub struct ExecutorLauncher {
    client: ExecClient,
    /// `None`: read `std::env::vars_os()` at launch.
    environment: Option<BTreeMap<String, String>>,
}

impl ExecutorLauncher {
    /// A launcher that starts servers through `client`.
    pub fn new(client: ExecClient) -> ExecutorLauncher {
        ExecutorLauncher { client, environment: None }
    }

    /// Connects to the exec-server at an endpoint (a `ws://` or `wss://` URL, or a command such
    /// as `ssh host exec-server --listen stdio` whose stdin/stdout carry the protocol) and
    /// returns a launcher using that connection.
    pub async fn connect(
        endpoint: impl Into<exec_transport::Endpoint>,
        options: ConnectOptions,
    ) -> Result<ExecutorLauncher, ClientError> {
        Ok(ExecutorLauncher::new(ExecClient::connect(endpoint, options).await?))
    }

    /// A launcher whose `source = "local"` variables are read from `environment` instead of this
    /// process's environment (for tests, and for programs that keep their configuration
    /// environment apart from their own).
    pub fn with_environment<N: Into<String>, V: Into<String>>(
        client: ExecClient,
        environment: impl IntoIterator<Item = (N, V)>,
    ) -> ExecutorLauncher {
        let environment = environment.into_iter().map(|(name, value)| (name.into(), value.into())).collect();
        ExecutorLauncher { client, environment: Some(environment) }
    }

    /// The client servers are started through.
    pub fn client(&self) -> &ExecClient {
        &self.client
    }
}

impl LaunchSpec {
    /// The `process/start` request that runs this server on an executor, given the launching
    /// machine's environment (passed in, so this is testable without touching `std::env`).
    ///
    /// - `argv` is `[command, args...]`; `cwd` is required and must be absolute and UTF-8;
    ///   `tty: false`, `pipeStdin: true`.
    /// - `envPolicy`: the executor builds the environment from its own. With no
    ///   `source = "remote"` names it is `{inherit: core}`: the executor's core variables
    ///   ([`shell_env_policy::CORE_VARS`]). With some, it is `{inherit: all, includeOnly: core
    ///   names + remote names, ignoreDefaultExcludes: true}`: the same core variables plus the
    ///   named ones. The default `*KEY*`/`*SECRET*`/`*TOKEN*` exclusion is turned off because
    ///   every name is explicit, so a remote `GITHUB_TOKEN` arrives. `includeOnly` entries are
    ///   case-insensitive globs on the server, so a remote name may not contain `*` or `?`, and
    ///   a variable differing only in case from a kept name (`path` beside `PATH`) is kept too.
    /// - `env`: only explicit values, laid over the policy's result: every `source = "local"`
    ///   name set in `launching`, then the literal `env` on top. The launching machine's other
    ///   variables, its `HOME` and `PATH` included, are never sent.
    pub fn executor_process_spec<N, V>(
        &self,
        launching: impl IntoIterator<Item = (N, V)>,
    ) -> Result<ProcessSpec, LaunchError>
    where
        N: Into<String>,
        V: Into<String>,
    {
        let invalid = |message: String| LaunchError::Invalid { server: self.server_name.clone(), message };
        let cwd = match &self.cwd {
            None => return Err(invalid("`cwd` is required to run on an executor".to_owned())),
            Some(cwd) if !cwd.is_absolute() => {
                return Err(invalid(format!(
                    "`cwd` must be an absolute path on the executor, not `{}`",
                    cwd.display()
                )));
            }
            Some(cwd) => cwd
                .to_str()
                .ok_or_else(|| invalid(format!("`cwd` `{}` is not valid UTF-8", cwd.display())))?,
        };
        let launching: BTreeMap<String, String> =
            launching.into_iter().map(|(name, value)| (name.into(), value.into())).collect();
        let mut env = BTreeMap::new();
        let mut remote = Vec::new();
        for variable in &self.env_vars {
            match variable.source {
                EnvSource::Local => {
                    if let Some(value) = launching.get(&variable.name) {
                        env.insert(variable.name.clone(), value.clone());
                    }
                }
                EnvSource::Remote => {
                    if variable.name.contains(['*', '?']) {
                        return Err(invalid(format!(
                            "`env_vars`: remote variable name `{}` contains `*` or `?`",
                            variable.name
                        )));
                    }
                    remote.push(variable.name.clone());
                }
            }
        }
        env.extend(self.env.iter().map(|(name, value)| (name.clone(), value.clone())));
        let env_policy = if remote.is_empty() {
            EnvPolicy {
                inherit: EnvInherit::Core,
                ignore_default_excludes: false,
                exclude: Vec::new(),
                set: BTreeMap::new(),
                include_only: Vec::new(),
            }
        } else {
            let mut include_only: Vec<String> =
                shell_env_policy::CORE_VARS.iter().map(|name| (*name).to_owned()).collect();
            for name in remote {
                if !include_only.contains(&name) {
                    include_only.push(name);
                }
            }
            EnvPolicy {
                inherit: EnvInherit::All,
                ignore_default_excludes: true,
                exclude: Vec::new(),
                set: BTreeMap::new(),
                include_only,
            }
        };
        Ok(ProcessSpec {
            argv: std::iter::once(self.command.clone()).chain(self.args.iter().cloned()).collect(),
            cwd: cwd.to_owned(),
            env,
            env_policy: Some(env_policy),
            tty: false,
            pipe_stdin: true,
            arg0: None,
            size: None,
            inline_wait: None,
            sandbox: None,
        })
    }
}

#[async_trait]
impl Launcher for ExecutorLauncher {
    async fn launch(&self, spec: &LaunchSpec) -> Result<McpTransport, LaunchError> {
        let process_spec = match &self.environment {
            Some(environment) => spec.executor_process_spec(environment.iter())?,
            None => {
                let own = shell_env_policy::utf8_vars_os(std::env::vars_os());
                if !own.skipped.is_empty() {
                    tracing::debug!(server = %spec.server_name, skipped = ?own.skipped, "non-UTF-8 variables not copied");
                }
                spec.executor_process_spec(own.vars)?
            }
        };
        let id = format!("mcp-{}-{}", spec.server_name, uuid::Uuid::new_v4());
        let handle =
            self.client.start(id.as_str(), process_spec).await.map_err(|source| LaunchError::Executor {
                server: spec.server_name.clone(),
                command: spec.command.clone(),
                url: self.client.url().to_owned(),
                source: Box::new(source),
            })?;
        if !self.client.has_capability(capability::EOF) {
            tracing::debug!(server = %spec.server_name, "the executor cannot close stdin (no `eof` capability)");
        }
        tracing::debug!(server = %spec.server_name, process = %id, url = %self.client.url(), "started mcp server on the executor");
        Ok(McpTransport::new(spec, remote_process_io(&self.client, handle)))
    }
}

/// The streams and the handle of a started remote process; spawns its event pump.
fn remote_process_io(client: &ExecClient, handle: exec_transport::ProcessHandle) -> ProcessIo {
    let id: Arc<str> = Arc::from(handle.id());
    let (stdout, stdout_reader) = mpsc::channel(OUTPUT_QUEUE_CHUNKS);
    let (stderr, stderr_reader) = mpsc::channel(OUTPUT_QUEUE_CHUNKS);
    let (state_sender, state) = watch::channel(RemoteState::Running);
    let (discard, discard_seen) = watch::channel(false);
    let outputs = Outputs { stdout: Some(stdout), stderr: Some(stderr), discard: discard_seen };
    // Not kept: it ends by itself at `Closed` or `Failed`, and must outlive the transport to
    // see the end of a process that was terminated on drop.
    drop(tokio::spawn(pump(handle, outputs, state_sender)));
    ProcessIo {
        stdin: Box::new(RemoteStdin {
            client: client.clone(),
            id: Arc::clone(&id),
            in_flight: None,
            closed: false,
        }),
        stdout: Box::new(ChannelReader::new(stdout_reader)),
        stderr: Some(Box::new(ChannelReader::new(stderr_reader))),
        process: Box::new(RemoteProcess { client: client.clone(), id, state, discard }),
    }
}

/// Where the remote process is, as the pump last saw it.
#[derive(Debug, Clone)]
enum RemoteState {
    Running,
    /// Exited, every stream at EOF; the status of the `Exited` event, if one was seen.
    Closed(Option<ProcessExit>),
    /// Delivery stopped for good; the reason, as stdout reports it.
    Failed(String),
}

type OutputSender = mpsc::Sender<io::Result<Bytes>>;

/// The pump's ends of the output queues. Dropping a sender ends its reader's stream.
struct Outputs {
    /// `None` once the reader is gone or the stream has failed.
    stdout: Option<OutputSender>,
    stderr: Option<OutputSender>,
    /// Set by `kill` and `Drop`: nobody needs the output any more, so never wait for a reader.
    discard: watch::Receiver<bool>,
}

/// Moves a process's events, in seq order, into the output queues and the state, until the
/// process has closed or delivery has failed.
async fn pump(
    mut handle: exec_transport::ProcessHandle,
    mut outputs: Outputs,
    state: watch::Sender<RemoteState>,
) {
    let mut exit = None;
    loop {
        let event = handle.next_event().await.unwrap_or_else(|| Event::Failed {
            next_seq: exec_engine::Seq::new(handle.last_seq() + 1),
            reason: "the process's event stream ended".to_owned(),
        });
        match event {
            Event::Output(chunk) => {
                let sender = match chunk.stream {
                    StreamKind::Stdout | StreamKind::Pty => &mut outputs.stdout,
                    StreamKind::Stderr => &mut outputs.stderr,
                };
                deliver(sender, &mut outputs.discard, Ok(chunk.data)).await;
            }
            Event::Exited { status, .. } => {
                exit = Some(match status {
                    ExitStatus::Code(code) => ProcessExit::Code(code),
                    ExitStatus::Signal(signal) => ProcessExit::Signal(signal),
                });
            }
            Event::Closed { .. } => {
                // The state first: whoever sees stdout end may ask for the exit at once.
                state.send_replace(RemoteState::Closed(exit));
                return;
            }
            Event::Gap { dropped_before } => {
                let message = format!(
                    "the executor no longer had the server's output before seq {dropped_before}, \
                     so the protocol stream has a hole"
                );
                tracing::debug!(process = %handle.id(), "{message}");
                deliver(&mut outputs.stdout, &mut outputs.discard, Err(io::Error::other(message))).await;
                outputs.stdout = None;
            }
            Event::Failed { reason, .. } => {
                let message = format!("executor disconnected: {reason}");
                tracing::debug!(process = %handle.id(), "{message}");
                state.send_replace(RemoteState::Failed(message.clone()));
                deliver(&mut outputs.stdout, &mut outputs.discard, Err(io::Error::other(message))).await;
                return;
            }
        }
    }
}

/// Queues `item` for a reader, waiting for room unless the output is being discarded. A reader
/// that has gone away is forgotten.
async fn deliver(
    sender: &mut Option<OutputSender>,
    discard: &mut watch::Receiver<bool>,
    item: io::Result<Bytes>,
) {
    let Some(channel) = sender.as_ref() else { return };
    let reader_gone = if *discard.borrow() {
        matches!(channel.try_send(item), Err(mpsc::error::TrySendError::Closed(_)))
    } else {
        tokio::select! {
            sent = channel.send(item) => sent.is_err(),
            // Killed (or dropped) while waiting for room: the item is not needed.
            _ = discard.wait_for(|discard| *discard) => false,
        }
    };
    if reader_gone {
        *sender = None;
    }
}

/// One output stream of the remote process, read from its queue.
#[derive(Debug)]
struct ChannelReader {
    queue: mpsc::Receiver<io::Result<Bytes>>,
    /// What is left of the chunk being read.
    chunk: Bytes,
    /// Once the stream has failed, every later read fails the same way.
    failure: Option<(io::ErrorKind, String)>,
}

impl ChannelReader {
    fn new(queue: mpsc::Receiver<io::Result<Bytes>>) -> ChannelReader {
        ChannelReader { queue, chunk: Bytes::new(), failure: None }
    }
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if let Some((kind, message)) = &this.failure {
                return Poll::Ready(Err(io::Error::new(*kind, message.clone())));
            }
            if !this.chunk.is_empty() {
                let count = this.chunk.len().min(buffer.remaining());
                buffer.put_slice(&this.chunk.split_to(count));
                return Poll::Ready(Ok(()));
            }
            match ready!(this.queue.poll_recv(context)) {
                Some(Ok(chunk)) => this.chunk = chunk,
                Some(Err(error)) => this.failure = Some((error.kind(), error.to_string())),
                // The pump is done: end of stream.
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// The remote process's stdin: each write becomes a `process/write`, one at a time.
#[derive(Debug)]
struct RemoteStdin {
    client: ExecClient,
    id: Arc<str>,
    /// The write being sent, as a task so it proceeds without being polled. The next write
    /// waits for it, which keeps the writes in order.
    in_flight: Option<JoinHandle<io::Result<()>>>,
    /// Set once `shutdown` has sent (or could not send) the end of input.
    closed: bool,
}

impl RemoteStdin {
    /// Waits for the write in flight, if any, and returns its result.
    fn poll_in_flight(&mut self, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(task) = self.in_flight.as_mut() else { return Poll::Ready(Ok(())) };
        let joined = ready!(Pin::new(task).poll(context));
        self.in_flight = None;
        Poll::Ready(joined.unwrap_or_else(|error| Err(io::Error::other(error))))
    }

    fn send(&mut self, data: Bytes, eof: bool) {
        let client = self.client.clone();
        let id = Arc::clone(&self.id);
        self.in_flight = Some(tokio::spawn(async move { write_stdin(&client, &id, data, eof).await }));
    }
}

/// One `process/write`, with its outcome as an I/O result.
async fn write_stdin(client: &ExecClient, id: &str, data: Bytes, eof: bool) -> io::Result<()> {
    match client.write(id, data, WriteOptions { eof, write_id: None }).await {
        Ok(WriteStatus::Accepted) => Ok(()),
        Ok(WriteStatus::StdinClosed) => {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "the server's stdin is closed"))
        }
        Ok(WriteStatus::UnknownProcess) => {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, format!("the executor has no process {id}")))
        }
        Ok(WriteStatus::Starting) => Err(io::Error::other(format!("process {id} is still starting"))),
        Err(ClientError::Disconnected(reason)) => {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, format!("executor disconnected: {reason}")))
        }
        Err(error) => Err(io::Error::other(format!("process/write failed: {error}"))),
    }
}

impl AsyncWrite for RemoteStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_in_flight(context))?;
        if self.closed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "stdin was closed")));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let count = data.len().min(MAX_WRITE_BYTES);
        self.send(Bytes::copy_from_slice(&data[..count]), false);
        Poll::Ready(Ok(count))
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_in_flight(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_in_flight(context))?;
        if !self.closed {
            self.closed = true;
            if !self.client.has_capability(capability::EOF) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the executor cannot close a process's stdin (no `eof` capability)",
                )));
            }
            self.send(Bytes::new(), true);
        }
        self.poll_in_flight(context)
    }
}

impl Drop for RemoteStdin {
    fn drop(&mut self) {
        if self.closed || !self.client.has_capability(capability::EOF) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let client = self.client.clone();
        let id = Arc::clone(&self.id);
        let in_flight = self.in_flight.take();
        // End of input after whatever is still being written; a failure means the process or
        // the connection is gone, and then there is no input to end.
        drop(runtime.spawn(async move {
            if let Some(in_flight) = in_flight {
                let _ = in_flight.await;
            }
            if let Err(error) = write_stdin(&client, &id, Bytes::new(), true).await {
                tracing::debug!(process = %id, %error, "closing stdin on drop");
            }
        }));
    }
}

/// Control of the remote process: its state from the pump, `process/terminate` to end it.
#[derive(Debug)]
struct RemoteProcess {
    client: ExecClient,
    id: Arc<str>,
    state: watch::Receiver<RemoteState>,
    discard: watch::Sender<bool>,
}

impl RemoteProcess {
    /// Whether the process has closed or can no longer be followed.
    fn is_over(&self) -> bool {
        !matches!(*self.state.borrow(), RemoteState::Running)
    }
}

#[async_trait]
impl ProcessHandle for RemoteProcess {
    async fn wait(&mut self) -> io::Result<ProcessExit> {
        let state = self
            .state
            .wait_for(|state| !matches!(state, RemoteState::Running))
            .await
            .map_err(|_| io::Error::other("the executor event pump stopped"))?;
        match &*state {
            RemoteState::Closed(Some(exit)) => Ok(*exit),
            RemoteState::Failed(reason) => Err(io::Error::other(reason.clone())),
            _ => Err(io::Error::other(format!("process {} closed without an exit status", self.id))),
        }
    }

    async fn kill(&mut self) -> io::Result<ProcessExit> {
        if !self.is_over() {
            // Its output no longer matters; the pump must not wait for a reader to take it.
            self.discard.send_replace(true);
            if let Err(error) = self.client.terminate(&self.id, None).await {
                // A lost connection also fails the pump, and so the wait below.
                tracing::debug!(process = %self.id, %error, "process/terminate failed");
            }
        }
        self.wait().await
    }
}

impl Drop for RemoteProcess {
    fn drop(&mut self) {
        if self.is_over() {
            return;
        }
        self.discard.send_replace(true);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!(process = %self.id, "dropped outside a runtime; the process is not terminated");
            return;
        };
        let client = self.client.clone();
        let id = Arc::clone(&self.id);
        drop(runtime.spawn(async move {
            if let Err(error) = client.terminate(&id, None).await {
                tracing::debug!(process = %id, %error, "process/terminate on drop failed");
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const LAUNCHING: &[(&str, &str)] =
        &[("PATH", "/launcher/bin"), ("HOME", "/home/launcher"), ("TOKEN", "t"), ("OTHER", "o")];

    fn spec() -> LaunchSpec {
        LaunchSpec::new("s", "server").with_args(["--flag", "x y"]).with_cwd("/work")
    }

    fn core() -> Vec<String> {
        shell_env_policy::CORE_VARS.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn without_remote_names_the_executor_gives_its_core_variables() {
        let process = spec().executor_process_spec(LAUNCHING.iter().copied()).unwrap();
        let expected = ProcessSpec {
            argv: vec!["server".into(), "--flag".into(), "x y".into()],
            cwd: "/work".into(),
            env: BTreeMap::new(),
            env_policy: Some(EnvPolicy {
                inherit: EnvInherit::Core,
                ignore_default_excludes: false,
                exclude: Vec::new(),
                set: BTreeMap::new(),
                include_only: Vec::new(),
            }),
            tty: false,
            pipe_stdin: true,
            arg0: None,
            size: None,
            inline_wait: None,
            sandbox: None,
        };
        assert_eq!(process, expected);
    }

    #[test]
    fn remote_names_are_kept_from_the_executor_and_local_ones_sent() {
        let spec = spec()
            .with_env_var("TOKEN", EnvSource::Local)
            .with_env_var("UNSET", EnvSource::Local)
            .with_env_var("GITHUB_TOKEN", EnvSource::Remote)
            .with_env_var("PATH", EnvSource::Remote)
            .with_env("LITERAL", "1")
            .with_env("TOKEN", "literal wins");
        let process = spec.executor_process_spec(LAUNCHING.iter().copied()).unwrap();
        let env: BTreeMap<String, String> =
            [("LITERAL", "1"), ("TOKEN", "literal wins")].map(|(n, v)| (n.to_owned(), v.to_owned())).into();
        assert_eq!(process.env, env, "only explicit values; never the launcher's HOME or PATH");
        let mut include_only = core();
        include_only.push("GITHUB_TOKEN".into());
        let expected = EnvPolicy {
            inherit: EnvInherit::All,
            ignore_default_excludes: true,
            exclude: Vec::new(),
            set: BTreeMap::new(),
            include_only,
        };
        assert_eq!(process.env_policy, Some(expected));

        // What our server makes of it, over an executor environment.
        let executor = [("PATH", "/x/bin"), ("HOME", "/home/x"), ("GITHUB_TOKEN", "g"), ("AWS_KEY", "k")];
        let policy = shell_env_policy::EnvPolicy {
            inherit: shell_env_policy::Inherit::All,
            ignore_default_excludes: true,
            exclude: Vec::new(),
            set: BTreeMap::new(),
            include_only: process.env_policy.unwrap().include_only,
        };
        let result = policy.apply_with_overlay(executor, process.env);
        let result: Vec<(&str, &str)> = result.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            result,
            [
                ("GITHUB_TOKEN", "g"),
                ("HOME", "/home/x"),
                ("LITERAL", "1"),
                ("PATH", "/x/bin"),
                ("TOKEN", "literal wins")
            ]
        );
    }

    #[test]
    fn invalid_specs_name_the_server() {
        let check = |spec: LaunchSpec, expected: &str| {
            let error = spec.executor_process_spec(LAUNCHING.iter().copied()).unwrap_err();
            assert!(matches!(error, LaunchError::Invalid { .. }), "{error:?}");
            assert_eq!(error.to_string(), expected);
        };
        check(LaunchSpec::new("s", "x"), "mcp server `s`: `cwd` is required to run on an executor");
        check(
            LaunchSpec::new("s", "x").with_cwd("work"),
            "mcp server `s`: `cwd` must be an absolute path on the executor, not `work`",
        );
        check(
            spec().with_env_var("A*", EnvSource::Remote),
            "mcp server `s`: `env_vars`: remote variable name `A*` contains `*` or `?`",
        );
        let mut non_utf8 = spec();
        non_utf8.cwd =
            Some(PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"/w\xff")));
        check(non_utf8, "mcp server `s`: `cwd` `/w\u{fffd}` is not valid UTF-8");
    }

    #[tokio::test]
    async fn a_reader_returns_queued_chunks_then_a_sticky_failure() {
        use tokio::io::AsyncReadExt as _;

        let (sender, queue) = mpsc::channel(4);
        sender.send(Ok(Bytes::from_static(b"ab"))).await.unwrap();
        sender.send(Ok(Bytes::new())).await.unwrap();
        sender.send(Ok(Bytes::from_static(b"cd"))).await.unwrap();
        sender.send(Err(io::Error::other("executor disconnected: gone"))).await.unwrap();
        drop(sender);
        let mut reader = ChannelReader::new(queue);
        let mut buffer = [0; 3];
        assert_eq!(reader.read(&mut buffer).await.unwrap(), 2);
        assert_eq!(&buffer[..2], b"ab");
        assert_eq!(reader.read(&mut buffer[..1]).await.unwrap(), 1);
        assert_eq!(reader.read(&mut buffer).await.unwrap(), 1);
        assert_eq!(&buffer[..1], b"d");
        for _ in 0..2 {
            let error = reader.read(&mut buffer).await.unwrap_err();
            assert_eq!(error.to_string(), "executor disconnected: gone");
        }

        let (sender, queue) = mpsc::channel::<io::Result<Bytes>>(1);
        drop(sender);
        assert_eq!(ChannelReader::new(queue).read(&mut buffer).await.unwrap(), 0, "end of stream");
    }
}
