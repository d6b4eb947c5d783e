//! The always-usable devices: under `read-only` a child can still discard output, read random
//! bytes and use terminals (open `/dev/ptmx`, its `/dev/pts/N`, and terminal `ioctl`s, which
//! Landlock ABI 5 would otherwise deny), but no other device.

use exec_sandbox::SandboxPolicy;

use crate::{in_child, sh};

fn errno_code() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(255).min(255)
}

#[test]
fn a_read_only_child_can_open_and_drive_a_new_terminal() {
    let sandbox = SandboxPolicy::read_only().prepare().expect("prepare");
    let code = in_child(&sandbox, || unsafe {
        let master = libc::open(c"/dev/ptmx".as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        if master < 0 {
            return 100;
        }
        let unlock: libc::c_int = 0;
        let mut number: libc::c_uint = 0;
        if libc::ioctl(master, libc::TIOCSPTLCK, &unlock) < 0
            || libc::ioctl(master, libc::TIOCGPTN, &mut number) < 0
        {
            return errno_code();
        }
        // "/dev/pts/" followed by the number, written without allocating.
        let mut path = *b"/dev/pts/\0\0\0\0\0\0\0\0\0\0\0";
        let mut digits = [0u8; 10];
        let mut count = 0;
        loop {
            digits[count] = b'0' + (number % 10) as u8;
            count += 1;
            number /= 10;
            if number == 0 {
                break;
            }
        }
        for index in 0..count {
            path[9 + index] = digits[count - 1 - index];
        }
        let replica = libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_NOCTTY);
        if replica < 0 {
            return 101;
        }
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(replica, libc::TIOCGWINSZ, &mut size) < 0 {
            return errno_code();
        }
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn a_terminal_opened_before_the_sandbox_keeps_working() {
    // The engine opens a PTY in the server and hands the child its replica.
    let (mut master, mut replica) = (0, 0);
    // SAFETY: openpty writes two descriptors; the other pointers may be null.
    let opened = unsafe {
        libc::openpty(&mut master, &mut replica, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
    };
    assert_eq!(opened, 0);
    let sandbox = SandboxPolicy::read_only().prepare().expect("prepare");
    let code = in_child(&sandbox, || unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(replica, libc::TIOCGWINSZ, &mut size) < 0 { errno_code() } else { 0 }
    });
    assert_eq!(code, 0);
    // SAFETY: closing the two descriptors openpty returned, once.
    unsafe {
        libc::close(master);
        libc::close(replica);
    }
}

#[test]
fn ordinary_devices_work_and_others_do_not() {
    let sandbox = crate::prepare(&SandboxPolicy::read_only());
    let output = sh(&sandbox, "echo x >/dev/null && head -c 8 /dev/urandom | wc -c && echo y >/dev/zero");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "8");
    // A device outside the list: readable under `root: read`, not writable.
    let output = sh(&sandbox, "echo x > /dev/kmsg");
    assert!(!output.status.success(), "{output:?}");
}
