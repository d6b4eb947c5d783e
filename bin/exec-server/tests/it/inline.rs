//! The inline wait on `process/start` (capability `startWait`, issue 13): the answer carries the
//! output, exit and close that came within the budgets, the rest streams as notifications from
//! `nextSeq` on, with no seq sent twice and none missing; a client that does not ask sees the
//! plain answer.
//!
//! Budgets are made to end deterministically: by the command closing, by the byte budget, or by
//! a command that cannot finish before the test writes to its stdin. Nothing asserts a duration.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use test_support::{
    DEFAULT_DEADLINE, Notification, RawClient, ReadResult, ServerProcess, Target, TempDir, start_params,
};

fn ours() -> Target {
    Target::ours(env!("CARGO_BIN_EXE_exec-server"))
}

async fn connected(server: &ServerProcess) -> RawClient {
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("inline-tests").await;
    client
}

/// The notifications of `process_id` until its `process/closed` and every seq from `from` to it
/// have arrived (others are dropped); a seq twice panics.
async fn collect_from(client: &mut RawClient, process_id: &str, from: u64) -> Vec<Notification> {
    let mut by_seq: BTreeMap<u64, Notification> = BTreeMap::new();
    loop {
        for event in client.notifications_for(process_id) {
            let seq = event.seq().unwrap();
            if let Some(previous) = by_seq.insert(seq, event.clone()) {
                panic!("seq {seq} sent twice: {previous:?} and {event:?}");
            }
        }
        let closed =
            by_seq.values().find(|event| event.method == "process/closed").and_then(Notification::seq);
        if let Some(closed) = closed
            && (from..=closed).all(|seq| by_seq.contains_key(&seq))
        {
            return by_seq.into_values().collect();
        }
        let next = client.next_notification(DEFAULT_DEADLINE).await;
        if next.process_id() == Some(process_id) {
            let seq = next.seq().unwrap();
            if let Some(previous) = by_seq.insert(seq, next.clone()) {
                panic!("seq {seq} sent twice: {previous:?} and {next:?}");
            }
        }
    }
}

/// Waits (asking `process/list`) until the session has spawned `process_id`.
async fn wait_until_listed(client: &mut RawClient, process_id: &str) {
    loop {
        let list = client.request_ok("process/list", json!({})).await;
        if list["processes"].as_array().unwrap().iter().any(|entry| entry["processId"] == process_id) {
            return;
        }
    }
}

/// `process/start` with `wait`; returns the whole result and its `read`, decoded.
async fn start_waiting(client: &mut RawClient, mut params: Value, wait: Value) -> (Value, ReadResult) {
    params["wait"] = wait;
    let process_id = params["processId"].as_str().unwrap().to_owned();
    let result = client.request_ok("process/start", params).await;
    assert_eq!(result["processId"], process_id.as_str(), "{result}");
    assert_eq!(result["sandboxType"], "none", "{result}");
    // Nothing of the process overtook its answer.
    assert_eq!(client.notifications_for(&process_id), Vec::new(), "notifications before the answer");
    let read = ReadResult::from_value(result["read"].clone());
    (result, read)
}

/// The inline answer and the notifications after it, as one seq-indexed history: every seq from
/// 1 to the close exactly once, the notifications all at or above the answer's `nextSeq`.
/// Returns the output (seq order) and the exit code.
async fn whole_history(client: &mut RawClient, process_id: &str, inline: &ReadResult) -> (Vec<u8>, i64) {
    let mut history: BTreeMap<u64, (String, Vec<u8>)> = BTreeMap::new();
    for chunk in &inline.chunks {
        assert!(
            chunk.seq < inline.next_seq,
            "inline chunk {} at or past nextSeq {}",
            chunk.seq,
            inline.next_seq
        );
        history.insert(chunk.seq, ("process/output".to_owned(), chunk.bytes.clone()));
    }
    let mut exit_code = inline.exit_code;
    if !inline.closed {
        let run = collect_from(client, process_id, inline.next_seq).await;
        for event in run {
            let seq = event.seq().unwrap();
            assert!(
                seq >= inline.next_seq,
                "seq {seq} below the inline nextSeq {} sent again",
                inline.next_seq
            );
            if event.method == "process/exited" {
                exit_code = event.params["exitCode"].as_i64();
            }
            let previous = history.insert(seq, (event.method.clone(), event.chunk().unwrap_or_default()));
            assert!(previous.is_none(), "seq {seq} twice");
        }
    }
    // The seqs the answer holds but names no chunk for: the exit, and the close when closed.
    let top = history.keys().next_back().copied().unwrap_or(0).max(inline.next_seq - 1);
    let holes = (1..=top).filter(|seq| !history.contains_key(seq)).count();
    let inline_flags = usize::from(inline.exited) + usize::from(inline.closed);
    assert_eq!(holes, inline_flags, "seqs missing: {:?} (inline {inline:?})", history.keys());
    let output = history
        .values()
        .filter(|(method, _)| method == "process/output")
        .flat_map(|(_, bytes)| bytes.iter().copied())
        .collect();
    (output, exit_code.expect("an exit code"))
}

