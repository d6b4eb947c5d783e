//! `exec-client` and `ExecClient` against the Codex peer (`@openai/codex@0.123.0`), for what the
//! peer supports: run, output, exit codes, stdin through `pipeStdin`, the library's ordering.
//! The peer has no extensions, so nothing here may need one. These run when `EXEC_PEER_CODEX`
//! names the peer's `codex` binary (`cargo xtask peer-test` installs it and sets it).

use std::process::Stdio;

use exec_engine::{Event, ExitStatus};
use exec_transport::{ClientError, ConnectOptions, ExecClient, ProcessSpec};
use test_support::{ServerProcess, Target};
use tokio::io::AsyncWriteExt as _;

use crate::support::{DEADLINE, client, finish};

async fn peer() -> Option<ServerProcess> {
    match Target::peer_from_env() {
        Some(target) => Some(target.spawn().await),
        None => {
            eprintln!("{} is not set: the peer case did not run", test_support::PEER_ENV);
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_output_and_exit_codes() {
    let Some(server) = peer().await else { return };
    let echo =
        finish(client(server.url(), &["run", "--", "sh", "-c", "echo out; echo err >&2; exit 7"])).await;
    assert_eq!(echo.code, Some(7), "{}", echo.stderr);
    assert_eq!(echo.stdout_text(), "out\n");
    assert!(echo.stderr.contains("err\n"), "{}", echo.stderr);
    let missing = finish(client(server.url(), &["run", "--", "definitely-not-a-command"])).await;
    assert_eq!(missing.code, Some(127), "{}", missing.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_through_pipe_stdin() {
    let Some(server) = peer().await else { return };
    // The peer cannot close a child's stdin (no `eof`), so the command stops by itself.
    let mut command = client(server.url(), &["run", "--", "head", "-n", "2"]);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a\nb\nc\n").await.unwrap();
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "a\nb\n");
    assert_eq!(output.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_orders_events_and_refuses_missing_extensions() {
    let Some(server) = peer().await else { return };
    let client = ExecClient::connect(server.url(), ConnectOptions::default()).await.unwrap();
    assert!(!client.has_capability(exec_protocol::capability::PROCESS_SIGNAL));
    for round in 0..20 {
        let spec = ProcessSpec::new(["/bin/sh", "-c", "echo one; echo two >&2; echo three; exit 4"], "/");
        let mut handle = client.start(format!("p{round}"), spec).await.unwrap();
        let mut seqs = Vec::new();
        let mut status = None;
        let mut output = Vec::new();
        while let Some(event) = tokio::time::timeout(DEADLINE, handle.next_event()).await.unwrap() {
            seqs.push(event.seq().get());
            match event {
                Event::Output(chunk) => output.extend_from_slice(&chunk.data),
                Event::Exited { status: exit, .. } => status = Some(exit),
                Event::Closed { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "in seq order");
        assert_eq!(status, Some(ExitStatus::Code(4)));
        assert_eq!(output.len(), "one\ntwo\nthree\n".len());
    }
    let unsupported = client.signal("p0", exec_engine::Signal::Interrupt).await;
    assert!(matches!(unsupported, Err(ClientError::Unsupported(_))), "{unsupported:?}");
}

/// The issue-14 case: against a server without `eof`, `</dev/null` used to ask for a stdin pipe
/// the server could never close, so `read` waited forever after a warning. Now `/dev/null`
/// means no pipe at all, and the command reads EOF at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_null_stdin_reads_eof_without_a_warning() {
    let Some(server) = peer().await else { return };
    let mut command = client(server.url(), &["run", "--", "sh", "-c", "read x || echo eof"]);
    command.stdin(Stdio::null());
    let null = finish(command).await;
    assert_eq!((null.code, null.stdout_text().as_str(), null.stderr.as_str()), (Some(0), "eof\n", ""));
    // `-n` does the same whatever stdin is, as ssh's does.
    let mut command = client(server.url(), &["run", "-n", "--", "sh", "-c", "read x || echo eof"]);
    command.stdin(Stdio::piped());
    let child = command.spawn().unwrap();
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "eof\n");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// A stdin with data against a server that cannot close the remote stdin: one line on stderr
/// says so when local stdin ends (the documented behaviour), instead of a silent hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_data_without_eof_support_is_announced() {
    let Some(server) = peer().await else { return };
    let mut command = client(server.url(), &["run", "--", "sh", "-c", "read x; echo got-$x"]);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"line\n").await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "got-line\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no `eof` extension") && stderr.contains("-n"), "{stderr}");
}

/// `cp` against the April server: whole-file methods with plain paths, modes through
/// `chmod`/`stat` processes, both ways byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cp_round_trips_a_small_tree() {
    let Some(server) = peer().await else { return };
    let root = crate::support::temp_path("peer-cp");
    let tree = root.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.bin"), (0..=255u8).cycle().take(300_000).collect::<Vec<_>>()).unwrap();
    std::fs::write(tree.join("sub/run.sh"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(tree.join("sub/run.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let remote = format!(":{}", root.join("there").display());
    let up = finish(client(server.url(), &["cp", &tree.display().to_string(), &remote])).await;
    assert_eq!((up.code, up.stderr.as_str()), (Some(0), ""));
    let back = root.join("back").display().to_string();
    let down = finish(client(server.url(), &["cp", &remote, &back])).await;
    assert_eq!((down.code, down.stderr.as_str()), (Some(0), ""));
    for relative in ["a.bin", "sub/run.sh"] {
        assert_eq!(
            std::fs::read(root.join("back").join(relative)).unwrap(),
            std::fs::read(tree.join(relative)).unwrap()
        );
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(root.join("back/sub/run.sh")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o755);
    std::fs::remove_dir_all(&root).unwrap();
}

/// `run --timeout` against a server without `graceMs`: the command is killed at once, and the
/// client exits 124 all the same.
/// A server without chunked methods (the April one) takes files only whole: above the client's
/// whole-file limit an upload is a clear error naming the limit, and nothing is half-written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_above_the_whole_file_limit_is_a_clear_error_without_chunked_methods() {
    let Some(server) = peer().await else { return };
    let root = crate::support::temp_path("peer-cp-big");
    std::fs::create_dir_all(&root).unwrap();
    let big = root.join("big");
    std::fs::write(&big, vec![7_u8; 9 << 20]).unwrap();
    let remote = format!(":{}", root.join("up").display());
    let up = finish(client(server.url(), &["cp", &big.display().to_string(), &remote])).await;
    assert_eq!(up.code, Some(1), "{}", up.stderr);
    assert!(
        up.stderr.contains("the limit is 8388608 bytes") && up.stderr.contains("no chunked writes"),
        "{}",
        up.stderr
    );
    assert!(!root.join("up").exists(), "nothing half-written");
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_without_grace_support_still_exits_124() {
    let Some(server) = peer().await else { return };
    let command = client(
        server.url(),
        &["run", "--timeout", "300ms", "--", "sh", "-c", "echo started; exec sleep 100"],
    );
    let done = finish(command).await;
    assert_eq!((done.code, done.stdout_text().as_str(), done.stderr.as_str()), (Some(124), "started\n", ""));
}
