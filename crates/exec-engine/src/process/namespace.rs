//! Whole-tree containment: one PID namespace per session, whose init dies with the server.
//!
//! The process-group kill reaches only processes that stay in the group, and the parent-death
//! signal only direct children: a `setsid` daemon or a double-forked grandchild escapes both. A
//! PID namespace does not let anything escape: when its init (PID 1) dies, the kernel SIGKILLs
//! every process in it. So each session gets a [`SessionNamespace`] on its first `start`:
//!
//! 1. The init is cloned from the spawning thread with `CLONE_NEWPID | CLONE_VM` (sharing the
//!    server's memory, so creating it costs the same whatever the heap) on a stack of its own.
//!    Without `CAP_SYS_ADMIN` (an unprivileged server) that clone fails with `EPERM`, and the
//!    init is cloned with `CLONE_NEWUSER` as well: it then writes `deny` to its `setgroups` and
//!    maps the server's own uid and gid onto themselves (lines formatted before the clone), and
//!    the PID and mount namespaces belong to that user namespace. Not for uid 0 (root without
//!    `CAP_SYS_ADMIN`): a user namespace mapping uid 0 would give commands capabilities over
//!    root-owned files that the server's bounding set took away.
//!    It sets `PR_SET_PDEATHSIG(SIGKILL)` (and checks, through a pidfd of the server, that the
//!    server did not die first), makes a mount namespace whose `/proc` is the new PID
//!    namespace's (so `ps`, `pgrep`, `kill` and `$$` inside a session agree on pids; mounts
//!    still propagate in from the host, none out), closes every descriptor, reports on a pipe,
//!    and then only reaps the orphans reparented to it. It uses raw `syscall` instructions
//!    only: it runs *concurrently* with the server in the same memory and shares the spawning
//!    thread's TLS, so it must not touch `errno` or anything else the server uses.
//! 2. Each spawn of the session enters the namespace with `setns(CLONE_NEWPID)` on the spawning
//!    thread just before its clone (which changes only where that thread's *next* children go)
//!    and restores the thread's own namespace just after; the child joins the mount namespace
//!    with `setns(CLONE_NEWNS)` before anything else. The child is the server's child, not the
//!    init's: pids the engine reports are the server's, and signals keep their meaning (the
//!    command is never PID 1). With a user namespace of the session's own, the spawning thread
//!    may not enter the PID namespace (that takes `CAP_SYS_ADMIN` in the caller's own user
//!    namespace too), so a short-lived intermediate child joins the user and PID namespaces
//!    and clones the child with `CLONE_PARENT` (`child.rs`, `clone_through_intermediate`): the
//!    child is still the server's, one `clone` and one `exit` later. Its commands run with the
//!    server's uid and no capabilities (they are dropped at `execve`); files and processes of
//!    other users show as owned by the overflow id (`nobody`).
//! 3. Teardown (expiry, shutdown) SIGKILLs the init; the kernel kills the rest. If the server
//!    dies (even by SIGKILL), the init's death signal does the same.
//!
//! Where the namespace cannot be made (neither `CAP_SYS_ADMIN` nor unprivileged user
//! namespaces, or a container that forbids mounting `/proc`, as one with masked `/proc` paths
//! does inside a user namespace), sessions run uncontained, as before, and this is logged once.
//!
//! Not here: cgroups (no resource limits).

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, Once, OnceLock};

use nix::libc;

use super::child::{ChildStack, RawChild};

/// What the init needs; lives in a `Box` owned by the [`SessionNamespace`] until the init is
/// reaped (the init reads it concurrently with the server).
#[derive(Debug)]
struct InitArgs {
    /// A pidfd of the server process: readable once the server has exited.
    server_pidfd: RawFd,
    /// The write end of the report pipe.
    report: RawFd,
    /// Without `CAP_SYS_ADMIN`: the init was created in a new user namespace too, and writes
    /// these maps of the server's own uid and gid for it.
    id_maps: Option<IdMaps>,
}

/// `/proc/self/uid_map` and `gid_map` lines, formatted before the clone (the init does not
/// allocate): `"U U 1\n"`, mapping one id onto itself.
#[derive(Debug)]
struct IdMaps {
    uid_map: [u8; 32],
    uid_len: usize,
    gid_map: [u8; 32],
    gid_len: usize,
}

