//! Open file handles of the chunked `fs/open` / `fs/readBlock` / `fs/writeBlock` / `fs/close`
//! methods: one bounded table per connection.
//!
//! Lifecycle: `fs/open` inserts a handle under the client's `handleId`, `fs/close` removes it
//! (and, for `replace`, renames the new version over the target under the same sandbox the open
//! ran under). Handles belong to the connection's attachment of its session: when the connection
//! ends (close, drop, takeover, session expiry), the table is dropped with the connection's
//! `Context`, read handles close and unfinished `replace` handles delete their temporary file;
//! the target is never half-written. A session is attached to one connection at a time, so the
//! bound is per session as well. Nothing here blocks under the lock: operations clone the
//! handle out and run on the blocking pool.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use exec_protocol::jsonrpc::ErrorObject;
use exec_protocol::messages;
use exec_sandbox::PreparedSandbox;

use super::fs::Replacement;

/// The most files one connection may hold open at once: each is a descriptor of the server
/// process, and a client that never closes must not exhaust them. A named refusal beyond it.
pub(crate) const MAX_OPEN_FILES: usize = 64;

/// The largest file a `replace` handle writes: a block that would end beyond it is refused.
pub(crate) const MAX_REPLACED_FILE_BYTES: u64 = 16 * 1024 * 1024 * 1024;

/// One open handle.
#[derive(Debug)]
pub(crate) enum Handle {
    /// `mode: "read"`.
    Read { file: std::fs::File, path: PathBuf },
    /// `mode: "replace"`: the new version, and the sandbox the open ran under (the commit runs
    /// under it too). `None` once committed or abandoned.
    Replace { replacement: Mutex<Option<Replacement>>, sandbox: Option<Arc<PreparedSandbox>> },
}

/// The handles of one connection.
#[derive(Debug, Default)]
pub(crate) struct FileHandles {
    handles: Mutex<HashMap<String, Arc<Handle>>>,
}

impl FileHandles {
    /// Refuses an id already open, or a full table, before any file is opened.
    pub(crate) fn check_room(&self, handle_id: &str) -> Result<(), ErrorObject> {
        let handles = self.handles.lock().expect("file handle table lock");
        if handles.contains_key(handle_id) {
            return Err(ErrorObject::invalid_request(messages::file_handle_in_use(handle_id)));
        }
        if handles.len() >= MAX_OPEN_FILES {
            return Err(ErrorObject::invalid_request(messages::too_many_open_files(MAX_OPEN_FILES)));
        }
        Ok(())
    }

    /// Inserts an opened handle, re-checking under the lock (a concurrent open of the same id or
    /// the last free slot may have won; the loser's file is dropped, closing it).
    pub(crate) fn insert(&self, handle_id: String, handle: Handle) -> Result<(), ErrorObject> {
        let mut handles = self.handles.lock().expect("file handle table lock");
        if handles.contains_key(&handle_id) {
            return Err(ErrorObject::invalid_request(messages::file_handle_in_use(&handle_id)));
        }
        if handles.len() >= MAX_OPEN_FILES {
            return Err(ErrorObject::invalid_request(messages::too_many_open_files(MAX_OPEN_FILES)));
        }
        handles.insert(handle_id, Arc::new(handle));
        Ok(())
    }

    /// The handle under `handle_id`, or -32004 (the reference's answer for an unknown handle).
    pub(crate) fn get(&self, handle_id: &str) -> Result<Arc<Handle>, ErrorObject> {
        let handles = self.handles.lock().expect("file handle table lock");
        handles.get(handle_id).cloned().ok_or_else(|| unknown(handle_id))
    }

    /// Removes the handle under `handle_id`, or -32004.
    pub(crate) fn remove(&self, handle_id: &str) -> Result<Arc<Handle>, ErrorObject> {
        let mut handles = self.handles.lock().expect("file handle table lock");
        handles.remove(handle_id).ok_or_else(|| unknown(handle_id))
    }
}

fn unknown(handle_id: &str) -> ErrorObject {
    ErrorObject::not_found(messages::unknown_file_handle(handle_id))
}
