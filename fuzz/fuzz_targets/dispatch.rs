//! Fuzz target: the request dispatcher, against a real engine, over the stdio transport.
//!
//! Each input is a sequence of newline-delimited frames, sent after a valid `initialize` and
//! `initialized` so that most of them reach the method handlers. The server must answer and end
//! when its input ends (within a bound: a hang is a finding), never panic. To keep the machine
//! safe, frames that parse as JSON are tamed before they are sent: `process/start` always runs
//! `cat` (its other params stay as fuzzed, `sandbox` included), and every `fs/*` path (`path`,
//! `sourcePath`, `destinationPath`, `cwd`, and each of `fs/watchMissing`'s `missing` and
//! `present`) is moved into a scratch folder (only its last component, without `..`, is kept).
//! A `sandbox` intent is passed on as fuzzed: an intent only restricts what the call may touch.
//! Handles (`fs/open`'s `handleId`, then `fs/readBlock`, `fs/writeBlock`, `fs/close`) stay as
//! fuzzed: they name server-side state, not paths. Methods outside the allow-list are replaced by
//! an unknown method, so a future method with other path members is never sent untamed. Frames
//! that do not parse are sent as they are, so the parser still sees the raw bytes.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one input may take before the dispatcher counts as hung.
const HANG: Duration = Duration::from_secs(20);

fn scratch() -> &'static PathBuf {
    static SCRATCH: OnceLock<PathBuf> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("exec-fuzz-dispatch-{}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create the scratch folder");
        path
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
    })
}

/// The methods the target sends (every request of both protocol generations whose paths are
/// tamed above); anything else becomes `unknown/method`.
const ALLOWED: &[&str] = &[
    "initialize",
    "initialized",
    "fs/readFile",
    "fs/writeFile",
    "fs/createDirectory",
    "fs/getMetadata",
    "fs/readDirectory",
    "fs/remove",
    "fs/copy",
    "fs/canonicalize",
    "fs/walk",
    "fs/open",
    "fs/readBlock",
    "fs/writeBlock",
    "fs/close",
    "fs/watchMissing",
    "environment/info",
    "environment/status",
];

/// Moves a path into the scratch folder, keeping only a harmless last component.
fn tame_path(value: &mut Value) {
    let Some(text) = value.as_str() else { return };
    let last = text.rsplit('/').next().unwrap_or_default().replace("..", "");
    // `.` would name the scratch folder itself.
    let name = if last.is_empty() || last == "." { "f".to_owned() } else { last };
    *value = Value::String(scratch().join(name).to_string_lossy().into_owned());
}

fn tame(line: &[u8]) -> Vec<u8> {
    let Ok(mut message) = serde_json::from_slice::<Value>(line) else { return line.to_vec() };
    let method = message.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
    if let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) {
        if method == "process/start" {
            params.insert("argv".to_owned(), json!(["cat"]));
            params.insert("cwd".to_owned(), json!(scratch()));
        }
        if method.starts_with("fs/") {
            for key in ["path", "sourcePath", "destinationPath", "cwd"] {
                if let Some(path) = params.get_mut(key) {
                    tame_path(path);
                }
            }
            for key in ["missing", "present"] {
                match params.get_mut(key) {
                    Some(Value::Array(paths)) => paths.iter_mut().for_each(tame_path),
                    // A path where a list belongs is refused by the decoder; tame it anyway.
                    Some(path) => tame_path(path),
                    None => {}
                }
            }
        }
    }
    let known = method.is_empty() || method.starts_with("process/") || ALLOWED.contains(&method.as_str());
    if !known {
        return b"{\"id\":0,\"method\":\"unknown/method\"}".to_vec();
    }
    message.to_string().into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"id\":1,\"method\":\"initialize\",\"params\":{\"clientName\":\"fuzz\"}}\n");
    input.extend_from_slice(b"{\"method\":\"initialized\"}\n");
    for line in data.split(|byte| *byte == b'\n') {
        input.extend_from_slice(&tame(line));
        input.push(b'\n');
    }
    runtime().block_on(async move {
        let config = exec_engine::Config {
            max_processes_per_session: 8,
            max_processes_total: 8,
            exited_linger: Duration::from_millis(100),
            // The session detaches when the input ends; it expires at once instead of holding
            // its timer task into the next input.
            session_ttl: Duration::ZERO,
            shutdown_wait: Duration::from_secs(2),
            ..exec_engine::Config::default()
        };
        let engine = exec_engine::Engine::new(config);
        let server_config = exec_transport::server::ServerConfig {
            stdin_write_timeout: Duration::from_secs(1),
            ..exec_transport::server::ServerConfig::default()
        };
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (server_read, server_write) = tokio::io::split(server);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let serve =
            exec_transport::server::serve_stdio(server_read, server_write, engine, server_config, shutdown);
        let feed = async move {
            // A write fails only once the server stopped reading, which it may do.
            let _ = client_write.write_all(&input).await;
            let _ = client_write.shutdown().await;
        };
        let drain = async move {
            let mut sink = Vec::new();
            // Reading ends when the server closes its side.
            let _ = client_read.read_to_end(&mut sink).await;
        };
        let all = async { tokio::join!(serve, feed, drain) };
        if tokio::time::timeout(HANG, all).await.is_err() {
            panic!("the dispatcher did not finish within {HANG:?} after its input ended");
        }
        // Let the tasks this input left (the session's expiry, the engine's reclaimer) finish
        // before the next input: libFuzzer runs its (slow) leak check after every input that
        // allocated more than it freed, and a task that ends one input later looks like that.
        let metrics = tokio::runtime::Handle::current().metrics();
        for _ in 0..1000 {
            if metrics.num_alive_tasks() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
    });
});
