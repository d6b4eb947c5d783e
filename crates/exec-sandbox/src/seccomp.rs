//! The seccomp filter: a small classic-BPF program, written out by hand.
//!
//! Why by hand and not with `seccompiler`: the program must also refuse the x32 ABI (on x86_64 a
//! syscall number with bit 30 set reaches the same kernel entry points under other numbers, so a
//! rule on `socket` alone is bypassed by x32 `socket`), which a per-syscall rule table cannot say;
//! and the whole program is two dozen fixed instructions, easier to audit as a list than through
//! a generator. The program is built in the parent; the child only hands its address to the
//! kernel. It does not touch file access: Landlock does that.
//!
//! What the program does, in order: a foreign architecture (e.g. i386 `int 0x80` from an x86_64
//! process, whose `socketcall` multiplexes every socket call) kills the process; an x32 syscall
//! fails with `ENOSYS`; `io_uring_*` fail with `ENOSYS` (an io_uring `SOCKET` or `OPENAT` request
//! is not a syscall and so escapes a syscall filter); a short list of kernel-administration calls
//! fails with `EPERM`; with the network restricted, `socket`/`socketpair` with any domain but
//! `AF_UNIX` fail with `EACCES`; everything else is allowed.

/// A classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Instruction {
    code: u16,
    jump_if_true: u8,
    jump_if_false: u8,
    constant: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Program {
    pub(crate) length: u16,
    pub(crate) filter: *const Instruction,
}

const LOAD_WORD_ABSOLUTE: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS
const JUMP_IF_EQUAL: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const JUMP_IF_GREATER_OR_EQUAL: u16 = 0x05 | 0x30; // BPF_JMP | BPF_JGE | BPF_K
const RETURN: u16 = 0x06; // BPF_RET | BPF_K

const RETURN_ALLOW: u32 = 0x7fff_0000;
const RETURN_KILL_PROCESS: u32 = 0x8000_0000;
const RETURN_ERRNO: u32 = 0x0005_0000;

// Offsets in `struct seccomp_data`: nr (i32), arch (u32), instruction_pointer (u64), args[6].
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// The low 32 bits of `args[0]` (little-endian); a socket domain is an `int`.
const OFFSET_ARG0_LOW: u32 = 16;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Whether this build has a filter for its architecture.
pub(crate) const SUPPORTED_ARCH: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// Calls that fail with `ENOSYS` in every sandbox: io_uring submits work the filter never sees.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const NOT_IMPLEMENTED: &[i64] =
    &[libc::SYS_io_uring_setup, libc::SYS_io_uring_enter, libc::SYS_io_uring_register];

/// Calls that fail with `EPERM` in every sandbox: loading kernel code, opening files by handle
/// (which skips path resolution), and the kernel keyrings (shared beyond the sandbox).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const NOT_PERMITTED: &[i64] = &[
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_open_by_handle_at,
    libc::SYS_bpf,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_keyctl,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
];

fn statement(code: u16, constant: u32) -> Instruction {
    Instruction { code, jump_if_true: 0, jump_if_false: 0, constant }
}

fn jump(code: u16, constant: u32, jump_if_true: u8, jump_if_false: u8) -> Instruction {
    Instruction { code, jump_if_true, jump_if_false, constant }
}

/// Builds the program; `restrict_network` adds the socket-domain rule.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn build(restrict_network: bool) -> Vec<Instruction> {
    let mut program = vec![
        statement(LOAD_WORD_ABSOLUTE, OFFSET_ARCH),
        jump(JUMP_IF_EQUAL, AUDIT_ARCH, 1, 0),
        statement(RETURN, RETURN_KILL_PROCESS),
        statement(LOAD_WORD_ABSOLUTE, OFFSET_NR),
    ];
    if cfg!(target_arch = "x86_64") {
        // __X32_SYSCALL_BIT.
        program.push(jump(JUMP_IF_GREATER_OR_EQUAL, 0x4000_0000, 0, 1));
        program.push(statement(RETURN, RETURN_ERRNO | libc::ENOSYS as u32));
    }
    for &number in NOT_IMPLEMENTED {
        program.push(jump(JUMP_IF_EQUAL, number as u32, 0, 1));
        program.push(statement(RETURN, RETURN_ERRNO | libc::ENOSYS as u32));
    }
    for &number in NOT_PERMITTED {
        program.push(jump(JUMP_IF_EQUAL, number as u32, 0, 1));
        program.push(statement(RETURN, RETURN_ERRNO | libc::EPERM as u32));
    }
    if restrict_network {
        for number in [libc::SYS_socket, libc::SYS_socketpair] {
            // Not this call: skip the four instructions of the domain check.
            program.push(jump(JUMP_IF_EQUAL, number as u32, 0, 4));
            program.push(statement(LOAD_WORD_ABSOLUTE, OFFSET_ARG0_LOW));
            program.push(jump(JUMP_IF_EQUAL, libc::AF_UNIX as u32, 0, 1));
            program.push(statement(RETURN, RETURN_ALLOW));
            program.push(statement(RETURN, RETURN_ERRNO | libc::EACCES as u32));
        }
    }
    program.push(statement(RETURN, RETURN_ALLOW));
    program
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) fn build(_restrict_network: bool) -> Vec<Instruction> {
    Vec::new()
}
