//! `exec-client run` without a terminal: byte-exact output, stdin and its EOF, exit codes for
//! every outcome, Ctrl-C forwarding, URL and token from flags or the environment.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use crate::support::{DEADLINE, TestServer, client, finish, temp_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_byte_exact_on_both_streams() {
    let server = TestServer::start().await;
    // Every byte value, many times over, in a file the remote side cats to both streams.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let path = temp_path("bytes");
    std::fs::write(&path, &data).unwrap();
    let script = format!("cat {0}; cat {0} >&2", path.display());
    let mut command = client(&server.url(), &["run", "--", "/bin/sh", "-c", &script]);
    command.stderr(Stdio::piped());
    let output = tokio::time::timeout(DEADLINE, command.output()).await.unwrap().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout == data, "stdout differs ({} bytes)", output.stdout.len());
    assert!(output.stderr == data, "stderr differs ({} bytes)", output.stderr.len());
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_is_forwarded_and_its_eof_closes_the_remote_stdin() {
    let server = TestServer::start().await;
    let mut command = client(&server.url(), &["run", "--", "wc", "-l"]);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a\nb\n").await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2");
    assert_eq!(output.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_null_or_closed_stdin_means_no_stdin_pipe() {
    let server = TestServer::start().await;
    for (label, stdin) in [("null", Stdio::null()), ("closed", Stdio::null())] {
        let mut command = client(&server.url(), &["run", "--", "sh", "-c", "read x || echo eof"]);
        command.stdin(stdin);
        if label == "closed" {
            // SAFETY: `close` is async-signal-safe; the child closes its own fd 0 before exec.
            unsafe {
                command.pre_exec(|| {
                    nix::libc::close(0);
                    Ok(())
                });
            }
        }
        let done = finish(command).await;
        assert_eq!(
            (done.code, done.stdout_text().as_str(), done.stderr.as_str()),
            (Some(0), "eof\n", ""),
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_are_passed_through_and_failures_are_distinct() {
    let server = TestServer::start().await;
    let url = server.url();
    let cases: &[(&[&str], i32)] = &[
        (&["run", "--", "sh", "-c", "exit 7"], 7),
        (&["run", "--", "sh", "-c", "kill -9 $$"], 137),
        (&["run", "--", "sh", "-c", "kill -15 $$"], 143),
        (&["run", "--", "definitely-not-a-command"], 127),
        (&["run", "--", "/"], 126),
        (&["run", "--cwd", "/no/such/dir", "--", "true"], 252),
    ];
    for (args, expected) in cases {
        let finished = finish(client(&url, args)).await;
        assert_eq!(finished.code, Some(*expected), "{args:?}: {}", finished.stderr);
    }
    let not_found = finish(client(&url, &["run", "--", "definitely-not-a-command"])).await;
    assert!(not_found.stderr.starts_with("exec-client: definitely-not-a-command"), "{}", not_found.stderr);
    assert_eq!(not_found.stderr.lines().count(), 1, "one clear line: {}", not_found.stderr);

    // Nobody listens on this port.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("ws://{}", unused.local_addr().unwrap());
    drop(unused);
    let refused = finish(client(&dead, &["run", "--", "true"])).await;
    assert_eq!(refused.code, Some(250), "{}", refused.stderr);
    assert!(refused.stderr.contains("could not connect"), "{}", refused.stderr);

    let usage = finish(client(&url, &["run", "--env", "NOEQUALS", "--", "true"])).await;
    assert_eq!(usage.code, Some(2), "{}", usage.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_flags_and_policy_shape_the_remote_environment() {
    let server = TestServer::start().await;
    let url = server.url();
    let core = finish(client(&url, &["run", "--env", "GREETING=hi there", "--", "/usr/bin/env"])).await;
    let text = core.stdout_text();
    assert!(text.lines().any(|line| line == "GREETING=hi there"), "{text}");
    assert!(text.lines().any(|line| line.starts_with("PATH=")), "core keeps PATH: {text}");
    let none =
        finish(client(&url, &["run", "--env-policy", "none", "--env", "ONLY=1", "--", "/usr/bin/env"])).await;
    assert_eq!(none.stdout_text(), "ONLY=1\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_sends_interrupt_to_the_remote_process() {
    let server = TestServer::start().await;
    let script = "trap 'echo got-int; exit 5' INT; echo ready; while :; do sleep 0.2 & wait $!; done";
    let mut child = client(&server.url(), &["run", "--", "sh", "-c", script]).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(DEADLINE, stdout.next_line()).await.unwrap().unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let got = tokio::time::timeout(DEADLINE, stdout.next_line()).await.unwrap().unwrap();
    assert_eq!(got.as_deref(), Some("got-int"));
    let status = tokio::time::timeout(DEADLINE, child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_comes_from_a_file_or_the_environment() {
    let server = TestServer::with_token("s3cret").await;
    let url = server.url();
    let missing = finish(client(&url, &["run", "--", "true"])).await;
    assert_eq!(missing.code, Some(251), "{}", missing.stderr);
    assert!(missing.stderr.contains("refused"), "{}", missing.stderr);

    let mut from_env = client(&url, &["run", "--", "echo", "ok"]);
    from_env.env("EXEC_SERVER_TOKEN", "s3cret");
    let from_env = finish(from_env).await;
    assert_eq!((from_env.code, from_env.stdout_text().as_str()), (Some(0), "ok\n"), "{}", from_env.stderr);

    let token_file = temp_path("token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let token_arg = token_file.to_str().unwrap();
    let from_file = finish(client(&url, &["run", "--token-file", token_arg, "--", "echo", "ok"])).await;
    assert_eq!(from_file.code, Some(0), "{}", from_file.stderr);
    let mut wrong = client(&url, &["run", "--", "true"]);
    wrong.env("EXEC_SERVER_TOKEN", "wrong");
    assert_eq!(finish(wrong).await.code, Some(251));
    std::fs::remove_file(&token_file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_stream_is_a_disconnect() {
    // A real exec-server process, killed outright: no goodbye, no exit notifications.
    let server = test_support::Target::ours(test_support::workspace_binary("exec-server")).spawn().await;
    let script = "echo ready; while :; do echo tick; sleep 0.05; done";
    let mut child =
        client(server.url(), &["--no-recovery", "run", "--", "sh", "-c", script]).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(DEADLINE, stdout.next_line()).await.unwrap().unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));
    server.terminate_with(test_support::Signal::SIGKILL).unwrap();
    while let Ok(Some(_)) = tokio::time::timeout(DEADLINE, stdout.next_line()).await.unwrap() {}
    let status = tokio::time::timeout(DEADLINE, child.wait()).await.unwrap().unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).await.unwrap();
    assert_eq!(status.code(), Some(253), "{stderr}");
    assert!(stderr.starts_with("exec-client: disconnected"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_stops_the_command_and_exits_124() {
    let server = TestServer::start().await;
    let command = client(
        &server.url(),
        &["run", "--timeout", "300ms", "--", "sh", "-c", "echo started; exec sleep 100"],
    );
    let done = finish(command).await;
    assert_eq!((done.code, done.stdout_text().as_str(), done.stderr.as_str()), (Some(124), "started\n", ""));
    // A command that ends in time keeps its own code.
    let quick = finish(client(&server.url(), &["run", "--timeout", "1m", "--", "sh", "-c", "exit 4"])).await;
    assert_eq!(quick.code, Some(4), "{}", quick.stderr);
    let bad = finish(client(&server.url(), &["run", "--timeout", "soon", "--", "true"])).await;
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_help_examples() {
    let bash = finish(client("ws://127.0.0.1:1", &["completions", "bash"])).await;
    assert_eq!(bash.code, Some(0), "{}", bash.stderr);
    let script = bash.stdout_text();
    for word in ["exec-client", "run", "cp", "shell", "--connect", "--timeout"] {
        assert!(script.contains(word), "{word} missing from the bash completions");
    }
    let zsh = finish(client("ws://127.0.0.1:1", &["completions", "zsh"])).await;
    assert!(zsh.stdout_text().contains("#compdef exec-client"), "{}", zsh.stderr);
    let help = finish(client("ws://127.0.0.1:1", &["--help"])).await;
    assert!(
        help.stdout_text().contains("Examples:") && help.stdout_text().contains("--connect 'ssh"),
        "{}",
        help.stdout_text()
    );
    let run_help = finish(client("ws://127.0.0.1:1", &["run", "--help"])).await;
    assert!(run_help.stdout_text().contains("--timeout 30s"), "{}", run_help.stdout_text());
}

/// With a server that offers `startWait`, a command without stdin costs one request after the
/// handshake: `process/start` carries `wait`, and its inline answer alone (nothing follows it
/// here) is the whole run. The server is a script on a real socket, so what the client sent is
/// exactly what it saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_command_costs_one_request_after_the_handshake() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
        let (mut methods, mut start) = (Vec::new(), Value::Null);
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let request: Value = serde_json::from_str(&text).unwrap();
            methods.push(request["method"].as_str().unwrap_or("?").to_owned());
            let result = match request["method"].as_str() {
                Some("initialize") => json!({
                    "sessionId": "5f0c6e4e-8f0a-4c1e-9a57-0d8f6f1f7a10",
                    "capabilities": ["startWait", "eof", "writeId", "process/signal", "size"],
                }),
                Some("process/start") => {
                    start = request["params"].clone();
                    json!({
                        "processId": start["processId"],
                        "sandboxType": "none",
                        "read": {
                            "chunks": [{ "seq": 1, "stream": "stdout", "chunk": "aGkK" }],
                            "nextSeq": 4, "exited": true, "exitCode": 7, "closed": true, "failure": null,
                        },
                    })
                }
                _ => continue,
            };
            let response = json!({ "id": request["id"], "result": result });
            socket.send(Message::Text(response.to_string().into())).await.unwrap();
        }
        (methods, start)
    });
    let finished = finish(client(&url, &["run", "--", "/bin/echo", "hi"])).await;
    assert_eq!((finished.stdout_text().as_str(), finished.code), ("hi\n", Some(7)), "{}", finished.stderr);
    let (methods, start) = tokio::time::timeout(DEADLINE, server).await.unwrap().unwrap();
    assert_eq!(methods, ["initialize", "initialized", "process/start"]);
    assert!(start["wait"]["timeoutMs"].as_u64().is_some_and(|ms| ms > 0), "{start}");
}

/// A folder outside `/tmp` and `$TMPDIR` (a workspace-write sandbox makes both writable), removed
/// on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let path = temp_path(name);
        let base = test_support::outside_temp_dirs(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")));
        let path = base.join(path.file_name().unwrap());
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }

    fn text(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A courtesy: a leftover folder under the target directory breaks nothing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_flags_confine_the_command() {
    let server = TestServer::start().await;
    let (ws, extra, outside) = (Scratch::new("ws"), Scratch::new("extra"), Scratch::new("outside"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let run = |flags: &[&str], script: &str| {
        let mut args = vec!["run", "--cwd", ws.text()];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", "/bin/bash", "-c", script]);
        finish(client(&server.url(), &args))
    };
    let write = ["--sandbox", "workspace-write", "--writable", extra.text()];

    let inside = format!("echo in > here && echo in > '{}/there'", extra.text());
    let done = run(&write, &inside).await;
    assert_eq!((done.code, done.stderr.as_str()), (Some(0), ""));
    assert!(ws.0.join("here").exists() && extra.0.join("there").exists());

    let escape = format!("echo x > '{}/ran'", outside.text());
    let done = run(&write, &escape).await;
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(done.stderr.contains("Permission denied"), "{}", done.stderr);
    assert!(done.stderr.ends_with("the server's sandboxDenied)\n"), "{}", done.stderr);
    assert!(!outside.0.join("ran").exists(), "a write outside the roots happened");

    let done = run(&["--sandbox", "read-only"], "echo x > here2").await;
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(!ws.0.join("here2").exists(), "a write under read-only happened");

    let done = run(&write, &connect).await;
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(listener.accept().is_err(), "the sandboxed command reached the network");
    let done = run(&["--sandbox", "read-only", "--network"], &connect).await;
    assert_eq!((done.code, done.stdout_text().as_str()), (Some(0), "connected\n"), "{}", done.stderr);
    assert!(listener.accept().is_ok(), "the allowed connect did not arrive");

    // Flags that make no sense together are usage errors, before anything connects.
    for flags in [
        &["--writable", "/x"][..],
        &["--network"],
        &["--sandbox", "read-only", "--writable", "/x"],
        &["--sandbox", "workspace-write", "--writable", "rel"],
    ] {
        let done = run(flags, "true").await;
        assert_eq!(done.code, Some(2), "{flags:?}: {}", done.stderr);
    }
}

/// A server without `environmentInfo` (as the April Codex server) never receives a sandboxed
/// start: the client refuses (exit 252) and the command does not run. The stand-in server is a
/// shell loop over `--connect` that notes any `process/start` it receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_enforce_the_sandbox_gets_no_command() {
    let marker = temp_path("start-received");
    let script = format!(
        r#"while IFS= read -r line; do id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9]*\).*/\1/p'); case "$line" in *'"method":"initialize"'*) echo "{{\"id\":$id,\"result\":{{\"sessionId\":\"s\"}}}}";; *'"method":"process/start"'*) echo start >> '{0}'; echo "{{\"id\":$id,\"result\":{{\"processId\":\"p\"}}}}"; echo '{{"method":"process/exited","params":{{"processId":"p","seq":1,"exitCode":0}}}}'; echo '{{"method":"process/closed","params":{{"processId":"p","seq":2}}}}';; *'"id":'*) echo "{{\"id\":$id,\"result\":{{}}}}";; esac; done"#,
        marker.display()
    );
    let mut command =
        client("ws://unused", &["--connect", &script, "run", "--sandbox", "read-only", "--", "true"]);
    command.env_remove("EXEC_SERVER_URL");
    let done = finish(command).await;
    assert_eq!(done.code, Some(252), "{}", done.stderr);
    assert!(
        done.stderr.contains("sandbox unavailable") && done.stderr.contains("does not enforce sandboxes"),
        "{}",
        done.stderr
    );
    assert!(!marker.exists(), "the server received the sandboxed start");
    // The same stand-in starts an unsandboxed command (so the check above can fail).
    let mut command = client("ws://unused", &["--connect", &script, "run", "--id", "p", "--", "true"]);
    command.env_remove("EXEC_SERVER_URL");
    let done = finish(command).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(marker.exists(), "the stand-in did not see an unsandboxed start");
    let _ = std::fs::remove_file(&marker);
}
