//! The scale and memory half of `cargo xtask bench`: measures one running server at a URL under
//! many processes and many connections, and prints one `RESULT LABEL key=value ...` line.
//!
//! Measurements (each skipped, with its key left out, when the server cannot do it; the reason
//! goes to stderr as `SKIP key: reason`):
//! - `idle_rss_mib`, `per_idle_process_kib`, `stream_peak_rss_mib`: the server's memory (see
//!   [`server_rss_kib`] for how it is counted) right after connecting, its growth per process
//!   while 1,000 `sleep 600` with open stdin pipes run in the session, and its peak while one
//!   process streams 256 MiB to this client;
//! - `echo_pipe_us`, `echo_pty_us`: median time from writing a line to `cat` on a pipe (to `sh`
//!   on a PTY, as a command that prints a computed marker) until it comes back as output;
//! - `scale_1000x64k_s`: wall time of 1,000 processes started at once in one session, each
//!   printing 64 KiB that differ per process, until every `process/closed`; every byte checked;
//! - `scale_100x10_s`: wall time of 100 connections opened at once, each starting 10 processes
//!   of 64 KiB, until every byte has arrived (checked) and every process closed.
//!
//! With `--ws-echo` instead of a URL it measures the floor of a WebSocket round trip on this
//! machine: a tokio-tungstenite echo server on its own thread, the same small text frame each
//! way (`ws_echo_us`).
//!
//! It is a measuring tool, not a test: it asserts nothing about timing.
//!
//! Usage: `scale URL LABEL SERVER_PGID` or `scale --ws-echo`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

/// Processes in the one-session scale run, and in the idle-memory run.
const MANY: usize = 1000;
/// Bytes each scale process prints.
const EACH: usize = 64 * 1024;
const CONNECTIONS: usize = 100;
const PER_CONNECTION: usize = 10;
const ECHOES: usize = 100;
const WS_ECHOES: usize = 2000;
const STREAM_BYTES: u64 = 256 << 20;
/// How long any single wait may take before the measurement is given up as unsupported.
const PATIENCE: Duration = Duration::from_secs(60);

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;
type Outcome<T> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    if args.first().map(String::as_str) == Some("--ws-echo") {
        let median = runtime.block_on(ws_echo());
        println!("RESULT local ws_echo_us={:.1}", median.as_secs_f64() * 1e6);
        return;
    }
    let [url, label, group] = args.as_slice() else {
        eprintln!("usage: scale URL LABEL SERVER_PGID | scale --ws-echo");
        std::process::exit(2);
    };
    let group: i32 = group.parse().expect("a process-group id");
    let pattern = Pattern::create();
    let mut fields: Vec<(&str, String)> = Vec::new();
    runtime.block_on(async {
        // One connection (one session) per measurement, so one that a server cannot finish
        // leaves nothing behind for the next.
        let mut socket = connect(url).await.expect("connect");
        let server = server_processes(group);
        let idle_kib = server_rss_kib(&server);
        fields.push(("idle_rss_mib", format!("{:.1}", idle_kib as f64 / 1024.0)));
        let outcome = idle_processes(&mut socket, &server, idle_kib).await;
        record(&mut fields, "per_idle_process_kib", outcome, |kib| format!("{kib:.1}"));
        drop(socket);
        // Before the scale runs: their output stays retained for a while after they close.
        let outcome = match connect(url).await {
            Ok(mut socket) => stream_peak(&mut socket, &server).await,
            Err(error) => Err(error),
        };
        record(&mut fields, "stream_peak_rss_mib", outcome, |kib| format!("{:.1}", kib as f64 / 1024.0));
        for (key, tty) in [("echo_pipe_us", false), ("echo_pty_us", true)] {
            let outcome = match connect(url).await {
                Ok(mut socket) => echo(&mut socket, tty).await,
                Err(error) => Err(error),
            };
            record(&mut fields, key, outcome, micros);
        }
        let outcome = match connect(url).await {
            Ok(mut socket) => one_session(&mut socket, &pattern).await,
            Err(error) => Err(error),
        };
        record(&mut fields, "scale_1000x64k_s", outcome, seconds);
        record(&mut fields, "scale_100x10_s", many_connections(url, &pattern).await, seconds);
    });
    let fields: Vec<String> = fields.iter().map(|(key, value)| format!("{key}={value}")).collect();
    println!("RESULT {label} {}", fields.join(" "));
}

