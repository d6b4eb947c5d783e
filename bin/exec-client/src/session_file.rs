//! The session file: where `run --session-file F` records what `attach`, `ps` and `kill` need to
//! find the session and the process again (the URL, the session id, the process id, and the seq
//! of the last event shown). JSON, written atomically (temp file + rename), mode 0600: the
//! session id is a capability. While output flows, a [`Checkpoint`] rewrites it at most once a
//! second, so a client killed outright loses its place by at most a second (output shown again,
//! never skipped).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// A session file kept up to date while output is shown, so `attach` continues close to where
/// the output stopped even if this client is killed outright (it loses at most a second).
#[derive(Debug)]
pub(crate) struct Checkpoint {
    path: PathBuf,
    record: SessionFile,
    saved_at: Instant,
}

impl Checkpoint {
    /// How often at most the file is rewritten while output flows.
    const EVERY: Duration = Duration::from_secs(1);

    /// Writes `record` to `path` now and keeps it for updates.
    pub(crate) fn new(path: PathBuf, record: SessionFile) -> Result<Checkpoint, Failure> {
        record.save(&path)?;
        Ok(Checkpoint { path, record, saved_at: Instant::now() })
    }

    /// Output up to `seq` was shown; the file is rewritten at most once a [`Checkpoint::EVERY`].
    pub(crate) fn seen(&mut self, seq: u64) {
        self.record.last_seq = seq;
        if self.saved_at.elapsed() >= Self::EVERY {
            // Best effort while running; `finish` reports a failure.
            let _ = self.record.save(&self.path);
            self.saved_at = Instant::now();
        }
    }

    /// Records the final position.
    pub(crate) fn finish(&mut self, seq: u64) -> Result<(), Failure> {
        self.record.last_seq = seq;
        self.record.save(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn checkpoints_are_throttled_and_the_last_one_is_kept() {
        let path = std::env::temp_dir().join(format!("exec-client-checkpoint-{}", std::process::id()));
        let record = SessionFile {
            url: "ws://127.0.0.1:1".to_owned(),
            session_id: "s".to_owned(),
            process_id: Some("p".to_owned()),
            last_seq: 0,
        };
        let mut checkpoint = Checkpoint::new(path.clone(), record).unwrap();
        let load = || SessionFile::load(&path).unwrap().unwrap();
        assert_eq!(load().last_seq, 0);
        checkpoint.seen(5);
        assert_eq!(load().last_seq, 0, "not rewritten within a second");
        checkpoint.saved_at -= Checkpoint::EVERY;
        checkpoint.seen(7);
        assert_eq!(load().last_seq, 7, "rewritten once a second has passed");
        checkpoint.finish(9).unwrap();
        assert_eq!(load().last_seq, 9);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::remove_file(&path).unwrap();
    }
}
