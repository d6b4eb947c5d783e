//! `cargo xtask codex-e2e`: the real Codex agent (`@openai/codex@0.171.0`, `codex exec`) in front
//! of an executor, ours and Codex's own, flow by flow (issue 11, deliverable 8).
//!
//! For each flow and each server it starts: a fresh executor (`exec-server --listen
//! ws://127.0.0.1:0`, or `codex exec-server` from the same package as the reference), a relay
//! (`proxy.rs`) between the agent and the executor that records every JSON-RPC message and can
//! cut the connection once, a scripted Responses-API server (`model.rs`) that plays the model's
//! tool calls, and `codex exec` with `CODEX_EXEC_SERVER_URL` pointing at the relay. The flow then
//! checks what the tool outputs, the workspace and the recorded messages show. Results are
//! printed side by side; any FAIL makes the command fail.
//!
//! The flows (see `flows()`): `executor` (the command's ancestors include the executor the
//! harness started), `tty-stdin` (`exec_command` with a PTY, then `write_stdin`), `apply-patch`
//! (a file added and edited through `fs/*`), `write-outside` and `git-read-only` (workspace-write
//! refuses a write outside the workspace and into its `.git`, and the client sees
//! `sandboxDenied`), `network` (a loopback connect is refused), `read-only` (a write in the
//! workspace is refused), `spawn-error` (`data.kind` on a spawn failure), `reconnect` (the relay
//! cuts once; the output still arrives), and `full-access` (the control: nothing is restricted).
//!
//! What the 0.171 agent needs to run offline: a `config.toml` in a scratch `CODEX_HOME` (outside
//! the temp dir, where the agent refuses to set up its helper aliases) with a custom provider
//! (`wire_api = "responses"`, `supports_websockets = false`, no retries), a model slug from its
//! built-in catalog (`gpt-5.5`; an unknown slug gets fallback metadata without `apply_patch`),
//! `approval_policy = "never"`, and `codex exec --skip-git-repo-check --ephemeral` with stdin
//! closed (it reads a prompt from a non-terminal stdin otherwise). No login is needed.
//!
//! Everything lives under `<root>/.cache/codex-e2e/<run>` (or `/var/tmp/exec-server-codex-e2e/<run>`
//! when the checkout is under the temp dir, which workspace-write makes writable; removed at the
//! end unless a flow failed), the workspaces in the temp dir (removed after a passing flow) and
//! `<root>/.cache/codex-0.171` (the npm install). Every child runs in its own process group and
//! is killed with it; every step has a deadline. `--trace FILE` writes every recorded message as
//! one JSON line; `--probe` sends the requests of `probe.rs` directly instead of running the
//! agent. It does not judge speed and it does not touch the network beyond loopback (after the
//! one-time npm install).

mod model;
mod probe;
mod proxy;

use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use model::{ModelServer, ToolOutput, Turn, custom_call, function_call, message};
use proxy::{CutPlan, Direction, Frame, Relay};
use serde_json::{Value, json};

/// The Codex release whose agent drives the flows and whose server is the reference.
const CODEX_VERSION: &str = "0.171.0";
/// How long one `codex exec` run may take before it is killed and the flow fails.
const AGENT_DEADLINE: Duration = Duration::from_secs(30);
/// How long a child may take to exit after SIGTERM before its process group gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long an executor may take to print its URL.
const EXECUTOR_START_DEADLINE: Duration = Duration::from_secs(20);
/// Set in the executor's environment only; flow 1 looks for the executor among the command's
/// ancestors, this is extra evidence when the executor's environment reaches the command.
const MARK_ENV: &str = "CODEX_E2E_EXECUTOR_MARK";

/// Which executor a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Ours,
    Codex,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Ours => "ours",
            Server::Codex => "codex",
        }
    }
}

/// What one flow needs from the harness to build its script and judge the result.
#[derive(Debug)]
struct Context {
    /// The agent's working root (`-C`), created empty for the flow.
    workspace: PathBuf,
    /// A folder outside the workspace, outside `/tmp` and outside `TMPDIR`.
    outside: PathBuf,
    /// A loopback listener that records whether anyone connected.
    listener_port: u16,
}

/// Everything a flow's check can look at after `codex exec` finished.
#[derive(Debug)]
struct Outcome {
    outputs: Vec<ToolOutput>,
    frames: Vec<Frame>,
    connections: usize,
    was_cut: bool,
    listener_accepts: usize,
    executor_pid: u32,
    agent_log: String,
}

impl Outcome {
    fn output(&self, call_id: &str) -> &str {
        self.outputs
            .iter()
            .find(|output| output.call_id == call_id)
            .map_or("", |output| output.output.as_str())
    }

    /// Values of `key` anywhere in the executor's messages (results and notifications).
    fn server_values(&self, key: &str) -> Vec<Value> {
        let mut found = Vec::new();
        for frame in self.frames.iter().filter(|frame| frame.direction == Direction::ServerToClient) {
            collect_key(&frame.message, key, &mut found);
        }
        found
    }

