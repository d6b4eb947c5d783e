//! [`ExecClient`]: the Rust client of an exec-server (ours or a Codex one), over WebSocket.
//!
//! ```text
//!  caller ──► ExecClient::call ──► Connection::send (the caller writes, under a lock) ──► socket
//!                                   Connection reader task ◄── socket
//!                                     ├─ responses → the waiting call
//!                                     └─ notifications → Routes → Slot (per subscriber, seq order)
//!  ProcessHandle::next_event ◄── Slot ── (pull with process/read when behind)
//! ```
//!
//! - One connection at a time. When it drops, every waiting call is woken. Without recovery the
//!   client goes down for good: every later call fails with [`ClientError::Disconnected`] and every
//!   live handle gets an [`Event::Failed`](exec_engine::Event::Failed). With recovery (the default) a background task
//!   re-dials with backoff inside [`Recovery::window`], resumes the session, and marks every
//!   handle "behind", so each catches up with `process/read` from its last delivered seq. Calls
//!   that are safe to repeat (reads, `list`, `terminate`, `resize`, writes carrying a `writeId`,
//!   `start`) wait for the new connection and are sent again; the others fail with
//!   `Disconnected`.
//! - Routing is registered before `process/start` is sent, so no early notification is missed,
//!   and a handle's events come out in seq order however the server ordered them. A handle
//!   buffers up to [`ConnectOptions::max_buffered_bytes_per_process`] for a caller that is not
//!   reading; past that the reader waits for it (backpressure, nothing lost), so a caller must
//!   not stop reading a process's events while it waits for that process to take its stdin,
//!   exactly as with a local pipe.
//! - Extensions are used only when `initialize` listed them in `capabilities`; against a server
//!   without them (the Codex servers), the calls that need them return [`ClientError::Unsupported`]
//!   (so `list` is a clear error there, never a call left waiting).
//! - Three servers, one client, decided per connection from the `initialize` result: ours, the
//!   April Codex server (`@openai/codex@0.123.0`) and the current one (`@openai/codex@0.171.0`,
//!   recognized by its `environmentInfo`). The current one parses every path as a URL, so
//!   [`ExecClient::start`] sends `cwd` as a `file://` URI there (the fs helpers do the same), and
//!   it refuses a `process/write` without a `writeId`, so every write carries one. The April
//!   server refuses a URI `cwd` and gets plain paths and no `writeId`, as before.
//! - A [`ProcessSpec::sandbox`] fails closed. It is sent (as the 0.171 `sandbox` intent) only to
//!   a server whose `initialize` result carries `environmentInfo`: the current Codex server and
//!   ours, both of which enforce the intent or refuse the start. Any other server (the April one)
//!   gets nothing: [`ExecClient::start`] returns [`ClientError::SandboxUnavailable`] before
//!   sending anything. As a second line, a start result that does not say `linuxSeccomp` (a
//!   server that ignored the intent) gets the process killed at once and the same error.

mod bridge;
mod connection;
mod dial;
mod fs;
mod process;
mod routes;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use exec_engine::{
    BackendError, BoxEventStream, ExecBackend, ProcessInfo, PtySize, ReadOutcome, ReadRequest, Seq, Signal,
    SpawnSpec, StdinMode, Stdio, SubscribeFrom, WriteOptions, WriteStatus,
};
use exec_protocol::initialize::{InitializeResponse, ServerInfo};
use exec_protocol::jsonrpc::ErrorObject;
use exec_protocol::process as wire;
use exec_protocol::{SessionId, capability, method};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

pub use self::bridge::bridge;
use self::connection::{CallError, Connection, DialError};
pub use self::dial::{ByteStream, Endpoint, StreamDialer};
pub use self::fs::{FileHandle, FsEntry, FsMetadata, OpenMode};
pub use self::process::{InlineWait, Network, ProcessHandle, ProcessSandbox, ProcessSpec, SandboxFiles};
use self::routes::{Routes, Slot, SlotState};
use crate::convert::{from_wire, to_wire};
pub use exec_protocol::process::{EnvInherit, EnvPolicy};
pub use exec_protocol::sandbox::SandboxType;

