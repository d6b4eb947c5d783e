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
    Event, ProcessError, ProcessId, PtySize, ReadOutcome, ReadRequest, Seq, SessionHandle, SpawnSpec,
    StdinMode, Stdio, Subscription, WriteOptions,
};
use exec_protocol::environment as wire_env;
use exec_protocol::fs as wire_fs;
use exec_protocol::initialize as wire_init;
use exec_protocol::jsonrpc::ErrorObject;
use exec_protocol::process as wire;
use exec_protocol::sandbox::{self as wire_sandbox, SandboxType};
use exec_protocol::{capability, messages, method};
use serde::Serialize;
use serde_json::value::RawValue;
use tracing::Instrument as _;

use super::connection::Context;
use super::fs::{self, FsError};
use super::log_text::Clipped;
use super::{Shared, audit, confine, files};
use crate::convert::{from_wire, to_wire};

/// The window size of a PTY whose `process/start` gave none: the classic terminal.
const DEFAULT_PTY_SIZE: PtySize = PtySize { rows: 24, cols: 80 };

/// A method's result as JSON text, written once (no `serde_json::Value` tree in between).
pub(crate) fn encode_result<T: Serialize>(value: &T) -> Result<Box<RawValue>, ErrorObject> {
    serde_json::value::to_raw_value(value)
        .map_err(|error| ErrorObject::internal_error(messages::cannot_encode("result", &error)))
}

/// A path parameter of an `fs/*` method: absolute, or a `file://` URI; otherwise -32602.
fn path_param(raw: &str) -> Result<std::path::PathBuf, ErrorObject> {
    fs::absolute_path(raw).map_err(|_| ErrorObject::invalid_params(messages::path_not_absolute(raw)))
}

fn fs_error(error: FsError) -> ErrorObject {
    match error {
        FsError::NotFound(message) => ErrorObject::not_found(message),
        FsError::Invalid(message) | FsError::Denied(message) => ErrorObject::invalid_request(message),
        FsError::TooLarge(message) => ErrorObject {
            data: Some(serde_json::json!({ "kind": messages::KIND_FILE_TOO_LARGE })),
            ..ErrorObject::invalid_request(message)
        },
        FsError::Other(message) => ErrorObject::internal_error(message),
    }
}

/// [`fs_error`], except that under a sandbox a permission refusal is the sandbox's doing and
/// answers -32603, as the 0.171 reference answers its `Read-only file system`.
fn sandboxed_fs_error(sandboxed: bool, error: FsError) -> ErrorObject {
    match error {
        FsError::Denied(message) if sandboxed => ErrorObject::internal_error(message),
        other => fs_error(other),
    }
}

/// The `initialize` result. `carries_binary`: whether this connection's transport can carry
/// binary frames (a WebSocket), so `binaryOutput` is listed; `binary_output`: whether the client
/// asked for it and it is granted.
pub(crate) fn initialize_response(
    shared: &Shared,
    session: &SessionHandle,
    carries_binary: bool,
    binary_output: bool,
) -> wire_init::InitializeResponse {
    wire_init::InitializeResponse {
        session_id: exec_protocol::SessionId::new(session.session_id().to_string()),
        server_info: Some(wire_init::ServerInfo {
            name: shared.config.server_name.clone(),
            version: shared.config.server_version.clone(),
        }),
        capabilities: capability::ALL
            .iter()
            .filter(|name| carries_binary || **name != capability::BINARY_OUTPUT)
            .map(|name| (*name).to_owned())
            .collect(),
        session_ttl_ms: Some(
            u64::try_from(shared.engine.config().session_ttl.as_millis()).unwrap_or(u64::MAX),
        ),
        environment_info: Some(shared.environment.clone()),
        binary_output,
    }
}

