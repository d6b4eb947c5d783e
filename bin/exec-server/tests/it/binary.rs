//! Negotiated binary `process/output` frames (issue 13, `binaryOutput`), seen on the raw wire:
//! a client that asks gets each output chunk as one Binary frame, in seq order, byte-exact, with
//! the same flow control and gap reporting as JSON; a client that does not ask (or a connection
//! over stdio) sees only JSON text; on resume each connection decides for itself.
//!
//! The frames are decoded by `test-support`'s own reader of the documented layout, not by the
//! server's code. Waits are on events with deadlines; where no event exists (a child blocked on
//! its pipe, a file a script creates) a bounded poll stands in.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{
    DEFAULT_DEADLINE, Notification, RawClient, ServerProcess, Target, TempDir, decode_base64, encode_base64,
    start_params,
};
use tokio::io::AsyncWriteExt;

async fn spawn(args: &[&str]) -> ServerProcess {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(move |command| {
            command.args(&args);
        })
        .await
}

/// `initialize` with `binaryOutput: binary` (or a resume of `session`), then `initialized`;
/// returns the result.
async fn handshake(client: &mut RawClient, binary: bool, session: Option<&str>) -> Value {
    let mut params = json!({ "clientName": "binary-tests", "binaryOutput": binary });
    if let Some(session) = session {
        params["resumeSessionId"] = json!(session);
    }
    let result = client.request_ok("initialize", params).await;
    client.notify("initialized", Value::Null).await;
    result
}

fn granted(result: &Value) -> bool {
    let listed = result["capabilities"]
        .as_array()
        .is_some_and(|names| names.iter().any(|name| name == "binaryOutput"));
    assert!(listed, "a WebSocket connection lists binaryOutput: {result}");
    result["binaryOutput"] == json!(true)
}

/// Every notification of `process_id` up to its `process/closed`, in arrival order.
async fn until_closed(client: &mut RawClient, process_id: &str) -> Vec<Notification> {
    let mut events = Vec::new();
    loop {
        let event = client.next_notification(DEFAULT_DEADLINE).await;
        if event.process_id() != Some(process_id) {
            continue;
        }
        let closed = event.method == "process/closed";
        events.push(event);
        if closed {
            return events;
        }
    }
}

fn numbers(range: std::ops::RangeInclusive<u32>) -> Vec<u8> {
    range.flat_map(|number| format!("{number}\n").into_bytes()).collect()
}

/// Several MiB on stdout and stderr at once: every output chunk is one Binary frame, the seqs
/// arrive in order with no gap, each stream's bytes are exact, and exit and close stay JSON.
#[tokio::test]
async fn binary_frames_arrive_in_seq_order_with_exact_bytes() {
    let server = spawn(&[]).await;
    let mut client = RawClient::connect(server.url()).await;
    let result = handshake(&mut client, true, None).await;
    assert!(granted(&result), "asked on a WebSocket, so granted: {result}");
    let script = "seq 1 400000 & seq 500000 800000 >&2; wait";
    client.request_ok("process/start", start_params("both", &["sh", "-c", script])).await;
    let events = until_closed(&mut client, "both").await;

    let seqs: Vec<u64> = events.iter().map(|event| event.seq().expect("a seq")).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "arrival order is seq order");
    let mut streams: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut outputs = 0;
    for event in &events {
        if event.method == "process/output" {
            assert!(event.binary, "output came as JSON: {event:?}");
            outputs += 1;
            let stream = event.params["stream"].as_str().expect("a stream").to_owned();
            streams.entry(stream).or_default().extend(event.chunk().expect("a chunk"));
        } else {
            assert!(!event.binary, "{} stays JSON", event.method);
        }
    }
    assert_eq!(streams.get("stdout"), Some(&numbers(1..=400_000)), "stdout is byte-exact");
    assert_eq!(streams.get("stderr"), Some(&numbers(500_000..=800_000)), "stderr is byte-exact");
    assert_eq!(client.frames().binary, outputs, "one Binary frame per output chunk, nothing else");
    assert_eq!(events.iter().filter(|event| event.method == "process/exited").count(), 1);
}

