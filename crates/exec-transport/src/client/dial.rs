//! How a client reaches a server: an [`Endpoint`] is dialed into a pair of frame halves that the
//! connection logic uses without knowing the transport.
//!
//! - `ws://` and `wss://` URLs: TCP (with `TCP_NODELAY`), TLS for `wss://` (rustls on `ring`,
//!   the system's roots plus [`ConnectOptions::ca_file`](super::ConnectOptions::ca_file)), then
//!   the WebSocket upgrade with the bearer token and without compression.
//! - A command ([`Endpoint::Command`]): `sh -c CMD` with its stdin and stdout carrying
//!   newline-delimited JSON-RPC, as `exec-server --listen stdio` speaks it, so
//!   `ssh host exec-server --listen stdio` works the way git's ssh transport does. The child's
//!   stderr is logged and its last lines name why a dial failed.
//! - Any other byte stream ([`Endpoint::Stream`]): a [`StreamDialer`] the caller implements.
//!
//! Each dial makes a fresh stream; recovery dials again. This module does no JSON and no
//! request matching (`connection` does); it does not retry (recovery does).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::ConnectOptions;
use super::connection::DialError;
use crate::rpc::{self, FrameSink as _, FrameSource as _, Incoming, LineSink, LineSource, TransportError};

/// Where a server is, and how to reach it.
#[derive(Clone)]
pub enum Endpoint {
    /// A `ws://host:port` or `wss://host:port` URL.
    Url(String),
    /// A shell command (run with `sh -c`) whose stdin and stdout are a newline-delimited
    /// JSON-RPC connection, such as `ssh host exec-server --listen stdio`. It runs again for
    /// each recovery attempt; it is killed when its connection is dropped.
    Command(String),
    /// Any byte stream, made afresh by the dialer for each connection (and each recovery).
    Stream(Arc<dyn StreamDialer>),
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Url(url) => f.write_str(url),
            Endpoint::Command(command) => write!(f, "`{command}`"),
            Endpoint::Stream(dialer) => write!(f, "{dialer:?}"),
        }
    }
}

impl From<&str> for Endpoint {
    fn from(url: &str) -> Endpoint {
        Endpoint::Url(url.to_owned())
    }
}

impl From<&String> for Endpoint {
    fn from(url: &String) -> Endpoint {
        Endpoint::Url(url.clone())
    }
}

impl From<String> for Endpoint {
    fn from(url: String) -> Endpoint {
        Endpoint::Url(url)
    }
}

/// A byte stream carrying newline-delimited JSON-RPC: one message per line each way.
pub struct ByteStream {
    /// What the server sends.
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    /// What the client sends; shutting it down ends the connection.
    pub writer: Box<dyn AsyncWrite + Send + Unpin>,
    /// Kept alive as long as the connection (a child process, say); dropped when it ends.
    pub keep_alive: Option<Box<dyn Send + Sync>>,
}

impl fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteStream").finish_non_exhaustive()
    }
}

/// Makes a new byte stream to the server, once per connection attempt.
pub trait StreamDialer: fmt::Debug + Send + Sync + 'static {
    /// Opens a new stream (spawn a process, connect a socket, ...).
    fn dial(&self) -> Pin<Box<dyn Future<Output = std::io::Result<ByteStream>> + Send + '_>>;
}

/// A stream that is both halves (a TCP or TLS socket) behind one box.
pub(crate) trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}
pub(crate) type BoxedDuplex = Box<dyn Duplex>;

/// The writing half of a client connection, whatever the transport.
pub(crate) enum ClientSink {
    WebSocket(rpc::WebSocketSink<BoxedDuplex>),
    Lines(LineSink<Box<dyn AsyncWrite + Send + Unpin>>),
}

impl ClientSink {
    pub(crate) async fn feed(&mut self, frame: String) -> Result<(), TransportError> {
        match self {
            ClientSink::WebSocket(sink) => sink.feed(frame).await,
            ClientSink::Lines(sink) => sink.feed(frame).await,
        }
    }

    pub(crate) async fn flush(&mut self) -> Result<(), TransportError> {
        match self {
            ClientSink::WebSocket(sink) => sink.flush().await,
            ClientSink::Lines(sink) => sink.flush().await,
        }
    }

    pub(crate) async fn ping(&mut self) -> Result<(), TransportError> {
        match self {
            ClientSink::WebSocket(sink) => sink.ping().await,
            ClientSink::Lines(sink) => sink.ping().await,
        }
    }

