//! `docs/protocol.md` states error codes and texts; this replays them against the real server so
//! the doc cannot drift.
//!
//! The block after `<!-- errors -->` in the doc is a script: each line is `METHOD PARAMS =>
//! CODE MESSAGE` (or `=> ok`), sent in order on one initialized connection, or on a fresh
//! connection in one of these modes, named by a prefix: `fresh:` (no `initialize` sent),
//! `uninitialized:` (`initialize` answered, `initialized` not sent) and `frame:` (the rest of
//! the line, after `"text"**N` expansion, is sent as one raw frame and the answer is the error
//! under id -1; these go to a second server started with `--max-message-bytes 4096`, so an
//! oversized frame is small enough to be sent whole before the server closes the connection). The answer must carry that code and exactly that message (`...` matches any
//! rest). A line starting with `taken-over:` is sent, then the session is resumed on a new
//! connection before its answer is read; `repeat N:` sends a line N times (`#` in its params is
//! the index) and checks the last answer. An error's `data.kind` counts as its text too (the doc
//! says -32603 `sandboxUnavailable`). The server runs with `--stdin-write-timeout 500ms` so the
//! stdin timeout is replayable.
//!
//! Then every error the prose states must be matched by some answer of the script, with
//! upper-case words (ID, PATH, N) standing for any text; the section on the peer's behaviour is
//! about the peer and is skipped. A statement is a code followed by a quoted text, in any of the
//! forms [`stated_errors`] lists, across line breaks, plus the rows of the gating table. A
//! statement followed by a parenthesis holding `not replayed by the docs test` is exempt (it says
//! why: a kernel limit, a 120 s wait); a code followed closely by a quote in a form the scanner
//! does not know fails the test rather than being skipped.

use serde_json::{Value, json};
use test_support::{RawClient, Target};

const PROTOCOL_MD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md"));

/// The part of the doc about our server (the peer's section comes last).
fn our_part() -> &'static str {
    PROTOCOL_MD.split("## Verified against the peer").next().unwrap_or(PROTOCOL_MD)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The main, initialized connection.
    Main,
    /// A fresh connection that has not sent `initialize`.
    Fresh,
    /// A fresh connection whose `initialize` was answered, without `initialized`.
    Uninitialized,
    /// A fresh connection; `method` is a raw frame and the answer comes under id -1.
    Frame,
}

struct Line {
    /// `repeat N:` sends the line N times, `#` in its params standing for 0..N; only the last
    /// answer is checked against the expectation, the others must succeed.
    repeat: usize,
    /// Where the line is sent: the main connection or a fresh one.
    mode: Mode,
    /// Sent on the main connection, then the session is resumed (taken over) on a new one before
    /// the answer is read; later lines use the new connection.
    taken_over: bool,
    method: String,
    /// JSON text; `#` is replaced by the repetition index.
    params: String,
    /// `None` for `ok`.
    expected: Option<(i64, String)>,
    text: String,
}

fn script() -> Vec<Line> {
    let start = PROTOCOL_MD.find("<!-- errors -->").expect("docs/protocol.md has an <!-- errors --> block");
    let block = PROTOCOL_MD[start..].lines().skip(2).take_while(|line| !line.starts_with("```"));
    block
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (call, answer) = line.split_once(" => ").unwrap_or_else(|| panic!("no ` => ` in: {line}"));
            let (repeat, call) = match call.strip_prefix("repeat ").and_then(|rest| rest.split_once(": ")) {
                Some((count, call)) => {
                    (count.parse().unwrap_or_else(|_| panic!("bad repeat in: {line}")), call)
                }
                None => (1, call),
            };
            let (mode, call) = [
                ("fresh: ", Mode::Fresh),
                ("uninitialized: ", Mode::Uninitialized),
                ("frame: ", Mode::Frame),
            ]
            .into_iter()
            .find_map(|(prefix, mode)| Some((mode, call.strip_prefix(prefix)?)))
            .unwrap_or((Mode::Main, call));
            let (taken_over, call) = match call.strip_prefix("taken-over: ") {
                Some(call) => (true, call),
                None => (false, call),
            };
            let (method, params) = match mode {
                Mode::Frame => (expand_repeats(call), "null".to_owned()),
                _ => {
                    let (method, params) = call.split_once(' ').unwrap_or((call, "{}"));
                    (method.to_owned(), expand_repeats(params))
                }
            };
            let expected = (answer != "ok").then(|| {
                let (code, message) = answer.split_once(' ').unwrap_or((answer, ""));
                (code.parse().unwrap_or_else(|_| panic!("bad code in: {line}")), message.to_owned())
            });
            Line { repeat, mode, taken_over, method, params, expected, text: line.to_owned() }
        })
        .collect()
}

enum Token {
    Literal(String),
    /// `...`: any text, even none.
    Rest,
    /// An upper-case word: some text.
    Word,
}

