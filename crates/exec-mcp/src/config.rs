//! MCP server configuration: the `[mcp_servers.NAME]` tables of a TOML file, validated.
//!
//! Parsing happens in two steps so that every error names its server: the document is read as
//! one table per server, then each table is deserialized (unknown keys rejected) and checked on
//! its own. A serde error from the second step already names its key (`unknown field`, `missing
//! field`, or `... in `args``); the checks that serde cannot express (a remote server needs an
//! absolute `cwd`, timeouts are positive, names are well formed) name theirs explicitly.
//!
//! This module only reads configuration. It does not read the environment, start anything or
//! know about executors beyond their URL.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::launch::{DEFAULT_CLOSE_GRACE, DEFAULT_MAX_LINE_BYTES, LaunchSpec};

/// How long a server may take to start and answer `initialize` when `startup_timeout_sec` is
/// absent. Interpreters that import a lot on first start (Python, Node) need a few seconds.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one tool call may take when `tool_timeout_sec` is absent.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Every MCP server of a configuration file, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct McpConfig {
    servers: BTreeMap<String, McpServerConfig>,
}

impl McpConfig {
    /// Parses the `[mcp_servers.NAME]` tables of a TOML document.
    ///
    /// Other top-level keys are ignored, so the tables can live in a larger configuration file;
    /// inside a server table every key must be known.
    pub fn from_toml_str(text: &str) -> Result<McpConfig, ConfigError> {
        #[derive(Deserialize)]
        struct Document {
            #[serde(default)]
            mcp_servers: BTreeMap<String, toml::Table>,
        }
        let document: Document =
            toml::from_str(text).map_err(|error| ConfigError::Toml(error.to_string()))?;
        let mut servers = BTreeMap::new();
        for (name, table) in document.mcp_servers {
            let server = McpServerConfig::from_table(&name, table)?;
            servers.insert(name, server);
        }
        Ok(McpConfig { servers })
    }

    /// Reads and parses a configuration file; the error names the file when it cannot be read.
    pub fn from_file(path: &Path) -> Result<McpConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ConfigError::Read { path: path.to_path_buf(), message: error.to_string() })?;
        McpConfig::from_toml_str(&text)
    }

    /// The server called `name`, or an error listing the names that exist.
    pub fn server(&self, name: &str) -> Result<&McpServerConfig, ConfigError> {
        self.servers.get(name).ok_or_else(|| ConfigError::UnknownServer {
            name: name.to_owned(),
            known: self.servers.keys().cloned().collect(),
        })
    }

    /// Every server, ordered by name.
    pub fn servers(&self) -> impl Iterator<Item = (&str, &McpServerConfig)> {
        self.servers.iter().map(|(name, server)| (name.as_str(), server))
    }
}

/// One validated `[mcp_servers.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServerConfig {
    name: String,
    command: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    env_vars: Vec<EnvVar>,
    cwd: Option<PathBuf>,
    location: Location,
    startup_timeout: Duration,
    tool_timeout: Duration,
}

/// Where an MCP server runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A child process of the launching program (no `executor` key).
    Local,
    /// A process started through the exec-server at this `ws://` or `wss://` URL.
    Executor {
        /// The exec-server's URL, as written in the configuration.
        url: String,
    },
}

/// One `env_vars` entry: a variable whose value is copied from an environment at launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// The variable's name; the child gets it under the same name.
    pub name: String,
    /// Which environment the value comes from.
    pub source: EnvSource,
}

/// Which machine's environment an [`EnvVar`] is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvSource {
    /// The launching side: the machine running the MCP client (the default, and what a plain
    /// string entry means).
    Local,
    /// The machine the server runs on: for an executor server, the executor's own environment.
    /// For a local server both sides are the same machine, so it reads like `Local`.
    Remote,
}

impl McpServerConfig {
    /// Deserializes and checks one server table; every error names `name`.
    fn from_table(name: &str, table: toml::Table) -> Result<McpServerConfig, ConfigError> {
        let error = |message: String| ConfigError::Server { server: name.to_owned(), message };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(error("the name may only use ASCII letters, digits, `_` and `-`".to_owned()));
        }
        let raw: RawServer = toml::Value::Table(table)
            .try_into()
            .map_err(|source: toml::de::Error| error(one_line(&source)))?;

