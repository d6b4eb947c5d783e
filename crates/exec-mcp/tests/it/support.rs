//! Helpers for exec-mcp's tests: the test server's launch spec, tool-call shorthands, a
//! `tracing` capture that can be awaited, and checks that a process is gone.
//!
//! Every wait has a deadline and panics naming what it waited for.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::sync::Once;
use std::time::Duration;

use exec_mcp::rmcp::model::{CallToolRequestParams, JsonObject};
use exec_mcp::rmcp::model::{JsonRpcMessage, ServerNotification};
use exec_mcp::rmcp::service::Peer;
use exec_mcp::rmcp::transport::Transport;
use exec_mcp::rmcp::{RoleClient, ServiceError};
use exec_mcp::{LaunchSpec, Launcher, McpTransport};
use serde_json::Value;
use test_support::{DEFAULT_DEADLINE, workspace_binary};
use tokio::sync::watch;

/// A spec that runs the workspace's `mcp-test-server` with `args`, named `test`.
pub fn test_server(args: &[&str]) -> LaunchSpec {
    let binary = workspace_binary("mcp-test-server");
    LaunchSpec::new("test", binary.to_str().expect("a UTF-8 target path")).with_args(args.iter().copied())
}

/// Awaits `future` for at most [`DEFAULT_DEADLINE`], panicking with `what` if it does not end.
pub async fn within<F: Future>(what: &'static str, future: F) -> F::Output {
    match tokio::time::timeout(DEFAULT_DEADLINE, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {DEFAULT_DEADLINE:?} waiting for {what}"),
    }
}

/// Calls `tool` with `arguments` (a JSON object) and returns the text of its first content
/// block, or the error.
pub async fn call(
    peer: &Peer<RoleClient>,
    tool: &'static str,
    arguments: Value,
) -> Result<String, ServiceError> {
    let arguments: JsonObject = match arguments {
        Value::Object(object) => object,
        other => panic!("tool arguments must be an object, not {other}"),
    };
    let result =
        within("a tool call", peer.call_tool(CallToolRequestParams::new(tool).with_arguments(arguments)))
            .await?;
    assert_ne!(result.is_error, Some(true), "tool {tool} failed: {result:?}");
    let text = result.content.first().and_then(|content| content.as_text()).map(|text| text.text.clone());
    Ok(text.unwrap_or_else(|| panic!("tool {tool} returned no text: {result:?}")))
}

/// Collects the formatted `tracing` output (INFO and above) of the current thread while it
/// lives. Tests that use it run on a current-thread runtime, so the tasks they spawn log on the
/// same thread.
///
/// The subscriber is a global one that writes to whichever capture the emitting thread has
/// installed. A thread-scoped subscriber (`set_default`) would be simpler but loses events:
/// while it is the only dispatcher registered, tracing caches a callsite's interest from the
/// thread that first reaches it, so a callsite first reached by another test's thread would be
/// disabled for everyone.
pub struct LogCapture {
    text: watch::Receiver<String>,
}

thread_local! {
    static CAPTURE: RefCell<Option<watch::Sender<String>>> = const { RefCell::new(None) };
}

