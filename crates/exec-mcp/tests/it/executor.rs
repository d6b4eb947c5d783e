//! The executor launcher end to end: an rmcp client, our transport, an `ExecClient`, an
//! exec-server and a real `mcp-test-server` started by it.
//!
//! Most cases run the exec-server in process (`exec_transport::server::run`), so a test can give
//! it a base environment of its own. The disconnect case runs the real `exec-server` binary,
//! because it has to die the way a machine or a process does: SIGKILL, no goodbye.

use std::collections::BTreeMap;
use std::time::Duration;

use exec_engine::{Config, Engine, ExitStatus, ProcessInfo, SubscribeFrom};
use exec_mcp::rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, ServerJsonRpcMessage};
use exec_mcp::rmcp::transport::Transport;
use exec_mcp::rmcp::{RoleClient, ServiceExt as _};
use exec_mcp::{
    EnvSource, ExecutorLauncher, LaunchError, LaunchSpec, Launcher, LocalLauncher, McpTransport,
    TransportError, connect,
};
use exec_transport::server::ServerConfig;
use exec_transport::{ConnectOptions, ExecClient};
use serde_json::json;
use test_support::{Signal, Target, workspace_binary};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::support::{
    call, check_exit_mid_call_fails_the_call, check_stderr_stays_out_of_the_stream, is_alive,
    launch_stubborn, test_server, wait_until_dead, within,
};

const STARTUP: Duration = test_support::DEFAULT_DEADLINE;

/// An exec-server running inside the test process, shut down on drop.
struct InProcessExecutor {
    url: String,
    shutdown: CancellationToken,
}

impl InProcessExecutor {
    /// A server whose `envPolicy` base environment is this process's own.
    async fn start() -> InProcessExecutor {
        InProcessExecutor::with_environment(std::env::vars().collect()).await
    }

    async fn with_environment(base_environment: BTreeMap<String, String>) -> InProcessExecutor {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let url = format!("ws://{}", listener.local_addr().expect("a bound address"));
        let shutdown = CancellationToken::new();
        let config = ServerConfig { base_environment, ..ServerConfig::default() };
        // The stubborn server's tests read pids a command prints (`$$`, `$!`) and look them up
        // in this process's /proc: keep children in this PID namespace, not a session's own.
        let engine = Engine::new(Config { contain_sessions: false, ..Config::default() });
        drop(tokio::spawn(exec_transport::server::run(listener, engine, config, shutdown.clone())));
        InProcessExecutor { url, shutdown }
    }

    async fn client(&self) -> ExecClient {
        within("connect", ExecClient::connect(&self.url, ConnectOptions::default())).await.expect("connect")
    }
}