        if raw.command.is_empty() {
            return Err(error("`command` must not be empty".to_owned()));
        }
        for variable in raw.env.keys() {
            check_variable_name(variable).map_err(|problem| error(format!("`env`: {problem}")))?;
        }
        for entry in &raw.env_vars {
            check_variable_name(&entry.name).map_err(|problem| error(format!("`env_vars`: {problem}")))?;
        }
        let location = match raw.executor {
            None => Location::Local,
            Some(url) if url.starts_with("ws://") || url.starts_with("wss://") => Location::Executor { url },
            Some(url) => return Err(error(format!("`executor` must be a ws:// or wss:// URL, not `{url}`"))),
        };
        if let Location::Executor { .. } = location {
            match &raw.cwd {
                None => return Err(error("`cwd` is required when `executor` is set".to_owned())),
                Some(cwd) if !cwd.is_absolute() => {
                    return Err(error(format!(
                        "`cwd` must be an absolute path on the executor, not `{}`",
                        cwd.display()
                    )));
                }
                Some(_) => {}
            }
        }
        let startup_timeout = timeout(raw.startup_timeout_sec, DEFAULT_STARTUP_TIMEOUT)
            .map_err(|problem| error(format!("`startup_timeout_sec` {problem}")))?;
        let tool_timeout = timeout(raw.tool_timeout_sec, DEFAULT_TOOL_TIMEOUT)
            .map_err(|problem| error(format!("`tool_timeout_sec` {problem}")))?;

        Ok(McpServerConfig {
            name: name.to_owned(),
            command: raw.command,
            args: raw.args,
            env: raw.env,
            env_vars: raw.env_vars,
            cwd: raw.cwd,
            location,
            startup_timeout,
            tool_timeout,
        })
    }

    /// The table's name, `NAME` in `[mcp_servers.NAME]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program to run (looked up on `PATH` where it runs).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Its arguments.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Literal variables set in the server's environment; they win over `env_vars`.
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// Variables copied from an environment at launch.
    pub fn env_vars(&self) -> &[EnvVar] {
        &self.env_vars
    }

    /// The working directory; always set (and absolute) for an executor server.
    pub fn cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// Where the server runs.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The bound on starting the process and completing `initialize`.
    pub fn startup_timeout(&self) -> Duration {
        self.startup_timeout
    }

    /// The bound on one tool call, for the MCP client to apply.
    pub fn tool_timeout(&self) -> Duration {
        self.tool_timeout
    }

    /// What a [`crate::Launcher`] needs to start this server (everything but where and the
    /// timeouts), with the default line cap and close grace.
    pub fn launch_spec(&self) -> LaunchSpec {
        LaunchSpec {
            server_name: self.name.clone(),
            command: self.command.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            env_vars: self.env_vars.clone(),
            cwd: self.cwd.clone(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            close_grace: DEFAULT_CLOSE_GRACE,
        }
    }
}

/// Why a configuration could not be used. Every message names the server (or the file) and,
/// where one is at fault, the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read mcp config {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    /// The document is not TOML, or `mcp_servers` is not a table of tables.
    #[error("invalid mcp config: {0}")]
    Toml(String),
    /// One server's table is wrong.
    #[error("mcp server `{server}`: {message}")]
    Server { server: String, message: String },
    /// A server was asked for by a name that the configuration does not define.
    #[error("no mcp server named `{name}` (defined: {})", display_names(known))]
    UnknownServer { name: String, known: Vec<String> },
}

fn display_names(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

/// The serde shape of a server table. Unknown keys are rejected so a typo is an error, not a
/// silently ignored setting.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    command: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    env_vars: Vec<EnvVar>,
    #[serde(default)]
    cwd: Option<PathBuf>,
    #[serde(default)]
    executor: Option<String>,
    #[serde(default)]
    startup_timeout_sec: Option<f64>,
    #[serde(default)]
    tool_timeout_sec: Option<f64>,
}

