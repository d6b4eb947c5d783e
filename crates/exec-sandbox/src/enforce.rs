//! Enforcement: [`SandboxPolicy::prepare`] in the parent, [`PreparedSandbox::apply_in_child`]
//! between fork and exec, and [`PreparedSandbox::run_confined`] for file operations done by the
//! server itself.
//!
//! Everything that allocates, opens paths or can fail slowly happens in `prepare`; the child
//! side is a fixed sequence of raw syscalls over data prepared before the fork. This module does
//! not spawn processes: the caller owns `fork`/`exec` (usually `std::process::Command` with
//! `CommandExt::pre_exec`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope,
};

use crate::policy::{Network, SandboxError, SandboxPolicy};
use crate::probe::{MINIMUM_LANDLOCK_ABI, probe};
use crate::seccomp;

/// Device files every sandbox may open for reading and writing (and `ioctl`, from Landlock ABI
/// 5), whatever its roots, so that `cmd >/dev/null`, `/dev/urandom` and terminals work under
/// `read-only`. `/dev/pts` is a directory: the terminals beneath it.
pub const ALWAYS_USABLE_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// A policy turned into kernel objects, ready to confine any number of children and threads.
///
/// Holds the Landlock ruleset descriptor (close-on-exec, so a child's copy closes at `exec`),
/// the compiled seccomp program and the carve-out paths as C strings. Immutable after
/// [`SandboxPolicy::prepare`]; share it with an `Arc` (a `pre_exec` closure must be `'static`).
#[derive(Debug)]
pub struct PreparedSandbox {
    /// The Landlock ruleset, applied with `landlock_restrict_self`.
    ruleset: OwnedFd,
    /// The same roots with read rights only, everywhere: for
    /// [`PreparedSandbox::run_confined_for_reading`], which then needs no carve-outs.
    reading_ruleset: OwnedFd,
    /// Classic BPF instructions; the child passes their address to `seccomp(2)`.
    seccomp_program: Vec<seccomp::Instruction>,
    /// Read-only bind mounts to make, parents before children.
    carve_outs: Vec<CarveOut>,
    /// How the child gets the mount namespace the carve-outs need.
    mounts: MountNamespace,
}

/// How a child makes the private mount namespace for its carve-outs.
#[derive(Debug)]
enum MountNamespace {
    /// `unshare(CLONE_NEWNS)`: this process has `CAP_SYS_ADMIN`.
    Direct,
    /// This process lacks `CAP_SYS_ADMIN` but may create user namespaces: `unshare(CLONE_NEWNS)`
    /// when the child already holds the capability in its own user namespace (inside a
    /// contained session), else `unshare(CLONE_NEWUSER | CLONE_NEWNS)` with a one-line map of
    /// its own uid and gid. The map lines (`"U U 1\n"`) are formatted here, before the fork.
    UserNamespace { uid_map: Vec<u8>, gid_map: Vec<u8> },
}

#[derive(Debug)]
struct CarveOut {
    path: CString,
    /// Device and inode of the path when prepared. After mounting, the child checks that the
    /// path still names this object, so a carve-out swapped for a symlink or another directory
    /// between `prepare` and the spawn fails the spawn instead of protecting the wrong thing.
    identity: (libc::dev_t, libc::ino_t),
    /// Flags of the mount the path lives on (`nosuid`, `nodev`, ...), kept on the read-only
    /// remount: a remount that dropped a locked flag would fail, and dropping one would widen.
    preserved_flags: libc::c_ulong,
}

