//! The 0.171 Codex surface against our server (issue 11): `environmentInfo`, the sandbox intent
//! on `fs/*` and on `process/start` (pipes and PTY), both enforced by the kernel so that escape
//! attempts (symlinks, `..`, hard links, `/proc/self/fd`, a forked `setsid` grandchild, the
//! network) fail closed, `sandboxType`/`sandboxDenied`, spawn error kinds, and the new methods
//! (`fs/canonicalize`, `fs/walk`, chunked files, `followSymlinks`).
//!
//! The intents are built here in the exact wire shapes the 0.171 client sends
//! (docs/codex-0.171-wire.md §2), without `slash_tmp`/`tmpdir` entries, so that a second scratch
//! folder under the temp dir is "outside" every writable root. Paths travel as `file://` URIs
//! (the 0.171 form) unless a test is about plain paths.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{
    DEFAULT_DEADLINE, ErrorObject, RawClient, ServerProcess, Target, TempDir, decode_base64, encode_base64,
};

fn target() -> Target {
    Target::ours(env!("CARGO_BIN_EXE_exec-server"))
}

async fn connected(server: &ServerProcess) -> RawClient {
    let mut client = RawClient::connect(server.url()).await;
    client.initialize("codex-environment").await;
    client
}

pub(crate) fn uri(path: &Path) -> String {
    format!("file://{}", path.to_str().expect("temp paths are UTF-8"))
}

