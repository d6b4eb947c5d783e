//! Per-process event routing on the client: notifications in, events out **in seq order**.
//!
//! Each subscriber of a process owns a [`Slot`]: a reorder buffer keyed by seq (the Codex peer may
//! send `exited` before the last output), a queue of events ready for the caller, and a flag that
//! says "the queue may be missing something: ask the server before waiting" (set for an attach to
//! an existing process, and after a reconnect; the caller then catches up with `process/read`
//! from the last seq it delivered).
//!
//! Memory is bounded without losing output: a slot buffers up to its byte budget for a caller
//! that is not reading; past it, the connection's reader waits for that caller to drain (see
//! [`Routes::route`]), which stops reading the socket and lets the server's flow control slow the
//! children. Below the budget, a process whose caller is slow never delays another's events.
//!
//! The merge logic is sans-I/O ([`SlotState`]); the I/O (the `process/read` calls) lives with the
//! handle in `super::process`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use exec_engine::{Event, OutputChunk, Seq};
use exec_protocol::method;
use exec_protocol::process::{
    ProcessClosedNotification, ProcessExitedNotification, ProcessOutputNotification, ProcessReadResponse,
};
use serde_json::value::RawValue;
use tokio::sync::Notify;

use crate::convert::from_wire;

/// Every slot of every process this client follows.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    slots: Mutex<HashMap<String, Vec<Weak<Slot>>>>,
}

impl Routes {
    /// Adds a slot; it receives notifications from now on.
    pub(crate) fn register(&self, slot: &Arc<Slot>) {
        let mut slots = self.slots.lock().unwrap_or_else(|poison| poison.into_inner());
        let entry = slots.entry(slot.process_id.clone()).or_default();
        entry.retain(|weak| weak.strong_count() > 0);
        entry.push(Arc::downgrade(slot));
    }

    /// Removes a slot (its handle was dropped, or its start failed).
    pub(crate) fn unregister(&self, slot: &Slot) {
        let mut slots = self.slots.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(entry) = slots.get_mut(&slot.process_id) {
            entry.retain(|weak| weak.strong_count() > 0 && !std::ptr::eq(weak.as_ptr(), slot));
            if entry.is_empty() {
                slots.remove(&slot.process_id);
            }
        }
    }

    /// Every live slot.
    pub(crate) fn all(&self) -> Vec<Arc<Slot>> {
        let slots = self.slots.lock().unwrap_or_else(|poison| poison.into_inner());
        slots.values().flatten().filter_map(Weak::upgrade).collect()
    }

    /// Hands one notification to the slots of its process and returns the slots that are now
    /// over their byte budget: the caller (the connection's reader) waits for each to drain
    /// before it reads on. Unknown methods and malformed params are logged and dropped: a
    /// notification has no one to answer.
    pub(crate) fn route(&self, method_name: &str, params: Option<&RawValue>) -> Vec<Arc<Slot>> {
        let decoded = match method_name {
            method::PROCESS_OUTPUT => decode::<ProcessOutputNotification>(params).map(output_event),
            method::PROCESS_EXITED => {
                let note = match decode::<ProcessExitedNotification>(params) {
                    Ok(note) => note,
                    Err(error) => {
                        tracing::warn!(method = method_name, %error, "ignoring a malformed notification");
                        return Vec::new();
                    }
                };
                let status = from_wire::exit_status(note.exit_code, note.signal);
                let event = Event::Exited { seq: Seq::new(note.seq), status };
                return self.deliver(note.process_id.as_str(), event, note.sandbox_denied);
            }
            method::PROCESS_CLOSED => decode::<ProcessClosedNotification>(params)
                .map(|note| (note.process_id.into_string(), Event::Closed { seq: Seq::new(note.seq) })),
            other => {
                tracing::debug!(method = other, "ignoring an unknown notification");
                return Vec::new();
            }
        };
        match decoded {
            Ok((process_id, event)) => self.deliver(&process_id, event, None),
            Err(error) => {
                tracing::warn!(method = method_name, %error, "ignoring a malformed notification");
                Vec::new()
            }
        }
    }

    /// The hot path: a `process/output` frame as our server writes it is decoded in one pass
    /// (`fast::read_output_notification`), base64 straight from the frame into the chunk's own
    /// buffer, instead of being split into an envelope first and its params parsed again. `None`
    /// for any other frame, which the caller parses the general way.
    pub(crate) fn route_output_frame(&self, frame: &[u8]) -> Option<Vec<Arc<Slot>>> {
        let note = exec_protocol::fast::read_output_notification(frame)?;
        let event = Event::Output(OutputChunk {
            seq: Seq::new(note.seq),
            stream: from_wire::stream(note.stream),
            data: bytes::Bytes::from(note.bytes),
        });
        Some(self.deliver(note.process_id, event, None))
    }

