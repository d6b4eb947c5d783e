//! OTLP trace export (cargo feature `otlp`, off by default): every request that carried a W3C
//! `traceparent` becomes one span, a child of the caller's, sent as OTLP/HTTP JSON to
//! `$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `$OTEL_EXPORTER_OTLP_ENDPOINT` +
//! `/v1/traces`. Without either variable nothing is exported and nothing runs.
//!
//! Deliberately small and dependency-free: a `tracing` layer that turns the transport's
//! `request{method, traceparent}` spans into OTLP spans, a bounded queue (a full queue drops spans
//! and says so once), and one thread that POSTs batches over plain `http://` (no TLS: export to a
//! local collector or agent, which forwards). It does not sample, retry, or export logs and
//! metrics; `/metrics` and the JSON log cover those.

use std::fmt::Write as _;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{Read as _, Write as _};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Spans waiting for the exporter thread. Past this, spans are dropped (and counted) rather than
/// slowing requests down.
const QUEUE_SPANS: usize = 4096;
/// The most spans in one POST.
const BATCH_SPANS: usize = 512;
/// How long a span waits for more to share its POST.
const BATCH_WAIT: Duration = Duration::from_millis(500);
/// Connect, write and read limit of one POST.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

enum Message {
    Span(Value),
    /// Send what is queued, then answer.
    Flush(SyncSender<()>),
}

/// The exporter's queue, once started; used by [`flush`].
static QUEUE: OnceLock<SyncSender<Message>> = OnceLock::new();

/// The layer, when an endpoint is configured. Starts the exporter thread.
pub(crate) fn layer() -> Option<OtlpLayer> {
    let endpoint = match std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        Ok(url) => url,
        Err(_) => {
            format!("{}/v1/traces", std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()?.trim_end_matches('/'))
        }
    };
    let Some(target) = HttpTarget::parse(&endpoint) else {
        eprintln!("exec-server: OTLP endpoint {endpoint} is not http://HOST:PORT/PATH; not exporting");
        return None;
    };
    let (sender, receiver) = sync_channel(QUEUE_SPANS);
    let spawned = std::thread::Builder::new()
        .name("otlp-export".to_owned())
        .spawn(move || export_loop(&target, &receiver));
    if let Err(error) = spawned {
        eprintln!("exec-server: cannot start the OTLP exporter: {error}");
        return None;
    }
    // Set once, at start-up; a second call would only start an unused thread.
    let _ = QUEUE.set(sender.clone());
    Some(OtlpLayer { sender, dropped_reported: AtomicBool::new(false), ids: IdSource::new() })
}

/// Sends what is queued and waits for it, at most `limit`. Called before the process exits.
pub(crate) fn flush(limit: Duration) {
    let Some(queue) = QUEUE.get() else { return };
    let (done, finished) = sync_channel(1);
    if queue.try_send(Message::Flush(done)).is_ok() {
        // Timing out only means some spans are lost at exit.
        let _ = finished.recv_timeout(limit);
    }
}

/// Turns `request` spans that carry a `traceparent` into OTLP spans.
#[derive(Debug)]
pub(crate) struct OtlpLayer {
    sender: SyncSender<Message>,
    dropped_reported: AtomicBool,
    ids: IdSource,
}

/// What a traced request span carries until it closes (kept in the span's extensions).
struct Open {
    trace_id: String,
    parent_span_id: String,
    span_id: String,
    method: String,
    start_nanos: u64,
}

