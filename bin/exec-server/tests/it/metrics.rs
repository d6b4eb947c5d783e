//! `/metrics` against the real binary (issue 15, item 1): behind the token, and each family moves
//! as processes run, the sandbox denials included (a sandboxed write outside the workspace, which
//! ends while its session is detached and is then read and seen again: counted exactly once).
//!
//! Values are awaited by scraping again until they arrive, with a deadline; nothing sleeps for a
//! fixed time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use test_support::{DEFAULT_DEADLINE, RawClient, ServerProcess, Target, TempDir, start_params};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "metrics-token";

/// The status and body of `GET /metrics`, with `authorization` as the header's value if any.
async fn get_metrics(server: &ServerProcess, authorization: Option<&str>) -> (u16, String) {
    let authority = server.url().strip_prefix("ws://").expect("a ws:// URL").to_owned();
    let header = authorization.map(|value| format!("Authorization: {value}\r\n")).unwrap_or_default();
    let exchange = async {
        let mut stream = TcpStream::connect(&authority).await.expect("TCP connect");
        let request = format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{header}\r\n");
        stream.write_all(request.as_bytes()).await.expect("write the request");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read the response");
        String::from_utf8(response).expect("UTF-8")
    };
    let response = tokio::time::timeout(DEFAULT_DEADLINE, exchange).await.expect("the scrape timed out");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).expect("a status");
    (status, body.to_owned())
}

/// `name{labels}` → value, from the exposition text.
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
            (name.to_owned(), value.parse().unwrap_or_else(|_| panic!("not a number: {line}")))
        })
        .collect()
}

async fn scrape(server: &ServerProcess) -> BTreeMap<String, f64> {
    let (status, body) = get_metrics(server, None).await;
    assert_eq!(status, 200, "{body}");
    samples(&body)
}

