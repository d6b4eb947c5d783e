//! Hand-written encoders for the two frames that carry bulk output, and a one-pass reader for the
//! `process/output` frame.
//!
//! Serializing a `process/output` notification through serde makes serde_json scan the base64
//! text for characters to escape, which costs more than the base64 encoding itself (SPEC §10).
//! Base64 never needs escaping, so these encoders write the fixed JSON around it by hand and encode
//! the bytes straight into the output buffer. Reading is the mirror image: parsing such a frame
//! with serde scans the base64 text for a closing quote or an escape before decoding it (11 % of
//! a streaming client's time), so [`read_output_notification`] recognises the exact frame the
//! encoder writes and decodes the base64 in place. Both sides use a vectorised base64 codec
//! (`base64-simd`): the scalar one was 16 % of the server and 24 % of the client in the same
//! profile.
//!
//! Invariants: each encoder produces exactly the bytes that the serde path
//! ([`crate::jsonrpc::write_notification`] / [`crate::jsonrpc::write_response`] with the
//! corresponding struct) produces; the integration tests compare them byte for byte. The reader
//! accepts only frames that serde would decode to the same notification, and says `None` for
//! everything else (the caller then parses the general way). This module does not frame, compress
//! or send anything.

use std::io::Write as _;

use crate::jsonrpc::RequestId;
use crate::process::Stream;

/// How every frame [`write_output_notification`] writes begins, so a reader can recognize one
/// cheaply (and decode it in one pass) before falling back to general parsing.
pub const OUTPUT_PREFIX: &[u8] = br#"{"jsonrpc":"2.0","method":"process/output","params":{"processId":"#;

/// Appends a complete `process/output` notification frame for `bytes` to `out`.
///
/// Equal, byte for byte, to [`crate::jsonrpc::write_notification`] of a
/// [`crate::process::ProcessOutputNotification`] with the same fields.
pub fn write_output_notification(
    out: &mut Vec<u8>,
    process_id: &str,
    seq: u64,
    stream: Stream,
    bytes: &[u8],
) {
    // Prefix, escaped id, seq and stream, base64, and the closing characters.
    out.reserve(OUTPUT_PREFIX.len() + process_id.len() + 64 + base64_len(bytes.len()));
    out.extend_from_slice(OUTPUT_PREFIX);
    push_json_string(out, process_id);
    push_u64_field(out, b",\"seq\":", seq);
    push_stream_field(out, stream);
    out.extend_from_slice(b",\"chunk\":\"");
    push_base64(out, bytes);
    out.extend_from_slice(b"\"}}");
}

/// The non-chunk fields of a `process/read` result, for [`write_read_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadResponseFields<'a> {
    /// `nextSeq`.
    pub next_seq: u64,
    /// `exited`.
    pub exited: bool,
    /// `exitCode` (`null` when `None`).
    pub exit_code: Option<i32>,
    /// `closed`.
    pub closed: bool,
    /// `failure` (`null` when `None`).
    pub failure: Option<&'a str>,
    /// Extension `droppedBefore` (omitted when `None`).
    pub dropped_before: Option<u64>,
    /// Extension `signal` (omitted when `None`).
    pub signal: Option<i32>,
    /// `sandboxDenied` (omitted when `None`).
    pub sandbox_denied: Option<bool>,
}

/// Appends a complete `process/read` response frame to `out`: `chunks` yields `(seq, stream,
/// bytes)` oldest first.
///
/// Equal, byte for byte, to [`crate::jsonrpc::write_response`] of a
/// [`crate::process::ProcessReadResponse`] with the same fields.
pub fn write_read_response<'b>(
    out: &mut Vec<u8>,
    id: &RequestId,
    chunks: impl IntoIterator<Item = (u64, Stream, &'b [u8])>,
    fields: &ReadResponseFields<'_>,
) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    match id {
        RequestId::Integer(id) => push_i64(out, *id),
        RequestId::String(id) => push_json_string(out, id),
    }
    out.extend_from_slice(br#","result":{"chunks":["#);
    for (index, (seq, stream, bytes)) in chunks.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.reserve(48 + base64_len(bytes.len()));
        push_u64_field(out, b"{\"seq\":", seq);
        push_stream_field(out, stream);
        out.extend_from_slice(b",\"chunk\":\"");
        push_base64(out, bytes);
        out.extend_from_slice(b"\"}");
    }
    push_u64_field(out, b"],\"nextSeq\":", fields.next_seq);
    push_bool_field(out, b",\"exited\":", fields.exited);
    out.extend_from_slice(b",\"exitCode\":");
    match fields.exit_code {
        Some(code) => push_i64(out, i64::from(code)),
        None => out.extend_from_slice(b"null"),
    }
    push_bool_field(out, b",\"closed\":", fields.closed);
    out.extend_from_slice(b",\"failure\":");
    match fields.failure {
        Some(failure) => push_json_string(out, failure),
        None => out.extend_from_slice(b"null"),
    }
    if let Some(dropped_before) = fields.dropped_before {
        push_u64_field(out, b",\"droppedBefore\":", dropped_before);
    }
    if let Some(signal) = fields.signal {
        out.extend_from_slice(b",\"signal\":");
        push_i64(out, i64::from(signal));
    }
    if let Some(denied) = fields.sandbox_denied {
        push_bool_field(out, b",\"sandboxDenied\":", denied);
    }
    out.extend_from_slice(b"}}");
}