impl IdMaps {
    fn of_this_process() -> IdMaps {
        let line = |id: u32| {
            let text = format!("{id} {id} 1\n");
            let mut buffer = [0u8; 32];
            buffer[..text.len()].copy_from_slice(text.as_bytes());
            (buffer, text.len())
        };
        // SAFETY: geteuid and getegid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let (uid_map, uid_len) = line(uid);
        let (gid_map, gid_len) = line(gid);
        IdMaps { uid_map, uid_len, gid_map, gid_len }
    }
}

/// The report byte the init writes once it is set up: `READY`, or the errno of the step that
/// failed, or `PROC_REFUSED`.
const READY: u8 = 0;

/// The kernel refused the new `/proc` with `EPERM` (above every errno value). Inside a user
/// namespace it allows a new `/proc` only where the existing one is fully visible: not where
/// paths of it are masked or made read-only by over-mounts, as systemd's
/// `ProtectKernelTunables=`/`ProtectKernelLogs=` and container runtimes' masked paths do.
const PROC_REFUSED: u8 = 254;

/// One session's PID namespace and its init.
#[derive(Debug)]
pub(crate) struct SessionNamespace {
    /// Descriptors of the namespaces spawns enter.
    pid_namespace: OwnedFd,
    mount_namespace: OwnedFd,
    /// The user namespace that owns the other two, when the server lacks `CAP_SYS_ADMIN`.
    user_namespace: Option<OwnedFd>,
    /// The init, until teardown takes it to kill and reap it.
    init: Mutex<Option<InitProcess>>,
}

#[derive(Debug)]
struct InitProcess {
    child: RawChild,
    /// The memory the init runs on: unmapped only once it is reaped.
    stack: ChildStack,
    args: Box<InitArgs>,
}

/// The namespace descriptors a spawn enters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Namespaces {
    pub(crate) pid: RawFd,
    pub(crate) mount: RawFd,
    /// `Some` when the namespaces belong to a user namespace of their own: the spawning thread
    /// cannot enter the PID namespace then (that takes `CAP_SYS_ADMIN` in its own user
    /// namespace too), so the child is made through a short-lived intermediate (`child.rs`).
    pub(crate) user: Option<RawFd>,
}

impl SessionNamespace {
    /// Creates the init and its namespaces, on the calling thread (a long-lived one: the init
    /// dies with it): with `CLONE_NEWPID`, or where that is refused (no `CAP_SYS_ADMIN`) and the
    /// server is not uid 0, with `CLONE_NEWUSER | CLONE_NEWPID`. `Err` when this process cannot
    /// make them.
    pub(crate) fn create() -> io::Result<SessionNamespace> {
        match SessionNamespace::create_with(false) {
            Err(error)
                // SAFETY: geteuid cannot fail.
                if error.raw_os_error() == Some(libc::EPERM) && unsafe { libc::geteuid() } != 0 =>
            {
                SessionNamespace::create_with(true).map_err(|user_error| {
                    io::Error::new(
                        user_error.kind(),
                        format!("{error}; in a user namespace of its own: {user_error}"),
                    )
                })
            }
            other => other,
        }
    }

