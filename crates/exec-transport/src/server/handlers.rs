//! What each method does: decodes params, calls the engine (or `fs`), encodes the result.
//!
//! Also the mapping of engine errors onto JSON-RPC errors with the pinned messages, and the
//! encoding of engine events as notifications (the `process/output` frame is written by hand by
//! `exec_protocol`'s fast encoder: it is the hot path).
//!
//! The concurrency rule and the handshake are not here: by the time [`dispatch`] runs, the
//! connection is initialized and the request is already on its own task.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use exec_engine::{
    Event, ExitStatus, ProcessError, ProcessId, PtySize, ReadRequest, Seq, SessionError, SessionHandle,
    SpawnSpec, StartError, StdinMode, Stdio, StreamKind, WriteOptions, WriteStatus,
};
use exec_protocol::fs as wire_fs;
use exec_protocol::initialize as wire_init;
use exec_protocol::jsonrpc::{ErrorObject, Request};
use exec_protocol::process as wire;
use exec_protocol::{capability, messages, method};
use serde::Serialize;
use serde_json::Value;

use super::Shared;
use super::connection::Context;
use super::fs::{self, FsError};

/// The window size of a PTY whose `process/start` gave none: the classic terminal.
const DEFAULT_PTY_SIZE: PtySize = PtySize { rows: 24, cols: 80 };

/// Every method this server answers besides `initialize`.
const METHODS: &[&str] = &[
    method::PROCESS_START,
    method::PROCESS_READ,
    method::PROCESS_WRITE,
    method::PROCESS_TERMINATE,
    method::PROCESS_SIGNAL,
    method::PROCESS_RESIZE,
    method::PROCESS_LIST,
    method::FS_READ_FILE,
    method::FS_WRITE_FILE,
    method::FS_CREATE_DIRECTORY,
    method::FS_GET_METADATA,
    method::FS_READ_DIRECTORY,
    method::FS_REMOVE,
    method::FS_COPY,
];

pub(crate) fn is_known_method(name: &str) -> bool {
    METHODS.contains(&name)
}

pub(crate) fn encode_result<T: Serialize>(value: &T) -> Result<Value, ErrorObject> {
    serde_json::to_value(value)
        .map_err(|error| ErrorObject::internal_error(format!("cannot encode the result: {error}")))
}

pub(crate) fn session_error(error: SessionError) -> ErrorObject {
    ErrorObject::invalid_request(error.to_string())
}

fn process_error(error: ProcessError) -> ErrorObject {
    match error {
        ProcessError::UnknownProcess(id) => {
            ErrorObject::invalid_request(messages::unknown_process(id.as_str()))
        }
        ProcessError::SessionTakenOver => ErrorObject::invalid_request(messages::SESSION_RESUMED_ELSEWHERE),
        other => ErrorObject::invalid_request(other.to_string()),
    }
}

fn start_error(error: StartError) -> ErrorObject {
    match error {
        StartError::EmptyArgv => ErrorObject::invalid_params(messages::ARGV_EMPTY),
        StartError::DuplicateId(id) => {
            ErrorObject::invalid_request(messages::process_already_exists(id.as_str()))
        }
        StartError::SessionTakenOver => ErrorObject::invalid_request(messages::SESSION_RESUMED_ELSEWHERE),
        // The peer words spawn failures as the bare OS error (`No such file or directory (os
        // error 2)`); the source error alone matches it. `data` (an extension) tells the two
        // causes apart, so a client can say "command not found" only when it is true.
        StartError::Spawn { program, source } => ErrorObject {
            data: Some(serde_json::json!({ "program": program })),
            ..ErrorObject::internal_error(source.to_string())
        },
        StartError::Cwd { cwd, source } => ErrorObject {
            data: Some(serde_json::json!({ "cwd": cwd.to_string_lossy() })),
            ..ErrorObject::internal_error(source.to_string())
        },
        other => ErrorObject::invalid_request(other.to_string()),
    }
}

fn fs_error(error: FsError) -> ErrorObject {
    match error {
        FsError::NotFound(message) => ErrorObject::not_found(message),
        FsError::Invalid(message) => ErrorObject::invalid_request(message),
        FsError::Other(message) => ErrorObject::internal_error(message),
    }
}

