//! The JSON-RPC 2.0 envelope as the exec-server protocol uses it.
//!
//! Incoming frames are classified by [`parse_message`] into a [`Message`]: a request (`id` and
//! `method`), a notification (`method`, no `id`), a response (`id` and `result`) or an error
//! response (`error`). The `"jsonrpc"` member is optional on input, because the Codex peer's clients
//! omit it, and its value is not checked. Outgoing frames are written by the `write_*` functions,
//! which always include `"jsonrpc":"2.0"`.
//!
//! `params` and `result` stay undecoded ([`RawValue`]) until the caller knows their type; the
//! `decode_*` methods turn them into typed structs and produce the -32602 error the protocol
//! prescribes when they do not fit.
//!
//! This module does not dispatch, correlate responses with requests or enforce the handshake; that
//! is the transport's job. Batches (JSON arrays) are not part of the protocol and are rejected as
//! invalid frames.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// The request is not a valid request object, or the handshake forbids it right now. Also used,
/// with id -1, to answer a frame that does not parse at all.
pub const INVALID_REQUEST: i64 = -32600;
/// The method is not known to the server.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The params do not decode into the method's params type, or are semantically invalid (for
/// example an empty `argv`).
pub const INVALID_PARAMS: i64 = -32602;
/// The server failed to do what was asked (for example a spawn failed); the message carries the OS
/// error text.
pub const INTERNAL_ERROR: i64 = -32603;
/// An `fs/*` method named a path that does not exist.
pub const NOT_FOUND: i64 = -32004;

/// The `"jsonrpc"` member value written on every outgoing frame.
pub const JSONRPC_VERSION: &str = "2.0";

/// The prefix of the message that answers a frame which cannot be parsed or classified.
pub const INVALID_FRAME_PREFIX: &str = "failed to parse JSON-RPC message: ";

/// A request id: an integer or a string, chosen by the sender and echoed back unchanged.
///
/// Serialized untagged, so `7` and `"7"` stay distinct and round-trip exactly. `null` and
/// fractional numbers are not valid ids: a request carrying one is an invalid frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// A numeric id. The protocol only ever needs integers.
    Integer(i64),
    /// A string id.
    String(String),
}

/// `data.kind` of the error that answers a frame that could not be parsed (or was too large).
pub const UNPARSEABLE_KIND: &str = "unparseable";

impl RequestId {
    /// The id used to answer a frame that could not be parsed, so no real id is known. Such an
    /// answer carries `data: {"kind": "unparseable"}` ([`UNPARSEABLE_KIND`]), which an answer to
    /// a client's own request with id -1 never does.
    pub const UNPARSEABLE: RequestId = RequestId::Integer(-1);
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Integer(id) => write!(f, "{id}"),
            RequestId::String(id) => f.write_str(id),
        }
    }
}

impl From<i64> for RequestId {
    fn from(id: i64) -> Self {
        RequestId::Integer(id)
    }
}

impl From<String> for RequestId {
    fn from(id: String) -> Self {
        RequestId::String(id)
    }
}

impl From<&str> for RequestId {
    fn from(id: &str) -> Self {
        RequestId::String(id.to_owned())
    }
}

/// The `error` member of an error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// One of the code constants in this module, or any other integer a peer sends.
    pub code: i64,
    /// Human-readable text; the protocol pins the exact strings in [`crate::messages`].
    pub message: String,
    /// Optional structured detail: `{"kind": ...}` where our server has a kind to name (spawn
    /// errors, unparseable frames); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with a code and a message and no `data`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        ErrorObject { code, message: message.into(), data: None }
    }

    /// -32600 with `message`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ErrorObject::new(INVALID_REQUEST, message)
    }

    /// -32601 naming the unknown `method`.
    pub fn method_not_found(method: &str) -> Self {
        ErrorObject::new(METHOD_NOT_FOUND, crate::messages::method_not_found(method))
    }

    /// -32602 with `message`.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        ErrorObject::new(INVALID_PARAMS, message)
    }

    /// -32603 with `message`.
    pub fn internal_error(message: impl Into<String>) -> Self {
        ErrorObject::new(INTERNAL_ERROR, message)
    }

    /// -32004 with `message` (an `fs/*` path that does not exist).
    pub fn not_found(message: impl Into<String>) -> Self {
        ErrorObject::new(NOT_FOUND, message)
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for ErrorObject {}

/// One classified incoming frame.
#[derive(Debug)]
pub enum Message {
    /// `id` and `method`: the receiver must answer with a response or an error response.
    Request(Request),
    /// `method` without `id`: never answered.
    Notification(Notification),
    /// `id` and `result`: the answer to a request this side sent.
    Response(Response),
    /// `error`: a failed request; `id` is absent when the peer could not tell which request.
    ErrorResponse(ErrorResponse),
}

/// An incoming request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Echoed back in the answer.
    pub id: RequestId,
    /// The method name, compared against [`crate::method`].
    pub method: String,
    /// The undecoded params; `None` when absent or `null`.
    pub params: Option<Box<RawValue>>,
    /// The W3C `traceparent` of the request's `trace` member (sent by the current Codex client),
    /// when present and well-formed; `None` otherwise (a malformed one is ignored, as W3C
    /// Trace Context prescribes).
    pub traceparent: Option<String>,
}