/// A client that does not ask (absent, or `false`) gets no `binaryOutput` in the result and only
/// Text frames, exactly as before the extension.
#[tokio::test]
async fn a_client_that_does_not_ask_gets_only_text_frames() {
    let server = spawn(&[]).await;
    for params in [json!({ "clientName": "plain" }), json!({ "clientName": "plain", "binaryOutput": false })]
    {
        let mut client = RawClient::connect(server.url()).await;
        let result = client.request_ok("initialize", params).await;
        client.notify("initialized", Value::Null).await;
        assert_eq!(result.get("binaryOutput"), None, "not confirmed: {result}");
        let capabilities = result["capabilities"].as_array().expect("capabilities");
        assert!(capabilities.iter().any(|name| name == "binaryOutput"), "offered, just not asked for");
        client.request_ok("process/start", start_params("numbers", &["seq", "1", "200000"])).await;
        let run = client.collect_until_closed("numbers").await;
        assert_eq!(run.output(), numbers(1..=200_000));
        assert!(run.events.iter().all(|event| !event.binary));
        assert_eq!(client.frames().binary, 0, "not a single Binary frame");
        assert!(client.frames().text > 3);
    }
}

/// `/proc/PID/io`'s `wchar`: bytes the process has written so far.
fn written(pid: u64) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines().find_map(|line| line.strip_prefix("wchar: ")?.trim().parse().ok())
}

/// Polls (no event exists for it) until `pid` sleeps writing a pipe and writes nothing more
/// across a pause in which the server could drain it: the server stopped reading its pipe.
async fn wait_blocked_on_pipe(pid: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + DEFAULT_DEADLINE;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "pid {pid} never blocked on its pipe");
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        let before = written(pid);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if wchan.contains("pipe_write")
            && let Some(before) = before
            && written(pid) == Some(before)
        {
            return before;
        }
    }
}

/// Flow control is unchanged: a client that asked for binary frames and stops reading stalls the
/// child (it blocks on its pipe, far short of its output) and, once reading resumes, every byte
/// arrives.
#[tokio::test]
async fn a_binary_client_that_stops_reading_stalls_the_child_and_loses_nothing() {
    const TOTAL: u64 = 32 << 20;
    let server = spawn(&["--max-outbound-bytes-queued", "1048576", "--retention-bytes", "1048576"]).await;
    let mut client = RawClient::connect(server.url()).await;
    assert!(granted(&handshake(&mut client, true, None).await));
    let count = TOTAL.to_string();
    client.request_ok("process/start", start_params("flood", &["head", "-c", &count, "/dev/zero"])).await;
    let list = client.request_ok("process/list", json!({})).await;
    let pid = list["processes"][0]["pid"].as_u64().unwrap_or_else(|| panic!("a pid: {list}"));

    // Not reading from here on.
    let stalled_at = wait_blocked_on_pipe(pid).await;
    assert!(stalled_at < TOTAL / 2, "the child ran ahead of the reader: {stalled_at} of {TOTAL} bytes");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(written(pid), Some(stalled_at), "the child stays blocked while nobody reads");

    let run = client.collect_until_closed("flood").await;
    let chunks = run.chunks();
    assert_eq!(chunks.iter().map(|chunk| chunk.bytes.len() as u64).sum::<u64>(), TOTAL, "nothing lost");
    assert!(chunks.iter().all(|chunk| chunk.bytes.iter().all(|&byte| byte == 0)));
    assert!(run.events.iter().filter(|event| event.method == "process/output").all(|event| event.binary));
}

