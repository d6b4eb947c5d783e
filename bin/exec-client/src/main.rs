//! The `exec-client` binary: run a command on an exec-server as if it were local (`run`), list
//! a session's processes (`ps`), follow one again after a disconnect (`attach`), signal one
//! (`kill`), and bridge an MCP stdio server running on the executor (`mcp`).
//!
//! The protocol, ordering and recovery live in `exec_transport::ExecClient`; this crate owns
//! what is specific to a terminal program: flags, stdio plumbing, the TTY, local signals, the
//! session file, and turning every outcome into one exit code.
//!
//! Exit codes: the remote command's own (128+N when a signal killed it); 126/127 when the
//! command could not be executed / found; [`exit::CONNECT`], [`exit::AUTH`], [`exit::SERVER`],
//! [`exit::DISCONNECTED`] for the client's own failures; 2 for usage errors.

mod commands;
mod cp;
mod mcp;
mod run;
mod session_file;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use exec_transport::{ClientError, ConnectOptions, Endpoint, ExecClient};

/// How a `--connect` command is written where a URL could be (the session file).
const CONNECT_PREFIX: &str = "connect:";

/// Exit codes of the client's own failures (the remote command's code is passed through).
pub(crate) mod exit {
    /// Bad flags or arguments.
    pub const USAGE: u8 = 2;
    /// The command was found but could not be executed (as a shell reports it).
    pub const CANNOT_EXECUTE: u8 = 126;
    /// The command was not found (as a shell reports it).
    pub const NOT_FOUND: u8 = 127;
    /// The server could not be reached.
    pub const CONNECT: u8 = 250;
    /// The server refused the credentials (HTTP 401/403).
    pub const AUTH: u8 = 251;
    /// The server answered a request with an error.
    pub const SERVER: u8 = 252;
    /// The connection was lost and could not be recovered.
    pub const DISCONNECTED: u8 = 253;
}

/// Run and control processes on an exec-server.
#[derive(Parser, Debug)]
#[command(name = "exec-client", version, about, long_about = None, after_help = HELP_AFTER)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: Command,
}

const HELP_AFTER: &str = "\
Examples:
  exec-client --url ws://127.0.0.1:8765 run -- make test
  exec-client --connect 'ssh dev exec-server --listen stdio' run -- uname -a
  exec-client --url wss://exec.example.com:8765 --ca-file ca.pem --token-file token shell
  exec-client cp ./src :/work/src
  exec-client run --session-file job.json -- long-build; exec-client attach --session-file job.json

Exit codes: the remote command's own (128+N if signal N killed it), 126/127 when it could not be
executed/found, 124 run --timeout expired, 1 cp failed, 2 usage error, 250 could not connect
(TLS included), 251 auth refused, 252 server error, 253 disconnected.
See docs/exec-client.md for the ssh, TLS and copy recipes.";

const RUN_EXAMPLES: &str = "\
Examples:
  exec-client run -- ls -l /tmp                 output and exit code as if local
  exec-client run -t -- htop                    a PTY, the local terminal in raw mode
  tar c dir | exec-client run -- tar x -C /w    stdin is forwarded, its end included
  exec-client run -n -- ./server                no stdin at all (as ssh -n)
  exec-client run --timeout 30s -- make         exit 124 if it takes longer
  exec-client run --sandbox workspace-write --cwd /w -- make
                                                writes only in /w, /tmp and TMPDIR; no network";

const CP_EXAMPLES: &str = "\
Examples:
  exec-client cp ./notes.txt :/tmp/             into an existing directory
  exec-client cp ./project :/work/project       a tree, modes kept
  exec-client cp :/var/log/app.log ./app.log    from the executor";

