//! Test harness for exec-server: start a server under test and talk raw JSON-RPC to it.
//!
//! This crate is a dev-dependency only. It sits beside the product crates, not on top of them: it
//! speaks the wire protocol as plain [`serde_json::Value`]s instead of the project's typed
//! protocol structs, so a conformance test cannot share a decoding bug with the server it checks,
//! and the same test runs unchanged against the Codex peer.
//!
//! - [`ServerProcess`] spawns a server (ours, or the Codex peer), reads the `ws://IP:PORT` URL it
//!   prints as its first stdout line, forwards and captures its stderr, and kills it on drop.
//! - [`Target`] names which server a test runs against; [`Target::peer_from_env`] reads
//!   [`PEER_ENV`] (`EXEC_PEER_CODEX`, the path of a `codex` binary).
//! - [`RawClient`] is a JSON-RPC-over-WebSocket client with auto-incrementing ids. It buffers
//!   notifications while it waits for a response, and has helpers for the handshake, for
//!   collecting one process's events until `process/closed` (reordered by `seq`), and for
//!   draining a process through `process/read` long polls.
//! - [`encode_base64`] / [`decode_base64`] convert chunks (standard alphabet, padded).
//! - [`workspace_binary`] finds (and if needed builds) another workspace package's binary, such
//!   as the `mcp-test-server` that exec-mcp's tests launch.
//!
//! ```no_run
//! # async fn example() {
//! use test_support::{RawClient, Target, start_params};
//!
//! let server = Target::ours("target/debug/exec-server").spawn().await;
//! let mut client = RawClient::connect(server.url()).await;
//! client.initialize("example").await;
//! client.request("process/start", start_params("p1", &["echo", "hi"])).await.unwrap();
//! let run = client.collect_until_closed("p1").await;
//! assert_eq!(run.output(), b"hi\n");
//! assert_eq!(run.exit_code(), Some(0));
//! # }
//! ```
//!
//! ```
//! use test_support::{decode_base64, encode_base64};
//!
//! assert_eq!(encode_base64(b"hello"), "aGVsbG8=");
//! assert_eq!(decode_base64("aGVsbG8="), b"hello");
//! ```
//!
//! Invariants: every wait has a deadline ([`DEFAULT_DEADLINE`] unless a caller picks another) and
//! ends in a panic naming what was awaited; nothing sleeps for a fixed time. Never offer
//! WebSocket compression: the peer drops such handshakes.
//!
//! Non-goals: this is not a client library (that is `exec-transport`'s `ExecClient`); it checks
//! little by itself and leaves the assertions to the tests.

mod binary;
mod client;
mod server;

use std::time::Duration;

use base64::Engine as _;

pub use binary::workspace_binary;
pub use client::{
    Chunk, ErrorObject, FrameCounts, Notification, ProcessRun, RawClient, ReadResult, start_params,
};
pub use nix::sys::signal::Signal;
pub use server::{PEER_ENV, ServerProcess, Target, TempDir, authority, http_status, raw_http, status_of};

/// How long a helper waits for a server event before it gives up and panics.
///
/// Generous on purpose: CI runs many test binaries at once on two cores, and a deadline only
/// bounds a hang; a passing test never waits for it.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// Encodes bytes the way the wire carries them: standard base64 with padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a wire chunk; panics with the offending text if it is not standard padded base64.
#[track_caller]
pub fn decode_base64(text: &str) -> Vec<u8> {
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(bytes) => bytes,
        Err(error) => panic!("chunk {text:?} is not standard base64: {error}"),
    }
}

/// A folder to make scratch directories in that a `workspace-write` sandbox does not make
/// writable: not under `/tmp` and not under `$TMPDIR` (both writable under that intent), so a
/// write there from a sandboxed command must be refused. `preferred` (a test's
/// `CARGO_TARGET_TMPDIR`) when it qualifies, else `/var/tmp`; a checkout under `/tmp` puts the
/// target directory there, which is why the choice is made here and not by each test.
pub fn outside_temp_dirs(preferred: &std::path::Path) -> std::path::PathBuf {
    let temporary: Vec<std::path::PathBuf> =
        [Some(std::path::PathBuf::from("/tmp")), std::env::var_os("TMPDIR").map(Into::into)]
            .into_iter()
            .flatten()
            .filter_map(|dir| std::fs::canonicalize(dir).ok())
            .collect();
    let qualifies = |dir: &std::path::Path| {
        std::fs::create_dir_all(dir).is_ok()
            && std::fs::canonicalize(dir).is_ok_and(|dir| !temporary.iter().any(|temp| dir.starts_with(temp)))
    };
    [preferred.to_path_buf(), std::path::PathBuf::from("/var/tmp/exec-server-tests")]
        .into_iter()
        .find(|dir| qualifies(dir))
        .unwrap_or_else(|| {
            panic!("no scratch folder outside /tmp and $TMPDIR ({} is inside)", preferred.display())
        })
}
