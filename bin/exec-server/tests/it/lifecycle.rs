//! Health endpoints and the graceful stop, against the real binary (issue 15, item 4): `/livez`
//! and `/readyz`, readiness false and upgrades refused while draining, running commands of an
//! attached session allowed to finish (their client still gets the output and the exit), the
//! connection then closed with 1001, what is left after `--drain-timeout` killed, and a second
//! SIGTERM cutting the drain short.
//!
//! Waits are bounded by deadlines; polling a health endpoint after SIGTERM waits on the signal
//! being handled, and no assertion is about durations.

use std::time::{Duration, Instant};

use serde_json::json;
use test_support::{
    DEFAULT_DEADLINE, RawClient, ServerProcess, Signal, Target, authority, http_status, start_params,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn ours() -> Target {
    Target::ours(env!("CARGO_BIN_EXE_exec-server"))
}

const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// Polls `/readyz` until it answers `expected` (the server handles SIGTERM asynchronously).
async fn wait_for_readiness(server: &ServerProcess, expected: u16) {
    let until = Instant::now() + DEFAULT_DEADLINE;
    loop {
        let answered = http_status(server, &get("/readyz")).await;
        if answered == expected {
            return;
        }
        assert!(Instant::now() < until, "/readyz kept answering {answered}, not {expected}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn livez_and_readyz_answer_200() {
    let server = ours().spawn().await;
    assert_eq!(http_status(&server, &get("/livez")).await, 200);
    assert_eq!(http_status(&server, &get("/readyz")).await, 200);
}

/// A connection upgraded to WebSocket (the 101 head read) that will never send a frame.
async fn upgraded_idle_connection(server: &ServerProcess) -> TcpStream {
    let upgrade = async {
        let mut stream = TcpStream::connect(authority(server.url())).await.expect("TCP connect");
        stream.write_all(UPGRADE.as_bytes()).await.expect("write the upgrade");
        let mut head = Vec::new();
        let mut byte = [0_u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.expect("read the 101"), 1, "closed during the upgrade");
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        stream
    };
    tokio::time::timeout(DEFAULT_DEADLINE, upgrade).await.expect("the upgrade timed out")
}

/// An upgraded connection that never speaks: returns the close code the server sends, if any,
/// once the server closes the socket.
async fn close_code_of_idle_connection(mut stream: TcpStream) -> Option<u16> {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
    // Unmasked server frames; a close frame is 0x88, a length, the code.
    let frames = &received[..];
    let at = frames.windows(2).position(|window| window[0] == 0x88 && window[1] >= 2)?;
    Some(u16::from_be_bytes([frames[at + 2], frames[at + 3]]))
}

#[tokio::test]
async fn sigterm_drains_running_commands_then_closes_with_1001() {
    let mut server = ours()
        .spawn_with(|command| {
            command.args(["--drain-timeout", "60s"]);
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("drain").await;
    let mut params = start_params("job", &["sh", "-c", "read line; echo finished $line"]);
    params["pipeStdin"] = json!(true);
    client.request_ok("process/start", params).await;
    let idle = upgraded_idle_connection(&server).await;

    server.terminate_with(Signal::SIGTERM).expect("SIGTERM the server");
    wait_for_readiness(&server, 503).await;
    assert_eq!(http_status(&server, &get("/livez")).await, 200, "alive while draining");
    assert_eq!(http_status(&server, UPGRADE).await, 503, "no new connection while draining");

    // The attached client still drives its command and sees how it ends.
    client.write("job", b"cleanly\n").await.expect("write while draining");
    let run = client.collect_until_closed("job").await;
    assert_eq!(run.output(), b"finished cleanly\n");
    assert_eq!(run.exit_code(), Some(0));

    // Nothing left to wait for: connections are told the server is going away, and it exits.
    let code = tokio::time::timeout(DEFAULT_DEADLINE, close_code_of_idle_connection(idle))
        .await
        .expect("the idle connection was not closed");
    assert_eq!(code, Some(1001));
    let exited = server.wait_with_deadline(DEFAULT_DEADLINE).await.expect("wait for the server");
    let exited = exited.unwrap_or_else(|| panic!("the server did not exit: {}", server.captured_output()));
    assert!(exited.success(), "exit status {exited}");
}

#[tokio::test]
async fn drain_timeout_kills_what_is_still_running() {
    let mut server = ours()
        .spawn_with(|command| {
            command.args(["--drain-timeout", "100ms"]);
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("drain-timeout").await;
    client.request_ok("process/start", start_params("forever", &["sleep", "300"])).await;
    let list = client.request_ok("process/list", json!({})).await;
    let pid = list["processes"][0]["pid"].as_i64().expect("a pid");

    server.terminate_with(Signal::SIGTERM).expect("SIGTERM the server");
    let exited = server.wait_with_deadline(DEFAULT_DEADLINE).await.expect("wait for the server");
    let exited = exited.unwrap_or_else(|| panic!("the server did not exit: {}", server.captured_output()));
    assert!(exited.success(), "exit status {exited}");
    // The server reaped it before exiting: the pid is gone (or reused by an unrelated process
    // of another group, which kill(pid, 0) cannot tell apart; the group check is in `server`).
    let alive = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(!alive.starts_with("sleep\x00300"), "the command outlived the server");
}

#[tokio::test]
async fn a_second_sigterm_cuts_the_drain_short() {
    let mut server = ours()
        .spawn_with(|command| {
            command.args(["--drain-timeout", "1h"]);
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("impatient").await;
    client.request_ok("process/start", start_params("forever", &["sleep", "3600"])).await;
    let list = client.request_ok("process/list", json!({})).await;
    let pid = list["processes"][0]["pid"].as_i64().expect("a pid");

    server.terminate_with(Signal::SIGTERM).expect("SIGTERM the server");
    wait_for_readiness(&server, 503).await;
    server.terminate_with(Signal::SIGTERM).expect("SIGTERM the server again");
    // An hour of drain was asked for: the server ends within the deadline only if the second
    // signal killed the command and the drain stopped waiting for it.
    let exited = server.wait_with_deadline(DEFAULT_DEADLINE).await.expect("wait for the server");
    let exited =
        exited.unwrap_or_else(|| panic!("the server is still draining: {}", server.captured_output()));
    assert!(exited.success(), "exit status {exited}");
    let alive = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(!alive.starts_with("sleep\x003600"), "the command outlived the server");
}
