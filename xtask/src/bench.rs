//! `cargo xtask bench`: measures our server and both Codex servers side by side with the local
//! limits of the machine (SPEC.md §10) and prints one table, also written as JSON.
//!
//! Every server runs as a release build on loopback, in its own process group, and is measured
//! by the same clients in turn, each printing one `RESULT LABEL key=value ...` line that is parsed
//! into a map, whatever its keys:
//! - the raw client (`test-support`'s `bench` example): the server and the wire;
//! - the library client (`exec-transport`'s `client_bench` example, through `ExecClient`);
//! - `exec-client run -n -- head -c 268435456 /dev/zero` with its stdout piped into this process,
//!   which counts the bytes (`cli_stream_gbps`);
//! - the scale client (`test-support`'s `scale` example): 1,000 processes in one session, 100
//!   connections, echo round trips on a pipe and a PTY, and the server's memory.
//!
//! The local limits are measured in the same run: `/bin/true` spawned and waited with std
//! `Command` (posix_spawn), 256 MiB through `head -c 268435456 /dev/zero | cat` (median of 7), a line through
//! `cat` on pipes, and a WebSocket echo on loopback (`scale --ws-echo`).
//!
//! A new measurement is a new `key=value` on a client's `RESULT` line plus one line in [`ROWS`];
//! a key without a row still shows, at the end of the table, under its own name. A server that
//! cannot do something shows `—` with a footnote giving the reason. Numbers move with the
//! machine's load, so they are reported, never asserted.
//!
//! Then the wide-area rows of `cargo xtask wan` (`crate::wan`): a short command over a 50 ms
//! round-trip link between two network namespaces, skipped with a message where the machine
//! does not allow it.
//!
//! Usage: `cargo xtask bench [--json PATH]`; the JSON also goes to
//! `<target>/bench/<UTC date-time>.json`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Bytes for every stream measurement (the raw and library clients use the same count).
const STREAM_BYTES: u64 = 256 << 20;
/// Samples of the local `/bin/true` spawn and of the local `cat` echo.
const LOCAL_SPAWNS: usize = 300;
const LOCAL_ECHOES: usize = 1000;
/// Runs of the local 256 MiB pipe (median).
const LOCAL_PIPES: usize = 7;
/// How long one client may take against one server (the slowest, Codex 0.123's scale run, takes
/// about 1 minute here).
const CLIENT_DEADLINE: Duration = Duration::from_secs(240);

/// What a table row shows: a key of the clients' maps, and what it is compared with.
struct Row {
    what: &'static str,
    key: &'static str,
    /// The key of the local limit this row is compared with, if there is one.
    local: Option<&'static str>,
    target: Target,
}