/// Encodes an output chunk as a binary `process/output` frame (`exec_protocol::binary`): one
/// allocation of the exact size, the data copied once into it. `None` only for a process id too
/// long for the header, which the caller then sends as JSON.
pub(crate) fn encode_binary_output(
    process_id: &ProcessId,
    chunk: &exec_engine::OutputChunk,
) -> Option<Vec<u8>> {
    let mut frame = Vec::new();
    exec_protocol::binary::encode_output_into(
        &mut frame,
        process_id.as_str(),
        chunk.seq.get(),
        to_wire::stream(chunk.stream),
        &chunk.data,
    )
    .ok()?;
    Some(frame)
}

/// Encodes one engine event as a notification frame; `None` for events with no wire form.
/// `sandbox_denied` is the server's judgement for an `Exited` event ([`sandbox_denied`]).
///
/// Each frame is a fresh allocation of its exact size: the frame moves into the connection's
/// outbound queue and is freed by the writer, so there is no buffer to hand back and reuse.
pub(crate) fn encode_event(process_id: &ProcessId, event: &Event, sandbox_denied: bool) -> Option<String> {
    let frame = match event {
        Event::Output(chunk) => {
            let mut frame = Vec::new();
            exec_protocol::fast::write_output_notification(
                &mut frame,
                process_id.as_str(),
                chunk.seq.get(),
                to_wire::stream(chunk.stream),
                &chunk.data,
            );
            // SAFETY: the fast encoder writes ASCII around the (escaped, valid UTF-8) process id
            // and base64, so the frame is valid UTF-8; validating every output frame again was
            // a measurable share of the streaming path.
            return Some(unsafe { String::from_utf8_unchecked(frame) });
        }
        Event::Exited { seq, status } => notification_text(
            method::PROCESS_EXITED,
            &wire::ProcessExitedNotification {
                process_id: to_wire::process_id(process_id),
                seq: seq.get(),
                exit_code: to_wire::exit_code(*status),
                signal: to_wire::exit_signal(*status),
                sandbox_denied: Some(sandbox_denied),
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

/// `sandboxDenied`: whether a sandboxed process that has exited probably failed because the
/// sandbox refused it. A heuristic on the end of its output (`exec_sandbox::output_suggests_denial`:
/// non-zero exit and "Permission denied", "Operation not permitted" or "Read-only file system" in
/// the tail), like the 0.171 reference, which also decides from output text. Always false for an
/// unsandboxed or still running process.
/// `output` is the process's output, oldest first; only its last
/// `exec_sandbox::DENIAL_TAIL_BYTES` are looked at, and only when the answer can be true.
pub(crate) fn sandbox_denied<'a>(
    sandboxed: bool,
    exit: Option<exec_engine::ExitStatus>,
    output: impl DoubleEndedIterator<Item = &'a [u8]>,
) -> bool {
    let Some(code) = exit.map(to_wire::exit_code) else { return false };
    if !sandboxed || code == 0 {
        return false;
    }
    let mut tail = std::collections::VecDeque::new();
    for piece in output.rev() {
        for &byte in piece.iter().rev() {
            tail.push_front(byte);
        }
        if tail.len() >= exec_sandbox::DENIAL_TAIL_BYTES {
            break;
        }
    }
    exec_sandbox::output_suggests_denial(code, tail.make_contiguous())
}

fn notification_text<P: Serialize>(method_name: &str, params: &P) -> String {
    let mut frame = Vec::with_capacity(128);
    exec_protocol::jsonrpc::write_notification(&mut frame, method_name, params)
        .expect("notification params always serialize");
    String::from_utf8(frame).expect("serde_json writes UTF-8")
}

// The handlers: one per row of `methods::METHODS`, all with the same shape, so the table can
// decode their params and encode their results.

/// The whole of one `fs/*` call: converts its sandbox intent, then on the blocking pool prepares
/// it and runs `operation` confined by it (or as it is without one).
async fn fs_call<T: Send + 'static>(
    context: &Context,
    sandbox: Option<wire_sandbox::SandboxParams>,
    operation: impl FnOnce() -> Result<T, FsError> + Send + 'static,
) -> Result<T, ErrorObject> {
    confined_fs_call(context, sandbox, Access::ReadWrite, operation).await
}

/// [`fs_call`] for an operation that only reads: confined with read rights on every root and
/// no write right (`confine::run_with_intent_for_reading`), which needs no mount namespace for
/// the intent's read-only carve-outs, so it works on a server without `CAP_SYS_ADMIN` too.
async fn fs_read_call<T: Send + 'static>(
    context: &Context,
    sandbox: Option<wire_sandbox::SandboxParams>,
    operation: impl FnOnce() -> Result<T, FsError> + Send + 'static,
) -> Result<T, ErrorObject> {
    confined_fs_call(context, sandbox, Access::ReadOnly, operation).await
}

/// What an `fs/*` operation may do under its intent.
#[derive(Clone, Copy)]
enum Access {
    /// The intent as given (carve-outs need a mount namespace).
    ReadWrite,
    /// Read rights only, wherever the intent grants any.
    ReadOnly,
}

async fn confined_fs_call<T: Send + 'static>(
    context: &Context,
    sandbox: Option<wire_sandbox::SandboxParams>,
    access: Access,
    operation: impl FnOnce() -> Result<T, FsError> + Send + 'static,
) -> Result<T, ErrorObject> {
    let intent = confine::intent(&context.shared, sandbox, None)?;
    let sandboxed = intent.is_some();
    blocking(move || {
        let operation = || operation().map_err(|error| sandboxed_fs_error(sandboxed, error));
        match access {
            Access::ReadWrite => confine::run_with_intent(intent.as_ref(), operation).map(|(value, _)| value),
            Access::ReadOnly => confine::run_with_intent_for_reading(intent.as_ref(), operation),
        }
    })
    .await
}