/// Where the server is and how to authenticate.
#[derive(Args, Debug, Clone)]
pub(crate) struct ServerArgs {
    /// The server's URL: ws://HOST:PORT, or wss://HOST:PORT for TLS.
    #[arg(long, env = "EXEC_SERVER_URL", global = true)]
    url: Option<String>,
    /// Reach the server through a command's stdin/stdout instead of a URL, as git does over ssh:
    /// --connect 'ssh HOST exec-server --listen stdio'. Run with `sh -c`, again on each
    /// reconnection. Wins over --url.
    #[arg(long, value_name = "COMMAND", env = "EXEC_SERVER_CONNECT", global = true)]
    connect: Option<String>,
    /// Trust the PEM certificates in this file for wss://, besides the system's roots.
    #[arg(long, value_name = "PEM", env = "EXEC_SERVER_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// A file holding the bearer token (else `EXEC_SERVER_TOKEN`).
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// Do not reconnect automatically after a dropped connection.
    #[arg(long, global = true)]
    no_recovery: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a command remotely, streaming its output and forwarding stdin, Ctrl-C and its exit
    /// code.
    #[command(after_help = RUN_EXAMPLES)]
    Run(run::RunArgs),
    /// An interactive login shell on the executor, on a PTY (the `ssh HOST` of this tool).
    Shell(run::ShellArgs),
    /// List the processes of a session.
    Ps(commands::SessionArgs),
    /// Follow a process of a saved session again, from where its output left off.
    Attach(commands::AttachArgs),
    /// Signal a process of a session (default: terminate it).
    Kill(commands::KillArgs),
    /// Copy files and directories to or from the executor (`:PATH` is on the executor), like
    /// `kubectl cp`.
    #[command(after_help = CP_EXAMPLES)]
    Cp(cp::CpArgs),
    /// Bridge local stdin/stdout to an MCP stdio server started on the executor.
    Mcp(mcp::McpArgs),
    /// Relay stdin/stdout (newline-delimited JSON-RPC) to the server at --url: the far end of
    /// --connect for a server that outlives the ssh connection, so sessions survive a drop:
    /// --connect 'ssh HOST exec-client --url ws://127.0.0.1:8765 bridge'.
    Bridge,
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    #[command(
        after_help = "Example: exec-client completions bash > ~/.local/share/bash-completion/completions/exec-client"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// A failure of the client itself: one line for stderr and an exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure { code: exit::USAGE, message: message.into() }
    }

    /// The exit code and text for a client error.
    pub(crate) fn from_client(error: ClientError) -> Failure {
        let code = match &error {
            ClientError::Connect { .. } => exit::CONNECT,
            ClientError::AuthRefused { .. } => exit::AUTH,
            ClientError::Disconnected(_) => exit::DISCONNECTED,
            ClientError::Remote { .. }
            | ClientError::Unsupported(_)
            | ClientError::SandboxUnavailable(_)
            | ClientError::Protocol(_) => exit::SERVER,
        };
        Failure { code, message: error.to_string() }
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        Failure::from_client(error)
    }
}

impl ServerArgs {
    /// Connection options from the flags and environment.
    pub(crate) fn options(&self) -> Result<ConnectOptions, Failure> {
        let token = match &self.token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|error| Failure::usage(format!("cannot read {}: {error}", path.display())))?
                    .trim()
                    .to_owned(),
            ),
            None => std::env::var("EXEC_SERVER_TOKEN").ok().filter(|token| !token.is_empty()),
        };
        let mut options =
            ConnectOptions { auth_token: token, ca_file: self.ca_file.clone(), ..ConnectOptions::default() };
        if self.no_recovery {
            options.recovery = None;
        }
        Ok(options)
    }

    /// The server named by the flags, as text: a URL, or `connect:COMMAND` (the form a session
    /// file keeps), or `None` when neither --connect nor --url was given.
    pub(crate) fn given_target(&self) -> Option<String> {
        match (&self.connect, &self.url) {
            (Some(command), _) => Some(format!("{CONNECT_PREFIX}{command}")),
            (None, Some(url)) => Some(url.clone()),
            (None, None) => None,
        }
    }

    /// The server named by the flags; an error when none is.
    pub(crate) fn target(&self) -> Result<String, Failure> {
        self.given_target().ok_or_else(|| {
            Failure::usage("no server: pass --url (or set EXEC_SERVER_URL) or --connect COMMAND")
        })
    }

    /// Connects to `target` (see [`ServerArgs::target`]) with a new session, or resumes `session`.
    pub(crate) async fn connect(&self, target: &str, session: Option<&str>) -> Result<ExecClient, Failure> {
        let options = self.options()?;
        let endpoint = match target.strip_prefix(CONNECT_PREFIX) {
            Some(command) => Endpoint::Command(command.to_owned()),
            None => Endpoint::Url(target.to_owned()),
        };
        let client = match session {
            Some(session) => ExecClient::resume(endpoint, session, options).await?,
            None => ExecClient::connect(endpoint, options).await?,
        };
        Ok(client)
    }
}

/// `exec-client bridge`: relays until either side ends.
async fn bridge(server: &ServerArgs) -> Result<u8, Failure> {
    let url =
        server.url.as_deref().ok_or_else(|| Failure::usage("bridge needs --url (or EXEC_SERVER_URL)"))?;
    let options = server.options()?;
    exec_transport::client::bridge(url, &options, tokio::io::stdin(), tokio::io::stdout()).await?;
    Ok(0)
}

fn main() -> ExitCode {
    terminal::reopen_closed_stdin();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("EXEC_CLIENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("exec-client: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(&cli.server, args).await,
            Command::Ps(args) => commands::ps(&cli.server, args).await,
            Command::Attach(args) => commands::attach(&cli.server, args).await,
            Command::Kill(args) => commands::kill(&cli.server, args).await,
            Command::Cp(args) => cp::cp(&cli.server, args).await,
            Command::Mcp(args) => mcp::mcp(&cli.server, args).await,
            Command::Shell(args) => run::shell(&cli.server, args).await,
            Command::Bridge => bridge(&cli.server).await,
            Command::Completions { shell } => {
                let mut command = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut command, "exec-client", &mut std::io::stdout());
                Ok(0)
            }
        }
    });
    let code = match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("exec-client: {}", failure.message);
            failure.code
        }
    };
    // A blocking read of our stdin may still be parked in the runtime's thread pool; exiting
    // here does not wait for it (the terminal was already restored by its guard).
    std::process::exit(i32::from(code));
}
