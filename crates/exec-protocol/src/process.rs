//! `process/*` params, results and notifications, and the wire `envPolicy`.
//!
//! Field names and defaults match the Codex peer (`@openai/codex@0.123.0`): `env` and `tty` are
//! required, `pipeStdin` defaults to `false`, `arg0` may be absent or `null`, unknown fields are
//! ignored. Extension fields (marked so below) are optional on input and omitted on output when
//! absent, so a peer client never meets a field it does not know.
//!
//! These are plain data: no validation beyond what decoding does (an empty `argv`, for example,
//! decodes fine and is refused by the server), and no conversion to engine or `shell-env-policy`
//! types, which happens where the protocol is spoken.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bytes::ByteChunk;
use crate::ids::ProcessId;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stream {
    /// The child's stdout pipe (`tty: false`).
    Stdout,
    /// The child's stderr pipe (`tty: false`).
    Stderr,
    /// The PTY (`tty: true`): stdout and stderr are one stream.
    Pty,
}

impl Stream {
    /// The wire name: `stdout`, `stderr` or `pty`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Pty => "pty",
        }
    }
}

/// Params of `process/start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessStartParams {
    /// Client-chosen id, unique within the session.
    pub process_id: ProcessId,
    /// Program and arguments; must not be empty (the server answers -32602 otherwise).
    pub argv: Vec<String>,
    /// Working directory: an absolute path (our server also accepts a `file://` URI; the peer does
    /// not).
    pub cwd: String,
    /// How to build the base environment from the server's own. Absent: `env` is the child's whole
    /// environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_policy: Option<EnvPolicy>,
    /// Variables laid on top of the policy's result (or the whole environment without a policy).
    /// Required, may be empty.
    pub env: BTreeMap<String, String>,
    /// Run under a PTY.
    pub tty: bool,
    /// Without `tty`: `true` gives a writable stdin pipe, `false` (the default) a closed stdin.
    #[serde(default)]
    pub pipe_stdin: bool,
    /// Overrides the `argv[0]` the child sees; the program is still `argv[0]`. Always written (as
    /// `null` when unset) because the peer's clients do.
    #[serde(default)]
    pub arg0: Option<String>,
    /// Extension: initial TTY size. Ignored without `tty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<TerminalSize>,
    /// The sandbox intent the process must run under (0.171); `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<crate::sandbox::SandboxParams>,
    /// Extension (capability `startWait`): answer only once the command closed, or the time or
    /// byte budget ran out, with what it printed so far (`ProcessStartResponse::read`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<StartWait>,
}

/// The budgets of an inline wait on `process/start` (extension, capability `startWait`).
///
/// The server answers when the command has closed, `timeoutMs` have passed, or the output it
/// holds reached `maxBytes`, whichever comes first. Whatever comes after the answer streams as
/// notifications, as it does without a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartWait {
    /// The time budget in milliseconds (0: answer with what is there at once); at most
    /// [`MAX_START_WAIT_MS`].
    pub timeout_ms: u64,
    /// The byte budget for the answer's chunks (at least 1); absent: the server's cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// The longest inline wait a server grants on `process/start`: a request slot is held meanwhile.
pub const MAX_START_WAIT_MS: u64 = 300_000;

/// A TTY window size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalSize {
    /// Lines.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// The wire shape of an environment policy (SPEC §7).
///
/// The peer requires every field; we default the lists, the map and `ignoreDefaultExcludes` when
/// absent (more lenient, never stricter) and always write every field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvPolicy {
    /// Which of the server's variables to start from.
    pub inherit: EnvInherit,
    /// Skip the default `*KEY*`, `*SECRET*`, `*TOKEN*` excludes.
    #[serde(default)]
    pub ignore_default_excludes: bool,
    /// Glob patterns of names to drop.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Variables to insert after the excludes.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// When non-empty, keep only names matching one of these globs.
    #[serde(default)]
    pub include_only: Vec<String>,
}

