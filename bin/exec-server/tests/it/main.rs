//! The exec-server integration tests: one test binary (`--test it`) that spawns the built server
//! with `--listen ws://127.0.0.1:0` and talks to it over a real WebSocket.
//!
//! Modules:
//! - `conformance`: the shared, non-extension subset of the protocol, run against our server and,
//!   when `EXEC_PEER_CODEX` names a `codex` binary, against the Codex peer too.
//! - `hostile`: what a hostile client must not be able to do (issue 12): unbounded or blocking
//!   fs calls, removing system paths, losing a file to a failed overwrite, flooding the log.
//! - `limits`: bounded memory and fair admission under one hostile client (issue 12).
//! - `server`: our server's own behaviour beyond that subset (concurrency, takeover, HTTP, limits,
//!   extensions, shutdown, stdio mode).
//!
//! Helpers live in the `test-support` crate; nothing here sleeps for a fixed time.

mod conformance;
mod hostile;
mod limits;
mod server;