pub(crate) fn initialize_response(shared: &Shared, session: &SessionHandle) -> wire_init::InitializeResponse {
    wire_init::InitializeResponse {
        session_id: exec_protocol::SessionId::new(session.session_id().to_string()),
        server_info: Some(wire_init::ServerInfo {
            name: shared.config.server_name.clone(),
            version: shared.config.server_version.clone(),
        }),
        capabilities: capability::ALL.iter().map(|name| (*name).to_owned()).collect(),
    }
}

fn wire_stream(stream: StreamKind) -> wire::Stream {
    match stream {
        StreamKind::Stdout => wire::Stream::Stdout,
        StreamKind::Stderr => wire::Stream::Stderr,
        StreamKind::Pty => wire::Stream::Pty,
    }
}

/// Encodes one engine event as a notification frame; `None` for events with no wire form.
pub(crate) fn encode_event(buffer: &mut Vec<u8>, process_id: &ProcessId, event: &Event) -> Option<String> {
    let frame = match event {
        Event::Output(chunk) => {
            buffer.clear();
            exec_protocol::fast::write_output_notification(
                buffer,
                process_id.as_str(),
                chunk.seq.get(),
                wire_stream(chunk.stream),
                &chunk.data,
            );
            // The encoder writes only JSON text, so this never fails; checking keeps it safe.
            return String::from_utf8(std::mem::take(buffer)).ok();
        }
        Event::Exited { seq, status } => notification_text(
            method::PROCESS_EXITED,
            &wire::ProcessExitedNotification {
                process_id: exec_protocol::ProcessId::new(process_id.as_str()),
                seq: seq.get(),
                exit_code: status.wire_code(),
                signal: status.signal(),
            },
        ),
        Event::Closed { seq } => notification_text(
            method::PROCESS_CLOSED,
            &wire::ProcessClosedNotification {
                process_id: exec_protocol::ProcessId::new(process_id.as_str()),
                seq: seq.get(),
            },
        ),
        Event::Gap { .. } | Event::Failed { .. } => return None,
    };
    Some(frame)
}

fn notification_text<P: Serialize>(method_name: &str, params: &P) -> String {
    let mut frame = Vec::with_capacity(128);
    exec_protocol::jsonrpc::write_notification(&mut frame, method_name, params)
        .expect("notification params always serialize");
    String::from_utf8(frame).expect("serde_json writes UTF-8")
}

