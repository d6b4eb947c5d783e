//! Our server's own behaviour beyond the shared conformance subset (SPEC.md §3–§6): concurrent
//! handling on one connection, session takeover, the HTTP side of the listener (`/readyz`, Origin,
//! bearer tokens, compression offers), the message size limit, the extensions (`process/signal`,
//! `process/list`, `eof`, `writeId`, seq-ordered delivery), clean shutdown on SIGTERM without
//! orphans, and `--listen stdio`.
//!
//! Every wait is bounded by a deadline; nothing sleeps for a fixed time and nothing asserts on
//! durations.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{
    DEFAULT_DEADLINE, RawClient, ServerProcess, Signal, Target, TempDir, authority, decode_base64,
    encode_base64, raw_http, start_params, status_of,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn ours() -> Target {
    Target::ours(env!("CARGO_BIN_EXE_exec-server"))
}

/// The method table answers every request the protocol defines: before the handshake with the
/// gate's error, after it with the method's own answer (a result, or an error about the
/// params), never "method not found".
#[tokio::test]
async fn every_request_of_the_protocol_is_answered() {
    let server = ours().spawn().await;
    let mut early = RawClient::connect(server.url()).await;
    let mut client = connected(&server).await;
    for name in exec_protocol::method::REQUESTS.iter().filter(|name| **name != "initialize") {
        let gated = early.request_error(name, json!({})).await;
        assert_eq!(gated.code, -32600, "{name} before initialize: {gated:?}");
        assert!(gated.message.starts_with("client must call initialize"), "{name}: {gated:?}");
        if let Err(error) = client.request(name, json!({})).await {
            assert_ne!(error.code, -32601, "{name} is not answered: {error:?}");
        }
    }
}

async fn connected(server: &ServerProcess) -> RawClient {
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("server-tests").await;
    client
}

