//! The sans-I/O core of output retention: one process's event log with seqs, bounded bytes,
//! eviction, read cursors and subscriber cursors.
//!
//! [`Retention`] is a plain data structure. It never blocks, sleeps or touches a file
//! descriptor; the reader tasks, `read` and [`Subscription`](crate::Subscription) wrap it
//! behind a mutex and decide when to wait. That keeps every rule about seqs, eviction, gaps and
//! flow control testable without processes (see the tests at the bottom).
//!
//! Rules:
//! - One seq counter per process shared by output, the exit and the close, starting at 1.
//! - Output bytes retained ≤ `limit`, except that one chunk larger than the limit is kept whole.
//! - Eviction is oldest first and only of output chunks; the exit and close are kept as fields.
//! - A chunk that some subscriber cursor has not passed is never evicted: [`Retention::push_output`]
//!   refuses the new chunk instead ([`Push::Full`]) and the producer waits (flow control).
//! - With a shared [`RetentionBudget`] attached (the engine attaches one to every process), the
//!   bytes of every log count against one global limit too. A push that passes it wakes the
//!   engine's reclaimer, which evicts the output of closed processes first (then consumed output
//!   of the others) down to 7/8 of the limit. Only past a ceiling of 9/8 of the limit (the
//!   reclaimer fell behind) does a push evict this log's own consumed chunks, like a push past
//!   its own limit. Unconsumed output of a subscribed log is never evicted for it: if
//!   the log holds such a chunk the push is refused and the producer waits; if it holds none,
//!   the chunk is stored above the global limit (by at most one chunk per process), so a
//!   producer never waits for space only other processes can free.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use crate::ids::Seq;
use crate::types::{Event, ExitStatus, OutputChunk, ReadOutcome, StreamKind, SubscribeFrom};

/// Identifies a subscriber cursor within one [`Retention`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct CursorId(u64);

/// Who created a cursor: the session attachment generation, so that all cursors of an
/// attachment stop holding back the producer when it detaches or is taken over.
pub(crate) type CursorOwner = u64;

#[derive(Debug)]
struct Cursor {
    /// Every seq ≤ this has been delivered (or skipped as a gap).
    delivered: u64,
    owner: CursorOwner,
}

/// The result of [`Retention::push_output`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push {
    /// Stored under this seq.
    Stored(Seq),
    /// Storing would evict a chunk a subscriber has not consumed: try again after a subscriber
    /// advances. The data is handed back.
    Full(Bytes),
}

/// The result of [`Retention::next_event`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The next event in seq order; the cursor moved past it.
    Event(Event),
    /// Nothing new yet: wait for a change.
    Pending,
    /// The close was delivered, or the cursor was removed: the subscription is over.
    Finished,
}

/// Retained output bytes across every log it is attached to, against one limit.
///
/// Plain atomics and a [`tokio::sync::Notify`] (which wakes without blocking): the logs update
/// it under their own locks, and the engine's reclaimer waits on `over` to evict.
#[derive(Debug)]
pub(crate) struct RetentionBudget {
    limit: usize,
    used: AtomicUsize,
    /// Notified when a push found the budget exceeded.
    pub(crate) over: tokio::sync::Notify,
}

