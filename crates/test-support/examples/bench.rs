//! The benchmark client behind `cargo xtask bench`: measures one running server at a URL and
//! prints one `RESULT` line that xtask parses and compares across servers.
//!
//! Four measurements, all on one connection (SPEC.md §10):
//! - `start_closed_ms`: median time from sending `process/start` of `/bin/true` to receiving its
//!   `process/closed`, back to back;
//! - `sandboxed_start_closed_ms`: the same with the `sandbox` intent `codex exec --sandbox
//!   workspace-write` sends, in a workspace with a `.git` (so the server resolves and prepares the
//!   intent for each request, and the child makes the mount namespace of the read-only `.git`).
//!   Only for a server of the 0.171 generation (its `initialize` has `environmentInfo`): the April
//!   server would ignore the intent and measure an unconfined start, so it gets a `SKIP` line, as
//!   does a server that refuses the intent;
//! - `rtt_us`: median round trip of a small request (`process/read` of an unknown id, which every
//!   server answers at once with an error);
//! - `stream_gbps`: bytes per second of one process writing 256 MiB to stdout, decoded by this
//!   client from `process/output` notifications.
//!
//! It is a measuring tool, not a test: it asserts nothing about timing.

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const STARTS: usize = 200;
const ROUND_TRIPS: usize = 1000;
const STREAM_BYTES: u64 = 256 * 1024 * 1024;

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), label) = (args.next(), args.next().unwrap_or_else(|| "server".to_owned())) else {
        eprintln!("usage: bench URL [LABEL]");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let mut socket = connect(&url).await;
        let start_closed = start_to_closed(&mut socket, "true", None).await.expect("unsandboxed starts");
        let sandboxed = sandboxed_start_to_closed(&mut socket).await;
        let round_trip = round_trips(&mut socket).await;
        let throughput = stream(&mut socket).await;
        let sandboxed = match sandboxed {
            Ok(sandboxed) => format!(" sandboxed_start_closed_ms={:.3}", sandboxed.as_secs_f64() * 1e3),
            Err(reason) => {
                eprintln!("SKIP sandboxed_start_closed_ms: {reason}");
                String::new()
            }
        };
        println!(
            "RESULT {label} start_closed_ms={:.3}{sandboxed} rtt_us={:.1} stream_gbps={:.3}",
            start_closed.as_secs_f64() * 1e3,
            round_trip.as_secs_f64() * 1e6,
            throughput
        );
    });
}

/// The `cwd` every start sends: a plain path, or a `file://` URI for a server of the 0.171
/// generation (one that answers `initialize` with `environmentInfo`; Codex 0.171 refuses a plain
/// path, ours takes both).
static CWD: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

async fn connect(url: &str) -> Socket {
    let authority = url.strip_prefix("ws://").expect("a ws:// URL").trim_end_matches('/');
    let stream = TcpStream::connect(authority).await.expect("connect");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (mut socket, _) = tokio_tungstenite::client_async(url, stream).await.expect("websocket handshake");
    send(&mut socket, json!({"id": 0, "method": "initialize", "params": {"clientName": "bench"}})).await;
    let answer = loop {
        let message = next_text(&mut socket).await;
        let value: Value = serde_json::from_slice(&message.into_data()).expect("JSON");
        if value["id"] == 0 {
            break value;
        }
    };
    let uri = answer["result"].get("environmentInfo").is_some();
    CWD.get_or_init(|| if uri { "file:///" } else { "/" });
    send(&mut socket, json!({"method": "initialized"})).await;
    socket
}

async fn send(socket: &mut Socket, value: Value) {
    socket.send(Message::text(value.to_string())).await.expect("send");
}

async fn next_text(socket: &mut Socket) -> Message {
    loop {
        match socket.next().await.expect("the server closed the connection").expect("read") {
            message @ (Message::Text(_) | Message::Binary(_)) => return message,
            _ => continue,
        }
    }
}

async fn wait_for(socket: &mut Socket, mut done: impl FnMut(&Value) -> bool) {
    loop {
        let message = next_text(socket).await;
        let value: Value = serde_json::from_slice(&message.into_data()).expect("JSON");
        if done(&value) {
            return;
        }
    }
}

