//! `codex-e2e --probe`: asks an executor directly what the agent flows do not reach.
//!
//! The agent never calls `environment/status`, `fs/walk` or the chunked `fs/open` family in the
//! flows, and it rejects some writes itself before they reach the executor, so their shapes and
//! the executor's error texts are recorded here: a fixed list of JSON-RPC requests, sent over a
//! minimal std WebSocket client, each printed with every message that came back until its answer.
//! The requests copy the shapes the 0.171 agent sends (see `docs/codex-0.171-wire.md`). It
//! asserts nothing; it is a recorder for writing that document and for comparing servers.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::proxy::read_frame;

/// How long to wait for one answer before recording a timeout.
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

/// A blocking JSON-RPC client over one WebSocket connection.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
}

impl Client {
    fn connect(address: &str) -> Result<Client, String> {
        let stream = TcpStream::connect(address).map_err(|error| format!("dial {address}: {error}"))?;
        stream.set_read_timeout(Some(ANSWER_DEADLINE)).map_err(|error| error.to_string())?;
        let mut writer = stream.try_clone().map_err(|error| error.to_string())?;
        // The key is fixed: nothing here depends on checking the server's accept hash.
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: Y29kZXgtZTJlLXByb2JlIQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        writer.write_all(request.as_bytes()).map_err(|error| format!("send handshake: {error}"))?;
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).map_err(|error| format!("read handshake: {error}"))?;
        if !status.contains(" 101 ") {
            return Err(format!("handshake refused: {}", status.trim()));
        }
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).map_err(|error| format!("read handshake: {error}"))?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Ok(Client { reader, writer, next_id: 1 })
    }

    fn send(&mut self, message: &Value) -> Result<(), String> {
        let payload = message.to_string().into_bytes();
        let mask = [0x37_u8, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x81_u8];
        match payload.len() {
            length @ 0..=125 => frame.push(0x80 | u8::try_from(length).expect("fits")),
            length @ 126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&u16::try_from(length).expect("fits").to_be_bytes());
            }
            length => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(length as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(index, byte)| byte ^ mask[index % 4]));
        self.writer.write_all(&frame).map_err(|error| format!("send: {error}"))
    }

    /// Sends a request and returns every message received until (and including) its answer.
    fn request(&mut self, method: &str, params: &Value) -> Vec<Value> {
        let id = self.next_id;
        self.next_id += 1;
        if let Err(error) = self.send(&json!({"id": id, "method": method, "params": params})) {
            return vec![json!({"probe-error": error})];
        }
        let mut received = Vec::new();
        let end = Instant::now() + ANSWER_DEADLINE;
        while Instant::now() < end {
            match read_frame(&mut self.reader) {
                Ok((_, opcode, _, payload)) if opcode == 1 || opcode == 2 => {
                    let message: Value = serde_json::from_slice(&payload)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&payload).into_owned()));
                    let done = message["id"] == json!(id);
                    received.push(message);
                    if done {
                        return received;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    received.push(json!({"probe-error": format!("read: {error}")}));
                    return received;
                }
            }
        }
        received.push(json!({"probe-error": "no answer in time"}));
        received
    }

    /// Sends a notification (no answer expected).
    fn notify(&mut self, method: &str, params: &Value) -> Result<(), String> {
        self.send(&json!({"method": method, "params": params}))
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |word, (index, &byte)| word | u32::from(byte) << (16 - 8 * index));
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(char::from(ALPHABET[(word >> (18 - 6 * index)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `sandbox` intent the 0.171 agent sends under `--sandbox workspace-write` on `fs/*` calls.
fn workspace_write(workspace: &Path) -> Value {
    let special = |kind: &str| json!({"type": "special", "value": {"kind": kind}});
    let carve_out = |subpath: &str| {
        json!({"access": "read", "missing_path_behavior": "skip",
            "path": {"type": "special", "value": {"kind": "project_roots", "subpath": subpath}}})
    };
    json!({
        "cwd": uri(workspace),
        "permissions": {"type": "managed", "network": "restricted", "file_system": {"type": "restricted", "entries": [
            {"access": "read", "path": special("root")},
            {"access": "write", "path": special("project_roots")},
            {"access": "write", "path": special("slash_tmp")},
            {"access": "write", "path": special("tmpdir")},
            carve_out(".git"), carve_out(".agents"), carve_out(".codex"), carve_out(".aws"),
        ]}},
        "policyContext": {"cwd": uri(workspace), "workspaceRoots": [uri(workspace)]},
        "useLegacyLandlock": false,
        "userHomeDir": "file:///root",
        "windowsSandboxLevel": "disabled",
        "workspaceRoots": [uri(workspace)],
    })
}

/// The intent under `--sandbox read-only`.
fn read_only(workspace: &Path) -> Value {
    let mut intent = workspace_write(workspace);
    intent["permissions"]["file_system"]["entries"] =
        json!([{"access": "read", "path": {"type": "special", "value": {"kind": "root"}}}]);
    intent
}

/// Runs the probe list against the executor at `address` (`host:port`); `workspace` is the
/// project root of the sandbox intents and `outside` a folder no intent makes writable (not under
/// `/tmp` or `TMPDIR`, which workspace-write allows). Returns (label, request, messages received)
/// per probe.
pub fn run(
    address: &str,
    workspace: &Path,
    outside: &Path,
) -> Result<Vec<(String, Value, Vec<Value>)>, String> {
    for dir in [workspace.join(".git"), outside.to_path_buf()] {
        std::fs::create_dir_all(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    std::fs::write(workspace.join("a.txt"), "hello probe\n").map_err(|error| error.to_string())?;
    std::fs::write(workspace.join("sub.txt"), "x").map_err(|error| error.to_string())?;
    // A leftover link from an earlier probe in the same folder is replaced.
    let _ = std::fs::remove_file(workspace.join("link"));
    std::os::unix::fs::symlink("a.txt", workspace.join("link")).map_err(|error| error.to_string())?;
    let ww = workspace_write(workspace);
    let ro = read_only(workspace);
    let ws = |name: &str| uri(&workspace.join(name));
    let out = |name: &str| uri(&outside.join(name));
    let data = base64(b"probe data\n");
    let start = |id: &str, argv: Value, tty: bool, sandbox: &Value| {
        json!({"processId": id, "argv": argv, "cwd": uri(workspace), "env": {"PATH": "/usr/bin:/bin"},
            "tty": tty, "pipeStdin": false, "arg0": null, "sandbox": sandbox})
    };
    let mut unknown_kind = ww.clone();
    unknown_kind["permissions"]["file_system"]["entries"][1]["path"]["value"]["kind"] =
        json!("e2e_unknown_kind");

    let probes: Vec<(&str, &str, Value)> = vec![
        ("environment/info with null params", "environment/info", Value::Null),
        ("environment/info with {}", "environment/info", json!({})),
        ("environment/status", "environment/status", json!({})),
        (
            "fs/canonicalize through .. and a symlink",
            "fs/canonicalize",
            json!({"path": format!("{}/../{}/link", uri(workspace), workspace.file_name().and_then(|name| name.to_str()).unwrap_or_default())}),
        ),
        ("fs/canonicalize, plain path", "fs/canonicalize", json!({"path": workspace.join("link")})),
        ("fs/walk without options", "fs/walk", json!({"path": uri(workspace), "sandbox": null})),
        (
            "fs/walk, empty options",
            "fs/walk",
            json!({"path": uri(workspace), "options": {}, "sandbox": null}),
        ),
        (
            "fs/walk, bounded",
            "fs/walk",
            json!({"path": uri(workspace), "sandbox": null, "options": {"maxDepth": 1, "maxEntries": 3,
                "maxDirectories": 10, "followDirectorySymlinks": false}}),
        ),
        (
            "fs/walk under workspace-write",
            "fs/walk",
            json!({"path": uri(workspace), "sandbox": ww, "options": {"maxDepth": 2, "maxEntries": 100,
                "maxDirectories": 10, "followDirectorySymlinks": true}}),
        ),
        (
            "fs/open read",
            "fs/open",
            json!({"handleId": "h1", "path": ws("a.txt"), "mode": "read", "sandbox": null}),
        ),
        ("fs/readBlock first 5", "fs/readBlock", json!({"handleId": "h1", "offset": 0, "len": 5})),
        ("fs/readBlock to the end", "fs/readBlock", json!({"handleId": "h1", "offset": 5, "len": 100})),
        ("fs/close", "fs/close", json!({"handleId": "h1"})),
        ("fs/readBlock after close", "fs/readBlock", json!({"handleId": "h1", "offset": 0, "len": 5})),
        ("fs/open without mode", "fs/open", json!({"handleId": "h0", "path": ws("a.txt"), "sandbox": null})),
        (
            "fs/open replace, workspace-write",
            "fs/open",
            json!({"handleId": "h2", "path": ws("b.txt"), "mode": "replace", "sandbox": ww}),
        ),
        ("fs/writeBlock", "fs/writeBlock", json!({"handleId": "h2", "offset": 0, "chunk": data})),
        ("fs/close after write", "fs/close", json!({"handleId": "h2"})),
        (
            "fs/open replace outside the workspace",
            "fs/open",
            json!({"handleId": "h3", "path": out("c.txt"), "mode": "replace", "sandbox": ww}),
        ),
        (
            "fs/writeFile outside the workspace, workspace-write",
            "fs/writeFile",
            json!({"path": out("x.txt"), "dataBase64": data, "sandbox": ww}),
        ),
        (
            "fs/writeFile in /tmp outside the workspace, workspace-write (slash_tmp)",
            "fs/writeFile",
            json!({"path": uri(&std::env::temp_dir().join(format!("codex-e2e-probe-{}.txt", std::process::id()))),
                "dataBase64": data, "sandbox": ww}),
        ),
        (
            "fs/writeFile in .git, workspace-write",
            "fs/writeFile",
            json!({"path": ws(".git/x"), "dataBase64": data, "sandbox": ww}),
        ),
        (
            "fs/writeFile in the workspace, read-only",
            "fs/writeFile",
            json!({"path": ws("ro.txt"), "dataBase64": data, "sandbox": ro}),
        ),
        (
            "fs/writeFile with writeId",
            "fs/writeFile",
            json!({"path": ws("w.txt"), "dataBase64": data, "writeId": "w1", "sandbox": ww}),
        ),
        (
            "fs/writeFile same writeId, other data",
            "fs/writeFile",
            json!({"path": ws("w.txt"), "dataBase64": base64(b"other\n"), "writeId": "w1", "sandbox": ww}),
        ),
        (
            "fs/readFile after the repeated writeId",
            "fs/readFile",
            json!({"path": ws("w.txt"), "sandbox": null}),
        ),
        (
            "fs/writeFile with an unknown path kind",
            "fs/writeFile",
            json!({"path": ws("k.txt"), "dataBase64": data, "sandbox": unknown_kind}),
        ),
        (
            "fs/createDirectory outside, workspace-write",
            "fs/createDirectory",
            json!({"path": out("dir"), "recursive": true, "sandbox": ww}),
        ),
        (
            "fs/copy to outside, workspace-write",
            "fs/copy",
            json!({"sourcePath": ws("a.txt"), "destinationPath": out("copy.txt"), "recursive": false, "sandbox": ww}),
        ),
        (
            "fs/remove in .git, workspace-write",
            "fs/remove",
            json!({"path": ws(".git"), "recursive": true, "force": true, "sandbox": ww}),
        ),
        (
            "fs/readFile of a symlink, followSymlinks false",
            "fs/readFile",
            json!({"path": ws("link"), "followSymlinks": false, "sandbox": null}),
        ),
        (
            "fs/getMetadata of a symlink, followSymlinks false",
            "fs/getMetadata",
            json!({"path": ws("link"), "followSymlinks": false, "sandbox": null}),
        ),
        (
            "fs/getMetadata of a symlink, default",
            "fs/getMetadata",
            json!({"path": ws("link"), "sandbox": null}),
        ),
        ("fs/readDirectory", "fs/readDirectory", json!({"path": uri(workspace), "sandbox": null})),
        ("fs/readFile, plain path", "fs/readFile", json!({"path": workspace.join("a.txt")})),
        (
            "fs/readFile outside, read-only intent (reads allowed)",
            "fs/readFile",
            json!({"path": "file:///etc/hostname", "sandbox": ro}),
        ),
        (
            "fs/watchMissing",
            "fs/watchMissing",
            json!({"watchId": 7, "missing": [ws("later.txt")], "present": null}),
        ),
        (
            "fs/writeFile creating the watched path",
            "fs/writeFile",
            json!({"path": ws("later.txt"), "dataBase64": data, "sandbox": null}),
        ),
        (
            "fs/getMetadata (lets fs/missingChanged arrive)",
            "fs/getMetadata",
            json!({"path": ws("later.txt"), "sandbox": null}),
        ),
        (
            "process/start, missing binary",
            "process/start",
            start("p1", json!(["/nonexistent/e2e-bin"]), false, &Value::Null),
        ),
        (
            "process/start, not executable",
            "process/start",
            start("p2", json!([workspace.join("a.txt")]), false, &Value::Null),
        ),
        (
            "process/start, unknown path kind in the intent",
            "process/start",
            start("p3", json!(["/bin/true"]), false, &unknown_kind),
        ),
        (
            "process/start, PTY under workspace-write, writes outside",
            "process/start",
            start(
                "p4",
                json!(["/bin/sh", "-c", format!("echo x > {}/pty.txt", outside.display())]),
                true,
                &ww,
            ),
        ),
        (
            "process/read of it (waits for exit)",
            "process/read",
            json!({"processId": "p4", "afterSeq": 0, "waitMs": 3000}),
        ),
        (
            "process/start, read-only, a Unix socketpair",
            "process/start",
            start(
                "p5",
                json!([
                    "/usr/bin/python3",
                    "-c",
                    "import socket; socket.socketpair(); print('socketpair ok')"
                ]),
                false,
                &ro,
            ),
        ),
        ("process/read of it", "process/read", json!({"processId": "p5", "afterSeq": 0, "waitMs": 3000})),
        // How `sandboxDenied` is decided: a sandboxed command that only prints a denial text and
        // fails, one that fails silently, and an unsandboxed one that prints the text.
        (
            "process/start, workspace-write, prints a denial text and exits 1",
            "process/start",
            start("p6", json!(["/bin/sh", "-c", "echo 'Permission denied' >&2; exit 1"]), false, &ww),
        ),
        ("process/read of it", "process/read", json!({"processId": "p6", "afterSeq": 1, "waitMs": 3000})),
        (
            "process/start, workspace-write, exits 1 silently",
            "process/start",
            start("p7", json!(["/bin/sh", "-c", "exit 1"]), false, &ww),
        ),
        ("process/read of it", "process/read", json!({"processId": "p7", "afterSeq": 0, "waitMs": 3000})),
        (
            "process/start, no sandbox, prints a denial text and exits 1",
            "process/start",
            start(
                "p8",
                json!(["/bin/sh", "-c", "echo 'Read-only file system' >&2; exit 1"]),
                false,
                &Value::Null,
            ),
        ),
        ("process/read of it", "process/read", json!({"processId": "p8", "afterSeq": 1, "waitMs": 3000})),
        ("an unknown method", "environment/e2eUnknown", json!({})),
    ];

    let mut client = Client::connect(address)?;
    let mut records = Vec::new();
    let initialize = json!({"clientName": "codex-environment", "resumeSessionId": null});
    records.push(("initialize".to_owned(), initialize.clone(), client.request("initialize", &initialize)));
    client.notify("initialized", &json!({}))?;
    for (label, method, params) in probes {
        let answer = client.request(method, &params);
        records.push((label.to_owned(), json!({"method": method, "params": params}), answer));
    }
    Ok(records)
}
