//! Turning a [`SpawnSpec`] into a running child, a [`Process`] and its tasks.
//!
//! Every child leads its own process group (pipes: `process_group(0)`; PTY: `setsid` plus
//! `TIOCSCTTY`, so the PTY is its controlling terminal and Ctrl-C and SIGWINCH reach it). With
//! `Config::kill_on_server_death` the child also gets `PR_SET_PDEATHSIG(SIGKILL)`.
//!
//! Spawning is synchronous and must happen on a thread that outlives the child: the kernel sends
//! the death signal when the **thread** that forked exits, not the process. Tokio worker threads
//! live as long as the runtime, but `spawn_blocking` threads are retired after a short idle
//! time, so this is never called from one. It does not wait for the child or do any output I/O.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::tasks::{ChildWatcher, StdinTarget, StdinWriter, StreamReader};
use super::{Process, ProcessState, STDIN_QUEUE_CAPACITY};
use crate::config::Config;
use crate::error::StartError;
use crate::ids::ProcessId;
use crate::retention::{CursorId, CursorOwner, Retention};
use crate::types::{PtySize, SpawnSpec, StdinMode, Stdio, StreamKind};

nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);
nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

/// Called by the child watcher once the process has been closed for `Config::exited_linger`:
/// the session layer removes the entry from its table.
pub(crate) type Retire = Box<dyn FnOnce(&Arc<Process>) + Send + 'static>;

/// A freshly spawned process and the cursor of the subscription `start` hands back.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) process: Arc<Process>,
    pub(crate) cursor: CursorId,
}

/// Spawns the child, builds its [`Process`] with one subscriber cursor for `owner` from seq 1,
/// and starts its tasks. Must run inside a tokio runtime, on a long-lived thread (module docs).
pub(crate) fn spawn(
    id: ProcessId,
    spec: SpawnSpec,
    config: &Config,
    owner: CursorOwner,
    retire: Retire,
) -> Result<Spawned, StartError> {
    let program = spec.argv[0].clone();
    let spawn_error = |source: io::Error| StartError::Spawn { program: program.clone(), source };

    let mut command = tokio::process::Command::new(&spec.argv[0]);
    command.args(&spec.argv[1..]).env_clear().envs(&spec.env).current_dir(&spec.cwd);
    if let Some(arg0) = &spec.arg0 {
        command.arg0(arg0);
    }
    let die_with_server = config.kill_on_server_death;
    let parent_pid = std::process::id();

    let mut pty_master = None;
    match spec.stdio {
        Stdio::Pipes { stdin } => {
            command.stdin(match stdin {
                StdinMode::Closed => std::process::Stdio::null(),
                StdinMode::Pipe => std::process::Stdio::piped(),
            });
            command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            command.process_group(0);
            if die_with_server {
                // SAFETY: the hook only makes async-signal-safe syscalls (prctl, getppid) and
                // allocates nothing, as required between fork and exec.
                unsafe {
                    command.pre_exec(move || die_with_parent(parent_pid));
                }
            }
        }
        Stdio::Pty { size } => {
            let (master, slave) = open_pty(size).map_err(spawn_error)?;
            command
                .stdin(slave.try_clone().map_err(spawn_error)?)
                .stdout(slave.try_clone().map_err(spawn_error)?)
                .stderr(slave);
            // SAFETY: as above; setsid and ioctl are async-signal-safe syscalls. std has already
            // placed the PTY slave on fds 0-2 when the hook runs, and TIOCSCTTY on fd 0 takes an
            // int argument (0: do not steal a terminal that is another session's).
            unsafe {
                command.pre_exec(move || {
                    nix::unistd::setsid()?;
                    tiocsctty(0, 0)?;
                    if die_with_server {
                        die_with_parent(parent_pid)?;
                    }
                    Ok(())
                });
            }
            pty_master = Some(master);
        }
    }

    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(source) => return Err(diagnose_spawn_failure(&spec, program, source)),
    };
    // The command holds our copies of the PTY slave: close them, or the master never sees EOF.
    drop(command);
    let pid = child.id().expect("a child that was not waited for has a pid");

    let register = |fd: OwnedFd| -> io::Result<AsyncFd<OwnedFd>> {
        set_nonblocking(&fd)?;
        // SAFETY: the descriptor is owned by the `OwnedFd` moved into the `AsyncFd`, so it stays
        // open and refers to the same file until the `AsyncFd` is dropped.
        unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)
    };
    let kill_after_failure = |child: &mut tokio::process::Child, source: io::Error| {
        // The child is of no use without its pipes; it is reaped by tokio's orphan queue.
        if let Err(error) = child.start_kill() {
            tracing::warn!(%error, "could not kill a child whose setup failed");
        }
        spawn_error(source)
    };

    let mut readers = Vec::new();
    let mut stdin_target = None;
    let mut shared_master = None;
    if let Some(master) = pty_master {
        let master = match register(master) {
            Ok(master) => Arc::new(master),
            Err(source) => return Err(kill_after_failure(&mut child, source)),
        };
        readers.push((StreamKind::Pty, Arc::clone(&master)));
        stdin_target = Some(StdinTarget::Pty(Arc::clone(&master)));
        shared_master = Some(master);
    } else {
        let pipes = (|| -> io::Result<_> {
            let stdout = child.stdout.take().map(|pipe| pipe.into_owned_fd()).transpose()?;
            let stderr = child.stderr.take().map(|pipe| pipe.into_owned_fd()).transpose()?;
            let stdin = child.stdin.take().map(|pipe| pipe.into_owned_fd()).transpose()?;
            Ok((stdout, stderr, stdin))
        })();
        let (stdout, stderr, stdin) = match pipes {
            Ok(pipes) => pipes,
            Err(source) => return Err(kill_after_failure(&mut child, source)),
        };
        for (kind, fd) in [(StreamKind::Stdout, stdout), (StreamKind::Stderr, stderr)] {
            if let Some(fd) = fd {
                match register(fd) {
                    Ok(fd) => readers.push((kind, Arc::new(fd))),
                    Err(source) => return Err(kill_after_failure(&mut child, source)),
                }
            }
        }
        if let Some(fd) = stdin {
            match register(fd) {
                Ok(fd) => stdin_target = Some(StdinTarget::Pipe(fd)),
                Err(source) => return Err(kill_after_failure(&mut child, source)),
            }
        }
    }
    Ok(finish(id, spec, config, owner, retire, child, pid, readers, stdin_target, shared_master))
}