impl SandboxPolicy {
    /// Turns the policy into a [`PreparedSandbox`]: checks kernel support, opens every path,
    /// builds the Landlock ruleset and the seccomp program. Call it before forking.
    ///
    /// Fails with [`SandboxErrorKind::Unavailable`](crate::SandboxErrorKind::Unavailable) when
    /// this kernel or process cannot enforce the policy exactly (Landlock ABI below
    /// [`MINIMUM_LANDLOCK_ABI`], no seccomp filters, carve-outs without `CAP_SYS_ADMIN` nor an
    /// unprivileged user namespace), and
    /// with [`SandboxErrorKind::Preparation`](crate::SandboxErrorKind::Preparation) when a path
    /// cannot be opened or a carve-out is not inside a write root.
    pub fn prepare(&self) -> Result<PreparedSandbox, SandboxError> {
        let support = probe();
        if support.landlock_abi < MINIMUM_LANDLOCK_ABI {
            return Err(SandboxError::unavailable(format!(
                "Landlock ABI {} on this kernel, {MINIMUM_LANDLOCK_ABI} needed",
                support.landlock_abi
            )));
        }
        if !support.seccomp_filter {
            return Err(SandboxError::unavailable(
                "no seccomp filter support for this architecture or kernel",
            ));
        }
        let mounts = if support.mount_namespace {
            MountNamespace::Direct
        } else {
            // SAFETY: geteuid and getegid cannot fail.
            let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
            MountNamespace::UserNamespace {
                uid_map: format!("{uid} {uid} 1\n").into_bytes(),
                gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            }
        };
        if !self.read_only_carve_outs.is_empty() && !support.mount_namespace && !support.user_namespace {
            return Err(SandboxError::unavailable(
                "read-only carve-outs need a private mount namespace, which this process cannot create \
                 (no CAP_SYS_ADMIN, and no unprivileged user namespace)",
            ));
        }
        let abi = ABI::from(support.landlock_abi as i32);
        let ruleset = build_ruleset(self, abi, Rights::AsGranted)?;
        let reading_ruleset = build_ruleset(self, abi, Rights::ReadOnly)?;
        let carve_outs = carve_outs(self)?;
        Ok(PreparedSandbox {
            ruleset,
            reading_ruleset,
            seccomp_program: seccomp::build(self.network == Network::Restricted),
            carve_outs,
            mounts,
        })
    }
}

/// Which rights a ruleset grants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rights {
    /// The policy's: read on read roots, write on write roots, the devices read-write.
    AsGranted,
    /// Read (and execute) on every read and write root and device, write nowhere.
    ReadOnly,
}

fn build_ruleset(policy: &SandboxPolicy, abi: ABI, rights: Rights) -> Result<OwnedFd, SandboxError> {
    // Every file right this ABI knows except `LANDLOCK_ACCESS_FS_RESOLVE_UNIX` (ABI 9): connecting
    // to a path-based Unix socket stays governed by the usual permissions only, as the network
    // rule promises.
    let handled = AccessFs::from_all(abi) & AccessFs::from_all(ABI::V8);
    let read = AccessFs::from_read(abi) & handled;
    let write = match rights {
        Rights::AsGranted => handled & !(AccessFs::MakeChar | AccessFs::MakeBlock),
        Rights::ReadOnly => read,
    };
    let device = match rights {
        Rights::AsGranted => (AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev) & handled,
        Rights::ReadOnly => BitFlags::from(AccessFs::ReadFile) & handled,
    };

    let landlock_error =
        |error: landlock::RulesetError| SandboxError::unavailable(format!("landlock: {error}"));
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::HardRequirement);
    ruleset = ruleset.handle_access(handled).map_err(landlock_error)?;
    if policy.network == Network::Restricted && abi >= ABI::V4 {
        // A second layer under the seccomp rule: TCP bind/connect handled with no rule granting.
        ruleset = ruleset.handle_access(AccessNet::from_all(abi)).map_err(landlock_error)?;
    }
    if abi >= ABI::V6 {
        let mut scopes = BitFlags::from(Scope::Signal);
        if policy.network == Network::Restricted {
            scopes |= Scope::AbstractUnixSocket;
        }
        ruleset = ruleset.scope(scopes).map_err(landlock_error)?;
    }
    let mut ruleset = ruleset.create().map_err(landlock_error)?;

    let mut add = |path: &Path, rights: BitFlags<AccessFs>, missing_ok: bool| -> Result<(), SandboxError> {
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(_) if missing_ok => return Ok(()),
            Err(error) => {
                return Err(SandboxError::preparation(format!("cannot open {}: {error}", path.display())));
            }
        };
        // Directory-only rights on a file are an error for the kernel: keep the file ones.
        let rights = if metadata.is_dir() { rights } else { rights & AccessFs::from_file(abi) };
        let fd = PathFd::new(path)
            .map_err(|error| SandboxError::preparation(format!("cannot open {}: {error}", path.display())))?;
        (&mut ruleset).add_rule(PathBeneath::new(fd, rights)).map_err(|error| {
            SandboxError::preparation(format!("landlock rule for {}: {error}", path.display()))
        })?;
        Ok(())
    };
    for root in &policy.read_roots {
        add(root, read, false)?;
    }
    for root in &policy.write_roots {
        add(root, write, false)?;
    }
    for device_path in ALWAYS_USABLE_DEVICES {
        let rights = if *device_path == "/dev/pts" { device | AccessFs::ReadDir } else { device };
        add(Path::new(device_path), rights, true)?;
    }
    let fd: Option<OwnedFd> = ruleset.into();
    fd.ok_or_else(|| SandboxError::unavailable("landlock ruleset was not created"))
}

