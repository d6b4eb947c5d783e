//! The HTTP side of an accepted TCP connection: health checks, admission and the WebSocket upgrade.
//!
//! We read the request head ourselves instead of letting the WebSocket crate do it, because one
//! port serves three kinds of request: `GET /livez` and `GET /readyz` (plain HTTP health checks;
//! while the server drains readiness answers 503 and upgrades are refused) and `GET /metrics`
//! (behind the token when one is set), refusals with a
//! precise status (403 for a browser `Origin`, 401 for a missing or wrong bearer token), and the
//! protocol upgrade on any path. After a successful upgrade the socket (plus any bytes read past the
//! head) is handed to `tokio-tungstenite`.
//!
//! This module does not speak JSON-RPC and does not know about sessions.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// The largest request head we accept; real upgrade requests are a few hundred bytes.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Headers parsed at most; a request with more is refused with 431.
const MAX_HEADERS: usize = 64;

/// Who may upgrade: the bearer token (if any) and the browser origins allowed to connect.
#[derive(Clone, Default)]
pub struct Admission {
    /// When set, every upgrade must carry `Authorization: Bearer <token>`.
    pub auth_token: Option<String>,
    /// Exact `Origin` header values allowed to connect. A request without `Origin` (every
    /// non-browser client) is always allowed; a browser origin not listed here gets 403.
    pub allowed_origins: Vec<String>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Admission")
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<redacted>"))
            .field("allowed_origins", &self.allowed_origins)
            .finish()
    }
}

/// What became of one accepted connection's HTTP request.
pub(crate) enum Handshake<S> {
    /// The peer upgraded: speak the protocol on this stream.
    Upgraded(Box<WebSocketStream<S>>),
    /// A plain HTTP request was answered (health check or refusal); the connection is done.
    Answered { status: u16 },
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("i/o error during the HTTP handshake: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer closed the connection before sending a complete request head")]
    Incomplete,
    #[error("no complete request head within {0:?}")]
    TimedOut(Duration),
}

/// Reads the request head, answers health checks and refusals, and performs the upgrade.
pub(crate) async fn accept<S>(
    mut stream: S,
    shared: &super::Shared,
    websocket_config: WebSocketConfig,
    timeout: Duration,
) -> Result<Handshake<S>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (head, leftover) = tokio::time::timeout(timeout, read_head(&mut stream))
        .await
        .map_err(|_| HandshakeError::TimedOut(timeout))??;

    let decision = match parse_request(&head) {
        Ok(request) => {
            // The token may have been rotated since start-up (SIGHUP): judge by the live one.
            let admission = match &shared.config.admission_updates {
                Some(updates) => updates.borrow().clone(),
                None => shared.config.admission.clone(),
            };
            decide(&request, &admission, shared.health.is_draining())
        }
        Err(status) => Decision::Refuse(status, "malformed request"),
    };
    match decision {
        Decision::Ready => {
            respond(&mut stream, 200, "OK", "ok\n").await?;
            Ok(Handshake::Answered { status: 200 })
        }
        Decision::Metrics => {
            let text = shared.metrics.render(&shared.engine.stats());
            respond(&mut stream, 200, "OK", &text).await?;
            Ok(Handshake::Answered { status: 200 })
        }
        Decision::Refuse(status, reason) => {
            respond(&mut stream, status, reason_phrase(status), &format!("{reason}\n")).await?;
            Ok(Handshake::Answered { status })
        }
        Decision::Upgrade { accept_key } => {
            // No `Sec-WebSocket-Extensions` in the answer: an offered `permessage-deflate` is
            // declined by omission, which RFC 7692 allows, so such clients still connect.
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept_key}\r\n\r\n"
            );
            stream.write_all(response.as_bytes()).await?;
            stream.flush().await?;
            let websocket =
                WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(websocket_config))
                    .await;
            Ok(Handshake::Upgraded(Box::new(websocket)))
        }
    }
}

/// How long a refused connection may take to send its request head before it gets its answer
/// (reading it first lets the peer see the answer instead of a reset).
const REFUSAL_READ: Duration = Duration::from_secs(1);

/// Answers 503 to a connection accepted while `limit` connections are still waiting to
/// initialize, then closes it. Bounded in time: nothing here waits on the peer for long.
pub(crate) async fn refuse_busy<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, limit: usize) {
    tracing::warn!(limit, "refusing a connection: too many connections waiting to initialize");
    // The head is read only so the peer sees the answer; what it says does not matter.
    let _ = tokio::time::timeout(REFUSAL_READ, read_head(&mut stream)).await;
    let body = format!("{}\n", exec_protocol::messages::too_many_uninitialized_connections(limit));
    let answer = tokio::time::timeout(REFUSAL_READ, respond(&mut stream, 503, reason_phrase(503), &body));
    if let Ok(Err(error)) = answer.await {
        tracing::debug!(%error, "could not answer a refused connection");
    }
}

