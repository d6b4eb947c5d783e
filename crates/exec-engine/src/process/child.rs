//! Creating a child at the kernel's pace, and waiting for it.
//!
//! [`clone_child`] runs `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`: the child shares the
//! server's memory (nothing is copied, so the cost does not grow with the server's heap, unlike
//! `fork`), runs on a small stack of its own, and the calling thread sleeps until the child has
//! called `execve` or exited. Everything the child needs ([`ChildPlan`]: C strings, pointer
//! arrays, descriptors, the prepared sandbox) is built here before the clone, so the child does
//! nothing but raw, async-signal-safe syscalls: it allocates nothing, takes no lock, never
//! unwinds, and never returns into the parent's frames. A failure in the child is written into
//! a [`Report`] in the shared memory (which step, which errno) before it exits, and the parent
//! reads it once it wakes up: an exec failure comes back as a typed error, not an exit code.
//!
//! [`Child`] waits for the exit through the pidfd the clone returned (readable once the child
//! has exited; `waitid(P_PIDFD)` reaps it), so there is no SIGCHLD handler and no pid-reuse race.
//!
//! This module does not build pipes or PTYs, and knows nothing of processes' output or
//! sessions: see `spawn.rs`.

use std::cell::Cell;
use std::ffi::{CString, c_int, c_void};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use nix::libc;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use tokio::io::unix::AsyncFd;

use super::namespace::{self, Namespaces};
use crate::types::ExitStatus;

/// Stack of the cloned child. It runs a few dozen frames of straight-line code (the sandbox's
/// `apply_in_child` is the deepest); 256 KiB is ample, and a guard page below it turns an
/// overflow into a crash of the child rather than a write into the server's memory.
const CHILD_STACK_BYTES: usize = 256 * 1024;

/// What runs an executable without `#!` (glibc's `execvp` fallback).
const SHELL: &std::ffi::CStr = c"/bin/sh";

/// The search path when the child's environment has no `PATH` (glibc's `execvp` default).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// How the child detaches from the server's process group and terminal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Leader {
    /// `setpgid(0, 0)`: it leads a new process group (pipes).
    ProcessGroup,
    /// `setsid()`, then `TIOCSCTTY` on its stdin: it leads a new session whose controlling
    /// terminal is the PTY on fd 0 (PTY).
    SessionWithTerminal,
}

/// Everything the child needs, prepared before the clone. The raw pointers point into the
/// `CString`s held beside them.
pub(crate) struct ChildPlan<'a> {
    /// Where `execve` is tried, in order: the program itself when it has a slash, else each
    /// directory of the child's `PATH` joined with it (the `execvp` rules, decided here).
    programs: Vec<CString>,
    _argv: Vec<CString>,
    /// `argv` as a NULL-terminated pointer array.
    argv: Vec<*const libc::c_char>,
    /// `/bin/sh`, the candidate, then `argv[1..]`: what runs a candidate that `execve` refuses
    /// with `ENOEXEC` (an executable text file without `#!`), as `execvp` does. The child fills
    /// in slot 1; a `Cell` because the plan is shared with it (the parent is suspended then).
    shell_argv: Vec<Cell<*const libc::c_char>>,
    _envp: Vec<CString>,
    /// `envp` as a NULL-terminated pointer array.
    envp: Vec<*const libc::c_char>,
    cwd: CString,
    /// The descriptors that become the child's 0, 1 and 2 (close-on-exec in the parent).
    stdio: [RawFd; 3],
    leader: Leader,
    /// `Some(server pid)`: set `PR_SET_PDEATHSIG(SIGKILL)` and check the parent is still this
    /// process (else the server died before the `prctl`, and the child must not run).
    death_signal_parent: Option<libc::pid_t>,
    /// Applied last, just before `execve`.
    sandbox: Option<&'a exec_sandbox::PreparedSandbox>,
    /// The session's namespaces: the calling thread enters the PID namespace for the clone (or,
    /// for a session with a user namespace of its own, an intermediate does), the child joins
    /// the mount namespace first thing.
    namespaces: Option<Namespaces>,
}