/// Runs one exec or fs method.
pub(crate) async fn dispatch(
    context: &Context,
    session: &Arc<SessionHandle>,
    request: &Request,
) -> Result<Value, ErrorObject> {
    match request.method.as_str() {
        method::PROCESS_START => encode_result(&start(context, session, request.decode_params()?).await?),
        method::PROCESS_READ => encode_result(&read(session, request.decode_params()?).await?),
        method::PROCESS_WRITE => encode_result(&write(session, request.decode_params()?).await?),
        method::PROCESS_TERMINATE => encode_result(&terminate(session, request.decode_params()?).await?),
        method::PROCESS_SIGNAL => encode_result(&signal(session, request.decode_params()?)?),
        method::PROCESS_RESIZE => encode_result(&resize(session, request.decode_params()?)?),
        method::PROCESS_LIST => encode_result(&list(session, request.decode_params()?)),
        method::FS_READ_FILE => {
            let params: wire_fs::FsReadFileParams = request.decode_params()?;
            let path = fs::absolute_path(&params.path).map_err(fs_error)?;
            let limit = fs::read_file_limit(context.shared.config.max_message_bytes);
            let data = blocking(move || fs::read_file(&path, limit)).await?;
            encode_result(&wire_fs::FsReadFileResponse { data_base64: exec_protocol::ByteChunk::new(data) })
        }
        method::FS_WRITE_FILE => {
            let params: wire_fs::FsWriteFileParams = request.decode_params()?;
            let path = fs::absolute_path(&params.path).map_err(fs_error)?;
            let data = params
                .decode_data()
                .map_err(|error| ErrorObject::invalid_request(messages::invalid_write_file_data(&error)))?
                .into_vec();
            blocking(move || fs::write_file(&path, &data)).await?;
            encode_result(&wire_fs::FsWriteFileResponse {})
        }
        method::FS_CREATE_DIRECTORY => {
            let params: wire_fs::FsCreateDirectoryParams = request.decode_params()?;
            let path = fs::absolute_path(&params.path).map_err(fs_error)?;
            let recursive = params.recursive.unwrap_or(true);
            blocking(move || fs::create_directory(&path, recursive)).await?;
            encode_result(&wire_fs::FsCreateDirectoryResponse {})
        }
        method::FS_GET_METADATA => {
            let params: wire_fs::FsGetMetadataParams = request.decode_params()?;
            let path = fs::absolute_path(&params.path).map_err(fs_error)?;
            let metadata = blocking(move || fs::get_metadata(&path)).await?;
            encode_result(&wire_fs::FsGetMetadataResponse {
                is_directory: metadata.is_directory,
                is_file: metadata.is_file,
                is_symlink: metadata.is_symlink,
                size: Some(metadata.size),
                created_at_ms: metadata.created_at_ms,
                modified_at_ms: metadata.modified_at_ms,
            })
        }
        method::FS_READ_DIRECTORY => {
            let params: wire_fs::FsReadDirectoryParams = request.decode_params()?;
            let path = fs::absolute_path(&params.path).map_err(fs_error)?;
            let entries = blocking(move || fs::read_directory(&path)).await?;
            encode_result(&wire_fs::FsReadDirectoryResponse {
                entries: entries
                    .into_iter()
                    .map(|entry| wire_fs::FsDirectoryEntry {
                        file_name: entry.file_name,
                        is_directory: entry.is_directory,
                        is_file: entry.is_file,
                    })
                    .collect(),
            })
        }
        method::FS_REMOVE => {
            let params: wire_fs::FsRemoveParams = request.decode_params()?;
            let path = fs::absolute_path(&params.path).map_err(fs_error)?;
            let (recursive, force) = (params.recursive.unwrap_or(true), params.force.unwrap_or(true));
            blocking(move || fs::remove(&path, recursive, force)).await?;
            encode_result(&wire_fs::FsRemoveResponse {})
        }
        method::FS_COPY => {
            let params: wire_fs::FsCopyParams = request.decode_params()?;
            let source = fs::absolute_path(&params.source_path).map_err(fs_error)?;
            let destination = fs::absolute_path(&params.destination_path).map_err(fs_error)?;
            let recursive = params.recursive;
            blocking(move || fs::copy(&source, &destination, recursive)).await?;
            encode_result(&wire_fs::FsCopyResponse {})
        }
        other => Err(ErrorObject::method_not_found(other)),
    }
}

/// Runs a blocking file operation on the blocking pool, answering with an error if it is still
/// running after `fs::OPERATION_TIMEOUT` (the thread cannot be stopped and finishes on its own).
async fn blocking<T: Send + 'static>(
    operation: impl FnOnce() -> Result<T, FsError> + Send + 'static,
) -> Result<T, ErrorObject> {
    match tokio::time::timeout(fs::OPERATION_TIMEOUT, tokio::task::spawn_blocking(operation)).await {
        Ok(Ok(result)) => result.map_err(fs_error),
        Ok(Err(join_error)) => {
            Err(ErrorObject::internal_error(format!("file operation failed: {join_error}")))
        }
        Err(_) => Err(ErrorObject::internal_error(messages::fs_operation_timed_out(
            fs::OPERATION_TIMEOUT.as_secs(),
        ))),
    }
}

