//! The file operations behind the `fs/*` methods, on absolute paths of the executor.
//!
//! Each operation is plain blocking `std::fs` code; the handlers run it on the blocking pool, one
//! hop per request. Errors are `FsError`, which maps onto the wire codes the peer uses: not found
//! → -32004, invalid input or permission denied → -32600 (permission denied under a sandbox
//! intent: -32603, as the 0.171 reference answers), anything else → -32603.
//!
//! Decisions where the peer's behaviour is not pinned by the spec:
//! - `createDirectory` and `remove` default to recursive; `remove` defaults to `force` (a missing
//!   path is not an error).
//! - `copy` of a directory needs `recursive: true`; copying a directory into itself (or below
//!   itself) is refused; symbolic links are copied as links, never followed.
//! - `readFile`, `writeFile` and `copy` work on regular files only: a FIFO, socket or device is
//!   refused with an error naming it (opened with `O_NONBLOCK` and checked on the descriptor, so
//!   nothing ever blocks on one). `readFile` reads at most [`read_file_limit`] bytes.
//! - `remove` refuses `/`, the system's own folders (`PROTECTED_PATHS`), anything at or below
//!   `/proc`, `/sys` and `/dev` (but `/dev/shm/*`), the server's executable and its own files
//!   ([`ProtectedPaths`]: token, config, audit log, TLS) or a folder that holds one, and its
//!   user's home directory, judged on the resolved path so `/tmp/..` or a link cannot slip
//!   through.
//! - `writeFile` is atomic: a temporary file in the same folder, synced, then renamed over the
//!   target (see [`write_file`] for links, modes and the one fallback).
//! - `getMetadata` reports `isSymlink` for the path itself and the file/directory kind and size of
//!   what it points to (the link's own, if it dangles).
//!
//! This module knows nothing of JSON-RPC or sessions.

use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use exec_protocol::messages;
use nix::fcntl::{FcntlArg, OFlag, fcntl};

/// How long a handler waits for one file operation before answering with an error. Special files
/// are refused without blocking, so this only bounds what the kernel itself makes wait (a hung
/// network mount, a pseudo-file whose read waits for data). Generous: a legitimate copy or
/// removal of a large tree must not be reported as failed while it is still working.
pub(crate) const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A failed file operation, classified the way the wire reports it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FsError {
    /// The path (or a parent) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot work as asked (relative path, directory without `recursive`, ...).
    #[error("{0}")]
    Invalid(String),
    /// The OS refused it for permissions (`EACCES`, `EPERM`): -32600 like `Invalid`, except
    /// under a sandbox intent, where it is the sandbox's refusal and answers -32603 as the 0.171
    /// reference does.
    #[error("{0}")]
    Denied(String),
    /// A file larger than `fs/readFile` answers whole: -32600 with `data.kind: "fileTooLarge"`.
    #[error("{0}")]
    TooLarge(String),
    /// Anything else the OS reported.
    #[error("{0}")]
    Other(String),
}

impl FsError {
    fn from_io(context: &str, path: &Path, error: io::Error) -> Self {
        let message = messages::fs_os_error(context, &path.display().to_string(), &error);
        match error.kind() {
            io::ErrorKind::NotFound => FsError::NotFound(message),
            io::ErrorKind::InvalidInput => FsError::Invalid(message),
            io::ErrorKind::PermissionDenied => FsError::Denied(message),
            _ => FsError::Other(message),
        }
    }
}

/// Turns a wire path (absolute, or a `file://` URI) into an absolute path.
pub(crate) fn absolute_path(raw: &str) -> Result<PathBuf, FsError> {
    crate::convert::from_wire::path(raw).ok_or_else(|| FsError::Invalid(messages::path_not_absolute(raw)))
}

/// The error a `followSymlinks: false` operation meets at a link: `ELOOP`, as an `O_NOFOLLOW`
/// open reports it (the 0.171 reference's answer: -32603 `Symbolic link loop (os error 40)`).
fn symlink_refused(context: &str, path: &Path) -> FsError {
    FsError::from_io(context, path, io::Error::from_raw_os_error(libc::ELOOP))
}

/// Whether `path` itself is a symbolic link (a missing path is not).
fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink())
}

/// The most `fs/readFile` returns when the message limit allows more: a whole file travels as one
/// base64 frame that the server holds in memory (twice, while encoding), so the cap is kept well
/// below what a message may carry. Larger files need a chunked read.
pub(crate) const MAX_READ_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Room for the JSON-RPC envelope around the base64 data of a `fs/readFile` response.
const RESPONSE_ENVELOPE_BYTES: usize = 1024;

/// The `fs/readFile` limit for a server whose messages may be `max_message_bytes` long: at most
/// [`MAX_READ_FILE_BYTES`], and less when the base64 response (4 bytes per 3) would not fit.
pub(crate) fn read_file_limit(max_message_bytes: usize) -> u64 {
    let fits = max_message_bytes.saturating_sub(RESPONSE_ENVELOPE_BYTES) / 4 * 3;
    u64::try_from(fits).unwrap_or(u64::MAX).min(MAX_READ_FILE_BYTES)
}

/// Reads a whole regular file of at most `limit` bytes.
///
/// Special files are refused before a byte is read (a FIFO would block, `/dev/zero` never ends),
/// and at most `limit + 1` bytes are ever read, so a file that grows while it is read is refused
/// rather than read past the bound.
#[cfg(test)]
pub(crate) fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, FsError> {
    read_file_with(path, limit, true)
}

/// [`read_file`], refusing a link at `path` itself unless `follow` (`O_NOFOLLOW`).
pub(crate) fn read_file_with(path: &Path, limit: u64, follow: bool) -> Result<Vec<u8>, FsError> {
    let extra_flags = if follow { 0 } else { libc::O_NOFOLLOW };
    let (file, metadata) =
        open_regular_with(path, std::fs::OpenOptions::new().read(true), "read", extra_flags)?;
    if metadata.len() > limit {
        return Err(too_large(path, limit));
    }
    // The size is only a hint (the file may change); the bound below is what holds.
    let capacity = usize::try_from(metadata.len()).unwrap_or(0);
    read_bounded(file, capacity, limit).map_err(|error| match error {
        ReadBoundedError::TooLarge => too_large(path, limit),
        ReadBoundedError::Io(error) => FsError::from_io("cannot read", path, error),
    })
}

