//! One child process: its shared state ([`Process`]), how it is spawned ([`spawn`]) and the
//! tasks that move its bytes ([`tasks`]).
//!
//! A [`Process`] is shared (`Arc`) by the session table, its tasks, and every
//! [`Subscription`](crate::Subscription) on it. Its [`ProcessState`] sits behind a std mutex
//! that is never held across an `.await`; changes are announced through two `watch` channels
//! (`log_changed` for consumers, `space_freed` for producers), which cannot lose a wake-up
//! because a waiter marks the current version seen *before* it looks at the state.
//!
//! This module knows nothing about sessions: the session layer passes a `retire` callback that
//! removes the entry from its table after the linger.

pub(crate) mod child;
pub(crate) mod namespace;
pub(crate) mod spawn;
pub(crate) mod tasks;

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use nix::sys::signal::{Signal as NixSignal, killpg};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::ids::ProcessId;
use crate::retention::{CursorId, CursorOwner, Retention, Step};
use crate::types::{ExitStatus, ProcessInfo, PtySize, ReadOutcome, WriteOptions, WriteStatus};

/// How many `write_id`s each process remembers. A retry follows its original closely (it is a
/// reconnecting client replaying its unacknowledged writes), so the last 1024 ids cover any
/// realistic retry window while bounding memory to a few tens of KiB per process.
const WRITE_ID_MEMORY: usize = 1024;

/// Capacity of a process's stdin queue. Each `write` waits for its own chunk to reach the pipe,
/// so the queue only holds writes issued concurrently (pipelined requests of one connection);
/// 16 keeps them in order without parking unbounded data, and a full queue makes the next
/// writer wait, which is the backpressure a slow reader of stdin should exert.
pub(crate) const STDIN_QUEUE_CAPACITY: usize = 16;

/// One queued write to the child's stdin.
#[derive(Debug)]
pub(crate) struct WriteRequest {
    pub(crate) data: Bytes,
    pub(crate) eof: bool,
    /// Answered by the writer task once the bytes are in the pipe (or failed). Dropped unanswered
    /// when the writer stops, which the caller reads as `StdinClosed`.
    pub(crate) reply: oneshot::Sender<WriteStatus>,
    /// The write's `write_id`, forgotten again if the write is skipped or fails, so that a
    /// retry with it is written instead of being acknowledged without its bytes.
    pub(crate) write_id: Option<String>,
    /// With a `write_id`: where retries that arrived while this write was pending learn its
    /// outcome. Dropped unanswered (the queue was discarded), they read `StdinClosed`.
    pub(crate) outcome: Option<watch::Sender<Option<WriteOutcome>>>,
    /// This write's share of the process's stdin byte budget, given back when the request is
    /// dropped (written, skipped because its caller stopped waiting, or discarded with the queue).
    pub(crate) _budget: OwnedSemaphorePermit,
}

/// The sending side of a process's stdin queue and its byte budget.
///
/// The queue holds at most [`STDIN_QUEUE_CAPACITY`] writes, and together at most
/// `Config::max_stdin_queued_bytes` bytes (a single larger write takes the whole budget), so a
/// child that never reads its stdin pins a bounded amount of memory however many writes arrive.
/// A write past the budget waits for it; the caller bounds that wait (the server answers with
/// an error after `ServerConfig::stdin_write_timeout`) and a write whose caller stopped waiting
/// before the writer reached it is skipped, never written late.
#[derive(Debug)]
pub(crate) struct StdinQueue {
    sender: mpsc::Sender<WriteRequest>,
    budget: Arc<Semaphore>,
    budget_bytes: usize,
}

impl StdinQueue {
    pub(crate) fn new(sender: mpsc::Sender<WriteRequest>, budget_bytes: usize) -> StdinQueue {
        // A semaphore holds at most `Semaphore::MAX_PERMITS`, and one write takes at most
        // `u32::MAX` permits at once.
        let budget_bytes = budget_bytes.clamp(1, (u32::MAX as usize).min(Semaphore::MAX_PERMITS));
        StdinQueue { sender, budget: Arc::new(Semaphore::new(budget_bytes)), budget_bytes }
    }
}