fn text(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// `codex exec --sandbox workspace-write` as the `fs/*` shape carries it, minus `slash_tmp` and
/// `tmpdir` (see the module docs).
pub(crate) fn workspace_write(workspace: &Path) -> Value {
    json!({
        "permissions": {"type": "managed", "network": "restricted", "file_system": {"type": "restricted", "entries": [
            {"access": "read", "path": {"type": "special", "value": {"kind": "root"}}},
            {"access": "write", "path": {"type": "special", "value": {"kind": "project_roots"}}},
            {"access": "read", "missing_path_behavior": "skip",
             "path": {"type": "special", "value": {"kind": "project_roots", "subpath": ".git"}}},
            {"access": "read", "missing_path_behavior": "skip",
             "path": {"type": "special", "value": {"kind": "project_roots", "subpath": ".codex"}}}]}},
        "cwd": uri(workspace), "workspaceRoots": [uri(workspace)],
        "policyContext": {"cwd": uri(workspace), "workspaceRoots": [uri(workspace)]},
        "userHomeDir": "file:///root",
        "windowsSandboxLevel": "disabled", "useLegacyLandlock": false
    })
}

/// `codex exec --sandbox read-only` (the `process/start` shape).
fn read_only(workspace: &Path) -> Value {
    json!({
        "permissions": {"type": "managed", "network": "restricted", "file_system": {"type": "restricted", "entries": [
            {"access": "read", "path": {"type": "special", "value": {"kind": "root"}}}]}},
        "cwd": uri(workspace), "workspaceRoots": [uri(workspace)],
        "windowsSandboxLevel": "disabled", "windowsSandboxProxySettingsMode": "reconcile",
        "useLegacyLandlock": false
    })
}

/// A workspace with a `.git` folder, and a folder outside it.
struct Scene {
    workspace: TempDir,
    outside: TempDir,
}

impl Scene {
    fn new() -> Scene {
        let scene = Scene { workspace: TempDir::new("codex-ws"), outside: TempDir::new("codex-outside") };
        std::fs::create_dir(scene.ws().join(".git")).expect("create .git");
        std::fs::write(scene.ws().join(".git/config"), "original").expect("write .git/config");
        std::fs::write(scene.out().join("secret"), "untouched").expect("write the outside file");
        scene
    }

    fn ws(&self) -> &Path {
        self.workspace.path()
    }

    fn out(&self) -> &Path {
        self.outside.path()
    }
}

#[track_caller]
fn assert_denied(error: &ErrorObject) {
    let denied =
        ["Permission denied", "Read-only file system"].iter().any(|text| error.message.contains(text));
    assert!(denied, "not a sandbox denial: {error:?}");
}

#[track_caller]
fn assert_kind(error: &ErrorObject, code: i64, kind: &str) {
    assert_eq!((error.code, error.data["kind"].as_str()), (code, Some(kind)), "error: {error:?}");
}

async fn write(
    client: &mut RawClient,
    path: &str,
    data: &str,
    sandbox: &Value,
) -> Result<Value, ErrorObject> {
    let params = json!({"path": path, "dataBase64": encode_base64(data.as_bytes()), "sandbox": sandbox});
    client.request("fs/writeFile", params).await
}

// ---------------------------------------------------------------------------------------------
// environmentInfo

#[tokio::test]
async fn initialize_carries_environment_info_and_the_methods_repeat_it() {
    let home = TempDir::new("codex-home");
    let tmp = TempDir::new("codex-tmpdir");
    let server = target()
        .spawn_with(|command| {
            command.env("HOME", home.path()).env("TMPDIR", tmp.path()).env("SHELL", "/bin/this-is-not-used");
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    let result = client
        .request_ok("initialize", json!({"clientName": "codex-environment", "resumeSessionId": null}))
        .await;
    client.notify("initialized", json!({})).await;

    let info = &result["environmentInfo"];
    assert_eq!(info["userHomeDir"], json!(uri(home.path())));
    assert_eq!(info["tempDir"], json!(uri(tmp.path())));
    assert_eq!(info["temporaryDirectories"], json!([uri(tmp.path())]));
    assert_eq!(info["platformOs"], json!("linux"));
    assert_eq!(info["prependPathDirs"], json!([]));
    assert_eq!(info["executorVersion"], result["serverInfo"]["version"]);
    assert!(info["providerId"].as_str().is_some_and(|id| id.starts_with("exec-server:")), "{info}");
    assert!(info["cwd"].as_str().is_some_and(|cwd| cwd.starts_with("file:///")), "{info}");
    // The shell comes from the passwd entry, like the reference, never from $SHELL.
    let shell = info["shell"]["path"].as_str().expect("shell.path");
    assert!(Path::new(shell).is_absolute() && Path::new(shell).exists(), "{info}");
    assert_ne!(shell, "/bin/this-is-not-used");
    assert_eq!(info["shell"]["name"].as_str(), Path::new(shell).file_name().and_then(|name| name.to_str()));
    // Every flag is present and only what is served is set.
    let flags = info["capabilities"].as_object().expect("capabilities object");
    assert_eq!(flags.len(), 16, "{flags:?}");
    let set: Vec<&String> =
        flags.iter().filter(|(_, flag)| *flag == &json!(true)).map(|(name, _)| name).collect();
    assert_eq!(set, ["fsWatchMissing"]);
    // Our own list of extension names stays beside it.
    assert!(result["capabilities"].as_array().is_some_and(|names| names.contains(&json!("fs"))));

    assert_eq!(&client.request_ok("environment/info", Value::Null).await, info);
    assert_eq!(&client.request_ok("environment/info", json!({})).await, info);
    assert_eq!(client.request_ok("environment/status", json!({})).await, json!({"status": "ready"}));
    assert_eq!(client.request_ok("environment/status", Value::Null).await, json!({"status": "ready"}));
}

#[tokio::test]
async fn without_tmpdir_the_temp_dir_is_slash_tmp_and_the_list_is_empty() {
    let server = target()
        .spawn_with(|command| {
            command.env_remove("TMPDIR");
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    let result = client.request_ok("initialize", json!({"clientName": "codex-environment"})).await;
    assert_eq!(result["environmentInfo"]["tempDir"], json!("file:///tmp"));
    assert_eq!(result["environmentInfo"]["temporaryDirectories"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// process/start: sandboxType, sandboxDenied, escapes, spawn error kinds, refused intents

#[tokio::test]
async fn an_unsandboxed_start_reports_none_and_never_denied() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let mut params =
        test_support::start_params("p1", &["/bin/sh", "-c", "echo 'Permission denied' >&2; exit 1"]);
    params["cwd"] = json!(uri(scene.ws()));
    params["sandbox"] = Value::Null;
    let result = client.request_ok("process/start", params).await;
    assert_eq!(result, json!({"processId": "p1", "sandboxType": "none"}));
    let run = client.collect_until_closed("p1").await;
    let exited = run.exits()[0];
    assert_eq!(
        (exited.params["exitCode"].clone(), exited.params["sandboxDenied"].clone()),
        (json!(1), json!(false))
    );
    let read = client
        .request_ok("process/read", json!({"processId": "p1", "afterSeq": 0, "maxBytes": null, "waitMs": 0}))
        .await;
    assert_eq!((read["exited"].clone(), read["sandboxDenied"].clone()), (json!(true), json!(false)));
}

/// A sandboxed command runs confined by the kernel: writes inside the workspace work, a write
/// outside it (and, read-only, inside it too) is refused, the result says `linuxSeccomp`, and the
/// refused command's exit and read carry `sandboxDenied: true`; a network connect is refused too.
#[tokio::test]
async fn a_sandboxed_start_runs_confined_and_reports_denials() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let outside = scene.out().join("ran");
    let inside = scene.ws().join("inside");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let port = listener.local_addr().expect("its address").port();
    let cases = [
        ("ws-in", workspace_write(scene.ws()), format!("echo x > '{}'", text(&inside)), 0, false),
        ("ws-out", workspace_write(scene.ws()), format!("echo x > '{}'", text(&outside)), 1, true),
        ("ro-in", read_only(scene.ws()), format!("echo x > '{}/ro'", text(scene.ws())), 1, true),
        (
            "net",
            workspace_write(scene.ws()),
            format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"),
            1,
            true,
        ),
    ];
    for (id, sandbox, script, code, denied) in cases {
        let mut params = test_support::start_params(id, &["/bin/bash", "-c", &script]);
        params["cwd"] = json!(uri(scene.ws()));
        params["sandbox"] = sandbox;
        let result = client.request_ok("process/start", params).await;
        assert_eq!(result, json!({"processId": id, "sandboxType": "linuxSeccomp"}), "{id}");
        let run = client.collect_until_closed(id).await;
        let exited = run.exits()[0];
        assert_eq!(
            exited.params["exitCode"],
            json!(code),
            "{id}: {}",
            String::from_utf8_lossy(&run.output())
        );
        // Output comes before the exit (SPEC §6), so the denial text is judged on `exited` too.
        assert!(
            run.events
                .iter()
                .filter(|event| event.method == "process/output")
                .all(|output| output.seq() < exited.seq()),
            "{id}: output numbered after the exit"
        );
        assert_eq!(
            exited.params["sandboxDenied"],
            json!(denied),
            "{id}: {}",
            String::from_utf8_lossy(&run.output())
        );
        let read =
            client.request_ok("process/read", json!({"processId": id, "afterSeq": 0, "waitMs": 0})).await;
        assert_eq!(read["sandboxDenied"], json!(denied), "{id}");
    }
    assert!(inside.exists(), "the write inside the workspace happened");
    assert!(!outside.exists(), "a write outside the workspace happened");
    assert!(!scene.ws().join("ro").exists(), "a write under read-only happened");
    listener.set_nonblocking(true).expect("non-blocking");
    assert!(listener.accept().is_err(), "the sandboxed command reached the network");
}

/// Starts `script` under bash in the workspace with `sandbox` (on a PTY when `tty`) and returns
/// its exit code, its `sandboxDenied` on `process/exited` and what it printed.
async fn run_sandboxed(
    client: &mut RawClient,
    scene: &Scene,
    id: &str,
    sandbox: &Value,
    tty: bool,
    script: &str,
) -> (Value, Value, String) {
    let mut params = test_support::start_params(id, &["/bin/bash", "-c", script]);
    params["cwd"] = json!(uri(scene.ws()));
    params["sandbox"] = sandbox.clone();
    params["tty"] = json!(tty);
    let result = client.request_ok("process/start", params).await;
    assert_eq!(result, json!({"processId": id, "sandboxType": "linuxSeccomp"}), "{id}");
    let run = client.collect_until_closed(id).await;
    let exited = run.exits()[0];
    let output = String::from_utf8_lossy(&run.output()).into_owned();
    (exited.params["exitCode"].clone(), exited.params["sandboxDenied"].clone(), output)
}

/// The escapes the kernel must stop, through `process/start` as the 0.171 client sends it: a
/// symlink into a protected path, `..`, a hard link, a reopen through `/proc/self/fd`, and a
/// child that forks, calls `setsid` and execs another program. Each fails and writes nothing;
/// all but the hard links are reported as denials. (`crates/exec-sandbox/tests/it/files.rs` has the same routes
/// against the crate alone.)
#[tokio::test]
async fn sandboxed_commands_cannot_escape_by_any_route() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let sandbox = workspace_write(scene.ws());
    let (ws, out) = (text(scene.ws()), text(scene.out()));
    let out_name = scene.out().file_name().unwrap().to_str().unwrap();
    // (id, script, whether `sandboxDenied` says so). A refused hard link fails with EXDEV
    // ("Invalid cross-device link"), which the heuristic does not count: it is also the plain
    // error of a link across two file systems (docs/sandbox.md, "Telling a sandbox denial...").
    let cases = [
        ("symlink-out", format!("ln -s '{out}/secret' link && echo x > link"), true),
        ("symlink-dir", format!("ln -s '{out}' door && echo x > door/escaped"), true),
        ("symlink-git", "ln -s .git gitlink && echo x > gitlink/config".to_owned(), true),
        ("dotdot", format!("echo x > '../{out_name}/escaped'"), true),
        ("dotdot-git", format!("echo x > '{ws}/.git/../../{out_name}/escaped'"), true),
        ("hardlink", format!("ln '{out}/secret' hard && echo x > hard"), false),
        ("hardlink-git", "ln .git/config hard-config && echo x > hard-config".to_owned(), false),
        ("proc-fd", format!("exec 3< '{out}/secret' && echo x > /proc/self/fd/3"), true),
        ("proc-fd-dir", format!("exec 3< '{out}' && echo x > /proc/self/fd/3/escaped"), true),
        ("proc-fd-git", "exec 3< .git/config && echo x > /proc/self/fd/3".to_owned(), true),
        // setsid(1) forks (the command leads its process group), calls setsid and execs sh.
        ("setsid", format!("setsid --wait /bin/sh -c 'echo x > {out}/escaped'"), true),
        ("setsid-git", "setsid --wait /usr/bin/env sh -c 'echo x > .git/new'".to_owned(), true),
    ];
    for (id, script, reported) in &cases {
        let (code, denied, output) = run_sandboxed(&mut client, &scene, id, &sandbox, false, script).await;
        assert_ne!(code, json!(0), "{id}: the escape worked: {output}");
        assert_eq!(denied, json!(reported), "{id}: sandboxDenied: {output}");
        if !reported {
            assert!(output.contains("Invalid cross-device link"), "{id}: {output}");
        }
    }
    assert_eq!(std::fs::read_to_string(scene.out().join("secret")).unwrap(), "untouched");
    assert_eq!(std::fs::read_to_string(scene.ws().join(".git/config")).unwrap(), "original");
    let outside: Vec<String> = names(scene.out());
    assert_eq!(outside, ["secret"], "something was written outside the workspace");
    assert!(!scene.ws().join(".git/new").exists(), "something was written into .git");
}

/// On a PTY the sandbox holds the same, and the denial is read from the terminal's output.
#[tokio::test]
async fn a_sandboxed_tty_command_is_confined_and_reported() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let sandbox = workspace_write(scene.ws());
    let script = format!("echo x > '{}/escaped'", text(scene.out()));
    let (code, denied, output) = run_sandboxed(&mut client, &scene, "tty-out", &sandbox, true, &script).await;
    assert_eq!((code, denied), (json!(1), json!(true)), "{output}");
    assert!(output.contains("Permission denied"), "{output}");
    assert!(!scene.out().join("escaped").exists(), "a write outside the workspace happened");
    let (code, denied, output) =
        run_sandboxed(&mut client, &scene, "tty-in", &sandbox, true, "echo x > inside && tty").await;
    assert_eq!((code, denied), (json!(0), json!(false)), "{output}");
    assert!(output.contains("/dev/pts/"), "not on a terminal: {output}");
    assert!(scene.ws().join("inside").exists());
}

#[tokio::test]
async fn spawn_errors_carry_the_reference_kind_beside_our_fields() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let not_executable = scene.ws().join("script");
    std::fs::write(&not_executable, "#!/bin/sh\n").expect("write a non-executable file");

    let error =
        client.request_error("process/start", test_support::start_params("a", &["/no/such/program"])).await;
    assert_kind(&error, -32603, "spawnNotFound");
    assert_eq!(error.message, "No such file or directory (os error 2)");
    assert_eq!(error.data["program"], json!("/no/such/program"));

    let mut params = test_support::start_params("b", &["/bin/true"]);
    params["cwd"] = json!("/no/such/directory");
    let error = client.request_error("process/start", params).await;
    assert_kind(&error, -32603, "spawnNotFound");

    let error = client
        .request_error("process/start", test_support::start_params("c", &[text(&not_executable)]))
        .await;
    assert_kind(&error, -32603, "spawnPermissionDenied");
    assert_eq!(error.message, "Permission denied (os error 13)");
}

#[tokio::test]
async fn intents_we_cannot_read_are_refused_before_anything_runs() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let target_file = scene.ws().join("never");

    // An unknown path kind: -32602 with the reference's message, on start and on fs alike.
    let mut sandbox = workspace_write(scene.ws());
    sandbox["permissions"]["file_system"]["entries"][1]["path"]["value"]["kind"] = json!("home");
    let expected = "unknown variant `home`, expected one of `root`, `minimal`, `current_working_directory`, \
                    `project_roots`, `tmpdir`, `slash_tmp`, `unknown`";
    let error = write(&mut client, &uri(&target_file), "x", &sandbox).await.unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (-32602, expected));
    let mut params = test_support::start_params("p", &["/bin/true"]);
    params["sandbox"] = sandbox;
    let error = client.request_error("process/start", params).await;
    assert_eq!((error.code, error.message.as_str()), (-32602, expected));

    // Codex's own `unknown` kind, a glob, an external sandbox, a `..` subpath: sandboxUnavailable.
    let refusals = [
        ("/permissions/file_system/entries/1/path", json!({"type": "special", "value": {"kind": "unknown"}})),
        ("/permissions/file_system/entries/1/path", json!({"type": "glob_pattern", "pattern": "**/*.rs"})),
        ("/permissions/file_system", json!({"type": "external-sandbox"})),
        (
            "/permissions/file_system/entries/1/path",
            json!({"type": "special", "value": {"kind": "project_roots", "subpath": "../x"}}),
        ),
        ("/policyContext/cwd", json!("file:///somewhere/else")),
    ];
    for (pointer, value) in refusals {
        let mut sandbox = workspace_write(scene.ws());
        *sandbox.pointer_mut(pointer).expect("pointer into the intent") = value;
        let error = write(&mut client, &uri(&target_file), "x", &sandbox).await.unwrap_err();
        assert_kind(&error, -32603, "sandboxUnavailable");
    }
    assert!(!target_file.exists(), "a refused write happened");
}

/// A server whose probe reports a mechanism missing (`EXEC_SANDBOX_WITHHOLD`, the knob that can
/// only take away) refuses every request that needs it, `process/start` and `fs/*` alike, with
/// -32603 `sandboxUnavailable`, and nothing runs or is written; requests that do not need it are
/// served as before.
#[tokio::test]
async fn a_mechanism_the_probe_lacks_refuses_the_requests_that_need_it() {
    let scene = Scene::new();
    let marker = scene.ws().join("ran");
    let script = format!("echo x > '{}'", text(&marker));
    for withheld in ["landlock", "seccomp", "all", "a typo"] {
        let server = target()
            .spawn_with(|command| {
                command.env("EXEC_SANDBOX_WITHHOLD", withheld);
            })
            .await;
        let mut client = connected(&server).await;
        for (id, sandbox) in [("ws", workspace_write(scene.ws())), ("ro", read_only(scene.ws()))] {
            let mut params = test_support::start_params(id, &["/bin/sh", "-c", &script]);
            params["cwd"] = json!(uri(scene.ws()));
            params["sandbox"] = sandbox.clone();
            let error = client.request_error("process/start", params).await;
            assert_kind(&error, -32603, "sandboxUnavailable");
            // Never started: the id is unknown, and the command left no trace.
            let read = client.request_error("process/read", json!({"processId": id, "afterSeq": 0})).await;
            assert_eq!(read.code, -32600, "{withheld} {id}: {read:?}");
            let error = write(&mut client, &uri(&scene.ws().join("file")), "x", &sandbox).await.unwrap_err();
            assert_kind(&error, -32603, "sandboxUnavailable");
        }
        assert!(!marker.exists() && !scene.ws().join("file").exists(), "{withheld}: a refused request ran");
        // Without an intent nothing changes.
        let mut params = test_support::start_params("free", &["/bin/sh", "-c", &script]);
        params["sandbox"] = Value::Null;
        client.request_ok("process/start", params).await;
        client.collect_until_closed("free").await;
        assert!(marker.exists(), "{withheld}: the unsandboxed start did not run");
        std::fs::remove_file(&marker).unwrap();
    }

    // Without a mount namespace (made directly or inside a user namespace) only read-only
    // carve-outs are refused: workspace-write with an existing `.git` is, read-only (no
    // carve-out) still runs confined.
    let server = target()
        .spawn_with(|command| {
            command.env("EXEC_SANDBOX_WITHHOLD", "mount-namespace,user-namespace");
        })
        .await;
    let mut client = connected(&server).await;
    let mut params = test_support::start_params("carve", &["/bin/sh", "-c", &script]);
    params["cwd"] = json!(uri(scene.ws()));
    params["sandbox"] = workspace_write(scene.ws());
    assert_kind(&client.request_error("process/start", params).await, -32603, "sandboxUnavailable");
    let error = write(&mut client, &uri(&scene.ws().join("file")), "x", &workspace_write(scene.ws())).await;
    assert_kind(&error.unwrap_err(), -32603, "sandboxUnavailable");
    let (code, denied, output) =
        run_sandboxed(&mut client, &scene, "ro", &read_only(scene.ws()), false, &script).await;
    assert_eq!((code, denied), (json!(1), json!(true)), "{output}");
    assert!(!marker.exists() && !scene.ws().join("file").exists(), "a refused request ran");
}

// ---------------------------------------------------------------------------------------------
// fs/* under the intent: the kernel decides, escapes fail closed

#[tokio::test]
async fn sandboxed_fs_writes_stay_inside_the_writable_roots() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let sandbox = workspace_write(scene.ws());

    // Inside: allowed, in both path forms.
    write(&mut client, &uri(&scene.ws().join("notes.txt")), "in", &sandbox).await.expect("write inside");
    write(&mut client, text(&scene.ws().join("plain.txt")), "in", &sandbox).await.expect("plain path inside");
    assert_eq!(std::fs::read_to_string(scene.ws().join("notes.txt")).unwrap(), "in");

    // Outside, directly: Landlock's EACCES, answered -32603 as the reference answers its EROFS
    // (the same refusal without a sandbox would be -32600).
    let outside = scene.out().join("new.txt");
    let error = write(&mut client, &uri(&outside), "x", &sandbox).await.unwrap_err();
    let expected = format!("cannot write {}: Permission denied (os error 13)", text(&outside));
    assert_eq!((error.code, error.message.as_str()), (-32603, expected.as_str()));
    // Outside through `..`.
    let dotdot =
        format!("{}/../{}/new.txt", text(scene.ws()), scene.out().file_name().unwrap().to_str().unwrap());
    assert_denied(&write(&mut client, &dotdot, "x", &sandbox).await.unwrap_err());
    // Outside through a symlink planted in the workspace (to the folder and to the file).
    std::os::unix::fs::symlink(scene.out(), scene.ws().join("door")).unwrap();
    std::os::unix::fs::symlink(scene.out().join("secret"), scene.ws().join("secret-link")).unwrap();
    assert_denied(
        &write(&mut client, &uri(&scene.ws().join("door/new.txt")), "x", &sandbox).await.unwrap_err(),
    );
    assert_denied(
        &write(&mut client, &uri(&scene.ws().join("secret-link")), "x", &sandbox).await.unwrap_err(),
    );
    assert!(!outside.exists(), "a write escaped the workspace");
    assert_eq!(std::fs::read_to_string(scene.out().join("secret")).unwrap(), "untouched");

    // A hard link to an outside file: the atomic write replaces the workspace name only.
    std::fs::hard_link(scene.out().join("secret"), scene.ws().join("hard")).unwrap();
    write(&mut client, &uri(&scene.ws().join("hard")), "replaced", &sandbox)
        .await
        .expect("write the link name");
    assert_eq!(std::fs::read_to_string(scene.out().join("secret")).unwrap(), "untouched");

    // Other write-side methods, outside.
    let error = client
        .request_error(
            "fs/createDirectory",
            json!({"path": uri(&scene.out().join("d")), "recursive": true, "sandbox": sandbox}),
        )
        .await;
    assert_denied(&error);
    let error = client
        .request_error(
            "fs/copy",
            json!({"sourcePath": uri(&scene.ws().join("notes.txt")),
            "destinationPath": uri(&scene.out().join("copy")), "recursive": false, "sandbox": sandbox}),
        )
        .await;
    assert_denied(&error);
    let error = client
        .request_error("fs/remove", json!({"path": uri(&scene.out().join("secret")), "recursive": false, "force": false, "sandbox": sandbox}))
        .await;
    assert_denied(&error);
    let error = client
        .request_error("fs/open", json!({"handleId": "h", "path": uri(&scene.out().join("streamed")), "mode": "replace", "sandbox": sandbox}))
        .await;
    assert_denied(&error);
    assert!(!scene.out().join("d").exists() && !scene.out().join("copy").exists());
    assert!(!scene.out().join("streamed").exists());
    assert_eq!(std::fs::read_to_string(scene.out().join("secret")).unwrap(), "untouched");

    // Reads outside are allowed (`root: read`).
    let read = client
        .request_ok("fs/readFile", json!({"path": uri(&scene.out().join("secret")), "sandbox": sandbox}))
        .await;
    assert_eq!(decode_base64(read["dataBase64"].as_str().unwrap()), b"untouched");
}

