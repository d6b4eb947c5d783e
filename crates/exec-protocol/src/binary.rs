//! The negotiated binary `process/output` frame (extension `binaryOutput`).
//!
//! A client that sends `initialize {binaryOutput: true}` over a WebSocket, and is answered with
//! `binaryOutput: true`, receives each `process/output` notification as one WebSocket **Binary**
//! frame laid out as below, instead of a JSON Text frame with base64. Everything else stays JSON.
//!
//! ```text
//! offset  size  field
//! 0       1     tag: 0x01 (process/output, layout version 1)
//! 1       1     stream: 0 stdout, 1 stderr, 2 pty
//! 2       8     seq, unsigned, big-endian
//! 10      2     N = length of the process id in bytes, unsigned, big-endian
//! 12      N     the process id, UTF-8
//! 12+N    rest  the output bytes, raw (may be empty)
//! ```
//!
//! The tag can never begin a JSON text (which starts with `{`, `[`, whitespace, ...), so a reader
//! tells a binary output frame from a JSON message carried in a Binary frame by its first byte.
//!
//! This module only lays bytes out and checks them: it does no I/O, no framing and no
//! negotiation. Decoding never panics: malformed or truncated input is a [`DecodeError`].

use crate::process::Stream;

/// First byte of a binary `process/output` frame: the frame kind and layout version together.
/// A later layout would take another value, which an older reader refuses instead of misreading.
pub const OUTPUT_TAG: u8 = 0x01;

/// Bytes before the process id: tag, stream, seq, id length.
pub const FIXED_HEADER_BYTES: usize = 12;

/// One decoded binary `process/output` frame, borrowing from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryOutput<'a> {
    /// `processId`.
    pub process_id: &'a str,
    /// `seq`.
    pub seq: u64,
    /// `stream`.
    pub stream: Stream,
    /// The output bytes (`chunk`, not base64-encoded).
    pub data: &'a [u8],
}

/// Why a binary frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The process id does not fit the 16-bit length field (the server's ids are at most
    /// `MAX_ID_BYTES`, so it never sees this).
    ProcessIdTooLong {
        /// The id's length in bytes.
        bytes: usize,
    },
}

