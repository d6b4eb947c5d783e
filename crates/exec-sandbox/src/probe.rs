//! [`probe`]: what this kernel and this process can enforce, asked once and cached.
//!
//! It asks the kernel directly (the Landlock ABI version, seccomp filter support, whether a
//! private mount namespace can be made and mounted in), and changes nothing that outlives the
//! probe (the mount-namespace check runs on a thread that then exits). The one setting it reads
//! is [`WITHHOLD_ENV`], which can only make the answer poorer: a test and operator knob to see
//! (or force) the refusals of a kernel without a mechanism.

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
}

/// Landlock ABI 3 is the first that controls `truncate(2)`; below it a file under a read-only
/// root could be truncated, so the policy could not be enforced exactly.
pub const MINIMUM_LANDLOCK_ABI: u32 = 3;

impl Support {
    /// Whether policies without carve-outs can be enforced.
    pub fn can_sandbox(&self) -> bool {
        self.landlock_abi >= MINIMUM_LANDLOCK_ABI && self.seccomp_filter
    }

    /// Whether Landlock scopes (signals and abstract Unix sockets, ABI 6) are enforced.
    pub fn has_scopes(&self) -> bool {
        self.landlock_abi >= 6
    }
}

/// The environment variable that makes [`probe`] report mechanisms as missing: a comma-separated
/// list of `landlock`, `seccomp`, `mount-namespace`, or `all`. Read once, with the first probe.
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
            },
            &withheld,
        )
    })
}

/// `support` without the mechanisms `list` (the value of [`WITHHOLD_ENV`]) names.
fn withhold(mut support: Support, list: &str) -> Support {
    for word in list.split(',').map(str::trim).filter(|word| !word.is_empty()) {
        let (landlock, seccomp, mount_namespace) = match word {
            "landlock" => (true, false, false),
            "seccomp" => (false, true, false),
            "mount-namespace" => (false, false, true),
            _ => (true, true, true),
        };
        if landlock {
            support.landlock_abi = 0;
        }
        if seccomp {
            support.seccomp_filter = false;
        }
        if mount_namespace {
            support.mount_namespace = false;
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

#[cfg(test)]
mod tests {
    use super::{Support, withhold};

    #[track_caller]
    fn check(list: &str, expect: (u32, bool, bool)) {
        let full = Support { landlock_abi: 6, seccomp_filter: true, mount_namespace: true };
        let got = withhold(full, list);
        assert_eq!((got.landlock_abi, got.seccomp_filter, got.mount_namespace), expect, "{list:?}");
        // Never richer than the kernel, whatever the list says.
        let none = Support { landlock_abi: 0, seccomp_filter: false, mount_namespace: false };
        assert_eq!(withhold(none, list), none, "{list:?}");
    }

    #[test]
    fn the_knob_only_takes_away() {
        check("", (6, true, true));
        check(" , ", (6, true, true));
        check("landlock", (0, true, true));
        check("seccomp", (6, false, true));
        check("mount-namespace", (6, true, false));
        check("landlock, mount-namespace", (0, true, false));
        check("all", (0, false, false));
        check("landlok", (0, false, false));
    }
}
