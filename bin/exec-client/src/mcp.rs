//! `exec-client mcp`: a byte-exact bridge between local stdin/stdout and an MCP stdio server
//! running on the executor, so any MCP client can launch `exec-client mcp --url URL -- CMD` as
//! if it were the server itself.
//!
//! The remote process runs with `tty: false` and `pipeStdin: true`. Local stdin goes to its stdin
//! (EOF included), its stdout comes back to local stdout, its stderr to local stderr (never into
//! the protocol stream). The bridge ends when either side does: local stdin EOF closes the
//! server's stdin and the bridge waits for the server to exit (terminating it after a grace
//! period); the server exiting ends the bridge with the server's exit code. A lost connection
//! that recovery cannot repair, or output lost from retention, ends it with exit code 253 rather
//! than a silently corrupted stream.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use exec_engine::ExitStatus;
use exec_mcp::{LaunchSpec, Location, McpConfig};
use exec_protocol::capability;
use exec_transport::ExecClient;
use tokio::signal::unix::{SignalKind, signal};

use crate::run::{GapPolicy, exit_code, follow, parse_env};
use crate::{Failure, ServerArgs};

/// How long the server may take to exit after its stdin closed before it is terminated.
const EXIT_GRACE: Duration = Duration::from_secs(5);

#[derive(Args, Debug)]
pub(crate) struct McpArgs {
    /// Working directory on the executor (absolute).
    #[arg(long)]
    cwd: Option<String>,
    /// Set a variable in the server's environment (repeatable).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Take the server from this MCP config file (`[mcp_servers.NAME]` tables), with --server.
    #[arg(long, value_name = "FILE", requires = "server")]
    config: Option<PathBuf>,
    /// The server's name in --config.
    #[arg(long, value_name = "NAME", requires = "config")]
    server: Option<String>,
    /// The server command and its arguments (unless --config is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
    command: Vec<String>,
}

/// What to start, resolved from the flags or the config file.
struct Server {
    /// The executor named by the config, if any.
    url: Option<String>,
    spec: LaunchSpec,
}

pub(crate) async fn mcp(server_args: &ServerArgs, args: McpArgs) -> Result<u8, Failure> {
    let server = resolve(args)?;
    let url = match (server_args.given_target(), &server.url) {
        (Some(target), _) => target,
        (None, Some(url)) => url.clone(),
        (None, None) => {
            return Err(Failure::usage(
                "no executor: pass --url (or set EXEC_SERVER_URL) or --connect, or use a config whose server has `executor`",
            ));
        }
    };
    let client = server_args.connect(&url, None).await?;
    if !client.has_capability(capability::EOF) {
        eprintln!(
            "exec-client: warning: the server cannot close a process's stdin (no `eof` extension); the MCP server will not see EOF"
        );
    }
    // One implementation of the remote environment rules: exec-mcp's, shared with its launcher.
    let spec = server
        .spec
        .executor_process_spec(std::env::vars())
        .map_err(|error| Failure::usage(error.to_string()))?;
    let program = server.spec.command.clone();
    let id = format!("mcp-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut handle =
        client.start(id.as_str(), spec).await.map_err(|error| crate::run::start_failure(error, &program))?;

    let mut terminate = signal(SignalKind::terminate()).map_err(|error| Failure::usage(error.to_string()))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|error| Failure::usage(error.to_string()))?;
    let mut hangup = signal(SignalKind::hangup()).map_err(|error| Failure::usage(error.to_string()))?;
    let input = tokio::spawn(forward_input(client.clone(), id.clone()));

    let outcome = tokio::select! {
        outcome = follow(&mut handle, GapPolicy::Fatal, None) => outcome,
        signal = async {
            tokio::select! {
                _ = terminate.recv() => 15,
                _ = interrupt.recv() => 2,
                _ = hangup.recv() => 1,
            }
        } => {
            stop(&client, &id).await;
            Ok(ExitStatus::Signal(signal))
        }
    };
    input.abort();
    outcome.map(exit_code)
}

/// Ends the remote server: SIGTERM with a grace period where supported, else SIGKILL.
async fn stop(client: &ExecClient, id: &str) {
    let grace = client.has_capability(capability::GRACE_MS).then_some(Duration::from_secs(2));
    let _ = client.terminate(id, grace).await;
}

/// Forwards local stdin until EOF, closes the remote stdin, and terminates the server if it has
/// not exited within [`EXIT_GRACE`] (the bridge's output loop then ends with its exit).
async fn forward_input(client: ExecClient, id: String) {
    crate::run::forward_input(client.clone(), id.clone()).await;
    tokio::time::sleep(EXIT_GRACE).await;
    stop(&client, &id).await;
}

fn resolve(args: McpArgs) -> Result<Server, Failure> {
    let (url, mut spec) = match &args.config {
        None => {
            let Some((command, rest)) = args.command.split_first() else {
                return Err(Failure::usage(
                    "give the server command after --, or --config FILE --server NAME",
                ));
            };
            (None, LaunchSpec::new("mcp", command.as_str()).with_args(rest.iter().cloned()))
        }
        Some(path) => {
            if !args.command.is_empty() {
                return Err(Failure::usage("give either a command or --config/--server, not both"));
            }
            let name = args.server.as_deref().unwrap_or_default();
            let config = McpConfig::from_file(path).map_err(|error| Failure::usage(error.to_string()))?;
            let server = config.server(name).map_err(|error| Failure::usage(error.to_string()))?;
            let url = match server.location() {
                Location::Executor { url } => Some(url.clone()),
                Location::Local => None,
            };
            (url, server.launch_spec())
        }
    };
    if let Some(cwd) = args.cwd {
        spec.cwd = Some(cwd.into());
    } else if spec.cwd.is_none() {
        spec.cwd = Some("/".into());
    }
    spec.env.extend(args.env);
    Ok(Server { url, spec })
}
