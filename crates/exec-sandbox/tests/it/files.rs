//! File-system escapes from a confined child: every write outside the write roots fails, by any
//! route (symlink, `..`, hard link, `/proc/self/fd`, a detached grandchild), `.git` stays
//! read-only inside a writable root, and ordinary work inside the root succeeds.

use std::sync::Arc;

use exec_sandbox::{PreparedSandbox, SandboxPolicy};

use crate::{Scratch, read, sh};

/// A workspace `ws` (writable, with a read-only `.git`) beside a `protected` tree (readable).
struct Fixture {
    scratch: Scratch,
    sandbox: Arc<PreparedSandbox>,
}

impl Fixture {
    fn new() -> Fixture {
        let scratch = Scratch::new("files");
        let workspace = scratch.dir("ws");
        scratch.file("ws/.git/config", "original");
        scratch.file("ws/.git/HEAD", "original");
        scratch.file("protected/file", "original");
        std::os::unix::fs::symlink(scratch.path("protected/file"), scratch.path("ws/link-to-protected"))
            .expect("symlink");
        let policy = SandboxPolicy::read_only()
            .with_write_root(&workspace)
            .with_read_only_carve_out(workspace.join(".git"));
        let sandbox = crate::prepare(&policy);
        Fixture { scratch, sandbox }
    }

    /// Runs the script (`$WS` and `$OUT` name the workspace and the protected tree) and checks
    /// its exit status and that nothing protected changed.
    #[track_caller]
    fn check(&self, script: &str, expect_success: bool) {
        let script = format!(
            "WS={ws}; OUT={out}; {script}",
            ws = self.scratch.path("ws").display(),
            out = self.scratch.path("protected").display()
        );
        let output = sh(&self.sandbox, &script);
        assert_eq!(
            output.status.success(),
            expect_success,
            "script: {script}\nstatus: {:?}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        for protected in ["protected/file", "ws/.git/config", "ws/.git/HEAD"] {
            assert_eq!(read(&self.scratch.path(protected)), "original", "{protected} changed by: {script}");
        }
        for created in ["protected/new", "protected/escaped", "ws/.git/new"] {
            assert!(!self.scratch.path(created).exists(), "{created} created by: {script}");
        }
    }
}

#[test]
fn ordinary_work_inside_the_workspace_succeeds() {
    let fixture = Fixture::new();
    fixture.check("echo ok > $WS/file && cat $WS/file >/dev/null", true);
    fixture.check("mkdir -p $WS/a/b && echo x > $WS/a/b/c && mv $WS/a $WS/d && rm -r $WS/d", true);
    fixture.check("cat $OUT/file $WS/.git/config >/dev/null", true);
    fixture.check("ls $WS/.git >/dev/null", true);
    fixture.check("echo discard > /dev/null && head -c 4 /dev/urandom > /dev/null", true);
    assert_eq!(read(&fixture.scratch.path("ws/file")), "ok\n");
}

#[test]
fn writes_outside_the_write_roots_fail() {
    let fixture = Fixture::new();
    fixture.check("echo x > $OUT/new", false);
    fixture.check("echo x > $OUT/file", false);
    fixture.check("echo x >> $OUT/file", false);
    fixture.check(": > $OUT/file", false);
    fixture.check("rm -f $OUT/file", false);
    fixture.check("mv $OUT/file $WS/moved", false);
    fixture.check("mkdir $OUT/new", false);
    // Not `chmod`: Landlock does not control file metadata (docs/sandbox.md, "What is not
    // enforced"); as the file's owner, an unprivileged user can chmod it under any sandbox.
}

#[test]
fn a_symlink_inside_the_workspace_does_not_reach_outside() {
    let fixture = Fixture::new();
    fixture.check("echo x > $WS/link-to-protected", false);
    fixture.check("ln -s $OUT/file $WS/new-link && echo x > $WS/new-link", false);
    fixture.check("ln -s $OUT $WS/dir-link && echo x > $WS/dir-link/new", false);
}