/// `pattern` matches `text`, `...` standing for any rest and (with `words`) every upper-case word
/// for some non-empty text.
fn matches(pattern: &str, text: &str, words: bool) -> bool {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("...") {
            tokens.push(Token::Literal(std::mem::take(&mut literal)));
            tokens.push(Token::Rest);
            rest = after;
            continue;
        }
        let word_len = rest.chars().take_while(char::is_ascii_uppercase).count();
        let after = &rest[word_len..];
        let starts = literal.chars().last().is_none_or(|c| !c.is_ascii_alphanumeric());
        let ends = after.chars().next().is_none_or(|c| !c.is_ascii_alphanumeric());
        if words && word_len > 0 && starts && ends {
            tokens.push(Token::Literal(std::mem::take(&mut literal)));
            tokens.push(Token::Word);
            rest = after;
            continue;
        }
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    tokens.push(Token::Literal(literal));
    glob(&tokens, text)
}

fn glob(tokens: &[Token], text: &str) -> bool {
    let Some((first, rest)) = tokens.split_first() else { return text.is_empty() };
    let from = match first {
        Token::Literal(literal) => {
            return text.strip_prefix(literal.as_str()).is_some_and(|text| glob(rest, text));
        }
        Token::Rest => 0,
        Token::Word => 1,
    };
    (from..=text.len()).filter(|end| text.is_char_boundary(*end)).any(|end| glob(rest, &text[end..]))
}

/// Expands `"text"*N` (a string literal followed by `*` and a count) into N copies of the
/// literal separated by commas, so a line can hold a list longer than a limit, and `"text"**N`
/// into one string literal holding the text N times, for a string longer than a limit.
fn expand_repeats(params: &str) -> String {
    let mut out = String::new();
    let mut rest = params;
    while let Some(at) = rest.find("\"*") {
        let (one_string, skip) = if rest[at + 2..].starts_with('*') { (true, 3) } else { (false, 2) };
        let digits: String = rest[at + skip..].chars().take_while(char::is_ascii_digit).collect();
        let open = rest[..at].rfind('"').expect("a string literal before `*N`");
        out.push_str(&rest[..open]);
        let literal = &rest[open..=at];
        let count: usize = digits.parse().expect("a count after `*`");
        if one_string {
            out.push_str(&format!("\"{}\"", literal.trim_matches('"').repeat(count)));
        } else {
            out.push_str(&vec![literal; count].join(","));
        }
        rest = &rest[at + skip + digits.len()..];
    }
    out.push_str(rest);
    out
}

/// What may stand between a code and the quoted text it states, after an optional `**` (bold):
/// the text as a whole, or (`prefix`) only its beginning.
const CONNECTORS: [(&str, bool); 5] = [
    (" ", false),
    (", ", false),
    (" (", false),
    (" (message starting ", true),
    (" with the reference's text ", false),
];

/// The quoted text at the start of `text` (`` `a` ``, ``` ``a `b` c`` ``` or `"a"`) and what
/// follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let (inner, close) = if let Some(inner) = text.strip_prefix("``") {
        (inner, "``")
    } else if let Some(inner) = text.strip_prefix('`') {
        (inner, "`")
    } else {
        (text.strip_prefix('"')?, "\"")
    };
    let end = inner.find(close)?;
    // A ``double`` code span pads its content with a space where it starts or ends with a backtick.
    let content = if close == "``" { inner[..end].trim() } else { &inner[..end] };
    Some((content.to_owned(), &inner[end + close.len()..]))
}

/// Every error the prose states: a code (-32xxx or -32004) followed by a quoted text in one of
/// the [`CONNECTORS`] forms, its ` or `-alternatives, and the rows of the gating table (all
/// -32600). Whitespace is normalised first, so a statement wrapped across lines counts. Panics on
/// a code followed within a few characters by a quote in a form not listed, so a new way of
/// writing a statement cannot slip past.
fn stated_errors() -> Vec<(i64, String)> {
    let prose = our_part();
    let prose = &prose[..prose.find("<!-- errors -->").unwrap_or(prose.len())];
    let prose = prose.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut stated = Vec::new();
    let mut unknown_forms = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = [rest.find("-320"), rest.find("-326")].into_iter().flatten().min() {
        let candidate = &rest[at..];
        rest = &rest[at + 1..];
        let Ok(code) = candidate.get(..6).unwrap_or_default().parse::<i64>() else { continue };
        let after = &candidate[6..];
        let after = after.strip_prefix("**").unwrap_or(after);
        let found = CONNECTORS.iter().find_map(|(connector, prefix)| {
            let (text, mut tail) = quoted(after.strip_prefix(connector)?)?;
            let mut texts = vec![if *prefix { format!("{text}...") } else { text }];
            while let Some((text, next)) = tail.strip_prefix(" or ").and_then(quoted) {
                texts.push(text);
                tail = next;
            }
            Some((texts, tail))
        });
        match found {
            Some((_, tail))
                if tail.trim_start_matches(')').starts_with(" (not replayed by the docs test") => {}
            Some((texts, _)) => stated.extend(texts.into_iter().map(|text| (code, text))),
            None => {
                // A table cell ends at `|`; what follows is another column.
                let near: String = after.chars().take(12).take_while(|c| *c != '|').collect();
                if near.contains(['`', '"']) {
                    unknown_forms.push(candidate.chars().take(60).collect::<String>());
                }
            }
        }
    }
    assert!(
        unknown_forms.is_empty(),
        "docs/protocol.md states errors in a form docs.rs does not read; write `-32xxx \\`text\\`` \
         or teach CONNECTORS the form:\n{}",
        unknown_forms.join("\n")
    );
    let gating = prose
        .split_once("Gating errors, all code -32600: ")
        .expect("docs/protocol.md has the gating table")
        .1;
    for row in gating.split(" | | ").skip(2) {
        let Some(message) = row.rsplit(" | ").next() else { continue };
        let Some((message, tail)) = quoted(message.trim_start_matches("| ")) else { break };
        stated.push((-32600, message));
        if !tail.trim().is_empty() && tail.trim() != "|" {
            break;
        }
    }
    stated
}