fn too_large(path: &Path, limit: u64) -> FsError {
    FsError::TooLarge(messages::file_too_large(&path.display().to_string(), limit))
}

#[derive(Debug)]
enum ReadBoundedError {
    TooLarge,
    Io(io::Error),
}

/// Reads `reader` to its end, failing once it yields more than `limit` bytes (it reads at most
/// `limit + 1`).
fn read_bounded(reader: impl io::Read, capacity: usize, limit: u64) -> Result<Vec<u8>, ReadBoundedError> {
    let mut data = Vec::with_capacity(capacity);
    reader.take(limit.saturating_add(1)).read_to_end(&mut data).map_err(ReadBoundedError::Io)?;
    if u64::try_from(data.len()).unwrap_or(u64::MAX) > limit {
        return Err(ReadBoundedError::TooLarge);
    }
    Ok(data)
}

/// Opens `path` without ever blocking in `open` (a FIFO without a peer would block forever), then
/// checks on the opened descriptor that it is a regular file, so a path swapped for a special file
/// between a check and the open cannot slip through. `O_NONBLOCK` is cleared again before the
/// file is used. `action` (`read`, `write`, `copy`) words the errors.
fn open_regular(
    path: &Path,
    options: &mut std::fs::OpenOptions,
    action: &str,
) -> Result<(std::fs::File, std::fs::Metadata), FsError> {
    open_regular_with(path, options, action, 0)
}

/// [`open_regular`] with more `open` flags (`O_NOFOLLOW`).
fn open_regular_with(
    path: &Path,
    options: &mut std::fs::OpenOptions,
    action: &str,
    extra_flags: i32,
) -> Result<(std::fs::File, std::fs::Metadata), FsError> {
    let context = format!("cannot {action}");
    let file = options.custom_flags(OFlag::O_NONBLOCK.bits() | extra_flags).open(path).map_err(|error| {
        match std::fs::metadata(path) {
            // A socket cannot be opened at all (ENXIO), nor a FIFO for writing without a reader:
            // name what the path is rather than pass on the obscure error.
            Ok(metadata) if !metadata.is_file() && !metadata.is_dir() => {
                not_regular(action, path, metadata.file_type())
            }
            _ => FsError::from_io(&context, path, error),
        }
    })?;
    let metadata = file.metadata().map_err(|error| FsError::from_io(&context, path, error))?;
    if !metadata.is_file() {
        return Err(not_regular(action, path, metadata.file_type()));
    }
    let flags =
        fcntl(&file, FcntlArg::F_GETFL).map_err(|errno| FsError::from_io(&context, path, errno.into()))?;
    let blocking = OFlag::from_bits_retain(flags) & !OFlag::O_NONBLOCK;
    fcntl(&file, FcntlArg::F_SETFL(blocking))
        .map_err(|errno| FsError::from_io(&context, path, errno.into()))?;
    Ok((file, metadata))
}

/// The refusal of a special (or otherwise non-regular) file.
fn not_regular(action: &str, path: &Path, file_type: std::fs::FileType) -> FsError {
    FsError::Invalid(messages::not_a_regular_file(action, &path.display().to_string(), kind_name(file_type)))
}