pub(crate) async fn read_file(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsReadFileParams,
) -> Result<wire_fs::FsReadFileResponse, ErrorObject> {
    let path = path_param(&params.path)?;
    let limit = fs::read_file_limit(context.shared.config.max_message_bytes);
    let follow = params.follow_symlinks.unwrap_or(true);
    let data =
        fs_read_call(context, params.sandbox, move || fs::read_file_with(&path, limit, follow)).await?;
    Ok(wire_fs::FsReadFileResponse { data_base64: exec_protocol::ByteChunk::new(data) })
}

pub(crate) async fn write_file(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsWriteFileParams,
) -> Result<wire_fs::FsWriteFileResponse, ErrorObject> {
    let path = path_param(&params.path)?;
    let data = params
        .decode_data()
        .map_err(|error| ErrorObject::invalid_request(messages::invalid_write_file_data(&error)))?
        .into_vec();
    let follow = params.follow_symlinks.unwrap_or(true);
    fs_call(context, params.sandbox, move || fs::write_file_with(&path, &data, follow)).await?;
    Ok(wire_fs::FsWriteFileResponse {})
}

pub(crate) async fn create_directory(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsCreateDirectoryParams,
) -> Result<wire_fs::FsCreateDirectoryResponse, ErrorObject> {
    let path = path_param(&params.path)?;
    let recursive = params.recursive.unwrap_or(true);
    let follow = params.follow_symlinks.unwrap_or(true);
    fs_call(context, params.sandbox, move || fs::create_directory_with(&path, recursive, follow)).await?;
    Ok(wire_fs::FsCreateDirectoryResponse {})
}

