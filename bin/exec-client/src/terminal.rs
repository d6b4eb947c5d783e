//! The local terminal: whether a descriptor is one, its window size, and raw mode that is
//! restored on every exit path (the guard's `Drop`, which also runs while a panic unwinds).

use std::os::fd::AsFd;

use exec_engine::PtySize;
use nix::sys::termios::{self, SetArg, Termios};

/// Whether stdin is a terminal.
pub(crate) fn stdin_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// Puts `/dev/null` on descriptor 0 when stdin is closed. Must run before anything opens a
/// descriptor: the first one opened would otherwise land on 0 and be taken for stdin.
pub(crate) fn reopen_closed_stdin() {
    // SAFETY: F_GETFD only queries descriptor 0; `open` of a constant C string has no other
    // effect than creating a descriptor, which is 0 here and stays open for the process.
    unsafe {
        if nix::libc::fcntl(0, nix::libc::F_GETFD) == -1 {
            nix::libc::open(c"/dev/null".as_ptr(), nix::libc::O_RDONLY);
        }
    }
}

/// Whether the local stdin can carry any data: a pipe, a socket, a terminal or a non-empty
/// file can; `/dev/null`, an empty regular file, or a closed descriptor cannot. Only then does a
/// remote command get a stdin pipe (a pipe that a server without the `eof` extension can never
/// close would make a reading command wait forever).
pub(crate) fn stdin_can_carry_data() -> bool {
    use nix::sys::stat::{SFlag, fstat, stat};
    let Ok(status) = fstat(std::io::stdin().as_fd()) else {
        // Closed (EBADF): there is nothing to read.
        return false;
    };
    let kind = SFlag::from_bits_truncate(status.st_mode) & SFlag::S_IFMT;
    if kind == SFlag::S_IFREG {
        return status.st_size > 0;
    }
    if kind == SFlag::S_IFCHR && !stdin_is_terminal() {
        // `/dev/null`, and any other character device that is not a terminal (`/dev/zero` is
        // endless data, but nobody pipes it into a remote command by accident).
        return !stat("/dev/null").is_ok_and(|null| null.st_rdev == status.st_rdev);
    }
    true
}

/// The window size of the terminal on stdout (or stdin), if either is one.
pub(crate) fn window_size() -> Option<PtySize> {
    [1, 0].into_iter().find_map(|fd| {
        let mut size = nix::libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ writes one `winsize` into the pointed-to struct, which lives for
        // the duration of the call; an invalid or non-terminal fd makes it fail, not write.
        let result = unsafe { nix::libc::ioctl(fd, nix::libc::TIOCGWINSZ, &mut size) };
        (result == 0 && size.ws_row > 0 && size.ws_col > 0)
            .then_some(PtySize { rows: size.ws_row, cols: size.ws_col })
    })
}

/// Raw mode on stdin while alive; the previous settings come back on drop.
#[derive(Debug)]
pub(crate) struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts the terminal on stdin into raw mode (no echo, no line editing, no signal keys:
    /// Ctrl-C travels to the remote PTY as a byte).
    pub(crate) fn enable() -> nix::Result<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSADRAIN, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // A failure here leaves nothing better to do.
        let stdin = std::io::stdin();
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSADRAIN, &self.saved);
    }
}
