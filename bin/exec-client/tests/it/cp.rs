//! `exec-client cp` both ways, byte-exact (every file compared byte for byte and by checksum),
//! with modes, against our server (whole-file methods, so files below its limit; a file above it
//! is a clear error naming the limit) and, when `EXEC_CODEX_171` names the `codex` binary of
//! `@openai/codex@0.171.0` (`cargo xtask codex-e2e` installs one), against its server, which
//! offers the chunked methods: there a 100 MiB random file makes the round trip.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::support::{TestServer, finish, finish_within, temp_path};

/// Deterministic pseudo-random bytes (xorshift64*): incompressible, reproducible.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// FNV-1a 64: a checksum to report alongside the byte comparison.
fn checksum(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Every file and directory under `root`: relative path → (mode, checksum and length of the
/// contents for a file).
fn snapshot(root: &Path) -> BTreeMap<String, (u32, Option<(u64, usize)>)> {
    let mut seen = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            let metadata = std::fs::metadata(&path).unwrap();
            let mode = metadata.permissions().mode() & 0o7777;
            if metadata.is_dir() {
                seen.insert(relative, (mode, None));
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                seen.insert(relative, (mode, Some((checksum(&bytes), bytes.len()))));
            }
        }
    }
    seen
}

/// A tree with empty, small, binary and 1 MiB files, nested and empty directories, and modes.
fn make_tree(root: &Path) {
    let write = |relative: &str, bytes: &[u8], mode: u32| {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("empty", b"", 0o644);
    write("hello.txt", b"hello\n", 0o644);
    write("run.sh", b"#!/bin/sh\necho hi\n", 0o755);
    write("secret", b"only me", 0o600);
    write("bin/all-bytes", &(0..=255u8).collect::<Vec<_>>(), 0o644);
    write("nested/deeper/still/random", &random_bytes(1 << 20, 7), 0o640);
    write("with space/and-ünïcode", b"names survive", 0o644);
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::fs::set_permissions(root.join("nested"), std::fs::Permissions::from_mode(0o700)).unwrap();
}

fn cp(url: &str, source: &str, destination: &str) -> tokio::process::Command {
    crate::support::client(url, &["cp", source, destination])
}

/// A fresh folder, removed on drop.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Folder {
        let path = temp_path(name);
        std::fs::create_dir_all(&path).unwrap();
        Folder(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn text(&self, name: &str) -> String {
        self.join(name).display().to_string()
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        // A read-only directory inside would refuse the removal of its contents.
        let _ = std::process::Command::new("chmod").arg("-R").arg("u+rwx").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_tree_round_trips_byte_exact_with_modes() {
    let server = TestServer::start().await;
    let here = Folder::new("cp-here");
    let there = Folder::new("cp-there");
    let back = Folder::new("cp-back");
    make_tree(&here.join("tree"));

    // Up, into an existing directory: it lands under its own name.
    let up = finish(cp(&server.url(), &here.text("tree"), &format!(":{}", there.0.display()))).await;
    assert_eq!((up.code, up.stderr.as_str()), (Some(0), ""));
    assert_eq!(snapshot(&there.join("tree")), snapshot(&here.join("tree")));

    // Down, to a new name.
    let down = finish(cp(&server.url(), &format!(":{}", there.text("tree")), &back.text("copy"))).await;
    assert_eq!((down.code, down.stderr.as_str()), (Some(0), ""));
    let original = snapshot(&here.join("tree"));
    assert_eq!(snapshot(&back.join("copy")), original);
    assert_eq!(original.len(), 13, "{original:#?}");
    assert_eq!(original["run.sh"].0, 0o755);
    assert_eq!(original["nested"].0, 0o700);

    // Single files, both ways, onto a file name and into a directory.
    let file =
        finish(cp(&server.url(), &here.text("tree/run.sh"), &format!(":{}", there.text("single")))).await;
    assert_eq!(file.code, Some(0), "{}", file.stderr);
    let file = finish(cp(&server.url(), &format!(":{}", there.text("single")), &back.text(""))).await;
    assert_eq!(file.code, Some(0), "{}", file.stderr);
    assert_eq!(std::fs::read(back.join("single")).unwrap(), b"#!/bin/sh\necho hi\n");
    assert_eq!(std::fs::metadata(back.join("single")).unwrap().permissions().mode() & 0o777, 0o755);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_random_file_round_trips_through_the_chunked_methods() {
    let server = TestServer::start().await;
    round_trip_100_mib(&server.url()).await;
}

/// The same against the 0.171 Codex server, when `EXEC_CODEX_171` names its `codex` binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_random_file_round_trips_through_the_codex_171_chunked_methods() {
    let Ok(codex) = std::env::var("EXEC_CODEX_171") else {
        eprintln!("EXEC_CODEX_171 is not set: the case against the 0.171 server did not run");
        return;
    };
    let home = Folder::new("codex-home");
    let mut command = std::process::Command::new(codex);
    command.args(["exec-server", "--listen", "ws://127.0.0.1:0"]).env("CODEX_HOME", &home.0);
    let server = test_support::ServerProcess::start(command).await.unwrap();
    round_trip_100_mib(server.url()).await;
}

/// 100 MiB of random bytes up and back down byte-exact with its mode, then a tree, through
/// whatever chunked methods the server at `url` offers.
/// How long one 100 MiB copy may take before the test calls it hung.
const BIG_DEADLINE: std::time::Duration = std::time::Duration::from_secs(180);

async fn round_trip_100_mib(url: &str) {
    let here = Folder::new("cp-chunked-here");
    let there = Folder::new("cp-chunked-there");
    let data = random_bytes(100 << 20, 11);
    std::fs::write(here.join("big"), &data).unwrap();
    std::fs::set_permissions(here.join("big"), std::fs::Permissions::from_mode(0o751)).unwrap();

    let up =
        finish_within(cp(url, &here.text("big"), &format!(":{}", there.text("big"))), BIG_DEADLINE).await;
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    let down =
        finish_within(cp(url, &format!(":{}", there.text("big")), &here.text("back")), BIG_DEADLINE).await;
    assert_eq!(down.code, Some(0), "{}", down.stderr);
    for copy in [there.join("big"), here.join("back")] {
        let bytes = std::fs::read(&copy).unwrap();
        assert_eq!((bytes.len(), checksum(&bytes)), (data.len(), checksum(&data)), "{}", copy.display());
        assert!(bytes == data, "{} differs", copy.display());
        assert_eq!(
            std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
            0o751,
            "{}",
            copy.display()
        );
    }
    // And a tree, through the same methods.
    make_tree(&here.join("tree"));
    let up = finish(cp(url, &here.text("tree"), &format!(":{}", there.text("tree")))).await;
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    let down = finish(cp(url, &format!(":{}", there.text("tree")), &here.text("tree-back"))).await;
    assert_eq!(down.code, Some(0), "{}", down.stderr);
    assert_eq!(snapshot(&here.join("tree-back")), snapshot(&here.join("tree")));
}
