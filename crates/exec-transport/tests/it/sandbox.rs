//! `ProcessSpec::sandbox` end to end: against our server the kernel confines the command
//! (writes outside the roots and network sockets are refused, `sandboxType` and `sandboxDenied`
//! reach the handle); against a server that cannot be trusted with it the client refuses before
//! sending anything (an April-style server without `environmentInfo`), or kills what a server
//! started without confining it.
//!
//! The scratch folders live under the target directory, or `/var/tmp` when that is under `/tmp`
//! (`test_support::outside_temp_dirs`): a workspace-write sandbox makes `/tmp` and `$TMPDIR`
//! writable, so "outside" must be elsewhere.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exec_engine::{Event, ExitStatus, SubscribeFrom};
use exec_transport::client::{ByteStream, Network, ProcessSandbox, SandboxType, StreamDialer};
use exec_transport::{ClientError, ConnectOptions, Endpoint, ExecClient, ProcessHandle, ProcessSpec};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use crate::support::{TestServer, collect, connect};

/// A folder outside `/tmp` and `$TMPDIR`, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let base = test_support::outside_temp_dirs(Path::new(env!("CARGO_TARGET_TMPDIR")));
        let path = base.join(format!("sandbox-{name}-{}-{}", std::process::id(), uuid_like()));
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn text(&self) -> &str {
        self.0.to_str().expect("scratch paths are UTF-8")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A courtesy: a leftover folder under the target directory breaks nothing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_nanos())
}