#[test]
fn dot_dot_traversal_does_not_reach_outside() {
    let fixture = Fixture::new();
    fixture.check("echo x > $WS/../protected/escaped", false);
    fixture.check("cd $WS && echo x > ../protected/escaped", false);
    fixture.check("echo x > $WS/.git/../../protected/escaped", false);
}

#[test]
fn a_hard_link_does_not_make_a_protected_file_writable() {
    let fixture = Fixture::new();
    // The link itself is refused; a write to its name then only creates a new file.
    fixture.check("ln $OUT/file $WS/hard", false);
    fixture.check("ln $OUT/file $WS/hard; echo x > $WS/hard", true);
    fixture.check("ln $WS/.git/config $WS/hard-config", false);
    fixture.check("ln $WS/.git/config $WS/hard-config2; echo x > $WS/hard-config2", true);
}

#[test]
fn reopening_through_proc_self_fd_does_not_gain_write() {
    let fixture = Fixture::new();
    fixture.check("exec 3< $OUT/file; echo x > /proc/self/fd/3", false);
    fixture.check("exec 3< $WS/.git/config; echo x > /proc/self/fd/3", false);
    fixture.check("exec 3< $OUT; echo x > /proc/self/fd/3/escaped", false);
}

#[test]
fn a_detached_grandchild_is_confined_too() {
    let fixture = Fixture::new();
    // The grandchild forks, starts a new session and execs another program; it stays inside
    // the sandbox (Landlock domains and seccomp filters are inherited and cannot be dropped).
    fixture.check("setsid /bin/sh -c 'echo x > $OUT/escaped' </dev/null; test ! -e $OUT/escaped", true);
    fixture.check("setsid --wait /bin/sh -c 'echo x > $OUT/escaped'", false);
    fixture.check("setsid --wait /usr/bin/env sh -c 'echo x > $WS/.git/new'", false);
}

#[test]
fn dot_git_stays_read_only_inside_a_writable_root() {
    let fixture = Fixture::new();
    fixture.check("echo x > $WS/.git/config", false);
    fixture.check("echo x > $WS/.git/new", false);
    fixture.check("rm $WS/.git/config", false);
    fixture.check("mv $WS/.git/config $WS/.git/renamed", false);
    fixture.check("mv $WS/.git $WS/git-moved", false);
    fixture.check("rm -rf $WS/.git; test -e $WS/.git/config && exit 1", false);
    fixture.check("mkdir $WS/other && mv $WS/other $WS/.git", false);
    fixture.check("mv $WS/.git/config $WS/config-moved", false);
    // The rest of the root is writable in the same process.
    fixture.check("echo x > $WS/.git/config; echo y > $WS/beside-git", true);
    assert_eq!(read(&fixture.scratch.path("ws/beside-git")), "y\n");
}

#[test]
fn mounts_cannot_be_undone_from_inside() {
    let fixture = Fixture::new();
    // Landlock forbids changing the mount topology, even to root.
    fixture.check("umount $WS/.git", false);
    fixture.check("mount -o remount,rw $WS/.git", false);
    fixture.check("mount --bind $WS $OUT", false);
}

#[test]
fn device_nodes_cannot_be_created_in_a_write_root() {
    let fixture = Fixture::new();
    // As root, a block device node in a writable tree would open the raw disk.
    fixture.check("mknod $WS/disk b 8 0", false);
    fixture.check("mknod $WS/mem c 1 1", false);
    fixture.check("mkfifo $WS/fifo", true);
}

