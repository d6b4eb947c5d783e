//! Bounded memory and fair admission under one hostile client (issue 12, defects 2, 8 and 9).
//!
//! Each test reproduces an attack from the issue against the built server and asserts two
//! things: the behaviour a client sees (backpressure, or a pinned error naming the limit), and
//! that the server's peak resident memory (`VmHWM` in `/proc/PID/status`) grew by a bounded
//! amount, and another session's process and output stay intact across it (`bystander`).
//! Memory bounds are generous on purpose (the allocator keeps what it freed); they sit
//! far below what the unbounded server reached. Nothing here asserts on time.

use crate::bystander::Bystander;
use serde_json::json;
use test_support::{ErrorObject, RawClient, ServerProcess, Target, encode_base64, start_params};

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_exec-server")
}

const MIB: u64 = 1024 * 1024;

async fn spawn(flags: &[&str]) -> ServerProcess {
    Target::ours(binary())
        .spawn_with(|command| {
            command.args(flags);
        })
        .await
}

async fn connected(server: &ServerProcess) -> RawClient {
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("limits-tests").await;
    client
}

/// A field of `/proc/PID/status` in bytes (`VmRSS`: now, `VmHWM`: the peak so far).
fn memory(server: &ServerProcess, field: &str) -> u64 {
    let pid = server.pid().expect("the server is running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status
        .lines()
        .find(|line| line.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line.split_whitespace().nth(1).and_then(|number| number.parse().ok()).expect("a number");
    kib * 1024
}

#[track_caller]
fn assert_error(error: &ErrorObject, code: i64, message: &str) {
    assert_eq!((error.code, error.message.as_str()), (code, message), "error: {error:?}");
}

/// The server still answers on a fresh connection.
async fn assert_still_serving(server: &ServerProcess) {
    let mut client = connected(server).await;
    client.request_ok("process/list", json!({})).await;
}

// ---------------------------------------------------------------------------------------------
// Defect 2: what one connection makes the server hold

/// 40 writes of 8 MiB to a child that never reads its stdin: before the fix the server grew by
/// about 760 MiB and the writes never returned. Now the connection's in-flight budget stops
/// reading the socket, the per-process stdin budget holds at most one write's bytes, and every
/// write fails with the pinned timeout error.
#[tokio::test]
async fn stdin_writes_to_a_child_that_never_reads_are_bounded_and_fail_clearly() {
    let server = spawn(&["--stdin-write-timeout", "300ms"]).await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;
    let mut start = start_params("sink", &["sleep", "600"]);
    start["pipeStdin"] = json!(true);
    client.request_ok("process/start", start).await;
    let before = memory(&server, "VmRSS");

    let chunk = encode_base64(&vec![b'x'; 8 * MIB as usize]);
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(client.send_request("process/write", json!({ "processId": "sink", "chunk": chunk })).await);
    }
    let expected = "process sink did not read its stdin within 300 ms (at most 4194304 bytes are queued \
                    per process); the write was not completed";
    for id in ids {
        let error = client.response(id).await.expect_err("a write the child never reads must fail");
        assert_error(&error, -32603, expected);
    }
    let growth = memory(&server, "VmHWM").saturating_sub(before);
    eprintln!("40 stalled stdin writes of 8 MiB: the server's peak grew by {} MiB", growth / MIB);
    assert!(growth < 200 * MIB, "the server grew by {} MiB", growth / MIB);
    assert_still_serving(&server).await;
    bystander.assert_intact().await;
}

/// Ids and names a server keeps or repeats are refused past their limit with -32602.
#[tokio::test]
async fn long_ids_and_names_are_refused() {
    let server = spawn(&[]).await;
    let bystander = Bystander::start(&server).await;
    let long = "p".repeat(4 * MIB as usize);

    let mut client = RawClient::connect(server.url()).await;
    let error = client.request_error("initialize", json!({ "clientName": long })).await;
    assert_error(&error, -32602, "clientName is 4194304 bytes long; the limit is 1024 bytes");
    let error =
        client.request_error("initialize", json!({ "clientName": "x", "resumeSessionId": long })).await;
    assert_error(&error, -32602, "sessionId is 4194304 bytes long; the limit is 1024 bytes");
    client.initialize("limits-tests").await;

    let error = client.request_error("process/start", start_params(&long, &["true"])).await;
    assert_error(&error, -32602, "processId is 4194304 bytes long; the limit is 1024 bytes");
    let exact = "p".repeat(1024);
    client.request_ok("process/start", start_params(&exact, &["true"])).await;
    let write = json!({ "processId": exact, "chunk": "", "writeId": long });
    let error = client.request_error("process/write", write).await;
    assert_error(&error, -32602, "writeId is 4194304 bytes long; the limit is 1024 bytes");
    assert_still_serving(&server).await;
    bystander.assert_intact().await;
}

/// 50 `fs/readFile`s of 4 MiB (the issue sent 300) from a client that never reads its socket: before the fix the
/// server grew by 1.9 GB for 300. Now the socket stops being read and the answers wait, bounded; once the
/// client reads again, every answer arrives whole.
#[tokio::test]
async fn a_client_that_stops_reading_holds_bounded_memory_and_loses_nothing() {
    let server = spawn(&[]).await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;
    let scratch = test_support::TempDir::new("limits-read");
    let file = scratch.path().join("four-mib");
    std::fs::write(&file, vec![b'r'; 4 * MIB as usize]).expect("write the file");
    let path = file.to_str().expect("UTF-8").to_owned();
    let before = memory(&server, "VmRSS");

    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(client.send_request("fs/readFile", json!({ "path": path })).await);
    }
    // Another connection is served meanwhile.
    assert_still_serving(&server).await;

    for id in ids {
        let read = client.response(id).await.expect("every read answers once the client reads");
        assert_eq!(read["dataBase64"].as_str().map(str::len), Some(4 * MIB as usize / 3 * 4 + 4));
    }
    // The peak over the whole run, including while nobody read.
    let growth = memory(&server, "VmHWM").saturating_sub(before);
    eprintln!("50 unread fs/readFile answers of 4 MiB: the server's peak grew by {} MiB", growth / MIB);
    // Bounded: 4 fs answers being built, 16 MiB queued, the socket's buffers; unbounded, the
    // 50 answers alone are 750 MiB.
    assert!(growth < 250 * MIB, "the server grew by {} MiB", growth / MIB);
    bystander.assert_intact().await;
}

