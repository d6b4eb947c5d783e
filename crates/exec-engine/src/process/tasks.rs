//! The long-lived tasks of one process, one struct each:
//!
//! - [`StreamReader`]: drains one stdout/stderr pipe or the PTY master into the retention log,
//!   waiting (instead of evicting) while a subscriber lags.
//! - [`StdinWriter`]: writes queued stdin chunks in order; closes stdin on `eof`.
//! - [`ChildWatcher`]: waits for the exit (event-driven: the child's pidfd becomes readable), then for the close, then
//!   for the linger, then retires the entry.
//! - [`Escalation`]: SIGKILL after a terminate's grace period, unless the process closed.
//!
//! Reader and writer stop when the process is removed; the watcher always runs until the child
//! is reaped, so no zombie is left behind.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use nix::libc;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};

use super::child::Child;
use super::{Process, WriteRequest};
use crate::retention::Push;
use crate::types::{StreamKind, WriteStatus};

use super::spawn::Retire;

/// Drains one output stream of a process into its retention log.
#[derive(Debug)]
pub(crate) struct StreamReader {
    process: Arc<Process>,
    stream: StreamKind,
    /// Non-blocking; shared with the stdin writer for a PTY. Closed when the last holder drops.
    fd: Arc<AsyncFd<OwnedFd>>,
    chunk_bytes: usize,
}

impl StreamReader {
    pub(crate) fn new(
        process: Arc<Process>,
        stream: StreamKind,
        fd: Arc<AsyncFd<OwnedFd>>,
        chunk_bytes: usize,
    ) -> Self {
        StreamReader { process, stream, fd, chunk_bytes: chunk_bytes.max(1) }
    }

    pub(crate) async fn run(self) {
        let mut space = self.process.space_freed.subscribe();
        // A read buffer is held only while data flows; an idle process holds none.
        let mut spare: Option<BytesMut> = None;
        // Whether this stream has moved into the log what the child left in it when reaped.
        let mut drained = false;
        loop {
            let ready = tokio::select! {
                biased;
                () = self.process.removed.cancelled() => return,
                () = self.process.reaped.cancelled(), if !drained => {
                    drained = true;
                    match self.drain_at_exit(&mut spare, &mut space).await {
                        Ok(true) => {
                            self.drained();
                            continue;
                        }
                        Ok(false) => return,
                        Err(end) => return self.finish(end.error, true),
                    }
                }
                ready = self.fd.readable() => ready,
            };
            let mut guard = match ready {
                Ok(guard) => guard,
                Err(error) => return self.finish(Some(error), !drained),
            };
            let buffer = Self::buffer(&mut spare, self.chunk_bytes);
            let limit = self.chunk_bytes;
            match guard.try_io(|fd| read_into(fd.get_ref(), buffer, limit)) {
                Err(_would_block) => {
                    spare = None;
                    continue;
                }
                Ok(result) => match self.classify(result) {
                    Read::Data(read) => {
                        let data = self.take_chunk(buffer, read);
                        if !self.deliver(data, &mut space).await {
                            return;
                        }
                    }
                    Read::Retry | Read::WouldBlock => {}
                    Read::End(end) => return self.finish(end.error, !drained),
                },
            }
        }
    }

    /// Moves what the child left in the stream into the log, waiting for space like any read.
    /// A pipe holds exactly its `FIONREAD` count. A PTY may still have bytes in flight inside
    /// the kernel (the slave's writes reach the master through a deferred flip-buffer push); a
    /// read that finds the master empty flushes that push first, so a PTY is read until it
    /// reports nothing more, up to a bound, so that a grandchild that keeps writing cannot hold
    /// the exit back. `Ok(false)`: the process was removed meanwhile. `Err`: the stream ended.
    async fn drain_at_exit(
        &self,
        spare: &mut Option<BytesMut>,
        space: &mut watch::Receiver<u64>,
    ) -> Result<bool, StreamEnd> {
        let mut left = queued_bytes(self.fd.get_ref());
        if self.stream == StreamKind::Pty {
            left = left.saturating_add(PTY_IN_FLIGHT_BYTES);
        }
        while left > 0 {
            let buffer = Self::buffer(spare, self.chunk_bytes);
            match self.classify(read_into(self.fd.get_ref(), buffer, self.chunk_bytes.min(left))) {
                Read::Data(read) => {
                    left = left.saturating_sub(read);
                    let data = self.take_chunk(buffer, read);
                    if !self.deliver(data, space).await {
                        return Ok(false);
                    }
                }
                Read::Retry => {}
                Read::WouldBlock => break,
                Read::End(end) => return Err(end),
            }
        }
        Ok(true)
    }

