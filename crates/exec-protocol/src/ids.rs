//! Identifier newtypes that appear on the wire as plain JSON strings.
//!
//! [`ProcessId`] is chosen by the client and unique within a session; [`SessionId`] is chosen by
//! the server (a random UUIDv4, which makes it a capability) and returned by `initialize`. Both are
//! opaque here: this module does not generate them, and checks only their length.
//!
//! Every client-chosen identifier or name a server keeps or repeats (`processId`, `clientName`,
//! `writeId`, `resumeSessionId`) is refused while decoding when it is longer than
//! [`MAX_ID_BYTES`]: a 4 MiB `processId` would otherwise be copied into every notification of
//! its process (issue 12). The error is the decoder's, so the server answers -32602 with
//! [`crate::messages::id_too_long`].

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest identifier or client-chosen name accepted, in bytes of UTF-8.
pub const MAX_ID_BYTES: usize = 1024;

/// Decodes a string, refusing one longer than [`MAX_ID_BYTES`]; `field` is its wire name. A new
/// client-chosen id (a `handleId`, a `watchId`) decodes through this with a one-line
/// `deserialize_with` wrapper, like [`client_name`].
pub fn bounded<'de, D: Deserializer<'de>>(deserializer: D, field: &str) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.len() > MAX_ID_BYTES {
        return Err(serde::de::Error::custom(crate::messages::id_too_long(field, text.len(), MAX_ID_BYTES)));
    }
    Ok(text)
}

/// `deserialize_with` for `clientName`.
pub(crate) fn client_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    bounded(deserializer, "clientName")
}

/// `deserialize_with` for an optional `writeId` (with `#[serde(default)]`).
pub(crate) fn write_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::<BoundedWriteId>::deserialize(deserializer).map(|id| id.map(|id| id.0))
}

struct BoundedWriteId(String);

impl<'de> Deserialize<'de> for BoundedWriteId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded(deserializer, "writeId").map(BoundedWriteId)
    }
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                bounded(deserializer, $field).map($name)
            }
        }

        impl $name {
            /// Wraps a string.
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps the string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A client-chosen process handle, unique within its session and kept across resume. Not an
    /// OS pid.
    ProcessId,
    "processId"
);

string_id!(
    /// A session handle returned by `initialize` and passed back as `resumeSessionId`.
    SessionId,
    "sessionId"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_bounded() {
        let long = "x".repeat(MAX_ID_BYTES + 1);
        let error = serde_json::from_value::<ProcessId>(serde_json::json!(long)).unwrap_err().to_string();
        assert_eq!(error, "processId is 1025 bytes long; the limit is 1024 bytes");
        let exact = "x".repeat(MAX_ID_BYTES);
        assert_eq!(
            serde_json::from_value::<ProcessId>(serde_json::json!(exact)).unwrap().as_str().len(),
            1024
        );
    }
}