/// A WebSocket upgrade request for `/` with `extra` header lines (each ending in `\r\n`).
fn upgrade_request(extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// The session's `process/list` entry for `process_id`.
async fn listed(client: &mut RawClient, process_id: &str) -> Value {
    let list = client.request_ok("process/list", json!({})).await;
    let processes = list["processes"].as_array().unwrap_or_else(|| panic!("process/list result {list}"));
    processes
        .iter()
        .find(|entry| entry["processId"] == process_id)
        .unwrap_or_else(|| panic!("{process_id} is not in {list}"))
        .clone()
}

// ---------------------------------------------------------------------------------------------
// Concurrency and takeover (SPEC §3, §4)

/// A long-poll read does not delay a later request on the same connection: the `process/start`
/// sent after it is answered while the read is still pending (the read returns the bytes written
/// only after the start's response arrived, so it cannot have returned before).
#[tokio::test]
async fn long_poll_read_does_not_block_other_requests() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    let mut params = start_params("cat", &["cat"]);
    params["pipeStdin"] = json!(true);
    client.request_ok("process/start", params).await;

    let read_id = client.send_request("process/read", json!({ "processId": "cat", "waitMs": 60_000 })).await;
    let start_id = client.send_request("process/start", start_params("other", &["true"])).await;
    let started = client.response(start_id).await.expect("the second process/start");
    assert_eq!(started["processId"], "other");

    // Only now give the pending read something to return.
    assert_eq!(client.write("cat", b"after-start").await.expect("process/write"), "accepted");
    let read = client.response(read_id).await.expect("the long-poll read");
    let output: Vec<u8> = read["chunks"]
        .as_array()
        .unwrap_or_else(|| panic!("read result {read}"))
        .iter()
        .flat_map(|chunk| decode_base64(chunk["chunk"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(output, b"after-start", "the read returned before the start was answered: {read}");
}

/// Resuming an attached session takes it over: same session id, the old connection's long poll
/// fails with -32600 and the old connection is closed; the new one sees the session's processes.
#[tokio::test]
async fn resume_takes_over_an_attached_session() {
    let server = ours().spawn().await;
    let mut old = RawClient::connect(server.url()).await;
    let session_id = old.initialize("old").await;
    old.request_ok("process/start", start_params("sleeper", &["sleep", "30"])).await;
    let read_id = old.send_request("process/read", json!({ "processId": "sleeper", "waitMs": 60_000 })).await;
    // Make sure the read is in flight before the takeover: a later request on the same
    // connection is answered while the read still waits.
    old.request_ok("process/list", json!({})).await;

    let mut new = RawClient::connect(server.url()).await;
    let resumed = new.resume("new", &session_id).await.expect("the takeover resume");
    assert_eq!(resumed, session_id);

    let error = old.response(read_id).await.expect_err("the evicted long poll must fail");
    assert_eq!(
        (error.code, error.message.as_str()),
        (-32600, "session has been resumed by another connection"),
        "whole error: {error:?}"
    );
    // The evicted connection is closed: waiting on it ends with "closed" (or a failed
    // connection), never with a message or a timeout.
    let waiter = tokio::spawn(async move {
        old.next_notification(DEFAULT_DEADLINE).await;
    });
    let panic = waiter.await.expect_err("the old connection delivered a notification instead of closing");
    let payload = panic.into_panic();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_default();
    assert!(
        message.contains("closed the connection") || message.contains("connection failed"),
        "the old connection was not closed: {message}"
    );

    let entry = listed(&mut new, "sleeper").await;
    assert_eq!(entry["running"], true, "entry: {entry}");
}

// ---------------------------------------------------------------------------------------------
// HTTP side of the listener (SPEC §3)

#[tokio::test]
async fn readyz_answers_200() {
    let server = ours().spawn().await;
    let head = raw_http(&server, "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&head), 200, "response: {head:?}");
}

#[tokio::test]
async fn browser_origin_is_refused_with_403() {
    let server = ours().spawn().await;
    let head = raw_http(&server, &upgrade_request("Origin: https://evil.example\r\n")).await;
    assert_eq!(status_of(&head), 403, "response: {head:?}");
}

#[tokio::test]
async fn bearer_token_is_required_when_configured() {
    let dir = TempDir::new("token");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token").expect("write the token file");
    let server = ours()
        .spawn_with(|command| {
            command.arg("--auth-token-file").arg(&token_file);
        })
        .await;

    let without = raw_http(&server, &upgrade_request("")).await;
    assert_eq!(status_of(&without), 401, "response: {without:?}");
    let wrong = raw_http(&server, &upgrade_request("Authorization: Bearer wrong\r\n")).await;
    assert_eq!(status_of(&wrong), 401, "response: {wrong:?}");
    let with = raw_http(&server, &upgrade_request("Authorization: Bearer s3cret-token\r\n")).await;
    assert_eq!(status_of(&with), 101, "response: {with:?}");
}

/// A rotated token takes effect on SIGHUP without a restart (issue 12); a failed reload (an
/// empty file) keeps the token in force.
#[tokio::test]
async fn the_token_file_is_reloaded_on_sighup() {
    let dir = TempDir::new("token-reload");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "first-token").expect("write the token file");
    let server = ours()
        .spawn_with(|command| {
            command.arg("--auth-token-file").arg(&token_file);
        })
        .await;
    let first = upgrade_request("Authorization: Bearer first-token\r\n");
    let second = upgrade_request("Authorization: Bearer second-token\r\n");
    assert_eq!(status_of(&raw_http(&server, &first).await), 101);

    std::fs::write(&token_file, "second-token\n").expect("rotate the token");
    server.terminate_with(test_support::Signal::SIGHUP).expect("send SIGHUP");
    // The reload is asynchronous: ask until the new token is accepted, within the deadline.
    let until = std::time::Instant::now() + DEFAULT_DEADLINE;
    while status_of(&raw_http(&server, &second).await) != 101 {
        assert!(std::time::Instant::now() < until, "the rotated token was never accepted");
        tokio::task::yield_now().await;
    }
    assert_eq!(status_of(&raw_http(&server, &first).await), 401, "the old token no longer works");

    std::fs::write(&token_file, "").expect("empty the token file");
    server.terminate_with(test_support::Signal::SIGHUP).expect("send SIGHUP");
    let log = "keeping the current auth token";
    let until = std::time::Instant::now() + DEFAULT_DEADLINE;
    while !server.captured_output().contains(log) {
        assert!(std::time::Instant::now() < until, "no log line {log:?}");
        // The log is read by a forwarding task; there is no event to wait on, so poll briefly.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status_of(&raw_http(&server, &second).await), 101, "a failed reload keeps the token");
}

/// Upgrades a raw TCP connection, sends `frame` as raw bytes, and returns the code and reason
/// of the close frame the server answers with (`None` when it closes without one).
async fn close_after_raw_frame(server: &ServerProcess, frame: &[u8]) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(authority(server.url())).await.expect("TCP connect");
        stream.write_all(upgrade_request("").as_bytes()).await.expect("write the upgrade");
        let mut received = Vec::new();
        let mut buffer = [0_u8; 1024];
        let head_end = loop {
            if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
                break end + 4;
            }
            let read = stream.read(&mut buffer).await.expect("read the upgrade answer");
            assert!(read > 0, "the server closed during the upgrade");
            received.extend_from_slice(&buffer[..read]);
        };
        assert_eq!(status_of(&String::from_utf8_lossy(&received[..head_end])), 101);
        stream.write_all(frame).await.expect("write the frame");
        let mut rest = received.split_off(head_end);
        // Everything until the server closes the TCP stream (a reset also ends it).
        while let Ok(read) = stream.read(&mut buffer).await {
            if read == 0 {
                break;
            }
            rest.extend_from_slice(&buffer[..read]);
        }
        // Server frames are unmasked; a close frame is 0x88, a 7-bit length, code, reason.
        let start = rest.iter().position(|byte| *byte == 0x88)?;
        let length = usize::from(rest[start + 1] & 0x7f);
        let payload = &rest[start + 2..start + 2 + length];
        let code = u16::from_be_bytes([payload[0], payload[1]]);
        Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()))
    };
    tokio::time::timeout(DEFAULT_DEADLINE, exchange).await.expect("the exchange timed out")
}

