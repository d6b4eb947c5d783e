//! `cargo xtask load`: the load run with churn (issue 12), on loopback only.
//!
//! The driver is an example of `test-support` (`crates/test-support/examples/load.rs`), because
//! it needs tokio and xtask must not: this builds it and our server in release mode and runs it.
//! Arguments after `load` go to the driver unchanged (`--connections`, `--processes`, `--lines`,
//! `--churn`, `--read-bytes`, `--seconds`, `--seed`); the defaults are the 200
//! connections × 20 processes. The run is bounded in count and in time, and fails on any lost
//! or duplicated byte, any eviction, a run past its time bound, or a server whose peak resident
//! memory passed `--max-rss-mib` ([`DEFAULT_MAX_RSS_MIB`] unless given). Results:
//! `docs/reliability.md`.

use std::path::Path;

/// The server's peak RSS allowed in the default run, in MiB. The default run peaked at 241 and
/// 283 MiB (docs/reliability.md), most of it retained output that the global retention budget
/// (512 MiB, hard ceiling 576 MiB) bounds; 1 GiB leaves room for that and the connections'
/// buffers, and still fails a server whose memory grows with the work it has done.
const DEFAULT_MAX_RSS_MIB: &str = "1024";

pub fn load(root: &Path, args: &[String]) -> Result<(), String> {
    // The driver builds `exec-server` itself in the same profile (test_support::workspace_binary).
    let mut command =
        vec!["run", "--release", "--locked", "--package", "test-support", "--example", "load", "--"];
    command.extend(args.iter().map(String::as_str));
    if !args.iter().any(|arg| arg == "--max-rss-mib") {
        command.extend(["--max-rss-mib", DEFAULT_MAX_RSS_MIB]);
    }
    crate::run(root, "cargo", &command, &[])
}