/// An `env_vars` entry is either a plain name or `{ name = "X", source = "local" | "remote" }`.
/// Written by hand instead of `#[serde(untagged)]`, whose error ("did not match any variant")
/// would not say what was expected.
impl<'de> Deserialize<'de> for EnvVar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<EnvVar, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            name: String,
            #[serde(default = "default_source")]
            source: EnvSource,
        }
        fn default_source() -> EnvSource {
            EnvSource::Local
        }

        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EnvVar;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a variable name or a table `{ name = \"X\", source = \"remote\" }`")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<EnvVar, E> {
                Ok(EnvVar { name: name.to_owned(), source: EnvSource::Local })
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<EnvVar, A::Error> {
                let table = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(EnvVar { name: table.name, source: table.source })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Names that cannot be a variable of a Unix child: the spawner would reject or mangle them.
fn check_variable_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("a variable name is empty".to_owned())
    } else if name.contains(['=', '\0']) {
        Err(format!("variable name `{}` contains `=` or NUL", name.escape_debug()))
    } else {
        Ok(())
    }
}

fn timeout(seconds: Option<f64>, default: Duration) -> Result<Duration, String> {
    match seconds {
        None => Ok(default),
        Some(seconds) => match Duration::try_from_secs_f64(seconds) {
            Ok(duration) if !duration.is_zero() => Ok(duration),
            _ => Err(format!("must be a positive number of seconds, not {seconds}")),
        },
    }
}