    fn saw_sandbox_denied(&self) -> bool {
        self.server_values("sandboxDenied").contains(&Value::Bool(true))
    }

    /// A short description of the sandbox-related facts on the wire, for the side-by-side view.
    fn sandbox_facts(&self) -> String {
        let types: Vec<String> = self.server_values("sandboxType").iter().map(ToString::to_string).collect();
        format!("sandboxType={} sandboxDenied={}", types.join(","), self.saw_sandbox_denied())
    }

    /// The client's requests in order, as `method` names (duplicates kept).
    fn methods(&self) -> Vec<String> {
        self.frames
            .iter()
            .filter(|frame| frame.direction == Direction::ClientToServer)
            .filter_map(|frame| frame.message["method"].as_str().map(str::to_owned))
            .collect()
    }
}

fn collect_key(value: &Value, key: &str, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                if name == key {
                    found.push(inner.clone());
                }
                collect_key(inner, key, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_key(item, key, found)),
        _ => {}
    }
}

/// One scripted scenario.
struct Flow {
    name: &'static str,
    /// The `--sandbox` mode `codex exec` runs with.
    sandbox: &'static str,
    /// Cut the agent's connection once, mid-run.
    cut: Option<CutPlan>,
    /// Prepares the workspace before the agent starts.
    prepare: Option<fn(&Context) -> std::io::Result<()>>,
    script: fn(&Context) -> Vec<Turn>,
    /// Ok(summary) or Err(what went wrong); both are shown side by side.
    check: fn(&Context, &Outcome) -> Result<String, String>,
}

/// Parsed command line.
#[derive(Debug)]
struct Options {
    servers: Vec<Server>,
    trace: Option<PathBuf>,
    only: Option<String>,
    /// Run the direct probes (`probe.rs`) instead of the agent flows.
    probe: bool,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options =
        Options { servers: vec![Server::Ours, Server::Codex], trace: None, only: None, probe: false };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--server" => {
                options.servers = match value()?.as_str() {
                    "ours" => vec![Server::Ours],
                    "codex" => vec![Server::Codex],
                    "both" => vec![Server::Ours, Server::Codex],
                    other => return Err(format!("--server takes ours, codex or both, not `{other}`")),
                }
            }
            "--trace" => options.trace = Some(PathBuf::from(value()?)),
            "--flow" => options.only = Some(value()?),
            "--probe" => options.probe = true,
            other => return Err(format!("unknown codex-e2e option `{other}`")),
        }
    }
    Ok(options)
}

pub(crate) fn codex_e2e(root: &Path, args: &[String]) -> Result<(), String> {
    let options = parse_options(args)?;
    let flows: Vec<Flow> = flows()
        .into_iter()
        .filter(|flow| options.only.as_deref().is_none_or(|only| only == flow.name))
        .collect();
    if flows.is_empty() {
        return Err(format!("no flow named `{}`", options.only.unwrap_or_default()));
    }
    let codex = crate::peer::ensure_codex(root, "codex-0.171", CODEX_VERSION)?;
    let ours = if options.servers.contains(&Server::Ours) {
        crate::run(root, "cargo", &["build", "--release", "-p", "exec-server"], &[])?;
        Some(target_dir(root).join("release").join("exec-server"))
    } else {
        None
    };
    let scratch = scratch_base(root);
    remove_stale_scratch(&scratch);
    let run_dir = scratch.join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir)
        .map_err(|error| format!("cannot create {}: {error}", run_dir.display()))?;
    let mut trace = match &options.trace {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|error| format!("cannot create {}: {error}", path.display()))?,
        ),
        None => None,
    };

    if options.probe {
        return run_probes(&options.servers, ours.as_deref(), &codex, &run_dir, trace.as_mut());
    }

    let started = Instant::now();
    // results[flow][server] = Ok(summary) | Err(problem)
    let mut results: Vec<Vec<Result<String, String>>> = Vec::new();
    for flow in &flows {
        let mut row = Vec::new();
        for &server in &options.servers {
            let flow_dir = run_dir.join(format!("{}-{}", server.name(), flow.name));
            let executor_program = match server {
                Server::Ours => Executor::ours(ours.as_deref().expect("built above")),
                Server::Codex => Executor::codex(&codex, &flow_dir.join("executor-home")),
            };
            let flow_started = Instant::now();
            let result = run_flow(flow, server, executor_program, &codex, &flow_dir, trace.as_mut());
            let verdict = if result.is_ok() { "PASS" } else { "FAIL" };
            println!(
                "{verdict} {:<14} {:<6} {:>5.1}s  {}",
                flow.name,
                server.name(),
                flow_started.elapsed().as_secs_f64(),
                match &result {
                    Ok(summary) => summary.clone(),
                    Err(problem) => problem.lines().next().unwrap_or_default().to_owned(),
                }
            );
            row.push(result);
        }
        results.push(row);
    }

    println!();
    let header: Vec<&str> = options.servers.iter().map(|server| server.name()).collect();
    // With both servers, a last column says whether the outcomes agree (both PASS or both FAIL).
    let compare = header.len() > 1;
    println!("| flow | {} |{}", header.join(" | "), if compare { " same outcome |" } else { "" });
    println!("|---|{}{}", "---|".repeat(header.len()), if compare { "---|" } else { "" });
    let mut failures = Vec::new();
    for (flow, row) in flows.iter().zip(&results) {
        let cells: Vec<String> = row
            .iter()
            .map(|result| match result {
                Ok(summary) => format!("PASS: {summary}"),
                Err(problem) => format!("FAIL: {}", problem.lines().next().unwrap_or_default()),
            })
            .collect();
        let same = if !compare {
            String::new()
        } else if row.iter().all(Result::is_ok) || row.iter().all(Result::is_err) {
            " yes |".to_owned()
        } else {
            " **no** |".to_owned()
        };
        println!("| {} | {} |{same}", flow.name, cells.join(" | "));
        for (server, result) in options.servers.iter().zip(row) {
            if let Err(problem) = result {
                failures.push(format!(
                    "{} against {}:\n    {}",
                    flow.name,
                    server.name(),
                    problem.replace('\n', "\n    ")
                ));
            }
        }
    }
    println!(
        "\n{} flow run(s) in {:.1}s",
        flows.len() * options.servers.len(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        // Best effort: a leftover scratch folder under .cache is harmless.
        let _ = std::fs::remove_dir_all(&run_dir);
        Ok(())
    } else {
        Err(format!(
            "{} flow run(s) failed (scratch kept in {}):\n  {}",
            failures.len(),
            run_dir.display(),
            failures.join("\n  ")
        ))
    }
}

