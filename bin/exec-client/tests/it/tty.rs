//! `exec-client` on a real pseudo-terminal, as a user at a terminal runs it: `-t` gives the
//! remote command a PTY of the local size, puts the local terminal in raw mode (keys go through
//! unprocessed), forwards window changes, and restores the terminal when it ends. Without `-t`,
//! a terminal on stdin is forwarded line by line.

use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Instant;

use nix::pty::{Winsize, openpty};
use nix::sys::termios::{LocalFlags, tcgetattr};

use crate::support::{CLIENT, DEADLINE, TestServer};

/// A pseudo-terminal whose slave side is the client's stdin, stdout and stderr (and its
/// controlling terminal), with everything written to it collected from the master side.
struct Terminal {
    master: std::fs::File,
    /// Kept open so the line discipline settings stay readable after the client exits.
    slave: OwnedFd,
    output: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Terminal {
    fn open(rows: u16, cols: u16) -> Terminal {
        let size = Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        let pty = openpty(Some(&size), None).unwrap();
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone().unwrap();
        let (sender, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = reader.read(&mut buffer) {
                if read == 0 || sender.send(buffer[..read].to_vec()).is_err() {
                    break;
                }
            }
        });
        Terminal { master, slave: pty.slave, output, seen: Vec::new() }
    }

    /// Starts `exec-client ARGS` as the session leader on this terminal.
    fn spawn(&self, url: &str, args: &[&str]) -> std::process::Child {
        let mut command = std::process::Command::new(CLIENT);
        command.args(args).env("EXEC_SERVER_URL", url);
        let slave = || Stdio::from(self.slave.try_clone().unwrap());
        command.stdin(slave()).stdout(slave()).stderr(slave());
        // SAFETY: between fork and exec only async-signal-safe calls are made: setsid(2) and
        // ioctl(2) on fd 0, which is the terminal's slave side.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                if nix::libc::setsid() < 0 || nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command.spawn().unwrap()
    }

    /// Reads until the terminal shows `needle`; panics with what it showed after the deadline.
    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !String::from_utf8_lossy(&self.seen).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.seen.extend_from_slice(&bytes),
                Err(_) => panic!("the terminal never showed {needle:?}; it showed {:?}", self.text()),
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    fn resize(&self, rows: u16, cols: u16) {
        let size = nix::libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, valid for the call.
        let result = unsafe { nix::libc::ioctl(self.master.as_raw_fd(), nix::libc::TIOCSWINSZ, &size) };
        assert_eq!(result, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    fn local_flags(&self) -> LocalFlags {
        tcgetattr(self.slave.as_fd()).unwrap().local_flags
    }
}

/// Waits for the client to exit (on a thread of its own), within the deadline.
fn wait(child: std::process::Child) -> Option<i32> {
    let (sender, exited) = mpsc::channel();
    std::thread::spawn(move || {
        let mut child = child;
        let _ = sender.send(child.wait());
    });
    exited.recv_timeout(DEADLINE).expect("exec-client exits in time").unwrap().code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_t_gives_a_raw_tty_of_the_local_size_and_follows_resizes() {
    let server = TestServer::start().await;
    let url = server.url();
    let script = "stty size; echo ready; read line; echo \"got:$line\"; \
                  trap 'stty size; exit 4' WINCH; echo waiting; while :; do sleep 0.2 & wait $!; done";
    let result = tokio::task::spawn_blocking(move || {
        let mut terminal = Terminal::open(33, 101);
        let cooked = terminal.local_flags();
        assert!(cooked.contains(LocalFlags::ICANON | LocalFlags::ECHO), "starts cooked");
        let child = terminal.spawn(&url, &["run", "-t", "--", "sh", "-c", script]);
        terminal.expect("33 101");
        terminal.expect("ready");
        let raw = terminal.local_flags();
        assert!(!raw.intersects(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG), "raw: {raw:?}");
        terminal.type_keys(b"hello\r");
        terminal.expect("got:hello");
        terminal.expect("waiting");
        terminal.resize(40, 120);
        terminal.expect("40 120");
        let code = wait(child);
        (code, terminal.local_flags(), cooked, terminal.text())
    })
    .await
    .unwrap();
    let (code, after, cooked, text) = result;
    assert_eq!(code, Some(4), "{text:?}");
    assert_eq!(after, cooked, "the terminal is restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_in_a_tty_reaches_the_remote_foreground_process() {
    let server = TestServer::start().await;
    let url = server.url();
    let code = tokio::task::spawn_blocking(move || {
        let mut terminal = Terminal::open(24, 80);
        let child = terminal.spawn(&url, &["run", "-t", "--", "sh", "-c", "echo ready; exec sleep 30"]);
        terminal.expect("ready");
        // Ctrl-C is a byte in raw mode; the remote terminal turns it into SIGINT.
        terminal.type_keys(b"\x03");
        wait(child)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dash_t_a_terminal_stdin_is_forwarded_line_by_line() {
    let server = TestServer::start().await;
    let url = server.url();
    let (code, text) = tokio::task::spawn_blocking(move || {
        let mut terminal = Terminal::open(24, 80);
        // As with `ssh host cmd`: the local terminal stays cooked (it echoes and edits lines),
        // each line goes to the remote stdin, and Ctrl-D at the start of a line is its end.
        let child =
            terminal.spawn(&url, &["run", "--", "sh", "-c", "read line; echo got-$line; cat; echo cat-done"]);
        terminal.type_keys(b"abc\r");
        terminal.expect("got-abc");
        terminal.type_keys(b"\x04");
        terminal.expect("cat-done");
        (wait(child), terminal.text())
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_is_an_interactive_login_shell_in_the_home_directory() {
    let server = TestServer::start().await;
    let url = server.url();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/".to_owned());
    let (code, text) = tokio::task::spawn_blocking(move || {
        let mut terminal = Terminal::open(24, 80);
        let child = terminal.spawn(&url, &["shell"]);
        terminal.type_keys(b"echo where=$(pwd) answer=$((6*7)); tty\r");
        terminal.expect("answer=42");
        terminal.expect("/dev/pts/");
        terminal.type_keys(b"exit 3\r");
        (wait(child), terminal.text())
    })
    .await
    .unwrap();
    assert_eq!(code, Some(3), "{text:?}");
    assert!(text.contains(&format!("where={home}")), "{text:?}");
}
