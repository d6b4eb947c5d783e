//! exec-mcp's integration tests: one test binary (see STYLE.md, "Tests").
//!
//! - `executor`: the same client through the executor launcher, against an exec-server run in
//!   process (or, to be killed, as the real binary), compared with the local launcher.
//! - `local`: an rmcp client talks to the workspace's `mcp-test-server` (and to small shell
//!   scripts, where a test needs a misbehaving server) through the local launcher.
//! - `support`: helpers shared by the modules: the test server's spec, tool-call shorthands, a
//!   `tracing` capture, and process liveness checks.

mod executor;
mod local;
mod support;
