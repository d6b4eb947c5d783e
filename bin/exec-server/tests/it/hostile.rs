//! What a hostile (or careless) authenticated client must not be able to do to the executor
//! (issue 12): read without bound, hang the fs methods on a FIFO, remove `/` or the system's own
//! folders, destroy a file by a failed overwrite, or flood the server's log.
//!
//! Each test asserts the refusal, its pinned message, and that the server is still serving
//! afterwards, with another session's process and output intact across the attack
//! (`bystander`). Where a test needs the server under a resource limit (a file-size limit), it starts
//! the binary through `sh` with `ulimit`; nothing here needs the Codex peer. The quadratic
//! `envPolicy` matcher is covered by the matcher's own unit tests in `shell-env-policy` (they
//! count steps, which an end-to-end test cannot).

use std::time::{Duration, Instant};

use crate::bystander::Bystander;
use serde_json::json;
use std::process::Command;
use test_support::{
    DEFAULT_DEADLINE, ErrorObject, RawClient, ServerProcess, Signal, Target, TempDir, decode_base64,
    encode_base64,
};

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_exec-server")
}

async fn connected(server: &ServerProcess) -> RawClient {
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("hostile-tests").await;
    client
}

/// Our server started by `sh -c "<setup>; exec exec-server --listen ws://127.0.0.1:0"`, so that
/// `setup` (a `ulimit`, a `trap`) applies to the server process itself.
async fn spawn_under_shell(setup: &str) -> ServerProcess {
    let mut command = Command::new("sh");
    command.args(["-c", &format!("{setup}; exec \"$0\" --listen ws://127.0.0.1:0"), binary()]);
    ServerProcess::start(command).await.unwrap_or_else(|error| panic!("start the server under sh: {error}"))
}

