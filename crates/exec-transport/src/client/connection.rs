//! One connection of an [`ExecClient`](super::ExecClient) (a WebSocket, or a newline-delimited
//! byte stream such as a command's stdin/stdout; `dial` opens either): the handshake,
//! request/response matching, and handing notifications to the router.
//!
//! A connection is dead once its `lost` token is cancelled; it never comes back. Recovery (in
//! `super`) dials a new one and swaps it in. Every request waiting on a dead connection is woken
//! with [`CallError::Lost`] and the reason, so nothing waits on a socket that is gone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use exec_protocol::initialize::{InitializeParams, InitializeResponse};
use exec_protocol::jsonrpc::{self, ErrorObject, Message, RequestId};
use exec_protocol::{SessionId, method};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::ConnectOptions;
use super::dial::{self, ClientSink, ClientSource, Endpoint};
use super::routes::{Routes, Slot};
use crate::rpc::{self, Incoming};

/// What `initialize` answered: our fields, and the `environmentInfo` object of a current
/// (0.171) Codex server, kept as JSON (only its `capabilities` flags are read).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Handshake {
    #[serde(flatten)]
    pub(crate) response: InitializeResponse,
    #[serde(skip)]
    pub(crate) environment_info: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentInfoOnly {
    environment_info: Option<serde_json::Value>,
}

/// Why a dial failed.
#[derive(Debug)]
pub(crate) enum DialError {
    /// The URL could not be used at all.
    InvalidUrl(String),
    /// TCP, the WebSocket upgrade or the handshake failed; worth retrying during recovery.
    Unreachable(String),
    /// The TLS handshake failed (an unknown issuer, a name mismatch, a plain-text server).
    Tls(String),
    /// The server answered the upgrade with 401 or 403.
    Refused { status: u16 },
    /// `initialize` was answered with an error (an unknown or expired session on resume).
    Rejected(ErrorObject),
}

/// Why a request did not get a result.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The server answered with an error.
    Rpc(ErrorObject),
    /// The connection is gone; the text says why.
    Lost(String),
}

/// How long a failed write to a byte stream waits for the reader's account of the stream's end.
const STREAM_END_WAIT: Duration = Duration::from_secs(3);

type Reply = Result<Box<RawValue>, ErrorObject>;

/// A live (or dead) connection to one server.
pub(crate) struct Connection {
    /// The socket's writing half. Callers write their own frames (no hop through a writer
    /// task: on a multi-threaded runtime each hop is a cross-thread wake-up on the hot path).
    sink: tokio::sync::Mutex<ClientSink>,
    pending: Mutex<HashMap<i64, oneshot::Sender<Reply>>>,
    next_id: AtomicI64,
    /// Cancelled when the connection is gone, for whatever reason.
    lost: CancellationToken,
    reason: OnceLock<String>,
    /// A byte stream (a command's pipes), not a WebSocket: a failed write waits a moment for the
    /// reader to say why the stream ended.
    stream_transport: bool,
    /// The server closed it because another connection resumed the session: a deliberate
    /// takeover, which recovery must not undo.
    pub(crate) taken_over: AtomicBool,
    /// The server granted `binaryOutput` on this connection (its `initialize` result said so).
    pub(crate) binary_output: AtomicBool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("lost", &self.is_lost())
            .field("reason", &self.reason.get())
            .finish()
    }
}

impl Connection {
    /// Whether the connection is gone.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Waits until the connection is gone; returns why.
    pub(crate) async fn lost(&self) -> String {
        self.lost.cancelled().await;
        self.reason()
    }

    fn reason(&self) -> String {
        self.reason.get().cloned().unwrap_or_else(|| "connection closed".to_owned())
    }

    /// Marks the connection dead (the first reason wins) and wakes every waiting request.
    pub(crate) fn shut(&self, reason: impl Into<String>) {
        let _ = self.reason.set(reason.into());
        self.lost.cancel();
        // Dropping the senders wakes the waiters, which then read `reason`.
        self.pending.lock().unwrap_or_else(|poison| poison.into_inner()).clear();
    }

