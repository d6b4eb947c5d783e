//! The exec-server: accepts connections and serves the protocol on top of an [`Engine`].
//!
//! Entry points:
//! - [`run`] serves WebSocket connections from a bound [`TcpListener`] until `shutdown` fires;
//! - [`serve_stdio`] serves one newline-delimited connection over any reader/writer pair.
//!
//! The caller binds the socket (port 0 in tests) and owns signals; both entry points kill every
//! process of every session before they return. Per-connection logic (handshake gating, the
//! request-concurrency rule, notification pumps) lives in `connection`; the protocol-to-engine
//! mapping in `handlers`; the `fs/*` methods in `fs` (open handles in `files`); sandbox intents in
//! `confine`; `environmentInfo` in `environment`; `fs/watchMissing` in `watch`; the HTTP upgrade in `handshake`.

mod audit;
pub(crate) mod confine;
mod connection;
mod environment;
mod files;
mod fs;
mod handlers;
mod handshake;
mod lifecycle;
mod log_text;
mod methods;
mod metrics;
mod tls;
mod watch;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use exec_engine::Engine;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use audit::AuditLog;
/// What this kernel lets the server enforce for a sandbox intent, and the knob that withholds
/// mechanisms from it (the binary logs both at start-up; docs/sandbox.md).
pub use exec_sandbox::{
    Support as SandboxSupport, WITHHOLD_ENV as SANDBOX_WITHHOLD_ENV, probe as probe_sandbox,
};
pub use fs::ProtectedPaths;
pub use handshake::Admission;
pub use tls::{TlsError, TlsIdentity};

use crate::rpc::{LineSink, LineSource, WebSocketSink, WebSocketSource};

/// How long shutdown waits for connections to say goodbye before it stops waiting.
const CONNECTION_DRAIN: Duration = Duration::from_secs(2);

