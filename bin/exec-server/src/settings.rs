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
    /// A TOML file with the same settings as the flags (snake_case keys); flags win.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(flatten)]
    options: Options,
}

/// Every setting, once: a flag (kebab-case) and a config-file key (snake_case) each. All are
/// optional here; a flag wins over the file, the file over the built-in default
/// ([`Options::or`]). Adding a setting is one field here, its line in [`Options::or`] (the
/// compiler asks for it: `or` builds the struct literally) and one line in
/// [`Settings::resolve`]. A duration is a [`DurationArg`], which both clap and TOML parse, so no
/// field needs a parser attribute.
#[derive(Debug, Default, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Where to listen: `ws://IP:PORT` (port 0 picks a free one), `wss://IP:PORT` (with
    /// --tls-cert/--tls-key) or `stdio`.
    #[arg(long, value_name = "URL")]
    listen: Option<String>,

    /// Require `Authorization: Bearer <token>` on every upgrade; the token is the file's content.
    #[arg(long, value_name = "PATH")]
    auth_token_file: Option<PathBuf>,

    /// Allow listening on a non-loopback address without a token.
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new(), num_args = 0, default_missing_value = "true")]
    insecure_no_auth: Option<bool>,

    /// Serve TLS (`wss://`) with this PEM certificate chain (the server's certificate first);
    /// needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// A browser `Origin` allowed to connect (repeatable); other origins get 403.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    #[serde(default)]
    allow_origins: Vec<String>,

    /// How long a detached session lives before its processes are killed (`30s`, `500ms`, `2m`).
    #[arg(long, value_name = "DURATION")]
    session_ttl: Option<DurationArg>,

    /// How long an exited process stays readable.
    #[arg(long, value_name = "DURATION")]
    exited_linger: Option<DurationArg>,

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
    #[arg(long, value_name = "DURATION")]
    ping_interval: Option<DurationArg>,

    /// A WebSocket peer silent this long (not even a pong) is dropped and its session detached.
    #[arg(long, value_name = "DURATION")]
    peer_timeout: Option<DurationArg>,

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
    #[arg(long, value_name = "DURATION")]
    initialize_timeout: Option<DurationArg>,

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
    #[arg(long, value_name = "DURATION")]
    stdin_write_timeout: Option<DurationArg>,

    /// Log format on stderr (filter with `RUST_LOG`).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,

    /// On SIGTERM, how long running commands of attached sessions may finish before they are killed.
    #[arg(long, value_name = "DURATION")]
    drain_timeout: Option<DurationArg>,

    /// Append the audit log (a JSON line per process start and end) to this file instead of stderr.
    #[arg(long, value_name = "PATH")]
    audit_log: Option<PathBuf>,

    /// Threads running the server's async work (connections, requests, output pumps); file
    /// operations and sandbox set-up use a separate blocking pool.
    #[arg(long, value_name = "N")]
    worker_threads: Option<usize>,
}

/// The drain on SIGTERM when neither a flag nor the file sets one: short enough for a default
/// stop timeout (systemd 90 s, Kubernetes 30 s), long enough for a quick command to finish.
pub(crate) const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

impl Options {
    /// `self` (the flags) where set, `file` elsewhere. A repeatable flag given at least once
    /// replaces the file's list.
    fn or(self, file: Options) -> Options {
        Options {
            listen: self.listen.or(file.listen),
            auth_token_file: self.auth_token_file.or(file.auth_token_file),
            insecure_no_auth: self.insecure_no_auth.or(file.insecure_no_auth),
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            allow_origins: if self.allow_origins.is_empty() {
                file.allow_origins
            } else {
                self.allow_origins
            },
            session_ttl: self.session_ttl.or(file.session_ttl),
            exited_linger: self.exited_linger.or(file.exited_linger),
            retention_bytes: self.retention_bytes.or(file.retention_bytes),
            max_sessions: self.max_sessions.or(file.max_sessions),
            max_processes_per_session: self.max_processes_per_session.or(file.max_processes_per_session),
            max_processes: self.max_processes.or(file.max_processes),
            max_message_bytes: self.max_message_bytes.or(file.max_message_bytes),
            ping_interval: self.ping_interval.or(file.ping_interval),
            peer_timeout: self.peer_timeout.or(file.peer_timeout),
            max_retained_bytes: self.max_retained_bytes.or(file.max_retained_bytes),
            max_requests_in_flight: self.max_requests_in_flight.or(file.max_requests_in_flight),
            max_request_bytes_in_flight: self
                .max_request_bytes_in_flight
                .or(file.max_request_bytes_in_flight),
            max_outbound_bytes_queued: self.max_outbound_bytes_queued.or(file.max_outbound_bytes_queued),
            max_lingering_per_session: self.max_lingering_per_session.or(file.max_lingering_per_session),
            initialize_timeout: self.initialize_timeout.or(file.initialize_timeout),
            max_uninitialized_connections: self
                .max_uninitialized_connections
                .or(file.max_uninitialized_connections),
            max_fs_requests_in_flight: self.max_fs_requests_in_flight.or(file.max_fs_requests_in_flight),
            max_stdin_queued_bytes: self.max_stdin_queued_bytes.or(file.max_stdin_queued_bytes),
            stdin_write_timeout: self.stdin_write_timeout.or(file.stdin_write_timeout),
            log_format: self.log_format.or(file.log_format),
            drain_timeout: self.drain_timeout.or(file.drain_timeout),
            audit_log: self.audit_log.or(file.audit_log),
            worker_threads: self.worker_threads.or(file.worker_threads),
        }
    }
}