async fn run(client: &ExecClient, id: &str, spec: ProcessSpec) -> (ProcessHandle, ExitStatus, String) {
    let mut handle = client.start(id, spec).await.unwrap_or_else(|error| panic!("{id}: {error}"));
    let collected = collect(&mut handle).await;
    let status = collected
        .events
        .iter()
        .find_map(|event| match event {
            Event::Exited { status, .. } => Some(*status),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{id}: no exit in {:?}", collected.events));
    (handle, status, String::from_utf8_lossy(&collected.output).into_owned())
}

fn shell(script: &str, cwd: &Scratch) -> ProcessSpec {
    ProcessSpec::new(["/bin/bash", "-c", script], cwd.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_spec_is_confined_by_our_server_and_reports_denials() {
    let server = TestServer::start().await;
    let client = connect(&server.url(), None).await;
    assert!(client.enforces_sandbox());
    let (ws, extra, outside) = (Scratch::new("ws"), Scratch::new("extra"), Scratch::new("outside"));
    std::fs::create_dir(ws.path().join(".git")).unwrap();
    std::fs::write(ws.path().join(".git/config"), "original").unwrap();
    let write = || ProcessSandbox::workspace_write([extra.text()]);

    // Inside the working directory and the extra writable root: allowed.
    let script = format!("echo in > inside && echo in > '{}/file'", extra.text());
    let (handle, status, output) = run(&client, "inside", shell(&script, &ws).sandbox(write())).await;
    assert_eq!(status, ExitStatus::Code(0), "{output}");
    assert_eq!(
        (handle.sandbox_type(), handle.sandbox_denied()),
        (Some(SandboxType::LinuxSeccomp), Some(false))
    );
    assert!(ws.path().join("inside").exists() && extra.path().join("file").exists());

    // Outside every root, and into the protected `.git`: refused by the kernel, reported as a
    // denial (the first through an inline answer, the second through notifications).
    let spec = shell(&format!("echo x > '{}/ran'", outside.text()), &ws).sandbox(write());
    let (handle, status, output) =
        run(&client, "outside", spec.inline_wait(Duration::from_secs(10), None)).await;
    assert_ne!(status, ExitStatus::Code(0), "{output}");
    assert_eq!(handle.sandbox_denied(), Some(true), "{output}");
    assert!(!outside.path().join("ran").exists(), "a write outside the roots happened");
    let (handle, status, output) =
        run(&client, "git", shell("echo x > .git/config", &ws).sandbox(write())).await;
    assert_ne!(status, ExitStatus::Code(0), "{output}");
    assert_eq!(handle.sandbox_denied(), Some(true), "{output}");
    assert_eq!(std::fs::read_to_string(ws.path().join(".git/config")).unwrap(), "original");

    // Read-only: nothing may be written, everything may be read.
    let ro = ProcessSandbox::read_only;
    let (handle, status, output) = run(&client, "ro", shell("echo x > ro", &ws).sandbox(ro())).await;
    assert_eq!((status != ExitStatus::Code(0), handle.sandbox_denied()), (true, Some(true)), "{output}");
    assert!(!ws.path().join("ro").exists(), "a write under read-only happened");
    let (handle, status, output) = run(&client, "ro-read", shell("cat .git/config", &ws).sandbox(ro())).await;
    assert_eq!(
        (status, output.as_str(), handle.sandbox_denied()),
        (ExitStatus::Code(0), "original", Some(false))
    );

    // Network sockets: refused unless asked for. The listener hears only the allowed connect.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let (handle, status, output) = run(&client, "net-off", shell(&connect, &ws).sandbox(write())).await;
    assert_eq!((status != ExitStatus::Code(0), handle.sandbox_denied()), (true, Some(true)), "{output}");
    assert!(listener.accept().is_err(), "the sandboxed command reached the network");
    let allowed = write().with_network(Network::Enabled);
    let (handle, status, output) = run(&client, "net-on", shell(&connect, &ws).sandbox(allowed)).await;
    assert_eq!(
        (status, output.as_str(), handle.sandbox_denied()),
        (ExitStatus::Code(0), "connected\n", Some(false))
    );
    assert!(listener.accept().is_ok(), "the allowed connect did not arrive");

    // Without a sandbox nothing changes, and the server says so.
    let spec = shell(&format!("echo free > '{}/free'", outside.text()), &ws);
    let (handle, status, _) = run(&client, "free", spec).await;
    assert_eq!(
        (status, handle.sandbox_type(), handle.sandbox_denied()),
        (ExitStatus::Code(0), Some(SandboxType::None), Some(false))
    );
    assert!(outside.path().join("free").exists());

    // A handle attached after the end learns the verdict from the read that catches it up.
    let mut late = client.attach("outside", SubscribeFrom::Start).await.unwrap();
    collect(&mut late).await;
    assert_eq!((late.sandbox_type(), late.sandbox_denied()), (None, Some(true)));
}

/// A stand-in server on an in-memory stream: answers `initialize` (with `environmentInfo` or
/// without, as the April server), starts nothing, and records every request it gets.
#[derive(Debug, Clone)]
struct Recorder {
    environment_info: bool,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Recorder {
    fn new(environment_info: bool) -> Recorder {
        Recorder { environment_info, requests: Arc::default() }
    }

    fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().unwrap().clone()
    }

    async fn serve(self, stream: tokio::io::DuplexStream) {
        let (read, mut write) = tokio::io::split(stream);
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let message: Value = serde_json::from_str(&line).unwrap();
            let method = message["method"].as_str().unwrap_or_default().to_owned();
            self.requests.lock().unwrap().push((method.clone(), message["params"].clone()));
            let result = match method.as_str() {
                "initialize" if self.environment_info => json!({"sessionId": "s", "environmentInfo": {
                    "shell": {"name": "sh", "path": "/bin/sh"}, "executorVersion": "0", "providerId": "p",
                    "cwd": "file:///", "userHomeDir": "file:///root", "platformOs": "linux",
                    "tempDir": "file:///tmp", "capabilities": {}}}),
                "initialize" => json!({"sessionId": "s"}),
                // Started, and nothing said about a sandbox: what a server that ignores it says.
                "process/start" => json!({"processId": message["params"]["processId"]}),
                "process/terminate" => json!({"running": true}),
                _ => continue,
            };
            let answer = json!({"id": message["id"], "result": result}).to_string() + "\n";
            if write.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

impl StreamDialer for Recorder {
    fn dial(&self) -> Pin<Box<dyn Future<Output = std::io::Result<ByteStream>> + Send + '_>> {
        Box::pin(async {
            let (client_side, server_side) = tokio::io::duplex(64 * 1024);
            tokio::spawn(self.clone().serve(server_side));
            let (reader, writer) = tokio::io::split(client_side);
            Ok(ByteStream { reader: Box::new(reader), writer: Box::new(writer), keep_alive: None })
        })
    }
}

async fn connect_to(recorder: &Recorder) -> ExecClient {
    let options = ConnectOptions { recovery: None, ..ConnectOptions::default() };
    ExecClient::connect(Endpoint::Stream(Arc::new(recorder.clone())), options).await.unwrap()
}

#[tokio::test]
async fn a_server_without_environment_info_never_receives_a_sandboxed_start() {
    let recorder = Recorder::new(false);
    let client = connect_to(&recorder).await;
    assert!(!client.enforces_sandbox());
    let spec = ProcessSpec::new(["/bin/true"], "/").sandbox(ProcessSandbox::read_only());
    let refused = client.start("confined", spec).await.unwrap_err();
    assert!(
        matches!(&refused, ClientError::SandboxUnavailable(reason) if reason.contains("does not enforce sandboxes")),
        "{refused:?}"
    );
    // Requests go out in order: once the next start is answered, the refused one was never sent.
    client.start("plain", ProcessSpec::new(["/bin/true"], "/")).await.unwrap();
    let methods: Vec<(String, Value)> = recorder.requests();
    let starts: Vec<&Value> =
        methods.iter().filter(|(method, _)| method == "process/start").map(|(_, params)| params).collect();
    assert_eq!(starts.len(), 1, "{methods:?}");
    assert_eq!((&starts[0]["processId"], starts[0].get("sandbox")), (&json!("plain"), None));
}

#[tokio::test]
async fn a_start_the_server_did_not_confine_is_killed_and_refused() {
    let recorder = Recorder::new(true);
    let client = connect_to(&recorder).await;
    assert!(client.enforces_sandbox());
    let spec =
        ProcessSpec::new(["/bin/true"], "/").sandbox(ProcessSandbox::workspace_write(Vec::<String>::new()));
    let refused = client.start("confined", spec).await.unwrap_err();
    assert!(
        matches!(&refused, ClientError::SandboxUnavailable(reason) if reason.contains("without confining it")),
        "{refused:?}"
    );
    let requests = recorder.requests();
    let methods: Vec<&str> = requests.iter().map(|(method, _)| method.as_str()).collect();
    assert_eq!(methods, ["initialize", "initialized", "process/start", "process/terminate"]);
    // The intent went out in the 0.171 shape, paths as URIs (a 0.171 server's form).
    let sandbox = &requests[2].1["sandbox"];
    assert_eq!((&sandbox["cwd"], &sandbox["workspaceRoots"]), (&json!("file:///"), &json!(["file:///"])));
    assert_eq!(requests[3].1["processId"], json!("confined"));
}
