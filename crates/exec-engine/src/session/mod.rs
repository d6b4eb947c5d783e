//! Sessions: the table of processes a session owns, and [`SessionHandle`], one attachment to it.
//!
//! Lock order, where more than one is held: the engine's session registry, then a
//! [`Session`]'s state, then a process's state. None is held across an `.await`.
//!
//! The attach/detach/expiry rules live in the sans-I/O [`book`]; this module applies them to
//! processes (killing, removing, releasing flow control) and schedules expiry timers.

pub(crate) mod book;
pub(crate) mod observe;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::engine::EngineInner;
use crate::error::{ProcessError, StartError};
use crate::ids::{ProcessId, SessionId};
use crate::process::Process;
use crate::process::namespace::Containment;
use crate::process::spawn::{Retire, spawn};
use crate::process::tasks::Escalation;
use crate::subscription::Subscription;
use crate::types::{
    ProcessInfo, PtySize, ReadOutcome, ReadRequest, Signal, SpawnSpec, SubscribeFrom, WriteOptions,
    WriteStatus,
};
use book::Book;

/// A process table entry.
#[derive(Debug)]
pub(crate) enum Slot {
    /// The id is reserved by a `start` that is spawning.
    Starting,
    Ready(Arc<Process>),
}

/// One session: its processes and attachment bookkeeping.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    state: Mutex<SessionState>,
    /// How many `start`s are between their reservation and their commit. Changed under the
    /// `state` lock; a resume waits for it to reach zero so that the resumed attachment sees
    /// every process its predecessor was starting (none is left in `Starting`).
    pub(crate) starting: watch::Sender<usize>,
    /// The session's PID namespace (made on the first `start`), killed at teardown so that
    /// every descendant dies, including those that left the process group.
    containment: Mutex<Containment>,
}

#[derive(Debug)]
pub(crate) struct SessionState {
    pub(crate) book: Book,
    pub(crate) processes: HashMap<ProcessId, Slot>,
    /// The current attachment's token; cancelled (under this lock) when it is taken over, and
    /// then replaced by a fresh one for the new attachment.
    pub(crate) superseded: CancellationToken,
    /// Set once the session is expired or shut down; a `start` finishing later kills its child.
    pub(crate) torn_down: bool,
    /// Entries of `processes` whose process has closed (they linger, readable, and no longer
    /// count as running), and the order they closed in. The queue may hold ids that have left
    /// the set since (removed at the end of their linger); eviction skips those.
    lingering: HashSet<ProcessId>,
    closed_order: VecDeque<ProcessId>,
}

impl SessionState {
    /// Table entries that are starting or running.
    fn running(&self) -> usize {
        self.processes.len() - self.lingering.len()
    }

    /// Detached with nothing in the table: such a session holds no slot.
    pub(crate) fn is_empty_and_detached(&self) -> bool {
        self.processes.is_empty() && !self.book.is_attached()
    }

    /// Removes `id` from the table. Returns whether it still counted as running (the engine's
    /// count must then be released).
    fn remove_entry(&mut self, id: &ProcessId) -> bool {
        self.processes.remove(id);
        !self.lingering.remove(id)
    }
}

impl Session {
    pub(crate) fn new(id: SessionId, ttl: Duration) -> Session {
        Session {
            id,
            state: Mutex::new(SessionState {
                book: Book::new(ttl),
                processes: HashMap::new(),
                superseded: CancellationToken::new(),
                torn_down: false,
                lingering: HashSet::new(),
                closed_order: VecDeque::new(),
            }),
            starting: watch::Sender::new(0),
            containment: Mutex::new(Containment::default()),
        }
    }