/// What a file type is called in error messages.
fn kind_name(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_fifo() {
        "fifo"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_dir() {
        "directory"
    } else if file_type.is_symlink() {
        "symbolic link"
    } else if file_type.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// Replaces (or creates) the file at `path` with `data`, atomically: the data goes to a new
/// temporary file in the same folder (`O_EXCL`, the existing file's mode and owner), is synced,
/// and is renamed over the target, so a failure at any point (a full disk, a file-size limit)
/// leaves the original untouched and removes the temporary file. A path that is a link is
/// written through: the link stays and its target is replaced. A hard-linked file gets a new
/// inode, so its other names keep the old content.
///
/// Where the folder refuses a new file but the file itself is writable (permissions), it falls
/// back to overwriting in place, as before, rather than fail a write that used to work.
#[cfg(test)]
pub(crate) fn write_file(path: &Path, data: &[u8]) -> Result<(), FsError> {
    write_file_with(path, data, true)
}

/// [`write_file`]; without `follow`, a link at `path` is refused (`ELOOP`) instead of written
/// through.
pub(crate) fn write_file_with(path: &Path, data: &[u8], follow: bool) -> Result<(), FsError> {
    if !follow && is_symlink(path) {
        return Err(symlink_refused("cannot write", path));
    }
    let target = resolve_final_links(path)?;
    let existing = match std::fs::metadata(&target) {
        Ok(metadata) if !metadata.is_file() => return Err(not_regular("write", path, metadata.file_type())),
        Ok(metadata) => Some(metadata),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => return Err(FsError::from_io("cannot write", path, error)),
    };
    let (temporary_path, temporary) = match create_temporary(&target) {
        Ok(created) => created,
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied && existing.is_some() => {
            return write_in_place(path, data);
        }
        Err(error) => return Err(FsError::from_io("cannot write", path, error)),
    };
    let written = fill_temporary(temporary, existing.as_ref(), data)
        .and_then(|()| std::fs::rename(&temporary_path, &target));
    if let Err(error) = written {
        // Best effort: the write already failed and that error is what the client needs; a
        // leftover temporary file is hidden and harmless.
        let _ = std::fs::remove_file(&temporary_path);
        return Err(FsError::from_io("cannot write", path, error));
    }
    // Make the rename itself durable. Best effort: the data is complete and in place either way,
    // and some filesystems refuse to sync a directory.
    if let Some(folder) = target.parent()
        && let Ok(folder) = std::fs::File::open(folder)
    {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// The path a write to `path` lands on: `path` with its last component's links followed (the
/// folders on the way are resolved by the kernel anyway). A dangling link resolves to the file
/// it names, which the write creates.
fn resolve_final_links(path: &Path) -> Result<PathBuf, FsError> {
    /// As many links as the kernel follows before `ELOOP`.
    const MAX_LINKS: usize = 40;
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)
                    .map_err(|error| FsError::from_io("cannot write", path, error))?;
                current = match current.parent() {
                    Some(folder) => folder.join(link),
                    None => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(error) => return Err(FsError::from_io("cannot write", path, error)),
        }
    }
    Err(FsError::Invalid(messages::write_through_too_many_links(&path.display().to_string())))
}

/// Creates a new, uniquely named hidden file next to `target` with `O_EXCL` (never an existing
/// file, never through a planted link).
fn create_temporary(target: &Path) -> io::Result<(PathBuf, std::fs::File)> {
    use std::os::unix::ffi::OsStrExt as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    /// Keeps `.NAME.PID.N.tmp` under the usual 255-byte name limit.
    const NAME_PREFIX_BYTES: usize = 200;
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let folder = target.parent().unwrap_or(Path::new("/"));
    let name = target.file_name().map_or(&b""[..], |name| name.as_bytes());
    let name = String::from_utf8_lossy(&name[..name.len().min(NAME_PREFIX_BYTES)]).into_owned();
    loop {
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let candidate = folder.join(format!(".{name}.{}.{count}.tmp", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o666).open(&candidate) {
            Ok(file) => return Ok((candidate, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
}

/// Whether `name` is one of this server's own temporary files (`.NAME.PID.N.tmp`, see
/// [`create_temporary`]): `fs/watchMissing` ignores their comings and goings, so that an atomic
/// write notifies once, for the rename into place.
pub(crate) fn is_own_temporary(name: &std::ffi::OsStr) -> bool {
    let Some(name) = name.to_str() else { return false };
    let Some(inner) = name.strip_prefix('.').and_then(|rest| rest.strip_suffix(".tmp")) else { return false };
    let mut parts = inner.rsplitn(3, '.');
    let (Some(count), Some(pid), Some(_target)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    pid == std::process::id().to_string()
        && !count.is_empty()
        && count.bytes().all(|byte| byte.is_ascii_digit())
}

/// Gives the temporary file the existing file's mode and owner, writes `data` and syncs it.
fn fill_temporary(
    mut temporary: std::fs::File,
    existing: Option<&std::fs::Metadata>,
    data: &[u8],
) -> io::Result<()> {
    if let Some(existing) = existing {
        temporary.set_permissions(existing.permissions())?;
        // Keeping the owner needs privileges we may not have (a file of another user in a shared
        // folder); the write itself is still what was asked, so a refusal is not an error.
        let _ = std::os::unix::fs::fchown(&temporary, Some(existing.uid()), Some(existing.gid()));
        // Re-applied because chown clears set-user-ID and set-group-ID bits.
        temporary.set_permissions(existing.permissions())?;
    }
    temporary.write_all(data)?;
    temporary.sync_all()
}

/// The fallback for a writable file in a folder that refuses new files: truncate and write in
/// place (not atomic).
fn write_in_place(path: &Path, data: &[u8]) -> Result<(), FsError> {
    let (mut file, _) = open_regular(path, std::fs::OpenOptions::new().write(true), "write")?;
    // Truncating only now: the descriptor is known to be a regular file.
    file.set_len(0)
        .and_then(|()| file.write_all(data))
        .map_err(|error| FsError::from_io("cannot write", path, error))
}

/// Refuses a path that exists (after following links) and is a special file, before anything
/// opens it: opening a FIFO for writing without `O_NONBLOCK` blocks, and with it fails with an
/// obscure `ENXIO`. A missing path is fine (it will be created).
fn refuse_special(action: &str, path: &Path) -> Result<(), FsError> {
    match std::fs::metadata(path) {
        Ok(metadata) if !metadata.is_file() => Err(not_regular(action, path, metadata.file_type())),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) fn create_directory(path: &Path, recursive: bool) -> Result<(), FsError> {
    create_directory_with(path, recursive, true)
}

/// [`create_directory`]; without `follow`, an existing link at `path` is refused (`ELOOP`)
/// rather than accepted as the directory it points to.
pub(crate) fn create_directory_with(path: &Path, recursive: bool, follow: bool) -> Result<(), FsError> {
    if !follow && is_symlink(path) {
        return Err(symlink_refused("cannot create directory", path));
    }
    let result = if recursive { std::fs::create_dir_all(path) } else { std::fs::create_dir(path) };
    result.map_err(|error| FsError::from_io("cannot create directory", path, error))
}

/// What `fs/getMetadata` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Metadata {
    pub(crate) is_directory: bool,
    pub(crate) is_file: bool,
    pub(crate) is_symlink: bool,
    pub(crate) size: u64,
    pub(crate) created_at_ms: i64,
    pub(crate) modified_at_ms: i64,
}

#[cfg(test)]
pub(crate) fn get_metadata(path: &Path) -> Result<Metadata, FsError> {
    get_metadata_with(path, true)
}

/// [`get_metadata`]; without `follow`, a link at `path` is refused with the 0.171 reference's
/// -32600 `path contains a symbolic link`.
pub(crate) fn get_metadata_with(path: &Path, follow: bool) -> Result<Metadata, FsError> {
    let own =
        std::fs::symlink_metadata(path).map_err(|error| FsError::from_io("cannot stat", path, error))?;
    let is_symlink = own.file_type().is_symlink();
    if is_symlink && !follow {
        return Err(FsError::Invalid(messages::PATH_IS_SYMLINK.to_owned()));
    }
    // Follow the link for the kind and size of the target; a dangling link describes itself.
    let target = if is_symlink { std::fs::metadata(path).unwrap_or(own) } else { own };
    Ok(Metadata {
        is_directory: target.is_dir(),
        is_file: target.is_file(),
        is_symlink,
        size: target.len(),
        created_at_ms: target.created().map(millis_since_epoch).unwrap_or(0),
        modified_at_ms: target.modified().map(millis_since_epoch).unwrap_or(0),
    })
}

fn millis_since_epoch(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// One entry of `fs/readDirectory`; links are reported as neither file nor directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectoryEntry {
    pub(crate) file_name: String,
    pub(crate) is_directory: bool,
    pub(crate) is_file: bool,
}

pub(crate) fn read_directory(path: &Path) -> Result<Vec<DirectoryEntry>, FsError> {
    let context = "cannot read directory";
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|error| FsError::from_io(context, path, error))? {
        let entry = entry.map_err(|error| FsError::from_io(context, path, error))?;
        let file_type = entry.file_type().map_err(|error| FsError::from_io(context, &entry.path(), error))?;
        entries.push(DirectoryEntry {
            file_name: entry.file_name().to_string_lossy().into_owned(),
            is_directory: file_type.is_dir(),
            is_file: file_type.is_file(),
        });
    }
    entries.sort_by(|left, right| left.file_name.cmp(&right.file_name));
    Ok(entries)
}

/// Folders `fs/remove` refuses to remove themselves: the root and the top-level folders a Unix
/// system (and this server) cannot live without, plus the main folders below `/usr` and `/var`.
/// What lies *inside* them stays removable (a client may delete `/tmp/x` or `/etc/app.conf`), except
/// for [`PROTECTED_TREES`].
const PROTECTED_PATHS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/usr/bin",
    "/usr/include",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/libx32",
    "/usr/local",
    "/usr/sbin",
    "/usr/share",
    "/usr/src",
    "/var/cache",
    "/var/lib",
    "/var/lock",
    "/var/log",
    "/var/run",
    "/var/spool",
    "/var/tmp",
];

/// Kernel filesystems and device nodes: nothing at or below these is ever removed (as root,
/// removing `/dev/null` breaks every process on the machine).
const PROTECTED_TREES: &[&str] = &["/proc", "/sys", "/dev"];

/// Scratch space below a protected tree whose *entries* stay removable (`/dev/shm/x`, not
/// `/dev/shm` itself).
const SCRATCH_IN_PROTECTED_TREES: &[&str] = &["/dev/shm"];

/// The paths `fs/remove` refuses besides `/`, the system's own and the server's executable: the
/// server's own files and the home directory of the user it runs as (issue 12). Both the form
/// given and the resolved one are protected, and they are compared with every form of the
/// request's path, so a link or `..` does not get round them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectedPaths {
    /// The auth-token file, the `--config` file, the audit log, the TLS certificate and key:
    /// each is refused, and so is every folder holding one (removing it would remove the file).
    pub own_files: Vec<PathBuf>,
    /// The home directories of the server's user: each itself is refused; what lies inside stays
    /// removable.
    pub home_directories: Vec<PathBuf>,
}

impl ProtectedPaths {
    /// `own_files`, and as home directories `$HOME` (when absolute) and the password database's
    /// entry of the user this process runs as.
    pub fn for_this_process(own_files: impl IntoIterator<Item = PathBuf>) -> ProtectedPaths {
        let mut home_directories: Vec<PathBuf> = std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|home| home.is_absolute())
            .into_iter()
            .collect();
        if let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::getuid()) {
            home_directories.push(user.dir);
        }
        home_directories.dedup();
        ProtectedPaths { own_files: own_files.into_iter().collect(), home_directories }
    }
}

/// Every form of each path: lexically normalized, and resolved where it exists.
fn every_form(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|path| path.is_absolute())
        .flat_map(|path| [Some(normalize(path)), std::fs::canonicalize(path).ok()])
        .flatten()
        .collect()
}

/// Refuses to remove `/`, a protected system path, the server's own executable or a folder
/// holding it, and the [`ProtectedPaths`]. The check is made on every form the path may take: lexically normalized (so
/// `/tmp/..` is `/`), with every link resolved (what a trailing slash or `..` makes the kernel
/// follow), and with its parent resolved and the last component kept (what is deleted when the
/// last component is a link). A link to a protected folder is therefore refused too: a cautious
/// miss is better than a wrong guess.
fn removal_guard(path: &Path, protected: &ProtectedPaths) -> Result<(), FsError> {
    let executable = std::env::current_exe().and_then(std::fs::canonicalize).ok();
    let mut candidates = vec![normalize(path)];
    candidates.extend(std::fs::canonicalize(path).ok());
    if let (Some(parent), Some(name)) = (path.parent(), path.file_name()) {
        candidates.extend(std::fs::canonicalize(parent).ok().map(|parent| parent.join(name)));
    }
    let refuse = |candidate: &PathBuf, message: fn(&str, &str) -> String| {
        Err(FsError::Invalid(message(&path.display().to_string(), &candidate.display().to_string())))
    };
    if let Some(candidate) =
        candidates.iter().find(|candidate| is_protected(candidate, executable.as_deref()))
    {
        return refuse(candidate, messages::protected_path);
    }
    let own_files = every_form(&protected.own_files);
    if let Some(candidate) =
        candidates.iter().find(|candidate| own_files.iter().any(|file| file.starts_with(candidate)))
    {
        return refuse(candidate, messages::protected_server_file);
    }
    let homes = every_form(&protected.home_directories);
    if let Some(candidate) = candidates.iter().find(|candidate| homes.contains(candidate)) {
        return refuse(candidate, messages::protected_home_directory);
    }
    Ok(())
}

/// Whether removing the absolute, normalized `candidate` is refused.
fn is_protected(candidate: &Path, executable: Option<&Path>) -> bool {
    let in_scratch = SCRATCH_IN_PROTECTED_TREES
        .iter()
        .any(|scratch| candidate.starts_with(scratch) && candidate != Path::new(scratch));
    PROTECTED_PATHS.iter().any(|protected| candidate == Path::new(protected))
        || (!in_scratch && PROTECTED_TREES.iter().any(|tree| candidate.starts_with(tree)))
        || executable.is_some_and(|executable| executable.starts_with(candidate))
}

pub(crate) fn remove(
    path: &Path,
    recursive: bool,
    force: bool,
    protected: &ProtectedPaths,
) -> Result<(), FsError> {
    removal_guard(path, protected)?;
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound && force => return Ok(()),
        Err(error) => return Err(FsError::from_io("cannot remove", path, error)),
    };
    let result = if metadata.is_dir() {
        if recursive { std::fs::remove_dir_all(path) } else { std::fs::remove_dir(path) }
    } else {
        std::fs::remove_file(path)
    };
    match result {
        Err(error) if error.kind() == io::ErrorKind::NotFound && force => Ok(()),
        other => other.map_err(|error| FsError::from_io("cannot remove", path, error)),
    }
}

pub(crate) fn copy(source: &Path, destination: &Path, recursive: bool) -> Result<(), FsError> {
    let metadata =
        std::fs::symlink_metadata(source).map_err(|error| FsError::from_io("cannot copy", source, error))?;
    if metadata.is_dir() {
        if !recursive {
            return Err(FsError::Invalid(messages::COPY_DIRECTORY_NOT_RECURSIVE.to_owned()));
        }
        if is_within(destination, source) {
            let (source, destination) = (source.display().to_string(), destination.display().to_string());
            return Err(FsError::Invalid(messages::copy_into_itself(&source, &destination)));
        }
        // Refuse a tree holding a special file before copying anything, rather than copy part of
        // it or skip the file silently.
        find_special_file(source)?;
        copy_tree(source, destination)
    } else {
        copy_entry(source, destination, &metadata)
    }
}

/// Walks `directory` (without following links) and refuses it if it holds a FIFO, socket or
/// device anywhere, naming the first one found.
fn find_special_file(directory: &Path) -> Result<(), FsError> {
    let context = "cannot copy";
    for entry in std::fs::read_dir(directory).map_err(|error| FsError::from_io(context, directory, error))? {
        let entry = entry.map_err(|error| FsError::from_io(context, directory, error))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|error| FsError::from_io(context, &path, error))?;
        if file_type.is_dir() {
            find_special_file(&path)?;
        } else if !file_type.is_file() && !file_type.is_symlink() {
            return Err(not_regular("copy", &path, file_type));
        }
    }
    Ok(())
}

