//! The one integration-test binary of `exec-sandbox`: real kernel, real processes.
//!
//! Each test builds its own scratch tree under `std::env::temp_dir()` (unique name, removed on
//! drop), confines real children with `pre_exec(apply_in_child)` or a raw `fork`, and checks that
//! every escape fails closed and that ordinary work still succeeds. These tests need Linux with
//! Landlock ABI >= 6 (scopes), seccomp and `CAP_SYS_ADMIN` (for carve-outs); the CI machine has them.

mod confined;
mod devices;
mod files;
mod heuristic;
mod network;
mod resolve;
mod unprivileged;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use exec_sandbox::{PreparedSandbox, SandboxPolicy};

/// A scratch directory, canonical, removed with everything in it on drop.
#[derive(Debug)]
pub struct Scratch {
    root: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique =
            format!("exec-sandbox-{name}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let root = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&root).expect("create scratch dir");
        let root = std::fs::canonicalize(root).expect("canonical scratch dir");
        Scratch { root }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        if relative.is_empty() { self.root.clone() } else { self.root.join(relative) }
    }

    pub fn dir(&self, relative: &str) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(&path).expect("create dir");
        path
    }

    pub fn file(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a failed cleanup leaves a uniquely named directory behind, nothing else.
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn prepare(policy: &SandboxPolicy) -> Arc<PreparedSandbox> {
    Arc::new(policy.prepare().unwrap_or_else(|error| panic!("prepare {policy:?}: {error}")))
}

/// Runs `sh -c script` confined by `sandbox`; returns its output.
pub fn sh(sandbox: &Arc<PreparedSandbox>, script: &str) -> Output {
    let sandbox = Arc::clone(sandbox);
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(script).stdin(Stdio::null());
    // SAFETY: apply_in_child is async-signal-safe (raw syscalls over prepared data).
    unsafe {
        command.pre_exec(move || sandbox.apply_in_child());
    }
    command.output().expect("spawn sandboxed sh")
}

/// Forks, confines the child with `sandbox`, runs `body` in it and returns its exit code.
/// `body` must be async-signal-safe (raw syscalls only): the test binary is multi-threaded.
pub fn in_child(sandbox: &PreparedSandbox, body: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs only raw syscalls and leaves with _exit.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = match sandbox.apply_in_child() {
                Ok(()) => body(),
                Err(_) => 125,
            };
            libc::_exit(code);
        }
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        assert!(libc::WIFEXITED(status), "child did not exit normally: {status:#x}");
        libc::WEXITSTATUS(status)
    }
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| format!("<{error}>"))
}