/// Which step of the child failed; written into [`Report::stage`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum Stage {
    /// `setpgid` or `setsid`.
    Leader = 1,
    /// `setns` into the session's mount namespace.
    Namespace = 9,
    /// Placing stdin/stdout/stderr (`dup2`, `fcntl`).
    Stdio = 2,
    /// `TIOCSCTTY`.
    ControllingTerminal = 3,
    /// `PR_SET_PDEATHSIG`.
    DeathSignal = 4,
    /// The server died before the death signal was set (`ESRCH`).
    ServerGone = 5,
    /// `chdir`.
    Cwd = 6,
    /// `PreparedSandbox::apply_in_child`.
    Sandbox = 7,
    /// `execve` of every candidate failed.
    Exec = 8,
}

impl Stage {
    fn from_raw(raw: u32) -> Option<Stage> {
        Some(match raw {
            1 => Stage::Leader,
            2 => Stage::Stdio,
            3 => Stage::ControllingTerminal,
            4 => Stage::DeathSignal,
            5 => Stage::ServerGone,
            6 => Stage::Cwd,
            7 => Stage::Sandbox,
            8 => Stage::Exec,
            9 => Stage::Namespace,
            _ => return None,
        })
    }
}

/// Why no child is running: the clone itself failed (`stage` is `None`) or a step in the child.
#[derive(Debug)]
pub(crate) struct ChildFailure {
    pub(crate) stage: Option<Stage>,
    pub(crate) error: io::Error,
}

/// Written by the child (in the memory it shares with the parent) when a step fails; read by
/// the parent after the clone returns, which is after the child exec'd or exited.
#[derive(Debug, Default)]
struct Report {
    stage: AtomicU32,
    errno: AtomicI32,
}

/// What the child's entry point receives.
struct ChildArgs<'a, 'b> {
    plan: &'a ChildPlan<'b>,
    report: &'a Report,
}

impl<'a> ChildPlan<'a> {
    /// Prepares a child: argv (`arg0` replaces what the program sees as `argv[0]`), the complete
    /// environment, the cwd, the stdio descriptors. Fails with `InvalidInput` on a NUL byte.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        argv: &[String],
        arg0: Option<&str>,
        env: &std::collections::BTreeMap<String, String>,
        cwd: &std::path::Path,
        stdio: [RawFd; 3],
        leader: Leader,
        death_signal_parent: Option<libc::pid_t>,
        sandbox: Option<&'a exec_sandbox::PreparedSandbox>,
        namespaces: Option<Namespaces>,
    ) -> io::Result<ChildPlan<'a>> {
        use std::os::unix::ffi::OsStrExt;
        let c_string = |text: &[u8]| {
            CString::new(text)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "nul byte found in provided data"))
        };
        let program = &argv[0];
        let programs = if program.contains('/') {
            vec![c_string(program.as_bytes())?]
        } else {
            let search = env.get("PATH").map_or(DEFAULT_PATH, String::as_str);
            search
                .split(':')
                .map(|dir| {
                    // An empty entry means the current directory, as for execvp.
                    if dir.is_empty() {
                        c_string(program.as_bytes())
                    } else {
                        c_string(format!("{}/{program}", dir.trim_end_matches('/')).as_bytes())
                    }
                })
                .collect::<io::Result<_>>()?
        };
        let mut owned_argv = Vec::with_capacity(argv.len());
        owned_argv.push(c_string(arg0.unwrap_or(program).as_bytes())?);
        for arg in &argv[1..] {
            owned_argv.push(c_string(arg.as_bytes())?);
        }
        let owned_envp: Vec<CString> = env
            .iter()
            .map(|(key, value)| c_string(format!("{key}={value}").as_bytes()))
            .collect::<io::Result<_>>()?;
        let pointers = |strings: &[CString]| -> Vec<*const libc::c_char> {
            strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
        };
        let shell_argv = [SHELL.as_ptr(), std::ptr::null()]
            .into_iter()
            .chain(owned_argv[1..].iter().map(|arg| arg.as_ptr()))
            .chain(std::iter::once(std::ptr::null()))
            .map(Cell::new)
            .collect();
        Ok(ChildPlan {
            programs,
            argv: pointers(&owned_argv),
            shell_argv,
            _argv: owned_argv,
            envp: pointers(&owned_envp),
            _envp: owned_envp,
            cwd: c_string(cwd.as_os_str().as_bytes())?,
            stdio,
            leader,
            death_signal_parent,
            sandbox,
            namespaces,
        })
    }
}

