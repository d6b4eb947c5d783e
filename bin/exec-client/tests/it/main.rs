//! End-to-end tests of the `exec-client` binary against a real server on loopback (run in this
//! test process), driving the built binary as a user would: pipes, signals, and a real
//! pseudo-terminal for `-t`.

mod codex171;
mod commands;
mod connect;
mod cp;
mod mcp;
mod peer;
mod run;
mod support;
mod tls;
mod tty;