    fn create_with(user_namespace: bool) -> io::Result<SessionNamespace> {
        // SAFETY: pidfd_open of our own pid; the new descriptor is owned below.
        let server_pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
        if server_pidfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor (close-on-exec, as every pidfd), owned by nobody else.
        let server_pidfd = unsafe { OwnedFd::from_raw_fd(server_pidfd as RawFd) };
        let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let stack = ChildStack::new()?;
        let args = Box::new(InitArgs {
            server_pidfd: server_pidfd.as_raw_fd(),
            report: report_write.as_raw_fd(),
            id_maps: user_namespace.then(IdMaps::of_this_process),
        });
        let user_flag = if user_namespace { libc::CLONE_NEWUSER } else { 0 };

        let mut pidfd: libc::c_int = -1;
        // SAFETY: `init_main` makes only raw syscalls over `args` and its own stack, both kept
        // alive until it is reaped (`InitProcess`). Every signal is blocked on this thread
        // during the clone so the init starts with all of them blocked (it never runs a
        // handler of the server's); the mask is restored right after.
        let pid = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
            let pid = libc::clone(
                init_main,
                stack.top(),
                libc::CLONE_VM | libc::CLONE_NEWPID | user_flag | libc::CLONE_PIDFD | libc::SIGCHLD,
                std::ptr::from_ref::<InitArgs>(&args).cast_mut().cast(),
                &mut pidfd as *mut libc::c_int,
            );
            let error = io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
            if pid < 0 {
                return Err(error);
            }
            pid
        };
        // SAFETY: CLONE_PIDFD gave us this descriptor.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        let child = RawChild { pid: u32::try_from(pid).expect("a positive pid"), pidfd };
        // Our copy of the write end: once the init has reported and closed its own, the read
        // below sees the byte or EOF.
        drop(report_write);
        let mut report = [0xffu8; 1];
        let read = loop {
            match nix::unistd::read(report_read.as_fd(), &mut report) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other,
            }
        };
        let opened = || -> io::Result<(OwnedFd, OwnedFd, Option<OwnedFd>)> {
            let open = |name: &str| -> io::Result<OwnedFd> {
                Ok(std::fs::File::open(format!("/proc/{pid}/ns/{name}"))?.into())
            };
            Ok((open("pid")?, open("mnt")?, if user_namespace { Some(open("user")?) } else { None }))
        };
        let outcome = match read {
            Ok(1) if report[0] == READY => opened(),
            Ok(1) if report[0] == PROC_REFUSED => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the kernel refused a new /proc for the session's namespace (inside a user namespace \
                 it needs a /proc without masked or read-only over-mounts, such as systemd's \
                 ProtectKernelTunables= or a container runtime's masked paths make)",
            )),
            Ok(1) => Err(io::Error::from_raw_os_error(i32::from(report[0]))),
            Ok(_) => Err(io::Error::other("the namespace init exited before it was ready")),
            Err(error) => Err(error.into()),
        };
        drop(server_pidfd);
        let init = InitProcess { child, stack, args };
        match outcome {
            Ok((pid_namespace, mount_namespace, user_namespace)) => Ok(SessionNamespace {
                pid_namespace,
                mount_namespace,
                user_namespace,
                init: Mutex::new(Some(init)),
            }),
            Err(error) => {
                init.kill_and_reap_blocking();
                Err(error)
            }
        }
    }

    /// Whether the init has exited (someone killed it): the namespace then takes no new process.
    fn init_exited(&self) -> bool {
        let init = self.init.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(init) = init.as_ref() else { return true };
        let mut poll = libc::pollfd { fd: init.child.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, no wait.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        ready != 0
    }

    pub(crate) fn namespaces(&self) -> Namespaces {
        Namespaces {
            pid: self.pid_namespace.as_raw_fd(),
            mount: self.mount_namespace.as_raw_fd(),
            user: self.user_namespace.as_ref().map(AsRawFd::as_raw_fd),
        }
    }

    /// SIGKILLs the init, so the kernel kills every process of the namespace, and reaps it in a
    /// task (the init's exit waits until the server has reaped its own children in there).
    pub(crate) fn kill(&self) {
        let Some(init) = self.init.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() else {
            return;
        };
        init.send_kill();
        let reap = async move {
            match init.child.into_child() {
                Ok(child) => {
                    if let Err(error) = child.wait().await {
                        tracing::warn!(%error, "could not reap a namespace init");
                        // Not reaped: it may still run on its stack, so keep the memory.
                        std::mem::forget(init.stack);
                    }
                    drop(init.args);
                }
                Err((error, raw)) => {
                    tracing::warn!(%error, "could not watch a namespace init; keeping its memory");
                    std::mem::forget(raw);
                    std::mem::forget(init.stack);
                    std::mem::forget(init.args);
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(reap)),
            // No runtime to wait in: the init is killed but cannot be reaped here, and may
            // still run on its stack, so its memory is deliberately leaked.
            Err(_) => std::mem::forget(reap),
        }
    }
}

impl Drop for SessionNamespace {
    fn drop(&mut self) {
        self.kill();
    }
}

impl InitProcess {
    fn send_kill(&self) {
        // SAFETY: pidfd_send_signal on our own unreaped child's pidfd.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.child.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0u32,
            )
        };
        if sent != 0 {
            tracing::warn!(error = %io::Error::last_os_error(), "could not kill a namespace init");
        }
    }

    /// Only for an init that failed before any process entered its namespace (its exit then
    /// waits for nothing).
    fn kill_and_reap_blocking(self) {
        self.send_kill();
        loop {
            let flags = nix::sys::wait::WaitPidFlag::WEXITED;
            match nix::sys::wait::waitid(nix::sys::wait::Id::PIDFd(self.child.pidfd.as_fd()), flags) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "could not reap a namespace init; keeping its memory");
                    std::mem::forget(self.stack);
                    return;
                }
            }
        }
    }
}

