//! The handshake: `initialize` params and result, and the extension capability names.
//!
//! A client sends `initialize`, reads the result, then sends the `initialized` notification
//! (no params). The result's `serverInfo` and `capabilities` are extensions: the Codex peer returns
//! only `sessionId`, so a client must treat their absence as "no extensions". The ordering rules
//! themselves are enforced by the transport, not here.

use serde::{Deserialize, Serialize};

use crate::ids::SessionId;

/// Params of `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    /// Free-form name of the client, for logs (at most `ids::MAX_ID_BYTES`).
    #[serde(deserialize_with = "crate::ids::client_name")]
    pub client_name: String,
    /// Re-attach to this session instead of opening a new one. `null` and absent both mean a new
    /// session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_session_id: Option<SessionId>,
    /// Extension: ask for `process/output` as binary frames ([`crate::binary`]) on this
    /// connection. A server grants it only on a WebSocket and says so in the result's
    /// `binaryOutput`; otherwise output stays JSON. Omitted on the wire when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary_output: bool,
}

/// Result of `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResponse {
    /// The new session's id, or the resumed one (unchanged).
    pub session_id: SessionId,
    /// Extension: who is answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_info: Option<ServerInfo>,
    /// Extension: the names in [`crate::capability`] this server supports. Empty (and omitted on
    /// the wire) for a server without extensions, such as the Codex peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Extension: how long, in milliseconds, a detached session lives before it expires. A
    /// client's reconnection window longer than this is pointless (the session is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ttl_ms: Option<u64>,
    /// What the 0.171 client wants to know about the executor (its shell, home, temp dir,
    /// optional features). Without it, that client asks `environment/info` again and again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_info: Option<crate::environment::EnvironmentInfo>,
    /// Extension: `true` when the client asked for `binaryOutput` and this connection grants it:
    /// from now on every `process/output` on this connection is a binary frame. Omitted when
    /// false (not asked, not a WebSocket, or a server without the extension).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary_output: bool,
}

impl InitializeResponse {
    /// Whether the server advertised `capability` (one of [`crate::capability`]).
    pub fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|name| name == capability)
    }
}

/// Extension: `serverInfo` in the `initialize` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// Server implementation name, for example `exec-server`.
    pub name: String,
    /// Server version.
    pub version: String,
}