// ---------------------------------------------------------------------------------------------
// Defect 8: one client must not lock everyone else out

/// Sessions created and dropped in a loop used to fill `max_sessions` for the whole TTL. An
/// empty detached session holds no slot now; one that owns a process still does (the
/// bystander's takes the fifth slot).
#[tokio::test]
async fn empty_detached_sessions_do_not_hold_a_slot() {
    let server = spawn(&["--max-sessions", "5", "--session-ttl", "10m"]).await;
    let bystander = Bystander::start(&server).await;
    for _ in 0..12 {
        let client = connected(&server).await;
        client.close().await;
    }
    // Three sessions that own a running process keep their slots while detached...
    let mut keep = Vec::new();
    for index in 0..3 {
        let mut client = RawClient::connect(server.url()).await;
        keep.push(client.initialize("limits-tests").await);
        client.request_ok("process/start", start_params(&format!("p{index}"), &["sleep", "600"])).await;
        client.close().await;
    }
    // ...so one more session fits, and the next is refused with the limit named.
    let _fourth = connected(&server).await;
    let mut fifth = RawClient::connect(server.url()).await;
    let error = fifth.request_error("initialize", json!({ "clientName": "fifth" })).await;
    assert_error(&error, -32600, "too many sessions (limit 5)");
    // The kept sessions are still there to resume.
    drop(fifth);
    for session in keep {
        let mut client = RawClient::connect(server.url()).await;
        client.resume("limits-tests", &session).await.expect("a session with a process survives");
    }
    bystander.assert_intact().await;
}

/// 2,000 `true`s used to make "too many processes" with nothing running: a process that has
/// closed lingers readable but does not count as running, and past the lingering bound the
/// oldest closed entries go first.
#[tokio::test]
async fn lingering_exits_do_not_count_as_running() {
    let server = spawn(&["--max-processes-per-session", "4", "--max-lingering-per-session", "3"]).await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;
    for index in 0..10 {
        let id = format!("t{index}");
        client.request_ok("process/start", start_params(&id, &["true"])).await;
        client.collect_until_closed(&id).await;
    }
    // Only the three that closed last are still listed (each closed before the next started).
    let mut listed = Vec::new();
    for _ in 0..100 {
        let list = client.request_ok("process/list", json!({})).await;
        listed =
            list["processes"].as_array().expect("a list").iter().map(|p| p["processId"].clone()).collect();
        if listed.len() == 3 {
            break;
        }
        // The last close is recorded by a task: ask again until it has run (bounded).
        tokio::task::yield_now().await;
    }
    assert_eq!(listed, [json!("t7"), json!("t8"), json!("t9")]);
    // Four running processes still fit beside them; a fifth is refused.
    for index in 0..4 {
        client.request_ok("process/start", start_params(&format!("s{index}"), &["sleep", "600"])).await;
    }
    let error = client.request_error("process/start", start_params("s4", &["sleep", "600"])).await;
    assert_error(&error, -32600, "too many processes (limit 4)");
    bystander.assert_intact().await;
}

