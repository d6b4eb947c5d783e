//! The flag and config-key table of `docs/operations.md`, rendered from the clap definitions and
//! the built-in defaults, and a test that fails when the document's copy differs.
//!
//! `UPDATE_EXPECT=1 cargo test -p exec-server options_doc` rewrites the table in the document.
//! This module only exists in tests; it changes nothing at run time.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use clap::CommandFactory as _;

use super::Cli;

const BEGIN: &str = "<!-- options table: generated from bin/exec-server/src/settings.rs by the test in settings/options_doc.rs -->\n";
const END: &str = "<!-- end of options table -->";

/// One row per flag: the flag with its value, the config-file key, the built-in default and the
/// flag's help text.
fn options_table() -> String {
    let mut table =
        String::from("| flag | config-file key | default | meaning |\n| --- | --- | --- | --- |\n");
    for argument in Cli::command().get_arguments() {
        let Some(long) = argument.get_long() else { continue };
        if long == "help" || long == "version" {
            continue;
        }
        let possible: Vec<String> =
            argument.get_possible_values().iter().map(|value| value.get_name().to_owned()).collect();
        let value = if argument.get_num_args().is_some_and(|range| range.max_values() == 0) {
            String::new()
        } else if !possible.is_empty() {
            format!(" {{{}}}", possible.join(","))
        } else {
            argument.get_value_names().map(|names| format!(" <{}>", names.join(" "))).unwrap_or_default()
        };
        let id = argument.get_id().as_str();
        // `--config` names the file itself; every other flag is also a key in it.
        let key = if id == "config" { "—".to_owned() } else { format!("`{id}`") };
        let help = argument.get_help().map(|help| help.to_string()).unwrap_or_default();
        let repeatable =
            if matches!(argument.get_action(), clap::ArgAction::Append) { " (list)" } else { "" };
        writeln!(
            table,
            "| `--{long}{value}` | {key}{repeatable} | {} | {} |",
            default_of(id),
            help.replace('|', "\\|")
        )
        .expect("writing to a String");
    }
    table
}

/// The default of each setting, from the configs' own `Default`s where they hold it. A new flag
/// fails here until its default is stated.
fn default_of(id: &str) -> String {
    let engine = exec_engine::Config::default();
    let server = exec_transport::server::ServerConfig::default();
    match id {
        "config" => "none".to_owned(),
        "listen" => "`ws://127.0.0.1:0`".to_owned(),
        "tls_cert" | "tls_key" => "none (plain `ws://`)".to_owned(),
        "auth_token_file" => "none (no token; loopback only)".to_owned(),
        "insecure_no_auth" => "`false`".to_owned(),
        "allow_origins" => "none (every browser `Origin` is refused)".to_owned(),
        "session_ttl" => duration(engine.session_ttl),
        "exited_linger" => duration(engine.exited_linger),
        "retention_bytes" => format!("`{}`", engine.retention_bytes),
        "max_sessions" => format!("`{}`", engine.max_sessions),
        "max_processes_per_session" => format!("`{}`", engine.max_processes_per_session),
        "max_processes" => format!("`{}`", engine.max_processes_total),
        "max_message_bytes" => format!("`{}`", server.max_message_bytes),
        "ping_interval" => duration(server.ping_interval),
        "peer_timeout" => duration(server.peer_timeout),
        "log_format" => "`text`".to_owned(),
        "drain_timeout" => duration(super::DEFAULT_DRAIN_TIMEOUT),
        "audit_log" => "stderr".to_owned(),
        "max_retained_bytes" => format!("`{}`", engine.max_retained_bytes_total),
        "max_lingering_per_session" => format!("`{}`", engine.max_lingering_per_session),
        "max_stdin_queued_bytes" => format!("`{}`", engine.max_stdin_queued_bytes),
        "max_requests_in_flight" => format!("`{}`", server.max_requests_in_flight),
        "max_request_bytes_in_flight" => format!("`{}`", server.max_request_bytes_in_flight),
        "max_outbound_bytes_queued" => format!("`{}`", server.max_outbound_bytes_queued),
        "max_fs_requests_in_flight" => format!("`{}`", server.max_fs_requests_in_flight),
        "max_uninitialized_connections" => format!("`{}`", server.max_uninitialized_connections),
        "initialize_timeout" => duration(server.initialize_timeout),
        "stdin_write_timeout" => duration(server.stdin_write_timeout),
        "worker_threads" => "half the CPUs, at least 1".to_owned(),
        other => panic!("state the default of `{other}` in settings/options_doc.rs"),
    }
}

fn duration(value: Duration) -> String {
    if value.subsec_millis() != 0 || value.as_secs() == 0 {
        format!("`{}ms`", value.as_millis())
    } else {
        format!("`{}s`", value.as_secs())
    }
}

#[test]
fn operations_doc_lists_every_option() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md");
    let document = std::fs::read_to_string(&path).expect("read docs/operations.md");
    let start =
        document.find(BEGIN).expect("docs/operations.md has the options table's begin marker") + BEGIN.len();
    let end = start + document[start..].find(END).expect("docs/operations.md has the end marker");
    let expected = options_table();
    if document[start..end] == expected {
        return;
    }
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        let updated = format!("{}{expected}{}", &document[..start], &document[end..]);
        std::fs::write(&path, updated).expect("write docs/operations.md");
        return;
    }
    panic!(
        "docs/operations.md's options table is out of date; run \
         `UPDATE_EXPECT=1 cargo test -p exec-server options_doc` or paste:\n{expected}"
    );
}

/// A sample config-file value for one row of the table, from the flag's value name: what a user
/// would write after reading the row.
fn sample_value(argument: &clap::Arg) -> String {
    if argument.get_num_args().is_some_and(|range| range.max_values() == 0) {
        return "true".to_owned();
    }
    if let Some(first) = argument.get_possible_values().first() {
        return format!("\"{}\"", first.get_name());
    }
    let value_name = argument.get_value_names().and_then(|names| names.first()).map(|name| name.as_str());
    let scalar = match value_name {
        Some("DURATION") => "\"30s\"".to_owned(),
        Some("BYTES" | "N") => "4096".to_owned(),
        Some("URL") => "\"stdio\"".to_owned(),
        Some("PATH" | "PEM") => "\"/nonexistent/exec-server-sample\"".to_owned(),
        Some("ORIGIN") => "\"https://example.com\"".to_owned(),
        other => panic!("no sample config value for a flag whose value is named {other:?}"),
    };
    if matches!(argument.get_action(), clap::ArgAction::Append) { format!("[{scalar}]") } else { scalar }
}

/// Every key of the table (the document's copy is held equal by the test above) parses from a
/// config file with the value form its row documents, and sets its field.
#[test]
fn a_config_file_with_every_documented_key_parses() {
    let mut file = String::new();
    let mut keys = 0;
    for argument in Cli::command().get_arguments() {
        let id = argument.get_id().as_str();
        let documented = options_table().contains(&format!("| `{id}` |"))
            || options_table().contains(&format!("| `{id}` (list) |"));
        if !documented {
            continue;
        }
        writeln!(file, "{id} = {}", sample_value(argument)).expect("writing to a String");
        keys += 1;
    }
    assert!(keys > 20, "the table lists {keys} keys:\n{file}");
    let options: super::Options = toml::from_str(&file).unwrap_or_else(|error| panic!("{error}\n{file}"));
    // Every field is an `Option` or a list: a key that parsed but landed nowhere shows as `None`.
    let shown = format!("{options:?}");
    assert!(!shown.contains("None") && !shown.contains("[]"), "a key set nothing: {shown}\n{file}");
}