    /// Waits until no `start` is in flight. Only the current attachment can begin a start, so
    /// once a resume has taken the session over, this only waits for its predecessor's.
    pub(crate) async fn settle_starts(&self) {
        let mut starting = self.starting.subscribe();
        // The sender lives in `self`, which the caller holds: the wait cannot fail.
        let _settled = starting.wait_for(|count| *count == 0).await;
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn containment(&self) -> MutexGuard<'_, Containment> {
        self.containment.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks the session torn down, empties its table and kills every process group. Returns the
    /// processes so a caller can wait for their exits.
    pub(crate) fn tear_down(&self, engine: &EngineInner) -> Vec<Arc<Process>> {
        let (slots, running) = {
            let mut state = self.lock();
            state.torn_down = true;
            let running = state.running();
            state.lingering.clear();
            state.closed_order.clear();
            let slots: Vec<Slot> = state.processes.drain().map(|(_, slot)| slot).collect();
            (slots, running)
        };
        engine.release_processes(running);
        let processes: Vec<Arc<Process>> = slots
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Starting => None,
                Slot::Ready(process) => Some(process),
            })
            .collect();
        for process in &processes {
            process.signal_group(nix::sys::signal::Signal::SIGKILL);
            process.mark_removed();
        }
        // What left the process groups (setsid daemons, orphaned grandchildren) dies with the
        // namespace's init.
        self.containment().kill();
        tracing::debug!(session = %self.id, processes = processes.len(), "session torn down");
        processes
    }

    /// Ends the flow-control hold of every subscription created by `generation`.
    pub(crate) fn release_cursors(state: &SessionState, generation: u64) {
        for slot in state.processes.values() {
            if let Slot::Ready(process) = slot {
                process.release_cursors_of(generation);
            }
        }
    }

    /// Removes a lingering process once its linger is over (if the entry is still that process).
    fn retire(&self, id: &ProcessId, process: &Arc<Process>, engine: &EngineInner) {
        let still_running = {
            let mut state = self.lock();
            match state.processes.get(id) {
                Some(Slot::Ready(current)) if Arc::ptr_eq(current, process) => state.remove_entry(id),
                _ => false,
            }
        };
        if still_running {
            engine.release_processes(1);
        }
        process.mark_removed();
    }

    /// The processes the reclaimer looks at: closed ones in the order they closed, or the others.
    pub(crate) fn processes_for_reclaim(&self, closed: bool) -> Vec<Arc<Process>> {
        let state = self.lock();
        let ready = |id: &ProcessId| match state.processes.get(id) {
            Some(Slot::Ready(process)) => Some(Arc::clone(process)),
            _ => None,
        };
        if closed {
            state.closed_order.iter().filter(|id| state.lingering.contains(*id)).filter_map(ready).collect()
        } else {
            state.processes.keys().filter(|id| !state.lingering.contains(*id)).filter_map(ready).collect()
        }
    }

    /// Moves a process that has closed from "running" to "lingering": it stops counting toward
    /// the running limits, and past `max_lingering_per_session` the entry that closed first is
    /// removed early.
    fn closed(&self, id: &ProcessId, process: &Arc<Process>, engine: &EngineInner) {
        let evicted = {
            let mut state = self.lock();
            match state.processes.get(id) {
                Some(Slot::Ready(current)) if Arc::ptr_eq(current, process) => {}
                _ => return,
            }
            if !state.lingering.insert(id.clone()) {
                return;
            }
            state.closed_order.push_back(id.clone());
            let mut evicted = Vec::new();
            while state.lingering.len() > engine.config().max_lingering_per_session {
                let Some(oldest) = state.closed_order.pop_front() else { break };
                if !state.lingering.contains(&oldest) {
                    continue;
                }
                if let Some(Slot::Ready(process)) = state.processes.get(&oldest) {
                    evicted.push(Arc::clone(process));
                }
                state.remove_entry(&oldest);
            }
            // The queue also holds ids that left during their linger: keep it near the set's size.
            if state.closed_order.len() > 2 * state.lingering.len() + 64 {
                let SessionState { closed_order, lingering, .. } = &mut *state;
                closed_order.retain(|id| lingering.contains(id));
            }
            evicted
        };
        engine.release_processes(1);
        for process in evicted {
            tracing::debug!(session = %self.id, process = %process.id, "evicted a lingering process");
            process.mark_removed();
        }
    }
}

/// One attachment to a session. Not `Clone`: it *is* the attachment.
///
/// Dropping it detaches the session (its processes keep running and their output keeps being
/// retained, evicting the oldest); the session then expires after `Config::session_ttl` unless
/// resumed. A handle that was superseded by a resume elsewhere detaches nothing when dropped.
/// Subscriptions created through a handle end when it detaches or is superseded.
pub struct SessionHandle {
    engine: Arc<EngineInner>,
    session: Arc<Session>,
    /// This attachment's generation; stale once another resume took the session over.
    generation: u64,
    /// Cancelled when another resume takes the session over.
    superseded: CancellationToken,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("session", &self.session.id)
            .field("generation", &self.generation)
            .field("superseded", &self.superseded.is_cancelled())
            .finish()
    }
}

