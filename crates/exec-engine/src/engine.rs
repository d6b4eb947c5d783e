//! [`Engine`]: the registry of sessions, the process limits, expiry timers and shutdown.
//!
//! The engine owns no network and no protocol. It is cheap to clone (an `Arc` inside); every
//! clone is the same engine.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::time::Instant;

use crate::config::Config;
use crate::error::SessionError;
use crate::ids::SessionId;
use crate::process::Process;
use crate::retention::RetentionBudget;
use crate::session::book::{Attachment, Book};
use crate::session::{Session, SessionHandle, Slot};

/// Runs processes for sessions. See the crate docs for an example.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

#[derive(Debug)]
pub(crate) struct EngineInner {
    config: Config,
    /// Every live session, attached or detached. Removed on expiry and shutdown.
    sessions: Mutex<HashMap<SessionId, Arc<Session>>>,
    /// Process table entries across all sessions that are starting or running; an entry stops
    /// counting when its process closes (lingering entries do not count, issue 12).
    total_processes: AtomicUsize,
    /// A runtime seen while the engine was used, so that a `SessionHandle` dropped outside any
    /// runtime context can still schedule its expiry timer.
    runtime: Mutex<Option<tokio::runtime::Handle>>,
    /// Retained output of every process against `Config::max_retained_bytes_total`. Its `over`
    /// wakes the reclaimer task, started with the first runtime seen.
    pub(crate) retention_budget: Arc<RetentionBudget>,
}

impl Engine {
    /// A new engine with no sessions. Does not need a runtime; `start` does.
    pub fn new(config: Config) -> Engine {
        Engine {
            inner: Arc::new(EngineInner {
                config: config.clone(),
                sessions: Mutex::new(HashMap::new()),
                total_processes: AtomicUsize::new(0),
                runtime: Mutex::new(None),
                retention_budget: Arc::new(RetentionBudget::new(config.max_retained_bytes_total)),
            }),
        }
    }

    /// The configuration this engine was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// A new session, attached to the returned handle.
    pub fn create_session(&self) -> Result<SessionHandle, SessionError> {
        self.inner.remember_runtime();
        let mut sessions = self.inner.sessions();
        if sessions.len() >= self.inner.config.max_sessions {
            // A detached session with no process holds no slot (issue 12: a client creating and
            // dropping sessions in a loop locked everyone out for the TTL). Such sessions are
            // forgotten to make room; resuming one later answers "unknown session".
            let empty: Vec<SessionId> = sessions
                .iter()
                .filter(|(_, session)| session.lock().is_empty_and_detached())
                .map(|(id, _)| *id)
                .collect();
            for id in &empty {
                sessions.remove(id);
            }
            if !empty.is_empty() {
                tracing::debug!(count = empty.len(), "forgot empty detached sessions to make room");
            }
        }
        if sessions.len() >= self.inner.config.max_sessions {
            return Err(SessionError::TooManySessions { limit: self.inner.config.max_sessions });
        }
        let id = SessionId::random();
        let session = Arc::new(Session::new(id, self.inner.config.session_ttl));
        let token = session.lock().superseded.clone();
        sessions.insert(id, Arc::clone(&session));
        drop(sessions);
        tracing::debug!(session = %id, "session created");
        Ok(SessionHandle::new(Arc::clone(&self.inner), session, Book::first_generation(), token))
    }

    /// Re-attaches a session. A session past its deadline is torn down here and reported
    /// unknown, whether or not its expiry timer has fired. Resuming an attached session takes
    /// it over: the old handle's `superseded()` fires and its subscriptions end.
    ///
    /// A `start` of the previous attachment may still be spawning (a client that lost its
    /// connection during `process/start` resumes at once): the resume waits for it to commit, so
    /// the returned handle lists, reads and subscribes to that process like any other.
    pub async fn resume_session(&self, id: &SessionId) -> Result<SessionHandle, SessionError> {
        let (handle, session) = self.attach(id)?;
        session.settle_starts().await;
        Ok(handle)
    }

