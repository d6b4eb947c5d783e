//! [`RawClient`]: a raw JSON-RPC-over-WebSocket client for tests, plus the shapes it hands back.
//!
//! It works on plain `serde_json::Value`s so tests can send anything (malformed frames included)
//! and see exactly what came back. Everything runs on the caller's task: there is no background
//! reader, so a frame is only read while a helper waits for something, and whatever arrives
//! meanwhile (notifications, responses to other ids) is buffered, never dropped.
//!
//! It does not reconnect, retry, or validate the protocol beyond what a helper needs; tests assert.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::{DEFAULT_DEADLINE, decode_base64, encode_base64};

/// A JSON-RPC error object from a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    /// The optional `data` member, `Value::Null` when absent.
    pub data: Value,
}

/// A notification from the server (`process/output`, `process/exited`, `process/closed`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub method: String,
    /// `Value::Null` when the server sent no params. A binary `process/output` frame is turned
    /// into the params of its JSON twin (`chunk` in base64), so every helper reads both alike.
    pub params: Value,
    /// It came as a binary `process/output` frame (negotiated `binaryOutput`), not as JSON.
    pub binary: bool,
}

impl Notification {
    /// `params.processId`, when present.
    pub fn process_id(&self) -> Option<&str> {
        self.params.get("processId")?.as_str()
    }

    /// `params.seq`, when present.
    pub fn seq(&self) -> Option<u64> {
        self.params.get("seq")?.as_u64()
    }

    /// The decoded `params.chunk` of a `process/output` notification.
    pub fn chunk(&self) -> Option<Vec<u8>> {
        Some(decode_base64(self.params.get("chunk")?.as_str()?))
    }
}

/// One output chunk, as carried by `process/output` or returned by `process/read`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub seq: u64,
    /// `stdout`, `stderr` or `pty`.
    pub stream: String,
    pub bytes: Vec<u8>,
}

/// A decoded `process/read` result.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadResult {
    pub chunks: Vec<Chunk>,
    pub next_seq: u64,
    pub exited: bool,
    pub exit_code: Option<i64>,
    pub closed: bool,
    /// `failure` as sent (`null` when the process did not fail).
    pub failure: Value,
    /// The whole result, for fields the struct does not name (extensions).
    pub raw: Value,
}

impl ReadResult {
    /// Decodes a `process/read` result; panics naming the field that is missing or mistyped.
    #[track_caller]
    pub fn from_value(raw: Value) -> ReadResult {
        let chunks = raw["chunks"]
            .as_array()
            .unwrap_or_else(|| panic!("process/read result has no chunks array: {raw}"))
            .iter()
            .map(|chunk| Chunk {
                seq: chunk["seq"].as_u64().unwrap_or_else(|| panic!("chunk without seq: {chunk}")),
                stream: chunk["stream"]
                    .as_str()
                    .unwrap_or_else(|| panic!("chunk without stream: {chunk}"))
                    .into(),
                bytes: decode_base64(chunk["chunk"].as_str().unwrap_or_else(|| panic!("no chunk: {chunk}"))),
            })
            .collect();
        ReadResult {
            chunks,
            next_seq: raw["nextSeq"]
                .as_u64()
                .unwrap_or_else(|| panic!("process/read without nextSeq: {raw}")),
            exited: raw["exited"].as_bool().unwrap_or_else(|| panic!("process/read without exited: {raw}")),
            exit_code: raw["exitCode"].as_i64(),
            closed: raw["closed"].as_bool().unwrap_or_else(|| panic!("process/read without closed: {raw}")),
            failure: raw["failure"].clone(),
            raw,
        }
    }

    /// The bytes of all returned chunks, in the order returned.
    pub fn output(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|chunk| chunk.bytes.iter().copied()).collect()
    }
}

/// Every notification of one process up to and including `process/closed`, sorted by `seq`.
///
/// Built by [`RawClient::collect_until_closed`], which checks that the seqs run 1, 2, ... with no
/// gap and no duplicate, and that `process/closed` carries the last one.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessRun {
    pub events: Vec<Notification>,
}

impl ProcessRun {
    /// The output chunks in seq order.
    pub fn chunks(&self) -> Vec<Chunk> {
        self.events
            .iter()
            .filter(|event| event.method == "process/output")
            .map(|event| Chunk {
                seq: event.seq().unwrap_or_default(),
                stream: event.params["stream"].as_str().unwrap_or_default().to_owned(),
                bytes: event.chunk().unwrap_or_default(),
            })
            .collect()
    }

