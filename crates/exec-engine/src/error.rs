//! Error types of the engine API, one per family of calls.
//!
//! Messages are lowercase and name the thing. The wire error codes and texts are chosen where the
//! protocol is spoken (`exec-transport`), not here.

use std::path::PathBuf;

use crate::ids::{ProcessId, SessionId};

/// Why a session could not be created or resumed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// `Config::max_sessions` sessions already exist.
    #[error("too many sessions (limit {limit})")]
    TooManySessions {
        /// The configured limit.
        limit: usize,
    },
    /// No such session, or it was past its deadline (then it has just been torn down).
    #[error("unknown session id {0}")]
    UnknownSession(SessionId),
}

/// Why `start` failed. Nothing was left running.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `argv` was empty.
    #[error("argv must not be empty")]
    EmptyArgv,
    /// `cwd` was not absolute.
    #[error("cwd must be an absolute path: {0}")]
    RelativeCwd(PathBuf),
    /// The id is taken in this session (also under concurrent starts: exactly one wins).
    #[error("process ID already exists: {0}")]
    DuplicateId(ProcessId),
    /// A process limit (per session or total) was reached.
    #[error("too many processes (limit {limit})")]
    TooManyProcesses {
        /// The limit that was reached.
        limit: usize,
    },
    /// The working directory does not exist or is not a searchable directory.
    #[error("cannot use cwd {}: {source}", cwd.display())]
    Cwd {
        /// The requested directory.
        cwd: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The OS refused to spawn (missing binary, not executable, out of resources, ...).
    #[error("failed to spawn {program}: {source}")]
    Spawn {
        /// `argv[0]`.
        program: String,
        /// The OS error; its text is part of this error's `Display`.
        source: std::io::Error,
    },
    /// The child could not be confined by [`SpawnSpec::sandbox`](crate::SpawnSpec::sandbox)
    /// (for example a carve-out changed since it was prepared, `ESTALE`, or the kernel refused a
    /// step): it was never run. Errors of the preparation itself are the caller's, before `start`.
    #[error("failed to apply the sandbox: {source}")]
    Sandbox {
        /// The OS error of the step that failed.
        source: std::io::Error,
    },
    /// This handle was superseded by a resume on another handle.
    #[error("session has been resumed by another connection")]
    SessionTakenOver,
}

/// Why a call on an existing process failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// No process with that id in this session (never started, or removed after linger).
    #[error("unknown process id {0}")]
    UnknownProcess(ProcessId),
    /// This handle was superseded by a resume on another handle.
    #[error("session has been resumed by another connection")]
    SessionTakenOver,
    /// `resize` on a process that has no PTY.
    #[error("process {0} has no tty")]
    NotATty(ProcessId),
}