    /// A binary `process/output` frame (`exec_protocol::binary`), routed exactly like its JSON
    /// twin. The chunk's data is a slice of the frame, not a copy. `None` when the frame does not
    /// carry the output tag (JSON in a Binary frame, which the caller reads as JSON); a frame with
    /// the tag that does not decode is logged and dropped, like a malformed notification.
    pub(crate) fn route_binary_output(&self, frame: &bytes::Bytes) -> Option<Vec<Arc<Slot>>> {
        if frame.first() != Some(&exec_protocol::binary::OUTPUT_TAG) {
            return None;
        }
        let output = match exec_protocol::binary::decode_output(frame) {
            Ok(output) => output,
            Err(error) => {
                tracing::warn!(%error, "ignoring a malformed binary output frame");
                return Some(Vec::new());
            }
        };
        let event = Event::Output(OutputChunk {
            seq: Seq::new(output.seq),
            stream: from_wire::stream(output.stream),
            data: frame.slice_ref(output.data),
        });
        Some(self.deliver(output.process_id, event, None))
    }

    /// Pushes one event to every slot of a process (with the `sandboxDenied` of an exit, recorded
    /// under the same lock, so a consumer that sees the exit sees the verdict); returns the slots
    /// now over budget.
    ///
    /// The routes lock is held while pushing (lock order: routes, then a slot; nothing takes them
    /// the other way round), so no list of targets is built per frame; the returned list stays
    /// empty, and unallocated, unless a slot is over budget.
    fn deliver(&self, process_id: &str, event: Event, sandbox_denied: Option<bool>) -> Vec<Arc<Slot>> {
        let slots = self.slots.lock().unwrap_or_else(|poison| poison.into_inner());
        let Some(entry) = slots.get(process_id) else { return Vec::new() };
        let mut over_budget = Vec::new();
        match entry.as_slice() {
            // The common case: one subscriber; the event moves instead of being cloned.
            [only] => {
                if let Some(slot) = only.upgrade()
                    && slot.push(event, sandbox_denied)
                {
                    over_budget.push(slot);
                }
            }
            many => {
                for slot in many.iter().filter_map(Weak::upgrade) {
                    if slot.push(event.clone(), sandbox_denied) {
                        over_budget.push(slot);
                    }
                }
            }
        }
        over_budget
    }
}

fn output_event(note: ProcessOutputNotification) -> (String, Event) {
    let event = Event::Output(OutputChunk {
        seq: Seq::new(note.seq),
        stream: from_wire::stream(note.stream),
        data: bytes::Bytes::from(note.chunk.into_vec()),
    });
    (note.process_id.into_string(), event)
}

fn decode<T: serde::de::DeserializeOwned>(params: Option<&RawValue>) -> Result<T, serde_json::Error> {
    serde_json::from_str(params.map_or("null", RawValue::get))
}

/// One subscriber's view of one process.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) process_id: String,
    state: Mutex<SlotState>,
    /// Wakes the (single) consumer; a stored permit covers a push between check and wait.
    pub(crate) changed: Notify,
    /// Wakes the connection's reader waiting for this slot to drain below its budget.
    drained: Notify,
}

