//! The load driver behind `cargo xtask load`: many connections, each running processes with
//! known output, while connections drop and resume at random (issue 12).
//!
//! It starts our `exec-server` (built with this example's profile, through
//! `test_support::workspace_binary`) on loopback, opens `--connections` connections, and has each
//! run `--processes` processes one after another. Every process prints a known text (`seq 1 N`);
//! the driver pulls it with `process/read {afterSeq, maxBytes}` in pieces and compares it byte for
//! byte with what `seq` prints, so a lost or duplicated byte is a failure. Before a read, with
//! probability `--churn`, the connection is cut (half the time with the read already sent and its
//! answer never read), a new one is opened and the session resumed; reading goes on from the
//! last seq seen. A `droppedBefore` is a failure too. It reports the processes, bytes, churn
//! events, the server's peak and final resident memory, and the `process/start` round trip
//! (p50, p99, max), as text and as one JSON line, and exits non-zero on any failure, including a
//! server whose peak resident memory (`VmHWM`) went past `--max-rss-mib` (no bound by default;
//! `cargo xtask load` passes one).
//!
//! It does not measure throughput (see `cargo xtask bench`) and only ever talks to loopback.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// What one run does; every field has a flag of the same name.
#[derive(Clone, Debug)]
struct Plan {
    connections: usize,
    processes: usize,
    /// Each process prints `seq 1 lines`.
    lines: usize,
    /// Probability that a connection is cut before a read.
    churn: f64,
    /// `maxBytes` of each read: small, so a process takes several reads and cuts land between.
    read_bytes: usize,
    /// The whole run must finish within this, or it fails.
    seconds: u64,
    seed: u64,
    /// The server's peak resident memory must stay at or below this many MiB, or the run fails.
    max_rss_mib: Option<u64>,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            connections: 200,
            processes: 20,
            lines: 10_000,
            churn: 0.05,
            read_bytes: 16 * 1024,
            seconds: 600,
            seed: 12,
            max_rss_mib: None,
        }
    }
}

fn parse_args() -> Result<Plan, String> {
    let mut plan = Plan::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut index = 0;
    while index < args.len() {
        let flag = args[index].as_str();
        let value = args.get(index + 1).ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|_| format!("{flag}: `{value}` is not a number"));
        match flag {
            "--connections" => plan.connections = number()? as usize,
            "--processes" => plan.processes = number()? as usize,
            "--lines" => plan.lines = number()? as usize,
            "--read-bytes" => plan.read_bytes = number()? as usize,
            "--seconds" => plan.seconds = number()?,
            "--seed" => plan.seed = number()?,
            "--max-rss-mib" => plan.max_rss_mib = Some(number()?),
            "--churn" => {
                plan.churn = value.parse().map_err(|_| format!("--churn: `{value}` is not a number"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
        index += 2;
    }
    Ok(plan)
}

/// A tiny deterministic generator (xorshift64*), so a run can be repeated with its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, probability: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= probability
    }
}

/// What one connection's worker reports.
#[derive(Default, Debug)]
struct Tally {
    processes: usize,
    bytes: u64,
    churn: usize,
    start_round_trips: Vec<Duration>,
    failures: Vec<String>,
}

/// One JSON-RPC connection, with just what the driver needs.
struct Connection {
    socket: WebSocketStream<TcpStream>,
    next_id: u64,
}

impl Connection {
    async fn open(url: &str) -> Result<Connection, String> {
        let authority = url.trim_start_matches("ws://").trim_end_matches('/');
        let stream = TcpStream::connect(authority).await.map_err(|error| format!("connect: {error}"))?;
        stream.set_nodelay(true).map_err(|error| format!("nodelay: {error}"))?;
        let (socket, _) = tokio_tungstenite::client_async(url, stream)
            .await
            .map_err(|error| format!("upgrade: {error}"))?;
        Ok(Connection { socket, next_id: 1 })
    }

    async fn send(&mut self, method: &str, params: Value) -> Result<u64, String> {
        let id = self.next_id;
        self.next_id += 1;
        let frame = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket.send(Message::text(frame)).await.map_err(|error| format!("send: {error}"))?;
        Ok(id)
    }

    /// The result of request `id`; notifications and other answers are skipped.
    async fn answer(&mut self, id: u64) -> Result<Value, String> {
        loop {
            let frame = match self.socket.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(close))) => return Err(format!("closed by the server: {close:?}")),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(format!("read: {error}")),
                None => return Err("the server closed the connection".to_owned()),
            };
            let message: Value =
                serde_json::from_str(&frame).map_err(|error| format!("bad JSON: {error}"))?;
            if message["id"] != json!(id) {
                continue;
            }
            if let Some(error) = message.get("error") {
                return Err(format!("error: {error}"));
            }
            return Ok(message["result"].clone());
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.send(method, params).await?;
        self.answer(id).await
    }

    /// `initialize` (resuming `session` when given) and `initialized`; returns the session id.
    async fn initialize(&mut self, session: Option<&str>) -> Result<String, String> {
        let result =
            self.call("initialize", json!({ "clientName": "exec-load", "resumeSessionId": session })).await?;
        let frame = json!({ "method": "initialized" }).to_string();
        self.socket.send(Message::text(frame)).await.map_err(|error| format!("send: {error}"))?;
        result["sessionId"].as_str().map(str::to_owned).ok_or_else(|| format!("no sessionId in {result}"))
    }
}

