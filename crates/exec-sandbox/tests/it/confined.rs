//! `run_confined`: a server-side file operation runs on a thread the kernel confines, so the
//! rules hold after symlinks and `..` are resolved, and the calling thread stays unconfined.

use std::io::ErrorKind;

use exec_sandbox::SandboxPolicy;

use crate::{Scratch, read};

fn mount_namespace_of_this_thread() -> std::path::PathBuf {
    std::fs::read_link("/proc/thread-self/ns/mnt").expect("read mount namespace link")
}

#[test]
fn run_confined_enforces_the_rules_and_leaves_the_caller_unconfined() {
    let scratch = Scratch::new("confined");
    let workspace = scratch.dir("ws");
    scratch.file("ws/.git/config", "original");
    let outside = scratch.file("outside/file", "original");
    std::os::unix::fs::symlink(&outside, workspace.join("link")).expect("symlink");
    let policy = SandboxPolicy::read_only()
        .with_write_root(&workspace)
        .with_read_only_carve_out(workspace.join(".git"));
    let sandbox = policy.prepare().expect("prepare");
    let namespace_before = mount_namespace_of_this_thread();

    let attempt = |path: std::path::PathBuf| {
        sandbox
            .run_confined(move || std::fs::write(path, "changed").map_err(|error| error.kind()))
            .expect("confine")
    };
    assert_eq!(attempt(outside.clone()), Err(ErrorKind::PermissionDenied));
    assert_eq!(attempt(scratch.path("outside/new")), Err(ErrorKind::PermissionDenied));
    assert_eq!(attempt(workspace.join("link")), Err(ErrorKind::PermissionDenied));
    assert_eq!(attempt(workspace.join("../outside/file")), Err(ErrorKind::PermissionDenied));
    assert_eq!(attempt(workspace.join(".git/config")), Err(ErrorKind::ReadOnlyFilesystem));
    assert_eq!(attempt(workspace.join("inside")), Ok(()));
    let read_back = sandbox.run_confined(|| std::fs::read_to_string(&outside).ok()).expect("confine");
    assert_eq!(read_back.as_deref(), Some("original"));
    assert_eq!(read(&outside), "original");
    assert_eq!(read(&workspace.join(".git/config")), "original");
    assert_eq!(read(&workspace.join("inside")), "changed");

    // The calling thread: same mount namespace, no Landlock domain, free to write anywhere.
    assert_eq!(mount_namespace_of_this_thread(), namespace_before);
    std::fs::write(&outside, "written by the caller").expect("the caller is not confined");
    std::fs::write(workspace.join(".git/config"), "written by the caller").expect("no read-only mount here");
    assert_eq!(read(&outside), "written by the caller");
}

#[test]
fn run_confined_passes_panics_through() {
    let sandbox = SandboxPolicy::read_only().prepare().expect("prepare");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sandbox.run_confined(|| panic!("inside the confined thread"))
    }));
    assert!(caught.is_err());
}

#[test]
fn prepare_reports_what_the_kernel_offers() {
    let support = exec_sandbox::probe();
    assert!(support.can_sandbox(), "{support:?}");
    assert!(support.landlock_abi >= exec_sandbox::MINIMUM_LANDLOCK_ABI);
    assert!(support.mount_namespace, "{support:?}");
    // One prepared sandbox confines any number of children.
    let sandbox = crate::prepare(&SandboxPolicy::read_only());
    for _ in 0..3 {
        let output = crate::sh(&sandbox, "echo ok");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
    }
}

#[test]
fn run_confined_for_reading_reads_the_roots_and_writes_nowhere() {
    let scratch = Scratch::new("reading");
    let workspace = scratch.dir("ws");
    scratch.file("ws/.git/config", "git");
    scratch.file("ws/file", "mine");
    scratch.file("secret/file", "secret");
    let policy = SandboxPolicy::default()
        .with_read_root("/usr")
        .with_write_root(&workspace)
        .with_read_only_carve_out(workspace.join(".git"));
    let sandbox = crate::prepare(&policy);
    let confined_read =
        |path: std::path::PathBuf| sandbox.run_confined_for_reading(move || std::fs::read_to_string(path));
    assert_eq!(confined_read(workspace.join("file")).unwrap().unwrap(), "mine");
    assert_eq!(confined_read(workspace.join(".git/config")).unwrap().unwrap(), "git");
    // Outside every root: refused, as with run_confined.
    let secret = confined_read(scratch.path("secret/file")).unwrap();
    assert_eq!(secret.unwrap_err().kind(), ErrorKind::PermissionDenied);
    // A write, even in the write root: refused (never wider than the policy).
    for target in [workspace.join("new"), workspace.join("file"), workspace.join(".git/config")] {
        let written = sandbox.run_confined_for_reading(|| std::fs::write(&target, "x")).unwrap();
        assert_eq!(written.unwrap_err().kind(), ErrorKind::PermissionDenied, "{target:?}");
    }
    assert_eq!(read(&workspace.join("file")), "mine");
    assert!(!workspace.join("new").exists());
}
