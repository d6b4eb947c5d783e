//! Fuzz target: a request's `sandbox` intent, from the wire to resolved rules, through the code
//! the server runs (`exec_transport::fuzzing`: the wire conversion, then `SandboxIntent::resolve`
//! against a real scratch tree, then `SandboxPolicy::prepare`).
//!
//! An input that starts with `{` is decoded as a wire `sandbox` member as it is; any other input
//! drives a small builder that picks entries, paths (absolute, relative, `..`, URIs, symlinks
//! out, missing), special kinds and subpaths, access modes and contexts from a fixed pool, so
//! most inputs are well-formed intents. The oracle is that an intent only restricts: no panic;
//! a refusal is -32602, or -32603 with `data.kind` `sandboxUnavailable`/`sandboxPreparation`;
//! a restricted intent without a `write` entry yields no write root; the network switch is the
//! one asked for; every resolved path is absolute and canonical. It confines nothing (a
//! confined thread would stay confined only itself, but nothing here needs one).

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use exec_protocol::sandbox::{FileSystemPermissions, NetworkPermission, Permissions, SandboxParams};
use exec_sandbox::Network;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// A scratch tree: `ws` (a workspace root with `.git` and `sub`), `outside`, and `ws/link`, a
/// symlink out of the workspace.
fn scratch() -> &'static PathBuf {
    static SCRATCH: OnceLock<PathBuf> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("exec-fuzz-sandbox-{}", std::process::id()));
        for folder in ["ws/.git", "ws/sub/deeper", "outside"] {
            std::fs::create_dir_all(path.join(folder)).expect("create the scratch tree");
        }
        // Already there from an earlier run of this pid is fine.
        let _ = std::os::unix::fs::symlink(path.join("outside"), path.join("ws/link"));
        path.canonicalize().expect("canonical scratch")
    })
}

/// Reads choices from the input; runs out into zeros.
struct Picks<'a>(&'a [u8]);

impl Picks<'_> {
    fn next(&mut self, choices: usize) -> usize {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                usize::from(*first) % choices
            }
            None => 0,
        }
    }
}

fn a_path(picks: &mut Picks<'_>) -> Value {
    let scratch = scratch().display().to_string();
    let choices = [
        "/".to_owned(),
        scratch.clone(),
        format!("{scratch}/ws"),
        format!("{scratch}/ws/.git"),
        format!("{scratch}/ws/sub"),
        format!("{scratch}/ws/sub/deeper"),
        format!("{scratch}/ws/link"),
        format!("{scratch}/ws/missing"),
        format!("{scratch}/outside"),
        format!("{scratch}/ws/../outside"),
        format!("file://{scratch}/ws"),
        format!("file://{scratch}/ws%2Fsub"),
        "file://host/x".to_owned(),
        "relative/path".to_owned(),
        String::new(),
        "/proc/self".to_owned(),
        "/tmp".to_owned(),
        "//".to_owned(),
    ];
    Value::String(choices[picks.next(choices.len())].clone())
}

fn an_entry(picks: &mut Picks<'_>) -> Value {
    let path = match picks.next(4) {
        0 | 1 => json!({"type": "path", "path": a_path(picks)}),
        2 => {
            let kinds = [
                "root",
                "minimal",
                "current_working_directory",
                "project_roots",
                "tmpdir",
                "slash_tmp",
                "unknown",
            ];
            let kind = kinds[picks.next(kinds.len())];
            let subpaths = [
                None,
                Some(".git"),
                Some("sub"),
                Some("link"),
                Some("missing"),
                Some("../x"),
                Some("/abs"),
                Some(""),
            ];
            match subpaths[picks.next(subpaths.len())] {
                Some(subpath) => json!({"type": "special", "value": {"kind": kind, "subpath": subpath}}),
                None => json!({"type": "special", "value": {"kind": kind}}),
            }
        }
        _ => json!({"type": "glob_pattern", "pattern": "**/*.rs"}),
    };
    let access = ["read", "write", "deny", "none"][picks.next(4)];
    match [None, Some("skip"), Some("error")][picks.next(3)] {
        Some(missing) => json!({"path": path, "access": access, "missing_path_behavior": missing}),
        None => json!({"path": path, "access": access}),
    }
}

