//! `fs/watchMissing` and the pushed `fs/missingChanged`: event-driven with inotify, bounded, one
//! watcher per connection.
//!
//! A watch names paths that should appear (`missing`) or disappear (`present`). For each one the
//! server watches the directory where the change will show: the nearest existing ancestor of a
//! missing path (the next component appears there), the parent of a present path. Entries
//! created, removed or renamed in such a directory (or the directory itself going away) send one
//! `fs/missingChanged {watchId}` per affected watch and batch of kernel events; the client then
//! checks its paths again, as it does with the 0.171 reference, which also fires on any change in
//! the parent. The server's own temporary files (an atomic `fs/writeFile` makes one and renames
//! it into place) are not changes: such a write notifies once, for the rename, as with the
//! reference. A watch lasts until its id is registered again (which replaces it) or the
//! connection ends (the reader task stops on the connection's token and the inotify descriptor
//! closes, dropping every kernel watch).
//!
//! Bounds: [`MAX_WATCHES`] ids and [`MAX_WATCHED_PATHS`] paths per id, so at most
//! `MAX_WATCHES * MAX_WATCHED_PATHS` kernel watches per connection (fewer: directories are
//! shared); the kernel's queue bounds pending events (an overflow notifies every watch). Sends go
//! through the connection's bounded outbound queue.

use std::collections::{BTreeSet, HashMap};
use std::os::fd::{AsFd as _, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use exec_protocol::jsonrpc::ErrorObject;
use exec_protocol::{messages, method};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::io::unix::AsyncFd;

use super::connection::Context;

/// Watch ids one connection may hold: the 0.171 client registers one per session start.
pub(crate) const MAX_WATCHES: usize = 64;
/// Paths one watch may name (the client names a handful: `.git` up the tree, `AGENTS.md`, ...).
pub(crate) const MAX_WATCHED_PATHS: usize = 256;

/// What a watched directory reports: entries appearing, disappearing, renamed, or the directory
/// itself going away.
fn mask() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
}

/// `Inotify` with the `AsRawFd` that `AsyncFd` needs.
struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// The watches of one connection; the inotify instance and its reader task exist from the first
/// `fs/watchMissing` on.
#[derive(Default)]
pub(crate) struct Watches {
    inner: Mutex<Option<Arc<Watcher>>>,
}

impl std::fmt::Debug for Watches {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Watches").finish_non_exhaustive()
    }
}

struct Watcher {
    inotify: AsyncFd<InotifyFd>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Watch id (its JSON text) → the id as sent, and the directories it looks at.
    watches: HashMap<String, (serde_json::Value, Vec<WatchDescriptor>)>,
    /// Kernel watch → the watch ids that use it.
    users: HashMap<WatchDescriptor, BTreeSet<String>>,
}

