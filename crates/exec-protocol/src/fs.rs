//! `fs/*` params and results: whole-file reads and writes, directories, metadata, remove, copy,
//! and the 0.171 additions (canonicalize, walk, chunked files).
//!
//! The Codex peer (0.123.0) serves the first seven methods, so their shapes and defaults are its
//! shapes: file contents travel in `dataBase64`, `createDirectory` and `remove` default
//! `recursive` (and `remove`'s `force`) to `true`, `copy` requires `recursive`. A missing path
//! answers -32004 with the OS error text. Paths are absolute path strings (April client) or
//! `file://` URIs (0.171 client); both decode as text here. The 0.171 client adds `sandbox` (a
//! [`SandboxParams`], `null` for none) to every call and `followSymlinks` to five of them; the
//! shapes of `fs/canonicalize`, `fs/walk`, `fs/open`, `fs/readBlock`, `fs/writeBlock` and
//! `fs/close` are the 0.171 server's (docs/codex-0.171-wire.md §4).
//!
//! No file-system access happens here; these are the shapes only.

use serde::{Deserialize, Serialize};

use crate::bytes::ByteChunk;
use crate::sandbox::SandboxParams;

/// Params of `fs/readFile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsReadFileParams {
    /// Absolute path of a regular file.
    pub path: String,
    /// The sandbox intent this operation runs under; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
    /// `false`: do not follow a symbolic link at the path itself (0.171). Absent: follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_symlinks: Option<bool>,
}

/// Result of `fs/readFile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsReadFileResponse {
    /// The whole file.
    pub data_base64: ByteChunk,
}

/// Params of `fs/writeFile`.
///
/// `dataBase64` stays text here because the peer reports bad base64 as -32600 with its own message
/// ([`crate::messages::invalid_write_file_data`]) rather than as a params error; decode it with
/// [`FsWriteFileParams::decode_data`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsWriteFileParams {
    /// Absolute path; the parent directory must exist. The file is created or truncated.
    pub path: String,
    /// The new contents, base64.
    pub data_base64: String,
    /// The sandbox intent this operation runs under; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
    /// `false`: do not follow a symbolic link at the path itself (0.171). Absent: follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_symlinks: Option<bool>,
    /// Accepted and ignored, as the 0.171 reference does (a whole-file write is idempotent
    /// anyway: writing the same data twice leaves the same file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_id: Option<String>,
}

impl FsWriteFileParams {
    /// Decodes `dataBase64` (standard alphabet, padding required).
    pub fn decode_data(&self) -> Result<ByteChunk, base64::DecodeError> {
        ByteChunk::from_base64(&self.data_base64)
    }
}

/// Result of `fs/writeFile` (an empty object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FsWriteFileResponse {}

/// Params of `fs/createDirectory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsCreateDirectoryParams {
    /// Absolute path of the directory.
    pub path: String,
    /// Create missing parents and accept an existing directory; absent means `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<bool>,
    /// The sandbox intent this operation runs under; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
    /// `false`: do not follow a symbolic link at the path itself (0.171). Absent: follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_symlinks: Option<bool>,
}

impl FsCreateDirectoryParams {
    /// `recursive` with the peer's default (`true`) applied.
    pub fn recursive(&self) -> bool {
        self.recursive.unwrap_or(true)
    }
}

/// Result of `fs/createDirectory` (an empty object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FsCreateDirectoryResponse {}

/// Params of `fs/getMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsGetMetadataParams {
    /// Absolute path.
    pub path: String,
    /// The sandbox intent this operation runs under; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
    /// `false`: do not follow a symbolic link at the path itself (0.171). Absent: follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_symlinks: Option<bool>,
}

/// Result of `fs/getMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsGetMetadataResponse {
    /// The path is a directory (after following symlinks).
    pub is_directory: bool,
    /// The path is a regular file (after following symlinks).
    pub is_file: bool,
    /// The path itself is a symlink.
    pub is_symlink: bool,
    /// Creation time in milliseconds since the Unix epoch; 0 when the platform does not know it.
    pub created_at_ms: i64,
    /// Modification time in milliseconds since the Unix epoch.
    pub modified_at_ms: i64,
    /// Size in bytes (an extension in April; always present from ours and from the 0.171 peer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// Params of `fs/readDirectory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsReadDirectoryParams {
    /// Absolute path of a directory.
    pub path: String,
    /// The sandbox intent this operation runs under; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
}

/// Result of `fs/readDirectory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsReadDirectoryResponse {
    /// The entries, without `.` and `..`, in no promised order.
    pub entries: Vec<FsDirectoryEntry>,
}

/// One entry of `fs/readDirectory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsDirectoryEntry {
    /// The name within the directory.
    pub file_name: String,
    /// A directory.
    pub is_directory: bool,
    /// A regular file.
    pub is_file: bool,
}

/// Params of `fs/remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsRemoveParams {
    /// Absolute path.
    pub path: String,
    /// Remove a directory with its contents; absent means `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<bool>,
    /// A missing path is success; absent means `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// The sandbox intent this operation runs under; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
    /// `false`: do not follow a symbolic link at the path itself (0.171). Absent: follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_symlinks: Option<bool>,
}

