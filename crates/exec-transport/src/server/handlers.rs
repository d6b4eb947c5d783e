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
    Event, ProcessError, ProcessId, PtySize, ReadRequest, Seq, SessionHandle, SpawnSpec, StdinMode, Stdio,
    WriteOptions,
};
use exec_protocol::fs as wire_fs;
use exec_protocol::initialize as wire_init;
use exec_protocol::jsonrpc::ErrorObject;
use exec_protocol::process as wire;
use exec_protocol::{capability, messages, method};
use serde::Serialize;
use serde_json::Value;

use super::Shared;
use super::connection::Context;
use super::fs::{self, FsError};
use crate::convert::{from_wire, to_wire};

/// The window size of a PTY whose `process/start` gave none: the classic terminal.
const DEFAULT_PTY_SIZE: PtySize = PtySize { rows: 24, cols: 80 };

pub(crate) fn encode_result<T: Serialize>(value: &T) -> Result<Value, ErrorObject> {
    serde_json::to_value(value)
        .map_err(|error| ErrorObject::internal_error(messages::cannot_encode("result", &error)))
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

/// Encodes one engine event as a notification frame; `None` for events with no wire form.
pub(crate) fn encode_event(buffer: &mut Vec<u8>, process_id: &ProcessId, event: &Event) -> Option<String> {
    let frame = match event {
        Event::Output(chunk) => {
            buffer.clear();
            exec_protocol::fast::write_output_notification(
                buffer,
                process_id.as_str(),
                chunk.seq.get(),
                to_wire::stream(chunk.stream),
                &chunk.data,
            );
            // The encoder writes only JSON text, so this never fails; checking keeps it safe.
            return String::from_utf8(std::mem::take(buffer)).ok();
        }
        Event::Exited { seq, status } => notification_text(
            method::PROCESS_EXITED,
            &wire::ProcessExitedNotification {
                process_id: to_wire::process_id(process_id),
                seq: seq.get(),
                exit_code: to_wire::exit_code(*status),
                signal: to_wire::exit_signal(*status),
            },
        ),
        Event::Closed { seq } => notification_text(
            method::PROCESS_CLOSED,
            &wire::ProcessClosedNotification { process_id: to_wire::process_id(process_id), seq: seq.get() },
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

// The handlers: one per row of `methods::METHODS`, all with the same shape, so the table can
// decode their params and encode their results.

pub(crate) async fn read_file(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsReadFileParams,
) -> Result<wire_fs::FsReadFileResponse, ErrorObject> {
    let path = fs::absolute_path(&params.path).map_err(fs_error)?;
    let limit = fs::read_file_limit(context.shared.config.max_message_bytes);
    let data = blocking(move || fs::read_file(&path, limit)).await?;
    Ok(wire_fs::FsReadFileResponse { data_base64: exec_protocol::ByteChunk::new(data) })
}

pub(crate) async fn write_file(
    _context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsWriteFileParams,
) -> Result<wire_fs::FsWriteFileResponse, ErrorObject> {
    let path = fs::absolute_path(&params.path).map_err(fs_error)?;
    let data = params
        .decode_data()
        .map_err(|error| ErrorObject::invalid_request(messages::invalid_write_file_data(&error)))?
        .into_vec();
    blocking(move || fs::write_file(&path, &data)).await?;
    Ok(wire_fs::FsWriteFileResponse {})
}

pub(crate) async fn create_directory(
    _context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsCreateDirectoryParams,
) -> Result<wire_fs::FsCreateDirectoryResponse, ErrorObject> {
    let path = fs::absolute_path(&params.path).map_err(fs_error)?;
    let recursive = params.recursive.unwrap_or(true);
    blocking(move || fs::create_directory(&path, recursive)).await?;
    Ok(wire_fs::FsCreateDirectoryResponse {})
}

pub(crate) async fn get_metadata(
    _context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsGetMetadataParams,
) -> Result<wire_fs::FsGetMetadataResponse, ErrorObject> {
    let path = fs::absolute_path(&params.path).map_err(fs_error)?;
    let metadata = blocking(move || fs::get_metadata(&path)).await?;
    Ok(wire_fs::FsGetMetadataResponse {
        is_directory: metadata.is_directory,
        is_file: metadata.is_file,
        is_symlink: metadata.is_symlink,
        size: Some(metadata.size),
        created_at_ms: metadata.created_at_ms,
        modified_at_ms: metadata.modified_at_ms,
    })
}

pub(crate) async fn read_directory(
    _context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsReadDirectoryParams,
) -> Result<wire_fs::FsReadDirectoryResponse, ErrorObject> {
    let path = fs::absolute_path(&params.path).map_err(fs_error)?;
    let entries = blocking(move || fs::read_directory(&path)).await?;
    Ok(wire_fs::FsReadDirectoryResponse {
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

pub(crate) async fn remove(
    _context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsRemoveParams,
) -> Result<wire_fs::FsRemoveResponse, ErrorObject> {
    let path = fs::absolute_path(&params.path).map_err(fs_error)?;
    let (recursive, force) = (params.recursive.unwrap_or(true), params.force.unwrap_or(true));
    blocking(move || fs::remove(&path, recursive, force)).await?;
    Ok(wire_fs::FsRemoveResponse {})
}

pub(crate) async fn copy(
    _context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsCopyParams,
) -> Result<wire_fs::FsCopyResponse, ErrorObject> {
    let source = fs::absolute_path(&params.source_path).map_err(fs_error)?;
    let destination = fs::absolute_path(&params.destination_path).map_err(fs_error)?;
    let recursive = params.recursive;
    blocking(move || fs::copy(&source, &destination, recursive)).await?;
    Ok(wire_fs::FsCopyResponse {})
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

pub(crate) async fn start(
    context: &Context,
    session: &Arc<SessionHandle>,
    params: wire::ProcessStartParams,
) -> Result<wire::ProcessStartResponse, ErrorObject> {
    if params.argv.is_empty() {
        return Err(ErrorObject::invalid_params(messages::ARGV_EMPTY));
    }
    let cwd = fs::absolute_path(&params.cwd)
        .map_err(|_| ErrorObject::invalid_params(messages::cwd_not_absolute(&params.cwd)))?;
    let env = child_environment(&context.shared, params.env, params.env_policy).await?;
    let stdio = if params.tty {
        let size = params.size.map_or(DEFAULT_PTY_SIZE, |size| PtySize { rows: size.rows, cols: size.cols });
        Stdio::Pty { size }
    } else if params.pipe_stdin {
        Stdio::Pipes { stdin: StdinMode::Pipe }
    } else {
        Stdio::Pipes { stdin: StdinMode::Closed }
    };
    let spec = SpawnSpec { argv: params.argv, cwd, env, arg0: params.arg0, stdio };
    let process_id = from_wire::process_id(params.process_id);
    let subscription = session.start(process_id.clone(), spec).await.map_err(to_wire::start_error)?;
    context.spawn_pump(Arc::clone(session), process_id.clone(), subscription);
    Ok(wire::ProcessStartResponse { process_id: to_wire::process_id(&process_id) })
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
    let policy = from_wire::env_policy(policy);
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

pub(crate) async fn read(
    _context: &Context,
    session: &Arc<SessionHandle>,
    params: wire::ProcessReadParams,
) -> Result<wire::ProcessReadResponse, ErrorObject> {
    let request = ReadRequest {
        after_seq: params.after_seq.map(Seq::new),
        max_bytes: params.max_bytes.map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX)),
        wait: params.wait_ms.map(Duration::from_millis),
    };
    let process_id = from_wire::process_id(params.process_id);
    let outcome = session.read(&process_id, request).await.map_err(to_wire::process_error)?;
    Ok(to_wire::read_response(outcome))
}

pub(crate) async fn write(
    context: &Context,
    session: &Arc<SessionHandle>,
    params: wire::ProcessWriteParams,
) -> Result<wire::ProcessWriteResponse, ErrorObject> {
    let process_id = from_wire::process_id(params.process_id);
    let options = WriteOptions { eof: params.eof, write_id: params.write_id };
    let config = &context.shared.config;
    let written = session.write(&process_id, Bytes::from(params.chunk.into_vec()), options);
    // A child that never reads its stdin must not hold the request forever (issue 12).
    let status = tokio::time::timeout(config.stdin_write_timeout, written).await.map_err(|_| {
        let limit = context.shared.engine.config().max_stdin_queued_bytes;
        ErrorObject::internal_error(messages::stdin_write_timed_out(
            process_id.as_str(),
            config.stdin_write_timeout.as_millis(),
            limit,
        ))
    })?;
    Ok(wire::ProcessWriteResponse { status: to_wire::write_status(status) })
}

pub(crate) async fn terminate(
    _context: &Context,
    session: &Arc<SessionHandle>,
    params: wire::ProcessTerminateParams,
) -> Result<wire::ProcessTerminateResponse, ErrorObject> {
    let process_id = from_wire::process_id(params.process_id);
    let grace = params.grace_ms.map(Duration::from_millis);
    // Like the peer: terminating an id that does not exist (or no longer exists) is not an error,
    // there is simply nothing running.
    let running = match session.terminate(&process_id, grace).await {
        Ok(running) => running,
        Err(ProcessError::UnknownProcess(_)) => false,
        Err(other) => return Err(to_wire::process_error(other)),
    };
    Ok(wire::ProcessTerminateResponse { running })
}

pub(crate) async fn signal(
    _context: &Context,
    session: &Arc<SessionHandle>,
    params: wire::ProcessSignalParams,
) -> Result<wire::ProcessSignalResponse, ErrorObject> {
    let process_id = from_wire::process_id(params.process_id);
    session.signal(&process_id, from_wire::signal(params.signal)).map_err(to_wire::process_error)?;
    Ok(wire::ProcessSignalResponse {})
}

pub(crate) async fn resize(
    _context: &Context,
    session: &Arc<SessionHandle>,
    params: wire::ProcessResizeParams,
) -> Result<wire::ProcessResizeResponse, ErrorObject> {
    let process_id = from_wire::process_id(params.process_id);
    let size = PtySize { rows: params.rows, cols: params.cols };
    session.resize(&process_id, size).map_err(to_wire::process_error)?;
    Ok(wire::ProcessResizeResponse {})
}

pub(crate) async fn list(
    _context: &Context,
    session: &Arc<SessionHandle>,
    _params: wire::ProcessListParams,
) -> Result<wire::ProcessListResponse, ErrorObject> {
    Ok(wire::ProcessListResponse {
        processes: session.list().into_iter().map(to_wire::process_info).collect(),
    })
}