#[tokio::test]
async fn the_capability_is_advertised_and_a_client_that_does_not_ask_gets_the_plain_answer() {
    let server = ours().spawn().await;
    let mut client = RawClient::connect(server.url()).await;
    let init = client.request_ok("initialize", json!({ "clientName": "inline-tests" })).await;
    client.notify("initialized", Value::Null).await;
    let capabilities = init["capabilities"].as_array().unwrap();
    assert!(capabilities.contains(&json!("startWait")), "{init}");

    let result = client.request_ok("process/start", start_params("plain", &["/bin/echo", "hi"])).await;
    assert_eq!(result, json!({ "processId": "plain", "sandboxType": "none" }));
    let run = client.collect_until_closed("plain").await;
    assert_eq!(run.output(), b"hi\n");
    assert_eq!(run.exit_code(), Some(0));
}

#[tokio::test]
async fn a_short_command_is_answered_whole_inside_start() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    let params = start_params("short", &["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]);
    let (_, read) = start_waiting(&mut client, params, json!({ "timeoutMs": 60000 })).await;
    assert!(read.exited && read.closed, "{read:?}");
    assert_eq!(read.exit_code, Some(3));
    assert_eq!(read.raw["sandboxDenied"], false);
    let mut stdout: Vec<u8> = Vec::new();
    let mut stderr: Vec<u8> = Vec::new();
    for chunk in &read.chunks {
        if chunk.stream == "stdout" { &mut stdout } else { &mut stderr }.extend(&chunk.bytes);
    }
    assert_eq!((stdout.as_slice(), stderr.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
    // Two chunks, the exit and the close: every seq of the process is in the answer.
    assert_eq!(read.next_seq, 5, "{read:?}");
    let (output, code) = whole_history(&mut client, "short", &read).await;
    assert_eq!((output.len(), code), (8, 3));

    // Nothing of `short` follows its answer: a later process's whole run comes first.
    client.request_ok("process/start", start_params("after", &["/bin/true"])).await;
    client.collect_until_closed("after").await;
    assert_eq!(client.notifications_for("short"), Vec::new());
}

/// The time budget ends first: the answer has what there was, and the rest (written only once
/// the test sends a line) comes as notifications from `nextSeq`.
#[tokio::test]
async fn a_long_command_is_answered_at_the_time_budget_and_then_streams() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    let mut params = start_params("long", &["/bin/sh", "-c", "echo a; read line; echo b; exit 4"]);
    params["pipeStdin"] = json!(true);
    let (_, read) = start_waiting(&mut client, params, json!({ "timeoutMs": 300 })).await;
    assert!(!read.exited && !read.closed, "{read:?}");
    // `a` came within the budget on any sane machine, but the test only relies on seq order.
    assert!(read.output() == b"a\n" || read.output().is_empty(), "{read:?}");
    assert_eq!(client.write("long", b"go\n").await.unwrap(), "accepted");
    let (output, code) = whole_history(&mut client, "long", &read).await;
    assert_eq!((output.as_slice(), code), (&b"a\nb\n"[..], 4));
}

/// The byte budget ends first: the answer stops at it and the rest streams.
#[tokio::test]
async fn the_byte_budget_answers_early_and_the_rest_streams() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    let params = start_params("big", &["/bin/sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x"]);
    let (_, read) = start_waiting(&mut client, params, json!({ "timeoutMs": 60000, "maxBytes": 1000 })).await;
    assert!(!read.closed, "{read:?}");
    assert!(!read.chunks.is_empty());
    // Within the budget, except that the first chunk always comes whole.
    assert!(read.chunks.len() == 1 || read.output().len() <= 1000, "{read:?}");
    let (output, code) = whole_history(&mut client, "big", &read).await;
    assert_eq!((output.len(), code), (300000, 0));
    assert!(output.iter().all(|&byte| byte == b'x'));

    // A budget of one byte answers with the first chunk.
    let mut params = start_params("one", &["/bin/sh", "-c", "echo a; read line; echo b"]);
    params["pipeStdin"] = json!(true);
    let (_, read) = start_waiting(&mut client, params, json!({ "timeoutMs": 60000, "maxBytes": 1 })).await;
    assert_eq!((read.output().as_slice(), read.next_seq, read.closed), (&b"a\n"[..], 2, false));
    client.write("one", b"\n").await.unwrap();
    let (output, code) = whole_history(&mut client, "one", &read).await;
    assert_eq!((output.as_slice(), code), (&b"a\nb\n"[..], 0));
}

/// A drop after the inline answer, and a drop during the inline wait: the process lives on and
/// a resumed client catches up with `process/read` from the answer's `nextSeq` (or from 0).
#[tokio::test]
async fn a_resumed_client_catches_up_after_a_drop() {
    let server = ours().spawn().await;
    let mut client = RawClient::connect(server.url()).await;
    let session = client.initialize("inline-tests").await;
    let mut params = start_params("answered", &["/bin/sh", "-c", "echo a; read line; echo b"]);
    params["pipeStdin"] = json!(true);
    let (_, read) = start_waiting(&mut client, params, json!({ "timeoutMs": 60000, "maxBytes": 1 })).await;
    assert_eq!(read.output(), b"a\n");
    // Dropped while the next start is still waiting inline: it has no answer, but it ran.
    let mut params = start_params("waiting", &["/bin/sh", "-c", "read line; echo c"]);
    params["pipeStdin"] = json!(true);
    params["wait"] = json!({ "timeoutMs": 60000 });
    client.send_request("process/start", params).await;
    wait_until_listed(&mut client, "waiting").await;
    client.close().await;

    let mut resumed = RawClient::connect(server.url()).await;
    resumed.resume("inline-tests", &session).await.unwrap();
    resumed.write("answered", b"\n").await.unwrap();
    resumed.write("waiting", b"\n").await.unwrap();
    let rest = resumed.read_all("answered", read.next_seq - 1).await;
    assert_eq!((rest.output().as_slice(), rest.exit_code), (&b"b\n"[..], Some(0)));
    assert!(rest.chunks.iter().all(|chunk| chunk.seq >= read.next_seq));
    let all = resumed.read_all("waiting", 0).await;
    assert_eq!((all.output().as_slice(), all.exit_code), (&b"c\n"[..], Some(0)));
}

#[tokio::test]
async fn budgets_beyond_the_caps_are_refused() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    let mut params = start_params("refused", &["/bin/true"]);
    params["wait"] = json!({ "timeoutMs": 300001 });
    let error = client.request_error("process/start", params.clone()).await;
    assert_eq!(
        (error.code, error.message.as_str()),
        (-32602, "wait.timeoutMs is 300001; the limit is 300000")
    );
    params["wait"] = json!({ "timeoutMs": 10, "maxBytes": 0 });
    let error = client.request_error("process/start", params.clone()).await;
    assert_eq!(
        (error.code, error.message.as_str()),
        (-32602, "wait.maxBytes is 0; it must be between 1 and 1048576")
    );
    // A refused start started nothing: the id is still free.
    params["wait"] = json!({ "timeoutMs": 60000 });
    let (_, read) = start_waiting(&mut client, params, json!({ "timeoutMs": 60000 })).await;
    assert!(read.closed);
}

