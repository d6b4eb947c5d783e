//! Measures the engine's local costs: `start` of `/bin/true` until its `Closed` event, back to
//! back, with and without `kill_on_server_death` (which forces fork instead of posix_spawn), the
//! same again with 1 GiB of touched memory in this process (SPEC §10 asks for fast spawns "also
//! with a large server RSS": fork copies page tables, posix_spawn does not), and the throughput
//! of one process streaming through a subscription.
//!
//! Run with `cargo run --release -p exec-engine --example spawn_latency [ITERATIONS]`. It is a
//! benchmark, not a test: it prints numbers and asserts nothing about them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use exec_engine::{Config, Engine, Event, ProcessId, SpawnSpec, StdinMode, Stdio};

fn spec(argv: &[&str]) -> SpawnSpec {
    SpawnSpec {
        argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
        cwd: "/".into(),
        env: BTreeMap::from([("PATH".to_owned(), "/usr/bin:/bin".to_owned())]),
        arg0: None,
        stdio: Stdio::Pipes { stdin: StdinMode::Closed },
        sandbox: None,
    }
}

async fn spawn_to_closed(kill_on_server_death: bool, iterations: usize) -> Vec<Duration> {
    let engine =
        Engine::new(Config { kill_on_server_death, exited_linger: Duration::ZERO, ..Config::default() });
    let session = engine.create_session().expect("session");
    let mut samples = Vec::with_capacity(iterations);
    for index in 0..iterations {
        let started = Instant::now();
        let mut events =
            session.start(ProcessId::new(format!("p{index}")), spec(&["/bin/true"])).await.expect("start");
        while let Some(event) = events.next().await {
            if matches!(event, Event::Closed { .. }) {
                break;
            }
        }
        samples.push(started.elapsed());
    }
    engine.shutdown().await;
    samples.sort();
    samples
}

async fn stream(bytes: usize) -> f64 {
    let engine = Engine::new(Config::default());
    let session = engine.create_session().expect("session");
    let command = format!("head -c {bytes} /dev/zero");
    let started = Instant::now();
    let mut events =
        session.start(ProcessId::new("stream"), spec(&["/bin/sh", "-c", &command])).await.expect("start");
    let mut received = 0usize;
    let mut chunks = 0usize;
    while let Some(event) = events.next().await {
        if let Event::Output(chunk) = event {
            received += chunk.data.len();
            chunks += 1;
        }
    }
    println!("streamed {chunks} chunks, {} bytes on average", received / chunks.max(1));
    assert_eq!(received, bytes);
    let elapsed = started.elapsed().as_secs_f64();
    engine.shutdown().await;
    bytes as f64 / elapsed / 1e9
}

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(300);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut baseline: Vec<Duration> = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            let status = std::process::Command::new("/bin/true").status().expect("spawn");
            assert!(status.success());
            started.elapsed()
        })
        .collect();
    baseline.sort();
    println!("std::process::Command /bin/true spawn+wait: median {:?}", baseline[baseline.len() / 2]);
    runtime.block_on(async {
        for kill_on_server_death in [false, true] {
            let samples = spawn_to_closed(kill_on_server_death, iterations).await;
            let percentile = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
            println!(
                "start /bin/true -> closed (kill_on_server_death={kill_on_server_death}): median {:?}, p90 {:?}, min {:?}",
                percentile(0.5),
                percentile(0.9),
                samples[0]
            );
        }
        // A large RSS: 1 GiB, every page touched.
        let ballast = vec![1u8; 1 << 30];
        for kill_on_server_death in [false, true] {
            let samples = spawn_to_closed(kill_on_server_death, iterations.min(50)).await;
            println!(
                "with 1 GiB RSS (kill_on_server_death={kill_on_server_death}): median {:?}",
                samples[samples.len() / 2]
            );
        }
        assert_eq!(std::hint::black_box(&ballast)[12345], 1);
        drop(ballast);
        let gigabytes_per_second = stream(1 << 30).await;
        println!("1 GiB through one subscription: {gigabytes_per_second:.2} GB/s");
    });
}
