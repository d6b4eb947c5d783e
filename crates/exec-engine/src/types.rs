//! Plain data types of the engine API: what to spawn, how its stdio is wired, what came out and
//! how it ended.
//!
//! These types are deliberately not `Serialize`: the wire shapes live in `exec-protocol` and are
//! converted where the protocol is spoken. Nothing here does I/O.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::ids::{ProcessId, Seq};

/// Which output stream a chunk came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum StreamKind {
    /// The child's stdout pipe.
    Stdout,
    /// The child's stderr pipe.
    Stderr,
    /// The PTY master: stdout and stderr of a TTY child, interleaved by the terminal.
    Pty,
}

/// How a process ended: an exit code or the signal that killed it. Never a `-1` sentinel.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ExitStatus {
    /// `exit(code)`.
    Code(i32),
    /// Killed by signal N.
    Signal(i32),
}

impl ExitStatus {
    /// The signal that killed the process, if one did.
    pub fn signal(&self) -> Option<i32> {
        match *self {
            ExitStatus::Code(_) => None,
            ExitStatus::Signal(signal) => Some(signal),
        }
    }

    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Code(0)
    }
}

/// A terminal window size in character cells.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PtySize {
    /// Lines.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl Default for PtySize {
    /// 24×80, the traditional terminal size.
    fn default() -> PtySize {
        PtySize { rows: 24, cols: 80 }
    }
}

/// The stdin of a non-TTY child.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum StdinMode {
    /// `/dev/null`: the child reads EOF at once and never hangs waiting for input.
    Closed,
    /// A pipe the caller writes with [`SessionHandle::write`](crate::SessionHandle::write).
    Pipe,
}

/// How the child's stdio is wired.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Stdio {
    /// Separate stdout and stderr pipes; stdin per [`StdinMode`].
    Pipes {
        /// Whether stdin is a writable pipe or `/dev/null`.
        stdin: StdinMode,
    },
    /// One pseudo-terminal for stdin, stdout and stderr; always writable; the child is the
    /// session leader with the PTY as its controlling terminal (so Ctrl-C and SIGWINCH work).
    Pty {
        /// The initial window size.
        size: PtySize,
    },
}

/// What to run.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SpawnSpec {
    /// Program and arguments; must not be empty. The program is looked up in `env`'s `PATH`
    /// when it has no slash.
    pub argv: Vec<String>,
    /// Working directory; must be absolute.
    pub cwd: PathBuf,
    /// The child's complete environment: the child starts from an empty one and the engine
    /// never reads its own.
    pub env: BTreeMap<String, String>,
    /// What the child sees as `argv[0]`, when it differs from the program.
    pub arg0: Option<String>,
    /// Pipes or a PTY.
    pub stdio: Stdio,
    /// Confine the child with this sandbox (`None`: unconfined). Applied in the child last,
    /// just before `execve`; if it cannot be applied, `start` fails with
    /// [`StartError::Sandbox`](crate::StartError::Sandbox) and nothing runs.
    pub sandbox: Option<ChildSandbox>,
}

/// A prepared sandbox for [`SpawnSpec::sandbox`]: the caller resolves and prepares the policy
/// (`exec_sandbox::SandboxPolicy::prepare`, which opens paths and may fail with its own typed
/// error), the engine applies it in the child. One preparation may confine any number of
/// children. Two `ChildSandbox`es are equal when they share one preparation.
#[derive(Clone, Debug)]
pub struct ChildSandbox(Arc<exec_sandbox::PreparedSandbox>);

impl ChildSandbox {
    /// Wraps a prepared sandbox.
    pub fn new(prepared: Arc<exec_sandbox::PreparedSandbox>) -> ChildSandbox {
        ChildSandbox(prepared)
    }

    /// The prepared sandbox.
    pub fn prepared(&self) -> &exec_sandbox::PreparedSandbox {
        &self.0
    }
}

impl From<exec_sandbox::PreparedSandbox> for ChildSandbox {
    fn from(prepared: exec_sandbox::PreparedSandbox) -> ChildSandbox {
        ChildSandbox(Arc::new(prepared))
    }
}

impl PartialEq for ChildSandbox {
    fn eq(&self, other: &ChildSandbox) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ChildSandbox {}

/// A named signal, sent to the whole process group.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Signal {
    /// SIGINT.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGKILL.
    Kill,
    /// SIGHUP.
    Hangup,
    /// SIGQUIT.
    Quit,
    /// SIGUSR1.
    User1,
    /// SIGUSR2.
    User2,
}

impl Signal {
    pub(crate) fn to_nix(self) -> nix::sys::signal::Signal {
        use nix::sys::signal::Signal as S;
        match self {
            Signal::Interrupt => S::SIGINT,
            Signal::Terminate => S::SIGTERM,
            Signal::Kill => S::SIGKILL,
            Signal::Hangup => S::SIGHUP,
            Signal::Quit => S::SIGQUIT,
            Signal::User1 => S::SIGUSR1,
            Signal::User2 => S::SIGUSR2,
        }
    }
}

