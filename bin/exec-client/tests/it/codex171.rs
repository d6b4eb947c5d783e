//! `ExecClient` and `exec-client run` against the current Codex server (`@openai/codex@0.171.0`),
//! which takes `cwd` only as a `file://` URI and needs a `writeId` on every `process/write`
//! (`docs/codex-0.171-wire.md`). These run when `EXEC_CODEX_171` names its `codex` binary
//! (`cargo xtask peer-test` installs it and sets it); every test name holds `codex_171`, the
//! filter that command runs.

use std::process::Stdio;

use exec_engine::ExitStatus;
use exec_transport::{ClientError, ConnectOptions, ExecClient, ProcessSpec};
use test_support::ServerProcess;
use tokio::io::AsyncWriteExt as _;

use crate::support::{DEADLINE, client, finish, temp_path};

/// The 0.171 server on loopback with a scratch `CODEX_HOME`, or `None` (and a note) when
/// `EXEC_CODEX_171` is not set.
async fn codex_171() -> Option<(ServerProcess, std::path::PathBuf)> {
    let Ok(codex) = std::env::var("EXEC_CODEX_171") else {
        eprintln!("EXEC_CODEX_171 is not set: the case against the 0.171 server did not run");
        return None;
    };
    let home = temp_path("codex-171-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut command = std::process::Command::new(codex);
    command.args(["exec-server", "--listen", "ws://127.0.0.1:0"]).env("CODEX_HOME", &home);
    Some((ServerProcess::start(command).await.unwrap(), home))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_runs_a_command_with_stdin_against_codex_171() {
    let Some((server, home)) = codex_171().await else { return };
    let client = ExecClient::connect(server.url(), ConnectOptions::default()).await.unwrap();
    // A plain path: the client sends it as the URI this server wants.
    let spec = ProcessSpec::new(["/bin/sh", "-c", "read x; echo got $x; pwd; echo err >&2; exit 3"], "/tmp")
        .pipe_stdin();
    let mut handle = client.start("p1", spec).await.unwrap();
    // Two writes: the server wants a `writeId` on each.
    handle.write(&b"hel"[..]).await.unwrap();
    handle.write(&b"lo\n"[..]).await.unwrap();
    let (output, status) = crate::support::drain(&mut handle).await;
    let output = String::from_utf8_lossy(&output);
    assert!(
        output.contains("got hello\n") && output.contains("/tmp\n") && output.contains("err\n"),
        "{output}"
    );
    assert_eq!(status, Some(ExitStatus::Code(3)));
    assert!(!handle.terminate(None).await.unwrap(), "already exited");
    // What this server lacks is a clear error, not a hang.
    let list = tokio::time::timeout(DEADLINE, client.list()).await.unwrap();
    assert!(matches!(list, Err(ClientError::Unsupported(_))), "{list:?}");
    let missing = client.start("p2", ProcessSpec::new(["/bin/true"], "/definitely/not/here")).await;
    assert!(matches!(missing, Err(ClientError::Remote { .. })), "{missing:?}");
    std::fs::remove_dir_all(home).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_stdin_against_codex_171() {
    let Some((server, home)) = codex_171().await else { return };
    let mut command = client(server.url(), &["run", "--", "sh", "-c", "read x; echo got $x; exit 3"]);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"line\n").await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "got line\n", "{stderr}");
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    // No `eof` on this server either: at most the one documented line (when the end of local
    // stdin is seen before the command's end), nothing else.
    assert!(stderr.lines().count() <= 1, "{stderr}");
    assert!(stderr.lines().all(|line| line.contains("no `eof` extension")), "{stderr}");
    std::fs::remove_dir_all(home).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_dev_null_stdin_reads_eof_against_codex_171() {
    let Some((server, home)) = codex_171().await else { return };
    let mut command = client(server.url(), &["run", "--", "sh", "-c", "read x || echo eof"]);
    command.stdin(Stdio::null());
    let null = finish(command).await;
    assert_eq!((null.code, null.stdout_text().as_str(), null.stderr.as_str()), (Some(0), "eof\n", ""));
    std::fs::remove_dir_all(home).unwrap();
}

/// The 0.171 server takes `process/signal` with `interrupt` only (anything else is -32602
/// "unknown variant"; it lists no capabilities): the client sends an interrupt there, as Ctrl-C
/// in `exec-client run` does, and refuses the other signals up front.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_interrupts_a_command_on_codex_171() {
    let Some((server, home)) = codex_171().await else { return };
    let client = ExecClient::connect(server.url(), ConnectOptions::default()).await.unwrap();
    let script = "trap 'echo got INT; exit 7' INT; echo ready; while :; do sleep 0.05; done";
    let mut handle = client.start("int", ProcessSpec::new(["/bin/sh", "-c", script], "/tmp")).await.unwrap();
    let ready = tokio::time::timeout(DEADLINE, handle.next_event()).await.unwrap();
    assert!(
        matches!(&ready, Some(exec_engine::Event::Output(chunk)) if chunk.data.starts_with(b"ready")),
        "{ready:?}"
    );
    assert!(client.can_signal(exec_engine::Signal::Interrupt));
    assert!(!client.can_signal(exec_engine::Signal::Terminate));
    let refused = client.signal("int", exec_engine::Signal::Terminate).await;
    assert!(matches!(refused, Err(ClientError::Unsupported(_))), "{refused:?}");
    client.signal("int", exec_engine::Signal::Interrupt).await.unwrap();
    let (output, status) = crate::support::drain(&mut handle).await;
    assert!(String::from_utf8_lossy(&output).contains("got INT\n"), "{}", String::from_utf8_lossy(&output));
    assert_eq!(status, Some(ExitStatus::Code(7)));
    std::fs::remove_dir_all(home).unwrap();
}