/// A row's goal (SPEC.md §10, issue 13); the table says whether ours meets it.
#[derive(Clone, Copy)]
enum Target {
    None,
    AtMost(f64),
    AtLeast(f64),
    /// At most this many times the local limit.
    TimesLocal(f64),
    /// At least this much, and at least this share of the local limit.
    AtLeastAndShare(f64, f64),
    Text(&'static str),
}

/// The table, in order. The unit and direction come from the key's suffix (see [`Unit`]).
const ROWS: &[Row] = &[
    Row {
        what: "`/bin/true` start → closed, raw client, median",
        key: "start_closed_ms",
        local: Some("spawn_wait_ms"),
        target: Target::TimesLocal(2.0),
    },
    Row {
        what: "`/bin/true` start → closed, workspace-write sandbox, raw client, median",
        key: "sandboxed_start_closed_ms",
        local: Some("spawn_wait_ms"),
        target: Target::None,
    },
    Row {
        what: "`/bin/true` start → closed, `ExecClient`, median",
        key: "client_start_closed_ms",
        local: Some("spawn_wait_ms"),
        target: Target::TimesLocal(2.0),
    },
    Row {
        what: "small request round trip, raw client, median",
        key: "rtt_us",
        local: Some("ws_echo_us"),
        target: Target::AtMost(50.0),
    },
    Row {
        what: "small request round trip, `ExecClient`, median",
        key: "client_rtt_us",
        local: Some("ws_echo_us"),
        target: Target::AtMost(60.0),
    },
    Row {
        what: "256 MiB stdout, raw client",
        key: "stream_gbps",
        local: Some("pipe_gbps"),
        target: Target::None,
    },
    Row {
        what: "256 MiB stdout, `ExecClient`",
        key: "client_stream_gbps",
        local: Some("pipe_gbps"),
        target: Target::AtLeast(0.8),
    },
    Row {
        what: "256 MiB stdout, `ExecClient`, binary frames (extension)",
        key: "client_binary_stream_gbps",
        local: Some("pipe_gbps"),
        target: Target::AtLeastAndShare(1.5, 0.75),
    },
    Row {
        what: "256 MiB stdout, `exec-client run` into a pipe",
        key: "cli_stream_gbps",
        local: Some("pipe_gbps"),
        target: Target::AtLeast(0.7),
    },
    Row {
        what: "1,000 processes × 64 KiB at once, one session, wall",
        key: "scale_1000x64k_s",
        local: None,
        target: Target::Text("timed, no lost byte"),
    },
    Row {
        what: "100 connections × 10 processes × 64 KiB, wall",
        key: "scale_100x10_s",
        local: None,
        target: Target::Text("timed, no lost byte"),
    },
    Row {
        what: "echo round trip, `cat` on a pipe, median",
        key: "echo_pipe_us",
        local: Some("cat_echo_us"),
        target: Target::None,
    },
    Row {
        what: "echo round trip, `sh` on a PTY, median",
        key: "echo_pty_us",
        local: None,
        target: Target::None,
    },
    Row { what: "server memory, idle", key: "idle_rss_mib", local: None, target: Target::AtMost(10.0) },
    Row {
        what: "server memory per idle process (1,000 `sleep`s)",
        key: "per_idle_process_kib",
        local: None,
        target: Target::AtMost(64.0),
    },
    Row {
        what: "server memory, peak during the 256 MiB stream",
        key: "stream_peak_rss_mib",
        local: None,
        target: Target::None,
    },
];

/// One server under test.
struct Server {
    /// The label in `RESULT` lines and the JSON.
    label: &'static str,
    /// The column heading.
    column: &'static str,
    program: PathBuf,
    /// For a Codex server: its `CODEX_HOME` (it is started as `codex exec-server`).
    codex_home: Option<PathBuf>,
}

/// What was measured of one server: every `key=value` of every client, and why some are missing.
#[derive(Default)]
struct Measured {
    values: BTreeMap<String, f64>,
    /// `(key, reason)`; an empty key means the reason covers whatever is missing.
    notes: Vec<(String, String)>,
}

pub(crate) fn bench(root: &Path, args: &[String]) -> Result<(), String> {
    let json_path = match args {
        [] => None,
        [flag, path] if flag == "--json" => Some(PathBuf::from(path)),
        _ => return Err("usage: cargo xtask bench [--json PATH]".to_owned()),
    };
    let build_started = Instant::now();
    crate::run(
        root,
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "exec-server",
            "-p",
            "exec-client",
            "-p",
            "test-support",
            "-p",
            "exec-transport",
            "--bins",
            "--example",
            "bench",
            "--example",
            "scale",
            "--example",
            "client_bench",
        ],
        &[],
    )?;
    let build_time = build_started.elapsed();
    let started = Instant::now();
    let target = target_dir(root);
    let release = target.join("release");
    let tools = Tools {
        raw: release.join("examples").join("bench"),
        library: release.join("examples").join("client_bench"),
        scale: release.join("examples").join("scale"),
        cli: release.join("exec-client"),
    };
    let machine = Machine::now();

    eprintln!("xtask: measuring the local limits");
    let local = local_limits(&tools)?;