impl FsRemoveParams {
    /// `recursive` with the peer's default (`true`) applied.
    pub fn recursive(&self) -> bool {
        self.recursive.unwrap_or(true)
    }

    /// `force` with the peer's default (`true`) applied.
    pub fn force(&self) -> bool {
        self.force.unwrap_or(true)
    }
}

/// Result of `fs/remove` (an empty object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FsRemoveResponse {}

/// Params of `fs/copy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsCopyParams {
    /// Absolute path of the file or directory to copy.
    pub source_path: String,
    /// Absolute path of the copy.
    pub destination_path: String,
    /// Required; must be `true` to copy a directory.
    pub recursive: bool,
    /// The sandbox intent this operation runs under; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
}

/// Result of `fs/copy` (an empty object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FsCopyResponse {}

/// Params of `fs/canonicalize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsCanonicalizeParams {
    /// Absolute path or URI; every component must exist.
    pub path: String,
    /// The sandbox intent; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
}

/// Result of `fs/canonicalize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsCanonicalizeResponse {
    /// The path with every link, `.` and `..` resolved, in the form the request used (URI or
    /// plain path).
    pub path: String,
}

/// Params of `fs/walk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsWalkParams {
    /// The directory to walk.
    pub path: String,
    /// Bounds; required, like the reference.
    pub options: FsWalkOptions,
    /// The sandbox intent; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
}

/// `fs/walk`'s `options`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsWalkOptions {
    /// How deep to descend: 1 lists the directory's own entries. Required.
    pub max_depth: u32,
    /// Stop after this many entries (`truncated` is then true). The server caps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_entries: Option<u64>,
    /// Stop after descending into this many directories. The server caps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_directories: Option<u64>,
    /// Descend into symbolic links to directories (listed as directories). Links to files are
    /// never listed.
    #[serde(default)]
    pub follow_directory_symlinks: bool,
}

/// Result of `fs/walk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsWalkResponse {
    /// Entries below the path (not the path itself), parents before children, names sorted.
    pub entries: Vec<FsWalkEntry>,
    /// Directories that could not be read; the walk went on without them.
    pub errors: Vec<FsWalkError>,
    /// A bound stopped the walk before it saw everything.
    pub truncated: bool,
}

/// One entry of `fs/walk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsWalkEntry {
    /// The entry's path, in the form the request used.
    pub path: String,
    /// `file` or `directory`.
    pub kind: FsEntryKind,
}

/// What an `fs/walk` entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FsEntryKind {
    /// A regular file.
    File,
    /// A directory (or, with `followDirectorySymlinks`, a link to one).
    Directory,
}

/// A directory `fs/walk` could not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsWalkError {
    /// The directory, in the form the request used.
    pub path: String,
    /// The OS error text.
    pub message: String,
}

/// Params of `fs/open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsOpenParams {
    /// Client-chosen handle id, unique among the session's open handles.
    pub handle_id: String,
    /// The file.
    pub path: String,
    /// `read` (the default) or `replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FsOpenMode>,
    /// The sandbox intent; `null` or absent: none. Checked at open time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
}

/// `fs/open`'s `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FsOpenMode {
    /// Read blocks of an existing regular file.
    Read,
    /// Write blocks of a new version of the file; it replaces the old one atomically at
    /// `fs/close`.
    Replace,
}

/// Result of `fs/open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsOpenResponse {
    /// The id from the params.
    pub handle_id: String,
}

/// Params of `fs/readBlock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsReadBlockParams {
    /// An open `read` handle.
    pub handle_id: String,
    /// Where to read from.
    pub offset: u64,
    /// At most this many bytes (the server caps it).
    pub len: u64,
}

/// Result of `fs/readBlock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsReadBlockResponse {
    /// The bytes read (fewer than `len` at the end of the file).
    pub chunk: ByteChunk,
    /// The block reached the end of the file.
    pub eof: bool,
}

/// Params of `fs/writeBlock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsWriteBlockParams {
    /// An open `replace` handle.
    pub handle_id: String,
    /// Where the block goes.
    pub offset: u64,
    /// The bytes.
    pub chunk: ByteChunk,
}

/// Result of `fs/writeBlock` (an empty object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FsWriteBlockResponse {}

/// Params of `fs/close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsCloseParams {
    /// The handle to close; a `replace` handle commits its file here.
    pub handle_id: String,
}

/// Result of `fs/close` (an empty object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FsCloseResponse {}

/// Params of `fs/watchMissing` (0.171): watch paths for appearing (`missing`) or disappearing
/// (`present`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsWatchMissingParams {
    /// Client-chosen id (a number from the 0.171 client; any JSON scalar is echoed back as sent).
    /// Registering an id again replaces its watch.
    pub watch_id: serde_json::Value,
    /// Paths that do not exist yet.
    #[serde(default)]
    pub missing: Vec<String>,
    /// Paths that exist; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<Vec<String>>,
    /// Decoded (and refused when malformed) but not applied: watching reveals existence only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxParams>,
}

/// Result of `fs/watchMissing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsWatchMissingResponse {
    /// The watch is in place.
    pub watching: bool,
}

/// Notification `fs/missingChanged` (server → client, 0.171): something changed where a watch
/// looks; the client checks its paths again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsMissingChangedNotification {
    /// The id from `fs/watchMissing`.
    pub watch_id: serde_json::Value,
}