/// Reads until the blank line that ends the head; returns the head and any bytes after it.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(Vec<u8>, Vec<u8>), HandshakeError> {
    let mut buffer = Vec::with_capacity(1024);
    let mut scratch = [0u8; 2048];
    loop {
        let read = stream.read(&mut scratch).await?;
        if read == 0 {
            return Err(HandshakeError::Incomplete);
        }
        let search_from = buffer.len().saturating_sub(3);
        buffer.extend_from_slice(&scratch[..read]);
        if let Some(position) = buffer[search_from..].windows(4).position(|window| window == b"\r\n\r\n") {
            let end = search_from + position + 4;
            let leftover = buffer.split_off(end);
            return Ok((buffer, leftover));
        }
        if buffer.len() > MAX_HEAD_BYTES {
            // Treat an endless head like a malformed one; the caller answers 431 below.
            return Ok((buffer, Vec::new()));
        }
    }
}

/// The parts of a request head that admission looks at.
#[derive(Debug, Default, PartialEq, Eq)]
struct Request {
    method: String,
    path: String,
    upgrade_websocket: bool,
    websocket_key: Option<String>,
    origin: Option<String>,
    authorization: Option<String>,
}

fn parse_request(head: &[u8]) -> Result<Request, u16> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(431),
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        Err(_) => return Err(400),
    }
    let mut request = Request {
        method: parsed.method.unwrap_or_default().to_owned(),
        path: parsed.path.unwrap_or_default().to_owned(),
        ..Request::default()
    };
    for header in parsed.headers.iter() {
        let value = String::from_utf8_lossy(header.value).trim().to_owned();
        if header.name.eq_ignore_ascii_case("upgrade") {
            request.upgrade_websocket |= value.eq_ignore_ascii_case("websocket");
        } else if header.name.eq_ignore_ascii_case("sec-websocket-key") {
            request.websocket_key = Some(value);
        } else if header.name.eq_ignore_ascii_case("origin") {
            request.origin = Some(value);
        } else if header.name.eq_ignore_ascii_case("authorization") {
            request.authorization = Some(value);
        }
    }
    Ok(request)
}

#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Ready,
    /// `GET /metrics`, admitted.
    Metrics,
    Refuse(u16, &'static str),
    Upgrade {
        accept_key: String,
    },
}

fn decide(request: &Request, admission: &Admission, draining: bool) -> Decision {
    if !request.upgrade_websocket {
        return match (request.method.as_str(), request.path.as_str()) {
            ("GET" | "HEAD", "/livez") => Decision::Ready,
            ("GET" | "HEAD", "/readyz") if draining => Decision::Refuse(503, "draining"),
            ("GET" | "HEAD", "/readyz") => Decision::Ready,
            ("GET", "/metrics") if !authorized(request, admission) => {
                Decision::Refuse(401, "missing or invalid bearer token")
            }
            ("GET", "/metrics") => Decision::Metrics,
            ("GET", _) => Decision::Refuse(426, "this endpoint speaks JSON-RPC over WebSocket"),
            _ => Decision::Refuse(404, "not found"),
        };
    }
    if request.method != "GET" {
        return Decision::Refuse(405, "a WebSocket upgrade must use GET");
    }
    if let Some(origin) = &request.origin
        && !admission.allowed_origins.iter().any(|allowed| allowed == origin)
    {
        return Decision::Refuse(403, "browser origin not allowed");
    }
    if !authorized(request, admission) {
        return Decision::Refuse(401, "missing or invalid bearer token");
    }
    if draining {
        return Decision::Refuse(503, "server is shutting down");
    }
    match &request.websocket_key {
        Some(key) => Decision::Upgrade { accept_key: derive_accept_key(key.as_bytes()) },
        None => Decision::Refuse(400, "missing Sec-WebSocket-Key"),
    }
}

/// Whether the request carries the configured bearer token (always true without one).
fn authorized(request: &Request, admission: &Admission) -> bool {
    let Some(token) = &admission.auth_token else { return true };
    let presented = request.authorization.as_deref().and_then(|value| {
        let (scheme, credentials) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
    });
    presented.is_some_and(|presented| constant_time_eq(presented.as_bytes(), token.as_bytes()))
}

/// Compares two secrets without an early exit, so the time taken does not reveal how many leading
/// bytes matched. (The length is not secret: tokens are generated at a fixed length.)
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let difference = left.iter().zip(right).fold(0u8, |accumulator, (a, b)| accumulator | (a ^ b));
    std::hint::black_box(difference) == 0
}