/// Whether `inner` is `outer` or lies below it, judged on normalized absolute paths (and on the
/// canonical paths, when they exist, so a link cannot sneak the destination inside the source).
fn is_within(inner: &Path, outer: &Path) -> bool {
    let lexical = normalize(inner).starts_with(normalize(outer));
    let canonical_outer = std::fs::canonicalize(outer).ok();
    // The destination usually does not exist yet; canonicalize its nearest existing ancestor.
    let canonical_inner = inner.ancestors().find_map(|ancestor| {
        let canonical = std::fs::canonicalize(ancestor).ok()?;
        Some(canonical.join(inner.strip_prefix(ancestor).ok()?))
    });
    let canonical = match (canonical_inner, canonical_outer) {
        (Some(inner), Some(outer)) => normalize(&inner).starts_with(outer),
        _ => false,
    };
    lexical || canonical
}

fn normalize(path: &Path) -> PathBuf {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normalized.pop();
            }
            Component::CurDir => {}
            other => normalized.push(other),
        }
    }
    normalized
}

fn copy_tree(source: &Path, destination: &Path) -> Result<(), FsError> {
    let context = "cannot copy";
    std::fs::create_dir_all(destination).map_err(|error| FsError::from_io(context, destination, error))?;
    for entry in std::fs::read_dir(source).map_err(|error| FsError::from_io(context, source, error))? {
        let entry = entry.map_err(|error| FsError::from_io(context, source, error))?;
        let from = entry.path();
        let to = destination.join(entry.file_name());
        let metadata =
            std::fs::symlink_metadata(&from).map_err(|error| FsError::from_io(context, &from, error))?;
        if metadata.is_dir() {
            copy_tree(&from, &to)?;
        } else {
            copy_entry(&from, &to, &metadata)?;
        }
    }
    Ok(())
}

