//! Conformance cases: the shared, non-extension subset of the protocol (SPEC.md §4–§6).
//!
//! Each case is an `async fn(Target)` that starts its own server, so cases are independent and
//! run in parallel. [`CASES`] lists them all for any runner that wants to loop; the
//! `conformance_cases!` invocation at the bottom also turns each into two tests:
//! - `conformance::ours::<case>` against the built `exec-server` binary, always;
//! - `conformance::peer::<case>` against the Codex peer when `EXEC_PEER_CODEX` names its `codex`
//!   binary (`cargo xtask peer-test` installs it and sets the variable); without it, it passes
//!   after printing that it did not run.
//!
//! The expected values are what the peer (`@openai/codex@0.123.0`) actually answers. Where our
//! server is documented to go further (seq-ordered delivery, exit after all output, 128+N exit
//! codes for signals), a case asserts only what both servers share; those guarantees belong in
//! our own tests. Extensions (`eof`, `graceMs`, `process/signal`, takeover on resume, ...) are out
//! of scope here.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;

use serde_json::{Value, json};
use test_support::{ErrorObject, RawClient, ServerProcess, Target, TempDir, start_params};

/// One named conformance case.
#[allow(dead_code, reason = "read by runners that loop over CASES, such as a future transport variant")]
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub run: fn(Target) -> Pin<Box<dyn Future<Output = ()>>>,
}

/// A server with a connection that has completed the handshake.
struct Connected {
    /// Kept alive for the whole case; dropping it kills the server.
    server: ServerProcess,
    client: RawClient,
    session_id: String,
}

async fn connected(target: &Target) -> Connected {
    let server = target.spawn().await;
    let mut client = RawClient::connect(server.url()).await;
    let session_id = client.initialize("conformance").await;
    Connected { server, client, session_id }
}

#[track_caller]
fn assert_error(error: &ErrorObject, code: i64, message: &str) {
    assert_eq!((error.code, error.message.as_str()), (code, message), "whole error: {error:?}");
}

#[track_caller]
fn assert_uuid_v4(text: &str) {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        });
    assert!(shape_ok, "{text:?} is not a UUID");
    assert_eq!(bytes[14], b'4', "{text:?} is not a version 4 UUID");
    assert!(b"89abAB".contains(&bytes[19]), "{text:?} does not have the RFC 4122 variant");
}