impl LogCapture {
    pub fn start() -> LogCapture {
        static GLOBAL_SUBSCRIBER: Once = Once::new();
        GLOBAL_SUBSCRIBER.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .with_writer(|| ThreadCaptureWriter)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        });
        let (sender, text) = watch::channel(String::new());
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(sender));
        LogCapture { text }
    }

    /// Waits until the captured output contains `needle`.
    pub async fn wait_for(&mut self, needle: &str) {
        let found = tokio::time::timeout(DEFAULT_DEADLINE, self.text.wait_for(|text| text.contains(needle)))
            .await
            .is_ok();
        if !found {
            panic!("the log never contained {needle:?}; it was:\n{}", self.text());
        }
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        self.text.borrow().clone()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// Appends to the emitting thread's capture, if it has one; otherwise discards.
struct ThreadCaptureWriter;

impl io::Write for ThreadCaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(sender) = capture.borrow().as_ref() {
                sender.send_modify(|text| text.push_str(&String::from_utf8_lossy(bytes)));
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether `pid` is a live process: it exists and is not a zombie (a zombie has ended; only its
/// parent has not collected it yet).
pub fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state letter follows the command name, which is in parentheses and may hold spaces.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}

/// Waits until `pid` is no longer alive.
///
/// This polls, because a process that is not our child (a grandchild, or a child tokio reaps
/// in the background) announces its end to no one we can await. The deadline bounds it.
pub async fn wait_until_dead(pid: u32, what: &str) {
    let deadline = tokio::time::Instant::now() + DEFAULT_DEADLINE;
    while is_alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} (pid {pid}) is still alive after {DEFAULT_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A server that ignores end of input and keeps a child of its own: it announces the two pids
/// (`{"method":"pids","params":{"shell":N,"sleeper":M}}`) and waits. Closing must kill it.
pub fn stubborn_server() -> LaunchSpec {
    let script = r#"sleep 1000 & printf '{"jsonrpc":"2.0","method":"pids","params":{"shell":%d,"sleeper":%d}}\n' $$ $!; wait"#;
    let mut spec = LaunchSpec::new("stubborn", "/bin/sh").with_args(["-c", script]).with_cwd("/");
    spec.close_grace = Duration::from_millis(200);
    spec
}

/// Launches [`stubborn_server`] with `launcher` and reads the two pids it announces.
pub async fn launch_stubborn(launcher: &dyn Launcher) -> (McpTransport, u32, u32) {
    let mut transport = launcher.launch(&stubborn_server()).await.unwrap();
    let message = within("the pids notification", Transport::<RoleClient>::receive(&mut transport)).await;
    let Some(JsonRpcMessage::Notification(notification)) = message else {
        panic!("expected the pids notification, got {message:?}")
    };
    let ServerNotification::CustomNotification(custom) = notification.notification else {
        panic!("expected a custom notification")
    };
    let params = custom.params.expect("params");
    let pid = |key: &str| u32::try_from(params[key].as_u64().expect("a pid")).expect("a pid fits u32");
    let (shell, sleeper) = (pid("shell"), pid("sleeper"));
    assert!(is_alive(shell) && is_alive(sleeper), "the server should be running");
    (transport, shell, sleeper)
}

/// Shared case: a server's stderr is logged (target `exec_mcp::stderr`) and never reaches the
/// protocol stream, wherever `launcher` runs it. Needs a current-thread runtime ([`LogCapture`]).
pub async fn check_stderr_stays_out_of_the_stream(launcher: &dyn Launcher, spec: &LaunchSpec) {
    let mut log = LogCapture::start();
    let client = exec_mcp::connect(launcher, spec, (), DEFAULT_DEADLINE).await.unwrap();
    let marker = "diagnostic line 7f3a";
    assert_eq!(call(&client, "stderr", serde_json::json!({ "text": marker })).await.unwrap(), "ok");
    log.wait_for(marker).await;
    // The session is intact after the stderr output.
    let still = call(&client, "echo", serde_json::json!({ "text": "still fine" })).await.unwrap();
    assert_eq!(still, "still fine");
    within("cancel", client.cancel()).await.unwrap();

    let text = log.text();
    let line = text.lines().find(|line| line.contains(marker)).unwrap();
    assert!(line.contains("exec_mcp::stderr") && line.contains("server=test"), "{line}");
    // Had the line reached stdout, the transport would have skipped it with this warning.
    assert!(!text.contains("not a JSON-RPC message"), "{text}");
}

/// Shared case: a server started with `--exit-after 1` fails the second call with the reason,
/// in the same words whichever launcher ran it, and later calls fail at once.
pub async fn check_exit_mid_call_fails_the_call(launcher: &dyn Launcher, spec: &LaunchSpec) {
    use exec_mcp::rmcp::ServiceExt as _;
    let transport = launcher.launch(spec).await.unwrap();
    let end_reason = transport.end_reason();
    let client = within("initialize", ().serve(transport)).await.unwrap();
    let echo = |text: &str| serde_json::json!({ "text": text });
    assert_eq!(call(&client, "echo", echo("one")).await.unwrap(), "one");
    let error = call(&client, "echo", echo("two")).await.unwrap_err();
    assert_eq!(error.to_string(), "Mcp error: -32099: mcp server `test` exited with exit code 3");
    assert_eq!(end_reason.get().as_deref(), Some("mcp server `test` exited with exit code 3"));
    assert!(call(&client, "echo", echo("three")).await.is_err());
}
