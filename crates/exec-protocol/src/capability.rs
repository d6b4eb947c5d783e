//! Names of the protocol extensions, as listed in the `initialize` result's `capabilities`.
//!
//! Each name stands for something a Codex-peer client never sees unless it asks: an extra method,
//! an extra optional field, or a behaviour. A client checks for a name before relying on it; a
//! server that lists a name promises the whole feature. This module only names them.

/// The `process/signal` method.
pub const PROCESS_SIGNAL: &str = "process/signal";
/// The `process/resize` method.
pub const PROCESS_RESIZE: &str = "process/resize";
/// The `process/list` method.
pub const PROCESS_LIST: &str = "process/list";
/// `process/read` reports evicted output through `droppedBefore`.
pub const DROPPED_BEFORE: &str = "droppedBefore";
/// `process/write` honours `writeId` (a retried write is acknowledged, not repeated).
pub const WRITE_ID: &str = "writeId";
/// `process/write` honours `eof: true` (close stdin after the chunk).
pub const EOF: &str = "eof";
/// `process/terminate` honours `graceMs` (SIGTERM, then SIGKILL after the grace period).
pub const GRACE_MS: &str = "graceMs";
/// `process/start` honours `size {rows, cols}` for a TTY.
pub const SIZE: &str = "size";
/// `process/exited` carries `signal` when a signal ended the process (`exitCode` is then 128+N).
pub const EXIT_SIGNAL: &str = "exitSignal";
/// The `fs/*` methods are served (the extension fields of those methods included, such as
/// `fs/getMetadata`'s `size`).
pub const FS: &str = "fs";
/// `initialize {resumeSessionId}` of a still-attached session takes it over (the peer refuses).
pub const SESSION_TAKEOVER: &str = "sessionTakeover";
/// Each process's notifications are sent in seq order (the peer does not promise this; clients
/// that see this name may still reorder, which is then a no-op).
pub const ORDERED_NOTIFICATIONS: &str = "orderedNotifications";

/// Chunked reads are served: `fs/open` (mode `read`), `fs/readBlock`, `fs/close`. Named after the
/// method, so a client that knows the 0.171 surface can find it without `environmentInfo`
/// (whose `sandboxedFileStreaming` flag would also change what the Codex client does).
pub const FS_READ_BLOCK: &str = "fs/readBlock";
/// Chunked writes are served: `fs/open` (mode `replace`), `fs/writeBlock`, `fs/close`.
pub const FS_WRITE_BLOCK: &str = "fs/writeBlock";

/// `initialize {binaryOutput: true}` is honoured on a WebSocket: `process/output` then comes as
/// Binary frames laid out by [`crate::binary`]. Listed only where the transport can carry them
/// (not over stdio).
pub const BINARY_OUTPUT: &str = "binaryOutput";
/// `process/start` honours `wait {timeoutMs, maxBytes}`: it answers once the command closed or a
/// budget ran out, with the output, exit and close so far (`read` in the result).
pub const START_WAIT: &str = "startWait";

/// Every extension name this crate defines, in documentation order.
pub const ALL: &[&str] = &[
    PROCESS_SIGNAL,
    PROCESS_RESIZE,
    PROCESS_LIST,
    DROPPED_BEFORE,
    WRITE_ID,
    EOF,
    GRACE_MS,
    SIZE,
    EXIT_SIGNAL,
    FS,
    SESSION_TAKEOVER,
    ORDERED_NOTIFICATIONS,
    FS_READ_BLOCK,
    FS_WRITE_BLOCK,
    BINARY_OUTPUT,
    START_WAIT,
];
