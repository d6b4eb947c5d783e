//! `cargo xtask load`: the load run with churn (issue 12), on loopback only.
//!
//! The driver is an example of `test-support` (`crates/test-support/examples/load.rs`), because
//! it needs tokio and xtask must not: this builds it and our server in release mode and runs it.
//! Arguments after `load` go to the driver unchanged (`--connections`, `--processes`, `--lines`,
//! `--churn`, `--read-bytes`, `--seconds`, `--seed`); the defaults are the 200
//! connections × 20 processes. The run is bounded in count and in time, and fails on any lost
//! or duplicated byte, any eviction, or a run past its time bound. Results: `docs/reliability.md`.

use std::path::Path;

pub fn load(root: &Path, args: &[String]) -> Result<(), String> {
    // The driver builds `exec-server` itself in the same profile (test_support::workspace_binary).
    let mut command =
        vec!["run", "--release", "--locked", "--package", "test-support", "--example", "load", "--"];
    command.extend(args.iter().map(String::as_str));
    crate::run(root, "cargo", &command, &[])
}
