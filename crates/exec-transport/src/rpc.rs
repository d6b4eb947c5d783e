//! Framing: how JSON-RPC messages travel over a WebSocket or over newline-delimited stdio.
//!
//! Both transports are reduced to the same two halves: a [`FrameSource`] that yields whole
//! incoming messages (one WebSocket frame, or one line) and a [`FrameSink`] that writes whole
//! outgoing messages. The connection logic above this module never sees which transport it is on.
//! The writer half runs as its own task ([`write_loop`]) fed by a bounded channel, so every
//! producer (responses, notification pumps) shares one ordered, back-pressured path to the socket.
//!
//! This module does not parse JSON; it moves bytes.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

/// How many outgoing frames may wait for the socket. Small on purpose: a full queue is what makes
/// a slow client slow down the notification pumps, and through them the children.
pub(crate) const OUTBOUND_QUEUE_FRAMES: usize = 32;

/// One thing read from the peer.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A complete message: a Text frame, or one line without its newline.
    Message(Bytes),
    /// A complete WebSocket Binary frame. The server reads it as a JSON message, like a Text
    /// frame; a client first checks for a binary `process/output` frame
    /// (`exec_protocol::binary`).
    Binary(Bytes),
    /// The peer sent a message above the configured maximum; it was discarded.
    Oversized { limit: usize },
    /// The peer is alive (it sent a ping or pong); nothing to handle.
    Alive,
    /// The peer broke the WebSocket protocol (an unmasked frame, reserved bits, a Text frame
    /// that is not UTF-8, ...). The connection must end, with this close code and reason.
    Violation { code: u16, reason: String },
}

/// One thing to send to the peer, in queue order.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A complete JSON-RPC message, with its share of the connection's outbound byte budget
    /// (given back once the frame has been handed to the socket).
    Frame(String, Option<OwnedSemaphorePermit>),
    /// A binary `process/output` frame (only on a connection that negotiated `binaryOutput`,
    /// which only a sink with [`FrameSink::CARRIES_BINARY`] grants), with its budget share.
    Binary(Bytes, Option<OwnedSemaphorePermit>),
    /// Close the connection with this code and reason, after everything queued before it.
    Close { code: u16, reason: String },
}

/// The reading half of a transport.
pub(crate) trait FrameSource: Send {
    /// The next incoming item, or `None` when the peer is gone (closed, errored, end of input).
    fn next_frame(&mut self) -> impl Future<Output = Option<Incoming>> + Send;
}

