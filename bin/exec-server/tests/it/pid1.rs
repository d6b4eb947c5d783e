//! exec-server as PID 1 of a PID namespace, as in a container without an init (issue 15, "the
//! server reaps"): orphans re-parented to PID 1 are reaped, every command's exit is still
//! reported, and a SIGTERM to PID 1 reaches the server, which drains and exits 0.
//!
//! The namespace is made with `unshare --pid --fork --mount-proc` (root, or a kernel that lets
//! this user make one), so that `/proc` matches it as in a container; where it cannot be made the
//! test says so and checks nothing. Two orphans: one that
//! PID 1 adopts before the server even starts (a double fork in the shell that then `exec`s the
//! server), so it is PID 1's whatever the server does with its sessions, and one left by a
//! command (which goes to PID 1 when sessions are not contained, else to the session's init).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use test_support::{DEFAULT_DEADLINE, RawClient, ServerProcess, TempDir, start_params};

/// `sh -c` text for a process that waits for `go` to exist, then exits; detached from the
/// server's output so it does not hold it open.
fn orphan(go: &Path) -> String {
    format!("( (while [ ! -e '{}' ]; do sleep 0.01; done) </dev/null >/dev/null 2>&1 & )", go.display())
}

/// Every process under `pid` (itself included), with its one-letter state and command name, from
/// the host's `/proc` (children of every thread).
fn tree(pid: u32) -> Vec<(u32, char, String)> {
    let mut found = Vec::new();
    let mut pending = vec![pid];
    while let Some(pid) = pending.pop() {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // `pid (comm) state ...`; comm may hold spaces and parentheses: split at the last ')'.
        let (head, tail) = stat.rsplit_once(')').unwrap_or((&stat, ""));
        let name = head.split_once('(').map_or("", |(_, name)| name).to_owned();
        let state = tail.trim_start().chars().next().unwrap_or('?');
        found.push((pid, state, name));
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.filter_map(Result::ok) {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pending.extend(children.split_whitespace().filter_map(|child| child.parse::<u32>().ok()));
        }
    }
    found
}

#[tokio::test]
async fn as_pid_1_orphans_are_reaped_and_exits_still_reported() {
    let namespace = ["--pid", "--fork", "--kill-child", "--mount-proc"];
    let probe = Command::new("unshare").args(namespace).arg("true").output();
    if !probe.as_ref().is_ok_and(|output| output.status.success()) {
        eprintln!("cannot make a PID namespace here (unshare: {probe:?}); nothing checked");
        return;
    }
    let folder = TempDir::new("pid1");
    let go = folder.path().join("go");
    let mut command = Command::new("unshare");
    command.args(namespace).args(["--", "sh", "-c"]);
    command.arg(format!("{}; exec \"$0\" --listen ws://127.0.0.1:0", orphan(&go)));
    command.arg(env!("CARGO_BIN_EXE_exec-server"));
    let mut server = ServerProcess::start(command).await.expect("start exec-server as PID 1");
    let unshare = server.pid().expect("unshare runs");

    // unshare's child is PID 1 of the namespace, and it is exec-server.
    let pid_1 = tree(unshare).into_iter().nth(1).expect("unshare's child");
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid_1.0)).expect("PID 1's status");
    let nspid = status.lines().find_map(|line| line.strip_prefix("NSpid:")).unwrap_or_default();
    assert_eq!(nspid.split_whitespace().last(), Some("1"), "{status}");
    assert_eq!(pid_1.2, "exec-server", "{:?}", tree(unshare));

    let mut client = RawClient::connect(server.url()).await;
    client.initialize("pid1").await;
    let script = format!("{}; echo started", orphan(&go));
    client.request_ok("process/start", start_params("double-fork", &["sh", "-c", &script])).await;
    let run = client.collect_until_closed("double-fork").await;
    assert_eq!(run.exits()[0].params["exitCode"], json!(0), "{run:?}");

    // The orphans end while commands start and end: each exit is reported, with its own code.
    std::fs::write(&go, "").expect("create the go file");
    for code in 0..20 {
        let id = format!("exit-{code}");
        client.request_ok("process/start", start_params(&id, &["sh", "-c", &format!("exit {code}")])).await;
    }
    for code in 0..20 {
        let run = client.collect_until_closed(&format!("exit-{code}")).await;
        assert_eq!(run.exits()[0].params["exitCode"], json!(code), "{run:?}");
    }

    // No zombie stays behind, and the orphans (`sh` loops) are gone. Polled: nothing announces
    // a reap outside the namespace.
    let until = Instant::now() + DEFAULT_DEADLINE;
    loop {
        let processes = tree(unshare);
        let left: Vec<_> =
            processes.iter().filter(|(_, state, name)| *state == 'Z' || name == "sh").collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < until, "not reaped: {left:?} in {processes:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // SIGTERM to PID 1 (what `docker stop` sends) reaches the server, which stops with 0.
    drop(client);
    let sent = Command::new("kill").args(["-s", "TERM", &pid_1.0.to_string()]).status().expect("run kill");
    assert!(sent.success());
    let exit = server.wait_with_deadline(DEFAULT_DEADLINE).await.expect("wait").expect("stopped in time");
    assert!(exit.success(), "{exit:?}\n{}", server.captured_output());
}