    /// All output bytes (every stream) in seq order.
    pub fn output(&self) -> Vec<u8> {
        self.chunks().into_iter().flat_map(|chunk| chunk.bytes).collect()
    }

    /// The output bytes of one stream (`stdout`, `stderr` or `pty`) in seq order.
    pub fn stream_output(&self, stream: &str) -> Vec<u8> {
        self.chunks()
            .into_iter()
            .filter(|chunk| chunk.stream == stream)
            .flat_map(|chunk| chunk.bytes)
            .collect()
    }

    /// The `process/exited` notifications (a well-behaved server sends exactly one).
    pub fn exits(&self) -> Vec<&Notification> {
        self.events.iter().filter(|event| event.method == "process/exited").collect()
    }

    /// The `exitCode` of the first `process/exited`; `None` if there was none or it was null.
    pub fn exit_code(&self) -> Option<i64> {
        self.exits().first()?.params["exitCode"].as_i64()
    }

    /// The seq of `process/closed` (the highest seq of the process).
    pub fn closed_seq(&self) -> u64 {
        self.events.last().and_then(Notification::seq).unwrap_or_default()
    }
}

/// Default params for `process/start`: no TTY, stdin closed, cwd `/`, a plain `PATH` as the whole
/// environment and `arg0: null`. Tests adjust fields in place (`params["tty"] = json!(true)`).
pub fn start_params(process_id: &str, argv: &[&str]) -> Value {
    json!({
        "processId": process_id,
        "argv": argv,
        "cwd": "/",
        "env": { "PATH": "/usr/local/bin:/usr/bin:/bin" },
        "tty": false,
        "pipeStdin": false,
        "arg0": null,
    })
}

/// A JSON-RPC client over one WebSocket connection, for tests.
#[derive(Debug)]
pub struct RawClient {
    socket: WebSocketStream<TcpStream>,
    /// The id of the next request; ids start at 1 and only grow.
    next_id: u64,
    /// How long each helper waits before it panics.
    deadline: Duration,
    /// Notifications read but not yet taken by a caller, in arrival order.
    notifications: VecDeque<Notification>,
    /// Responses read while waiting for another id, in arrival order.
    responses: Vec<Value>,
    /// Every Text and Binary frame read so far, by kind.
    frames: FrameCounts,
}

/// How many frames of each kind a [`RawClient`] has read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameCounts {
    pub text: usize,
    pub binary: usize,
}

impl RawClient {
    /// Connects to `url` (`ws://IP:PORT[/path]`) with TCP_NODELAY and no compression offered.
    /// Panics if the connection or the handshake fails.
    pub async fn connect(url: &str) -> RawClient {
        match RawClient::try_connect(url).await {
            Ok(client) => client,
            Err(error) => panic!("cannot connect to {url}: {error}"),
        }
    }