    let codex_123 = crate::peer::ensure_installed(root)?;
    let codex_171 = crate::peer::ensure_codex(root, "codex-0.171", "0.171.0")?;
    let scratch = std::env::temp_dir().join(format!("exec-server-bench-codex-home-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|error| format!("cannot create {}: {error}", scratch.display()))?;
    let codex = |label, column, launcher: PathBuf| Server {
        label,
        column,
        program: launcher,
        codex_home: Some(scratch.clone()),
    };
    let servers = vec![
        Server { label: "ours", column: "ours", program: release.join("exec-server"), codex_home: None },
        codex("codex-0.123", "Codex 0.123", codex_123),
        codex("codex-0.171", "Codex 0.171", codex_171),
    ];
    let mut results = Vec::new();
    for server in servers {
        let (label, column) = (server.label, server.column);
        results.push((label, column, measure(&tools, &server)));
    }
    // Best effort: a leftover scratch folder in the temp dir is harmless.
    let _ = std::fs::remove_dir_all(&scratch);

    eprintln!("xtask: measuring a short command over a 50 ms round-trip link (cargo xtask wan)");
    let wan = crate::wan::measure(root).unwrap_or_else(|error| {
        eprintln!("xtask: the wide-area measurement failed: {error}");
        Vec::new()
    });

    let elapsed = started.elapsed();
    let table = table(&local, &results);
    println!();
    println!("{}", machine.describe());
    println!();
    print!("{table}");
    println!();
    if wan.is_empty() {
        println!("Short command over a 50 ms round-trip link: not measured (see the message above).");
    } else {
        println!("Short command (`/bin/echo hi`) over a 50 ms round-trip link, median of 10:");
        println!();
        println!("| pattern | latency | network round trips (÷ 50 ms) | target |");
        println!("| --- | --- | --- | --- |");
        for (pattern, ms) in &wan {
            let target = if pattern.contains("inline") { "≤ 1.1" } else { "" };
            println!("| {pattern} | {ms:.1} ms | {:.2} | {target} |", ms / 50.0);
        }
    }
    println!();
    println!(
        "bench: measured in {:.0} s (build {:.0} s before it)",
        elapsed.as_secs_f64(),
        build_time.as_secs_f64()
    );

    let json = to_json(&machine, elapsed, &local, &results, &wan);
    let folder = target.join("bench");
    std::fs::create_dir_all(&folder)
        .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
    let mut paths = vec![folder.join(format!("{}.json", machine.stamp))];
    paths.extend(json_path);
    for path in paths {
        std::fs::write(&path, &json).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        println!("bench: wrote {}", path.display());
    }
    Ok(())
}

/// The programs that measure.
struct Tools {
    raw: PathBuf,
    library: PathBuf,
    scale: PathBuf,
    cli: PathBuf,
}

/// Cargo's target folder, as cargo itself resolves it for this workspace.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { root.join(dir) }
        }
        None => root.join("target"),
    }
}

// ---------------------------------------------------------------------------------------------
// Local limits.

fn local_limits(tools: &Tools) -> Result<BTreeMap<String, f64>, String> {
    let mut local = BTreeMap::new();

    let mut samples = Vec::with_capacity(LOCAL_SPAWNS);
    for _ in 0..LOCAL_SPAWNS {
        let started = Instant::now();
        let status = Command::new("/bin/true").status().map_err(|error| format!("/bin/true: {error}"))?;
        samples.push(started.elapsed());
        if !status.success() {
            return Err("/bin/true failed".to_owned());
        }
    }
    local.insert("spawn_wait_ms".to_owned(), median(samples).as_secs_f64() * 1e3);

    // A single pipe run takes 50–150 ms here and varies threefold: the median of a few.
    let script = format!("head -c {STREAM_BYTES} /dev/zero | cat > /dev/null");
    let mut samples = Vec::with_capacity(LOCAL_PIPES);
    for _ in 0..LOCAL_PIPES {
        let started = Instant::now();
        let status =
            Command::new("sh").args(["-c", &script]).status().map_err(|error| format!("sh: {error}"))?;
        samples.push(started.elapsed());
        if !status.success() {
            return Err(format!("`{script}` failed"));
        }
    }
    local.insert("pipe_gbps".to_owned(), STREAM_BYTES as f64 / median(samples).as_secs_f64() / 1e9);

    local.insert("cat_echo_us".to_owned(), cat_echo()?.as_secs_f64() * 1e6);

    let output = Command::new(&tools.scale)
        .arg("--ws-echo")
        .output()
        .map_err(|error| format!("cannot run {}: {error}", tools.scale.display()))?;
    let (_, values) = parse_result(&String::from_utf8_lossy(&output.stdout))
        .ok_or_else(|| format!("scale --ws-echo failed: {}", String::from_utf8_lossy(&output.stderr)))?;
    local.extend(values);
    Ok(local)
}

