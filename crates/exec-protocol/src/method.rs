//! Method names: every request and notification of the protocol, as it appears in `"method"`.
//!
//! Names follow `resource/verb`. The ones marked *extension* are not known to the Codex peer; a
//! client discovers them through [`crate::capability`] in the `initialize` result. This module
//! holds names only; the params and results live next to their resource ([`crate::process`],
//! [`crate::fs`], [`crate::initialize`]).

/// Request, client → server: opens or resumes a session. [`crate::initialize::InitializeParams`].
pub const INITIALIZE: &str = "initialize";
/// Notification, client → server: ends the handshake; exec and fs methods are allowed after it.
pub const INITIALIZED: &str = "initialized";

/// Request: starts a process. [`crate::process::ProcessStartParams`].
pub const PROCESS_START: &str = "process/start";
/// Request: reads retained output, optionally long-polling. [`crate::process::ProcessReadParams`].
pub const PROCESS_READ: &str = "process/read";
/// Request: writes to a process's stdin. [`crate::process::ProcessWriteParams`].
pub const PROCESS_WRITE: &str = "process/write";
/// Request: kills a process. [`crate::process::ProcessTerminateParams`].
pub const PROCESS_TERMINATE: &str = "process/terminate";
/// Request (extension): sends a named signal. [`crate::process::ProcessSignalParams`].
pub const PROCESS_SIGNAL: &str = "process/signal";
/// Request (extension): resizes a TTY. [`crate::process::ProcessResizeParams`].
pub const PROCESS_RESIZE: &str = "process/resize";
/// Request (extension): lists the session's processes. [`crate::process::ProcessListParams`].
pub const PROCESS_LIST: &str = "process/list";

/// Notification, server → client: a chunk of output. [`crate::process::ProcessOutputNotification`].
pub const PROCESS_OUTPUT: &str = "process/output";
/// Notification, server → client: the process exited. [`crate::process::ProcessExitedNotification`].
pub const PROCESS_EXITED: &str = "process/exited";
/// Notification, server → client: exited and every output stream reached EOF.
/// [`crate::process::ProcessClosedNotification`].
pub const PROCESS_CLOSED: &str = "process/closed";

/// Request: reads a whole file. [`crate::fs::FsReadFileParams`].
pub const FS_READ_FILE: &str = "fs/readFile";
/// Request: writes a whole file. [`crate::fs::FsWriteFileParams`].
pub const FS_WRITE_FILE: &str = "fs/writeFile";
/// Request: creates a directory. [`crate::fs::FsCreateDirectoryParams`].
pub const FS_CREATE_DIRECTORY: &str = "fs/createDirectory";
/// Request: stats a path. [`crate::fs::FsGetMetadataParams`].
pub const FS_GET_METADATA: &str = "fs/getMetadata";
/// Request: lists a directory. [`crate::fs::FsReadDirectoryParams`].
pub const FS_READ_DIRECTORY: &str = "fs/readDirectory";
/// Request: removes a file or directory. [`crate::fs::FsRemoveParams`].
pub const FS_REMOVE: &str = "fs/remove";
/// Request: copies a file or directory. [`crate::fs::FsCopyParams`].
pub const FS_COPY: &str = "fs/copy";

/// Every request method the server answers, in documentation order.
pub const REQUESTS: &[&str] = &[
    INITIALIZE,
    PROCESS_START,
    PROCESS_READ,
    PROCESS_WRITE,
    PROCESS_TERMINATE,
    PROCESS_SIGNAL,
    PROCESS_RESIZE,
    PROCESS_LIST,
    FS_READ_FILE,
    FS_WRITE_FILE,
    FS_CREATE_DIRECTORY,
    FS_GET_METADATA,
    FS_READ_DIRECTORY,
    FS_REMOVE,
    FS_COPY,
];

/// Every notification, in either direction.
pub const NOTIFICATIONS: &[&str] = &[INITIALIZED, PROCESS_OUTPUT, PROCESS_EXITED, PROCESS_CLOSED];
