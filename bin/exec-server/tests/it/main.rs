//! The exec-server integration tests: one test binary (`--test it`) that spawns the built server
//! with `--listen ws://127.0.0.1:0` and talks to it over a real WebSocket.
//!
//! Modules:
//! - `binary`: negotiated binary `process/output` frames (`binaryOutput`): order, exact bytes,
//!   flow control, gaps, a per-connection choice on resume, JSON for those who did not ask and
//!   over stdio.
//! - `audit`: the audit log (`--audit-log`): every start and exit, no secret values.
//! - `codex171`: the 0.171 Codex surface (issue 11): `environmentInfo`, the sandbox intent on
//!   `fs/*` (escape attempts fail closed) and `process/start`, spawn error kinds, new fs methods.
//! - `conformance`: the shared, non-extension subset of the protocol, run against our server and,
//!   when `EXEC_PEER_CODEX` names a `codex` binary, against the Codex peer too.
//! - `deploy`: the recipes in `deploy/` (systemd unit, Containerfile, Kubernetes manifest), checked
//!   as far as this machine allows, each saying what it could not check.
//! - `docs`: every error code and text `docs/protocol.md` states, replayed against the server.
//! - `inline`: the inline wait on `process/start` (`startWait`): answered whole, at the time or
//!   byte budget with the rest streamed, resumed after a drop, refused past the caps.
//! - `lifecycle`: `/livez`, `/readyz`, and the drain on SIGTERM (`--drain-timeout`).
//! - `metrics`: `/metrics` behind the token, and its families moving as processes run.
//! - `pid1`: the server as PID 1 of a PID namespace (a container without an init): orphans are
//!   reaped, exits still reported, SIGTERM reaches the server.
//! - `hostile`: what a hostile client must not be able to do (issue 12): unbounded or blocking
//!   fs calls, removing system paths, losing a file to a failed overwrite, flooding the log.
//! - `trace`: a request's W3C `traceparent` on its log span; session and process on log lines.
//! - `limits`: bounded memory and fair admission under one hostile client (issue 12).
//! - `server`: our server's own behaviour beyond that subset (concurrency, takeover, HTTP, limits,
//!   extensions, shutdown, stdio mode).
//!
//! Helpers live in the `test-support` crate; nothing here sleeps for a fixed time.

mod audit;
mod binary;
mod bystander;
mod codex171;
mod conformance;
mod deploy;
mod docs;
mod hostile;
mod inline;
mod lifecycle;
mod limits;
mod metrics;
mod pid1;
mod server;
mod trace;

/// `exec-server --listen stdio` as a child (killed on drop): the child, its stdin, and its stdout
/// as lines.
pub(crate) fn stdio_server() -> (
    tokio::process::Child,
    tokio::process::ChildStdin,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_exec-server"))
        .args(["--listen", "stdio"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn exec-server --listen stdio");
    let stdin = child.stdin.take().expect("stdin is piped");
    let lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    (child, stdin, lines)
}