/// A WebSocket protocol violation ends the connection with a close frame carrying a code and a
/// reason (issue 12), not with a bare TCP close.
#[tokio::test]
async fn protocol_violations_get_a_close_frame() {
    let server = ours().spawn().await;
    // A client frame must be masked: an unmasked Text frame "hi" is a protocol error (1002).
    let (code, reason) =
        close_after_raw_frame(&server, &[0x81, 0x02, b'h', b'i']).await.expect("a close frame");
    assert_eq!(code, 1002, "reason: {reason}");
    assert!(!reason.is_empty(), "the reason says what was wrong");
    // A Text frame that is not UTF-8 (masked with a zero key): 1007.
    let (code, reason) =
        close_after_raw_frame(&server, &[0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28]).await.expect("a close frame");
    assert_eq!(code, 1007, "reason: {reason}");
    // The server is still up.
    connected(&server).await;
}

/// A client's own request id -1 is answered like any other, and the answer to an unparseable
/// frame (also id -1, as the Codex peer sends it) is told apart by `data.kind` (issue 12).
#[tokio::test]
async fn a_request_id_of_minus_one_is_distinguishable_from_a_parse_error() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    client.send_json(json!({ "id": -1, "method": "process/list", "params": {} })).await;
    let own = client.raw_response(json!(-1)).await;
    assert!(own["result"]["processes"].is_array(), "{own}");
    assert_eq!(own.get("error"), None, "{own}");
    client.send_text("{not json").await;
    let parse_error = client.raw_response(json!(-1)).await;
    assert_eq!(parse_error["error"]["code"], json!(-32600), "{parse_error}");
    assert_eq!(parse_error["error"]["data"], json!({ "kind": "unparseable" }), "{parse_error}");
}

#[tokio::test]
async fn compression_offer_is_accepted() {
    let server = ours().spawn().await;
    let head = raw_http(&server, &upgrade_request("Sec-WebSocket-Extensions: permessage-deflate\r\n")).await;
    assert_eq!(status_of(&head), 101, "response: {head:?}");
}

// ---------------------------------------------------------------------------------------------
// Message size limit (SPEC §3)

