//! [`probe`]: what this kernel and this process can enforce, asked once and cached.
//!
//! It asks the kernel directly (the Landlock ABI version, seccomp filter support, whether a
//! private mount namespace can be made and mounted in, directly or inside a new user
//! namespace), and changes nothing that outlives the probe (the mount-namespace check runs on a
//! thread that then exits, the user-namespace check in a child process that then exits). The one
//! setting it reads is [`WITHHOLD_ENV`], which can only make the answer poorer: a test and
//! operator knob to see (or force) the refusals of a kernel without a mechanism.

use std::sync::OnceLock;

/// What the running kernel offers this process, for logs and for the fail-closed decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    /// The Landlock ABI version, 0 when Landlock is absent or disabled. This crate needs at
    /// least [`MINIMUM_LANDLOCK_ABI`].
    pub landlock_abi: u32,
    /// Whether seccomp filters (`SECCOMP_SET_MODE_FILTER` with `SECCOMP_RET_ERRNO`) work, and this
    /// build has a filter for its architecture.
    pub seccomp_filter: bool,
    /// Whether this process can make a private mount namespace and bind-mount in it (needed only
    /// for read-only carve-outs; it takes `CAP_SYS_ADMIN`).
    pub mount_namespace: bool,
    /// Whether a child of this process can make a user namespace (mapping only its own uid and
    /// gid) and a private mount namespace inside it: how read-only carve-outs are made for
    /// processes when [`Support::mount_namespace`] is false. Probed the way a spawned child does
    /// it (`unshare(CLONE_NEWUSER | CLONE_NEWNS)` in a `clone(CLONE_VM | CLONE_VFORK)` child).
    /// Always false for effective uid 0: there a user namespace mapping uid 0 would hand the
    /// child capabilities over root-owned files that the server's bounding set took away.
    pub user_namespace: bool,
}

/// Landlock ABI 3 is the first that controls `truncate(2)`; below it a file under a read-only
/// root could be truncated, so the policy could not be enforced exactly.
pub const MINIMUM_LANDLOCK_ABI: u32 = 3;

impl Support {
    /// Whether policies without carve-outs can be enforced.
    pub fn can_sandbox(&self) -> bool {
        self.landlock_abi >= MINIMUM_LANDLOCK_ABI && self.seccomp_filter
    }

    /// Whether read-only carve-outs can be made for a spawned process (directly, or through a
    /// user namespace). [`PreparedSandbox::run_confined`](crate::PreparedSandbox::run_confined)
    /// needs [`Support::mount_namespace`] for them.
    pub fn can_carve_out(&self) -> bool {
        self.mount_namespace || self.user_namespace
    }

    /// Whether Landlock scopes (signals and abstract Unix sockets, ABI 6) are enforced.
    pub fn has_scopes(&self) -> bool {
        self.landlock_abi >= 6
    }
}

/// The environment variable that makes [`probe`] report mechanisms as missing: a comma-separated
/// list of `landlock`, `seccomp`, `mount-namespace`, `user-namespace`, or `all`. Read once, with the first probe.
///
/// It can only make the process stricter: a withheld mechanism is reported absent, so
/// [`SandboxPolicy::prepare`](crate::SandboxPolicy::prepare) refuses what needs it
/// ([`SandboxErrorKind::Unavailable`](crate::SandboxErrorKind::Unavailable), worded as if the
/// kernel lacked it); nothing it says can turn on what the kernel lacks. A word it does not know
/// withholds everything (a typo never leaves on what was meant to be off). Unset or empty:
/// nothing is withheld.
pub const WITHHOLD_ENV: &str = "EXEC_SANDBOX_WITHHOLD";

/// Probes the kernel once per process (minus what [`WITHHOLD_ENV`] withholds); later calls
/// return the cached answer.
pub fn probe() -> Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    *SUPPORT.get_or_init(|| {
        let withheld = std::env::var(WITHHOLD_ENV).unwrap_or_default();
        withhold(
            Support {
                landlock_abi: landlock_abi(),
                seccomp_filter: crate::seccomp::SUPPORTED_ARCH && seccomp_filter_works(),
                mount_namespace: mount_namespace_works(),
                user_namespace: user_namespace_works(),
            },
            &withheld,
        )
    })
}