/// Which of the server's own variables an [`EnvPolicy`] starts from. Lowercase on the wire;
/// `Core` is rejected with ``unknown variant `Core`, expected one of `all`, `core`, `none` ``.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EnvInherit {
    /// Every variable.
    All,
    /// PATH, SHELL, TMPDIR, TEMP, TMP, HOME, LANG, LC_ALL, LC_CTYPE, LOGNAME, USER.
    Core,
    /// Nothing.
    None,
}

/// Result of `process/start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessStartResponse {
    /// The id from the params.
    pub process_id: ProcessId,
    /// Which sandbox confines the process (0.171): `none` or `linuxSeccomp`. Always sent by our
    /// server; absent from the April peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_type: Option<crate::sandbox::SandboxType>,
    /// Extension: present exactly when the params carried `wait`. The process's output, exit and
    /// close up to `nextSeq`, shaped as a `process/read {afterSeq: 0}` answer that returned every
    /// event below `nextSeq`: a seq below `nextSeq` that is not one of the chunks is the exit
    /// (`exited`) or the close (`closed`, always `nextSeq - 1`). Notifications of the process
    /// start at `nextSeq` and come after this answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<ProcessReadResponse>,
}

/// Params of `process/read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessReadParams {
    /// The process to read.
    pub process_id: ProcessId,
    /// Return chunks with a seq above this; absent means from the start.
    #[serde(default)]
    pub after_seq: Option<u64>,
    /// Byte budget for the returned chunks (the first chunk is returned whole regardless).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Long-poll up to this many milliseconds when nothing qualifies and the process still runs.
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

/// One retained output chunk in a `process/read` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputChunk {
    /// Position in the process's seq counter.
    pub seq: u64,
    /// Source stream.
    pub stream: Stream,
    /// The bytes.
    pub chunk: ByteChunk,
}

/// Result of `process/read`.
///
/// `exitCode` and `failure` are always written, as `null` when unset, because the peer does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessReadResponse {
    /// Chunks with seq above `afterSeq`, oldest first.
    pub chunks: Vec<OutputChunk>,
    /// Last returned seq + 1, or the next unassigned seq when nothing was returned.
    pub next_seq: u64,
    /// The process has exited.
    pub exited: bool,
    /// The exit code once exited (128+N after signal N on our server; the peer reports -1).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Exited and every output stream reached EOF.
    pub closed: bool,
    /// Why the process failed outside its own control, if it did.
    #[serde(default)]
    pub failure: Option<String>,
    /// Extension: the lowest seq still retained, set only when chunks after `afterSeq` were
    /// evicted, so a gap is never silent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_before: Option<u64>,
    /// Extension (capability `exitSignal`): the signal that killed the process, when one did
    /// (`exitCode` is then 128+N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Whether a sandboxed process probably failed because the sandbox refused it (0.171; a
    /// heuristic, `docs/sandbox.md`). Always sent by our server: `false` while running and for
    /// an unsandboxed process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_denied: Option<bool>,
}

/// Params of `process/write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessWriteParams {
    /// The process to write to.
    pub process_id: ProcessId,
    /// Bytes for stdin (may be empty, for example with `eof`).
    pub chunk: ByteChunk,
    /// Extension: close stdin after writing `chunk`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub eof: bool,
    /// Extension: idempotency key; a retried write with a seen id is acknowledged and not repeated.
    /// At most `ids::MAX_ID_BYTES`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::ids::write_id")]
    pub write_id: Option<String>,
}

/// Result of `process/write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessWriteResponse {
    /// What happened to the chunk.
    pub status: WriteStatus,
}

/// Outcome of a `process/write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WriteStatus {
    /// Queued for the child's stdin.
    Accepted,
    /// No such process in the session (not an error response, unlike `process/read`).
    UnknownProcess,
    /// The process has no writable stdin, or it was already closed.
    StdinClosed,
    /// The process is still being spawned; retry.
    Starting,
}

/// Params of `process/terminate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessTerminateParams {
    /// The process to end.
    pub process_id: ProcessId,
    /// Extension: send SIGTERM and wait this long before SIGKILL. Absent: SIGKILL at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_ms: Option<u64>,
}

