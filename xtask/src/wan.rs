//! `cargo xtask wan`: the latency of one short command over a simulated wide-area link.
//!
//! Two network namespaces joined by a veth pair, 25 ms of `tc netem` delay on each side (a 50 ms
//! round trip), the server inside one namespace listening on its veth address, the measuring
//! client (`exec-transport`'s `wan_bench` example) inside the other. Measured, once the
//! connection and the handshake are up (median of [`RUNS`]): the Codex 0.171 client's call
//! pattern against Codex's own 0.171 server and against ours, `ExecClient` plain, and
//! `ExecClient` with the inline wait on `process/start`. Each is reported in milliseconds and in
//! round trips (latency / 50 ms).
//!
//! The namespaces are created and removed here, on every path (a guard removes them on error and
//! on panic). Where the machine does not allow it (no `ip` or `tc`, not root, no namespaces) the
//! run is skipped with the reason. A kernel without the `netem` qdisc gets the same topology with
//! the delay applied by a userspace relay inside the client's namespace (the example's `proxy`
//! mode); the report says which one it used.
//!
//! It does not compare throughput (that is `bench`) and asserts nothing: it reports.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Commands measured per pattern (after one unmeasured warm-up).
const RUNS: usize = 10;
/// One-way delay on each side of the link.
const ONE_WAY_MS: u64 = 25;
/// The round trip the link adds.
const RTT_MS: f64 = 2.0 * ONE_WAY_MS as f64;
/// The label of the calibration row: a request answered without work.
const BARE_REQUEST: &str = "one bare request (the link's own round trip)";
/// The server's and the client's veth addresses (private to the namespaces).
const SERVER_ADDRESS: &str = "10.213.0.1";
const CLIENT_ADDRESS: &str = "10.213.0.2";

/// `cargo xtask wan`: measures and prints the table.
pub(crate) fn wan(root: &Path) -> Result<(), String> {
    let rows = measure(root)?;
    if rows.is_empty() {
        return Ok(());
    }
    // The link's measured round trip (stacks, and the relay where there is one, included).
    let bare = rows.iter().find(|(label, _)| label.starts_with(BARE_REQUEST)).map(|(_, ms)| *ms);
    println!();
    println!(
        "| `echo hi`, after the handshake, 50 ms RTT | median | round trips (÷ 50 ms) | ÷ one bare request |"
    );
    println!("| --- | --- | --- | --- |");
    for (label, ms) in &rows {
        let relative = bare.map_or_else(|| "-".to_owned(), |bare| format!("{:.2}", ms / bare));
        println!("| {label} | {ms:.1} ms | {:.2} | {relative} |", ms / RTT_MS);
    }
    Ok(())
}

