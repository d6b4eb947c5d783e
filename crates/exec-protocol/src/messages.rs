//! The exact error-message strings the protocol pins.
//!
//! Where the Codex peer has a message for the same situation we use its wording verbatim (verified
//! against `@openai/codex@0.123.0`), so log scrapers and tests written against the peer keep
//! working. Messages are lowercase and name the thing. This module only builds strings; which code
//! goes with which message is decided where the error is raised (the codes are noted per item).

/// -32600: an exec method (`process/*`) arrived before `initialize` succeeded.
pub const EXEC_BEFORE_INITIALIZE: &str = "client must call initialize before using exec methods";
/// -32600: an exec method arrived after `initialize` but before the `initialized` notification.
pub const EXEC_BEFORE_INITIALIZED: &str = "client must send initialized before using exec methods";
/// -32600: an `fs/*` method arrived before `initialize` succeeded.
pub const FS_BEFORE_INITIALIZE: &str = "client must call initialize before using filesystem methods";
/// -32600: an `fs/*` method arrived after `initialize` but before `initialized`.
pub const FS_BEFORE_INITIALIZED: &str = "client must send initialized before using filesystem methods";
/// -32600: a second successful `initialize` on one connection.
pub const ALREADY_INITIALIZED: &str = "initialize may only be sent once per connection";
/// -32602: `process/start` with an empty `argv`.
pub const ARGV_EMPTY: &str = "argv must not be empty";
/// -32602: `process/list` with params other than `{}`, `null` or none.
pub const LIST_TAKES_NO_PARAMS: &str = "process/list takes no params";
/// -32600: an in-flight call on a connection that another connection took the session from.
pub const SESSION_RESUMED_ELSEWHERE: &str = "session has been resumed by another connection";

/// -32602: `process/start {wait}` whose `timeoutMs` is above the server's limit.
pub fn start_wait_too_long(timeout_ms: u64, limit_ms: u64) -> String {
    format!("wait.timeoutMs is {timeout_ms}; the limit is {limit_ms}")
}

/// -32602: `process/start {wait}` whose `maxBytes` is 0 or above the server's limit.
pub fn start_wait_bytes_out_of_range(max_bytes: u64, limit: u64) -> String {
    format!("wait.maxBytes is {max_bytes}; it must be between 1 and {limit}")
}

/// -32600: `process/start` with a `processId` already used in the session.
pub fn process_already_exists(process_id: &str) -> String {
    format!("process {process_id} already exists")
}

/// -32600: `process/read` (and the extension methods) for a `processId` the session does not have.
pub fn unknown_process(process_id: &str) -> String {
    format!("unknown process id {process_id}")
}

/// -32600: `initialize {resumeSessionId}` for a session that never existed or has expired.
pub fn unknown_session(session_id: &str) -> String {
    format!("unknown session id {session_id}")
}

/// -32600: `process/resize` of a process that has no PTY.
pub fn not_a_tty(process_id: &str) -> String {
    format!("process {process_id} has no tty")
}

/// -32602: `process/start` whose `cwd` is not absolute (a `file://` URI is also accepted).
pub fn cwd_not_absolute(cwd: &str) -> String {
    format!("cwd must be an absolute path: {cwd}")
}

/// -32600: `process/start` past the per-session or total process limit.
pub fn too_many_processes(limit: usize) -> String {
    format!("too many processes (limit {limit})")
}

/// -32600: `initialize` when the server already holds its maximum number of sessions.
pub fn too_many_sessions(limit: usize) -> String {
    format!("too many sessions (limit {limit})")
}

/// -32600 with id -1: a frame larger than the server's message limit.
pub fn message_too_large(limit: usize) -> String {
    format!("message exceeds the maximum size of {limit} bytes")
}

/// -32603: a result or response the server could not encode (a bug, never client input).
pub fn cannot_encode(what: &str, error: &impl std::fmt::Display) -> String {
    format!("cannot encode the {what}: {error}")
}