pub(crate) async fn get_metadata(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsGetMetadataParams,
) -> Result<wire_fs::FsGetMetadataResponse, ErrorObject> {
    let path = path_param(&params.path)?;
    let follow = params.follow_symlinks.unwrap_or(true);
    let metadata =
        fs_read_call(context, params.sandbox, move || fs::get_metadata_with(&path, follow)).await?;
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
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsReadDirectoryParams,
) -> Result<wire_fs::FsReadDirectoryResponse, ErrorObject> {
    let path = path_param(&params.path)?;
    let entries = fs_read_call(context, params.sandbox, move || fs::read_directory(&path)).await?;
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

/// `followSymlinks` is accepted and changes nothing: `fs/remove` removes a link itself, never
/// what it points to.
pub(crate) async fn remove(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsRemoveParams,
) -> Result<wire_fs::FsRemoveResponse, ErrorObject> {
    let path = path_param(&params.path)?;
    let (recursive, force) = (params.recursive.unwrap_or(true), params.force.unwrap_or(true));
    let protected = context.shared.config.protected_paths.clone();
    fs_call(context, params.sandbox, move || fs::remove(&path, recursive, force, &protected)).await?;
    Ok(wire_fs::FsRemoveResponse {})
}

pub(crate) async fn copy(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsCopyParams,
) -> Result<wire_fs::FsCopyResponse, ErrorObject> {
    let source = path_param(&params.source_path)?;
    let destination = path_param(&params.destination_path)?;
    let recursive = params.recursive;
    fs_call(context, params.sandbox, move || fs::copy(&source, &destination, recursive)).await?;
    Ok(wire_fs::FsCopyResponse {})
}

/// Answers in the form the request used: a URI for a URI, a plain path for a plain path.
pub(crate) async fn canonicalize(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsCanonicalizeParams,
) -> Result<wire_fs::FsCanonicalizeResponse, ErrorObject> {
    let as_uri = params.path.starts_with("file://");
    let path = path_param(&params.path)?;
    let canonical = fs_read_call(context, params.sandbox, move || fs::canonicalize(&path)).await?;
    Ok(wire_fs::FsCanonicalizeResponse { path: to_wire::path_like(&canonical, as_uri) })
}

pub(crate) async fn walk(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsWalkParams,
) -> Result<wire_fs::FsWalkResponse, ErrorObject> {
    let as_uri = params.path.starts_with("file://");
    let path = path_param(&params.path)?;
    let options = params.options;
    let walk = fs_read_call(context, params.sandbox, move || {
        fs::walk(
            &path,
            options.max_depth,
            options.max_entries,
            options.max_directories,
            options.follow_directory_symlinks,
        )
    })
    .await?;
    Ok(wire_fs::FsWalkResponse {
        entries: walk
            .entries
            .into_iter()
            .map(|(path, is_directory)| wire_fs::FsWalkEntry {
                path: to_wire::path_like(&path, as_uri),
                kind: if is_directory { wire_fs::FsEntryKind::Directory } else { wire_fs::FsEntryKind::File },
            })
            .collect(),
        errors: walk
            .errors
            .into_iter()
            .map(|(path, message)| wire_fs::FsWalkError { path: to_wire::path_like(&path, as_uri), message })
            .collect(),
        truncated: walk.truncated,
    })
}

/// Opens a file for chunked access. The sandbox is checked here, for the whole handle: the open
/// (and, for `replace`, the temporary file's creation) runs confined, and so does the commit at
/// `fs/close`.
pub(crate) async fn open(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsOpenParams,
) -> Result<wire_fs::FsOpenResponse, ErrorObject> {
    let path = path_param(&params.path)?;
    context.files.check_room(&params.handle_id)?;
    let intent = confine::intent(&context.shared, params.sandbox, None)?;
    let mode = params.mode.unwrap_or(wire_fs::FsOpenMode::Read);
    let handle = blocking(move || match mode {
        wire_fs::FsOpenMode::Read => {
            let sandboxed = intent.is_some();
            let file = confine::run_with_intent_for_reading(intent.as_ref(), || {
                fs::open_for_reading(&path).map_err(|error| sandboxed_fs_error(sandboxed, error))
            })?;
            Ok(files::Handle::Read { file, path })
        }
        wire_fs::FsOpenMode::Replace => {
            let sandboxed = intent.is_some();
            let (replacement, sandbox) = confine::run_with_intent(intent.as_ref(), || {
                fs::begin_replace(&path).map_err(|error| sandboxed_fs_error(sandboxed, error))
            })?;
            Ok(files::Handle::Replace { replacement: std::sync::Mutex::new(Some(replacement)), sandbox })
        }
    })
    .await?;
    context.files.insert(params.handle_id.clone(), handle)?;
    Ok(wire_fs::FsOpenResponse { handle_id: params.handle_id })
}

pub(crate) async fn read_block(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsReadBlockParams,
) -> Result<wire_fs::FsReadBlockResponse, ErrorObject> {
    let handle = context.files.get(&params.handle_id)?;
    // A block travels as one base64 message: the same cap as a whole-file read.
    let limit = fs::read_file_limit(context.shared.config.max_message_bytes);
    let len = usize::try_from(params.len.min(limit)).unwrap_or(usize::MAX);
    let handle_id = params.handle_id;
    let (data, eof) = blocking(move || match &*handle {
        files::Handle::Read { file, path } => {
            fs::read_block(file, path, params.offset, len).map_err(fs_error)
        }
        files::Handle::Replace { .. } => {
            Err(ErrorObject::invalid_request(messages::wrong_handle_mode(&handle_id, "replace")))
        }
    })
    .await?;
    Ok(wire_fs::FsReadBlockResponse { chunk: exec_protocol::ByteChunk::new(data), eof })
}

pub(crate) async fn write_block(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsWriteBlockParams,
) -> Result<wire_fs::FsWriteBlockResponse, ErrorObject> {
    let handle = context.files.get(&params.handle_id)?;
    let data = params.chunk.into_vec();
    let end = params.offset.checked_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
    if end.is_none_or(|end| end > files::MAX_REPLACED_FILE_BYTES) {
        return Err(ErrorObject::invalid_request(messages::file_block_beyond_limit(
            &params.handle_id,
            files::MAX_REPLACED_FILE_BYTES,
        )));
    }
    let handle_id = params.handle_id;
    blocking(move || match &*handle {
        files::Handle::Replace { replacement, .. } => {
            let replacement = replacement.lock().expect("replacement lock");
            match replacement.as_ref() {
                Some(replacement) => replacement.write_block(params.offset, &data).map_err(fs_error),
                None => Err(ErrorObject::not_found(messages::unknown_file_handle(&handle_id))),
            }
        }
        files::Handle::Read { .. } => {
            Err(ErrorObject::invalid_request(messages::wrong_handle_mode(&handle_id, "read")))
        }
    })
    .await?;
    Ok(wire_fs::FsWriteBlockResponse {})
}

/// Closes a handle; a `replace` handle renames its new version over the target here, under the
/// sandbox its open ran under. The handle is gone afterwards even if the commit failed (the
/// target is then unchanged).
pub(crate) async fn close(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsCloseParams,
) -> Result<wire_fs::FsCloseResponse, ErrorObject> {
    let handle = context.files.remove(&params.handle_id)?;
    blocking(move || match &*handle {
        files::Handle::Read { .. } => Ok(()),
        files::Handle::Replace { replacement, sandbox } => {
            let taken = replacement.lock().expect("replacement lock").take();
            match taken {
                Some(replacement) => {
                    let sandboxed = sandbox.is_some();
                    confine::run(sandbox.as_deref(), move || {
                        replacement.commit().map_err(|error| sandboxed_fs_error(sandboxed, error))
                    })
                }
                None => Ok(()),
            }
        }
    })
    .await?;
    Ok(wire_fs::FsCloseResponse {})
}

/// Runs a blocking operation on the blocking pool, answering with an error if it is still
/// running after `fs::OPERATION_TIMEOUT` (the thread cannot be stopped and finishes on its own).
async fn blocking<T: Send + 'static>(
    operation: impl FnOnce() -> Result<T, ErrorObject> + Send + 'static,
) -> Result<T, ErrorObject> {
    match tokio::time::timeout(fs::OPERATION_TIMEOUT, tokio::task::spawn_blocking(operation)).await {
        Ok(Ok(result)) => result,
        Ok(Err(join_error)) => Err(ErrorObject::internal_error(messages::fs_operation_failed(&join_error))),
        Err(_) => Err(ErrorObject::internal_error(messages::fs_operation_timed_out(
            fs::OPERATION_TIMEOUT.as_secs(),
        ))),
    }
}

