//! One client connection: handshake gating, the request-concurrency rule, and notification pumps.
//!
//! The read loop in [`Connection::serve`] is the single place where the concurrency rule lives:
//! `initialize` and `initialized` are handled inline, so they are ordering barriers (nothing read
//! after them runs before they finish); every other request is spawned as its own task, so a long
//! poll never delays another call and responses may leave out of order.
//!
//! Each process the connection can see has one notification pump: a task that turns the engine's
//! in-order event subscription into `process/*` notifications on the bounded outbound queue. One
//! task per process keeps each process's notifications in seq order, and the bounded queue is the
//! backpressure path from a slow socket back to the child.
//!
//! When the connection ends (peer closed, dead peer, takeover, server shutdown) every request and
//! pump task is cancelled, and the last reference to the session handle detaches the session.
//!
//! This module does not know what the methods do (`handlers`) or how frames are carried (`rpc`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use exec_engine::{Event, ProcessId, SessionHandle, Subscription};
use exec_protocol::jsonrpc::{self, ErrorObject, Message, Request, RequestId};
use exec_protocol::{messages, method};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::Shared;
use super::handlers;
use super::log_text::Clipped;
use super::methods;
use crate::convert::to_wire;
use crate::rpc::{self, FrameSink, FrameSource, Incoming, Outgoing};

/// How long a connection that was taken over waits for its in-flight requests to send their
/// error responses before it closes.
const TAKEOVER_DRAIN: Duration = Duration::from_secs(1);

use crate::rpc::CLOSE_TAKEN_OVER;
/// WebSocket close code "going away": the server is shutting down.
const CLOSE_GOING_AWAY: u16 = 1001;
/// WebSocket close code "message too big".
const CLOSE_TOO_BIG: u16 = 1009;
/// WebSocket close code "policy violation": the client broke the protocol (it never sent
/// `initialize`, for example).
const CLOSE_POLICY: u16 = 1008;
/// WebSocket close code "normal closure", sent when the peer stopped answering pings (it will most
/// likely never read it, but a peer that merely stalled learns why the connection ended).
const CLOSE_NORMAL: u16 = 1000;

/// Where the connection is in the handshake.
enum Phase {
    /// Nothing but `initialize` is allowed yet.
    New,
    /// `initialize` succeeded; exec methods wait for the `initialized` notification.
    Initializing(Arc<SessionHandle>),
    /// Exec methods are allowed.
    Ready(Arc<SessionHandle>),
}

/// What one connection may make the server hold, as semaphores (issue 12, defect 2).
///
/// - `requests`: requests read and not yet answered. The read loop takes a slot *before* it
///   reads the next frame, so a full connection is simply not read (TCP backpressure reaches
///   the client); the slot is given back once the request's answer is queued.
/// - `request_bytes`: the bytes of those requests' frames, taken after the frame is read (a
///   frame larger than the budget takes all of it), held until the answer is queued.
/// - `outbound_bytes`: frames queued for the socket (responses and notifications), held from
///   the moment a frame is queued until the writer has handed it to the socket. A client that
///   stops reading fills it, and then every producer waits: request tasks, and notification
///   pumps (whose processes then stop being drained: the usual flow control).
///
/// Waiting on any of them is backpressure, never an error.
#[derive(Debug)]
pub(crate) struct Budgets {
    requests: Arc<Semaphore>,
    request_bytes: Arc<Semaphore>,
    request_bytes_max: usize,
    outbound_bytes: Arc<Semaphore>,
    outbound_bytes_max: usize,
    /// `fs/*` requests running, until their answer is queued. Their answers are the large ones
    /// (a file read answers with up to the file limit, base64), so this, not the request count,
    /// bounds the answers built while the client is not reading.
    fs: Arc<Semaphore>,
}

