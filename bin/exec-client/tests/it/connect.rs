//! `--connect COMMAND`: the server reached through a command's stdin/stdout, as git reaches a
//! repository over ssh, and what recovery means there.
//!
//! The always-on tests use a local stand-in for ssh: `env -i PATH=... COMMAND`, which runs the
//! remote command with a fresh environment and nothing else, as sshd does once it has
//! authenticated. Authentication and encryption are ssh's business, not ours, so the stand-in
//! tests everything this project does. The tests at the end run the same paths through a real
//! sshd on loopback where the machine allows one, and say so on stderr where it does not.

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
    let relay = stand_in(&format!("{CLIENT} --url {} bridge", server.url()));
    a_cut_stream_is_recovered_through(&relay, "the command ran again").await;
}

/// Runs `relay` (a command reaching a long-lived server's relay) as the client's transport, cuts
/// it mid-command by killing it, and checks that the client ran it again, resumed the session,
/// wrote the pending stdin once, and lost no output.
async fn a_cut_stream_is_recovered_through(relay: &str, ran_again: &str) {
    let pid_file = temp_path("relay-pids");
    let command = format!("echo $$ >> {}; exec {relay}", pid_file.display());
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
    let (output, status) = crate::support::drain(&mut handle).await;
    assert_eq!(String::from_utf8_lossy(&output), "two-x\n");
    assert_eq!(status, Some(ExitStatus::Code(0)));
    assert_eq!(runs(&pid_file).len(), 2, "{ran_again}");
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

/// A real `sshd` on loopback, with a throw-away host key and user key, for the tests that go
/// through real ssh. `Err` says why this machine cannot run one (not root, no `sshd`, `ssh` or
/// `ssh-keygen`); `.ci/run` installs `openssh-server` when it can.
struct Sshd {
    child: std::process::Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl Sshd {
    fn start() -> Result<Sshd, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not root (sshd would have to log in as this user)".into());
        }
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.exists() {
            return Err("no /usr/sbin/sshd (the Debian package openssh-server)".into());
        }
        for tool in ["ssh", "ssh-keygen"] {
            let found = std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|output| output.status.success());
            if !found {
                return Err(format!("no {tool} on PATH"));
            }
        }
        let dir = temp_path("sshd");
        std::fs::create_dir_all(&dir).unwrap();
        for key in ["host", "user"] {
            let status = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key))
                .status()
                .unwrap();
            assert!(status.success(), "ssh-keygen failed");
        }
        std::fs::copy(dir.join("user.pub"), dir.join("keys")).unwrap();
        // sshd's privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let option = |name: &str, value: &Path| format!("{name}={}", value.display());
        let child = std::process::Command::new(sshd)
            .args([
                "-D",
                "-e",
                "-f",
                "/dev/null",
                "-o",
                &format!("Port={port}"),
                "-o",
                "ListenAddress=127.0.0.1",
            ])
            .args(["-o", &option("HostKey", &dir.join("host"))])
            .args(["-o", &option("AuthorizedKeysFile", &dir.join("keys"))])
            .args(["-o", "StrictModes=no", "-o", "PasswordAuthentication=no", "-o", "PidFile=none"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let sshd = Sshd { child, dir, port };
        // Ready once it greets a connection.
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let mut banner = [0u8; 4];
            let greeted = std::net::TcpStream::connect(("127.0.0.1", port))
                .and_then(|mut stream| std::io::Read::read_exact(&mut stream, &mut banner))
                .is_ok();
            if greeted && &banner == b"SSH-" {
                return Ok(sshd);
            }
            assert!(std::time::Instant::now() < deadline, "sshd did not come up on port {port}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The `ssh` command line that runs `remote` on this server.
    fn ssh(&self, remote: &str) -> String {
        format!(
            "ssh -i {} -p {} -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 {remote}",
            self.dir.join("user").display(),
            self.port
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Best effort: the test is over.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the real sshd, or says on stderr why this machine cannot and that the stand-in tests
/// above cover the same path; with `EXEC_REQUIRE_SSHD=1` (set by `.ci/run` once it has installed
/// `openssh-server`) a missing sshd is a failure instead.
fn real_sshd_or_say_why() -> Option<Sshd> {
    match Sshd::start() {
        Ok(sshd) => Some(sshd),
        Err(reason) if std::env::var_os("EXEC_REQUIRE_SSHD").is_some() => {
            panic!("EXEC_REQUIRE_SSHD is set but no sshd can run: {reason}")
        }
        Err(reason) => {
            eprintln!("NOT RUN with a real sshd ({reason}); the stand-in tests cover the same transport");
            None
        }
    }
}

/// The recipe of `docs/exec-client.md` ("Over ssh") through a real sshd: `run` with output,
/// stdin, its EOF and the exit code over an ssh channel, and nothing on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_over_a_real_sshd_on_loopback() {
    let Some(sshd) = real_sshd_or_say_why() else { return };
    let connect = sshd.ssh(&format!("{} --listen stdio", exec_server()));
    let done = finish(connect_command(&["run", "--", "uname"], &connect)).await;
    assert_eq!((done.code, done.stdout_text().as_str()), (Some(0), "Linux\n"), "{}", done.stderr);
    assert_eq!(done.stderr, "");

    let mut command = connect_command(&["run", "--", "sh", "-c", "wc -c; exit 3"], &connect);
    command.stdin(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, &[7u8; 100_000]).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "100000");
    assert_eq!(output.status.code(), Some(3));
}

/// Recovery through a real ssh: the ssh client dies mid-command (a dropped connection), the
/// client runs ssh again, resumes the session through the relay and loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_over_a_real_ssh_connection_resumes_the_session() {
    let Some(sshd) = real_sshd_or_say_why() else { return };
    let server = TestServer::start().await;
    let relay = sshd.ssh(&format!("{CLIENT} --url {} bridge", server.url()));
    a_cut_stream_is_recovered_through(&relay, "ssh ran again").await;
}

/// A line client behind `exec-client bridge` cannot receive binary frames, so its ask for
/// `binaryOutput` is not passed on: the `initialize` answer it reads does not grant them, and
/// its output comes as the JSON `process/output` notifications it can parse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridged_line_client_is_not_granted_binary_frames() {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let server = TestServer::start().await;
    let mut bridge = tokio::process::Command::new(CLIENT)
        .args(["--url", &server.url(), "bridge"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = bridge.stdin.take().unwrap();
    let mut lines = tokio::io::BufReader::new(bridge.stdout.take().unwrap()).lines();
    let mut next = async || -> serde_json::Value {
        let line = tokio::time::timeout(DEADLINE, lines.next_line()).await.expect("a line in time").unwrap();
        serde_json::from_str(&line.expect("the bridge is still open")).unwrap()
    };
    let send = |value: serde_json::Value| format!("{value}\n");
    let initialize = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"clientName": "line", "binaryOutput": true}});
    stdin.write_all(send(initialize).as_bytes()).await.unwrap();
    let answer = next().await;
    assert_eq!(answer["id"], 1, "{answer}");
    assert!(answer["result"]["sessionId"].is_string(), "{answer}");
    assert_ne!(answer["result"]["binaryOutput"], true, "granted to a line client: {answer}");

    let initialized = serde_json::json!({"jsonrpc": "2.0", "method": "initialized", "params": {}});
    stdin.write_all(send(initialized).as_bytes()).await.unwrap();
    let start = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "process/start",
        "params": test_support::start_params("p", &["/bin/echo", "over the bridge"])});
    stdin.write_all(send(start).as_bytes()).await.unwrap();
    let mut output = Vec::new();
    loop {
        let message = next().await;
        match message["method"].as_str() {
            Some("process/output") => {
                let chunk = message["params"]["chunk"].as_str().expect("base64 chunk");
                output.extend(test_support::decode_base64(chunk));
            }
            Some("process/closed") => break,
            _ => {}
        }
    }
    assert_eq!(String::from_utf8_lossy(&output), "over the bridge\n");
}