impl Request {
    /// Decodes the params into `T`; absent params decode as `null`.
    ///
    /// On failure returns the -32602 error the protocol prescribes, whose message is the decoder's
    /// (for example ``missing field `env` ``) without serde_json's position suffix, as the Codex peer
    /// words it.
    pub fn decode_params<T: DeserializeOwned>(&self) -> Result<T, ErrorObject> {
        decode_params(self.params.as_deref())
    }
}

/// An incoming notification.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The method name, compared against [`crate::method`].
    pub method: String,
    /// The undecoded params; `None` when absent or `null`.
    pub params: Option<Box<RawValue>>,
}

impl Notification {
    /// Decodes the params into `T`, like [`Request::decode_params`].
    pub fn decode_params<T: DeserializeOwned>(&self) -> Result<T, ErrorObject> {
        decode_params(self.params.as_deref())
    }
}

/// An incoming successful response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The id of the request this answers.
    pub id: RequestId,
    /// The undecoded result (may be the JSON text `null`).
    pub result: Box<RawValue>,
}

impl Response {
    /// Decodes the result into `T`.
    pub fn decode_result<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.result.get())
    }
}

/// An incoming error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorResponse {
    /// The id of the failed request; `None` when the frame carried `null` or no id. (Our server
    /// and the Codex peer answer unparseable frames with id -1, which arrives as `Some(-1)`.)
    pub id: Option<RequestId>,
    /// What went wrong.
    pub error: ErrorObject,
}

/// A frame that is not a valid JSON-RPC message for this protocol.
///
/// The server answers it with [`InvalidMessage::to_error_object`] under
/// [`RequestId::UNPARSEABLE`] and keeps the connection open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMessage {
    reason: String,
}

impl InvalidMessage {
    fn new(reason: impl fmt::Display) -> Self {
        InvalidMessage { reason: format!("{INVALID_FRAME_PREFIX}{reason}") }
    }

    /// The full error message, starting with [`INVALID_FRAME_PREFIX`].
    pub fn message(&self) -> &str {
        &self.reason
    }

    /// The -32600 error object that answers this frame, with `data: {"kind": "unparseable"}`.
    ///
    /// It is sent under id -1 ([`RequestId::UNPARSEABLE`]), as the Codex peer does and as
    /// its clients expect (their ids are integers or strings; JSON-RPC 2.0's `null` would not
    /// decode). A client may itself use id -1; the `data.kind` marker (and the message prefix)
    /// tells the two apart, and a client that never uses -1 needs neither.
    pub fn to_error_object(&self) -> ErrorObject {
        let mut error = ErrorObject::invalid_request(self.reason.clone());
        error.data = Some(serde_json::json!({ "kind": UNPARSEABLE_KIND }));
        error
    }
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for InvalidMessage {}

/// Every member any message kind may carry. Unknown members are ignored, as the peer does.
#[derive(Deserialize)]
struct Envelope {
    /// `Some(Value::Null)` for an explicit `null`, so it can be told apart from an absent id.
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "present_raw")]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<ErrorObject>,
    /// Codex's `trace: {traceparent?, tracestate?}`; any other shape is ignored, not an error.
    #[serde(default, deserialize_with = "lenient_trace")]
    trace: Option<String>,
}

/// The `traceparent` of a `trace` member, if it is a well-formed W3C one.
fn lenient_trace<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(value
        .get("traceparent")
        .and_then(Value::as_str)
        .filter(|text| is_traceparent(text))
        .map(str::to_owned))
}