#[tokio::test]
async fn oversized_frame_is_refused_and_server_stays_up() {
    let server = ours()
        .spawn_with(|command| {
            command.args(["--max-message-bytes", "1024"]);
        })
        .await;
    let mut client = connected(&server).await;
    let big = json!({ "id": 99, "method": "process/list", "params": { "pad": "x".repeat(4096) } });
    client.send_json(big).await;
    let response = client.raw_response(json!(-1)).await;
    assert_eq!(response["error"]["code"], -32600, "response: {response}");
    let message = response["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("maximum") && message.contains("1024"), "response: {response}");

    let mut fresh = connected(&server).await;
    fresh.request_ok("process/list", json!({})).await;
}

// ---------------------------------------------------------------------------------------------
// Dead peers and other bad input (SPEC §3–§4)

#[tokio::test]
async fn silent_peer_is_dropped_after_the_peer_timeout() {
    let server = ours()
        .spawn_with(|command| {
            command.args(["--ping-interval", "100ms", "--peer-timeout", "500ms"]);
        })
        .await;
    // Upgrade by hand and then never answer a ping: the server must give up on us and close.
    let exchange = async {
        let mut stream = TcpStream::connect(authority(server.url())).await.expect("TCP connect");
        stream.write_all(upgrade_request("").as_bytes()).await.expect("write the upgrade");
        let mut received = Vec::new();
        let mut buffer = [0_u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
        received
    };
    let received = tokio::time::timeout(DEFAULT_DEADLINE, exchange)
        .await
        .expect("the server never closed a connection whose peer stopped answering pings");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 101"), "received: {text:?}");
    // Pings (opcode 0x9) were sent before the close (opcode 0x8).
    let after_head = &received[text.find("\r\n\r\n").expect("a response head") + 4..];
    assert_eq!(after_head.first(), Some(&0x89), "first frame is not a ping: {after_head:?}");

    // The server itself is fine.
    let mut client = connected(&server).await;
    client.request_ok("process/list", json!({})).await;
}

#[tokio::test]
async fn relative_cwd_and_stray_notifications() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    let mut params = start_params("p1", &["true"]);
    params["cwd"] = json!("relative/dir");
    let error = client.request_error("process/start", params).await;
    assert_eq!(error.code, -32602, "error: {error:?}");
    assert_eq!(error.message, "cwd must be an absolute path: relative/dir");

    // A notification other than `initialized` has no id to answer; it is ignored and the
    // connection keeps serving.
    client.notify("process/bogus", json!({ "x": 1 })).await;
    client.notify("initialized", json!({})).await;
    client.request_ok("process/list", json!({})).await;
}

// ---------------------------------------------------------------------------------------------
// fs/* (SPEC §5)

#[tokio::test]
async fn fs_methods_round_trip() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    let scratch = TempDir::new("fs-methods");
    let root = scratch.path().to_str().expect("a UTF-8 temp path").to_owned();
    let file = format!("{root}/dir/a.txt");

    client.request_ok("fs/createDirectory", json!({ "path": format!("{root}/dir/sub") })).await;
    client.request_ok("fs/writeFile", json!({ "path": file, "dataBase64": encode_base64(b"hello") })).await;
    let read = client.request_ok("fs/readFile", json!({ "path": file })).await;
    assert_eq!(decode_base64(read["dataBase64"].as_str().unwrap_or_default()), b"hello");
    let metadata = client.request_ok("fs/getMetadata", json!({ "path": file })).await;
    assert_eq!((metadata["isFile"].clone(), metadata["isDirectory"].clone()), (json!(true), json!(false)));
    let listing = client.request_ok("fs/readDirectory", json!({ "path": format!("{root}/dir") })).await;
    let names: Vec<&str> = listing["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["fileName"].as_str())
        .collect();
    assert_eq!(names, ["a.txt", "sub"], "listing: {listing}");

    let into_itself = json!({ "sourcePath": format!("{root}/dir"), "destinationPath": format!("{root}/dir/sub/x"), "recursive": true });
    assert_eq!(client.request_error("fs/copy", into_itself).await.code, -32600);
    let without_recursive = json!({ "sourcePath": format!("{root}/dir"), "destinationPath": format!("{root}/copy"), "recursive": false });
    assert_eq!(client.request_error("fs/copy", without_recursive).await.code, -32600);
    let copy = json!({ "sourcePath": format!("{root}/dir"), "destinationPath": format!("{root}/copy"), "recursive": true });
    client.request_ok("fs/copy", copy).await;
    let copied = client.request_ok("fs/readFile", json!({ "path": format!("{root}/copy/a.txt") })).await;
    assert_eq!(decode_base64(copied["dataBase64"].as_str().unwrap_or_default()), b"hello");

    client.request_ok("fs/remove", json!({ "path": format!("{root}/dir") })).await;
    let missing = client.request_error("fs/readFile", json!({ "path": file })).await;
    assert_eq!(missing.code, -32004, "error: {missing:?}");
    // Invalid params, as docs/protocol.md states and the April peer answers.
    let relative = client.request_error("fs/readFile", json!({ "path": "relative.txt" })).await;
    assert_eq!(relative.code, -32602, "error: {relative:?}");
}

// ---------------------------------------------------------------------------------------------
// Extensions (SPEC §4–§6)

#[tokio::test]
async fn initialize_reports_server_info_and_capabilities() {
    let server = ours().spawn().await;
    let mut client = RawClient::connect(server.url()).await;
    let result = client.request_ok("initialize", json!({ "clientName": "server-tests" })).await;
    assert_eq!(result["serverInfo"]["name"], "exec-server", "result: {result}");
    let capabilities = result["capabilities"].as_array().unwrap_or_else(|| panic!("result: {result}"));
    assert!(capabilities.iter().any(|name| name == "process/signal"), "result: {result}");
}

#[tokio::test]
async fn signal_terminate_reports_143_and_signal_15() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    client.request_ok("process/start", start_params("sleeper", &["sleep", "30"])).await;
    let result =
        client.request_ok("process/signal", json!({ "processId": "sleeper", "signal": "terminate" })).await;
    assert_eq!(result, json!({}));
    let run = client.collect_until_closed("sleeper").await;
    let exits = run.exits();
    assert_eq!(exits.len(), 1, "events: {:?}", run.events);
    assert_eq!(exits[0].params["exitCode"], 143, "exit: {:?}", exits[0]);
    assert_eq!(exits[0].params["signal"], 15, "exit: {:?}", exits[0]);
}

