//! [`ProcessSpec`] (what to start, with an optional [`ProcessSandbox`]) and [`ProcessHandle`]
//! (one process's events and controls, and what the server said about its sandbox).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use exec_engine::{
    Event, EventStream, ExitStatus, PtySize, ReadOutcome, ReadRequest, Seq, Signal, WriteOptions, WriteStatus,
};
use exec_protocol::process as wire;
use exec_protocol::sandbox::SandboxType;
pub use exec_sandbox::Network;

use super::routes::{Next, Slot};
use super::{ClientError, EnvInherit, EnvPolicy, ExecClient, MAX_SAFE_SEQ};

/// What to start on the server (`process/start`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProcessSpec {
    /// Program and arguments; must not be empty.
    pub argv: Vec<String>,
    /// Absolute working directory on the server.
    pub cwd: String,
    /// Variables laid over the policy's result (or, without a policy, the whole environment).
    pub env: BTreeMap<String, String>,
    /// How the server builds the base environment from its own; `None` = `env` is exact.
    pub env_policy: Option<EnvPolicy>,
    /// Run on a pseudo-terminal.
    pub tty: bool,
    /// Without `tty`: give the child a writable stdin pipe instead of `/dev/null`.
    pub pipe_stdin: bool,
    /// What the child sees as `argv[0]`.
    pub arg0: Option<String>,
    /// Initial PTY size (the `size` extension).
    pub size: Option<PtySize>,
    /// Wait for the command inside `process/start` (the `startWait` extension): a command that
    /// finishes within the budget costs one round trip. Ignored by a server without it.
    pub inline_wait: Option<InlineWait>,
    /// Confine the process with the executor's sandbox (`None`: unconfined). Sent as the 0.171
    /// `sandbox` intent; [`ExecClient::start`] refuses, before anything runs, a server that
    /// cannot be trusted to enforce it ([`ClientError::SandboxUnavailable`]).
    pub sandbox: Option<ProcessSandbox>,
}

/// A sandbox for a remote process, in portable terms: the server resolves it against its own
/// file system and enforces it with its kernel (docs/sandbox.md), exactly as it does the intent
/// `codex exec --sandbox ...` sends.
///
/// Everything stays readable; what may be written is the [`SandboxFiles`] mode; network
/// sockets are off unless [`network`](ProcessSandbox::network) is [`Network::Enabled`] (Unix
/// sockets always work). The local counterpart, for children an embedder starts itself, is
/// `exec_sandbox::SandboxPolicy`: it is resolved on the local machine, so it cannot travel.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProcessSandbox {
    /// Where the process may write.
    pub files: SandboxFiles,
    /// Network sockets on or off.
    pub network: Network,
}

/// Where a sandboxed process may write.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SandboxFiles {
    /// Nowhere (Codex's `--sandbox read-only`).
    ReadOnly,
    /// Codex's `--sandbox workspace-write`: the process's `cwd` and each of `writable_roots`
    /// (absolute paths on the server), `/tmp` and the server's `TMPDIR`; inside each root, an
    /// existing `.git`, `.agents` and `.codex` stay read-only.
    WorkspaceWrite {
        /// Writable roots besides the working directory.
        writable_roots: Vec<String>,
    },
}

impl ProcessSandbox {
    /// Write nothing, no network.
    pub fn read_only() -> ProcessSandbox {
        ProcessSandbox { files: SandboxFiles::ReadOnly, network: Network::Restricted }
    }

    /// Write the working directory, `writable_roots`, `/tmp` and `TMPDIR`; no network.
    pub fn workspace_write<I, S>(writable_roots: I) -> ProcessSandbox
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let writable_roots = writable_roots.into_iter().map(Into::into).collect();
        ProcessSandbox {
            files: SandboxFiles::WorkspaceWrite { writable_roots },
            network: Network::Restricted,
        }
    }

    /// The same sandbox with network sockets switched on or off.
    pub fn with_network(mut self, network: Network) -> ProcessSandbox {
        self.network = network;
        self
    }
}

/// The budgets of an inline wait on `process/start`: the server answers once the command closed,
/// `timeout` passed, or `max_bytes` of output are in the answer, whichever comes first; the rest
/// follows as usual. The handle's events are the same either way.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct InlineWait {
    /// The time budget (the server caps it at `exec_protocol::process::MAX_START_WAIT_MS`).
    pub timeout: Duration,
    /// The byte budget; `None`: the server's cap.
    pub max_bytes: Option<u64>,
}