/// The state of containment for one session.
#[derive(Debug, Default)]
pub(crate) enum Containment {
    /// No process was started yet.
    #[default]
    NotYet,
    Contained(Arc<SessionNamespace>),
    /// Turned off by the config, or the namespace could not be made (logged once per engine
    /// process).
    Uncontained,
}

impl Containment {
    /// The session's namespace, creating it on first use.
    pub(crate) fn get_or_create(&mut self) -> Option<Arc<SessionNamespace>> {
        if let Containment::Contained(namespace) = self
            && namespace.init_exited()
        {
            // Its init was killed from outside, and every process in it with it: start afresh.
            tracing::warn!("a session's namespace init died; making a new one");
            namespace.kill();
            *self = Containment::NotYet;
        }
        if let Containment::NotYet = self {
            *self = match SessionNamespace::create() {
                Ok(namespace) => Containment::Contained(Arc::new(namespace)),
                Err(error) => {
                    static LOGGED: Once = Once::new();
                    LOGGED.call_once(|| {
                        tracing::warn!(
                            %error,
                            "cannot make a PID namespace per session (it needs CAP_SYS_ADMIN, or \
                             unprivileged user namespaces and a mountable /proc): processes are not \
                             contained (a setsid daemon may outlive its session and the server)"
                        );
                    });
                    Containment::Uncontained
                }
            };
        }
        match self {
            Containment::Contained(namespace) => Some(Arc::clone(namespace)),
            Containment::NotYet | Containment::Uncontained => None,
        }
    }

    /// Forgets a namespace that no longer takes processes (killing what may be left of it), so
    /// the next `get_or_create` makes a new one.
    pub(crate) fn reset(&mut self) {
        if let Containment::Contained(namespace) = std::mem::replace(self, Containment::NotYet) {
            tracing::warn!("a session's namespace no longer takes processes; making a new one");
            namespace.kill();
        }
    }

    /// Kills the whole namespace (teardown).
    pub(crate) fn kill(&mut self) {
        if let Containment::Contained(namespace) = std::mem::replace(self, Containment::Uncontained) {
            namespace.kill();
        }
    }
}

/// The server's own PID namespace, which a spawning thread returns to after each spawn.
pub(crate) fn own_pid_namespace() -> io::Result<RawFd> {
    static OWN: OnceLock<Result<OwnedFd, i32>> = OnceLock::new();
    let own = OWN.get_or_init(|| {
        std::fs::File::open("/proc/self/ns/pid")
            .map(OwnedFd::from)
            .map_err(|error| error.raw_os_error().unwrap_or(libc::EIO))
    });
    match own {
        Ok(fd) => Ok(fd.as_raw_fd()),
        Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
    }
}

/// A raw system call that touches neither `errno` nor any other memory: returns the kernel's
/// result (a negative errno on failure).
///
/// # Safety
///
/// As for the system call `number` with these arguments.
#[cfg(target_arch = "x86_64")]
unsafe fn raw_syscall(number: libc::c_long, args: [usize; 6]) -> isize {
    let result: isize;
    // SAFETY: the x86_64 Linux syscall convention; rcx and r11 are clobbered by `syscall`.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") number as isize => result,
            in("rdi") args[0], in("rsi") args[1], in("rdx") args[2],
            in("r10") args[3], in("r8") args[4], in("r9") args[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// See the x86_64 version.
///
/// # Safety
///
/// As for the system call `number` with these arguments.
#[cfg(target_arch = "aarch64")]
unsafe fn raw_syscall(number: libc::c_long, args: [usize; 6]) -> isize {
    let result: isize;
    // SAFETY: the aarch64 Linux syscall convention.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") number,
            inlateout("x0") args[0] as isize => result,
            in("x1") args[1], in("x2") args[2], in("x3") args[3], in("x4") args[4], in("x5") args[5],
            options(nostack),
        );
    }
    result
}

