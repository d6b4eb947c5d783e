//! Processes for exec-server, without the network: spawn children on pipes or a PTY, retain
//! their output under a per-process seq, stream it to subscribers with flow control, write
//! their stdin, signal and terminate them, and group them into sessions that survive a
//! detach for a TTL.
//!
//! This crate sits under `exec-transport` (which speaks JSON-RPC and maps these types to the
//! wire) and can be embedded directly by an agent that wants the same semantics locally. It
//! knows nothing of JSON or sockets.
//!
//! # Main types
//!
//! - [`Engine`]: the registry of sessions and the process limits ([`Config`]).
//! - [`SessionHandle`]: one attachment to a session: [`start`](SessionHandle::start),
//!   [`read`](SessionHandle::read), [`write`](SessionHandle::write),
//!   [`terminate`](SessionHandle::terminate), [`signal`](SessionHandle::signal),
//!   [`resize`](SessionHandle::resize), [`list`](SessionHandle::list),
//!   [`subscribe`](SessionHandle::subscribe). Dropping it detaches the session.
//! - [`Subscription`]: a process's [`Event`]s in seq order (replay, then live).
//! - [`SpawnSpec`]: argv, absolute cwd, the complete environment, optional `arg0`, and
//!   [`Stdio`] (pipes with a closed or piped stdin, or a PTY).
//! - [`ExecBackend`]: the same API as a trait, for swapping in a remote client.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use exec_engine::{Config, Engine, Event, ProcessId, SpawnSpec, StdinMode, Stdio};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let engine = Engine::new(Config::default());
//!     let session = engine.create_session()?;
//!     let spec = SpawnSpec {
//!         argv: vec!["/bin/echo".into(), "hello".into()],
//!         cwd: "/".into(),
//!         env: BTreeMap::new(),
//!         arg0: None,
//!         stdio: Stdio::Pipes { stdin: StdinMode::Closed },
//!         sandbox: None,
//!     };
//!     let mut events = session.start(ProcessId::new("greeting"), spec).await?;
//!     let mut output = Vec::new();
//!     while let Some(event) = events.next().await {
//!         match event {
//!             Event::Output(chunk) => output.extend_from_slice(&chunk.data),
//!             Event::Exited { status, .. } => assert!(status.success()),
//!             Event::Closed { .. } | Event::Gap { .. } | Event::Failed { .. } => {}
//!         }
//!     }
//!     print!("{}", String::from_utf8_lossy(&output));
//!     assert_eq!(output, b"hello\n");
//!     engine.shutdown().await;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Invariants
//!
//! - One seq counter per process, starting at 1, shared by output, exit and close; `Closed`
//!   comes after the exit **and** EOF on every stream (a grandchild holding a pipe delays it).
//! - No silent gap: an evicted range is reported (`ReadOutcome::dropped_before`, `Event::Gap`).
//!   A live subscription never loses a byte: it slows the child down instead.
//! - Retained output per process stays within `Config::retention_bytes` (one larger chunk
//!   excepted), plus at most one read chunk per stream waiting to be stored.
//! - Children start from an empty environment and lead their own process group; signals and
//!   kills go to the group. With `Config::kill_on_server_death` they die with the server; with
//!   `Config::contain_sessions` (where the kernel allows a PID namespace) so does everything
//!   they started, daemons included, and a session's whole tree dies at its expiry or shutdown.
//! - Children are created with `clone(CLONE_VM | CLONE_VFORK)`: the cost of a spawn does not
//!   grow with the embedding process's memory. A [`SpawnSpec::sandbox`] is applied in the child
//!   last, just before `execve`, or the start fails with [`StartError::Sandbox`].
//! - No lock is held across an `.await`; every channel is bounded.
//!
//! # Embedding notes
//!
//! - Call [`SessionHandle::start`] from a task on a long-lived runtime thread, never inside
//!   `spawn_blocking`: Linux's parent-death signal follows the *thread* that created the child
//!   (and a session namespace's init dies with the thread of the session's first start).
//! - Linux 5.4 or later (pidfds). A session namespace needs `CAP_SYS_ADMIN` or unprivileged user
//!   namespaces (then the session's processes see other users' files as owned by `nobody`);
//!   with neither, sessions run uncontained and a warning is logged once.
//! - Writes to a closed stdin pipe report [`WriteStatus::StdinClosed`]; this relies on SIGPIPE
//!   being ignored, which is the default for Rust programs.
//! - Each running process holds about four file descriptors: raise `RLIMIT_NOFILE` to match
//!   `Config::max_processes_total` ([`raise_open_file_limit`] lifts the soft limit to the hard
//!   one).
//! - Call [`Engine::shutdown`] to end everything. Dropping the engine (and every handle) kills
//!   the processes of contained sessions, since a session's namespace dies with it; uncontained
//!   children are left running (they still die with the server process when
//!   `Config::kill_on_server_death` is on).
//! - A subscription that is held but not read holds its process back once
//!   `Config::retention_bytes` are buffered: drop subscriptions you do not drain.
//!
//! # Non-goals
//!
//! No networking, no serialization, no environment policy (callers pass the final
//! environment; see the `shell-env-policy` crate), no Windows.

mod backend;
#[doc(hidden)]
pub mod bench_support;
mod config;
mod engine;
mod error;
mod ids;
mod limits;
mod process;
mod retention;
mod session;
mod subscription;
mod types;

pub use backend::{BackendError, BoxEventStream, EventStream, ExecBackend};
pub use config::{AfterSpawn, Config};
pub use engine::{Engine, EngineStats};
pub use error::{ProcessError, SessionError, StartError};
pub use ids::{ProcessId, Seq, SessionId};
pub use limits::raise_open_file_limit;
pub use session::SessionHandle;
pub use session::observe::{ProcessEnd, ProcessWatch};
pub use subscription::Subscription;
pub use types::{
    ChildSandbox, Event, ExitStatus, OutputChunk, ProcessInfo, PtySize, ReadOutcome, ReadRequest, Signal,
    SpawnSpec, StdinMode, Stdio, StreamKind, SubscribeFrom, WriteOptions, WriteStatus,
};
