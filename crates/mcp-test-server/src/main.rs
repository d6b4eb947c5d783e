//! `mcp-test-server`: a tiny MCP server on stdin/stdout, for exec-mcp's tests.
//!
//! It is built with rmcp's server side, so the tests check our client transport against an
//! independent implementation of the protocol. Tools:
//!
//! - `echo {text}`: returns `text`;
//! - `env {name}`: returns the value of the environment variable `name`, or a tool error if it
//!   is not set;
//! - `stderr {text}`: writes `text` and a newline to stderr, returns `ok`.
//!
//! Options:
//!
//! - `--exit-after N`: answer the first N tool calls; call N+1 makes the server exit with
//!   [`EXIT_AFTER_CODE`] before answering, so a client sees its server die in the middle of a
//!   call.
//!
//! It exits 0 when stdin ends. It is a test fixture, not an example of a good MCP server: no
//! resources, no prompts, no logging to the client.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, ServiceExt as _, tool, tool_handler, tool_router};

/// The exit code of a server that reached its `--exit-after` budget: distinctive, so a test can
/// tell this exit from a crash or a clean end of stdin.
const EXIT_AFTER_CODE: u8 = 3;

const USAGE: &str = "usage: mcp-test-server [--exit-after N]";

#[derive(Debug, Clone)]
struct TestServer {
    /// Read by the code that `#[tool_handler]` generates, which the dead-code lint cannot see.
    #[expect(dead_code, reason = "read by the #[tool_handler] expansion")]
    tool_router: ToolRouter<TestServer>,
    /// How many tool calls to answer before exiting; `None` answers forever.
    exit_after: Option<u64>,
    /// Tool calls received so far, shared by every clone the router makes.
    calls: Arc<AtomicU64>,
}

#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct TextArgs {
    /// The text to return or write.
    text: String,
}

#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct EnvArgs {
    /// The name of the environment variable to read.
    name: String,
}

#[tool_router]
impl TestServer {
    fn new(exit_after: Option<u64>) -> TestServer {
        TestServer { tool_router: Self::tool_router(), exit_after, calls: Arc::new(AtomicU64::new(0)) }
    }

    /// Counts a call and exits the process when it is past the `--exit-after` budget.
    fn count_call(&self) {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.exit_after.is_some_and(|budget| call > budget) {
            eprintln!("mcp-test-server: exiting at call {call} (--exit-after)");
            std::process::exit(i32::from(EXIT_AFTER_CODE));
        }
    }

    #[tool(description = "Returns its `text` argument unchanged.")]
    async fn echo(&self, Parameters(TextArgs { text }): Parameters<TextArgs>) -> String {
        self.count_call();
        text
    }

    #[tool(description = "Returns the value of the environment variable `name`.")]
    async fn env(&self, Parameters(EnvArgs { name }): Parameters<EnvArgs>) -> Result<String, ErrorData> {
        self.count_call();
        std::env::var(&name)
            .map_err(|error| ErrorData::invalid_params(format!("variable `{name}`: {error}"), None))
    }

    #[tool(description = "Writes `text` and a newline to stderr, then returns `ok`.")]
    async fn stderr(&self, Parameters(TextArgs { text }): Parameters<TextArgs>) -> String {
        self.count_call();
        let mut stderr = std::io::stderr().lock();
        // A test fixture whose stderr is gone has no one left to tell; the reply still matters.
        if let Err(error) = writeln!(stderr, "{text}").and_then(|()| stderr.flush()) {
            return format!("stderr write failed: {error}");
        }
        "ok".to_owned()
    }
}

#[tool_handler]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn parse_args(args: &[String]) -> Result<Option<u64>, String> {
    match args {
        [] => Ok(None),
        [flag, count] if flag == "--exit-after" => {
            count.parse().map(Some).map_err(|error| format!("--exit-after {count}: {error}"))
        }
        _ => Err(format!("unexpected arguments {args:?}\n{USAGE}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exit_after = match parse_args(&args) {
        Ok(exit_after) => exit_after,
        Err(message) => {
            eprintln!("mcp-test-server: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mcp-test-server: cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), Box<dyn std::error::Error>> = runtime.block_on(async {
        let service = TestServer::new(exit_after).serve(rmcp::transport::stdio_pipes()).await?;
        service.waiting().await?;
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcp-test-server: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_args;

    #[track_caller]
    fn check(args: &[&str], expected: Result<Option<u64>, &str>) {
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        let parsed = parse_args(&args);
        match expected {
            Ok(exit_after) => assert_eq!(parsed, Ok(exit_after)),
            Err(start) => assert!(parsed.as_ref().is_err_and(|error| error.starts_with(start)), "{parsed:?}"),
        }
    }

    #[test]
    fn arguments() {
        check(&[], Ok(None));
        check(&["--exit-after", "2"], Ok(Some(2)));
        check(&["--exit-after", "two"], Err("--exit-after two: invalid digit"));
        check(&["--exit-after"], Err("unexpected arguments"));
        check(&["--verbose"], Err("unexpected arguments"));
    }
}
