//! Command-line flags and the optional TOML config file, resolved into the engine's and the
//! server's configs. A flag always wins over the file; the file wins over the built-in default.
//!
//! This module validates (listen address, token file, the loopback rule) but does not bind or
//! serve anything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use serde::Deserialize;

/// Run and control processes for a remote client over JSON-RPC on a WebSocket or stdio.
#[derive(Debug, Parser)]
#[command(name = "exec-server", version)]
pub(crate) struct Cli {
    /// Where to listen: `ws://IP:PORT` (port 0 picks a free one) or `stdio`.
    #[arg(long, value_name = "URL")]
    listen: Option<String>,

    /// A TOML file with the same settings as the flags (snake_case keys); flags win.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Require `Authorization: Bearer <token>` on every upgrade; the token is the file's content.
    #[arg(long, value_name = "PATH")]
    auth_token_file: Option<PathBuf>,

    /// Allow listening on a non-loopback address without a token.
    #[arg(long)]
    insecure_no_auth: bool,

    /// A browser `Origin` allowed to connect (repeatable); other origins get 403.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,

    /// How long a detached session lives before its processes are killed (`30s`, `500ms`, `2m`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    session_ttl: Option<Duration>,

    /// How long an exited process stays readable.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    exited_linger: Option<Duration>,

    /// Output bytes retained per process.
    #[arg(long, value_name = "BYTES")]
    retention_bytes: Option<usize>,

    /// Output bytes retained across all processes; closed processes' output goes first.
    #[arg(long, value_name = "BYTES")]
    max_retained_bytes: Option<usize>,

    /// Sessions alive at once.
    #[arg(long, value_name = "N")]
    max_sessions: Option<usize>,

    /// Processes per session.
    #[arg(long, value_name = "N")]
    max_processes_per_session: Option<usize>,

    /// Processes across all sessions.
    #[arg(long, value_name = "N")]
    max_processes: Option<usize>,

    /// The largest incoming message in bytes.
    #[arg(long, value_name = "BYTES")]
    max_message_bytes: Option<usize>,

    /// How often an idle WebSocket peer is pinged.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    ping_interval: Option<Duration>,

    /// A WebSocket peer silent this long (not even a pong) is dropped and its session detached.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    peer_timeout: Option<Duration>,

    /// Requests of one connection in flight; past it the socket is not read until one answers.
    #[arg(long, value_name = "N")]
    max_requests_in_flight: Option<usize>,

    /// Bytes of request frames of one connection in flight.
    #[arg(long, value_name = "BYTES")]
    max_request_bytes_in_flight: Option<usize>,

    /// Bytes of frames queued for one connection's socket.
    #[arg(long, value_name = "BYTES")]
    max_outbound_bytes_queued: Option<usize>,

    /// Closed processes a session keeps readable; past it the one that closed first goes.
    #[arg(long, value_name = "N")]
    max_lingering_per_session: Option<usize>,

    /// How long a new connection may take to complete `initialize`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    initialize_timeout: Option<Duration>,

    /// Connections that have not completed `initialize` yet; one more gets HTTP 503.
    #[arg(long, value_name = "N")]
    max_uninitialized_connections: Option<usize>,

    /// `fs/*` requests of one connection running at once.
    #[arg(long, value_name = "N")]
    max_fs_requests_in_flight: Option<usize>,

    /// Bytes of stdin writes queued per process.
    #[arg(long, value_name = "BYTES")]
    max_stdin_queued_bytes: Option<usize>,

    /// How long a `process/write` waits for the child to read before it fails.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    stdin_write_timeout: Option<Duration>,

