//! [`ByteChunk`]: raw bytes carried on the wire as a standard base64 string with padding.
//!
//! Every `chunk` field (process output, stdin writes) and `fs/readFile`'s `dataBase64` uses it.
//! Decoding is strict like the peer's: the standard alphabet, canonical padding required, so
//! `"aGk"` fails with "Invalid padding" (-32602 once wrapped by [`crate::jsonrpc::decode_params`]).
//! The type does not chunk, buffer or limit sizes; that is the engine's and transport's job.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes that travel as base64 (standard alphabet, with padding).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ByteChunk(Vec<u8>);

impl ByteChunk {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        ByteChunk(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Unwraps the raw bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    /// Number of raw bytes (not base64 characters).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The base64 text this chunk has on the wire.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    /// Decodes base64 text (standard alphabet, padding required).
    pub fn from_base64(text: &str) -> Result<Self, base64::DecodeError> {
        STANDARD.decode(text).map(ByteChunk)
    }
}

impl From<Vec<u8>> for ByteChunk {
    fn from(bytes: Vec<u8>) -> Self {
        ByteChunk(bytes)
    }
}

impl From<&[u8]> for ByteChunk {
    fn from(bytes: &[u8]) -> Self {
        ByteChunk(bytes.to_vec())
    }
}

impl From<ByteChunk> for Vec<u8> {
    fn from(chunk: ByteChunk) -> Self {
        chunk.0
    }
}

impl AsRef<[u8]> for ByteChunk {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for ByteChunk {
    /// Shows the bytes as an escaped string, which reads better than a list of numbers for the
    /// mostly-text output of commands.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByteChunk(b\"{}\")", self.0.escape_ascii())
    }
}

impl Serialize for ByteChunk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for ByteChunk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(Base64Visitor)
    }
}

/// Decodes straight from the borrowed text when the deserializer can lend it, avoiding a copy of
/// the base64 string for large writes.
struct Base64Visitor;

impl serde::de::Visitor<'_> for Base64Visitor {
    type Value = ByteChunk;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64 string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ByteChunk, E> {
        ByteChunk::from_base64(text).map_err(E::custom)
    }
}