fn text(path: &std::path::Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

#[track_caller]
fn assert_error(error: &ErrorObject, code: i64, message: &str) {
    assert_eq!((error.code, error.message.as_str()), (code, message), "error: {error:?}");
}

/// The server still answers a request on a fresh connection.
async fn assert_still_serving(server: &ServerProcess) {
    let mut client = connected(server).await;
    client.request_ok("process/list", json!({})).await;
}

fn mkfifo(path: &std::path::Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo failed: {status}");
}

// ---------------------------------------------------------------------------------------------
// fs/readFile: only regular files, and only up to the limit

#[tokio::test]
async fn read_file_refuses_devices_and_files_past_the_limit() {
    // The address-space cap turns today's unbounded read of /dev/zero into an allocation failure
    // instead of an OOM kill of the test machine.
    let server = spawn_under_shell("ulimit -v 4194304").await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;
    let scratch = TempDir::new("read-limit");

    let error = client.request_error("fs/readFile", json!({ "path": "/dev/zero" })).await;
    assert_error(&error, -32600, "cannot read /dev/zero: it is a character device, not a regular file");

    // A sparse file one byte past the limit costs no disk and must be refused before reading.
    let limit = 8 * 1024 * 1024;
    let big = scratch.path().join("big");
    std::fs::File::create(&big).and_then(|file| file.set_len(limit + 1)).expect("create a sparse file");
    let error = client.request_error("fs/readFile", json!({ "path": text(&big) })).await;
    let expected = format!(
        "cannot read {}: file too large (the limit is {limit} bytes); read it in blocks with fs/open and \
         fs/readBlock",
        text(&big)
    );
    assert_error(&error, -32600, &expected);
    // The kind lets a client switch to chunked reads without reading the text.
    assert_eq!(error.data["kind"], "fileTooLarge", "error: {error:?}");

    // Exactly the limit is still fine, and arrives whole.
    std::fs::File::create(&big).and_then(|file| file.set_len(limit)).expect("shrink the sparse file");
    let read = client.request_ok("fs/readFile", json!({ "path": text(&big) })).await;
    let data = decode_base64(read["dataBase64"].as_str().unwrap_or_default());
    assert_eq!(data.len(), usize::try_from(limit).expect("fits"));
    assert!(data.iter().all(|byte| *byte == 0));
    assert_still_serving(&server).await;
    bystander.assert_intact().await;
}

// ---------------------------------------------------------------------------------------------
// FIFOs and other special files never block an fs method

#[tokio::test]
async fn fs_methods_refuse_fifos_instead_of_blocking() {
    let mut server = Target::ours(binary()).spawn().await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;
    let scratch = TempDir::new("fifo");
    let tree = scratch.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("create the tree");
    std::fs::write(tree.join("a.txt"), b"a").expect("write a file");
    let fifo = tree.join("sub/pipe");
    mkfifo(&fifo);

    let error = client.request_error("fs/readFile", json!({ "path": text(&fifo) })).await;
    assert_error(&error, -32600, &format!("cannot read {}: it is a fifo, not a regular file", text(&fifo)));
    let write = json!({ "path": text(&fifo), "dataBase64": encode_base64(b"x") });
    let error = client.request_error("fs/writeFile", write).await;
    assert_error(&error, -32600, &format!("cannot write {}: it is a fifo, not a regular file", text(&fifo)));
    let copy_fifo = json!({ "sourcePath": text(&fifo), "destinationPath": text(&scratch.path().join("c")), "recursive": false });
    let error = client.request_error("fs/copy", copy_fifo).await;
    assert_error(&error, -32600, &format!("cannot copy {}: it is a fifo, not a regular file", text(&fifo)));
    // A tree holding a FIFO is refused as a whole, naming the FIFO; nothing is copied.
    let destination = scratch.path().join("copy");
    let copy_tree =
        json!({ "sourcePath": text(&tree), "destinationPath": text(&destination), "recursive": true });
    let error = client.request_error("fs/copy", copy_tree).await;
    assert_error(&error, -32600, &format!("cannot copy {}: it is a fifo, not a regular file", text(&fifo)));
    assert!(!destination.exists(), "a refused copy left {}", destination.display());

    // A unix socket is refused the same way.
    let socket_path = scratch.path().join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket_path).expect("bind a unix socket");
    let error = client.request_error("fs/readFile", json!({ "path": text(&socket_path) })).await;
    assert_error(
        &error,
        -32600,
        &format!("cannot read {}: it is a socket, not a regular file", text(&socket_path)),
    );

    // Nothing is stuck on the blocking pool, so SIGTERM ends the server promptly.
    assert_still_serving(&server).await;
    bystander.assert_intact().await;
    server.terminate_with(Signal::SIGTERM).expect("send SIGTERM");
    let status = server.wait_with_deadline(DEFAULT_DEADLINE).await.expect("wait for the server");
    assert!(status.is_some(), "the server did not exit after SIGTERM");
}

// ---------------------------------------------------------------------------------------------
// fs/remove: never `/` or the system's own folders

#[tokio::test]
async fn remove_refuses_protected_system_paths() {
    let server = Target::ours(binary()).spawn().await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;
    // Ordered so that on a server without the guard the first request fails harmlessly (procfs
    // and sysfs refuse unlinking) before any path that could do damage is sent. `/` itself is only
    // checked by the guard's unit tests, never sent.
    let cases = [
        ("/proc", "/proc"),
        ("/sys/kernel", "/sys/kernel"),
        ("/proc/self/..", "/proc"),
        ("/dev/null", "/dev/null"),
        ("/usr", "/usr"),
        ("/etc/../usr", "/usr"),
        ("file:///etc", "/etc"),
    ];
    for (path, canonical) in cases {
        let error = client.request_error("fs/remove", json!({ "path": path })).await;
        let expected = format!("refusing to remove {path}: {canonical} is a protected system path");
        let expected = expected.replace("file://", "");
        assert_error(&error, -32600, &expected);
    }
    assert!(std::path::Path::new("/dev/null").exists());

    // An ordinary folder is still removed.
    let scratch = TempDir::new("remove");
    let folder = scratch.path().join("folder");
    std::fs::create_dir_all(folder.join("inside")).expect("create a folder");
    client.request_ok("fs/remove", json!({ "path": text(&folder) })).await;
    assert!(!folder.exists());
    bystander.assert_intact().await;
}