impl ProcessSpec {
    /// `argv` in `cwd` with the server's core environment (`envPolicy {inherit: core}`), no
    /// stdin and no TTY: the executor's `HOME` and `PATH`, never the caller's.
    pub fn new<I, S>(argv: I, cwd: impl Into<String>) -> ProcessSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ProcessSpec {
            argv: argv.into_iter().map(Into::into).collect(),
            cwd: cwd.into(),
            env: BTreeMap::new(),
            env_policy: Some(EnvPolicy {
                inherit: EnvInherit::Core,
                ignore_default_excludes: false,
                exclude: Vec::new(),
                set: BTreeMap::new(),
                include_only: Vec::new(),
            }),
            tty: false,
            pipe_stdin: false,
            arg0: None,
            size: None,
            inline_wait: None,
            sandbox: None,
        }
    }

    /// Sets one variable on top of the base environment.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> ProcessSpec {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Replaces the environment policy (`None`: `env` is the whole environment).
    pub fn env_policy(mut self, policy: Option<EnvPolicy>) -> ProcessSpec {
        self.env_policy = policy;
        self
    }

    /// Gives the child a writable stdin pipe.
    pub fn pipe_stdin(mut self) -> ProcessSpec {
        self.pipe_stdin = true;
        self
    }

    /// Runs the child on a PTY, with an initial size when the server supports it.
    pub fn tty(mut self, size: Option<PtySize>) -> ProcessSpec {
        self.tty = true;
        self.size = size;
        self
    }

    /// Waits for the command inside `process/start`, when the server offers it (`startWait`).
    pub fn inline_wait(mut self, timeout: Duration, max_bytes: Option<u64>) -> ProcessSpec {
        self.inline_wait = Some(InlineWait { timeout, max_bytes });
        self
    }

    /// Confines the process with the executor's sandbox.
    pub fn sandbox(mut self, sandbox: ProcessSandbox) -> ProcessSpec {
        self.sandbox = Some(sandbox);
        self
    }

    /// The wire params; `path` turns a server path into the form this server wants (a `file://`
    /// URI for a 0.171 server), for `cwd` and the sandbox's roots alike.
    pub(crate) fn into_wire(self, id: &str, path: impl Fn(&str) -> String) -> wire::ProcessStartParams {
        let cwd = path(&self.cwd);
        let sandbox = self
            .sandbox
            .as_ref()
            .map(|sandbox| crate::convert::to_wire::sandbox_intent(sandbox, &cwd, &path));
        wire::ProcessStartParams {
            process_id: exec_protocol::ProcessId::new(id),
            argv: self.argv,
            cwd,
            env_policy: self.env_policy,
            env: self.env,
            tty: self.tty,
            pipe_stdin: self.pipe_stdin,
            arg0: self.arg0,
            size: self.size.map(|size| wire::TerminalSize { rows: size.rows, cols: size.cols }),
            sandbox,
            wait: self.inline_wait.map(|wait| wire::StartWait {
                timeout_ms: u64::try_from(wait.timeout.as_millis()).unwrap_or(u64::MAX),
                max_bytes: wait.max_bytes,
            }),
        }
    }
}

/// One process, as seen by this client: its events in seq order and its controls.
///
/// Events are buffered from the moment the handle was created (before `process/start` was
/// sent), so a caller that starts reading late misses nothing. Dropping the handle stops the
/// buffering; the process itself keeps running (use [`terminate`](ProcessHandle::terminate)).
#[derive(Debug)]
pub struct ProcessHandle {
    client: ExecClient,
    id: String,
    slot: Arc<Slot>,
    last_seq: u64,
    /// `sandboxType` from the `process/start` result; `None` for an attached handle or a server
    /// that does not say (the April peer).
    sandbox_type: Option<SandboxType>,
}

impl Drop for ProcessHandle {
    fn drop(&mut self) {
        self.client.inner.routes.unregister(&self.slot);
        self.slot.abandon();
    }
}

impl ProcessHandle {
    pub(crate) fn new(client: ExecClient, id: String, slot: Arc<Slot>) -> ProcessHandle {
        let last_seq = slot.lock().delivered();
        ProcessHandle { client, id, slot, last_seq, sandbox_type: None }
    }

    pub(crate) fn with_sandbox_type(mut self, sandbox_type: Option<SandboxType>) -> ProcessHandle {
        self.sandbox_type = sandbox_type;
        self
    }

    /// Which sandbox confines the process, as the `process/start` result said: `LinuxSeccomp`
    /// when it was started with a [`ProcessSandbox`], `None` (the value) without one. `None` (no
    /// value) for a handle from [`ExecClient::attach`] or a server that does not report it.
    pub fn sandbox_type(&self) -> Option<SandboxType> {
        self.sandbox_type
    }

