//! `fs/*` params and results: whole-file reads and writes, directories, metadata, remove, copy.
//!
//! The Codex peer (0.123.0) serves these methods, so their shapes and defaults are its shapes:
//! paths are absolute path strings (the peer rejects relative ones with -32602), file contents
//! travel in `dataBase64`, `createDirectory` and `remove` default `recursive` (and `remove`'s
//! `force`) to `true`, `copy` requires `recursive`. A missing path answers -32004 with the OS
//! error text. The only extension is `fs/getMetadata`'s `size`.
//!
//! No file-system access happens here; these are the shapes only.

use serde::{Deserialize, Serialize};

use crate::bytes::ByteChunk;

/// Params of `fs/readFile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsReadFileParams {
    /// Absolute path of a regular file.
    pub path: String,
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
    /// Extension: size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// Params of `fs/readDirectory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsReadDirectoryParams {
    /// Absolute path of a directory.
    pub path: String,
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
}

/// Result of `fs/copy` (an empty object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FsCopyResponse {}
