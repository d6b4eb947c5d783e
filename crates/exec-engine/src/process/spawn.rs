//! Turning a [`SpawnSpec`] into a running child, a [`Process`] and its tasks.
//!
//! The stdio (pipes, or a PTY pair) is made here; the child itself is created by
//! [`child::clone_child`](super::child::clone_child) (`clone(CLONE_VM | CLONE_VFORK)`, no copy
//! of the server's memory), which in the child, in this order: leads its own process group
//! (pipes: `setpgid`) or session (PTY: `setsid`), places stdio on 0-2, makes the PTY its
//! controlling terminal (`TIOCSCTTY`, so Ctrl-C and SIGWINCH reach it), sets
//! `PR_SET_PDEATHSIG(SIGKILL)` with `Config::kill_on_server_death` (checking the server did not
//! die first), changes to the cwd, applies the sandbox if the spec has one, and `execve`s.
//!
//! Spawning is synchronous and must happen on a thread that outlives the child: the kernel sends
//! the death signal when the **thread** that created the child exits, not the process. Tokio
//! worker threads live as long as the runtime, but `spawn_blocking` threads are retired after a
//! short idle time, so this is never called from one. It does not wait for the child or do any
//! output I/O.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use nix::unistd::pipe2;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::child::{Child, ChildFailure, ChildPlan, Leader, Stage, clone_child};
use super::namespace::SessionNamespace;
use super::tasks::{ChildWatcher, StdinTarget, StdinWriter, StreamReader};
use super::{Process, ProcessState, STDIN_QUEUE_CAPACITY};
use crate::config::Config;
use crate::error::StartError;
use crate::ids::ProcessId;
use crate::retention::{CursorId, CursorOwner, Retention};
use crate::types::{PtySize, SpawnSpec, StdinMode, Stdio, StreamKind};

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
    namespace: Option<&SessionNamespace>,
) -> Result<Spawned, StartError> {
    let program = spec.argv[0].clone();
    let spawn_error = |source: io::Error| StartError::Spawn { program: program.clone(), source };

    // The child's ends of its stdio (dropped, so closed here, once the child has them) and ours.
    let child_stdio: [OwnedFd; 3];
    let mut pty_master = None;
    let mut parent_stdout = None;
    let mut parent_stderr = None;
    let mut parent_stdin = None;
    let leader = match spec.stdio {
        Stdio::Pipes { stdin } => {
            let (stdout_read, stdout_write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| spawn_error(e.into()))?;
            let (stderr_read, stderr_write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| spawn_error(e.into()))?;
            let stdin_child = match stdin {
                StdinMode::Closed => {
                    OwnedFd::from(OpenOptions::new().read(true).open("/dev/null").map_err(spawn_error)?)
                }
                StdinMode::Pipe => {
                    let (read, write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| spawn_error(e.into()))?;
                    parent_stdin = Some(write);
                    read
                }
            };
            parent_stdout = Some(stdout_read);
            parent_stderr = Some(stderr_read);
            child_stdio = [stdin_child, stdout_write, stderr_write];
            Leader::ProcessGroup
        }
        Stdio::Pty { size } => {
            let (master, slave) = open_pty(size).map_err(spawn_error)?;
            let slave = OwnedFd::from(slave);
            child_stdio =
                [slave.try_clone().map_err(spawn_error)?, slave.try_clone().map_err(spawn_error)?, slave];
            pty_master = Some(master);
            Leader::SessionWithTerminal
        }
    };

    // Inside the session's namespace the parent (outside it) reads as pid 0, before and after
    // a reparenting; the namespace's init dies with the server and takes the child with it.
    let death_signal_parent = config.kill_on_server_death.then(|| match namespace {
        Some(_) => 0,
        None => libc::pid_t::try_from(std::process::id()).expect("a pid fits in pid_t"),
    });
    let plan = ChildPlan::new(
        &spec.argv,
        spec.arg0.as_deref(),
        &spec.env,
        &spec.cwd,
        [child_stdio[0].as_raw_fd(), child_stdio[1].as_raw_fd(), child_stdio[2].as_raw_fd()],
        leader,
        death_signal_parent,
        spec.sandbox.as_ref().map(|sandbox| sandbox.prepared()),
        namespace.map(SessionNamespace::namespaces),
    )
    .map_err(spawn_error)?;
    let raw = clone_child(&plan).map_err(|failure| start_failure(&spec, &program, failure))?;
    drop(plan);
    // Our copies of the child's ends: close them, or the readers never see EOF.
    drop(child_stdio);

    let register = |fd: OwnedFd| -> io::Result<AsyncFd<OwnedFd>> {
        set_nonblocking(&fd)?;
        // SAFETY: the descriptor is owned by the `OwnedFd` moved into the `AsyncFd`, so it stays
        // open and refers to the same file until the `AsyncFd` is dropped.
        unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)
    };
    let registered = (|| -> io::Result<_> {
        let mut readers = Vec::new();
        let mut stdin_target = None;
        let mut shared_master = None;
        if let Some(master) = pty_master {
            let master = Arc::new(register(master)?);
            readers.push((StreamKind::Pty, Arc::clone(&master)));
            stdin_target = Some(StdinTarget::Pty(Arc::clone(&master)));
            shared_master = Some(master);
        }
        for (kind, fd) in [(StreamKind::Stdout, parent_stdout), (StreamKind::Stderr, parent_stderr)] {
            if let Some(fd) = fd {
                readers.push((kind, Arc::new(register(fd)?)));
            }
        }
        if let Some(fd) = parent_stdin {
            stdin_target = Some(StdinTarget::Pipe(register(fd)?));
        }
        Ok((readers, stdin_target, shared_master))
    })();
    let (readers, stdin_target, shared_master) = match registered {
        Ok(parts) => parts,
        Err(source) => {
            // The child is of no use without its stdio.
            raw.kill_and_reap();
            return Err(spawn_error(source));
        }
    };
    let child = match raw.into_child() {
        Ok(child) => child,
        Err((source, raw)) => {
            raw.kill_and_reap();
            return Err(spawn_error(source));
        }
    };
    Ok(finish(id, spec, config, owner, retire, child, readers, stdin_target, shared_master))
}