fn carve_outs(policy: &SandboxPolicy) -> Result<Vec<CarveOut>, SandboxError> {
    let canonical = |path: &Path| {
        std::fs::canonicalize(path)
            .map_err(|error| SandboxError::preparation(format!("cannot open {}: {error}", path.display())))
    };
    let write_roots: Vec<PathBuf> =
        policy.write_roots.iter().map(|root| canonical(root)).collect::<Result<_, _>>()?;
    let mut paths = Vec::new();
    for carve_out in &policy.read_only_carve_outs {
        let path = canonical(carve_out)?;
        if !write_roots.iter().any(|root| path.starts_with(root) && path != *root) {
            return Err(SandboxError::preparation(format!(
                "read-only carve-out {} is not inside a write root",
                carve_out.display()
            )));
        }
        paths.push(path);
    }
    // Parents first, so a nested carve-out is mounted on top of its parent's read-only mount.
    paths.sort_by_key(|path| path.components().count());
    paths.dedup();
    paths
        .into_iter()
        .map(|path| {
            let preserved_flags = mount_flags_of(&path)?;
            let metadata = std::fs::metadata(&path).map_err(|error| {
                SandboxError::preparation(format!("cannot stat {}: {error}", path.display()))
            })?;
            let identity = (metadata.dev() as libc::dev_t, metadata.ino() as libc::ino_t);
            let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
                SandboxError::preparation(format!("path {} contains a NUL byte", path.display()))
            })?;
            Ok(CarveOut { path, identity, preserved_flags })
        })
        .collect()
}

fn mount_flags_of(path: &Path) -> Result<libc::c_ulong, SandboxError> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SandboxError::preparation(format!("path {} contains a NUL byte", path.display())))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a valid C string and a pointer to writable memory of the right type.
    if unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) } != 0 {
        let error = std::io::Error::last_os_error();
        return Err(SandboxError::preparation(format!("cannot stat {}: {error}", path.display())));
    }
    // SAFETY: statvfs succeeded, so it filled the structure.
    let flags = unsafe { stats.assume_init() }.f_flag;
    // ST_* values match the MS_* ones for these bits.
    let kept = libc::MS_NOSUID
        | libc::MS_NODEV
        | libc::MS_NOEXEC
        | libc::MS_NOATIME
        | libc::MS_NODIRATIME
        | libc::MS_RELATIME;
    Ok(flags & kept)
}