    /// Sends a request and waits for its answer.
    pub(crate) async fn request<P: Serialize>(
        &self,
        method_name: &str,
        params: &P,
    ) -> Result<Box<RawValue>, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut frame = Vec::with_capacity(128);
        jsonrpc::write_request(&mut frame, &RequestId::Integer(id), method_name, params)
            .map_err(|error| CallError::Lost(format!("cannot encode {method_name} params: {error}")))?;
        let frame = String::from_utf8(frame).expect("serde_json writes UTF-8");
        let (reply_sender, reply) = oneshot::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|poison| poison.into_inner());
            if self.is_lost() {
                return Err(CallError::Lost(self.reason()));
            }
            pending.insert(id, reply_sender);
        }
        let removal = PendingGuard { connection: self, id };
        self.send(frame).await?;
        let answer = reply.await;
        drop(removal);
        match answer {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => Err(CallError::Rpc(error)),
            Err(_) => Err(CallError::Lost(self.reason())),
        }
    }

    /// Sends a notification (no answer).
    pub(crate) async fn notify<P: Serialize>(&self, method_name: &str, params: &P) -> Result<(), CallError> {
        let mut frame = Vec::with_capacity(64);
        jsonrpc::write_notification(&mut frame, method_name, params)
            .map_err(|error| CallError::Lost(format!("cannot encode {method_name} params: {error}")))?;
        let frame = String::from_utf8(frame).expect("serde_json writes UTF-8");
        self.send(frame).await
    }

    /// Writes one frame and flushes it. A failed write kills the connection.
    async fn send(&self, frame: String) -> Result<(), CallError> {
        let mut sink = self.sink.lock().await;
        if self.is_lost() {
            return Err(CallError::Lost(self.reason()));
        }
        let written = async {
            sink.feed(frame).await?;
            sink.flush().await
        };
        if let Err(error) = written.await {
            drop(sink);
            if self.stream_transport {
                // A broken pipe to a command says less than the command's own end (its exit
                // status and last stderr lines), which the reader reports once stdout closes.
                let _ = tokio::time::timeout(STREAM_END_WAIT, self.lost.cancelled()).await;
            }
            self.shut(format!("sending to the server failed: {error}"));
            return Err(CallError::Lost(self.reason()));
        }
        Ok(())
    }

    /// Closes the WebSocket politely (after what is queued) and marks the connection dead.
    pub(crate) async fn close(&self, reason: &str) {
        if !self.is_lost() {
            let _ = self.sink.lock().await.close(1000, String::new()).await;
        }
        self.shut(reason);
    }

    fn answer(&self, id: i64, reply: Reply) {
        let sender = self.pending.lock().unwrap_or_else(|poison| poison.into_inner()).remove(&id);
        match sender {
            Some(sender) => {
                let _ = sender.send(reply);
            }
            None => tracing::debug!(id, "answer to a request nobody waits for"),
        }
    }
}

/// Removes a request from the pending table when its caller stops waiting (cancellation).
struct PendingGuard<'a> {
    connection: &'a Connection,
    id: i64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.connection.pending.lock().unwrap_or_else(|poison| poison.into_inner()).remove(&self.id);
    }
}

/// Dials `endpoint`, performs the `initialize`/`initialized` handshake (resuming `resume` when
/// given), and starts the connection's reader (and, on a WebSocket, pinger) tasks.
pub(crate) async fn dial(
    endpoint: &Endpoint,
    options: &ConnectOptions,
    resume: Option<&SessionId>,
    routes: Arc<Routes>,
) -> Result<(Arc<Connection>, Handshake), DialError> {
    let (sink, source) = dial::open(endpoint, options).await?;
    // A byte stream has no pings, so silence there says nothing about the peer (ssh has its
    // own keep-alives); only a WebSocket's silence means a dead connection.
    let keepalive = source.has_keepalive();
    let connection = Arc::new(Connection {
        sink: tokio::sync::Mutex::new(sink),
        pending: Mutex::new(HashMap::new()),
        next_id: AtomicI64::new(1),
        lost: CancellationToken::new(),
        reason: OnceLock::new(),
        taken_over: AtomicBool::new(false),
        binary_output: AtomicBool::new(false),
        stream_transport: !keepalive,
    });

    if let Some(period) = options.ping_interval.filter(|_| keepalive) {
        let pinger = Arc::clone(&connection);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    () = pinger.lost.cancelled() => return,
                }
                let mut sink = pinger.sink.lock().await;
                let pinged = async {
                    sink.ping().await?;
                    sink.flush().await
                };
                if let Err(error) = pinged.await {
                    drop(sink);
                    pinger.shut(format!("sending to the server failed: {error}"));
                    return;
                }
            }
        });
    }
    let reader_connection = Arc::clone(&connection);
    let peer_timeout = options.peer_timeout.filter(|_| keepalive);
    tokio::spawn(async move {
        let reason = read_loop(&reader_connection, source, &routes, peer_timeout).await;
        reader_connection.shut(reason);
    });

    let handshake = async {
        // Binary output is asked for on a WebSocket only (a line stream cannot carry it), on
        // every connection, resumes included: the choice is per connection.
        let params = InitializeParams {
            client_name: options.client_name.clone(),
            resume_session_id: resume.cloned(),
            binary_output: options.binary_output && keepalive,
        };
        let result = connection.request(method::INITIALIZE, &params).await;
        let raw = match result {
            Ok(raw) => raw,
            Err(CallError::Rpc(error)) => return Err(DialError::Rejected(error)),
            Err(CallError::Lost(reason)) => return Err(DialError::Unreachable(reason)),
        };
        let mut response: Handshake = serde_json::from_str(raw.get())
            .map_err(|error| DialError::Unreachable(format!("bad initialize result: {error}")))?;
        response.environment_info = serde_json::from_str::<EnvironmentInfoOnly>(raw.get())
            .ok()
            .and_then(|only| only.environment_info);
        connection.binary_output.store(response.response.binary_output, Ordering::Relaxed);
        connection
            .notify(method::INITIALIZED, &serde_json::Value::Null)
            .await
            .map_err(|_| DialError::Unreachable("connection lost during the handshake".to_owned()))?;
        Ok(response)
    };
    match tokio::time::timeout(options.connect_timeout, handshake).await {
        Ok(Ok(response)) => Ok((connection, response)),
        Ok(Err(error)) => {
            connection.shut("handshake failed");
            Err(error)
        }
        Err(_) => {
            connection.shut("handshake timed out");
            Err(DialError::Unreachable(format!("initialize timed out after {:?}", options.connect_timeout)))
        }
    }
}