async fn start(
    context: &Context,
    session: &Arc<SessionHandle>,
    params: wire::ProcessStartParams,
) -> Result<wire::ProcessStartResponse, ErrorObject> {
    if params.argv.is_empty() {
        return Err(ErrorObject::invalid_params(messages::ARGV_EMPTY));
    }
    let cwd = fs::absolute_path(&params.cwd)
        .map_err(|_| ErrorObject::invalid_params(format!("cwd must be an absolute path: {}", params.cwd)))?;
    let env = child_environment(&context.shared, params.env, params.env_policy).await?;
    let stdio = if params.tty {
        let size = params.size.map_or(DEFAULT_PTY_SIZE, |size| PtySize { rows: size.rows, cols: size.cols });
        Stdio::Pty { size }
    } else if params.pipe_stdin {
        Stdio::Pipes { stdin: StdinMode::Pipe }
    } else {
        Stdio::Pipes { stdin: StdinMode::Closed }
    };
    let spec = SpawnSpec { argv: params.argv, cwd, env, arg0: params.arg0, stdio, sandbox: None };
    let process_id = ProcessId::new(params.process_id.into_string());
    let subscription = session.start(process_id.clone(), spec).await.map_err(start_error)?;
    context.spawn_pump(Arc::clone(session), process_id.clone(), subscription);
    Ok(wire::ProcessStartResponse { process_id: exec_protocol::ProcessId::new(process_id.as_str()) })
}

/// Above this many bytes of patterns and `set` names, a policy is evaluated on the blocking pool
/// rather than on the runtime worker: matching costs about (patterns) x (name bytes), and a
/// large policy must not stall every other connection. Below it, evaluation takes microseconds
/// and the hop would only slow `process/start` down.
const INLINE_POLICY_BYTES: usize = 16 * 1024;

/// Without `envPolicy`, `env` is the exact environment. With it, the policy (within
/// `shell_env_policy`'s pattern limits, else -32602) runs over the server's own environment and
/// `env` is laid on top.
async fn child_environment(
    shared: &Arc<Shared>,
    env: BTreeMap<String, String>,
    policy: Option<wire::EnvPolicy>,
) -> Result<BTreeMap<String, String>, ErrorObject> {
    let Some(policy) = policy else { return Ok(env) };
    let policy = shell_env_policy::EnvPolicy {
        inherit: match policy.inherit {
            wire::EnvInherit::All => shell_env_policy::Inherit::All,
            wire::EnvInherit::Core => shell_env_policy::Inherit::Core,
            wire::EnvInherit::None => shell_env_policy::Inherit::None,
        },
        ignore_default_excludes: policy.ignore_default_excludes,
        exclude: policy.exclude,
        set: policy.set.into_iter().collect(),
        include_only: policy.include_only,
    };
    policy.check_limits().map_err(env_policy_limit_error)?;
    let weight =
        [&policy.exclude, &policy.include_only].into_iter().flatten().map(String::len).sum::<usize>()
            + policy.set.keys().map(String::len).sum::<usize>();
    let evaluate = move |shared: &Shared| {
        let base = shared.config.base_environment.iter().map(|(name, value)| (name.clone(), value.clone()));
        policy.apply_with_overlay(base, env)
    };
    if weight <= INLINE_POLICY_BYTES {
        return Ok(evaluate(shared));
    }
    let shared = Arc::clone(shared);
    tokio::task::spawn_blocking(move || evaluate(&shared)).await.map_err(|join_error| {
        ErrorObject::internal_error(format!("envPolicy evaluation failed: {join_error}"))
    })
}

fn env_policy_limit_error(error: shell_env_policy::LimitError) -> ErrorObject {
    use shell_env_policy::LimitError;
    let wire_field = |list: &str| if list == "include_only" { "includeOnly" } else { "exclude" };
    ErrorObject::invalid_params(match error {
        LimitError::TooManyPatterns { list, count, limit } => {
            messages::env_policy_too_many_patterns(wire_field(list), count, limit)
        }
        LimitError::PatternTooLong { list, index, bytes, limit } => {
            messages::env_policy_pattern_too_long(wire_field(list), index, bytes, limit)
        }
    })
}

