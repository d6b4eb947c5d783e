//! The network rule, checked with raw syscalls in a forked, confined child: with the network
//! restricted, TCP and UDP fail (loopback included) while Unix sockets (`socketpair` and a
//! path-based `connect`) work; with it enabled, TCP works. io_uring is refused in every sandbox.

use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

use exec_sandbox::{Network, PreparedSandbox, SandboxPolicy};

use crate::{Scratch, in_child};

/// Child exit codes: 0 = the call succeeded, otherwise the errno (capped to 255).
fn errno_code() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(255).min(255)
}

fn sandbox(network: Network) -> PreparedSandbox {
    SandboxPolicy::read_only().with_network(network).prepare().expect("prepare")
}

fn loopback_v4(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be() },
        sin_zero: [0; 8],
    }
}

/// `socket(domain, kind)` then, for TCP/UDP, `connect`/`sendto` to `address`.
fn tcp_connect(sandbox: &PreparedSandbox, port: u16) -> i32 {
    let address = loopback_v4(port);
    in_child(sandbox, || unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return errno_code();
        }
        let result = libc::connect(
            fd,
            &address as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if result < 0 { errno_code() } else { 0 }
    })
}

fn udp_sendto(sandbox: &PreparedSandbox, port: u16) -> i32 {
    let address = loopback_v4(port);
    in_child(sandbox, || unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if fd < 0 {
            return errno_code();
        }
        let sent = libc::sendto(
            fd,
            b"x".as_ptr().cast(),
            1,
            0,
            &address as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if sent < 0 { errno_code() } else { 0 }
    })
}

fn socket_of(sandbox: &PreparedSandbox, domain: libc::c_int, kind: libc::c_int) -> i32 {
    in_child(sandbox, || unsafe {
        let fd = libc::socket(domain, kind, 0);
        if fd < 0 { errno_code() } else { 0 }
    })
}

fn unix_socketpair(sandbox: &PreparedSandbox) -> i32 {
    in_child(sandbox, || unsafe {
        let mut fds = [0; 2];
        if libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) < 0 {
            return errno_code();
        }
        if libc::write(fds[0], b"x".as_ptr().cast(), 1) != 1 {
            return errno_code();
        }
        let mut byte = 0u8;
        if libc::read(fds[1], (&mut byte as *mut u8).cast(), 1) != 1 || byte != b'x' {
            return 254;
        }
        0
    })
}

fn unix_connect(sandbox: &PreparedSandbox, path: &std::path::Path) -> i32 {
    let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (slot, byte) in address.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
        *slot = *byte as libc::c_char;
    }
    in_child(sandbox, || unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return errno_code();
        }
        let result = libc::connect(
            fd,
            &address as *const libc::sockaddr_un as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        );
        if result < 0 { errno_code() } else { 0 }
    })
}

fn io_uring_setup(sandbox: &PreparedSandbox) -> i32 {
    in_child(sandbox, || unsafe {
        let mut params = [0u8; 120];
        let fd = libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr());
        if fd < 0 { errno_code() } else { 0 }
    })
}

#[test]
fn restricted_network_denies_tcp_and_udp_to_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let tcp_port = listener.local_addr().expect("tcp addr").port();
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let udp_port = receiver.local_addr().expect("udp addr").port();
    let restricted = sandbox(Network::Restricted);

    assert_eq!(tcp_connect(&restricted, tcp_port), libc::EACCES);
    assert_eq!(udp_sendto(&restricted, udp_port), libc::EACCES);
    for (domain, kind) in [
        (libc::AF_INET6, libc::SOCK_STREAM),
        (libc::AF_INET, libc::SOCK_RAW),
        (libc::AF_NETLINK, libc::SOCK_RAW),
        (libc::AF_PACKET, libc::SOCK_DGRAM),
    ] {
        assert_eq!(socket_of(&restricted, domain, kind), libc::EACCES, "domain {domain}");
    }
}

#[test]
fn restricted_network_keeps_unix_sockets_working() {
    let scratch = Scratch::new("unix");
    let socket_path = scratch.path("agent.sock");
    let _listener = UnixListener::bind(&socket_path).expect("bind unix");
    let restricted = sandbox(Network::Restricted);

    assert_eq!(unix_socketpair(&restricted), 0);
    assert_eq!(unix_connect(&restricted, &socket_path), 0);
    assert_eq!(socket_of(&restricted, libc::AF_UNIX, libc::SOCK_DGRAM), 0);
}

#[test]
fn enabled_network_allows_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let port = listener.local_addr().expect("tcp addr").port();
    let enabled = sandbox(Network::Enabled);
    assert_eq!(tcp_connect(&enabled, port), 0);
    assert_eq!(unix_socketpair(&enabled), 0);
}

#[test]
fn io_uring_is_refused_in_every_sandbox() {
    assert_eq!(io_uring_setup(&sandbox(Network::Restricted)), libc::ENOSYS);
    assert_eq!(io_uring_setup(&sandbox(Network::Enabled)), libc::ENOSYS);
}

#[test]
fn a_confined_child_cannot_signal_outside_its_sandbox() {
    // Landlock ABI 6 scopes signals: the parent (outside the domain) is out of reach.
    let parent = std::process::id() as libc::pid_t;
    let restricted = sandbox(Network::Restricted);
    let code = in_child(&restricted, || unsafe {
        // Signal 0 checks permission without delivering anything.
        if libc::kill(parent, 0) < 0 { errno_code() } else { 0 }
    });
    assert_eq!(code, libc::EPERM);
}

#[test]
fn restricted_network_scopes_abstract_unix_sockets() {
    // Landlock ABI 6: an abstract socket made outside the sandbox is out of reach when the
    // network is restricted (abstract sockets are not files, so no path rule covers them).
    let name = format!("exec-sandbox-abstract-{}", std::process::id());
    let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
    let _listener = UnixListener::bind_addr(&address).expect("bind abstract");
    let mut raw: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    raw.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (slot, byte) in raw.sun_path[1..].iter_mut().zip(name.as_bytes()) {
        *slot = *byte as libc::c_char;
    }
    let length = (std::mem::size_of::<libc::sa_family_t>() + 1 + name.len()) as libc::socklen_t;
    let connect = |sandbox: &PreparedSandbox| {
        in_child(sandbox, || unsafe {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            if fd < 0 {
                return errno_code();
            }
            let result = libc::connect(fd, &raw as *const libc::sockaddr_un as *const libc::sockaddr, length);
            if result < 0 { errno_code() } else { 0 }
        })
    };
    assert_eq!(connect(&sandbox(Network::Restricted)), libc::EPERM);
    assert_eq!(connect(&sandbox(Network::Enabled)), 0);
}
