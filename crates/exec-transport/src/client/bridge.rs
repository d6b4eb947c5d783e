//! A relay between a newline-delimited byte stream (stdin/stdout) and a WebSocket server: the far
//! end of [`Endpoint::Command`](super::Endpoint::Command) for a long-lived server.
//!
//! `ssh HOST exec-server --listen stdio` starts a server per connection, so its sessions end with
//! the ssh connection and cannot be resumed. `ssh HOST exec-client --url ws://127.0.0.1:PORT
//! bridge` instead relays to a server that outlives the ssh connection: when ssh drops, the
//! client runs the command again and resumes the session through a new relay.
//!
//! The relay moves whole messages and parses nothing; it ends when either side ends.

use tokio::io::{AsyncRead, AsyncWrite};

use super::dial::{self, Endpoint};
use super::{ClientError, ConnectOptions, dial_error};
use crate::rpc::{FrameSink as _, FrameSource as _, Incoming, LineSink, LineSource};

/// Relays messages between `reader`/`writer` (one JSON-RPC message per line) and the WebSocket
/// server at `url` until either side ends. The end of `reader` closes the WebSocket (the server
/// then detaches the session and keeps it for its TTL).
pub async fn bridge<R, W>(
    url: &str,
    options: &ConnectOptions,
    reader: R,
    writer: W,
) -> Result<(), ClientError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let endpoint = Endpoint::Url(url.to_owned());
    let (mut sink, mut source) =
        dial::open(&endpoint, options).await.map_err(|error| dial_error(url, error))?;
    let mut lines = LineSource::new(reader, options.max_message_bytes);
    let mut out = LineSink::new(writer);
    let lost = |error: crate::rpc::TransportError| ClientError::Disconnected(error.to_string());
    loop {
        tokio::select! {
            line = lines.next_frame() => match line {
                Some(Incoming::Message(bytes) | Incoming::Binary(bytes)) => {
                    let Ok(text) = String::from_utf8(bytes.to_vec()) else {
                        tracing::warn!("dropping a line that is not UTF-8");
                        continue;
                    };
                    sink.feed(without_binary_ask(text)).await.map_err(lost)?;
                    sink.flush().await.map_err(lost)?;
                }
                Some(Incoming::Oversized { limit }) => {
                    return Err(ClientError::Protocol(format!("a message above {limit} bytes on stdin")));
                }
                Some(Incoming::Violation { reason, .. }) => {
                    return Err(ClientError::Protocol(format!("stdin broke the framing: {reason}")));
                }
                Some(Incoming::Alive) => {}
                None => {
                    // The client went away: say goodbye so the session detaches now.
                    let _ = sink.close(1000, String::new()).await;
                    return Ok(());
                }
            },
            frame = source.next_frame() => match frame {
                Some(Incoming::Message(bytes)) => {
                    out.feed(String::from_utf8_lossy(&bytes).into_owned()).await.map_err(lost)?;
                    out.flush().await.map_err(lost)?;
                }
                Some(Incoming::Binary(bytes)) => {
                    out.feed(binary_as_line(&bytes)).await.map_err(lost)?;
                    out.flush().await.map_err(lost)?;
                }
                Some(Incoming::Oversized { limit }) => {
                    return Err(ClientError::Protocol(format!("the server sent a message above {limit} bytes")));
                }
                Some(Incoming::Violation { code, reason }) => {
                    return Err(ClientError::Protocol(format!("the server broke the protocol ({code}: {reason})")));
                }
                Some(Incoming::Alive) => {}
                None => {
                    let reason = match source.take_close_frame() {
                        Some((code, reason)) => format!("the server closed the connection ({code}: {reason})"),
                        None => "the server closed the connection".to_owned(),
                    };
                    return Err(ClientError::Disconnected(reason));
                }
            },
        }
    }
}

/// An `initialize` from the line side with its `binaryOutput` ask taken out: a line cannot carry
/// a binary frame, so the server must not grant them (its answer then says so truthfully, and
/// output comes as JSON notifications). Any other line passes unchanged; only a line that
/// mentions `binaryOutput` is parsed.
fn without_binary_ask(line: String) -> String {
    if !line.contains("binaryOutput") {
        return line;
    }
    let Ok(mut message) = serde_json::from_str::<serde_json::Value>(&line) else {
        return line;
    };
    let is_initialize = message.get("method").and_then(serde_json::Value::as_str) == Some("initialize");
    let removed = is_initialize
        && message
            .get_mut("params")
            .and_then(serde_json::Value::as_object_mut)
            .and_then(|params| params.remove("binaryOutput"))
            .is_some();
    if removed { message.to_string() } else { line }
}

/// A line cannot carry a binary frame. The ask is taken out on the way in
/// ([`without_binary_ask`]), so this is a guard for a server that sends one anyway: a binary
/// `process/output` is relayed as its JSON notification, and anything else in a Binary frame as
/// the JSON text it holds.
fn binary_as_line(bytes: &[u8]) -> String {
    match exec_protocol::binary::decode_output(bytes) {
        Ok(output) => {
            let mut frame = Vec::with_capacity(output.data.len() / 3 * 4 + 128);
            exec_protocol::fast::write_output_notification(
                &mut frame,
                output.process_id,
                output.seq,
                output.stream,
                output.data,
            );
            String::from_utf8_lossy(&frame).into_owned()
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}
