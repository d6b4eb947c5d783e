//! Shared fixtures: an in-process server on loopback, a TCP proxy that can cut its connections,
//! and a deadline for every wait.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exec_engine::{Config, Engine, Event};
use exec_transport::server::{self, ServerConfig};
use exec_transport::{ConnectOptions, ExecClient, ProcessHandle, Recovery};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// No single wait in these tests may take longer; far above what any of them needs.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A server running on this test's runtime.
pub struct TestServer {
    pub address: SocketAddr,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Config::default()).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let engine = Engine::new(config);
        let server_config = ServerConfig::default();
        let task = tokio::spawn(server::run(listener, engine, server_config, shutdown.clone()));
        TestServer { address, shutdown, task: Some(task) }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.address)
    }

    /// Shuts the server down (every process is killed, every connection closed) and waits.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(DEADLINE, task).await.expect("server stops").unwrap().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Client options for tests: recovery off unless asked for.
pub fn options(recovery: Option<Recovery>) -> ConnectOptions {
    ConnectOptions { recovery, ..ConnectOptions::default() }
}

pub async fn connect(url: &str, recovery: Option<Recovery>) -> ExecClient {
    ExecClient::connect(url, options(recovery)).await.expect("connect")
}

/// A TCP proxy in front of a server; `cut` kills every connection through it at once (with a
/// reset, like a network failure) while new connections keep working, and `freeze` holds back
/// whatever the server sends (so a request can reach the server while its answer is lost).
pub struct Proxy {
    pub address: SocketAddr,
    live: Arc<Mutex<CancellationToken>>,
    frozen: watch::Sender<bool>,
    stop: CancellationToken,
    /// Per accepted connection, in order: how many client-to-server reads it forwarded.
    upstream_reads: watch::Sender<Vec<usize>>,
    /// The same, server to client.
    downstream_reads: watch::Sender<Vec<usize>>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let live = Arc::new(Mutex::new(CancellationToken::new()));
        let (frozen, _) = watch::channel(false);
        let stop = CancellationToken::new();
        let accept_live = Arc::clone(&live);
        let accept_stop = stop.clone();
        let accept_frozen = frozen.clone();
        let (upstream_reads, _) = watch::channel(Vec::new());
        let (downstream_reads, _) = watch::channel(Vec::new());
        let accept_reads = upstream_reads.clone();
        let accept_down_reads = downstream_reads.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = accept_stop.cancelled() => return,
                };
                let Ok((client, _)) = accepted else { continue };
                let cut = accept_live.lock().unwrap().clone();
                let mut index = 0;
                accept_reads.send_modify(|reads| {
                    index = reads.len();
                    reads.push(0);
                });
                accept_down_reads.send_modify(|reads| reads.push(0));
                let counters = [
                    ReadCounter { reads: accept_reads.clone(), index },
                    ReadCounter { reads: accept_down_reads.clone(), index },
                ];
                tokio::spawn(pipe(client, upstream, cut, accept_frozen.subscribe(), counters));
            }
        });
        Proxy { address, live, frozen, stop, upstream_reads, downstream_reads }
    }

    /// Waits until connection number `connection` (0 = the first accepted) has forwarded at
    /// least `reads` client-to-server reads. A WebSocket client's first read is its upgrade
    /// request and its second its first frame (it waits for the 101 in between).
    pub async fn wait_upstream_reads(&self, connection: usize, reads: usize) {
        let reached = Self::reads_reached(&self.upstream_reads, connection, reads);
        tokio::time::timeout(DEADLINE, reached).await.expect("the proxy forwards in time");
    }

    /// How many client-to-server reads connection number `connection` has forwarded so far.
    pub fn upstream_reads(&self, connection: usize) -> usize {
        self.upstream_reads.borrow().get(connection).copied().unwrap_or(0)
    }

    /// The same for server-to-client reads, waiting at most `limit`; whether they happened.
    pub async fn downstream_reads_within(&self, connection: usize, reads: usize, limit: Duration) -> bool {
        let reached = Self::reads_reached(&self.downstream_reads, connection, reads);
        tokio::time::timeout(limit, reached).await.is_ok()
    }

    async fn reads_reached(counts: &watch::Sender<Vec<usize>>, connection: usize, reads: usize) {
        let mut watched = counts.subscribe();
        let reached =
            watched.wait_for(|counts| counts.get(connection).is_some_and(|&count| count >= reads)).await;
        // The sender lives in the proxy, which the caller borrows.
        assert!(reached.is_ok());
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.address)
    }

    /// Resets every connection through the proxy now (and unfreezes the next ones).
    pub fn cut(&self) {
        let mut live = self.live.lock().unwrap();
        live.cancel();
        *live = CancellationToken::new();
        self.frozen.send_replace(false);
    }

    /// Stops forwarding server-to-client bytes until the next `cut`.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.live.lock().unwrap().cancel();
    }
}

/// Counts one connection's client-to-server reads into `Proxy::upstream_reads`.
struct ReadCounter {
    reads: watch::Sender<Vec<usize>>,
    index: usize,
}

async fn pipe(
    client: TcpStream,
    upstream: SocketAddr,
    cut: CancellationToken,
    mut frozen: watch::Receiver<bool>,
    [up_counter, down_counter]: [ReadCounter; 2],
) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = client_read.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<_, std::io::Error>(());
            }
            server_write.write_all(&buffer[..read]).await?;
            up_counter.reads.send_modify(|reads| reads[up_counter.index] += 1);
        }
    };
    let down = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = server_read.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<_, std::io::Error>(());
            }
            if frozen.wait_for(|frozen| !*frozen).await.is_err() {
                return Ok(());
            }
            client_write.write_all(&buffer[..read]).await?;
            down_counter.reads.send_modify(|reads| reads[down_counter.index] += 1);
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
        () = cut.cancelled() => {
            // A zero linger turns the close into a reset, as a dropped network path looks.
            let client = client_read.reunite(client_write).ok();
            let server = server_read.reunite(server_write).ok();
            if let Some(client) = client {
                let _ = client.set_zero_linger();
            }
            if let Some(server) = server {
                let _ = server.set_zero_linger();
            }
        }
    }
}

/// Everything a handle delivered until its stream ended.
#[derive(Debug, Default)]
pub struct Collected {
    pub events: Vec<Event>,
    pub output: Vec<u8>,
}

pub async fn collect(handle: &mut ProcessHandle) -> Collected {
    let mut collected = Collected::default();
    let all = async {
        while let Some(event) = handle.next_event().await {
            if let Event::Output(chunk) = &event {
                collected.output.extend_from_slice(&chunk.data);
            }
            collected.events.push(event);
        }
    };
    tokio::time::timeout(DEADLINE, all).await.expect("the event stream ends in time");
    collected
}