    pub(crate) async fn close(&mut self, code: u16, reason: String) -> Result<(), TransportError> {
        match self {
            ClientSink::WebSocket(sink) => sink.close(code, reason).await,
            ClientSink::Lines(sink) => sink.close(code, reason).await,
        }
    }
}

/// The reading half of a client connection, whatever the transport.
pub(crate) enum ClientSource {
    WebSocket(rpc::WebSocketSource<BoxedDuplex>),
    Lines {
        source: LineSource<Box<dyn AsyncRead + Send + Unpin>>,
        /// Dropped with the reader, when the connection ends.
        _keep_alive: Option<Box<dyn Send + Sync>>,
        /// The command behind the stream, if any: killed when the reader drops it, and asked
        /// why the stream ended.
        command: Option<Box<CommandChild>>,
    },
}

impl ClientSource {
    pub(crate) async fn next_frame(&mut self) -> Option<Incoming> {
        match self {
            ClientSource::WebSocket(source) => source.next_frame().await,
            ClientSource::Lines { source, .. } => source.next_frame().await,
        }
    }

    /// The WebSocket close frame (code, reason), once the server sent one.
    pub(crate) fn take_close_frame(&mut self) -> Option<(u16, String)> {
        match self {
            ClientSource::WebSocket(source) => source.close_frame.take(),
            ClientSource::Lines { .. } => None,
        }
    }

    /// Why the stream ended, when its owner knows more than "end of input".
    pub(crate) async fn epitaph(&mut self) -> Option<String> {
        match self {
            ClientSource::WebSocket(_) => None,
            ClientSource::Lines { command, .. } => Some(command.as_mut()?.describe().await),
        }
    }

    /// Whether the transport has keep-alives (pings) that make a silence mean a dead peer.
    pub(crate) fn has_keepalive(&self) -> bool {
        matches!(self, ClientSource::WebSocket(_))
    }
}

/// Dials `endpoint` and returns the two halves of the new transport.
pub(crate) async fn open(
    endpoint: &Endpoint,
    options: &ConnectOptions,
) -> Result<(ClientSink, ClientSource), DialError> {
    match endpoint {
        Endpoint::Url(url) => websocket(url, options).await,
        Endpoint::Command(command) => spawn_command(command, options),
        Endpoint::Stream(dialer) => {
            let stream = tokio::time::timeout(options.connect_timeout, dialer.dial())
                .await
                .map_err(|_| {
                    DialError::Unreachable(format!("timed out after {:?}", options.connect_timeout))
                })?
                .map_err(|error| DialError::Unreachable(error.to_string()))?;
            Ok(lines(stream, options))
        }
    }
}

fn lines(stream: ByteStream, options: &ConnectOptions) -> (ClientSink, ClientSource) {
    let ByteStream { reader, writer, keep_alive } = stream;
    (
        ClientSink::Lines(LineSink::new(writer)),
        ClientSource::Lines {
            source: LineSource::new(reader, options.max_message_bytes),
            _keep_alive: keep_alive,
            command: None,
        },
    )
}

async fn websocket(url: &str, options: &ConnectOptions) -> Result<(ClientSink, ClientSource), DialError> {
    let mut request =
        url.into_client_request().map_err(|error| DialError::InvalidUrl(format!("{url}: {error}")))?;
    if let Some(token) = &options.auth_token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| DialError::InvalidUrl("the auth token is not a valid header value".to_owned()))?;
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let uri = request.uri();
    let host = uri.host().ok_or_else(|| DialError::InvalidUrl(format!("{url}: no host")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let tls = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(DialError::InvalidUrl(format!("{url}: the URL must start with ws:// or wss://"))),
    };
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });

    let stream = tokio::time::timeout(options.connect_timeout, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| DialError::Unreachable(format!("timed out after {:?}", options.connect_timeout)))?
        .map_err(|error| DialError::Unreachable(error.to_string()))?;
    // Small frames (keystrokes, acks) must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let stream: BoxedDuplex = if tls {
        let connector = tls_connector(options.ca_file.as_deref())?;
        let name = rustls_pki_types::ServerName::try_from(host.clone())
            .map_err(|error| DialError::InvalidUrl(format!("{url}: {error}")))?;
        let handshake = tokio::time::timeout(options.connect_timeout, connector.connect(name, stream))
            .await
            .map_err(|_| {
                DialError::Unreachable(format!("TLS handshake timed out after {:?}", options.connect_timeout))
            })?
            .map_err(|error| {
                let hint = if error.to_string().contains("invalid peer certificate") {
                    " (trust the certificate of the server or its CA with --ca-file / ConnectOptions::ca_file)"
                } else {
                    ""
                };
                DialError::Tls(format!("TLS handshake with {host} failed: {error}{hint}"))
            })?;
        Box::new(handshake)
    } else {
        Box::new(stream)
    };
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(options.max_message_bytes);
    config.max_frame_size = Some(options.max_message_bytes);
    let upgrade = tokio_tungstenite::client_async_with_config(request, stream, Some(config));
    let (socket, _) = tokio::time::timeout(options.connect_timeout, upgrade)
        .await
        .map_err(|_| {
            DialError::Unreachable(format!("websocket upgrade timed out after {:?}", options.connect_timeout))
        })?
        .map_err(|error| match error {
            tokio_tungstenite::tungstenite::Error::Http(response)
                if matches!(response.status().as_u16(), 401 | 403) =>
            {
                DialError::Refused { status: response.status().as_u16() }
            }
            other => DialError::Unreachable(other.to_string()),
        })?;
    use futures_util::StreamExt as _;
    let (sink, stream) = socket.split();
    Ok((
        ClientSink::WebSocket(rpc::WebSocketSink { sink }),
        ClientSource::WebSocket(rpc::WebSocketSource {
            stream,
            max_message_bytes: options.max_message_bytes,
            close_frame: None,
        }),
    ))
}

