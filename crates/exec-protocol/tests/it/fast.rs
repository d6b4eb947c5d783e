//! The hand-written encoders must produce exactly the serde bytes, and the one-pass reader must
//! agree with serde on every frame it accepts (and leave the rest to serde).
//!
//! Inputs cover the edges of JSON string escaping in the process id (quotes, backslashes, every
//! control character, DEL, non-ASCII, U+2028) and of base64 padding in the chunk (0, 1, 2, 3 and
//! 64 KiB bytes), plus a seeded pseudo-random sweep.

use exec_protocol::fast::{self, ReadResponseFields};
use exec_protocol::jsonrpc::{self, RequestId};
use exec_protocol::process::{OutputChunk, ProcessOutputNotification, ProcessReadResponse, Stream};
use exec_protocol::{ByteChunk, ProcessId, method};

/// A small deterministic generator (xorshift64*), so failures reproduce without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn text(&mut self, len: usize) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", "0", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "\u{2028}", "😀",
            " ",
        ];
        (0..len).map(|_| PIECES[self.below(PIECES.len() as u64) as usize]).collect()
    }
}

fn serde_output(process_id: &str, seq: u64, stream: Stream, bytes: &[u8]) -> Vec<u8> {
    let notification = ProcessOutputNotification {
        process_id: ProcessId::from(process_id),
        seq,
        stream,
        chunk: ByteChunk::from(bytes),
    };
    let mut out = Vec::new();
    jsonrpc::write_notification(&mut out, method::PROCESS_OUTPUT, &notification).unwrap();
    out
}

#[track_caller]
fn check_output(process_id: &str, seq: u64, stream: Stream, bytes: &[u8]) {
    let mut fast_out = b"previous frame".to_vec();
    fast::write_output_notification(&mut fast_out, process_id, seq, stream, bytes);
    let fast_out = &fast_out[b"previous frame".len()..];
    let serde_out = serde_output(process_id, seq, stream, bytes);
    assert_eq!(
        String::from_utf8_lossy(fast_out),
        String::from_utf8_lossy(&serde_out),
        "id {process_id:?}, {} bytes",
        bytes.len()
    );
    // And it decodes back to the same notification.
    let value: serde_json::Value = serde_json::from_slice(fast_out).unwrap();
    let decoded: ProcessOutputNotification = serde_json::from_value(value["params"].clone()).unwrap();
    assert_eq!(decoded.process_id.as_str(), process_id);
    assert_eq!(decoded.chunk.as_bytes(), bytes);
    // The one-pass reader reads it back, unless the id needs escapes (serde's job then).
    match fast::read_output_notification(fast_out) {
        Some(read) => {
            assert_eq!(read, fast::OutputNotification { process_id, seq, stream, bytes: bytes.to_vec() })
        }
        None => assert!(
            process_id.bytes().any(|byte| byte == b'"' || byte == b'\\' || byte < 0x20),
            "the reader refused a frame of id {process_id:?}"
        ),
    }
}

/// Frames the one-pass reader must leave to serde (`None`), whatever serde then makes of them.
#[track_caller]
fn check_refused(frame: &str) {
    assert_eq!(fast::read_output_notification(frame.as_bytes()), None, "{frame}");
}