/// -32603 (`data.kind: "sandboxPreparation"`): the child could not be confined as asked, so it
/// was never run.
pub fn sandbox_not_applied(error: &impl std::fmt::Display) -> String {
    format!("failed to apply the sandbox: {error}")
}

/// -32601: a method the server does not know.
///
/// The Codex peer says "exec-server stub does not implement `M` yet"; the code (-32601) is the
/// contract, and our text says what is true for us.
pub fn method_not_found(method: &str) -> String {
    format!("unknown method `{method}`")
}

/// -32600: `fs/writeFile` whose `dataBase64` is not valid base64 (the peer's wording).
pub fn invalid_write_file_data(decode_error: &impl std::fmt::Display) -> String {
    format!("fs/writeFile requires valid base64 dataBase64: {decode_error}")
}

/// -32600: `fs/copy` of a directory without `recursive: true` (the peer's wording).
pub const COPY_DIRECTORY_NOT_RECURSIVE: &str =
    "fs/copy requires recursive: true when sourcePath is a directory";

/// -32600: `fs/copy` of a directory into itself or below itself.
pub fn copy_into_itself(source: &str, destination: &str) -> String {
    format!("cannot copy directory {source} into itself ({destination})")
}

/// -32602: a path parameter that is not absolute.
pub fn path_not_absolute(path: &str) -> String {
    format!("path must be absolute: {path}")
}

// ---------------------------------------------------------------------------------------------
// Hostile-input guards of the fs methods (issue 12). Our own wording: the peer has no such
// refusals. All are -32600 (the request cannot work as asked) and are pinned by
// `bin/exec-server/tests/it/hostile.rs`.

/// -32600: an `fs/*` method met a special file (FIFO, socket, device) or another non-regular
/// file where it reads or writes file contents. `action` is `read`, `write` or `copy`; `kind`
/// names what the path is (`fifo`, `socket`, `character device`, ...).
pub fn not_a_regular_file(action: &str, path: &str, kind: &str) -> String {
    format!("cannot {action} {path}: it is a {kind}, not a regular file")
}

/// -32600: `fs/readFile` of a file larger than the server's read limit (which keeps the base64
/// response under the message size limit). Names the chunked way to read it. The 0.171 reference
/// has no such limit, so no client matches this text; its code is what a client acts on.
pub fn file_too_large(path: &str, limit: u64) -> String {
    format!(
        "cannot read {path}: file too large (the limit is {limit} bytes); \
         read it in blocks with fs/open and fs/readBlock"
    )
}

/// `data.kind` of the -32600 [`file_too_large`] (our extension): a client that can read in
/// blocks knows to switch to them without reading the text.
pub const KIND_FILE_TOO_LARGE: &str = "fileTooLarge";

/// -32600: `fs/writeFile` through more links than the kernel follows (`ELOOP`, found while
/// resolving the links to write through them).
pub fn write_through_too_many_links(path: &str) -> String {
    format!("cannot write {path}: too many levels of symbolic links")
}

/// -32004, -32600 or -32603 by the OS error's kind: an `fs/*` operation the operating system
/// refused. `action` says what was tried (`cannot read`, `cannot write`, `cannot stat`, ...);
/// the OS text ends the message (`No such file or directory (os error 2)`).
pub fn fs_os_error(action: &str, path: &str, error: &impl std::fmt::Display) -> String {
    format!("{action} {path}: {error}")
}

/// -32603: the blocking task running an `fs/*` operation ended without an answer (it panicked:
/// a bug, never client input).
pub fn fs_operation_failed(error: &impl std::fmt::Display) -> String {
    format!("file operation failed: {error}")
}

/// -32603: the blocking task evaluating a large `envPolicy` ended without an answer (a bug,
/// never client input).
pub fn env_policy_evaluation_failed(error: &impl std::fmt::Display) -> String {
    format!("envPolicy evaluation failed: {error}")
}

