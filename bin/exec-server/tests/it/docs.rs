//! `docs/protocol.md` states error codes and texts; this replays them against the real server so
//! the doc cannot drift.
//!
//! The block after `<!-- errors -->` in the doc is a script: each line is `METHOD PARAMS =>
//! CODE MESSAGE` (or `=> ok`), sent in order on one initialized connection, or on a fresh one
//! that has not sent `initialize` when the line starts with `fresh:`. The answer must carry that
//! code and exactly that message (`...` matches any rest). A line starting with `taken-over:` is
//! sent, then the session is resumed on a new connection before its answer is read; `repeat N:`
//! sends a line N times (`#` in its params is the index) and checks the last answer. An error's
//! `data.kind` counts as its text too (the doc says -32603 `sandboxUnavailable`). Then every error the
//! prose names as a code followed by a backticked text (-32600 `unknown process id ID`) must be
//! matched by some answer of the script, with upper-case words (ID, PATH, N) standing for any
//! text; the section on the peer's behaviour is about the peer and is skipped.

use serde_json::{Value, json};
use test_support::{RawClient, Target};

const PROTOCOL_MD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md"));

/// The part of the doc about our server (the peer's section comes last).
fn our_part() -> &'static str {
    PROTOCOL_MD.split("## Verified against the peer").next().unwrap_or(PROTOCOL_MD)
}

struct Line {
    /// `repeat N:` sends the line N times, `#` in its params standing for 0..N; only the last
    /// answer is checked against the expectation, the others must succeed.
    repeat: usize,
    /// Sent on a fresh connection that has not sent `initialize`.
    fresh: bool,
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
            let (fresh, call) = match call.strip_prefix("fresh: ") {
                Some(call) => (true, call),
                None => (false, call),
            };
            let (taken_over, call) = match call.strip_prefix("taken-over: ") {
                Some(call) => (true, call),
                None => (false, call),
            };
            let (method, params) = call.split_once(' ').unwrap_or((call, "{}"));
            let params = expand_repeats(params);
            let expected = (answer != "ok").then(|| {
                let (code, message) = answer.split_once(' ').unwrap_or((answer, ""));
                (code.parse().unwrap_or_else(|_| panic!("bad code in: {line}")), message.to_owned())
            });
            Line {
                repeat,
                fresh,
                taken_over,
                method: method.to_owned(),
                params,
                expected,
                text: line.to_owned(),
            }
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

/// Every `-32xxx \`text\`` (and -32004) the prose states.
fn stated_errors() -> Vec<(i64, String)> {
    let prose = our_part();
    let mut stated = Vec::new();
    let mut rest = prose;
    while let Some(at) = rest
        .find("-320")
        .or_else(|| rest.find("-326"))
        .map(|_| [rest.find("-320"), rest.find("-326")].into_iter().flatten().min().expect("one was found"))
    {
        let candidate = &rest[at..];
        rest = &rest[at + 1..];
        let code: String = candidate.chars().take(6).collect();
        let Ok(code) = code.parse::<i64>() else { continue };
        let Some(quoted) = candidate[6..].strip_prefix(" `") else { continue };
        // A ``double`` code span holds a backtick of its own.
        let (quoted, close) = match quoted.strip_prefix('`') {
            Some(inner) => (inner.trim_start(), "``"),
            None => (quoted, "`"),
        };
        let Some(end) = quoted.find(close) else { continue };
        let text = quoted[..end].trim_end().replace('\n', " ");
        stated.push((code, text.split_whitespace().collect::<Vec<_>>().join(" ")));
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
            command.args(["--audit-log", AUDIT_LOG]).env("HOME", "/tmp/exec-server-docs-home");
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
        let result = if line.fresh {
            RawClient::connect(server.url()).await.request(&line.method, params).await
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
