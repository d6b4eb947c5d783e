//! `exec-client cp SRC DST`: copies files and directory trees between here and the executor, as
//! `kubectl cp` does; the executor's side is written `:PATH` (absolute).
//!
//! - Like `cp -r`: a directory is copied with everything in it; a destination that is an
//!   existing directory receives the source under its own name.
//! - Contents travel through the `fs/*` methods: in blocks with `fs/open`/`fs/readBlock`/
//!   `fs/writeBlock` when the server offers them, else as whole files with `fs/readFile`/
//!   `fs/writeFile`, which a server caps (ours near 8 MiB): a larger file is an error naming the
//!   limit, never a truncated copy. A download is written to a temporary name and renamed when
//!   complete.
//! - Permission bits are kept. `fs/*` carries no mode, so on the executor they are read with
//!   `stat -c %a` and set with `chmod` (processes started through the same connection); a server
//!   that cannot run them gets the copy without its modes and one warning.
//! - Symbolic links to files are copied as files; links to directories and special files (FIFOs,
//!   sockets, devices) are skipped with a warning.
//! - A progress bar appears on a terminal once a copy has taken more than a second.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use exec_engine::{Event, ExitStatus};
use exec_protocol::messages;
use exec_transport::client::OpenMode;
use exec_transport::{ClientError, ExecClient, ProcessSpec};

use crate::{Failure, ServerArgs};

/// Exit code of a failed copy (as `cp` uses).
pub(crate) const COPY_FAILED: u8 = 1;

/// The largest file sent with one `fs/writeFile`: its base64 (4 bytes per 3) plus the envelope
/// must fit a server's message limit, which is 16 MiB on ours by default.
pub(crate) const WHOLE_FILE_LIMIT: u64 = 8 * 1024 * 1024;

/// Bytes per `fs/readBlock`/`fs/writeBlock` (about 1.4 MB of base64 per message).
const BLOCK_BYTES: usize = 1024 * 1024;

/// Paths per `chmod`/`stat` command line, well below any `ARG_MAX`.
const PATHS_PER_COMMAND: usize = 200;

