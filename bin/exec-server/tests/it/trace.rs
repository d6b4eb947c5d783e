//! W3C trace context (issue 15, item 3): a request's `trace.traceparent`, as the current Codex
//! client sends it, is carried on the span of that request, so the server's JSON log lines for
//! it can be joined to the orchestrator's trace; with the `otlp` feature, the request is also
//! exported as an OTLP span, a child of the caller's. And every log line about a process names
//! its session and the process (issue 15, item 2).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{DEFAULT_DEADLINE, RawClient, Target, TempDir, start_params};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn traceparent_is_on_the_request_span() {
    let server = Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(|command| {
            command.args(["--log-format", "json"]).env("RUST_LOG", "exec_transport=debug");
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("trace").await;
    client
        .send_json(json!({
            "id": 77, "method": "process/list", "params": {},
            "trace": { "traceparent": TRACEPARENT, "tracestate": "vendor=x" },
        }))
        .await;
    client.response(77).await.expect("process/list answers");

    let until = Instant::now() + DEFAULT_DEADLINE;
    loop {
        let output = server.captured_output();
        let traced =
            output.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).find(|line| {
                line["spans"]
                    .as_array()
                    .is_some_and(|spans| spans.iter().any(|span| span["traceparent"] == TRACEPARENT))
            });
        if let Some(line) = traced {
            let request = line["spans"]
                .as_array()
                .and_then(|spans| spans.iter().find(|span| span["name"] == "request"));
            assert_eq!(request.map(|span| span["method"].clone()), Some(json!("process/list")), "{line}");
            // The connection span names the session on the same line.
            let connection = line["spans"][0].clone();
            assert!(connection["session"].is_string(), "{line}");
            return;
        }
        assert!(Instant::now() < until, "no log line carried the traceparent:\n{output}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The values of `key` on a JSON log line: in its own fields and in every span it is in.
fn values<'a>(line: &'a Value, key: &str) -> Vec<&'a Value> {
    let spans = line["spans"].as_array().into_iter().flatten();
    std::iter::once(&line["fields"]).chain(spans).filter_map(|place| place.get(key)).collect()
}

/// Lines of a request (in the request span, under the connection's), of the engine's tasks for a
/// process and of its watcher (in the process's span) all carry `session` and `process`.
#[tokio::test]
async fn log_lines_about_a_process_carry_its_session_and_process() {
    let folder = TempDir::new("log-fields");
    let server = Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(|command| {
            // The audit log goes to a file, so stderr holds only the log.
            command.args(["--log-format", "json"]).arg("--audit-log").arg(folder.path().join("audit"));
            command.env("RUST_LOG", "exec_transport=debug,exec_engine=debug");
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    let session = client.initialize("log-fields").await;
    client.request_ok("process/start", start_params("p1", &["printf", "hi"])).await;
    client.collect_until_closed("p1").await;
    client.request_ok("process/read", json!({ "processId": "p1" })).await;
    client.request_error("process/read", json!({ "processId": "p2" })).await;

    // One line from each source: the engine's watcher of the child, the server's watcher of the
    // process, and a request answered (for a process that exists, and one that does not).
    let expected = [("child exited", "p1"), ("process ended", "p1"), ("answered", "p1"), ("answered", "p2")];
    let until = Instant::now() + DEFAULT_DEADLINE;
    let lines = loop {
        let output = server.captured_output();
        let lines: Vec<Value> = output
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line.get("level").is_some())
            .collect();
        let found = |(message, process): &(&str, &str)| {
            lines.iter().any(|line| {
                line["fields"]["message"] == *message && values(line, "process").contains(&&json!(process))
            })
        };
        if expected.iter().all(found) {
            break lines;
        }
        assert!(Instant::now() < until, "missing lines among {expected:?}:\n{output}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut about_a_process = 0;
    for line in &lines {
        let processes = values(line, "process");
        if processes.is_empty() {
            continue;
        }
        about_a_process += 1;
        assert!(values(line, "session").contains(&&json!(session)), "no session on {line}");
        assert!(
            processes.iter().all(|process| ["p1", "p2"].contains(&process.as_str().unwrap_or_default())),
            "{line}"
        );
    }
    assert!(about_a_process >= expected.len(), "{lines:#?}");
}

/// With the `otlp` feature, a traced request is exported as an OTLP/HTTP JSON span, a child of
/// the caller's span, to `$OTEL_EXPORTER_OTLP_ENDPOINT` (here a collector the test plays).
#[cfg(feature = "otlp")]
#[tokio::test]
async fn traced_requests_are_exported_over_otlp() {
    use tokio::io::AsyncWriteExt;

    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the collector");
    let endpoint = format!("http://{}", collector.local_addr().expect("collector address"));
    let server = Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(|command| {
            command.env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("otlp").await;
    client
        .send_json(json!({
            "id": 5, "method": "process/list", "params": {}, "trace": { "traceparent": TRACEPARENT },
        }))
        .await;
    client.response(5).await.expect("process/list answers");

    // The batch exporter may send the `initialize` span in an export of its own before the one
    // holding `process/list`: read exports (on one kept-alive connection or new ones) until the
    // span shows up.
    let receive = async {
        loop {
            let (mut stream, _) = collector.accept().await.expect("the exporter connects");
            while let Some(body) = read_export(&mut stream).await {
                stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await.expect("answer");
                let spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().cloned();
                if let Some(span) = spans.into_iter().flatten().find(|span| span["name"] == "process/list") {
                    return span;
                }
            }
        }
    };
    let span =
        tokio::time::timeout(DEFAULT_DEADLINE, receive).await.expect("no export of process/list arrived");
    assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736", "{span}");
    assert_eq!(span["parentSpanId"], "00f067aa0ba902b7", "{span}");
    assert!(span["spanId"].as_str().is_some_and(|id| id.len() == 16 && id != "0000000000000000"), "{span}");
}

/// Reads one OTLP/HTTP export (a POST with a JSON body) from a kept-alive connection; `None`
/// once the exporter closed it.
#[cfg(feature = "otlp")]
async fn read_export(stream: &mut tokio::net::TcpStream) -> Option<Value> {
    use tokio::io::AsyncReadExt;

    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    let (head_end, length) = loop {
        let read = stream.read(&mut buffer).await.expect("read the export");
        if read == 0 {
            assert!(
                received.is_empty(),
                "the exporter closed mid-request: {}",
                String::from_utf8_lossy(&received)
            );
            return None;
        }
        received.extend_from_slice(&buffer[..read]);
        if let Some(at) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..at]).to_ascii_lowercase();
            assert!(head.starts_with("post /v1/traces "), "{head}");
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .expect("a Content-Length");
            break (at + 4, length);
        }
    };
    while received.len() < head_end + length {
        let read = stream.read(&mut buffer).await.expect("read the body");
        assert!(read > 0, "the body ended early");
        received.extend_from_slice(&buffer[..read]);
    }
    Some(serde_json::from_slice(&received[head_end..head_end + length]).expect("a JSON body"))
}