#[tokio::test]
async fn the_git_folder_stays_read_only_inside_a_writable_workspace() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let sandbox = workspace_write(scene.ws());
    let git = scene.ws().join(".git");

    let error = write(&mut client, &uri(&git.join("config")), "changed", &sandbox).await.unwrap_err();
    let expected = format!("cannot write {}: Read-only file system (os error 30)", text(&git.join("config")));
    assert_eq!((error.code, error.message.as_str()), (-32603, expected.as_str()));
    let error = write(&mut client, &uri(&git.join("new")), "x", &sandbox).await.unwrap_err();
    assert!(error.message.contains("Read-only file system"), "{error:?}");
    let error = client
        .request_error(
            "fs/remove",
            json!({"path": uri(&git), "recursive": true, "force": true, "sandbox": sandbox}),
        )
        .await;
    assert_eq!(error.code, -32603, "{error:?}");
    // Through a link elsewhere in the workspace, too.
    std::os::unix::fs::symlink(&git, scene.ws().join("git-link")).unwrap();
    let error =
        write(&mut client, &uri(&scene.ws().join("git-link/config")), "x", &sandbox).await.unwrap_err();
    assert!(error.message.contains("Read-only file system"), "{error:?}");
    assert_eq!(std::fs::read_to_string(git.join("config")).unwrap(), "original");
    assert!(!git.join("new").exists());
    // Beside it, the workspace is writable.
    write(&mut client, &uri(&scene.ws().join("beside.txt")), "ok", &sandbox)
        .await
        .expect("write beside .git");
}