/// `support` without the mechanisms `list` (the value of [`WITHHOLD_ENV`]) names.
fn withhold(mut support: Support, list: &str) -> Support {
    for word in list.split(',').map(str::trim).filter(|word| !word.is_empty()) {
        let all = !matches!(word, "landlock" | "seccomp" | "mount-namespace" | "user-namespace");
        if all || word == "landlock" {
            support.landlock_abi = 0;
        }
        if all || word == "seccomp" {
            support.seccomp_filter = false;
        }
        if all || word == "mount-namespace" {
            support.mount_namespace = false;
        }
        if all || word == "user-namespace" {
            support.user_namespace = false;
        }
    }
    support
}

fn landlock_abi() -> u32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute, size 0 and the VERSION flag the call only returns a number.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(version).unwrap_or(0)
}

fn seccomp_filter_works() -> bool {
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    let action: u32 = SECCOMP_RET_ERRNO;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL only reads the u32 it is given.
    let result = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_GET_ACTION_AVAIL, 0u32, &action as *const u32)
    };
    result == 0
}

fn mount_namespace_works() -> bool {
    // unshare(CLONE_NEWNS) changes only the calling thread's namespace, so a thread that exits
    // right after takes the namespace with it.
    std::thread::spawn(|| {
        // SAFETY: plain syscalls on this thread's own namespace; no memory is passed but a
        // static C string.
        unsafe {
            libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
        }
    })
    .join()
    .unwrap_or(false)
}

/// What the probing child needs, formatted before the clone.
struct UserNamespaceProbe {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

fn user_namespace_works() -> bool {
    // SAFETY: geteuid and getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid == 0 {
        return false;
    }
    let probe = UserNamespaceProbe {
        uid_map: format!("{uid} {uid} 1\n").into_bytes(),
        gid_map: format!("{gid} {gid} 1\n").into_bytes(),
    };
    let mut stack = vec![0u8; 64 * 1024];
    // The top of the buffer, 16-byte aligned (stacks grow down).
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    // SAFETY: the child shares this memory and runs `probe_child` (raw syscalls over `probe`
    // and static strings) on `stack`; CLONE_VFORK suspends this thread until it has exited,
    // so both outlive it. Every signal is blocked on this thread during the clone, so no handler
    // of the server runs in the child (which shares its memory); the mask is restored after.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        let pid = libc::clone(
            probe_child,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(&probe).cast_mut().cast(),
        );
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        if pid < 0 {
            return false;
        }
        let mut status = 0;
        while libc::waitpid(pid, &mut status, libc::__WALL) < 0 {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return false;
            }
        }
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}

/// The probing child: what `PreparedSandbox::apply_in_child` does without `CAP_SYS_ADMIN`,
/// up to making `/` private. Exits 0 on success.
extern "C" fn probe_child(probe: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `probe` is the parent's `UserNamespaceProbe`, alive while it is suspended; only
    // raw syscalls follow, and the child leaves with `_exit`.
    unsafe {
        let probe = &*(probe as *const UserNamespaceProbe);
        let write = |path: &std::ffi::CStr, contents: &[u8]| {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return false;
            }
            let written = libc::write(fd, contents.as_ptr().cast(), contents.len());
            libc::close(fd);
            written == contents.len() as isize
        };
        let works = libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) == 0
            && write(c"/proc/self/setgroups", b"deny")
            && write(c"/proc/self/uid_map", &probe.uid_map)
            && write(c"/proc/self/gid_map", &probe.gid_map)
            && libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0;
        libc::_exit(if works { 0 } else { 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::{Support, withhold};

    #[track_caller]
    fn check(list: &str, expect: (u32, bool, bool, bool)) {
        let full =
            Support { landlock_abi: 6, seccomp_filter: true, mount_namespace: true, user_namespace: true };
        let got = withhold(full, list);
        assert_eq!(
            (got.landlock_abi, got.seccomp_filter, got.mount_namespace, got.user_namespace),
            expect,
            "{list:?}"
        );
        // Never richer than the kernel, whatever the list says.
        let none =
            Support { landlock_abi: 0, seccomp_filter: false, mount_namespace: false, user_namespace: false };
        assert_eq!(withhold(none, list), none, "{list:?}");
    }

    #[test]
    fn the_knob_only_takes_away() {
        check("", (6, true, true, true));
        check(" , ", (6, true, true, true));
        check("landlock", (0, true, true, true));
        check("seccomp", (6, false, true, true));
        check("mount-namespace", (6, true, false, true));
        check("user-namespace", (6, true, true, false));
        check("landlock, mount-namespace", (0, true, false, true));
        check("all", (0, false, false, false));
        check("landlok", (0, false, false, false));
    }
}