/// Output evicted while detached is still reported as `droppedBefore` to a connection that
/// resumed with binary frames, and the output after the resume arrives as binary frames.
#[tokio::test]
async fn a_gap_is_reported_to_a_binary_client() {
    let folder = TempDir::new("binary-gap");
    let (go, flooded, more) =
        (folder.path().join("go"), folder.path().join("flooded"), folder.path().join("more"));
    let server = spawn(&["--retention-bytes", "1024", "--session-ttl", "1m"]).await;
    let mut first = RawClient::connect(server.url()).await;
    let session = first.initialize("gap").await;
    let script = format!(
        "while [ ! -e {go} ]; do sleep 0.01; done; head -c 300000 /dev/zero; touch {flooded}; \
         while [ ! -e {more} ]; do sleep 0.01; done; echo after-the-gap",
        go = go.display(),
        flooded = flooded.display(),
        more = more.display()
    );
    first.request_ok("process/start", start_params("flood", &["sh", "-c", &script])).await;
    first.close().await;
    std::fs::write(&go, "").expect("create the go file");
    let deadline = tokio::time::Instant::now() + DEFAULT_DEADLINE;
    while !flooded.exists() {
        assert!(tokio::time::Instant::now() < deadline, "the flood never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut resumed = RawClient::connect(server.url()).await;
    assert!(granted(&handshake(&mut resumed, true, Some(&session)).await));
    let read = resumed.request_ok("process/read", json!({ "processId": "flood", "afterSeq": 0 })).await;
    assert!(read["droppedBefore"].is_u64(), "the eviction is reported: {read}");
    std::fs::write(&more, "").expect("create the more file");
    resumed.wait_for_output("flood", b"after-the-gap").await;
    let live = resumed.notifications_for("flood");
    let tail =
        live.iter().find(|event| event.chunk().is_some_and(|chunk| chunk.ends_with(b"after-the-gap\n")));
    assert!(tail.is_some_and(|event| event.binary), "live output after the resume is binary: {live:?}");
}

/// The choice is per connection: a session resumed by a connection that asks gets binary frames,
/// by one that does not gets JSON, and no byte is lost across the switches (what a connection
/// missed is read back with `process/read`).
#[tokio::test]
async fn each_resumed_connection_decides_and_no_byte_is_lost() {
    let server = spawn(&["--session-ttl", "1m"]).await;
    let blocks: Vec<Vec<u8>> =
        (0..4u32).map(|index| numbers(index * 100_000 + 1..=index * 100_000 + 20_000)).collect();
    let mut session: Option<String> = None;
    let mut by_seq: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut last_seen = 0;
    for (index, (block, binary)) in blocks.iter().zip([true, false, true, false]).enumerate() {
        let mut client = RawClient::connect(server.url()).await;
        let result = handshake(&mut client, binary, session.as_deref()).await;
        assert_eq!(granted(&result), binary, "connection {index}: {result}");
        if session.is_none() {
            session = Some(result["sessionId"].as_str().expect("a session id").to_owned());
            let mut params = start_params("cat", &["cat"]);
            params["pipeStdin"] = json!(true);
            client.request_ok("process/start", params).await;
        }
        // Catch up on what the previous connection did not see live.
        let caught_up = client.read("cat", json!({ "afterSeq": last_seen })).await.expect("read");
        for chunk in caught_up.chunks {
            by_seq.insert(chunk.seq, chunk.bytes);
        }
        let last = index == blocks.len() - 1;
        let params = json!({ "processId": "cat", "chunk": encode_base64(block), "eof": last });
        client.request_ok("process/write", params).await;
        // At least one chunk live on this connection, in the form it asked for; then leave,
        // most likely with output in flight (the next connection reads it back).
        let live = if last {
            until_closed(&mut client, "cat").await
        } else {
            vec![client.next_notification(DEFAULT_DEADLINE).await]
        };
        for event in live.iter().filter(|event| event.method == "process/output") {
            assert_eq!(event.binary, binary, "connection {index} asked binary={binary}: {event:?}");
            by_seq.insert(event.seq().expect("a seq"), event.chunk().expect("a chunk"));
        }
        last_seen = by_seq.keys().next_back().copied().unwrap_or(last_seen);
        if !last {
            client.close().await;
        }
    }
    let received: Vec<u8> = by_seq.into_values().flatten().collect();
    assert_eq!(received, blocks.concat(), "every byte once, in order, across four connections");
}

/// Over stdio there are no Binary frames: asking is answered without `binaryOutput` (and the
/// capability is not listed), and output stays JSON lines.
#[tokio::test]
async fn over_stdio_asking_yields_json() {
    let (_child, mut stdin, mut lines) = crate::stdio_server();
    let exchange = async {
        let mut send = async |message: Value| {
            stdin.write_all(format!("{message}\n").as_bytes()).await.expect("write to the server");
            stdin.flush().await.expect("flush");
        };
        let initialize = json!({ "clientName": "stdio", "binaryOutput": true });
        send(json!({ "id": 1, "method": "initialize", "params": initialize })).await;
        send(json!({ "method": "initialized" })).await;
        send(json!({ "id": 2, "method": "process/start", "params": start_params("echo", &["echo", "hi"]) }))
            .await;
        let mut output = Vec::new();
        loop {
            let line = lines.next_line().await.expect("read").expect("the server closed stdout");
            let message: Value =
                serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}"));
            if message["id"] == json!(1) {
                let result = &message["result"];
                assert_eq!(result.get("binaryOutput"), None, "not confirmed over stdio: {result}");
                let capabilities = result["capabilities"].as_array().expect("capabilities");
                assert!(!capabilities.iter().any(|name| name == "binaryOutput"), "{result}");
            } else if message["method"] == "process/output" {
                output.extend(decode_base64(message["params"]["chunk"].as_str().expect("a base64 chunk")));
            } else if message["method"] == "process/closed" {
                break;
            }
        }
        assert_eq!(output, b"hi\n");
    };
    tokio::time::timeout(DEFAULT_DEADLINE, exchange).await.expect("the stdio exchange timed out");
}
