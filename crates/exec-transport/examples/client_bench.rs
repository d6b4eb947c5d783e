//! The `ExecClient` half of `cargo xtask bench`: the same three measurements as the raw bench
//! client (`test-support`'s `bench` example), made through the library an agent embeds, so the
//! cost of ordering, routing and decoding shows up next to the wire's.
//!
//! Memory is not measured here: the scale client of `cargo xtask bench` does that (one
//! measurement, made once).
//!
//! The 256 MiB stream is measured twice: with JSON frames (`client_stream_gbps`, binary output
//! turned off) and with negotiated binary frames (`client_binary_stream_gbps`, on a second
//! connection; `0` against a server that does not grant them, such as the Codex peer).
//!
//! Usage: `client_bench URL [LABEL]`; prints one `RESULT LABEL key=value ...` line.

use std::time::{Duration, Instant};

use exec_engine::{Event, ReadRequest};
use exec_transport::{ConnectOptions, ExecClient, ProcessSpec};

const STARTS: usize = 200;
const ROUND_TRIPS: usize = 2000;
const STREAM_BYTES: u64 = 256 << 20;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), label) = (args.next(), args.next().unwrap_or_else(|| "server".to_owned())) else {
        eprintln!("usage: client_bench URL [LABEL]");
        std::process::exit(2);
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let json_only = ConnectOptions { binary_output: false, ..ConnectOptions::default() };
        let client = ExecClient::connect(&url, json_only).await.expect("connect");
        let start_closed = start_to_closed(&client).await;
        let round_trip = round_trips(&client).await;
        let throughput = stream(&client, "stream").await;
        let binary_client = ExecClient::connect(&url, ConnectOptions::default()).await.expect("connect");
        let binary_throughput = if binary_client.receives_binary_output() {
            stream(&binary_client, "binary-stream").await
        } else {
            0.0
        };
        binary_client.close().await;
        let line = format!(
            "RESULT {label} client_start_closed_ms={:.3} client_rtt_us={:.1} client_stream_gbps={:.3} \
             client_binary_stream_gbps={:.3}",
            start_closed.as_secs_f64() * 1e3,
            round_trip.as_secs_f64() * 1e6,
            throughput,
            binary_throughput
        );
        println!("{line}");
    });
}

fn spec(argv: &[&str]) -> ProcessSpec {
    // An exact, empty environment, as the raw bench client sends.
    ProcessSpec::new(argv.iter().copied(), "/").env_policy(None)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn start_to_closed(client: &ExecClient) -> Duration {
    let mut samples = Vec::with_capacity(STARTS);
    for index in 0..STARTS {
        let started = Instant::now();
        let mut handle = client.start(format!("true-{index}"), spec(&["/bin/true"])).await.expect("start");
        while let Some(event) = handle.next_event().await {
            if matches!(event, Event::Closed { .. }) {
                break;
            }
        }
        samples.push(started.elapsed());
    }
    median(samples)
}

async fn round_trips(client: &ExecClient) -> Duration {
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        let answer = client.read("missing", ReadRequest::default()).await;
        assert!(answer.is_err(), "an unknown process is an error");
        samples.push(started.elapsed());
    }
    median(samples)
}

async fn stream(client: &ExecClient, id: &str) -> f64 {
    let count = STREAM_BYTES.to_string();
    let started = Instant::now();
    let mut handle = client.start(id, spec(&["head", "-c", &count, "/dev/zero"])).await.expect("start");
    let mut received = 0u64;
    while let Some(event) = handle.next_event().await {
        match event {
            Event::Output(chunk) => received += chunk.data.len() as u64,
            Event::Closed { .. } => break,
            Event::Exited { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(received, STREAM_BYTES, "bytes lost in the stream");
    received as f64 / elapsed.as_secs_f64() / 1e9
}