/// The writing half of a transport.
pub(crate) trait FrameSink: Send + 'static {
    /// Whether [`FrameSink::feed_binary`] can carry a binary frame (a WebSocket can; a line
    /// stream cannot).
    const CARRIES_BINARY: bool;
    /// Queues one message; it may sit in a buffer until [`FrameSink::flush`].
    fn feed(&mut self, frame: String) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Queues one binary frame, like [`FrameSink::feed`].
    fn feed_binary(&mut self, frame: Bytes) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Pushes everything fed so far to the peer.
    fn flush(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Sends a keep-alive probe, where the transport has one.
    fn ping(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Closes the transport politely.
    fn close(&mut self, code: u16, reason: String)
    -> impl Future<Output = Result<(), TransportError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    #[error("websocket error: {0}")]
    WebSocket(#[from] tungstenite::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Drains `outbound` into `sink` until the channel closes or the sink fails. Frames are fed in a
/// batch and flushed when the queue runs dry, so a burst costs one flush, not one per frame.
/// With `ping_every`, a ping goes out at that interval so a dead peer is noticed by the reader.
pub(crate) async fn write_loop<S: FrameSink>(
    mut sink: S,
    mut outbound: mpsc::Receiver<Outgoing>,
    ping_every: Option<Duration>,
) -> Result<(), TransportError> {
    let mut ping = ping_every.map(|period| {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    loop {
        let item = tokio::select! {
            item = outbound.recv() => item,
            _ = async { ping.as_mut().expect("guarded by the if").tick().await }, if ping.is_some() => {
                sink.ping().await?;
                sink.flush().await?;
                continue;
            }
        };
        let Some(mut item) = item else {
            return sink.flush().await;
        };
        loop {
            match item {
                Outgoing::Frame(frame, budget) => {
                    sink.feed(frame).await?;
                    drop(budget);
                }
                Outgoing::Binary(frame, budget) => {
                    sink.feed_binary(frame).await?;
                    drop(budget);
                }
                Outgoing::Close { code, reason } => {
                    sink.flush().await?;
                    return sink.close(code, reason).await;
                }
            }
            match outbound.try_recv() {
                Ok(next) => item = next,
                Err(_) => break,
            }
        }
        sink.flush().await?;
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket

/// WebSocket close code for a connection whose session was resumed by another connection
/// (application range 4000–4999). A client must not reconnect and take the session back.
pub(crate) const CLOSE_TAKEN_OVER: u16 = 4000;

/// WebSocket close code "protocol error".
pub(crate) const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// WebSocket close code "invalid frame payload data" (a Text frame that is not UTF-8).
pub(crate) const CLOSE_INVALID_PAYLOAD: u16 = 1007;

/// Reading half of a WebSocket connection.
pub(crate) struct WebSocketSource<S> {
    pub(crate) stream: SplitStream<WebSocketStream<S>>,
    pub(crate) max_message_bytes: usize,
    /// The peer's close frame (code and reason), once one arrived.
    pub(crate) close_frame: Option<(u16, String)>,
}

impl<S> FrameSource for WebSocketSource<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    async fn next_frame(&mut self) -> Option<Incoming> {
        loop {
            return match self.stream.next().await? {
                Ok(Message::Text(text)) => Some(Incoming::Message(Bytes::from(text))),
                Ok(Message::Binary(bytes)) => Some(Incoming::Binary(bytes)),
                Ok(Message::Ping(_) | Message::Pong(_)) => Some(Incoming::Alive),
                Ok(Message::Close(frame)) => {
                    self.close_frame =
                        frame.map(|frame| (u16::from(frame.code), frame.reason.as_str().to_owned()));
                    None
                }
                Ok(Message::Frame(_)) => continue,
                Err(tungstenite::Error::Capacity(error)) => {
                    tracing::warn!(%error, "refusing an oversized websocket message");
                    Some(Incoming::Oversized { limit: self.max_message_bytes })
                }
                Err(tungstenite::Error::Protocol(error)) => {
                    tracing::info!(%error, "websocket protocol violation; closing");
                    Some(Incoming::Violation { code: CLOSE_PROTOCOL_ERROR, reason: error.to_string() })
                }
                Err(tungstenite::Error::Utf8(error)) => {
                    tracing::info!(%error, "a text frame that is not UTF-8; closing");
                    Some(Incoming::Violation {
                        code: CLOSE_INVALID_PAYLOAD,
                        reason: "text frame is not valid UTF-8".to_owned(),
                    })
                }
                Err(error) => {
                    tracing::debug!(%error, "websocket read ended");
                    None
                }
            };
        }
    }
}

/// Writing half of a WebSocket connection.
pub(crate) struct WebSocketSink<S> {
    pub(crate) sink: SplitSink<WebSocketStream<S>, Message>,
}

impl<S> FrameSink for WebSocketSink<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    const CARRIES_BINARY: bool = true;

    async fn feed(&mut self, frame: String) -> Result<(), TransportError> {
        Ok(self.sink.feed(Message::text(frame)).await?)
    }

    async fn feed_binary(&mut self, frame: Bytes) -> Result<(), TransportError> {
        Ok(self.sink.feed(Message::Binary(frame)).await?)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        Ok(self.sink.flush().await?)
    }

    async fn ping(&mut self) -> Result<(), TransportError> {
        Ok(self.sink.feed(Message::Ping(Bytes::new())).await?)
    }

    async fn close(&mut self, code: u16, reason: String) -> Result<(), TransportError> {
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
        Ok(self.sink.send(Message::Close(Some(frame))).await?)
    }
}

// ---------------------------------------------------------------------------------------------
// Newline-delimited stdio (or any byte stream)

/// Reading half of a newline-delimited transport: one JSON message per line.
pub(crate) struct LineSource<R> {
    reader: BufReader<R>,
    max_message_bytes: usize,
    /// The line read so far. Kept across calls so that [`FrameSource::next_frame`] is cancel
    /// safe: a `select!` that drops the future mid-line loses nothing.
    line: Vec<u8>,
    /// Whether the line being read has already passed the limit (its bytes are being skipped).
    oversized: bool,
}

impl<R: AsyncRead + Unpin + Send> LineSource<R> {
    pub(crate) fn new(reader: R, max_message_bytes: usize) -> Self {
        Self {
            reader: BufReader::with_capacity(64 * 1024, reader),
            max_message_bytes,
            line: Vec::new(),
            oversized: false,
        }
    }
}

impl<R: AsyncRead + Unpin + Send> FrameSource for LineSource<R> {
    async fn next_frame(&mut self) -> Option<Incoming> {
        loop {
            // Read the line piecewise so an endless line never grows the buffer past the limit.
            loop {
                let available = match self.reader.fill_buf().await {
                    Ok(available) => available,
                    Err(error) => {
                        tracing::debug!(%error, "line transport read ended");
                        return None;
                    }
                };
                if available.is_empty() {
                    // End of input. A final line without a newline still counts.
                    if self.line.is_empty() && !self.oversized {
                        return None;
                    }
                    break;
                }
                let (take, found_newline) = match available.iter().position(|&byte| byte == b'\n') {
                    Some(position) => (position + 1, true),
                    None => (available.len(), false),
                };
                if !self.oversized {
                    let end = if found_newline { take - 1 } else { take };
                    if self.line.len() + end > self.max_message_bytes {
                        self.oversized = true;
                        self.line = Vec::new();
                    } else {
                        self.line.extend_from_slice(&available[..end]);
                    }
                }
                self.reader.consume(take);
                if found_newline {
                    break;
                }
            }
            let mut line = std::mem::take(&mut self.line);
            if std::mem::take(&mut self.oversized) {
                return Some(Incoming::Oversized { limit: self.max_message_bytes });
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            // Blank lines are keep-alives at most; skip them rather than answering with errors.
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(Incoming::Message(Bytes::from(line)));
        }
    }
}

/// Writing half of a newline-delimited transport.
pub(crate) struct LineSink<W> {
    pub(crate) writer: tokio::io::BufWriter<W>,
}

impl<W: AsyncWrite + Unpin + Send + 'static> LineSink<W> {
    pub(crate) fn new(writer: W) -> Self {
        Self { writer: tokio::io::BufWriter::with_capacity(64 * 1024, writer) }
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> FrameSink for LineSink<W> {
    const CARRIES_BINARY: bool = false;

    async fn feed_binary(&mut self, _frame: Bytes) -> Result<(), TransportError> {
        // Never reached: a connection over lines does not grant `binaryOutput`. Failing the
        // connection is the honest answer should it happen: a raw frame would corrupt the stream.
        Err(TransportError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a line transport cannot carry a binary frame",
        )))
    }

    async fn feed(&mut self, frame: String) -> Result<(), TransportError> {
        // serde_json never emits a raw newline inside a message, so the newline is a safe delimiter.
        self.writer.write_all(frame.as_bytes()).await?;
        Ok(self.writer.write_all(b"\n").await?)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        Ok(self.writer.flush().await?)
    }

    async fn ping(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    async fn close(&mut self, _code: u16, _reason: String) -> Result<(), TransportError> {
        self.writer.flush().await?;
        Ok(self.writer.shutdown().await?)
    }
}

/// Creates the bounded queue that feeds a connection's [`write_loop`].
pub(crate) fn outbound_queue() -> (mpsc::Sender<Outgoing>, mpsc::Receiver<Outgoing>) {
    mpsc::channel(OUTBOUND_QUEUE_FRAMES)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &'static [u8], limit: usize) -> Vec<String> {
        let mut source = LineSource::new(input, limit);
        let mut seen = Vec::new();
        while let Some(item) = source.next_frame().await {
            seen.push(match item {
                Incoming::Message(bytes) | Incoming::Binary(bytes) => {
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                Incoming::Oversized { limit } => format!("<oversized {limit}>"),
                Incoming::Alive => "<alive>".to_owned(),
                Incoming::Violation { code, .. } => format!("<violation {code}>"),
            });
        }
        seen
    }

    #[tokio::test]
    async fn line_framing() {
        assert_eq!(lines(b"{}\n{\"a\":1}\r\n", 100).await, ["{}", "{\"a\":1}"]);
        assert_eq!(lines(b"\n  \n{}\n", 100).await, ["{}"]);
        assert_eq!(lines(b"{}", 100).await, ["{}"]);
        assert_eq!(lines(b"0123456789\n{}\n", 5).await, ["<oversized 5>", "{}"]);
        assert_eq!(lines(b"01234\n", 5).await, ["01234"]);
        assert_eq!(lines(b"", 5).await, Vec::<String>::new());
    }
}
