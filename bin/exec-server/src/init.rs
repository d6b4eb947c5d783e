//! PID 1 duty, for a container without an init (tini, dumb-init): when `exec-server` starts as
//! PID 1 of its PID namespace, it forks before doing anything else. The parent stays PID 1 and
//! does only what an init must: it reaps every child that ends (the orphans of commands, such as
//! the survivors of a double fork, are re-parented to it) and forwards every signal it gets to
//! the server, the child, which then runs exactly as it would anywhere else. When the server
//! exits, PID 1 exits with its status (128 + the signal number if a signal ended it), and the
//! kernel ends whatever is left in the namespace.
//!
//! Why two processes rather than the server reaping orphans itself: the engine waits for each of
//! its children through a pidfd, and a reaper in the same process would have to tell orphans
//! from the engine's children, including one that has exited before the engine recorded it. Here
//! the engine's children are the server's and the orphans are PID 1's: nothing can be reaped by
//! the wrong waiter, and nothing runs on the server's paths.
//!
//! Not here: anything when the server is not PID 1 (systemd, a shell, Kubernetes with
//! `shareProcessNamespace`): then this does nothing, and orphans go to that PID 1.

/// Signals that report a fault of the thread that gets them: never blocked, never forwarded.
const SYNCHRONOUS: [libc::c_int; 6] =
    [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP, libc::SIGSYS];

/// Returns at once unless this process is PID 1. As PID 1, forks: the child returns (and becomes
/// the server); the parent never returns, it reaps and forwards until the child exits, then
/// exits the same way. Call first thing in `main`, while the process has one thread.
pub(crate) fn become_init_if_pid_1() {
    if std::process::id() != 1 {
        return;
    }
    // SAFETY: plain libc calls on local, initialised signal sets; the process has one thread,
    // so fork is safe, and the child only restores its mask before returning to `main`.
    unsafe {
        let mut forwarded: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut forwarded);
        for signal in SYNCHRONOUS {
            libc::sigdelset(&mut forwarded, signal);
        }
        let mut original: libc::sigset_t = std::mem::zeroed();
        // Blocked before the fork, so no signal that comes meanwhile is lost: the parent takes
        // them with sigwait, the child gets its mask back and sees the pending ones.
        libc::sigprocmask(libc::SIG_SETMASK, &forwarded, &mut original);
        let server = libc::fork();
        if server < 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &original, std::ptr::null_mut());
            eprintln!(
                "exec-server: running as PID 1 but cannot fork an init ({}); orphaned processes \
                 will not be reaped",
                std::io::Error::last_os_error()
            );
            return;
        }
        if server == 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &original, std::ptr::null_mut());
            return;
        }
        let status = supervise(server, &forwarded);
        libc::_exit(status);
    }
}

/// PID 1's loop: forwards signals to `server`, reaps every child on SIGCHLD; returns the exit
/// code to leave with once `server` has exited.
///
/// # Safety
/// Only in the parent of [`become_init_if_pid_1`], with `forwarded` blocked.
unsafe fn supervise(server: libc::pid_t, forwarded: &libc::sigset_t) -> libc::c_int {
    loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: `forwarded` is an initialised set, `signal` a valid out-pointer.
        if unsafe { libc::sigwait(forwarded, &mut signal) } != 0 {
            continue;
        }
        if signal != libc::SIGCHLD {
            // The server may have exited a moment ago; then ESRCH, and the SIGCHLD that follows
            // ends the loop.
            // SAFETY: kill has no memory effects.
            unsafe { libc::kill(server, signal) };
            continue;
        }
        // One SIGCHLD may stand for many exits: reap until none is left.
        let mut server_status = None;
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: `status` is a valid out-pointer.
            let reaped = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if reaped <= 0 {
                break;
            }
            if reaped == server {
                server_status = Some(status);
            }
        }
        if let Some(status) = server_status {
            return if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                libc::WEXITSTATUS(status)
            };
        }
    }
}