    /// Log format on stderr (filter with `RUST_LOG`).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// The config file's shape: the flags' names in snake_case, every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    auth_token_file: Option<PathBuf>,
    insecure_no_auth: Option<bool>,
    allow_origins: Option<Vec<String>>,
    session_ttl: Option<String>,
    exited_linger: Option<String>,
    retention_bytes: Option<usize>,
    max_retained_bytes: Option<usize>,
    max_sessions: Option<usize>,
    max_processes_per_session: Option<usize>,
    max_processes: Option<usize>,
    max_message_bytes: Option<usize>,
    ping_interval: Option<String>,
    peer_timeout: Option<String>,
    max_requests_in_flight: Option<usize>,
    max_request_bytes_in_flight: Option<usize>,
    max_outbound_bytes_queued: Option<usize>,
    max_stdin_queued_bytes: Option<usize>,
    max_fs_requests_in_flight: Option<usize>,
    stdin_write_timeout: Option<String>,
    max_lingering_per_session: Option<usize>,
    initialize_timeout: Option<String>,
    max_uninitialized_connections: Option<usize>,
    log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listen {
    WebSocket(SocketAddr),
    Stdio,
}

/// Everything `main` needs, fully resolved.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) listen: Listen,
    /// The token file, reread on SIGHUP.
    pub(crate) auth_token_file: Option<PathBuf>,
    pub(crate) log_format: LogFormat,
    pub(crate) engine: exec_engine::Config,
    pub(crate) server: exec_transport::server::ServerConfig,
}

impl Settings {
    pub(crate) fn resolve(cli: Cli) -> anyhow::Result<Settings> {
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let duration = |flag: Option<Duration>, key: &str, value: &Option<String>| -> anyhow::Result<_> {
            match (flag, value) {
                (Some(flag), _) => Ok(Some(flag)),
                (None, Some(text)) => parse_duration(text)
                    .map(Some)
                    .map_err(|error| anyhow::anyhow!("config key `{key}`: {error}")),
                (None, None) => Ok(None),
            }
        };

        let listen_text = cli.listen.or(file.listen).unwrap_or_else(|| "ws://127.0.0.1:0".to_owned());
        let listen = parse_listen(&listen_text)?;
        let token_file = cli.auth_token_file.or(file.auth_token_file);
        let auth_token = match &token_file {
            Some(path) => Some(read_token_file(path)?),
            None => None,
        };
        let insecure = cli.insecure_no_auth || file.insecure_no_auth.unwrap_or(false);
        if let Listen::WebSocket(address) = listen
            && !address.ip().is_loopback()
            && auth_token.is_none()
            && !insecure
        {
            bail!(
                "refusing to listen on non-loopback address {address} without --auth-token-file \
                 (pass --insecure-no-auth to accept unauthenticated connections)"
            );
        }

        let mut engine = exec_engine::Config::default();
        if let Some(ttl) = duration(cli.session_ttl, "session_ttl", &file.session_ttl)? {
            engine.session_ttl = ttl;
        }
        if let Some(linger) = duration(cli.exited_linger, "exited_linger", &file.exited_linger)? {
            engine.exited_linger = linger;
        }
        if let Some(bytes) = cli.retention_bytes.or(file.retention_bytes) {
            engine.retention_bytes = bytes;
        }
        if let Some(bytes) = cli.max_retained_bytes.or(file.max_retained_bytes) {
            engine.max_retained_bytes_total = bytes;
        }
        if let Some(limit) = cli.max_sessions.or(file.max_sessions) {
            engine.max_sessions = limit;
        }
        if let Some(limit) = cli.max_processes_per_session.or(file.max_processes_per_session) {
            engine.max_processes_per_session = limit;
        }
        if let Some(limit) = cli.max_processes.or(file.max_processes) {
            engine.max_processes_total = limit;
        }
        if let Some(limit) = cli.max_lingering_per_session.or(file.max_lingering_per_session) {
            engine.max_lingering_per_session = limit;
        }
        if let Some(bytes) = cli.max_stdin_queued_bytes.or(file.max_stdin_queued_bytes) {
            engine.max_stdin_queued_bytes = bytes;
        }

        let mut server = exec_transport::server::ServerConfig::default();
        server.admission.auth_token = auth_token;
        server.admission.allowed_origins = if cli.allow_origins.is_empty() {
            file.allow_origins.unwrap_or_default()
        } else {
            cli.allow_origins
        };
        if let Some(bytes) = cli.max_message_bytes.or(file.max_message_bytes) {
            server.max_message_bytes = bytes;
        }
        if let Some(interval) = duration(cli.ping_interval, "ping_interval", &file.ping_interval)? {
            server.ping_interval = interval;
        }
        if let Some(timeout) = duration(cli.peer_timeout, "peer_timeout", &file.peer_timeout)? {
            server.peer_timeout = timeout;
        }
        if let Some(limit) = cli.max_requests_in_flight.or(file.max_requests_in_flight) {
            server.max_requests_in_flight = limit;
        }
        if let Some(bytes) = cli.max_request_bytes_in_flight.or(file.max_request_bytes_in_flight) {
            server.max_request_bytes_in_flight = bytes;
        }
        if let Some(bytes) = cli.max_outbound_bytes_queued.or(file.max_outbound_bytes_queued) {
            server.max_outbound_bytes_queued = bytes;
        }
        if let Some(timeout) =
            duration(cli.initialize_timeout, "initialize_timeout", &file.initialize_timeout)?
        {
            server.initialize_timeout = timeout;
        }
        if let Some(limit) = cli.max_uninitialized_connections.or(file.max_uninitialized_connections) {
            server.max_uninitialized_connections = limit;
        }
        if let Some(limit) = cli.max_fs_requests_in_flight.or(file.max_fs_requests_in_flight) {
            server.max_fs_requests_in_flight = limit;
        }
        if let Some(timeout) =
            duration(cli.stdin_write_timeout, "stdin_write_timeout", &file.stdin_write_timeout)?
        {
            server.stdin_write_timeout = timeout;
        }
        // envPolicy evaluates against the executor's own environment, captured once here.
        server.base_environment = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();

        Ok(Settings {
            listen,
            auth_token_file: token_file,
            log_format: cli.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            engine,
            server,
        })
    }
}