/// Removes what earlier runs kept after a failure (`<cache>/run-PID` and the temp dir's
/// `codex-e2e-PID-*` workspaces), unless that run's process is still alive.
fn remove_stale_scratch(cache: &Path) {
    let is_stale =
        |pid: &str| pid.parse::<u32>().is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
    let candidates = [(cache.to_path_buf(), "run-"), (std::env::temp_dir(), "codex-e2e-")];
    for (dir, prefix) in candidates {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(prefix) else { continue };
            let pid = rest.split('-').next().unwrap_or_default();
            if is_stale(pid) {
                // Best effort: what cannot be removed now is tried again on the next run.
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Runs the probe list against each server and prints every request with what came back.
fn run_probes(
    servers: &[Server],
    ours: Option<&Path>,
    codex: &Path,
    run_dir: &Path,
    mut trace: Option<&mut std::fs::File>,
) -> Result<(), String> {
    for &server in servers {
        let dir = run_dir.join(format!("{}-probe", server.name()));
        std::fs::create_dir_all(dir.join("executor-home"))
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let executor = match server {
            Server::Ours => Executor::ours(ours.expect("built when ours is selected")),
            Server::Codex => Executor::codex(codex, &dir.join("executor-home")),
        };
        let (child, address) = start_executor(executor, &dir.join("executor.log"))?;
        let workspace = flow_scratch_workspace(&dir)?;
        let records = probe::run(&address, &workspace, &dir.join("outside"));
        drop(child);
        // Best effort: leftovers in the temp dir are harmless.
        let _ = std::fs::remove_dir_all(&workspace);
        let _ = std::fs::remove_file(
            std::env::temp_dir().join(format!("codex-e2e-probe-{}.txt", std::process::id())),
        );
        println!("=== probes against {}", server.name());
        for (label, request, answers) in records? {
            println!("## {label}\n-> {request}");
            for answer in &answers {
                println!("<- {answer}");
            }
            if let Some(file) = trace.as_deref_mut() {
                let line = json!({"server": server.name(), "flow": "probe", "label": label,
                    "request": request, "answers": answers});
                writeln!(file, "{line}").map_err(|error| format!("write trace: {error}"))?;
            }
        }
    }
    // Best effort: a leftover scratch folder under .cache is harmless.
    let _ = std::fs::remove_dir_all(run_dir);
    Ok(())
}

/// The target directory cargo builds into (`CARGO_TARGET_DIR` wins, as for cargo itself).
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { root.join(dir) }
        }
        None => root.join("target"),
    }
}

/// How to start one executor.
#[derive(Debug)]
struct Executor {
    command: Command,
}

impl Executor {
    fn ours(binary: &Path) -> Executor {
        let mut command = Command::new(binary);
        command.args(["--listen", "ws://127.0.0.1:0"]);
        Executor { command }
    }

    fn codex(codex: &Path, home: &Path) -> Executor {
        let mut command = Command::new(codex);
        command.args(["exec-server", "--listen", "ws://127.0.0.1:0"]).env("CODEX_HOME", home);
        Executor { command }
    }
}

/// A child process in its own process group; dropping it kills the whole group.
#[derive(Debug)]
struct GroupChild {
    child: Child,
}