/// Registers a watch; `sandbox` is converted (a malformed intent is refused) but not applied: a
/// watch reveals only that entries appeared or vanished, which the kernel's `stat` and inotify
/// would show even to a confined thread.
pub(crate) async fn watch_missing(
    context: &Context,
    _session: &Arc<SessionHandle>,
    params: wire_fs::FsWatchMissingParams,
) -> Result<wire_fs::FsWatchMissingResponse, ErrorObject> {
    confine::intent(&context.shared, params.sandbox, Some(std::path::Path::new("/")))?;
    let paths = params
        .missing
        .iter()
        .chain(params.present.iter().flatten())
        .map(|raw| fs::absolute_path(raw).map_err(fs_error))
        .collect::<Result<Vec<_>, _>>()?;
    let watch_context = context.clone();
    let watch_id = params.watch_id;
    blocking(move || watch_context.watches.watch(&watch_context, watch_id, paths)).await?;
    Ok(wire_fs::FsWatchMissingResponse { watching: true })
}

pub(crate) async fn environment_info(
    context: &Context,
    _session: &Arc<SessionHandle>,
    _params: wire_env::EnvironmentParams,
) -> Result<wire_env::EnvironmentInfo, ErrorObject> {
    Ok(context.shared.environment.clone())
}

pub(crate) async fn environment_status(
    _context: &Context,
    _session: &Arc<SessionHandle>,
    _params: wire_env::EnvironmentParams,
) -> Result<wire_env::EnvironmentStatusResponse, ErrorObject> {
    Ok(wire_env::EnvironmentStatusResponse { status: "ready".to_owned() })
}