/// A toml error on one line: the value deserializer ends its message with "\nin `key`\n".
fn one_line(error: &toml::de::Error) -> String {
    error.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` and checks the error message, or the debug rendering of the parsed config.
    #[track_caller]
    fn check_error(text: &str, expected: &str) {
        match McpConfig::from_toml_str(text) {
            Ok(config) => panic!("expected an error, parsed {config:?}"),
            Err(error) => assert_eq!(error.to_string(), expected),
        }
    }

    #[test]
    fn full_local_and_executor_servers() {
        let config = McpConfig::from_toml_str(
            r#"
            other_tool_setting = true

            [mcp_servers.time]
            command = "python3"
            args = ["-m", "mcp_server_time"]
            env = { TZ = "UTC" }
            env_vars = ["GITHUB_TOKEN", { name = "PROJECT", source = "remote" }, { name = "X" }]
            startup_timeout_sec = 2.5
            tool_timeout_sec = 30

            [mcp_servers.remote-fs]
            command = "mcp-fs"
            cwd = "/workspace"
            executor = "ws://10.0.0.5:4500"
            "#,
        )
        .unwrap();

        let time = config.server("time").unwrap();
        assert_eq!(time.name(), "time");
        assert_eq!(time.command(), "python3");
        assert_eq!(time.args(), ["-m", "mcp_server_time"]);
        assert_eq!(time.env().get("TZ").map(String::as_str), Some("UTC"));
        assert_eq!(
            time.env_vars(),
            [
                EnvVar { name: "GITHUB_TOKEN".into(), source: EnvSource::Local },
                EnvVar { name: "PROJECT".into(), source: EnvSource::Remote },
                EnvVar { name: "X".into(), source: EnvSource::Local },
            ]
        );
        assert_eq!(time.cwd(), None);
        assert_eq!(time.location(), &Location::Local);
        assert_eq!(time.startup_timeout(), Duration::from_millis(2500));
        assert_eq!(time.tool_timeout(), Duration::from_secs(30));

        let remote = config.server("remote-fs").unwrap();
        assert_eq!(remote.location(), &Location::Executor { url: "ws://10.0.0.5:4500".into() });
        assert_eq!(remote.cwd(), Some(Path::new("/workspace")));
        assert_eq!(remote.startup_timeout(), DEFAULT_STARTUP_TIMEOUT);
        assert_eq!(remote.tool_timeout(), DEFAULT_TOOL_TIMEOUT);

        let spec = remote.launch_spec();
        assert_eq!(spec.server_name, "remote-fs");
        assert_eq!(spec.max_line_bytes, DEFAULT_MAX_LINE_BYTES);
    }

    #[test]
    fn empty_document_has_no_servers() {
        let config = McpConfig::from_toml_str("").unwrap();
        assert_eq!(config.servers().count(), 0);
        assert_eq!(config.server("x").unwrap_err().to_string(), "no mcp server named `x` (defined: none)");
    }

    #[test]
    fn unknown_server_lists_the_known_ones() {
        let config =
            McpConfig::from_toml_str("[mcp_servers.a]\ncommand = \"a\"\n[mcp_servers.b]\ncommand = \"b\"\n")
                .unwrap();
        assert_eq!(
            config.server("c").unwrap_err().to_string(),
            "no mcp server named `c` (defined: `a`, `b`)"
        );
    }

    #[test]
    fn errors_name_the_server_and_the_key() {
        check_error("[mcp_servers.s]\nargs = []\n", "mcp server `s`: missing field `command`");
        check_error("[mcp_servers.s]\ncommand = \"\"\n", "mcp server `s`: `command` must not be empty");
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\ncomand = \"y\"\n",
            "mcp server `s`: unknown field `comand`, expected one of `command`, `args`, `env`, `env_vars`, \
             `cwd`, `executor`, `startup_timeout_sec`, `tool_timeout_sec`",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nargs = \"-v\"\n",
            "mcp server `s`: invalid type: string \"-v\", expected a sequence in `args`",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nenv = { A = 1 }\n",
            "mcp server `s`: invalid type: integer `1`, expected a string in `env.A`",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nenv = { \"A=B\" = \"1\" }\n",
            "mcp server `s`: `env`: variable name `A=B` contains `=` or NUL",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nstartup_timeout_sec = 0\n",
            "mcp server `s`: `startup_timeout_sec` must be a positive number of seconds, not 0",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\ntool_timeout_sec = -1.5\n",
            "mcp server `s`: `tool_timeout_sec` must be a positive number of seconds, not -1.5",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\ntool_timeout_sec = \"60\"\n",
            "mcp server `s`: invalid type: string \"60\", expected f64 in `tool_timeout_sec`",
        );
        check_error(
            "[mcp_servers.\"a b\"]\ncommand = \"x\"\n",
            "mcp server `a b`: the name may only use ASCII letters, digits, `_` and `-`",
        );
    }

    #[test]
    fn env_vars_entries() {
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nenv_vars = [1]\n",
            "mcp server `s`: invalid type: integer `1`, expected a variable name or a table \
             `{ name = \"X\", source = \"remote\" }` in `env_vars`",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nenv_vars = [{ name = \"A\", source = \"elsewhere\" }]\n",
            "mcp server `s`: unknown variant `elsewhere`, expected `local` or `remote` in `env_vars.source`",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nenv_vars = [{ source = \"remote\" }]\n",
            "mcp server `s`: missing field `name` in `env_vars`",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nenv_vars = [{ name = \"A\", from = \"remote\" }]\n",
            "mcp server `s`: unknown field `from`, expected `name` or `source` in `env_vars`",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nenv_vars = [\"\"]\n",
            "mcp server `s`: `env_vars`: a variable name is empty",
        );
    }

    #[test]
    fn executor_needs_a_websocket_url_and_an_absolute_cwd() {
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nexecutor = \"http://h:1\"\ncwd = \"/w\"\n",
            "mcp server `s`: `executor` must be a ws:// or wss:// URL, not `http://h:1`",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nexecutor = \"ws://h:1\"\n",
            "mcp server `s`: `cwd` is required when `executor` is set",
        );
        check_error(
            "[mcp_servers.s]\ncommand = \"x\"\nexecutor = \"wss://h:1\"\ncwd = \"work\"\n",
            "mcp server `s`: `cwd` must be an absolute path on the executor, not `work`",
        );
    }

    #[test]
    fn malformed_documents() {
        let error = McpConfig::from_toml_str("[mcp_servers\n").unwrap_err();
        assert!(matches!(error, ConfigError::Toml(_)), "{error:?}");
        let error = McpConfig::from_toml_str("mcp_servers = 1\n").unwrap_err();
        assert!(error.to_string().starts_with("invalid mcp config: "), "{error}");
        let error = McpConfig::from_toml_str("[mcp_servers]\ns = 1\n").unwrap_err();
        assert!(error.to_string().starts_with("invalid mcp config: "), "{error}");
    }
}