/// How to connect, and how hard to try to stay connected.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Sent as `clientName` in `initialize`.
    pub client_name: String,
    /// Sent as `Authorization: Bearer <token>` on the upgrade.
    pub auth_token: Option<String>,
    /// PEM certificates trusted for `wss://` besides the system's roots (a private CA, or a
    /// self-signed server certificate).
    pub ca_file: Option<std::path::PathBuf>,
    /// Limit for the TCP connect, the WebSocket upgrade and the handshake, each.
    pub connect_timeout: Duration,
    /// Interval of WebSocket pings to the server (`None`: no pings). A byte-stream transport
    /// has no pings and ignores this and `peer_timeout`.
    pub ping_interval: Option<Duration>,
    /// With nothing (not even a pong) from the server for this long, the connection is dead.
    pub peer_timeout: Option<Duration>,
    /// Largest message accepted from the server.
    pub max_message_bytes: usize,
    /// Output a handle buffers for a caller that is not reading. Below it, a slow caller never
    /// delays another process's events; past it, the connection stops reading until that caller
    /// catches up (the server then slows the children), so nothing is lost and memory stays
    /// bounded.
    pub max_buffered_bytes_per_process: usize,
    /// Automatic reconnection; `None` turns it off.
    pub recovery: Option<Recovery>,
    /// Ask for `process/output` as binary frames (extension `binaryOutput`, raw bytes instead of
    /// base64 JSON) on every WebSocket connection; a server without it, or a byte-stream
    /// transport, keeps JSON. On by default; off forces JSON (to compare, or to debug the wire).
    pub binary_output: bool,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            client_name: format!("exec-client/{}", env!("CARGO_PKG_VERSION")),
            auth_token: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(10)),
            peer_timeout: Some(Duration::from_secs(30)),
            max_message_bytes: 64 << 20,
            max_buffered_bytes_per_process: 64 << 20,
            recovery: Some(Recovery::default()),
            binary_output: true,
        }
    }
}

