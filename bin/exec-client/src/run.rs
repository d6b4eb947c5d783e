//! `exec-client run`: start a command remotely and behave like it ran here: output to the local
//! stdout/stderr byte for byte, local stdin forwarded (its EOF included), local signals forwarded,
//! an optional TTY, and the remote exit code as ours.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, ValueEnum};
use exec_engine::{Event, ExitStatus, Signal, StreamKind, WriteOptions, WriteStatus};
use exec_protocol::capability;
use exec_transport::client::{EnvInherit, EnvPolicy, Network, ProcessSandbox};
use exec_transport::{ClientError, ExecClient, ProcessHandle, ProcessSpec};
use tokio::io::AsyncReadExt as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::session_file::{Checkpoint, SessionFile};
use crate::terminal::{self, RawMode};
use crate::{Failure, ServerArgs, exit};

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Give the command a pseudo-terminal of the local window size; the local terminal goes into
    /// raw mode until the command ends.
    #[arg(short = 't', long)]
    tty: bool,
    /// Give the command no stdin at all (it reads EOF at once), whatever the local stdin is; as
    /// ssh's `-n`. Implied when the local stdin is `/dev/null`, an empty file, or closed.
    #[arg(short = 'n', long = "no-stdin")]
    no_stdin: bool,
    /// Working directory on the server (absolute).
    #[arg(long, default_value = "/")]
    cwd: String,
    /// Set a variable in the remote environment (repeatable).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Which of the server's own variables the command starts from: `core` (PATH, HOME, USER,
    /// LANG, ...), `all` (minus names matching *KEY*, *SECRET*, *TOKEN*), or `none`.
    #[arg(long, value_enum, default_value_t = PolicyArg::Core)]
    env_policy: PolicyArg,
    /// Record the session (URL, session id, process id, last seq) in this file for `attach`,
    /// `ps` and `kill`. Each run starts a session of its own (resuming one would take it over
    /// from a client still attached to it); the file is overwritten.
    #[arg(long, value_name = "FILE")]
    session_file: Option<PathBuf>,
    /// The process id to use (default: a random one).
    #[arg(long)]
    id: Option<String>,
    /// Stop the command after this long (`90s`, `500ms`, `2m`, `1h`, or seconds) and exit 124,
    /// as timeout(1) does: SIGTERM to its process group, SIGKILL after 5 s more.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Confine the command with the executor's kernel sandbox: `read-only` (it may write
    /// nothing) or `workspace-write` (it may write --cwd, each --writable DIR, /tmp and the
    /// server's TMPDIR; `.git`, `.agents` and `.codex` inside them stay read-only). Everything
    /// stays readable; network sockets are off unless --network. A server that cannot enforce it
    /// refuses (exit 252): the command never runs unconfined.
    #[arg(long, value_enum, value_name = "MODE")]
    sandbox: Option<SandboxArg>,
    /// With --sandbox workspace-write: one more writable directory on the executor (absolute;
    /// repeatable).
    #[arg(long, value_name = "DIR")]
    writable: Vec<String>,
    /// With --sandbox: leave network sockets on.
    #[arg(long)]
    network: bool,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
    command: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SandboxArg {
    ReadOnly,
    WorkspaceWrite,
}