/// Reads a token file: its content without surrounding whitespace, which must not be empty.
pub(crate) fn read_token_file(path: &std::path::Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read auth token file {}", path.display()))?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("auth token file {} is empty", path.display());
    }
    Ok(token)
}

fn parse_listen(text: &str) -> anyhow::Result<Listen> {
    if text == "stdio" || text == "stdio://" {
        return Ok(Listen::Stdio);
    }
    let Some(address) = text.strip_prefix("ws://") else {
        bail!("--listen must be `ws://IP:PORT` or `stdio`, got `{text}`");
    };
    let address = address.trim_end_matches('/');
    let address = address.replace("localhost:", "127.0.0.1:");
    let address: SocketAddr =
        address.parse().with_context(|| format!("--listen: `{text}` is not ws://IP:PORT"))?;
    Ok(Listen::WebSocket(address))
}

/// Parses `250ms`, `30s`, `2m`, `1h`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|character: char| !character.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 30s or 500ms"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(number)),
        "" | "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number * 60)),
        "h" => Ok(Duration::from_secs(number * 3600)),
        other => Err(format!("unknown duration unit `{other}` in `{text}` (use ms, s, m or h)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("stdio").unwrap(), Listen::Stdio);
        assert_eq!(
            parse_listen("ws://127.0.0.1:0").unwrap(),
            Listen::WebSocket("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(parse_listen("ws://[::1]:9/").unwrap(), Listen::WebSocket("[::1]:9".parse().unwrap()));
        assert!(parse_listen("http://127.0.0.1:0").is_err());
    }

    #[test]
    fn non_loopback_needs_a_token() {
        let cli = Cli::parse_from(["exec-server", "--listen", "ws://0.0.0.0:0"]);
        let error = Settings::resolve(cli).unwrap_err().to_string();
        assert!(error.contains("without --auth-token-file"), "{error}");
        let cli = Cli::parse_from(["exec-server", "--listen", "ws://0.0.0.0:0", "--insecure-no-auth"]);
        assert!(Settings::resolve(cli).is_ok());
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let path = std::env::temp_dir().join(format!("exec-server-settings-{}.toml", std::process::id()));
        std::fs::write(&path, "session_ttl = \"5s\"\nretention_bytes = 4096\nlisten = \"stdio\"\n").unwrap();
        let config = path.to_str().unwrap();
        let cli = Cli::parse_from(["exec-server", "--config", config, "--session-ttl", "7s"]);
        let settings = Settings::resolve(cli).unwrap();
        // Best-effort cleanup of a scratch file; a leftover is harmless.
        let _ = std::fs::remove_file(&path);
        assert_eq!(settings.engine.session_ttl, Duration::from_secs(7));
        assert_eq!(settings.engine.retention_bytes, 4096);
        assert_eq!(settings.listen, Listen::Stdio);
    }

    #[test]
    fn file_config_rejects_unknown_keys() {
        let error = toml::from_str::<FileConfig>("sesion_ttl = \"5s\"").unwrap_err().to_string();
        assert!(error.contains("sesion_ttl"), "{error}");
    }
}
