//! A Linux sandbox for child processes and for file operations done on their behalf: Landlock for
//! file access, seccomp for network sockets, a private mount namespace for read-only carve-outs.
//!
//! # Where it sits
//!
//! A leaf crate with no internal dependencies, no async runtime and no serialization. The
//! exec-server converts a request's Codex `sandbox` intent (wire JSON) into a [`SandboxIntent`],
//! resolves it into a [`SandboxPolicy`], prepares that once per request and then confines the
//! child between fork and exec (`process/start`), or runs the file operation on a confined thread
//! (`fs/*`). An embedding agent that starts children itself builds a [`SandboxPolicy`]
//! directly; a remote process (`ExecClient`'s `ProcessSandbox`, `exec-client run --sandbox ...`)
//! travels as an intent that the server resolves on its own machine. Operators' view, with the
//! Codex path-kind table: `docs/sandbox.md`.
//!
//! # Main types
//!
//! - [`SandboxIntent`] (with [`FileSystemIntent`], [`Entry`], [`PathSpec`], [`SpecialKind`],
//!   [`Access`], [`MissingPath`]): a mirror of Codex's permission intent.
//!   [`SandboxIntent::resolve`] with a [`ResolveContext`] (workspace roots, cwd, `TMPDIR`) gives a
//!   policy or an [`IntentError`].
//! - [`SandboxPolicy`]: read roots, write roots, read-only carve-outs inside write roots, and
//!   [`Network`] on or off. Plain data; [`SandboxPolicy::read_only`] and
//!   [`SandboxPolicy::workspace_write`] build the two usual ones.
//! - [`SandboxPolicy::prepare`] → [`PreparedSandbox`]: everything that allocates or can fail
//!   slowly, done in the parent. Errors are [`SandboxError`]s of kind
//!   [`SandboxErrorKind::Unavailable`] (refuse the request: `sandboxUnavailable`) or
//!   [`SandboxErrorKind::Preparation`] (`sandboxPreparation`).
//! - [`PreparedSandbox::apply_in_child`]: the async-signal-safe confinement for `pre_exec`.
//! - [`PreparedSandbox::run_confined`]: runs a closure on a thread confined the same way;
//!   [`PreparedSandbox::run_confined_for_reading`]: one that only reads, with read rights on every
//!   root and no write right, which needs no mount namespace for carve-outs.
//! - [`probe`] → [`Support`]: what this kernel offers, for logs and the fail-closed decision.
//! - [`output_suggests_denial`]: the heuristic behind `sandboxDenied`.
//!
//! # Example
//!
//! ```no_run
//! use std::os::unix::process::CommandExt;
//! use std::process::Command;
//! use std::sync::Arc;
//! use exec_sandbox::{
//!     Access, Entry, FileSystemIntent, Network, PathSpec, ResolveContext, SandboxIntent, SpecialKind,
//! };
//!
//! // What `codex exec --sandbox workspace-write` sends, minus the wire encoding.
//! let intent = SandboxIntent {
//!     file_system: FileSystemIntent::Restricted {
//!         entries: vec![
//!             Entry::new(PathSpec::special(SpecialKind::Root), Access::Read),
//!             Entry::new(PathSpec::special(SpecialKind::ProjectRoots), Access::Write),
//!             Entry::new(PathSpec::special_sub(SpecialKind::ProjectRoots, ".git"), Access::Read)
//!                 .skip_if_missing(),
//!         ],
//!     },
//!     network: Network::Restricted,
//! };
//! let context = ResolveContext {
//!     workspace_roots: vec!["/home/dev/repo".into()],
//!     cwd: "/home/dev/repo".into(),
//!     tmpdir: std::env::var_os("TMPDIR").map(Into::into),
//! };
//! let policy = intent.resolve(&context)?;
//! let sandbox = Arc::new(policy.prepare()?); // Before forking: may fail, may allocate.
//!
//! let mut command = Command::new("/bin/sh");
//! command.args(["-c", "echo hi > /etc/x"]).current_dir("/home/dev/repo");
//! let child_sandbox = Arc::clone(&sandbox);
//! // SAFETY: apply_in_child only makes raw syscalls over data prepared above.
//! unsafe { command.pre_exec(move || child_sandbox.apply_in_child()) };
//! let output = command.output()?; // "Permission denied", exit status 2.
//!
//! // A server-side file operation under the same rules:
//! let written = sandbox.run_confined(|| std::fs::write("/home/dev/repo/notes", "ok"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is enforced, and how
//!
//! In the child, between fork and exec, in this order (any failure aborts the spawn):
//! 1. **Read-only carve-outs** (only when there are any): `unshare(CLONE_NEWNS)` (without
//!    `CAP_SYS_ADMIN`: `unshare(CLONE_NEWUSER | CLONE_NEWNS)`, then `setgroups` denied and a
//!    one-line map of the caller's own uid and gid onto themselves, so the process keeps its
//!    uid, its files keep their owners, and ids it cannot map show as the overflow id 65534),
//!    `/` made recursively private (nothing propagates back), each carve-out bind-mounted onto itself and
//!    remounted read-only (keeping its mount's `nosuid`/`nodev`/`noexec`). Writes, creates,
//!    removals and renames inside fail with `EROFS`; renaming or replacing the carve-out itself
//!    fails with `EBUSY`; hard links out of it fail with `EXDEV`. This is how a read-only `.git`
//!    lives inside a writable project root, which Landlock alone cannot express (its rules only
//!    add rights).
//! 2. `prctl(PR_SET_NO_NEW_PRIVS)`: set-uid/set-gid binaries and file capabilities grant nothing.
//! 3. `landlock_restrict_self`: read roots get read-file, read-dir and execute; write roots get
//!    every handled right except creating character and block device nodes (as root, a block
//!    device node in a writable directory would open the raw disk); the
//!    [`ALWAYS_USABLE_DEVICES`] get read, write and (ABI ≥ 5) device `ioctl`. Anything else is
//!    denied: a symlink or `..` resolves to an inode outside every rule, a hard link cannot give a
//!    file more rights than it had, a `/proc/self/fd/N` reopen is checked like any open. Landlock
//!    also forbids `mount`, `umount` and `pivot_root` to the sandboxed process, so it cannot undo
//!    step 1 even as root, and restricts `ptrace` to processes inside its own domain. From ABI 6,
//!    the **signal scope** keeps it from signalling processes outside the sandbox, and with the
//!    network restricted the **abstract-Unix-socket scope** keeps it from connecting to abstract
//!    sockets made outside. From ABI 4, with the network restricted, TCP bind/connect are also
//!    denied by Landlock (a second layer under step 4).
//! 4. The seccomp filter (module `seccomp`): with the network restricted, `socket` and
//!    `socketpair` with any domain but `AF_UNIX` fail with `EACCES` (so TCP and UDP fail,
//!    loopback included, and so do netlink and packet sockets; `socketpair` and path-based Unix
//!    sockets keep working). In every sandbox: `io_uring_*` fail with `ENOSYS` (io_uring
//!    operations are not syscalls and would bypass the filter), loading kernel code, opening by
//!    file handle, the kernel keyrings, `bpf`, `reboot` and swap control fail with `EPERM`;
//!    x32-ABI syscalls fail with `ENOSYS` and a foreign architecture (32-bit `int 0x80`) kills
//!    the process.
//!
//! Every descendant inherits all of it (Landlock domains, seccomp filters, `no_new_privs` and
//! the mount namespace cannot be dropped), including one that forks, calls `setsid` and execs.
//!
//! [`PreparedSandbox::run_confined`] applies steps 1–3 to a fresh thread of the calling process
//! (`landlock_restrict_self` without `TSYNC` and `unshare(CLONE_NEWNS)` both act on the calling
//! thread only) and lets the thread exit afterwards. A thread of a multi-threaded process cannot
//! enter a user namespace, so without `CAP_SYS_ADMIN` a `run_confined` with carve-outs is
//! refused ([`SandboxErrorKind::Unavailable`]); without carve-outs it works everywhere.
//!
//! # What is NOT enforced
//!
//! - **Reads are as broad as the read roots.** With `root: read` (both Codex modes) the process
//!   reads everything the server's user can, secrets included, and `/proc` reveals other
//!   processes' command lines and environments where permissions allow.
//! - **Signals and ptrace** to processes outside the sandbox are blocked only by Landlock: ptrace
//!   from ABI 1, signals from ABI 6 (scopes). On a kernel with ABI 3–5 a sandboxed process can
//!   signal any process its user may signal.
//! - **Abstract Unix sockets** are blocked only from ABI 6 and only when the network is
//!   restricted; with the network enabled they stay reachable.
//! - **Descriptors inherited at spawn** keep working whatever they point to (an open socket, a
//!   writable file): the caller must not leak them (close-on-exec).
//! - **Resources**: CPU, memory, disk space, process count, time are not limited here.
//! - **Kernel attack surface**: the seccomp filter is a short deny list, not an allow list.
//! - **Root's other capabilities**: a sandbox running as root keeps them (`CAP_NET_ADMIN`,
//!   `CAP_SYS_TIME`, ...) for what no rule above covers; run children as an unprivileged user
//!   where that matters.
//! - **Carve-outs are fixed at spawn**: paths are resolved when the policy is resolved and
//!   prepared; a `.git` created later is an ordinary writable directory.
//! - **File metadata**: Landlock does not control `chmod`, `chown`, `utime` or extended
//!   attributes. A confined process may change them on any file it can reach and its user may
//!   change (as the owner: the mode and times of its own files, outside the write roots too);
//!   the contents stay protected.
//!
//! # Kernel requirements and the fail-closed rule
//!
//! Landlock ABI ≥ [`MINIMUM_LANDLOCK_ABI`] (3: the first that controls `truncate`), seccomp
//! filters on x86_64 or aarch64, and for carve-outs a mount namespace: `CAP_SYS_ADMIN`, or else
//! a kernel that lets an unprivileged process create a user namespace (not used at effective
//! uid 0, see [`Support::user_namespace`]). When any of these is missing,
//! [`SandboxPolicy::prepare`] fails with [`SandboxErrorKind::Unavailable`]: the caller must
//! refuse the request, never run it with less confinement than asked. [`WITHHOLD_ENV`]
//! (`EXEC_SANDBOX_WITHHOLD=landlock,seccomp,mount-namespace,user-namespace|all`) makes [`probe`]
//! report mechanisms missing, to test or force those refusals; it can only take away.
//!
//! # Invariants
//!
//! - Nothing the intent asks for is widened: what cannot be expressed exactly (glob patterns,
//!   `deny` inside a granted tree, `write` inside a carve-out, unknown kinds, relative paths) is
//!   an [`IntentError`]; what the kernel cannot enforce is an `Unavailable` error.
//! - [`PreparedSandbox::apply_in_child`] allocates nothing and takes no lock.
//! - A [`PreparedSandbox`] is immutable and reusable: one preparation confines any number of
//!   children and threads.
//!
//! # Non-goals
//!
//! - Spawning processes (the engine does), parsing JSON (the protocol edge does), reading the
//!   environment (the caller passes `TMPDIR`; the one exception is [`WITHHOLD_ENV`], read once by
//!   [`probe`], which can only make it stricter).
//! - Non-Linux platforms, and containers: no `pivot_root`, no cgroups; a user namespace only to
//!   get a mount namespace without privilege.