/// The sandbox the flags ask for; a usage error for flags that make no sense together.
fn sandbox_of(args: &RunArgs) -> Result<Option<ProcessSandbox>, Failure> {
    if let Some(relative) = args.writable.iter().find(|dir| !dir.starts_with('/')) {
        return Err(Failure::usage(format!("--writable {relative}: the directory must be absolute")));
    }
    let sandbox = match args.sandbox {
        None if args.network || !args.writable.is_empty() => {
            return Err(Failure::usage("--writable and --network need --sandbox"));
        }
        None => return Ok(None),
        Some(SandboxArg::ReadOnly) if !args.writable.is_empty() => {
            return Err(Failure::usage("--writable needs --sandbox workspace-write"));
        }
        Some(SandboxArg::ReadOnly) => ProcessSandbox::read_only(),
        Some(SandboxArg::WorkspaceWrite) => ProcessSandbox::workspace_write(args.writable.iter().cloned()),
    };
    Ok(Some(if args.network { sandbox.with_network(Network::Enabled) } else { sandbox }))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PolicyArg {
    Core,
    All,
    None,
}

/// Exit code of a command stopped by `--timeout` (as timeout(1)).
pub(crate) const TIMED_OUT: u8 = 124;

/// How long a command stopped by `--timeout` has between SIGTERM and SIGKILL.
const TIMEOUT_GRACE: Duration = Duration::from_secs(5);

/// Parses `250ms`, `30s`, `2m`, `1h`, or a bare (possibly fractional) number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split =
        text.find(|character: char| !character.is_ascii_digit() && character != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("`{text}` is not a duration like 30s, 500ms, 2m or 1h");
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86400.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// `exec-client shell`: an interactive login shell on the executor, on a PTY.
#[derive(Args, Debug)]
pub(crate) struct ShellArgs {
    /// Set a variable in the remote environment (repeatable).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    env: Vec<(String, String)>,
}

/// Starts the executor user's login shell (`$SHELL -l`, else `/bin/sh -l`) in their home
/// directory, on a PTY of the local window size, as `ssh HOST` does.
pub(crate) async fn shell(server: &ServerArgs, args: ShellArgs) -> Result<u8, Failure> {
    let script = r#"cd "$HOME" 2>/dev/null; exec "${SHELL:-/bin/sh}" -l"#;
    let run_args = RunArgs {
        tty: true,
        no_stdin: false,
        cwd: "/".to_owned(),
        env: args.env,
        env_policy: PolicyArg::Core,
        session_file: None,
        id: None,
        timeout: None,
        sandbox: None,
        writable: Vec::new(),
        network: false,
        command: vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()],
    };
    run(server, run_args).await
}

/// How long `run` lets the server hold `process/start` for a command without stdin: long enough
/// for a short command to finish, short enough that a long one's first output (and a forwarded
/// Ctrl-C) is not held back noticeably.
const RUN_INLINE_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The output an inline answer of `run` may carry; past it the output streams at once.
const RUN_INLINE_BYTES: u64 = 256 * 1024;

pub(crate) fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

pub(crate) async fn run(server: &ServerArgs, args: RunArgs) -> Result<u8, Failure> {
    let sandbox = sandbox_of(&args)?;
    let url = server.target()?;
    let client = server.connect(&url, None).await?;

    let signals = LocalSignals::install()?;
    let stdin_is_terminal = terminal::stdin_is_terminal();
    let stdin_has_data = !args.no_stdin && terminal::stdin_can_carry_data();
    let inherit = match args.env_policy {
        PolicyArg::Core => EnvInherit::Core,
        PolicyArg::All => EnvInherit::All,
        PolicyArg::None => EnvInherit::None,
    };
    let policy = EnvPolicy {
        inherit,
        ignore_default_excludes: false,
        exclude: Vec::new(),
        set: Default::default(),
        include_only: Vec::new(),
    };
    let mut spec = ProcessSpec::new(args.command.iter().cloned(), args.cwd.clone()).env_policy(Some(policy));
    spec.env = args.env.into_iter().collect();
    spec.sandbox = sandbox;
    if args.tty {
        let size = terminal::window_size().filter(|_| client.has_capability(capability::SIZE));
        spec = spec.tty(size);
    } else if stdin_has_data {
        spec = spec.pipe_stdin();
    }
    // A stdin pipe only when local stdin can carry something (a pipe, a non-empty file, a
    // terminal): a pipe the server cannot close (no `eof` extension) would make a command that
    // reads its stdin wait forever. Without one, the command's stdin is empty.
    // With -t the PTY is the command's stdin whatever we do; local stdin (its end included)
    // goes to it unless -n.
    let forward_stdin = if args.tty { !args.no_stdin } else { stdin_has_data };
    if !forward_stdin {
        // Nothing to send meanwhile: a short command is answered inside `process/start`, one
        // round trip in all (servers with `startWait`; the others ignore it).
        spec = spec.inline_wait(RUN_INLINE_WAIT, Some(RUN_INLINE_BYTES));
    }

    let id = args.id.unwrap_or_else(|| format!("run-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    let mut handle =
        client.start(id.as_str(), spec).await.map_err(|error| start_failure(error, &args.command[0]))?;
    let record = SessionFile {
        url: url.clone(),
        session_id: client.session_id().to_owned(),
        process_id: Some(id.clone()),
        last_seq: 0,
    };
    let mut checkpoint = match args.session_file {
        Some(path) => Some(Checkpoint::new(path, record)?),
        None => None,
    };

    let raw_mode = if args.tty && stdin_is_terminal {
        Some(
            RawMode::enable()
                .map_err(|error| Failure::usage(format!("cannot set the terminal to raw mode: {error}")))?,
        )
    } else {
        None
    };
    let stdin_task = forward_stdin.then(|| tokio::spawn(forward_input(client.clone(), id.clone())));
    let signal_task = tokio::spawn(forward_signals(client.clone(), id.clone(), args.tty, signals));

    let mut timed_out = false;
    let outcome = {
        let followed = follow(&mut handle, GapPolicy::Warn, checkpoint.as_mut());
        tokio::pin!(followed);
        match args.timeout {
            None => followed.await,
            Some(limit) => tokio::select! {
                outcome = &mut followed => outcome,
                () = tokio::time::sleep(limit) => {
                    timed_out = true;
                    stop_for_timeout(&client, &id).await;
                    // The output the command writes while it stops still comes out.
                    followed.await
                }
            },
        }
    };

    signal_task.abort();
    if let Some(task) = stdin_task {
        task.abort();
    }
    drop(raw_mode);
    if let Some(checkpoint) = &mut checkpoint {
        checkpoint.finish(handle.last_seq())?;
    }
    if handle.sandbox_denied() == Some(true) {
        eprintln!("exec-client: {SANDBOX_DENIED_NOTE}");
    }
    if timed_out {
        return outcome.map(|_| TIMED_OUT);
    }
    outcome.map(exit_code)
}

/// The line printed after a sandboxed command the server judged refused by the sandbox
/// (`sandboxDenied`, a heuristic: docs/sandbox.md).
pub(crate) const SANDBOX_DENIED_NOTE: &str =
    "the command failed, probably because the sandbox refused it (the server's sandboxDenied)";

/// SIGTERM to the process group, SIGKILL after the grace (a server without `graceMs`, like the
/// Codex peer, can only kill at once).
async fn stop_for_timeout(client: &ExecClient, id: &str) {
    let grace = client.has_capability(capability::GRACE_MS).then_some(TIMEOUT_GRACE);
    if let Err(error) = client.terminate(id, grace).await {
        // It may have ended on its own at that very moment; the follow loop sees how it ended.
        eprintln!("exec-client: cannot stop the command after its timeout: {error}");
    }
}

/// Spawn failures read like a shell's: 127 when the command is not found, 126 when it cannot
/// be executed. The kind comes from the error's `data.kind` ([`ClientError::spawn_failure`]);
/// the April peer sends none, and then its `(os error N)` decides, as its text is the bare OS
/// error. A missing `cwd` is told apart only where the server says so in `data.cwd` (ours);
/// from the April peer it reads as a missing command, as it did before kinds existed.
pub(crate) fn start_failure(error: ClientError, program: &str) -> Failure {
    if let ClientError::Remote { message, data, .. } = &error
        && let Some(cwd) = data.get("cwd").and_then(serde_json::Value::as_str)
    {
        return Failure {
            code: exit::SERVER,
            message: format!("cannot use {cwd} as the working directory: {message}"),
        };
    }
    match (error.spawn_failure(), &error) {
        (Some(std::io::ErrorKind::NotFound), ClientError::Remote { message, .. }) => {
            Failure { code: exit::NOT_FOUND, message: format!("{program}: command not found ({message})") }
        }
        (Some(std::io::ErrorKind::PermissionDenied), ClientError::Remote { message, .. }) => {
            Failure { code: exit::CANNOT_EXECUTE, message: format!("{program}: {message}") }
        }
        _ => Failure::from_client(error),
    }
}

/// The local exit code for a remote exit status.
pub(crate) fn exit_code(status: ExitStatus) -> u8 {
    match status {
        ExitStatus::Code(code) => u8::try_from(code).unwrap_or(255),
        ExitStatus::Signal(signal) => u8::try_from(128 + signal).unwrap_or(255),
    }
}

/// What to do when output was lost from the server's retention.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum GapPolicy {
    /// Say so on stderr and go on (a person reading a log).
    Warn,
    /// Stop with an error (a protocol stream, where a hole corrupts everything after it).
    Fatal,
}

/// Copies a process's output to the local stdout/stderr until it closes; returns how it ended.
///
/// The bytes are written by a thread of their own ([`LocalOutput`]), so receiving the next chunk
/// overlaps writing this one, a chunk is written without a copy, and stdout is flushed only when
/// nothing more is queued. Everything received is written before this returns.
pub(crate) async fn follow(
    handle: &mut ProcessHandle,
    gaps: GapPolicy,
    checkpoint: Option<&mut Checkpoint>,
) -> Result<ExitStatus, Failure> {
    let output = LocalOutput::start(handle.last_seq()).map_err(|error| Failure {
        code: exit::DISCONNECTED,
        message: format!("cannot start the output writer: {error}"),
    })?;
    let followed = follow_into(handle, gaps, checkpoint, &output).await;
    let written = output.finish().await;
    match (followed, written) {
        (Some(outcome), Ok(())) => outcome,
        // Our reader went away (`exec-client run -- yes | head`): stop the command and end as a
        // local pipeline would, by SIGPIPE.
        _ => {
            let _ = handle.terminate(None).await;
            Ok(ExitStatus::Signal(13))
        }
    }
}

/// The event loop of [`follow`]; `None` when the local output failed.
async fn follow_into(
    handle: &mut ProcessHandle,
    gaps: GapPolicy,
    mut checkpoint: Option<&mut Checkpoint>,
    output: &LocalOutput,
) -> Option<Result<ExitStatus, Failure>> {
    let mut status = None;
    while let Some(event) = handle.next_event().await {
        match event {
            Event::Output(chunk) => {
                let to = match chunk.stream {
                    StreamKind::Stderr => LocalStream::Stderr,
                    StreamKind::Stdout | StreamKind::Pty => LocalStream::Stdout,
                };
                if !output.write(to, chunk.data, chunk.seq.get()).await {
                    return None;
                }
                if let Some(checkpoint) = checkpoint.as_deref_mut() {
                    // What has reached the local output, not what was received.
                    checkpoint.seen(output.written_seq());
                }
            }
            Event::Exited { status: exit, .. } => status = Some(exit),
            Event::Closed { .. } => break,
            Event::Gap { dropped_before } => {
                let message = format!(
                    "output before seq {dropped_before} was lost (evicted from the server's retention)"
                );
                if gaps == GapPolicy::Fatal {
                    let _ = handle.terminate(None).await;
                    return Some(Err(Failure { code: exit::DISCONNECTED, message }));
                }
                // Through the writer, so the note lands after the output received before it.
                let note = Bytes::from(format!("exec-client: {message}\n"));
                if !output.write(LocalStream::Stderr, note, 0).await {
                    return None;
                }
            }
            Event::Failed { reason, .. } => {
                return Some(Err(Failure {
                    code: exit::DISCONNECTED,
                    message: format!("disconnected: {reason}"),
                }));
            }
        }
    }
    Some(match status {
        Some(status) => Ok(status),
        None => handle.wait().await.map_err(Failure::from_client),
    })
}

/// How many received chunks may wait for the local stdout/stderr: with chunks of up to 64 KiB,
/// at most 1 MiB, enough that the network side never waits on one slow write, and small enough
/// that a reader that stops reading (a pager) stops us, and through us the server, soon.
const OUTPUT_QUEUE_CHUNKS: usize = 16;

#[derive(Clone, Copy, Debug)]
enum LocalStream {
    Stdout,
    Stderr,
}

/// The writer of the local stdout and stderr: a thread that writes queued chunks in order with
/// blocking writes (`tokio::io::stdout` copies each write and hands it to the blocking pool, and a
/// flush per chunk then serialised receiving and writing).
///
/// `queue` is the only sender: dropping it (in [`LocalOutput::finish`], or with a cancelled
/// [`follow`]) lets the thread write what is queued and end. `done` carries the thread's outcome.
struct LocalOutput {
    queue: tokio::sync::mpsc::Sender<(LocalStream, Bytes, u64)>,
    /// The seq of the last chunk written (what was delivered before [`follow`] began, until one
    /// is), for the session file's checkpoint.
    written_seq: std::sync::Arc<std::sync::atomic::AtomicU64>,
    done: tokio::sync::oneshot::Receiver<std::io::Result<()>>,
}

impl LocalOutput {
    /// Starts the writer; `written_seq` reads `delivered` until a chunk after it is written.
    fn start(delivered: u64) -> std::io::Result<LocalOutput> {
        let (queue, mut receiver) =
            tokio::sync::mpsc::channel::<(LocalStream, Bytes, u64)>(OUTPUT_QUEUE_CHUNKS);
        let written_seq = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(delivered));
        let (finished, done) = tokio::sync::oneshot::channel();
        let progress = std::sync::Arc::clone(&written_seq);
        std::thread::Builder::new().name("exec-client-output".to_owned()).spawn(move || {
            use std::io::Write as _;
            let outcome = (|| {
                let mut stdout_dirty = false;
                while let Some((stream, data, seq)) = receiver.blocking_recv() {
                    match stream {
                        // Stdout is line-buffered by std, but a write as large as a chunk goes
                        // straight through; only a trailing partial line waits for the flush.
                        LocalStream::Stdout => {
                            std::io::stdout().write_all(&data)?;
                            stdout_dirty = true;
                        }
                        LocalStream::Stderr => {
                            if stdout_dirty {
                                // Keep the two streams in the order the process wrote them.
                                std::io::stdout().flush()?;
                                stdout_dirty = false;
                            }
                            std::io::stderr().write_all(&data)?;
                        }
                    }
                    if seq > 0 {
                        progress.store(seq, std::sync::atomic::Ordering::Relaxed);
                    }
                    if stdout_dirty && receiver.is_empty() {
                        std::io::stdout().flush()?;
                        stdout_dirty = false;
                    }
                }
                std::io::stdout().flush()
            })();
            // The receiver is gone only if `follow` was cancelled; nobody needs the outcome then.
            let _ = finished.send(outcome);
        })?;
        Ok(LocalOutput { queue, written_seq, done })
    }

    /// Queues a chunk; false once the writer has failed (the local reader is gone).
    async fn write(&self, stream: LocalStream, data: Bytes, seq: u64) -> bool {
        self.queue.send((stream, data, seq)).await.is_ok()
    }

    fn written_seq(&self) -> u64 {
        self.written_seq.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until everything queued is written; the first write error, if any.
    async fn finish(self) -> std::io::Result<()> {
        drop(self.queue);
        self.done.await.unwrap_or_else(|_| Err(std::io::Error::other("the output writer panicked")))
    }
}

/// Forwards local stdin to the process until EOF, then closes the remote stdin.
pub(crate) async fn forward_input(client: ExecClient, id: String) {
    let mut stdin = tokio::io::stdin();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match stdin.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        match client.write(&id, Bytes::copy_from_slice(&buffer[..read]), WriteOptions::default()).await {
            Ok(WriteStatus::Accepted) => {}
            // The server refused the input (not a lost connection, which `run` reports itself):
            // the command will not get it, so say why rather than leave it waiting silently.
            Err(error @ ClientError::Remote { .. }) => {
                eprintln!("exec-client: stdin could not be forwarded: {error}");
                return;
            }
            // The command closed its stdin or is gone: nothing more to forward.
            Ok(_) | Err(_) => return,
        }
    }
    if client.has_capability(capability::EOF) {
        let _ = client.write(&id, Bytes::new(), WriteOptions { eof: true, write_id: None }).await;
    } else {
        // The Codex peer cannot close a child's stdin: say so rather than hang without a word.
        eprintln!("exec-client: {NO_EOF_WARNING}");
    }
}

/// The one line printed when local stdin ends but the server has no `eof` extension (the April
/// Codex server): the remote stdin stays open, so a command that reads to the end of its input
/// keeps waiting until it is interrupted.
pub(crate) const NO_EOF_WARNING: &str = "stdin ended, but the server cannot close the command's stdin \
     (no `eof` extension): a command that reads to the end of its input will wait; use -n or \
     </dev/null for a command that needs no input";

/// The local signals `run` forwards. Installed before the process starts, so a Ctrl-C at any
/// moment reaches the remote process instead of killing the client.
pub(crate) struct LocalSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    window: tokio::signal::unix::Signal,
}