/// Runs one connection's processes; every problem becomes a failure line, never a panic.
async fn worker(url: String, plan: Plan, index: usize, expected: std::sync::Arc<Vec<u8>>) -> Tally {
    let mut tally = Tally::default();
    let mut random = Random(plan.seed.wrapping_mul(1_000_003).wrapping_add(index as u64 + 1) | 1);
    if let Err(failure) = run_worker(&url, &plan, index, &expected, &mut random, &mut tally).await {
        tally.failures.push(format!("connection {index}: {failure}"));
    }
    tally
}

async fn run_worker(
    url: &str,
    plan: &Plan,
    index: usize,
    expected: &[u8],
    random: &mut Random,
    tally: &mut Tally,
) -> Result<(), String> {
    let mut connection = Connection::open(url).await?;
    let session = connection.initialize(None).await?;
    let lines = plan.lines.to_string();
    for process in 0..plan.processes {
        let id = format!("c{index}-p{process}");
        let started = Instant::now();
        let params = json!({
            "processId": id, "argv": ["seq", "1", lines], "cwd": "/",
            "env": { "PATH": "/usr/local/bin:/usr/bin:/bin" }, "tty": false, "pipeStdin": false, "arg0": null,
        });
        connection.call("process/start", params).await?;
        tally.start_round_trips.push(started.elapsed());

        let mut output = Vec::with_capacity(expected.len());
        let mut after = 0u64;
        loop {
            if random.chance(plan.churn) {
                tally.churn += 1;
                if random.chance(0.5) {
                    // Cut with a read in flight: its answer is never read.
                    let read = json!({ "processId": id, "afterSeq": after, "maxBytes": plan.read_bytes });
                    connection.send("process/read", read).await?;
                }
                drop(connection);
                connection = Connection::open(url).await?;
                let resumed = connection.initialize(Some(&session)).await?;
                if resumed != session {
                    return Err(format!("resumed {resumed}, expected {session}"));
                }
            }
            let read =
                json!({ "processId": id, "afterSeq": after, "maxBytes": plan.read_bytes, "waitMs": 5000 });
            let result = connection.call("process/read", read).await?;
            if let Some(dropped) = result.get("droppedBefore").filter(|value| !value.is_null()) {
                return Err(format!("{id}: output was evicted (droppedBefore {dropped})"));
            }
            for chunk in result["chunks"].as_array().ok_or("read without chunks")? {
                let seq = chunk["seq"].as_u64().ok_or("chunk without seq")?;
                if seq <= after {
                    return Err(format!("{id}: seq {seq} again after {after} (a duplicate)"));
                }
                let data = base64::engine::general_purpose::STANDARD
                    .decode(chunk["chunk"].as_str().unwrap_or_default())
                    .map_err(|error| format!("{id}: bad base64: {error}"))?;
                output.extend_from_slice(&data);
                after = seq;
            }
            let next = result["nextSeq"].as_u64().ok_or("read without nextSeq")?;
            after = after.max(next.saturating_sub(1));
            if result["closed"] == json!(true) {
                break;
            }
        }
        if output != expected {
            return Err(format!(
                "{id}: output differs: {} bytes, expected {} (checksums {:016x} / {:016x})",
                output.len(),
                expected.len(),
                checksum(&output),
                checksum(expected)
            ));
        }
        tally.processes += 1;
        tally.bytes += output.len() as u64;
    }
    Ok(())
}