#[tokio::test]
async fn list_shows_running_process() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    client.request_ok("process/start", start_params("sleeper", &["sleep", "30"])).await;
    let entry = listed(&mut client, "sleeper").await;
    assert_eq!(entry["argv"], json!(["sleep", "30"]), "entry: {entry}");
    assert!(entry["pid"].as_u64().is_some_and(|pid| pid > 0), "entry: {entry}");
    assert_eq!(entry["running"], true, "entry: {entry}");
}

#[tokio::test]
async fn write_eof_and_write_id() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    let mut params = start_params("cat", &["cat"]);
    params["pipeStdin"] = json!(true);
    client.request_ok("process/start", params).await;

    let once = json!({ "processId": "cat", "chunk": encode_base64(b"once "), "writeId": "w-1" });
    for _ in 0..2 {
        let result = client.request_ok("process/write", once.clone()).await;
        assert_eq!(result["status"], "accepted", "result: {result}");
    }
    let last = json!({ "processId": "cat", "chunk": encode_base64(b"last"), "eof": true });
    let result = client.request_ok("process/write", last).await;
    assert_eq!(result["status"], "accepted", "result: {result}");

    let run = client.collect_until_closed("cat").await;
    assert_eq!(run.exit_code(), Some(0), "events: {:?}", run.events);
    assert_eq!(String::from_utf8_lossy(&run.output()), "once last");
}

/// Our server sends each process's notifications in seq order on the wire (checked in arrival
/// order, not after sorting).
#[tokio::test]
async fn notifications_arrive_in_seq_order() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    client.request_ok("process/start", start_params("seq", &["seq", "1", "20000"])).await;
    let until = Instant::now() + DEFAULT_DEADLINE;
    let mut last_seq = 0;
    let mut output = Vec::new();
    loop {
        let remaining = until.saturating_duration_since(Instant::now());
        let event = client.next_notification(remaining).await;
        if event.process_id() != Some("seq") {
            continue;
        }
        let seq = event.seq().unwrap_or_else(|| panic!("no seq: {event:?}"));
        assert_eq!(seq, last_seq + 1, "{event:?} arrived after seq {last_seq}");
        last_seq = seq;
        if let Some(chunk) = event.chunk() {
            output.extend(chunk);
        }
        if event.method == "process/closed" {
            break;
        }
    }
    let expected: String = (1..=20_000).map(|number| format!("{number}\n")).collect();
    assert!(output == expected.as_bytes(), "the output of seq 1 20000 differs");
}