#[derive(Args, Debug)]
pub(crate) struct CpArgs {
    /// What to copy: a local path, or `:PATH` on the executor.
    #[arg(value_name = "SRC")]
    source: String,
    /// Where to: a local path, or `:PATH` on the executor (exactly one side is remote).
    #[arg(value_name = "DST")]
    destination: String,
    /// No progress bar, even on a terminal.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// One side of a copy.
enum Side {
    Local(PathBuf),
    Remote(String),
}

fn side(text: &str) -> Result<Side, Failure> {
    match text.strip_prefix(':') {
        Some(path) if path.starts_with('/') => Ok(Side::Remote(path.to_owned())),
        Some(path) => Err(Failure::usage(format!("executor paths must be absolute, got `:{path}`"))),
        None => Ok(Side::Local(PathBuf::from(text))),
    }
}

fn failed(message: String) -> Failure {
    Failure { code: COPY_FAILED, message }
}

pub(crate) async fn cp(server: &ServerArgs, args: CpArgs) -> Result<u8, Failure> {
    let (source, destination) = match (side(&args.source)?, side(&args.destination)?) {
        (Side::Local(source), Side::Remote(destination)) => (Side::Local(source), Side::Remote(destination)),
        (Side::Remote(source), Side::Local(destination)) => (Side::Remote(source), Side::Local(destination)),
        _ => return Err(Failure::usage("exactly one of SRC and DST must be `:PATH` on the executor")),
    };
    let target = server.target()?;
    let client = server.connect(&target, None).await?;
    let mut progress = Progress::new(args.quiet);
    let outcome = match (source, destination) {
        (Side::Local(source), Side::Remote(destination)) => {
            upload(&client, &source, &destination, &mut progress).await
        }
        (Side::Remote(source), Side::Local(destination)) => {
            download(&client, &source, &destination, &mut progress).await
        }
        _ => unreachable!("checked above"),
    };
    progress.finish();
    client.close().await;
    outcome.map(|()| 0)
}

// ---------------------------------------------------------------------------------------------
// Local → executor

/// What an upload will do, in order: directories (parents first), then files.
#[derive(Default)]
struct UploadPlan {
    directories: Vec<(String, u32)>,
    files: Vec<(PathBuf, String, u64, u32)>,
}

async fn upload(
    client: &ExecClient,
    source: &Path,
    destination: &str,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let metadata = std::fs::metadata(source)
        .map_err(|error| failed(format!("cannot read {}: {error}", source.display())))?;
    let into_directory = client.fs_metadata(destination).await.is_ok_and(|remote| remote.is_directory);
    let target = if into_directory {
        let name = source
            .file_name()
            .ok_or_else(|| Failure::usage(format!("{} has no name to copy under", source.display())))?;
        join_remote(destination, &name.to_string_lossy())
    } else {
        destination.to_owned()
    };
    let mut plan = UploadPlan::default();
    if metadata.is_dir() {
        plan_upload(source, &target, metadata.permissions().mode(), &mut plan)?;
    } else if metadata.is_file() {
        plan.files.push((source.to_path_buf(), target, metadata.len(), metadata.permissions().mode()));
    } else {
        return Err(failed(format!("{} is neither a file nor a directory", source.display())));
    }

    if !client.has_chunked_write()
        && let Some((path, _, size, _)) = plan.files.iter().find(|(_, _, size, _)| *size > WHOLE_FILE_LIMIT)
    {
        return Err(failed(format!(
            "cannot copy {}: it is {size} bytes, more than a whole-file fs/writeFile may carry (the limit is \
             {WHOLE_FILE_LIMIT} bytes), and the server offers no chunked writes (fs/open, fs/writeBlock)",
            path.display()
        )));
    }
    progress.set_total(plan.files.iter().map(|(_, _, size, _)| size).sum());
    for (directory, _) in &plan.directories {
        client.fs_create_directory(directory, true).await.map_err(|error| remote_error(directory, error))?;
    }
    for (local, remote, _, _) in &plan.files {
        upload_file(client, local, remote, progress).await?;
    }
    // Directories last and deepest first, so a read-only directory does not refuse its own
    // contents.
    let mut modes: Vec<(String, u32)> =
        plan.files.iter().map(|(_, remote, _, mode)| (remote.clone(), *mode)).collect();
    let mut directories = plan.directories.clone();
    directories.reverse();
    modes.extend(directories);
    set_remote_modes(client, &modes).await;
    Ok(())
}

fn plan_upload(source: &Path, target: &str, mode: u32, plan: &mut UploadPlan) -> Result<(), Failure> {
    plan.directories.push((target.to_owned(), mode));
    let mut entries: Vec<_> = std::fs::read_dir(source)
        .and_then(|entries| entries.collect::<Result<_, _>>())
        .map_err(|error| failed(format!("cannot read directory {}: {error}", source.display())))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let link = entry.file_type().is_ok_and(|kind| kind.is_symlink());
        let Ok(metadata) = std::fs::metadata(&path) else {
            eprintln!("exec-client: skipping {} (a dangling link or unreadable)", path.display());
            continue;
        };
        let remote = join_remote(target, &name);
        if metadata.is_dir() && !link {
            plan_upload(&path, &remote, metadata.permissions().mode(), plan)?;
        } else if metadata.is_file() {
            plan.files.push((path, remote, metadata.len(), metadata.permissions().mode()));
        } else {
            eprintln!("exec-client: skipping {} (a link to a directory, or a special file)", path.display());
        }
    }
    Ok(())
}

async fn upload_file(
    client: &ExecClient,
    local: &Path,
    remote: &str,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let read_error = |error: std::io::Error| failed(format!("cannot read {}: {error}", local.display()));
    let mut file = std::fs::File::open(local).map_err(read_error)?;
    if !client.has_chunked_write() {
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(read_error)?;
        client.fs_write_file(remote, &data).await.map_err(|error| remote_error(remote, error))?;
        progress.advance(data.len() as u64);
        return Ok(());
    }
    let handle =
        client.fs_open(remote, OpenMode::Replace).await.map_err(|error| remote_error(remote, error))?;
    let mut block = vec![0u8; BLOCK_BYTES];
    let mut offset = 0u64;
    loop {
        let read = read_full(&mut file, &mut block).map_err(read_error)?;
        if read == 0 {
            break;
        }
        handle.write_block(offset, &block[..read]).await.map_err(|error| remote_error(remote, error))?;
        offset += read as u64;
        progress.advance(read as u64);
    }
    handle.close().await.map_err(|error| remote_error(remote, error))
}

/// Fills `buffer` unless the file ends first; returns how much was read.
fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

// ---------------------------------------------------------------------------------------------
// Executor → local

#[derive(Default)]
struct DownloadPlan {
    directories: Vec<(String, PathBuf)>,
    files: Vec<(String, PathBuf, u64)>,
}

