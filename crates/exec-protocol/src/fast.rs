//! Hand-written encoders for the two frames that carry bulk output.
//!
//! Serializing a `process/output` notification through serde makes serde_json scan the base64
//! text for characters to escape, which costs more than the base64 encoding itself (SPEC §10).
//! Base64 never needs escaping, so these encoders write the fixed JSON around it by hand and encode
//! the bytes straight into the output buffer.
//!
//! Invariant: each encoder produces exactly the bytes that the serde path
//! ([`crate::jsonrpc::write_notification`] / [`crate::jsonrpc::write_response`] with the
//! corresponding struct) produces; the integration tests compare them byte for byte. This module
//! does not frame, compress or send anything.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

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
    let start = out.len();
    out.resize(start + base64_len(bytes.len()), 0);
    let written = STANDARD
        .encode_slice(bytes, &mut out[start..])
        .expect("the buffer was sized with the padded base64 length, which encode_slice needs exactly");
    debug_assert_eq!(start + written, out.len());
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
