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
        path must be absolute: relative.txt"#]]
    .assert_eq(&actual);
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
    expect!["initialize process/start process/read process/write process/terminate process/signal process/resize process/list fs/readFile fs/writeFile fs/createDirectory fs/getMetadata fs/readDirectory fs/remove fs/copy"].assert_eq(&method::REQUESTS.join(" "));
    expect!["initialized process/output process/exited process/closed"]
        .assert_eq(&method::NOTIFICATIONS.join(" "));
    expect!["process/signal process/resize process/list droppedBefore writeId eof graceMs size exitSignal fs sessionTakeover orderedNotifications"].assert_eq(&capability::ALL.join(" "));
}
