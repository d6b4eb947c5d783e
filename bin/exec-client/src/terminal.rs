//! The local terminal: whether a descriptor is one, its window size, and raw mode that is
//! restored on every exit path (the guard's `Drop`, which also runs while a panic unwinds).

use std::os::fd::AsFd;

use exec_engine::PtySize;
use nix::sys::termios::{self, SetArg, Termios};

/// Whether stdin is a terminal.
pub(crate) fn stdin_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin())
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