impl RetentionBudget {
    pub(crate) fn new(limit: usize) -> RetentionBudget {
        RetentionBudget { limit, used: AtomicUsize::new(0), over: tokio::sync::Notify::new() }
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// What the reclaimer evicts down to once the limit is passed: 7/8 of it, so that it does
    /// not run again for every chunk.
    pub(crate) fn reclaim_target(&self) -> usize {
        self.limit - self.limit / 8
    }

    fn add(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    fn sub(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Whether `more` bytes would pass the limit.
    fn would_exceed(&self, more: usize) -> bool {
        self.used().saturating_add(more) > self.limit
    }
}

/// One process's retained events. See the module docs for the rules.
#[derive(Debug)]
pub(crate) struct Retention {
    limit: usize,
    /// The global budget these bytes also count against, once attached.
    budget: Option<Arc<RetentionBudget>>,
    /// Retained output chunks, seq ascending (not contiguous: exit/close take seqs too).
    chunks: VecDeque<OutputChunk>,
    retained_bytes: usize,
    /// The next unassigned seq.
    next_seq: u64,
    /// The seq of the newest evicted chunk, 0 when nothing was evicted.
    last_evicted: u64,
    exit: Option<(u64, ExitStatus)>,
    closed: Option<u64>,
    cursors: HashMap<CursorId, Cursor>,
    next_cursor: u64,
    /// Output bytes stored so far, by stream (stdout, stderr, PTY), evicted or not.
    output_bytes: [u64; 3],
    /// Set when a push was refused; cleared (and reported) by the next cursor movement, which
    /// tells the caller to wake the producer.
    producer_blocked: bool,
}

impl Retention {
    pub(crate) fn new(limit: usize) -> Retention {
        Retention {
            limit,
            budget: None,
            chunks: VecDeque::new(),
            retained_bytes: 0,
            next_seq: 1,
            last_evicted: 0,
            exit: None,
            closed: None,
            cursors: HashMap::new(),
            next_cursor: 0,
            output_bytes: [0; 3],
            producer_blocked: false,
        }
    }

    pub(crate) fn next_seq(&self) -> Seq {
        Seq::new(self.next_seq)
    }

    pub(crate) fn exit(&self) -> Option<ExitStatus> {
        self.exit.map(|(_, status)| status)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    #[cfg(test)]
    pub(crate) fn retained_bytes(&self) -> usize {
        self.retained_bytes
    }

    /// Counts this log's bytes (those held now and every later change) against `budget`.
    pub(crate) fn attach_budget(&mut self, budget: Arc<RetentionBudget>) {
        if let Some(old) = self.budget.take() {
            old.sub(self.retained_bytes);
        }
        budget.add(self.retained_bytes);
        self.budget = Some(budget);
    }

    fn over_global(&self, more: usize) -> bool {
        self.budget.as_ref().is_some_and(|budget| budget.would_exceed(more))
    }

    /// Past the budget's hard ceiling (the limit plus an eighth): the reclaimer, which evicts
    /// closed processes' output first, has fallen behind, and this log must evict its own.
    fn over_global_ceiling(&self, more: usize) -> bool {
        self.budget
            .as_ref()
            .is_some_and(|budget| budget.used().saturating_add(more) > budget.limit + budget.limit / 8)
    }

    fn evict_front(&mut self) {
        let evicted = self.chunks.pop_front().expect("front exists");
        self.retained_bytes -= evicted.data.len();
        self.last_evicted = evicted.seq.get();
        if let Some(budget) = &self.budget {
            budget.sub(evicted.data.len());
        }
    }

    /// The seq every cursor has passed (`u64::MAX` without cursors): chunks up to it may go.
    fn consumed_floor(&self) -> u64 {
        self.cursors.values().map(|cursor| cursor.delivered).min().unwrap_or(u64::MAX)
    }

    /// Evicts consumed chunks, oldest first, until the global budget has `target` bytes in use
    /// or less, or nothing more may go. Returns the bytes freed. The reclaimer's tool.
    pub(crate) fn evict_consumed_until(&mut self, target: usize) -> usize {
        let floor = self.consumed_floor();
        let mut freed = 0;
        while self.budget.as_ref().is_some_and(|budget| budget.used() > target) {
            let Some(front) = self.chunks.front() else { break };
            if front.seq.get() > floor {
                break;
            }
            freed += front.data.len();
            self.evict_front();
        }
        freed
    }

    fn assign_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Appends an output chunk, evicting the oldest chunks that every cursor has passed.
    /// Empty data is stored too (callers should not send it).
    pub(crate) fn push_output(&mut self, stream: StreamKind, data: Bytes) -> Push {
        debug_assert!(self.closed.is_none(), "output after close");
        let floor = self.consumed_floor();
        if self.over_global(data.len())
            && let Some(budget) = &self.budget
        {
            budget.over.notify_one();
        }
        while self.retained_bytes + data.len() > self.limit || self.over_global_ceiling(data.len()) {
            let Some(front) = self.chunks.front() else { break };
            if front.seq.get() > floor {
                self.producer_blocked = true;
                return Push::Full(data);
            }
            self.evict_front();
        }
        let seq = Seq::new(self.assign_seq());
        self.retained_bytes += data.len();
        let stream_index = match stream {
            StreamKind::Stdout => 0,
            StreamKind::Stderr => 1,
            StreamKind::Pty => 2,
        };
        self.output_bytes[stream_index] += data.len() as u64;
        if let Some(budget) = &self.budget {
            budget.add(data.len());
        }
        self.chunks.push_back(OutputChunk { seq, stream, data });
        Push::Stored(seq)
    }

    /// Records the exit. Only the first call counts.
    pub(crate) fn push_exit(&mut self, status: ExitStatus) -> Seq {
        if let Some((seq, _)) = self.exit {
            return Seq::new(seq);
        }
        let seq = self.assign_seq();
        self.exit = Some((seq, status));
        Seq::new(seq)
    }

    /// Records the close (exit and EOF on every stream). Only the first call counts.
    pub(crate) fn push_closed(&mut self) -> Seq {
        if let Some(seq) = self.closed {
            return Seq::new(seq);
        }
        let seq = self.assign_seq();
        self.closed = Some(seq);
        Seq::new(seq)
    }

    /// The last (at most) `max_bytes` of retained output, all streams, oldest first.
    pub(crate) fn tail(&self, max_bytes: usize) -> Vec<u8> {
        let mut pieces = Vec::new();
        let mut total = 0;
        for chunk in self.chunks.iter().rev() {
            if total >= max_bytes {
                break;
            }
            let take = chunk.data.len().min(max_bytes - total);
            pieces.push(&chunk.data[chunk.data.len() - take..]);
            total += take;
        }
        pieces.iter().rev().flat_map(|piece| piece.iter().copied()).collect()
    }

    /// Chunks after `after` (None = from the start) within `max_bytes`.
    pub(crate) fn read(&self, after: Option<Seq>, max_bytes: Option<usize>) -> ReadOutcome {
        let after = after.map_or(0, Seq::get);
        let start = self.chunks.partition_point(|chunk| chunk.seq.get() <= after);
        let budget = max_bytes.unwrap_or(usize::MAX);
        let mut chunks = Vec::new();
        let mut total = 0usize;
        for chunk in self.chunks.range(start..) {
            if !chunks.is_empty() && total.saturating_add(chunk.data.len()) > budget {
                break;
            }
            total += chunk.data.len();
            chunks.push(chunk.clone());
        }
        let reached_end = start + chunks.len() == self.chunks.len();
        let next_seq = chunks.last().map_or(self.next_seq, |chunk| chunk.seq.get() + 1);
        ReadOutcome {
            next_seq: Seq::new(next_seq),
            exit: self.exit(),
            closed: self.closed.is_some() && reached_end,
            failure: None,
            dropped_before: (self.last_evicted > after).then(|| Seq::new(self.last_evicted + 1)),
            chunks,
        }
    }

    /// Whether a `read` after `after` would return something or report the exit.
    pub(crate) fn read_is_ready(&self, after: Option<Seq>) -> bool {
        let after = after.map_or(0, Seq::get);
        self.exit.is_some()
            || self.closed.is_some()
            || self.chunks.back().is_some_and(|chunk| chunk.seq.get() > after)
    }

    /// Adds a subscriber cursor. From then on, chunks it has not consumed are not evicted.
    pub(crate) fn add_cursor(&mut self, from: SubscribeFrom, owner: CursorOwner) -> CursorId {
        let delivered = match from {
            SubscribeFrom::Start => 0,
            SubscribeFrom::Now => self.next_seq - 1,
            SubscribeFrom::After(seq) => seq.get(),
        };
        let id = CursorId(self.next_cursor);
        self.next_cursor += 1;
        self.cursors.insert(id, Cursor { delivered, owner });
        id
    }

    /// Removes a cursor. Returns true when the producer should be woken.
    #[must_use = "true means a producer waits for space and must be woken"]
    pub(crate) fn remove_cursor(&mut self, id: CursorId) -> bool {
        self.cursors.remove(&id);
        std::mem::take(&mut self.producer_blocked)
    }

    /// Removes every cursor of `owner`. Returns true when the producer should be woken.
    #[must_use = "true means a producer waits for space and must be woken"]
    pub(crate) fn remove_cursors_of(&mut self, owner: CursorOwner) -> bool {
        let before = self.cursors.len();
        self.cursors.retain(|_, cursor| cursor.owner != owner);
        before != self.cursors.len() && std::mem::take(&mut self.producer_blocked)
    }

    /// Output bytes stored so far: stdout, stderr, PTY.
    pub(crate) fn output_bytes(&self) -> [u64; 3] {
        self.output_bytes
    }

    /// How many subscriber cursors are open.
    pub(crate) fn cursor_count(&self) -> usize {
        self.cursors.len()
    }

    #[cfg(test)]
    pub(crate) fn has_cursor(&self, id: CursorId) -> bool {
        self.cursors.contains_key(&id)
    }

    /// The next event for a cursor, moving it. The second value is true when the producer
    /// should be woken (it was refused space and this cursor just moved).
    #[must_use = "the second value means a producer waits for space and must be woken"]
    pub(crate) fn next_event(&mut self, id: CursorId) -> (Step, bool) {
        let Some(cursor) = self.cursors.get(&id) else { return (Step::Finished, false) };
        let delivered = cursor.delivered;
        if self.closed.is_some_and(|closed| delivered >= closed) {
            return (Step::Finished, false);
        }
        let seq = delivered + 1;
        if seq >= self.next_seq {
            return (Step::Pending, false);
        }
        let (event, new_delivered) = if let Some(event) = self.event_at(seq) {
            (event, seq)
        } else {
            // The seq was an evicted chunk: skip to the first seq that still exists.
            let first_chunk = self.chunks.iter().map(|chunk| chunk.seq.get()).find(|&s| s > seq);
            let markers = [self.exit.map(|(s, _)| s), self.closed];
            let resume = first_chunk
                .into_iter()
                .chain(markers.into_iter().flatten().filter(|&s| s > seq))
                .min()
                .unwrap_or(self.next_seq);
            (Event::Gap { dropped_before: Seq::new(resume) }, resume - 1)
        };
        self.cursors.get_mut(&id).expect("cursor exists").delivered = new_delivered;
        (Step::Event(event), std::mem::take(&mut self.producer_blocked))
    }

    fn event_at(&self, seq: u64) -> Option<Event> {
        if let Some((exit_seq, status)) = self.exit
            && exit_seq == seq
        {
            return Some(Event::Exited { seq: Seq::new(seq), status });
        }
        if self.closed == Some(seq) {
            return Some(Event::Closed { seq: Seq::new(seq) });
        }
        let index = self.chunks.partition_point(|chunk| chunk.seq.get() < seq);
        self.chunks
            .get(index)
            .filter(|chunk| chunk.seq.get() == seq)
            .map(|chunk| Event::Output(chunk.clone()))
    }
}

impl Drop for Retention {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.sub(self.retained_bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(data: &str) -> Bytes {
        Bytes::copy_from_slice(data.as_bytes())
    }

    /// Renders a read as `seq:data ... next=N [exit=..] [closed] [dropped<N]`.
    fn render_read(outcome: &ReadOutcome) -> String {
        let mut parts: Vec<String> = outcome
            .chunks
            .iter()
            .map(|chunk| format!("{}:{}", chunk.seq, String::from_utf8_lossy(&chunk.data)))
            .collect();
        parts.push(format!("next={}", outcome.next_seq));
        if let Some(exit) = outcome.exit {
            parts.push(format!("exit={exit:?}"));
        }
        if outcome.closed {
            parts.push("closed".to_owned());
        }
        if let Some(dropped) = outcome.dropped_before {
            parts.push(format!("dropped<{dropped}"));
        }
        parts.join(" ")
    }

    fn render_events(log: &mut Retention, cursor: CursorId) -> String {
        let mut parts = Vec::new();
        loop {
            match log.next_event(cursor).0 {
                Step::Event(Event::Output(chunk)) => {
                    parts.push(format!("{}:{}", chunk.seq, String::from_utf8_lossy(&chunk.data)))
                }
                Step::Event(Event::Exited { seq, status }) => parts.push(format!("{seq}:exit={status:?}")),
                Step::Event(Event::Closed { seq }) => parts.push(format!("{seq}:closed")),
                Step::Event(Event::Gap { dropped_before }) => parts.push(format!("gap<{dropped_before}")),
                Step::Event(Event::Failed { reason, .. }) => parts.push(format!("failed:{reason}")),
                Step::Pending => {
                    parts.push("pending".to_owned());
                    break;
                }
                Step::Finished => {
                    parts.push("finished".to_owned());
                    break;
                }
            }
        }
        parts.join(" ")
    }

    /// A log with limit 10 holding "aaaa"(1) "bbbb"(2) exit(3) "cc"(4) closed(5).
    fn sample() -> Retention {
        let mut log = sample_open();
        assert_eq!(log.push_closed(), Seq::new(5));
        log
    }

    /// Like [`sample`] but not closed yet (a grandchild still holds a pipe).
    fn sample_open() -> Retention {
        let mut log = Retention::new(10);
        assert_eq!(log.push_output(StreamKind::Stdout, out("aaaa")), Push::Stored(Seq::new(1)));
        assert_eq!(log.push_output(StreamKind::Stderr, out("bbbb")), Push::Stored(Seq::new(2)));
        assert_eq!(log.push_exit(ExitStatus::Code(0)), Seq::new(3));
        assert_eq!(log.push_output(StreamKind::Stdout, out("cc")), Push::Stored(Seq::new(4)));
        log
    }

    #[track_caller]
    fn check_read(log: &Retention, after: Option<u64>, max: Option<usize>, expect: &str) {
        let outcome = log.read(after.map(Seq::new), max);
        assert_eq!(render_read(&outcome), expect);
    }

    #[test]
    fn read_cursor_and_budget() {
        let log = sample();
        check_read(&log, None, None, "1:aaaa 2:bbbb 4:cc next=5 exit=Code(0) closed");
        check_read(&log, Some(0), Some(1), "1:aaaa next=2 exit=Code(0)");
        check_read(&log, Some(0), Some(8), "1:aaaa 2:bbbb next=3 exit=Code(0)");
        check_read(&log, Some(0), Some(9), "1:aaaa 2:bbbb next=3 exit=Code(0)");
        check_read(&log, Some(0), Some(10), "1:aaaa 2:bbbb 4:cc next=5 exit=Code(0) closed");
        check_read(&log, Some(2), None, "4:cc next=5 exit=Code(0) closed");
        check_read(&log, Some(3), Some(0), "4:cc next=5 exit=Code(0) closed");
        check_read(&log, Some(4), None, "next=6 exit=Code(0) closed");
        check_read(&log, Some(99), None, "next=6 exit=Code(0) closed");
    }

    #[test]
    fn empty_log_reads_nothing_and_is_not_ready() {
        let log = Retention::new(10);
        check_read(&log, None, None, "next=1");
        assert!(!log.read_is_ready(None));
    }

    #[test]
    fn eviction_without_subscribers_reports_dropped_before() {
        let mut log = sample_open();
        // 4 + 4 + 2 = 10 bytes retained; 6 more evicts "aaaa" and "bbbb".
        assert_eq!(log.push_output(StreamKind::Stdout, out("dddddd")), Push::Stored(Seq::new(5)));
        assert_eq!(log.retained_bytes(), 8);
        check_read(&log, None, None, "4:cc 5:dddddd next=6 exit=Code(0) dropped<3");
        check_read(&log, Some(1), None, "4:cc 5:dddddd next=6 exit=Code(0) dropped<3");
        check_read(&log, Some(2), None, "4:cc 5:dddddd next=6 exit=Code(0)");
    }

    #[test]
    fn a_chunk_larger_than_the_limit_is_kept_whole() {
        let mut log = Retention::new(4);
        assert_eq!(log.push_output(StreamKind::Pty, out("ab")), Push::Stored(Seq::new(1)));
        assert_eq!(log.push_output(StreamKind::Pty, out("0123456789")), Push::Stored(Seq::new(2)));
        assert_eq!(log.retained_bytes(), 10);
        check_read(&log, None, None, "2:0123456789 next=3 dropped<2");
    }

    #[test]
    fn subscriber_replays_then_sees_live_events_in_order() {
        let mut log = Retention::new(100);
        log.push_output(StreamKind::Stdout, out("a"));
        let cursor = log.add_cursor(SubscribeFrom::Start, 1);
        assert_eq!(render_events(&mut log, cursor), "1:a pending");
        log.push_output(StreamKind::Stderr, out("b"));
        log.push_exit(ExitStatus::Signal(9));
        assert_eq!(render_events(&mut log, cursor), "2:b 3:exit=Signal(9) pending");
        log.push_closed();
        assert_eq!(render_events(&mut log, cursor), "4:closed finished");
    }

    #[test]
    fn subscribe_now_and_after() {
        let mut log = sample();
        let now = log.add_cursor(SubscribeFrom::Now, 1);
        assert_eq!(render_events(&mut log, now), "finished");
        let after = log.add_cursor(SubscribeFrom::After(Seq::new(2)), 1);
        assert_eq!(render_events(&mut log, after), "3:exit=Code(0) 4:cc 5:closed finished");
        let mut live = Retention::new(100);
        live.push_output(StreamKind::Stdout, out("old"));
        let now = live.add_cursor(SubscribeFrom::Now, 1);
        live.push_output(StreamKind::Stdout, out("new"));
        assert_eq!(render_events(&mut live, now), "2:new pending");
    }

    #[test]
    fn subscribing_from_an_evicted_seq_starts_with_a_gap() {
        let mut log = sample_open();
        log.push_output(StreamKind::Stdout, out("dddddd"));
        let cursor = log.add_cursor(SubscribeFrom::Start, 1);
        // 1 and 2 were evicted; the exit at 3 was not.
        assert_eq!(render_events(&mut log, cursor), "gap<3 3:exit=Code(0) 4:cc 5:dddddd pending");
        log.push_closed();
        assert_eq!(render_events(&mut log, cursor), "6:closed finished");
        let mut log = Retention::new(2);
        log.push_output(StreamKind::Stdout, out("aa"));
        log.push_output(StreamKind::Stdout, out("bb"));
        log.push_output(StreamKind::Stdout, out("cc"));
        let cursor = log.add_cursor(SubscribeFrom::After(Seq::new(1)), 1);
        assert_eq!(render_events(&mut log, cursor), "gap<3 3:cc pending");
    }

    #[test]
    fn lagging_subscriber_blocks_eviction_and_wakes_the_producer() {
        let mut log = Retention::new(4);
        let cursor = log.add_cursor(SubscribeFrom::Start, 1);
        assert_eq!(log.push_output(StreamKind::Stdout, out("aa")), Push::Stored(Seq::new(1)));
        assert_eq!(log.push_output(StreamKind::Stdout, out("bb")), Push::Stored(Seq::new(2)));
        assert_eq!(log.push_output(StreamKind::Stdout, out("cc")), Push::Full(out("cc")));
        // Consuming seq 1 makes it evictable and reports that the producer must be woken.
        let (step, wake) = log.next_event(cursor);
        assert!(matches!(step, Step::Event(Event::Output(_))));
        assert!(wake);
        assert_eq!(log.push_output(StreamKind::Stdout, out("cc")), Push::Stored(Seq::new(3)));
        check_read(&log, None, None, "2:bb 3:cc next=4 dropped<2");
        assert_eq!(render_events(&mut log, cursor), "2:bb 3:cc pending");
        // Nothing was refused since: no wake-up needed.
        assert_eq!(log.push_output(StreamKind::Stdout, out("dd")), Push::Stored(Seq::new(4)));
        assert!(!log.next_event(cursor).1);
    }

    #[test]
    fn removing_an_owners_cursors_releases_flow_control() {
        let mut log = Retention::new(2);
        let first = log.add_cursor(SubscribeFrom::Start, 7);
        let _second = log.add_cursor(SubscribeFrom::Start, 7);
        let other = log.add_cursor(SubscribeFrom::Now, 8);
        log.push_output(StreamKind::Stdout, out("aa"));
        assert_eq!(log.push_output(StreamKind::Stdout, out("bb")), Push::Full(out("bb")));
        assert!(log.remove_cursors_of(7));
        assert!(!log.has_cursor(first));
        assert_eq!(log.next_event(first).0, Step::Finished);
        // Owner 8's cursor subscribed `Now` after... no: before "aa", so it still holds "aa".
        assert_eq!(log.push_output(StreamKind::Stdout, out("bb")), Push::Full(out("bb")));
        assert!(log.remove_cursor(other));
        assert_eq!(log.push_output(StreamKind::Stdout, out("bb")), Push::Stored(Seq::new(2)));
    }

    #[test]
    fn exit_and_close_are_recorded_once() {
        let mut log = Retention::new(10);
        assert_eq!(log.push_exit(ExitStatus::Code(3)), Seq::new(1));
        assert_eq!(log.push_exit(ExitStatus::Code(4)), Seq::new(1));
        assert_eq!(log.push_closed(), Seq::new(2));
        assert_eq!(log.push_closed(), Seq::new(2));
        assert!(log.read_is_ready(Some(Seq::new(2))));
        check_read(&log, None, None, "next=3 exit=Code(3) closed");
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    fn bytes(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn the_global_budget_counts_every_log_and_is_given_back_on_drop() {
        let budget = Arc::new(RetentionBudget::new(10));
        let mut first = Retention::new(100);
        assert_eq!(first.push_output(StreamKind::Stdout, bytes(4)), Push::Stored(Seq::new(1)));
        first.attach_budget(Arc::clone(&budget));
        assert_eq!(budget.used(), 4);
        let mut second = Retention::new(100);
        second.attach_budget(Arc::clone(&budget));
        assert_eq!(second.push_output(StreamKind::Stdout, bytes(4)), Push::Stored(Seq::new(1)));
        assert_eq!(budget.used(), 8);
        // Past the global limit, a log without subscribers evicts its own oldest output.
        assert_eq!(second.push_output(StreamKind::Stdout, bytes(4)), Push::Stored(Seq::new(2)));
        assert_eq!(budget.used(), 8);
        assert_eq!(second.read(None, None).dropped_before, Some(Seq::new(2)));
        drop(second);
        assert_eq!(budget.used(), 4);
        // The reclaimer's tool: consumed chunks go down to a target.
        assert_eq!(first.evict_consumed_until(0), 4);
        assert_eq!(budget.used(), 0);
        assert_eq!(first.read(None, None).dropped_before, Some(Seq::new(2)));
    }

    #[test]
    fn unconsumed_output_of_a_subscribed_log_is_never_evicted_for_the_global_budget() {
        let budget = Arc::new(RetentionBudget::new(6));
        let mut other = Retention::new(100);
        other.attach_budget(Arc::clone(&budget));
        assert_eq!(other.push_output(StreamKind::Stdout, bytes(5)), Push::Stored(Seq::new(1)));
        let mut log = Retention::new(100);
        log.attach_budget(Arc::clone(&budget));
        let cursor = log.add_cursor(SubscribeFrom::Start, 1);
        // Holding nothing of its own, the log stores above the global limit (one chunk)...
        assert_eq!(log.push_output(StreamKind::Stdout, bytes(3)), Push::Stored(Seq::new(1)));
        // ...but with an unconsumed chunk of its own it waits instead of evicting it.
        assert_eq!(log.push_output(StreamKind::Stdout, bytes(3)), Push::Full(bytes(3)));
        assert_eq!(log.read(None, None).chunks.len(), 1);
        // Once the subscriber consumed it, the push evicts it and goes through.
        let (_, wake) = log.next_event(cursor);
        assert!(wake, "the waiting producer is woken");
        assert_eq!(log.push_output(StreamKind::Stdout, bytes(3)), Push::Stored(Seq::new(2)));
        assert_eq!(budget.used(), 8);
    }
}

/// Seqs, eviction, `dropped_before` and cursors against a model, over random operations.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Push(usize),
        Exit,
        Close,
        AddCursor { from_start: bool },
        Next(usize),
        RemoveCursor(usize),
        Read { after: u64, max: Option<usize> },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..9).prop_map(Op::Push),
            1 => Just(Op::Exit),
            1 => Just(Op::Close),
            1 => any::<bool>().prop_map(|from_start| Op::AddCursor { from_start }),
            4 => (0usize..4).prop_map(Op::Next),
            1 => (0usize..4).prop_map(Op::RemoveCursor),
            2 => ((0u64..40), proptest::option::of(0usize..20)).prop_map(|(after, max)| Op::Read { after, max }),
        ]
    }

    proptest! {
        #[test]
        fn retention_keeps_its_rules(ops in proptest::collection::vec(op(), 0..120)) {
            const LIMIT: usize = 16;
            let mut log = Retention::new(LIMIT);
            // The model: every output pushed (seq -> data), the next seq, exit and close seqs.
            let mut pushed: std::collections::BTreeMap<u64, Bytes> = Default::default();
            let mut next_seq = 1u64;
            let mut closed = false;
            // Live cursors: id, last seq delivered, newest seq evicted when it was added.
            let mut cursors: Vec<(CursorId, u64, u64)> = Vec::new();
            for op in ops {
                match op {
                    Op::Push(len) if !closed => {
                        let data = Bytes::from(vec![(next_seq % 251) as u8; len]);
                        match log.push_output(StreamKind::Stdout, data.clone()) {
                            Push::Stored(seq) => {
                                prop_assert_eq!(seq.get(), next_seq);
                                pushed.insert(next_seq, data);
                                next_seq += 1;
                            }
                            Push::Full(back) => {
                                prop_assert_eq!(back, data);
                                prop_assert!(!cursors.is_empty(), "only a cursor can refuse a push");
                            }
                        }
                    }
                    Op::Push(_) => {}
                    Op::Exit => {
                        let first = log.exit().is_none();
                        let seq = log.push_exit(ExitStatus::Code(0));
                        if first {
                            prop_assert_eq!(seq.get(), next_seq);
                            next_seq += 1;
                        }
                    }
                    Op::Close => {
                        if !closed {
                            prop_assert_eq!(log.push_closed().get(), next_seq);
                            next_seq += 1;
                            closed = true;
                        }
                    }
                    Op::AddCursor { from_start } => {
                        let from = if from_start { SubscribeFrom::Start } else { SubscribeFrom::Now };
                        let delivered = if from_start { 0 } else { next_seq - 1 };
                        let evicted = log.read(None, None).dropped_before.map_or(0, |seq| seq.get() - 1);
                        cursors.push((log.add_cursor(from, 1), delivered, evicted));
                    }
                    Op::Next(index) => {
                        if let Some((id, delivered, _)) = cursors.get_mut(index) {
                            match log.next_event(*id).0 {
                                Step::Event(Event::Output(chunk)) => {
                                    prop_assert!(chunk.seq.get() > *delivered, "in order, no duplicate");
                                    prop_assert_eq!(Some(&chunk.data), pushed.get(&chunk.seq.get()));
                                    *delivered = chunk.seq.get();
                                }
                                Step::Event(Event::Exited { seq, .. } | Event::Closed { seq }) => {
                                    prop_assert!(seq.get() > *delivered);
                                    *delivered = seq.get();
                                }
                                Step::Event(Event::Gap { dropped_before }) => {
                                    // Only output evicted before the cursor existed is skipped.
                                    prop_assert!(dropped_before.get() > *delivered + 1);
                                    *delivered = dropped_before.get() - 1;
                                }
                                Step::Event(Event::Failed { .. }) => prop_assert!(false, "no failures here"),
                                Step::Pending => prop_assert_eq!(*delivered + 1, next_seq),
                                Step::Finished => {
                                    prop_assert!(closed);
                                    cursors.remove(index);
                                }
                            }
                        }
                    }
                    Op::RemoveCursor(index) => {
                        if index < cursors.len() {
                            let (id, _, _) = cursors.remove(index);
                            let _wake = log.remove_cursor(id);
                        }
                    }
                    Op::Read { after, max } => {
                        let outcome = log.read(Some(Seq::new(after)), max);
                        let mut previous = after;
                        for chunk in &outcome.chunks {
                            prop_assert!(chunk.seq.get() > previous);
                            prop_assert_eq!(Some(&chunk.data), pushed.get(&chunk.seq.get()));
                            previous = chunk.seq.get();
                        }
                        if let Some(max) = max && outcome.chunks.len() > 1 {
                            let total: usize = outcome.chunks.iter().map(|chunk| chunk.data.len()).sum();
                            prop_assert!(total <= max, "only the first chunk may pass the budget");
                        }
                    }
                }
                // Retained output: the newest chunks (eviction is oldest first), within the
                // limit unless one chunk alone is larger, and `dropped_before` names the gap.
                let whole = log.read(None, None);
                let retained: Vec<u64> = whole.chunks.iter().map(|chunk| chunk.seq.get()).collect();
                let expected: Vec<u64> = pushed.keys().copied().filter(|seq| retained.first().is_some_and(|first| seq >= first)).collect();
                prop_assert_eq!(&retained, &expected, "retained chunks are a suffix");
                let bytes: usize = whole.chunks.iter().map(|chunk| chunk.data.len()).sum();
                prop_assert_eq!(bytes, log.retained_bytes());
                prop_assert!(bytes <= LIMIT || whole.chunks.len() == 1);
                let evicted = pushed.keys().copied().filter(|seq| !retained.contains(seq)).max();
                if let Some(evicted) = evicted {
                    prop_assert_eq!(whole.dropped_before.map(Seq::get), Some(evicted + 1));
                } else {
                    prop_assert_eq!(whole.dropped_before, None);
                }
                // A chunk a cursor has not passed (and that existed when the cursor was added)
                // is never evicted.
                for (_, delivered, evicted_when_added) in &cursors {
                    let protected_from = (*delivered).max(*evicted_when_added);
                    for seq in pushed.range(protected_from + 1..).map(|(seq, _)| *seq) {
                        prop_assert!(retained.contains(&seq), "seq {} evicted under a cursor", seq);
                    }
                }
            }
        }

        /// Several logs share one [`RetentionBudget`], as the engine's processes do; `Reclaim`
        /// does what `Engine::reclaim` does (closed processes' logs first, then the others, each
        /// evicting consumed output down to the target). It holds: the budget counts exactly the
        /// bytes the logs retain; a reclaim takes nothing from an open log while a closed one
        /// still holds evictable output, and leaves usage at the target unless only unconsumed
        /// output is left; a push never takes usage past the hard ceiling by more than one chunk
        /// per log; every eviction, by the budget or the log's own limit, is reported as
        /// `droppedBefore` (the newest evicted seq + 1), retained output is a suffix of what was
        /// pushed, and no chunk a cursor has not passed is evicted.
        #[test]
        fn the_global_budget_evicts_closed_processes_first(ops in proptest::collection::vec(budget_op(), 0..160)) {
            const LOGS: usize = 3;
            const LIMIT: usize = 16;
            const BUDGET: usize = 24;
            const MAX_CHUNK: usize = 8;
            let budget = Arc::new(RetentionBudget::new(BUDGET));
            let mut logs: Vec<Retention> = (0..LOGS).map(|_| {
                let mut log = Retention::new(LIMIT);
                log.attach_budget(Arc::clone(&budget));
                log
            }).collect();
            let mut pushed: Vec<std::collections::BTreeMap<u64, Bytes>> = vec![Default::default(); LOGS];
            let mut closed = [false; LOGS];
            // Per log: cursor id and the last seq it delivered (cursors start at the start, so
            // nothing is evicted under them unnoticed).
            let mut cursors: Vec<Vec<(CursorId, u64)>> = vec![Vec::new(); LOGS];
            for op in ops {
                match op {
                    BudgetOp::Push(index, len) if !closed[index] => {
                        let seq = logs[index].next_seq().get();
                        let data = Bytes::from(vec![(seq % 251) as u8; len.min(MAX_CHUNK)]);
                        if let Push::Stored(stored) = logs[index].push_output(StreamKind::Stdout, data.clone()) {
                            prop_assert_eq!(stored.get(), seq);
                            pushed[index].insert(seq, data);
                        }
                        let ceiling = BUDGET + BUDGET / 8;
                        prop_assert!(budget.used() <= ceiling + LOGS * MAX_CHUNK, "usage {} past the ceiling", budget.used());
                    }
                    BudgetOp::Push(..) => {}
                    BudgetOp::Close(index) => {
                        if !closed[index] {
                            logs[index].push_exit(ExitStatus::Code(0));
                            logs[index].push_closed();
                            closed[index] = true;
                        }
                    }
                    BudgetOp::AddCursor(index) => {
                        if logs[index].read(None, None).dropped_before.is_none() {
                            cursors[index].push((logs[index].add_cursor(SubscribeFrom::Start, 1), 0));
                        }
                    }
                    BudgetOp::Next(index, which) => {
                        if let Some((id, delivered)) = cursors[index].get_mut(which) {
                            match logs[index].next_event(*id).0 {
                                Step::Event(Event::Output(chunk)) => {
                                    prop_assert!(chunk.seq.get() > *delivered);
                                    prop_assert_eq!(Some(&chunk.data), pushed[index].get(&chunk.seq.get()));
                                    *delivered = chunk.seq.get();
                                }
                                Step::Event(Event::Exited { seq, .. } | Event::Closed { seq }) => *delivered = seq.get(),
                                Step::Event(Event::Gap { .. }) => prop_assert!(false, "a gap under a cursor from the start"),
                                Step::Event(Event::Failed { .. }) => prop_assert!(false, "no failures here"),
                                Step::Pending => {}
                                Step::Finished => {
                                    cursors[index].remove(which);
                                }
                            }
                        }
                    }
                    BudgetOp::RemoveCursor(index, which) => {
                        if which < cursors[index].len() {
                            let (id, _) = cursors[index].remove(which);
                            let _wake = logs[index].remove_cursor(id);
                        }
                    }
                    BudgetOp::Reclaim => {
                        let target = budget.reclaim_target();
                        let before: Vec<usize> = logs.iter().map(Retention::retained_bytes).collect();
                        for closed_first in [true, false] {
                            for (index, log) in logs.iter_mut().enumerate() {
                                if closed[index] == closed_first && budget.used() > target {
                                    log.evict_consumed_until(target);
                                }
                            }
                        }
                        let evictable = |log: &Retention| {
                            log.read(None, None).chunks.first().is_some_and(|chunk| chunk.seq.get() <= log.consumed_floor())
                        };
                        let open_lost = (0..LOGS).any(|index| !closed[index] && logs[index].retained_bytes() < before[index]);
                        if open_lost {
                            for index in (0..LOGS).filter(|index| closed[*index]) {
                                prop_assert!(!evictable(&logs[index]), "an open log lost output while closed log {} held evictable output", index);
                            }
                        }
                        if budget.used() > target {
                            prop_assert!(!logs.iter().any(evictable), "usage {} above the target with evictable output left", budget.used());
                        }
                    }
                }
                let retained_total: usize = logs.iter().map(Retention::retained_bytes).sum();
                prop_assert_eq!(budget.used(), retained_total, "the budget counts what the logs hold");
                for index in 0..LOGS {
                    let whole = logs[index].read(None, None);
                    let retained: Vec<u64> = whole.chunks.iter().map(|chunk| chunk.seq.get()).collect();
                    let expected: Vec<u64> = pushed[index].keys().copied().filter(|seq| retained.first().is_some_and(|first| seq >= first)).collect();
                    prop_assert_eq!(&retained, &expected, "retained chunks are a suffix");
                    let evicted = pushed[index].keys().copied().filter(|seq| !retained.contains(seq)).max();
                    prop_assert_eq!(whole.dropped_before.map(Seq::get), evicted.map(|seq| seq + 1), "evictions are reported");
                    for (_, delivered) in &cursors[index] {
                        for seq in pushed[index].range(delivered + 1..).map(|(seq, _)| *seq) {
                            prop_assert!(retained.contains(&seq), "seq {} evicted under a cursor", seq);
                        }
                    }
                }
            }
            drop(logs);
            prop_assert_eq!(budget.used(), 0, "dropped logs give their bytes back");
        }
    }

    #[derive(Clone, Debug)]
    enum BudgetOp {
        Push(usize, usize),
        Close(usize),
        AddCursor(usize),
        Next(usize, usize),
        RemoveCursor(usize, usize),
        Reclaim,
    }

    fn budget_op() -> impl Strategy<Value = BudgetOp> {
        prop_oneof![
            6 => ((0usize..3), (1usize..9)).prop_map(|(index, len)| BudgetOp::Push(index, len)),
            1 => (0usize..3).prop_map(BudgetOp::Close),
            1 => (0usize..3).prop_map(BudgetOp::AddCursor),
            4 => ((0usize..3), (0usize..2)).prop_map(|(index, which)| BudgetOp::Next(index, which)),
            1 => ((0usize..3), (0usize..2)).prop_map(|(index, which)| BudgetOp::RemoveCursor(index, which)),
            2 => Just(BudgetOp::Reclaim),
        ]
    }
}