impl PreparedSandbox {
    /// Confines the calling process; meant for the child between `fork` and `exec`.
    ///
    /// In order: if there are carve-outs, `unshare(CLONE_NEWNS)` (without `CAP_SYS_ADMIN`, and
    /// unless the child already holds it in its own user namespace: `unshare(CLONE_NEWUSER |
    /// CLONE_NEWNS)`, `setgroups` denied, and its own uid and gid mapped onto themselves; the
    /// calling process must then be single-threaded with an fs struct of its own, as a forked
    /// or `clone(CLONE_VM | CLONE_VFORK)` child is), `/` made recursively private
    /// (so nothing propagates back to the parent's namespace), and each carve-out bind-mounted
    /// onto itself and remounted read-only; then `prctl(PR_SET_NO_NEW_PRIVS)`;
    /// `landlock_restrict_self`; and `seccomp(SECCOMP_SET_MODE_FILTER)`. A carve-out that no
    /// longer names the object `prepare` saw fails with `ESTALE`. Any failure is returned
    /// and the caller must not `exec` (with `pre_exec`, std turns the error into a spawn error).
    ///
    /// # Safety
    ///
    /// Async-signal-safe: raw syscalls over data prepared before the fork, no allocation, no
    /// lock. Call it only in a single-threaded process that will `exec` or exit (a forked child):
    /// the confinement is irreversible, and in a multi-threaded process it would cover only the
    /// calling thread. To confine work inside the server, use [`PreparedSandbox::run_confined`].
    pub unsafe fn apply_in_child(&self) -> std::io::Result<()> {
        // SAFETY: the caller is a freshly forked child (or accepts confining itself).
        unsafe {
            self.confine_mounts()?;
            self.confine_files()?;
            let program = seccomp::Program {
                length: self.seccomp_program.len() as u16,
                filter: self.seccomp_program.as_ptr(),
            };
            check(libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0u32,
                &program as *const seccomp::Program,
            ))?;
        }
        Ok(())
    }

    /// Private mount namespace with the read-only carve-outs; nothing when there are none.
    unsafe fn confine_mounts(&self) -> std::io::Result<()> {
        if self.carve_outs.is_empty() {
            return Ok(());
        }
        // SAFETY: raw syscalls with C strings and buffers owned by `self`.
        unsafe {
            match &self.mounts {
                MountNamespace::Direct => check_int(libc::unshare(libc::CLONE_NEWNS))?,
                MountNamespace::UserNamespace { uid_map, gid_map } => {
                    if libc::unshare(libc::CLONE_NEWNS) != 0 {
                        let error = std::io::Error::last_os_error();
                        if error.raw_os_error() != Some(libc::EPERM) {
                            return Err(error);
                        }
                        // The calling process must be single-threaded with its own fs struct
                        // (a forked or cloned child is; a thread of the server is not: EINVAL).
                        check_int(libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS))?;
                        // An unprivileged process may map only its own ids, and its gid only
                        // once setgroups(2) is denied in the namespace.
                        write_proc_file(c"/proc/self/setgroups", b"deny")?;
                        write_proc_file(c"/proc/self/uid_map", uid_map)?;
                        write_proc_file(c"/proc/self/gid_map", gid_map)?;
                    }
                }
            }
            check_int(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            for carve_out in &self.carve_outs {
                let path = carve_out.path.as_ptr();
                check_int(libc::mount(
                    path,
                    path,
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                check_int(libc::mount(
                    std::ptr::null(),
                    path,
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | carve_out.preserved_flags,
                    std::ptr::null(),
                ))?;
                let mut stats = std::mem::MaybeUninit::<libc::stat>::uninit();
                check_int(libc::stat(path, stats.as_mut_ptr()))?;
                let stats = stats.assume_init();
                if (stats.st_dev, stats.st_ino) != carve_out.identity {
                    return Err(std::io::Error::from_raw_os_error(libc::ESTALE));
                }
            }
        }
        Ok(())
    }

    /// `no_new_privs` and the Landlock ruleset, for the calling thread.
    unsafe fn confine_files(&self) -> std::io::Result<()> {
        // SAFETY: as for `restrict_thread`; the caller accepts confining itself.
        unsafe { restrict_thread(&self.ruleset) }
    }

    /// Runs an `operation` that only **reads** on a fresh thread confined by Landlock with read
    /// rights on every read and write root and no write right anywhere, and returns its result
    /// once the thread has exited.
    ///
    /// Read-only carve-outs take only write rights away, so for an operation that reads they
    /// change nothing, and none are made: this works without `CAP_SYS_ADMIN` (unlike
    /// [`PreparedSandbox::run_confined`] with carve-outs) and costs no mount namespace. Should
    /// the operation write after all, the kernel refuses it everywhere (`EACCES`): never wider
    /// than the policy.
    pub fn run_confined_for_reading<T, F>(&self, operation: F) -> Result<T, SandboxError>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        // SAFETY: confines only the short-lived thread `on_confined_thread` runs it on.
        on_confined_thread(|| unsafe { restrict_thread(&self.reading_ruleset) }, operation)
    }

    /// Runs `operation` on a fresh thread confined by this sandbox's file rules, and returns its
    /// result once the thread has exited.
    ///
    /// The thread makes its own mount namespace (when there are carve-outs: `unshare(CLONE_NEWNS)`
    /// is allowed on one thread of a multi-threaded process and affects only that thread), sets
    /// `no_new_privs` and calls `landlock_restrict_self` without `TSYNC`, which restricts that
    /// thread alone. So the kernel enforces the rules on every path the operation opens, after
    /// symlinks and `..` are resolved, and the calling thread stays unconfined. The seccomp
    /// filter is not applied: file operations open no sockets. A panic in `operation` resumes
    /// on the caller.
    ///
    /// With carve-outs and without `CAP_SYS_ADMIN` it fails with
    /// [`SandboxErrorKind::Unavailable`](crate::SandboxErrorKind::Unavailable) and runs nothing:
    /// a thread cannot enter a user namespace, so the carve-outs could not be made.
    pub fn run_confined<T, F>(&self, operation: F) -> Result<T, SandboxError>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        if !self.carve_outs.is_empty() && matches!(self.mounts, MountNamespace::UserNamespace { .. }) {
            // Without CAP_SYS_ADMIN the mount namespace needs a user namespace, and a thread of
            // a multi-threaded process cannot enter one (unshare fails with EINVAL).
            return Err(SandboxError::unavailable(
                "read-only carve-outs for a file operation need CAP_SYS_ADMIN: without it they are \
                 enforced only for processes (through a user namespace), not for threads of the server",
            ));
        }
        // SAFETY: confines only the short-lived thread `on_confined_thread` runs it on.
        on_confined_thread(|| unsafe { self.confine_mounts().and_then(|()| self.confine_files()) }, operation)
    }
}