#[tokio::test]
async fn read_only_refuses_every_write_and_allows_reads() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let sandbox = read_only(scene.ws());
    assert_denied(&write(&mut client, &uri(&scene.ws().join("x")), "x", &sandbox).await.unwrap_err());
    assert!(!scene.ws().join("x").exists());
    let read = client
        .request_ok("fs/readFile", json!({"path": uri(&scene.ws().join(".git/config")), "sandbox": sandbox}))
        .await;
    assert_eq!(decode_base64(read["dataBase64"].as_str().unwrap()), b"original");
    let metadata = client
        .request_ok(
            "fs/getMetadata",
            json!({"path": uri(&scene.ws().join(".git/config")), "sandbox": sandbox}),
        )
        .await;
    assert_eq!(metadata["size"], json!(8));
}

#[tokio::test]
async fn a_null_sandbox_changes_nothing() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let outside = scene.out().join("free.txt");
    write(&mut client, &uri(&outside), "free", &Value::Null).await.expect("unsandboxed write");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "free");
}

// ---------------------------------------------------------------------------------------------
// The rest of the 0.171 surface

#[tokio::test]
async fn canonicalize_answers_in_the_form_it_was_asked() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    std::fs::write(scene.ws().join("a.txt"), "a").unwrap();
    std::os::unix::fs::symlink("a.txt", scene.ws().join("link")).unwrap();
    let name = scene.ws().file_name().unwrap().to_str().unwrap();
    let canonical = std::fs::canonicalize(scene.ws().join("a.txt")).unwrap();

    let asked = format!("{}/../{name}/link", uri(scene.ws()));
    let result = client.request_ok("fs/canonicalize", json!({"path": asked})).await;
    assert_eq!(result, json!({"path": uri(&canonical)}));
    let asked = format!("{}/../{name}/link", text(scene.ws()));
    let result = client.request_ok("fs/canonicalize", json!({"path": asked})).await;
    assert_eq!(result, json!({"path": text(&canonical)}));
    let error =
        client.request_error("fs/canonicalize", json!({"path": uri(&scene.ws().join("missing"))})).await;
    assert_eq!(error.code, -32004, "{error:?}");
}