/// The directory whose entries change when `path` appears (`missing`) or disappears: the nearest
/// existing ancestor of a missing path, the parent of an existing one (or `/`).
fn directory_to_watch(path: &Path) -> PathBuf {
    let exists = std::fs::symlink_metadata(path).is_ok();
    let start = if exists { path.parent().unwrap_or(path) } else { path };
    start
        .ancestors()
        .find(|ancestor| std::fs::metadata(ancestor).is_ok_and(|metadata| metadata.is_dir()))
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

impl Watches {
    /// Registers (or replaces) the watch `watch_id` over `paths`. Blocking parts (stats) are
    /// short; the caller runs this on the blocking pool.
    pub(crate) fn watch(
        &self,
        context: &Context,
        watch_id: serde_json::Value,
        paths: Vec<PathBuf>,
    ) -> Result<(), ErrorObject> {
        if paths.len() > MAX_WATCHED_PATHS {
            return Err(ErrorObject::invalid_request(messages::too_many_watched_paths(
                paths.len(),
                MAX_WATCHED_PATHS,
            )));
        }
        let watcher = self.watcher(context)?;
        let key = watch_id.to_string();
        let directories: BTreeSet<PathBuf> = paths.iter().map(|path| directory_to_watch(path)).collect();
        let mut state = watcher.state.lock().expect("watch state lock");
        if !state.watches.contains_key(&key) && state.watches.len() >= MAX_WATCHES {
            return Err(ErrorObject::invalid_request(messages::too_many_watches(MAX_WATCHES)));
        }
        let mut descriptors = Vec::with_capacity(directories.len());
        for directory in &directories {
            match watcher.inotify.get_ref().0.add_watch(directory.as_path(), mask()) {
                Ok(descriptor) => descriptors.push(descriptor),
                // The directory vanished between the stat and the watch: its parent's watch (if
                // any) sees the rest; the client re-checks on the next notification anyway.
                Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => {}
                Err(errno) => {
                    // Keep what other ids use; forget what this failed attempt added.
                    for descriptor in descriptors {
                        forget_if_unused(&watcher.inotify.get_ref().0, &state, descriptor);
                    }
                    return Err(ErrorObject::internal_error(messages::cannot_watch(&errno)));
                }
            }
        }
        if let Some((_, old)) = state.watches.remove(&key) {
            for descriptor in old {
                if let Some(users) = state.users.get_mut(&descriptor) {
                    users.remove(&key);
                    if users.is_empty() {
                        state.users.remove(&descriptor);
                        if !descriptors.contains(&descriptor) {
                            // Ignoring a failure is fine: the kernel already dropped a watch whose
                            // directory is gone.
                            let _ = watcher.inotify.get_ref().0.rm_watch(descriptor);
                        }
                    }
                }
            }
        }
        for descriptor in &descriptors {
            state.users.entry(*descriptor).or_default().insert(key.clone());
        }
        state.watches.insert(key, (watch_id, descriptors));
        Ok(())
    }

    /// The connection's watcher, created (with its reader task) on first use.
    fn watcher(&self, context: &Context) -> Result<Arc<Watcher>, ErrorObject> {
        let mut inner = self.inner.lock().expect("watches lock");
        if let Some(watcher) = inner.as_ref() {
            return Ok(Arc::clone(watcher));
        }
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|errno| ErrorObject::internal_error(messages::cannot_watch(&errno)))?;
        // SAFETY: `InotifyFd` owns the descriptor (an `OwnedFd` inside `Inotify`), so it stays open
        // and is the same descriptor for as long as the `AsyncFd` holds it.
        let inotify =
            unsafe { AsyncFd::register_with_interest(InotifyFd(inotify), tokio::io::Interest::READABLE) }
                .map_err(|error| ErrorObject::internal_error(messages::cannot_watch(&error.to_string())))?;
        let watcher = Arc::new(Watcher { inotify, state: Mutex::default() });
        let reader = Arc::clone(&watcher);
        let context = context.clone();
        tokio::spawn(async move {
            let closed = context.closed.clone();
            tokio::select! {
                _ = closed.cancelled() => {}
                _ = read_events(&reader, &context) => {}
            }
        });
        *inner = Some(Arc::clone(&watcher));
        Ok(watcher)
    }
}

fn forget_if_unused(inotify: &Inotify, state: &State, descriptor: WatchDescriptor) {
    if !state.users.contains_key(&descriptor) {
        // Ignoring a failure is fine: nothing else refers to this kernel watch.
        let _ = inotify.rm_watch(descriptor);
    }
}

/// Reads kernel events until the descriptor fails, and sends one `fs/missingChanged` per watch
/// id a batch touches. Decides under the lock, sends after releasing it.
async fn read_events(watcher: &Watcher, context: &Context) {
    loop {
        let Ok(mut ready) = watcher.inotify.readable().await else { return };
        let events = match ready.try_io(|inner| inner.get_ref().0.read_events().map_err(std::io::Error::from))
        {
            Ok(Ok(events)) => events,
            Ok(Err(error)) => {
                tracing::warn!(%error, "inotify read failed; fs/watchMissing stops for this connection");
                return;
            }
            Err(_would_block) => continue,
        };
        let ids: Vec<serde_json::Value> = {
            let state = watcher.state.lock().expect("watch state lock");
            let overflow = events.iter().any(|event| event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW));
            let keys: BTreeSet<&String> = if overflow {
                state.watches.keys().collect()
            } else {
                events
                    .iter()
                    .filter(|event| !event.name.as_deref().is_some_and(super::fs::is_own_temporary))
                    .filter_map(|event| state.users.get(&event.wd))
                    .flatten()
                    .collect()
            };
            keys.into_iter().filter_map(|key| state.watches.get(key).map(|(id, _)| id.clone())).collect()
        };
        for watch_id in ids {
            let notification = exec_protocol::fs::FsMissingChangedNotification { watch_id };
            let mut frame = Vec::with_capacity(64);
            if exec_protocol::jsonrpc::write_notification(
                &mut frame,
                method::FS_MISSING_CHANGED,
                &notification,
            )
            .is_err()
            {
                continue;
            }
            let Ok(frame) = String::from_utf8(frame) else { continue };
            if !context.send(frame).await {
                return;
            }
        }
    }
}