impl Slot {
    pub(crate) fn new(process_id: String, state: SlotState) -> Arc<Slot> {
        Arc::new(Slot {
            process_id,
            state: Mutex::new(state),
            changed: Notify::new(),
            drained: Notify::new(),
        })
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Adds a pushed event (and an exit's `sandboxDenied`); returns whether the slot is now over
    /// its byte budget.
    fn push(&self, event: Event, sandbox_denied: Option<bool>) -> bool {
        let (wake, over) = {
            let mut state = self.lock();
            if sandbox_denied.is_some() {
                state.sandbox_denied = sandbox_denied;
            }
            let wake = state.push(event);
            (wake, state.over_budget())
        };
        if wake {
            self.changed.notify_one();
        }
        over
    }

    /// Waits until the caller drained the slot below its budget, or its handle was dropped.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if !state.over_budget() || state.abandoned {
                    state.reader_waiting = false;
                    return;
                }
                state.reader_waiting = true;
            }
            notified.await;
        }
    }

    /// The consumer's next step, waking a reader that waits for this slot to drain once it has.
    /// (The check rides on the lock `next` takes anyway; the wake-up happens only when a reader
    /// is actually waiting.)
    pub(crate) fn take_next(&self) -> Next {
        let (next, wake_reader) = {
            let mut state = self.lock();
            let next = state.next();
            let wake = state.reader_waiting && !state.over_budget();
            if wake {
                state.reader_waiting = false;
            }
            (next, wake)
        };
        if wake_reader {
            self.drained.notify_waiters();
        }
        next
    }

    /// The handle is gone: a reader waiting on this slot must not wait any longer. Recorded under
    /// the lock, so a reader that looks after this call sees it (a reader that looked before
    /// has registered its wake-up, which this call then fires).
    pub(crate) fn abandon(&self) {
        self.lock().abandoned = true;
        self.drained.notify_waiters();
    }

    /// Adds the inline answer of `process/start {wait}`; a slot that cannot account for it asks
    /// the server instead.
    pub(crate) fn merge_inline(&self, read: ProcessReadResponse) {
        {
            let mut state = self.lock();
            if let Err(reason) = state.merge_inline(read) {
                tracing::debug!(process = %self.process_id, %reason, "catching up with process/read");
                state.mark_behind();
            }
        }
        self.changed.notify_one();
    }

    /// Something may have been missed (a reconnect): the consumer asks the server before waiting.
    pub(crate) fn mark_behind(&self) {
        self.lock().mark_behind();
        self.changed.notify_one();
    }

    /// Delivery is over for good; the consumer gets what is queued, then `Failed`.
    pub(crate) fn fail(&self, reason: &str) {
        self.lock().fail(reason);
        self.changed.notify_one();
    }
}

/// What the consumer should do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Deliver this event.
    Event(Event),
    /// The stream is over.
    End,
    /// Ask the server for what came after this seq, then look again.
    Pull { after: u64, epoch: u64 },
    /// Wait for a push.
    Wait,
}

/// The merge state of one slot. Invariant: `ready` holds contiguous events `..=delivered`, and
/// `pending` only seqs greater than `delivered + 1`... or equal, briefly, inside `drain`.
#[derive(Debug)]
pub(crate) struct SlotState {
    /// The last seq moved to `ready` (0 = none).
    delivered: u64,
    /// `delivered` at creation: events up to it were never meant for this slot.
    origin: u64,
    ready: VecDeque<Event>,
    pending: BTreeMap<u64, Event>,
    /// Output bytes in `ready` (deliverable now). `pending` is not counted: it waits for a hole
    /// that only further reading can fill, so it must never hold the reader back.
    buffered_bytes: usize,
    /// Above this many buffered bytes, the connection's reader waits for the caller.
    max_buffered_bytes: usize,
    /// The connection's reader is waiting for this slot to drain below the budget.
    reader_waiting: bool,
    /// The handle was dropped: nobody will drain this slot, so it never holds the reader.
    abandoned: bool,
    /// The queue may be missing events (attach, reconnect): pull before waiting.
    behind: bool,
    /// Counts the moments something may have been missed, so a pull that raced with one does
    /// not clear `behind`.
    epoch: u64,
    exit_delivered: bool,
    closed_delivered: bool,
    failure: Option<String>,
    /// `Failed` (or the end) was handed out.
    finished: bool,
    /// The server's `sandboxDenied` for the exit, from `process/exited` or a read that saw it.
    sandbox_denied: Option<bool>,
}

impl SlotState {
    /// A slot that has delivered everything up to `delivered`; `behind` when it must first ask
    /// the server (attach to an existing process).
    pub(crate) fn new(delivered: u64, behind: bool, max_buffered_bytes: usize) -> SlotState {
        SlotState {
            delivered,
            origin: delivered,
            ready: VecDeque::new(),
            pending: BTreeMap::new(),
            buffered_bytes: 0,
            max_buffered_bytes,
            reader_waiting: false,
            abandoned: false,
            behind,
            epoch: 0,
            exit_delivered: false,
            closed_delivered: false,
            failure: None,
            finished: false,
            sandbox_denied: None,
        }
    }

    /// The server's `sandboxDenied` verdict, once the exit is known.
    pub(crate) fn sandbox_denied(&self) -> Option<bool> {
        self.sandbox_denied
    }

    /// Records the `sandboxDenied` of a read that saw the exit (while running it says nothing).
    pub(crate) fn note_read_verdict(&mut self, read: &ProcessReadResponse) {
        if read.exited && read.sandbox_denied.is_some() {
            self.sandbox_denied = read.sandbox_denied;
        }
    }