async fn download(
    client: &ExecClient,
    source: &str,
    destination: &Path,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let metadata = client.fs_metadata(source).await.map_err(|error| remote_error(source, error))?;
    let target = if destination.is_dir() {
        let name = source.trim_end_matches('/').rsplit('/').next().filter(|name| !name.is_empty());
        let name = name.ok_or_else(|| Failure::usage(format!(":{source} has no name to copy under")))?;
        destination.join(name)
    } else {
        destination.to_path_buf()
    };
    let mut plan = DownloadPlan::default();
    if metadata.is_directory {
        plan_download(client, source, &target, &mut plan).await?;
    } else if metadata.is_file {
        plan.files.push((source.to_owned(), target, metadata.size.unwrap_or(0)));
    } else {
        return Err(failed(format!(":{source} is neither a file nor a directory")));
    }
    progress.set_total(plan.files.iter().map(|(_, _, size)| size).sum());
    for (_, local) in &plan.directories {
        std::fs::create_dir_all(local)
            .map_err(|error| failed(format!("cannot create directory {}: {error}", local.display())))?;
    }
    for (remote, local, _) in &plan.files {
        download_file(client, remote, local, progress).await?;
    }
    let mut paths: Vec<(String, PathBuf)> =
        plan.files.iter().map(|(remote, local, _)| (remote.clone(), local.clone())).collect();
    let mut directories = plan.directories.clone();
    directories.reverse();
    paths.extend(directories);
    let remote_paths: Vec<String> = paths.iter().map(|(remote, _)| remote.clone()).collect();
    if let Some(modes) = remote_modes(client, &remote_paths).await {
        for ((_, local), mode) in paths.iter().zip(modes) {
            if let Err(error) = std::fs::set_permissions(local, std::fs::Permissions::from_mode(mode)) {
                eprintln!("exec-client: cannot set the mode of {}: {error}", local.display());
            }
        }
    }
    Ok(())
}

async fn plan_download(
    client: &ExecClient,
    source: &str,
    target: &Path,
    plan: &mut DownloadPlan,
) -> Result<(), Failure> {
    // Iterative, so a deep tree does not nest futures.
    let mut pending = vec![(source.to_owned(), target.to_path_buf())];
    while let Some((remote, local)) = pending.pop() {
        plan.directories.push((remote.clone(), local.clone()));
        let mut entries =
            client.fs_read_directory(&remote).await.map_err(|error| remote_error(&remote, error))?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for entry in entries.into_iter().rev() {
            let remote_path = join_remote(&remote, &entry.name);
            let local_path = local.join(&entry.name);
            if entry.is_directory {
                pending.push((remote_path, local_path));
            } else if entry.is_file {
                let size = client
                    .fs_metadata(&remote_path)
                    .await
                    .ok()
                    .and_then(|metadata| metadata.size)
                    .unwrap_or(0);
                plan.files.push((remote_path, local_path, size));
            } else {
                eprintln!("exec-client: skipping :{remote_path} (a special file or a dangling link)");
            }
        }
    }
    Ok(())
}