/// FNV-1a, for the failure message only (the comparison is byte for byte).
fn checksum(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3))
}

/// A field of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn main() -> ExitCode {
    let plan = match parse_args() {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("load: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(run(plan))
}

async fn run(plan: Plan) -> ExitCode {
    let expected: Vec<u8> = (1..=plan.lines).map(|line| format!("{line}\n")).collect::<String>().into_bytes();
    let expected = std::sync::Arc::new(expected);
    let binary = test_support::workspace_binary("exec-server");
    let mut command = std::process::Command::new(&binary);
    command.args(["--listen", "ws://127.0.0.1:0"]).env("RUST_LOG", "warn");
    let server = match test_support::ServerProcess::start(command).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("load: cannot start {}: {error}", binary.display());
            return ExitCode::FAILURE;
        }
    };
    let pid = server.pid().expect("the server runs");
    let idle_kib = status_kib(pid, "VmRSS:").unwrap_or(0);
    eprintln!(
        "load: {} connections x {} processes of `seq 1 {}` ({} bytes each), churn {} per read, server {}",
        plan.connections,
        plan.processes,
        plan.lines,
        expected.len(),
        plan.churn,
        server.url()
    );

    let began = Instant::now();
    let workers: Vec<_> = (0..plan.connections)
        .map(|index| {
            tokio::spawn(worker(
                server.url().to_owned(),
                plan.clone(),
                index,
                std::sync::Arc::clone(&expected),
            ))
        })
        .collect();
    let all = futures_util::future::join_all(workers);
    let tallies = match tokio::time::timeout(Duration::from_secs(plan.seconds), all).await {
        Ok(results) => results,
        Err(_) => {
            eprintln!("load: FAILED: not finished within {} s", plan.seconds);
            return ExitCode::FAILURE;
        }
    };
    let elapsed = began.elapsed();

    let mut total = Tally::default();
    for tally in tallies {
        match tally {
            Ok(tally) => {
                total.processes += tally.processes;
                total.bytes += tally.bytes;
                total.churn += tally.churn;
                total.start_round_trips.extend(tally.start_round_trips);
                total.failures.extend(tally.failures);
            }
            Err(error) => total.failures.push(format!("a worker panicked: {error}")),
        }
    }
    let peak_kib = status_kib(pid, "VmHWM:").unwrap_or(0);
    let final_kib = status_kib(pid, "VmRSS:").unwrap_or(0);
    if let Some(limit) = plan.max_rss_mib
        && peak_kib > limit * 1024
    {
        total
            .failures
            .push(format!("the server's peak RSS was {} MiB, past --max-rss-mib {limit}", peak_kib / 1024));
    }
    total.start_round_trips.sort_unstable();
    let p50 = percentile(&total.start_round_trips, 0.50);
    let p99 = percentile(&total.start_round_trips, 0.99);
    let max = total.start_round_trips.last().copied().unwrap_or_default();
    let planned = plan.connections * plan.processes;

    println!("connections        {}", plan.connections);
    println!("processes          {} of {planned}, every byte checked", total.processes);
    println!("bytes              {} ({:.1} MiB)", total.bytes, total.bytes as f64 / 1048576.0);
    println!("churn events       {} (connections cut and sessions resumed)", total.churn);
    println!(
        "server RSS         idle {} MiB, peak {} MiB, final {} MiB",
        idle_kib / 1024,
        peak_kib / 1024,
        final_kib / 1024
    );
    println!(
        "process/start      p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    println!("elapsed            {:.1} s", elapsed.as_secs_f64());
    println!(
        "{}",
        json!({
            "connections": plan.connections, "processesPlanned": planned, "processesChecked": total.processes,
            "bytes": total.bytes, "churnEvents": total.churn, "failures": total.failures.len(),
            "rssIdleKiB": idle_kib, "rssPeakKiB": peak_kib, "rssFinalKiB": final_kib,
            "startP50Ms": p50.as_secs_f64() * 1e3, "startP99Ms": p99.as_secs_f64() * 1e3,
            "startMaxMs": max.as_secs_f64() * 1e3, "seconds": elapsed.as_secs_f64(), "seed": plan.seed,
        })
    );
    for failure in total.failures.iter().take(20) {
        eprintln!("load: FAILED: {failure}");
    }
    if total.failures.is_empty() && total.processes == planned {
        ExitCode::SUCCESS
    } else {
        eprintln!("load: FAILED: {} failures", total.failures.len());
        ExitCode::FAILURE
    }
}
