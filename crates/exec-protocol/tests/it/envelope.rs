//! The JSON-RPC envelope: classifying incoming frames and writing outgoing ones.
//!
//! Incoming cases include what the Codex peer's clients send (no `"jsonrpc"` member), what a
//! strict JSON-RPC client sends, and the malformed frames the server must answer with id -1 and
//! -32600 while staying up.

use exec_protocol::jsonrpc::{self, ErrorObject, Message, RequestId};
use exec_protocol::method;
use exec_protocol::process::ProcessReadParams;
use expect_test::{Expect, expect};

#[track_caller]
fn check(frame: &str, expect: Expect) {
    let actual = match jsonrpc::parse_message(frame.as_bytes()) {
        Ok(Message::Request(request)) => {
            format!("request id={:?} method={} params={:?}", request.id, request.method, raw(&request.params))
        }
        Ok(Message::Notification(notification)) => {
            format!("notification method={} params={:?}", notification.method, raw(&notification.params))
        }
        Ok(Message::Response(response)) => {
            format!("response id={:?} result={}", response.id, response.result.get())
        }
        Ok(Message::ErrorResponse(error)) => {
            format!(
                "error response id={:?} code={} message={}",
                error.id, error.error.code, error.error.message
            )
        }
        Err(invalid) => {
            let error = invalid.to_error_object();
            format!("invalid code={} message={}", error.code, error.message)
        }
    };
    expect.assert_eq(&actual);
}

fn raw(params: &Option<Box<serde_json::value::RawValue>>) -> Option<&str> {
    params.as_deref().map(|params| params.get())
}