#[test]
fn reader_refuses_what_it_does_not_write() {
    let frame =
        |rest: &str| format!(r#"{{"jsonrpc":"2.0","method":"process/output","params":{{"processId":{rest}"#);
    // The reference frame is accepted; each variation below is not.
    let good = frame(r#""p1","seq":1,"stream":"stdout","chunk":"aGkK"}}"#);
    assert_eq!(
        fast::read_output_notification(good.as_bytes()),
        Some(fast::OutputNotification {
            process_id: "p1",
            seq: 1,
            stream: Stream::Stdout,
            bytes: b"hi\n".to_vec()
        })
    );
    check_refused(&frame(r#""p\"1","seq":1,"stream":"stdout","chunk":"aGkK"}}"#));
    check_refused(&frame(r#""p\u0031","seq":1,"stream":"stdout","chunk":"aGkK"}}"#));
    check_refused(&frame(r#""p1","seq":01,"stream":"stdout","chunk":"aGkK"}}"#));
    check_refused(&frame(r#""p1","seq":-1,"stream":"stdout","chunk":"aGkK"}}"#));
    check_refused(&frame(r#""p1","seq":1.0,"stream":"stdout","chunk":"aGkK"}}"#));
    check_refused(&frame(r#""p1","seq":18446744073709551616,"stream":"stdout","chunk":"aGkK"}}"#));
    check_refused(&frame(r#""p1","seq":1,"stream":"stdin","chunk":"aGkK"}}"#));
    check_refused(&frame(r#""p1","seq":1,"stream":"stdout","chunk":"aGk"}}"#));
    check_refused(&frame(r#""p1","seq":1,"stream":"stdout","chunk":"aGl="}}"#));
    check_refused(&frame(r#""p1","seq":1,"stream":"stdout","chunk":"aG\/K"}}"#));
    check_refused(&frame(r#""p1","seq":1,"stream":"stdout","chunk":"aG"K"}}"#));
    check_refused(&frame(r#""p1","seq":1,"stream":"stdout","chunk":"aGkK"}} "#));
    check_refused(&frame(r#""p1","seq":1,"stream":"stdout","chunk":"aGkK","extra":1}}"#));
    check_refused(&frame(r#""p1", "seq":1,"stream":"stdout","chunk":"aGkK"}}"#));
    check_refused(&frame(r#""p1","stream":"stdout","seq":1,"chunk":"aGkK"}}"#));
    check_refused(r#"{"jsonrpc":"2.0","method":"process/exited","params":{"processId":"p1","seq":1}}"#);
    check_refused(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
}

#[test]
fn output_notification_edges() {
    let all_controls: String = (0u8..0x20).map(char::from).collect();
    let ids =
        ["p1", "", "a\"b", "back\\slash", "new\nline", &all_controls, "\u{7f}", "é😀\u{2028}", "</script>"];
    let sizes = [0, 1, 2, 3, 4, 5, 6, 8192, 64 * 1024, 64 * 1024 + 1];
    let mut random = Random(0x5eed);
    for id in ids {
        for size in sizes {
            for stream in [Stream::Stdout, Stream::Stderr, Stream::Pty] {
                check_output(id, random.next(), stream, &random.bytes(size));
            }
        }
    }
    check_output("max", u64::MAX, Stream::Stdout, b"\0\xff");
    check_output("zero", 0, Stream::Pty, b"");
}

#[test]
fn output_notification_random() {
    let mut random = Random(42);
    for _ in 0..500 {
        let id_len = random.below(12) as usize;
        let id = random.text(id_len);
        let size = random.below(300) as usize;
        let stream = [Stream::Stdout, Stream::Stderr, Stream::Pty][random.below(3) as usize];
        check_output(&id, random.next() >> random.below(64), stream, &random.bytes(size));
    }
}

#[test]
fn output_notification_matches_the_documented_frame() {
    let mut out = Vec::new();
    fast::write_output_notification(&mut out, "p1", 1, Stream::Stdout, b"hi\n");
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"jsonrpc":"2.0","method":"process/output","params":{"processId":"p1","seq":1,"stream":"stdout","chunk":"aGkK"}}"#
    );
}

#[track_caller]
fn check_read(id: &RequestId, chunks: &[(u64, Stream, Vec<u8>)], fields: ReadResponseFields<'_>) {
    let mut fast_out = Vec::new();
    fast::write_read_response(
        &mut fast_out,
        id,
        chunks.iter().map(|(seq, stream, bytes)| (*seq, *stream, bytes.as_slice())),
        &fields,
    );
    let response = ProcessReadResponse {
        chunks: chunks
            .iter()
            .map(|(seq, stream, bytes)| OutputChunk {
                seq: *seq,
                stream: *stream,
                chunk: ByteChunk::from(bytes.clone()),
            })
            .collect(),
        next_seq: fields.next_seq,
        exited: fields.exited,
        exit_code: fields.exit_code,
        closed: fields.closed,
        failure: fields.failure.map(str::to_owned),
        dropped_before: fields.dropped_before,
        signal: fields.signal,
        sandbox_denied: fields.sandbox_denied,
    };
    let mut serde_out = Vec::new();
    jsonrpc::write_response(&mut serde_out, id, &response).unwrap();
    assert_eq!(String::from_utf8_lossy(&fast_out), String::from_utf8_lossy(&serde_out));
}

#[test]
fn read_response_edges() {
    let running = ReadResponseFields {
        next_seq: 1,
        exited: false,
        exit_code: None,
        closed: false,
        failure: None,
        dropped_before: None,
        signal: None,
        sandbox_denied: None,
    };
    check_read(&RequestId::from(4), &[], running);
    check_read(&RequestId::from("r\"1\n"), &[], running);
    check_read(&RequestId::from(i64::MIN), &[], running);
    let finished = ReadResponseFields {
        next_seq: 3,
        exited: true,
        exit_code: Some(-1),
        closed: true,
        failure: Some("fail \"quoted\"\n"),
        dropped_before: Some(1),
        signal: Some(9),
        sandbox_denied: Some(true),
    };
    let chunks = vec![(1, Stream::Stdout, b"hi\n".to_vec()), (2, Stream::Stderr, Vec::new())];
    check_read(&RequestId::from(7), &chunks, finished);
    let mut random = Random(7);
    for round in 0..200 {
        let count = random.below(5);
        let chunks: Vec<_> = (0..count)
            .map(|seq| {
                let size = random.below(100) as usize;
                (seq + 1, Stream::Pty, random.bytes(size))
            })
            .collect();
        let failure = random.text(3);
        let fields = ReadResponseFields {
            next_seq: count + 1,
            exited: round % 2 == 0,
            exit_code: (round % 3 == 0).then_some(random.next() as i32),
            closed: round % 4 == 0,
            failure: (round % 5 == 0).then_some(failure.as_str()),
            dropped_before: (round % 6 == 0).then_some(random.next()),
            signal: (round % 7 == 0).then_some(random.next() as i32),
            sandbox_denied: (round % 3 == 1).then_some(round % 2 == 0),
        };
        check_read(&RequestId::from(round), &chunks, fields);
    }
}