/// A child process and everything the engine keeps about it.
#[derive(Debug)]
pub(crate) struct Process {
    pub(crate) id: ProcessId,
    pub(crate) argv: Vec<String>,
    /// The OS pid, which is also the process-group id (the child leads its own group).
    pub(crate) pid: u32,
    pub(crate) tty: bool,
    /// Whether the child was confined by a sandbox at spawn.
    pub(crate) sandboxed: bool,
    /// When the child was spawned (wall clock, for a client's "age" column).
    pub(crate) started: std::time::SystemTime,
    state: Mutex<ProcessState>,
    /// Bumped by producers (reader tasks, the child watcher) after every change to the log, and
    /// on removal. `read` long polls and subscriptions wait on it. The `Process` owns the
    /// sender, so it lives as long as any waiter.
    pub(crate) log_changed: watch::Sender<u64>,
    /// Bumped by consumers when a reader task was refused space (flow control) and a cursor has
    /// since moved or gone. Only reader tasks wait on it.
    pub(crate) space_freed: watch::Sender<u64>,
    /// Cancelled once, when the entry is removed from its session (after the linger, on session
    /// expiry or on shutdown). Reader and writer tasks stop on it; the child watcher keeps
    /// going until the child is reaped.
    pub(crate) removed: CancellationToken,
    /// Cancelled once, when the child has been reaped: tells the reader tasks to drain what the
    /// child left in its pipes (see `ProcessState::pending_exit`).
    pub(crate) reaped: CancellationToken,
    /// The sending side of the stdin queue; `None` when stdin is `/dev/null`. The writer task
    /// owns the receiver; it ends (closing the queue) when stdin is closed or the process removed.
    stdin: Option<StdinQueue>,
    /// The PTY master, shared with the reader and writer tasks; used here for resize.
    pty_master: Option<Arc<AsyncFd<OwnedFd>>>,
}

/// The mutable part of a [`Process`]; see the module docs for the locking rule.
#[derive(Debug)]
pub(crate) struct ProcessState {
    pub(crate) log: Retention,
    /// Output streams that have not hit EOF yet. `Closed` is pushed when this is 0 and the
    /// child has exited.
    pub(crate) open_streams: u8,
    /// The child's exit, reaped while output streams were still open: it is numbered only once
    /// each of those streams has moved what was in its pipe at that moment into the log, so
    /// everything the child wrote before exiting comes before its `Exited` (SPEC §6).
    pub(crate) pending_exit: Option<ExitStatus>,
    /// Streams that still owe that drain; the last one to finish it pushes the exit.
    pub(crate) undrained: u8,
    /// The first stream error other than EOF.
    failure: Option<String>,
    /// Set when stdin was closed (by `eof`, or a failed write); later writes report
    /// `StdinClosed` without queueing.
    stdin_closed: bool,
    write_ids: HashMap<String, Arc<WriteIdEntry>>,
    write_id_order: VecDeque<String>,
    /// Set with `Process::removed`; lets consumers that hold the lock see it.
    pub(crate) removed: bool,
}

/// How a write with a `write_id` ended, for the retries waiting on it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteOutcome {
    Done(WriteStatus),
    /// Its caller gave up before it was queued: nothing was written; a waiting retry writes it.
    Retry,
}

/// What a process remembers of one `write_id`.
#[derive(Debug)]
pub(crate) struct WriteIdEntry {
    /// Callers waiting on the write: the original and the retries that arrived while it was
    /// pending. The writer skips a queued write only when none is left (all were cancelled), so
    /// a retry that came in time is never acknowledged for bytes that were then skipped.
    callers: AtomicUsize,
    outcome: watch::Receiver<Option<WriteOutcome>>,
}

/// One caller's hold on a [`WriteIdEntry`], given up when its `write` returns or is dropped.
struct WriteCaller(Arc<WriteIdEntry>);

impl WriteCaller {
    fn attach(entry: &Arc<WriteIdEntry>) -> WriteCaller {
        entry.callers.fetch_add(1, Ordering::SeqCst);
        WriteCaller(Arc::clone(entry))
    }
}

impl Drop for WriteCaller {
    fn drop(&mut self) {
        self.0.callers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Until the original's request is queued, giving up (a timed-out or cancelled caller) forgets
/// its `write_id` and tells any waiting retry to write the bytes itself.
struct Unqueued<'a> {
    process: &'a Process,
    write_id: Option<(String, Arc<WriteIdEntry>, watch::Sender<Option<WriteOutcome>>)>,
}

impl Drop for Unqueued<'_> {
    fn drop(&mut self) {
        if let Some((write_id, entry, outcome)) = self.write_id.take() {
            let mut state = self.process.lock();
            if state.write_ids.get(&write_id).is_some_and(|known| Arc::ptr_eq(known, &entry)) {
                state.write_ids.remove(&write_id);
            }
            outcome.send_replace(Some(WriteOutcome::Retry));
        }
    }
}

/// Waits for a pending write's outcome; a write whose request was dropped unanswered (the
/// writer stopped) is `StdinClosed`, as its original caller reads it.
async fn wait_outcome(outcome: &mut watch::Receiver<Option<WriteOutcome>>) -> WriteOutcome {
    loop {
        if let Some(done) = *outcome.borrow_and_update() {
            return done;
        }
        if outcome.changed().await.is_err() {
            return (*outcome.borrow()).unwrap_or(WriteOutcome::Done(WriteStatus::StdinClosed));
        }
    }
}