/// Automatic reconnection after a dropped connection.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// How long to keep trying before giving up. A server that reports its session TTL in
    /// `initialize` (`sessionTtlMs`) caps it: past the TTL the session is gone, so trying longer
    /// would only delay the error.
    pub window: Duration,
    /// The first delay between attempts; it doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for Recovery {
    fn default() -> Recovery {
        Recovery {
            window: Duration::from_secs(20),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Why a client call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached (bad URL, refused, timed out, handshake failed).
    #[error("could not connect to {url}: {reason}")]
    Connect {
        /// The URL dialed.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server refused the upgrade with this HTTP status (401: token missing or wrong; 403:
    /// origin refused).
    #[error("the server at {url} refused the connection (HTTP {status}): check the auth token")]
    AuthRefused {
        /// The URL dialed.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// The connection is gone (and recovery is off, or failed); every later call fails the same
    /// way.
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// The server answered with a JSON-RPC error.
    #[error("{message} (error {code})")]
    Remote {
        /// The JSON-RPC error code.
        code: i64,
        /// The server's message.
        message: String,
        /// The error's `data` member (`Null` when absent). A failed `process/start` from our
        /// server carries `{"program"}` or `{"cwd"}` to say which one the OS error is about.
        data: serde_json::Value,
    },
    /// The server did not advertise the extension this call needs.
    #[error("the server does not support the `{0}` extension")]
    Unsupported(&'static str),
    /// A sandboxed start was refused by this client because the server cannot be trusted to
    /// enforce the sandbox (see [`ExecClient::enforces_sandbox`]); nothing ran unconfined. (A
    /// server that refuses a sandbox itself answers [`ClientError::Remote`] with
    /// `data.kind: "sandboxUnavailable"`.)
    #[error("sandbox unavailable: {0}")]
    SandboxUnavailable(String),
    /// The server sent something this client cannot understand.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The server's `data.kind` for a remote error (`spawnNotFound`, `sandboxUnavailable`,
    /// `fileTooLarge`, ...: the `KIND_*` constants of `exec_protocol::messages`), so callers decide
    /// by kind rather than by text. `None` for other errors and for servers that send no kind
    /// (the April peer never does).
    pub fn remote_kind(&self) -> Option<&str> {
        match self {
            ClientError::Remote { data, .. } => data.get("kind").and_then(serde_json::Value::as_str),
            _ => None,
        }
    }

    /// For a failed `process/start`: the kind of OS error the spawn met, when the error is a
    /// spawn failure. By `data.kind` where the server sends one (ours and the 0.171 reference:
    /// `spawnNotFound` → `NotFound`, `spawnPermissionDenied` → `PermissionDenied`, `spawnFailed`
    /// → `Other`); a -32603 without a kind (the April peer words a spawn failure as the bare OS
    /// error) falls back to the `(os error N)` its text ends with, and to `Other` without one.
    /// `None` when the start failed for another reason (a sandbox, a limit, bad params).
    pub fn spawn_failure(&self) -> Option<std::io::ErrorKind> {
        use exec_protocol::messages;
        let ClientError::Remote { code: exec_protocol::jsonrpc::INTERNAL_ERROR, message, .. } = self else {
            return None;
        };
        match self.remote_kind() {
            Some(messages::KIND_SPAWN_NOT_FOUND) => Some(std::io::ErrorKind::NotFound),
            Some(messages::KIND_SPAWN_PERMISSION_DENIED) => Some(std::io::ErrorKind::PermissionDenied),
            Some(messages::KIND_SPAWN_FAILED) => Some(std::io::ErrorKind::Other),
            Some(_) => None,
            None => {
                let number = message
                    .strip_suffix(')')
                    .and_then(|rest| rest.rsplit_once("(os error "))
                    .and_then(|(_, number)| number.parse::<i32>().ok());
                Some(number.map_or(std::io::ErrorKind::Other, |number| {
                    std::io::Error::from_raw_os_error(number).kind()
                }))
            }
        }
    }
}

impl From<ErrorObject> for ClientError {
    fn from(error: ErrorObject) -> ClientError {
        ClientError::Remote { code: error.code, message: error.message, data: error.data.unwrap_or_default() }
    }
}

/// Whether a call may be sent again on a new connection after the old one dropped mid-call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Retry {
    Safe,
    Never,
}

/// The client's column of the method table (the server's is `server::methods`): whether recovery
/// may send a call of each method again when its connection dropped before the answer came.
/// [`ExecClient::request`] is how the client sends a typed request, so the policy is decided
/// here and nowhere else.
trait Resend: method::Request {
    fn retry(client: &ExecClient, params: &Self::Params) -> Retry;
}

macro_rules! resend {
    ($($marker:ident => $retry:expr;)*) => {
        $(
            impl Resend for method::$marker {
                fn retry(_client: &ExecClient, _params: &Self::Params) -> Retry {
                    $retry
                }
            }
        )*
    };
}

resend! {
    // A lost start is never resent blindly: `start` first asks whether it arrived.
    ProcessStart => Retry::Never;
    ProcessRead => Retry::Safe;
    ProcessTerminate => Retry::Safe;
    // A signal must not be delivered twice.
    ProcessSignal => Retry::Never;
    ProcessResize => Retry::Safe;
    ProcessList => Retry::Safe;
    // Reads and whole-file writes end in the same state when sent twice.
    FsReadFile => Retry::Safe;
    FsWriteFile => Retry::Safe;
    FsGetMetadata => Retry::Safe;
    FsReadDirectory => Retry::Safe;
    FsCopy => Retry::Safe;
    FsCanonicalize => Retry::Safe;
    FsWalk => Retry::Safe;
    // An open handle or a watch belongs to the connection that made it; the server drops it with
    // that connection (also on a resume), so a resend could only meet -32004 `unknown file
    // handle` or make a watch nobody reads. The caller opens (or watches) again.
    FsOpen => Retry::Never;
    FsReadBlock => Retry::Never;
    FsWriteBlock => Retry::Never;
    FsClose => Retry::Never;
    FsWatchMissing => Retry::Never;
}

impl Resend for method::FsCreateDirectory {
    /// A non-recursive create that arrived would fail "exists" when sent again.
    fn retry(_client: &ExecClient, params: &Self::Params) -> Retry {
        if params.recursive() { Retry::Safe } else { Retry::Never }
    }
}

impl Resend for method::FsRemove {
    /// Without `force`, a remove that arrived would fail "not found" when sent again.
    fn retry(_client: &ExecClient, params: &Self::Params) -> Retry {
        if params.force.unwrap_or(true) { Retry::Safe } else { Retry::Never }
    }
}

impl Resend for method::ProcessWrite {
    /// Safe only when the write carries a `writeId` that the server deduplicates.
    fn retry(client: &ExecClient, params: &Self::Params) -> Retry {
        if params.write_id.is_some() && client.has_capability(capability::WRITE_ID) {
            Retry::Safe
        } else {
            Retry::Never
        }
    }
}

#[derive(Clone, Debug)]
enum Link {
    Up(Arc<Connection>),
    Recovering,
    Down(String),
}

/// A connection to an exec-server, with automatic recovery. Cheap to clone; every clone shares
/// the connection and the session.
#[derive(Clone, Debug)]
pub struct ExecClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoint: Endpoint,
    /// `endpoint` as text, for messages and [`ExecClient::url`].
    url: String,
    options: ConnectOptions,
    routes: Arc<Routes>,
    link: watch::Sender<Link>,
    session_id: SessionId,
    server_info: Option<ServerInfo>,
    capabilities: Vec<String>,
    /// How long the server keeps a detached session, when it said (`sessionTtlMs`).
    session_ttl: Option<Duration>,
    /// `environmentInfo` from a current (0.171) Codex server's `initialize` result.
    environment_info: Option<serde_json::Value>,
    /// Serializes recovery starts, so one drop starts one recovery.
    recovering: Mutex<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Link::Up(connection) = &*self.link.borrow() {
            connection.shut("client dropped");
        }
    }
}

impl ExecClient {
    /// Connects to an endpoint (a `ws://host:port` or `wss://host:port` URL, a command, any
    /// byte stream) and performs the handshake with a new session.
    pub async fn connect(
        endpoint: impl Into<Endpoint>,
        options: ConnectOptions,
    ) -> Result<ExecClient, ClientError> {
        Self::connect_inner(endpoint.into(), options, None).await
    }

    /// Connects and resumes an existing session (its processes, and their retained output).
    pub async fn resume(
        endpoint: impl Into<Endpoint>,
        session_id: &str,
        options: ConnectOptions,
    ) -> Result<ExecClient, ClientError> {
        Self::connect_inner(endpoint.into(), options, Some(SessionId::new(session_id))).await
    }

    async fn connect_inner(
        endpoint: Endpoint,
        options: ConnectOptions,
        resume: Option<SessionId>,
    ) -> Result<ExecClient, ClientError> {
        let routes = Arc::new(Routes::default());
        let url = endpoint.to_string();
        let (connection, response) =
            connection::dial(&endpoint, &options, resume.as_ref(), Arc::clone(&routes))
                .await
                .map_err(|error| dial_error(&url, error))?;
        let connection::Handshake { response, environment_info } = response;
        let InitializeResponse { session_id, server_info, capabilities, session_ttl_ms, .. } = response;
        let session_ttl = session_ttl_ms.map(Duration::from_millis);
        if let (Some(recovery), Some(ttl)) = (&options.recovery, session_ttl)
            && recovery.window > ttl
        {
            tracing::debug!(?ttl, window = ?recovery.window, "recovery window capped at the server's session TTL");
        }
        let (link, _) = watch::channel(Link::Up(Arc::clone(&connection)));
        let inner = Arc::new(Inner {
            endpoint,
            url,
            options,
            routes,
            link,
            session_id,
            server_info,
            capabilities,
            session_ttl,
            environment_info,
            recovering: Mutex::new(()),
        });
        watch_connection(&inner, connection);
        Ok(ExecClient { inner })
    }

    /// The session this client is attached to (save it to resume later).
    pub fn session_id(&self) -> &str {
        self.inner.session_id.as_str()
    }

    /// The endpoint this client dials, as text (a URL, or a command in backquotes).
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The endpoint this client dials (again, on recovery).
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// The server's name and version, when it reported them.
    pub fn server_info(&self) -> Option<&ServerInfo> {
        self.inner.server_info.as_ref()
    }

    /// Whether this client sends a [`ProcessSpec::sandbox`] to this server: only when its
    /// `initialize` result carried `environmentInfo` (the 0.171 generation: the current Codex
    /// server and ours, which enforce the intent with the kernel or refuse the start). The April
    /// Codex server has none and would ignore the intent, so [`ExecClient::start`] refuses a
    /// sandboxed spec there with [`ClientError::SandboxUnavailable`].
    pub fn enforces_sandbox(&self) -> bool {
        self.inner.environment_info.is_some()
    }

    /// Whether the server advertised an extension (see `exec_protocol::capability`).
    pub fn has_capability(&self, name: &str) -> bool {
        self.inner.capabilities.iter().any(|capability| capability == name)
    }

    /// Whether the current connection receives `process/output` as binary frames (asked for
    /// with [`ConnectOptions::binary_output`] and granted by the server). `false` while
    /// reconnecting; each new connection asks again.
    pub fn receives_binary_output(&self) -> bool {
        match &*self.inner.link.borrow() {
            Link::Up(connection) => connection.binary_output.load(std::sync::atomic::Ordering::Relaxed),
            Link::Recovering | Link::Down(_) => false,
        }
    }

    fn require(&self, name: &'static str) -> Result<(), ClientError> {
        if self.has_capability(name) { Ok(()) } else { Err(ClientError::Unsupported(name)) }
    }

    /// Closes the connection politely; every later call fails with `Disconnected`, and live
    /// handles get `Failed`. The session stays on the server until its TTL.
    pub async fn close(&self) {
        let previous = self.inner.link.send_replace(Link::Down("the client was closed".to_owned()));
        if let Link::Up(connection) = previous {
            connection.close("the client was closed").await;
        }
        for slot in self.inner.routes.all() {
            slot.fail("the client was closed");
        }
    }

    /// Starts a process and returns its handle. Its events are buffered from the first one, so
    /// nothing is missed however late the caller starts reading.
    pub async fn start(
        &self,
        id: impl Into<String>,
        spec: ProcessSpec,
    ) -> Result<ProcessHandle, ClientError> {
        let id = id.into();
        if spec.size.is_some() && !self.has_capability(capability::SIZE) {
            return Err(ClientError::Unsupported(capability::SIZE));
        }
        let sandboxed = spec.sandbox.is_some();
        if sandboxed && !self.enforces_sandbox() {
            // Fail closed: a server that does not know the intent would run the command
            // unconfined, so it is never sent one.
            return Err(ClientError::SandboxUnavailable(format!(
                "the server at {} does not enforce sandboxes (no environmentInfo in its initialize \
                 result: an April-2026 Codex server?); the process was not started",
                self.url()
            )));
        }
        let mut spec = spec;
        if !self.has_capability(capability::START_WAIT) {
            // The peers answer at once; the events then all come as notifications.
            spec.inline_wait = None;
        }
        let slot = Slot::new(
            id.clone(),
            SlotState::new(0, false, self.inner.options.max_buffered_bytes_per_process),
        );
        // Registered first: the server may send output before it answers `start`.
        self.inner.routes.register(&slot);
        // The 0.171 server parses paths as URLs and refuses a plain one; ours and the April one
        // take a plain path (the April one refuses the URI).
        let uris = self.fs_wants_uris();
        let params = spec.into_wire(&id, |path| if uris { fs::file_uri_of(path) } else { path.to_owned() });
        let result = loop {
            match self.request::<method::ProcessStart>(&params).await {
                Err(ClientError::Disconnected(reason)) if self.inner.options.recovery.is_some() => {
                    // Did the start reach the server before the connection dropped? Ask (this
                    // waits for the reconnect); if so, it is ours: catch up instead of starting
                    // it twice.
                    let probe =
                        ReadRequest { after_seq: Some(Seq::new(MAX_SAFE_SEQ)), ..ReadRequest::default() };
                    match self.read_wire(&id, probe).await {
                        Ok(_) => {
                            slot.mark_behind();
                            // No answer to judge: the server had the intent, and the servers this
                            // client sends one to confine a process or refuse to start it.
                            break Ok((None, None, false));
                        }
                        Err(ClientError::Remote { .. }) => continue,
                        Err(_) => break Err(ClientError::Disconnected(reason)),
                    }
                }
                other => break other.map(|response| (response.read, response.sandbox_type, true)),
            }
        };
        match result {
            Ok((_, sandbox_type, true)) if sandboxed && sandbox_type != Some(SandboxType::LinuxSeccomp) => {
                // Only a server that ignored the intent gets here (ours and the 0.171 one confine
                // or refuse): stop what it started unconfined, at once.
                self.inner.routes.unregister(&slot);
                if let Err(error) = self.terminate(&id, None).await {
                    tracing::warn!(process = %id, %error, "cannot kill a process the server did not confine");
                }
                Err(ClientError::SandboxUnavailable(format!(
                    "the server started process {id} without confining it (sandboxType {sandbox_type:?}); it was killed"
                )))
            }
            Ok((inline, sandbox_type, _)) => {
                let handle =
                    ProcessHandle::new(self.clone(), id, Arc::clone(&slot)).with_sandbox_type(sandbox_type);
                if let Some(read) = inline {
                    slot.merge_inline(read);
                }
                Ok(handle)
            }
            Err(error) => {
                self.inner.routes.unregister(&slot);
                Err(error)
            }
        }
    }

    /// Follows an existing process (after [`ExecClient::resume`], say): events after the given
    /// point, caught up from the server's retention first.
    pub async fn attach(
        &self,
        id: impl Into<String>,
        from: SubscribeFrom,
    ) -> Result<ProcessHandle, ClientError> {
        let id = id.into();
        let max = self.inner.options.max_buffered_bytes_per_process;
        let state = match from {
            SubscribeFrom::Start => SlotState::new(0, true, max),
            SubscribeFrom::After(seq) => SlotState::new(seq.get(), true, max),
            SubscribeFrom::Now => {
                // Where "now" is: the next unassigned seq, from a read past the end.
                let probe = wire::ProcessReadParams {
                    process_id: exec_protocol::ProcessId::new(id.as_str()),
                    after_seq: Some(MAX_SAFE_SEQ),
                    max_bytes: None,
                    wait_ms: None,
                };
                let read: wire::ProcessReadResponse = self.request::<method::ProcessRead>(&probe).await?;
                let mut state = SlotState::new(read.next_seq.saturating_sub(1), false, max);
                if read.closed {
                    state.end();
                }
                state
            }
        };
        let slot = Slot::new(id.clone(), state);
        self.inner.routes.register(&slot);
        Ok(ProcessHandle::new(self.clone(), id, slot))
    }

    /// Retained output of a process after a cursor (`process/read`), optionally long-polling.
    pub async fn read(&self, id: &str, request: ReadRequest) -> Result<ReadOutcome, ClientError> {
        let read = self.read_wire(id, request).await?;
        Ok(from_wire::read_outcome(read))
    }

    pub(crate) async fn read_wire(
        &self,
        id: &str,
        request: ReadRequest,
    ) -> Result<wire::ProcessReadResponse, ClientError> {
        let params = wire::ProcessReadParams {
            process_id: exec_protocol::ProcessId::new(id),
            after_seq: request.after_seq.map(Seq::get),
            max_bytes: request.max_bytes.map(|bytes| bytes as u64),
            wait_ms: request.wait.map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
        };
        self.request::<method::ProcessRead>(&params).await
    }

    /// Writes to a process's stdin. With the `writeId` extension every write carries an id and
    /// is retried across a reconnect without being doubled; without it, a write interrupted by a
    /// disconnect fails with `Disconnected` (it may or may not have been written). A current
    /// (0.171) Codex server requires a `writeId` on every write, so it gets one too (its writes
    /// are still not resent: nothing says it deduplicates them); the April server gets none.
    pub async fn write(
        &self,
        id: &str,
        data: Bytes,
        options: WriteOptions,
    ) -> Result<WriteStatus, ClientError> {
        if options.eof {
            self.require(capability::EOF)?;
        }
        let write_id = match options.write_id {
            Some(write_id) => Some(write_id),
            None if self.has_capability(capability::WRITE_ID) || self.fs_wants_uris() => {
                Some(uuid::Uuid::new_v4().to_string())
            }
            None => None,
        };
        let params = wire::ProcessWriteParams {
            process_id: exec_protocol::ProcessId::new(id),
            chunk: exec_protocol::ByteChunk::from(data.as_ref()),
            eof: options.eof,
            write_id,
        };
        let response = self.request::<method::ProcessWrite>(&params).await?;
        Ok(from_wire::write_status(response.status))
    }

    /// Kills a process group at once, or with SIGTERM first and SIGKILL after `grace` (needs the
    /// `graceMs` extension). Returns whether it was running.
    pub async fn terminate(&self, id: &str, grace: Option<Duration>) -> Result<bool, ClientError> {
        if grace.is_some() {
            self.require(capability::GRACE_MS)?;
        }
        let params = wire::ProcessTerminateParams {
            process_id: exec_protocol::ProcessId::new(id),
            grace_ms: grace.map(|grace| u64::try_from(grace.as_millis()).unwrap_or(u64::MAX)),
        };
        let response: wire::ProcessTerminateResponse =
            self.request::<method::ProcessTerminate>(&params).await?;
        Ok(response.running)
    }

    /// Sends a named signal to a process group (the `process/signal` extension). Not retried
    /// across a reconnect: a signal must not be delivered twice.
    pub async fn signal(&self, id: &str, signal: Signal) -> Result<(), ClientError> {
        if !self.can_signal(signal) {
            return Err(ClientError::Unsupported(capability::PROCESS_SIGNAL));
        }
        let params = wire::ProcessSignalParams {
            process_id: exec_protocol::ProcessId::new(id),
            signal: to_wire::signal(signal),
        };
        self.request::<method::ProcessSignal>(&params).await?;
        Ok(())
    }

    /// Whether [`ExecClient::signal`] can send `signal` to this server: every signal where the
    /// `process/signal` extension is advertised (ours); only [`Signal::Interrupt`] on a server
    /// of the 0.171 generation (`environmentInfo` in its `initialize` result), whose
    /// `process/signal` takes `interrupt` and refuses every other name; none on the April one.
    pub fn can_signal(&self, signal: Signal) -> bool {
        self.has_capability(capability::PROCESS_SIGNAL)
            || (signal == Signal::Interrupt && self.inner.environment_info.is_some())
    }

    /// Sets a PTY's window size (the `process/resize` extension).
    pub async fn resize(&self, id: &str, size: PtySize) -> Result<(), ClientError> {
        self.require(capability::PROCESS_RESIZE)?;
        let params = wire::ProcessResizeParams {
            process_id: exec_protocol::ProcessId::new(id),
            rows: size.rows,
            cols: size.cols,
        };
        self.request::<method::ProcessResize>(&params).await?;
        Ok(())
    }

    /// The session's processes (the `process/list` extension).
    pub async fn list(&self) -> Result<Vec<ProcessInfo>, ClientError> {
        self.require(capability::PROCESS_LIST)?;
        let response: wire::ProcessListResponse =
            self.request::<method::ProcessList>(&wire::ProcessListParams {}).await?;
        Ok(response.processes.into_iter().map(from_wire::process_info).collect())
    }

    /// The live connection, waiting while recovery runs.
    async fn connection(&self) -> Result<Arc<Connection>, ClientError> {
        let mut link = self.inner.link.subscribe();
        loop {
            match &*link.borrow_and_update() {
                Link::Up(connection) => return Ok(Arc::clone(connection)),
                Link::Down(reason) => return Err(ClientError::Disconnected(reason.clone())),
                Link::Recovering => {}
            }
            if link.changed().await.is_err() {
                return Err(ClientError::Disconnected("the client is gone".to_owned()));
            }
        }
    }

    /// Sends a typed request under its method's [`Resend`] policy and decodes its result.
    async fn request<M: Resend>(&self, params: &M::Params) -> Result<M::Response, ClientError> {
        self.call(M::NAME, params, M::retry(self, params)).await
    }

    /// Sends a request and decodes its result; across a dropped connection, `Retry::Safe` calls
    /// are sent again once recovery has reconnected. Only [`request`](Self::request) and
    /// `fs_request` (which adds the `"sandbox": null` a current Codex server expects) call this,
    /// with a method's name and policy from its marker.
    async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        method_name: &str,
        params: &P,
        retry: Retry,
    ) -> Result<R, ClientError> {
        loop {
            let connection = self.connection().await?;
            match connection.request(method_name, params).await {
                Ok(raw) => {
                    return serde_json::from_str(raw.get()).map_err(|error| {
                        ClientError::Protocol(format!("cannot decode the {method_name} result: {error}"))
                    });
                }
                Err(CallError::Rpc(error)) => return Err(error.into()),
                Err(CallError::Lost(reason)) => {
                    connection_lost(&self.inner, &connection, &reason);
                    if retry == Retry::Never || self.inner.options.recovery.is_none() {
                        return Err(ClientError::Disconnected(reason));
                    }
                }
            }
        }
    }
}

