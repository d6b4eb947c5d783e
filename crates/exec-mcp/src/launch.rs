//! The launcher abstraction: what to start ([`LaunchSpec`]), who starts it ([`Launcher`]), and
//! [`connect`], which launches a server and completes the MCP handshake within a deadline.
//!
//! A launcher decides *where* a server runs; the [`McpTransport`] it returns is the same type
//! for every launcher, so MCP code never knows. This module does not spawn anything itself (see
//! `local.rs` for the local launcher) and does not speak MCP beyond handing the transport to
//! rmcp.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt as _};

use crate::config::{EnvSource, EnvVar};
use crate::transport::McpTransport;

/// The longest stdout line (one JSON-RPC message, newline excluded) a server may write; a
/// longer one ends the session with a "line too long" error. 8 MiB: room for large tool
/// results, while bounding what one runaway line can cost in memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// How long closing a transport waits, after closing the server's stdin, for it to exit on its
/// own before ending it forcibly. MCP servers exit at end of input; two seconds covers an
/// interpreter's shutdown without making a stuck server hold up its client for long.
pub const DEFAULT_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Everything a launcher needs to start one MCP server, wherever it runs.
///
/// Plain data: build it from a config with [`crate::McpServerConfig::launch_spec`] or by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSpec {
    /// The server's name, used in every log line and error message about it.
    pub server_name: String,
    /// The program, looked up on the `PATH` of the environment the server gets.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Literal variables; they win over `env_vars` and the core variables.
    pub env: BTreeMap<String, String>,
    /// Variables copied from an environment at launch (see [`EnvSource`]).
    pub env_vars: Vec<EnvVar>,
    /// The working directory; `None` means the launcher's own. The executor launcher requires it
    /// (an absolute path on the executor).
    pub cwd: Option<PathBuf>,
    /// The stdout line cap, newline excluded (see [`DEFAULT_MAX_LINE_BYTES`]).
    pub max_line_bytes: usize,
    /// The wait between closing stdin and ending the process (see [`DEFAULT_CLOSE_GRACE`]).
    pub close_grace: Duration,
}

impl LaunchSpec {
    /// A spec for `command` with no arguments, no extra environment and the default limits.
    pub fn new(server_name: impl Into<String>, command: impl Into<String>) -> LaunchSpec {
        LaunchSpec {
            server_name: server_name.into(),
            command: command.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            env_vars: Vec::new(),
            cwd: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            close_grace: DEFAULT_CLOSE_GRACE,
        }
    }