async fn download_file(
    client: &ExecClient,
    remote: &str,
    local: &Path,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let name = local.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = local.with_file_name(format!(".{name}.exec-client-partial"));
    let write_error = |error: std::io::Error| failed(format!("cannot write {}: {error}", partial.display()));
    let mut file = std::fs::File::create(&partial).map_err(write_error)?;
    let copied = async {
        if client.has_chunked_read() {
            let handle =
                client.fs_open(remote, OpenMode::Read).await.map_err(|error| remote_error(remote, error))?;
            let mut offset = 0u64;
            loop {
                let (chunk, eof) = handle
                    .read_block(offset, BLOCK_BYTES)
                    .await
                    .map_err(|error| remote_error(remote, error))?;
                file.write_all(&chunk).map_err(write_error)?;
                offset += chunk.len() as u64;
                progress.advance(chunk.len() as u64);
                if eof || chunk.is_empty() {
                    break;
                }
            }
            handle.close().await.map_err(|error| remote_error(remote, error))?;
        } else {
            // By kind, not text: `fileTooLarge` is our server's; a server without the kind gets the
            // plain remote error, which still carries its own text.
            let data = client.fs_read_file(remote).await.map_err(|error| match &error {
                ClientError::Remote { message, .. }
                    if error.remote_kind() == Some(messages::KIND_FILE_TOO_LARGE) =>
                {
                    failed(format!(
                        "cannot copy :{remote}: {message}; the server offers no chunked reads (fs/open, \
                         fs/readBlock), so a file above that limit cannot be copied from it"
                    ))
                }
                _ => remote_error(remote, error),
            })?;
            file.write_all(&data).map_err(write_error)?;
            progress.advance(data.len() as u64);
        }
        file.sync_all().map_err(write_error)?;
        std::fs::rename(&partial, local).map_err(|error| {
            failed(format!("cannot move {} to {}: {error}", partial.display(), local.display()))
        })
    };
    let outcome: Result<(), Failure> = copied.await;
    if outcome.is_err() {
        // Nothing half-written is left under the final name; the partial file goes too.
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

// ---------------------------------------------------------------------------------------------
// Modes on the executor, through processes

/// Sets each path's permission bits with `chmod` (one command per mode and batch).
async fn set_remote_modes(client: &ExecClient, modes: &[(String, u32)]) {
    let mut by_mode: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for (path, mode) in modes {
        by_mode.entry(mode & 0o7777).or_default().push(path);
    }
    for (mode, paths) in by_mode {
        for batch in paths.chunks(PATHS_PER_COMMAND) {
            let mut argv = vec!["chmod".to_owned(), format!("{mode:o}"), "--".to_owned()];
            argv.extend(batch.iter().map(|path| (*path).to_owned()));
            match run_captured(client, argv).await {
                Ok((ExitStatus::Code(0), _)) => {}
                Ok((status, output)) => {
                    let output = String::from_utf8_lossy(&output);
                    eprintln!(
                        "exec-client: the modes were not kept: chmod ended with {status:?}: {}",
                        output.trim()
                    );
                    return;
                }
                Err(error) => {
                    eprintln!(
                        "exec-client: the modes were not kept: cannot run chmod on the executor: {error}"
                    );
                    return;
                }
            }
        }
    }
}

/// The permission bits of each path, in order, read with `stat -c %a`; `None` (after a
/// warning) when that cannot be done.
async fn remote_modes(client: &ExecClient, paths: &[String]) -> Option<Vec<u32>> {
    let mut modes = Vec::with_capacity(paths.len());
    for batch in paths.chunks(PATHS_PER_COMMAND) {
        let mut argv = vec!["stat".to_owned(), "-c".to_owned(), "%a".to_owned(), "--".to_owned()];
        argv.extend(batch.iter().cloned());
        let (status, output) = match run_captured(client, argv).await {
            Ok(done) => done,
            Err(error) => {
                eprintln!("exec-client: the modes were not kept: cannot run stat on the executor: {error}");
                return None;
            }
        };
        let text = String::from_utf8_lossy(&output);
        let parsed: Vec<u32> =
            text.lines().filter_map(|line| u32::from_str_radix(line.trim(), 8).ok()).collect();
        if status != ExitStatus::Code(0) || parsed.len() != batch.len() {
            eprintln!("exec-client: the modes were not kept: stat on the executor said: {}", text.trim());
            return None;
        }
        modes.extend(parsed);
    }
    Some(modes)
}

/// Runs `argv` on the executor; its exit status and its stdout and stderr together.
async fn run_captured(client: &ExecClient, argv: Vec<String>) -> Result<(ExitStatus, Vec<u8>), ClientError> {
    let id = format!("cp-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut handle = client.start(id, ProcessSpec::new(argv, "/")).await?;
    let mut output = Vec::new();
    let mut status = None;
    while let Some(event) = handle.next_event().await {
        match event {
            Event::Output(chunk) => output.extend_from_slice(&chunk.data),
            Event::Exited { status: exit, .. } => status = Some(exit),
            Event::Failed { reason, .. } => return Err(ClientError::Disconnected(reason)),
            Event::Closed { .. } | Event::Gap { .. } => {}
        }
    }
    let status = match status {
        Some(status) => status,
        None => handle.wait().await?,
    };
    Ok((status, output))
}

// ---------------------------------------------------------------------------------------------

fn join_remote(directory: &str, name: &str) -> String {
    format!("{}/{name}", directory.trim_end_matches('/'))
}

fn remote_error(path: &str, error: ClientError) -> Failure {
    let failure = Failure::from_client(error);
    match failure.code {
        crate::exit::SERVER => failed(format!(":{path}: {}", failure.message)),
        _ => failure,
    }
}

/// A byte-count progress bar on stderr, drawn only on a terminal and only once the copy has
/// taken more than [`PROGRESS_AFTER`].
struct Progress {
    bar: indicatif::ProgressBar,
    started: Instant,
    enabled: bool,
    shown: bool,
}

const PROGRESS_AFTER: Duration = Duration::from_secs(1);

impl Progress {
    fn new(quiet: bool) -> Progress {
        let bar = indicatif::ProgressBar::hidden();
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bytes:>10}/{total_bytes:<10} {wide_bar} {binary_bytes_per_sec:>12} {eta:>4}",
        ) {
            bar.set_style(style);
        }
        let enabled = !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
        Progress { bar, started: Instant::now(), enabled, shown: false }
    }

    fn set_total(&mut self, total: u64) {
        self.bar.set_length(total);
    }

    fn advance(&mut self, bytes: u64) {
        self.bar.inc(bytes);
        if self.enabled && !self.shown && self.started.elapsed() > PROGRESS_AFTER {
            self.shown = true;
            self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    }

    fn finish(&mut self) {
        if self.shown {
            self.bar.finish_and_clear();
        }
    }
}