#[tokio::test]
async fn walk_is_bounded_and_says_when_it_stopped() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let ws = scene.ws();
    std::fs::write(ws.join("a.txt"), "a").unwrap();
    std::fs::create_dir(ws.join("sub")).unwrap();
    std::fs::write(ws.join("sub/b.txt"), "b").unwrap();
    std::os::unix::fs::symlink("a.txt", ws.join("file-link")).unwrap();
    std::os::unix::fs::symlink("sub", ws.join("dir-link")).unwrap();

    let walk = |depth: u32, entries: Option<u64>, follow: bool| {
        json!({"path": uri(ws), "sandbox": null,
               "options": {"maxDepth": depth, "maxEntries": entries, "maxDirectories": 10, "followDirectorySymlinks": follow}})
    };
    let entry = |path: &str, kind: &str| json!({"path": format!("{}/{path}", uri(ws)), "kind": kind});

    // Depth 1: the root's entries, names sorted; a link to a file is not listed; a directory left
    // unread at the limit makes the result truncated.
    let result = client.request_ok("fs/walk", walk(1, None, false)).await;
    assert_eq!(
        result,
        json!({"entries": [entry(".git", "directory"), entry("a.txt", "file"), entry("sub", "directory")],
               "errors": [], "truncated": true})
    );
    // Deep enough: everything, parents before children, not truncated; a followed directory link
    // is listed as a directory, and a directory reached twice is descended once, at its first name.
    let result = client.request_ok("fs/walk", walk(5, None, true)).await;
    assert_eq!(result["truncated"], json!(false), "{result}");
    let paths: Vec<&str> =
        result["entries"].as_array().unwrap().iter().map(|entry| entry["path"].as_str().unwrap()).collect();
    let relative: Vec<String> =
        paths.iter().map(|path| path.trim_start_matches(&uri(ws)).to_owned()).collect();
    assert_eq!(relative, ["/.git", "/a.txt", "/dir-link", "/sub", "/.git/config", "/dir-link/b.txt"]);
    // maxEntries counts the walked directory itself, as the reference does.
    let result = client.request_ok("fs/walk", walk(5, Some(3), false)).await;
    assert_eq!(
        result,
        json!({"entries": [entry(".git", "directory"), entry("a.txt", "file")], "errors": [], "truncated": true})
    );
    // Plain paths in, plain paths out.
    let result = client.request_ok("fs/walk", json!({"path": text(ws), "options": {"maxDepth": 1}})).await;
    assert_eq!(result["entries"][0]["path"], json!(format!("{}/.git", text(ws))));

    // A file is not walked.
    let file = ws.join("a.txt");
    let error =
        client.request_error("fs/walk", json!({"path": uri(&file), "options": {"maxDepth": 1}})).await;
    let expected = format!("cannot walk {}: not a directory", text(&file));
    assert_eq!((error.code, error.message.as_str()), (-32600, expected.as_str()));

    // The reference's required fields.
    let error = client.request_error("fs/walk", json!({"path": uri(ws)})).await;
    assert_eq!((error.code, error.message.as_str()), (-32602, "missing field `options`"));
    let error = client.request_error("fs/walk", json!({"path": uri(ws), "options": {}})).await;
    assert_eq!((error.code, error.message.as_str()), (-32602, "missing field `maxDepth`"));
}