/// A duration setting: the same text (`30s`, `500ms`, see [`parse_duration`]) as a flag (clap
/// takes any `FromStr`) and as a config-file string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DurationArg(Duration);

impl std::str::FromStr for DurationArg {
    type Err = String;

    fn from_str(text: &str) -> Result<DurationArg, String> {
        parse_duration(text).map(DurationArg)
    }
}

impl<'de> Deserialize<'de> for DurationArg {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<DurationArg, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    Text,
    Json,
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
    pub(crate) worker_threads: usize,
    /// Risks worth a warning at start-up (a token over plain text on a non-loopback address).
    pub(crate) warnings: Vec<String>,
}

impl Settings {
    pub(crate) fn resolve(cli: Cli) -> anyhow::Result<Settings> {
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str::<Options>(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => Options::default(),
        };
        let options = cli.options.or(file);

        let listen_text = options.listen.unwrap_or_else(|| "ws://127.0.0.1:0".to_owned());
        let listen = parse_listen(&listen_text)?;
        let auth_token = match &options.auth_token_file {
            Some(path) => Some(read_token_file(path)?),
            None => None,
        };
        if let Listen::WebSocket(address) = listen
            && !address.ip().is_loopback()
            && auth_token.is_none()
            && !options.insecure_no_auth.unwrap_or(false)
        {
            bail!(
                "refusing to listen on non-loopback address {address} without --auth-token-file \
                 (pass --insecure-no-auth to accept unauthenticated connections)"
            );
        }

        // Logged by `main` once logging is set up.
        let mut warnings = Vec::new();
        let tls = match (options.tls_cert, options.tls_key) {
            (Some(certificate), Some(key)) => {
                if listen == Listen::Stdio {
                    bail!("TLS is for a WebSocket listener; --listen stdio is already inside ssh or a pipe");
                }
                Some(exec_transport::server::TlsIdentity::from_pem_files(&certificate, &key)?)
            }
            (None, None) => None,
            _ => bail!("TLS needs both a certificate and a key (--tls-cert and --tls-key)"),
        };
        if listen_text.starts_with("wss://") && tls.is_none() {
            bail!("--listen {listen_text} needs --tls-cert and --tls-key");
        }
        if let Listen::WebSocket(address) = listen
            && !address.ip().is_loopback()
            && auth_token.is_some()
            && tls.is_none()
        {
            warnings.push(format!(
                "listening on {address} without TLS: the bearer token, the commands and their output \
                 cross the network in clear text, readable and replayable by anyone on the path; \
                 pass --tls-cert/--tls-key or put a TLS proxy in front"
            ));
        }

        let worker_threads = match options.worker_threads {
            Some(0) => anyhow::bail!("--worker-threads must be at least 1"),
            Some(threads) => threads,
            None => default_worker_threads(),
        };

        let defaults = exec_engine::Config::default();
        let engine = exec_engine::Config {
            session_ttl: options
                .session_ttl
                .map(|DurationArg(duration)| duration)
                .unwrap_or(defaults.session_ttl),
            exited_linger: options
                .exited_linger
                .map(|DurationArg(duration)| duration)
                .unwrap_or(defaults.exited_linger),
            retention_bytes: options.retention_bytes.unwrap_or(defaults.retention_bytes),
            max_sessions: options.max_sessions.unwrap_or(defaults.max_sessions),
            max_processes_per_session: options
                .max_processes_per_session
                .unwrap_or(defaults.max_processes_per_session),
            max_processes_total: options.max_processes.unwrap_or(defaults.max_processes_total),
            max_retained_bytes_total: options.max_retained_bytes.unwrap_or(defaults.max_retained_bytes_total),
            max_lingering_per_session: options
                .max_lingering_per_session
                .unwrap_or(defaults.max_lingering_per_session),
            max_stdin_queued_bytes: options.max_stdin_queued_bytes.unwrap_or(defaults.max_stdin_queued_bytes),
            ..defaults
        };

        let mut server = exec_transport::server::ServerConfig::default();
        server.admission.auth_token = auth_token;
        server.tls = tls;
        server.admission.allowed_origins = options.allow_origins;
        server.max_message_bytes = options.max_message_bytes.unwrap_or(server.max_message_bytes);
        server.ping_interval =
            options.ping_interval.map(|DurationArg(duration)| duration).unwrap_or(server.ping_interval);
        server.peer_timeout =
            options.peer_timeout.map(|DurationArg(duration)| duration).unwrap_or(server.peer_timeout);
        server.drain_timeout =
            options.drain_timeout.map(|DurationArg(duration)| duration).unwrap_or(DEFAULT_DRAIN_TIMEOUT);
        server.audit = match &options.audit_log {
            Some(path) => {
                use std::os::unix::fs::OpenOptionsExt as _;
                let file = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(path)
                    .with_context(|| format!("cannot open audit log {}", path.display()))?;
                exec_transport::server::AuditLog::to_writer(file)
            }
            None => exec_transport::server::AuditLog::to_writer(std::io::stderr()),
        };
        server.max_requests_in_flight =
            options.max_requests_in_flight.unwrap_or(server.max_requests_in_flight);
        server.max_request_bytes_in_flight =
            options.max_request_bytes_in_flight.unwrap_or(server.max_request_bytes_in_flight);
        server.max_outbound_bytes_queued =
            options.max_outbound_bytes_queued.unwrap_or(server.max_outbound_bytes_queued);
        server.initialize_timeout = options
            .initialize_timeout
            .map(|DurationArg(duration)| duration)
            .unwrap_or(server.initialize_timeout);
        server.max_uninitialized_connections =
            options.max_uninitialized_connections.unwrap_or(server.max_uninitialized_connections);
        server.max_fs_requests_in_flight =
            options.max_fs_requests_in_flight.unwrap_or(server.max_fs_requests_in_flight);
        server.stdin_write_timeout = options
            .stdin_write_timeout
            .map(|DurationArg(duration)| duration)
            .unwrap_or(server.stdin_write_timeout);
        // envPolicy evaluates against the executor's own environment, captured once here.
        server.base_environment = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();

        Ok(Settings {
            listen,
            auth_token_file: options.auth_token_file,
            log_format: options.log_format.unwrap_or(LogFormat::Text),
            engine,
            server,
            worker_threads,
            warnings,
        })
    }
}