/// -32603 `sandboxPreparation`: the kernel could enforce the intent but setting it up failed
/// (a path could not be opened).
pub fn sandbox_preparation_failed(reason: &impl std::fmt::Display) -> String {
    format!("sandbox preparation failed: {reason}")
}

/// -32600: `fs/remove` of `/` or a protected system path; `canonical` is what `path` resolves to.
pub fn protected_path(path: &str, canonical: &str) -> String {
    format!("refusing to remove {path}: {canonical} is a protected system path")
}

/// -32600: `fs/remove` of one of the server's own files (its token, config, audit log, TLS
/// certificate or key) or of a folder holding one; `canonical` is what `path` resolves to.
pub fn protected_server_file(path: &str, canonical: &str) -> String {
    format!("refusing to remove {path}: {canonical} is or holds one of the server's own files")
}

/// -32600: `fs/remove` of the home directory of the user the server runs as.
pub fn protected_home_directory(path: &str, canonical: &str) -> String {
    format!("refusing to remove {path}: {canonical} is the home directory of the server's user")
}

/// -32603: an `fs/*` operation still running after the server's bound on it (a file on a hung
/// network mount, a kernel file whose read waits). The operation may still finish on its own.
pub fn fs_operation_timed_out(seconds: u64) -> String {
    format!("file operation did not finish within {seconds} s; it may still complete")
}

// ---------------------------------------------------------------------------------------------
// `envPolicy` pattern limits (issue 12). Our own wording; both -32602. `field` is the wire name
// (`exclude` or `includeOnly`).

/// -32602: an `envPolicy` list with more patterns than the server evaluates.
pub fn env_policy_too_many_patterns(field: &str, count: usize, limit: usize) -> String {
    format!("envPolicy.{field} holds {count} patterns; the limit is {limit}")
}

/// -32602: an `envPolicy` pattern longer than the server evaluates.
pub fn env_policy_pattern_too_long(field: &str, index: usize, bytes: usize, limit: usize) -> String {
    format!("envPolicy.{field}[{index}] is {bytes} bytes long; the limit is {limit}")
}

// ---------------------------------------------------------------------------------------------
// The 0.171 surface (issue 11): sandbox intents, spawn error kinds, chunked files, walks.

/// `data.kind` of a -32603 when a sandbox that was asked for cannot be enforced on this machine
/// (or the intent holds something the enforcement cannot express): the request did not run.
pub const KIND_SANDBOX_UNAVAILABLE: &str = "sandboxUnavailable";
/// `data.kind` of a -32603 when setting the sandbox up failed (a path could not be opened).
pub const KIND_SANDBOX_PREPARATION: &str = "sandboxPreparation";
/// `data.kind` of a spawn failure: the program or the working directory does not exist.
pub const KIND_SPAWN_NOT_FOUND: &str = "spawnNotFound";
/// `data.kind` of a spawn failure: the program or the working directory may not be used.
pub const KIND_SPAWN_PERMISSION_DENIED: &str = "spawnPermissionDenied";
/// `data.kind` of any other spawn failure.
pub const KIND_SPAWN_FAILED: &str = "spawnFailed";

/// -32603 `sandboxUnavailable`: the intent holds something the sandbox cannot enforce exactly.
pub fn sandbox_intent_refused(reason: &impl std::fmt::Display) -> String {
    format!("sandbox unavailable: {reason}")
}

/// -32603 `sandboxUnavailable`: an intent whose `cwd` or `workspaceRoots` disagree with its
/// `policyContext`.
pub const SANDBOX_CONTEXT_MISMATCH: &str =
    "sandbox unavailable: cwd and workspaceRoots disagree with policyContext";

/// -32603 `sandboxUnavailable`: an intent without a `cwd` on a call that has none of its own.
pub const SANDBOX_WITHOUT_CWD: &str = "sandbox unavailable: the sandbox intent names no cwd";

