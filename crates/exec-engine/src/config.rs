//! [`Config`]: every time and limit the engine uses, passed in by the embedder.
//!
//! Tests shorten times through this struct (or `tokio::time::pause()`), never through
//! `#[cfg(test)]` constants.

use std::sync::Arc;
use std::time::Duration;

use crate::ids::ProcessId;

/// Times and limits of an [`Engine`](crate::Engine). Build with struct update syntax:
/// `Config { session_ttl: Duration::from_secs(5), ..Config::default() }`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Output bytes retained per process (default 1 MiB). With no subscriber the oldest chunks
    /// are evicted past this bound; with a lagging subscriber the reader stops draining the
    /// child instead. A single chunk larger than the bound is still kept whole.
    pub retention_bytes: usize,
    /// Output bytes retained across all processes of all sessions (default 512 MiB). Past it
    /// the output of closed processes is evicted first, then consumed output of running ones
    /// (a producer evicts its own only if that falls behind, at 9/8 of the budget);
    /// evictions are reported as `dropped_before`. Output a subscriber has not consumed is never
    /// evicted for it: such a producer waits instead (flow control).
    pub max_retained_bytes_total: usize,
    /// How long a closed process (exited, every stream at EOF) stays readable before it is
    /// removed and its id may be reused (default 30 s).
    pub exited_linger: Duration,
    /// How long a detached session lives before its processes are killed (default 30 s).
    pub session_ttl: Duration,
    /// Sessions alive at once (default 1024). A session counts while attached or while it owns
    /// a process; an empty detached session is forgotten when a new one needs its slot.
    pub max_sessions: usize,
    /// Processes per session that are starting or running (default 2048). A process that has
    /// closed and lingers does not count (see `max_lingering_per_session`).
    pub max_processes_per_session: usize,
    /// Closed processes a session keeps readable during their linger (default 4096). Past it the
    /// entry that closed first is removed early, as if its linger had ended.
    pub max_lingering_per_session: usize,
    /// Processes across all sessions that are starting or running (default 8192). Each running
    /// process holds about four file descriptors: raise `RLIMIT_NOFILE` to match.
    pub max_processes_total: usize,
    /// Bytes of stdin writes queued per process, the one being written included (default
    /// 4 MiB; a single larger write takes the whole budget). A write past it waits for the
    /// child to read; the caller bounds that wait.
    pub max_stdin_queued_bytes: usize,
    /// Bytes asked for per read of a pipe or PTY (default 64 KiB): chunks grow up to this when
    /// output backs up, so a fast producer costs fewer events.
    pub read_chunk_bytes: usize,
    /// Linux: each child gets `PR_SET_PDEATHSIG(SIGKILL)`, so it dies with the server (default
    /// true). It costs nothing measurable: children are created with `clone(CLONE_VM)`, never
    /// by copying the server's memory. The signal is bound to the spawning *thread* (see
    /// `SessionHandle::start`).
    pub kill_on_server_death: bool,
    /// Linux: each session's processes run in a PID namespace of their own (with a mount
    /// namespace whose `/proc` matches it), made on the session's first `start`, whose init dies
    /// with the server and at the session's teardown; the kernel then kills everything in it,
    /// including `setsid` daemons and orphaned grandchildren (default true). Inside a session,
    /// `$$`, `ps` and `kill` use the namespace's pids and see only the session's processes; the
    /// engine reports the server's pids. With `CAP_SYS_ADMIN` the namespaces belong to the
    /// server's user namespace; without it (an unprivileged server) to a user namespace of the
    /// session's own, mapping only the server's uid and gid, where the kernel allows one (and
    /// never for uid 0). Where neither works sessions run uncontained, and this is logged once.
    pub contain_sessions: bool,
    /// How long [`Engine::shutdown`](crate::Engine::shutdown) waits for killed processes to be
    /// reaped (default 5 s).
    pub shutdown_wait: Duration,
    /// A test seam: called by `start` on the spawning thread after the child is spawned and
    /// before it enters the session's table (default `None`). It may block, as a slow spawn
    /// does (a fork of a large process); tests use it to hold a start in that window, for
    /// example while the session is resumed elsewhere.
    pub after_spawn: Option<AfterSpawn>,
}

/// The hook type of [`Config::after_spawn`], called with the id being started.
#[derive(Clone)]
pub struct AfterSpawn(Arc<dyn Fn(&ProcessId) + Send + Sync>);

impl AfterSpawn {
    /// Wraps a hook.
    pub fn new(hook: impl Fn(&ProcessId) + Send + Sync + 'static) -> AfterSpawn {
        AfterSpawn(Arc::new(hook))
    }

    pub(crate) fn call(&self, id: &ProcessId) {
        (self.0)(id);
    }
}

impl std::fmt::Debug for AfterSpawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterSpawn(..)")
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            retention_bytes: 1024 * 1024,
            max_retained_bytes_total: 512 * 1024 * 1024,
            exited_linger: Duration::from_secs(30),
            session_ttl: Duration::from_secs(30),
            max_sessions: 1024,
            max_processes_per_session: 2048,
            max_lingering_per_session: 4096,
            max_processes_total: 8192,
            max_stdin_queued_bytes: 4 * 1024 * 1024,
            read_chunk_bytes: 64 * 1024,
            kill_on_server_death: true,
            contain_sessions: true,
            shutdown_wait: Duration::from_secs(5),
            after_spawn: None,
        }
    }
}