#[tokio::test]
async fn chunked_reads_match_the_reference() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let file = scene.ws().join("a.txt");
    std::fs::write(&file, "hello probe\n").unwrap();

    let opened = client
        .request_ok("fs/open", json!({"handleId": "h1", "path": uri(&file), "mode": "read", "sandbox": null}))
        .await;
    assert_eq!(opened, json!({"handleId": "h1"}));
    let block = client.request_ok("fs/readBlock", json!({"handleId": "h1", "offset": 0, "len": 5})).await;
    assert_eq!(block, json!({"chunk": "aGVsbG8=", "eof": false}));
    let block = client.request_ok("fs/readBlock", json!({"handleId": "h1", "offset": 5, "len": 100})).await;
    assert_eq!(block, json!({"chunk": "IHByb2JlCg==", "eof": true}));
    let error =
        client.request_error("fs/writeBlock", json!({"handleId": "h1", "offset": 0, "chunk": "eA=="})).await;
    assert_eq!((error.code, error.message.as_str()), (-32600, "file handle `h1` is open for read"));
    assert_eq!(client.request_ok("fs/close", json!({"handleId": "h1"})).await, json!({}));
    let error = client.request_error("fs/readBlock", json!({"handleId": "h1", "offset": 0, "len": 5})).await;
    assert_eq!((error.code, error.message.as_str()), (-32004, "unknown file handle `h1`"));
    let error = client.request_error("fs/close", json!({"handleId": "h1"})).await;
    assert_eq!(error.code, -32004);

    // `mode` may be omitted; a handle id in use is refused.
    client.request_ok("fs/open", json!({"handleId": "h2", "path": text(&file)})).await;
    let error = client.request_error("fs/open", json!({"handleId": "h2", "path": text(&file)})).await;
    assert_eq!((error.code, error.message.as_str()), (-32600, "file handle `h2` is already open"));
    // Special files are refused as for readFile.
    let error = client.request_error("fs/open", json!({"handleId": "h3", "path": "/dev/zero"})).await;
    assert_eq!(error.code, -32600, "{error:?}");
}