/// Everything the server needs to know besides the engine. Built by the binary from flags and
/// the config file; tests build it directly.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Bearer token and browser origins allowed to upgrade.
    pub admission: Admission,
    /// When set, the admission rules in force are this channel's latest value instead of
    /// `admission` (read at each new connection), so a rotated token takes effect without a
    /// restart: the binary sends a new value when it rereads its token file on SIGHUP.
    /// Connections already upgraded are not affected.
    pub admission_updates: Option<tokio::sync::watch::Receiver<Admission>>,
    /// The largest incoming message (WebSocket message or stdio line) accepted, in bytes.
    pub max_message_bytes: usize,
    /// How often the server pings an idle WebSocket peer.
    pub ping_interval: Duration,
    /// A WebSocket peer that sends nothing at all (not even a pong) for this long is treated as
    /// dead: its connection ends and its session detaches.
    pub peer_timeout: Duration,
    /// How long a new TCP connection may take to send its HTTP request head (and, with TLS,
    /// to finish the TLS handshake, each).
    pub handshake_timeout: Duration,
    /// With an identity, every connection is TLS (`wss://`); without, plain `ws://`.
    pub tls: Option<TlsIdentity>,
    /// How long a new connection may take, from accept, to complete `initialize` (default 30 s);
    /// past it the connection is closed (code 1008).
    pub initialize_timeout: Duration,
    /// Connections accepted that have not completed `initialize` yet (default 256); one more is
    /// answered HTTP 503 and closed. `GET /readyz` counts only while it is being answered.
    pub max_uninitialized_connections: usize,
    /// Requests of one connection read and not yet answered (default 64). When they are all in
    /// flight the server stops reading that connection's socket until one is answered.
    pub max_requests_in_flight: usize,
    /// Bytes of request frames of one connection in flight (default 32 MiB; one larger frame
    /// takes the whole budget). Past it the socket is not read.
    pub max_request_bytes_in_flight: usize,
    /// Bytes of frames (responses and notifications) of one connection queued for its socket
    /// (default 16 MiB). A client that stops reading fills it; then requests wait to answer and
    /// processes wait to be drained.
    pub max_outbound_bytes_queued: usize,
    /// `fs/*` requests of one connection running at once (default 4); more wait their turn.
    /// Their answers are the large ones, so this bounds what is built while a client is not
    /// reading (4 × the `fs/readFile` limit, base64).
    pub max_fs_requests_in_flight: usize,
    /// How long a `process/write` may wait for the child to take its bytes (default 30 s): past
    /// it the request fails with an error naming the limit (and a write not yet started is
    /// dropped, never written late).
    pub stdin_write_timeout: Duration,
    /// The environment `envPolicy` starts from: the server's own, captured once at start-up by
    /// the binary (tests pass a fixed map). Without `envPolicy`, a child gets exactly `env`.
    pub base_environment: BTreeMap<String, String>,
    /// On shutdown, how long [`run`] waits for the processes running in attached sessions
    /// before it closes connections and kills them (zero: kill at once). See `lifecycle`.
    pub drain_timeout: Duration,
    /// Where the audit log (one JSON line per process start and end) goes; off by default.
    pub audit: AuditLog,
    /// What `fs/remove` refuses besides `/` and the system's own paths: the server's own files
    /// and its user's home (the binary fills it; empty by default).
    pub protected_paths: ProtectedPaths,
    /// Reported as `serverInfo` in the `initialize` result.
    pub server_name: String,
    /// Reported as `serverInfo` in the `initialize` result.
    pub server_version: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            admission: Admission::default(),
            admission_updates: None,
            max_message_bytes: 16 * 1024 * 1024,
            ping_interval: Duration::from_secs(10),
            peer_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            tls: None,
            initialize_timeout: Duration::from_secs(30),
            max_uninitialized_connections: 256,
            max_requests_in_flight: 64,
            max_request_bytes_in_flight: 32 * 1024 * 1024,
            max_outbound_bytes_queued: 16 * 1024 * 1024,
            max_fs_requests_in_flight: 4,
            stdin_write_timeout: Duration::from_secs(30),
            base_environment: BTreeMap::new(),
            drain_timeout: Duration::ZERO,
            audit: AuditLog::default(),
            protected_paths: ProtectedPaths::default(),
            server_name: "exec-server".to_owned(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// State shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) config: ServerConfig,
    /// Readiness; set to draining when shutdown begins.
    pub(crate) health: lifecycle::Health,
    /// Counters served on `/metrics`.
    pub(crate) metrics: metrics::Metrics,
    /// The per-process end watchers (`audit`); waited for, bounded, after the final kill so the
    /// end lines of killed processes are written before the server returns.
    pub(crate) watchers: TaskTracker,
    /// `environmentInfo`, computed once at start-up from `config` and the process.
    pub(crate) environment: exec_protocol::environment::EnvironmentInfo,
}

impl Shared {
    fn new(engine: Engine, config: ServerConfig) -> Shared {
        let environment = environment::info(&config);
        Shared {
            engine,
            config,
            health: lifecycle::Health::default(),
            metrics: metrics::Metrics::default(),
            watchers: TaskTracker::new(),
            environment,
        }
    }
}