    fn buffer(spare: &mut Option<BytesMut>, chunk_bytes: usize) -> &mut BytesMut {
        let buffer = spare.get_or_insert_with(|| BytesMut::with_capacity(chunk_bytes));
        buffer.clear();
        buffer.reserve(chunk_bytes);
        buffer
    }

    /// The bytes of one read: a big read keeps its buffer (at most 2x the bytes it holds); a
    /// small one is copied out so a few bytes never pin a 64 KiB allocation in retention.
    fn take_chunk(&self, buffer: &mut BytesMut, read: usize) -> Bytes {
        if read * 2 >= self.chunk_bytes {
            std::mem::take(buffer).freeze()
        } else {
            Bytes::copy_from_slice(&buffer[..read])
        }
    }

    fn classify(&self, result: io::Result<usize>) -> Read {
        match result {
            Ok(0) => Read::End(StreamEnd { error: None }),
            Ok(read) => Read::Data(read),
            // A PTY master reports EIO once every slave descriptor is closed: that is EOF.
            Err(error) if self.stream == StreamKind::Pty && error.raw_os_error() == Some(libc::EIO) => {
                Read::End(StreamEnd { error: None })
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Read::Retry,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Read::WouldBlock,
            Err(error) => Read::End(StreamEnd { error: Some(error) }),
        }
    }

    /// This stream finished its drain at exit.
    fn drained(&self) {
        let pushed = settle_drain(&mut self.process.lock());
        if pushed {
            self.process.announce_change();
        }
    }

    /// Stores one chunk, waiting while the log is full of chunks a subscriber has not consumed.
    /// Returns false when the process was removed meanwhile.
    async fn deliver(&self, mut data: Bytes, space: &mut watch::Receiver<u64>) -> bool {
        loop {
            // Mark the current version seen before looking, so a consumer's bump in between
            // is not lost.
            space.borrow_and_update();
            let pushed = {
                let mut state = self.process.lock();
                if state.removed {
                    return false;
                }
                state.log.push_output(self.stream, data)
            };
            match pushed {
                Push::Stored(_) => {
                    self.process.announce_change();
                    return true;
                }
                Push::Full(back) => {
                    data = back;
                    tokio::select! {
                        () = self.process.removed.cancelled() => return false,
                        changed = space.changed() => {
                            if changed.is_err() {
                                return false;
                            }
                        }
                    }
                }
            }
        }
    }

    /// EOF (or a read error) on this stream; pushes `Closed` when it was the last one open and
    /// the child has exited. `owes_drain`: the stream ended before it drained at exit, so its
    /// end settles that drain (the exit may be waiting for it).
    fn finish(&self, error: Option<io::Error>, owes_drain: bool) {
        {
            let mut state = self.process.lock();
            state.open_streams = state.open_streams.saturating_sub(1);
            if let Some(error) = error {
                tracing::debug!(process = %self.process.id, stream = ?self.stream, %error, "output stream failed");
                state.failure.get_or_insert_with(|| format!("reading {:?}: {error}", self.stream));
            }
            if owes_drain && state.pending_exit.is_some() {
                settle_drain(&mut state);
            } else if state.open_streams == 0 && state.log.exit().is_some() {
                state.log.push_closed();
            }
        }
        self.process.announce_change();
    }
}

/// How much more than it reports queued a PTY master is read at exit (the kernel's flip buffers
/// hold at most a few hundred KiB).
const PTY_IN_FLIGHT_BYTES: usize = 1 << 20;

/// What one `read(2)` of an output stream came to.
enum Read {
    Data(usize),
    /// Interrupted by a signal: read again.
    Retry,
    /// Nothing there (only when reading without waiting for readiness).
    WouldBlock,
    End(StreamEnd),
}

/// EOF, or the error that ended a stream.
struct StreamEnd {
    error: Option<io::Error>,
}

/// One stream is done with its drain at exit; the last one numbers the exit, and the close when
/// every stream is also at EOF. Returns whether anything was pushed.
fn settle_drain(state: &mut super::ProcessState) -> bool {
    state.undrained = state.undrained.saturating_sub(1);
    if state.undrained > 0 {
        return false;
    }
    let Some(status) = state.pending_exit.take() else { return false };
    state.log.push_exit(status);
    if state.open_streams == 0 {
        state.log.push_closed();
    }
    true
}

/// The bytes waiting in a pipe or PTY master (`FIONREAD`); 0 when the kernel will not say.
fn queued_bytes(fd: &OwnedFd) -> usize {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points at a live local.
    let result = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut queued) };
    if result < 0 { 0 } else { usize::try_from(queued).unwrap_or(0) }
}