/// `NAME=value` lines (as printed by `env`) into a map.
fn parse_env(output: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(output)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// The complete `envPolicy` object: the peer rejects one that leaves out any of these fields.
fn env_policy(inherit: &str) -> Value {
    json!({ "inherit": inherit, "ignoreDefaultExcludes": false, "exclude": [], "set": {}, "includeOnly": [] })
}

// ---------------------------------------------------------------------------------------------
// Handshake and error codes (SPEC §4)

/// Exec methods are refused before `initialize` and before `initialized`; `initialize` is accepted
/// once per connection; the session id is a UUIDv4.
async fn handshake_gating(target: Target) {
    let server = target.spawn().await;
    let mut client = RawClient::connect(server.url()).await;

    let error = client.request_error("process/read", json!({ "processId": "p" })).await;
    assert_error(&error, -32600, "client must call initialize before using exec methods");
    let error = client.request_error("process/start", start_params("p", &["true"])).await;
    assert_error(&error, -32600, "client must call initialize before using exec methods");

    let result = client.request_ok("initialize", json!({ "clientName": "conformance" })).await;
    assert_uuid_v4(result["sessionId"].as_str().expect("sessionId is a string"));

    let error = client.request_error("process/start", start_params("p", &["true"])).await;
    assert_error(&error, -32600, "client must send initialized before using exec methods");
    let error = client.request_error("initialize", json!({ "clientName": "again" })).await;
    assert_error(&error, -32600, "initialize may only be sent once per connection");

    client.notify("initialized", Value::Null).await;
    let error = client.request_error("process/read", json!({ "processId": "p" })).await;
    assert_error(&error, -32600, "unknown process id p");
    let error = client.request_error("initialize", json!({ "clientName": "again" })).await;
    assert_error(&error, -32600, "initialize may only be sent once per connection");
}

/// An unknown method is -32601 whatever the handshake state (the peer does not gate it behind
/// `initialize`). Only the code is pinned: the peer's text calls itself a stub.
async fn unknown_method(target: Target) {
    let server = target.spawn().await;
    let mut client = RawClient::connect(server.url()).await;
    let error = client.request_error("foo/bar", json!({})).await;
    assert_eq!(error.code, -32601, "{error:?}");
    assert!(error.message.contains("foo/bar"), "the message names the method: {error:?}");

    client.initialize("conformance").await;
    let error = client.request_error("foo/bar", json!({})).await;
    assert_eq!(error.code, -32601, "{error:?}");
    assert!(error.message.contains("foo/bar"), "the message names the method: {error:?}");
}

/// Params that do not decode are -32602 with serde's message.
async fn invalid_params(target: Target) {
    let server = target.spawn().await;
    let mut client = RawClient::connect(server.url()).await;
    let error = client.request_error("initialize", json!({})).await;
    assert_error(&error, -32602, "missing field `clientName`");
    client.initialize("conformance").await;

    let error = client.request_error("process/read", json!({ "processId": 5 })).await;
    assert_error(&error, -32602, "invalid type: integer `5`, expected a string");
    let mut params = start_params("p", &["true"]);
    params.as_object_mut().expect("params are an object").remove("argv");
    let error = client.request_error("process/start", params).await;
    assert_error(&error, -32602, "missing field `argv`");
    let mut params = start_params("p", &["true"]);
    params.as_object_mut().expect("params are an object").remove("env");
    let error = client.request_error("process/start", params).await;
    assert_error(&error, -32602, "missing field `env`");

    // No params at all, and a chunk that is not base64: the texts name implementation types.
    let error = client.request_error("process/read", Value::Null).await;
    assert_eq!(error.code, -32602, "{error:?}");
    client.request_ok("process/start", start_params("p", &["true"])).await;
    let error = client.request_error("process/write", json!({ "processId": "p", "chunk": "!!!" })).await;
    assert_eq!(error.code, -32602, "{error:?}");
}

/// A frame that is not JSON gets an error with id -1 and code -32600, and the connection stays
/// usable.
async fn unparseable_frame(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    client.send_text("this is not json").await;
    let response = client.raw_response(json!(-1)).await;
    assert_eq!(response["error"]["code"], json!(-32600), "{response}");
    assert!(response.get("result").is_none(), "{response}");

    let error = client.request_error("process/read", json!({ "processId": "p" })).await;
    assert_error(&error, -32600, "unknown process id p");
}

/// A Binary frame carries a message as well as a Text frame, and `"jsonrpc": "2.0"` is accepted.
async fn binary_frame_and_jsonrpc_member(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let request = json!({
        "jsonrpc": "2.0",
        "id": 1000,
        "method": "process/start",
        "params": start_params("p", &["sh", "-c", "printf ok"]),
    });
    client.send_binary(request.to_string().into_bytes()).await;
    let response = client.raw_response(json!(1000)).await;
    assert_eq!(response["result"]["processId"], json!("p"), "{response}");
    let run = client.collect_until_closed("p").await;
    assert_eq!(run.output(), b"ok");
}

// ---------------------------------------------------------------------------------------------
// Processes and notifications (SPEC §5, §6)

/// `process/start` answers `{processId}`; the process's notifications share one seq counter
/// starting at 1, with exactly one `process/exited` and `process/closed` last.
async fn exit_code_and_seq(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let result =
        client.request_ok("process/start", start_params("p1", &["sh", "-c", "printf hello; exit 3"])).await;
    assert_eq!(result["processId"], json!("p1"), "{result}");
    let run = client.collect_until_closed("p1").await;
    assert_eq!(run.stream_output("stdout"), b"hello");
    assert_eq!(run.exit_code(), Some(3));
    assert_eq!(run.exits().len(), 1, "{run:?}");
    // Shared part only: the peer may number `exited` before trailing output; ours must not.
    let methods: Vec<&str> = run.events.iter().map(|event| event.method.as_str()).collect();
    assert_eq!(methods.last(), Some(&"process/closed"), "{methods:?}");

    client.request_ok("process/start", start_params("p2", &["true"])).await;
    let run = client.collect_until_closed("p2").await;
    let events: Vec<(&str, Option<u64>)> =
        run.events.iter().map(|event| (event.method.as_str(), event.seq())).collect();
    assert_eq!(events, [("process/exited", Some(1)), ("process/closed", Some(2))]);
    assert_eq!(run.exit_code(), Some(0));
}

/// stdout and stderr are separate streams named `stdout` and `stderr`.
async fn stdout_and_stderr(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let argv = ["sh", "-c", "printf out; printf err >&2"];
    client.request_ok("process/start", start_params("p", &argv)).await;
    let run = client.collect_until_closed("p").await;
    assert_eq!(run.stream_output("stdout"), b"out");
    assert_eq!(run.stream_output("stderr"), b"err");
    assert!(run.chunks().iter().all(|chunk| chunk.stream == "stdout" || chunk.stream == "stderr"), "{run:?}");
}

/// `cwd` sets the working directory and `arg0` replaces the child's `argv[0]`.
async fn cwd_and_arg0(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let mut params = start_params("pwd", &["pwd"]);
    params["cwd"] = json!("/tmp");
    client.request_ok("process/start", params).await;
    assert_eq!(client.collect_until_closed("pwd").await.output(), b"/tmp\n");

    let mut params = start_params("arg0", &["sh", "-c", "printf %s \"$0\""]);
    params["arg0"] = json!("custom-name");
    client.request_ok("process/start", params).await;
    assert_eq!(client.collect_until_closed("arg0").await.output(), b"custom-name");
}

/// After the process closed, `process/read` returns its retained chunks, the exit status and
/// `nextSeq` = last returned seq + 1 (or the next unassigned seq when nothing is returned).
async fn read_after_close(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    client.request_ok("process/start", start_params("p", &["sh", "-c", "printf hello; exit 3"])).await;
    let run = client.collect_until_closed("p").await;

    let read = client.read("p", json!({})).await.expect("read succeeds");
    assert_eq!(read.chunks, run.chunks());
    assert_eq!(read.next_seq, run.chunks().last().expect("one chunk").seq + 1, "{read:?}");
    assert!(read.exited && read.closed, "{read:?}");
    assert_eq!(read.exit_code, Some(3));
    assert_eq!(read.failure, Value::Null);

    let read = client.read("p", json!({ "afterSeq": run.closed_seq() })).await.expect("read succeeds");
    assert!(read.chunks.is_empty(), "{read:?}");
    assert_eq!(read.next_seq, run.closed_seq() + 1, "{read:?}");
    assert_eq!(read.exit_code, Some(3));
}

/// `afterSeq` skips chunks; `maxBytes` bounds a read but never splits a chunk, and the first
/// chunk is always returned even when it is larger.
async fn read_after_seq_and_max_bytes(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    // Each printf waits for a line on stdin, so the three outputs cannot merge into one chunk.
    let mut params = start_params("p", &["sh", "-c", "printf one; read x; printf two; read x; printf three"]);
    params["pipeStdin"] = json!(true);
    client.request_ok("process/start", params).await;
    client.wait_for_output("p", b"one").await;
    assert_eq!(client.write("p", b"\n").await, Ok("accepted".to_owned()));
    client.wait_for_output("p", b"onetwo").await;
    assert_eq!(client.write("p", b"\n").await, Ok("accepted".to_owned()));
    let run = client.collect_until_closed("p").await;
    let chunks = run.chunks();
    let texts: Vec<&[u8]> = chunks.iter().map(|chunk| chunk.bytes.as_slice()).collect();
    assert_eq!(texts, [&b"one"[..], b"two", b"three"]);

    let read = client.read("p", json!({})).await.expect("read succeeds");
    assert_eq!(read.chunks, chunks);
    for max_bytes in [0, 1, 5] {
        let read = client.read("p", json!({ "maxBytes": max_bytes })).await.expect("read succeeds");
        assert_eq!(read.chunks, chunks[..1], "maxBytes {max_bytes}");
        assert_eq!(read.next_seq, chunks[0].seq + 1, "maxBytes {max_bytes}");
    }
    let read = client.read("p", json!({ "maxBytes": 6 })).await.expect("read succeeds");
    assert_eq!(read.chunks, chunks[..2], "maxBytes 6 fits exactly two 3-byte chunks");

    let read = client.read("p", json!({ "afterSeq": chunks[0].seq })).await.expect("read succeeds");
    assert_eq!(read.chunks, chunks[1..]);
    let read = client.read("p", json!({ "afterSeq": chunks[0].seq, "maxBytes": 1 })).await.expect("read");
    assert_eq!(read.chunks, chunks[1..2]);
    assert_eq!(read.next_seq, chunks[1].seq + 1);
}

/// A read with `waitMs` and nothing to return waits for output or exit; with neither it returns
/// an empty result when `waitMs` runs out.
async fn read_long_poll(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    // The peer serves one connection's requests one at a time, so the output must come from the
    // child by itself, not from a write sent while the poll is pending. The child then stays
    // alive (`cat` on an open pipe), so only the output can end the poll.
    let mut params = start_params("late", &["sh", "-c", "sleep 0.2; printf late; exec cat"]);
    params["pipeStdin"] = json!(true);
    client.request_ok("process/start", params).await;
    let read = client.read("late", json!({ "afterSeq": 0, "waitMs": 10_000 })).await.expect("read");
    assert_eq!(read.output(), b"late", "{read:?}");
    assert!(!read.exited, "{read:?}");
    assert_eq!(client.terminate("late").await, Ok(true));

    client.request_ok("process/start", start_params("exit", &["sh", "-c", "sleep 0.2; exit 2"])).await;
    let read = client.read("exit", json!({ "afterSeq": 0, "waitMs": 10_000 })).await.expect("read");
    assert!(read.chunks.is_empty(), "{read:?}");
    assert!(read.exited, "{read:?}");
    assert_eq!(read.exit_code, Some(2));

    let mut params = start_params("quiet", &["cat"]);
    params["pipeStdin"] = json!(true);
    client.request_ok("process/start", params).await;
    let read = client.read("quiet", json!({ "afterSeq": 0, "waitMs": 100 })).await.expect("read");
    assert!(read.chunks.is_empty(), "{read:?}");
    assert!(!read.exited && !read.closed, "{read:?}");
    assert_eq!((read.next_seq, read.exit_code), (1, None), "{read:?}");
    assert_eq!(client.terminate("quiet").await, Ok(true));
}

/// With `pipeStdin: true` writes reach the child; `process/terminate` ends it.
async fn stdin_pipe_write_and_terminate(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let mut params = start_params("cat", &["cat"]);
    params["pipeStdin"] = json!(true);
    client.request_ok("process/start", params).await;
    assert_eq!(client.write("cat", b"hello\n").await, Ok("accepted".to_owned()));
    client.wait_for_output("cat", b"hello\n").await;
    assert_eq!(client.terminate("cat").await, Ok(true));
    let run = client.collect_until_closed("cat").await;
    assert_eq!(run.stream_output("stdout"), b"hello\n");
    // Shared part only: the peer reports a killed child as -1, SPEC.md asks ours for 128+9.
    assert!(!matches!(run.exit_code(), None | Some(0)), "killed, so not a clean exit: {run:?}");
    // Not checked: a write after the child died. The peer answers -32603 "failed to write to
    // process stdin" (the pipe is broken) where SPEC.md says `stdinClosed`.
}

/// Without `pipeStdin` (explicitly false, or left out) stdin is at EOF from the start.
async fn stdin_closed_without_pipe(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    client.request_ok("process/start", start_params("false", &["cat"])).await;
    let run = client.collect_until_closed("false").await;
    assert_eq!((run.output(), run.exit_code()), (Vec::new(), Some(0)));
    assert_eq!(client.write("false", b"x").await, Ok("stdinClosed".to_owned()));

    let mut params = start_params("absent", &["cat"]);
    params.as_object_mut().expect("params are an object").remove("pipeStdin");
    client.request_ok("process/start", params).await;
    let run = client.collect_until_closed("absent").await;
    assert_eq!((run.output(), run.exit_code()), (Vec::new(), Some(0)));
}

/// With `tty: true` the child's stdin and stdout are a terminal, and output comes as `pty`.
async fn tty_output(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let mut params = start_params("tty", &["sh", "-c", "test -t 0 && test -t 1 && printf tty-ok; exit 4"]);
    params["tty"] = json!(true);
    client.request_ok("process/start", params).await;
    let run = client.collect_until_closed("tty").await;
    assert_eq!(run.stream_output("pty"), b"tty-ok");
    assert!(run.chunks().iter().all(|chunk| chunk.stream == "pty"), "{run:?}");
    assert_eq!(run.exit_code(), Some(4));
}

/// A TTY is writable (no `pipeStdin` needed): input is echoed, and ^D ends `cat`.
async fn tty_stdin(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let mut params = start_params("cat", &["cat"]);
    params["tty"] = json!(true);
    client.request_ok("process/start", params).await;
    assert_eq!(client.write("cat", b"abc\n").await, Ok("accepted".to_owned()));
    // Once from the terminal's echo, once from cat.
    client.wait_for_output("cat", b"abc\r\nabc\r\n").await;
    assert_eq!(client.write("cat", b"\x04").await, Ok("accepted".to_owned()));
    let run = client.collect_until_closed("cat").await;
    assert_eq!(run.exit_code(), Some(0));
    assert_eq!(run.stream_output("pty"), b"abc\r\nabc\r\n");
}

/// `process/terminate` answers whether the process was running.
async fn terminate(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let mut params = start_params("p", &["cat"]);
    params["pipeStdin"] = json!(true);
    client.request_ok("process/start", params).await;
    assert_eq!(client.terminate("p").await, Ok(true));
    let run = client.collect_until_closed("p").await;
    assert!(!matches!(run.exit_code(), None | Some(0)), "killed, so not a clean exit: {run:?}");
    assert_eq!(client.terminate("p").await, Ok(false));
    assert_eq!(client.terminate("never-started").await, Ok(false));
}

// ---------------------------------------------------------------------------------------------
// Environment (SPEC §7, the part the peer shares)

/// Without `envPolicy`, `env` is the whole environment; the program is still found on the
/// server's own PATH when `env` has none.
async fn env_exact_without_policy(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let mut params = start_params("some", &["/usr/bin/env"]);
    params["env"] = json!({ "FOO": "bar", "SPACED": "y z" });
    client.request_ok("process/start", params).await;
    assert_eq!(client.collect_until_closed("some").await.output(), b"FOO=bar\nSPACED=y z\n");

    let mut params = start_params("none", &["/usr/bin/env"]);
    params["env"] = json!({});
    client.request_ok("process/start", params).await;
    assert_eq!(client.collect_until_closed("none").await.output(), b"");

    let mut params = start_params("lookup", &["env"]);
    params["env"] = json!({ "FOO": "bar" });
    client.request_ok("process/start", params).await;
    assert_eq!(client.collect_until_closed("lookup").await.output(), b"FOO=bar\n");
}

const MARKER: &str = "EXEC_CONFORMANCE_MARKER";
const SECRET: &str = "EXEC_CONFORMANCE_TOKEN";

/// A server whose environment holds a distinctive HOME, a marker and a `*TOKEN*` variable.
async fn server_with_env(target: &Target, home: &TempDir) -> Connected {
    let server = target
        .spawn_with(|command| {
            command.env("HOME", home.path()).env(MARKER, "from-server").env(SECRET, "hidden");
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    let session_id = client.initialize("conformance").await;
    Connected { server, client, session_id }
}

async fn run_env(
    client: &mut RawClient,
    process_id: &str,
    env: Value,
    policy: Value,
) -> BTreeMap<String, String> {
    let mut params = start_params(process_id, &["/usr/bin/env"]);
    params["env"] = env;
    params["envPolicy"] = policy;
    client.request_ok("process/start", params).await;
    parse_env(&client.collect_until_closed(process_id).await.output())
}

/// `inherit: core` takes PATH and HOME from the server, not from the client, and nothing else
/// beyond the core set; `env` is laid on top.
async fn env_policy_inherit_core(target: Target) {
    let home = TempDir::new("home");
    let Connected { server: _server, mut client, .. } = server_with_env(&target, &home).await;
    let env = run_env(&mut client, "core", json!({ "FOO": "bar" }), env_policy("core")).await;
    assert_eq!(env.get("HOME").map(String::as_str), home.path().to_str(), "{env:?}");
    assert_eq!(env.get("FOO").map(String::as_str), Some("bar"), "{env:?}");
    assert!(!env.contains_key(MARKER) && !env.contains_key(SECRET), "{env:?}");
    // The peer's npm launcher prepends its own folder to PATH; the rest is the server's PATH.
    let server_path = std::env::var("PATH").expect("the test runs with a PATH");
    let child_path = env.get("PATH").expect("PATH is inherited");
    assert!(
        *child_path == server_path || child_path.ends_with(&format!(":{server_path}")),
        "child PATH {child_path:?} is not the server's {server_path:?}"
    );
}

/// `inherit: all` takes the server's environment minus `*KEY*`/`*SECRET*`/`*TOKEN*` names unless
/// `ignoreDefaultExcludes`; `exclude` patterns are case-insensitive globs.
async fn env_policy_inherit_all(target: Target) {
    let home = TempDir::new("home");
    let Connected { server: _server, mut client, .. } = server_with_env(&target, &home).await;
    let env = run_env(&mut client, "all", json!({}), env_policy("all")).await;
    assert_eq!(env.get(MARKER).map(String::as_str), Some("from-server"), "{env:?}");
    assert!(!env.contains_key(SECRET), "default excludes drop *TOKEN*: {env:?}");

    let mut policy = env_policy("all");
    policy["ignoreDefaultExcludes"] = json!(true);
    let env = run_env(&mut client, "all-secrets", json!({}), policy).await;
    assert_eq!(env.get(SECRET).map(String::as_str), Some("hidden"), "{env:?}");

    let mut policy = env_policy("all");
    policy["exclude"] = json!(["exec_conformance_m?rker", "H*E"]);
    let env = run_env(&mut client, "excluded", json!({}), policy).await;
    assert!(!env.contains_key(MARKER) && !env.contains_key("HOME"), "{env:?}");
    assert!(env.contains_key("PATH"), "{env:?}");
}

/// `set` inserts variables, `env` wins over `set`, `inherit: none` starts empty, and
/// `includeOnly` keeps only matching names (case-insensitive).
async fn env_policy_set_and_include_only(target: Target) {
    let home = TempDir::new("home");
    let Connected { server: _server, mut client, .. } = server_with_env(&target, &home).await;
    let mut policy = env_policy("none");
    policy["set"] = json!({ "FROM_SET": "set", "BOTH": "set" });
    let env = run_env(&mut client, "set", json!({ "BOTH": "env" }), policy).await;
    let expected =
        [("BOTH", "env"), ("FROM_SET", "set")].map(|(name, value)| (name.to_owned(), value.to_owned()));
    assert_eq!(env, BTreeMap::from(expected));

    let mut policy = env_policy("core");
    policy["includeOnly"] = json!(["p*"]);
    let env = run_env(&mut client, "include", json!({}), policy).await;
    assert_eq!(env.keys().collect::<Vec<_>>(), ["PATH"], "{env:?}");
}

// ---------------------------------------------------------------------------------------------
// Start errors and unknown processes

/// A process id is unique within the session, also after the process has exited, and under two
/// concurrent starts exactly one wins.
async fn duplicate_process_id(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let mut params = start_params("p1", &["cat"]);
    params["pipeStdin"] = json!(true);
    client.request_ok("process/start", params).await;
    let error = client.request_error("process/start", start_params("p1", &["true"])).await;
    assert_error(&error, -32600, "process p1 already exists");
    assert_eq!(client.terminate("p1").await, Ok(true));
    client.collect_until_closed("p1").await;
    let error = client.request_error("process/start", start_params("p1", &["true"])).await;
    assert_error(&error, -32600, "process p1 already exists");

    let first = client.send_request("process/start", start_params("twin", &["true"])).await;
    let second = client.send_request("process/start", start_params("twin", &["true"])).await;
    let outcomes = [client.response(first).await, client.response(second).await];
    let wins = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(wins, 1, "exactly one start wins: {outcomes:?}");
    let error = outcomes.into_iter().find_map(Result::err).expect("one start fails");
    assert_error(&error, -32600, "process twin already exists");
}

/// An empty argv is invalid params.
async fn empty_argv(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let error = client.request_error("process/start", start_params("p", &[])).await;
    assert_error(&error, -32602, "argv must not be empty");
}

/// A spawn failure (missing binary, missing cwd) is -32603 with the OS error text, and leaves the
/// process id free.
async fn spawn_failure(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let error = client.request_error("process/start", start_params("p", &["/nonexistent/binary"])).await;
    assert_error(&error, -32603, "No such file or directory (os error 2)");
    let mut params = start_params("p", &["true"]);
    params["cwd"] = json!("/nonexistent/folder");
    let error = client.request_error("process/start", params).await;
    assert_error(&error, -32603, "No such file or directory (os error 2)");

    client.request_ok("process/start", start_params("p", &["true"])).await;
    assert_eq!(client.collect_until_closed("p").await.exit_code(), Some(0));
}

/// Reading an unknown process is an error; writing or terminating one is a status.
async fn unknown_process(target: Target) {
    let Connected { server: _server, mut client, .. } = connected(&target).await;
    let error = client.read("nope", json!({})).await.expect_err("unknown process");
    assert_error(&error, -32600, "unknown process id nope");
    assert_eq!(client.write("nope", b"x").await, Ok("unknownProcess".to_owned()));
    assert_eq!(client.terminate("nope").await, Ok(false));
}

// ---------------------------------------------------------------------------------------------
// Sessions (SPEC §4)

/// A dropped connection detaches its session; the process keeps running, and a resumed
/// connection catches up through `process/read {afterSeq}` from the last seen seq. Process ids
/// survive the resume.
async fn resume_catches_up_with_read(target: Target) {
    let Connected { server, mut client, session_id } = connected(&target).await;
    let folder = TempDir::new("fifo");
    let fifo = folder.path().join("go");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo failed: {status}");
    // The child blocks opening the FIFO until the test opens it after the disconnect, so "after"
    // is produced while the session is detached.
    let script = "printf before; read line < \"$1\"; printf \"after:%s\" \"$line\"; exit 7";
    let fifo_text = fifo.to_str().expect("temp paths are UTF-8");
    client.request_ok("process/start", start_params("p", &["sh", "-c", script, "sh", fifo_text])).await;
    client.wait_for_output("p", b"before").await;
    let seen = client.notifications_for("p");
    let last_seen_seq = seen.iter().filter_map(|event| event.seq()).max().expect("one output");
    client.close().await;

    let writer = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::OpenOptions::new().write(true).open(&fifo)?;
        file.write_all(b"go\n")
    });
    tokio::time::timeout(test_support::DEFAULT_DEADLINE, writer)
        .await
        .expect("the child opens the FIFO")
        .expect("the writer task runs")
        .expect("writing the FIFO succeeds");

    let mut client = RawClient::connect(server.url()).await;
    assert_eq!(client.resume("conformance", &session_id).await, Ok(session_id.clone()));
    let read = client.read_all("p", last_seen_seq).await;
    assert_eq!(read.output(), b"after:go", "{read:?}");
    assert!(read.exited && read.closed, "{read:?}");
    assert_eq!(read.exit_code, Some(7));

    let error = client.request_error("process/start", start_params("p", &["true"])).await;
    assert_error(&error, -32600, "process p already exists");
}

/// Resuming an unknown session is -32600, and the failed `initialize` may be retried.
async fn resume_unknown_session(target: Target) {
    let server = target.spawn().await;
    let mut client = RawClient::connect(server.url()).await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    let error = client.resume("conformance", unknown).await.expect_err("unknown session");
    assert_error(&error, -32600, &format!("unknown session id {unknown}"));
    let session_id = client.initialize("conformance").await;
    assert_ne!(session_id, unknown);
    let error = client.request_error("process/read", json!({ "processId": "p" })).await;
    assert_error(&error, -32600, "unknown process id p");
}

// ---------------------------------------------------------------------------------------------

fn ours() -> Target {
    Target::ours(env!("CARGO_BIN_EXE_exec-server"))
}

fn peer() -> Option<Target> {
    let peer = Target::peer_from_env();
    if peer.is_none() {
        eprintln!("{} is not set: the peer case did not run", test_support::PEER_ENV);
    }
    peer
}

/// Declares the list of cases and generates one test per case per server.
macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {
        /// Every conformance case, in declaration order.
        #[allow(dead_code, reason = "for runners that loop over the cases; the tests below call them directly")]
        pub const CASES: &[Case] = &[$(Case { name: stringify!($case), run: |target| Box::pin($case(target)) }),*];

        /// The cases against our server.
        mod ours {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::ours()).await;
                }
            )*
        }

        /// The cases against the Codex peer, when `EXEC_PEER_CODEX` is set.
        mod peer {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(target) = super::peer() {
                        super::$case(target).await;
                    }
                }
            )*
        }
    };
}

conformance_cases![
    handshake_gating,
    unknown_method,
    invalid_params,
    unparseable_frame,
    binary_frame_and_jsonrpc_member,
    exit_code_and_seq,
    stdout_and_stderr,
    cwd_and_arg0,
    read_after_close,
    read_after_seq_and_max_bytes,
    read_long_poll,
    stdin_pipe_write_and_terminate,
    stdin_closed_without_pipe,
    tty_output,
    tty_stdin,
    terminate,
    env_exact_without_policy,
    env_policy_inherit_core,
    env_policy_inherit_all,
    env_policy_set_and_include_only,
    duplicate_process_id,
    empty_argv,
    spawn_failure,
    unknown_process,
    resume_catches_up_with_read,
    resume_unknown_session,
];
