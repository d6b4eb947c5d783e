//! The executor's file system through [`ExecClient`]: whole-file `fs/readFile`/`fs/writeFile`,
//! metadata, directories, and the chunked `fs/open`/`fs/readBlock`/`fs/writeBlock`/`fs/close`
//! where the server offers them (SPEC §12; the 0.171 shapes in `docs/codex-0.171-wire.md`).
//!
//! Paths are absolute paths on the executor. A current (0.171) Codex server wants `file://` URIs
//! and rejects plain paths; it is recognized by the `environmentInfo` in its `initialize` result,
//! and paths are converted for it here. Ours and the April peer take plain paths.
//!
//! This module does not walk trees or copy (that is `exec-client cp`); it is one call per
//! method.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use exec_protocol::ByteChunk;
use exec_protocol::fs as wire;
use exec_protocol::method;
use serde_json::{Value, json};

use super::{ClientError, ExecClient, Retry};

/// What `fs/getMetadata` says about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsMetadata {
    /// A directory.
    pub is_directory: bool,
    /// A regular file.
    pub is_file: bool,
    /// The path is a symbolic link (the other fields describe its target).
    pub is_symlink: bool,
    /// Size in bytes, when the server reports it.
    pub size: Option<u64>,
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsEntry {
    /// The name within the directory.
    pub name: String,
    /// A directory.
    pub is_directory: bool,
    /// A regular file.
    pub is_file: bool,
}

/// How [`ExecClient::fs_open`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read blocks from an existing file.
    Read,
    /// Create or truncate the file, then write blocks.
    Replace,
}

/// An open file on the executor (chunked methods). Close it with [`FileHandle::close`]; a
/// handle dropped unclosed stays open on the server until the connection ends.
#[derive(Debug)]
pub struct FileHandle {
    client: ExecClient,
    id: String,
}

static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

impl ExecClient {
    /// Whether the server wants `file://` URIs for paths, in `fs/*` calls and as the `cwd` of
    /// `process/start` (a current Codex server; [`ExecClient::start`] converts `cwd` itself).
    pub fn fs_wants_uris(&self) -> bool {
        self.inner.environment_info.is_some()
    }

    /// A flag of `environmentInfo.capabilities` (a current Codex server), false when absent.
    pub fn environment_capability(&self, name: &str) -> bool {
        self.inner
            .environment_info
            .as_ref()
            .and_then(|info| info.get("capabilities")?.get(name)?.as_bool())
            .unwrap_or(false)
    }

    /// Whether chunked reads (`fs/open` mode `read`, `fs/readBlock`) are offered: the
    /// `fs/readBlock` capability, or `sandboxedFileStreaming` in `environmentInfo`.
    pub fn has_chunked_read(&self) -> bool {
        self.has_capability(method_names::READ_BLOCK) || self.environment_capability("sandboxedFileStreaming")
    }

    /// Whether chunked writes (`fs/open` mode `replace`, `fs/writeBlock`) are offered: the
    /// `fs/writeBlock` capability, or `fileWriteStreaming` in `environmentInfo`.
    pub fn has_chunked_write(&self) -> bool {
        self.has_capability(method_names::WRITE_BLOCK) || self.environment_capability("fileWriteStreaming")
    }

    /// `path` as this server wants it on the wire.
    pub fn fs_wire_path(&self, path: &str) -> String {
        if self.fs_wants_uris() { file_uri(path) } else { path.to_owned() }
    }

    /// A path from the server, as a plain path.
    fn plain_path(path: &str) -> String {
        match path.strip_prefix("file://") {
            Some(rest) => percent_decode(rest),
            None => path.to_owned(),
        }
    }

    /// The whole file (`fs/readFile`). Servers cap this (ours near 8 MiB); use the chunked
    /// methods for more.
    pub async fn fs_read_file(&self, path: &str) -> Result<Bytes, ClientError> {
        let params = self.fs_params(json!({ "path": self.fs_wire_path(path) }));
        let response: wire::FsReadFileResponse =
            self.call(method::FS_READ_FILE, &params, Retry::Safe).await?;
        Ok(Bytes::from(response.data_base64.into_vec()))
    }

    /// Creates or replaces a file with `data` (`fs/writeFile`). The whole file travels in one
    /// message, so it must fit the server's message limit.
    pub async fn fs_write_file(&self, path: &str, data: &[u8]) -> Result<(), ClientError> {
        let params = self.fs_params(json!({
            "path": self.fs_wire_path(path),
            "dataBase64": ByteChunk::from(data).to_base64(),
        }));
        let _: Value = self.call(method::FS_WRITE_FILE, &params, Retry::Safe).await?;
        Ok(())
    }

    /// Metadata of a path (`fs/getMetadata`), following a final symbolic link.
    pub async fn fs_metadata(&self, path: &str) -> Result<FsMetadata, ClientError> {
        let params = self.fs_params(json!({ "path": self.fs_wire_path(path) }));
        let response: wire::FsGetMetadataResponse =
            self.call(method::FS_GET_METADATA, &params, Retry::Safe).await?;
        Ok(FsMetadata {
            is_directory: response.is_directory,
            is_file: response.is_file,
            is_symlink: response.is_symlink,
            size: response.size,
        })
    }