    /// The server's `sandboxDenied` verdict, once this handle has learned of the exit (from
    /// `process/exited`, or a `process/read` that saw it): whether the sandbox probably refused
    /// something the command needed. A heuristic of the server (docs/sandbox.md); always
    /// `Some(false)` for an unsandboxed process on our server. `None` before the exit, or from a
    /// server that does not report it (the April peer).
    pub fn sandbox_denied(&self) -> Option<bool> {
        self.slot.lock().sandbox_denied()
    }

    /// The client-chosen process id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client this handle talks through.
    pub fn client(&self) -> &ExecClient {
        &self.client
    }

    /// The seq of the last event returned by [`next_event`](ProcessHandle::next_event) (0 before
    /// the first); attach with `SubscribeFrom::After` this to continue where it left off.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The next event in seq order, waiting for it. `None` after `Closed` or `Failed`.
    ///
    /// Cancel safe: dropping the future loses no event.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            let next = self.slot.take_next();
            match next {
                Next::Event(event) => {
                    if !matches!(event, Event::Failed { .. }) {
                        self.last_seq = event.seq().get().max(self.last_seq);
                    }
                    return Some(event);
                }
                Next::End => return None,
                Next::Wait => self.slot.changed.notified().await,
                Next::Pull { after, epoch } => {
                    let request = ReadRequest { after_seq: Some(Seq::new(after)), ..ReadRequest::default() };
                    match self.client.read_wire(&self.id, request).await {
                        Ok(read) => {
                            let merged = self.slot.lock().merge_read(after, epoch, read);
                            if let Err(reason) = merged {
                                self.slot.fail(&reason);
                            }
                        }
                        Err(ClientError::Disconnected(reason)) => self.slot.fail(&reason),
                        Err(error) => {
                            self.slot.fail(&format!("cannot catch up on process {}: {error}", self.id))
                        }
                    }
                }
            }
        }
    }

    /// Writes to the process's stdin.
    pub async fn write(&self, data: impl Into<Bytes>) -> Result<WriteStatus, ClientError> {
        self.client.write(&self.id, data.into(), WriteOptions::default()).await
    }

    /// Closes the process's stdin (the `eof` extension; on a PTY this sends the EOF character).
    pub async fn close_stdin(&self) -> Result<WriteStatus, ClientError> {
        self.client.write(&self.id, Bytes::new(), WriteOptions { eof: true, write_id: None }).await
    }

    /// Sets the PTY window size.
    pub async fn resize(&self, size: PtySize) -> Result<(), ClientError> {
        self.client.resize(&self.id, size).await
    }

    /// Sends a named signal to the process group.
    pub async fn signal(&self, signal: Signal) -> Result<(), ClientError> {
        self.client.signal(&self.id, signal).await
    }

    /// Kills the process group, at once or after `grace`; whether it was running.
    pub async fn terminate(&self, grace: Option<Duration>) -> Result<bool, ClientError> {
        self.client.terminate(&self.id, grace).await
    }

    /// `process/read` on this process (independent of the event stream). A read that sees the
    /// exit also records the server's [`sandbox_denied`](ProcessHandle::sandbox_denied).
    pub async fn read(&self, request: ReadRequest) -> Result<ReadOutcome, ClientError> {
        let read = self.client.read_wire(&self.id, request).await?;
        self.slot.lock().note_read_verdict(&read);
        Ok(crate::convert::from_wire::read_outcome(read))
    }

    /// Waits until the process has exited and closed, discarding output events, and returns how
    /// it ended. Fails with `Disconnected` if the stream failed first.
    pub async fn wait(&mut self) -> Result<ExitStatus, ClientError> {
        let mut status = None;
        while let Some(event) = self.next_event().await {
            match event {
                Event::Exited { status: exit, .. } => status = Some(exit),
                Event::Closed { .. } => break,
                Event::Failed { reason, .. } => return Err(ClientError::Disconnected(reason)),
                Event::Output(_) | Event::Gap { .. } => {}
            }
        }
        if let Some(status) = status {
            return Ok(status);
        }
        // Attached after the end: ask for the status.
        let probe = ReadRequest { after_seq: Some(Seq::new(MAX_SAFE_SEQ)), ..ReadRequest::default() };
        let outcome = self.read(probe).await?;
        outcome.exit.ok_or_else(|| {
            ClientError::Protocol(format!("the events of process {} ended without an exit", self.id))
        })
    }
}

#[async_trait]
impl EventStream for ProcessHandle {
    async fn next_event(&mut self) -> Option<Event> {
        ProcessHandle::next_event(self).await
    }
}