/// A child stack: an anonymous mapping with a guard page at its low end, unmapped on drop.
#[derive(Debug)]
pub(crate) struct ChildStack {
    base: *mut c_void,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; the pointer is only an address.
unsafe impl Send for ChildStack {}
// SAFETY: as above; nothing is reached through a shared reference but the address.
unsafe impl Sync for ChildStack {}

impl ChildStack {
    pub(crate) fn new() -> io::Result<ChildStack> {
        let page = 4096;
        let len = CHILD_STACK_BYTES + page;
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack { base, len };
        // SAFETY: the first page of the mapping made above.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The initial stack pointer: the top of the mapping (stacks grow down), 16-byte aligned.
    pub(crate) fn top(&self) -> *mut c_void {
        // SAFETY: one past the end of the mapping, which is page-aligned (so 16-byte aligned).
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; the child that used it has exec'd or exited.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// A child created by [`clone_child`]: its pid (in the server's PID namespace) and its pidfd.
#[derive(Debug)]
pub(crate) struct RawChild {
    pub(crate) pid: u32,
    pub(crate) pidfd: OwnedFd,
}

/// Creates the child described by `plan` and returns once it has exec'd.
///
/// The calling thread is the child's parent for `PR_SET_PDEATHSIG`: the caller must be a
/// long-lived thread (see `spawn.rs`). Signals are blocked on the calling thread for the
/// duration of the clone, so no handler of the server ever runs in the child (which shares its
/// memory); the child resets every handled signal to its default and unblocks all signals just
/// before `execve`.
pub(crate) fn clone_child(plan: &ChildPlan<'_>) -> Result<RawChild, ChildFailure> {
    if let Some(namespaces) = plan.namespaces
        && let Some(user) = namespaces.user
    {
        return clone_through_intermediate(plan, user, namespaces.pid);
    }
    let clone_failure = |error: io::Error| ChildFailure { stage: None, error };
    let stack = ChildStack::new().map_err(clone_failure)?;
    let report = Report::default();
    let args = ChildArgs { plan, report: &report };
    let mut pidfd: c_int = -1;
    let own_namespace = match plan.namespaces {
        Some(namespaces) => {
            let own = namespace::own_pid_namespace().map_err(clone_failure)?;
            // SAFETY: setns on descriptors that stay open for the call; CLONE_NEWPID changes
            // only where this thread's next children are created, not this thread itself.
            if unsafe { libc::setns(namespaces.pid, libc::CLONE_NEWPID) } != 0 {
                return Err(clone_failure(io::Error::last_os_error()));
            }
            Some(own)
        }
        None => None,
    };

    let mut all: libc::sigset_t = unsafe_zeroed_sigset();
    let mut previous: libc::sigset_t = unsafe_zeroed_sigset();
    // SAFETY: valid sigset pointers; blocks every signal on this thread only, restored below.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
    }
    // SAFETY: `child_main` only makes async-signal-safe syscalls over `args`, which lives in
    // this frame; CLONE_VFORK suspends this thread until the child has exec'd or exited, so
    // `args`, `plan` and `stack` outlive every use the child makes of them. SIGCHLD as the exit
    // signal makes it an ordinary child for waitid. CLONE_PIDFD writes the pidfd (close-on-exec)
    // into `pidfd`.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
            std::ptr::from_ref(&args).cast_mut().cast(),
            &mut pidfd as *mut c_int,
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
    if let Some(own) = own_namespace {
        // SAFETY: back to this process's own PID namespace for this thread's later children.
        if unsafe { libc::setns(own, libc::CLONE_NEWPID) } != 0 {
            // Every later fork of this thread would land in the session's namespace: there is
            // no safe way to go on.
            panic!("cannot return to the server's PID namespace: {}", io::Error::last_os_error());
        }
    }
    drop(stack);
    if pid < 0 {
        return Err(clone_failure(clone_error));
    }
    if pidfd < 0 {
        // A kernel older than 5.2 ignores CLONE_PIDFD. Such a child cannot be waited for here.
        kill_and_reap_pid(pid);
        return Err(clone_failure(io::Error::new(
            io::ErrorKind::Unsupported,
            "this kernel has no pidfd support (Linux 5.4 or later is needed)",
        )));
    }
    // SAFETY: CLONE_PIDFD gave us this new descriptor, owned by nobody else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let stage = report.stage.load(Ordering::SeqCst);
    if let Some(stage) = Stage::from_raw(stage) {
        let errno = report.errno.load(Ordering::SeqCst);
        // The child has exited (it woke us by exiting, not by exec): reap it.
        reap_blocking(&pidfd);
        return Err(ChildFailure { stage: Some(stage), error: io::Error::from_raw_os_error(errno) });
    }
    Ok(RawChild { pid: u32::try_from(pid).expect("a positive pid"), pidfd })
}

/// What the intermediate of [`clone_through_intermediate`] needs.
struct IntermediateArgs<'a, 'b> {
    child: ChildArgs<'a, 'b>,
    user_namespace: RawFd,
    pid_namespace: RawFd,
    /// The child's stack (the intermediate runs on another).
    child_stack: *mut c_void,
    /// The child's pid (in the server's PID namespace), set by the intermediate.
    child_pid: AtomicI32,
}

/// [`clone_child`] into a session namespace owned by a user namespace of its own (a server
/// without `CAP_SYS_ADMIN`). Entering that PID namespace takes `CAP_SYS_ADMIN` in the caller's
/// own user namespace as well, so the spawning thread cannot do it; and a thread of a
/// multi-threaded process cannot enter a user namespace. So an intermediate is cloned
/// (`CLONE_VM | CLONE_VFORK`, its own single-threaded thread group with its own fs struct),
/// joins the session's user namespace (gaining every capability there), then its PID namespace
/// (for its children), and clones the real child with `CLONE_PARENT | CLONE_VM | CLONE_VFORK`:
/// the child is the **server's** child, in the session's namespaces, with the server's pid of
/// it; then the intermediate exits. The child runs [`run_child`] as usual. The pidfd comes from
/// `pidfd_open` once the intermediate is gone (the child is ours and unreaped, so its pid
/// cannot be reused meanwhile). Costs one more `clone` and `exit` than the direct path.
fn clone_through_intermediate(
    plan: &ChildPlan<'_>,
    user_namespace: RawFd,
    pid_namespace: RawFd,
) -> Result<RawChild, ChildFailure> {
    let clone_failure = |error: io::Error| ChildFailure { stage: None, error };
    let intermediate_stack = ChildStack::new().map_err(clone_failure)?;
    let child_stack = ChildStack::new().map_err(clone_failure)?;
    let report = Report::default();
    let args = IntermediateArgs {
        child: ChildArgs { plan, report: &report },
        user_namespace,
        pid_namespace,
        child_stack: child_stack.top(),
        child_pid: AtomicI32::new(0),
    };
    let mut all: libc::sigset_t = unsafe_zeroed_sigset();
    let mut previous: libc::sigset_t = unsafe_zeroed_sigset();
    // SAFETY: as in `clone_child`: every signal blocked on this thread for the clone (inherited
    // by the intermediate and the child), `intermediate_main` makes only raw syscalls over
    // `args`, which this suspended frame keeps alive with both stacks until it has exited.
    let intermediate = unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        let pid = libc::clone(
            intermediate_main,
            intermediate_stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(&args).cast_mut().cast(),
        );
        let error = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        if pid < 0 {
            return Err(clone_failure(error));
        }
        pid
    };
    // The intermediate has exited (CLONE_VFORK woke us): reap it.
    reap_pid(intermediate);
    drop(intermediate_stack);
    drop(child_stack);
    let stage = report.stage.load(Ordering::SeqCst);
    let errno = report.errno.load(Ordering::SeqCst);
    let child_pid = args.child_pid.load(Ordering::SeqCst);
    if child_pid <= 0 {
        // The intermediate failed before the child existed.
        let stage = Stage::from_raw(stage).unwrap_or(Stage::Namespace);
        return Err(ChildFailure { stage: Some(stage), error: io::Error::from_raw_os_error(errno) });
    }
    // SAFETY: pidfd_open of our own unreaped child; the new descriptor is owned below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child_pid, 0) };
    if pidfd < 0 {
        let error = io::Error::last_os_error();
        kill_and_reap_pid(child_pid);
        return Err(clone_failure(error));
    }
    // SAFETY: a new descriptor (close-on-exec, as every pidfd), owned by nobody else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    if let Some(stage) = Stage::from_raw(stage) {
        reap_blocking(&pidfd);
        return Err(ChildFailure { stage: Some(stage), error: io::Error::from_raw_os_error(errno) });
    }
    Ok(RawChild { pid: u32::try_from(child_pid).expect("a positive pid"), pidfd })
}

