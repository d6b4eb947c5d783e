//! `cargo xtask bench`: measures our server and the Codex peer side by side (SPEC.md §10) and
//! reports ratios.
//!
//! Both servers run as release builds on loopback; the same Rust clients measure each in turn:
//! `/bin/true` start → `process/closed` latency, a small request's round trip, and 256 MiB of
//! stdout streamed to the client. The raw client (the `bench` example of `test-support`) measures
//! the server and the wire; the library client (`exec-transport`'s `client_bench` example, through
//! `ExecClient`) adds what an embedding agent pays for ordering, routing and decoding. Numbers vary
//! with the machine's load, so they are reported, never asserted.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// One server's measurements, parsed from the client's `RESULT` line.
#[derive(Debug, Default)]
struct Measurement {
    start_closed_ms: f64,
    rtt_us: f64,
    stream_gbps: f64,
    client_start_closed_ms: f64,
    client_rtt_us: f64,
    client_stream_gbps: f64,
    idle_rss_mib: f64,
    per_idle_process_kib: f64,
}

pub(crate) fn bench(root: &Path) -> Result<(), String> {
    crate::run(root, "cargo", &["build", "--release", "-p", "exec-server"], &[])?;
    crate::run(root, "cargo", &["build", "--release", "-p", "test-support", "--example", "bench"], &[])?;
    crate::run(
        root,
        "cargo",
        &["build", "--release", "-p", "exec-transport", "--example", "client_bench"],
        &[],
    )?;
    let release = root.join("target").join("release");
    let client = [release.join("examples").join("bench"), release.join("examples").join("client_bench")];

    let ours = measure(&client, "ours", Command::new(release.join("exec-server")))?;
    let codex = crate::peer::ensure_installed(root)?;
    let scratch = std::env::temp_dir().join(format!("exec-server-bench-codex-home-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|error| format!("cannot create {}: {error}", scratch.display()))?;
    let mut peer_command = Command::new(codex);
    peer_command.arg("exec-server").env("CODEX_HOME", &scratch);
    let peer = measure(&client, "peer", peer_command);
    // Best effort: a leftover scratch folder in the temp dir is harmless.
    let _ = std::fs::remove_dir_all(&scratch);
    let peer = peer?;

    println!();
    println!("| what | ours | peer (Codex 0.123) | ours vs peer |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| /bin/true start → closed, median | {:.3} ms | {:.3} ms | {:.1}× faster |",
        ours.start_closed_ms,
        peer.start_closed_ms,
        peer.start_closed_ms / ours.start_closed_ms
    );
    println!(
        "| small request round trip, median | {:.1} µs | {:.1} µs | {:.2}× faster |",
        ours.rtt_us,
        peer.rtt_us,
        peer.rtt_us / ours.rtt_us
    );
    println!(
        "| 256 MiB stdout to the client | {:.3} GB/s | {:.3} GB/s | {:.2}× the throughput |",
        ours.stream_gbps,
        peer.stream_gbps,
        ours.stream_gbps / peer.stream_gbps
    );
    println!(
        "| through `ExecClient`: /bin/true start → closed | {:.3} ms | {:.3} ms | {:.1}× faster |",
        ours.client_start_closed_ms,
        peer.client_start_closed_ms,
        peer.client_start_closed_ms / ours.client_start_closed_ms
    );
    println!(
        "| through `ExecClient`: round trip | {:.1} µs | {:.1} µs | {:.2}× faster |",
        ours.client_rtt_us,
        peer.client_rtt_us,
        peer.client_rtt_us / ours.client_rtt_us
    );
    println!(
        "| through `ExecClient`: 256 MiB stdout | {:.3} GB/s | {:.3} GB/s | {:.2}× the throughput |",
        ours.client_stream_gbps,
        peer.client_stream_gbps,
        ours.client_stream_gbps / peer.client_stream_gbps
    );
    println!(
        "| server memory, idle (RSS of its process group) | {:.1} MiB | {:.1} MiB | {:.2}× the memory |",
        ours.idle_rss_mib,
        peer.idle_rss_mib,
        ours.idle_rss_mib / peer.idle_rss_mib
    );
    println!(
        "| server memory per idle process (1,000 `sleep`s) | {:.1} KiB | {:.1} KiB | {:.2}× the memory |",
        ours.per_idle_process_kib,
        peer.per_idle_process_kib,
        ours.per_idle_process_kib / peer.per_idle_process_kib
    );
    Ok(())
}

/// Starts a server with `--listen ws://127.0.0.1:0`, reads its URL, runs the client against it,
/// and stops the server.
fn measure(clients: &[std::path::PathBuf], label: &str, mut server: Command) -> Result<Measurement, String> {
    // Its own process group, so the whole tree goes down together: the peer's `codex` is a Node
    // launcher whose native server child would otherwise outlive it.
    server
        .args(["--listen", "ws://127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = server.spawn().map_err(|error| format!("cannot start the {label} server: {error}"))?;
    let result = run_clients(clients, label, &mut child);
    // Ending the server is best effort: it may already have exited, which is what we want.
    let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", child.id())]).status();
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn run_clients(
    clients: &[std::path::PathBuf],
    label: &str,
    server: &mut Child,
) -> Result<Measurement, String> {
    let stdout = server.stdout.take().ok_or("the server has no stdout")?;
    let mut url = String::new();
    BufReader::new(stdout)
        .read_line(&mut url)
        .map_err(|error| format!("cannot read the {label} server's URL: {error}"))?;
    let url = url.trim();
    if !url.starts_with("ws://") {
        return Err(format!("the {label} server printed {url:?} instead of its URL"));
    }
    eprintln!("xtask: measuring {label} at {url}");
    let mut measurement = Measurement::default();
    for client in clients {
        // The server leads its own process group (see `measure`): its id lets the library client
        // measure the group's memory.
        let group = server.id().to_string();
        let output = Command::new(client)
            .args([url, label, group.as_str()])
            .output()
            .map_err(|error| format!("cannot run {}: {error}", client.display()))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().find(|line| line.starts_with("RESULT ")).ok_or_else(|| {
            format!("{} failed on {label}: {}", client.display(), String::from_utf8_lossy(&output.stderr))
        })?;
        eprintln!("xtask: {line}");
        for field in line.split_whitespace().skip(2) {
            let (key, value) = field.split_once('=').ok_or_else(|| format!("bad field {field:?}"))?;
            let value: f64 = value.parse().map_err(|_| format!("bad number in {field:?}"))?;
            match key {
                "start_closed_ms" => measurement.start_closed_ms = value,
                "rtt_us" => measurement.rtt_us = value,
                "stream_gbps" => measurement.stream_gbps = value,
                "client_start_closed_ms" => measurement.client_start_closed_ms = value,
                "client_rtt_us" => measurement.client_rtt_us = value,
                "client_stream_gbps" => measurement.client_stream_gbps = value,
                "idle_rss_mib" => measurement.idle_rss_mib = value,
                "per_idle_process_kib" => measurement.per_idle_process_kib = value,
                _ => {}
            }
        }
    }
    Ok(measurement)
}