/// Half the CPUs, at least one. The async work is moving bytes between pipes and sockets; the
/// commands need the CPUs more. Measured on 2 CPUs (`cargo xtask bench`, docs/benchmarks.md): one
/// worker halves a small request's round trip (≈ 55 → 25 µs: no hop to a sleeping second worker)
/// and streams as fast as two.
pub(crate) fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |cpus| (cpus.get() / 2).max(1))
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
    let Some(address) = text.strip_prefix("ws://").or_else(|| text.strip_prefix("wss://")) else {
        bail!("--listen must be `ws://IP:PORT`, `wss://IP:PORT` or `stdio`, got `{text}`");
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
mod options_doc;

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
    fn worker_threads_default_to_half_the_cpus_and_zero_is_refused() {
        let settings = Settings::resolve(Cli::parse_from(["exec-server"])).unwrap();
        assert_eq!(settings.worker_threads, default_worker_threads());
        assert!(settings.worker_threads >= 1);
        let two = Settings::resolve(Cli::parse_from(["exec-server", "--worker-threads", "2"])).unwrap();
        assert_eq!(two.worker_threads, 2);
        let error = Settings::resolve(Cli::parse_from(["exec-server", "--worker-threads", "0"])).unwrap_err();
        assert_eq!(error.to_string(), "--worker-threads must be at least 1");
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
        let error = toml::from_str::<Options>("sesion_ttl = \"5s\"").unwrap_err().to_string();
        assert!(error.contains("sesion_ttl"), "{error}");
        let error = toml::from_str::<Options>("session_ttl = \"soon\"").unwrap_err().to_string();
        assert!(error.contains("soon"), "{error}");
    }
}