    /// The synchronous part of a resume: expiry check, takeover, a new generation. The handle
    /// is built before the caller waits, so that a cancelled resume detaches the session again.
    fn attach(&self, id: &SessionId) -> Result<(SessionHandle, Arc<Session>), SessionError> {
        self.inner.remember_runtime();
        let mut sessions = self.inner.sessions();
        let Some(session) = sessions.get(id).cloned() else {
            return Err(SessionError::UnknownSession(*id));
        };
        let mut state = session.lock();
        let Some(resumed) = state.book.resume(Instant::now()) else {
            drop(state);
            sessions.remove(id);
            drop(sessions);
            session.tear_down(&self.inner);
            return Err(SessionError::UnknownSession(*id));
        };
        if let Some(old) = resumed.took_over {
            state.superseded.cancel();
            Session::release_cursors(&state, old);
            tracing::debug!(session = %id, "session taken over");
        }
        state.superseded = tokio_util::sync::CancellationToken::new();
        let token = state.superseded.clone();
        drop(state);
        drop(sessions);
        let handle =
            SessionHandle::new(Arc::clone(&self.inner), Arc::clone(&session), resumed.generation, token);
        Ok((handle, session))
    }

    /// How many sessions exist (attached or detached).
    pub fn session_count(&self) -> usize {
        self.inner.sessions().len()
    }

    /// Counts of sessions and processes right now, for metrics. Takes each session's lock and
    /// each process's lock briefly, one at a time; costs O(processes).
    pub fn stats(&self) -> EngineStats {
        let mut stats = EngineStats::default();
        for session in self.inner.sessions().values() {
            let state = session.lock();
            match state.book.attachment() {
                Attachment::Attached { .. } => stats.attached_sessions += 1,
                Attachment::Detached { .. } => stats.detached_sessions += 1,
            }
            for slot in state.processes.values() {
                match slot {
                    Slot::Ready(process) if process.exit().is_none() => stats.running_processes += 1,
                    Slot::Ready(_) => stats.exited_processes += 1,
                    Slot::Starting => stats.running_processes += 1,
                }
            }
        }
        stats
    }

    /// Waits up to `timeout` for the processes running now in attached sessions to finish: to
    /// exit, close their output, and hand their last event to every subscriber (so a connection
    /// closed next has already queued it). The drain before a graceful stop. Processes started
    /// later and those of detached sessions are not waited for. Returns how many of the awaited
    /// processes were still running at the end.
    pub async fn drain_attached(&self, timeout: std::time::Duration) -> usize {
        let running: Vec<Arc<Process>> = self
            .inner
            .sessions()
            .values()
            .flat_map(|session| {
                let state = session.lock();
                if !matches!(state.book.attachment(), Attachment::Attached { .. }) {
                    return Vec::new();
                }
                state
                    .processes
                    .values()
                    .filter_map(|slot| match slot {
                        Slot::Ready(process) if process.exit().is_none() => Some(Arc::clone(process)),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        let wait_all = async {
            for process in &running {
                process.wait_delivered().await;
            }
        };
        match tokio::time::timeout(timeout, wait_all).await {
            Ok(()) => 0,
            Err(_) => running.iter().filter(|process| process.exit().is_none()).count(),
        }
    }

    /// SIGKILLs every process group of every session, removes all sessions, and waits up to
    /// `Config::shutdown_wait` for the killed children to be reaped. Handles still held keep
    /// working on an empty session table.
    pub async fn shutdown(&self) {
        let sessions: Vec<Arc<Session>> = self.inner.sessions().drain().map(|(_, session)| session).collect();
        let processes: Vec<Arc<Process>> =
            sessions.iter().flat_map(|session| session.tear_down(&self.inner)).collect();
        let wait_all = async {
            for process in &processes {
                process.wait_exit().await;
            }
        };
        if tokio::time::timeout(self.inner.config.shutdown_wait, wait_all).await.is_err() {
            tracing::warn!("shutdown: some killed processes were not reaped in time");
        }
    }
}

/// What [`Engine::stats`] counts.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct EngineStats {
    /// Sessions with a connection (a handle) attached.
    pub attached_sessions: usize,
    /// Sessions waiting for a resume until their TTL runs out.
    pub detached_sessions: usize,
    /// Processes not yet exited (including those being spawned).
    pub running_processes: usize,
    /// Exited processes still in a table (readable until `exited_linger` passes).
    pub exited_processes: usize,
}

impl EngineInner {
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<SessionId, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one slot of `max_processes_total`; false when none is left.
    pub(crate) fn reserve_process(&self) -> bool {
        self.total_processes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
                (count < self.config.max_processes_total).then_some(count + 1)
            })
            .is_ok()
    }

    pub(crate) fn release_processes(&self, count: usize) {
        self.total_processes.fetch_sub(count, Ordering::AcqRel);
    }

    pub(crate) fn remember_runtime(self: &Arc<Self>) {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let mut runtime = self.runtime.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if runtime.is_none() {
                // The first runtime seen also runs the reclaimer. Detached on purpose: it holds
                // the engine weakly and ends with the engine or its runtime.
                drop(handle.spawn(reclaim_loop(Arc::downgrade(self), Arc::clone(&self.retention_budget))));
                *runtime = Some(handle);
            }
        }
    }