/// Copies one non-directory entry: links stay links, files keep their permissions.
fn copy_entry(source: &Path, destination: &Path, metadata: &std::fs::Metadata) -> Result<(), FsError> {
    let context = "cannot copy";
    if metadata.file_type().is_symlink() {
        let target = std::fs::read_link(source).map_err(|error| FsError::from_io(context, source, error))?;
        std::os::unix::fs::symlink(&target, destination)
            .map_err(|error| FsError::from_io(context, destination, error))
    } else if metadata.is_file() {
        copy_file(source, destination)
    } else {
        Err(not_regular("copy", source, metadata.file_type()))
    }
}

/// Copies a regular file's contents and permissions, like `std::fs::copy`, but opens both ends
/// without blocking and refuses either if it turns out to be a special file.
fn copy_file(source: &Path, destination: &Path) -> Result<(), FsError> {
    let context = "cannot copy";
    let (mut from, metadata) = open_regular(source, std::fs::OpenOptions::new().read(true), "copy")?;
    refuse_special("copy", destination)?;
    let (mut to, _) =
        open_regular(destination, std::fs::OpenOptions::new().write(true).create(true), "copy")?;
    to.set_len(0)
        .and_then(|()| io::copy(&mut from, &mut to))
        .and_then(|_| to.set_permissions(metadata.permissions()))
        .map_err(|error| FsError::from_io(context, destination, error))
}

pub(crate) fn canonicalize(path: &Path) -> Result<PathBuf, FsError> {
    std::fs::canonicalize(path).map_err(|error| FsError::from_io("cannot canonicalize", path, error))
}

/// The most entries one `fs/walk` returns, whatever the client asks: the result is one message.
pub(crate) const MAX_WALK_ENTRIES: u64 = 100_000;
/// The most directories one `fs/walk` descends into, whatever the client asks.
pub(crate) const MAX_WALK_DIRECTORIES: u64 = 10_000;
/// The deepest one `fs/walk` goes, whatever the client asks.
pub(crate) const MAX_WALK_DEPTH: u32 = 64;

/// What `fs/walk` found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// `(path, is_directory)`, parents before children, names sorted within a directory.
    pub(crate) entries: Vec<(PathBuf, bool)>,
    /// Directories that could not be read, with the OS error text.
    pub(crate) errors: Vec<(PathBuf, String)>,
    /// A bound stopped the walk early.
    pub(crate) truncated: bool,
}