/// Serves WebSocket connections accepted from `listener` until `shutdown` is cancelled, then
/// drains (up to `ServerConfig::drain_timeout`), closes every connection (bounded wait) and kills
/// every session's processes. The sequence is described in `lifecycle`.
pub async fn run(
    listener: TcpListener,
    engine: Engine,
    config: ServerConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let uninitialized =
        Arc::new(Semaphore::new(config.max_uninitialized_connections.clamp(1, Semaphore::MAX_PERMITS)));
    let shared = Arc::new(Shared::new(engine, config));
    let connections = TaskTracker::new();
    // Cancelled after the drain: every connection closes with 1001.
    let close_connections = CancellationToken::new();
    let accepting = async {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let span = tracing::info_span!("connection", %peer, session = tracing::field::Empty);
                    let Ok(place) = Arc::clone(&uninitialized).try_acquire_owned() else {
                        let limit = shared.config.max_uninitialized_connections;
                        connections.spawn(handshake::refuse_busy(stream, limit).instrument(span));
                        continue;
                    };
                    let deadline = tokio::time::Instant::now() + shared.config.initialize_timeout;
                    let shared = Arc::clone(&shared);
                    let place = (place, deadline);
                    connections
                        .spawn(serve_tcp(stream, shared, place, close_connections.clone()).instrument(span));
                }
                Err(error) => {
                    // Usually EMFILE/ENFILE: back off briefly instead of spinning on the error.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    // Accepting goes on while draining, so health checks are answered (503 for readiness).
    tokio::select! {
        () = accepting => {}
        () = async {
            shutdown.cancelled().await;
            lifecycle::drain(&shared).await;
        } => {}
    }
    drop(listener);
    close_connections.cancel();
    connections.close();
    if tokio::time::timeout(CONNECTION_DRAIN, connections.wait()).await.is_err() {
        tracing::warn!("some connections did not close within {CONNECTION_DRAIN:?}");
    }
    shared.engine.shutdown().await;
    lifecycle::wait_for_watchers(&shared).await;
    Ok(())
}

/// Serves one newline-delimited connection (for `--listen stdio`) until the input ends or
/// `shutdown` is cancelled, then kills every session's processes.
pub async fn serve_stdio<R, W>(
    reader: R,
    writer: W,
    engine: Engine,
    config: ServerConfig,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let max = config.max_message_bytes;
    let shared = Arc::new(Shared::new(engine, config));
    let source = LineSource::new(reader, max);
    let sink = LineSink::new(writer);
    connection::serve(source, sink, Arc::clone(&shared), None, None, shutdown).await;
    shared.engine.shutdown().await;
    lifecycle::wait_for_watchers(&shared).await;
}

/// A connection's place among those not initialized yet, and its deadline for `initialize`.
type Uninitialized = (OwnedSemaphorePermit, tokio::time::Instant);

async fn serve_tcp(
    stream: TcpStream,
    shared: Arc<Shared>,
    uninitialized: Uninitialized,
    shutdown: CancellationToken,
) {
    // Small notifications must not wait for a delayed ACK (Nagle): the peer's 44 ms stall.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let Some(identity) = shared.config.tls.clone() else {
        return serve_socket(stream, shared, uninitialized, shutdown).await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(identity.config);
    let limit = shared.config.handshake_timeout;
    let accepted = tokio::select! {
        _ = shutdown.cancelled() => return,
        accepted = tokio::time::timeout(limit, acceptor.accept(stream)) => accepted,
    };
    match accepted {
        Ok(Ok(stream)) => serve_socket(stream, shared, uninitialized, shutdown).await,
        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
        Err(_) => tracing::debug!("no TLS handshake within {limit:?}"),
    }
}

/// Serves one connection over a TCP or TLS stream: the HTTP handshake, then the protocol.
async fn serve_socket<S>(
    stream: S,
    shared: Arc<Shared>,
    uninitialized: Uninitialized,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = &shared.config;
    let websocket_config = WebSocketConfig::default()
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_message_bytes));
    let handshake = tokio::select! {
        _ = shutdown.cancelled() => return,
        handshake = handshake::accept(stream, &shared, websocket_config, config.handshake_timeout) => handshake,
    };
    match handshake {
        Ok(handshake::Handshake::Upgraded(websocket)) => {
            let _open = shared.metrics.connection_opened();
            let (sink, stream) = (*websocket).split();
            let source =
                WebSocketSource { stream, max_message_bytes: config.max_message_bytes, close_frame: None };
            let sink = WebSocketSink { sink };
            let ping = Some((config.ping_interval, config.peer_timeout));
            connection::serve(source, sink, Arc::clone(&shared), ping, Some(uninitialized), shutdown).await;
        }
        Ok(handshake::Handshake::Answered { status }) => {
            tracing::debug!(status, "answered a plain HTTP request");
        }
        Err(error) => tracing::debug!(%error, "handshake failed"),
    }
}