/// A seq no server reaches; also exact in a JavaScript number (the peer is Node).
const MAX_SAFE_SEQ: u64 = (1 << 53) - 1;

fn dial_error(url: &str, error: DialError) -> ClientError {
    match error {
        DialError::InvalidUrl(reason) | DialError::Unreachable(reason) | DialError::Tls(reason) => {
            ClientError::Connect { url: url.to_owned(), reason }
        }
        DialError::Refused { status } => ClientError::AuthRefused { url: url.to_owned(), status },
        DialError::Rejected(error) => error.into(),
    }
}

/// Watches a connection and starts recovery (or goes down) when it is lost.
fn watch_connection(inner: &Arc<Inner>, connection: Arc<Connection>) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        let reason = connection.lost().await;
        if let Some(inner) = weak.upgrade() {
            connection_lost(&inner, &connection, &reason);
        }
    });
}

/// Reacts once to the loss of `connection` (callers race to report it; the first one acts).
fn connection_lost(inner: &Arc<Inner>, connection: &Arc<Connection>, reason: &str) {
    let _guard = inner.recovering.lock().unwrap_or_else(|poison| poison.into_inner());
    let current = matches!(&*inner.link.borrow(), Link::Up(up) if Arc::ptr_eq(up, connection));
    if !current {
        return;
    }
    connection.shut(reason);
    if connection.taken_over.load(std::sync::atomic::Ordering::SeqCst) {
        go_down(inner, reason.to_owned());
        return;
    }
    match &inner.options.recovery {
        None => go_down(inner, format!("{reason} (automatic recovery is off)")),
        Some(recovery) => {
            tracing::info!(reason, "connection lost; reconnecting");
            inner.link.send_replace(Link::Recovering);
            tokio::spawn(recover(Arc::clone(inner), reason.to_owned(), recovery.clone()));
        }
    }
}

