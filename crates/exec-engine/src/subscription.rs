//! [`Subscription`]: a cursor over one process's retention log that yields [`Event`]s in seq
//! order, replay first and then live, with no gap and no duplicate.
//!
//! A subscription is also the unit of flow control: while it exists, the process's reader tasks
//! never evict a chunk it has not consumed; they stop draining the child instead. Dropping it
//! (or detaching or superseding the session attachment that created it) releases that hold.

use std::sync::Arc;

use tokio::sync::watch;

use crate::process::Process;
use crate::retention::{CursorId, Step};
use crate::types::Event;

/// A stream of one process's events.
///
/// Ends (`None`) after `Closed` was delivered, after the process was removed and its remaining
/// events were delivered, or once the session attachment that created it detached or was
/// taken over. A subscriber that stops calling [`next`](Subscription::next) holds back the
/// process's output (the child blocks on write once `Config::retention_bytes` are retained),
/// exactly as a slow reader of an ssh channel does.
pub struct Subscription {
    process: Arc<Process>,
    cursor: CursorId,
    /// Wakes `next` when the log changes; the `Process` owns the sender.
    changes: watch::Receiver<u64>,
    finished: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("process", &self.process.id)
            .field("cursor", &self.cursor)
            .field("finished", &self.finished)
            .finish()
    }
}

impl Subscription {
    /// Wraps a cursor that was already added to the process's log.
    pub(crate) fn new(process: Arc<Process>, cursor: CursorId) -> Subscription {
        let changes = process.log_changed.subscribe();
        Subscription { process, cursor, changes, finished: false }
    }

    /// The id of the process this subscription follows.
    pub fn process_id(&self) -> &crate::ProcessId {
        &self.process.id
    }

    /// The next event, waiting for it if needed. `None` when the subscription is over.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            // Seen before looking: a change made after the look still wakes `changed`.
            self.changes.borrow_and_update();
            match self.poll_log() {
                Some(Some(event)) => return Some(event),
                Some(None) => return None,
                None => {}
            }
            if self.changes.changed().await.is_err() {
                // The sender lives in `Process`, which we hold: not reachable.
                self.finished = true;
                return None;
            }
        }
    }

    /// The next event if one is ready, without waiting: lets a caller batch what is available.
    /// `None` means "nothing right now" or "over"; [`is_finished`](Subscription::is_finished)
    /// tells them apart.
    pub fn try_next(&mut self) -> Option<Event> {
        self.poll_log().flatten()
    }

    /// Whether the process was started under a sandbox (`SpawnSpec::sandbox`).
    pub fn sandboxed(&self) -> bool {
        self.process.sandboxed
    }

    /// The last (at most) `max_bytes` of the process's retained output, all streams, oldest
    /// first: what a server looks at to guess whether a sandbox refused the command.
    pub fn output_tail(&self, max_bytes: usize) -> Vec<u8> {
        self.process.output_tail(max_bytes)
    }

    /// True once `next` has returned `None` (or `try_next` found the subscription over).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// `Some(Some(event))`: an event; `Some(None)`: over; `None`: nothing yet.
    fn poll_log(&mut self) -> Option<Option<Event>> {
        if self.finished {
            return Some(None);
        }
        let (step, removed) = self.process.next_event(self.cursor);
        match step {
            Step::Event(event) => Some(Some(event)),
            Step::Finished => {
                self.finished = true;
                Some(None)
            }
            Step::Pending if removed => {
                self.finished = true;
                self.process.release_cursor(self.cursor);
                Some(None)
            }
            Step::Pending => None,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.process.release_cursor(self.cursor);
    }
}