/// `sandboxDenied` in the inline answer is judged as in `process/read`: a sandboxed command that
/// failed with a denial text is `true`, one that succeeded `false`.
#[tokio::test]
async fn the_inline_answer_of_a_sandboxed_command_says_whether_the_sandbox_denied_it() {
    let server = ours().spawn().await;
    let mut client = connected(&server).await;
    let workspace = TempDir::new("inline-sandbox");
    let uri = format!("file://{}", workspace.path().display());
    // `codex exec --sandbox read-only` as the 0.171 client sends it on `process/start`.
    let read_only = json!({
        "permissions": {"type": "managed", "network": "restricted", "file_system": {"type": "restricted",
            "entries": [{"access": "read", "path": {"type": "special", "value": {"kind": "root"}}}]}},
        "cwd": uri, "workspaceRoots": [uri],
        "windowsSandboxLevel": "disabled", "windowsSandboxProxySettingsMode": "reconcile",
        "useLegacyLandlock": false
    });
    let target = workspace.path().join("written");
    for (id, script, code, denied) in [
        ("denied", format!("echo x > '{}'", target.display()), 1, true),
        ("allowed", "echo x".to_owned(), 0, false),
    ] {
        let mut params = start_params(id, &["/bin/bash", "-c", &script]);
        params["cwd"] = json!(uri);
        params["sandbox"] = read_only.clone();
        params["wait"] = json!({ "timeoutMs": 60000 });
        let result = client.request_ok("process/start", params).await;
        assert_eq!(result["sandboxType"], "linuxSeccomp", "{result}");
        let read = ReadResult::from_value(result["read"].clone());
        assert!(read.closed, "{id}: {read:?}");
        assert_eq!(
            (read.exit_code, &read.raw["sandboxDenied"]),
            (Some(code), &json!(denied)),
            "{id}: {read:?}"
        );
    }
    assert!(!target.exists(), "a write under read-only happened");
}
