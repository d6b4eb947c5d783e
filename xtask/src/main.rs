//! `cargo xtask`: the project's automation, written in Rust so it runs wherever cargo does.
//!
//! Subcommands:
//! - `ci`: the single gate (fmt check, clippy with `-D warnings` with all features and for the
//!   server without any, tests, docs with `-D warnings`, tidy). If `cargo xtask ci` passes
//!   locally, CI is green.
//! - `tidy`: repository hygiene checks that the compiler cannot express (see `tidy.rs`).
//! - `peer-test`: installs the Codex peer with npm and runs the conformance cases against it.
//! - `bench`: measures our server, both Codex servers and the machine's local limits side by side;
//!   prints one table and writes it as JSON.
//! - `codex-e2e`: installs `@openai/codex@0.171.0` and runs the real `codex exec` agent, driven
//!   by a scripted model, against our server and Codex's own as executors, flow by flow.
//! - `wan`: the latency of a short command over a 50 ms round trip (network namespaces and
//!   `tc netem`), through the Codex 0.171 client's calls, `ExecClient`, and the inline wait.
//! - `load`: the load run with churn (200 connections × 20 processes, checked byte for byte).
//! - `fuzz`: builds and runs each `cargo fuzz` target for a while (see `fuzz.rs`).
//! - `container`: builds the container recipe's root filesystem around a static exec-server
//!   (no registry), runs it with podman/docker or an `unshare` stand-in, probes it from outside.
//! - `interop`: installs the Python MCP SDK and `mcp-server-time` into a cache venv and checks
//!   that the SDK's stdio client can use the server.
//!
//! It deliberately depends on no workspace crate and no async runtime, so it compiles in seconds.

mod bench;
mod codex_e2e;
mod container;
mod fuzz;
mod interop;
mod load;
mod peer;
mod tidy;
mod wan;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("tidy") => tidy::run(&root),
        Some("peer-test") => peer::peer_test(&root),
        Some("bench") => bench::bench(&root, &args[1..]),
        Some("interop") => interop::interop(&root),
        Some("load") => load::load(&root, &args[1..]),
        Some("fuzz") => fuzz::fuzz(&root, &args[1..]),
        Some("codex-e2e") => codex_e2e::codex_e2e(&root, &args[1..]),
        Some("wan") => wan::wan(&root),
        Some("container") => container::container(&root, &args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown xtask `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci          run the whole gate: fmt, clippy, tests, docs, tidy
  tidy        check repository hygiene (module docs, banned attributes, dependency edges)
  peer-test   install the Codex peer (npm) and run the conformance cases against it
  bench [--json PATH]
              measure our server, Codex 0.123 and 0.171 and the local limits side by side
              (release builds); one table, also written to <target>/bench/<UTC time>.json
  codex-e2e [--server ours|codex|both] [--flow NAME] [--trace FILE] [--probe]
              install @openai/codex@0.171.0 (npm, into .cache/codex-0.171) and run `codex exec`
              flows (executor, TTY stdin, apply_patch, sandbox denials, reconnect) against our
              server and Codex's own (default both); --trace writes every JSON-RPC message,
              --probe sends fixed requests directly and prints the answers
  wan         one short command over a 50 ms RTT link (netns + tc netem, root only): the
              0.171 client's calls against Codex 0.171 and ours, ExecClient, the inline wait
  load [--connections N] [--processes N] [--churn P] [--seconds S] ...
              200 connections x 20 processes with checked output while connections drop and
              resume at random (release build, loopback); reports bytes, churn, RSS, start p99
  fuzz [--seconds N] [--target NAME] [--install]
              build and run each cargo-fuzz target for N seconds (default 60) on nightly;
              --install installs cargo-fuzz first (cargo install cargo-fuzz --locked)
  container [--no-run] [--debug]
              build a static exec-server and the container's root filesystem (no registry),
              run it with podman or docker if one answers, else as PID 1 of a new PID namespace
              with unshare (root), and probe /livez and /readyz from outside
  interop     install the Python MCP SDK and mcp-server-time (PyPI, into .cache/interop) and
              check that the SDK's stdio client uses the server";

/// The workspace root: the parent of this crate's manifest directory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs every check of the gate in order, stopping at the first failure.
fn ci(root: &Path) -> Result<(), String> {
    run(root, "cargo", &["fmt", "--all", "--check"], &[])?;
    run(
        root,
        "cargo",
        &["clippy", "--workspace", "--all-targets", "--all-features", "--locked", "--", "-D", "warnings"],
        &[],
    )?;
    // Everything else builds with every feature on; the server people install has none (`otlp`
    // is opt-in), so that build is checked too: a few seconds, since the dependencies are shared.
    run(
        root,
        "cargo",
        &["clippy", "--package", "exec-server", "--no-default-features", "--locked", "--", "-D", "warnings"],
        &[],
    )?;
    if has_nextest(root) {
        run(
            root,
            "cargo",
            &["nextest", "run", "--workspace", "--all-features", "--locked", "--no-tests=fail"],
            &[],
        )?;
    } else {
        eprintln!("xtask: cargo-nextest not found, falling back to cargo test");
        run(
            root,
            "cargo",
            &["test", "--workspace", "--all-features", "--locked", "--lib", "--bins", "--tests"],
            &[],
        )?;
    }
    // nextest does not run doctests; the runnable examples in the crate docs are tests too.
    run(root, "cargo", &["test", "--workspace", "--all-features", "--locked", "--doc"], &[])?;
    run(
        root,
        "cargo",
        &["doc", "--workspace", "--all-features", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    tidy::run(root)?;
    eprintln!("xtask: ci passed");
    Ok(())
}

pub(crate) fn has_nextest(root: &Path) -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .current_dir(root)
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Runs one command to completion, inheriting stdio, and turns a failure into an error message.
pub(crate) fn run(root: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|error| format!("could not run {program}: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{program} {}` failed ({status})", args.join(" "))) }
}
