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
use serde_json::Value;

use super::{ClientError, ExecClient, Resend};

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
///
/// A handle belongs to the connection that opened it: the server closes it when that connection
/// ends, also when recovery reconnects and resumes the session. So its calls are never resent on
/// a new connection (they could only fail with -32004 `unknown file handle`): a connection lost
/// during one of them fails it with [`ClientError::Disconnected`], and the caller opens the file
/// again.
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
        self.has_capability(method::FS_READ_BLOCK) || self.environment_capability("sandboxedFileStreaming")
    }

    /// Whether chunked writes (`fs/open` mode `replace`, `fs/writeBlock`) are offered: the
    /// `fs/writeBlock` capability, or `fileWriteStreaming` in `environmentInfo`.
    pub fn has_chunked_write(&self) -> bool {
        self.has_capability(method::FS_WRITE_BLOCK) || self.environment_capability("fileWriteStreaming")
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
        let params =
            wire::FsReadFileParams { path: self.fs_wire_path(path), sandbox: None, follow_symlinks: None };
        let response = self.fs_request::<method::FsReadFile>(&params).await?;
        Ok(Bytes::from(response.data_base64.into_vec()))
    }

    /// Creates or replaces a file with `data` (`fs/writeFile`). The whole file travels in one
    /// message, so it must fit the server's message limit.
    pub async fn fs_write_file(&self, path: &str, data: &[u8]) -> Result<(), ClientError> {
        let params = wire::FsWriteFileParams {
            path: self.fs_wire_path(path),
            data_base64: ByteChunk::from(data).to_base64(),
            sandbox: None,
            follow_symlinks: None,
            write_id: None,
        };
        self.fs_request::<method::FsWriteFile>(&params).await?;
        Ok(())
    }

    /// Metadata of a path (`fs/getMetadata`), following a final symbolic link.
    pub async fn fs_metadata(&self, path: &str) -> Result<FsMetadata, ClientError> {
        let params =
            wire::FsGetMetadataParams { path: self.fs_wire_path(path), sandbox: None, follow_symlinks: None };
        let response = self.fs_request::<method::FsGetMetadata>(&params).await?;
        Ok(FsMetadata {
            is_directory: response.is_directory,
            is_file: response.is_file,
            is_symlink: response.is_symlink,
            size: response.size,
        })
    }

    /// The entries of a directory (`fs/readDirectory`), without `.` and `..`.
    pub async fn fs_read_directory(&self, path: &str) -> Result<Vec<FsEntry>, ClientError> {
        let params = wire::FsReadDirectoryParams { path: self.fs_wire_path(path), sandbox: None };
        let response = self.fs_request::<method::FsReadDirectory>(&params).await?;
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
        let params = wire::FsCreateDirectoryParams {
            path: self.fs_wire_path(path),
            recursive: Some(recursive),
            sandbox: None,
            follow_symlinks: None,
        };
        self.fs_request::<method::FsCreateDirectory>(&params).await?;
        Ok(())
    }

    /// Opens a file for chunked reads or writes (`fs/open`).
    pub async fn fs_open(&self, path: &str, mode: OpenMode) -> Result<FileHandle, ClientError> {
        let id = format!("h{}-{}", std::process::id(), NEXT_HANDLE.fetch_add(1, Ordering::Relaxed));
        let mode = match mode {
            OpenMode::Read => wire::FsOpenMode::Read,
            OpenMode::Replace => wire::FsOpenMode::Replace,
        };
        let params = wire::FsOpenParams {
            handle_id: id.clone(),
            path: self.fs_wire_path(path),
            mode: Some(mode),
            sandbox: None,
        };
        self.fs_request::<method::FsOpen>(&params).await?;
        Ok(FileHandle { client: self.clone(), id })
    }

    /// A typed `fs/*` request under its method's [`Resend`] policy, with `"sandbox": null` added
    /// for a current Codex server, which expects the field (the typed params leave out a `None`).
    async fn fs_request<M: Resend>(&self, params: &M::Params) -> Result<M::Response, ClientError> {
        if !self.fs_wants_uris() {
            return self.request::<M>(params).await;
        }
        let mut value = serde_json::to_value(params).map_err(|error| {
            ClientError::Protocol(format!("cannot encode the {} params: {error}", M::NAME))
        })?;
        if let Value::Object(members) = &mut value {
            members.entry("sandbox").or_insert(Value::Null);
        }
        self.call(M::NAME, &value, M::retry(self, params)).await
    }
}

impl FileHandle {
    /// Up to `len` bytes at `offset`, and whether the end of the file was reached.
    pub async fn read_block(&self, offset: u64, len: usize) -> Result<(Bytes, bool), ClientError> {
        let params = wire::FsReadBlockParams { handle_id: self.id.clone(), offset, len: len as u64 };
        let block = self.client.request::<method::FsReadBlock>(&params).await?;
        Ok((Bytes::from(block.chunk.into_vec()), block.eof))
    }

    /// Writes `data` at `offset`.
    pub async fn write_block(&self, offset: u64, data: &[u8]) -> Result<(), ClientError> {
        let params =
            wire::FsWriteBlockParams { handle_id: self.id.clone(), offset, chunk: ByteChunk::from(data) };
        self.client.request::<method::FsWriteBlock>(&params).await?;
        Ok(())
    }

    /// Closes the handle (`fs/close`); for a written file, this is when it is complete.
    pub async fn close(self) -> Result<(), ClientError> {
        let params = wire::FsCloseParams { handle_id: self.id };
        self.client.request::<method::FsClose>(&params).await?;
        Ok(())
    }
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