impl SessionHandle {
    pub(crate) fn new(
        engine: Arc<EngineInner>,
        session: Arc<Session>,
        generation: u64,
        superseded: CancellationToken,
    ) -> SessionHandle {
        SessionHandle { engine, session, generation, superseded }
    }

    /// The session's id (what a client passes to resume it).
    pub fn session_id(&self) -> SessionId {
        self.session.id
    }

    /// Resolves when another resume took this session over. From then on `read`, `terminate`,
    /// `signal`, `resize`, `list`, `subscribe` and `start` fail with `SessionTakenOver`, and
    /// in-flight `read` long polls end with it. `write` still reaches the process (its status
    /// type has no such case); a server closes the superseded connection anyway.
    pub fn superseded(&self) -> WaitForCancellationFuture<'_> {
        self.superseded.cancelled()
    }

    /// The token behind [`superseded`](SessionHandle::superseded), for `select!` in a task that
    /// does not borrow the handle.
    pub fn superseded_token(&self) -> CancellationToken {
        self.superseded.clone()
    }

    /// Whether this handle has been taken over.
    pub fn is_superseded(&self) -> bool {
        self.superseded.is_cancelled()
    }

    fn check_current(&self) -> Result<(), ProcessError> {
        if self.superseded.is_cancelled() { Err(ProcessError::SessionTakenOver) } else { Ok(()) }
    }

    fn process(&self, id: &ProcessId) -> Result<Arc<Process>, ProcessError> {
        self.check_current()?;
        match self.session.lock().processes.get(id) {
            Some(Slot::Ready(process)) => Ok(Arc::clone(process)),
            Some(Slot::Starting) | None => Err(ProcessError::UnknownProcess(id.clone())),
        }
    }

    /// Spawns a process under `id` and returns a subscription from seq 1 (the caller may drop
    /// it; while held, it applies flow control).
    ///
    /// Spawning runs on the calling task's thread: call this from a task on a long-lived
    /// runtime thread, never inside `spawn_blocking`, or `Config::kill_on_server_death` kills
    /// the child when that thread is retired. If the future is dropped before it finishes, the
    /// reservation is undone and a child already spawned is killed: nothing is left half-started.
    pub async fn start(&self, id: ProcessId, spec: SpawnSpec) -> Result<Subscription, StartError> {
        if spec.argv.is_empty() {
            return Err(StartError::EmptyArgv);
        }
        if !spec.cwd.is_absolute() {
            return Err(StartError::RelativeCwd(spec.cwd));
        }
        if self.superseded.is_cancelled() {
            return Err(StartError::SessionTakenOver);
        }
        let config = self.engine.config();
        let mut pending = self.reserve(&id)?;
        self.engine.remember_runtime();

        let retire = || -> Retire {
            let session = Arc::downgrade(&self.session);
            let engine = Arc::downgrade(&self.engine);
            let id = id.clone();
            Box::new(move |process: &Arc<Process>| {
                if let (Some(session), Some(engine)) = (session.upgrade(), engine.upgrade()) {
                    session.retire(&id, process, &engine);
                } else {
                    process.mark_removed();
                }
            })
        };
        let namespace =
            if config.contain_sessions { self.session.containment().get_or_create() } else { None };
        // A namespace whose init was killed from outside takes no new process (ENOMEM from the
        // clone), and its init may not have finished exiting when `get_or_create` looked: keep
        // the spec to retry once in a fresh namespace.
        let retry_spec = namespace.is_some().then(|| spec.clone());
        let mut spawned = spawn(id.clone(), spec, config, self.generation, retire(), namespace.as_deref());
        if let (Err(StartError::Spawn { source, .. }), Some(spec)) = (&spawned, retry_spec)
            && source.raw_os_error() == Some(nix::libc::ENOMEM)
            && !self.session.lock().torn_down
        {
            let namespace = {
                let mut containment = self.session.containment();
                containment.reset();
                containment.get_or_create()
            };
            spawned = spawn(id.clone(), spec, config, self.generation, retire(), namespace.as_deref());
        }
        let spawned = match spawned {
            Ok(spawned) => spawned,
            // A teardown killed the namespace while this start was spawning into it.
            Err(_) if self.session.lock().torn_down => return Err(StartError::SessionTakenOver),
            Err(error) => return Err(error),
        };
        spawned.process.lock().log.attach_budget(Arc::clone(&self.engine.retention_budget));
        let cursor = spawned.cursor;
        pending.process = Some(spawned.process);
        if let Some(hook) = &config.after_spawn {
            hook.call(&id);
        }
        let process = pending.commit()?;
        self.watch_close(id, &process);
        Ok(Subscription::new(process, cursor))
    }

    /// When the process closes, moves its entry to the lingering set (see `Session::closed`).
    fn watch_close(&self, id: ProcessId, process: &Arc<Process>) {
        let session = Arc::downgrade(&self.session);
        let engine = Arc::downgrade(&self.engine);
        let process = Arc::clone(process);
        tokio::spawn(async move {
            process.wait_closed_or_removed().await;
            if let (Some(session), Some(engine)) = (session.upgrade(), engine.upgrade()) {
                session.closed(&id, &process, &engine);
            }
        });
    }

    /// Reserves `id` in the table (a `Starting` slot) after checking the attachment and the
    /// limits. The returned guard commits or undoes the reservation.
    fn reserve<'a>(&'a self, id: &'a ProcessId) -> Result<PendingStart<'a>, StartError> {
        let config = self.engine.config();
        let mut state = self.session.lock();
        if state.torn_down || !state.book.is_attached_as(self.generation) {
            return Err(StartError::SessionTakenOver);
        }
        if state.processes.contains_key(id) {
            return Err(StartError::DuplicateId(id.clone()));
        }
        if state.running() >= config.max_processes_per_session {
            return Err(StartError::TooManyProcesses { limit: config.max_processes_per_session });
        }
        if !self.engine.reserve_process() {
            return Err(StartError::TooManyProcesses { limit: config.max_processes_total });
        }
        state.processes.insert(id.clone(), Slot::Starting);
        self.session.starting.send_modify(|count| *count += 1);
        Ok(PendingStart { handle: self, id, process: None, settled: false })
    }

    /// Retained output after a cursor, optionally waiting for some (a long poll). Fails with
    /// `SessionTakenOver` if this handle is superseded before or during the wait.
    pub async fn read(&self, id: &ProcessId, request: ReadRequest) -> Result<ReadOutcome, ProcessError> {
        let process = self.process(id)?;
        let deadline = request.wait.map(|wait| Instant::now() + wait);
        let mut changes = process.log_changed.subscribe();
        loop {
            changes.borrow_and_update();
            let (outcome, ready) = process.read_now(request.after_seq, request.max_bytes);
            let expired = deadline.is_none_or(|deadline| Instant::now() >= deadline);
            if ready || expired {
                return Ok(outcome);
            }
            let deadline = deadline.expect("checked above");
            tokio::select! {
                () = self.superseded.cancelled() => return Err(ProcessError::SessionTakenOver),
                () = tokio::time::sleep_until(deadline) => {}
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(outcome);
                    }
                }
            }
        }
    }

    /// Writes to the process's stdin, in call order, and waits until the bytes reached the pipe.
    pub async fn write(&self, id: &ProcessId, data: Bytes, options: WriteOptions) -> WriteStatus {
        let process = match self.session.lock().processes.get(id) {
            Some(Slot::Ready(process)) => Arc::clone(process),
            Some(Slot::Starting) => return WriteStatus::Starting,
            None => return WriteStatus::UnknownProcess,
        };
        process.write(data, options).await
    }

    /// Without `grace`: SIGKILL to the process group at once. With it: SIGTERM now, and SIGKILL
    /// after `grace` unless the process has closed (exited with every stream at EOF) by then.
    /// Returns at once with whether the process was running; the escalation runs in the
    /// background.
    pub async fn terminate(&self, id: &ProcessId, grace: Option<Duration>) -> Result<bool, ProcessError> {
        let process = self.process(id)?;
        let running = process.exit().is_none();
        match grace {
            None => process.signal_group(nix::sys::signal::Signal::SIGKILL),
            Some(grace) => {
                process.signal_group(nix::sys::signal::Signal::SIGTERM);
                tokio::spawn(Escalation { process, grace }.run());
            }
        }
        Ok(running)
    }

    /// For a process started under a sandbox, the last (at most) `max_bytes` of its retained
    /// output (all streams, oldest first); `None` for an unsandboxed one.
    pub fn sandboxed_output_tail(
        &self,
        id: &ProcessId,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, ProcessError> {
        let process = self.process(id)?;
        Ok(process.sandboxed.then(|| process.output_tail(max_bytes)))
    }

    /// Sends a named signal to the process group (nothing once the process has closed).
    pub fn signal(&self, id: &ProcessId, signal: Signal) -> Result<(), ProcessError> {
        self.process(id)?.signal_group(signal.to_nix());
        Ok(())
    }

    /// Sets the PTY window size; the child's foreground group gets SIGWINCH.
    pub fn resize(&self, id: &ProcessId, size: PtySize) -> Result<(), ProcessError> {
        let process = self.process(id)?;
        match process.resize(size) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ProcessError::NotATty(id.clone())),
            Err(error) => {
                // The PTY is going away with its process; the size no longer matters.
                tracing::debug!(process = %id, %error, "resize failed");
                Ok(())
            }
        }
    }

    /// The session's processes (spawned ones; ids still starting are not listed), by id. Empty
    /// once this handle is superseded.
    pub fn list(&self) -> Vec<ProcessInfo> {
        if self.superseded.is_cancelled() {
            return Vec::new();
        }
        let processes: Vec<Arc<Process>> = self
            .session
            .lock()
            .processes
            .values()
            .filter_map(|slot| match slot {
                Slot::Ready(process) => Some(Arc::clone(process)),
                Slot::Starting => None,
            })
            .collect();
        let mut infos: Vec<ProcessInfo> = processes.iter().map(|process| process.info()).collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    /// A new subscription to a process's events.
    pub fn subscribe(&self, id: &ProcessId, from: SubscribeFrom) -> Result<Subscription, ProcessError> {
        self.check_current()?;
        let state = self.session.lock();
        if !state.book.is_attached_as(self.generation) {
            return Err(ProcessError::SessionTakenOver);
        }
        let Some(Slot::Ready(process)) = state.processes.get(id) else {
            return Err(ProcessError::UnknownProcess(id.clone()));
        };
        let cursor = process.lock().log.add_cursor(from, self.generation);
        Ok(Subscription::new(Arc::clone(process), cursor))
    }
}

