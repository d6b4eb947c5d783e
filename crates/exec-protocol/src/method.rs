//! Method names: every request and notification of the protocol, as it appears in `"method"`.
//!
//! Names follow `resource/verb`. The ones marked *extension* are not known to the Codex peer; a
//! client discovers them through [`crate::capability`] in the `initialize` result. This module
//! holds names only; the params and results live next to their resource ([`crate::process`],
//! [`crate::fs`], [`crate::initialize`], [`crate::environment`]).

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

/// Request (0.171): resolves every link of a path. [`crate::fs::FsCanonicalizeParams`].
pub const FS_CANONICALIZE: &str = "fs/canonicalize";
/// Request (0.171): lists a tree, bounded. [`crate::fs::FsWalkParams`].
pub const FS_WALK: &str = "fs/walk";
/// Request (0.171): opens a file for chunked reading or replacing. [`crate::fs::FsOpenParams`].
pub const FS_OPEN: &str = "fs/open";
/// Request (0.171): reads a block of an open file. [`crate::fs::FsReadBlockParams`].
pub const FS_READ_BLOCK: &str = "fs/readBlock";
/// Request (0.171): writes a block of an open file. [`crate::fs::FsWriteBlockParams`].
pub const FS_WRITE_BLOCK: &str = "fs/writeBlock";
/// Request (0.171): closes an open file. [`crate::fs::FsCloseParams`].
pub const FS_CLOSE: &str = "fs/close";

/// Request (0.171): watches paths for appearing or disappearing. [`crate::fs::FsWatchMissingParams`].
pub const FS_WATCH_MISSING: &str = "fs/watchMissing";
/// Notification, server → client (0.171): a watched place changed.
/// [`crate::fs::FsMissingChangedNotification`].
pub const FS_MISSING_CHANGED: &str = "fs/missingChanged";

/// Request (0.171): the executor's `environmentInfo`. [`crate::environment::EnvironmentParams`].
pub const ENVIRONMENT_INFO: &str = "environment/info";
/// Request (0.171): whether the executor is ready. [`crate::environment::EnvironmentParams`].
pub const ENVIRONMENT_STATUS: &str = "environment/status";

/// A request method: its wire name and the types of its params and result. The marker types
/// below implement it; a server registers a handler per marker and a client sends through it,
/// so a name can never be paired with the wrong types.
pub trait Request {
    /// The `"method"` string.
    const NAME: &'static str;
    /// What `"params"` decodes into.
    type Params: serde::Serialize + serde::de::DeserializeOwned + Send + 'static;
    /// What `"result"` carries.
    type Response: serde::Serialize + serde::de::DeserializeOwned + Send + 'static;
}

/// Declares the marker types and [`REQUESTS`] from one list, so the two cannot drift.
macro_rules! requests {
    ($($(#[$doc:meta])* $marker:ident = $name:ident: $params:ty => $response:ty;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub enum $marker {}

            impl Request for $marker {
                const NAME: &'static str = $name;
                type Params = $params;
                type Response = $response;
            }
        )*

        /// Every request method of the protocol, in documentation order.
        pub const REQUESTS: &[&str] = &[$($name),*];
    };
}

requests! {
    /// `initialize`.
    Initialize = INITIALIZE: crate::initialize::InitializeParams => crate::initialize::InitializeResponse;
    /// `process/start`.
    ProcessStart = PROCESS_START: crate::process::ProcessStartParams => crate::process::ProcessStartResponse;
    /// `process/read`.
    ProcessRead = PROCESS_READ: crate::process::ProcessReadParams => crate::process::ProcessReadResponse;
    /// `process/write`.
    ProcessWrite = PROCESS_WRITE: crate::process::ProcessWriteParams => crate::process::ProcessWriteResponse;
    /// `process/terminate`.
    ProcessTerminate = PROCESS_TERMINATE:
        crate::process::ProcessTerminateParams => crate::process::ProcessTerminateResponse;
    /// `process/signal` (extension).
    ProcessSignal = PROCESS_SIGNAL: crate::process::ProcessSignalParams => crate::process::ProcessSignalResponse;
    /// `process/resize` (extension).
    ProcessResize = PROCESS_RESIZE: crate::process::ProcessResizeParams => crate::process::ProcessResizeResponse;
    /// `process/list` (extension).
    ProcessList = PROCESS_LIST: crate::process::ProcessListParams => crate::process::ProcessListResponse;
    /// `fs/readFile`.
    FsReadFile = FS_READ_FILE: crate::fs::FsReadFileParams => crate::fs::FsReadFileResponse;
    /// `fs/writeFile`.
    FsWriteFile = FS_WRITE_FILE: crate::fs::FsWriteFileParams => crate::fs::FsWriteFileResponse;
    /// `fs/createDirectory`.
    FsCreateDirectory = FS_CREATE_DIRECTORY:
        crate::fs::FsCreateDirectoryParams => crate::fs::FsCreateDirectoryResponse;
    /// `fs/getMetadata`.
    FsGetMetadata = FS_GET_METADATA: crate::fs::FsGetMetadataParams => crate::fs::FsGetMetadataResponse;
    /// `fs/readDirectory`.
    FsReadDirectory = FS_READ_DIRECTORY: crate::fs::FsReadDirectoryParams => crate::fs::FsReadDirectoryResponse;
    /// `fs/remove`.
    FsRemove = FS_REMOVE: crate::fs::FsRemoveParams => crate::fs::FsRemoveResponse;
    /// `fs/copy`.
    FsCopy = FS_COPY: crate::fs::FsCopyParams => crate::fs::FsCopyResponse;
    /// `fs/canonicalize` (0.171).
    FsCanonicalize = FS_CANONICALIZE: crate::fs::FsCanonicalizeParams => crate::fs::FsCanonicalizeResponse;
    /// `fs/walk` (0.171).
    FsWalk = FS_WALK: crate::fs::FsWalkParams => crate::fs::FsWalkResponse;
    /// `fs/open` (0.171).
    FsOpen = FS_OPEN: crate::fs::FsOpenParams => crate::fs::FsOpenResponse;
    /// `fs/readBlock` (0.171).
    FsReadBlock = FS_READ_BLOCK: crate::fs::FsReadBlockParams => crate::fs::FsReadBlockResponse;
    /// `fs/writeBlock` (0.171).
    FsWriteBlock = FS_WRITE_BLOCK: crate::fs::FsWriteBlockParams => crate::fs::FsWriteBlockResponse;
    /// `fs/close` (0.171).
    FsClose = FS_CLOSE: crate::fs::FsCloseParams => crate::fs::FsCloseResponse;
    /// `fs/watchMissing` (0.171).
    FsWatchMissing = FS_WATCH_MISSING: crate::fs::FsWatchMissingParams => crate::fs::FsWatchMissingResponse;
    /// `environment/info` (0.171).
    EnvironmentInfo = ENVIRONMENT_INFO:
        crate::environment::EnvironmentParams => crate::environment::EnvironmentInfo;
    /// `environment/status` (0.171).
    EnvironmentStatus = ENVIRONMENT_STATUS:
        crate::environment::EnvironmentParams => crate::environment::EnvironmentStatusResponse;
}

/// Every notification, in either direction.
pub const NOTIFICATIONS: &[&str] =
    &[INITIALIZED, PROCESS_OUTPUT, PROCESS_EXITED, PROCESS_CLOSED, FS_MISSING_CHANGED];