impl ProcessState {
    /// Forgets a `write_id` whose write did not happen, so that a retry is written.
    pub(crate) fn forget_write_id(&mut self, write_id: Option<&String>) {
        if let Some(write_id) = write_id {
            self.write_ids.remove(write_id);
        }
    }

    /// Whether a queued write may be skipped because everyone waiting on it is gone.
    pub(crate) fn abandoned(&self, write_id: Option<&String>, reply_closed: bool) -> bool {
        match write_id.and_then(|write_id| self.write_ids.get(write_id)) {
            Some(entry) => entry.callers.load(Ordering::SeqCst) == 0,
            None => reply_closed,
        }
    }
}

impl Process {
    pub(crate) fn lock(&self) -> MutexGuard<'_, ProcessState> {
        // A panic while holding this lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bumps `log_changed`, waking every long poll and subscription of this process.
    pub(crate) fn announce_change(&self) {
        self.log_changed.send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Bumps `space_freed`, waking reader tasks refused space.
    fn announce_space(&self) {
        self.space_freed.send_modify(|version| *version = version.wrapping_add(1));
    }

    // The consumer side of flow control. Each method decides under the lock whether a producer
    // was refused space and must be woken, and wakes it after releasing the lock; no caller
    // touches `space_freed` itself, so no path can forget the wake-up.

    /// The next event for a subscriber cursor, moving it; also whether the process has been
    /// removed (a `Pending` step then means the subscription is over).
    pub(crate) fn next_event(&self, cursor: CursorId) -> (Step, bool) {
        let (step, wake, removed) = {
            let mut state = self.lock();
            let (step, wake) = state.log.next_event(cursor);
            let wake = match step {
                // A finished cursor holds nothing back any more: drop it now.
                Step::Finished => state.log.remove_cursor(cursor) || wake,
                _ => wake,
            };
            (step, wake, state.removed)
        };
        if wake {
            self.announce_space();
        }
        if matches!(step, Step::Finished) {
            // `wait_delivered` waits for the last cursor to go.
            self.announce_change();
        }
        (step, removed)
    }

    /// Removes one subscriber cursor, releasing its flow-control hold.
    pub(crate) fn release_cursor(&self, cursor: CursorId) {
        let wake = self.lock().log.remove_cursor(cursor);
        if wake {
            self.announce_space();
        }
        self.announce_change();
    }

    /// Removes every cursor of one attachment (it detached or was taken over), releasing their
    /// holds, and wakes its subscriptions so they see they are over.
    pub(crate) fn release_cursors_of(&self, owner: CursorOwner) {
        let wake = self.lock().log.remove_cursors_of(owner);
        self.announce_change();
        if wake {
            self.announce_space();
        }
    }

    pub(crate) fn exit(&self) -> Option<ExitStatus> {
        self.lock().log.exit()
    }

    pub(crate) fn info(&self) -> ProcessInfo {
        let state = self.lock();
        ProcessInfo {
            id: self.id.clone(),
            argv: self.argv.clone(),
            pid: Some(self.pid),
            tty: self.tty,
            sandboxed: self.sandboxed,
            started: Some(self.started),
            running: state.log.exit().is_none(),
            exit: state.log.exit(),
            next_seq: state.log.next_seq(),
        }
    }

    /// The last (at most) `max_bytes` of retained output, all streams, oldest first.
    pub(crate) fn output_tail(&self, max_bytes: usize) -> Vec<u8> {
        self.lock().log.tail(max_bytes)
    }

    /// A non-blocking read of the retained log.
    pub(crate) fn read_now(
        &self,
        after: Option<crate::Seq>,
        max_bytes: Option<usize>,
    ) -> (ReadOutcome, bool) {
        let state = self.lock();
        let mut outcome = state.log.read(after, max_bytes);
        outcome.failure = state.failure.clone();
        let ready = state.removed || state.log.read_is_ready(after);
        (outcome, ready)
    }

    /// Sends `signal` to the process group, unless the child has exited and every stream is at
    /// EOF (then the group is most likely empty, and its id may one day be reused).
    pub(crate) fn signal_group(&self, signal: NixSignal) {
        {
            let state = self.lock();
            if state.log.exit().is_some() && state.log.is_closed() {
                return;
            }
        }
        let pid = i32::try_from(self.pid).unwrap_or(i32::MAX);
        if let Err(error) = killpg(Pid::from_raw(pid), signal) {
            // ESRCH: the group is already gone, which is what we wanted.
            tracing::debug!(process = %self.id, %error, ?signal, "killpg failed");
        }
    }

    /// Applies a new window size to the PTY; the kernel sends SIGWINCH to its foreground group.
    /// Returns false when the process has no PTY.
    pub(crate) fn resize(&self, size: PtySize) -> std::io::Result<bool> {
        let Some(master) = &self.pty_master else { return Ok(false) };
        spawn::set_window_size(master.get_ref().as_raw_fd(), size)?;
        Ok(true)
    }

    /// Marks the process removed: tasks stop, subscriptions end after draining.
    pub(crate) fn mark_removed(&self) {
        {
            let mut state = self.lock();
            state.removed = true;
            // The readers stop now, so they will not drain: number the exit here.
            if let Some(status) = state.pending_exit.take() {
                state.log.push_exit(status);
            }
        }
        self.removed.cancel();
        self.announce_change();
    }

    /// Queues a write and waits until it reached the pipe. Waits first for room in the stdin
    /// byte budget (see [`StdinQueue`]); dropping the future before the writer took the request
    /// cancels the write.
    pub(crate) async fn write(&self, data: Bytes, options: WriteOptions) -> WriteStatus {
        let Some(queue) = &self.stdin else { return WriteStatus::StdinClosed };
        let mut unqueued = Unqueued { process: self, write_id: None };
        let caller = loop {
            let retry = {
                let mut state = self.lock();
                if state.stdin_closed {
                    return WriteStatus::StdinClosed;
                }
                let Some(write_id) = &options.write_id else { break None };
                match state.write_ids.get(write_id) {
                    // A retry: answer with the original's outcome, waiting for it while pending.
                    Some(entry) => (WriteCaller::attach(entry), entry.outcome.clone()),
                    None => {
                        let (sender, receiver) = watch::channel(None);
                        let entry =
                            Arc::new(WriteIdEntry { callers: AtomicUsize::new(0), outcome: receiver });
                        let caller = WriteCaller::attach(&entry);
                        state.write_ids.insert(write_id.clone(), Arc::clone(&entry));
                        state.write_id_order.push_back(write_id.clone());
                        if state.write_id_order.len() > WRITE_ID_MEMORY
                            && let Some(oldest) = state.write_id_order.pop_front()
                        {
                            state.write_ids.remove(&oldest);
                        }
                        unqueued.write_id = Some((write_id.clone(), entry, sender));
                        break Some(caller);
                    }
                }
            };
            let (caller, mut outcome) = retry;
            match wait_outcome(&mut outcome).await {
                WriteOutcome::Done(status) => return status,
                // The original gave up before queueing it: write it as a new write.
                WriteOutcome::Retry => drop(caller),
            }
        };
        let wanted = u32::try_from(data.len().min(queue.budget_bytes)).unwrap_or(u32::MAX);
        let Ok(budget) = Arc::clone(&queue.budget).acquire_many_owned(wanted).await else {
            // The semaphore is never closed; treat it like a closed stdin rather than panic.
            return WriteStatus::StdinClosed;
        };
        // Reserve the slot first, so the guard still covers a caller dropped while the queue is
        // full; handing the request over is then immediate.
        let Ok(slot) = queue.sender.reserve().await else { return WriteStatus::StdinClosed };
        let (reply, answer) = oneshot::channel();
        slot.send(WriteRequest {
            data,
            eof: options.eof,
            reply,
            write_id: options.write_id,
            outcome: unqueued.write_id.take().map(|(_, _, outcome)| outcome),
            _budget: budget,
        });
        let status = answer.await.unwrap_or(WriteStatus::StdinClosed);
        drop(caller);
        status
    }

    /// Waits until the child has exited (it is reaped by then).
    pub(crate) async fn wait_exit(&self) -> ExitStatus {
        let mut changes = self.log_changed.subscribe();
        loop {
            if let Some(status) = self.exit() {
                return status;
            }
            if changes.changed().await.is_err() {
                // Unreachable while `self` holds the sender; wait for nothing rather than spin.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Waits until the process is closed and every subscriber has taken its last event (its
    /// notifications are on their way), or it is removed. Used by the drain before a stop.
    pub(crate) async fn wait_delivered(&self) {
        let mut changes = self.log_changed.subscribe();
        loop {
            {
                let state = self.lock();
                if (state.log.is_closed() && state.log.cursor_count() == 0) || state.removed {
                    return;
                }
            }
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Waits until the process is closed (exited, every stream at EOF) or removed.
    pub(crate) async fn wait_closed_or_removed(&self) {
        let mut changes = self.log_changed.subscribe();
        loop {
            {
                let state = self.lock();
                if state.log.is_closed() || state.removed {
                    return;
                }
            }
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