    /// The last seq handed to the queue.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    fn mark_behind(&mut self) {
        self.behind = true;
        self.epoch += 1;
    }

    fn fail(&mut self, reason: &str) {
        if !self.closed_delivered && self.failure.is_none() {
            self.failure = Some(reason.to_owned());
        }
    }

    /// A pushed event; returns whether the consumer should be woken.
    pub(crate) fn push(&mut self, event: Event) -> bool {
        let seq = event.seq().get();
        if self.closed_delivered || self.failure.is_some() || seq <= self.delivered {
            return false;
        }
        if seq == self.delivered + 1 && self.pending.is_empty() {
            // In order (every event from our server): straight to `ready`, no map node.
            self.accept(event);
            return true;
        }
        self.pending.insert(seq, event);
        self.drain()
    }

    /// Moves the next event in seq order to `ready`. Returns whether it was `closed`.
    fn accept(&mut self, event: Event) -> bool {
        self.delivered = event.seq().get();
        match &event {
            Event::Exited { .. } => self.exit_delivered = true,
            Event::Closed { .. } => self.closed_delivered = true,
            Event::Output(chunk) => self.buffered_bytes += chunk.data.len(),
            Event::Gap { .. } | Event::Failed { .. } => {}
        }
        self.ready.push_back(event);
        self.closed_delivered
    }

    /// Whether more output is buffered than the budget allows.
    pub(crate) fn over_budget(&self) -> bool {
        self.buffered_bytes > self.max_buffered_bytes
    }

    fn unbuffer(&mut self, event: &Event) {
        if let Event::Output(chunk) = event {
            self.buffered_bytes -= chunk.data.len();
        }
    }

    /// Moves contiguous events from `pending` to `ready`; returns whether any moved.
    fn drain(&mut self) -> bool {
        let mut moved = false;
        while let Some(entry) = self.pending.first_entry() {
            let seq = *entry.key();
            if seq <= self.delivered {
                entry.remove();
                continue;
            }
            if seq != self.delivered + 1 {
                break;
            }
            let event = entry.remove();
            let closed = self.accept(event);
            moved = true;
            if closed {
                // Nothing can follow `closed`.
                self.pending.clear();
                break;
            }
        }
        moved
    }

    /// What the consumer should do next.
    pub(crate) fn next(&mut self) -> Next {
        if let Some(event) = self.ready.pop_front() {
            self.unbuffer(&event);
            return Next::Event(event);
        }
        if self.finished || self.closed_delivered {
            self.finished = true;
            return Next::End;
        }
        if let Some(reason) = self.failure.clone() {
            self.finished = true;
            return Next::Event(Event::Failed { next_seq: Seq::new(self.delivered + 1), reason });
        }
        if self.behind { Next::Pull { after: self.delivered, epoch: self.epoch } } else { Next::Wait }
    }

    /// Merges the answer to a `process/read {afterSeq: after}` issued at `epoch`.
    ///
    /// Chunks fill the queue. When the read returned nothing new, the seqs still missing below
    /// `nextSeq` can only be the exit and the close (the read reports those as flags, without
    /// their seqs), and are filled in; anything else is a gap that is reported, not spliced.
    /// Returns `Err(reason)` when the answer cannot be reconciled.
    pub(crate) fn merge_read(
        &mut self,
        after: u64,
        epoch: u64,
        read: ProcessReadResponse,
    ) -> Result<(), String> {
        self.note_read_verdict(&read);
        if self.delivered != after || self.finished {
            // Another path moved the cursor meanwhile (a push); the next pull starts afresh.
            return Ok(());
        }
        if let Some(dropped_before) = read.dropped_before
            && dropped_before > self.delivered + 1
        {
            self.ready.push_back(Event::Gap { dropped_before: Seq::new(dropped_before) });
            self.delivered = dropped_before - 1;
        }
        let mut new_chunks = 0;
        let returned_any = read.chunks.iter().any(|chunk| chunk.seq > after);
        for chunk in read.chunks {
            if chunk.seq > self.delivered && !self.pending.contains_key(&chunk.seq) {
                new_chunks += 1;
                let event = Event::Output(OutputChunk {
                    seq: Seq::new(chunk.seq),
                    stream: from_wire::stream(chunk.stream),
                    data: bytes::Bytes::from(chunk.chunk.into_vec()),
                });
                self.pending.insert(chunk.seq, event);
            }
        }
        self.drain();
        let exit_known =
            self.exit_delivered || self.pending.values().any(|event| matches!(event, Event::Exited { .. }));

        // Holes below the highest known seq: the exit (a read reports it only as a flag), or
        // output the server no longer has.
        if let Some(&top) = self.pending.keys().next_back() {
            let holes: Vec<u64> =
                (self.delivered + 1..top).filter(|seq| !self.pending.contains_key(seq)).collect();
            if holes.len() == 1 && read.exited && !exit_known {
                let status = from_wire::exit_status(read.exit_code.unwrap_or(-1), read.signal);
                self.pending.insert(holes[0], Event::Exited { seq: Seq::new(holes[0]), status });
                self.drain();
            } else if new_chunks == 0 {
                // A second look shows the same hole: a server without `droppedBefore` shows
                // eviction as a jump in seqs. Report it; never splice over it.
                let first = *self.pending.keys().next().expect("pending is not empty");
                self.ready.push_back(Event::Gap { dropped_before: Seq::new(first) });
                self.delivered = first - 1;
                self.drain();
            }
        }
        if returned_any || !self.pending.is_empty() {
            // `nextSeq` of a read that returned chunks says nothing about what follows them:
            // pull again until a read brings nothing new.
            return Ok(());
        }

        // Everything up to the read's `nextSeq` (the next unassigned seq) is accounted for but
        // the exit and the close, which the read reports as flags: they take the missing seqs.
        let missing: Vec<u64> = (self.delivered + 1..read.next_seq).collect();
        // A slot attached after some seq may have started past the exit.
        let wants_exit =
            read.exited && !exit_known && !(self.origin > 0 && missing.len() == usize::from(read.closed));
        let wants_close = read.closed;
        if missing.len() != usize::from(wants_exit) + usize::from(wants_close) {
            if missing.is_empty() {
                if read.closed {
                    // Every seq up to the close was delivered before this slot began (an attach
                    // after the end): nothing more will come.
                    self.end();
                }
                self.settle(epoch);
                return Ok(());
            }
            return Err(format!(
                "cannot account for seqs {missing:?} after seq {} (the server lost events)",
                self.delivered
            ));
        }
        let mut seqs = missing.into_iter();
        if wants_exit {
            let seq = seqs.next().expect("counted above");
            let status = from_wire::exit_status(read.exit_code.unwrap_or(-1), read.signal);
            self.pending.insert(seq, Event::Exited { seq: Seq::new(seq), status });
        }
        if wants_close {
            let seq = seqs.next().expect("counted above");
            self.pending.insert(seq, Event::Closed { seq: Seq::new(seq) });
        }
        self.drain();
        self.settle(epoch);
        Ok(())
    }

    /// Merges the inline answer of `process/start {wait}` into a new slot. That answer holds every
    /// event below its `nextSeq` (notifications start there): each seq that is not a chunk is
    /// the close (`closed`: always the last, `nextSeq - 1`) or the exit (`exited`), which may come
    /// before the last chunks. `Err` when the seqs do not add up (the caller then pulls).
    pub(crate) fn merge_inline(&mut self, read: ProcessReadResponse) -> Result<(), String> {
        self.note_read_verdict(&read);
        if self.finished || self.closed_delivered || read.dropped_before.is_some() {
            return Err("the inline answer is incomplete".to_owned());
        }
        // Checked whole before anything is added: a refused answer leaves the slot as it was.
        let mut answered = BTreeMap::new();
        for chunk in read.chunks {
            if chunk.seq > self.delivered && chunk.seq < read.next_seq {
                let event = Event::Output(OutputChunk {
                    seq: Seq::new(chunk.seq),
                    stream: from_wire::stream(chunk.stream),
                    data: bytes::Bytes::from(chunk.chunk.into_vec()),
                });
                answered.insert(chunk.seq, event);
            }
        }
        let mut missing: Vec<u64> = (self.delivered + 1..read.next_seq)
            .filter(|seq| !answered.contains_key(seq) && !self.pending.contains_key(seq))
            .collect();
        if read.closed {
            match missing.pop() {
                Some(seq) if seq + 1 == read.next_seq => {
                    answered.insert(seq, Event::Closed { seq: Seq::new(seq) });
                }
                _ => return Err(format!("no seq left for the close below {}", read.next_seq)),
            }
        }
        if read.exited {
            let Some(seq) = missing.pop() else {
                return Err(format!("no seq left for the exit below {}", read.next_seq));
            };
            let status = from_wire::exit_status(read.exit_code.unwrap_or(-1), read.signal);
            answered.insert(seq, Event::Exited { seq: Seq::new(seq), status });
        }
        if !missing.is_empty() {
            return Err(format!("cannot account for seqs {missing:?} of the inline answer"));
        }
        self.pending.extend(answered);
        self.drain();
        Ok(())
    }

    /// A pull brought nothing new: unless something was missed since it was issued, the queue is
    /// complete and pushes can be trusted again.
    fn settle(&mut self, epoch: u64) {
        if self.epoch == epoch {
            self.behind = false;
        }
    }

    /// Marks the stream as over without an event (the process closed before an attach).
    pub(crate) fn end(&mut self) {
        self.closed_delivered = true;
    }
}