/// A `start` between its reservation and its commit. Whatever happens in between (a spawn
/// error, a cancelled future, a takeover, a teardown), settling it updates the table and the
/// session's count of starts in flight exactly once.
struct PendingStart<'a> {
    handle: &'a SessionHandle,
    id: &'a ProcessId,
    /// The spawned child, once there is one.
    process: Option<Arc<Process>>,
    settled: bool,
}

impl PendingStart<'_> {
    /// Turns the reservation into a `Ready` entry. If the session was torn down meanwhile, the
    /// child is killed. If it was taken over, the process stays (the resumed attachment sees it,
    /// see `Engine::resume_session`) but this attachment's subscription holds nothing back.
    fn commit(mut self) -> Result<Arc<Process>, StartError> {
        let process = self.process.take().expect("commit follows a successful spawn");
        let handle = self.handle;
        let mut state = handle.session.lock();
        let reserved = matches!(state.processes.get(self.id), Some(Slot::Starting));
        let outcome = if !reserved || state.torn_down {
            Err(StartError::SessionTakenOver)
        } else {
            state.processes.insert(self.id.clone(), Slot::Ready(Arc::clone(&process)));
            Ok(state.book.is_attached_as(handle.generation))
        };
        handle.session.starting.send_modify(|count| *count -= 1);
        self.settled = true;
        drop(state);
        match outcome {
            Err(error) => {
                // The session was torn down while we spawned: nothing may outlive it.
                process.signal_group(nix::sys::signal::Signal::SIGKILL);
                process.mark_removed();
                Err(error)
            }
            Ok(true) => Ok(process),
            Ok(false) => {
                // Taken over while spawning: this attachment's subscription must not hold the
                // output back (and a reader it blocked must be woken).
                process.release_cursors_of(handle.generation);
                Ok(process)
            }
        }
    }
}

impl Drop for PendingStart<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let handle = self.handle;
        let released = {
            let mut state = handle.session.lock();
            let reserved = matches!(state.processes.get(self.id), Some(Slot::Starting));
            if reserved {
                state.processes.remove(self.id);
            }
            handle.session.starting.send_modify(|count| *count -= 1);
            reserved
        };
        if released {
            handle.engine.release_processes(1);
        }
        if let Some(process) = self.process.take() {
            process.signal_group(nix::sys::signal::Signal::SIGKILL);
            process.mark_removed();
        }
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        let deadline = {
            let mut state = self.session.lock();
            let deadline = state.book.detach(self.generation, Instant::now());
            Session::release_cursors(&state, self.generation);
            deadline
        };
        if let Some(deadline) = deadline {
            tracing::debug!(session = %self.session.id, "session detached");
            self.engine.schedule_expiry(self.session.id, deadline);
        }
    }
}
