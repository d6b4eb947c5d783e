//! W3C trace context (issue 15, item 3): a request's `trace.traceparent`, as the current Codex
//! client sends it, is carried on the span of that request, so the server's JSON log lines for
//! it can be joined to the orchestrator's trace. OTLP export is not built (see
//! `docs/operations.md`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{DEFAULT_DEADLINE, RawClient, Target};

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
