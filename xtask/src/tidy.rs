//! `cargo xtask tidy`: hygiene rules that the compiler and clippy cannot express.
//!
//! - Every `.rs` file opens with a `//!` module doc saying what it is for.
//! - No test is switched off or inverted: the attributes that ignore a test or expect a panic
//!   are banned (assert the current behaviour and leave a FIXME instead).
//! - Internal crates depend on each other only along the edges of [`ALLOWED_EDGES`], and the
//!   test-support crate is only ever a dev-dependency.
//!
//! It reads files and `cargo metadata`; it never edits anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which workspace crates each workspace crate may depend on (normal and build dependencies).
/// A new edge is a design change: add it here in the same commit and say why.
const ALLOWED_EDGES: &[(&str, &[&str])] = &[
    ("shell-env-policy", &[]),
    ("exec-protocol", &[]),
    // Kernel security code stands alone; the engine may use it to confine a child between fork
    // and exec.
    ("exec-sandbox", &[]),
    ("exec-engine", &["exec-sandbox"]),
    ("exec-transport", &["shell-env-policy", "exec-protocol", "exec-engine", "exec-sandbox"]),
    ("exec-mcp", &["exec-transport", "exec-protocol", "exec-engine", "shell-env-policy"]),
    ("mcp-test-server", &[]),
    ("test-support", &["exec-protocol"]),
    ("exec-server", &["exec-transport", "exec-protocol", "exec-engine", "shell-env-policy"]),
    ("exec-client", &["exec-transport", "exec-mcp", "exec-protocol", "exec-engine", "shell-env-policy"]),
    ("xtask", &[]),
];

/// The crate that may appear only under `[dev-dependencies]`.
const DEV_ONLY: &str = "test-support";

pub(crate) fn run(root: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    for file in rust_files(root) {
        check_file(root, &file, &mut problems);
    }
    check_edges(root, &mut problems)?;
    if problems.is_empty() {
        eprintln!("xtask: tidy passed");
        Ok(())
    } else {
        Err(format!("tidy found {} problem(s):\n  {}", problems.len(), problems.join("\n  ")))
    }
}

fn check_file(root: &Path, file: &Path, problems: &mut Vec<String>) {
    let relative = file.strip_prefix(root).unwrap_or(file).display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            problems.push(format!("{relative}: unreadable: {error}"));
            return;
        }
    };
    if !text.starts_with("//!") {
        problems.push(format!("{relative}: must open with a `//!` module doc"));
    }
    // Built from pieces so that this file does not trip its own check.
    let banned = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
    for (index, line) in text.lines().enumerate() {
        for pattern in banned {
            if line.trim_start().starts_with(pattern) {
                problems.push(format!("{relative}:{}: `{pattern}]` is not allowed", index + 1));
            }
        }
    }
}

/// Every `.rs` file under the tracked source folders, skipping build output and caches.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = ["crates", "bin", "xtask"].iter().map(|dir| root.join(dir)).collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !matches!(name.as_ref(), "target" | "node_modules" | ".cache") && !name.starts_with('.') {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn check_edges(root: &Path, problems: &mut Vec<String>) -> Result<(), String> {
    let output = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .map_err(|error| format!("could not run cargo metadata: {error}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|error| format!("cargo metadata: {error}"))?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let members: BTreeSet<String> =
        packages.iter().filter_map(|package| package["name"].as_str().map(str::to_owned)).collect();

    for package in &packages {
        let name = package["name"].as_str().unwrap_or_default();
        let Some((_, allowed)) = ALLOWED_EDGES.iter().find(|(crate_name, _)| *crate_name == name) else {
            problems.push(format!("crate `{name}` is missing from xtask's ALLOWED_EDGES table"));
            continue;
        };
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let dependency_name = dependency["name"].as_str().unwrap_or_default();
            if !members.contains(dependency_name) {
                continue;
            }
            let is_dev = dependency["kind"].as_str() == Some("dev");
            if dependency_name == DEV_ONLY {
                if !is_dev {
                    problems.push(format!("`{name}` depends on `{DEV_ONLY}` outside [dev-dependencies]"));
                }
                continue;
            }
            // Dev-dependencies are free: tests may drive the real stack from any layer.
            if !is_dev && !allowed.contains(&dependency_name) {
                problems.push(format!(
                    "`{name}` -> `{dependency_name}` is not an allowed edge (see ALLOWED_EDGES in xtask/src/tidy.rs)"
                ));
            }
        }
    }
    Ok(())
}
