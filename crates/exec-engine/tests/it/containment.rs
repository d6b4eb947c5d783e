//! Whole-tree containment: every descendant of a session's processes, including a `setsid`
//! daemon and a double-forked grandchild (both leave the process group and are reparented away
//! from the server), dies when the session expires, on `Engine::shutdown`, and when the process
//! that embeds the engine is SIGKILLed.
//!
//! Descendants are found by an environment variable with a per-test token: every descendant
//! inherits it, wherever it was reparented. Their disappearance produces no event, so it is
//! polled, with a deadline.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use exec_engine::{Config, Engine};

use crate::support::{Backend, DEADLINE, collect_until, each_backend, eventually, pid, sh};

const MARKER: &str = "EXEC_ENGINE_TREE_MARKER";

/// A command that leaves two long-lived descendants outside its process group: a `setsid`
/// daemon and a double-forked grandchild; prints `ready` once both run.
const ESCAPING_TREE: &str = "setsid sleep 300 </dev/null >/dev/null 2>&1 & \
     (sh -c 'sleep 300 & exit 0' </dev/null >/dev/null 2>&1 &); \
     sleep 0.2; echo ready; sleep 300";

/// Live (non-zombie) processes whose environment carries `MARKER=token`.
fn marked_processes(token: &str) -> Vec<u32> {
    let needle = format!("{MARKER}={token}");
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        // A process that exits meanwhile has no environ any more: it is not a survivor.
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if environ.split(|byte| *byte == 0).any(|var| var == needle.as_bytes())
            && crate::support::pid_exists(pid)
        {
            found.push(pid);
        }
    }
    found
}

fn token(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), uuid_like())
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn tree_spec(token: &str, backend: Backend) -> exec_engine::SpawnSpec {
    let mut spec = sh(ESCAPING_TREE, backend);
    spec.env.insert(MARKER.to_owned(), token.to_owned());
    spec
}

async fn wait_for_tree(token: &str) {
    eventually("the daemon and the grandchild run", || marked_processes(token).len() >= 3).await;
}

#[tokio::test]
async fn session_expiry_kills_the_whole_tree() {
    each_backend(|backend| async move {
        let engine = Engine::new(Config { session_ttl: Duration::from_millis(100), ..Config::default() });
        let handle = engine.create_session().unwrap();
        let token = token("expiry");
        let mut events = handle.start(pid("tree"), tree_spec(&token, backend)).await.unwrap();
        collect_until(&mut events, |c| c.text().contains("ready")).await;
        wait_for_tree(&token).await;
        drop(events);
        drop(handle);
        eventually("expiry kills every descendant", || marked_processes(&token).is_empty()).await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_kills_the_whole_tree() {
    each_backend(|backend| async move {
        let engine = Engine::new(Config::default());
        let handle = engine.create_session().unwrap();
        let token = token("shutdown");
        let mut events = handle.start(pid("tree"), tree_spec(&token, backend)).await.unwrap();
        collect_until(&mut events, |c| c.text().contains("ready")).await;
        wait_for_tree(&token).await;
        engine.shutdown().await;
        eventually("shutdown kills every descendant", || marked_processes(&token).is_empty()).await;
    })
    .await;
}

/// The variable that turns [`embedder_that_gets_killed`] into the process under test.
const HELPER: &str = "EXEC_ENGINE_CONTAINMENT_HELPER";

/// Not a test on its own: when [`HELPER`] is set (by `sigkill_of_the_embedder_kills_the_whole_tree`,
/// which runs this test binary again), it starts the escaping tree on the backend named by the
/// variable, prints `ready`, and waits to be SIGKILLed. Without the variable it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedder_that_gets_killed() {
    let Ok(request) = std::env::var(HELPER) else { return };
    let (backend, token) = request.split_once(':').expect("BACKEND:TOKEN");
    let backend = if backend == "Pty" { Backend::Pty } else { Backend::Pipes };
    let engine = Engine::new(Config::default());
    let handle = engine.create_session().unwrap();
    let mut events = handle.start(pid("tree"), tree_spec(token, backend)).await.unwrap();
    collect_until(&mut events, |c| c.text().contains("ready")).await;
    wait_for_tree(token).await;
    println!("helper-ready");
    tokio::time::sleep(DEADLINE * 3).await;
}

#[tokio::test]
async fn sigkill_of_the_embedder_kills_the_whole_tree() {
    each_backend(|backend| async move {
        let token = token("sigkill");
        let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "containment::embedder_that_gets_killed", "--nocapture", "--test-threads=1"])
            .env(HELPER, format!("{backend:?}:{token}"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run the helper");
        let stdout = helper.stdout.take().unwrap();
        let ready = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout).lines().map_while(Result::ok).any(|line| line.contains("helper-ready"))
        });
        let ready =
            tokio::time::timeout(DEADLINE, ready).await.expect("the helper got ready in time").unwrap();
        assert!(ready, "the helper ended before it was ready");
        assert!(marked_processes(&token).len() >= 3);
        helper.kill().expect("SIGKILL the helper");
        helper.wait().expect("reap the helper");
        eventually("the embedder's death kills every descendant", || marked_processes(&token).is_empty())
            .await;
    })
    .await;
}