/// A started process: the answer, and its notification pump, to be started once the answer is
/// queued ([`start_frame`]).
pub(crate) struct Started {
    response: wire::ProcessStartResponse,
    pump: Box<dyn FnOnce() + Send>,
}

/// The `process/start` response frame, followed by the start of the process's pump.
pub(crate) fn start_frame(
    id: &exec_protocol::jsonrpc::RequestId,
    started: Started,
) -> super::methods::Answered {
    let frame = super::connection::response_frame(id, encode_result(&started.response));
    super::methods::Answered { frame, then: Some(started.pump) }
}

/// At most this many chunks go into an inline answer, whatever `maxBytes` says: each costs its
/// JSON around the base64, and the answer must stay one frame well under the message limit.
const MAX_INLINE_CHUNKS: usize = 4096;

/// The most output an inline answer carries: the retention default, and at most what fits one
/// message as base64.
const MAX_INLINE_BYTES: u64 = 1 << 20;

/// The byte cap of an inline wait on a server whose messages may be `max_message_bytes` long.
fn inline_bytes_limit(max_message_bytes: usize) -> u64 {
    fs::read_file_limit(max_message_bytes).clamp(1, MAX_INLINE_BYTES)
}

/// Checks a `wait` against the server's caps: its time budget and its byte budget.
fn inline_budget(context: &Context, wait: wire::StartWait) -> Result<(Duration, usize), ErrorObject> {
    if wait.timeout_ms > wire::MAX_START_WAIT_MS {
        return Err(ErrorObject::invalid_params(messages::start_wait_too_long(
            wait.timeout_ms,
            wire::MAX_START_WAIT_MS,
        )));
    }
    let limit = inline_bytes_limit(context.shared.config.max_message_bytes);
    let max_bytes = wait.max_bytes.unwrap_or(limit);
    if max_bytes == 0 || max_bytes > limit {
        return Err(ErrorObject::invalid_params(messages::start_wait_bytes_out_of_range(max_bytes, limit)));
    }
    Ok((Duration::from_millis(wait.timeout_ms), usize::try_from(max_bytes).unwrap_or(usize::MAX)))
}