impl GroupChild {
    fn spawn(command: &mut Command) -> Result<GroupChild, String> {
        let child =
            command.process_group(0).spawn().map_err(|error| format!("cannot start {command:?}: {error}"))?;
        Ok(GroupChild { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child to exit within `deadline`; returns its status as text.
    fn wait_until(&mut self, deadline: Duration) -> Result<String, String> {
        let end = Instant::now() + deadline;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status.to_string()),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => return Err(format!("still running after {}s", deadline.as_secs())),
                Err(error) => return Err(format!("wait: {error}")),
            }
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        // SIGTERM to the leader first: the npm launcher forwards it to the native binary and
        // waits for it, so nothing is left for init to reap. Then SIGKILL to the whole group
        // (the group id is the leader's pid, see `spawn`) sweeps whatever is left. Errors from
        // `kill` mean the process or group is gone already.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).stderr(Stdio::null()).status();
        let _ = self.wait_until(STOP_GRACE);
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the runs' scratch folders go: `<root>/.cache/codex-e2e`, unless the checkout itself is
/// under `/tmp` or `TMPDIR` (a CI clone often is). The scratch holds the `outside` folders the
/// sandbox flows must not be able to write and the agent's `CODEX_HOME`, and workspace-write
/// grants `/tmp` and `TMPDIR`, so then it goes to `/var/tmp/exec-server-codex-e2e`.
fn scratch_base(root: &Path) -> PathBuf {
    let tmpdir = std::env::var_os("TMPDIR").map(PathBuf::from);
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let under = |dir: &Path| std::fs::canonicalize(dir).is_ok_and(|dir| root.starts_with(dir));
    if under(Path::new("/tmp")) || tmpdir.as_deref().is_some_and(under) {
        PathBuf::from("/var/tmp/exec-server-codex-e2e")
    } else {
        root.join(".cache").join("codex-e2e")
    }
}

/// Starts the executor and reads the URL it prints first.
fn start_executor(mut executor: Executor, log: &Path) -> Result<(GroupChild, String), String> {
    let stderr =
        std::fs::File::create(log).map_err(|error| format!("cannot create {}: {error}", log.display()))?;
    let mark = format!("mark-{}", std::process::id());
    executor.command.env(MARK_ENV, mark).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr);
    let mut child = GroupChild::spawn(&mut executor.command)?;
    let stdout = child.child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // A send fails only when the harness stopped waiting; nothing is left to do then.
        let _ = sender.send(reader.read_line(&mut line).map(|_| line.trim().to_owned()));
        // Keep draining so the executor never blocks on a full stdout pipe.
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut reader, &mut sink);
    });
    let line = receiver
        .recv_timeout(EXECUTOR_START_DEADLINE)
        .map_err(|_| format!("the executor printed no URL within {}s", EXECUTOR_START_DEADLINE.as_secs()))?
        .map_err(|error| format!("read the executor's URL: {error}"))?;
    let url =
        line.strip_prefix("ws://").ok_or_else(|| format!("the executor printed `{line}`, not a URL"))?;
    Ok((child, url.trim_end_matches('/').to_owned()))
}

/// A loopback listener that counts the connections it accepts.
fn counting_listener() -> Result<(u16, Arc<AtomicUsize>), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|error| format!("listener bind: {error}"))?;
    let port = listener.local_addr().map_err(|error| error.to_string())?.port();
    let accepts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepts);
    // The thread blocks in accept for the rest of the run; it holds no resource worth freeing.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stream.is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Ok((port, accepts))
}

