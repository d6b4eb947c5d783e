//! Wire types of the exec-server protocol: JSON-RPC over a WebSocket (or stdio) that starts and
//! controls processes on an executor machine.
//!
//! This crate sits at the bottom of the workspace next to `exec-engine` and `shell-env-policy`,
//! and depends on none of them: it knows JSON and nothing else. `exec-transport` uses it on both
//! ends (server and `ExecClient`) and converts these types to and from engine types. The protocol
//! is a superset of the one spoken by the OpenAI Codex exec-server (`@openai/codex@0.123.0`), and
//! `docs/protocol.md` is its reference.
//!
//! # Overview
//!
//! - [`jsonrpc`]: the envelope. [`jsonrpc::parse_message`] classifies an incoming frame into a
//!   [`jsonrpc::Message`] (request, notification, response, error response), with or without
//!   `"jsonrpc":"2.0"`; [`jsonrpc::Request::decode_params`] turns params into a typed struct or the
//!   prescribed -32602 error; `jsonrpc::write_*` build outgoing frames, which always carry
//!   `"jsonrpc":"2.0"`. Error codes ([`jsonrpc::INVALID_REQUEST`], ...) and [`jsonrpc::ErrorObject`].
//! - [`method`]: every method and notification name.
//! - [`initialize`], [`process`], [`fs`]: the `*Params`, `*Response` and `*Notification` structs,
//!   plus [`process::EnvPolicy`], the wire shape of an environment policy.
//! - [`environment`]: `environmentInfo` and `environment/status` (the 0.171 client).
//! - [`sandbox`]: the Codex `sandbox` intent on `process/start` and `fs/*`, and `sandboxType`.
//! - [`capability`]: names of the extensions a server lists in `initialize`'s result.
//! - [`messages`]: the pinned error-message strings.
//! - [`ByteChunk`]: bytes as standard base64 with padding, used for every chunk field.
//! - [`ProcessId`], [`SessionId`]: string ids.
//! - [`fast`]: hand-written encoders for the `process/output` notification and the `process/read`
//!   response, byte-identical to the serde path and several times cheaper.
//! - [`binary`]: the negotiated binary `process/output` frame (extension `binaryOutput`): a
//!   fixed header and the raw bytes, [`binary::encode_output_into`] and [`binary::decode_output`].
//!
//! # Example
//!
//! ```
//! use exec_protocol::jsonrpc::{self, Message};
//! use exec_protocol::method;
//! use exec_protocol::process::{ProcessStartParams, ProcessStartResponse};
//!
//! // A Codex-style request: no "jsonrpc" member, no pipeStdin.
//! let frame = br#"{"id":3,"method":"process/start","params":{"processId":"build",
//!     "argv":["make"],"cwd":"/src","env":{},"tty":false,"arg0":null}}"#;
//! let Ok(Message::Request(request)) = jsonrpc::parse_message(frame) else { panic!("a request") };
//! assert_eq!(request.method, method::PROCESS_START);
//! let params: ProcessStartParams = request.decode_params().unwrap();
//! assert!(!params.pipe_stdin);
//!
//! let mut out = Vec::new();
//! let result = ProcessStartResponse { process_id: params.process_id, sandbox_type: None, read: None };
//! jsonrpc::write_response(&mut out, &request.id, &result).unwrap();
//! assert_eq!(out, br#"{"jsonrpc":"2.0","id":3,"result":{"processId":"build"}}"#);
//! ```
//!
//! # Invariants
//!
//! - Field names and defaults match the Codex peer: a message a peer client sends decodes, and a
//!   message we send decodes in a peer client. Fields use `#[serde(rename_all = "camelCase")]`.
//! - Extension fields are optional on input and omitted on output when absent.
//! - Unknown fields are ignored on input, as the peer does.
//! - Chunks are standard base64 with padding; decoding rejects anything else.
//! - The [`fast`] encoders produce exactly the serde bytes.
//!
//! # Non-goals
//!
//! No I/O, no framing, no dispatch, no handshake state, no validation beyond decoding (an empty
//! `argv` decodes; the server refuses it). No conversion to engine or `shell-env-policy` types.

pub mod binary;
pub mod capability;
pub mod environment;
pub mod fast;
pub mod fs;
pub mod initialize;
pub mod jsonrpc;
pub mod messages;
pub mod method;
pub mod process;
pub mod sandbox;

mod bytes;
mod ids;

pub use bytes::ByteChunk;
pub use ids::{ProcessId, SessionId};