fn record<T>(
    fields: &mut Vec<(&'static str, String)>,
    key: &'static str,
    outcome: Outcome<T>,
    show: fn(T) -> String,
) {
    match outcome {
        Ok(value) => fields.push((key, show(value))),
        Err(reason) => eprintln!("SKIP {key}: {reason}"),
    }
}

fn micros(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e6)
}

fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// The wire, kept lean: frames are parsed borrowed, output chunks decoded straight from them.

/// Whether the server speaks the 0.171 generation of the protocol (it answers `initialize` with
/// `environmentInfo`): Codex 0.171 takes `cwd` only as a `file://` URI and requires a `writeId`
/// on `process/write`; ours takes both forms, Codex 0.123 only the older.
static NEWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

fn newer() -> bool {
    NEWER.get().copied().unwrap_or(false)
}

async fn connect(url: &str) -> Outcome<Socket> {
    let authority = url.strip_prefix("ws://").ok_or("not a ws:// URL")?.trim_end_matches('/');
    let stream = TcpStream::connect(authority).await.map_err(|error| format!("connect: {error}"))?;
    stream.set_nodelay(true).map_err(|error| format!("TCP_NODELAY: {error}"))?;
    let (mut socket, _) =
        tokio_tungstenite::client_async(url, stream).await.map_err(|error| format!("handshake: {error}"))?;
    send(&mut socket, json!({"id": 0, "method": "initialize", "params": {"clientName": "bench"}})).await?;
    loop {
        let frame = next_frame(&mut socket).await?;
        if parse(&frame).is_some_and(|frame| frame.id == Some(0)) {
            let answer: Value = serde_json::from_slice(&frame).map_err(|error| error.to_string())?;
            let generation = answer["result"].get("environmentInfo").is_some();
            NEWER.get_or_init(|| generation);
            break;
        }
    }
    send(&mut socket, json!({"method": "initialized"})).await?;
    Ok(socket)
}

async fn send(socket: &mut Socket, value: Value) -> Outcome<()> {
    socket.send(Message::text(value.to_string())).await.map_err(|error| format!("send: {error}"))
}

/// The next Text or Binary frame, within [`PATIENCE`] (pings do not extend it: a server that
/// pings an idle connection would otherwise keep a wait for an answer that never comes alive).
async fn next_frame(socket: &mut Socket) -> Outcome<tokio_tungstenite::tungstenite::Bytes> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| format!("nothing for {} s", PATIENCE.as_secs()))?;
        match next.ok_or("the server closed the connection")?.map_err(|error| format!("read: {error}"))? {
            message @ (Message::Text(_) | Message::Binary(_)) => return Ok(message.into_data()),
            _ => continue,
        }
    }
}

/// The fields of any frame this client looks at.
#[derive(serde::Deserialize)]
struct Frame<'a> {
    id: Option<u64>,
    method: Option<&'a str>,
    error: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    params: Option<Params<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params<'a> {
    process_id: Option<&'a str>,
    chunk: Option<&'a str>,
}

/// `None` for a frame of another shape (some other notification): it is skipped.
fn parse(frame: &[u8]) -> Option<Frame<'_>> {
    serde_json::from_slice(frame).ok()
}

fn start(id: u64, process_id: &str, argv: &[&str], tty: bool, pipe_stdin: bool) -> Value {
    let cwd = if newer() { "file:///" } else { "/" };
    let params = json!({"processId": process_id, "argv": argv, "cwd": cwd, "env": {}, "tty": tty,
        "pipeStdin": pipe_stdin});
    json!({"id": id, "method": "process/start", "params": params})
}

/// What one process of a scale run should print and has printed.
struct Expected {
    want: Vec<u8>,
    got: Vec<u8>,
    closed: bool,
}

