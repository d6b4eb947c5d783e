//! `ExecClient` with negotiated binary output frames (`binaryOutput`, on by default over a
//! WebSocket): bulk output byte-exact on both streams, JSON when turned off, and asked for again
//! by the connection that recovery dials.

use std::time::Duration;

use exec_engine::{Config, Event, ExitStatus, StreamKind};
use exec_transport::{ConnectOptions, ExecClient, ProcessSpec, Recovery};

use crate::support::{DEADLINE, Proxy, TestServer, connect};

const STDOUT_LINE: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789\n";
const STDERR_LINE: &[u8] = b"err\n";

/// Checks `data` as the continuation, from `offset`, of `line` repeated.
#[track_caller]
fn check_pattern(line: &[u8], offset: u64, data: &[u8]) {
    for (index, &byte) in data.iter().enumerate() {
        let expected = line[((offset + index as u64) % line.len() as u64) as usize];
        assert_eq!(byte, expected, "byte {} of the stream differs", offset + index as u64);
    }
}

/// Streams `stdout_bytes` of a repeated line on stdout and `stderr_bytes` on stderr through
/// `client`, checking every byte and the seq order; returns the byte counts.
async fn stream_both(client: &ExecClient, id: &str, stdout_bytes: u64, stderr_bytes: u64) -> (u64, u64) {
    let script = format!(
        "yes {} | head -c {stdout_bytes}; yes {} | head -c {stderr_bytes} >&2",
        std::str::from_utf8(&STDOUT_LINE[..STDOUT_LINE.len() - 1]).unwrap(),
        std::str::from_utf8(&STDERR_LINE[..STDERR_LINE.len() - 1]).unwrap(),
    );
    let mut handle = client.start(id, ProcessSpec::new(["/bin/sh", "-c", &script], "/")).await.unwrap();
    let (mut stdout, mut stderr, mut last_seq, mut status) = (0u64, 0u64, 0u64, None);
    let run = async {
        while let Some(event) = handle.next_event().await {
            assert_eq!(event.seq().get(), last_seq + 1, "seq order without a hole: {event:?}");
            last_seq = event.seq().get();
            match event {
                Event::Output(chunk) if chunk.stream == StreamKind::Stdout => {
                    check_pattern(STDOUT_LINE, stdout, &chunk.data);
                    stdout += chunk.data.len() as u64;
                }
                Event::Output(chunk) => {
                    check_pattern(STDERR_LINE, stderr, &chunk.data);
                    stderr += chunk.data.len() as u64;
                }
                Event::Exited { status: exit, .. } => status = Some(exit),
                Event::Closed { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, run).await.expect("the stream ends");
    assert_eq!(status, Some(ExitStatus::Code(0)));
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mib_arrive_byte_exact_over_binary_frames() {
    let server = TestServer::start().await;
    let client = connect(&server.url(), None).await;
    assert!(client.receives_binary_output(), "asked for by default over a WebSocket, and granted");
    let counts = stream_both(&client, "bulk", 64 << 20, 1 << 20).await;
    assert_eq!(counts, (64 << 20, 1 << 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_output_can_be_turned_off() {
    let server = TestServer::start().await;
    let options = ConnectOptions { binary_output: false, recovery: None, ..ConnectOptions::default() };
    let client = ExecClient::connect(&server.url(), options).await.unwrap();
    assert!(!client.receives_binary_output(), "not asked for, so JSON");
    assert_eq!(stream_both(&client, "json", 4 << 20, 64 << 10).await, (4 << 20, 64 << 10));
}

/// The connection recovery dials asks again (the choice is per connection), and the bytes
/// around the cut arrive exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_connection_asks_again() {
    let server = TestServer::start_with(Config { retention_bytes: 64 << 20, ..Config::default() }).await;
    let proxy = Proxy::start(server.address).await;
    let recovery = Recovery { window: Duration::from_secs(10), ..Recovery::default() };
    let client = connect(&proxy.url(), Some(recovery)).await;
    assert!(client.receives_binary_output());
    let script = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo line-$i; \
                  if [ $((i % 2000)) -eq 0 ]; then sleep 0.05; fi; done";
    let mut handle = client.start("numbers", ProcessSpec::new(["/bin/sh", "-c", script], "/")).await.unwrap();
    let (mut output, mut cut) = (Vec::new(), false);
    let run = async {
        while let Some(event) = handle.next_event().await {
            match event {
                Event::Output(chunk) => {
                    output.extend_from_slice(&chunk.data);
                    if !cut && output.len() > 40_000 {
                        proxy.cut();
                        cut = true;
                    }
                }
                Event::Exited { .. } | Event::Closed { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, run).await.expect("the stream ends");
    assert!(cut, "the connection was cut mid-stream");
    let expected: String = (1..=20000).map(|i| format!("line-{i}\n")).collect();
    assert!(output == expected.as_bytes(), "output differs ({} vs {} bytes)", output.len(), expected.len());
    assert!(client.receives_binary_output(), "the new connection asked and was granted binary frames");
}