fn go_down(inner: &Inner, reason: String) {
    for slot in inner.routes.all() {
        slot.fail(&reason);
    }
    inner.link.send_replace(Link::Down(reason));
}

/// Re-dials with backoff until the window closes, then resumes the session and puts every
/// handle into catch-up.
async fn recover(inner: Arc<Inner>, reason: String, mut recovery: Recovery) {
    if let Some(ttl) = inner.session_ttl {
        recovery.window = recovery.window.min(ttl);
    }
    let deadline = tokio::time::Instant::now() + recovery.window;
    let mut backoff = recovery.initial_backoff;
    let mut last_error = String::from("no attempt made");
    loop {
        if tokio::time::Instant::now() >= deadline {
            let message = format!(
                "{reason}; could not reconnect within {:?} (last attempt: {last_error})",
                recovery.window
            );
            go_down(&inner, message);
            return;
        }
        let attempt = connection::dial(
            &inner.endpoint,
            &inner.options,
            Some(&inner.session_id),
            Arc::clone(&inner.routes),
        );
        match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok((connection, _))) => {
                tracing::info!("reconnected; session resumed");
                for slot in inner.routes.all() {
                    slot.mark_behind();
                }
                // A `close` during recovery wins: do not bring the link back up.
                let closed = matches!(&*inner.link.borrow(), Link::Down(_));
                if closed {
                    connection.shut("the client was closed");
                    return;
                }
                inner.link.send_replace(Link::Up(Arc::clone(&connection)));
                watch_connection(&inner, connection);
                return;
            }
            Ok(Err(DialError::Rejected(error))) => {
                go_down(&inner, format!("{reason}; the session could not be resumed: {}", error.message));
                return;
            }
            Ok(Err(DialError::Refused { status })) => {
                go_down(&inner, format!("{reason}; the server refused the reconnection (HTTP {status})"));
                return;
            }
            Ok(Err(DialError::InvalidUrl(error) | DialError::Unreachable(error) | DialError::Tls(error))) => {
                last_error = error;
            }
            Err(_) => last_error = "timed out".to_owned(),
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(backoff.min(remaining)).await;
        backoff = (backoff * 2).min(recovery.max_backoff);
    }
}