impl Drop for InProcessExecutor {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The test server, to run on an executor (which needs an absolute working directory).
fn remote_test_server(args: &[&str]) -> LaunchSpec {
    test_server(args).with_cwd(std::env::temp_dir())
}

/// The one process of the client's session.
async fn only_process(client: &ExecClient) -> ProcessInfo {
    let mut processes = within("process/list", client.list()).await.expect("process/list");
    assert_eq!(processes.len(), 1, "{processes:?}");
    processes.remove(0)
}

/// Everything a client sees of the test server in one session, as text: the tool list, then one
/// line per call.
async fn transcript(launcher: &dyn Launcher) -> Vec<String> {
    let spec = remote_test_server(&[]).with_env("LITERAL", "literal value");
    let client = connect(launcher, &spec, (), STARTUP).await.unwrap();
    let mut tools = within("tools/list", client.list_all_tools()).await.unwrap();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let mut lines = vec![serde_json::to_string(&tools).unwrap()];
    let text = "héllo, \"wörld\"\nsecond line";
    for (tool, arguments) in [
        ("echo", json!({ "text": text })),
        ("echo", json!({ "text": "x".repeat(100_000) })),
        ("env", json!({ "name": "LITERAL" })),
        ("env", json!({ "name": "PATH" })),
        ("env", json!({ "name": "EXEC_MCP_NOT_SET" })),
        ("stderr", json!({ "text": "to the log" })),
    ] {
        let result = call(&client, tool, arguments).await;
        lines.push(format!("{tool}: {}", result.unwrap_or_else(|error| format!("error: {error}"))));
    }
    within("cancel", client.cancel()).await.unwrap();
    lines
}

#[tokio::test]
async fn both_launchers_list_and_call_tools_alike() {
    let executor = InProcessExecutor::start().await;
    let client = executor.client().await;

    let local = transcript(&LocalLauncher::new()).await;
    let remote = transcript(&ExecutorLauncher::new(client.clone())).await;
    assert_eq!(local, remote);

    // The transcript holds what it should (so an empty or failed run cannot pass).
    assert_eq!(local.len(), 7, "{local:#?}");
    for name in ["\"echo\"", "\"env\"", "\"stderr\""] {
        assert!(local[0].contains(name), "{}", local[0]);
    }
    assert_eq!(local[1], "echo: héllo, \"wörld\"\nsecond line");
    assert_eq!(local[3], "env: literal value");
    assert_eq!(local[4], format!("env: {}", std::env::var("PATH").unwrap_or_default()));
    assert!(local[5].starts_with("env: error: ") && local[5].contains("EXEC_MCP_NOT_SET"), "{}", local[5]);
    assert_eq!(local[6], "stderr: ok");

    // It ran on the executor, and closing the session ended it through end of input.
    let process = only_process(&client).await;
    assert!(process.id.as_str().starts_with("mcp-test-"), "{process:?}");
    assert_eq!(process.argv, [workspace_binary("mcp-test-server").to_str().unwrap()]);
    assert!(!process.running, "{process:?}");
    assert_eq!(process.exit, Some(ExitStatus::Code(0)));
}

/// The launcher over a stdio executor (`exec-server --listen stdio` as a child, as `ssh host
/// exec-server --listen stdio` would be): the same transcript as a local launch.
#[tokio::test]
async fn a_stdio_executor_behind_a_command_serves_the_same_transcript() {
    let command = format!("{} --listen stdio", workspace_binary("exec-server").display());
    let launcher = within(
        "connect",
        ExecutorLauncher::connect(exec_transport::Endpoint::Command(command), ConnectOptions::default()),
    )
    .await
    .expect("connect over stdio");
    let remote = transcript(&launcher).await;
    let local = transcript(&LocalLauncher::new()).await;
    assert_eq!(local, remote);
    assert_eq!(remote.len(), 7, "{remote:#?}");
}

#[tokio::test]
async fn environment_comes_from_the_executor_plus_explicit_values() {
    let mut base: BTreeMap<String, String> = std::env::vars().collect();
    for (name, value) in [
        ("HOME", "/home/executor"),
        ("PATH", "/executor/bin"),
        ("REMOTE_ONLY", "from the executor"),
        ("REMOTE_TOKEN", "executor secret"),
        ("LOCAL_VAR", "executor value"),
        ("NOT_NAMED", "executor value"),
    ] {
        base.insert(name.to_owned(), value.to_owned());
    }
    let executor = InProcessExecutor::with_environment(base).await;
    let launching = [
        ("HOME", "/home/launcher"),
        ("PATH", "/launcher/bin"),
        ("LOCAL_VAR", "from the launcher"),
        ("REMOTE_ONLY", "launcher value"),
        ("LAUNCHER_ONLY", "launcher secret"),
    ];
    let launcher = ExecutorLauncher::with_environment(executor.client().await, launching);
    let spec = remote_test_server(&[])
        .with_env_var("LOCAL_VAR", EnvSource::Local)
        .with_env_var("REMOTE_ONLY", EnvSource::Remote)
        .with_env_var("REMOTE_TOKEN", EnvSource::Remote)
        .with_env_var("UNSET_REMOTE", EnvSource::Remote)
        .with_env_var("UNSET_LOCAL", EnvSource::Local)
        .with_env("LITERAL", "literal value");
    let client = connect(&launcher, &spec, (), STARTUP).await.unwrap();

    for (name, expected) in [
        // The executor's core variables, not the launcher's.
        ("HOME", "/home/executor"),
        ("PATH", "/executor/bin"),
        ("LOCAL_VAR", "from the launcher"),
        ("REMOTE_ONLY", "from the executor"),
        // Named explicitly, so the default `*TOKEN*` exclusion does not drop it.
        ("REMOTE_TOKEN", "executor secret"),
        ("LITERAL", "literal value"),
    ] {
        assert_eq!(call(&client, "env", json!({ "name": name })).await.unwrap(), expected, "{name}");
    }
    for name in ["NOT_NAMED", "LAUNCHER_ONLY", "UNSET_REMOTE", "UNSET_LOCAL"] {
        let error = call(&client, "env", json!({ "name": name })).await.unwrap_err();
        assert!(error.to_string().contains(&format!("variable `{name}`")), "{name}: {error}");
    }
    within("cancel", client.cancel()).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn stderr_is_logged_and_kept_out_of_the_protocol_stream() {
    let executor = InProcessExecutor::start().await;
    let launcher = ExecutorLauncher::new(executor.client().await);
    check_stderr_stays_out_of_the_stream(&launcher, &remote_test_server(&[])).await;
}

#[tokio::test]
async fn server_exiting_mid_call_fails_the_call_with_the_reason() {
    // Word for word what the local launcher reports for the same exit.
    let executor = InProcessExecutor::start().await;
    let launcher = ExecutorLauncher::new(executor.client().await);
    check_exit_mid_call_fails_the_call(&launcher, &remote_test_server(&["--exit-after", "1"])).await;
}

/// A transport that counts the `tools/call` requests it has finished sending, so a test knows a
/// call has reached the server's stdin.
struct CountingCalls {
    inner: McpTransport,
    calls_sent: watch::Sender<usize>,
}

impl Transport<RoleClient> for CountingCalls {
    type Error = TransportError;

    fn send(
        &mut self,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), TransportError>> + Send + 'static {
        let is_call = matches!(
            &message,
            JsonRpcMessage::Request(request) if matches!(request.request, ClientRequest::CallToolRequest(_))
        );
        let sent = self.inner.send(message);
        let calls_sent = self.calls_sent.clone();
        async move {
            sent.await?;
            if is_call {
                calls_sent.send_modify(|count| *count += 1);
            }
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        Transport::<RoleClient>::receive(&mut self.inner).await
    }

    async fn close(&mut self) -> Result<(), TransportError> {
        Transport::<RoleClient>::close(&mut self.inner).await
    }
}

/// SIGKILLs a process on drop: the stopped test server, which nothing else would end.
struct KillOnDrop(nix::unistd::Pid);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, Signal::SIGKILL);
    }
}