/// Median time for a line written to `cat`'s stdin pipe to come back on its stdout pipe.
fn cat_echo() -> Result<Duration, String> {
    let mut cat = Command::new("/bin/cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cat: {error}"))?;
    let mut input = cat.stdin.take().ok_or("cat has no stdin")?;
    let mut output = BufReader::new(cat.stdout.take().ok_or("cat has no stdout")?);
    let mut samples = Vec::with_capacity(LOCAL_ECHOES);
    let mut line = String::new();
    for round in 0..LOCAL_ECHOES {
        let sent = format!("line {round}\n");
        let started = Instant::now();
        input.write_all(sent.as_bytes()).map_err(|error| format!("write to cat: {error}"))?;
        line.clear();
        output.read_line(&mut line).map_err(|error| format!("read from cat: {error}"))?;
        samples.push(started.elapsed());
        if line != sent {
            return Err(format!("cat answered {line:?} to {sent:?}"));
        }
    }
    drop(input);
    // cat ends at the end of its input; its status says nothing about the measurement.
    let _ = cat.wait();
    Ok(median(samples))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

// ---------------------------------------------------------------------------------------------
// Servers.

/// Runs every client against `server`, each against a fresh instance (`--listen
/// ws://127.0.0.1:0`), so that what one client leaves behind (retained output, detached sessions
/// waiting for their TTL) weighs on no other, the memory rows least of all. A client that fails
/// leaves a note instead of stopping the run.
fn measure(tools: &Tools, server: &Server) -> Measured {
    let label = server.label;
    let mut measured = Measured::default();
    for client in [&tools.raw, &tools.library, &tools.scale] {
        let running = match Running::start(server) {
            Ok(running) => running,
            Err(error) => {
                measured.notes.push((String::new(), error));
                return measured;
            }
        };
        eprintln!("xtask: measuring {label} at {} with {}", running.url, client.display());
        let group = running.group.to_string();
        let args = if *client == tools.scale {
            vec![&*running.url, label, &group]
        } else {
            vec![&*running.url, label]
        };
        match run_client(client, &args) {
            Ok((values, notes)) => {
                measured.values.extend(values);
                measured.notes.extend(notes);
            }
            Err(error) => measured.notes.push((String::new(), error)),
        }
        // The CLI stream shares the library client's server: both go through `ExecClient`.
        if *client == tools.library {
            match cli_stream(&tools.cli, &running.url) {
                Ok(gbps) => {
                    measured.values.insert("cli_stream_gbps".to_owned(), gbps);
                }
                Err(error) => measured.notes.push(("cli_stream_gbps".to_owned(), error)),
            }
        }
    }
    measured
}

/// A server in its own process group; dropping it kills the whole group.
struct Running {
    child: Child,
    url: String,
    group: u32,
}

