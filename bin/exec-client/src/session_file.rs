//! The session file: where `run --session-file F` records what `attach`, `ps` and `kill` need to
//! find the session and the process again (the URL, the session id, the process id, and the seq
//! of the last event shown). JSON, written atomically (temp file + rename), mode 0600: the
//! session id is a capability.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Failure;

/// The contents of a session file.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionFile {
    pub(crate) url: String,
    pub(crate) session_id: String,
    #[serde(default)]
    pub(crate) process_id: Option<String>,
    /// The seq of the last event shown (0: none).
    #[serde(default)]
    pub(crate) last_seq: u64,
}

impl SessionFile {
    /// Reads a session file; `Ok(None)` when it does not exist.
    pub(crate) fn load(path: &Path) -> Result<Option<SessionFile>, Failure> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|error| {
                Failure::usage(format!("{} is not a session file: {error}", path.display()))
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(Failure::usage(format!("cannot read {}: {error}", path.display()))),
        }
    }

    /// Writes the file atomically, readable only by its owner.
    pub(crate) fn save(&self, path: &Path) -> Result<(), Failure> {
        let fail =
            |error: std::io::Error| Failure::usage(format!("cannot write {}: {error}", path.display()));
        let temporary = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(fail)?;
        let text = serde_json::to_string_pretty(self).expect("plain data serializes");
        file.write_all(text.as_bytes()).and_then(|()| file.write_all(b"\n")).map_err(fail)?;
        std::fs::rename(&temporary, path).map_err(fail)
    }
}