fn start_params(process_id: &str, argv: &[&str]) -> Value {
    json!({"processId": process_id, "argv": argv, "cwd": CWD.get().copied().unwrap_or("/"), "env": {}, "tty": false})
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The median of [`STARTS`] back-to-back `/bin/true` starts, each timed to its `process/closed`,
/// with `sandbox` (and its workspace as `cwd`) when given; the server's error if it refuses one.
async fn start_to_closed(
    socket: &mut Socket,
    prefix: &str,
    sandbox: Option<(&str, &Value)>,
) -> Result<Duration, String> {
    let mut samples = Vec::with_capacity(STARTS);
    for index in 0..STARTS {
        let process_id = format!("{prefix}-{index}");
        let request_id = format!("{prefix}-{index}");
        let mut params = start_params(&process_id, &["/bin/true"]);
        if let Some((cwd, sandbox)) = sandbox {
            params["cwd"] = json!(cwd);
            params["sandbox"] = sandbox.clone();
        }
        let started = Instant::now();
        send(socket, json!({"id": request_id, "method": "process/start", "params": params})).await;
        let mut refused = None;
        wait_for(socket, |message| {
            if message["id"] == request_id.as_str() && message.get("error").is_some() {
                refused = Some(message["error"].to_string());
                return true;
            }
            message["method"] == "process/closed" && message["params"]["processId"] == process_id.as_str()
        })
        .await;
        if let Some(error) = refused {
            return Err(format!("the server refused the start: {error}"));
        }
        samples.push(started.elapsed());
    }
    Ok(median(samples))
}

/// [`start_to_closed`] under `codex exec --sandbox workspace-write`'s intent (its `process/start`
/// shape, docs/codex-0.171-wire.md §2), in a scratch workspace with a `.git` folder.
async fn sandboxed_start_to_closed(socket: &mut Socket) -> Result<Duration, String> {
    if CWD.get().copied() != Some("file:///") {
        return Err(
            "no environmentInfo in initialize: this server would ignore the sandbox intent".to_owned()
        );
    }
    let workspace = std::env::temp_dir().join(format!("exec-bench-workspace-{}", std::process::id()));
    std::fs::create_dir_all(workspace.join(".git"))
        .map_err(|error| format!("cannot make the workspace: {error}"))?;
    let uri = format!("file://{}", workspace.display());
    let special = |kind: &str| json!({"type": "special", "value": {"kind": kind}});
    let protected = |name: &str| {
        json!({"access": "read", "missing_path_behavior": "skip",
        "path": {"type": "special", "value": {"kind": "project_roots", "subpath": name}}})
    };
    let sandbox = json!({
        "permissions": {"type": "managed", "network": "restricted", "file_system": {"type": "restricted", "entries": [
            {"access": "read", "path": special("root")},
            {"access": "write", "path": special("project_roots")},
            {"access": "write", "path": special("slash_tmp")},
            {"access": "write", "path": special("tmpdir")},
            protected(".git"), protected(".agents"), protected(".codex"), protected(".aws")]}},
        "cwd": uri, "workspaceRoots": [uri],
        "windowsSandboxLevel": "disabled", "windowsSandboxProxySettingsMode": "reconcile",
        "useLegacyLandlock": false
    });
    let measured = start_to_closed(socket, "sandboxed-true", Some((&uri, &sandbox))).await;
    // A leftover folder in the temp dir breaks nothing; removing it is a courtesy.
    let _ = std::fs::remove_dir_all(&workspace);
    measured
}

async fn round_trips(socket: &mut Socket) -> Duration {
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for index in 0..ROUND_TRIPS {
        let id = 100_000 + index;
        let started = Instant::now();
        send(socket, json!({"id": id, "method": "process/read", "params": {"processId": "missing"}})).await;
        wait_for(socket, |message| message["id"] == id).await;
        samples.push(started.elapsed());
    }
    median(samples)
}

/// The fields of a notification this client looks at; the chunk stays borrowed from the frame.
#[derive(serde::Deserialize)]
struct Notification<'a> {
    method: Option<&'a str>,
    #[serde(borrow)]
    params: Option<Params<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params<'a> {
    process_id: Option<&'a str>,
    chunk: Option<&'a str>,
}

async fn stream(socket: &mut Socket) -> f64 {
    let count = STREAM_BYTES.to_string();
    let params = start_params("stream", &["head", "-c", &count, "/dev/zero"]);
    let started = Instant::now();
    send(socket, json!({"id": 9, "method": "process/start", "params": params})).await;
    let mut received = 0u64;
    let mut decoded = Vec::new();
    loop {
        let data = next_text(socket).await.into_data();
        let notification: Notification<'_> = serde_json::from_slice(&data).expect("JSON");
        let Some(params) = notification.params else { continue };
        if params.process_id != Some("stream") {
            continue;
        }
        match notification.method {
            Some("process/output") => {
                decoded.clear();
                base64::engine::general_purpose::STANDARD
                    .decode_vec(params.chunk.unwrap_or_default(), &mut decoded)
                    .expect("base64");
                received += decoded.len() as u64;
            }
            Some("process/closed") => break,
            _ => {}
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(received, STREAM_BYTES, "bytes lost in the stream");
    received as f64 / elapsed.as_secs_f64() / 1e9
}
