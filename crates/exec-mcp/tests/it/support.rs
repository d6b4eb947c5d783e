//! Helpers for exec-mcp's tests: the test server's launch spec, tool-call shorthands, a
//! `tracing` capture that can be awaited, and checks that a process is gone.
//!
//! Every wait has a deadline and panics naming what it waited for.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::sync::Once;
use std::time::Duration;

use exec_mcp::LaunchSpec;
use exec_mcp::rmcp::model::{CallToolRequestParams, JsonObject};
use exec_mcp::rmcp::service::Peer;
use exec_mcp::rmcp::{RoleClient, ServiceError};
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
