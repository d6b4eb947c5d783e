//! MCP stdio servers, started as local children or on an executor, as one `rmcp` transport.
//!
//! An agent's MCP servers often have to run where the code is. This crate lets MCP client code
//! (built on the `rmcp` crate) talk to a stdio MCP server without knowing where that server
//! runs: a [`Launcher`] starts the server and returns an [`McpTransport`], which rmcp's client
//! uses like any other transport. It sits on `shell-env-policy` (the core variable list) and, for
//! the executor launcher, on `exec-transport`'s `ExecClient`.
//!
//! # Main types
//!
//! - [`McpConfig`] / [`McpServerConfig`]: the `[mcp_servers.NAME]` TOML tables, validated, with
//!   errors naming the server and the key. [`Location`] says where a server runs.
//! - [`LaunchSpec`]: what to start (command, args, env, cwd, line cap, close grace).
//! - [`Launcher`]: `launch(&self, &LaunchSpec) -> Result<McpTransport, LaunchError>`;
//!   [`LocalLauncher`] starts a child process, [`ExecutorLauncher`] a process on an executor
//!   through an `exec_transport::ExecClient` ([`LaunchSpec::executor_process_spec`] is the
//!   `process/start` request it sends).
//! - [`McpTransport`]: implements `rmcp::transport::Transport<RoleClient>`. It is built by
//!   [`McpTransport::new`] from a [`ProcessIo`] (stdin, stdout, stderr as byte streams and a
//!   [`ProcessHandle`]), so every launcher returns the same type.
//! - [`connect`]: launch and complete the MCP handshake within the startup timeout.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use exec_mcp::{LocalLauncher, McpConfig, connect};
//!
//! let config = McpConfig::from_toml_str(
//!     r#"
//!     [mcp_servers.time]
//!     command = "python3"
//!     args = ["-m", "mcp_server_time"]
//!     "#,
//! )?;
//! let server = config.server("time")?;
//! let client = connect(&LocalLauncher::new(), &server.launch_spec(), (), server.startup_timeout()).await?;
//! let tools = client.list_all_tools().await?;
//! println!("{} tools", tools.len());
//! client.cancel().await?; // closes stdin, waits the grace period, then kills the server
//! # Ok(())
//! # }
//! ```
//!
//! The same server on an executor; only the launcher changes:
//!
//! ```no_run
//! # async fn example(server: &exec_mcp::McpServerConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use exec_mcp::{ExecutorLauncher, connect};
//! use exec_transport::ConnectOptions;
//!
//! let launcher = ExecutorLauncher::connect("ws://10.0.0.5:4500", ConnectOptions::default()).await?;
//! let spec = server.launch_spec(); // needs a `cwd` on the executor
//! let client = connect(&launcher, &spec, (), server.startup_timeout()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Invariants
//!
//! - Stdout carries only newline-delimited JSON-RPC. A line longer than
//!   [`LaunchSpec::max_line_bytes`] (default [`DEFAULT_MAX_LINE_BYTES`]) ends the session with an
//!   error saying so; a line that is not JSON-RPC is logged and skipped.
//! - Stderr is logged line by line with `tracing` (target `exec_mcp::stderr`) and never enters
//!   the protocol stream.
//! - When the server's output ends, every unanswered request fails with an error naming the
//!   server and the reason ([`SERVER_ENDED_CODE`]); nothing waits forever on a dead server.
//! - Closing the transport closes stdin, waits [`LaunchSpec::close_grace`], then kills the
//!   process; dropping it kills at once. A local server dies with its whole process group.
//! - A local server's environment is the launching side's core variables, the `env_vars` it
//!   names and its literal `env`, nothing more (see [`LaunchSpec::local_environment`]).
//! - An executor server's environment is built by the executor: its core variables and the
//!   `source = "remote"` names, then only explicit values on top (the literal `env` and the
//!   `source = "local"` names read on the launching side). The launching machine's `HOME` and
//!   `PATH` are never sent (see [`LaunchSpec::executor_process_spec`]).
//! - An executor server runs with `tty: false` and a piped stdin. Closing its transport closes
//!   stdin (`eof`), waits the grace, then sends `process/terminate` and waits for `closed`;
//!   dropping it sends `process/terminate` at once. If the connection to the executor is lost
//!   for good, its stdout fails with `executor disconnected: <reason>`, and so every pending
//!   request fails with that reason instead of hanging.
//!
//! # Non-goals
//!
//! MCP over HTTP, restarting crashed servers, and speaking MCP itself: the protocol is rmcp's.

mod config;
mod executor;
mod launch;
mod local;
mod transport;

pub use config::{
    ConfigError, DEFAULT_STARTUP_TIMEOUT, DEFAULT_TOOL_TIMEOUT, EnvSource, EnvVar, Location, McpConfig,
    McpServerConfig,
};
pub use executor::{ExecutorLauncher, MAX_WRITE_BYTES};
pub use launch::{
    ConnectError, DEFAULT_CLOSE_GRACE, DEFAULT_MAX_LINE_BYTES, LaunchError, LaunchSpec, Launcher, connect,
};
pub use local::LocalLauncher;
pub use transport::{
    EndReason, McpTransport, ProcessExit, ProcessHandle, ProcessIo, SERVER_ENDED_CODE, TransportError,
};

/// The rmcp crate, re-exported so users name the same version this crate implements for.
pub use rmcp;
