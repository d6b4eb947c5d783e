//! The client half of `cargo xtask wan`: the latency of one short command (`/bin/echo hi`) over a
//! slow link, once the connection and the handshake are up, through three call patterns:
//!
//! - `codex`: what the Codex 0.171 client sends for one command (docs/codex-0.171-wire.md §3):
//!   `process/start`, the notifications up to `process/closed` (its `process/exited` carries
//!   `sandboxDenied`, so no `process/read`), then `process/terminate`, answered. Raw JSON over a
//!   WebSocket, so it runs against the Codex server and ours alike.
//! - `plain`: `ExecClient::start` and the handle's events up to the close.
//! - `inline`: the same with `ProcessSpec::inline_wait` (one round trip when the server offers
//!   `startWait`).
//!
//! - `baseline`: one request answered without work (`process/read` of an unknown id): the link's
//!   own round trip, stacks and relay included.
//!
//! Also `proxy`: a TCP relay that holds every chunk for a fixed delay in each direction, for
//! machines whose kernel has no `netem` (the xtask says which one it used).
//!
//! Usage: `wan_bench baseline|codex|plain|inline URL RUNS` prints `RESULT MODE median_ms=.. min_ms=..`;
//! `wan_bench proxy LISTEN UPSTREAM DELAY_MS` prints `LISTENING ADDR` and relays until killed.
//! Timing lives here, never in tests.

use std::time::{Duration, Instant};

use exec_transport::{ConnectOptions, ExecClient, ProcessSpec};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const COMMAND: [&str; 2] = ["/bin/echo", "hi"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [mode @ ("baseline" | "codex" | "plain" | "inline"), url, runs] => {
            let runs: usize = runs.parse().expect("RUNS is a number");
            let samples = runtime.block_on(measure(mode, url, runs));
            let mut sorted = samples.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "RESULT {mode} median_ms={:.2} min_ms={:.2} max_ms={:.2} runs={runs}",
                sorted[sorted.len() / 2],
                sorted[0],
                sorted[sorted.len() - 1]
            );
        }
        ["proxy", listen, upstream, delay_ms] => {
            let delay = Duration::from_millis(delay_ms.parse().expect("DELAY_MS is a number"));
            runtime.block_on(proxy(listen, upstream, delay));
        }
        _ => {
            eprintln!(
                "usage: wan_bench baseline|codex|plain|inline URL RUNS | wan_bench proxy LISTEN UPSTREAM DELAY_MS"
            );
            std::process::exit(2);
        }
    }
}

/// Milliseconds per command, `runs` times, after one unmeasured warm-up command.
async fn measure(mode: &str, url: &str, runs: usize) -> Vec<f64> {
    let mut samples = Vec::new();
    match mode {
        "baseline" => {
            // One request the server answers without work (an unknown process: an error): what
            // a round trip costs on this link, relay and stacks included.
            let mut client = RawClient::connect(url).await;
            for _ in 0..=runs {
                let began = Instant::now();
                let id = client.send("process/read", json!({ "processId": "no-such-process" })).await;
                client.until(|frame| frame["id"] == id).await;
                samples.push(began.elapsed().as_secs_f64() * 1e3);
            }
        }
        "codex" => {
            let mut client = RawClient::connect(url).await;
            for run in 0..=runs {
                let began = Instant::now();
                client.codex_command(&format!("wan-{run}")).await;
                samples.push(began.elapsed().as_secs_f64() * 1e3);
            }
        }
        _ => {
            let client = ExecClient::connect(url, ConnectOptions::default()).await.expect("connect");
            for run in 0..=runs {
                let mut spec = ProcessSpec::new(COMMAND, "/").env_policy(None);
                if mode == "inline" {
                    assert!(
                        client.has_capability(exec_protocol::capability::START_WAIT),
                        "the server does not offer startWait"
                    );
                    spec = spec.inline_wait(Duration::from_secs(10), None);
                }
                let began = Instant::now();
                let mut handle = client.start(format!("wan-{run}"), spec).await.expect("start");
                let mut output = Vec::new();
                while let Some(event) = handle.next_event().await {
                    if let exec_engine::Event::Output(chunk) = event {
                        output.extend_from_slice(&chunk.data);
                    }
                }
                samples.push(began.elapsed().as_secs_f64() * 1e3);
                assert_eq!(output, b"hi\n");
            }
        }
    }
    samples.remove(0);
    samples
}