/// Runs `confine` and then `operation` on a fresh scoped thread, which exits afterwards (so
/// whatever `confine` did to it ends with it); `operation` does not run if `confine` failed. A
/// panic in `operation` resumes on the caller.
fn on_confined_thread<T, E, C, F>(confine: C, operation: F) -> Result<T, SandboxError>
where
    T: Send,
    E: std::fmt::Display,
    C: FnOnce() -> Result<(), E> + Send,
    F: FnOnce() -> T + Send,
{
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| match confine() {
            Ok(()) => Ok(operation()),
            Err(error) => Err(SandboxError::unavailable(format!("cannot confine a thread: {error}"))),
        });
        match thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// `no_new_privs` and `landlock_restrict_self(ruleset)` (without `TSYNC`: this thread only).
///
/// # Safety
///
/// Irreversible for the calling thread (and every process it creates later).
unsafe fn restrict_thread(ruleset: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: raw syscalls; the ruleset descriptor stays open for the call.
    unsafe {
        check_int(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        check(libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32))?;
    }
    Ok(())
}

/// Writes `contents` to a `/proc` file in one `write`, async-signal-safely (no allocation).
///
/// # Safety
///
/// Raw syscalls; `path` and `contents` must stay valid for the call.
unsafe fn write_proc_file(path: &std::ffi::CStr, contents: &[u8]) -> std::io::Result<()> {
    // SAFETY: a valid C string, a buffer of the given length, a descriptor closed before return.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, contents.as_ptr().cast(), contents.len());
        let result = if written == contents.len() as isize {
            Ok(())
        } else if written < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Err(std::io::Error::from_raw_os_error(libc::EIO))
        };
        libc::close(fd);
        result
    }
}

fn check(result: libc::c_long) -> std::io::Result<()> {
    if result < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

fn check_int(result: libc::c_int) -> std::io::Result<()> {
    check(result as libc::c_long)
}
