//! Golden JSON for every message type: what decodes, with which defaults, and how it re-encodes.
//!
//! Each case is one line: a wire type name, an input, and the expected canonical output (`ok:`) or
//! the wire error (`error CODE:`). The inputs that look like Codex traffic were captured from the
//! peer (`@openai/codex@0.123.0`); the expectations pin its names, defaults and error texts.
//! Regenerate with `UPDATE_EXPECT=1 cargo test -p exec-protocol` and review the diff.

use expect_test::{Expect, expect};

use crate::registry;

#[track_caller]
fn check(type_name: &str, input: &str, expect: Expect) {
    let actual = match registry::decode(type_name, input) {
        Ok(json) => format!("ok: {json}"),
        Err(error) => format!("error {}: {}", error.code, error.message),
    };
    expect.assert_eq(&actual);
}

#[test]
fn initialize() {
    check("InitializeParams", r#"{"clientName":"codex"}"#, expect![[r#"ok: {"clientName":"codex"}"#]]);
    check(
        "InitializeParams",
        r#"{"clientName":"codex","resumeSessionId":null}"#,
        expect![[r#"ok: {"clientName":"codex"}"#]],
    );
    check(
        "InitializeParams",
        r#"{"clientName":"codex","resumeSessionId":"5a04"}"#,
        expect![[r#"ok: {"clientName":"codex","resumeSessionId":"5a04"}"#]],
    );
    check(
        "InitializeParams",
        r#"{"clientName":"codex","unknown":1}"#,
        expect![[r#"ok: {"clientName":"codex"}"#]],
    );
    check("InitializeParams", r#"{}"#, expect!["error -32602: missing field `clientName`"]);
    check(
        "InitializeParams",
        r#"null"#,
        expect!["error -32602: invalid type: null, expected struct InitializeParams"],
    );
    check(
        "InitializeResponse",
        r#"{"sessionId":"7049ee32-d6ec-4f27-918e-8e631d3d459a"}"#,
        expect![[r#"ok: {"sessionId":"7049ee32-d6ec-4f27-918e-8e631d3d459a"}"#]],
    );
    check(
        "InitializeResponse",
        r#"{"sessionId":"s","serverInfo":{"name":"exec-server","version":"0.0.0"},"capabilities":["process/signal","fs"]}"#,
        expect![[
            r#"ok: {"sessionId":"s","serverInfo":{"name":"exec-server","version":"0.0.0"},"capabilities":["process/signal","fs"]}"#
        ]],
    );
    check(
        "InitializeResponse",
        r#"{"sessionId":"s","capabilities":[]}"#,
        expect![[r#"ok: {"sessionId":"s"}"#]],
    );
}

#[test]
fn process_start() {
    // The inline wait (`startWait`): `maxBytes` optional; the answer's `read` is a read result.
    check(
        "ProcessStartParams",
        r#"{"processId":"w","argv":["true"],"cwd":"/","env":{},"tty":false,"wait":{"timeoutMs":500}}"#,
        expect![[
            r#"ok: {"processId":"w","argv":["true"],"cwd":"/","env":{},"tty":false,"pipeStdin":false,"arg0":null,"wait":{"timeoutMs":500}}"#
        ]],
    );
    check(
        "ProcessStartResponse",
        r#"{"processId":"w","sandboxType":"none","read":{"chunks":[],"nextSeq":3,"exited":true,"exitCode":0,"closed":true,"failure":null,"sandboxDenied":false}}"#,
        expect![[
            r#"ok: {"processId":"w","sandboxType":"none","read":{"chunks":[],"nextSeq":3,"exited":true,"exitCode":0,"closed":true,"failure":null,"sandboxDenied":false}}"#
        ]],
    );
    // What a Codex client sends: no pipeStdin, arg0 null.
    check(
        "ProcessStartParams",
        r#"{"processId":"p1","argv":["true"],"cwd":"/tmp","env":{},"tty":false,"arg0":null}"#,
        expect![[
            r#"ok: {"processId":"p1","argv":["true"],"cwd":"/tmp","env":{},"tty":false,"pipeStdin":false,"arg0":null}"#
        ]],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"p1","argv":["true"],"cwd":"/tmp","env":{},"tty":false}"#,
        expect![[
            r#"ok: {"processId":"p1","argv":["true"],"cwd":"/tmp","env":{},"tty":false,"pipeStdin":false,"arg0":null}"#
        ]],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"p1","argv":["sh","-c","echo $0"],"cwd":"/tmp","env":{"B":"2","A":"1"},"tty":false,"pipeStdin":true,"arg0":"zzz"}"#,
        expect![[
            r#"ok: {"processId":"p1","argv":["sh","-c","echo $0"],"cwd":"/tmp","env":{"A":"1","B":"2"},"tty":false,"pipeStdin":true,"arg0":"zzz"}"#
        ]],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"t","argv":["sh"],"cwd":"/","env":{},"tty":true,"arg0":null,"size":{"rows":24,"cols":80}}"#,
        expect![[
            r#"ok: {"processId":"t","argv":["sh"],"cwd":"/","env":{},"tty":true,"pipeStdin":false,"arg0":null,"size":{"rows":24,"cols":80}}"#
        ]],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"e","argv":["env"],"cwd":"/","env":{"FOO":"bar"},"tty":false,"arg0":null,"envPolicy":{"inherit":"core","ignoreDefaultExcludes":false,"exclude":["AWS_*"],"set":{"S":"1"},"includeOnly":[]}}"#,
        expect![[
            r#"ok: {"processId":"e","argv":["env"],"cwd":"/","envPolicy":{"inherit":"core","ignoreDefaultExcludes":false,"exclude":["AWS_*"],"set":{"S":"1"},"includeOnly":[]},"env":{"FOO":"bar"},"tty":false,"pipeStdin":false,"arg0":null}"#
        ]],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"p","argv":[],"cwd":"/","env":{},"tty":false}"#,
        expect![[
            r#"ok: {"processId":"p","argv":[],"cwd":"/","env":{},"tty":false,"pipeStdin":false,"arg0":null}"#
        ]],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"p","argv":["x"],"cwd":"/","tty":false,"arg0":null}"#,
        expect!["error -32602: missing field `env`"],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"p","argv":["x"],"cwd":"/","env":{}}"#,
        expect!["error -32602: missing field `tty`"],
    );
    check(
        "ProcessStartParams",
        r#"{"argv":["x"],"cwd":"/","env":{},"tty":false}"#,
        expect!["error -32602: missing field `processId`"],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":5,"argv":["x"],"cwd":"/","env":{},"tty":false}"#,
        expect!["error -32602: invalid type: integer `5`, expected a string"],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"p","argv":["x"],"cwd":"/","env":{"A":1},"tty":false}"#,
        expect!["error -32602: invalid type: integer `1`, expected a string"],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"p","argv":["x"],"cwd":"/","env":{},"tty":"no"}"#,
        expect![[r#"error -32602: invalid type: string "no", expected a boolean"#]],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"p","argv":["x"],"cwd":"/","env":{},"tty":false,"sandbox":null,"bogusField":1}"#,
        expect![[
            r#"ok: {"processId":"p","argv":["x"],"cwd":"/","env":{},"tty":false,"pipeStdin":false,"arg0":null}"#
        ]],
    );
    check("ProcessStartResponse", r#"{"processId":"p1"}"#, expect![[r#"ok: {"processId":"p1"}"#]]);
}

#[test]
fn env_policy() {
    check(
        "EnvPolicy",
        r#"{"inherit":"all","ignoreDefaultExcludes":true,"exclude":["*"],"set":{},"includeOnly":["PATH"]}"#,
        expect![[
            r#"ok: {"inherit":"all","ignoreDefaultExcludes":true,"exclude":["*"],"set":{},"includeOnly":["PATH"]}"#
        ]],
    );
    check(
        "EnvPolicy",
        r#"{"inherit":"none"}"#,
        expect![[
            r#"ok: {"inherit":"none","ignoreDefaultExcludes":false,"exclude":[],"set":{},"includeOnly":[]}"#
        ]],
    );
    check(
        "EnvPolicy",
        r#"{"inherit":"Core"}"#,
        expect!["error -32602: unknown variant `Core`, expected one of `all`, `core`, `none`"],
    );
    check("EnvPolicy", r#"{"exclude":[]}"#, expect!["error -32602: missing field `inherit`"]);
}

#[test]
fn process_read() {
    check(
        "ProcessReadParams",
        r#"{"processId":"p1"}"#,
        expect![[r#"ok: {"processId":"p1","afterSeq":null,"maxBytes":null,"waitMs":null}"#]],
    );
    check(
        "ProcessReadParams",
        r#"{"processId":"c","afterSeq":0,"maxBytes":100,"waitMs":100}"#,
        expect![[r#"ok: {"processId":"c","afterSeq":0,"maxBytes":100,"waitMs":100}"#]],
    );
    check(
        "ProcessReadParams",
        r#"{"processId":"s","afterSeq":-1}"#,
        expect!["error -32602: invalid value: integer `-1`, expected u64"],
    );
    check(
        "ProcessReadParams",
        r#"null"#,
        expect!["error -32602: invalid type: null, expected struct ProcessReadParams"],
    );
    // Captured from the peer: a finished process, and a running one with nothing new.
    check(
        "ProcessReadResponse",
        r#"{"chunks":[{"seq":1,"stream":"stdout","chunk":"aGkK"},{"seq":2,"stream":"stderr","chunk":"ZXJyCg=="}],"nextSeq":3,"exited":true,"exitCode":3,"closed":true,"failure":null}"#,
        expect![[
            r#"ok: {"chunks":[{"seq":1,"stream":"stdout","chunk":"aGkK"},{"seq":2,"stream":"stderr","chunk":"ZXJyCg=="}],"nextSeq":3,"exited":true,"exitCode":3,"closed":true,"failure":null}"#
        ]],
    );
    check(
        "ProcessReadResponse",
        r#"{"chunks":[],"nextSeq":1,"exited":false,"exitCode":null,"closed":false,"failure":null}"#,
        expect![[
            r#"ok: {"chunks":[],"nextSeq":1,"exited":false,"exitCode":null,"closed":false,"failure":null}"#
        ]],
    );
    check(
        "ProcessReadResponse",
        r#"{"chunks":[{"seq":7,"stream":"pty","chunk":""}],"nextSeq":8,"exited":false,"exitCode":null,"closed":false,"failure":"spawn failed","droppedBefore":7}"#,
        expect![[
            r#"ok: {"chunks":[{"seq":7,"stream":"pty","chunk":""}],"nextSeq":8,"exited":false,"exitCode":null,"closed":false,"failure":"spawn failed","droppedBefore":7}"#
        ]],
    );
    check(
        "ProcessReadResponse",
        r#"{"chunks":[{"seq":1,"stream":"stdin","chunk":""}],"nextSeq":2,"exited":false,"exitCode":null,"closed":false,"failure":null}"#,
        expect!["error -32602: unknown variant `stdin`, expected one of `stdout`, `stderr`, `pty`"],
    );
}

#[test]
fn process_write() {
    check(
        "ProcessWriteParams",
        r#"{"processId":"c","chunk":"aGkK"}"#,
        expect![[r#"ok: {"processId":"c","chunk":"aGkK"}"#]],
    );
    check(
        "ProcessWriteParams",
        r#"{"processId":"c","chunk":"","eof":true,"writeId":"w1"}"#,
        expect![[r#"ok: {"processId":"c","chunk":"","eof":true,"writeId":"w1"}"#]],
    );
    check(
        "ProcessWriteParams",
        r#"{"processId":"c","chunk":"aGkK","eof":false}"#,
        expect![[r#"ok: {"processId":"c","chunk":"aGkK"}"#]],
    );
    check(
        "ProcessWriteParams",
        r#"{"processId":"c","chunk":"aGk"}"#,
        expect!["error -32602: Invalid padding"],
    );
    check(
        "ProcessWriteParams",
        r#"{"processId":"c","chunk":"a-_K"}"#,
        expect!["error -32602: Invalid symbol 45, offset 1."],
    );
    check("ProcessWriteParams", r#"{"processId":"c"}"#, expect!["error -32602: missing field `chunk`"]);
    check("ProcessWriteResponse", r#"{"status":"accepted"}"#, expect![[r#"ok: {"status":"accepted"}"#]]);
    check(
        "ProcessWriteResponse",
        r#"{"status":"unknownProcess"}"#,
        expect![[r#"ok: {"status":"unknownProcess"}"#]],
    );
    check(
        "ProcessWriteResponse",
        r#"{"status":"stdinClosed"}"#,
        expect![[r#"ok: {"status":"stdinClosed"}"#]],
    );
    check("ProcessWriteResponse", r#"{"status":"starting"}"#, expect![[r#"ok: {"status":"starting"}"#]]);
    check(
        "ProcessWriteResponse",
        r#"{"status":"stdin_closed"}"#,
        expect![
            "error -32602: unknown variant `stdin_closed`, expected one of `accepted`, `unknownProcess`, `stdinClosed`, `starting`"
        ],
    );
}

#[test]
fn process_terminate() {
    check("ProcessTerminateParams", r#"{"processId":"c"}"#, expect![[r#"ok: {"processId":"c"}"#]]);
    check(
        "ProcessTerminateParams",
        r#"{"processId":"c","graceMs":500}"#,
        expect![[r#"ok: {"processId":"c","graceMs":500}"#]],
    );
    check("ProcessTerminateResponse", r#"{"running":true}"#, expect![[r#"ok: {"running":true}"#]]);
    check("ProcessTerminateResponse", r#"{"running":false}"#, expect![[r#"ok: {"running":false}"#]]);
}

#[test]
fn process_signal_resize_list() {
    for signal in ["interrupt", "terminate", "kill", "hangup", "quit", "user1", "user2"] {
        let input = format!(r#"{{"processId":"c","signal":"{signal}"}}"#);
        let output = registry::decode("ProcessSignalParams", &input).unwrap();
        assert_eq!(output, input);
    }
    check(
        "ProcessSignalParams",
        r#"{"processId":"c","signal":"SIGINT"}"#,
        expect![
            "error -32602: unknown variant `SIGINT`, expected one of `interrupt`, `terminate`, `kill`, `hangup`, `quit`, `user1`, `user2`"
        ],
    );
    check("ProcessSignalResponse", r#"{}"#, expect!["ok: {}"]);
    check(
        "ProcessResizeParams",
        r#"{"processId":"t","rows":50,"cols":132}"#,
        expect![[r#"ok: {"processId":"t","rows":50,"cols":132}"#]],
    );
    check(
        "ProcessResizeParams",
        r#"{"processId":"t","rows":70000,"cols":1}"#,
        expect!["error -32602: invalid value: integer `70000`, expected u16"],
    );
    check("ProcessResizeResponse", r#"{}"#, expect!["ok: {}"]);
    check("ProcessListParams", r#"{}"#, expect!["ok: {}"]);
    check("ProcessListParams", r#"null"#, expect!["ok: {}"]);
    check("ProcessListParams", r#"{"all":true}"#, expect!["error -32602: process/list takes no params"]);
    check("ProcessListParams", r#"[1]"#, expect!["error -32602: invalid type: sequence, expected a map"]);
    check(
        "ProcessListResponse",
        r#"{"processes":[{"processId":"a","argv":["sleep","9"],"pid":4242,"tty":false,"running":true,"exitCode":null,"nextSeq":1},{"processId":"b","argv":["true"],"pid":4243,"tty":true,"running":false,"exitCode":0,"nextSeq":3}]}"#,
        expect![[
            r#"ok: {"processes":[{"processId":"a","argv":["sleep","9"],"pid":4242,"tty":false,"running":true,"exitCode":null,"nextSeq":1},{"processId":"b","argv":["true"],"pid":4243,"tty":true,"running":false,"exitCode":0,"nextSeq":3}]}"#
        ]],
    );
}

#[test]
fn process_notifications() {
    check(
        "ProcessOutputNotification",
        r#"{"processId":"p1","seq":1,"stream":"stdout","chunk":"aGkK"}"#,
        expect![[r#"ok: {"processId":"p1","seq":1,"stream":"stdout","chunk":"aGkK"}"#]],
    );
    check(
        "ProcessOutputNotification",
        r#"{"processId":"t1","seq":2,"stream":"pty","chunk":"MjQgODANCg=="}"#,
        expect![[r#"ok: {"processId":"t1","seq":2,"stream":"pty","chunk":"MjQgODANCg=="}"#]],
    );
    check(
        "ProcessExitedNotification",
        r#"{"processId":"p1","seq":3,"exitCode":3}"#,
        expect![[r#"ok: {"processId":"p1","seq":3,"exitCode":3}"#]],
    );
    check(
        "ProcessExitedNotification",
        r#"{"processId":"c","seq":2,"exitCode":-1}"#,
        expect![[r#"ok: {"processId":"c","seq":2,"exitCode":-1}"#]],
    );
    check(
        "ProcessExitedNotification",
        r#"{"processId":"c","seq":2,"exitCode":137,"signal":9}"#,
        expect![[r#"ok: {"processId":"c","seq":2,"exitCode":137,"signal":9}"#]],
    );
    check(
        "ProcessExitedNotification",
        r#"{"processId":"c","seq":2}"#,
        expect!["error -32602: missing field `exitCode`"],
    );
    check(
        "ProcessClosedNotification",
        r#"{"processId":"p1","seq":4}"#,
        expect![[r#"ok: {"processId":"p1","seq":4}"#]],
    );
}

#[test]
fn fs() {
    check("FsReadFileParams", r#"{"path":"/tmp/a.txt"}"#, expect![[r#"ok: {"path":"/tmp/a.txt"}"#]]);
    check(
        "FsReadFileParams",
        r#"{"path":"/tmp/a.txt","sandbox":null}"#,
        expect![[r#"ok: {"path":"/tmp/a.txt"}"#]],
    );
    check("FsReadFileParams", r#"{}"#, expect!["error -32602: missing field `path`"]);
    check(
        "FsReadFileResponse",
        r#"{"dataBase64":"aGVsbG8K"}"#,
        expect![[r#"ok: {"dataBase64":"aGVsbG8K"}"#]],
    );
    check(
        "FsWriteFileParams",
        r#"{"path":"/tmp/b.txt","dataBase64":"aGkK"}"#,
        expect![[r#"ok: {"path":"/tmp/b.txt","dataBase64":"aGkK"}"#]],
    );
    // Kept as text: the server reports bad base64 itself, as the peer does.
    check(
        "FsWriteFileParams",
        r#"{"path":"/tmp/b.txt","dataBase64":"aGk"}"#,
        expect![[r#"ok: {"path":"/tmp/b.txt","dataBase64":"aGk"}"#]],
    );
    check("FsWriteFileResponse", r#"{}"#, expect!["ok: {}"]);
    check("FsCreateDirectoryParams", r#"{"path":"/tmp/d/e"}"#, expect![[r#"ok: {"path":"/tmp/d/e"}"#]]);
    check(
        "FsCreateDirectoryParams",
        r#"{"path":"/tmp/d/e","recursive":false}"#,
        expect![[r#"ok: {"path":"/tmp/d/e","recursive":false}"#]],
    );
    check("FsCreateDirectoryResponse", r#"{}"#, expect!["ok: {}"]);
    check("FsGetMetadataParams", r#"{"path":"/tmp/a.txt"}"#, expect![[r#"ok: {"path":"/tmp/a.txt"}"#]]);
    check(
        "FsGetMetadataResponse",
        r#"{"isDirectory":false,"isFile":true,"isSymlink":false,"createdAtMs":0,"modifiedAtMs":1795531209010}"#,
        expect![[
            r#"ok: {"isDirectory":false,"isFile":true,"isSymlink":false,"createdAtMs":0,"modifiedAtMs":1795531209010}"#
        ]],
    );
    check(
        "FsGetMetadataResponse",
        r#"{"isDirectory":false,"isFile":true,"isSymlink":false,"createdAtMs":0,"modifiedAtMs":1,"size":6}"#,
        expect![[
            r#"ok: {"isDirectory":false,"isFile":true,"isSymlink":false,"createdAtMs":0,"modifiedAtMs":1,"size":6}"#
        ]],
    );
    check("FsReadDirectoryParams", r#"{"path":"/tmp"}"#, expect![[r#"ok: {"path":"/tmp"}"#]]);
    check(
        "FsReadDirectoryResponse",
        r#"{"entries":[{"fileName":"b.txt","isDirectory":false,"isFile":true},{"fileName":"d","isDirectory":true,"isFile":false}]}"#,
        expect![[
            r#"ok: {"entries":[{"fileName":"b.txt","isDirectory":false,"isFile":true},{"fileName":"d","isDirectory":true,"isFile":false}]}"#
        ]],
    );
    check("FsRemoveParams", r#"{"path":"/tmp/d"}"#, expect![[r#"ok: {"path":"/tmp/d"}"#]]);
    check(
        "FsRemoveParams",
        r#"{"path":"/tmp/d","recursive":false,"force":false}"#,
        expect![[r#"ok: {"path":"/tmp/d","recursive":false,"force":false}"#]],
    );
    check("FsRemoveResponse", r#"{}"#, expect!["ok: {}"]);
    check(
        "FsCopyParams",
        r#"{"sourcePath":"/a","destinationPath":"/b","recursive":false}"#,
        expect![[r#"ok: {"sourcePath":"/a","destinationPath":"/b","recursive":false}"#]],
    );
    check(
        "FsCopyParams",
        r#"{"sourcePath":"/a","destinationPath":"/b"}"#,
        expect!["error -32602: missing field `recursive`"],
    );
    check("FsCopyResponse", r#"{}"#, expect!["ok: {}"]);
}

#[test]
fn error_object() {
    check(
        "ErrorObject",
        r#"{"code":-32600,"message":"unknown process id nope"}"#,
        expect![[r#"ok: {"code":-32600,"message":"unknown process id nope"}"#]],
    );
    check(
        "ErrorObject",
        r#"{"code":-32004,"message":"No such file or directory (os error 2)","data":{"path":"/x"}}"#,
        expect![[
            r#"ok: {"code":-32004,"message":"No such file or directory (os error 2)","data":{"path":"/x"}}"#
        ]],
    );
}

#[test]
fn defaults_and_helpers() {
    use exec_protocol::fs::{FsCreateDirectoryParams, FsRemoveParams, FsWriteFileParams};
    use exec_protocol::initialize::InitializeResponse;

    let create: FsCreateDirectoryParams = serde_json::from_str(r#"{"path":"/d"}"#).unwrap();
    assert!(create.recursive());
    let remove: FsRemoveParams = serde_json::from_str(r#"{"path":"/d","force":false}"#).unwrap();
    assert_eq!((remove.recursive(), remove.force()), (true, false));
    let write: FsWriteFileParams = serde_json::from_str(r#"{"path":"/f","dataBase64":"aGkK"}"#).unwrap();
    assert_eq!(write.decode_data().unwrap().as_bytes(), b"hi\n");
    let bad: FsWriteFileParams = serde_json::from_str(r#"{"path":"/f","dataBase64":"aGk"}"#).unwrap();
    let message = exec_protocol::messages::invalid_write_file_data(&bad.decode_data().unwrap_err());
    assert_eq!(message, "fs/writeFile requires valid base64 dataBase64: Invalid padding");

    let result: InitializeResponse =
        serde_json::from_str(r#"{"sessionId":"s","capabilities":["fs"]}"#).unwrap();
    assert!(result.has_capability(exec_protocol::capability::FS));
    assert!(!result.has_capability(exec_protocol::capability::PROCESS_SIGNAL));
}

#[test]
fn pinned_messages() {
    use exec_protocol::messages::*;
    let actual = [
        EXEC_BEFORE_INITIALIZE.to_owned(),
        EXEC_BEFORE_INITIALIZED.to_owned(),
        FS_BEFORE_INITIALIZE.to_owned(),
        FS_BEFORE_INITIALIZED.to_owned(),
        ALREADY_INITIALIZED.to_owned(),
        ARGV_EMPTY.to_owned(),
        SESSION_RESUMED_ELSEWHERE.to_owned(),
        COPY_DIRECTORY_NOT_RECURSIVE.to_owned(),
        process_already_exists("c"),
        unknown_process("nope"),
        unknown_session("00000000-0000-0000-0000-000000000000"),
        method_not_found("bogus"),
        path_not_absolute("relative.txt"),
        start_wait_too_long(300001, 300000),
        start_wait_bytes_out_of_range(0, 1048576),
    ]
    .join("\n");
    expect![[r#"
        client must call initialize before using exec methods
        client must send initialized before using exec methods
        client must call initialize before using filesystem methods
        client must send initialized before using filesystem methods
        initialize may only be sent once per connection
        argv must not be empty
        session has been resumed by another connection
        fs/copy requires recursive: true when sourcePath is a directory
        process c already exists
        unknown process id nope
        unknown session id 00000000-0000-0000-0000-000000000000
        unknown method `bogus`
        path must be absolute: relative.txt
        wait.timeoutMs is 300001; the limit is 300000
        wait.maxBytes is 0; it must be between 1 and 1048576"#]]
    .assert_eq(&actual);
}

/// The 0.171 client's shapes (docs/codex-0.171-wire.md): the sandbox intent in both of its
/// shapes, what is strict and what is tolerated, the new results and fields.
#[test]
fn codex_171() {
    let entries = r#"[{"access":"read","path":{"type":"special","value":{"kind":"root"}}},{"access":"write","path":{"type":"special","value":{"kind":"project_roots"}}},{"access":"read","missing_path_behavior":"skip","path":{"type":"special","value":{"kind":"project_roots","subpath":".git"}}},{"access":"write","path":{"type":"path","path":"file:///srv/x"}},{"access":"none","path":{"type":"glob_pattern","pattern":"*.key"}}]"#;
    let start_shape = format!(
        r#"{{"permissions":{{"type":"managed","file_system":{{"type":"restricted","entries":{entries}}},"network":"restricted"}},"cwd":"file:///w","workspaceRoots":["file:///w"],"windowsSandboxLevel":"disabled","windowsSandboxProxySettingsMode":"reconcile","useLegacyLandlock":false}}"#
    );
    check(
        "SandboxParams",
        &start_shape,
        expect![[
            r#"ok: {"permissions":{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"read"},{"path":{"type":"special","value":{"kind":"project_roots"}},"access":"write"},{"path":{"type":"special","value":{"kind":"project_roots","subpath":".git"}},"access":"read","missing_path_behavior":"skip"},{"path":{"type":"path","path":"file:///srv/x"},"access":"write"},{"path":{"type":"glob_pattern","pattern":"*.key"},"access":"none"}]},"network":"restricted"},"cwd":"file:///w","workspaceRoots":["file:///w"],"windowsSandboxLevel":"disabled","windowsSandboxProxySettingsMode":"reconcile","useLegacyLandlock":false}"#
        ]],
    );
    check(
        "SandboxParams",
        r#"{"permissions":{"type":"managed","file_system":{"type":"restricted","entries":[]},"network":"enabled"},"cwd":"file:///w","workspaceRoots":["file:///w"],"policyContext":{"cwd":"file:///w","workspaceRoots":["file:///w"]},"userHomeDir":"file:///root","windowsSandboxLevel":"disabled","useLegacyLandlock":true,"someFutureField":1}"#,
        expect![[
            r#"ok: {"permissions":{"type":"managed","file_system":{"type":"restricted","entries":[]},"network":"enabled"},"cwd":"file:///w","workspaceRoots":["file:///w"],"policyContext":{"cwd":"file:///w","workspaceRoots":["file:///w"]},"userHomeDir":"file:///root","windowsSandboxLevel":"disabled","useLegacyLandlock":true}"#
        ]],
    );
    check(
        "SandboxParams",
        r#"{"permissions":{"type":"managed","file_system":{"type":"external-sandbox"},"network":"restricted"}}"#,
        expect![[
            r#"ok: {"permissions":{"type":"managed","file_system":{"type":"other"},"network":"restricted"},"workspaceRoots":[],"useLegacyLandlock":false}"#
        ]],
    );
    check(
        "SandboxParams",
        r#"{"permissions":{"type":"managed","file_system":{"type":"restricted","entries":[{"access":"read","path":{"type":"special","value":{"kind":"home"}}}]},"network":"restricted"}}"#,
        expect![
            "error -32602: unknown variant `home`, expected one of `root`, `minimal`, `current_working_directory`, `project_roots`, `tmpdir`, `slash_tmp`, `unknown`"
        ],
    );
    check(
        "SandboxParams",
        r#"{"permissions":{"type":"managed","file_system":{"type":"unrestricted"},"network":"offline"}}"#,
        expect!["error -32602: unknown variant `offline`, expected `restricted` or `enabled`"],
    );
    check(
        "SandboxParams",
        r#"{"permissions":{"type":"managed","file_system":{"type":"restricted","entries":[{"access":"execute","path":{"type":"special","value":{"kind":"root"}}}]},"network":"restricted"}}"#,
        expect!["error -32602: unknown variant `execute`, expected one of `read`, `write`, `deny`, `none`"],
    );
    check(
        "SandboxParams",
        r#"{"permissions":{"type":"disabled"}}"#,
        expect!["error -32602: unknown variant `disabled`, expected `managed`"],
    );
    check(
        "ProcessStartParams",
        r#"{"processId":"1-u","argv":["/bin/bash","-lc","ls"],"cwd":"file:///w","env":{},"tty":false,"pipeStdin":false,"arg0":null,"sandbox":null,"enforceManagedNetwork":false,"managedNetwork":null,"metadata":{"threadId":"t","toolCallId":"c1"}}"#,
        expect![[
            r#"ok: {"processId":"1-u","argv":["/bin/bash","-lc","ls"],"cwd":"file:///w","env":{},"tty":false,"pipeStdin":false,"arg0":null}"#
        ]],
    );
    check(
        "ProcessStartResponse",
        r#"{"processId":"p","sandboxType":"linuxSeccomp"}"#,
        expect![[r#"ok: {"processId":"p","sandboxType":"linuxSeccomp"}"#]],
    );
    check(
        "ProcessStartResponse",
        r#"{"processId":"p","sandboxType":"none"}"#,
        expect![[r#"ok: {"processId":"p","sandboxType":"none"}"#]],
    );
    check(
        "ProcessExitedNotification",
        r#"{"processId":"p","seq":3,"exitCode":1,"sandboxDenied":true}"#,
        expect![[r#"ok: {"processId":"p","seq":3,"exitCode":1,"sandboxDenied":true}"#]],
    );
    check(
        "ProcessReadResponse",
        r#"{"chunks":[],"nextSeq":3,"exited":true,"exitCode":0,"closed":true,"failure":null,"sandboxDenied":false}"#,
        expect![[
            r#"ok: {"chunks":[],"nextSeq":3,"exited":true,"exitCode":0,"closed":true,"failure":null,"sandboxDenied":false}"#
        ]],
    );
    check(
        "FsReadFileParams",
        r#"{"path":"file:///w/a","sandbox":null,"followSymlinks":false}"#,
        expect![[r#"ok: {"path":"file:///w/a","followSymlinks":false}"#]],
    );
    check(
        "FsWriteFileParams",
        r#"{"path":"/w/a","dataBase64":"eA==","writeId":"1"}"#,
        expect![[r#"ok: {"path":"/w/a","dataBase64":"eA==","writeId":"1"}"#]],
    );
    check(
        "FsGetMetadataResponse",
        r#"{"isFile":true,"isDirectory":false,"isSymlink":false,"size":18,"createdAtMs":0,"modifiedAtMs":1795701015011}"#,
        expect![[
            r#"ok: {"isDirectory":false,"isFile":true,"isSymlink":false,"createdAtMs":0,"modifiedAtMs":1795701015011,"size":18}"#
        ]],
    );
    check(
        "FsCanonicalizeParams",
        r#"{"path":"file:///t/ws/../ws/link"}"#,
        expect![[r#"ok: {"path":"file:///t/ws/../ws/link"}"#]],
    );
    check(
        "FsCanonicalizeResponse",
        r#"{"path":"file:///t/ws/a.txt"}"#,
        expect![[r#"ok: {"path":"file:///t/ws/a.txt"}"#]],
    );
    check(
        "FsWalkParams",
        r#"{"path":"file:///w","sandbox":null,"options":{"maxDepth":1,"maxEntries":3,"maxDirectories":10,"followDirectorySymlinks":false}}"#,
        expect![[
            r#"ok: {"path":"file:///w","options":{"maxDepth":1,"maxEntries":3,"maxDirectories":10,"followDirectorySymlinks":false}}"#
        ]],
    );
    check("FsWalkParams", r#"{"path":"file:///w"}"#, expect!["error -32602: missing field `options`"]);
    check(
        "FsWalkParams",
        r#"{"path":"file:///w","options":{}}"#,
        expect!["error -32602: missing field `maxDepth`"],
    );
    check(
        "FsWalkResponse",
        r#"{"entries":[{"path":"file:///w/.git","kind":"directory"},{"path":"file:///w/a.txt","kind":"file"}],"errors":[],"truncated":true}"#,
        expect![[
            r#"ok: {"entries":[{"path":"file:///w/.git","kind":"directory"},{"path":"file:///w/a.txt","kind":"file"}],"errors":[],"truncated":true}"#
        ]],
    );
    check(
        "FsOpenParams",
        r#"{"handleId":"h1","path":"file:///w/a.txt","mode":"read","sandbox":null}"#,
        expect![[r#"ok: {"handleId":"h1","path":"file:///w/a.txt","mode":"read"}"#]],
    );
    check(
        "FsOpenParams",
        r#"{"handleId":"h2","path":"/w/b.txt"}"#,
        expect![[r#"ok: {"handleId":"h2","path":"/w/b.txt"}"#]],
    );
    check(
        "FsOpenParams",
        r#"{"handleId":"h2","path":"/w/b.txt","mode":"append"}"#,
        expect!["error -32602: unknown variant `append`, expected `read` or `replace`"],
    );
    check(
        "FsReadBlockParams",
        r#"{"handleId":"h1","offset":0,"len":5}"#,
        expect![[r#"ok: {"handleId":"h1","offset":0,"len":5}"#]],
    );
    check(
        "FsReadBlockResponse",
        r#"{"chunk":"aGVsbG8=","eof":false}"#,
        expect![[r#"ok: {"chunk":"aGVsbG8=","eof":false}"#]],
    );
    check(
        "FsWriteBlockParams",
        r#"{"handleId":"h2","offset":0,"chunk":"eA=="}"#,
        expect![[r#"ok: {"handleId":"h2","offset":0,"chunk":"eA=="}"#]],
    );
    check("FsCloseParams", r#"{"handleId":"h1"}"#, expect![[r#"ok: {"handleId":"h1"}"#]]);
    check(
        "FsWatchMissingParams",
        r#"{"watchId":1,"present":null,"missing":["file:///w/.agents/skills","file:///w/.git","file:///.git"]}"#,
        expect![[
            r#"ok: {"watchId":1,"missing":["file:///w/.agents/skills","file:///w/.git","file:///.git"]}"#
        ]],
    );
    check(
        "FsWatchMissingParams",
        r#"{"watchId":"w","missing":[],"present":["/w/AGENTS.md"]}"#,
        expect![[r#"ok: {"watchId":"w","missing":[],"present":["/w/AGENTS.md"]}"#]],
    );
    check("FsWatchMissingResponse", r#"{"watching":true}"#, expect![[r#"ok: {"watching":true}"#]]);
    check("FsMissingChangedNotification", r#"{"watchId":1}"#, expect![[r#"ok: {"watchId":1}"#]]);
    check("EnvironmentParams", r#"null"#, expect!["ok: {}"]);
    check("EnvironmentParams", r#"{}"#, expect!["ok: {}"]);
    check("EnvironmentStatusResponse", r#"{"status":"ready"}"#, expect![[r#"ok: {"status":"ready"}"#]]);
    check(
        "EnvironmentInfo",
        r#"{"shell":{"name":"bash","path":"/bin/bash"},"executorVersion":"0.171.0","providerId":"sha256:d9","cwd":"file:///work/repo","userHomeDir":"file:///root","platformOs":"linux","prependPathDirs":[],"temporaryDirectories":[],"tempDir":"file:///tmp","capabilities":{"fsWatchMissing":true,"windowsMxc":false}}"#,
        expect![[
            r#"ok: {"shell":{"name":"bash","path":"/bin/bash"},"executorVersion":"0.171.0","providerId":"sha256:d9","cwd":"file:///work/repo","userHomeDir":"file:///root","platformOs":"linux","prependPathDirs":[],"temporaryDirectories":[],"tempDir":"file:///tmp","capabilities":{"capabilityDiscoverySandbox":false,"capabilityDiscoveryV2":false,"credentialMasking":false,"credentialMaskingCustomProviders":false,"environmentConfigRead":false,"fileWriteStreaming":false,"fsWatchMissing":true,"httpHeaderEnvVars":false,"linuxApprovedRootWritePreservesRestrictions":false,"linuxRootWritePreservesDevices":false,"networkProxyLaunch":false,"networkProxyReviewDomains":false,"networkProxyTransparentTcp":false,"sandboxedFileStreaming":false,"shellSnapshotV2":false,"windowsMxc":false}}"#
        ]],
    );
    check(
        "InitializeResponse",
        r#"{"sessionId":"s","environmentInfo":{"shell":{"name":"sh","path":"/bin/sh"},"executorVersion":"0.0.0","providerId":"p","cwd":"file:///","userHomeDir":"file:///root","platformOs":"linux","tempDir":"file:///tmp","capabilities":{}}}"#,
        expect![[
            r#"ok: {"sessionId":"s","environmentInfo":{"shell":{"name":"sh","path":"/bin/sh"},"executorVersion":"0.0.0","providerId":"p","cwd":"file:///","userHomeDir":"file:///root","platformOs":"linux","prependPathDirs":[],"temporaryDirectories":[],"tempDir":"file:///tmp","capabilities":{"capabilityDiscoverySandbox":false,"capabilityDiscoveryV2":false,"credentialMasking":false,"credentialMaskingCustomProviders":false,"environmentConfigRead":false,"fileWriteStreaming":false,"fsWatchMissing":false,"httpHeaderEnvVars":false,"linuxApprovedRootWritePreservesRestrictions":false,"linuxRootWritePreservesDevices":false,"networkProxyLaunch":false,"networkProxyReviewDomains":false,"networkProxyTransparentTcp":false,"sandboxedFileStreaming":false,"shellSnapshotV2":false,"windowsMxc":false}}}"#
        ]],
    );
}

#[test]
fn constants() {
    use exec_protocol::{capability, jsonrpc, method};
    let codes = [
        jsonrpc::INVALID_REQUEST,
        jsonrpc::METHOD_NOT_FOUND,
        jsonrpc::INVALID_PARAMS,
        jsonrpc::INTERNAL_ERROR,
        jsonrpc::NOT_FOUND,
    ];
    expect![[r#"
        [
            -32600,
            -32601,
            -32602,
            -32603,
            -32004,
        ]
    "#]]
    .assert_debug_eq(&codes);
    expect!["initialize process/start process/read process/write process/terminate process/signal process/resize process/list fs/readFile fs/writeFile fs/createDirectory fs/getMetadata fs/readDirectory fs/remove fs/copy fs/canonicalize fs/walk fs/open fs/readBlock fs/writeBlock fs/close fs/watchMissing environment/info environment/status"].assert_eq(&method::REQUESTS.join(" "));
    expect!["initialized process/output process/exited process/closed fs/missingChanged"]
        .assert_eq(&method::NOTIFICATIONS.join(" "));
    expect!["process/signal process/resize process/list droppedBefore writeId eof graceMs size exitSignal fs sessionTakeover orderedNotifications fs/readBlock fs/writeBlock binaryOutput startWait"].assert_eq(&capability::ALL.join(" "));
}
