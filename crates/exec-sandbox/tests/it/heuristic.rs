//! `output_suggests_denial`: the `sandboxDenied` heuristic, pinned case by case, and checked on
//! the real messages of a denied command.

use exec_sandbox::{SandboxPolicy, output_suggests_denial};

#[track_caller]
fn check(exit_code: i32, output: &str, expect: bool) {
    assert_eq!(output_suggests_denial(exit_code, output.as_bytes()), expect, "{exit_code} {output:?}");
}

#[test]
fn denial_texts_on_failure() {
    check(1, "sh: 1: cannot create /etc/x: Permission denied\n", true);
    check(1, "touch: cannot touch '/x': Read-only file system\n", true);
    check(2, "rm: cannot remove 'a': Operation not permitted\n", true);
    check(1, "curl: (7) Couldn't connect: Permission denied (os error 13)", true);
    check(0, "Permission denied\n", false);
    check(1, "error: file not found\n", false);
    check(1, "", false);
    check(1, &format!("{}Permission denied", "x".repeat(100_000)), true);
}

#[test]
fn a_real_denied_write_is_recognised() {
    let sandbox = crate::prepare(&SandboxPolicy::read_only());
    let output = crate::sh(&sandbox, "echo x > /denied-by-the-sandbox");
    let code = output.status.code().expect("exit code");
    assert!(output_suggests_denial(code, &output.stderr), "{output:?}");
}