/// The intermediate of [`clone_through_intermediate`]. Never returns.
extern "C" fn intermediate_main(args: *mut c_void) -> c_int {
    // SAFETY: `args` is the `IntermediateArgs` of `clone_through_intermediate`, alive while its
    // thread is suspended; raw syscalls only, and the process leaves with `_exit`.
    unsafe {
        let args = &*(args as *const IntermediateArgs<'_, '_>);
        let fail = |errno: i32| -> ! {
            args.child.report.errno.store(errno, Ordering::SeqCst);
            args.child.report.stage.store(Stage::Namespace as u32, Ordering::SeqCst);
            libc::_exit(127)
        };
        if libc::setns(args.user_namespace, libc::CLONE_NEWUSER) < 0 {
            fail(last_errno());
        }
        if libc::setns(args.pid_namespace, libc::CLONE_NEWPID) < 0 {
            fail(last_errno());
        }
        // CLONE_PARENT: the child's parent is the server (this process's parent), which waits
        // for it; its exit signal is SIGCHLD, this process's.
        let pid = libc::clone(
            child_main,
            args.child_stack,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PARENT,
            std::ptr::from_ref(&args.child).cast_mut().cast(),
        );
        if pid < 0 {
            fail(last_errno());
        }
        args.child_pid.store(pid, Ordering::SeqCst);
        libc::_exit(0)
    }
}