#[async_trait]
impl ExecBackend for ExecClient {
    async fn start(
        &self,
        id: exec_engine::ProcessId,
        spec: SpawnSpec,
    ) -> Result<BoxEventStream, BackendError> {
        let program = spec.argv.first().cloned().unwrap_or_default();
        if spec.sandbox.is_some() {
            // Fail closed: a locally prepared sandbox cannot travel, and dropping it would run unconfined.
            let source = std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "a prepared sandbox cannot be sent to a remote executor",
            );
            return Err(exec_engine::StartError::Sandbox { source }.into());
        }
        let mut spec = ProcessSpec::from(spec);
        if !self.has_capability(capability::SIZE) {
            // A server without the extension starts every PTY at its own default size.
            spec.size = None;
        }
        match ExecClient::start(self, id.as_str(), spec).await {
            Ok(handle) => Ok(Box::new(handle)),
            Err(error) => Err(from_wire::start_error(error, id.as_str(), program)),
        }
    }

    async fn read(
        &self,
        id: &exec_engine::ProcessId,
        request: ReadRequest,
    ) -> Result<ReadOutcome, BackendError> {
        ExecClient::read(self, id.as_str(), request)
            .await
            .map_err(|error| from_wire::backend_error(error, Some(id.as_str())))
    }

    async fn write(
        &self,
        id: &exec_engine::ProcessId,
        data: Bytes,
        options: WriteOptions,
    ) -> Result<WriteStatus, BackendError> {
        ExecClient::write(self, id.as_str(), data, options)
            .await
            .map_err(|error| from_wire::backend_error(error, Some(id.as_str())))
    }

    async fn terminate(
        &self,
        id: &exec_engine::ProcessId,
        grace: Option<Duration>,
    ) -> Result<bool, BackendError> {
        ExecClient::terminate(self, id.as_str(), grace)
            .await
            .map_err(|error| from_wire::backend_error(error, Some(id.as_str())))
    }

    async fn signal(&self, id: &exec_engine::ProcessId, signal: Signal) -> Result<(), BackendError> {
        ExecClient::signal(self, id.as_str(), signal)
            .await
            .map_err(|error| from_wire::backend_error(error, Some(id.as_str())))
    }

    async fn resize(&self, id: &exec_engine::ProcessId, size: PtySize) -> Result<(), BackendError> {
        ExecClient::resize(self, id.as_str(), size)
            .await
            .map_err(|error| from_wire::backend_error(error, Some(id.as_str())))
    }

    async fn list(&self) -> Result<Vec<ProcessInfo>, BackendError> {
        ExecClient::list(self).await.map_err(|error| from_wire::backend_error(error, None))
    }

    async fn subscribe(
        &self,
        id: &exec_engine::ProcessId,
        from: SubscribeFrom,
    ) -> Result<BoxEventStream, BackendError> {
        // The local engine refuses an unknown id here; check the same way.
        let probe = ReadRequest { after_seq: Some(Seq::new(MAX_SAFE_SEQ)), ..ReadRequest::default() };
        ExecClient::read(self, id.as_str(), probe)
            .await
            .map_err(|error| from_wire::backend_error(error, Some(id.as_str())))?;
        let handle = ExecClient::attach(self, id.as_str(), from)
            .await
            .map_err(|error| from_wire::backend_error(error, Some(id.as_str())))?;
        Ok(Box::new(handle))
    }
}

impl From<SpawnSpec> for ProcessSpec {
    /// The engine's spec: an exact environment (no `envPolicy`), as the engine itself does.
    fn from(spec: SpawnSpec) -> ProcessSpec {
        let (tty, pipe_stdin, size) = match spec.stdio {
            Stdio::Pipes { stdin } => (false, stdin == StdinMode::Pipe, None),
            Stdio::Pty { size } => (true, false, Some(size)),
        };
        ProcessSpec {
            argv: spec.argv,
            cwd: spec.cwd.to_string_lossy().into_owned(),
            env: spec.env,
            env_policy: None,
            tty,
            pipe_stdin,
            arg0: spec.arg0,
            size,
            inline_wait: None,
            // A prepared local sandbox cannot travel; `start` refuses a spec that has one.
            sandbox: None,
        }
    }
}
