//! The audit log against the real binary (issue 15, item 2): a JSON line per process start and
//! end, in the `--audit-log` file, with names but never values of the environment, for exits
//! while attached, by a signal, while detached (session expiry), and killed by the stop.
//!
//! Waits poll the file with a deadline; nothing sleeps for a fixed time or asserts durations.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{DEFAULT_DEADLINE, RawClient, Signal, Target, TempDir, start_params};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

/// Waits until the audit file holds a record of `event` for `process_id`.
async fn record_of(path: &Path, event: &str, process_id: &str) -> Value {
    let until = Instant::now() + DEFAULT_DEADLINE;
    loop {
        if let Some(record) = records(path)
            .into_iter()
            .find(|record| record["event"] == event && record["processId"] == process_id)
        {
            return record;
        }
        assert!(Instant::now() < until, "no {event} of {process_id} in {:?}", records(path));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn every_start_and_exit_is_audited_without_secret_values() {
    let folder = TempDir::new("audit");
    let audit = folder.path().join("audit.jsonl");
    let server = Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(|command| {
            command.arg("--audit-log").arg(&audit).args(["--session-ttl", "100ms"]);
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    let session = client.initialize("audit-test").await;

    let mut params = start_params("talk", &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    params["env"]["API_SECRET_TOKEN"] = json!("hunter2-value");
    // As the current Codex client sends it: the start line carries the traceparent.
    client
        .send_json(json!({
            "id": 99, "method": "process/start", "params": params,
            "trace": { "traceparent": TRACEPARENT },
        }))
        .await;
    client.response(99).await.expect("process/start");
    client.collect_until_closed("talk").await;
    client.request_ok("process/start", start_params("victim", &["sleep", "300"])).await;
    client.request_ok("process/terminate", json!({ "processId": "victim" })).await;

    let start = record_of(&audit, "process.start", "talk").await;
    assert_eq!(start["session"], session.as_str());
    assert_eq!(start["client"], "audit-test");
    assert_eq!(start["argv"], json!(["sh", "-c", "echo out; echo err >&2; exit 3"]));
    assert_eq!(start["cwd"], "/");
    assert_eq!(start["tty"], false);
    assert_eq!(start["sandbox"], "none");
    assert_eq!(start["traceparent"], TRACEPARENT);
    assert_eq!(start["envPolicy"], false);
    assert_eq!(start["envNames"], json!(["API_SECRET_TOKEN", "PATH"]));
    assert!(start["pid"].as_u64().is_some_and(|pid| pid > 0), "{start}");
    assert!(start["time"].as_str().is_some_and(|time| time.ends_with('Z')), "{start}");

    let exit = record_of(&audit, "process.exit", "talk").await;
    assert_eq!(exit["session"], session.as_str());
    assert_eq!(exit["pid"], start["pid"]);
    assert_eq!((exit["exitCode"].clone(), exit["signal"].clone()), (json!(3), Value::Null));
    assert_eq!((exit["stdoutBytes"].clone(), exit["stderrBytes"].clone()), (json!(4), json!(4)));
    assert!(exit["durationMs"].is_u64(), "{exit}");

    let killed = record_of(&audit, "process.exit", "victim").await;
    let untraced = record_of(&audit, "process.start", "victim").await;
    assert_eq!(untraced["traceparent"], Value::Null, "{untraced}");
    assert_eq!((killed["exitCode"].clone(), killed["signal"].clone()), (Value::Null, json!(9)));

    // A process that ends while nobody is attached (its session expires) is audited too.
    let mut other = RawClient::connect(server.url()).await;
    other.initialize("detaching").await;
    other.request_ok("process/start", start_params("orphan", &["sleep", "300"])).await;
    other.close().await;
    let expired = record_of(&audit, "process.exit", "orphan").await;
    assert_eq!(expired["client"], "detaching");
    assert_eq!(expired["signal"], 9);

    let everything = std::fs::read_to_string(&audit).expect("read the audit log");
    assert!(!everything.contains("hunter2"), "a secret value reached the audit log:\n{everything}");
    assert!(!server.captured_output().contains("hunter2"), "a secret value reached the log");
}

#[tokio::test]
async fn processes_killed_by_the_stop_are_audited() {
    let folder = TempDir::new("audit-stop");
    let audit = folder.path().join("audit.jsonl");
    let mut server = Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(|command| {
            command.arg("--audit-log").arg(&audit).args(["--drain-timeout", "0s"]);
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("audit-stop").await;
    client.request_ok("process/start", start_params("long", &["sleep", "300"])).await;
    record_of(&audit, "process.start", "long").await;

    server.terminate_with(Signal::SIGTERM).expect("SIGTERM the server");
    let exited = server.wait_with_deadline(DEFAULT_DEADLINE).await.expect("wait for the server");
    assert!(exited.is_some_and(|status| status.success()), "{}", server.captured_output());
    // The server has exited: the line is in the file now or never.
    let end = records(&audit).into_iter().find(|record| record["event"] == "process.exit");
    let end = end.unwrap_or_else(|| panic!("no end line after the stop: {:?}", records(&audit)));
    assert_eq!((end["processId"].clone(), end["signal"].clone()), (json!("long"), json!(9)));
}