/// Scrapes until `sample` reaches at least `at_least`.
async fn wait_for(server: &ServerProcess, sample: &str, at_least: f64) {
    let until = Instant::now() + DEFAULT_DEADLINE;
    loop {
        let now = scrape(server).await;
        if now.get(sample).is_some_and(|value| *value >= at_least) {
            return;
        }
        assert!(Instant::now() < until, "{sample} never reached {at_least}: {now:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn metrics_are_behind_the_token() {
    let folder = TempDir::new("metrics");
    let token_file = folder.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("write the token");
    let server = Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(|command| {
            command.arg("--auth-token-file").arg(&token_file);
        })
        .await;
    assert_eq!(get_metrics(&server, None).await.0, 401);
    assert_eq!(get_metrics(&server, Some("Bearer wrong")).await.0, 401);
    let (status, body) = get_metrics(&server, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, 200);
    assert!(samples(&body).contains_key("exec_server_connections"), "{body}");
}

#[tokio::test]
async fn every_family_moves_as_processes_run() {
    let server = Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(|command| {
            // Exited processes do not count toward it (issue 12): two running ones fill it.
            command.args(["--max-processes-per-session", "2", "--max-sessions", "1"]);
        })
        .await;
    let before = scrape(&server).await;
    assert_eq!(before["exec_server_connections"], 0.0);
    assert_eq!(before["exec_server_process_starts_total{outcome=\"ok\"}"], 0.0);

    let mut client = RawClient::connect(server.url()).await;
    let session = client.initialize("metrics").await;
    client.request_ok("process/start", start_params("echo", &["echo", "hello"])).await;
    client.collect_until_closed("echo").await;
    client.request_ok("process/start", start_params("sleeper", &["sleep", "300"])).await;
    let missing =
        client.request_error("process/start", start_params("missing", &["/nonexistent/binary"])).await;
    assert_eq!(missing.code, -32603);
    client.request_ok("process/start", start_params("third", &["sleep", "300"])).await;
    let refused = client.request_error("process/start", start_params("fourth", &["true"])).await;
    assert_eq!(refused.code, -32600, "{refused:?}");
    client.request_ok("process/read", json!({ "processId": "echo" })).await;

    let during = scrape(&server).await;
    assert_eq!(during["exec_server_connections"], 1.0);
    assert_eq!(during["exec_server_sessions{state=\"attached\"}"], 1.0);
    assert!(during["exec_server_processes{state=\"running\"}"] >= 1.0, "{during:#?}");
    assert!(during["exec_server_processes{state=\"exited\"}"] >= 1.0, "{during:#?}");
    assert_eq!(during["exec_server_process_starts_total{outcome=\"ok\"}"], 3.0);
    assert_eq!(during["exec_server_process_starts_total{outcome=\"spawn_failed\"}"], 1.0);
    assert_eq!(during["exec_server_process_starts_total{outcome=\"limit\"}"], 1.0);
    assert_eq!(during["exec_server_limits_hit_total{limit=\"processes\"}"], 1.0);
    assert_eq!(during["exec_server_limits_hit_total{limit=\"sessions\"}"], 0.0);
    assert_eq!(during["exec_server_spawn_seconds_count"], 3.0);
    assert_eq!(during["exec_server_spawn_seconds_bucket{le=\"+Inf\"}"], 3.0);
    assert!(during["exec_server_spawn_seconds_sum"] > 0.0);
    assert_eq!(during["exec_server_requests_total{method=\"process/start\"}"], 5.0);
    assert_eq!(during["exec_server_request_errors_total{method=\"process/start\",code=\"-32603\"}"], 1.0);
    assert_eq!(during["exec_server_requests_total{method=\"process/read\"}"], 1.0);
    wait_for(&server, "exec_server_output_bytes_total{stream=\"stdout\"}", 6.0).await;

    // A resume that takes the session over from the still-attached connection.
    let mut second = RawClient::connect(server.url()).await;
    second.resume("metrics", &session).await.expect("resume");
    wait_for(&server, "exec_server_takeovers_total", 1.0).await;
    let after = scrape(&server).await;
    assert_eq!(after["exec_server_resumes_total"], 1.0);
    assert_eq!(after["exec_server_connections_total"], 2.0);
    drop(client);
    // A second session is over `--max-sessions`.
    let mut refused_session = RawClient::connect(server.url()).await;
    let refused = refused_session.request_error("initialize", json!({ "clientName": "other" })).await;
    assert_eq!(refused.code, -32600, "{refused:?}");
    refused_session.close().await;
    assert_eq!(scrape(&server).await["exec_server_limits_hit_total{limit=\"sessions\"}"], 1.0);

    // A PTY's bytes are their own stream.
    second.request_ok("process/terminate", json!({ "processId": "sleeper" })).await;
    second.collect_until_closed("sleeper").await;
    let mut tty = start_params("tty", &["printf", "on a tty"]);
    tty["tty"] = json!(true);
    second.request_ok("process/start", tty).await;
    second.collect_until_closed("tty").await;
    wait_for(&server, "exec_server_output_bytes_total{stream=\"pty\"}", 8.0).await;

    // A sandboxed write outside the workspace (Codex's workspace-write intent), refused by the
    // kernel. It waits for a file the test creates once the session is detached, so no
    // notification pump sees its end: only the watcher of every process can count it.
    let workspace = TempDir::new("metrics-workspace");
    let outside = TempDir::new("metrics-outside");
    let go = workspace.path().join("go");
    let script = format!(
        "while [ ! -e '{}' ]; do sleep 0.01; done; echo x > '{}/denied'",
        go.display(),
        outside.path().display()
    );
    let mut denied = start_params("denied", &["/bin/bash", "-c", &script]);
    denied["cwd"] = json!(super::codex171::uri(workspace.path()));
    denied["sandbox"] = super::codex171::workspace_write(workspace.path());
    second.request_ok("process/start", denied).await;
    second.close().await;
    wait_for(&server, "exec_server_sessions{state=\"detached\"}", 1.0).await;
    let stderr_before = scrape(&server).await["exec_server_output_bytes_total{stream=\"stderr\"}"];
    std::fs::write(&go, "").expect("create the go file");
    wait_for(&server, "exec_server_sandbox_denials_total", 1.0).await;
    assert!(!outside.path().join("denied").exists(), "the sandbox let the write through");
    let ended = scrape(&server).await;
    assert!(ended["exec_server_output_bytes_total{stream=\"stderr\"}"] > stderr_before, "{ended:#?}");
    // Seen again by a resumed client (a read, and a notification pump from now on): still one.
    let mut third = RawClient::connect(server.url()).await;
    third.resume("metrics", &session).await.expect("resume");
    let read = third.request_ok("process/read", json!({ "processId": "denied", "afterSeq": 0 })).await;
    assert_eq!(read["sandboxDenied"], json!(true), "{read}");
    third.close().await;
    wait_for(&server, "exec_server_sessions{state=\"detached\"}", 1.0).await;
    assert_eq!(scrape(&server).await["exec_server_sandbox_denials_total"], 1.0);
}

/// Output evicted while the session was detached is reported by the next `process/read` as
/// `droppedBefore`, and counted as a gap.
#[tokio::test]
async fn an_eviction_while_detached_counts_as_a_gap() {
    let folder = TempDir::new("metrics-gap");
    let go = folder.path().join("go");
    let server = Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(|command| {
            command.args(["--retention-bytes", "1024", "--session-ttl", "1m"]);
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    let session = client.initialize("gap").await;
    // The output starts only once `go` exists, which the test creates after detaching, so no
    // subscriber can hold it back and retention must evict.
    let script = format!("while [ ! -e {} ]; do sleep 0.01; done; head -c 100000 /dev/zero", go.display());
    client.request_ok("process/start", start_params("flood", &["sh", "-c", &script])).await;
    client.close().await;
    wait_for(&server, "exec_server_sessions{state=\"detached\"}", 1.0).await;
    std::fs::write(&go, "").expect("create the go file");
    wait_for(&server, "exec_server_output_bytes_total{stream=\"stdout\"}", 100_000.0).await;

    let mut resumed = RawClient::connect(server.url()).await;
    resumed.resume("gap", &session).await.expect("resume");
    let read = resumed.request_ok("process/read", json!({ "processId": "flood", "afterSeq": 0 })).await;
    assert!(read["droppedBefore"].is_u64(), "{read}");
    assert_eq!(scrape(&server).await["exec_server_output_gaps_total"], 1.0);
}