/// One `read(2)` into the spare capacity of `buffer`, at most `limit` bytes.
fn read_into(fd: &OwnedFd, buffer: &mut BytesMut, limit: usize) -> io::Result<usize> {
    let spare = buffer.spare_capacity_mut();
    let len = spare.len().min(limit);
    // SAFETY: `read` writes at most `len` bytes into memory owned by `buffer` that nothing else
    // references; the pointer and length describe that spare capacity.
    let read = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), len) };
    if read < 0 {
        return Err(io::Error::last_os_error());
    }
    let read = usize::try_from(read).expect("non-negative");
    // SAFETY: the kernel initialized exactly `read` bytes after the current length.
    unsafe { buffer.set_len(buffer.len() + read) };
    Ok(read)
}

/// Where stdin goes.
#[derive(Debug)]
pub(crate) enum StdinTarget {
    /// The write end of the stdin pipe, owned here: dropping it is how `eof` closes stdin.
    Pipe(AsyncFd<OwnedFd>),
    /// The PTY master, shared with the reader; `eof` writes Ctrl-D since a PTY cannot half-close.
    Pty(Arc<AsyncFd<OwnedFd>>),
}

/// Writes queued chunks to the child's stdin, in order.
#[derive(Debug)]
pub(crate) struct StdinWriter {
    process: Arc<Process>,
    target: Option<StdinTarget>,
    /// The queue's receiving end; dropping it (when this task ends) makes later sends fail,
    /// which callers report as `StdinClosed`.
    requests: mpsc::Receiver<WriteRequest>,
}

/// The terminal EOF character (VEOF, Ctrl-D) in the default termios settings.
const PTY_EOF: &[u8] = &[0x04];

impl StdinWriter {
    pub(crate) fn new(
        process: Arc<Process>,
        target: StdinTarget,
        requests: mpsc::Receiver<WriteRequest>,
    ) -> Self {
        StdinWriter { process, target: Some(target), requests }
    }