#[derive(Default)]
struct Fields {
    traceparent: Option<String>,
    method: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "method" => self.method = Some(value.to_owned()),
            "traceparent" => self.traceparent = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%traceparent` arrives as a Display wrapped in Debug: its text is the value itself.
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        if attributes.metadata().name() != "request" {
            return;
        }
        let mut fields = Fields::default();
        attributes.record(&mut fields);
        let Some(traceparent) = fields.traceparent else { return };
        let mut parts = traceparent.split('-');
        let (Some(_version), Some(trace_id), Some(parent_span_id)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let span_id = self.ids.next_span_id();
        let open = Open {
            trace_id: trace_id.to_owned(),
            parent_span_id: parent_span_id.to_owned(),
            span_id,
            method: fields.method.unwrap_or_default(),
            start_nanos: now_nanos(),
        };
        if let Some(span) = context.span(id) {
            span.extensions_mut().insert(open);
        }
    }

    fn on_close(&self, id: Id, context: Context<'_, S>) {
        let Some(span) = context.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else { return };
        let record = json!({
            "traceId": open.trace_id,
            "spanId": open.span_id,
            "parentSpanId": open.parent_span_id,
            "name": open.method,
            "kind": 2,
            "startTimeUnixNano": open.start_nanos.to_string(),
            "endTimeUnixNano": now_nanos().to_string(),
            "attributes": [{"key": "rpc.method", "value": {"stringValue": open.method}}],
        });
        match self.sender.try_send(Message::Span(record)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                // Not through `tracing`: this runs inside the subscriber.
                if !self.dropped_reported.swap(true, Ordering::Relaxed) {
                    eprintln!("exec-server: the OTLP export queue is full; spans are being dropped");
                }
            }
        }
    }
}

fn now_nanos() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// Span ids: unique per process and unpredictable enough for tracing (not a secret): a randomly
/// keyed hash of a counter.
struct IdSource {
    key: std::collections::hash_map::RandomState,
    counter: AtomicU64,
}

impl std::fmt::Debug for IdSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("IdSource")
    }
}

impl IdSource {
    fn new() -> IdSource {
        IdSource { key: std::collections::hash_map::RandomState::new(), counter: AtomicU64::new(0) }
    }

    fn next_span_id(&self) -> String {
        loop {
            let mut hasher = self.key.build_hasher();
            hasher.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
            let id = hasher.finish();
            // An all-zero span id is invalid in W3C and OTLP.
            if id != 0 {
                return format!("{id:016x}");
            }
        }
    }
}

/// `http://HOST:PORT/PATH`.
struct HttpTarget {
    authority: String,
    path: String,
}

impl HttpTarget {
    fn parse(url: &str) -> Option<HttpTarget> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) =
            rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
        let authority =
            if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
        Some(HttpTarget { authority, path })
    }
}

fn export_loop(target: &HttpTarget, receiver: &Receiver<Message>) {
    let mut batch = Vec::new();
    loop {
        let message = if batch.is_empty() {
            receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            receiver.recv_timeout(BATCH_WAIT)
        };
        match message {
            Ok(Message::Span(span)) => {
                batch.push(span);
                if batch.len() < BATCH_SPANS {
                    continue;
                }
            }
            Ok(Message::Flush(done)) => {
                post(target, &mut batch);
                // The flusher may have given up waiting; nothing to do then.
                let _ = done.try_send(());
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                post(target, &mut batch);
                return;
            }
        }
        post(target, &mut batch);
    }
}

/// POSTs `batch` (emptying it) as one OTLP/HTTP JSON request; a failure is logged and the batch
/// is dropped (no retry: the collector is local, and a stuck one must not grow our memory).
fn post(target: &HttpTarget, batch: &mut Vec<Value>) {
    if batch.is_empty() {
        return;
    }
    let spans = std::mem::take(batch);
    let count = spans.len();
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "exec-server"}},
            {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
        ]},
        "scopeSpans": [{"scope": {"name": "exec-server"}, "spans": spans}],
    }]})
    .to_string();
    let mut request = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        request,
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        target.path,
        target.authority,
        body.len()
    );
    let outcome = (|| -> std::io::Result<String> {
        let address = std::net::ToSocketAddrs::to_socket_addrs(&target.authority)?
            .next()
            .ok_or_else(|| std::io::Error::other("the endpoint resolves to no address"))?;
        let mut stream = std::net::TcpStream::connect_timeout(&address, POST_TIMEOUT)?;
        stream.set_write_timeout(Some(POST_TIMEOUT))?;
        stream.set_read_timeout(Some(POST_TIMEOUT))?;
        stream.write_all(request.as_bytes())?;
        let mut head = [0_u8; 64];
        let read = stream.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..read]).into_owned())
    })();
    match outcome {
        Ok(head) if head.split_whitespace().nth(1).is_some_and(|status| status.starts_with('2')) => {
            tracing::debug!(count, "exported spans");
        }
        Ok(head) => {
            tracing::warn!(count, status = %head.lines().next().unwrap_or_default(), "the OTLP endpoint refused spans")
        }
        Err(error) => tracing::warn!(count, %error, "cannot export spans"),
    }
}