mod enforce;
mod intent;
mod policy;
mod probe;
mod seccomp;

pub use enforce::{ALWAYS_USABLE_DEVICES, PreparedSandbox};
pub use intent::{
    Access, Entry, FileSystemIntent, IntentError, MINIMAL_READ_ROOTS, MissingPath, PathSpec, ResolveContext,
    SandboxIntent, SpecialKind,
};
pub use policy::{Network, PROTECTED_WORKSPACE_NAMES, SandboxError, SandboxErrorKind, SandboxPolicy};
pub use probe::{MINIMUM_LANDLOCK_ABI, Support, WITHHOLD_ENV, probe};

/// The texts of `EACCES`, `EPERM` and `EROFS` as programs print them.
const DENIAL_TEXTS: &[&[u8]] = &[b"Permission denied", b"Operation not permitted", b"Read-only file system"];

/// How much of the end of the output [`output_suggests_denial`] looks at.
pub const DENIAL_TAIL_BYTES: usize = 8 * 1024;

/// **A heuristic** for `sandboxDenied`: whether a sandboxed command that exited with
/// `exit_code` probably failed because the sandbox refused it.
///
/// True when the exit code is non-zero and the last [`DENIAL_TAIL_BYTES`] of `output_tail` (the
/// exec-server passes the end of the output it still retains, stdout and stderr together, or the
/// PTY stream) contain "Permission denied", "Operation not permitted" or "Read-only file system":
/// the texts of the errors Landlock, seccomp and the read-only mounts produce. It is a guess,
/// wrong both ways: a command can fail on ordinary permissions outside the sandbox's doing
/// (true), or swallow the error and fail later with its own message (false); a refused hard link
/// (`EXDEV`, "Invalid cross-device link", also the plain error across file systems) is not
/// counted. The kernel gives no per-process record of denials that a server could read cheaply.
pub fn output_suggests_denial(exit_code: i32, output_tail: &[u8]) -> bool {
    if exit_code == 0 {
        return false;
    }
    let tail = &output_tail[output_tail.len().saturating_sub(DENIAL_TAIL_BYTES)..];
    DENIAL_TEXTS.iter().any(|text| tail.windows(text.len()).any(|window| window == *text))
}