/// The server's own files (here its config file and the audit log the config names: the token
/// and TLS files go through the same list) and its user's home directory are refused too, on the
/// resolved path; what lies beside them or inside the home stays removable.
#[tokio::test]
async fn remove_refuses_the_servers_own_files_and_its_users_home() {
    let scratch = TempDir::new("remove-own");
    let root = scratch.path().canonicalize().expect("canonical scratch");
    for folder in ["conf", "logs", "home/work"] {
        std::fs::create_dir_all(root.join(folder)).expect("create the tree");
    }
    let config = root.join("conf/server.toml");
    let audit = root.join("logs/audit.jsonl");
    std::fs::write(&config, format!("audit_log = {:?}\n", text(&audit))).expect("write the config");
    std::fs::write(root.join("conf/notes"), b"removable").expect("write a file beside it");
    std::os::unix::fs::symlink(root.join("logs"), root.join("home/work/logs-link")).expect("a link");
    let home = root.join("home");
    let server = Target::ours(binary())
        .spawn_with(|command| {
            command.arg("--config").arg(&config).env("HOME", &home);
        })
        .await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;

    let own = |path: &std::path::Path, canonical: &std::path::Path| {
        format!(
            "refusing to remove {}: {} is or holds one of the server's own files",
            text(path),
            text(canonical)
        )
    };
    let cases = [
        (config.clone(), own(&config, &config)),
        (root.join("conf"), own(&root.join("conf"), &root.join("conf"))),
        (audit.clone(), own(&audit, &audit)),
        // A link to a folder holding one resolves to that folder.
        (root.join("home/work/logs-link"), own(&root.join("home/work/logs-link"), &root.join("logs"))),
        (
            root.join("home/work/.."),
            format!(
                "refusing to remove {}: {} is the home directory of the server's user",
                text(&root.join("home/work/..")),
                text(&home)
            ),
        ),
    ];
    for (path, expected) in cases {
        let error = client.request_error("fs/remove", json!({ "path": text(&path) })).await;
        assert_error(&error, -32600, &expected);
    }
    assert!(config.exists() && audit.exists() && home.exists(), "a protected file was removed");

    // Beside them, and inside the home, removal works as before.
    client.request_ok("fs/remove", json!({ "path": text(&root.join("conf/notes")) })).await;
    client.request_ok("fs/remove", json!({ "path": text(&root.join("home/work")) })).await;
    assert!(!root.join("conf/notes").exists() && !root.join("home/work").exists());
    assert!(audit.exists(), "the link was removed, not what it led to");
    bystander.assert_intact().await;
}

// ---------------------------------------------------------------------------------------------
// fs/writeFile: a failed overwrite keeps the original

#[tokio::test]
async fn write_file_keeps_the_original_when_the_write_fails() {
    // A file-size limit of a few KiB makes a larger write fail half-way with EFBIG, as a full disk
    // would; SIGXFSZ is ignored so the server gets the error instead of dying.
    let server = spawn_under_shell("trap '' XFSZ; ulimit -f 16").await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;
    let scratch = TempDir::new("atomic-write");
    let file = scratch.path().join("precious.txt");

    let original = json!({ "path": text(&file), "dataBase64": encode_base64(b"original") });
    client.request_ok("fs/writeFile", original).await;
    let large = vec![b'x'; 1024 * 1024];
    let overwrite = json!({ "path": text(&file), "dataBase64": encode_base64(&large) });
    let error = client.request_error("fs/writeFile", overwrite).await;
    assert!(error.message.starts_with(&format!("cannot write {}", text(&file))), "error: {error:?}");

    assert_eq!(std::fs::read(&file).expect("the original is still there"), b"original");
    let mut names: Vec<String> = std::fs::read_dir(scratch.path())
        .expect("list the folder")
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["precious.txt"], "a temporary file was left behind");
    assert_still_serving(&server).await;
    bystander.assert_intact().await;
}

