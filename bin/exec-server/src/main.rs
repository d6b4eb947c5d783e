//! The `exec-server` binary: parses flags (and an optional TOML config file), binds the listener,
//! prints the bound URL as the first stdout line, and serves until SIGTERM or SIGINT.
//!
//! Everything interesting lives in `exec-transport` (the protocol) and `exec-engine` (processes);
//! this file only turns the command line into their configs and owns the process-wide concerns:
//! logging to stderr, signals, and the exit code. It never writes anything but the URL to stdout,
//! because with `--listen stdio` stdout is the protocol stream.

mod init;
#[cfg(feature = "otlp")]
mod otlp;
mod settings;

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _};
use tokio_util::sync::CancellationToken;

use settings::{Cli, Listen, LogFormat, Settings};

/// Lets glibc keep up to 2 MiB of freed memory at the top of a heap instead of 128 KiB.
///
/// Streaming output allocates and frees a frame per chunk, so with the default the top of each
/// worker's heap went back to the kernel and was faulted in again, over and over: 30,000 page
/// faults (about 7 % of the server's time in the profile) for a 256 MiB stream, 11,000 with this
/// (`perf stat -e page-faults`, the same with 8 MiB). The cost is at most 2 MiB of idle memory per
/// heap after a burst.
fn keep_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter, and no other thread exists yet. A zero
    // return (refused) leaves the default, which is only slower.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 2 << 20);
    }
}

fn main() -> ExitCode {
    // In a container without an init, PID 1's duties go to a parent of the server (init.rs).
    init::become_init_if_pid_1();
    keep_freed_heap();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let mut settings = match Settings::resolve(cli) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("exec-server: {error:#}");
            return ExitCode::from(2);
        }
    };
    settings.server.protected_paths =
        exec_transport::server::ProtectedPaths::for_this_process(own_files(&matches));
    init_logging(settings.log_format);
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.worker_threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("exec-server: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(serve(settings));
    // Dropping a runtime waits for every blocking-pool thread, and a file operation stuck in the
    // kernel (a hung mount) may never return: give them a moment, then exit without them.
    runtime.shutdown_timeout(BLOCKING_DRAIN);
    #[cfg(feature = "otlp")]
    otlp::flush(BLOCKING_DRAIN);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("exec-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// How long exit waits for blocking-pool threads (file operations) still running after the server
/// has stopped.
const BLOCKING_DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

fn init_logging(format: LogFormat) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: in a file or a pipe they are noise.
    let ansi = std::io::stderr().is_terminal();
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(lines);
    #[cfg(feature = "otlp")]
    let subscriber = subscriber.with(otlp::layer());
    subscriber.init();
}

/// The files the server itself uses, which `fs/remove` must not delete: the `--config` file and
/// the token, TLS and audit-log files, each from its flag or else from the config file (the same
/// precedence `settings` applies; a config file that does not parse never gets this far).
fn own_files(matches: &clap::ArgMatches) -> Vec<std::path::PathBuf> {
    let config = matches.get_one::<std::path::PathBuf>("config");
    let file: toml::Table = config
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or_default();
    let mut files: Vec<std::path::PathBuf> = config.cloned().into_iter().collect();
    for key in ["auth_token_file", "tls_cert", "tls_key", "audit_log"] {
        let from_flag = matches.get_one::<std::path::PathBuf>(key).cloned();
        let from_file = || file.get(key).and_then(toml::Value::as_str).map(std::path::PathBuf::from);
        files.extend(from_flag.or_else(from_file));
    }
    // Relative paths are the server's cwd's; the guard compares absolute paths.
    let cwd = std::env::current_dir().unwrap_or_default();
    files.into_iter().map(|path| cwd.join(path)).collect()
}

async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    if let Some(path) = settings.auth_token_file.clone() {
        let (updates, receiver) = tokio::sync::watch::channel(settings.server.admission.clone());
        settings.server.admission_updates = Some(receiver);
        tokio::spawn(reload_token_on_hangup(path, updates));
    }
    // Each process holds a few descriptors; 1024 (a common default) would cap us near 250.
    match exec_engine::raise_open_file_limit() {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open file limit"),
    }
    log_sandbox_support();
    let engine = exec_engine::Engine::new(settings.engine.clone());
    tokio::spawn(cancel_on_signal(shutdown.clone(), engine.clone()));
    match settings.listen {
        Listen::WebSocket(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address}"))?;
            let bound = listener.local_addr().context("cannot read the bound address")?;
            let url = match settings.server.tls {
                Some(_) => format!("wss://{bound}"),
                None => format!("ws://{bound}"),
            };
            // The one line on stdout: scripts and tests read the URL from here.
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{url}").and_then(|()| stdout.flush()).context("cannot write to stdout")?;
            drop(stdout);
            tracing::info!(%url, "listening");
            exec_transport::server::run(listener, engine, settings.server, shutdown).await?;
        }
        Listen::Stdio => {
            tracing::info!("serving one connection on stdin/stdout");
            exec_transport::server::serve_stdio(
                tokio::io::stdin(),
                tokio::io::stdout(),
                engine,
                settings.server,
                shutdown,
            )
            .await;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Logs once, at start, what sandbox this kernel lets the server enforce (the probe is cached,
/// so the first sandboxed request does not pay for it again). Without Landlock or seccomp every
/// request with a sandbox intent is refused (`sandboxUnavailable`); without a mount namespace or
/// an unprivileged user namespace, only those with read-only carve-outs (a `.git` under
/// workspace-write).
fn log_sandbox_support() {
    use exec_transport::server::{SANDBOX_WITHHOLD_ENV, probe_sandbox};
    let support = probe_sandbox();
    let withheld = std::env::var(SANDBOX_WITHHOLD_ENV).unwrap_or_default();
    let withheld = (!withheld.is_empty()).then_some(withheld);
    let (landlock_abi, seccomp, mount_namespace, user_namespace) =
        (support.landlock_abi, support.seccomp_filter, support.mount_namespace, support.user_namespace);
    if support.can_sandbox() {
        tracing::info!(
            landlock_abi,
            seccomp,
            mount_namespace,
            user_namespace,
            ?withheld,
            "sandbox available"
        );
    } else {
        tracing::warn!(
            landlock_abi,
            seccomp,
            mount_namespace,
            user_namespace,
            ?withheld,
            "sandbox unavailable: every request with a sandbox intent will be refused"
        );
    }
}

/// Rereads the token file on every SIGHUP, so a rotated token takes effect without a restart
/// (connections already open stay open). An unreadable or empty file keeps the token in force
/// and says so: a failed rotation must neither lock everyone out nor open the door.
async fn reload_token_on_hangup(
    path: std::path::PathBuf,
    updates: tokio::sync::watch::Sender<exec_transport::server::Admission>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; the token file will not be reloaded");
        return;
    };
    while hangup.recv().await.is_some() {
        match settings::read_token_file(&path) {
            Ok(token) => {
                updates.send_modify(|admission| admission.auth_token = Some(token));
                tracing::info!(file = %path.display(), "SIGHUP: auth token reloaded");
            }
            Err(error) => tracing::error!("SIGHUP: keeping the current auth token: {error:#}"),
        }
    }
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT (the server drains, then stops). A second
/// signal cuts the drain short: every process is killed now, so the drain has nothing left to
/// wait for and the stop continues at once (connections still get their 1001 close).
async fn cancel_on_signal(shutdown: CancellationToken, engine: exec_engine::Engine) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
        return;
    };
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
    }
    shutdown.cancel();
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::warn!("second signal: killing every process instead of waiting for the drain");
    engine.shutdown().await;
}