/// Why a frame is not a valid binary `process/output` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame is empty or its first byte is not [`OUTPUT_TAG`].
    UnknownTag(Option<u8>),
    /// The frame ends inside the fixed header or the process id.
    Truncated {
        /// The frame's length.
        len: usize,
        /// How many bytes the header needs.
        needed: usize,
    },
    /// The stream byte is not 0, 1 or 2.
    UnknownStream(u8),
    /// The process id is not UTF-8.
    ProcessIdNotUtf8,
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::ProcessIdTooLong { bytes } => {
                write!(f, "process id of {bytes} bytes does not fit a binary output frame (limit 65535)")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::UnknownTag(None) => f.write_str("empty binary frame"),
            DecodeError::UnknownTag(Some(tag)) => write!(f, "unknown binary frame tag 0x{tag:02x}"),
            DecodeError::Truncated { len, needed } => {
                write!(f, "binary output frame of {len} bytes is truncated (its header needs {needed})")
            }
            DecodeError::UnknownStream(stream) => {
                write!(f, "unknown stream {stream} in a binary output frame")
            }
            DecodeError::ProcessIdNotUtf8 => f.write_str("process id in a binary output frame is not UTF-8"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// How many bytes [`encode_output_into`] appends for this id and chunk.
pub fn output_frame_len(process_id: &str, data_len: usize) -> usize {
    FIXED_HEADER_BYTES + process_id.len() + data_len
}

/// Appends one binary `process/output` frame to `out`, reserving exactly what it needs first
/// (into an empty `Vec`, that is the frame's one allocation, and `data` is copied once).
pub fn encode_output_into(
    out: &mut Vec<u8>,
    process_id: &str,
    seq: u64,
    stream: Stream,
    data: &[u8],
) -> Result<(), EncodeError> {
    let id_len = u16::try_from(process_id.len())
        .map_err(|_| EncodeError::ProcessIdTooLong { bytes: process_id.len() })?;
    out.reserve_exact(output_frame_len(process_id, data.len()));
    out.push(OUTPUT_TAG);
    out.push(stream_byte(stream));
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&id_len.to_be_bytes());
    out.extend_from_slice(process_id.as_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// Decodes one binary `process/output` frame. The result borrows the id and the data from
/// `frame` (a caller holding the frame as `bytes::Bytes` can slice the data out without a copy).
pub fn decode_output(frame: &[u8]) -> Result<BinaryOutput<'_>, DecodeError> {
    match frame.first() {
        Some(&OUTPUT_TAG) => {}
        other => return Err(DecodeError::UnknownTag(other.copied())),
    }
    let Some(header) = frame.first_chunk::<FIXED_HEADER_BYTES>() else {
        return Err(DecodeError::Truncated { len: frame.len(), needed: FIXED_HEADER_BYTES });
    };
    let stream = match header[1] {
        0 => Stream::Stdout,
        1 => Stream::Stderr,
        2 => Stream::Pty,
        other => return Err(DecodeError::UnknownStream(other)),
    };
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&header[2..10]);
    let id_len = usize::from(u16::from_be_bytes([header[10], header[11]]));
    let id_end = FIXED_HEADER_BYTES + id_len;
    let (Some(id), Some(data)) = (frame.get(FIXED_HEADER_BYTES..id_end), frame.get(id_end..)) else {
        return Err(DecodeError::Truncated { len: frame.len(), needed: id_end });
    };
    let process_id = std::str::from_utf8(id).map_err(|_| DecodeError::ProcessIdNotUtf8)?;
    Ok(BinaryOutput { process_id, seq: u64::from_be_bytes(seq), stream, data })
}

fn stream_byte(stream: Stream) -> u8 {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
        Stream::Pty => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(process_id: &str, seq: u64, stream: Stream, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_output_into(&mut out, process_id, seq, stream, data).unwrap();
        out
    }

    #[track_caller]
    fn check(frame: &[u8], expect: Result<(&str, u64, Stream, &[u8]), DecodeError>) {
        let decoded =
            decode_output(frame).map(|output| (output.process_id, output.seq, output.stream, output.data));
        assert_eq!(decoded, expect);
    }

    #[test]
    fn layout_is_byte_exact() {
        let frame = encode("p1", 0x0102_0304_0506_0708, Stream::Stderr, b"hi");
        assert_eq!(frame, [1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 2, b'p', b'1', b'h', b'i']);
        assert_eq!(frame.len(), output_frame_len("p1", 2));
        assert_eq!(frame.capacity(), frame.len(), "one exact allocation");
    }

    #[test]
    fn round_trips() {
        let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        for stream in [Stream::Stdout, Stream::Stderr, Stream::Pty] {
            for (id, seq, data) in [("p", 1, &data[..]), ("", u64::MAX, &[][..]), ("ünï\"\n", 7, b"\0")] {
                check(&encode(id, seq, stream, data), Ok((id, seq, stream, data)));
            }
        }
        // Appending keeps what was in the buffer.
        let mut out = b"xy".to_vec();
        encode_output_into(&mut out, "p", 1, Stream::Stdout, b"z").unwrap();
        check(&out[2..], Ok(("p", 1, Stream::Stdout, b"z")));
    }

    #[test]
    fn malformed_input_is_an_error() {
        let good = encode("proc", 3, Stream::Stdout, b"data");
        check(b"", Err(DecodeError::UnknownTag(None)));
        check(b"{\"jsonrpc\":\"2.0\"}", Err(DecodeError::UnknownTag(Some(b'{'))));
        check(&[2, 0, 0], Err(DecodeError::UnknownTag(Some(2))));
        // Every prefix cut inside the header or the id is truncated, never a panic.
        for len in 1..FIXED_HEADER_BYTES {
            check(&good[..len], Err(DecodeError::Truncated { len, needed: FIXED_HEADER_BYTES }));
        }
        for len in FIXED_HEADER_BYTES..FIXED_HEADER_BYTES + 4 {
            check(&good[..len], Err(DecodeError::Truncated { len, needed: FIXED_HEADER_BYTES + 4 }));
        }
        // The id may end exactly at the end of the frame: empty data.
        check(&good[..FIXED_HEADER_BYTES + 4], Ok(("proc", 3, Stream::Stdout, b"")));
        let mut bad_stream = good.clone();
        bad_stream[1] = 3;
        check(&bad_stream, Err(DecodeError::UnknownStream(3)));
        let mut huge_id = good.clone();
        huge_id[10..12].copy_from_slice(&u16::MAX.to_be_bytes());
        check(&huge_id, Err(DecodeError::Truncated { len: good.len(), needed: FIXED_HEADER_BYTES + 65535 }));
        let mut not_utf8 = good;
        not_utf8[FIXED_HEADER_BYTES] = 0xff;
        check(&not_utf8, Err(DecodeError::ProcessIdNotUtf8));
    }

    #[test]
    fn every_byte_pattern_of_a_short_frame_decodes_or_errs() {
        // A cheap exhaustive sweep over the header bytes that steer decoding.
        for stream in 0..=255u8 {
            for id_len in [0u16, 1, 2, 3, 255, 256] {
                let mut frame = vec![OUTPUT_TAG, stream, 0, 0, 0, 0, 0, 0, 0, 1];
                frame.extend_from_slice(&id_len.to_be_bytes());
                frame.extend_from_slice(b"ab");
                let _ = decode_output(&frame);
            }
        }
    }

    #[test]
    fn an_id_too_long_for_the_length_field_is_refused() {
        let id = "x".repeat(65_536);
        let mut out = Vec::new();
        let refused = encode_output_into(&mut out, &id, 1, Stream::Stdout, b"");
        assert_eq!(refused, Err(EncodeError::ProcessIdTooLong { bytes: 65_536 }));
        assert!(out.is_empty());
        encode_output_into(&mut out, &id[1..], 1, Stream::Stdout, b"").unwrap();
    }
}