#[tokio::test]
async fn a_session_whose_namespace_init_was_killed_gets_a_new_one() {
    let engine = Engine::new(Config::default());
    let handle = engine.create_session().unwrap();
    let token = token("init-killed");
    let mut events = handle.start(pid("first"), tree_spec(&token, Backend::Pipes)).await.unwrap();
    collect_until(&mut events, |c| c.text().contains("ready")).await;
    // The namespace's init is the parent of the orphaned grandchild: find it through /proc.
    let leader = handle.list()[0].pid.unwrap();
    let init = crate::support::server_pid(leader, 1);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(init as i32), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    eventually("killing the init kills the whole tree", || marked_processes(&token).is_empty()).await;
    drop(events);
    let mut events = handle.start(pid("second"), sh("echo $$", Backend::Pipes)).await.expect("a start after");
    let seen = crate::support::collect(&mut events).await;
    assert_eq!(seen.exit, Some(exec_engine::ExitStatus::Code(0)));
    // Pid 1 is the new namespace's init; the command comes after it.
    assert_eq!(String::from_utf8_lossy(&seen.stdout).trim(), "2");
    engine.shutdown().await;
}

#[tokio::test]
async fn inside_a_session_proc_and_kill_agree_on_pids() {
    each_backend(|backend| async move {
        let engine = Engine::new(Config::default());
        let handle = engine.create_session().unwrap();
        // A pid found through /proc (what ps and pkill read) is the one kill reaches. The loop
        // waits for the background job to have exec'd `sleep`.
        let script = "sleep 31 & victim=$!; until found=$(pgrep -x sleep); do sleep 0.01; done; \
                      [ \"$found\" = \"$victim\" ] && echo same-pid; kill $found; wait $victim; echo status=$?";
        let mut events = handle.start(pid("p"), sh(script, backend)).await.unwrap();
        let text = crate::support::collect(&mut events).await.text();
        assert!(text.contains("same-pid") && text.contains("status=143"), "{text}");
        engine.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn orphans_inside_a_session_are_reaped() {
    let engine = Engine::new(Config::default());
    let handle = engine.create_session().unwrap();
    // The grandchild is orphaned at once and exits; the namespace's init must reap it, or it
    // stays a zombie (state Z) as long as the session lives.
    let script = "(sh -c 'sleep 0.1' &); sleep 0.1; \
                  while ps -eo stat= | grep -q '^Z'; do sleep 0.05; done; echo no-zombie";
    let mut events = handle.start(pid("p"), sh(script, Backend::Pipes)).await.unwrap();
    let seen = crate::support::collect(&mut events).await;
    assert!(seen.text().contains("no-zombie"), "{}", seen.text());
    engine.shutdown().await;
}

/// The user the unprivileged variants run as when the tests run as root.
const NOBODY: u32 = 65534;

/// Whether a forked child of a process running as `uid` may create a user namespace and a PID
/// namespace in it (asked independently of the engine).
fn user_namespaces_allowed_for(uid: u32) -> bool {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new("/bin/true");
    command.uid(uid).gid(uid);
    // SAFETY: unshare is async-signal-safe; the forked child is single-threaded.
    unsafe {
        command.pre_exec(|| {
            if nix::libc::unshare(nix::libc::CLONE_NEWUSER | nix::libc::CLONE_NEWPID | nix::libc::CLONE_NEWNS)
                == 0
            {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command.status().is_ok_and(|status| status.success())
}

/// Without `CAP_SYS_ADMIN` (the shipped deployments: an unprivileged user, no capabilities),
/// every test of this module, and the sandbox's carve-out test, again: run as root, this runs
/// this test binary again as uid 65534; as a non-root user they run so already.
#[test]
fn as_an_unprivileged_user() {
    // SAFETY: geteuid cannot fail.
    if unsafe { nix::libc::geteuid() } != 0 {
        return eprintln!("not root: this module's tests run unprivileged already");
    }
    assert!(
        user_namespaces_allowed_for(NOBODY),
        "this machine allows unprivileged user namespaces; the engine relies on them here"
    );
    use std::os::unix::process::CommandExt;
    let output = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "containment::",
            "sandbox::dot_git_stays_read_only",
            "--skip",
            "containment::as_an_unprivileged_user",
            "--skip",
            "containment::where_proc_cannot_be_remounted",
            "--skip",
            "containment::inner_where_proc_cannot_be_remounted",
            "--test-threads=1",
        ])
        .uid(NOBODY)
        .gid(NOBODY)
        .env("TMPDIR", std::env::temp_dir())
        .current_dir("/")
        .output()
        .expect("run the tests as an unprivileged user");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "as uid {NOBODY}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("test result: ok. 8 passed"), "{stdout}");
}

/// Set for the run of [`inner_where_proc_cannot_be_remounted_sessions_run_uncontained`].
const PROC_MASKED_RUN: &str = "EXEC_ENGINE_PROC_MASKED_RUN";

/// Without `CAP_SYS_ADMIN`, in a mount namespace whose `/proc/sys` is over-mounted read-only (as
/// systemd's `ProtectKernelTunables=` does), the kernel refuses a session its own `/proc`: the
/// engine falls back to uncontained sessions, and starts keep working. Run as root, this runs
/// the inner test as uid 65534 in such a mount namespace.
#[test]
fn where_proc_cannot_be_remounted_sessions_run_uncontained() {
    use nix::libc;
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return eprintln!("not root: cannot over-mount /proc/sys here");
    }
    let mut command = std::process::Command::new(std::env::current_exe().expect("this test binary"));
    command
        .args([
            "containment::inner_where_proc_cannot_be_remounted_sessions_run_uncontained",
            "--exact",
            "--test-threads=1",
        ])
        .env(PROC_MASKED_RUN, "1")
        .current_dir("/");
    // SAFETY: raw syscalls only, in the forked child before it execs.
    unsafe {
        command.pre_exec(|| {
            let check = |result: libc::c_int| {
                if result == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
            };
            let none = std::ptr::null();
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, none.cast()))?;
            let sys = c"/proc/sys".as_ptr();
            check(libc::mount(sys, sys, none, libc::MS_BIND, none.cast()))?;
            check(libc::mount(
                none,
                sys,
                none,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                none.cast(),
            ))?;
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setgid(NOBODY))?;
            check(libc::setuid(NOBODY))
        });
    }
    let output = command.output().expect("run the inner test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The inner half of [`where_proc_cannot_be_remounted_sessions_run_uncontained`].
#[tokio::test]
async fn inner_where_proc_cannot_be_remounted_sessions_run_uncontained() {
    if std::env::var_os(PROC_MASKED_RUN).is_none() {
        return;
    }
    each_backend(|backend| async move {
        let engine = Engine::new(Config::default());
        let handle = engine.create_session().unwrap();
        let mut events = handle.start(pid("p"), sh("echo $$", backend)).await.expect("a start");
        let reported = handle.list()[0].pid.expect("a pid");
        let seen = crate::support::collect(&mut events).await;
        assert_eq!(seen.exit, Some(exec_engine::ExitStatus::Code(0)));
        // Uncontained: the command's own pid is the server's pid of it, not a namespace's.
        assert_eq!(seen.text().trim(), reported.to_string());
        engine.shutdown().await;
    })
    .await;
}