#[test]
fn classification() {
    check(
        r#"{"id":1,"method":"initialize","params":{"clientName":"c"}}"#,
        expect![[r#"request id=Integer(1) method=initialize params=Some("{\"clientName\":\"c\"}")"#]],
    );
    check(
        r#"{"jsonrpc":"2.0","id":"a","method":"process/read","params":{"processId":"p"}}"#,
        expect![[r#"request id=String("a") method=process/read params=Some("{\"processId\":\"p\"}")"#]],
    );
    check(
        r#"{"jsonrpc":"1.0","id":-7,"method":"x"}"#,
        expect!["request id=Integer(-7) method=x params=None"],
    );
    check(
        r#"{"id":1,"method":"process/list","params":null}"#,
        expect!["request id=Integer(1) method=process/list params=None"],
    );
    check(r#"{"method":"initialized"}"#, expect!["notification method=initialized params=None"]);
    check(
        r#"{"method":"initialized","params":{}}"#,
        expect![[r#"notification method=initialized params=Some("{}")"#]],
    );
    check(
        r#"{"jsonrpc":"2.0","method":"process/closed","params":{"processId":"p","seq":4}}"#,
        expect![[r#"notification method=process/closed params=Some("{\"processId\":\"p\",\"seq\":4}")"#]],
    );
    check(
        r#"{"id":3,"result":{"sessionId":"s"}}"#,
        expect![[r#"response id=Integer(3) result={"sessionId":"s"}"#]],
    );
    check(r#"{"id":3,"result":null}"#, expect!["response id=Integer(3) result=null"]);
    check(
        r#"{"error":{"code":-32600,"message":"unknown process id nope"},"id":8}"#,
        expect!["error response id=Some(Integer(8)) code=-32600 message=unknown process id nope"],
    );
    check(
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad"}}"#,
        expect!["error response id=None code=-32600 message=bad"],
    );
    check(
        r#"{"id":-1,"error":{"code":-32600,"message":"bad","data":[1]}}"#,
        expect!["error response id=Some(Integer(-1)) code=-32600 message=bad"],
    );
    check(
        r#"{"id":9223372036854775807,"method":"m","extra":true}"#,
        expect!["request id=Integer(9223372036854775807) method=m params=None"],
    );
}

#[test]
fn invalid_frames() {
    check(
        "not json",
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: expected ident at line 1 column 2"
        ],
    );
    check(
        "",
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: EOF while parsing a value at line 1 column 0"
        ],
    );
    check(
        r#"[{"id":5,"method":"process/read","params":{"processId":"s"}}]"#,
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: batches (JSON arrays) are not supported"
        ],
    );
    check(
        r#" ["x","process/read"]"#,
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: batches (JSON arrays) are not supported"
        ],
    );
    check(
        r#"{"id":null,"method":"process/read"}"#,
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: id null is not an integer or a string"
        ],
    );
    check(
        r#"{"id":1.5,"method":"process/read"}"#,
        expect!["invalid code=-32600 message=failed to parse JSON-RPC message: id 1.5 is not an integer"],
    );
    check(
        r#"{"id":18446744073709551615,"method":"process/read"}"#,
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: id 18446744073709551615 is not an integer"
        ],
    );
    check(
        r#"{"id":true,"method":"process/read"}"#,
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: id true is not an integer or a string"
        ],
    );
    check(
        r#"{"id":1,"method":7}"#,
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: invalid type: integer `7`, expected a string at line 1 column 18"
        ],
    );
    check(
        r#"{"result":{}}"#,
        expect!["invalid code=-32600 message=failed to parse JSON-RPC message: response without an id"],
    );
    check(
        r#"{"id":6}"#,
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: message has no method, result or error"
        ],
    );
    check(
        r#"{}"#,
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: message has no method, result or error"
        ],
    );
    check(
        r#"{"id":1,"method":"m","id":2}"#,
        expect![
            "invalid code=-32600 message=failed to parse JSON-RPC message: duplicate field `id` at line 1 column 25"
        ],
    );
    check(
        r#"{"id":1,"error":{"code":"x"}}"#,
        expect![[
            r#"invalid code=-32600 message=failed to parse JSON-RPC message: invalid type: string "x", expected i64 at line 1 column 27"#
        ]],
    );
}

#[test]
fn binary_frames_decode_like_text() {
    let frame = br#"{"id":9,"method":"process/read","params":{"processId":"s"}}"#;
    let Ok(Message::Request(request)) = jsonrpc::parse_message(frame) else { panic!("a request") };
    assert_eq!(request.id, RequestId::Integer(9));
}

#[test]
fn decode_params_errors_match_the_peer() {
    #[track_caller]
    fn check_params(frame: &str, expect: Expect) {
        let Ok(Message::Request(request)) = jsonrpc::parse_message(frame.as_bytes()) else {
            panic!("not a request: {frame}")
        };
        let actual = match request.decode_params::<ProcessReadParams>() {
            Ok(params) => format!("{params:?}"),
            Err(error) => format!("{} {}", error.code, error.message),
        };
        expect.assert_eq(&actual);
    }
    check_params(
        r#"{"id":7,"method":"process/read"}"#,
        expect!["-32602 invalid type: null, expected struct ProcessReadParams"],
    );
    check_params(
        r#"{"id":7,"method":"process/read","params":null}"#,
        expect!["-32602 invalid type: null, expected struct ProcessReadParams"],
    );
    check_params(
        r#"{"id":8,"method":"process/read","params":{"processId":"s","afterSeq":-1}}"#,
        expect!["-32602 invalid value: integer `-1`, expected u64"],
    );
    check_params(
        r#"{"id":13,"method":"process/read","params":["s"]}"#,
        expect![[
            r#"ProcessReadParams { process_id: ProcessId("s"), after_seq: None, max_bytes: None, wait_ms: None }"#
        ]],
    );
    check_params(
        r#"{"id":1,"method":"process/read","params":{}}"#,
        expect!["-32602 missing field `processId`"],
    );
    check_params(
        "{\"id\":1,\"method\":\"process/read\",\n\"params\":{\"processId\":\"s\",\n\"waitMs\":\"x\"}}",
        expect![[r#"-32602 invalid type: string "x", expected u64"#]],
    );
    check_params(
        r#"{"id":1,"method":"process/read","params":{"processId":"s","waitMs":5}}"#,
        expect![[
            r#"ProcessReadParams { process_id: ProcessId("s"), after_seq: None, max_bytes: None, wait_ms: Some(5) }"#
        ]],
    );
}

#[test]
fn request_ids_round_trip_exactly() {
    for id in ["0", "-1", "9223372036854775807", "-9223372036854775808", r#""""#, r#""7""#, r#""a\"b\u0000""#]
    {
        let parsed: RequestId = serde_json::from_str(id).unwrap();
        let mut out = Vec::new();
        jsonrpc::write_response(&mut out, &parsed, &serde_json::json!({})).unwrap();
        let echoed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let original: serde_json::Value = serde_json::from_str(id).unwrap();
        assert_eq!(echoed["id"], original, "{id}");
    }
    assert_eq!(RequestId::UNPARSEABLE, RequestId::Integer(-1));
    assert_ne!(RequestId::from(7), RequestId::from("7"));
}

#[test]
fn outgoing_frames_always_carry_jsonrpc() {
    let mut out = Vec::new();
    let id = RequestId::from("r1");
    jsonrpc::write_request(&mut out, &id, method::PROCESS_LIST, &serde_json::json!({})).unwrap();
    out.push(b'\n');
    jsonrpc::write_notification(&mut out, method::INITIALIZED, &serde_json::json!({})).unwrap();
    out.push(b'\n');
    jsonrpc::write_response(&mut out, &RequestId::from(2), &serde_json::json!({"running": true})).unwrap();
    out.push(b'\n');
    let unknown = ErrorObject::invalid_request(exec_protocol::messages::unknown_process("nope"));
    jsonrpc::write_error_response(&mut out, &RequestId::from(8), &unknown).unwrap();
    out.push(b'\n');
    let invalid = jsonrpc::parse_message(b"not json").unwrap_err();
    jsonrpc::write_error_response(&mut out, &RequestId::UNPARSEABLE, &invalid.to_error_object()).unwrap();
    out.push(b'\n');
    jsonrpc::write_error_response(&mut out, &RequestId::from(3), &ErrorObject::method_not_found("bogus"))
        .unwrap();
    expect![[r#"
        {"jsonrpc":"2.0","id":"r1","method":"process/list","params":{}}
        {"jsonrpc":"2.0","method":"initialized","params":{}}
        {"jsonrpc":"2.0","id":2,"result":{"running":true}}
        {"jsonrpc":"2.0","id":8,"error":{"code":-32600,"message":"unknown process id nope"}}
        {"jsonrpc":"2.0","id":-1,"error":{"code":-32600,"message":"failed to parse JSON-RPC message: expected ident at line 1 column 2","data":{"kind":"unparseable"}}}
        {"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"unknown method `bogus`"}}"#]].assert_eq(std::str::from_utf8(&out).unwrap());
}

#[test]
fn error_constructors() {
    let errors = [
        ErrorObject::invalid_request("a"),
        ErrorObject::method_not_found("m"),
        ErrorObject::invalid_params("p"),
        ErrorObject::internal_error("i"),
        ErrorObject::not_found("n"),
    ];
    let actual: Vec<String> = errors.iter().map(ToString::to_string).collect();
    expect![[r#"
        [
            "a (code -32600)",
            "unknown method `m` (code -32601)",
            "p (code -32602)",
            "i (code -32603)",
            "n (code -32004)",
        ]
    "#]]
    .assert_debug_eq(&actual);
}