#[cfg(test)]
mod tests {
    use exec_engine::{ExitStatus, StreamKind};
    use exec_protocol::ByteChunk;
    use exec_protocol::process::{OutputChunk as WireChunk, Stream};

    use std::future::Future;
    use std::task::Poll;

    use super::*;

    fn output(seq: u64, text: &str) -> Event {
        Event::Output(OutputChunk {
            seq: Seq::new(seq),
            stream: StreamKind::Stdout,
            data: bytes::Bytes::copy_from_slice(text.as_bytes()),
        })
    }

    /// Race B: `ProcessHandle::drop` abandons its slot, then drops its `Arc` a moment later. A
    /// reader that looks in between must not wait: nothing would ever wake it, and the
    /// connection would stop reading for every process.
    #[tokio::test]
    async fn a_reader_that_looks_between_abandon_and_the_handles_drop_does_not_wait() {
        let slot = Slot::new("p".to_owned(), SlotState::new(0, false, 4));
        let handle_side = Arc::clone(&slot);
        assert!(slot.push(output(1, "far more than four bytes"), None), "over budget");
        handle_side.abandon();
        let drained = slot.drained();
        tokio::pin!(drained);
        let first = std::future::poll_fn(|context| Poll::Ready(drained.as_mut().poll(context))).await;
        drop(handle_side);
        if first.is_pending() {
            let woken = tokio::time::timeout(std::time::Duration::from_secs(5), drained).await;
            assert!(woken.is_ok(), "the reader waits on a slot whose handle is gone");
        }
    }