/// Reads frames until the connection ends; returns why it ended.
async fn read_loop(
    connection: &Connection,
    mut source: ClientSource,
    routes: &Routes,
    peer_timeout: Option<Duration>,
) -> String {
    loop {
        let next = async {
            match peer_timeout {
                Some(limit) => tokio::time::timeout(limit, source.next_frame()).await.map_err(|_| limit),
                None => Ok(source.next_frame().await),
            }
        };
        let incoming = tokio::select! {
            incoming = next => incoming,
            () = connection.lost.cancelled() => return connection.reason(),
        };
        match incoming {
            Err(limit) => return format!("the server sent nothing for {limit:?} (dead connection)"),
            Ok(None) => {
                if let Some(epitaph) = source.epitaph().await {
                    return epitaph;
                }
                return match source.take_close_frame() {
                    Some((code, _)) if code == rpc::CLOSE_TAKEN_OVER => {
                        connection.taken_over.store(true, Ordering::SeqCst);
                        "the session was resumed by another connection".to_owned()
                    }
                    Some((code, reason)) if !reason.is_empty() => {
                        format!("the server closed the connection ({code}: {reason})")
                    }
                    Some((code, _)) => format!("the server closed the connection ({code})"),
                    None => "the server closed the connection".to_owned(),
                };
            }
            Ok(Some(Incoming::Alive)) => {}
            Ok(Some(Incoming::Oversized { limit })) => {
                return format!("the server sent a message larger than {limit} bytes");
            }
            Ok(Some(Incoming::Violation { code, reason })) => {
                return format!("the server broke the websocket protocol ({code}: {reason})");
            }
            Ok(Some(Incoming::Message(bytes))) => {
                let over_budget = handle_frame(connection, routes, &bytes);
                if let Some(reason) = wait_for_slots(connection, over_budget).await {
                    return reason;
                }
            }
            Ok(Some(Incoming::Binary(bytes))) => {
                // A binary output frame; anything else in a Binary frame is JSON, read as such.
                let over_budget = routes
                    .route_binary_output(&bytes)
                    .unwrap_or_else(|| handle_frame(connection, routes, &bytes));
                if let Some(reason) = wait_for_slots(connection, over_budget).await {
                    return reason;
                }
            }
        }
    }
}

/// A caller far behind holds the reader (and, through the socket, the server's flow control)
/// until it catches up, instead of output being lost. Returns why the connection ended, if it
/// did meanwhile.
async fn wait_for_slots(connection: &Connection, over_budget: Vec<Arc<Slot>>) -> Option<String> {
    for slot in over_budget {
        tokio::select! {
            () = slot.drained() => {}
            () = connection.lost.cancelled() => return Some(connection.reason()),
        }
    }
    None
}

/// Handles one frame; returns the slots over their byte budget that the reader must wait for.
fn handle_frame(connection: &Connection, routes: &Routes, bytes: &Bytes) -> Vec<Arc<Slot>> {
    if let Some(over_budget) = routes.route_output_frame(bytes) {
        return over_budget;
    }
    match jsonrpc::parse_message(bytes) {
        Ok(Message::Response(response)) => match response.id {
            RequestId::Integer(id) => connection.answer(id, Ok(response.result)),
            RequestId::String(id) => tracing::debug!(%id, "response with an id this client never uses"),
        },
        Ok(Message::ErrorResponse(response)) => match response.id {
            Some(RequestId::Integer(id)) if id >= 0 => connection.answer(id, Err(response.error)),
            _ => tracing::warn!(error = %response.error, "the server reported an error for no request"),
        },
        Ok(Message::Notification(notification)) => {
            return routes.route(&notification.method, notification.params.as_deref());
        }
        Ok(Message::Request(request)) => {
            tracing::debug!(method = %request.method, "ignoring a request from the server");
        }
        Err(error) => tracing::warn!(%error, "ignoring an unparseable frame from the server"),
    }
    Vec::new()
}
