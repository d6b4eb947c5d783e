//! The `trace` member of a request (Codex 0.171's W3C Trace Context carrier): a well-formed
//! `traceparent` is kept on the `Request`, anything else is ignored without failing the message.

use exec_protocol::jsonrpc::{Message, is_traceparent, parse_message};

const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[track_caller]
fn check(frame: &str, expect: Option<&str>) {
    match parse_message(frame.as_bytes()) {
        Ok(Message::Request(request)) => assert_eq!(request.traceparent.as_deref(), expect, "{frame}"),
        other => panic!("{frame} is not a request: {other:?}"),
    }
}

#[test]
fn trace_member() {
    check(&format!(r#"{{"id":1,"method":"process/list","trace":{{"traceparent":"{VALID}"}}}}"#), Some(VALID));
    check(
        &format!(r#"{{"id":1,"method":"m","trace":{{"traceparent":"{VALID}","tracestate":"a=b"}}}}"#),
        Some(VALID),
    );
    check(r#"{"id":1,"method":"m"}"#, None);
    check(r#"{"id":1,"method":"m","trace":null}"#, None);
    check(r#"{"id":1,"method":"m","trace":"00-x"}"#, None);
    check(r#"{"id":1,"method":"m","trace":{"traceparent":"not one"}}"#, None);
    check(r#"{"id":1,"method":"m","trace":{"tracestate":"a=b"}}"#, None);
}

#[test]
fn traceparent_syntax() {
    assert!(is_traceparent(VALID));
    assert!(is_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future"));
    for bad in [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
    ] {
        assert!(!is_traceparent(bad), "{bad:?}");
    }
}