/// Reaps a child known to have exited, by pid.
fn reap_pid(pid: libc::pid_t) {
    // SAFETY: waitpid on our own child; a null status pointer is allowed.
    while unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL) } < 0 {
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            tracing::warn!(error = %io::Error::last_os_error(), "could not reap a spawn's intermediate");
            return;
        }
    }
}

fn unsafe_zeroed_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is a plain bit array; all-zero is the empty set.
    unsafe { std::mem::zeroed() }
}

/// Waits (blocking) for a child known to have exited or to be dying from SIGKILL.
fn reap_blocking(pidfd: &OwnedFd) {
    loop {
        match waitid(Id::PIDFd(pidfd.as_fd()), WaitPidFlag::WEXITED) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%error, "could not reap a child whose start failed");
                return;
            }
        }
    }
}

fn kill_and_reap_pid(pid: libc::pid_t) {
    // SAFETY: plain syscalls on a child of ours that has not been reaped, so the pid is ours.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        while libc::waitpid(pid, std::ptr::null_mut(), 0) < 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
    }
}

impl RawChild {
    /// SIGKILLs and reaps a child whose setup failed after the clone (blocking: a killed child
    /// exits at once).
    pub(crate) fn kill_and_reap(self) {
        // SAFETY: the pidfd is ours and open; pidfd_send_signal to our unreaped child.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0u32,
            )
        };
        if sent != 0 {
            tracing::warn!(error = %io::Error::last_os_error(), "could not kill a child whose setup failed");
        }
        reap_blocking(&self.pidfd);
    }

    /// Registers the pidfd with the runtime, for [`Child::wait`]; hands the child back on failure.
    pub(crate) fn into_child(self) -> Result<Child, (io::Error, RawChild)> {
        // SAFETY: the `OwnedFd` moves into the `AsyncFd`, so the descriptor stays open and names
        // the same pidfd until the `AsyncFd` is dropped.
        match unsafe { AsyncFd::register(self.pidfd) } {
            Ok(pidfd) => Ok(Child { pid: self.pid, pidfd }),
            Err(error) => {
                let (pidfd, error) = error.into_parts();
                Err((error, RawChild { pid: self.pid, pidfd }))
            }
        }
    }
}

/// A running child, waited for through its pidfd.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) pid: u32,
    pidfd: AsyncFd<OwnedFd>,
}