/// `VERSION-TRACEID-PARENTID-FLAGS`: 2, 32, 16 and 2 lowercase hex digits, version not `ff`,
/// neither id all zeros (W3C Trace Context, level 1). Later versions may append fields.
pub fn is_traceparent(text: &str) -> bool {
    let hex = |part: &str, length: usize| {
        part.len() == length
            && part.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    };
    let mut parts = text.split('-');
    let (Some(version), Some(trace_id), Some(parent_id), Some(flags)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let extra_allowed = version != "00" || parts.next().is_none();
    hex(version, 2)
        && version != "ff"
        && hex(trace_id, 32)
        && trace_id.bytes().any(|byte| byte != b'0')
        && hex(parent_id, 16)
        && parent_id.bytes().any(|byte| byte != b'0')
        && hex(flags, 2)
        && extra_allowed
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

fn present_raw<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

/// Parses and classifies one frame (a WebSocket Text or Binary payload, or one stdio line).
///
/// Accepts messages with or without `"jsonrpc"`. Rejects, as [`InvalidMessage`]: text that is not
/// JSON, anything but a single object, a request whose id is `null` or not an integer or string, a
/// response without an id, and an object that is none of the four kinds.
pub fn parse_message(frame: &[u8]) -> Result<Message, InvalidMessage> {
    // serde's derived struct decoding also accepts a JSON array (fields by position), which would
    // let `["x","process/read"]` pass as a request; the protocol has only objects.
    if let Some(&first) = frame.iter().find(|byte| !byte.is_ascii_whitespace())
        && first == b'['
    {
        return Err(InvalidMessage::new("batches (JSON arrays) are not supported"));
    }
    let envelope: Envelope = serde_json::from_slice(frame).map_err(InvalidMessage::new)?;
    let id = envelope.id.map(request_id_from_value);
    if let Some(method) = envelope.method {
        return match id {
            None => Ok(Message::Notification(Notification { method, params: envelope.params })),
            Some(Ok(id)) => Ok(Message::Request(Request {
                id,
                method,
                params: envelope.params,
                traceparent: envelope.trace,
            })),
            Some(Err(reason)) => Err(InvalidMessage::new(reason)),
        };
    }
    if let Some(error) = envelope.error {
        // An error response may legitimately carry a null id (the sender could not read ours).
        let id = id.and_then(Result::ok);
        return Ok(Message::ErrorResponse(ErrorResponse { id, error }));
    }
    match (id, envelope.result) {
        (Some(Ok(id)), Some(result)) => Ok(Message::Response(Response { id, result })),
        (Some(Err(reason)), _) => Err(InvalidMessage::new(reason)),
        (None, Some(_)) => Err(InvalidMessage::new("response without an id")),
        (_, None) => Err(InvalidMessage::new("message has no method, result or error")),
    }
}

fn request_id_from_value(value: Value) -> Result<RequestId, String> {
    match value {
        Value::String(id) => Ok(RequestId::String(id)),
        Value::Number(number) => match number.as_i64() {
            Some(id) => Ok(RequestId::Integer(id)),
            None => Err(format!("id {number} is not an integer")),
        },
        other => Err(format!("id {other} is not an integer or a string")),
    }
}

/// Decodes `params` (absent means `null`) into `T`, mapping failure to -32602 with the decoder's
/// message, without serde_json's " at line L column C" suffix.
pub fn decode_params<T: DeserializeOwned>(params: Option<&RawValue>) -> Result<T, ErrorObject> {
    let text = params.map_or("null", RawValue::get);
    serde_json::from_str(text).map_err(|error| ErrorObject::invalid_params(decode_error_message(&error)))
}

/// The text of a serde_json error without its position suffix.
///
/// The position refers to the params text, which the client never saw as such, and the Codex peer
/// reports the bare message (``missing field `env` ``).
pub fn decode_error_message(error: &serde_json::Error) -> String {
    let full = error.to_string();
    if error.line() == 0 {
        return full;
    }
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match full.strip_suffix(&suffix) {
        Some(bare) => bare.to_owned(),
        None => full,
    }
}

#[derive(Serialize)]
struct OutgoingRequest<'a, P> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    method: &'a str,
    params: &'a P,
}

#[derive(Serialize)]
struct OutgoingNotification<'a, P> {
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a P,
}

#[derive(Serialize)]
struct OutgoingResponse<'a, R> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    result: &'a R,
}

#[derive(Serialize)]
struct OutgoingError<'a> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    error: &'a ErrorObject,
}

/// Appends a request frame `{"jsonrpc":"2.0","id":..,"method":..,"params":..}` to `out`.
///
/// Fails only if `params`' `Serialize` implementation fails (never for this crate's types).
pub fn write_request<P: Serialize>(
    out: &mut Vec<u8>,
    id: &RequestId,
    method: &str,
    params: &P,
) -> serde_json::Result<()> {
    serde_json::to_writer(out, &OutgoingRequest { jsonrpc: JSONRPC_VERSION, id, method, params })
}

/// Appends a notification frame `{"jsonrpc":"2.0","method":..,"params":..}` to `out`.
pub fn write_notification<P: Serialize>(
    out: &mut Vec<u8>,
    method: &str,
    params: &P,
) -> serde_json::Result<()> {
    serde_json::to_writer(out, &OutgoingNotification { jsonrpc: JSONRPC_VERSION, method, params })
}

/// Appends a response frame `{"jsonrpc":"2.0","id":..,"result":..}` to `out`.
pub fn write_response<R: Serialize>(out: &mut Vec<u8>, id: &RequestId, result: &R) -> serde_json::Result<()> {
    serde_json::to_writer(out, &OutgoingResponse { jsonrpc: JSONRPC_VERSION, id, result })
}

/// Appends an error response frame `{"jsonrpc":"2.0","id":..,"error":{..}}` to `out`.
pub fn write_error_response(
    out: &mut Vec<u8>,
    id: &RequestId,
    error: &ErrorObject,
) -> serde_json::Result<()> {
    serde_json::to_writer(out, &OutgoingError { jsonrpc: JSONRPC_VERSION, id, error })
}