/// The measurements as `(label, median milliseconds)`; empty (with the reason on stderr) when
/// the machine does not allow the link. Round trips are `ms / 50`.
pub(crate) fn measure(root: &Path) -> Result<Vec<(String, f64)>, String> {
    if let Some(reason) = unavailable() {
        eprintln!("xtask: wan skipped: {reason}");
        return Ok(Vec::new());
    }
    crate::run(root, "cargo", &["build", "--release", "-p", "exec-server"], &[])?;
    crate::run(
        root,
        "cargo",
        &["build", "--release", "-p", "exec-transport", "--example", "wan_bench"],
        &[],
    )?;
    let release = target_dir(root).join("release");
    let bench = release.join("examples").join("wan_bench");
    let codex = crate::peer::ensure_codex(root, "codex-0.171", "0.171.0")?;

    let link = Link::create()?;
    let delay = link.delay()?;
    let scratch = std::env::temp_dir().join(format!("exec-server-wan-codex-home-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|error| format!("cannot create {}: {error}", scratch.display()))?;

    let mut rows = Vec::new();
    let mut codex_server = Command::new(&codex);
    codex_server.arg("exec-server").env("CODEX_HOME", &scratch);
    let result = (|| {
        let server = link.start_server("Codex 0.171", codex_server)?;
        let (url, relay) = link.client_url(&bench, &server.url, &delay)?;
        rows.push(("0.171 client pattern → Codex 0.171 server".to_owned(), link.run(&bench, "codex", &url)?));
        drop((relay, server));
        let mut ours = Command::new(release.join("exec-server"));
        // The veth address is not loopback; nothing but this benchmark can reach the namespace.
        ours.arg("--insecure-no-auth");
        let server = link.start_server("ours", ours)?;
        let (url, _relay) = link.client_url(&bench, &server.url, &delay)?;
        rows.push((
            "one bare request (the link's own round trip) → ours".to_owned(),
            link.run(&bench, "baseline", &url)?,
        ));
        rows.push(("0.171 client pattern → ours".to_owned(), link.run(&bench, "codex", &url)?));
        rows.push(("`ExecClient` → ours".to_owned(), link.run(&bench, "plain", &url)?));
        rows.push(("`ExecClient` with the inline wait → ours".to_owned(), link.run(&bench, "inline", &url)?));
        Ok::<(), String>(())
    })();
    // Best effort: a leftover scratch folder in the temp dir is harmless.
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    eprintln!("xtask: wan link: {}", delay.describe());
    Ok(rows)
}

/// Why the link cannot be built here, if it cannot.
fn unavailable() -> Option<String> {
    for tool in ["ip", "tc"] {
        let found = Command::new(tool).arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if found.is_err() {
            return Some(format!("`{tool}` (iproute2) is not installed"));
        }
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some(
            "network namespaces need root (run as root, or in a VM or container that allows it)".to_owned(),
        );
    }
    let probe = format!("exec-wan-probe-{}", std::process::id());
    let created = Command::new("ip").args(["netns", "add", &probe]).stderr(Stdio::piped()).output().ok()?;
    if !created.status.success() {
        return Some(format!(
            "cannot create a network namespace: {}",
            String::from_utf8_lossy(&created.stderr).trim()
        ));
    }
    // Best effort: the probe namespace holds nothing.
    let _ = Command::new("ip").args(["netns", "del", &probe]).status();
    None
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// How the 25 ms each way are added.
enum Delay {
    /// `tc netem` on both veth ends.
    Netem,
    /// The kernel has no `netem`: a relay in the client's namespace holds each chunk 25 ms each
    /// way; stopped on drop.
    Relay,
}

impl Delay {
    fn describe(&self) -> &'static str {
        match self {
            Delay::Netem => "veth pair between two namespaces, tc netem delay 25ms on each side",
            Delay::Relay => {
                "veth pair between two namespaces; this kernel has no netem qdisc, so a userspace relay \
                 in the client namespace holds every chunk 25 ms each way"
            }
        }
    }
}

/// The two namespaces and the veth pair; removed on drop (deleting a namespace deletes its veth
/// end, and with it the pair).
struct Link {
    server_ns: String,
    client_ns: String,
}

impl Link {
    fn create() -> Result<Link, String> {
        let pid = std::process::id();
        let link = Link { server_ns: format!("exec-wan-s-{pid}"), client_ns: format!("exec-wan-c-{pid}") };
        let (server_veth, client_veth) = (format!("xw{pid}s"), format!("xw{pid}c"));
        ip(&["netns", "add", &link.server_ns])?;
        ip(&["netns", "add", &link.client_ns])?;
        ip(&["link", "add", &server_veth, "type", "veth", "peer", "name", &client_veth])?;
        for (veth, ns, address) in
            [(&server_veth, &link.server_ns, SERVER_ADDRESS), (&client_veth, &link.client_ns, CLIENT_ADDRESS)]
        {
            ip(&["link", "set", veth, "netns", ns])?;
            ip(&["-n", ns, "addr", "add", &format!("{address}/24"), "dev", veth])?;
            ip(&["-n", ns, "link", "set", veth, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(link)
    }

    /// Adds the delay: netem where the kernel has it, else the relay (see [`Delay`]).
    fn delay(&self) -> Result<Delay, String> {
        let pid = std::process::id();
        let delay = format!("{ONE_WAY_MS}ms");
        for (ns, veth) in [(&self.server_ns, format!("xw{pid}s")), (&self.client_ns, format!("xw{pid}c"))] {
            let added = Command::new("ip")
                .args([
                    "netns", "exec", ns, "tc", "qdisc", "add", "dev", &veth, "root", "netem", "delay", &delay,
                ])
                .stderr(Stdio::piped())
                .output()
                .map_err(|error| format!("cannot run tc: {error}"))?;
            if !added.status.success() {
                let text = String::from_utf8_lossy(&added.stderr);
                if text.contains("unknown") {
                    eprintln!("xtask: tc has no netem here ({}); using the userspace relay", text.trim());
                    return Ok(Delay::Relay);
                }
                return Err(format!("tc qdisc add ... netem failed: {}", text.trim()));
            }
        }
        Ok(Delay::Netem)
    }

    /// Starts a server in the server namespace on its veth address and reads its URL.
    fn start_server(&self, label: &str, server: Command) -> Result<Running, String> {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.server_ns]).arg(server.get_program()).args(server.get_args());
        for (name, value) in server.get_envs() {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command.args(["--listen", &format!("ws://{SERVER_ADDRESS}:0")]);
        let mut running = Running::spawn(label, command)?;
        running.url = running.first_line(label)?;
        if !running.url.starts_with("ws://") {
            return Err(format!("the {label} server printed {:?} instead of its URL", running.url));
        }
        eprintln!("xtask: {label} server at {}", running.url);
        Ok(running)
    }

    /// The URL the client dials: the server's, or (relay) that of a relay in the client
    /// namespace, returned with it (it stops on drop).
    fn client_url(
        &self,
        bench: &Path,
        server_url: &str,
        delay: &Delay,
    ) -> Result<(String, Option<Running>), String> {
        match delay {
            Delay::Netem => Ok((server_url.to_owned(), None)),
            Delay::Relay => {
                let upstream = server_url.trim_start_matches("ws://").trim_end_matches('/');
                let mut command = Command::new("ip");
                command.args(["netns", "exec", &self.client_ns]).arg(bench).args([
                    "proxy",
                    "127.0.0.1:0",
                    upstream,
                    &ONE_WAY_MS.to_string(),
                ]);
                let mut relay = Running::spawn("relay", command)?;
                let line = relay.first_line("relay")?;
                let address =
                    line.strip_prefix("LISTENING ").ok_or_else(|| format!("the relay printed {line:?}"))?;
                Ok((format!("ws://{address}"), Some(relay)))
            }
        }
    }

    /// Runs one pattern in the client namespace; the median in milliseconds.
    fn run(&self, bench: &Path, mode: &str, url: &str) -> Result<f64, String> {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.client_ns])
            .arg(bench)
            .args([mode, url, &RUNS.to_string()])
            .output()
            .map_err(|error| format!("cannot run {}: {error}", bench.display()))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text
            .lines()
            .find(|line| line.starts_with("RESULT "))
            .ok_or_else(|| format!("wan_bench {mode} failed: {}", String::from_utf8_lossy(&output.stderr)))?;
        eprintln!("xtask: {line}");
        let median = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("median_ms="))
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| format!("no median in {line:?}"))?;
        Ok(median)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for ns in [&self.server_ns, &self.client_ns] {
            // Best effort on the way out; a failure is reported, the other namespace still goes.
            if let Err(error) = ip(&["netns", "del", ns]) {
                eprintln!("xtask: could not remove namespace {ns}: {error}");
            }
        }
    }
}

/// A child in its own process group, killed with its group on drop.
struct Running {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    url: String,
}

impl Running {
    fn spawn(label: &str, mut command: Command) -> Result<Running, String> {
        command.stdout(Stdio::piped()).stderr(Stdio::null()).process_group(0);
        let mut child = command.spawn().map_err(|error| format!("cannot start the {label}: {error}"))?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(Running { child, stdout, url: String::new() })
    }

    fn first_line(&mut self, label: &str) -> Result<String, String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).map_err(|error| format!("cannot read from the {label}: {error}"))?;
        Ok(line.trim().to_owned())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Best effort: the group may already be gone, which is what we want.
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .stderr(Stdio::piped())
        .output()
        .map_err(|error| format!("cannot run ip: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("ip {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}