fn build(picks: &mut Picks<'_>) -> Value {
    let file_system = match picks.next(8) {
        0 => json!({"type": "unrestricted"}),
        1 => json!({"type": "external-sandbox"}),
        _ => {
            let count = picks.next(7);
            json!({"type": "restricted", "entries": (0..count).map(|_| an_entry(picks)).collect::<Vec<_>>()})
        }
    };
    let network = ["restricted", "enabled"][picks.next(2)];
    let mut sandbox =
        json!({"permissions": {"type": "managed", "file_system": file_system, "network": network}});
    if picks.next(4) != 0 {
        sandbox["cwd"] = a_path(picks);
    }
    let roots = picks.next(3);
    sandbox["workspaceRoots"] = Value::Array((0..roots).map(|_| a_path(picks)).collect());
    if picks.next(3) == 0 {
        let roots = picks.next(2);
        sandbox["policyContext"] = json!({
            "cwd": a_path(picks),
            "workspaceRoots": (0..roots).map(|_| a_path(picks)).collect::<Vec<_>>(),
        });
    }
    sandbox
}

fuzz_target!(|data: &[u8]| {
    let wire = if data.first() == Some(&b'{') {
        match serde_json::from_slice::<Value>(data) {
            Ok(value) => value,
            Err(_) => return,
        }
    } else {
        build(&mut Picks(data))
    };
    // The wire decoder is strict about the kinds that change enforcement; a refusal there is the
    // -32602 a client gets, and nothing runs.
    let Ok(params) = serde_json::from_value::<SandboxParams>(wire) else { return };
    let Permissions::Managed { file_system, network } = params.permissions.clone();
    let call_cwd = scratch().join("ws");
    let tmpdir = Some(scratch().join("outside"));
    match exec_transport::fuzzing::resolve_sandbox(params, Some(&call_cwd), tmpdir) {
        Err(error) => check_refusal(&error),
        Ok(policy) => {
            let asked = match network {
                NetworkPermission::Restricted => Network::Restricted,
                NetworkPermission::Enabled => Network::Enabled,
            };
            assert_eq!(policy.network, asked, "the network switch changed");
            match &file_system {
                FileSystemPermissions::Unrestricted => {}
                FileSystemPermissions::Restricted { entries } => {
                    let writes =
                        entries.iter().any(|entry| entry.access == exec_protocol::sandbox::AccessMode::Write);
                    if !writes {
                        assert!(
                            policy.write_roots.is_empty(),
                            "write roots without a write entry: {policy:?}"
                        );
                        assert!(
                            policy.read_only_carve_outs.is_empty(),
                            "carve-outs without a write entry: {policy:?}"
                        );
                    }
                    for path in policy
                        .read_roots
                        .iter()
                        .chain(&policy.write_roots)
                        .chain(&policy.read_only_carve_outs)
                    {
                        assert!(is_canonical(path), "{} is not canonical", path.display());
                    }
                }
                FileSystemPermissions::Other => panic!("an unknown file-system type was accepted"),
            }
            if let Err(error) = exec_transport::fuzzing::prepare_sandbox(&policy) {
                check_refusal(&error);
            }
        }
    }
});

fn check_refusal(error: &exec_protocol::jsonrpc::ErrorObject) {
    match error.code {
        -32602 => {}
        -32603 => {
            let kind = error.data.as_ref().and_then(|data| data.get("kind")).and_then(Value::as_str);
            assert!(
                matches!(kind, Some("sandboxUnavailable" | "sandboxPreparation")),
                "an internal error without a sandbox kind: {error:?}"
            );
        }
        other => panic!("unexpected error code {other}: {error:?}"),
    }
}

fn is_canonical(path: &Path) -> bool {
    path.is_absolute() && std::fs::canonicalize(path).is_ok_and(|canonical| canonical == path)
}