impl LocalSignals {
    pub(crate) fn install() -> Result<LocalSignals, Failure> {
        let install = |kind: SignalKind| {
            signal(kind).map_err(|error| Failure::usage(format!("cannot handle signals: {error}")))
        };
        Ok(LocalSignals {
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
            hangup: install(SignalKind::hangup())?,
            window: install(SignalKind::window_change())?,
        })
    }
}

/// Forwards Ctrl-C (SIGINT), SIGTERM and SIGHUP to the process group, and window changes to the
/// PTY, until aborted.
async fn forward_signals(client: ExecClient, id: String, tty: bool, signals: LocalSignals) {
    let LocalSignals { mut interrupt, mut terminate, mut hangup, mut window } = signals;
    loop {
        let forwarded = tokio::select! {
            _ = interrupt.recv() => Signal::Interrupt,
            _ = terminate.recv() => Signal::Terminate,
            _ = hangup.recv() => Signal::Hangup,
            _ = window.recv(), if tty => {
                if let Some(size) = terminal::window_size()
                    && client.has_capability(capability::PROCESS_RESIZE)
                {
                    let _ = client.resize(&id, size).await;
                }
                continue;
            }
        };
        if client.can_signal(forwarded) {
            let _ = client.signal(&id, forwarded).await;
        } else {
            // A server without this named signal (the April Codex server has none, the 0.171
            // one only `interrupt`) can only kill.
            let _ = client.terminate(&id, None).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expect: Option<Duration>) {
        assert_eq!(parse_duration(text).ok(), expect, "{text}");
    }

    #[test]
    fn durations() {
        check("30", Some(Duration::from_secs(30)));
        check("1.5", Some(Duration::from_millis(1500)));
        check("250ms", Some(Duration::from_millis(250)));
        check("2m", Some(Duration::from_secs(120)));
        check("1h", Some(Duration::from_secs(3600)));
        check("1d", Some(Duration::from_secs(86400)));
        check("soon", None);
        check("5x", None);
        check("", None);
    }
}
