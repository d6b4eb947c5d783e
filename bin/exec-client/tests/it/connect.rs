//! `--connect COMMAND`: the server reached through a command's stdin/stdout, as git reaches a
//! repository over ssh, and what recovery means there.
//!
//! The always-on tests use a local stand-in for ssh: `env -i PATH=... COMMAND`, which runs the
//! remote command with a fresh environment and nothing else, as sshd does once it has
//! authenticated. Authentication and encryption are ssh's business, not ours, so the stand-in
//! tests everything this project does. The same recipe with a real sshd on loopback is the
//! manual check in `docs/exec-client.md` ("Over ssh").

use std::path::Path;

use exec_engine::{Event, ExitStatus, WriteOptions};
use exec_transport::{ConnectOptions, Endpoint, ExecClient, ProcessSpec};

use crate::support::{CLIENT, DEADLINE, TestServer, finish, temp_path};

/// The stand-in for `ssh HOST`: a clean environment, then the command.
fn stand_in(command: &str) -> String {
    format!("env -i PATH=/usr/bin:/bin {command}")
}

fn exec_server() -> String {
    test_support::workspace_binary("exec-server").display().to_string()
}

fn connect_command(args: &[&str], connect: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(CLIENT);
    command
        .arg("--connect")
        .arg(connect)
        .args(args)
        .env_remove("EXEC_SERVER_URL")
        .env_remove("EXEC_SERVER_TOKEN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_over_a_stdio_server_behind_a_stand_in_for_ssh() {
    let connect = stand_in(&format!("{} --listen stdio", exec_server()));
    let done = finish(connect_command(&["run", "--", "uname"], &connect)).await;
    assert_eq!((done.code, done.stdout_text().as_str()), (Some(0), "Linux\n"), "{}", done.stderr);
    // The server's own log lines (its stderr) stay out of the user's way.
    assert_eq!(done.stderr, "");

    // Stdin, its EOF, and the exit code travel over the stream too.
    let mut command = connect_command(&["run", "--", "sh", "-c", "wc -l; exit 3"], &connect);
    command.stdin(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"a\nb\n").await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2");
    assert_eq!(output.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_cannot_reach_a_server_is_a_connect_failure_naming_why() {
    let done =
        finish(connect_command(&["run", "--", "true"], "echo 'ssh: no route to host' >&2; exit 255")).await;
    assert_eq!(done.code, Some(250), "{}", done.stderr);
    assert!(done.stderr.contains("ssh: no route to host"), "{}", done.stderr);
    assert!(done.stderr.contains("exit status: 255"), "{}", done.stderr);
}

/// Pids of the command runs, one line each, written by the command itself.
fn runs(pid_file: &Path) -> Vec<i32> {
    std::fs::read_to_string(pid_file)
        .unwrap_or_default()
        .lines()
        .map(|line| line.trim().parse().unwrap())
        .collect()
}

async fn next_output(handle: &mut exec_transport::ProcessHandle) -> Event {
    tokio::time::timeout(DEADLINE, handle.next_event()).await.expect("an event in time").expect("not closed")
}

/// Recovery over a stream means: run the command again and resume the session through it. With
/// a relay (`exec-client bridge`) to a server that outlives the stream, the session is still
/// there: the process keeps running and its output arrives without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_over_a_stream_runs_the_command_again_and_resumes_the_session() {
    let server = TestServer::start().await;
    let pid_file = temp_path("bridge-pids");
    let command = format!(
        "echo $$ >> {}; exec {}",
        pid_file.display(),
        stand_in(&format!("{CLIENT} --url {} bridge", server.url()))
    );
    let client = ExecClient::connect(Endpoint::Command(command), ConnectOptions::default()).await.unwrap();
    let spec = ProcessSpec::new(["sh", "-c", "echo one; read x; echo two-$x"], "/").pipe_stdin();
    let mut handle = client.start("p", spec).await.unwrap();
    let Event::Output(first) = next_output(&mut handle).await else { panic!("output first") };
    assert_eq!(&first.data[..], b"one\n");

    // Cut the stream as a dropped ssh connection would.
    let first_run = runs(&pid_file);
    assert_eq!(first_run.len(), 1);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first_run[0]), nix::sys::signal::Signal::SIGKILL)
        .unwrap();

    // A write waits for the new stream and is sent once (it carries a writeId).
    client.write("p", bytes::Bytes::from_static(b"x\n"), WriteOptions::default()).await.unwrap();
    let mut output = Vec::new();
    let mut status = None;
    while let Some(event) = tokio::time::timeout(DEADLINE, handle.next_event()).await.unwrap() {
        match event {
            Event::Output(chunk) => output.extend_from_slice(&chunk.data),
            Event::Exited { status: exit, .. } => status = Some(exit),
            Event::Closed { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(String::from_utf8_lossy(&output), "two-x\n");
    assert_eq!(status, Some(ExitStatus::Code(0)));
    assert_eq!(runs(&pid_file).len(), 2, "the command ran again");
    client.close().await;
    let _ = std::fs::remove_file(&pid_file);
}

/// `exec-server --listen stdio` lives and dies with its stream, and its session with it: the
/// command runs again, the new server does not know the session, and every handle fails with
/// that reason at once instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_dies_with_its_stream_and_recovery_says_the_session_is_gone() {
    let pid_file = temp_path("stdio-pids");
    let command = format!(
        "echo $$ >> {}; exec {}",
        pid_file.display(),
        stand_in(&format!("{} --listen stdio", exec_server()))
    );
    let client = ExecClient::connect(Endpoint::Command(command), ConnectOptions::default()).await.unwrap();
    let spec = ProcessSpec::new(["sh", "-c", "echo ready; read x"], "/").pipe_stdin();
    let mut handle = client.start("p", spec).await.unwrap();
    let Event::Output(_) = next_output(&mut handle).await else { panic!("output first") };
    let pid = runs(&pid_file)[0];
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let event = loop {
        match next_output(&mut handle).await {
            Event::Failed { reason, .. } => break reason,
            Event::Output(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(event.contains("could not be resumed"), "{event}");
    assert_eq!(runs(&pid_file).len(), 2, "the command ran again");
    let _ = std::fs::remove_file(&pid_file);
}