    pub(crate) async fn run(mut self) {
        loop {
            let request = tokio::select! {
                biased;
                () = self.process.removed.cancelled() => break,
                request = self.requests.recv() => match request {
                    Some(request) => request,
                    None => break,
                },
            };
            {
                let mut state = self.process.lock();
                if state.abandoned(request.write_id.as_ref(), request.reply.is_closed()) {
                    // Everyone waiting on it stopped (a timed-out or cancelled request, and no
                    // retry came in time): they were told the write failed, so writing it now
                    // would deliver bytes the client will resend.
                    state.forget_write_id(request.write_id.as_ref());
                    continue;
                }
            }
            let Some(target) = &self.target else { break };
            let fd = match target {
                StdinTarget::Pipe(fd) => fd,
                StdinTarget::Pty(fd) => fd.as_ref(),
            };
            let is_pty = matches!(target, StdinTarget::Pty(_));
            let written = tokio::select! {
                biased;
                () = self.process.removed.cancelled() => break,
                written = async {
                    write_all(fd, &request.data).await?;
                    if request.eof && is_pty {
                        write_all(fd, PTY_EOF).await?;
                    }
                    io::Result::Ok(())
                } => written,
            };
            let status = match written {
                Ok(()) if request.eof && !is_pty => {
                    // Close the pipe and record it before answering, so the caller's next write
                    // already sees `StdinClosed` and the child sees EOF promptly.
                    self.target = None;
                    self.process.lock().stdin_closed = true;
                    WriteStatus::Accepted
                }
                Ok(()) => WriteStatus::Accepted,
                Err(error) => {
                    // EPIPE (the reader is gone; SIGPIPE is ignored in Rust programs) or EIO
                    // from a PTY whose child exited: stdin is closed for good.
                    tracing::debug!(process = %self.process.id, %error, "stdin write failed");
                    self.target = None;
                    let mut state = self.process.lock();
                    state.stdin_closed = true;
                    state.forget_write_id(request.write_id.as_ref());
                    drop(state);
                    WriteStatus::StdinClosed
                }
            };
            if let Some(outcome) = &request.outcome {
                outcome.send_replace(Some(super::WriteOutcome::Done(status)));
            }
            // The caller may have stopped waiting (its request was cancelled): nothing to do.
            let _ = request.reply.send(status);
            if self.target.is_none() {
                break;
            }
        }
        self.process.lock().stdin_closed = true;
    }
}

async fn write_all(fd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let mut guard = fd.writable().await?;
        match guard.try_io(|inner| nix::unistd::write(inner.get_ref(), data).map_err(io::Error::from)) {
            Ok(Ok(written)) => data = &data[written..],
            Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(error)) => return Err(error),
            Err(_would_block) => {}
        }
    }
    Ok(())
}

/// Reaps the child, records its exit, and retires the entry after the linger.
pub(crate) struct ChildWatcher {
    process: Arc<Process>,
    /// Reaped exactly once, by `run`.
    child: Child,
    linger: Duration,
    /// Removes the entry from the session table; called at most once.
    retire: Retire,
}

impl std::fmt::Debug for ChildWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildWatcher")
            .field("process", &self.process.id)
            .field("linger", &self.linger)
            .finish()
    }
}

impl ChildWatcher {
    pub(crate) fn new(process: Arc<Process>, child: Child, linger: Duration, retire: Retire) -> Self {
        ChildWatcher { process, child, linger, retire }
    }

    pub(crate) async fn run(self) {
        match self.child.wait().await {
            Ok(status) => {
                tracing::debug!(process = %self.process.id, pid = self.process.pid, ?status, "child exited");
                {
                    let mut state = self.process.lock();
                    if state.open_streams == 0 || state.removed {
                        state.log.push_exit(status);
                        if state.open_streams == 0 {
                            state.log.push_closed();
                        }
                    } else {
                        // The readers number the exit once they have drained the pipes.
                        state.pending_exit = Some(status);
                        state.undrained = state.open_streams;
                    }
                }
                self.process.reaped.cancel();
                self.process.announce_change();
            }
            Err(error) => {
                // Not expected (the child is ours and waited for once); the entry then stays
                // until its session ends.
                tracing::error!(process = %self.process.id, %error, "waiting for the child failed");
                self.process
                    .lock()
                    .failure
                    .get_or_insert_with(|| format!("waiting for the process: {error}"));
                self.process.announce_change();
                return;
            }
        }
        self.process.wait_closed_or_removed().await;
        tokio::select! {
            () = self.process.removed.cancelled() => {}
            () = tokio::time::sleep(self.linger) => (self.retire)(&self.process),
        }
    }
}

/// Sends SIGKILL to a process group when it has not closed within a terminate's grace period.
#[derive(Debug)]
pub(crate) struct Escalation {
    pub(crate) process: Arc<Process>,
    pub(crate) grace: Duration,
}

impl Escalation {
    pub(crate) async fn run(self) {
        tokio::select! {
            () = self.process.wait_closed_or_removed() => {}
            () = tokio::time::sleep(self.grace) => {
                self.process.signal_group(nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}