/// The init: PID 1 of the session's namespace. Never returns.
extern "C" fn init_main(args: *mut c_void) -> libc::c_int {
    // SAFETY: `args` is the boxed `InitArgs`, alive until this process is reaped. Everything
    // below is raw syscalls over it, static C strings and this stack.
    unsafe {
        let args = &*(args as *const InitArgs);
        let exit = |code: usize| -> ! {
            raw_syscall(libc::SYS_exit_group, [code, 0, 0, 0, 0, 0]);
            #[allow(clippy::empty_loop)]
            loop {}
        };
        let report = |byte: u8| {
            let buffer = [byte];
            raw_syscall(libc::SYS_write, [args.report as usize, buffer.as_ptr() as usize, 1, 0, 0, 0]);
        };
        let fail = |step_errno: isize| -> ! {
            report((-step_errno).clamp(1, 255) as u8);
            exit(1)
        };

        let result = raw_syscall(
            libc::SYS_prctl,
            [libc::PR_SET_PDEATHSIG as usize, libc::SIGKILL as usize, 0, 0, 0, 0],
        );
        if result < 0 {
            fail(result);
        }
        // The server may have died before the prctl: then nothing would kill this init.
        let mut poll = libc::pollfd { fd: args.server_pidfd, events: libc::POLLIN, revents: 0 };
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        let polled = raw_syscall(
            libc::SYS_ppoll,
            [&mut poll as *mut libc::pollfd as usize, 1, &zero as *const libc::timespec as usize, 0, 0, 0],
        );
        if polled != 0 {
            fail(-(libc::ESRCH as isize));
        }

        if let Some(maps) = &args.id_maps {
            // A new user namespace: map the server's own uid and gid onto themselves (all an
            // unprivileged process may map, the gid only once setgroups is denied).
            let write_file = |path: &std::ffi::CStr, bytes: *const u8, len: usize| -> isize {
                let fd = raw_syscall(
                    libc::SYS_openat,
                    [
                        libc::AT_FDCWD as usize,
                        path.as_ptr() as usize,
                        (libc::O_WRONLY | libc::O_CLOEXEC) as usize,
                        0,
                        0,
                        0,
                    ],
                );
                if fd < 0 {
                    return fd;
                }
                let written = raw_syscall(libc::SYS_write, [fd as usize, bytes as usize, len, 0, 0, 0]);
                raw_syscall(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
                if written < 0 {
                    written
                } else if written as usize == len {
                    0
                } else {
                    -(libc::EIO as isize)
                }
            };
            let deny = b"deny";
            for (path, bytes, len) in [
                (c"/proc/self/setgroups", deny.as_ptr(), deny.len()),
                (c"/proc/self/uid_map", maps.uid_map.as_ptr(), maps.uid_len),
                (c"/proc/self/gid_map", maps.gid_map.as_ptr(), maps.gid_len),
            ] {
                let result = write_file(path, bytes, len);
                if result < 0 {
                    fail(result);
                }
            }
        }

        let result = raw_syscall(libc::SYS_unshare, [libc::CLONE_NEWNS as usize, 0, 0, 0, 0, 0]);
        if result < 0 {
            fail(result);
        }
        // Mounts propagate in from the host but none out, then /proc shows this namespace.
        let result = raw_syscall(
            libc::SYS_mount,
            [0, c"/".as_ptr() as usize, 0, (libc::MS_REC | libc::MS_SLAVE) as usize, 0, 0],
        );
        if result < 0 {
            fail(result);
        }
        let result = raw_syscall(
            libc::SYS_mount,
            [
                c"proc".as_ptr() as usize,
                c"/proc".as_ptr() as usize,
                c"proc".as_ptr() as usize,
                (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as usize,
                0,
                0,
            ],
        );
        if result == -(libc::EPERM as isize) && args.id_maps.is_some() {
            report(PROC_REFUSED);
            exit(1);
        }
        if result < 0 {
            fail(result);
        }
        report(READY);
        // Hold no descriptor of the server's (a copy of a stdin pipe would delay its EOF).
        raw_syscall(libc::SYS_close_range, [0, u32::MAX as usize, 0, 0, 0, 0]);

        // Every signal is blocked; SIGCHLD stays pending until taken here. Reap every orphan.
        let mut child_signal: libc::sigset_t = std::mem::zeroed();
        let words = &mut child_signal as *mut libc::sigset_t as *mut u64;
        *words = 1u64 << (libc::SIGCHLD - 1);
        loop {
            loop {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let reaped = raw_syscall(
                    libc::SYS_waitid,
                    [
                        libc::P_ALL as usize,
                        0,
                        &mut info as *mut libc::siginfo_t as usize,
                        (libc::WEXITED | libc::WNOHANG) as usize,
                        0,
                        0,
                    ],
                );
                // ECHILD (nothing to reap) or no child ready: wait for the next SIGCHLD.
                let pid_field = (&info as *const libc::siginfo_t as *const u8).add(16) as *const i32;
                if reaped < 0 || *pid_field == 0 {
                    break;
                }
            }
            raw_syscall(
                libc::SYS_rt_sigtimedwait,
                [&child_signal as *const libc::sigset_t as usize, 0, 0, 8, 0, 0],
            );
        }
    }
}