async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    reason: &str,
    body: &str,
) -> std::io::Result<()> {
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    if status == 401 {
        response.push_str("WWW-Authenticate: Bearer\r\n");
    }
    response.push_str("\r\n");
    response.push_str(body);
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;
    // A polite close: the peer sees the whole response before the socket goes away.
    stream.shutdown().await
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                           Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    #[track_caller]
    fn check(head: &str, admission: &Admission, expect: Decision) {
        check_draining(head, admission, false, expect);
    }

    #[track_caller]
    fn check_draining(head: &str, admission: &Admission, draining: bool, expect: Decision) {
        let head = format!("{head}\r\n");
        let decision = match parse_request(head.as_bytes()) {
            Ok(request) => decide(&request, admission, draining),
            Err(status) => Decision::Refuse(status, "malformed request"),
        };
        assert_eq!(decision, expect, "for head {head:?}");
    }

    fn upgraded() -> Decision {
        // The RFC 6455 sample key and its accept value.
        Decision::Upgrade { accept_key: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_owned() }
    }

    fn with_token() -> Admission {
        Admission { auth_token: Some("s3cret".to_owned()), allowed_origins: vec![] }
    }

    #[test]
    fn decisions() {
        let open = Admission::default();
        check("GET /readyz HTTP/1.1\r\nHost: x\r\n", &open, Decision::Ready);
        check("GET /readyz HTTP/1.1\r\nHost: x\r\n", &with_token(), Decision::Ready);
        check(
            "GET / HTTP/1.1\r\nHost: x\r\n",
            &open,
            Decision::Refuse(426, "this endpoint speaks JSON-RPC over WebSocket"),
        );
        check("POST /readyz HTTP/1.1\r\n", &open, Decision::Refuse(404, "not found"));
        check("garbage\r\n", &open, Decision::Refuse(400, "malformed request"));
        check(UPGRADE, &open, upgraded());
        check(&UPGRADE.replace("GET / ", "GET /any/path "), &open, upgraded());
        check(&format!("{UPGRADE}Sec-WebSocket-Extensions: permessage-deflate\r\n"), &open, upgraded());
        check(
            &format!("{UPGRADE}Origin: https://evil.example\r\n"),
            &open,
            Decision::Refuse(403, "browser origin not allowed"),
        );
        let allowed = Admission { auth_token: None, allowed_origins: vec!["https://ok.example".to_owned()] };
        check(&format!("{UPGRADE}Origin: https://ok.example\r\n"), &allowed, upgraded());
        check(UPGRADE, &with_token(), Decision::Refuse(401, "missing or invalid bearer token"));
        check(
            &format!("{UPGRADE}Authorization: Bearer wrong!\r\n"),
            &with_token(),
            Decision::Refuse(401, "missing or invalid bearer token"),
        );
        check(
            &format!("{UPGRADE}Authorization: Basic s3cret\r\n"),
            &with_token(),
            Decision::Refuse(401, "missing or invalid bearer token"),
        );
        check(&format!("{UPGRADE}Authorization: Bearer s3cret\r\n"), &with_token(), upgraded());
        check(&format!("{UPGRADE}authorization: bearer s3cret\r\n"), &with_token(), upgraded());
        check(
            &UPGRADE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            &open,
            Decision::Refuse(400, "missing Sec-WebSocket-Key"),
        );
    }

    #[test]
    fn metrics_behind_the_token() {
        check("GET /metrics HTTP/1.1\r\nHost: x\r\n", &Admission::default(), Decision::Metrics);
        check(
            "GET /metrics HTTP/1.1\r\nHost: x\r\n",
            &with_token(),
            Decision::Refuse(401, "missing or invalid bearer token"),
        );
        check("GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n", &with_token(), Decision::Metrics);
    }

    #[test]
    fn health_while_draining() {
        let open = Admission::default();
        check("GET /livez HTTP/1.1\r\nHost: x\r\n", &open, Decision::Ready);
        check("HEAD /livez HTTP/1.1\r\nHost: x\r\n", &with_token(), Decision::Ready);
        check_draining("GET /livez HTTP/1.1\r\nHost: x\r\n", &open, true, Decision::Ready);
        check_draining("GET /readyz HTTP/1.1\r\nHost: x\r\n", &open, true, Decision::Refuse(503, "draining"));
        check_draining(UPGRADE, &open, true, Decision::Refuse(503, "server is shutting down"));
        // Admission is still checked first: a draining server tells nothing to a bad origin.
        check_draining(
            &format!("{UPGRADE}Origin: https://evil.example\r\n"),
            &open,
            true,
            Decision::Refuse(403, "browser origin not allowed"),
        );
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
