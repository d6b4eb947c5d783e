//! A std-only WebSocket relay between `codex exec` and the executor under test.
//!
//! It forwards every byte unchanged (after removing the client's `Sec-WebSocket-Extensions`
//! offer, so that frames stay uncompressed and readable), records each JSON-RPC message in both
//! directions, and can cut the connection once, mid-run, to exercise the client's reconnect.
//! It understands just enough of RFC 6455 to find message boundaries and unmask client payloads;
//! it does not validate frames, answer pings or speak the protocol itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Direction of one recorded message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From `codex exec` to the executor.
    ClientToServer,
    /// From the executor to `codex exec`.
    ServerToClient,
}

/// One JSON-RPC message seen by the relay.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Milliseconds since the relay started.
    pub at_ms: u128,
    /// Which accepted connection carried it, counting from 1.
    pub connection: usize,
    pub direction: Direction,
    /// The parsed message, or a JSON string holding the text when it was not JSON.
    pub message: serde_json::Value,
}

/// When to cut the connection: after a client message containing `needle` was forwarded, wait
/// `delay`, then shut both sockets down. It fires once per relay.
#[derive(Clone, Debug)]
pub struct CutPlan {
    pub needle: String,
    pub delay: Duration,
}

/// State shared by the accept loop and the pump threads. The frames list is appended by the
/// pumps and read by the flow once `codex exec` has finished.
struct Shared {
    upstream: String,
    started: Instant,
    frames: Mutex<Vec<Frame>>,
    connections: AtomicUsize,
    cut: Option<CutPlan>,
    cut_done: AtomicBool,
    /// Both sockets of every connection, so the cut and `stop` can shut them down.
    sockets: Mutex<Vec<(TcpStream, TcpStream)>>,
    stopping: AtomicBool,
}

/// A running relay; dropping it stops accepting and closes every connection.
pub struct Relay {
    shared: Arc<Shared>,
    port: u16,
}

impl Relay {
    /// Listens on 127.0.0.1:0 and relays each accepted connection to `upstream` (`host:port`).
    pub fn start(upstream: &str, cut: Option<CutPlan>) -> Result<Relay, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|error| format!("relay bind: {error}"))?;
        let port = listener.local_addr().map_err(|error| format!("relay address: {error}"))?.port();
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            started: Instant::now(),
            frames: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            cut,
            cut_done: AtomicBool::new(false),
            sockets: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        std::thread::spawn(move || accept_loop(&listener, &accept_shared));
        Ok(Relay { shared, port })
    }

    /// The URL `codex exec` dials.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Every message recorded so far, in the order the pumps saw them.
    pub fn frames(&self) -> Vec<Frame> {
        self.shared.frames.lock().expect("relay frames lock").clone()
    }

    /// How many connections the client opened.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Whether the planned cut happened.
    pub fn was_cut(&self) -> bool {
        self.shared.cut_done.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        shutdown_all(&self.shared);
        // Wake the blocking accept so its thread sees `stopping` and ends; a failed dial means
        // the listener is already gone, which is the goal.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn shutdown_all(shared: &Shared) {
    for (client, server) in shared.sockets.lock().expect("relay sockets lock").drain(..) {
        // Shutting down a socket the peer already closed fails harmlessly.
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let connection = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let shared = Arc::clone(shared);
        std::thread::spawn(move || {
            if let Err(error) = relay_connection(client, connection, &shared) {
                eprintln!("codex-e2e: relay connection {connection}: {error}");
            }
        });
    }
}

