//! Finding a binary of another workspace package from a test, building it when needed.
//!
//! Cargo gives a test `CARGO_BIN_EXE_<name>` only for binaries of its own package. A test of
//! one crate that needs another package's binary (exec-mcp's tests run `mcp-test-server`) looks
//! for it in the profile folder the test executable was built into, and runs `cargo build -p
//! NAME` there when it is missing or older than its sources. It does not handle
//! `--target TRIPLE` layouts or archived (`nextest --archive-file`) runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::SystemTime;

/// Serializes builds within one test process; cargo's own lock serializes them across
/// processes (nextest runs each test in a process of its own).
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// The path of the binary `package` (a package of this workspace whose binary has the same
/// name), built with the test's own profile and target folder if it is missing or stale.
///
/// Panics with cargo's output when the build fails: a test cannot go on without its binary.
#[track_caller]
pub fn workspace_binary(package: &str) -> PathBuf {
    let test_executable = std::env::current_exe().expect("the test executable has a path");
    // target/<profile>/deps/<test executable>
    let profile_dir = test_executable
        .parent()
        .and_then(Path::parent)
        .expect("a test executable lives in target/<profile>/deps")
        .to_path_buf();
    let binary = profile_dir.join(package);

    let _guard = BUILD_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if is_fresh(&binary, package) {
        return binary;
    }
    let target_dir = profile_dir.parent().expect("a profile folder has a parent");
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("unexpected profile folder {}", profile_dir.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args([
            "build",
            "--quiet",
            "--package",
            package,
            "--bin",
            package,
            "--profile",
            profile,
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {cargo:?} to build {package}: {error}"));
    assert!(
        output.status.success(),
        "`cargo build -p {package}` failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(binary.is_file(), "`cargo build -p {package}` did not produce {}", binary.display());
    binary
}

/// The workspace root, two levels above this crate's manifest.
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("crates/test-support")
}

/// Whether `binary` exists and is newer than every file of the package's sources, so a test
/// run after editing the package's code does not use an old build.
fn is_fresh(binary: &Path, package: &str) -> bool {
    let Ok(built) = std::fs::metadata(binary).and_then(|metadata| metadata.modified()) else {
        return false;
    };
    let root = workspace_root();
    let package_dir =
        ["crates", "bin"].iter().map(|folder| root.join(folder).join(package)).find(|dir| dir.is_dir());
    match package_dir {
        Some(dir) => newest_modification(&dir).is_none_or(|newest| newest <= built),
        None => true,
    }
}

/// The latest modification time of any file under `dir`.
fn newest_modification(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.metadata() else { continue };
            if metadata.is_dir() {
                stack.push(entry.path());
            } else if let Ok(modified) = metadata.modified() {
                newest = newest.max(Some(modified));
            }
        }
    }
    newest
}