/// Reads frames until every process in `expected` has closed; an error answer to a request or
/// any byte that differs from the expectation ends the run.
async fn collect(socket: &mut Socket, expected: &mut HashMap<String, Expected>) -> Outcome<()> {
    let mut open = expected.len();
    while open > 0 {
        let total = expected.len();
        let data = next_frame(socket)
            .await
            .map_err(|error| format!("{} of {total} processes closed, then {error}", total - open))?;
        let Some(frame) = parse(&data) else { continue };
        if frame.error.is_some() {
            return Err(format!("the server answered request {:?} with an error", frame.id));
        }
        let (Some(method), Some(params)) = (frame.method, frame.params) else { continue };
        let Some(entry) = params.process_id.and_then(|id| expected.get_mut(id)) else { continue };
        match method {
            "process/output" => {
                STANDARD
                    .decode_vec(params.chunk.unwrap_or_default(), &mut entry.got)
                    .map_err(|e| e.to_string())?;
            }
            "process/closed" if !entry.closed => {
                entry.closed = true;
                open -= 1;
                if entry.got != entry.want {
                    return Err(format!(
                        "process {:?}: {} bytes, not as sent",
                        params.process_id,
                        entry.got.len()
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A file of pseudo-random bytes; process `index` prints the 64 KiB starting at byte `index`,
/// so each process's output differs and a byte delivered to the wrong process shows.
struct Pattern {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Pattern {
    fn create() -> Pattern {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let bytes: Vec<u8> = (0..EACH + MANY)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let path = std::env::temp_dir().join(format!("exec-bench-pattern-{}", std::process::id()));
        std::fs::write(&path, &bytes).expect("write the pattern file");
        Pattern { path, bytes }
    }

    fn argv(&self, index: usize) -> Vec<String> {
        let skip = format!("skip={index}");
        let input = format!("if={}", self.path.display());
        let block = format!("bs={EACH}");
        ["/bin/dd", &input, "iflag=skip_bytes", &skip, &block, "count=1", "status=none"]
            .map(str::to_owned)
            .to_vec()
    }

    fn expected(&self, index: usize) -> Expected {
        Expected {
            want: self.bytes[index..index + EACH].to_vec(),
            got: Vec::with_capacity(EACH),
            closed: false,
        }
    }
}

impl Drop for Pattern {
    fn drop(&mut self) {
        // Best effort: a leftover file in the temp dir is harmless.
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// The measurements.

async fn one_session(socket: &mut Socket, pattern: &Pattern) -> Outcome<Duration> {
    let started = Instant::now();
    let mut expected = HashMap::with_capacity(MANY);
    for index in 0..MANY {
        let process_id = format!("many-{index}");
        let argv = pattern.argv(index);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        send(socket, start(10_000 + index as u64, &process_id, &argv, false, false)).await?;
        expected.insert(process_id, pattern.expected(index));
    }
    collect(socket, &mut expected).await?;
    Ok(started.elapsed())
}

async fn many_connections(url: &str, pattern: &Pattern) -> Outcome<Duration> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for connection in 0..CONNECTIONS {
        let url = url.to_owned();
        let argvs: Vec<(String, Vec<String>, Expected)> = (0..PER_CONNECTION)
            .map(|index| {
                let which = connection * PER_CONNECTION + index;
                (format!("c{connection}-{index}"), pattern.argv(which), pattern.expected(which))
            })
            .collect();
        tasks.spawn(async move {
            let mut socket = connect(&url).await?;
            let mut expected = HashMap::new();
            for (index, (process_id, argv, want)) in argvs.into_iter().enumerate() {
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                send(&mut socket, start(1 + index as u64, &process_id, &argv, false, false)).await?;
                expected.insert(process_id, want);
            }
            collect(&mut socket, &mut expected).await?;
            // Best effort: the server notices the dropped connection either way.
            let _ = socket.close(None).await;
            Outcome::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|error| format!("a connection task failed: {error}"))??;
    }
    Ok(started.elapsed())
}

/// Median time from writing a line until it comes back: `cat` on a pipe echoes the line itself;
/// `sh` on a PTY is sent `echo X$((N))Y` and must print `X<N>Y`, which the terminal's own echo of
/// the typed line does not contain, so the shell really ran the command.
async fn echo(socket: &mut Socket, tty: bool) -> Outcome<Duration> {
    let process_id = if tty { "echo-pty" } else { "echo-pipe" };
    let argv: &[&str] = if tty { &["/bin/sh"] } else { &["/bin/cat"] };
    send(socket, start(20_000, process_id, argv, tty, true)).await?;
    // Requests run concurrently on a server: a write sent before the start is answered may
    // arrive before the process exists.
    loop {
        let data = next_frame(socket).await?;
        let Some(frame) = parse(&data) else { continue };
        if frame.id == Some(20_000) {
            if frame.error.is_some() {
                return Err("the start failed".to_owned());
            }
            break;
        }
    }
    let mut samples = Vec::with_capacity(ECHOES);
    let mut seen = Vec::new();
    for round in 0..ECHOES {
        let number = 100_000 + round;
        let (line, marker) = if tty {
            (format!("echo X$(({number}))Y\n"), format!("X{number}Y"))
        } else {
            (format!("line {number}\n"), format!("line {number}\n"))
        };
        let started = Instant::now();
        let mut params = json!({"processId": process_id, "chunk": STANDARD.encode(&line)});
        if newer() {
            params["writeId"] = json!(format!("w-{round}"));
        }
        send(socket, json!({"id": 30_000 + round, "method": "process/write", "params": params})).await?;
        loop {
            let data = next_frame(socket).await?;
            let Some(frame) = parse(&data) else { continue };
            if frame.error.is_some() {
                return Err("process/write answered with an error".to_owned());
            }
            let (Some(method), Some(params)) = (frame.method, frame.params) else { continue };
            if params.process_id != Some(process_id) {
                continue;
            }
            match method {
                "process/output" => {
                    STANDARD
                        .decode_vec(params.chunk.unwrap_or_default(), &mut seen)
                        .map_err(|e| e.to_string())?;
                    if contains(&seen, marker.as_bytes()) {
                        break;
                    }
                }
                "process/closed" => return Err("the process ended before echoing".to_owned()),
                _ => {}
            }
        }
        samples.push(started.elapsed());
        seen.clear();
    }
    let params = json!({"processId": process_id});
    send(socket, json!({"id": 29_999, "method": "process/terminate", "params": params})).await?;
    samples.sort();
    Ok(samples[samples.len() / 2])
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The server's memory growth per process (KiB) with [`MANY`] idle processes in the session;
/// they are ended (and their close awaited) before returning.
async fn idle_processes(socket: &mut Socket, server: &[i32], idle_kib: u64) -> Outcome<f64> {
    for index in 0..MANY {
        send(
            socket,
            start(40_000 + index as u64, &format!("idle-{index}"), &["/bin/sleep", "600"], false, true),
        )
        .await?;
    }
    let mut answered = 0;
    while answered < MANY {
        let data = next_frame(socket)
            .await
            .map_err(|error| format!("{answered} of {MANY} starts answered, then {error}"))?;
        let Some(frame) = parse(&data) else { continue };
        if frame.id.is_some_and(|id| (40_000..40_000 + MANY as u64).contains(&id)) {
            if frame.error.is_some() {
                return Err("a start failed".to_owned());
            }
            answered += 1;
        }
    }
    let busy_kib = server_rss_kib(server);
    for index in 0..MANY {
        let params = json!({"processId": format!("idle-{index}")});
        send(socket, json!({"id": 50_000 + index, "method": "process/terminate", "params": params})).await?;
    }
    let mut expected: HashMap<String, Expected> = (0..MANY)
        .map(|index| (format!("idle-{index}"), Expected { want: Vec::new(), got: Vec::new(), closed: false }))
        .collect();
    collect(socket, &mut expected).await?;
    Ok(busy_kib.saturating_sub(idle_kib) as f64 / MANY as f64)
}

/// The server's peak memory (KiB) while one process streams 256 MiB to this client, sampled every
/// 2 ms on a thread of its own.
async fn stream_peak(socket: &mut Socket, server: &[i32]) -> Outcome<u64> {
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        let server = server.to_vec();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(server_rss_kib(&server));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let count = STREAM_BYTES.to_string();
    send(socket, start(60_000, "stream", &["/usr/bin/head", "-c", &count, "/dev/zero"], false, false))
        .await?;
    let mut received = 0u64;
    let outcome = loop {
        let data = match next_frame(socket).await {
            Ok(data) => data,
            Err(error) => break Err(error),
        };
        let Some(frame) = parse(&data) else { continue };
        let (Some(method), Some(params)) = (frame.method, frame.params) else { continue };
        if params.process_id != Some("stream") {
            continue;
        }
        match method {
            "process/output" => received += decoded_len(params.chunk.unwrap_or_default()),
            "process/closed" => break Ok(()),
            _ => {}
        }
    };
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().map_err(|_| "the sampler panicked")?;
    outcome?;
    if received != STREAM_BYTES {
        return Err(format!("{received} bytes arrived, not {STREAM_BYTES}"));
    }
    Ok(peak)
}

/// The length of what a base64 text decodes to (the stream is counted, not checked, here).
fn decoded_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take_while(|&byte| byte == b'=').count();
    (text.len() / 4 * 3 - padding) as u64
}

async fn ws_echo() -> Duration {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = TcpListener::from_std(listener).expect("listener");
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            let mut socket = tokio_tungstenite::accept_async(stream).await.expect("handshake");
            while let Some(Ok(message)) = socket.next().await {
                if message.is_text() && socket.send(message).await.is_err() {
                    break;
                }
            }
        });
    });
    let stream = TcpStream::connect(address).await.expect("connect");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (mut socket, _) =
        tokio_tungstenite::client_async(format!("ws://{address}/"), stream).await.expect("handshake");
    // The size of a small request such as `process/read` of an unknown id.
    let request =
        json!({"id": 100_000, "method": "process/read", "params": {"processId": "missing"}}).to_string();
    let mut samples = Vec::with_capacity(WS_ECHOES);
    for _ in 0..WS_ECHOES {
        let started = Instant::now();
        socket.send(Message::text(request.clone())).await.expect("send");
        loop {
            match socket.next().await.expect("echo").expect("read") {
                Message::Text(_) => break,
                _ => continue,
            }
        }
        samples.push(started.elapsed());
    }
    samples.sort();
    samples[samples.len() / 2]
}

// ---------------------------------------------------------------------------------------------
// Memory.

/// The server's processes: its process-group leader (the server itself) and the other live
/// processes of its group that do not share an address space with one already counted, minus the
/// children a server leaves in its own group (`sleep`, `dd`, `head`, `cat`, `sh`).
///
/// Counting each address space once matters: our server's per-session PID-namespace init is
/// cloned with `CLONE_VM`, so it shares the server's memory, and its `VmRSS` (and `Pss`) is the
/// server's own. Summing `VmRSS` over the group counted the server once more per live session.
/// `kcmp(KCMP_VM)` tells whether two processes share one address space. The list is taken once:
/// the inits that come and go with sessions never add memory of their own.
fn server_processes(group: i32) -> Vec<i32> {
    let mut members: Vec<i32> = vec![group];
    let Ok(entries) = std::fs::read_dir("/proc") else { return members };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else { continue };
        let comm = head.split_once('(').map_or("", |(_, comm)| comm);
        let mut fields = tail.split_whitespace();
        let state = fields.next();
        let pgrp: Option<i32> = fields.nth(1).and_then(|field| field.parse().ok());
        if pid == group
            || pgrp != Some(group)
            || state == Some("Z")
            || ["sleep", "dd", "head", "cat", "sh"].contains(&comm)
        {
            continue;
        }
        if members.iter().any(|&kept| same_address_space(kept, pid)) {
            continue;
        }
        members.push(pid);
    }
    members
}

fn same_address_space(first: i32, second: i32) -> bool {
    const KCMP_VM: nix::libc::c_long = 1;
    // SAFETY: kcmp only compares kernel objects of two processes; it reads and writes no memory
    // of ours. It answers 0 when both use the same address space.
    let answer = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_kcmp,
            first as nix::libc::c_long,
            second as nix::libc::c_long,
            KCMP_VM,
            0,
            0,
        )
    };
    answer == 0
}

/// The summed `VmRSS` (KiB) of `processes` (one per address space, see [`server_processes`]).
fn server_rss_kib(processes: &[i32]) -> u64 {
    processes.iter().map(|pid| rss_kib(&Path::new("/proc").join(pid.to_string()))).sum()
}

fn rss_kib(proc_dir: &Path) -> u64 {
    let Ok(status) = std::fs::read_to_string(proc_dir.join("status")) else { return 0 };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