#[tokio::test]
async fn chunked_replace_is_atomic_at_close_and_bounded() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let sandbox = workspace_write(scene.ws());
    let file = scene.ws().join("b.txt");
    std::fs::write(&file, "old").unwrap();

    client
        .request_ok(
            "fs/open",
            json!({"handleId": "w", "path": uri(&file), "mode": "replace", "sandbox": sandbox}),
        )
        .await;
    client
        .request_ok("fs/writeBlock", json!({"handleId": "w", "offset": 0, "chunk": encode_base64(b"new ")}))
        .await;
    client
        .request_ok(
            "fs/writeBlock",
            json!({"handleId": "w", "offset": 4, "chunk": encode_base64(b"content")}),
        )
        .await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "old", "visible before close");
    let error = client.request_error("fs/readBlock", json!({"handleId": "w", "offset": 0, "len": 5})).await;
    assert_eq!((error.code, error.message.as_str()), (-32600, "file handle `w` is open for replace"));
    let error = client
        .request_error(
            "fs/writeBlock",
            json!({"handleId": "w", "offset": 17_179_869_184u64, "chunk": "eA=="}),
        )
        .await;
    assert_eq!(error.message, "file handle `w`: a block beyond 17179869184 bytes is refused");
    client.request_ok("fs/close", json!({"handleId": "w"})).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "new content");
    assert_eq!(names(scene.ws()), [".git", "b.txt"]);

    // The per-connection bound on open handles.
    for index in 0..64 {
        client.request_ok("fs/open", json!({"handleId": format!("r{index}"), "path": uri(&file)})).await;
    }
    let error =
        client.request_error("fs/open", json!({"handleId": "one-too-many", "path": uri(&file)})).await;
    assert_eq!(
        (error.code, error.message.as_str()),
        (-32600, "too many open file handles (limit 64); close one first")
    );
}

#[tokio::test]
async fn an_unfinished_replace_is_discarded_when_the_connection_ends() {
    let server = target().spawn().await;
    let scene = Scene::new();
    let file = scene.ws().join("c.txt");
    std::fs::write(&file, "kept").unwrap();
    {
        let mut client = connected(&server).await;
        client.request_ok("fs/open", json!({"handleId": "w", "path": uri(&file), "mode": "replace"})).await;
        client
            .request_ok(
                "fs/writeBlock",
                json!({"handleId": "w", "offset": 0, "chunk": encode_base64(b"lost")}),
            )
            .await;
        assert_eq!(names(scene.ws()).len(), 3, "the new version waits in a temporary file");
    }
    // The temporary file goes when the server notices the closed connection.
    let deadline = Instant::now() + DEFAULT_DEADLINE;
    while names(scene.ws()).len() != 2 {
        assert!(Instant::now() < deadline, "temporary file left behind: {:?}", names(scene.ws()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "kept");
}

fn names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn follow_symlinks_false_refuses_links_like_the_reference() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    std::fs::write(scene.ws().join("a.txt"), "a").unwrap();
    std::os::unix::fs::symlink("a.txt", scene.ws().join("link")).unwrap();
    let link = uri(&scene.ws().join("link"));

    let error = client.request_error("fs/readFile", json!({"path": link, "followSymlinks": false})).await;
    assert!(error.code == -32603 && error.message.ends_with("(os error 40)"), "{error:?}");
    let error = client.request_error("fs/getMetadata", json!({"path": link, "followSymlinks": false})).await;
    assert_eq!((error.code, error.message.as_str()), (-32600, "path contains a symbolic link"));
    let data = encode_base64(b"x");
    let error = client
        .request_error("fs/writeFile", json!({"path": link, "dataBase64": data, "followSymlinks": false}))
        .await;
    assert!(error.code == -32603 && error.message.ends_with("(os error 40)"), "{error:?}");
    let error = client
        .request_error(
            "fs/createDirectory",
            json!({"path": link, "recursive": true, "followSymlinks": false}),
        )
        .await;
    assert!(error.message.ends_with("(os error 40)"), "{error:?}");
    assert_eq!(std::fs::read_to_string(scene.ws().join("a.txt")).unwrap(), "a");

    // Following (the default) reads through the link, and getMetadata always has a size.
    let metadata = client.request_ok("fs/getMetadata", json!({"path": link, "sandbox": null})).await;
    assert_eq!(
        (metadata["isSymlink"].clone(), metadata["isFile"].clone(), metadata["size"].clone()),
        (json!(true), json!(true), json!(1))
    );
    // `fs/remove` removes the link itself, whatever the flag says.
    client.request_ok("fs/remove", json!({"path": link, "followSymlinks": true})).await;
    assert!(scene.ws().join("a.txt").exists() && !scene.ws().join("link").exists());
}

#[tokio::test]
async fn write_file_accepts_a_write_id_and_both_path_forms() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let file = scene.ws().join("w.txt");
    for (path, data) in [(uri(&file), "one"), (text(&file).to_owned(), "two")] {
        let params = json!({"path": path, "dataBase64": encode_base64(data.as_bytes()), "writeId": "1"});
        client.request_ok("fs/writeFile", params).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), data);
    }
}

#[tokio::test]
async fn watch_missing_pushes_a_change_when_a_watched_path_appears_or_goes() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let ws = scene.ws();
    let skills = ws.join(".agents/skills");
    let agents = ws.join("AGENTS.md");
    std::fs::write(ws.join("present.txt"), "x").unwrap();
    let params = json!({"watchId": 1, "present": null, "sandbox": null,
                        "missing": [uri(&skills), uri(&agents), "file:///.git"]});
    assert_eq!(client.request_ok("fs/watchMissing", params).await, json!({"watching": true}));

    // A missing path appears: its nearest existing ancestor (the workspace) sees `.agents`.
    std::fs::create_dir(ws.join(".agents")).unwrap();
    let notification = client.next_notification(DEFAULT_DEADLINE).await;
    assert_eq!(
        (notification.method.as_str(), notification.params.clone()),
        ("fs/missingChanged", json!({"watchId": 1}))
    );

    // A present path goes away (another id, a string this time, echoed as sent).
    let params = json!({"watchId": "gone", "missing": [], "present": [text(&ws.join("present.txt"))]});
    client.request_ok("fs/watchMissing", params).await;
    std::fs::remove_file(ws.join("present.txt")).unwrap();
    let mut seen = Vec::new();
    while !seen.contains(&json!({"watchId": "gone"})) {
        let notification = client.next_notification(DEFAULT_DEADLINE).await;
        assert_eq!(notification.method, "fs/missingChanged");
        seen.push(notification.params);
    }
}