/// Builds the [`Process`] and starts its tasks.
#[allow(clippy::too_many_arguments)]
fn finish(
    id: ProcessId,
    spec: SpawnSpec,
    config: &Config,
    owner: CursorOwner,
    retire: Retire,
    child: tokio::process::Child,
    pid: u32,
    readers: Vec<(StreamKind, Arc<AsyncFd<OwnedFd>>)>,
    stdin_target: Option<StdinTarget>,
    pty_master: Option<Arc<AsyncFd<OwnedFd>>>,
) -> Spawned {
    let mut log = Retention::new(config.retention_bytes);
    let cursor = log.add_cursor(crate::SubscribeFrom::Start, owner);
    let (stdin_queue, stdin_requests) = match stdin_target {
        Some(target) => {
            let (sender, receiver) = mpsc::channel(STDIN_QUEUE_CAPACITY);
            (Some(sender), Some((target, receiver)))
        }
        None => (None, None),
    };
    let process = Arc::new(Process {
        id,
        argv: spec.argv,
        pid,
        tty: matches!(spec.stdio, Stdio::Pty { .. }),
        state: Mutex::new(ProcessState {
            log,
            open_streams: u8::try_from(readers.len()).expect("at most two streams"),
            failure: None,
            stdin_closed: false,
            write_ids: Default::default(),
            write_id_order: Default::default(),
            removed: false,
        }),
        log_changed: watch::channel(0).0,
        space_freed: watch::channel(0).0,
        removed: CancellationToken::new(),
        stdin: stdin_queue.map(|sender| super::StdinQueue::new(sender, config.max_stdin_queued_bytes)),
        pty_master,
    });
    for (stream, fd) in readers {
        let reader = StreamReader::new(Arc::clone(&process), stream, fd, config.read_chunk_bytes);
        tokio::spawn(reader.run());
    }
    if let Some((target, requests)) = stdin_requests {
        tokio::spawn(StdinWriter::new(Arc::clone(&process), target, requests).run());
    }
    let watcher = ChildWatcher::new(Arc::clone(&process), child, config.exited_linger, retire);
    tokio::spawn(watcher.run());
    Spawned { process, cursor }
}

/// Turns a failed spawn into a typed error; a missing or unusable cwd is told apart from a
/// missing program (both are ENOENT from the OS). Runs only on failure, so it costs nothing on
/// the fast path.
fn diagnose_spawn_failure(spec: &SpawnSpec, program: String, source: io::Error) -> StartError {
    match std::fs::metadata(&spec.cwd) {
        Err(cwd_error) => StartError::Cwd { cwd: spec.cwd.clone(), source: cwd_error },
        Ok(metadata) if !metadata.is_dir() => {
            StartError::Cwd { cwd: spec.cwd.clone(), source: io::Error::from_raw_os_error(libc::ENOTDIR) }
        }
        Ok(_) => StartError::Spawn { program, source },
    }
}

/// Runs in the child between fork and exec: die with SIGKILL when the forking thread dies, and
/// close the race where the parent died before the `prctl`.
fn die_with_parent(parent_pid: u32) -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    let parent_now = nix::unistd::getppid().as_raw();
    if u32::try_from(parent_now).ok() != Some(parent_pid) {
        // Reparented already: the server is gone, so do not run the program at all.
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}

/// Opens a PTY pair: the master (close-on-exec, so other children never inherit it) and the
/// slave the child gets as stdio.
fn open_pty(size: PtySize) -> io::Result<(OwnedFd, std::fs::File)> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let slave_path = nix::pty::ptsname_r(&master)?;
    // std opens with O_CLOEXEC; the child's copies on fds 0-2 are made by dup2, which clears it.
    let slave = OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOCTTY).open(slave_path)?;
    let master = OwnedFd::from(master);
    set_window_size(master.as_raw_fd(), size)?;
    Ok((master, slave))
}

/// TIOCSWINSZ on a PTY master.
pub(crate) fn set_window_size(master: RawFd, size: PtySize) -> io::Result<()> {
    let winsize = libc::winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one `winsize` through the pointer, which is valid for the call.
    unsafe { tiocswinsz(master, &winsize) }?;
    Ok(())
}

fn set_nonblocking(fd: &impl AsFd) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}
