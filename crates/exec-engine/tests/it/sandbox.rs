//! `SpawnSpec::sandbox`: a confined child writes only inside its write roots and opens no network
//! socket, a PTY child works under the sandbox (raw mode, resize), a sandbox that cannot be
//! applied fails the start with `StartError::Sandbox` and runs nothing, and an unconfined start
//! is unchanged. The rules themselves are tested in `exec-sandbox`; this checks the engine
//! applies them on both backends.

use std::path::{Path, PathBuf};

use exec_engine::{ChildSandbox, ExitStatus, PtySize, StartError};
use exec_sandbox::{Network, SandboxPolicy};

use crate::support::{Backend, collect, collect_until, each_backend, engine, pid, session, sh};

/// A fresh directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("exec-engine-{name}-{}", std::process::id()));
        // A leftover of an earlier run with the same pid is ours to remove; absence is fine.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch dir");
        Scratch(path)
    }

    fn dir(&self, name: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(&path).expect("dir");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a failure leaves a directory in the temp dir, nothing worse.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Read everything, write only `root`, network off.
fn confined_to(root: &Path) -> ChildSandbox {
    SandboxPolicy::read_only().with_write_root(root).prepare().expect("prepare the sandbox").into()
}

fn display(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_owned()
}

#[tokio::test]
async fn a_sandboxed_child_writes_only_inside_its_write_roots() {
    each_backend(|backend| async move {
        let scratch = Scratch::new(&format!("sandbox-write-{backend:?}"));
        let (workspace, outside) = (scratch.dir("workspace"), scratch.dir("outside"));
        let engine = engine();
        let session = session(&engine);
        let script = format!(
            "echo in > {ws}/inside && echo inside-ok; echo out > {out}/escaped; echo outside=$?",
            ws = display(&workspace),
            out = display(&outside)
        );
        let mut spec = sh(&script, backend);
        spec.sandbox = Some(confined_to(&workspace));
        let mut events = session.start(pid("w"), spec).await.expect("sandboxed start");
        assert!(session.list()[0].sandboxed);
        let seen = collect(&mut events).await;
        let text = seen.text();
        assert!(text.contains("inside-ok"), "{text}");
        assert!(text.contains("Permission denied") && !text.contains("outside=0"), "{text}");
        assert_eq!(std::fs::read_to_string(workspace.join("inside")).unwrap(), "in\n");
        assert!(!outside.join("escaped").exists());
    })
    .await;
}

#[tokio::test]
async fn a_sandboxed_child_opens_no_network_socket_but_unix_sockets_work() {
    each_backend(|backend| async move {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = listener.local_addr().unwrap().port();
        let engine = engine();
        let session = session(&engine);
        let script = format!(
            "bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' && echo tcp-open || echo tcp-refused; \
             python3 -c 'import socket; socket.socketpair(); print(\"unix-ok\")' 2>&1 || echo unix-missing"
        );
        let mut spec = sh(&script, backend);
        spec.sandbox = Some(SandboxPolicy::read_only().prepare().expect("prepare").into());
        let mut events = session.start(pid("n"), spec).await.unwrap();
        let text = collect(&mut events).await.text();
        assert!(text.contains("tcp-refused") && !text.contains("tcp-open"), "{text}");
        assert!(text.contains("Permission denied"), "{text}");
        assert!(text.contains("unix-ok") || text.contains("unix-missing"), "{text}");

        // The same command unconfined reaches the listener: the refusal was the sandbox's.
        let mut events = session.start(pid("open"), sh(&script, backend)).await.unwrap();
        let text = collect(&mut events).await.text();
        assert!(text.contains("tcp-open"), "{text}");
        drop(listener);
    })
    .await;
}

#[tokio::test]
async fn a_pty_child_under_the_sandbox_has_raw_mode_and_resize() {
    let engine = engine();
    let session = session(&engine);
    let id = pid("tty");
    let script = "stty raw -echo && echo raw-ok; stty size; trap 'stty size' WINCH; \
                  echo ready; while :; do sleep 0.2 & wait $!; done";
    let mut spec = sh(script, Backend::Pty);
    spec.sandbox = Some(SandboxPolicy::read_only().prepare().expect("prepare").into());
    let mut events = session.start(id.clone(), spec).await.unwrap();
    collect_until(&mut events, |c| c.text().contains("raw-ok") && c.text().contains("ready")).await;
    session.resize(&id, PtySize { rows: 33, cols: 101 }).unwrap();
    collect_until(&mut events, |c| c.text().contains("33 101")).await;
    session.terminate(&id, None).await.unwrap();
    assert!(collect(&mut events).await.closed);
}

#[tokio::test]
async fn dot_git_stays_read_only_inside_a_writable_root_in_and_out_of_a_contained_session() {
    // Run by `containment::as_an_unprivileged_user` as uid 65534 too, where the carve-out's
    // mount namespace comes from a user namespace: the session's, or the child's own.
    for contain_sessions in [true, false] {
        each_backend(|backend| async move {
            let scratch = Scratch::new(&format!("sandbox-git-{backend:?}-{contain_sessions}"));
            let workspace = scratch.dir("workspace");
            let outside = scratch.dir("outside");
            std::fs::create_dir(workspace.join(".git")).unwrap();
            std::fs::write(workspace.join(".git/config"), "original").unwrap();
            // Not `workspace_write`, which also opens the temp dir the scratch tree lives in.
            let policy = SandboxPolicy::read_only()
                .with_write_root(&workspace)
                .with_read_only_carve_out(workspace.join(".git"));
            let sandbox: ChildSandbox = policy.prepare().expect("carve-outs can be made here").into();
            let engine = exec_engine::Engine::new(exec_engine::Config {
                contain_sessions,
                ..exec_engine::Config::default()
            });
            let session = session(&engine);
            let script = format!(
                "echo x > {ws}/.git/config; echo git=$?; echo y > {ws}/.git/new; echo new=$?; \
                 mv {ws}/.git {ws}/moved; echo mv=$?; umount {ws}/.git; echo umount=$?; \
                 echo z > {out}/escaped; echo out=$?; echo w > {ws}/beside && echo beside-ok; \
                 echo uid=$(id -u)",
                ws = display(&workspace),
                out = display(&outside)
            );
            let mut spec = sh(&script, backend);
            spec.sandbox = Some(sandbox);
            let mut events = session.start(pid("g"), spec).await.expect("start");
            let text = collect(&mut events).await.text();
            for denied in ["git=", "new=", "mv=", "umount=", "out="] {
                assert!(!text.contains(&format!("{denied}0")), "{denied} succeeded: {text}");
            }
            assert!(text.contains("beside-ok"), "{text}");
            // SAFETY: geteuid cannot fail.
            let uid = unsafe { nix::libc::geteuid() };
            assert!(text.contains(&format!("uid={uid}")), "{text}");
            assert_eq!(std::fs::read_to_string(workspace.join(".git/config")).unwrap(), "original");
            assert!(!workspace.join(".git/new").exists() && !outside.join("escaped").exists());
            assert_eq!(std::fs::read_to_string(workspace.join("beside")).unwrap(), "w\n");
            engine.shutdown().await;
        })
        .await;
    }
}

#[tokio::test]
async fn a_sandbox_that_cannot_be_applied_fails_the_start_and_runs_nothing() {
    each_backend(|backend| async move {
        let scratch = Scratch::new(&format!("sandbox-stale-{backend:?}"));
        let workspace = scratch.dir("workspace");
        std::fs::create_dir(workspace.join(".git")).unwrap();
        let policy = SandboxPolicy::workspace_write([&workspace]).with_network(Network::Restricted);
        let sandbox: ChildSandbox = match policy.prepare() {
            Ok(prepared) => prepared.into(),
            // Carve-outs need a mount namespace; without one there is nothing to check here.
            Err(error) => return eprintln!("skipped: {error}"),
        };
        // The carve-out is replaced after preparation: the child must refuse to run.
        std::fs::rename(workspace.join(".git"), workspace.join("moved")).unwrap();
        std::fs::create_dir(workspace.join(".git")).unwrap();
        let engine = engine();
        let session = session(&engine);
        let marker = workspace.join("ran");
        let mut spec = sh(&format!("touch {}", display(&marker)), backend);
        spec.sandbox = Some(sandbox);
        let error = session.start(pid("s"), spec).await.unwrap_err();
        assert!(matches!(&error, StartError::Sandbox { source } if source.raw_os_error() == Some(nix::libc::ESTALE)), "{error:?}");
        assert!(error.to_string().starts_with("failed to apply the sandbox"), "{error}");
        assert!(!marker.exists());
        assert!(session.list().is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_unsandboxed_start_is_unchanged() {
    each_backend(|backend| async move {
        let scratch = Scratch::new(&format!("sandbox-none-{backend:?}"));
        let target = scratch.0.join("written");
        let engine = engine();
        let session = session(&engine);
        let mut events =
            session.start(pid("u"), sh(&format!("echo x > {}", display(&target)), backend)).await.unwrap();
        assert!(!session.list()[0].sandboxed);
        assert_eq!(collect(&mut events).await.exit, Some(ExitStatus::Code(0)));
        assert!(target.exists());
    })
    .await;
}