#[tokio::test]
async fn executor_killed_mid_call_fails_the_call_promptly() {
    let server = Target::ours(workspace_binary("exec-server")).spawn().await;
    let options = ConnectOptions { recovery: None, ..ConnectOptions::default() };
    let exec_client = within("connect", ExecClient::connect(server.url(), options)).await.unwrap();
    let launcher = ExecutorLauncher::new(exec_client.clone());
    let transport = launcher.launch(&remote_test_server(&[])).await.unwrap();
    let end_reason = transport.end_reason();
    let (calls_sent, mut calls_seen) = watch::channel(0);
    let client =
        within("initialize", ().serve(CountingCalls { inner: transport, calls_sent })).await.unwrap();
    assert_eq!(call(&client, "echo", json!({ "text": "before" })).await.unwrap(), "before");

    // Stop the MCP server so the next call stays unanswered, send it, and wait until it has
    // reached the server's stdin.
    let pid = only_process(&exec_client).await.pid.expect("a pid");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
    let _cleanup = KillOnDrop(pid);
    nix::sys::signal::kill(pid, Signal::SIGSTOP).unwrap();
    let peer = client.peer().clone();
    let pending = tokio::spawn(async move { call(&peer, "echo", json!({ "text": "never answered" })).await });
    within("the call to be sent", calls_seen.wait_for(|count| *count == 2)).await.unwrap();
    assert!(!pending.is_finished());

    server.terminate_with(Signal::SIGKILL).unwrap();
    let killed = tokio::time::Instant::now();
    let error = within("the pending call", pending).await.unwrap().unwrap_err();
    // Within the close grace: the failure comes from the lost connection, not from a timer.
    assert!(killed.elapsed() < exec_mcp::DEFAULT_CLOSE_GRACE, "took {:?}", killed.elapsed());
    let message = error.to_string();
    let expected = "Mcp error: -32099: mcp server `test`: reading its stdout failed: executor disconnected: ";
    assert!(message.starts_with(expected), "{message}");
    assert!(message.contains("automatic recovery is off"), "{message}");
    assert!(end_reason.get().is_some_and(|reason| reason.contains("executor disconnected")));

    // The session is over: later calls fail at once instead of hanging.
    assert!(call(&client, "echo", json!({ "text": "after" })).await.is_err());
}

#[tokio::test]
async fn closing_the_transport_terminates_a_server_that_ignores_end_of_input() {
    let executor = InProcessExecutor::start().await;
    let client = executor.client().await;
    let (mut transport, shell, sleeper) = launch_stubborn(&ExecutorLauncher::new(client.clone())).await;

    within("close", Transport::<RoleClient>::close(&mut transport)).await.unwrap();
    // `close` waited for `closed`: the process has exited and its output ended by now.
    let process = only_process(&client).await;
    assert!(!process.running, "{process:?}");
    assert_eq!(process.exit, Some(ExitStatus::Signal(9)), "terminated after the grace: {process:?}");
    assert!(!is_alive(shell), "the server survived close");
    wait_until_dead(sleeper, "the server's child").await;
}

#[tokio::test]
async fn dropping_the_transport_terminates_the_server() {
    let executor = InProcessExecutor::start().await;
    let client = executor.client().await;
    let (transport, shell, sleeper) = launch_stubborn(&ExecutorLauncher::new(client.clone())).await;
    let id = only_process(&client).await.id;

    drop(transport);
    let mut handle = within("attach", client.attach(id.as_str(), SubscribeFrom::Start)).await.unwrap();
    assert_eq!(within("the process to close", handle.wait()).await.unwrap(), ExitStatus::Signal(9));
    wait_until_dead(shell, "the server").await;
    wait_until_dead(sleeper, "the server's child").await;
}

#[tokio::test]
async fn launch_errors_name_the_server() {
    let executor = InProcessExecutor::start().await;
    let launcher = ExecutorLauncher::new(executor.client().await);

    let error = launcher.launch(&LaunchSpec::new("nowhere", "true")).await.unwrap_err();
    assert!(matches!(error, LaunchError::Invalid { .. }), "{error:?}");
    assert_eq!(error.to_string(), "mcp server `nowhere`: `cwd` is required to run on an executor");

    let spec = LaunchSpec::new("ghost", "/nonexistent/mcp-server").with_cwd("/");
    let error = launcher.launch(&spec).await.unwrap_err();
    assert!(matches!(error, LaunchError::Executor { .. }), "{error:?}");
    let prefix = format!(
        "mcp server `ghost`: cannot start `/nonexistent/mcp-server` on the executor {}: ",
        executor.url
    );
    assert!(error.to_string().starts_with(&prefix), "{error}");
}