    /// Adds arguments.
    pub fn with_args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> LaunchSpec {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets one literal variable.
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> LaunchSpec {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Copies one variable from `source` at launch.
    pub fn with_env_var(mut self, name: impl Into<String>, source: EnvSource) -> LaunchSpec {
        self.env_vars.push(EnvVar { name: name.into(), source });
        self
    }

    /// Sets the working directory.
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> LaunchSpec {
        self.cwd = Some(cwd.into());
        self
    }

    /// The complete environment of a server that runs on the launching machine, given that
    /// machine's environment (passed in, so this is testable without touching `std::env`).
    ///
    /// It is the launching environment's [`shell_env_policy::CORE_VARS`] (so `PATH` finds the
    /// interpreter and `HOME` its caches), then every `env_vars` name that is set there (both
    /// sources: for a local child the launching and the running machine are one), then the
    /// literal `env` on top. Nothing else is inherited: an MCP server sees what its config
    /// grants, the same way an executor server does, and secrets in the client's environment
    /// stay out unless named.
    pub fn local_environment<N, V>(
        &self,
        launching: impl IntoIterator<Item = (N, V)>,
    ) -> BTreeMap<String, String>
    where
        N: Into<String>,
        V: Into<String>,
    {
        let launching: BTreeMap<String, String> =
            launching.into_iter().map(|(name, value)| (name.into(), value.into())).collect();
        let wanted = shell_env_policy::CORE_VARS
            .iter()
            .copied()
            .chain(self.env_vars.iter().map(|variable| variable.name.as_str()));
        let mut environment = BTreeMap::new();
        for name in wanted {
            if let Some(value) = launching.get(name) {
                environment.insert(name.to_owned(), value.clone());
            }
        }
        environment.extend(self.env.iter().map(|(name, value)| (name.clone(), value.clone())));
        environment
    }
}

/// Starts MCP servers somewhere and hands back their stdio as an [`McpTransport`].
///
/// Object-safe (`Box<dyn Launcher>`), so a program can pick the launcher from configuration.
/// Implementations: [`crate::LocalLauncher`] (a child process) and [`crate::ExecutorLauncher`]
/// (a process started through an exec-server); both build their transport with
/// [`McpTransport::new`].
#[async_trait]
pub trait Launcher: Send + Sync + std::fmt::Debug {
    /// Starts the server described by `spec`. The returned transport owns the process: closing
    /// it (or dropping it) ends the process.
    async fn launch(&self, spec: &LaunchSpec) -> Result<McpTransport, LaunchError>;
}

/// Why a server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The process could not be spawned (command not found, bad cwd, ...).
    #[error("mcp server `{server}`: cannot start `{command}`: {source}")]
    Spawn {
        server: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The spec cannot be run by this launcher (an executor server without a `cwd`, say).
    #[error("mcp server `{server}`: {message}")]
    Invalid { server: String, message: String },
    /// The executor did not start the server: it refused `process/start` (the command or the
    /// `cwd` does not exist there, ...) or the connection to it is gone.
    #[error("mcp server `{server}`: cannot start `{command}` on the executor {url}: {source}")]
    Executor {
        server: String,
        command: String,
        url: String,
        #[source]
        source: Box<exec_transport::ClientError>,
    },
}

/// Why [`connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The launcher could not start the server.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The server started but the MCP handshake failed (it exited, or answered with an error).
    #[error("mcp server `{server}`: initialize failed: {source}")]
    Initialize {
        server: String,
        #[source]
        source: Box<ClientInitializeError>,
    },
    /// Launching plus the handshake took longer than the startup timeout; the process has been
    /// ended.
    #[error("mcp server `{server}`: did not start and initialize within {timeout:?}")]
    StartupTimeout { server: String, timeout: Duration },
}

/// Launches `spec` with `launcher` and runs the MCP `initialize` handshake with `handler` as
/// the client, all within `startup_timeout`.
///
/// The returned rmcp service owns the transport: `cancel()` on it (or dropping it) closes the
/// transport and so ends the server. Per-call limits such as `tool_timeout_sec` are the
/// caller's, through rmcp's request options.
pub async fn connect<H: ClientHandler>(
    launcher: &dyn Launcher,
    spec: &LaunchSpec,
    handler: H,
    startup_timeout: Duration,
) -> Result<RunningService<RoleClient, H>, ConnectError> {
    let server = spec.server_name.clone();
    let start = async {
        let transport = launcher.launch(spec).await?;
        handler
            .serve(transport)
            .await
            .map_err(|source| ConnectError::Initialize { server: server.clone(), source: Box::new(source) })
    };
    // On timeout the future, and with it the transport, is dropped: that ends the process.
    match tokio::time::timeout(startup_timeout, start).await {
        Ok(result) => result,
        Err(_elapsed) => Err(ConnectError::StartupTimeout { server, timeout: startup_timeout }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(spec: &LaunchSpec, launching: &[(&str, &str)], expected: &[(&str, &str)]) {
        let environment = spec.local_environment(launching.iter().copied());
        let expected: BTreeMap<String, String> =
            expected.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        assert_eq!(environment, expected);
    }

    const LAUNCHING: &[(&str, &str)] =
        &[("PATH", "/bin"), ("HOME", "/h"), ("EDITOR", "vi"), ("GITHUB_TOKEN", "t"), ("PROJECT", "p")];

    #[test]
    fn core_variables_only_by_default() {
        check(&LaunchSpec::new("s", "x"), LAUNCHING, &[("HOME", "/h"), ("PATH", "/bin")]);
    }

    #[test]
    fn named_variables_are_copied_from_either_source() {
        let spec = LaunchSpec::new("s", "x")
            .with_env_var("GITHUB_TOKEN", EnvSource::Local)
            .with_env_var("PROJECT", EnvSource::Remote)
            .with_env_var("UNSET", EnvSource::Local);
        check(&spec, LAUNCHING, &[("GITHUB_TOKEN", "t"), ("HOME", "/h"), ("PATH", "/bin"), ("PROJECT", "p")]);
    }

    #[test]
    fn literal_env_wins() {
        let spec = LaunchSpec::new("s", "x")
            .with_env_var("PROJECT", EnvSource::Local)
            .with_env("PROJECT", "literal")
            .with_env("PATH", "/opt/bin")
            .with_env("NEW", "1");
        check(
            &spec,
            LAUNCHING,
            &[("HOME", "/h"), ("NEW", "1"), ("PATH", "/opt/bin"), ("PROJECT", "literal")],
        );
    }
}
