//! Measures the engine's local costs: `start` of `/bin/true` until its `Closed` event, back to
//! back, with and without `kill_on_server_death`, on a PTY, under a read-only sandbox and under
//! one with a read-only `.git` (a mount namespace per spawn); the
//! same again with 1 GiB of touched memory in this process (SPEC §10 asks for fast spawns "also
//! with a large server RSS": a fork copies page tables, the engine's `clone(CLONE_VM)` and
//! posix_spawn do not), and the throughput of one process streaming through a subscription. The
//! reference is `std::process::Command` (posix_spawn) + wait of `/bin/true` in the same run.
//!
//! Run with `cargo run --release -p exec-engine --example spawn_latency [ITERATIONS]`. It is a
//! benchmark, not a test: it prints numbers and asserts nothing about them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use exec_engine::{ChildSandbox, Config, Engine, Event, ProcessId, PtySize, SpawnSpec, StdinMode, Stdio};

/// One way of starting `/bin/true`.
#[derive(Clone, Debug)]
struct Variant {
    name: &'static str,
    kill_on_server_death: bool,
    stdio: Stdio,
    sandbox: Option<ChildSandbox>,
}

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

async fn spawn_to_closed(variant: &Variant, iterations: usize) -> Vec<Duration> {
    let engine = Engine::new(Config {
        kill_on_server_death: variant.kill_on_server_death,
        exited_linger: Duration::ZERO,
        ..Config::default()
    });
    let session = engine.create_session().expect("session");
    let mut samples = Vec::with_capacity(iterations);
    for index in 0..iterations {
        let mut spec = spec(&["/bin/true"]);
        spec.stdio = variant.stdio;
        spec.sandbox = variant.sandbox.clone();
        let started = Instant::now();
        let mut events = session.start(ProcessId::new(format!("p{index}")), spec).await.expect("start");
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

/// The first start of a session also makes the session's PID namespace and its init.
async fn first_start_of_a_session(iterations: usize) -> Duration {
    let engine = Engine::new(Config { exited_linger: Duration::ZERO, ..Config::default() });
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let session = engine.create_session().expect("session");
        let started = Instant::now();
        let mut events = session.start(ProcessId::new("first"), spec(&["/bin/true"])).await.expect("start");
        while let Some(event) = events.next().await {
            if matches!(event, Event::Closed { .. }) {
                break;
            }
        }
        samples.push(started.elapsed());
    }
    engine.shutdown().await;
    samples.sort();
    samples[samples.len() / 2]
}

fn variants() -> Vec<Variant> {
    let pipes = Stdio::Pipes { stdin: StdinMode::Closed };
    let mut variants = vec![
        Variant {
            name: "pipes, kill_on_server_death=false",
            kill_on_server_death: false,
            stdio: pipes,
            sandbox: None,
        },
        Variant { name: "pipes", kill_on_server_death: true, stdio: pipes, sandbox: None },
        Variant {
            name: "pty",
            kill_on_server_death: true,
            stdio: Stdio::Pty { size: PtySize::default() },
            sandbox: None,
        },
    ];
    match exec_sandbox::SandboxPolicy::read_only().prepare() {
        Ok(prepared) => variants.push(Variant {
            name: "pipes, read-only sandbox",
            kill_on_server_death: true,
            stdio: pipes,
            sandbox: Some(prepared.into()),
        }),
        Err(error) => println!("(no sandboxed case: {error})"),
    }
    // Carve-outs: a private mount namespace per spawn (through a user namespace when this
    // process lacks CAP_SYS_ADMIN).
    let workspace = carve_out_workspace();
    let policy = exec_sandbox::SandboxPolicy::read_only()
        .with_write_root(&workspace)
        .with_read_only_carve_out(workspace.join(".git"));
    match policy.prepare() {
        Ok(prepared) => variants.push(Variant {
            name: "pipes, sandbox with a read-only .git",
            kill_on_server_death: true,
            stdio: pipes,
            sandbox: Some(prepared.into()),
        }),
        Err(error) => println!("(no carve-out case: {error})"),
    }
    variants
}

/// A directory with a `.git` under the temp dir, for the carve-out case; removed by `main`.
fn carve_out_workspace() -> std::path::PathBuf {
    let workspace = std::env::temp_dir().join(format!("spawn-latency-{}", std::process::id()));
    std::fs::create_dir_all(workspace.join(".git")).expect("a scratch workspace");
    workspace
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
    println!(
        "std::process::Command (posix_spawn) /bin/true spawn+wait: median {:?}",
        baseline[baseline.len() / 2]
    );
    runtime.block_on(async {
        let baseline = baseline[baseline.len() / 2];
        for variant in variants() {
            let samples = spawn_to_closed(&variant, iterations).await;
            let percentile = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
            println!(
                "start /bin/true -> closed ({}): median {:?} ({:.2}x), p90 {:?}, min {:?}",
                variant.name,
                percentile(0.5),
                percentile(0.5).as_secs_f64() / baseline.as_secs_f64(),
                percentile(0.9),
                samples[0]
            );
        }
        println!(
            "first start of a new session (makes its namespace): median {:?}",
            first_start_of_a_session(iterations.min(100)).await
        );
        // A large RSS: 1 GiB, every page touched.
        let ballast = vec![1u8; 1 << 30];
        for variant in variants() {
            let samples = spawn_to_closed(&variant, iterations.min(100)).await;
            let median = samples[samples.len() / 2];
            println!(
                "with 1 GiB RSS ({}): median {median:?} ({:.2}x)",
                variant.name,
                median.as_secs_f64() / baseline.as_secs_f64()
            );
        }
        println!(
            "with 1 GiB RSS, first start of a new session: median {:?}",
            first_start_of_a_session(iterations.min(100)).await
        );
        assert_eq!(std::hint::black_box(&ballast)[12345], 1);
        drop(ballast);
        let gigabytes_per_second = stream(1 << 30).await;
        println!("1 GiB through one subscription: {gigabytes_per_second:.2} GB/s");
    });
    // Best effort: two empty directories left in the temp dir otherwise.
    let _ = std::fs::remove_dir_all(carve_out_workspace());
}