impl Child {
    /// Waits until the child exits and reaps it.
    pub(crate) async fn wait(&self) -> io::Result<ExitStatus> {
        loop {
            let mut guard = self.pidfd.readable().await?;
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
            match waitid(Id::PIDFd(self.pidfd.get_ref().as_fd()), flags) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(ExitStatus::Code(code)),
                Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(ExitStatus::Signal(signal as i32)),
                Ok(_) => guard.clear_ready(),
                Err(nix::errno::Errno::EINTR) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// The child's entry point, on its own stack, sharing the parent's memory. Never returns: it
/// `execve`s or reports a failure and `_exit`s.
extern "C" fn child_main(args: *mut c_void) -> c_int {
    // SAFETY: `args` is the `ChildArgs` of `clone_child`, alive while its thread is suspended.
    let ChildArgs { plan, report } = unsafe { &*(args as *const ChildArgs<'_, '_>) };
    // SAFETY: raw syscalls over prepared data; see `run_child`.
    let (stage, errno) = unsafe { run_child(plan) };
    report.errno.store(errno, Ordering::SeqCst);
    report.stage.store(stage as u32, Ordering::SeqCst);
    // SAFETY: ends this child at once, without running any of the parent's exit handlers.
    unsafe { libc::_exit(127) }
}

fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL)
}

/// The child's steps, in order. Returns only on failure, with the step and the errno.
///
/// # Safety
///
/// Only in the child of `clone_child`: async-signal-safe syscalls, no allocation, no lock, no
/// panic (every index is in bounds by construction).
unsafe fn run_child(plan: &ChildPlan<'_>) -> (Stage, i32) {
    // SAFETY: the whole body is raw syscalls over pointers into `plan`, which the suspended
    // parent keeps alive.
    unsafe {
        // Joining a mount namespace also moves the root and cwd to its root: do it first.
        if let Some(namespaces) = plan.namespaces
            && libc::setns(namespaces.mount, libc::CLONE_NEWNS) < 0
        {
            return (Stage::Namespace, last_errno());
        }
        let leader = match plan.leader {
            Leader::ProcessGroup => libc::setpgid(0, 0),
            Leader::SessionWithTerminal => libc::setsid(),
        };
        if leader < 0 {
            return (Stage::Leader, last_errno());
        }

        // A source on 0-2 (possible when the server runs with a closed stdio descriptor) would
        // be overwritten by an earlier dup2: move such a source out of the way first.
        let mut sources = plan.stdio;
        for source in &mut sources {
            if *source < 3 {
                let moved = libc::fcntl(*source, libc::F_DUPFD_CLOEXEC, 3);
                if moved < 0 {
                    return (Stage::Stdio, last_errno());
                }
                *source = moved;
            }
        }
        for (target, source) in sources.iter().enumerate() {
            // dup2 clears close-on-exec on the copy.
            if libc::dup2(*source, target as c_int) < 0 {
                return (Stage::Stdio, last_errno());
            }
        }

        if plan.leader == Leader::SessionWithTerminal && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
            return (Stage::ControllingTerminal, last_errno());
        }

        if let Some(parent) = plan.death_signal_parent {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) < 0 {
                return (Stage::DeathSignal, last_errno());
            }
            // Reparented already: the server died before the prctl, so do not run at all.
            if libc::getppid() != parent {
                return (Stage::ServerGone, libc::ESRCH);
            }
        }

        if libc::chdir(plan.cwd.as_ptr()) < 0 {
            return (Stage::Cwd, last_errno());
        }

        // Every signal is blocked (inherited from the parent's mask at the clone). Before
        // unblocking, put every handled signal back to its default, so a handler of the server
        // can never run here on the server's memory; and SIGPIPE, which Rust programs ignore,
        // back to the default too, as std does for its children.
        for signal in 1..libc::SIGRTMAX() + 1 {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            let mut current: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut current) != 0 {
                continue; // glibc's internal signals: reset by execve anyway.
            }
            if current.sa_sigaction != libc::SIG_IGN || signal == libc::SIGPIPE {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }

        if let Some(sandbox) = plan.sandbox
            && let Err(error) = sandbox.apply_in_child()
        {
            let errno = error.raw_os_error().unwrap_or(libc::EPERM);
            // An OS error holds no allocation, but never run a destructor here.
            std::mem::forget(error);
            return (Stage::Sandbox, errno);
        }

        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());

        // execvp's search rules: skip candidates that do not exist, remember EACCES, run a
        // script without `#!` under the shell, stop at any other error.
        let mut saw_eacces = false;
        let mut errno = libc::ENOENT;
        for program in &plan.programs {
            libc::execve(program.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
            errno = last_errno();
            match errno {
                libc::ENOEXEC => {
                    // Not a binary and no `#!`: run it under the shell, as execvp does.
                    plan.shell_argv[1].set(program.as_ptr());
                    libc::execve(SHELL.as_ptr(), plan.shell_argv.as_ptr().cast(), plan.envp.as_ptr());
                    return (Stage::Exec, libc::ENOEXEC);
                }
                libc::EACCES => saw_eacces = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                _ => return (Stage::Exec, errno),
            }
        }
        (Stage::Exec, if saw_eacces { libc::EACCES } else { errno })
    }
}