    fn drain_ready(state: &mut SlotState) -> Vec<u64> {
        let mut seqs = Vec::new();
        while let Next::Event(event) = state.next() {
            seqs.push(event.seq().get());
        }
        seqs
    }

    fn read(chunks: &[(u64, &str)], next_seq: u64, exited: bool, closed: bool) -> ProcessReadResponse {
        ProcessReadResponse {
            chunks: chunks
                .iter()
                .map(|(seq, text)| WireChunk {
                    seq: *seq,
                    stream: Stream::Stdout,
                    chunk: ByteChunk::from(text.as_bytes()),
                })
                .collect(),
            next_seq,
            exited,
            exit_code: exited.then_some(0),
            closed,
            failure: None,
            dropped_before: None,
            signal: None,
            sandbox_denied: None,
        }
    }

    #[test]
    fn reorders_pushes_by_seq() {
        let mut state = SlotState::new(0, false, 1 << 20);
        assert!(!state.push(Event::Exited { seq: Seq::new(3), status: ExitStatus::Code(0) }));
        assert!(!state.push(output(2, "b")));
        assert!(state.push(output(1, "a")));
        assert!(state.push(Event::Closed { seq: Seq::new(4) }));
        assert!(!state.push(output(2, "duplicate")));
        assert_eq!(drain_ready(&mut state), [1, 2, 3, 4]);
        assert_eq!(state.next(), Next::End);
    }

    #[test]
    fn over_budget_is_reported_and_cleared_by_taking() {
        let mut state = SlotState::new(0, false, 4);
        assert!(state.push(output(1, "abc")));
        assert!(!state.over_budget());
        assert!(state.push(output(2, "def")), "kept, not dropped");
        assert!(state.over_budget());
        assert_eq!(state.next(), Next::Event(output(1, "abc")));
        assert!(!state.over_budget());
        assert_eq!(drain_ready(&mut state), [2]);
        assert_eq!(state.next(), Next::Wait);
    }

    #[test]
    fn a_pull_racing_with_a_reconnect_does_not_clear_behind() {
        let mut state = SlotState::new(0, true, 4);
        let Next::Pull { after: 0, epoch } = state.next() else { panic!("must pull") };
        state.mark_behind();
        state.merge_read(0, epoch, read(&[], 1, false, false)).unwrap();
        assert!(matches!(state.next(), Next::Pull { .. }));
    }