#[test]
fn reads_outside_the_read_roots_fail_when_root_is_not_readable() {
    let scratch = Scratch::new("reads");
    let workspace = scratch.dir("ws");
    scratch.file("secret/file", "secret");
    scratch.file("ws/mine", "mine");
    let mut policy = SandboxPolicy::default().with_write_root(&workspace);
    for system in ["/usr", "/bin", "/lib", "/lib64"] {
        if std::path::Path::new(system).exists() {
            policy = policy.with_read_root(system);
        }
    }
    let sandbox = crate::prepare(&policy);
    let secret = scratch.path("secret/file");
    let output = sh(&sandbox, &format!("cat {}", secret.display()));
    assert!(!output.status.success(), "read outside the roots succeeded");
    assert!(String::from_utf8_lossy(&output.stderr).contains("Permission denied"), "{output:?}");
    let output = sh(&sandbox, &format!("ls {}", scratch.path("secret").display()));
    assert!(!output.status.success(), "listing outside the roots succeeded");
    let output = sh(&sandbox, &format!("cat {}", scratch.path("ws/mine").display()));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "mine", "{output:?}");
}

#[test]
fn a_carve_out_outside_every_write_root_is_refused() {
    let scratch = Scratch::new("carve");
    let policy = SandboxPolicy::read_only().with_read_only_carve_out(scratch.dir("elsewhere"));
    let error = policy.prepare().expect_err("carve-out outside write roots must be refused");
    assert_eq!(error.kind(), exec_sandbox::SandboxErrorKind::Preparation);
    let policy = SandboxPolicy::read_only().with_write_root(scratch.path("missing"));
    let error = policy.prepare().expect_err("a missing root must be refused");
    assert_eq!(error.kind(), exec_sandbox::SandboxErrorKind::Preparation);
}

#[test]
fn a_carve_out_swapped_after_prepare_fails_the_spawn() {
    let fixture = Fixture::new();
    let workspace = fixture.scratch.path("ws");
    // Between prepare and spawn, `.git` is moved away and replaced: by a symlink to elsewhere,
    // then by a fresh directory. Either way the real `.git` would be left writable.
    std::fs::rename(workspace.join(".git"), workspace.join("real-git")).expect("move .git");
    std::os::unix::fs::symlink(fixture.scratch.dir("decoy"), workspace.join(".git")).expect("symlink");
    assert_eq!(spawn_error(&fixture.sandbox), Some(libc::ESTALE));
    std::fs::remove_file(workspace.join(".git")).expect("remove symlink");
    std::fs::create_dir(workspace.join(".git")).expect("fresh .git");
    assert_eq!(spawn_error(&fixture.sandbox), Some(libc::ESTALE));
    std::fs::remove_dir(workspace.join(".git")).expect("remove fresh .git");
    assert_eq!(spawn_error(&fixture.sandbox), Some(libc::ENOENT));
    assert_eq!(read(&workspace.join("real-git/config")), "original");
}

/// The OS error of spawning `/bin/true` in the sandbox, `None` if it ran.
fn spawn_error(sandbox: &Arc<PreparedSandbox>) -> Option<i32> {
    use std::os::unix::process::CommandExt;
    let sandbox = Arc::clone(sandbox);
    let mut command = std::process::Command::new("/bin/true");
    // SAFETY: apply_in_child is async-signal-safe.
    unsafe { command.pre_exec(move || sandbox.apply_in_child()) };
    match command.status() {
        Ok(_) => None,
        Err(error) => error.raw_os_error(),
    }
}

#[test]
fn the_confined_process_keeps_its_uid_and_its_files_their_owner() {
    // Without CAP_SYS_ADMIN the carve-outs live in a user namespace mapping only the caller's
    // own uid and gid onto themselves: nothing visible changes for the caller's own files.
    let fixture = Fixture::new();
    fixture.check("id -u > $WS/uid; id -g > $WS/gid", true);
    // SAFETY: geteuid and getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    assert_eq!(read(&fixture.scratch.path("ws/uid")).trim(), uid.to_string());
    assert_eq!(read(&fixture.scratch.path("ws/gid")).trim(), gid.to_string());
    use std::os::unix::fs::MetadataExt;
    let created = std::fs::metadata(fixture.scratch.path("ws/uid")).expect("created file");
    assert_eq!((created.uid(), created.gid()), (uid, gid));
}