/// Result of `process/terminate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessTerminateResponse {
    /// Whether the process was still running. An unknown id answers `false`, not an error.
    pub running: bool,
}

/// Extension: params of `process/signal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessSignalParams {
    /// The process whose group receives the signal.
    pub process_id: ProcessId,
    /// Which signal.
    pub signal: Signal,
}

/// A signal that `process/signal` can send, by portable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Signal {
    /// SIGINT.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGKILL.
    Kill,
    /// SIGHUP.
    Hangup,
    /// SIGQUIT.
    Quit,
    /// SIGUSR1.
    User1,
    /// SIGUSR2.
    User2,
}

impl Signal {
    /// Every signal, in documentation order.
    pub const ALL: [Signal; 7] = [
        Signal::Interrupt,
        Signal::Terminate,
        Signal::Kill,
        Signal::Hangup,
        Signal::Quit,
        Signal::User1,
        Signal::User2,
    ];

    /// The wire name, for example `interrupt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Interrupt => "interrupt",
            Signal::Terminate => "terminate",
            Signal::Kill => "kill",
            Signal::Hangup => "hangup",
            Signal::Quit => "quit",
            Signal::User1 => "user1",
            Signal::User2 => "user2",
        }
    }
}

/// Extension: result of `process/signal` (an empty object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProcessSignalResponse {}

/// Extension: params of `process/resize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessResizeParams {
    /// A process started with `tty: true`.
    pub process_id: ProcessId,
    /// Lines.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// Extension: result of `process/resize` (an empty object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProcessResizeResponse {}

/// Extension: params of `process/list`: none. Decodes from `{}`, `null` or absent params alike;
/// anything else (an object with members, an array, a number) is refused with -32602, so a
/// client that thinks it is filtering learns that it is not. The Codex peer has no
/// `process/list` (it answers -32601), so no peer client depends on a looser rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ProcessListParams {}

impl<'de> Deserialize<'de> for ProcessListParams {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let params =
            Option::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>::deserialize(deserializer)?;
        if params.is_some_and(|members| !members.is_empty()) {
            return Err(serde::de::Error::custom(crate::messages::LIST_TAKES_NO_PARAMS));
        }
        Ok(ProcessListParams {})
    }
}

/// Extension: result of `process/list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessListResponse {
    /// Every process of the session still known to the server, in start order.
    pub processes: Vec<ProcessInfo>,
}

/// One entry of `process/list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessInfo {
    /// The client-chosen id.
    pub process_id: ProcessId,
    /// As given to `process/start`.
    pub argv: Vec<String>,
    /// The OS process id (the process group leader).
    pub pid: u32,
    /// Whether it runs under a PTY.
    pub tty: bool,
    /// Whether it has not exited yet.
    pub running: bool,
    /// The exit code once exited; written as `null` while running.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The next unassigned seq.
    pub next_seq: u64,
    /// Extension (capability `exitSignal`): the signal that killed the process, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Extension: when the process was spawned, in milliseconds since the Unix epoch (the
    /// executor's clock), so a client can show its age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
}

/// Notification `process/output`: one chunk of output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessOutputNotification {
    /// Which process.
    pub process_id: ProcessId,
    /// Position in the process's seq counter (shared with exited and closed).
    pub seq: u64,
    /// Source stream.
    pub stream: Stream,
    /// The bytes.
    pub chunk: ByteChunk,
}

/// Notification `process/exited`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessExitedNotification {
    /// Which process.
    pub process_id: ProcessId,
    /// Position in the process's seq counter.
    pub seq: u64,
    /// The exit status; 128+N when signal N ended it on our server (the peer reports -1).
    pub exit_code: i32,
    /// Extension: the number of the signal that ended the process, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// As [`ProcessReadResponse::sandbox_denied`] (0.171).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_denied: Option<bool>,
}

/// Notification `process/closed`: exited, and every output stream reached EOF. The last
/// notification of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessClosedNotification {
    /// Which process.
    pub process_id: ProcessId,
    /// Position in the process's seq counter.
    pub seq: u64,
}

fn is_false(value: &bool) -> bool {
    !*value
}