    #[test]
    fn fills_in_exit_and_close_from_flags() {
        let mut state = SlotState::new(0, true, 1 << 20);
        let Next::Pull { after: 0, epoch } = state.next() else { panic!() };
        state.merge_read(0, epoch, read(&[(1, "x")], 2, true, true)).unwrap();
        assert_eq!(drain_ready(&mut state), [1]);
        let Next::Pull { after: 1, epoch } = state.next() else { panic!() };
        state.merge_read(1, epoch, read(&[], 4, true, true)).unwrap();
        let mut events = Vec::new();
        while let Next::Event(event) = state.next() {
            events.push(event);
        }
        assert_eq!(
            events,
            [
                Event::Exited { seq: Seq::new(2), status: ExitStatus::Code(0) },
                Event::Closed { seq: Seq::new(3) }
            ]
        );
        assert_eq!(state.next(), Next::End);
    }

    /// The inline answer of `process/start {wait}` is a complete prefix: its holes are the exit
    /// and (last) the close, wherever the exit fell among the chunks, and pushes continue it.
    #[test]
    fn an_inline_answer_fills_the_queue_up_to_its_next_seq() {
        let check = |answer: ProcessReadResponse, pushes: Vec<Event>, expected: &[u64]| {
            let mut state = SlotState::new(0, false, 1 << 20);
            for event in pushes {
                state.push(event);
            }
            state.merge_inline(answer).unwrap();
            let mut events = Vec::new();
            while let Next::Event(event) = state.next() {
                events.push(event);
            }
            let seqs: Vec<u64> = events.iter().map(|event| event.seq().get()).collect();
            assert_eq!(seqs, expected, "{events:?}");
            events
        };
        // Closed: output 1, exited 2, closed 3.
        let events = check(read(&[(1, "hi")], 4, true, true), vec![], &[1, 2, 3]);
        assert_eq!(events[1], Event::Exited { seq: Seq::new(2), status: ExitStatus::Code(0) });
        assert_eq!(events[2], Event::Closed { seq: Seq::new(3) });
        // The exit numbered before the last output: exited 1, output 2, closed 3.
        let events = check(read(&[(2, "late")], 4, true, true), vec![], &[1, 2, 3]);
        assert!(matches!(events[0], Event::Exited { .. }));
        // Cut by a budget: output 1; then a push that raced ahead of the merge, and one after.
        check(read(&[(1, "a")], 2, false, false), vec![output(2, "b")], &[1, 2]);
        // Exited but not closed: the one hole is the exit; the close comes as a push.
        check(
            read(&[(1, "a")], 3, true, false),
            vec![Event::Closed { seq: Seq::new(4) }, output(3, "b")],
            &[1, 2, 3, 4],
        );
        // Nothing yet.
        check(read(&[], 1, false, false), vec![output(1, "a")], &[1]);
    }

    #[test]
    fn an_inline_answer_that_does_not_add_up_leaves_the_slot_untouched() {
        let mut state = SlotState::new(0, false, 1 << 20);
        assert!(state.merge_inline(read(&[(1, "a")], 4, true, false)).is_err(), "two holes, one exit");
        assert!(state.merge_inline(read(&[(1, "a")], 3, false, false)).is_err(), "a hole and no flag");
        assert!(
            state.merge_inline(read(&[(1, "a"), (2, "b")], 3, false, true)).is_err(),
            "no seq for the close"
        );
        assert_eq!(state.next(), Next::Wait);
    }

    #[test]
    fn exit_between_chunks_is_placed_in_its_hole() {
        let mut state = SlotState::new(0, true, 1 << 20);
        let Next::Pull { after: 0, epoch } = state.next() else { panic!() };
        // Output 1, exited 2, output 3 (buffered in the pipe), closed 4.
        state.merge_read(0, epoch, read(&[(1, "a"), (3, "b")], 4, true, true)).unwrap();
        assert_eq!(drain_ready(&mut state), [1, 2, 3]);
        let Next::Pull { after: 3, epoch } = state.next() else { panic!() };
        state.merge_read(3, epoch, read(&[], 5, true, true)).unwrap();
        assert_eq!(drain_ready(&mut state), [4]);
        assert_eq!(state.next(), Next::End);
    }

    #[test]
    fn attach_after_the_close_ends_at_once() {
        let mut state = SlotState::new(5, true, 1 << 20);
        let Next::Pull { after: 5, epoch } = state.next() else { panic!() };
        state.merge_read(5, epoch, read(&[], 6, true, true)).unwrap();
        assert_eq!(state.next(), Next::End);
    }