async fn read(
    session: &SessionHandle,
    params: wire::ProcessReadParams,
) -> Result<wire::ProcessReadResponse, ErrorObject> {
    let request = ReadRequest {
        after_seq: params.after_seq.map(Seq::new),
        max_bytes: params.max_bytes.map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX)),
        wait: params.wait_ms.map(Duration::from_millis),
    };
    let process_id = ProcessId::new(params.process_id.into_string());
    let outcome = session.read(&process_id, request).await.map_err(process_error)?;
    Ok(wire::ProcessReadResponse {
        chunks: outcome
            .chunks
            .into_iter()
            .map(|chunk| wire::OutputChunk {
                seq: chunk.seq.get(),
                stream: wire_stream(chunk.stream),
                chunk: exec_protocol::ByteChunk::from(chunk.data.as_ref()),
            })
            .collect(),
        next_seq: outcome.next_seq.get(),
        exited: outcome.exit.is_some(),
        exit_code: outcome.exit.as_ref().map(ExitStatus::wire_code),
        closed: outcome.closed,
        failure: outcome.failure,
        dropped_before: outcome.dropped_before.map(Seq::get),
        signal: outcome.exit.as_ref().and_then(ExitStatus::signal),
    })
}

async fn write(
    session: &SessionHandle,
    params: wire::ProcessWriteParams,
) -> Result<wire::ProcessWriteResponse, ErrorObject> {
    let process_id = ProcessId::new(params.process_id.into_string());
    let options = WriteOptions { eof: params.eof, write_id: params.write_id };
    let status = session.write(&process_id, Bytes::from(params.chunk.into_vec()), options).await;
    Ok(wire::ProcessWriteResponse {
        status: match status {
            WriteStatus::Accepted => wire::WriteStatus::Accepted,
            WriteStatus::UnknownProcess => wire::WriteStatus::UnknownProcess,
            WriteStatus::StdinClosed => wire::WriteStatus::StdinClosed,
            WriteStatus::Starting => wire::WriteStatus::Starting,
        },
    })
}

async fn terminate(
    session: &SessionHandle,
    params: wire::ProcessTerminateParams,
) -> Result<wire::ProcessTerminateResponse, ErrorObject> {
    let process_id = ProcessId::new(params.process_id.into_string());
    let grace = params.grace_ms.map(Duration::from_millis);
    // Like the peer: terminating an id that does not exist (or no longer exists) is not an error,
    // there is simply nothing running.
    let running = match session.terminate(&process_id, grace).await {
        Ok(running) => running,
        Err(ProcessError::UnknownProcess(_)) => false,
        Err(other) => return Err(process_error(other)),
    };
    Ok(wire::ProcessTerminateResponse { running })
}

fn signal(
    session: &SessionHandle,
    params: wire::ProcessSignalParams,
) -> Result<wire::ProcessSignalResponse, ErrorObject> {
    let process_id = ProcessId::new(params.process_id.into_string());
    let signal = match params.signal {
        wire::Signal::Interrupt => exec_engine::Signal::Interrupt,
        wire::Signal::Terminate => exec_engine::Signal::Terminate,
        wire::Signal::Kill => exec_engine::Signal::Kill,
        wire::Signal::Hangup => exec_engine::Signal::Hangup,
        wire::Signal::Quit => exec_engine::Signal::Quit,
        wire::Signal::User1 => exec_engine::Signal::User1,
        wire::Signal::User2 => exec_engine::Signal::User2,
    };
    session.signal(&process_id, signal).map_err(process_error)?;
    Ok(wire::ProcessSignalResponse {})
}

fn resize(
    session: &SessionHandle,
    params: wire::ProcessResizeParams,
) -> Result<wire::ProcessResizeResponse, ErrorObject> {
    let process_id = ProcessId::new(params.process_id.into_string());
    session.resize(&process_id, PtySize { rows: params.rows, cols: params.cols }).map_err(process_error)?;
    Ok(wire::ProcessResizeResponse {})
}

fn list(session: &SessionHandle, _params: wire::ProcessListParams) -> wire::ProcessListResponse {
    wire::ProcessListResponse {
        processes: session
            .list()
            .into_iter()
            .map(|process| wire::ProcessInfo {
                process_id: exec_protocol::ProcessId::new(process.id.as_str()),
                argv: process.argv,
                pid: process.pid.unwrap_or(0),
                tty: process.tty,
                running: process.running,
                exit_code: process.exit.as_ref().map(ExitStatus::wire_code),
                next_seq: process.next_seq.get(),
                signal: process.exit.as_ref().and_then(ExitStatus::signal),
            })
            .collect(),
    }
}