/// Lists the tree below `root`, breadth first, within `max_depth` levels (1: the root's own
/// entries), `max_entries` entries counting the root itself and `max_directories` directories
/// read (each capped by the `MAX_WALK_*` constants). Regular files and directories are listed; links to directories are
/// listed as directories and descended into only with `follow_directory_links` (each real
/// directory once, so a link cycle ends); links to anything else and special files are not
/// listed, like the 0.171 reference. The root itself must be a readable directory. `truncated`
/// is set when a bound stopped the walk, including a directory left unread at the depth limit.
pub(crate) fn walk(
    root: &Path,
    max_depth: u32,
    max_entries: Option<u64>,
    max_directories: Option<u64>,
    follow_directory_links: bool,
) -> Result<Walk, FsError> {
    let max_depth = max_depth.min(MAX_WALK_DEPTH);
    let max_entries = max_entries.unwrap_or(MAX_WALK_ENTRIES).min(MAX_WALK_ENTRIES);
    let max_directories = max_directories.unwrap_or(MAX_WALK_DIRECTORIES).min(MAX_WALK_DIRECTORIES);
    let metadata = std::fs::metadata(root).map_err(|error| FsError::from_io("cannot walk", root, error))?;
    if !metadata.is_dir() {
        return Err(FsError::Invalid(messages::walk_not_a_directory(&root.display().to_string())));
    }
    let mut walk = Walk::default();
    let mut seen = std::collections::HashSet::from([(metadata.dev(), metadata.ino())]);
    let mut queue = std::collections::VecDeque::from([(root.to_path_buf(), 1u32)]);
    let mut directories_read = 0u64;
    while let Some((directory, depth)) = queue.pop_front() {
        if depth > max_depth {
            continue;
        }
        if directories_read == max_directories {
            walk.truncated = true;
            break;
        }
        directories_read += 1;
        let mut names = match std::fs::read_dir(&directory) {
            Ok(read) => read.filter_map(Result::ok).map(|entry| entry.path()).collect::<Vec<_>>(),
            Err(error) => {
                walk.errors.push((directory, error.to_string()));
                continue;
            }
        };
        names.sort();
        for path in names {
            let Ok(own) = std::fs::symlink_metadata(&path) else { continue };
            let (is_directory, descend) = if own.file_type().is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(target) if target.is_dir() && follow_directory_links => {
                        (true, seen.insert((target.dev(), target.ino())))
                    }
                    _ => continue,
                }
            } else if own.is_dir() {
                (true, seen.insert((own.dev(), own.ino())))
            } else if own.is_file() {
                (false, false)
            } else {
                continue;
            };
            // The walked directory itself counts as one entry, as in the 0.171 reference
            // (measured: `maxEntries: 3` lists two entries and says `truncated`).
            if u64::try_from(walk.entries.len() + 1).unwrap_or(u64::MAX) >= max_entries {
                walk.truncated = true;
                return Ok(walk);
            }
            if descend && depth < max_depth {
                queue.push_back((path.clone(), depth + 1));
            } else if descend {
                // A directory at the depth limit may hold more: say so.
                walk.truncated = true;
            }
            walk.entries.push((path, is_directory));
        }
    }
    Ok(walk)
}

/// Opens a regular file for `fs/open {mode: "read"}` (special files refused, as for `readFile`).
pub(crate) fn open_for_reading(path: &Path) -> Result<std::fs::File, FsError> {
    open_regular(path, std::fs::OpenOptions::new().read(true), "read").map(|(file, _)| file)
}

/// Reads at most `len` bytes at `offset`; `eof` when the block reaches the end of the file.
pub(crate) fn read_block(
    file: &std::fs::File,
    path: &Path,
    offset: u64,
    len: usize,
) -> Result<(Vec<u8>, bool), FsError> {
    use std::os::unix::fs::FileExt as _;
    let context = "cannot read";
    let mut data = vec![0; len];
    let mut filled = 0;
    while filled < len {
        let at = offset.saturating_add(u64::try_from(filled).unwrap_or(u64::MAX));
        match file.read_at(&mut data[filled..], at) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(FsError::from_io(context, path, error)),
        }
    }
    data.truncate(filled);
    let size = file.metadata().map_err(|error| FsError::from_io(context, path, error))?.len();
    let end = offset.saturating_add(u64::try_from(filled).unwrap_or(u64::MAX));
    Ok((data, end >= size))
}

/// A new version of a file being written block by block (`fs/open {mode: "replace"}`): a
/// temporary file next to the target, renamed over it by [`Replacement::commit`]. Dropped
/// without a commit, the temporary file is removed and the target never changes.
#[derive(Debug)]
pub(crate) struct Replacement {
    /// The path the client named (for messages).
    path: PathBuf,
    /// Where the rename lands: `path` with its final links followed, as `writeFile` does.
    target: PathBuf,
    temporary_path: PathBuf,
    pub(crate) file: std::fs::File,
    committed: bool,
}

/// Starts a [`Replacement`]: the target's folder must exist and the target, if it exists, must
/// be a regular file (its mode is kept). Nothing visible changes until the commit.
pub(crate) fn begin_replace(path: &Path) -> Result<Replacement, FsError> {
    let target = resolve_final_links(path)?;
    let existing = match std::fs::metadata(&target) {
        Ok(metadata) if !metadata.is_file() => return Err(not_regular("write", path, metadata.file_type())),
        Ok(metadata) => Some(metadata),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => return Err(FsError::from_io("cannot write", path, error)),
    };
    let (temporary_path, file) =
        create_temporary(&target).map_err(|error| FsError::from_io("cannot write", path, error))?;
    let replacement =
        Replacement { path: path.to_path_buf(), target, temporary_path, file, committed: false };
    if let Some(existing) = existing {
        replacement
            .file
            .set_permissions(existing.permissions())
            .map_err(|error| FsError::from_io("cannot write", path, error))?;
    }
    Ok(replacement)
}

impl Replacement {
    /// Writes `data` at `offset` of the new version.
    pub(crate) fn write_block(&self, offset: u64, data: &[u8]) -> Result<(), FsError> {
        use std::os::unix::fs::FileExt as _;
        self.file
            .write_all_at(data, offset)
            .map_err(|error| FsError::from_io("cannot write", &self.path, error))
    }