#[tokio::test]
async fn watch_missing_is_bounded() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let too_many: Vec<String> = (0..257).map(|index| format!("/nonexistent/{index}")).collect();
    let error = client.request_error("fs/watchMissing", json!({"watchId": 1, "missing": too_many})).await;
    assert_eq!(
        (error.code, error.message.as_str()),
        (-32600, "fs/watchMissing names 257 paths; the limit is 256")
    );
    for index in 0..64 {
        client.request_ok("fs/watchMissing", json!({"watchId": index, "missing": ["/nonexistent"]})).await;
    }
    // Registering an existing id again replaces it; a new one past the limit is refused.
    client.request_ok("fs/watchMissing", json!({"watchId": 3, "missing": ["/nonexistent/x"]})).await;
    let error =
        client.request_error("fs/watchMissing", json!({"watchId": 64, "missing": ["/nonexistent"]})).await;
    assert_eq!((error.code, error.message.as_str()), (-32600, "too many watches (limit 64)"));
    let error = client.request_error("fs/watchMissing", json!({"watchId": 3, "missing": ["relative"]})).await;
    assert_eq!((error.code, error.message.as_str()), (-32600, "path must be absolute: relative"));
}

#[tokio::test]
async fn an_atomic_write_of_a_watched_path_notifies_once() {
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let (ws, out) = (scene.ws(), scene.out());
    client
        .request_ok("fs/watchMissing", json!({"watchId": 1, "missing": [uri(&ws.join("AGENTS.md"))]}))
        .await;
    client.request_ok("fs/watchMissing", json!({"watchId": 2, "missing": [uri(&out.join("marker"))]})).await;
    let data = encode_base64(b"# agents");
    client.request_ok("fs/writeFile", json!({"path": uri(&ws.join("AGENTS.md")), "dataBase64": data})).await;
    // One inotify queue keeps the order: every event of the write comes before the marker's.
    std::fs::create_dir(out.join("marker")).unwrap();
    let mut seen = Vec::new();
    while seen.last() != Some(&json!(2)) {
        let notification = client.next_notification(DEFAULT_DEADLINE).await;
        assert_eq!(notification.method, "fs/missingChanged");
        seen.push(notification.params["watchId"].clone());
    }
    assert_eq!(seen, [json!(1), json!(2)], "the temporary file of the atomic write notified too");
}

// ---------------------------------------------------------------------------------------------
// Without CAP_SYS_ADMIN (the shipped deployments): the server as an unprivileged user

/// Set for the unprivileged run of this module.
const UNPRIVILEGED_RUN: &str = "EXEC_SERVER_UNPRIVILEGED_RUN";

/// Run as root, this module's tests again as uid 65534, where the carve-outs of a
/// `workspace-write` intent (`.git`) come from a user namespace: commands and every `fs/*` read
/// under it work, and only `fs/*` writes under it are refused (the three tests skipped here;
/// `inner_unprivileged_fs_writes_with_carve_outs_are_refused` checks that instead).
#[test]
fn as_an_unprivileged_user() {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return eprintln!("not root: this module runs unprivileged already");
    }
    let mut command = std::process::Command::new(std::env::current_exe().expect("this test binary"));
    command.args(["codex171::", "--test-threads=2"]);
    for skipped in [
        "codex171::as_an_unprivileged_user",
        "codex171::sandboxed_fs_writes_stay_inside_the_writable_roots",
        "codex171::chunked_replace_is_atomic_at_close_and_bounded",
        "codex171::the_git_folder_stays_read_only_inside_a_writable_workspace",
    ] {
        command.args(["--skip", skipped]);
    }
    let output = command
        .env(UNPRIVILEGED_RUN, "1")
        .env("TMPDIR", std::env::temp_dir())
        .uid(65534)
        .gid(65534)
        .current_dir("/")
        .output()
        .expect("run this module as an unprivileged user");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("test result: ok.") && !stdout.contains(" 0 passed"),
        "as uid 65534: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// In the unprivileged run: `fs/*` reads under a `workspace-write` intent with a `.git` work
/// (confined with read rights only, no carve-out needed), writes are refused with
/// `sandboxUnavailable` (a thread of the server cannot enter a user namespace) and write
/// nothing, and a command under the same intent keeps `.git` read-only.
#[tokio::test]
async fn inner_unprivileged_fs_writes_with_carve_outs_are_refused() {
    if std::env::var_os(UNPRIVILEGED_RUN).is_none() {
        return;
    }
    let server = target().spawn().await;
    let mut client = connected(&server).await;
    let scene = Scene::new();
    let sandbox = workspace_write(scene.ws());
    let git_config = scene.ws().join(".git/config");
    let read = client.request_ok("fs/readFile", json!({"path": uri(&git_config), "sandbox": sandbox})).await;
    assert_eq!(decode_base64(read["dataBase64"].as_str().unwrap()), b"original");
    let listing =
        client.request_ok("fs/readDirectory", json!({"path": uri(scene.ws()), "sandbox": sandbox})).await;
    assert!(listing.to_string().contains(".git"), "{listing}");
    let beside = scene.ws().join("beside.txt");
    let error = write(&mut client, &uri(&beside), "x", &sandbox).await.unwrap_err();
    assert_kind(&error, -32603, "sandboxUnavailable");
    assert!(!beside.exists());

    let script = format!("echo x > '{}'; echo y > '{}'", text(&git_config), text(&beside));
    let mut params = test_support::start_params("git", &["/bin/sh", "-c", &script]);
    params["cwd"] = json!(uri(scene.ws()));
    params["sandbox"] = sandbox;
    let result = client.request_ok("process/start", params).await;
    assert_eq!(result["sandboxType"], json!("linuxSeccomp"));
    let run = client.collect_until_closed("git").await;
    assert!(String::from_utf8_lossy(&run.output()).contains("Read-only file system"), "{run:?}");
    assert_eq!(std::fs::read_to_string(&git_config).unwrap(), "original");
    assert_eq!(std::fs::read_to_string(&beside).unwrap(), "y\n");
}