// ---------------------------------------------------------------------------------------------
// Shutdown (SPEC §5: "if the server dies, its children die too")

/// The process group and state of `pid` from `/proc/PID/stat`, or `None` when it is gone.
fn group_and_state(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let group = fields.get(2)?.parse().ok()?;
    Some((group, state))
}

/// Live (not zombie) processes whose process group is `group`.
fn live_members(group: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            group_and_state(*pid).is_some_and(|(member_of, state)| member_of == group && state != 'Z')
        })
        .collect()
}

#[tokio::test]
async fn sigterm_leaves_no_orphans() {
    // No drain: this is the kill path (the drain is `lifecycle`'s subject).
    let mut server = ours()
        .spawn_with(|command| {
            command.args(["--drain-timeout", "0s"]);
        })
        .await;
    let mut client = connected(&server).await;
    client.request_ok("process/start", start_params("tree", &["sh", "-c", "sleep 300 & sleep 300"])).await;
    let entry = listed(&mut client, "tree").await;
    let pid = entry["pid"].as_u64().and_then(|pid| u32::try_from(pid).ok()).expect("a pid");
    let (group, _) = group_and_state(pid).expect("the child is alive");
    assert_eq!(group, pid, "the child leads its own process group");

    // Wait until the shell has started both sleeps (the group has at least 2 live members).
    let until = Instant::now() + DEFAULT_DEADLINE;
    while live_members(group).len() < 2 {
        assert!(Instant::now() < until, "the group never grew: {:?}", live_members(group));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    server.terminate_with(Signal::SIGTERM).expect("SIGTERM the server");
    let status = server.wait_with_deadline(DEFAULT_DEADLINE).await.expect("wait for the server");
    let status = status.unwrap_or_else(|| panic!("the server did not exit: {}", server.captured_output()));
    assert!(status.success(), "the server exited with {status}: {}", server.captured_output());

    let until = Instant::now() + DEFAULT_DEADLINE;
    loop {
        let left = live_members(group);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < until, "processes of group {group} outlived the server: {left:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// stdio mode (SPEC §3)

#[tokio::test]
async fn stdio_mode_runs_a_process_and_exits_on_eof() {
    let (mut child, mut stdin, mut lines) = crate::stdio_server();

    let exchange = async {
        let mut send = async |message: Value| {
            stdin.write_all(format!("{message}\n").as_bytes()).await.expect("write to the server");
            stdin.flush().await.expect("flush");
        };
        send(json!({ "id": 1, "method": "initialize", "params": { "clientName": "stdio" } })).await;
        send(json!({ "method": "initialized" })).await;
        send(json!({ "id": 2, "method": "process/start", "params": start_params("echo", &["echo", "hi"]) }))
            .await;
        let mut responses = Vec::new();
        let mut output = Vec::new();
        loop {
            let line =
                lines.next_line().await.expect("read from the server").expect("the server closed stdout");
            let message: Value =
                serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}"));
            if message.get("id").is_some() {
                assert!(message.get("error").is_none(), "error response: {message}");
                responses.push(message["id"].clone());
            } else if message["method"] == "process/output" {
                output.extend(decode_base64(message["params"]["chunk"].as_str().unwrap_or_default()));
            } else if message["method"] == "process/closed" {
                break;
            }
        }
        assert_eq!(responses, vec![json!(1), json!(2)]);
        assert_eq!(output, b"hi\n");
        drop(stdin);
    };
    tokio::time::timeout(DEFAULT_DEADLINE, exchange).await.expect("the stdio exchange timed out");
    let status = tokio::time::timeout(DEFAULT_DEADLINE, child.wait())
        .await
        .expect("the server did not exit after stdin closed")
        .expect("wait for the server");
    assert!(status.success(), "the server exited with {status}");
}