fn base64_len(byte_count: usize) -> usize {
    byte_count.div_ceil(3) * 4
}

fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    // Encodes into the spare capacity: no zero-filling of a buffer about to be overwritten.
    base64_simd::STANDARD.encode_append(bytes, out);
}

/// A `process/output` notification read by [`read_output_notification`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputNotification<'a> {
    /// `processId`, borrowed from the frame.
    pub process_id: &'a str,
    /// `seq`.
    pub seq: u64,
    /// `stream`.
    pub stream: Stream,
    /// `chunk`, decoded.
    pub bytes: Vec<u8>,
}

/// Reads a `process/output` frame in one pass, decoding its base64 straight from the frame.
///
/// Accepts exactly the frames [`write_output_notification`] writes for a process id without
/// escapes; `None` for anything else (another message, other key order or spacing, an escaped id,
/// bad base64), which the caller then parses the general way, so `None` never loses a message.
pub fn read_output_notification(frame: &[u8]) -> Option<OutputNotification<'_>> {
    let rest = frame.strip_prefix(OUTPUT_PREFIX)?.strip_prefix(b"\"")?;
    // An id with an escape or a control character takes the general path.
    let id_end = rest.iter().position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
    if rest[id_end] != b'"' {
        return None;
    }
    let process_id = std::str::from_utf8(&rest[..id_end]).ok()?;
    let rest = rest[id_end + 1..].strip_prefix(b",\"seq\":")?;
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    // JSON numbers have no leading zeros; serde_json refuses them too.
    if digits == 0 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let mut seq: u64 = 0;
    for &digit in &rest[..digits] {
        seq = seq.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    let rest = &rest[digits..];
    let (stream, rest) = if let Some(rest) = rest.strip_prefix(b",\"stream\":\"stdout\"") {
        (Stream::Stdout, rest)
    } else if let Some(rest) = rest.strip_prefix(b",\"stream\":\"stderr\"") {
        (Stream::Stderr, rest)
    } else {
        (Stream::Pty, rest.strip_prefix(b",\"stream\":\"pty\"")?)
    };
    let base64 = rest.strip_prefix(b",\"chunk\":\"")?.strip_suffix(b"\"}}")?;
    // A quote inside would be a different document; the decoder refuses it as a non-base64
    // character, as it refuses whitespace and escapes.
    let bytes = base64_simd::STANDARD.decode_to_vec(base64).ok()?;
    Some(OutputNotification { process_id, seq, stream, bytes })
}

fn push_u64_field(out: &mut Vec<u8>, name: &[u8], value: u64) {
    out.extend_from_slice(name);
    // Writing to a Vec cannot fail.
    write!(out, "{value}").expect("writing to a Vec<u8> is infallible");
}

fn push_i64(out: &mut Vec<u8>, value: i64) {
    write!(out, "{value}").expect("writing to a Vec<u8> is infallible");
}

fn push_bool_field(out: &mut Vec<u8>, name: &[u8], value: bool) {
    out.extend_from_slice(name);
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

fn push_stream_field(out: &mut Vec<u8>, stream: Stream) {
    out.extend_from_slice(match stream {
        Stream::Stdout => b",\"stream\":\"stdout\"",
        Stream::Stderr => b",\"stream\":\"stderr\"",
        Stream::Pty => b",\"stream\":\"pty\"",
    });
}

/// Writes `text` as a JSON string with serde_json's escaping: `"` and `\` escaped, the control
/// characters with a short form (`\b \t \n \f \r`) use it, other control characters become
/// `\u00xx` (lowercase hex), everything else (DEL and non-ASCII included) is copied unchanged.
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut copied_up_to = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\x08' => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\x0c' => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f => {
                &[b'\\', b'u', b'0', b'0', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[copied_up_to..index]);
        out.extend_from_slice(escape);
        copied_up_to = index + 1;
    }
    out.extend_from_slice(&bytes[copied_up_to..]);
    out.push(b'"');
}