    /// Syncs the new version and renames it over the target, atomically.
    pub(crate) fn commit(mut self) -> Result<(), FsError> {
        self.file
            .sync_all()
            .and_then(|()| std::fs::rename(&self.temporary_path, &self.target))
            .map_err(|error| FsError::from_io("cannot write", &self.path, error))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: an abandoned new version is a hidden file; the target is untouched
            // either way.
            let _ = std::fs::remove_file(&self.temporary_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("exec-transport-fs-{name}-{}", std::process::id()));
        // Leftovers of an earlier run would make the assertions below meaningless.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("clean scratch dir");
        }
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        dir
    }

    #[test]
    fn paths() {
        assert_eq!(absolute_path("/tmp/x").unwrap(), PathBuf::from("/tmp/x"));
        assert_eq!(absolute_path("file:///tmp/a%20b").unwrap(), PathBuf::from("/tmp/a b"));
        assert_eq!(absolute_path("relative").unwrap_err().to_string(), "path must be absolute: relative");
        assert_eq!(absolute_path("file:///tmp/%zz%4").unwrap(), PathBuf::from("/tmp/%zz%4"));
    }

    #[test]
    fn write_read_metadata_remove() {
        let dir = scratch("basic");
        let file = dir.join("f.txt");
        write_file(&file, b"hello").unwrap();
        assert_eq!(read_file(&file, MAX_READ_FILE_BYTES).unwrap(), b"hello");
        let metadata = get_metadata(&file).unwrap();
        assert!(metadata.is_file && !metadata.is_directory && !metadata.is_symlink);
        assert_eq!(metadata.size, 5);
        assert!(matches!(read_file(&dir.join("missing"), MAX_READ_FILE_BYTES), Err(FsError::NotFound(_))));
        create_directory(&dir.join("a/b/c"), true).unwrap();
        assert!(matches!(create_directory(&dir.join("x/y"), false), Err(FsError::NotFound(_))));
        let names: Vec<_> = read_directory(&dir).unwrap().into_iter().map(|entry| entry.file_name).collect();
        assert_eq!(names, ["a", "f.txt"]);
        assert!(matches!(
            remove(&dir.join("a"), false, true, &ProtectedPaths::default()),
            Err(FsError::Other(_))
        ));
        remove(&dir.join("a"), true, true, &ProtectedPaths::default()).unwrap();
        remove(&dir.join("a"), true, true, &ProtectedPaths::default()).unwrap();
        assert!(matches!(
            remove(&dir.join("a"), true, false, &ProtectedPaths::default()),
            Err(FsError::NotFound(_))
        ));
        remove(&dir, true, false, &ProtectedPaths::default()).unwrap();
    }

    #[test]
    fn copy_rules() {
        let dir = scratch("copy");
        let source = dir.join("src");
        create_directory(&source.join("nested"), true).unwrap();
        write_file(&source.join("nested/file"), b"data").unwrap();
        std::os::unix::fs::symlink("nested/file", source.join("link")).unwrap();

        assert!(matches!(copy(&source, &dir.join("dst"), false), Err(FsError::Invalid(_))));
        assert!(matches!(copy(&source, &source.join("inside"), true), Err(FsError::Invalid(_))));
        assert!(matches!(copy(&source, &source, true), Err(FsError::Invalid(_))));
        copy(&source, &dir.join("dst"), true).unwrap();
        assert_eq!(read_file(&dir.join("dst/nested/file"), MAX_READ_FILE_BYTES).unwrap(), b"data");
        let link = get_metadata(&dir.join("dst/link")).unwrap();
        assert!(link.is_symlink && link.is_file);
        assert_eq!(std::fs::read_link(dir.join("dst/link")).unwrap(), PathBuf::from("nested/file"));
        copy(&source.join("nested/file"), &dir.join("single"), false).unwrap();
        assert_eq!(read_file(&dir.join("single"), MAX_READ_FILE_BYTES).unwrap(), b"data");
        remove(&dir, true, false, &ProtectedPaths::default()).unwrap();
    }

    #[test]
    fn own_temporary_files_are_recognised() {
        let dir = scratch("temporary-names");
        let (path, _file) = create_temporary(&dir.join("notes.txt")).unwrap();
        assert!(is_own_temporary(path.file_name().unwrap()), "{}", path.display());
        let pid = std::process::id();
        for name in
            [format!("notes.{pid}.1.tmp"), format!(".notes.{}.1.tmp", pid + 1), format!(".notes.{pid}.x.tmp")]
        {
            assert!(!is_own_temporary(std::ffi::OsStr::new(&name)), "{name}");
        }
        assert!(!is_own_temporary(std::ffi::OsStr::new(".git")));
        remove(&dir, true, false, &ProtectedPaths::default()).unwrap();
    }

    #[test]
    fn read_limit_follows_the_message_limit() {
        assert_eq!(read_file_limit(16 * 1024 * 1024), MAX_READ_FILE_BYTES);
        // 4 KiB messages: 3 KiB of envelope-free room, 3/4 of it as raw bytes.
        assert_eq!(read_file_limit(4096), 2304);
        assert_eq!(read_file_limit(10), 0);
    }

    #[test]
    fn reads_are_bounded_even_when_the_source_never_ends() {
        // An endless reader stands for a file that grows while it is read.
        let endless = io::repeat(b'z');
        assert!(matches!(read_bounded(endless, 0, 1000), Err(ReadBoundedError::TooLarge)));
        assert_eq!(read_bounded(&b"12345"[..], 5, 5).unwrap(), b"12345");
        assert!(matches!(read_bounded(&b"123456"[..], 5, 5), Err(ReadBoundedError::TooLarge)));

        let dir = scratch("bounded");
        let file = dir.join("f");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_file(&file, 10).unwrap(), b"0123456789");
        let error = read_file(&file, 9).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "cannot read {}: file too large (the limit is 9 bytes); read it in blocks with fs/open and fs/readBlock",
                file.display()
            )
        );
        let error = read_file(Path::new("/dev/zero"), 10).unwrap_err().to_string();
        assert_eq!(error, "cannot read /dev/zero: it is a character device, not a regular file");
        remove(&dir, true, false, &ProtectedPaths::default()).unwrap();
    }

    #[track_caller]
    fn check_guard(path: &str, expect_refused_as: Option<&str>) {
        let outcome = removal_guard(Path::new(path), &ProtectedPaths::default());
        match expect_refused_as {
            None => assert!(outcome.is_ok(), "{path} was refused: {outcome:?}"),
            Some(canonical) => assert_eq!(
                outcome.unwrap_err().to_string(),
                format!("refusing to remove {path}: {canonical} is a protected system path")
            ),
        }
    }

    #[test]
    fn remove_guard_refuses_root_and_system_paths() {
        // Only the guard is called here: nothing in this test removes anything protected.
        check_guard("/", Some("/"));
        check_guard("//", Some("/"));
        check_guard("/tmp/..", Some("/"));
        check_guard("/tmp/../", Some("/"));
        check_guard("/usr/./bin/..", Some("/usr"));
        check_guard("/usr/", Some("/usr"));
        check_guard("/usr/local/bin/../..", Some("/usr"));
        check_guard("/etc", Some("/etc"));
        check_guard("/home", Some("/home"));
        check_guard("/var/lib", Some("/var/lib"));
        check_guard("/proc/self/..", Some("/proc"));
        check_guard("/proc/1/fd", Some("/proc/1/fd"));
        check_guard("/sys/fs/cgroup", Some("/sys/fs/cgroup"));
        check_guard("/dev/null", Some("/dev/null"));
        check_guard("/dev/shm", Some("/dev/shm"));
        check_guard("/dev/shm/scratch-file", None);
        check_guard("/devices-are-elsewhere", None);
        check_guard("/tmp/some-scratch-file", None);
        check_guard("/etc/some-app.conf", None);
        check_guard("/usr/local/share/some-app", None);

        let executable = std::env::current_exe().and_then(std::fs::canonicalize).unwrap();
        let folder = executable.parent().unwrap().to_str().unwrap().to_owned();
        check_guard(&folder, Some(&folder));

        // Links: one to `/` is refused, followed or not; a path through one is resolved.
        let dir = scratch("guard");
        std::os::unix::fs::symlink("/", dir.join("root")).unwrap();
        std::os::unix::fs::symlink("/usr/bin", dir.join("bin")).unwrap();
        let root_link = dir.join("root");
        check_guard(root_link.to_str().unwrap(), Some("/"));
        check_guard(&format!("{}/", root_link.display()), Some("/"));
        check_guard(&format!("{}/..", dir.join("bin").display()), Some("/usr"));
        check_guard(&format!("{}/etc", root_link.display()), Some("/etc"));
        std::fs::write(dir.join("plain"), b"x").unwrap();
        check_guard(dir.join("plain").to_str().unwrap(), None);
        // The links themselves are only ever removed by the guard-free cleanup below.
        std::fs::remove_file(dir.join("root")).unwrap();
        std::fs::remove_file(dir.join("bin")).unwrap();
        remove(&dir, true, false, &ProtectedPaths::default()).unwrap();
    }

    #[test]
    fn remove_guard_refuses_the_servers_own_files_and_its_users_home() {
        let dir = scratch("own-files").canonicalize().unwrap();
        std::fs::create_dir_all(dir.join("etc/exec")).unwrap();
        std::fs::create_dir_all(dir.join("home/me/work")).unwrap();
        std::fs::write(dir.join("etc/exec/token"), b"secret").unwrap();
        std::fs::write(dir.join("etc/exec/other"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.join("etc"), dir.join("link")).unwrap();
        let protected = ProtectedPaths {
            own_files: vec![dir.join("etc/exec/token")],
            home_directories: vec![dir.join("home/me")],
        };
        let refused = |path: PathBuf, canonical: PathBuf, message: fn(&str, &str) -> String| {
            let error = removal_guard(&path, &protected).unwrap_err().to_string();
            assert_eq!(error, message(&path.display().to_string(), &canonical.display().to_string()));
        };
        let own = messages::protected_server_file;
        refused(dir.join("etc/exec/token"), dir.join("etc/exec/token"), own);
        refused(dir.join("etc/exec"), dir.join("etc/exec"), own);
        refused(dir.join("etc"), dir.join("etc"), own);
        refused(dir.join("etc/exec/../exec"), dir.join("etc/exec"), own);
        // Through a link, and the link itself (it resolves to a folder holding the token: a
        // cautious miss, as for system paths).
        refused(dir.join("link/exec"), dir.join("etc/exec"), own);
        refused(dir.join("link"), dir.join("etc"), own);
        refused(dir.clone(), dir.clone(), own);
        refused(dir.join("home/me"), dir.join("home/me"), messages::protected_home_directory);
        refused(dir.join("home/me/work/.."), dir.join("home/me"), messages::protected_home_directory);
        // Beside them, and inside the home, everything stays removable.
        for path in ["etc/exec/other", "home/me/work", "home/me/missing"] {
            assert!(removal_guard(&dir.join(path), &protected).is_ok(), "{path} was refused");
        }
        remove(&dir, true, false, &ProtectedPaths::default()).unwrap();
    }

    #[test]
    fn write_file_replaces_atomically_and_keeps_mode_and_links() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = scratch("atomic");
        let file = dir.join("f");
        write_file(&file, b"one").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_file(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777, 0o640);

        // Through a link: the link stays a link, its target gets the data.
        std::os::unix::fs::symlink("f", dir.join("link")).unwrap();
        write_file(&dir.join("link"), b"three").unwrap();
        assert!(std::fs::symlink_metadata(dir.join("link")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&file).unwrap(), b"three");
        // A dangling link creates the file it names.
        std::os::unix::fs::symlink("new", dir.join("dangling")).unwrap();
        write_file(&dir.join("dangling"), b"four").unwrap();
        assert_eq!(std::fs::read(dir.join("new")).unwrap(), b"four");

        // A failed write (no such folder) leaves nothing behind; a directory is refused.
        assert!(matches!(write_file(&dir.join("missing/f"), b"x"), Err(FsError::NotFound(_))));
        let error = write_file(&dir, b"x").unwrap_err().to_string();
        assert_eq!(error, format!("cannot write {}: it is a directory, not a regular file", dir.display()));
        let mut names: Vec<_> =
            read_directory(&dir).unwrap().into_iter().map(|entry| entry.file_name).collect();
        names.sort();
        assert_eq!(names, ["dangling", "f", "link", "new"]);
        remove(&dir, true, false, &ProtectedPaths::default()).unwrap();
    }
}
