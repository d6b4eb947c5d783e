//! Entry points for the criterion benchmarks in `benches/` (hidden from the docs, not an API):
//! output retention is crate-private, and a benchmark is a separate crate.
//!
//! [`RetentionLog`] drives one `Retention` the way a process's reader task and its one
//! subscriber do, with nothing else around it (no lock, no process, no runtime). It adds no
//! behaviour of its own.

use bytes::Bytes;

use crate::ids::Seq;
use crate::retention::{CursorId, Push, Retention, Step};
use crate::types::{StreamKind, SubscribeFrom};

/// One process's output log with one subscriber cursor from the start.
#[derive(Debug)]
pub struct RetentionLog {
    retention: Retention,
    cursor: CursorId,
}

impl RetentionLog {
    /// A log that retains up to `limit` output bytes.
    pub fn new(limit: usize) -> RetentionLog {
        let mut retention = Retention::new(limit);
        let cursor = retention.add_cursor(SubscribeFrom::Start, 0);
        RetentionLog { retention, cursor }
    }

    /// Appends a stdout chunk as the reader task does; false when it was refused for want of
    /// space (the subscriber must read first).
    pub fn push(&mut self, data: Bytes) -> bool {
        matches!(self.retention.push_output(StreamKind::Stdout, data), Push::Stored(_))
    }

    /// The subscriber's next event as the subscription takes it; false when there is none yet.
    pub fn take(&mut self) -> bool {
        let (step, _wake_producer) = self.retention.next_event(self.cursor);
        matches!(step, Step::Event(_))
    }

    /// A `process/read` of everything after `after` (`None`: from the start): the bytes it
    /// returns.
    pub fn read(&self, after: Option<u64>) -> usize {
        let outcome = self.retention.read(after.map(Seq::new), None);
        outcome.chunks.iter().map(|chunk| chunk.data.len()).sum()
    }
}