// ---------------------------------------------------------------------------------------------
// envPolicy: bounded pattern lists, and hostile patterns cost linear work

#[tokio::test]
async fn env_policy_patterns_are_bounded_and_hostile_ones_still_work() {
    let server = Target::ours(binary()).spawn().await;
    let bystander = Bystander::start(&server).await;
    let mut client = connected(&server).await;
    let start = |id: &str, policy: serde_json::Value| {
        let mut params = test_support::start_params(id, &["sh", "-c", "env"]);
        params["envPolicy"] = policy;
        params
    };

    let too_many = json!({ "inherit": "none", "includeOnly": vec!["A*"; 257] });
    let error = client.request_error("process/start", start("many", too_many)).await;
    assert_error(&error, -32602, "envPolicy.includeOnly holds 257 patterns; the limit is 256");
    let too_long = json!({ "inherit": "none", "exclude": ["B", "C".repeat(1025)] });
    let error = client.request_error("process/start", start("long", too_long)).await;
    assert_error(&error, -32602, "envPolicy.exclude[1] is 1025 bytes long; the limit is 1024");

    // The backtracking matcher's worst case, at the limits: 256 near-miss patterns against a
    // 120 kB name. It is answered (the name does not match, so the variable is dropped) and the
    // matching one is kept.
    let long_name = "a".repeat(120_000);
    let mut patterns = vec![format!("*{}b*", "a".repeat(1000)); 255];
    patterns.push("KEEP_*".to_owned());
    let hostile = json!({
        "inherit": "none",
        "set": { long_name.clone(): "v", "KEEP_ME": "yes" },
        "includeOnly": patterns,
    });
    client.request_ok("process/start", start("hostile", hostile)).await;
    let run = client.collect_until_closed("hostile").await;
    let output = String::from_utf8_lossy(&run.output()).into_owned();
    assert!(output.lines().any(|line| line == "KEEP_ME=yes"), "env: {output}");
    assert!(!output.contains(&long_name), "the long name should have been dropped");
    assert_still_serving(&server).await;
    bystander.assert_intact().await;
}

// ---------------------------------------------------------------------------------------------
// Logs: what clients send is truncated, and colour codes stay out of files and pipes

/// Waits until the server's captured stderr holds a line containing `needle`, and returns it.
async fn logged_line(server: &ServerProcess, needle: &str) -> String {
    let until = Instant::now() + DEFAULT_DEADLINE;
    loop {
        if let Some(line) = server.captured_output().lines().find(|line| line.contains(needle)) {
            return line.to_owned();
        }
        assert!(Instant::now() < until, "no log line with {needle:?}: {}", server.captured_output());
        // The log is read by a forwarding task; there is no event to wait on, so poll briefly.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn client_strings_are_truncated_in_the_log_and_pipes_get_no_colour() {
    let server = Target::ours(binary()).spawn().await;
    let bystander = Bystander::start(&server).await;
    let mut client = RawClient::connect(server.url()).await;
    // The longest name `initialize` accepts (`exec_protocol::ids::MAX_ID_BYTES`); longer ones
    // are refused outright (see `limits::long_ids_and_names_are_refused`).
    let name = format!("flood{}", "x".repeat(1024 - 5));
    let result = client.request_ok("initialize", json!({ "clientName": name })).await;
    let session_id = result["sessionId"].as_str().unwrap_or_default().to_owned();

    let line = logged_line(&server, &session_id).await;
    assert!(line.len() < 1024, "a {}-byte log line", line.len());
    assert!(line.contains("floodxxx"), "the start of the name is kept: {line}");
    assert!(line.contains("…[768 more bytes]"), "the cut is marked: {line}");
    assert!(!server.captured_output().contains('\u{1b}'), "colour codes in a piped log");
    bystander.assert_intact().await;
}