/// Builds the [`Process`] and starts its tasks.
#[allow(clippy::too_many_arguments)]
fn finish(
    id: ProcessId,
    spec: SpawnSpec,
    config: &Config,
    owner: CursorOwner,
    retire: Retire,
    child: Child,
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
        pid: child.pid,
        tty: matches!(spec.stdio, Stdio::Pty { .. }),
        sandboxed: spec.sandbox.is_some(),
        started: std::time::SystemTime::now(),
        state: Mutex::new(ProcessState {
            log,
            open_streams: u8::try_from(readers.len()).expect("at most two streams"),
            pending_exit: None,
            undrained: 0,
            failure: None,
            stdin_closed: false,
            write_ids: Default::default(),
            write_id_order: Default::default(),
            removed: false,
        }),
        log_changed: watch::channel(0).0,
        space_freed: watch::channel(0).0,
        removed: CancellationToken::new(),
        reaped: CancellationToken::new(),
        stdin: stdin_queue.map(|sender| super::StdinQueue::new(sender, config.max_stdin_queued_bytes)),
        pty_master,
    });
    // The process's tasks log in the caller's span (the server's names the session and process),
    // taken once here: nothing is done per chunk.
    for (stream, fd) in readers {
        let reader = StreamReader::new(Arc::clone(&process), stream, fd, config.read_chunk_bytes);
        tokio::spawn(reader.run().in_current_span());
    }
    if let Some((target, requests)) = stdin_requests {
        tokio::spawn(StdinWriter::new(Arc::clone(&process), target, requests).run().in_current_span());
    }
    let watcher = ChildWatcher::new(Arc::clone(&process), child, config.exited_linger, retire);
    tokio::spawn(watcher.run().in_current_span());
    Spawned { process, cursor }
}

/// Turns a failed child into a typed error: the step that failed says whether it was the cwd,
/// the sandbox or the program (a missing cwd and a missing program are both ENOENT from the OS).
fn start_failure(spec: &SpawnSpec, program: &str, failure: ChildFailure) -> StartError {
    match failure.stage {
        Some(Stage::Cwd) => StartError::Cwd { cwd: spec.cwd.clone(), source: failure.error },
        Some(Stage::Sandbox) => StartError::Sandbox { source: failure.error },
        _ => StartError::Spawn { program: program.to_owned(), source: failure.error },
    }
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