/// The audit log of the server the errors script runs against (named in the script).
const AUDIT_LOG: &str = "/tmp/exec-server-docs-audit.jsonl";

#[tokio::test]
async fn every_error_the_protocol_doc_states_is_what_the_server_answers() {
    // An audit log and a home of its own, for the script's lines about the server's own files.
    let server = Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(|command| {
            command
                .args(["--stdin-write-timeout", "500ms", "--audit-log", AUDIT_LOG])
                .env("HOME", "/tmp/exec-server-docs-home");
        })
        .await;
    let small_frames = Target::ours(env!("CARGO_BIN_EXE_exec-server"))
        .spawn_with(|command| {
            command.args(["--max-message-bytes", "4096"]);
        })
        .await;
    let mut client = RawClient::connect(server.url()).await;
    let session_id = client.initialize("docs").await;
    let mut answered = Vec::new();
    for line in script() {
        let params_at = |index: usize| -> Value {
            let text = line.params.replace('#', &index.to_string());
            serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {}", line.text))
        };
        for index in 0..line.repeat - 1 {
            if let Err(error) = client.request(&line.method, params_at(index)).await {
                panic!("{}\n  repetition {index} answered {} {}", line.text, error.code, error.message);
            }
        }
        let params = params_at(line.repeat - 1);
        let result = if line.mode == Mode::Fresh {
            RawClient::connect(server.url()).await.request(&line.method, params).await
        } else if line.mode == Mode::Uninitialized {
            let mut fresh = RawClient::connect(server.url()).await;
            fresh.request("initialize", json!({ "clientName": "docs" })).await.expect("initialize answers");
            fresh.request(&line.method, params).await
        } else if line.mode == Mode::Frame {
            let mut fresh = RawClient::connect(small_frames.url()).await;
            fresh.send_text(&line.method).await;
            let response = fresh.raw_response(json!(-1)).await;
            let error = &response["error"];
            Err(test_support::ErrorObject {
                code: error["code"].as_i64().unwrap_or_else(|| panic!("no error code: {response}")),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
                data: error.get("data").cloned().unwrap_or(Value::Null),
            })
        } else if line.taken_over {
            let id = client.send_request(&line.method, params).await;
            // The server reads requests in order: once a later one is answered, this one is
            // being served, so the takeover below overtakes it rather than its arrival.
            client.request("process/list", json!({})).await.expect("process/list answers");
            let mut successor = RawClient::connect(server.url()).await;
            successor.resume("docs", &session_id).await.expect("the session resumes");
            let result = client.response(id).await;
            client = successor;
            result
        } else {
            client.request(&line.method, params).await
        };
        match (&line.expected, result) {
            (None, Ok(_)) => {}
            (None, Err(error)) => panic!("{}\n  answered {} {}", line.text, error.code, error.message),
            (Some(_), Ok(value)) => panic!("{}\n  succeeded: {value}", line.text),
            (Some((code, message)), Err(error)) => {
                assert!(
                    error.code == *code && matches(message, &error.message, false),
                    "{}\n  answered {} {}",
                    line.text,
                    error.code,
                    error.message
                );
                if let Some(kind) = error.data.get("kind").and_then(Value::as_str) {
                    answered.push((error.code, kind.to_owned()));
                }
                answered.push((error.code, error.message));
            }
        }
    }
    // The audit log is the server's own file: only the test may remove it.
    let _ = std::fs::remove_file(AUDIT_LOG);
    let unanswered: Vec<String> = stated_errors()
        .into_iter()
        .filter(|(code, text)| {
            !answered
                .iter()
                .any(|(answered_code, message)| answered_code == code && matches(text, message, true))
        })
        .map(|(code, text)| format!("{code} `{text}`"))
        .collect();
    assert!(
        unanswered.is_empty(),
        "docs/protocol.md states errors that no line of its <!-- errors --> script is answered with:\n{}",
        unanswered.join("\n")
    );
}

#[test]
fn patterns() {
    assert!(matches("unknown process id ID", "unknown process id p1", true));
    assert!(!matches("unknown process id ID", "unknown process id p1", false));
    assert!(matches("cannot read PATH: ...", "cannot read /x: gone", true));
    assert!(matches(
        "fs/writeFile requires valid base64 dataBase64: ...",
        "fs/writeFile requires valid base64 dataBase64: bad",
        false
    ));
    assert!(!matches("process ID already exists", "process p1 exists", true));
}