    #[test]
    fn gap_is_reported_not_spliced() {
        let mut state = SlotState::new(0, true, 1 << 20);
        let Next::Pull { after: 0, epoch } = state.next() else { panic!() };
        let mut answer = read(&[(5, "late")], 6, false, false);
        answer.dropped_before = Some(5);
        state.merge_read(0, epoch, answer).unwrap();
        assert_eq!(state.next(), Next::Event(Event::Gap { dropped_before: Seq::new(5) }));
        assert_eq!(drain_ready(&mut state), [5]);
    }

    #[test]
    fn seq_jump_is_a_gap() {
        let mut state = SlotState::new(0, true, 1 << 20);
        let Next::Pull { after: 0, epoch } = state.next() else { panic!() };
        state.merge_read(0, epoch, read(&[(3, "c")], 4, false, false)).unwrap();
        let Next::Pull { after: 0, epoch } = state.next() else { panic!() };
        state.merge_read(0, epoch, read(&[(3, "c")], 4, false, false)).unwrap();
        assert_eq!(state.next(), Next::Event(Event::Gap { dropped_before: Seq::new(3) }));
        assert_eq!(drain_ready(&mut state), [3]);
    }

    #[test]
    fn unexplained_hole_is_an_error() {
        let mut state = SlotState::new(0, true, 1 << 20);
        let Next::Pull { after: 0, epoch } = state.next() else { panic!() };
        assert!(state.merge_read(0, epoch, read(&[], 3, false, false)).is_err());
    }

    #[test]
    fn output_frames_from_our_encoder_take_the_one_pass_path() {
        let routes = Routes::default();
        let slot = Slot::new("p1".to_owned(), SlotState::new(0, false, 1 << 20));
        routes.register(&slot);
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut frame = Vec::new();
        exec_protocol::fast::write_output_notification(&mut frame, "p1", 1, Stream::Stderr, &data);
        assert_eq!(routes.route_output_frame(&frame).map(|over| over.len()), Some(0));
        let expected =
            Event::Output(OutputChunk { seq: Seq::new(1), stream: StreamKind::Stderr, data: data.into() });
        assert_eq!(slot.lock().next(), Next::Event(expected));
        // Anything else (an id with escapes, another method, another key order) goes the general
        // way.
        let mut escaped = Vec::new();
        exec_protocol::fast::write_output_notification(&mut escaped, "p\"1", 1, Stream::Stderr, b"hi");
        assert!(routes.route_output_frame(&escaped).is_none());
        assert!(routes.route_output_frame(br#"{"method":"process/output","params":{}}"#).is_none());
        assert!(routes.route_output_frame(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).is_none());
    }

    #[test]
    fn binary_output_frames_are_routed_like_json_ones_without_a_copy() {
        let routes = Routes::default();
        let slot = Slot::new("p".to_owned(), SlotState::new(0, false, 1 << 20));
        routes.register(&slot);
        let mut frame = Vec::new();
        exec_protocol::binary::encode_output_into(&mut frame, "p", 1, Stream::Pty, b"raw\0bytes").unwrap();
        let frame = bytes::Bytes::from(frame);
        assert_eq!(routes.route_binary_output(&frame).map(|over| over.len()), Some(0));
        let Next::Event(Event::Output(chunk)) = slot.lock().next() else { panic!("an output event") };
        assert_eq!(
            (chunk.seq.get(), chunk.stream, &chunk.data[..]),
            (1, StreamKind::Pty, &b"raw\0bytes"[..])
        );
        assert_eq!(chunk.data.as_ptr(), frame[frame.len() - 9..].as_ptr(), "a slice of the frame");
        // A truncated frame is dropped; JSON in a Binary frame is left to the JSON path.
        assert_eq!(routes.route_binary_output(&frame.slice(..5)).map(|over| over.len()), Some(0));
        assert!(routes.route_binary_output(&bytes::Bytes::from_static(b"{}")).is_none());
        assert_eq!(slot.lock().next(), Next::Wait);
    }

    #[test]
    fn failure_comes_after_queued_events() {
        let mut state = SlotState::new(0, false, 1 << 20);
        state.push(output(1, "a"));
        state.fail("gone");
        assert_eq!(state.next(), Next::Event(output(1, "a")));
        assert_eq!(
            state.next(),
            Next::Event(Event::Failed { next_seq: Seq::new(2), reason: "gone".to_owned() })
        );
        assert_eq!(state.next(), Next::End);
    }
}