/// A JSON-RPC client on one WebSocket, speaking as the Codex 0.171 client does.
struct RawClient {
    socket: tokio_tungstenite::WebSocketStream<TcpStream>,
    next_id: u64,
}

impl RawClient {
    async fn connect(url: &str) -> RawClient {
        let authority = url.strip_prefix("ws://").expect("a ws:// URL").trim_end_matches('/');
        let stream = TcpStream::connect(authority).await.expect("TCP connect");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (socket, _) = tokio_tungstenite::client_async(url, stream).await.expect("WebSocket handshake");
        let mut client = RawClient { socket, next_id: 1 };
        let id = client
            .send("initialize", json!({ "clientName": "codex-environment", "resumeSessionId": null }))
            .await;
        client.until(|frame| frame["id"] == id).await;
        client.notify("initialized").await;
        client
    }

    /// One command as the 0.171 client runs it: start, every notification up to the close (and
    /// the start's answer), then terminate and its answer.
    async fn codex_command(&mut self, process_id: &str) {
        let params = json!({
            "processId": process_id, "argv": COMMAND, "cwd": "file:///", "tty": false, "pipeStdin": false,
            "arg0": null, "env": { "TERM": "dumb", "PAGER": "cat", "NO_COLOR": "1" },
            "envPolicy": { "inherit": "all", "ignoreDefaultExcludes": true, "includeOnly": [], "set": {},
                           "exclude": [] },
            "sandbox": null,
        });
        let start = self.send("process/start", params).await;
        let (mut answered, mut closed, mut output) = (false, false, Vec::new());
        while !(answered && closed) {
            let frame = self.frame().await;
            if frame["id"] == start {
                assert!(frame.get("result").is_some(), "process/start failed: {frame}");
                answered = true;
            } else if frame["params"]["processId"] == process_id {
                match frame["method"].as_str() {
                    Some("process/output") => {
                        output.extend(decode_base64(frame["params"]["chunk"].as_str().unwrap_or_default()))
                    }
                    Some("process/closed") => closed = true,
                    _ => {}
                }
            }
        }
        assert_eq!(output, b"hi\n");
        let terminate = self.send("process/terminate", json!({ "processId": process_id })).await;
        self.until(|frame| frame["id"] == terminate).await;
    }

    async fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({ "id": id, "method": method, "params": params });
        self.socket.send(Message::Text(request.to_string().into())).await.expect("send");
        id
    }

    async fn notify(&mut self, method: &str) {
        let notification = json!({ "method": method });
        self.socket.send(Message::Text(notification.to_string().into())).await.expect("send");
    }

    async fn frame(&mut self) -> Value {
        loop {
            match self.socket.next().await.expect("the server closed").expect("read") {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Binary(bytes) => return serde_json::from_slice(&bytes).expect("JSON"),
                _ => {}
            }
        }
    }

    async fn until(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = self.frame().await;
            if wanted(&frame) {
                return frame;
            }
        }
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).expect("base64")
}

/// Relays TCP connections from `listen` to `upstream`, holding every chunk `delay` in each
/// direction (order kept): a fixed-latency link without bandwidth limits.
async fn proxy(listen: &str, upstream: &str, delay: Duration) {
    let listener = TcpListener::bind(listen).await.expect("bind");
    println!("LISTENING {}", listener.local_addr().expect("address"));
    loop {
        let (client, _) = listener.accept().await.expect("accept");
        let server = TcpStream::connect(upstream).await.expect("connect upstream");
        for stream in [&client, &server] {
            stream.set_nodelay(true).expect("TCP_NODELAY");
        }
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        tokio::spawn(delayed(client_read, server_write, delay));
        tokio::spawn(delayed(server_read, client_write, delay));
    }
}

async fn delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    // Unbounded on purpose: a link holds what is in flight; this carries a few small frames.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            if sender.send((tokio::time::Instant::now() + delay, buffer[..read].to_vec())).is_err() {
                return;
            }
        }
    });
    while let Some((due, bytes)) = receiver.recv().await {
        tokio::time::sleep_until(due).await;
        if to.write_all(&bytes).await.is_err() {
            return;
        }
    }
}