    /// The entries of a directory (`fs/readDirectory`), without `.` and `..`.
    pub async fn fs_read_directory(&self, path: &str) -> Result<Vec<FsEntry>, ClientError> {
        let params = self.fs_params(json!({ "path": self.fs_wire_path(path) }));
        let response: wire::FsReadDirectoryResponse =
            self.call(method::FS_READ_DIRECTORY, &params, Retry::Safe).await?;
        Ok(response
            .entries
            .into_iter()
            .map(|entry| FsEntry {
                name: Self::plain_path(&entry.file_name),
                is_directory: entry.is_directory,
                is_file: entry.is_file,
            })
            .collect())
    }

    /// Creates a directory (and, with `recursive`, its missing parents).
    pub async fn fs_create_directory(&self, path: &str, recursive: bool) -> Result<(), ClientError> {
        let params = self.fs_params(json!({ "path": self.fs_wire_path(path), "recursive": recursive }));
        let _: Value = self.call(method::FS_CREATE_DIRECTORY, &params, Retry::Safe).await?;
        Ok(())
    }

    /// Opens a file for chunked reads or writes (`fs/open`).
    pub async fn fs_open(&self, path: &str, mode: OpenMode) -> Result<FileHandle, ClientError> {
        let id = format!("h{}-{}", std::process::id(), NEXT_HANDLE.fetch_add(1, Ordering::Relaxed));
        let mode = match mode {
            OpenMode::Read => "read",
            OpenMode::Replace => "replace",
        };
        let params =
            json!({ "handleId": id, "path": self.fs_wire_path(path), "mode": mode, "sandbox": null });
        let _: Value = self.call(method_names::OPEN, &params, Retry::Never).await?;
        Ok(FileHandle { client: self.clone(), id })
    }

    /// Adds `"sandbox": null` for a current Codex server, which expects the field.
    fn fs_params(&self, mut params: Value) -> Value {
        if self.fs_wants_uris() {
            params["sandbox"] = Value::Null;
        }
        params
    }
}

impl FileHandle {
    /// Up to `len` bytes at `offset`, and whether the end of the file was reached.
    pub async fn read_block(&self, offset: u64, len: usize) -> Result<(Bytes, bool), ClientError> {
        #[derive(serde::Deserialize)]
        struct Block {
            chunk: ByteChunk,
            eof: bool,
        }
        let params = json!({ "handleId": self.id, "offset": offset, "len": len });
        let block: Block = self.client.call(method_names::READ_BLOCK, &params, Retry::Safe).await?;
        Ok((Bytes::from(block.chunk.into_vec()), block.eof))
    }

    /// Writes `data` at `offset` (repeating a write of the same block is harmless).
    pub async fn write_block(&self, offset: u64, data: &[u8]) -> Result<(), ClientError> {
        let params =
            json!({ "handleId": self.id, "offset": offset, "chunk": ByteChunk::from(data).to_base64() });
        let _: Value = self.client.call(method_names::WRITE_BLOCK, &params, Retry::Safe).await?;
        Ok(())
    }

    /// Closes the handle (`fs/close`); for a written file, this is when it is complete.
    pub async fn close(self) -> Result<(), ClientError> {
        let params = json!({ "handleId": self.id });
        let _: Value = self.client.call(method_names::CLOSE, &params, Retry::Safe).await?;
        Ok(())
    }
}

/// The chunked methods (SPEC §12), which `exec_protocol::method` does not name yet.
mod method_names {
    pub(super) const OPEN: &str = exec_protocol::method::FS_OPEN;
    pub(super) const READ_BLOCK: &str = exec_protocol::method::FS_READ_BLOCK;
    pub(super) const WRITE_BLOCK: &str = exec_protocol::method::FS_WRITE_BLOCK;
    pub(super) const CLOSE: &str = exec_protocol::method::FS_CLOSE;
}

/// `path` as a `file://` URI, unless it already is one (a caller that converted it itself).
pub(super) fn file_uri_of(path: &str) -> String {
    if path.starts_with("file://") { path.to_owned() } else { file_uri(path) }
}

/// `file://` + the path, percent-encoding what a URI path may not hold.
fn file_uri(path: &str) -> String {
    let mut uri = String::from("file://");
    for &byte in path.as_bytes() {
        let plain = byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&byte);
        if plain {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(hex) = text.get(index + 1..index + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            decoded.push(byte);
            index += 3;
            continue;
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(path: &str, uri: &str) {
        assert_eq!(file_uri(path), uri);
        assert_eq!(percent_decode(uri.strip_prefix("file://").unwrap()), path);
    }

    #[test]
    fn file_uris() {
        check("/tmp/a.txt", "file:///tmp/a.txt");
        check("/tmp/with space/100%#?", "file:///tmp/with%20space/100%25%23%3F");
        check("/tmp/é", "file:///tmp/%C3%A9");
    }
}