    /// Like [`RawClient::connect`], returning the error instead of panicking.
    pub async fn try_connect(url: &str) -> Result<RawClient, String> {
        let authority = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("{url} is not a ws:// URL"))?
            .split('/')
            .next()
            .unwrap_or_default();
        let connect = TcpStream::connect(authority);
        let stream = tokio::time::timeout(DEFAULT_DEADLINE, connect)
            .await
            .map_err(|_| "TCP connect timed out".to_owned())?
            .map_err(|error| format!("TCP connect: {error}"))?;
        // Small requests must not wait for a delayed ACK (Nagle is on by default).
        stream.set_nodelay(true).map_err(|error| format!("TCP_NODELAY: {error}"))?;
        let handshake = tokio_tungstenite::client_async(url, stream);
        let (socket, _response) = tokio::time::timeout(DEFAULT_DEADLINE, handshake)
            .await
            .map_err(|_| "WebSocket handshake timed out".to_owned())?
            .map_err(|error| format!("WebSocket handshake: {error}"))?;
        Ok(RawClient {
            socket,
            next_id: 1,
            deadline: DEFAULT_DEADLINE,
            notifications: VecDeque::new(),
            responses: Vec::new(),
            frames: FrameCounts::default(),
        })
    }

    /// How many Text and Binary frames were read so far.
    pub fn frames(&self) -> FrameCounts {
        self.frames
    }

    /// Changes how long each later helper call waits before it panics.
    pub fn set_deadline(&mut self, deadline: Duration) {
        self.deadline = deadline;
    }

    /// Sends `value` as one Text frame, exactly as given.
    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends one Text frame with arbitrary (possibly malformed) content.
    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::Text(text.into())).await;
    }

    /// Sends one Binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.send(Message::Binary(bytes.into())).await;
    }

    async fn send(&mut self, message: Message) {
        match tokio::time::timeout(self.deadline, self.socket.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => panic!("sending a frame failed: {error}"),
            Err(_) => panic!("sending a frame took longer than {:?}", self.deadline),
        }
    }

    /// Sends a request with the next id (without the `jsonrpc` member, like Codex clients) and
    /// returns that id; pair it with [`RawClient::response`]. `params: Value::Null` omits params.
    pub async fn send_request(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = json!({ "id": id, "method": method });
        if !params.is_null() {
            request["params"] = params;
        }
        self.send_json(request).await;
        id
    }

    /// Sends a notification (no id), such as `initialized`.
    pub async fn notify(&mut self, method: &str, params: Value) {
        let mut notification = json!({ "method": method });
        if !params.is_null() {
            notification["params"] = params;
        }
        self.send_json(notification).await;
    }

    /// Waits for the response whose `id` equals `id` (any JSON value, e.g. `-1`) and returns it
    /// whole. Notifications and other responses that arrive meanwhile are buffered.
    pub async fn raw_response(&mut self, id: Value) -> Value {
        let until = Instant::now() + self.deadline;
        loop {
            if let Some(index) = self.responses.iter().position(|response| response["id"] == id) {
                return self.responses.remove(index);
            }
            self.read_frame(until, &format!("the response to id {id}")).await;
        }
    }

    /// Waits for the response to request `id`: its `result`, or its error object.
    pub async fn response(&mut self, id: u64) -> Result<Value, ErrorObject> {
        let response = self.raw_response(json!(id)).await;
        split_response(response)
    }

    /// Sends a request and waits for its response.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, ErrorObject> {
        let id = self.send_request(method, params).await;
        self.response(id).await
    }

    /// Sends a request that must fail and returns its error; panics if it succeeds.
    pub async fn request_error(&mut self, method: &str, params: Value) -> ErrorObject {
        match self.request(method, params).await {
            Ok(result) => panic!("{method} was expected to fail but returned {result}"),
            Err(error) => error,
        }
    }

    /// Sends a request that must succeed and returns its result; panics on an error response.
    pub async fn request_ok(&mut self, method: &str, params: Value) -> Value {
        match self.request(method, params).await {
            Ok(result) => result,
            Err(error) => panic!("{method} failed: {error:?}"),
        }
    }

    /// `initialize {clientName}` then `initialized`; returns the session id. Panics on an error.
    pub async fn initialize(&mut self, client_name: &str) -> String {
        let result = self.request_ok("initialize", json!({ "clientName": client_name })).await;
        self.notify("initialized", Value::Null).await;
        session_id_of(&result)
    }

    /// `initialize {clientName, resumeSessionId}` and, if it succeeds, `initialized`.
    /// Returns the session id the server answered with.
    pub async fn resume(&mut self, client_name: &str, session_id: &str) -> Result<String, ErrorObject> {
        let params = json!({ "clientName": client_name, "resumeSessionId": session_id });
        let result = self.request("initialize", params).await?;
        self.notify("initialized", Value::Null).await;
        Ok(session_id_of(&result))
    }

    /// The next notification of any kind (buffered first), waiting up to `deadline`.
    pub async fn next_notification(&mut self, deadline: Duration) -> Notification {
        let until = Instant::now() + deadline;
        loop {
            if let Some(notification) = self.notifications.pop_front() {
                return notification;
            }
            self.read_frame(until, "a notification").await;
        }
    }

    /// Removes and returns the buffered notifications of `process_id` (no waiting).
    pub fn notifications_for(&mut self, process_id: &str) -> Vec<Notification> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.notifications)
            .into_iter()
            .partition(|notification| notification.process_id() == Some(process_id));
        self.notifications = kept.into();
        taken
    }

    /// Waits until the buffered `process/output` of `process_id`, joined in seq order, contains
    /// `needle`. Nothing is consumed: [`RawClient::collect_until_closed`] still sees every event.
    pub async fn wait_for_output(&mut self, process_id: &str, needle: &[u8]) {
        let until = Instant::now() + self.deadline;
        loop {
            let mut chunks: Vec<(u64, Vec<u8>)> = self
                .notifications
                .iter()
                .filter(|event| event.method == "process/output" && event.process_id() == Some(process_id))
                .map(|event| (event.seq().unwrap_or_default(), event.chunk().unwrap_or_default()))
                .collect();
            chunks.sort_by_key(|(seq, _)| *seq);
            let output: Vec<u8> = chunks.into_iter().flat_map(|(_, bytes)| bytes).collect();
            if needle.is_empty() || output.windows(needle.len()).any(|window| window == needle) {
                return;
            }
            let what = format!(
                "output {:?} from {process_id} (so far: {:?})",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&output)
            );
            self.read_frame(until, &what).await;
        }
    }

    /// Takes every notification of `process_id` until `process/closed` and all seqs before it have
    /// arrived, and returns them sorted by seq. The peer may send them out of seq order, so
    /// arrival order is not checked; a duplicate or missing seq panics.
    pub async fn collect_until_closed(&mut self, process_id: &str) -> ProcessRun {
        let until = Instant::now() + self.deadline;
        let mut by_seq: BTreeMap<u64, Notification> = BTreeMap::new();
        loop {
            for event in self.notifications_for(process_id) {
                let seq = event.seq().unwrap_or_else(|| panic!("notification without seq: {event:?}"));
                if let Some(previous) = by_seq.insert(seq, event.clone()) {
                    panic!("{process_id}: seq {seq} sent twice: {previous:?} and {event:?}");
                }
            }
            let closed_seq =
                by_seq.values().find(|event| event.method == "process/closed").and_then(Notification::seq);
            if let Some(closed_seq) = closed_seq {
                let last_seq = by_seq.keys().next_back().copied().unwrap_or_default();
                assert_eq!(
                    last_seq, closed_seq,
                    "{process_id}: an event came after process/closed: {by_seq:?}"
                );
                if by_seq.len() as u64 == closed_seq {
                    return ProcessRun { events: by_seq.into_values().collect() };
                }
            }
            let what =
                format!("process/closed of {process_id} and every seq before it (have {:?})", by_seq.keys());
            self.read_frame(until, &what).await;
        }
    }

    /// `process/read` with the given params (`processId` is filled in); returns the decoded
    /// result or the error.
    pub async fn read(&mut self, process_id: &str, mut params: Value) -> Result<ReadResult, ErrorObject> {
        if params.is_null() {
            params = json!({});
        }
        params["processId"] = json!(process_id);
        self.request("process/read", params).await.map(ReadResult::from_value)
    }

    /// Drains `process_id` through `process/read` long polls, starting after `after_seq`, until
    /// the server reports the process closed and has no chunk left. Returns the chunks, with the
    /// flags and `nextSeq` of the last read.
    ///
    /// Between exit and close a long poll returns at once, so this may poll quickly for that short
    /// window; the deadline still bounds it.
    pub async fn read_all(&mut self, process_id: &str, after_seq: u64) -> ReadResult {
        let until = Instant::now() + self.deadline;
        let mut after_seq = after_seq;
        let mut chunks = Vec::new();
        loop {
            let remaining = until.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                panic!("{process_id} was not closed within {:?} (chunks so far: {chunks:?})", self.deadline);
            }
            let wait_ms = remaining.as_millis().min(1_000) as u64;
            let params = json!({ "afterSeq": after_seq, "waitMs": wait_ms });
            let mut read = match self.read(process_id, params).await {
                Ok(read) => read,
                Err(error) => panic!("process/read of {process_id} failed: {error:?}"),
            };
            let done = read.closed && read.chunks.is_empty();
            if let Some(last) = read.chunks.last() {
                after_seq = last.seq;
            }
            chunks.append(&mut read.chunks);
            if done {
                read.chunks = chunks;
                return read;
            }
        }
    }

    /// `process/write` of `bytes`; returns the `status` string (`accepted`, `unknownProcess`, ...).
    pub async fn write(&mut self, process_id: &str, bytes: &[u8]) -> Result<String, ErrorObject> {
        let params = json!({ "processId": process_id, "chunk": encode_base64(bytes) });
        let result = self.request("process/write", params).await?;
        Ok(result["status"].as_str().unwrap_or_else(|| panic!("process/write result {result}")).to_owned())
    }

    /// `process/terminate`; returns `running` (whether the process was alive).
    pub async fn terminate(&mut self, process_id: &str) -> Result<bool, ErrorObject> {
        let result = self.request("process/terminate", json!({ "processId": process_id })).await?;
        Ok(result["running"].as_bool().unwrap_or_else(|| panic!("process/terminate result {result}")))
    }

    /// Closes the WebSocket (a close frame, then the TCP connection).
    pub async fn close(mut self) {
        // The server may already be gone; the connection ends either way when `self` drops.
        let _ = tokio::time::timeout(self.deadline, self.socket.close(None)).await;
    }

    /// Reads until the server closes the connection and returns its close frame's code and
    /// reason (`None` when the connection ended without one). Responses and notifications read
    /// meanwhile are kept. Panics if nothing ends the connection before the deadline.
    pub async fn next_close(&mut self) -> Option<(u16, String)> {
        let until = Instant::now() + self.deadline;
        loop {
            let frame = match tokio::time::timeout_at(until, self.socket.next()).await {
                Err(_) => panic!("timed out waiting for the server to close the connection"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Message::Close(close) => {
                    return close.map(|frame| (u16::from(frame.code), frame.reason.as_str().to_owned()));
                }
                Message::Text(text) => {
                    if let Ok(message) = serde_json::from_str::<Value>(&text)
                        && message.get("id").is_some()
                        && message.get("method").is_none()
                    {
                        self.responses.push(message);
                    }
                }
                _ => {}
            }
        }
    }

    /// Reads one frame and files it as a response or a notification. Panics when `until` passes
    /// or the connection ends, naming `what` was awaited.
    async fn read_frame(&mut self, until: Instant, what: &str) {
        let frame = match tokio::time::timeout_at(until, self.socket.next()).await {
            Err(_) => panic!("timed out waiting for {what}"),
            Ok(None) => panic!("the server closed the connection while we waited for {what}"),
            Ok(Some(Err(error))) => panic!("the connection failed while we waited for {what}: {error}"),
            Ok(Some(Ok(frame))) => frame,
        };
        let text = match frame {
            Message::Text(text) => {
                self.frames.text += 1;
                text.to_string()
            }
            Message::Binary(bytes) => {
                self.frames.binary += 1;
                if let Some(notification) = binary_output(&bytes) {
                    self.notifications.push_back(notification);
                    return;
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            // tungstenite answers pings itself; the rest carry no message.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return,
            Message::Close(close) => {
                panic!("the server closed the connection ({close:?}) while we waited for {what}")
            }
        };
        let message: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("the server sent a frame that is not JSON ({error}): {text}"));
        if message.get("id").is_some() && message.get("method").is_none() {
            self.responses.push(message);
        } else if let Some(method) = message.get("method").and_then(Value::as_str) {
            if message.get("id").is_some() {
                panic!("the server sent a request, which no test expects: {message}");
            }
            let params = message.get("params").cloned().unwrap_or(Value::Null);
            self.notifications.push_back(Notification { method: method.to_owned(), params, binary: false });
        } else {
            panic!("the server sent a message that is neither a response nor a notification: {message}");
        }
    }
}

/// Decodes a binary `process/output` frame (tag 0x01, stream byte, u64 BE seq, u16 BE id length,
/// id, data), written here from `docs/protocol.md` rather than shared with the server, so a
/// layout bug cannot hide in both. `None` for a frame without the tag (JSON in a Binary frame);
/// a frame with the tag that does not follow the layout panics: the server broke it.
fn binary_output(frame: &[u8]) -> Option<Notification> {
    if frame.first() != Some(&0x01) {
        return None;
    }
    assert!(frame.len() >= 12, "a binary output frame shorter than its header: {frame:?}");
    let stream = match frame[1] {
        0 => "stdout",
        1 => "stderr",
        2 => "pty",
        other => panic!("a binary output frame with stream byte {other}"),
    };
    let seq = u64::from_be_bytes(frame[2..10].try_into().expect("eight bytes"));
    let id_len = usize::from(u16::from_be_bytes([frame[10], frame[11]]));
    assert!(frame.len() >= 12 + id_len, "a binary output frame cut inside its process id");
    let process_id = std::str::from_utf8(&frame[12..12 + id_len]).expect("a UTF-8 process id");
    let params = json!({
        "processId": process_id,
        "seq": seq,
        "stream": stream,
        "chunk": encode_base64(&frame[12 + id_len..]),
    });
    Some(Notification { method: "process/output".to_owned(), params, binary: true })
}

fn split_response(response: Value) -> Result<Value, ErrorObject> {
    if let Some(error) = response.get("error") {
        return Err(ErrorObject {
            code: error["code"]
                .as_i64()
                .unwrap_or_else(|| panic!("error without an integer code: {response}")),
            message: error["message"].as_str().unwrap_or_default().to_owned(),
            data: error.get("data").cloned().unwrap_or(Value::Null),
        });
    }
    match response.get("result") {
        Some(result) => Ok(result.clone()),
        None => panic!("response with neither result nor error: {response}"),
    }
}

#[track_caller]
fn session_id_of(result: &Value) -> String {
    match result["sessionId"].as_str() {
        Some(session_id) => session_id.to_owned(),
        None => panic!("initialize result without a sessionId: {result}"),
    }
}