/// Connections that never initialize used to be kept forever: now each has a deadline (closed
/// with code 1008 and a reason) and only so many may wait at once (then HTTP 503).
#[tokio::test]
async fn uninitialized_connections_have_a_deadline_and_a_cap() {
    let server = spawn(&["--initialize-timeout", "1s", "--max-uninitialized-connections", "2"]).await;
    let bystander = Bystander::start(&server).await;
    let mut first = RawClient::connect(server.url()).await;
    let _second = RawClient::connect(server.url()).await;
    let refused = RawClient::try_connect(server.url()).await.expect_err("a third waiting connection");
    assert!(refused.contains("503"), "refusal: {refused}");

    let close = first.next_close().await;
    assert_eq!(close, Some((1008, "initialize was not completed within 1000 ms".to_owned())));
    // Once they are gone, and after an initialize, connections are admitted again.
    let mut late = RawClient::connect(server.url()).await;
    late.initialize("limits-tests").await;
    let _another = connected(&server).await;
    let _and_another = connected(&server).await;
    bystander.assert_intact().await;
}

// ---------------------------------------------------------------------------------------------
// Defect 9: one budget for retained output across all processes

/// 400 exited processes used to hold 439 MiB of retained output. With a global budget, closed
/// processes' output is evicted first (oldest first) and reported as `droppedBefore`; the
/// newest keeps all of its output.
#[tokio::test]
async fn retained_output_has_a_global_budget_that_evicts_closed_processes_first() {
    let server = spawn(&["--retention-bytes", "1048576", "--max-retained-bytes", "8388608"]).await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;
    let before = memory(&server, "VmRSS");
    let count = 64;
    for index in 0..count {
        let id = format!("out{index}");
        client.request_ok("process/start", start_params(&id, &["head", "-c", "1048576", "/dev/zero"])).await;
        let run = client.collect_until_closed(&id).await;
        assert_eq!(run.output().len(), 1024 * 1024, "{id}: every byte was delivered live");
    }
    let oldest = client.read("out0", json!({ "afterSeq": 0 })).await.expect("read the oldest");
    assert!(oldest.chunks.is_empty(), "the oldest closed process's output was evicted");
    assert!(oldest.raw["droppedBefore"].is_u64(), "and the eviction is reported: {:?}", oldest.raw);
    let newest =
        client.read(&format!("out{}", count - 1), json!({ "afterSeq": 0 })).await.expect("read the newest");
    assert_eq!(newest.output().len(), 1024 * 1024, "the newest keeps its output");
    assert_eq!(newest.raw.get("droppedBefore"), None, "nothing of the newest was evicted");

    let growth = memory(&server, "VmHWM").saturating_sub(before);
    eprintln!(
        "{count} closed processes of 1 MiB under an 8 MiB budget: the server's peak grew by {} MiB",
        growth / MIB
    );
    assert!(growth < 40 * MIB, "the server grew by {} MiB", growth / MIB);
    // The bystander, subscribed all along, lost nothing to the budget.
    bystander.assert_intact().await;
}

/// A write that timed out before the server started it is not remembered by its `writeId`: a
/// retry with the same id is written, so no byte is lost (and none is doubled: the write that
/// was in progress when its caller gave up still completes once, when the child reads).
#[tokio::test]
async fn a_timed_out_write_can_be_retried_with_its_write_id() {
    let server = spawn(&["--stdin-write-timeout", "300ms"]).await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;
    let scratch = test_support::TempDir::new("limits-retry");
    let flag = scratch.path().join("go");
    let out = scratch.path().join("out");
    // The child reads nothing until the flag exists, then copies its stdin to a file.
    let script =
        format!("while [ ! -e '{}' ]; do sleep 0.05; done; cat > '{}'", flag.display(), out.display());
    let mut start = start_params("slow", &["sh", "-c", &script]);
    start["pipeStdin"] = json!(true);
    client.request_ok("process/start", start).await;

    // 5 MiB takes the whole stdin budget (4 MiB) and sticks in the pipe.
    let first = vec![b'a'; 5 * MIB as usize];
    let params = json!({ "processId": "slow", "chunk": encode_base64(&first), "writeId": "w1" });
    let error = client.request_error("process/write", params).await;
    assert_eq!(error.code, -32603, "{error:?}");
    // This one waits for the budget and gives up before it is started.
    let second = b"second write\n";
    let params = json!({ "processId": "slow", "chunk": encode_base64(second), "writeId": "w2" });
    let error = client.request_error("process/write", params.clone()).await;
    assert_eq!(error.code, -32603, "{error:?}");

    std::fs::write(&flag, b"").expect("let the child read");
    client.set_deadline(std::time::Duration::from_secs(30));
    let retried = client.request_ok("process/write", params).await;
    assert_eq!(retried["status"], json!("accepted"));
    let eof = json!({ "processId": "slow", "chunk": "", "eof": true });
    client.request_ok("process/write", eof).await;
    client.collect_until_closed("slow").await;

    let written = std::fs::read(&out).expect("the child's copy of its stdin");
    let mut expected = first;
    expected.extend_from_slice(second);
    assert_eq!(written.len(), expected.len(), "every byte once");
    assert!(written == expected, "the bytes arrive in order");
    bystander.assert_intact().await;
}