/// Takes events from a new process's subscription until it closed, `budget` ran out, or the
/// chunks reached `max_bytes`: the inline answer of `process/start {wait}`, as a read from the
/// start that returned every event below its `next_seq`.
///
/// Returns the outcome and, when the byte budget ended it, the chunk that did not fit (taken
/// from the subscription, so the pump must send it first). Relies on seq order only: the exit
/// may come before output written just before it.
async fn wait_inline(
    subscription: &mut Subscription,
    budget: Duration,
    max_bytes: usize,
) -> (ReadOutcome, Option<Event>) {
    let deadline = tokio::time::Instant::now() + budget;
    let mut outcome = ReadOutcome {
        chunks: Vec::new(),
        next_seq: Seq::new(1),
        exit: None,
        closed: false,
        failure: None,
        dropped_before: None,
    };
    let mut bytes = 0usize;
    loop {
        // Polls the subscription before the clock: a zero budget still takes what is ready.
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, subscription.next()).await else {
            return (outcome, None);
        };
        match event {
            Event::Output(chunk) => {
                let full = !outcome.chunks.is_empty()
                    && (bytes + chunk.data.len() > max_bytes || outcome.chunks.len() >= MAX_INLINE_CHUNKS);
                if full {
                    return (outcome, Some(Event::Output(chunk)));
                }
                bytes += chunk.data.len();
                outcome.next_seq = Seq::new(chunk.seq.get() + 1);
                outcome.chunks.push(chunk);
                if bytes >= max_bytes {
                    return (outcome, None);
                }
            }
            Event::Exited { seq, status } => {
                outcome.exit = Some(status);
                outcome.next_seq = Seq::new(seq.get() + 1);
            }
            Event::Closed { seq } => {
                outcome.closed = true;
                outcome.next_seq = Seq::new(seq.get() + 1);
                return (outcome, None);
            }
            Event::Gap { dropped_before } => {
                // Not expected from a subscription taken at the start; reported, never silent.
                outcome.dropped_before.get_or_insert(dropped_before);
                outcome.next_seq = dropped_before;
            }
            Event::Failed { next_seq, reason } => {
                outcome.failure = Some(reason);
                outcome.next_seq = next_seq;
                return (outcome, None);
            }
        }
    }
}

