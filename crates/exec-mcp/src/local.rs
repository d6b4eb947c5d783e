//! [`LocalLauncher`]: runs an MCP server as a child process of the launching program.
//!
//! The child leads its own process group, gets a complete environment built by
//! [`LaunchSpec::local_environment`] (nothing else is inherited), and has its three standard
//! streams piped into an [`McpTransport`]. Ending it means SIGKILL to the whole group, so
//! whatever the server started goes too. It does not restart servers or limit their resources.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;

use async_trait::async_trait;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::launch::{LaunchError, LaunchSpec, Launcher};
use crate::transport::{McpTransport, ProcessExit, ProcessHandle, ProcessIo};

/// Starts MCP servers as local child processes.
///
/// The launching environment (what [`LaunchSpec::local_environment`] copies core and named
/// variables from) is this process's own, read at each launch, unless one was given with
/// [`LocalLauncher::with_environment`].
#[derive(Debug, Clone, Default)]
pub struct LocalLauncher {
    /// `None`: read `std::env::vars_os()` at launch.
    environment: Option<BTreeMap<String, String>>,
}

impl LocalLauncher {
    /// A launcher whose children copy variables from this process's environment.
    pub fn new() -> LocalLauncher {
        LocalLauncher::default()
    }

    /// A launcher whose children copy variables from `environment` instead (for tests, and for
    /// programs that keep their configuration environment apart from their own).
    pub fn with_environment<N: Into<String>, V: Into<String>>(
        environment: impl IntoIterator<Item = (N, V)>,
    ) -> LocalLauncher {
        let environment = environment.into_iter().map(|(name, value)| (name.into(), value.into())).collect();
        LocalLauncher { environment: Some(environment) }
    }
}

#[async_trait]
impl Launcher for LocalLauncher {
    async fn launch(&self, spec: &LaunchSpec) -> Result<McpTransport, LaunchError> {
        let environment = match &self.environment {
            Some(environment) => spec.local_environment(environment.clone()),
            None => {
                let own = shell_env_policy::utf8_vars_os(std::env::vars_os());
                if !own.skipped.is_empty() {
                    tracing::debug!(server = %spec.server_name, skipped = ?own.skipped, "non-UTF-8 variables not copied");
                }
                spec.local_environment(own.vars)
            }
        };
        let mut command = tokio::process::Command::new(&spec.command);
        command
            .args(&spec.args)
            .env_clear()
            .envs(&environment)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &spec.cwd {
            command.current_dir(cwd);
        }
        let spawn_error = |source: io::Error| LaunchError::Spawn {
            server: spec.server_name.clone(),
            command: spec.command.clone(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        let group = child.id().and_then(|pid| i32::try_from(pid).ok()).map(Pid::from_raw);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(spawn_error(io::Error::other("the child's standard streams were not piped")));
        };
        tracing::debug!(server = %spec.server_name, pid = ?group, "started local mcp server");
        let process = LocalProcess { child, group, exit: None };
        let io = ProcessIo {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: Some(Box::new(stderr)),
            process: Box::new(process),
        };
        Ok(McpTransport::new(spec, io))
    }
}

/// A local child that leads its own process group.
#[derive(Debug)]
struct LocalProcess {
    /// Spawned with `kill_on_drop`, a second line of defence for the leader.
    child: tokio::process::Child,
    /// The process group id (the leader's pid), kept after the leader is reaped so the rest of
    /// the group can still be killed.
    group: Option<Pid>,
    /// Set once the leader has been reaped.
    exit: Option<ProcessExit>,
}

impl LocalProcess {
    /// SIGKILL to every process of the group. Once the leader has been reaped the group id
    /// stays valid as long as any member lives; when none does, the call finds no process.
    fn kill_group(&self) {
        let Some(group) = self.group else { return };
        match killpg(group, Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(error) => tracing::debug!(%group, %error, "killpg failed"),
        }
    }
}

#[async_trait]
impl ProcessHandle for LocalProcess {
    async fn wait(&mut self) -> io::Result<ProcessExit> {
        if let Some(exit) = self.exit {
            return Ok(exit);
        }
        let status = self.child.wait().await?;
        let exit = match (status.code(), status.signal()) {
            (Some(code), _) => ProcessExit::Code(code),
            (None, Some(signal)) => ProcessExit::Signal(signal),
            (None, None) => return Err(io::Error::other(format!("unexpected wait status {status}"))),
        };
        self.exit = Some(exit);
        // The server is gone; whatever it left behind in its group goes with it.
        self.kill_group();
        Ok(exit)
    }

    async fn kill(&mut self) -> io::Result<ProcessExit> {
        self.kill_group();
        self.wait().await
    }
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        if self.exit.is_none() {
            // Dropped without being waited for: end the group now; tokio reaps the leader.
            self.kill_group();
        }
    }
}