/// -32603 `sandboxUnavailable`: a `file_system.type` other than `restricted`/`unrestricted`.
pub const SANDBOX_FILE_SYSTEM_TYPE: &str =
    "sandbox unavailable: file_system type is not enforceable here (restricted or unrestricted only)";

/// -32602: a path in a sandbox intent that is neither absolute nor a `file://` URI.
pub fn sandbox_path_not_absolute(path: &str) -> String {
    format!("sandbox path must be absolute: {path}")
}

/// -32004: a chunked-file call with a handle id the session does not have open (the 0.171
/// reference's wording).
pub fn unknown_file_handle(handle_id: &str) -> String {
    format!("unknown file handle `{handle_id}`")
}

/// -32600: `fs/open` with a handle id that is already open in the session.
pub fn file_handle_in_use(handle_id: &str) -> String {
    format!("file handle `{handle_id}` is already open")
}

/// -32600: `fs/open` when the session already holds its maximum number of open files.
pub fn too_many_open_files(limit: usize) -> String {
    format!("too many open file handles (limit {limit}); close one first")
}

/// -32600: `fs/readBlock` on a `replace` handle or `fs/writeBlock` on a `read` handle.
pub fn wrong_handle_mode(handle_id: &str, mode: &str) -> String {
    format!("file handle `{handle_id}` is open for {mode}")
}

/// -32600: `fs/writeBlock` whose block would make the file larger than the server allows.
pub fn file_block_beyond_limit(handle_id: &str, limit: u64) -> String {
    format!("file handle `{handle_id}`: a block beyond {limit} bytes is refused")
}

/// -32600 (the 0.171 reference's wording and code): `fs/getMetadata` with `followSymlinks:
/// false` on a symbolic link.
pub const PATH_IS_SYMLINK: &str = "path contains a symbolic link";

/// -32600: `fs/watchMissing` when the connection already holds its maximum number of watches.
pub fn too_many_watches(limit: usize) -> String {
    format!("too many watches (limit {limit})")
}

/// -32600: `fs/watchMissing` with more paths than one watch may hold.
pub fn too_many_watched_paths(count: usize, limit: usize) -> String {
    format!("fs/watchMissing names {count} paths; the limit is {limit}")
}

/// -32603: the kernel refused a watch (inotify limits).
pub fn cannot_watch(error: &impl std::fmt::Display) -> String {
    format!("cannot watch: {error}")
}

/// -32600: `fs/walk` of a path that is not a directory.
pub fn walk_not_a_directory(path: &str) -> String {
    format!("cannot walk {path}: not a directory")
}

// Per-connection and per-process bounds (issue 12). Our own wording.

/// -32603: a `process/write` whose bytes the child did not take within the server's bound (it
/// does not read its stdin). A write not yet started when the bound passed is dropped; one the
/// server had started writing may have been delivered in part.
pub fn stdin_write_timed_out(process_id: &str, waited_ms: u128, queued_limit: usize) -> String {
    format!(
        "process {process_id} did not read its stdin within {waited_ms} ms \
         (at most {queued_limit} bytes are queued per process); the write was not completed"
    )
}

/// -32602: a client-chosen id or name (`processId`, `clientName`, `writeId`, ...) longer than
/// `exec_protocol::ids::MAX_ID_BYTES`.
pub fn id_too_long(field: &str, bytes: usize, limit: usize) -> String {
    format!("{field} is {bytes} bytes long; the limit is {limit} bytes")
}

/// WebSocket close reason (code 1008) for a connection that did not complete `initialize` within
/// the server's handshake deadline.
pub fn initialize_timed_out(waited_ms: u128) -> String {
    format!("initialize was not completed within {waited_ms} ms")
}

/// Body of the HTTP 503 answer to a connection refused because too many connections have not
/// completed `initialize` yet.
pub fn too_many_uninitialized_connections(limit: usize) -> String {
    format!("too many connections waiting to initialize (limit {limit})")
}