impl Budgets {
    pub(crate) fn new(config: &super::ServerConfig) -> Budgets {
        let bytes = |limit: usize| limit.clamp(1, (u32::MAX as usize).min(Semaphore::MAX_PERMITS));
        Budgets {
            requests: Arc::new(Semaphore::new(
                config.max_requests_in_flight.clamp(1, Semaphore::MAX_PERMITS),
            )),
            request_bytes: Arc::new(Semaphore::new(bytes(config.max_request_bytes_in_flight))),
            request_bytes_max: bytes(config.max_request_bytes_in_flight),
            outbound_bytes: Arc::new(Semaphore::new(bytes(config.max_outbound_bytes_queued))),
            outbound_bytes_max: bytes(config.max_outbound_bytes_queued),
            fs: Arc::new(Semaphore::new(config.max_fs_requests_in_flight.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }

    async fn take(semaphore: &Arc<Semaphore>, bytes: usize, max: usize) -> Option<OwnedSemaphorePermit> {
        let wanted = u32::try_from(bytes.min(max)).unwrap_or(u32::MAX);
        // The semaphores are never closed.
        Arc::clone(semaphore).acquire_many_owned(wanted).await.ok()
    }
}

/// A request's hold on its connection's budgets: released when the answer is queued.
struct Admission {
    _slot: OwnedSemaphorePermit,
    _bytes: Option<OwnedSemaphorePermit>,
}

/// Everything a spawned request or pump task needs: cheap to clone.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) outbound: mpsc::Sender<Outgoing>,
    /// Cancelled when the connection ends; every task of the connection stops on it.
    pub(crate) closed: CancellationToken,
    /// Files opened with `fs/open`; dropped (closed, unfinished replacements discarded) with the
    /// last clone of this context, when the connection's tasks have ended.
    pub(crate) files: Arc<super::files::FileHandles>,
    /// `fs/watchMissing` watches; their reader task stops with `closed`.
    pub(crate) watches: Arc<super::watch::Watches>,
    /// The `clientName` of `initialize` (empty before it), for the audit log.
    pub(crate) client_name: Arc<str>,
    /// This connection's bounds on requests in flight and queued bytes.
    pub(crate) budgets: Arc<Budgets>,
    /// The transport can carry binary frames (a WebSocket), so `binaryOutput` may be granted.
    carries_binary: bool,
    /// `initialize` asked for `binaryOutput` and it was granted: pumps send `process/output` as
    /// binary frames. Set by `initialize` before any pump exists, never changed afterwards.
    pub(crate) binary_output: bool,
}

impl Context {
    /// Queues a frame, waiting for room in the outbound byte budget; returns false once the
    /// connection is gone.
    pub(crate) async fn send(&self, frame: String) -> bool {
        let budgets = &self.budgets;
        let permit = Budgets::take(&budgets.outbound_bytes, frame.len(), budgets.outbound_bytes_max).await;
        self.outbound.send(Outgoing::Frame(frame, permit)).await.is_ok()
    }

    /// [`Context::send`] for a binary frame: the same budget, the same queue, the same order.
    pub(crate) async fn send_binary(&self, frame: Vec<u8>) -> bool {
        let budgets = &self.budgets;
        let permit = Budgets::take(&budgets.outbound_bytes, frame.len(), budgets.outbound_bytes_max).await;
        self.outbound.send(Outgoing::Binary(Bytes::from(frame), permit)).await.is_ok()
    }

    /// Starts the notification pump of one process. The pump ends with the connection, or when
    /// the subscription ends (the process closed, or was removed).
    pub(crate) fn spawn_pump(
        &self,
        session: Arc<SessionHandle>,
        process_id: ProcessId,
        subscription: Subscription,
    ) {
        self.spawn_pump_from(session, process_id, None, subscription);
    }

    /// [`spawn_pump`](Context::spawn_pump) for a subscription that was partly consumed (by an
    /// inline wait on `process/start`): `first`, an event taken from it but not answered, is
    /// sent before the rest.
    pub(crate) fn spawn_pump_from(
        &self,
        session: Arc<SessionHandle>,
        process_id: ProcessId,
        first: Option<Event>,
        subscription: Subscription,
    ) {
        let context = self.clone();
        tokio::spawn(
            async move {
                let closed = context.closed.clone();
                tokio::select! {
                    _ = closed.cancelled() => {}
                    _ = pump(&context, &process_id, first, subscription) => {}
                }
                // Held until here so that the session stays attached while the pump runs.
                drop(session);
            }
            // The span of whoever started the pump (the connection's, or the `process/start`
            // request's, which names the process): taken once, nothing per notification.
            .in_current_span(),
        );
    }
}

/// Forwards one process's events as notifications, in seq order.
async fn pump(
    context: &Context,
    process_id: &ProcessId,
    mut first: Option<Event>,
    mut subscription: Subscription,
) {
    loop {
        let event = match first.take() {
            Some(event) => event,
            None => match subscription.next().await {
                Some(event) => event,
                None => break,
            },
        };
        // Everything the process printed before its exit is retained by the time `Exited` comes
        // out of the subscription (seq order), so its tail is the evidence for `sandboxDenied`.
        let denied = match event {
            Event::Exited { status, .. } if subscription.sandboxed() => {
                let tail = subscription.output_tail(exec_sandbox::DENIAL_TAIL_BYTES);
                // Counted in `/metrics` by the process's watcher (`audit`), not per subscriber.
                handlers::sandbox_denied(true, Some(status), std::iter::once(tail.as_slice()))
            }
            _ => false,
        };
        if context.binary_output
            && let Event::Output(chunk) = &event
            && let Some(frame) = handlers::encode_binary_output(process_id, chunk)
        {
            if !context.send_binary(frame).await {
                return;
            }
            continue;
        }
        let Some(frame) = handlers::encode_event(process_id, &event, denied) else {
            if let Event::Gap { dropped_before } = event {
                context.shared.metrics.gap();
                tracing::warn!(process = %Clipped(process_id.as_str()), dropped_before = dropped_before.get(), "notification gap");
            }
            continue;
        };
        if !context.send(frame).await {
            return;
        }
    }
}

/// Serves one connection to completion. `ping` is `(interval, peer_timeout)` for transports that
/// can detect a dead peer (WebSocket); `None` for stdio.
/// `handshake` is the connection's place among the uninitialized ones and the deadline for a
/// successful `initialize` (WebSocket); both are given up when `initialize` succeeds.
pub(crate) async fn serve<Source, Sink>(
    source: Source,
    sink: Sink,
    shared: Arc<Shared>,
    ping: Option<(Duration, Duration)>,
    handshake: Option<(OwnedSemaphorePermit, Instant)>,
    shutdown: CancellationToken,
) where
    Source: FrameSource,
    Sink: FrameSink,
{
    let (outbound, outbound_receiver) = rpc::outbound_queue();
    let writer = tokio::spawn(rpc::write_loop(sink, outbound_receiver, ping.map(|(interval, _)| interval)));
    let budgets = Arc::new(Budgets::new(&shared.config));
    let mut connection = Connection {
        context: Context {
            shared,
            outbound,
            closed: CancellationToken::new(),
            files: Arc::default(),
            watches: Arc::default(),
            client_name: Arc::from(""),
            budgets,
            carries_binary: Sink::CARRIES_BINARY,
            binary_output: false,
        },
        phase: Phase::New,
        source,
        peer_timeout: ping.map(|(_, timeout)| timeout),
        requests: TaskTracker::new(),
        handshake,
    };
    let close = connection.read_loop(&shutdown).await;
    // Give up the place among uninitialized connections before the peer can see the close.
    connection.handshake = None;

    // Stop every task of this connection first, so nothing else is queued behind the close.
    connection.context.closed.cancel();
    if let Some((code, reason)) = close {
        // Ignoring a failed send is fine: it fails only when the writer already stopped.
        let _ = connection.context.outbound.send(Outgoing::Close { code, reason }).await;
    }
    let Connection { context, phase, .. } = connection;
    drop(phase);
    drop(context);
    // The writer ends once every sender is gone (all tasks stopped) or the socket fails; give a
    // stuck socket a bounded time, then abandon it.
    match tokio::time::timeout(Duration::from_secs(5), writer).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => tracing::debug!(%error, "connection writer ended with an error"),
        Ok(Err(join_error)) => tracing::warn!(%join_error, "connection writer panicked"),
        Err(_) => tracing::debug!("connection writer did not finish in time"),
    }
}

struct Connection<Source> {
    context: Context,
    phase: Phase,
    source: Source,
    peer_timeout: Option<Duration>,
    /// In-flight request tasks; waited for (briefly) when the session is taken over.
    requests: TaskTracker,
    /// Until `initialize` succeeds: this connection's place among the uninitialized ones
    /// (`ServerConfig::max_uninitialized_connections`) and the deadline for it.
    handshake: Option<(OwnedSemaphorePermit, Instant)>,
}

impl<Source: FrameSource> Connection<Source> {
    /// Reads and dispatches until the connection should end; returns the close frame to send.
    async fn read_loop(&mut self, shutdown: &CancellationToken) -> Option<(u16, String)> {
        let mut last_heard = Instant::now();
        // The request slot for the next frame, taken before the frame is read.
        let mut slot: Option<OwnedSemaphorePermit> = None;
        loop {
            let session = self.session();
            if slot.is_none() {
                let requests = Arc::clone(&self.context.budgets.requests);
                let waited = requests.available_permits() == 0;
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return Some(Self::going_away()),
                    _ = superseded(&session) => return Some(self.taken_over().await),
                    _ = sleep_until_optional(self.initialize_deadline()) => return Some(self.initialize_overdue()),
                    permit = requests.acquire_owned() => slot = permit.ok(),
                }
                if waited {
                    // The peer could not be heard while we did not read: the wait was ours.
                    last_heard = Instant::now();
                }
            }
            let deadline = self.peer_timeout.map(|timeout| last_heard + timeout);
            let incoming = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Some(Self::going_away()),
                _ = superseded(&session) => return Some(self.taken_over().await),
                _ = sleep_until_optional(self.initialize_deadline()) => return Some(self.initialize_overdue()),
                _ = sleep_until_optional(deadline) => {
                    tracing::info!("peer stopped answering pings; closing");
                    return Some((CLOSE_NORMAL, "peer timed out".to_owned()));
                }
                incoming = self.source.next_frame() => incoming,
            };
            last_heard = Instant::now();
            match incoming {
                None => return None,
                Some(Incoming::Alive) => {}
                Some(Incoming::Violation { code, reason }) => return Some((code, reason)),
                Some(Incoming::Oversized { limit }) => {
                    let mut error = ErrorObject::invalid_request(messages::message_too_large(limit));
                    error.data = Some(serde_json::json!({ "kind": jsonrpc::UNPARSEABLE_KIND }));
                    self.respond(RequestId::UNPARSEABLE, Err(error)).await;
                    if self.peer_timeout.is_some() {
                        // A WebSocket stream cannot skip the rest of an oversized frame.
                        return Some((CLOSE_TOO_BIG, "message too big".to_owned()));
                    }
                }
                // A Binary frame from a client is read as JSON, like a Text frame (SPEC §3).
                Some(Incoming::Message(bytes) | Incoming::Binary(bytes)) => {
                    let budgets = Arc::clone(&self.context.budgets);
                    let taken = Budgets::take(&budgets.request_bytes, bytes.len(), budgets.request_bytes_max);
                    let held = tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => return Some(Self::going_away()),
                        _ = superseded(&session) => return Some(self.taken_over().await),
                        held = taken => held,
                    };
                    let admission = slot.take().map(|slot| Admission { _slot: slot, _bytes: held });
                    if let Some(unused) = self.handle(bytes, admission).await {
                        // Answered inline: the slot serves the next frame.
                        slot = Some(unused._slot);
                    }
                }
            }
        }
    }

    fn initialize_deadline(&self) -> Option<Instant> {
        self.handshake.as_ref().map(|(_, deadline)| *deadline)
    }

    fn initialize_overdue(&self) -> (u16, String) {
        let timeout = self.context.shared.config.initialize_timeout;
        tracing::info!(?timeout, "no initialize in time; closing");
        (CLOSE_POLICY, messages::initialize_timed_out(timeout.as_millis()))
    }

    fn going_away() -> (u16, String) {
        (CLOSE_GOING_AWAY, "server shutting down".to_owned())
    }

    async fn taken_over(&self) -> (u16, String) {
        tracing::info!("session resumed by another connection; closing this one");
        self.context.shared.metrics.taken_over();
        self.drain_after_takeover().await;
        (CLOSE_TAKEN_OVER, messages::SESSION_RESUMED_ELSEWHERE.to_owned())
    }

    fn session(&self) -> Option<Arc<SessionHandle>> {
        match &self.phase {
            Phase::New => None,
            Phase::Initializing(session) | Phase::Ready(session) => Some(Arc::clone(session)),
        }
    }

    /// Gives in-flight requests a bounded moment to answer (the engine already failed their long
    /// polls with "resumed by another connection") before the connection closes.
    async fn drain_after_takeover(&self) {
        self.requests.close();
        if tokio::time::timeout(TAKEOVER_DRAIN, self.requests.wait()).await.is_err() {
            tracing::debug!("in-flight requests did not finish before the takeover close");
        }
    }

    /// Handles one frame. Returns the admission back when the frame was dealt with inline (it
    /// is then free for the next frame); a spawned request keeps it until its answer is queued.
    async fn handle(&mut self, bytes: Bytes, admission: Option<Admission>) -> Option<Admission> {
        let message = match jsonrpc::parse_message(&bytes) {
            Ok(message) => message,
            Err(invalid) => {
                self.respond(RequestId::UNPARSEABLE, Err(invalid.to_error_object())).await;
                return admission;
            }
        };
        drop(bytes);
        match message {
            Message::Request(request) => self.handle_request(request, admission).await,
            Message::Notification(notification) => {
                self.handle_notification(&notification.method).await;
                admission
            }
            Message::Response(_) | Message::ErrorResponse(_) => {
                // We never send requests to the client, so there is nothing to correlate.
                tracing::debug!("ignoring a response from the client");
                admission
            }
        }
    }

    async fn handle_request(&mut self, request: Request, admission: Option<Admission>) -> Option<Admission> {
        if request.method == method::INITIALIZE {
            // Barrier: handled inline, so requests read after it see its outcome.
            let result = self.initialize(&request).await;
            self.respond(request.id, result).await;
            return admission;
        }
        let Some(method) = methods::find(&request.method) else {
            let error = ErrorObject::method_not_found(&request.method);
            self.respond(request.id, Err(error)).await;
            return admission;
        };
        // Gating comes before params are decoded, so the error names the real problem.
        let session = match &self.phase {
            Phase::New => {
                let error = ErrorObject::invalid_request(method.gate.before_initialize());
                self.respond(request.id, Err(error)).await;
                return admission;
            }
            Phase::Initializing(_) => {
                let error = ErrorObject::invalid_request(method.gate.before_initialized());
                self.respond(request.id, Err(error)).await;
                return admission;
            }
            Phase::Ready(session) => Arc::clone(session),
        };
        // Everything else runs concurrently with the read loop and with other requests.
        let context = self.context.clone();
        // Every request runs under the connection's span (peer, session), in a `request` span
        // of its own naming the `method` and the `process` it is about (recorded by the method
        // table once the params are decoded). A request carrying Codex's `trace` gets that span
        // at `info` with its W3C `traceparent`, so its lines join the orchestrator's trace (and,
        // with `otlp`, the span is exported); others get it at `debug`, the level of the
        // per-request lines: making a span costs about a tenth of a `process/read` round trip,
        // too much for the polling path when nothing would log in it. Without it the task runs
        // in the connection's span itself (a reference count, no new span).
        let span = match &request.traceparent {
            Some(traceparent) => tracing::info_span!(
                "request",
                method = method.name,
                process = tracing::field::Empty,
                %traceparent
            ),
            None => tracing::debug_span!("request", method = method.name, process = tracing::field::Empty),
        };
        let span = if span.is_disabled() { tracing::Span::current() } else { span };
        let traceparent = request.traceparent.as_deref().map(Arc::<str>::from);
        self.requests.spawn(tracing::Instrument::instrument(
            super::audit::TRACEPARENT.scope(traceparent, async move {
                tracing::debug!(method = method.name, "request");
                let closed = context.closed.clone();
                let outbound = context.clone();
                let fs = (method.gate == methods::Gate::Fs).then(|| Arc::clone(&context.budgets.fs));
                let answer = method.run(methods::Call { context, session, request });
                tokio::select! {
                    _ = closed.cancelled() => {}
                    _ = async {
                        let _fs_slot = match fs {
                            Some(fs) => fs.acquire_owned().await.ok(),
                            None => None,
                        };
                        let answered = answer.await;
                        outbound.send(answered.frame).await;
                        // Only now, so that whatever it starts (a process's notification pump)
                        // is queued behind the answer.
                        if let Some(then) = answered.then {
                            then();
                        }
                    } => {}
                }
                // The answer is queued (or the connection is gone): free the slot and bytes.
                drop(admission);
            }),
            span,
        ));
        None
    }

    async fn handle_notification(&mut self, method_name: &str) {
        if method_name != method::INITIALIZED {
            tracing::debug!(method = %Clipped(method_name), "ignoring an unknown notification");
            return;
        }
        // Barrier: handled inline, like `initialize`.
        match std::mem::replace(&mut self.phase, Phase::New) {
            Phase::Initializing(session) => self.phase = Phase::Ready(session),
            other => {
                // A stray or repeated `initialized` changes nothing; there is no id to answer.
                tracing::debug!("ignoring `initialized` outside the handshake");
                self.phase = other;
            }
        }
    }

    async fn initialize(
        &mut self,
        request: &Request,
    ) -> Result<Box<serde_json::value::RawValue>, ErrorObject> {
        if !matches!(self.phase, Phase::New) {
            return Err(ErrorObject::invalid_request(messages::ALREADY_INITIALIZED));
        }
        let params: exec_protocol::initialize::InitializeParams = request.decode_params()?;
        let engine = &self.context.shared.engine;
        let session = match &params.resume_session_id {
            None => engine.create_session().map_err(|error| {
                if matches!(error, exec_engine::SessionError::TooManySessions { .. }) {
                    self.context.shared.metrics.session_limit_hit();
                }
                to_wire::session_error(error)
            })?,
            Some(raw) => {
                let unknown = || ErrorObject::invalid_request(messages::unknown_session(raw.as_str()));
                let id = exec_engine::SessionId::parse(raw.as_str()).ok_or_else(unknown)?;
                engine.resume_session(&id).await.map_err(|error| match error {
                    exec_engine::SessionError::UnknownSession(_) => unknown(),
                    other => to_wire::session_error(other),
                })?
            }
        };
        tracing::info!(
            session = %session.session_id(),
            client = %Clipped(&params.client_name),
            resumed = params.resume_session_id.is_some(),
            "initialized"
        );
        tracing::Span::current().record("session", tracing::field::display(session.session_id()));
        if params.resume_session_id.is_some() {
            self.context.shared.metrics.resumed();
        }
        self.context.client_name = Arc::from(params.client_name.as_str());
        // Per connection: a resumed session's new connection decides afresh. Set before the
        // pumps below start, so every pump of this connection sees the same answer.
        let carries_binary = self.context.carries_binary;
        self.context.binary_output = params.binary_output && carries_binary;
        let response = handlers::initialize_response(
            &self.context.shared,
            &session,
            carries_binary,
            self.context.binary_output,
        );
        // Initialized: no longer counted among (nor timed like) the uninitialized connections.
        self.handshake = None;
        let session = Arc::new(session);
        self.start_pumps_for_existing(&session);
        self.phase = Phase::Initializing(session);
        handlers::encode_result(&response)
    }

    /// Attaching subscribes: after a resume, every process that already exists gets a pump that starts at "now":
    /// notifications produced while detached are not replayed (the client catches up with
    /// `process/read`), but everything from here on is pushed.
    fn start_pumps_for_existing(&self, session: &Arc<SessionHandle>) {
        for process in session.list() {
            if let Ok(subscription) = session.subscribe(&process.id, exec_engine::SubscribeFrom::Now) {
                self.context.spawn_pump(Arc::clone(session), process.id.clone(), subscription);
            }
        }
    }

    async fn respond(&self, id: RequestId, result: Result<Box<serde_json::value::RawValue>, ErrorObject>) {
        self.context.send(response_frame(&id, result)).await;
    }
}

/// Encodes a response or error frame for `id`.
pub(crate) fn response_frame(
    id: &RequestId,
    result: Result<Box<serde_json::value::RawValue>, ErrorObject>,
) -> String {
    let mut frame = Vec::with_capacity(128);
    let written = match &result {
        Ok(value) => jsonrpc::write_response(&mut frame, id, value),
        Err(error) => jsonrpc::write_error_response(&mut frame, id, error),
    };
    if let Err(error) = written {
        // Only a failing Serialize impl gets here; answer with an internal error instead.
        frame.clear();
        let error = ErrorObject::internal_error(messages::cannot_encode("response", &error));
        jsonrpc::write_error_response(&mut frame, id, &error).expect("an error object always serializes");
    }
    // SAFETY: serde_json writes only valid UTF-8 (its own `to_string` relies on the same fact),
    // so validating every response again, up to the message limit, would only cost time.
    unsafe { String::from_utf8_unchecked(frame) }
}

async fn sleep_until_optional(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Resolves when `session` (if any) has been taken over by another connection.
async fn superseded(session: &Option<Arc<SessionHandle>>) {
    match session {
        Some(session) => session.superseded().await,
        None => std::future::pending().await,
    }
}
