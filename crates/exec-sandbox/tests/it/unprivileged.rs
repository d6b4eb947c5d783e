//! The sandbox without privilege: the file-escape tests (`files::`) again, as an unprivileged
//! user (uid and gid 65534, no supplementary groups), where read-only carve-outs are made in a
//! user namespace because the process lacks `CAP_SYS_ADMIN`. Run as root, this test runs this
//! test binary again as that user; run as a non-root user, `files::` already covers it and this
//! test only checks what `probe` says.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// The unprivileged user the files tests run as when this binary runs as root.
const NOBODY: u32 = 65534;

/// Whether a forked child of a process running as `uid` can make a user and a mount namespace:
/// asked independently of `exec_sandbox::probe`.
fn user_namespaces_allowed_for(uid: u32) -> bool {
    let mut command = Command::new("/bin/true");
    command.uid(uid).gid(uid);
    // SAFETY: unshare is async-signal-safe; the forked child is single-threaded.
    unsafe {
        command.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command.status().is_ok_and(|status| status.success())
}

#[test]
fn file_escapes_fail_for_an_unprivileged_user_too() {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        let support = exec_sandbox::probe();
        assert!(!support.mount_namespace, "{support:?}");
        assert_eq!(support.user_namespace, user_namespaces_allowed_for(euid), "{support:?}");
        eprintln!("not root: the files tests run unprivileged already");
        return;
    }
    let allowed = user_namespaces_allowed_for(NOBODY);
    let mut command = Command::new(std::env::current_exe().expect("this test binary"));
    // `files::` needs carve-outs; when user namespaces are blocked they must be refused instead.
    let filters: &[&str] = if allowed {
        &["files::", "unprivileged::inner_run_confined_with_carve_outs_is_refused"]
    } else {
        &["unprivileged::inner_carve_outs_are_refused_without_user_namespaces"]
    };
    command.args(filters).arg("--test-threads=1").env(UNPRIVILEGED_RUN, "1").uid(NOBODY).gid(NOBODY);
    // The scratch trees are made under the temporary directory by the unprivileged user.
    command.env("TMPDIR", std::env::temp_dir()).current_dir("/");
    let output = command.output().expect("run the files tests as an unprivileged user");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "as uid {NOBODY}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // The filter ran tests, not none.
    assert!(stdout.contains("test result: ok.") && !stdout.contains(" 0 passed"), "{stdout}");
}

/// Set for the unprivileged run, which may include the test below.
const UNPRIVILEGED_RUN: &str = "EXEC_SANDBOX_UNPRIVILEGED_RUN";

/// Only in the unprivileged run, where user namespaces are blocked: carve-outs are refused.
#[test]
fn inner_carve_outs_are_refused_without_user_namespaces() {
    if std::env::var_os(UNPRIVILEGED_RUN).is_none() {
        return;
    }
    let support = exec_sandbox::probe();
    assert!(!support.can_carve_out(), "{support:?}");
    let scratch = crate::Scratch::new("refused");
    let workspace = scratch.dir("ws");
    let policy = exec_sandbox::SandboxPolicy::read_only()
        .with_write_root(&workspace)
        .with_read_only_carve_out(scratch.dir("ws/.git"));
    let error = policy.prepare().expect_err("carve-outs without a mount namespace");
    assert_eq!(error.kind(), exec_sandbox::SandboxErrorKind::Unavailable);
}

/// Only in the unprivileged run: a thread cannot enter a user namespace, so a file operation
/// with carve-outs is refused (and does not run), while one without carve-outs runs confined.
#[test]
fn inner_run_confined_with_carve_outs_is_refused() {
    if std::env::var_os(UNPRIVILEGED_RUN).is_none() {
        return;
    }
    let scratch = crate::Scratch::new("refused-thread");
    let workspace = scratch.dir("ws");
    let with_carve_out = exec_sandbox::SandboxPolicy::read_only()
        .with_write_root(&workspace)
        .with_read_only_carve_out(scratch.dir("ws/.git"));
    let sandbox = crate::prepare(&with_carve_out);
    let error = sandbox
        .run_confined(|| std::fs::write(workspace.join("ran"), "x"))
        .expect_err("carve-outs on a thread without CAP_SYS_ADMIN");
    assert_eq!(error.kind(), exec_sandbox::SandboxErrorKind::Unavailable);
    assert!(!workspace.join("ran").exists(), "the operation ran");
    // An operation that only reads needs no carve-out: it runs, and can write nowhere.
    std::fs::write(scratch.path("ws/.git/config"), "original").unwrap();
    let read = sandbox.run_confined_for_reading(|| std::fs::read_to_string(workspace.join(".git/config")));
    assert_eq!(read.unwrap().unwrap(), "original");
    let write = sandbox.run_confined_for_reading(|| std::fs::write(workspace.join("ran"), "x")).unwrap();
    assert_eq!(write.unwrap_err().kind(), std::io::ErrorKind::PermissionDenied);
    let without = crate::prepare(&exec_sandbox::SandboxPolicy::read_only().with_write_root(&workspace));
    without.run_confined(|| std::fs::write(workspace.join("ran"), "x")).unwrap().unwrap();
    let outside = without.run_confined(|| std::fs::write(scratch.path("outside"), "x")).unwrap();
    assert!(outside.is_err(), "a confined thread wrote outside its roots");
}