/// One piece of output, exactly as read from the pipe or PTY (never split or merged later).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutputChunk {
    /// Its place in the process's event log.
    pub seq: Seq,
    /// Where it came from.
    pub stream: StreamKind,
    /// The bytes (at most `Config::read_chunk_bytes` of them).
    pub data: Bytes,
}

/// A `read` call: a cursor, a byte budget and an optional long poll.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ReadRequest {
    /// Return chunks with seq greater than this; `None` = from the start.
    pub after_seq: Option<Seq>,
    /// Byte budget. The first chunk is always returned even if larger; chunks are never split.
    pub max_bytes: Option<usize>,
    /// With no qualifying chunk and a process that has not exited, wait up to this long for
    /// output or exit.
    pub wait: Option<Duration>,
}

/// The answer to a `read`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReadOutcome {
    /// Retained output chunks after the cursor, oldest first, within the budget.
    pub chunks: Vec<OutputChunk>,
    /// Last returned seq + 1, or the next unassigned seq when no chunk was returned.
    pub next_seq: Seq,
    /// The exit status once the process has exited.
    pub exit: Option<ExitStatus>,
    /// True once the process exited and every stream hit EOF, **and** this read returned every
    /// remaining chunk (so a caller can stop polling when it sees `closed`).
    pub closed: bool,
    /// Set when a stream failed with an error other than EOF (the text of that error).
    pub failure: Option<String>,
    /// Set when chunks after `after_seq` were evicted from retention: every chunk before this
    /// seq (and after the cursor) is gone. A gap is never silent.
    pub dropped_before: Option<Seq>,
}

/// Options of a `write`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct WriteOptions {
    /// Close stdin after the chunk is written. For a PTY (which cannot be half-closed) this
    /// writes the EOF character (Ctrl-D) instead, and the PTY stays writable.
    pub eof: bool,
    /// Makes the write idempotent: a retried write with a seen id is acknowledged and not
    /// written again.
    pub write_id: Option<String>,
}

/// The result of a `write`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum WriteStatus {
    /// Written to the child's stdin (or a duplicate `write_id`).
    Accepted,
    /// No process with that id in this session.
    UnknownProcess,
    /// The process has no writable stdin, or it was closed (by `eof`, or the reader went away).
    StdinClosed,
    /// The id is reserved by a `start` that has not finished spawning.
    Starting,
}

/// Where a subscription starts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SubscribeFrom {
    /// From seq 1 (a `Gap` first if that was evicted).
    Start,
    /// Only events assigned after this call.
    Now,
    /// Events with seq greater than this one (a `Gap` first if some were evicted).
    After(Seq),
}

/// One event of a process, as delivered by a [`Subscription`](crate::Subscription).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// A chunk of output.
    Output(OutputChunk),
    /// The process exited (output still buffered in the pipe may follow with later seqs).
    Exited {
        /// Its place in the log.
        seq: Seq,
        /// How it ended.
        status: ExitStatus,
    },
    /// The process exited and every output stream hit EOF: nothing more will come.
    Closed {
        /// Its place in the log.
        seq: Seq,
    },
    /// Events between the subscription's cursor and `dropped_before` were evicted before this
    /// subscription could see them. Only happens when subscribing `Start`/`After` a seq that
    /// is already gone: a live subscription holds back the reader instead of losing output.
    Gap {
        /// The first seq delivered after the gap.
        dropped_before: Seq,
    },
    /// Delivery stopped for good: a remote backend lost its connection and could not recover,
    /// or could not catch the process up. The local engine never produces it. It is the last
    /// event of its stream.
    Failed {
        /// The first seq that was not delivered.
        next_seq: Seq,
        /// Why, in one line.
        reason: String,
    },
}

impl Event {
    /// The seq of this event (for a gap, the first seq after it; for a failure, the first seq
    /// that was not delivered).
    pub fn seq(&self) -> Seq {
        match self {
            Event::Output(chunk) => chunk.seq,
            Event::Exited { seq, .. } | Event::Closed { seq } => *seq,
            Event::Gap { dropped_before } => *dropped_before,
            Event::Failed { next_seq, .. } => *next_seq,
        }
    }
}

/// One row of `list`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProcessInfo {
    /// The client-chosen id.
    pub id: ProcessId,
    /// What was started.
    pub argv: Vec<String>,
    /// The OS pid (also the process-group id).
    pub pid: Option<u32>,
    /// Whether it runs on a PTY.
    pub tty: bool,
    /// Whether it was started under a sandbox ([`SpawnSpec::sandbox`]); a server reports it as
    /// `sandboxType` and only then considers `sandboxDenied`.
    pub sandboxed: bool,
    /// When it was spawned, where known (a remote server without the `startedAtMs` field of
    /// `process/list` does not say).
    pub started: Option<std::time::SystemTime>,
    /// Not yet exited.
    pub running: bool,
    /// How it ended, once it has.
    pub exit: Option<ExitStatus>,
    /// The next unassigned seq.
    pub next_seq: Seq,
}
