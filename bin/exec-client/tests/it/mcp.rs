//! `exec-client mcp`: the bridge is byte-exact both ways, keeps stderr out of stdout, ends when
//! either side does, and carries a real MCP session: an rmcp client launches the bridge as its
//! (local) server command and talks to `mcp-test-server` running on the executor.

use std::process::Stdio;

use exec_mcp::rmcp::model::{CallToolRequestParams, JsonObject};
use exec_mcp::{LaunchSpec, LocalLauncher, connect};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{CLIENT, DEADLINE, TestServer, client, finish, temp_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_pass_unchanged_both_ways_and_stdin_eof_ends_the_bridge() {
    let server = TestServer::start().await;
    let mut command = client(&server.url(), &["mcp", "--", "cat"]);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let writer = {
        let data = data.clone();
        tokio::spawn(async move {
            stdin.write_all(&data).await.unwrap();
            // Dropping stdin is the MCP client going away.
        })
    };
    let mut echoed = Vec::new();
    tokio::time::timeout(DEADLINE, stdout.read_to_end(&mut echoed)).await.unwrap().unwrap();
    writer.await.unwrap();
    assert!(echoed == data, "echoed {} of {} bytes, or different ones", echoed.len(), data.len());
    let status = tokio::time::timeout(DEADLINE, child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_exiting_ends_the_bridge_and_stderr_stays_apart() {
    let server = TestServer::start().await;
    let script = "echo '{\"jsonrpc\":\"2.0\"}'; echo 'a log line' >&2; exit 3";
    let mut command = client(&server.url(), &["mcp", "--", "sh", "-c", script]);
    // The MCP client keeps its end open: the bridge must still end, with the server's code.
    command.stdin(Stdio::piped());
    let child = command.spawn().unwrap();
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "{\"jsonrpc\":\"2.0\"}\n");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "a log line\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rmcp_client_uses_a_server_on_the_executor_through_the_bridge() {
    let server = TestServer::start().await;
    let test_server = test_support::workspace_binary("mcp-test-server");
    // The client's "server command" is the bridge; the real server runs on the executor.
    let url = server.url();
    let spec = LaunchSpec::new("bridged", CLIENT).with_args([
        "mcp",
        "--url",
        url.as_str(),
        "--env",
        "GREETING=from the bridge",
        "--",
        test_server.to_str().unwrap(),
    ]);
    let session = connect(&LocalLauncher::new(), &spec, (), DEADLINE).await.unwrap();
    let mut names: Vec<String> =
        session.list_all_tools().await.unwrap().into_iter().map(|tool| tool.name.into()).collect();
    names.sort();
    assert_eq!(names, ["echo", "env", "stderr"]);
    let text = "héllo \"wörld\"\nline two";
    assert_eq!(call(&session, "echo", serde_json::json!({ "text": text })).await, text);
    assert_eq!(call(&session, "env", serde_json::json!({ "name": "GREETING" })).await, "from the bridge");
    // stderr output on the executor does not disturb the protocol stream.
    call(&session, "stderr", serde_json::json!({ "text": "to stderr" })).await;
    assert_eq!(call(&session, "echo", serde_json::json!({ "text": "still fine" })).await, "still fine");
    tokio::time::timeout(DEADLINE, session.cancel()).await.unwrap().unwrap();
}

async fn call(
    session: &exec_mcp::rmcp::service::RunningService<exec_mcp::rmcp::RoleClient, ()>,
    tool: &'static str,
    arguments: serde_json::Value,
) -> String {
    let serde_json::Value::Object(arguments) = arguments else { panic!("arguments must be an object") };
    let arguments: JsonObject = arguments;
    let result = tokio::time::timeout(
        DEADLINE,
        session.call_tool(CallToolRequestParams::new(tool).with_arguments(arguments)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    result.content.first().and_then(|content| content.as_text()).map(|text| text.text.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_errors_name_the_server_and_the_key() {
    let server = TestServer::start().await;
    let config = temp_path("mcp.toml");
    std::fs::write(&config, "[mcp_servers.time]\ncommand = \"python3\"\nexecutor = \"ws://127.0.0.1:1\"\n")
        .unwrap();
    let config_arg = config.to_str().unwrap();
    let missing_cwd =
        finish(client(&server.url(), &["mcp", "--config", config_arg, "--server", "time"])).await;
    assert_eq!(missing_cwd.code, Some(2), "{}", missing_cwd.stderr);
    assert!(
        missing_cwd.stderr.contains("`time`") && missing_cwd.stderr.contains("cwd"),
        "{}",
        missing_cwd.stderr
    );
    let unknown = finish(client(&server.url(), &["mcp", "--config", config_arg, "--server", "nope"])).await;
    assert_eq!(unknown.code, Some(2), "{}", unknown.stderr);
    std::fs::remove_file(&config).unwrap();
}