fn relay_connection(client: TcpStream, connection: usize, shared: &Arc<Shared>) -> Result<(), String> {
    let server = TcpStream::connect(&shared.upstream).map_err(|error| format!("dial executor: {error}"))?;
    // Small JSON-RPC messages must not wait for delayed ACKs in either hop; failure only costs time.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let clone = |stream: &TcpStream| stream.try_clone().map_err(|error| format!("clone socket: {error}"));
    shared.sockets.lock().expect("relay sockets lock").push((clone(&client)?, clone(&server)?));

    let mut client_reader = BufReader::new(clone(&client)?);
    let mut server_writer = clone(&server)?;
    let request = read_head(&mut client_reader)?;
    let request: String = request
        .split_inclusive("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("sec-websocket-extensions:"))
        .collect();
    server_writer.write_all(request.as_bytes()).map_err(|error| format!("forward handshake: {error}"))?;

    let mut server_reader = BufReader::new(clone(&server)?);
    let mut client_writer = clone(&client)?;
    let response = read_head(&mut server_reader)?;
    client_writer
        .write_all(response.as_bytes())
        .map_err(|error| format!("forward handshake reply: {error}"))?;

    let up_shared = Arc::clone(shared);
    let upward = std::thread::spawn(move || {
        pump(&mut client_reader, &mut server_writer, connection, Direction::ClientToServer, &up_shared);
    });
    pump(&mut server_reader, &mut client_writer, connection, Direction::ServerToClient, shared);
    // Either side ending ends the connection: close both so the other pump returns too.
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    let _ = upward.join();
    Ok(())
}

/// Reads an HTTP head (through the blank line) and returns it verbatim.
fn read_head(reader: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let read = reader.read_line(&mut line).map_err(|error| format!("read handshake: {error}"))?;
        if read == 0 {
            return Err("connection closed during the handshake".to_owned());
        }
        head.push_str(&line);
        if line == "\r\n" {
            return Ok(head);
        }
    }
}

/// Copies frames from `reader` to `writer` until either side fails, recording text messages.
fn pump(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    connection: usize,
    direction: Direction,
    shared: &Arc<Shared>,
) {
    let mut message = Vec::new();
    loop {
        let Ok((raw, opcode, fin, payload)) = read_frame(reader) else { return };
        if writer.write_all(&raw).is_err() {
            return;
        }
        // Opcodes: 0 continuation, 1 text, 2 binary; 8 and up are control frames.
        if opcode >= 8 {
            continue;
        }
        message.extend_from_slice(&payload);
        if !fin {
            continue;
        }
        let text = String::from_utf8_lossy(&message).into_owned();
        message.clear();
        let parsed = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.clone()));
        shared.frames.lock().expect("relay frames lock").push(Frame {
            at_ms: shared.started.elapsed().as_millis(),
            connection,
            direction,
            message: parsed,
        });
        if direction == Direction::ClientToServer
            && let Some(plan) = &shared.cut
            && text.contains(&plan.needle)
            && !shared.cut_done.swap(true, Ordering::SeqCst)
        {
            let delay = plan.delay;
            let shared = Arc::clone(shared);
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                shutdown_all(&shared);
            });
        }
    }
}

/// Reads one frame; returns its raw bytes (to forward), opcode, FIN bit and unmasked payload.
pub(super) fn read_frame(reader: &mut BufReader<TcpStream>) -> std::io::Result<(Vec<u8>, u8, bool, Vec<u8>)> {
    let mut head = [0_u8; 2];
    reader.read_exact(&mut head)?;
    let mut raw = head.to_vec();
    let fin = head[0] & 0x80 != 0;
    let opcode = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let length = match head[1] & 0x7f {
        126 => {
            let mut extended = [0_u8; 2];
            reader.read_exact(&mut extended)?;
            raw.extend_from_slice(&extended);
            u64::from(u16::from_be_bytes(extended))
        }
        127 => {
            let mut extended = [0_u8; 8];
            reader.read_exact(&mut extended)?;
            raw.extend_from_slice(&extended);
            u64::from_be_bytes(extended)
        }
        short => u64::from(short),
    };
    let mut mask = [0_u8; 4];
    if masked {
        reader.read_exact(&mut mask)?;
        raw.extend_from_slice(&mask);
    }
    let length = usize::try_from(length).map_err(|_| std::io::Error::other("frame too large"))?;
    let mut payload = vec![0_u8; length];
    reader.read_exact(&mut payload)?;
    raw.extend_from_slice(&payload);
    if masked {
        for (index, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[index % 4];
        }
    }
    Ok((raw, opcode, fin, payload))
}
