//! Identifier newtypes: [`ProcessId`], [`SessionId`] and [`Seq`].
//!
//! Their representations are private so that callers cannot build a session id that was never
//! issued, and so that seq arithmetic stays inside the engine. Nothing here does I/O.

use std::fmt;

/// A client-chosen process name, unique within one session (it survives a resume).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ProcessId(String);

impl ProcessId {
    /// Wraps a client-chosen string; any string is accepted, including the empty one.
    pub fn new(id: impl Into<String>) -> ProcessId {
        ProcessId(id.into())
    }

    /// The string the client chose.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for ProcessId {
    fn from(id: String) -> ProcessId {
        ProcessId(id)
    }
}

impl From<&str> for ProcessId {
    fn from(id: &str) -> ProcessId {
        ProcessId(id.to_owned())
    }
}

/// A session identifier: a random UUIDv4, which makes it a capability (unguessable).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SessionId(uuid::Uuid);

impl SessionId {
    /// A fresh random id.
    pub(crate) fn random() -> SessionId {
        SessionId(uuid::Uuid::new_v4())
    }

    /// Parses any UUID spelling the `uuid` crate accepts; `None` when it is not a UUID.
    ///
    /// A parsed id names a session only if the engine issued it; resuming an unknown id fails.
    pub fn parse(text: &str) -> Option<SessionId> {
        uuid::Uuid::try_parse(text).ok().map(SessionId)
    }
}

impl fmt::Display for SessionId {
    /// Lowercase hyphenated, e.g. `67e55044-10b1-426f-9247-bb680e5fe0c8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// A position in one process's event log. Output chunks, the exit and the close share one
/// counter per process, starting at 1: output 1, 2 → exited 3 → closed 4.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Seq(u64);

impl Seq {
    /// Wraps a raw seq (from the wire, say). 0 means "before the first event".
    pub fn new(seq: u64) -> Seq {
        Seq(seq)
    }

    /// The raw number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_round_trips_lowercase() {
        let id = SessionId::random();
        let text = id.to_string();
        assert_eq!(text, text.to_lowercase());
        assert_eq!(text.len(), 36);
        assert_eq!(SessionId::parse(&text), Some(id));
        assert_eq!(SessionId::parse(&text.to_uppercase()), Some(id));
        assert_eq!(SessionId::parse("not-a-uuid"), None);
    }
}
