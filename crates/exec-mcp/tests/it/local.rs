//! The local launcher end to end: an rmcp client, our transport, a real child process.
//!
//! Most cases run the workspace's `mcp-test-server` (built with rmcp's server side). The
//! lifecycle cases run a small `sh` script instead, because they need a server that ignores
//! end of input and starts a process of its own.

use std::time::Duration;

use exec_mcp::rmcp::RoleClient;
use exec_mcp::rmcp::transport::Transport;
use exec_mcp::{ConnectError, EnvSource, LaunchError, LaunchSpec, Launcher, LocalLauncher, connect};
use serde_json::json;

use crate::support::{
    call, check_exit_mid_call_fails_the_call, check_stderr_stays_out_of_the_stream, is_alive,
    launch_stubborn, test_server, wait_until_dead, within,
};

const STARTUP: Duration = test_support::DEFAULT_DEADLINE;

#[tokio::test]
async fn lists_tools_and_calls_echo() {
    let client = connect(&LocalLauncher::new(), &test_server(&[]), (), STARTUP).await.unwrap();
    let mut names: Vec<String> = within("tools/list", client.list_all_tools())
        .await
        .unwrap()
        .into_iter()
        .map(|tool| tool.name.into())
        .collect();
    names.sort();
    assert_eq!(names, ["echo", "env", "stderr"]);

    let text = "héllo, \"wörld\"\nsecond line";
    assert_eq!(call(&client, "echo", json!({ "text": text })).await.unwrap(), text);
    within("cancel", client.cancel()).await.unwrap();
}

#[tokio::test]
async fn environment_is_core_plus_named_plus_literal() {
    let launching = [
        ("HOME", "/home/launcher"),
        ("COPIED", "from the launcher"),
        ("READ_THERE", "also from the launcher"),
        ("NOT_NAMED", "secret"),
        ("OVERRIDDEN", "launcher value"),
    ];
    let spec = test_server(&[])
        .with_env_var("COPIED", EnvSource::Local)
        .with_env_var("READ_THERE", EnvSource::Remote)
        .with_env_var("OVERRIDDEN", EnvSource::Local)
        .with_env_var("MISSING", EnvSource::Local)
        .with_env("LITERAL", "literal value")
        .with_env("OVERRIDDEN", "literal wins");
    let client = connect(&LocalLauncher::with_environment(launching), &spec, (), STARTUP).await.unwrap();

    for (name, expected) in [
        ("HOME", "/home/launcher"),
        ("COPIED", "from the launcher"),
        ("READ_THERE", "also from the launcher"),
        ("LITERAL", "literal value"),
        ("OVERRIDDEN", "literal wins"),
    ] {
        assert_eq!(call(&client, "env", json!({ "name": name })).await.unwrap(), expected, "{name}");
    }
    for name in ["NOT_NAMED", "MISSING", "PATH"] {
        let error = call(&client, "env", json!({ "name": name })).await.unwrap_err();
        assert!(error.to_string().contains(&format!("variable `{name}`")), "{name}: {error}");
    }
    within("cancel", client.cancel()).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn stderr_is_logged_and_kept_out_of_the_protocol_stream() {
    check_stderr_stays_out_of_the_stream(&LocalLauncher::new(), &test_server(&[])).await;
}

#[tokio::test]
async fn server_exiting_mid_call_fails_the_call_with_the_reason() {
    check_exit_mid_call_fails_the_call(&LocalLauncher::new(), &test_server(&["--exit-after", "1"])).await;
}

#[tokio::test]
async fn oversized_line_ends_the_session_with_a_clear_error() {
    let mut spec = test_server(&[]);
    spec.max_line_bytes = 4096;
    let client = connect(&LocalLauncher::new(), &spec, (), STARTUP).await.unwrap();

    let fits = "x".repeat(1000);
    assert_eq!(call(&client, "echo", json!({ "text": fits })).await.unwrap(), fits);
    let error = call(&client, "echo", json!({ "text": "x".repeat(5000) })).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Mcp error: -32099: mcp server `test` wrote a stdout line longer than 4096 bytes"
    );
}

#[tokio::test]
async fn closing_the_transport_kills_the_process_group() {
    let (mut transport, shell, sleeper) = launch_stubborn(&LocalLauncher::new()).await;
    within("close", Transport::<RoleClient>::close(&mut transport)).await.unwrap();
    // `close` reaped the shell itself, so it is gone by now, not merely dying.
    assert!(!is_alive(shell), "the server survived close");
    wait_until_dead(sleeper, "the server's child").await;

    let error =
        within("send after close", Transport::<RoleClient>::send(&mut transport, ping())).await.unwrap_err();
    assert_eq!(error.to_string(), "mcp server `stubborn`: the transport is closed");
}

#[tokio::test]
async fn dropping_the_transport_kills_the_process_group() {
    let (transport, shell, sleeper) = launch_stubborn(&LocalLauncher::new()).await;
    drop(transport);
    wait_until_dead(shell, "the server").await;
    wait_until_dead(sleeper, "the server's child").await;
}

#[tokio::test]
async fn launch_and_startup_errors_name_the_server() {
    let spec = LaunchSpec::new("ghost", "/nonexistent/mcp-server");
    let error = LocalLauncher::new().launch(&spec).await.unwrap_err();
    assert!(matches!(error, LaunchError::Spawn { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with("mcp server `ghost`: cannot start `/nonexistent/mcp-server`: "),
        "{error}"
    );

    // A server that never answers `initialize`.
    let silent = LaunchSpec::new("silent", "sh").with_args(["-c", "exec cat >/dev/null"]);
    let error = connect(&LocalLauncher::new(), &silent, (), Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(error, ConnectError::StartupTimeout { .. }), "{error:?}");
    assert_eq!(error.to_string(), "mcp server `silent`: did not start and initialize within 300ms");

    // A server that exits before answering.
    let dying = LaunchSpec::new("dying", "sh").with_args(["-c", "exit 7"]);
    let error = connect(&LocalLauncher::new(), &dying, (), STARTUP).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "mcp server `dying`: initialize failed: \
         JSON-RPC error: -32099: mcp server `dying` exited with exit code 7"
    );
}

fn ping() -> exec_mcp::rmcp::model::ClientJsonRpcMessage {
    serde_json::from_value(json!({ "jsonrpc": "2.0", "id": 99, "method": "ping" })).expect("a ping request")
}