    /// Brings retained output back under the global budget (to 7/8 of it, so that it does not
    /// run on every chunk): consumed output of closed processes first, in the order they closed,
    /// then consumed output of the others, oldest chunks first. Output a subscriber has not
    /// consumed is never evicted. Evictions show up as `dropped_before` like any other.
    pub(crate) fn reclaim(&self) {
        let budget = &self.retention_budget;
        // Woken by a push that would pass the limit (it may not have been stored yet): reclaim
        // whenever usage is above the target, not only once it is above the limit.
        let target = budget.reclaim_target();
        if budget.used() <= target {
            return;
        }
        let sessions: Vec<Arc<Session>> = self.sessions().values().cloned().collect();
        for closed_first in [true, false] {
            for session in &sessions {
                for process in session.processes_for_reclaim(closed_first) {
                    if budget.used() <= target {
                        return;
                    }
                    process.lock().log.evict_consumed_until(target);
                }
            }
        }
    }

    /// Starts the timer that expires a detached session at `deadline`.
    pub(crate) fn schedule_expiry(self: &Arc<Self>, session: SessionId, deadline: Instant) {
        let runtime = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone());
        let expiry = SessionExpiry { engine: Arc::downgrade(self), session, deadline };
        match runtime {
            Some(runtime) => {
                // The task is detached on purpose: it ends at the deadline, and does nothing if
                // the session was resumed meanwhile.
                drop(runtime.spawn(expiry.run()));
            }
            // No runtime was ever seen, so no process was ever started: forget the session now.
            None => self.expire_if_due(session, None),
        }
    }

    /// Removes and tears down `session` if it is (still) past its deadline. `None` as `now`
    /// forces expiry.
    fn expire_if_due(&self, id: SessionId, now: Option<Instant>) {
        let session = {
            let mut sessions = self.sessions();
            let due = sessions.get(&id).is_some_and(|session| match now {
                Some(now) => session.lock().book.is_expired(now),
                None => true,
            });
            if !due {
                return;
            }
            sessions.remove(&id)
        };
        if let Some(session) = session {
            tracing::debug!(session = %id, "session expired");
            session.tear_down(self);
        }
    }
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        // Wakes the reclaimer so that it finds the engine gone and ends. Without this it stayed
        // parked on a budget nothing would fill again, one task per engine dropped on a runtime
        // that lives on (an embedder's, a test's; found by the `dispatch` fuzz target).
        self.retention_budget.over.notify_one();
    }
}

/// Waits for the retention budget to be exceeded, then reclaims; ends with the engine (whose
/// drop wakes it) or its runtime.
async fn reclaim_loop(engine: Weak<EngineInner>, budget: Arc<RetentionBudget>) {
    loop {
        budget.over.notified().await;
        let Some(engine) = engine.upgrade() else { return };
        engine.reclaim();
    }
}

/// The timer of one detach: at the deadline, expire the session unless it was resumed (or
/// detached again with a later deadline, which starts its own timer).
#[derive(Debug)]
struct SessionExpiry {
    /// Weak, so a pending timer does not keep a dropped engine alive.
    engine: Weak<EngineInner>,
    session: SessionId,
    deadline: Instant,
}

impl SessionExpiry {
    async fn run(self) {
        tokio::time::sleep_until(self.deadline).await;
        if let Some(engine) = self.engine.upgrade() {
            engine.expire_if_due(self.session, Some(Instant::now()));
        }
    }
}