fn run_flow(
    flow: &Flow,
    server: Server,
    executor: Executor,
    codex: &Path,
    flow_dir: &Path,
    trace: Option<&mut std::fs::File>,
) -> Result<String, String> {
    let workspace = flow_scratch_workspace(flow_dir)?;
    let outside = flow_dir.join("outside");
    let codex_home = flow_dir.join("codex-home");
    for dir in [&outside, &codex_home, &flow_dir.join("executor-home")] {
        std::fs::create_dir_all(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    let (listener_port, accepts) = counting_listener()?;
    let context = Context { workspace, outside, listener_port };
    if let Some(prepare) = flow.prepare {
        prepare(&context).map_err(|error| format!("cannot prepare the workspace: {error}"))?;
    }

    let (executor, upstream) = start_executor(executor, &flow_dir.join("executor.log"))?;
    let relay = Relay::start(&upstream, flow.cut.clone())?;
    let model = ModelServer::start((flow.script)(&context))?;
    std::fs::write(codex_home.join("config.toml"), agent_config(&model.base_url()))
        .map_err(|error| format!("cannot write config.toml: {error}"))?;

    let agent_log_path = flow_dir.join("agent.log");
    let agent_log = std::fs::File::create(&agent_log_path).map_err(|error| error.to_string())?;
    let agent_err = agent_log.try_clone().map_err(|error| error.to_string())?;
    let mut command = Command::new(codex);
    command
        .args([
            "exec",
            "--skip-git-repo-check",
            "--ephemeral",
            "--color",
            "never",
            "--sandbox",
            flow.sandbox,
            "-C",
        ])
        .arg(&context.workspace)
        .arg(format!("codex-e2e flow {}", flow.name))
        .env("CODEX_HOME", &codex_home)
        .env("CODEX_EXEC_SERVER_URL", relay.url())
        // A developer's HTTP proxy settings must not catch the loopback model server.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove(MARK_ENV)
        .current_dir(&context.workspace)
        .stdin(Stdio::null())
        .stdout(agent_log)
        .stderr(agent_err);
    let mut agent = GroupChild::spawn(&mut command)?;
    let agent_status = agent.wait_until(AGENT_DEADLINE);
    drop(agent);
    let outcome = Outcome {
        outputs: model.outputs(),
        frames: relay.frames(),
        connections: relay.connections(),
        was_cut: relay.was_cut(),
        listener_accepts: accepts.load(Ordering::SeqCst),
        executor_pid: executor.pid(),
        agent_log: std::fs::read_to_string(&agent_log_path).unwrap_or_default(),
    };
    drop(relay);
    drop(executor);
    if let Some(file) = trace {
        write_trace(file, server, flow.name, &outcome)?;
    }
    let requests = model.request_count();
    drop(model);

    let verdict = agent_status
        .and_then(|status| {
            if status.contains("exit status: 0") {
                Ok(())
            } else {
                Err(format!("codex exec ended with {status}"))
            }
        })
        .and_then(|()| (flow.check)(&context, &outcome));
    if verdict.is_ok() {
        // Best effort: a leftover workspace in the temp dir is harmless; a failed flow keeps it.
        let _ = std::fs::remove_dir_all(&context.workspace);
    }
    verdict.map_err(|problem| {
        let tail: Vec<&str> = outcome.agent_log.lines().rev().take(12).collect();
        let outputs: Vec<String> =
            outcome.outputs.iter().map(|output| format!("{}: {:?}", output.call_id, output.output)).collect();
        format!(
            "{problem}\nworkspace: {}; model requests: {requests}; executor connections: {}; methods: {}\ntool outputs:\n  {}\ncodex exec log (last lines, newest first):\n  {}",
            context.workspace.display(),
            outcome.connections,
            summarize_methods(&outcome.methods()),
            outputs.join("\n  "),
            tail.join("\n  ")
        )
    })
}

/// The workspace: under the system temp dir on purpose, so that it is not inside this
/// repository (the agent could treat an enclosing git root as the project root, which would
/// make `outside` writable).
fn flow_scratch_workspace(flow_dir: &Path) -> Result<PathBuf, String> {
    let name = flow_dir.file_name().and_then(|name| name.to_str()).unwrap_or("flow");
    let workspace = std::env::temp_dir().join(format!("codex-e2e-{}-{name}", std::process::id()));
    // A leftover from an earlier run with the same pid is stale.
    let _ = std::fs::remove_dir_all(&workspace);
    std::fs::create_dir_all(&workspace)
        .map_err(|error| format!("cannot create {}: {error}", workspace.display()))?;
    Ok(workspace)
}

/// The agent's `config.toml`: a custom Responses provider on loopback, no login, no retries.
/// The model slug is one the 0.171 catalog knows, so the agent offers `apply_patch`.
fn agent_config(base_url: &str) -> String {
    format!(
        "model = \"gpt-5.5\"\n\
         model_provider = \"e2e\"\n\
         approval_policy = \"never\"\n\
         \n\
         [model_providers.e2e]\n\
         name = \"codex-e2e scripted model\"\n\
         base_url = \"{base_url}\"\n\
         wire_api = \"responses\"\n\
         supports_websockets = false\n\
         request_max_retries = 0\n\
         stream_max_retries = 0\n"
    )
}

/// Collapses runs of the same method: `process/read ×3`.
fn summarize_methods(methods: &[String]) -> String {
    let mut parts: Vec<(String, usize)> = Vec::new();
    for method in methods {
        match parts.last_mut() {
            Some((last, count)) if last == method => *count += 1,
            _ => parts.push((method.clone(), 1)),
        }
    }
    let parts: Vec<String> = parts
        .into_iter()
        .map(|(method, count)| if count == 1 { method } else { format!("{method} ×{count}") })
        .collect();
    parts.join(", ")
}

fn write_trace(
    file: &mut std::fs::File,
    server: Server,
    flow: &str,
    outcome: &Outcome,
) -> Result<(), String> {
    for frame in &outcome.frames {
        let direction = match frame.direction {
            Direction::ClientToServer => "c2s",
            Direction::ServerToClient => "s2c",
        };
        let line = json!({"server": server.name(), "flow": flow, "conn": frame.connection,
            "ms": frame.at_ms as u64, "dir": direction, "msg": frame.message});
        writeln!(file, "{line}").map_err(|error| format!("write trace: {error}"))?;
    }
    Ok(())
}

fn call(call_id: &'static str, name: &'static str, arguments: Value) -> Turn {
    Box::new(move |_| vec![function_call(call_id, name, &arguments)])
}

fn patch(call_id: &'static str, text: String) -> Turn {
    Box::new(move |_| vec![custom_call(call_id, "apply_patch", &text)])
}

fn done() -> Turn {
    Box::new(|_| vec![message("done")])
}

fn require(condition: bool, problem: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(problem()) }
}

/// The flows, in the order the issue lists them, plus a no-sandbox control.
fn flows() -> Vec<Flow> {
    vec![
        Flow {
            name: "executor",
            sandbox: "danger-full-access",
            cut: None,
            prepare: None,
            script: executor_script,
            check: executor_check,
        },
        Flow {
            name: "tty-stdin",
            sandbox: "danger-full-access",
            cut: None,
            prepare: None,
            script: tty_script,
            check: tty_check,
        },
        Flow {
            name: "apply-patch",
            sandbox: "workspace-write",
            cut: None,
            prepare: None,
            script: patch_script,
            check: patch_check,
        },
        Flow {
            name: "write-outside",
            sandbox: "workspace-write",
            cut: None,
            prepare: None,
            script: outside_script,
            check: outside_check,
        },
        Flow {
            name: "network",
            sandbox: "workspace-write",
            cut: None,
            prepare: None,
            script: network_script,
            check: network_check,
        },
        Flow {
            name: "read-only",
            sandbox: "read-only",
            cut: None,
            prepare: None,
            script: read_only_script,
            check: read_only_check,
        },
        Flow {
            name: "git-read-only",
            sandbox: "workspace-write",
            cut: None,
            prepare: Some(|context| std::fs::create_dir_all(context.workspace.join(".git"))),
            script: git_script,
            check: git_check,
        },
        Flow {
            name: "spawn-error",
            sandbox: "danger-full-access",
            cut: None,
            prepare: None,
            script: spawn_script,
            check: spawn_check,
        },
        Flow {
            name: "reconnect",
            sandbox: "danger-full-access",
            cut: Some(CutPlan { needle: RECONNECT_NEEDLE.to_owned(), delay: Duration::from_millis(300) }),
            prepare: None,
            script: reconnect_script,
            check: reconnect_check,
        },
        Flow {
            name: "full-access",
            sandbox: "danger-full-access",
            cut: None,
            prepare: None,
            script: full_access_script,
            check: full_access_check,
        },
    ]
}

// Flow 1: the command runs on the executor. Only the executor the harness started has this run's
// mark in its environment (it is removed from the agent's), so the command must print it. The
// shell also walks its ancestors through /proc: under a server that starts each session in its
// own PID namespace (ours) the chain ends at the namespace's init, so ancestry is reported, not
// required.
fn executor_script(_: &Context) -> Vec<Turn> {
    let cmd = format!(
        "p=$$; while [ \"$p\" -gt 1 ]; do echo \"ancestor=$p\"; p=$(cut -d' ' -f4 /proc/$p/stat); done; \
         echo \"mark=${MARK_ENV}\""
    );
    vec![call("c1", "exec_command", json!({"cmd": cmd, "yield_time_ms": 10000})), done()]
}

fn executor_check(_: &Context, outcome: &Outcome) -> Result<String, String> {
    let output = outcome.output("c1");
    let mark = format!("mark=mark-{}\n", std::process::id());
    require(output.contains(&mark), || {
        format!("the command did not see the executor's environment ({mark:?} missing): {output:?}")
    })?;
    let ancestor = output.contains(&format!("ancestor={}\n", outcome.executor_pid));
    let how = if ancestor { "the executor is an ancestor" } else { "in its own PID namespace" };
    Ok(format!("ran on the executor (pid {}; its mark seen; {how})", outcome.executor_pid))
}

// Flow 2: a TTY process reads a line the agent writes with write_stdin.
fn tty_script(_: &Context) -> Vec<Turn> {
    let start = json!({"cmd": "read -r line; echo \"got:$line\"; [ -t 0 ] && echo stdin-is-tty",
        "tty": true, "yield_time_ms": 1000});
    vec![
        call("c1", "exec_command", start),
        Box::new(|outputs: &[ToolOutput]| {
            let first = outputs
                .iter()
                .find(|output| output.call_id == "c1")
                .map_or("", |output| output.output.as_str());
            let session = session_id(first).unwrap_or(-1);
            vec![function_call(
                "c2",
                "write_stdin",
                &json!({"session_id": session, "chars": "hello-e2e\n", "yield_time_ms": 5000}),
            )]
        }),
        done(),
    ]
}

/// The number after "session ID" in an exec_command output.
fn session_id(output: &str) -> Option<i64> {
    let rest = &output[output.find("session ID")? + "session ID".len()..];
    rest.trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

fn tty_check(_: &Context, outcome: &Outcome) -> Result<String, String> {
    let first = outcome.output("c1");
    require(session_id(first).is_some(), || format!("exec_command returned no session id: {first:?}"))?;
    let second = outcome.output("c2");
    require(second.contains("got:hello-e2e"), || format!("the line did not reach the process: {second:?}"))?;
    require(second.contains("stdin-is-tty"), || format!("stdin was not a TTY: {second:?}"))?;
    Ok("line read back through the PTY".to_owned())
}

// Flow 3: apply_patch adds a file, then edits it; the agent applies patches through fs/*.
fn patch_script(_: &Context) -> Vec<Turn> {
    vec![
        patch("p1", "*** Begin Patch\n*** Add File: notes.txt\n+line one\n+line two\n*** End Patch\n".to_owned()),
        patch(
            "p2",
            "*** Begin Patch\n*** Update File: notes.txt\n@@\n line one\n-line two\n+line 2 edited\n*** End Patch\n"
                .to_owned(),
        ),
        done(),
    ]
}

fn patch_check(context: &Context, outcome: &Outcome) -> Result<String, String> {
    let path = context.workspace.join("notes.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| format!("<{error}>"));
    require(text == "line one\nline 2 edited\n", || format!("{} holds {text:?}", path.display()))?;
    let fs_methods: Vec<String> =
        outcome.methods().into_iter().filter(|method| method.starts_with("fs/")).collect();
    require(!fs_methods.is_empty(), || "the patch made no fs/* call on the executor".to_owned())?;
    Ok(format!("file added and edited via {}", summarize_methods(&fs_methods)))
}

// Flow 4: under workspace-write, a command and a patch that write outside the workspace.
fn outside_script(context: &Context) -> Vec<Turn> {
    let target = context.outside.join("by-command.txt");
    // The command must fail for the executor to report `sandboxDenied`: no trailing `echo`.
    let cmd = format!("printf escaped > '{}'", target.display());
    let patch_target = context.outside.join("by-patch.txt");
    vec![
        call("c1", "exec_command", json!({"cmd": cmd, "yield_time_ms": 10000})),
        patch(
            "p1",
            format!("*** Begin Patch\n*** Add File: {}\n+escaped\n*** End Patch\n", patch_target.display()),
        ),
        done(),
    ]
}

fn outside_check(context: &Context, outcome: &Outcome) -> Result<String, String> {
    let by_command = context.outside.join("by-command.txt");
    let by_patch = context.outside.join("by-patch.txt");
    require(!by_command.exists(), || {
        format!("the command wrote {} under workspace-write", by_command.display())
    })?;
    require(!by_patch.exists(), || {
        format!("apply_patch wrote {} under workspace-write", by_patch.display())
    })?;
    let output = outcome.output("c1");
    require(output.contains("Process exited with code") && !output.contains("exited with code 0"), || {
        format!("the command did not fail: {output:?}")
    })?;
    require(outcome.saw_sandbox_denied(), || {
        format!("no sandboxDenied: true reached the client ({})", outcome.sandbox_facts())
    })?;
    Ok(format!(
        "both writes denied; {}; patch: {}",
        outcome.sandbox_facts(),
        first_line(outcome.output("p1"))
    ))
}

fn first_line(text: &str) -> String {
    let line = text.lines().find(|line| !line.trim().is_empty()).unwrap_or_default();
    line.chars().take(60).collect()
}

// Flow 5: under workspace-write, a TCP connect to a loopback listener the harness opened.
fn network_script(context: &Context) -> Vec<Turn> {
    // No fallback after the connect: the command fails, so the executor can say whether the
    // sandbox caused the failure.
    let cmd = format!("exec 3<>/dev/tcp/127.0.0.1/{} && echo net=connected", context.listener_port);
    vec![call("c1", "exec_command", json!({"cmd": cmd, "yield_time_ms": 10000})), done()]
}

fn network_check(_: &Context, outcome: &Outcome) -> Result<String, String> {
    let output = outcome.output("c1");
    require(outcome.listener_accepts == 0, || {
        format!(
            "the listener accepted {} connection(s) under the sandbox: {output:?}",
            outcome.listener_accepts
        )
    })?;
    // The command must have run (and failed): a server that refuses to start it at all is not
    // the reference's outcome, even though nothing connects.
    require(output.contains("Process exited with code") && !output.contains("exited with code 0"), || {
        format!("the command did not run and fail: {output:?}")
    })?;
    require(!output.contains("net=connected"), || format!("the command connected: {output:?}"))?;
    let reason = output.lines().find(|line| line.contains("/dev/tcp")).map(first_line).unwrap_or_default();
    Ok(format!("connect refused ({reason}); {}", outcome.sandbox_facts()))
}

// Flow 6: under read-only, a command and a patch that write inside the workspace.
fn read_only_script(context: &Context) -> Vec<Turn> {
    let target = context.workspace.join("by-command.txt");
    let cmd = format!("printf x > '{}'", target.display());
    vec![
        call("c1", "exec_command", json!({"cmd": cmd, "yield_time_ms": 10000})),
        patch("p1", "*** Begin Patch\n*** Add File: by-patch.txt\n+x\n*** End Patch\n".to_owned()),
        done(),
    ]
}

fn read_only_check(context: &Context, outcome: &Outcome) -> Result<String, String> {
    for name in ["by-command.txt", "by-patch.txt"] {
        let path = context.workspace.join(name);
        require(!path.exists(), || format!("{} was written under read-only", path.display()))?;
    }
    let output = outcome.output("c1");
    require(output.contains("Process exited with code") && !output.contains("exited with code 0"), || {
        format!("the command did not fail: {output:?}")
    })?;
    require(outcome.saw_sandbox_denied(), || {
        format!("no sandboxDenied: true reached the client ({})", outcome.sandbox_facts())
    })?;
    Ok(format!(
        "both writes denied; {}; patch: {}",
        outcome.sandbox_facts(),
        first_line(outcome.output("p1"))
    ))
}

// Flow 4b: under workspace-write, `.git` inside the workspace stays read-only (the more
// specific entry wins over the writable project root), for a command and for a patch.
fn git_script(_: &Context) -> Vec<Turn> {
    // The flow's `prepare` creates `.git` before the agent starts, so the intent's
    // `missing_path_behavior: skip` does not apply to it.
    vec![
        call("c1", "exec_command", json!({"cmd": "printf x > .git/by-command.txt", "yield_time_ms": 10000})),
        patch("p1", "*** Begin Patch\n*** Add File: .git/by-patch.txt\n+x\n*** End Patch\n".to_owned()),
        patch("p2", "*** Begin Patch\n*** Add File: beside-git.txt\n+allowed\n*** End Patch\n".to_owned()),
        done(),
    ]
}

fn git_check(context: &Context, outcome: &Outcome) -> Result<String, String> {
    for name in ["by-command.txt", "by-patch.txt"] {
        let path = context.workspace.join(".git").join(name);
        require(!path.exists(), || format!("{} was written under workspace-write", path.display()))?;
    }
    let beside = context.workspace.join("beside-git.txt");
    require(beside.exists(), || format!("{} (in the writable root) was not written", beside.display()))?;
    let output = outcome.output("c1");
    require(output.contains("Process exited with code") && !output.contains("exited with code 0"), || {
        format!("the command did not fail: {output:?}")
    })?;
    require(outcome.saw_sandbox_denied(), || {
        format!("no sandboxDenied: true reached the client ({})", outcome.sandbox_facts())
    })?;
    Ok(format!(
        "command and patch into .git denied; {}; patch: {}",
        outcome.sandbox_facts(),
        first_line(outcome.output("p1"))
    ))
}

// A spawn failure: the agent asks for a shell that does not exist; the executor's error must
// carry `data.kind` so the client can tell the cases apart.
fn spawn_script(_: &Context) -> Vec<Turn> {
    vec![
        call(
            "c1",
            "exec_command",
            json!({"cmd": "true", "workdir": "/nonexistent/e2e-dir", "yield_time_ms": 10000}),
        ),
        done(),
    ]
}

fn spawn_check(_: &Context, outcome: &Outcome) -> Result<String, String> {
    let kinds: Vec<String> = outcome
        .frames
        .iter()
        .filter(|frame| frame.direction == Direction::ServerToClient)
        .filter_map(|frame| frame.message["error"]["data"]["kind"].as_str().map(str::to_owned))
        .collect();
    require(kinds.iter().any(|kind| kind == "spawnNotFound"), || {
        format!("no error with data.kind spawnNotFound (kinds seen: {kinds:?}): {:?}", outcome.output("c1"))
    })?;
    Ok(format!("data.kind={}; agent saw: {}", kinds.join(","), first_line(outcome.output("c1"))))
}

// Flow 7: the relay cuts the connection once while a command runs; its output must still
// reach the agent after the client reconnects.
const RECONNECT_NEEDLE: &str = "e2e-reconnect-marker";

fn reconnect_script(_: &Context) -> Vec<Turn> {
    let cmd = format!("sleep 1.5; echo {RECONNECT_NEEDLE}-$((6*7))");
    vec![call("c1", "exec_command", json!({"cmd": cmd, "yield_time_ms": 15000})), done()]
}

fn reconnect_check(_: &Context, outcome: &Outcome) -> Result<String, String> {
    require(outcome.was_cut, || "the relay never saw the command, so it never cut".to_owned())?;
    require(outcome.connections >= 2, || "the client never reconnected after the cut".to_owned())?;
    let output = outcome.output("c1");
    require(output.contains(&format!("{RECONNECT_NEEDLE}-42")), || {
        format!("the output after the cut did not reach the agent: {output:?}")
    })?;
    let resumed = outcome.frames.iter().any(|frame| {
        frame.direction == Direction::ClientToServer && frame.message["params"]["resumeSessionId"].is_string()
    });
    Ok(format!("{} connection(s), session resumed: {resumed}", outcome.connections))
}

// Control: with no sandbox, the outside write and the loopback connect both work.
fn full_access_script(context: &Context) -> Vec<Turn> {
    let target = context.outside.join("full.txt");
    let cmd = format!(
        "printf ok > '{}' && (exec 3<>/dev/tcp/127.0.0.1/{}) && echo all-allowed",
        target.display(),
        context.listener_port
    );
    vec![call("c1", "exec_command", json!({"cmd": cmd, "yield_time_ms": 10000})), done()]
}

fn full_access_check(context: &Context, outcome: &Outcome) -> Result<String, String> {
    let output = outcome.output("c1");
    let target = context.outside.join("full.txt");
    require(target.exists(), || {
        format!("{} was not written without a sandbox: {output:?}", target.display())
    })?;
    require(outcome.listener_accepts > 0, || format!("no connection reached the listener: {output:?}"))?;
    Ok(format!("write and connect allowed; {}", outcome.sandbox_facts()))
}