/// A TLS connector trusting the system's roots plus the certificates in `ca_file`.
fn tls_connector(ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, DialError> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    // The system store may be missing or partly unreadable; whatever loads is used, and a
    // server no root vouches for fails the handshake with a clear error.
    let system = rustls_native_certs::load_native_certs();
    for certificate in system.certs {
        let _ = roots.add(certificate);
    }
    if let Some(path) = ca_file {
        let certificates: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .and_then(|certificates| certificates.collect::<Result<_, _>>())
            .map_err(|error| {
                DialError::InvalidUrl(format!("cannot read CA file {}: {error}", path.display()))
            })?;
        if certificates.is_empty() {
            return Err(DialError::InvalidUrl(format!("CA file {} holds no certificate", path.display())));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|error| {
                DialError::InvalidUrl(format!("CA file {}: bad certificate: {error}", path.display()))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| DialError::InvalidUrl(format!("TLS setup: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// How many of a command's last stderr lines a failure quotes.
const STDERR_TAIL_LINES: usize = 5;

/// How long the end of a command is waited for, to quote its status and stderr, once its stdout
/// closed. Bounded so a child that closed stdout but lives on does not delay the report.
const COMMAND_END_WAIT: Duration = Duration::from_secs(1);

/// A command's child process, owned by the connection's reader: killed when it is dropped.
pub(crate) struct CommandChild {
    command: String,
    child: tokio::process::Child,
    /// The last lines of its stderr (also logged as they come).
    tail: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: tokio::task::JoinHandle<()>,
}

impl CommandChild {
    /// "the command `ssh x ...` ended (exit status: 255): ssh: Could not resolve hostname x".
    async fn describe(&mut self) -> String {
        let _ = tokio::time::timeout(COMMAND_END_WAIT, &mut self.stderr_reader).await;
        let status = match tokio::time::timeout(COMMAND_END_WAIT, self.child.wait()).await {
            Ok(Ok(status)) => format!(" ({status})"),
            _ => String::new(),
        };
        let tail = self.tail.lock().unwrap_or_else(|poison| poison.into_inner());
        let said = if tail.is_empty() {
            String::new()
        } else {
            format!(": {}", tail.iter().cloned().collect::<Vec<_>>().join(" / "))
        };
        format!("the command `{}` ended{status}{said}", self.command)
    }
}

/// Starts `sh -c COMMAND` with piped stdin/stdout; its stderr goes to the log and the tail.
fn spawn_command(command: &str, options: &ConnectOptions) -> Result<(ClientSink, ClientSource), DialError> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| DialError::Unreachable(format!("cannot run `{command}`: {error}")))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(DialError::Unreachable("the command's pipes are missing".to_owned()));
    };
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let stderr_reader = tokio::spawn(log_stderr(command.to_owned(), stderr, Arc::clone(&tail)));
    let owned = CommandChild { command: command.to_owned(), child, tail, stderr_reader };
    Ok((
        ClientSink::Lines(LineSink::new(Box::new(stdin))),
        ClientSource::Lines {
            source: LineSource::new(Box::new(stdout), options.max_message_bytes),
            _keep_alive: None,
            command: Some(Box::new(owned)),
        },
    ))
}

async fn log_stderr(
    command: String,
    stderr: tokio::process::ChildStderr,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(command = %command, "{line}");
        let mut tail = tail.lock().unwrap_or_else(|poison| poison.into_inner());
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}
