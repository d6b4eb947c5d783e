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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use exec_engine::{ExitStatus, WriteOptions, WriteStatus};
use exec_mcp::{EnvSource, Location, McpConfig};
use exec_protocol::capability;
use exec_transport::client::{EnvInherit, EnvPolicy};
use exec_transport::{ExecClient, ProcessSpec};
use tokio::io::AsyncReadExt as _;
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
    url: Option<String>,
    argv: Vec<String>,
    cwd: String,
    env: BTreeMap<String, String>,
    policy: EnvPolicy,
}

pub(crate) async fn mcp(server_args: &ServerArgs, args: McpArgs) -> Result<u8, Failure> {
    let server = resolve(args)?;
    let url = match (&server_args.url, &server.url) {
        (Some(url), _) | (None, Some(url)) => url.clone(),
        (None, None) => {
            return Err(Failure::usage(
                "no executor URL: pass --url, set EXEC_SERVER_URL, or use a config whose server has `executor`",
            ));
        }
    };
    let client = server_args.connect(&url, None).await?;
    if !client.has_capability(capability::EOF) {
        eprintln!(
            "exec-client: warning: the server cannot close a process's stdin (no `eof` extension); the MCP server will not see EOF"
        );
    }
    let mut spec = ProcessSpec::new(server.argv.iter().cloned(), server.cwd).env_policy(Some(server.policy));
    spec.env = server.env;
    let spec = spec.pipe_stdin();
    let id = format!("mcp-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut handle = client
        .start(id.as_str(), spec)
        .await
        .map_err(|error| crate::run::start_failure(error, &server.argv[0]))?;

    let mut terminate = signal(SignalKind::terminate()).map_err(|error| Failure::usage(error.to_string()))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|error| Failure::usage(error.to_string()))?;
    let mut hangup = signal(SignalKind::hangup()).map_err(|error| Failure::usage(error.to_string()))?;
    let input = tokio::spawn(forward_input(client.clone(), id.clone()));

    let outcome = tokio::select! {
        outcome = follow(&mut handle, GapPolicy::Fatal) => outcome,
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
    let mut stdin = tokio::io::stdin();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match stdin.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        match client.write(&id, Bytes::copy_from_slice(&buffer[..read]), WriteOptions::default()).await {
            Ok(WriteStatus::Accepted) => {}
            Ok(_) | Err(_) => return,
        }
    }
    if client.has_capability(capability::EOF) {
        let _ = client.write(&id, Bytes::new(), WriteOptions { eof: true, write_id: None }).await;
    }
    tokio::time::sleep(EXIT_GRACE).await;
    stop(&client, &id).await;
}

fn resolve(args: McpArgs) -> Result<Server, Failure> {
    let Some(path) = &args.config else {
        if args.command.is_empty() {
            return Err(Failure::usage("give the server command after --, or --config FILE --server NAME"));
        }
        let policy = policy(EnvInherit::Core, Vec::new());
        return Ok(Server {
            url: None,
            argv: args.command,
            cwd: args.cwd.unwrap_or_else(|| "/".to_owned()),
            env: args.env.into_iter().collect(),
            policy,
        });
    };
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
    let cwd = match (args.cwd, server.cwd()) {
        (Some(cwd), _) => cwd,
        (None, Some(cwd)) => cwd.to_string_lossy().into_owned(),
        (None, None) => "/".to_owned(),
    };
    // The executor's core variables and the remote-source names come from the executor; the
    // literal values and the local-source names are sent.
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut remote_names = Vec::new();
    for variable in server.env_vars() {
        match variable.source {
            EnvSource::Remote => remote_names.push(variable.name.clone()),
            EnvSource::Local => {
                if let Ok(value) = std::env::var(&variable.name) {
                    env.insert(variable.name.clone(), value);
                }
            }
        }
    }
    env.extend(server.env().iter().map(|(name, value)| (name.clone(), value.clone())));
    env.extend(args.env);
    let argv = std::iter::once(server.command().to_owned()).chain(server.args().iter().cloned()).collect();
    let policy = if remote_names.is_empty() {
        policy(EnvInherit::Core, Vec::new())
    } else {
        remote_policy(remote_names)
    };
    Ok(Server { url, argv, cwd, env, policy })
}

fn policy(inherit: EnvInherit, include_only: Vec<String>) -> EnvPolicy {
    EnvPolicy {
        inherit,
        ignore_default_excludes: !include_only.is_empty(),
        exclude: Vec::new(),
        set: BTreeMap::new(),
        include_only,
    }
}

/// The executor's core variables plus the named ones (named explicitly, so the default
/// `*KEY*`/`*SECRET*`/`*TOKEN*` exclusion does not apply to them).
fn remote_policy(names: Vec<String>) -> EnvPolicy {
    let mut keep: Vec<String> = shell_env_policy::CORE_VARS.iter().map(|name| (*name).to_owned()).collect();
    keep.extend(names);
    policy(EnvInherit::All, keep)
}