impl Running {
    fn start(server: &Server) -> Result<Running, String> {
        let label = server.label;
        // Every server gets the hard limit of open files, as ours sets for itself: a soft limit of
        // 1024 would cap a peer near 250 processes. Its own process group, so the whole tree goes
        // down together: a peer's `codex` is a Node launcher whose native server child would
        // otherwise outlive it.
        let mut command = Command::new("sh");
        command
            .args(["-c", "ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$@\"", "sh"])
            .arg(&server.program);
        if let Some(home) = &server.codex_home {
            command.arg("exec-server").env("CODEX_HOME", home);
        }
        command
            .args(["--listen", "ws://127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child =
            command.spawn().map_err(|error| format!("cannot start the {label} server: {error}"))?;
        let group = child.id();
        let stdout = child.stdout.take().ok_or("the server has no stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut url = String::new();
        let read = reader.read_line(&mut url);
        // Keep draining so the server never blocks on a full stdout pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let running = Running { child, url: url.trim().to_owned(), group };
        read.map_err(|error| format!("cannot read the {label} server's URL: {error}"))?;
        if !running.url.starts_with("ws://") {
            return Err(format!("the {label} server printed {:?} instead of its URL", running.url));
        }
        Ok(running)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Errors here mean the group is gone already, which is what we want.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.group)])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type ClientResult = (BTreeMap<String, f64>, Vec<(String, String)>);

/// Runs one client and parses its `RESULT` line and its `SKIP key: reason` lines.
fn run_client(client: &Path, args: &[&str]) -> Result<ClientResult, String> {
    let name =
        client.file_name().map_or_else(|| client.display().to_string(), |name| name.display().to_string());
    let output = output_within(Command::new(client).args(args), CLIENT_DEADLINE)
        .map_err(|error| format!("{name}: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let notes = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("SKIP "))
        .filter_map(|line| line.split_once(": "))
        .map(|(key, reason)| (key.to_owned(), reason.to_owned()))
        .collect();
    let Some((line, values)) = parse_result(&stdout) else {
        // A panic's message is the line after "panicked at"; else the last line said.
        let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
        let panic =
            lines.iter().position(|line| line.contains("panicked at")).and_then(|at| lines.get(at + 1));
        let reason = panic.or(lines.last()).map_or("no output", |line| line.trim());
        return Err(format!("{name} failed: {reason}"));
    };
    eprintln!("xtask: {line}");
    Ok((values, notes))
}

/// Runs `command` to completion with its output captured; kills it past `deadline` (a client that
/// waits for something a server never sends must not stall the whole run).
fn output_within(command: &mut Command, deadline: Duration) -> Result<std::process::Output, String> {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run it: {error}"))?;
    let id = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(deadline).is_err() {
            // The child may have exited meanwhile; then there is nothing to kill.
            let _ = Command::new("kill").args(["-s", "KILL", &id.to_string()]).stderr(Stdio::null()).status();
            return true;
        }
        false
    });
    let output = child.wait_with_output().map_err(|error| format!("wait: {error}"));
    // The watchdog may have given up already; then the send has no receiver, which is fine.
    let _ = done.send(());
    if watchdog.join().unwrap_or(false) {
        return Err(format!("no result within {} s, stopped", deadline.as_secs()));
    }
    output
}

/// The first `RESULT LABEL key=value ...` line of `text`, and its numeric fields.
fn parse_result(text: &str) -> Option<(&str, BTreeMap<String, f64>)> {
    let line = text.lines().find(|line| line.starts_with("RESULT "))?;
    let values = line
        .split_whitespace()
        .skip(2)
        .filter_map(|field| field.split_once('='))
        .filter_map(|(key, value)| Some((key.to_owned(), value.parse().ok()?)))
        .collect();
    Some((line, values))
}

/// `exec-client run` of `head -c 268435456 /dev/zero` with its stdout piped into this process,
/// which counts every byte; GB/s from start to the client's exit.
fn cli_stream(cli: &Path, url: &str) -> Result<f64, String> {
    let count = STREAM_BYTES.to_string();
    let started = Instant::now();
    let mut child = Command::new(cli)
        .args(["--url", url, "run", "-n", "--", "head", "-c", &count, "/dev/zero"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run exec-client: {error}"))?;
    let mut stdout = child.stdout.take().ok_or("exec-client has no stdout")?;
    let mut buffer = vec![0u8; 1 << 18];
    // Compared with `==` (a `memcmp`): xtask is a debug build, and a byte-by-byte scan there
    // would be slower than the stream it checks.
    let zeros = vec![0u8; 1 << 18];
    let mut received = 0u64;
    let mut nonzero = false;
    loop {
        let read = stdout.read(&mut buffer).map_err(|error| format!("read from exec-client: {error}"))?;
        if read == 0 {
            break;
        }
        nonzero |= buffer[..read] != zeros[..read];
        received += read as u64;
    }
    let output = child.wait_with_output().map_err(|error| format!("exec-client: {error}"))?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("exec-client exited {}: {}", output.status, stderr.trim()));
    }
    if received != STREAM_BYTES || nonzero {
        return Err(format!("exec-client printed {received} bytes, not {STREAM_BYTES} zeros"));
    }
    Ok(received as f64 / elapsed.as_secs_f64() / 1e9)
}

// ---------------------------------------------------------------------------------------------
// Reporting.

/// A measurement's unit, from its key's suffix.
#[derive(Clone, Copy)]
struct Unit {
    name: &'static str,
    decimals: usize,
    higher_is_better: bool,
}

impl Unit {
    fn of(key: &str) -> Unit {
        let (name, decimals, higher_is_better) = match key.rsplit_once('_').map_or("", |(_, suffix)| suffix) {
            "ms" => ("ms", 3, false),
            "us" => ("µs", 1, false),
            "s" => ("s", 3, false),
            "gbps" => ("GB/s", 3, true),
            "mib" => ("MiB", 1, false),
            "kib" => ("KiB", 1, false),
            _ => ("", 3, false),
        };
        Unit { name, decimals, higher_is_better }
    }

    fn show(self, value: f64) -> String {
        format!("{value:.0$} {1}", self.decimals, self.name).trim_end().to_owned()
    }

    /// How many times better `ours` is than `other` (> 1: ours is better).
    fn advantage(self, ours: f64, other: f64) -> f64 {
        if self.higher_is_better { ours / other } else { other / ours }
    }
}

fn table(local: &BTreeMap<String, f64>, results: &[(&str, &str, Measured)]) -> String {
    let mut out = String::new();
    let mut footnotes: Vec<String> = Vec::new();
    let mut header = String::from("| what |");
    for (_, column, _) in results {
        header.push_str(&format!(" {column} |"));
    }
    header.push_str(" local limit | ours vs best peer | target |");
    out.push_str(&header);
    out.push('\n');
    out.push_str(&"| --- ".repeat(results.len() + 4));
    out.push_str("|\n");

    // Keys measured but without a row still show, under their own name.
    let mut rows: Vec<(&str, &str, Option<&str>, Target)> =
        ROWS.iter().map(|row| (row.what, row.key, row.local, row.target)).collect();
    for (_, _, measured) in results {
        for key in measured.values.keys() {
            if !rows.iter().any(|(_, known, _, _)| known == key) {
                rows.push((key, key, None, Target::None));
            }
        }
    }

    for &(what, key, local_key, target) in &rows {
        let unit = Unit::of(key);
        let mut line = format!("| {what} |");
        for (label, column, measured) in results {
            match measured.values.get(key) {
                Some(&value) => line.push_str(&format!(" {} |", unit.show(value))),
                None => {
                    // A note about this row, else whatever stopped a whole client.
                    let specific = measured.notes.iter().find(|(note_key, _)| note_key == key);
                    let note = match specific {
                        Some((_, reason)) => format!("{column}, `{key}`: {reason}"),
                        None => {
                            let general: Vec<&str> = measured
                                .notes
                                .iter()
                                .filter(|(note_key, _)| note_key.is_empty())
                                .map(|(_, reason)| reason.as_str())
                                .collect();
                            if general.is_empty() {
                                format!("{column}: not measured")
                            } else {
                                format!("{column} ({label}): {}", general.join("; "))
                            }
                        }
                    };
                    let number = match footnotes.iter().position(|known| *known == note) {
                        Some(index) => index + 1,
                        None => {
                            footnotes.push(note);
                            footnotes.len()
                        }
                    };
                    line.push_str(&format!(" — [{number}] |"));
                }
            }
        }
        let limit = local_key.and_then(|local_key| local.get(local_key).copied());
        match limit {
            Some(limit) => line.push_str(&format!(" {} |", unit.show(limit))),
            None => line.push_str(" — |"),
        }
        let ours = results.first().and_then(|(_, _, measured)| measured.values.get(key).copied());
        let best_peer = results
            .iter()
            .skip(1)
            .filter_map(|(_, _, measured)| measured.values.get(key).copied())
            .reduce(|best, value| if unit.advantage(value, best) > 1.0 { value } else { best });
        match (ours, best_peer) {
            (Some(ours), Some(peer)) => {
                let advantage = unit.advantage(ours, peer);
                if advantage >= 1.0 {
                    line.push_str(&format!(" {advantage:.2}× better |"));
                } else {
                    line.push_str(&format!(" {:.2}× worse |", 1.0 / advantage));
                }
            }
            _ => line.push_str(" — |"),
        }
        line.push_str(&format!(" {} |", target_text(target, unit, ours, limit)));
        out.push_str(&line);
        out.push('\n');
    }
    if !footnotes.is_empty() {
        out.push('\n');
        for (index, note) in footnotes.iter().enumerate() {
            out.push_str(&format!("- [{}] {note}\n", index + 1));
        }
    }
    out
}

fn target_text(target: Target, unit: Unit, ours: Option<f64>, limit: Option<f64>) -> String {
    let verdict = |met: bool| if met { "met" } else { "**not met**" };
    match (target, ours) {
        (Target::None, _) => "—".to_owned(),
        (Target::Text(text), _) => text.to_owned(),
        (Target::AtMost(goal), Some(ours)) => format!("≤ {}: {}", unit.show(goal), verdict(ours <= goal)),
        (Target::AtLeast(goal), Some(ours)) => format!("≥ {}: {}", unit.show(goal), verdict(ours >= goal)),
        (Target::TimesLocal(times), Some(ours)) => match limit {
            Some(limit) => {
                format!("≤ {times}× local: {:.2}×, {}", ours / limit, verdict(ours <= times * limit))
            }
            None => format!("≤ {times}× local"),
        },
        (Target::AtLeastAndShare(goal, share), Some(ours)) => match limit {
            Some(limit) => format!(
                "≥ {} and ≥ {:.0} % of local: {:.0} %, {}",
                unit.show(goal),
                share * 100.0,
                ours / limit * 100.0,
                verdict(ours >= goal && ours >= share * limit)
            ),
            None => format!("≥ {}: {}", unit.show(goal), verdict(ours >= goal)),
        },
        (Target::AtLeastAndShare(goal, share), None) => {
            format!("≥ {} and ≥ {:.0} % of local", unit.show(goal), share * 100.0)
        }
        (Target::AtMost(goal), None) => format!("≤ {}", unit.show(goal)),
        (Target::AtLeast(goal), None) => format!("≥ {}", unit.show(goal)),
        (Target::TimesLocal(times), None) => format!("≤ {times}× local"),
    }
}

/// The machine and the moment of a run.
struct Machine {
    /// UTC, as `2026-11-26T17:05:09Z`.
    date: String,
    /// The same, for a file name: `20261126T170509Z`.
    stamp: String,
    cpus: usize,
    kernel: String,
    load: String,
}

impl Machine {
    fn now() -> Machine {
        let seconds =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs());
        let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
        let (hour, minute, second) = (seconds % 86_400 / 3600, seconds % 3600 / 60, seconds % 60);
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default().trim().to_owned();
        let load = read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        Machine {
            date: format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"),
            stamp: format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z"),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            kernel: read("/proc/sys/kernel/osrelease"),
            load,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}: {} CPUs, Linux {}, load average {} at the start; `cargo xtask bench`",
            self.date, self.cpus, self.kernel, self.load
        )
    }
}

/// Year, month and day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

fn to_json(
    machine: &Machine,
    elapsed: Duration,
    local: &BTreeMap<String, f64>,
    results: &[(&str, &str, Measured)],
    wan: &[(String, f64)],
) -> String {
    let servers: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .map(|(label, _, measured)| {
            let notes: Vec<_> = measured
                .notes
                .iter()
                .map(|(key, reason)| serde_json::json!({"key": key, "reason": reason}))
                .collect();
            (label.to_string(), serde_json::json!({"values": measured.values, "notes": notes}))
        })
        .collect();
    let json = serde_json::json!({
        "date": machine.date,
        "command": "cargo xtask bench",
        "machine": {"cpus": machine.cpus, "kernel": machine.kernel, "loadavg": machine.load},
        "elapsed_s": elapsed.as_secs_f64(),
        "local": local,
        "servers": servers,
        "wan_ms": wan.iter().cloned().collect::<BTreeMap<String, f64>>(),
    });
    let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
    text.push('\n');
    text
}
