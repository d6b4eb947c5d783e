//! `docs/protocol.md` cannot drift from the code: every marked example decodes, and the example
//! session replays.
//!
//! A JSON block preceded by `<!-- wire: Type -->` must decode as `Type` and be in the canonical
//! form the server writes (so the doc shows real defaults and omissions). The block marked
//! `<!-- wire: session -->` is replayed line by line: `->` lines are client frames and `<-` lines
//! server frames; requests, responses and notifications are decoded by method, each request must be
//! answered exactly once, client params may only omit defaulted fields, and server frames must be
//! canonical and carry `"jsonrpc":"2.0"`.

use std::collections::{BTreeMap, BTreeSet};

use exec_protocol::jsonrpc::{self, Message, RequestId};
use serde_json::Value;

use crate::registry;

const PROTOCOL_MD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md"));

struct Block {
    marker: String,
    line: usize,
    text: String,
}

/// The fenced blocks that follow a `<!-- wire: ... -->` marker.
fn wire_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let Some(marker) = line.trim().strip_prefix("<!-- wire:").and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        let fence = lines.next().map(|(_, fence)| fence.trim()).unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "line {}: a wire marker must be followed by a fenced block",
            index + 1
        );
        let text: Vec<&str> =
            lines.by_ref().map(|(_, line)| line).take_while(|line| line.trim() != "```").collect();
        blocks.push(Block { marker: marker.trim().to_owned(), line: index + 1, text: text.join("\n") });
    }
    blocks
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

#[track_caller]
fn assert_canonical(type_name: &str, text: &str, what: &str) {
    let canonical = registry::decode(type_name, text).unwrap_or_else(|error| panic!("{what}: {error}"));
    assert_eq!(json(&canonical), json(text), "{what}: not in the canonical form the server writes");
}

/// Every member of `written`, recursively, appears with the same value in `canonical`.
#[track_caller]
fn assert_subset(written: &Value, canonical: &Value, what: &str) {
    match (written, canonical) {
        (Value::Object(written), Value::Object(canonical)) => {
            for (key, value) in written {
                let other =
                    canonical.get(key).unwrap_or_else(|| panic!("{what}: unknown or misspelt field `{key}`"));
                assert_subset(value, other, what);
            }
        }
        _ => assert_eq!(written, canonical, "{what}"),
    }
}

#[test]
fn every_wire_example_decodes() {
    let blocks = wire_blocks(PROTOCOL_MD);
    let mut documented = BTreeSet::new();
    for block in &blocks {
        if block.marker == "session" {
            continue;
        }
        let what = format!("docs/protocol.md line {}: {}", block.line, block.marker);
        assert_canonical(&block.marker, &block.text, &what);
        documented.insert(block.marker.as_str());
    }
    let missing: Vec<_> = registry::TYPES.iter().filter(|name| !documented.contains(*name)).collect();
    assert!(missing.is_empty(), "types without an example in docs/protocol.md: {missing:?}");
}

#[test]
fn example_session_replays() {
    let blocks = wire_blocks(PROTOCOL_MD);
    let sessions: Vec<_> = blocks.iter().filter(|block| block.marker == "session").collect();
    assert_eq!(sessions.len(), 1, "docs/protocol.md must hold exactly one example session");
    let mut pending: BTreeMap<RequestId, String> = BTreeMap::new();
    let mut expected_invalid: Option<String> = None;
    let mut answered = 0;
    for (offset, line) in sessions[0].text.lines().enumerate() {
        let what = format!("docs/protocol.md line {}", sessions[0].line + 2 + offset);
        if let Some(frame) = line.strip_prefix("-> ") {
            match jsonrpc::parse_message(frame.as_bytes()) {
                Ok(Message::Request(request)) => {
                    let (params_type, _) = registry::request_types(&request.method);
                    let params = request.params.as_deref().map_or("null", |params| params.get());
                    let canonical = registry::decode(params_type, params)
                        .unwrap_or_else(|error| panic!("{what}: {error}"));
                    // Clients may leave out defaulted fields, but every field they write must be
                    // one the type knows, or a misspelling would pass as an ignored unknown field.
                    assert_subset(&json(params), &json(&canonical), &what);
                    assert!(
                        pending.insert(request.id.clone(), request.method).is_none(),
                        "{what}: id reused"
                    );
                }
                Ok(Message::Notification(notification)) => {
                    assert_eq!(registry::notification_type(&notification.method), None, "{what}");
                }
                Ok(other) => panic!("{what}: a client sends requests and notifications, not {other:?}"),
                Err(invalid) => expected_invalid = Some(invalid.message().to_owned()),
            }
        } else if let Some(frame) = line.strip_prefix("<- ") {
            assert_eq!(json(frame)["jsonrpc"], "2.0", "{what}: the server always writes \"jsonrpc\"");
            match jsonrpc::parse_message(frame.as_bytes()) {
                Ok(Message::Response(response)) => {
                    let method =
                        pending.remove(&response.id).unwrap_or_else(|| panic!("{what}: unexpected id"));
                    let (_, result_type) = registry::request_types(&method);
                    assert_canonical(result_type, response.result.get(), &what);
                    answered += 1;
                }
                Ok(Message::ErrorResponse(error)) => {
                    if error.id == Some(RequestId::UNPARSEABLE) {
                        let message =
                            expected_invalid.take().expect("an invalid frame before an id -1 error");
                        assert_eq!(error.error.message, message, "{what}");
                    } else {
                        let id = error.id.unwrap_or_else(|| panic!("{what}: error without id"));
                        pending.remove(&id).unwrap_or_else(|| panic!("{what}: unexpected id"));
                    }
                    assert_eq!(
                        error.error.code,
                        jsonrpc::INVALID_REQUEST,
                        "{what}: the session shows -32600 only"
                    );
                    answered += 1;
                }
                Ok(Message::Notification(notification)) => {
                    let params_type = registry::notification_type(&notification.method)
                        .unwrap_or_else(|| panic!("{what}: the server sends no {}", notification.method));
                    let params = notification.params.as_deref().map_or("null", |params| params.get());
                    assert_canonical(params_type, params, &what);
                }
                other => panic!("{what}: unexpected server frame {other:?}"),
            }
        } else {
            panic!("{what}: session lines start with '-> ' or '<- '");
        }
    }
    assert!(pending.is_empty(), "unanswered requests: {pending:?}");
    assert_eq!(expected_invalid, None, "an invalid frame was not answered");
    assert!(answered >= 5, "the session should show a handful of calls");
}

#[test]
fn pinned_messages_are_documented() {
    use exec_protocol::messages::*;
    for message in [
        EXEC_BEFORE_INITIALIZE,
        EXEC_BEFORE_INITIALIZED,
        ALREADY_INITIALIZED,
        ARGV_EMPTY,
        SESSION_RESUMED_ELSEWHERE,
        COPY_DIRECTORY_NOT_RECURSIVE,
        &process_already_exists("ID"),
        &unknown_process("ID"),
        &unknown_session("ID"),
    ] {
        assert!(PROTOCOL_MD.contains(message), "docs/protocol.md does not mention {message:?}");
    }
    for capability in exec_protocol::capability::ALL {
        assert!(
            PROTOCOL_MD.contains(&format!("| `{capability}` |")),
            "capability {capability} is not in the table"
        );
    }
}