pub(crate) async fn start(
    context: &Context,
    session: &Arc<SessionHandle>,
    params: wire::ProcessStartParams,
) -> Result<Started, ErrorObject> {
    if params.argv.is_empty() {
        return Err(ErrorObject::invalid_params(messages::ARGV_EMPTY));
    }
    let inline = params.wait.map(|wait| inline_budget(context, wait)).transpose()?;
    let cwd = fs::absolute_path(&params.cwd)
        .map_err(|_| ErrorObject::invalid_params(messages::cwd_not_absolute(&params.cwd)))?;
    let env_policy = params.env_policy.is_some();
    let env = child_environment(&context.shared, params.env, params.env_policy).await?;
    let stdio = if params.tty {
        let size = params.size.map_or(DEFAULT_PTY_SIZE, |size| PtySize { rows: size.rows, cols: size.cols });
        Stdio::Pty { size }
    } else if params.pipe_stdin {
        Stdio::Pipes { stdin: StdinMode::Pipe }
    } else {
        Stdio::Pipes { stdin: StdinMode::Closed }
    };
    // The sandbox is resolved and prepared before anything is spawned: a refused intent never
    // starts a process.
    let sandbox = match confine::intent(&context.shared, params.sandbox, Some(&cwd))? {
        None => None,
        Some(intent) => Some(Arc::new(blocking(move || intent.prepare()).await?)),
    };
    let sandbox_type = if sandbox.is_some() { SandboxType::LinuxSeccomp } else { SandboxType::None };
    let spec = SpawnSpec {
        argv: params.argv,
        cwd,
        env,
        arg0: params.arg0,
        stdio,
        sandbox: sandbox.map(exec_engine::ChildSandbox::new),
    };
    let audit = audit::prepare(context, &spec, env_policy);
    let process_id = from_wire::process_id(params.process_id);
    // The process's own span, for the lines of its life outside any request: the engine's tasks
    // for it and its watcher (`audit`). Not under the connection: the process outlives it.
    let process_span = tracing::info_span!(
        parent: None,
        "process",
        session = %session.session_id(),
        process = %Clipped(process_id.as_str())
    );
    let spawn_began = std::time::Instant::now();
    let started = session.start(process_id.clone(), spec).instrument(process_span.clone()).await;
    context.shared.metrics.process_start(&started, spawn_began.elapsed());
    let mut subscription = started.map_err(to_wire::start_error)?;
    audit::started(context, session, &process_id, audit, process_span);
    let (read, first) = match inline {
        None => (None, None),
        Some((budget, max_bytes)) => {
            let (outcome, first) = wait_inline(&mut subscription, budget, max_bytes).await;
            let denied = match outcome.exit {
                Some(exit) if subscription.sandboxed() => {
                    let tail = subscription.output_tail(exec_sandbox::DENIAL_TAIL_BYTES);
                    // Counted in `/metrics` by the process's watcher (`audit`), once per process.
                    sandbox_denied(true, Some(exit), std::iter::once(tail.as_slice()))
                }
                _ => false,
            };
            (Some(to_wire::read_response(outcome, denied)), first)
        }
    };
    let response = wire::ProcessStartResponse {
        process_id: to_wire::process_id(&process_id),
        sandbox_type: Some(sandbox_type),
        read,
    };
    // The pump starts where the inline answer stopped (or at the start), after the answer.
    let (pump_context, pump_session) = (context.clone(), Arc::clone(session));
    let pump = Box::new(move || pump_context.spawn_pump_from(pump_session, process_id, first, subscription));
    Ok(Started { response, pump })
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
        ErrorObject::internal_error(messages::env_policy_evaluation_failed(&join_error))
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
    context: &Context,
    session: &Arc<SessionHandle>,
    params: wire::ProcessReadParams,
) -> Result<(exec_engine::ReadOutcome, bool), ErrorObject> {
    let request = ReadRequest {
        after_seq: params.after_seq.map(Seq::new),
        max_bytes: params.max_bytes.map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX)),
        wait: params.wait_ms.map(Duration::from_millis),
    };
    let process_id = from_wire::process_id(params.process_id);
    let outcome = session.read(&process_id, request).await.map_err(to_wire::process_error)?;
    let denied =
        match (outcome.exit, session.sandboxed_output_tail(&process_id, exec_sandbox::DENIAL_TAIL_BYTES)) {
            (Some(exit), Ok(Some(tail))) => {
                sandbox_denied(true, Some(exit), std::iter::once(tail.as_slice()))
            }
            _ => false,
        };
    if outcome.dropped_before.is_some() {
        context.shared.metrics.gap();
    }
    Ok((outcome, denied))
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

#[cfg(test)]
mod tests {
    use exec_engine::ExitStatus;

    use super::sandbox_denied;

    #[test]
    fn sandbox_denied_is_a_tail_heuristic_for_sandboxed_failures_only() {
        let denied =
            |sandboxed, exit, output: &[&[u8]]| sandbox_denied(sandboxed, exit, output.iter().copied());
        let failed = Some(ExitStatus::Code(1));
        assert!(denied(true, failed, &[b"sh: 1: cannot create /x: Read-only ", b"file system\n"]));
        assert!(denied(true, Some(ExitStatus::Signal(31)), &[b"Operation not permitted"]));
        assert!(!denied(false, failed, &[b"Permission denied"]), "never without a sandbox");
        assert!(!denied(true, Some(ExitStatus::Code(0)), &[b"Permission denied"]), "never on success");
        assert!(!denied(true, None, &[b"Permission denied"]), "never while running");
        assert!(!denied(true, failed, &[b"exit 1"]));
        // Only the tail counts: an early denial followed by lots of other output is not one.
        let noise = vec![b'.'; exec_sandbox::DENIAL_TAIL_BYTES];
        assert!(!denied(true, failed, &[b"Permission denied", &noise]));
    }
}
