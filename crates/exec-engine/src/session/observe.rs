//! Watching a process from outside any attachment, for observers such as an audit log or
//! metrics: [`SessionHandle::watch`] returns a [`ProcessWatch`] that learns the pid at once and
//! how the process ended later.
//!
//! A watch holds no subscriber cursor, so it never applies flow control or keeps output alive,
//! and it outlives detach, takeover and resume: every process that starts also ends, whether or
//! not a client is attached at the time. It does not deliver output (that is `Subscription`).

use std::sync::Arc;

use super::SessionHandle;
use crate::error::ProcessError;
use crate::ids::ProcessId;
use crate::process::Process;
use crate::types::ExitStatus;

/// One process, watched for its end. Cheap: an `Arc` of the process.
#[derive(Debug)]
pub struct ProcessWatch {
    process: Arc<Process>,
}

/// How a watched process ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ProcessEnd {
    /// How it exited; `None` only if the child could not be waited for.
    pub exit: Option<ExitStatus>,
    /// Output bytes read from its stdout pipe, stderr pipe and PTY (one of the two kinds is 0).
    pub stdout_bytes: u64,
    /// See `stdout_bytes`.
    pub stderr_bytes: u64,
    /// See `stdout_bytes`.
    pub pty_bytes: u64,
}

impl SessionHandle {
    /// Watches a started process of this session (see the module docs).
    pub fn watch(&self, id: &ProcessId) -> Result<ProcessWatch, ProcessError> {
        Ok(ProcessWatch { process: self.process(id)? })
    }
}

impl ProcessWatch {
    /// The OS pid (also its process-group id).
    pub fn pid(&self) -> u32 {
        self.process.pid
    }

    /// The last `max_bytes` of its retained output (every stream, in seq order) when it runs in
    /// a sandbox, the evidence for a denial; `None` for an unsandboxed process.
    pub fn sandboxed_output_tail(&self, max_bytes: usize) -> Option<Vec<u8>> {
        self.process.sandboxed.then(|| self.process.output_tail(max_bytes))
    }

    /// Resolves once the process has exited and its output has ended (or it was removed by a
    /// kill: then once the killed child has been reaped).
    pub async fn ended(&self) -> ProcessEnd {
        self.process.wait_closed_or_removed().await;
        let exit = self.process.wait_exit().await;
        let [stdout_bytes, stderr_bytes, pty_bytes] = self.process.lock().log.output_bytes();
        ProcessEnd { exit: Some(exit), stdout_bytes, stderr_bytes, pty_bytes }
    }
}
