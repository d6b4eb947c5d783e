//! JSON-RPC over WebSocket and stdio for exec-server.
//!
//! This crate is where the wire meets the engine: on the server side it turns JSON-RPC frames
//! into calls on an [`exec_engine::Engine`] and engine events into `process/*` notifications; on
//! the client side, [`ExecClient`] turns them back into ordered events per process. It sits on
//! `exec-protocol` (the wire types), `exec-engine` (processes and sessions) and
//! `shell-env-policy` (evaluating `envPolicy`), and nothing sits between it and the socket but
//! `tokio-tungstenite`'s framing.
//!
//! - [`server`]: [`server::run`] serves WebSocket connections from a bound listener (TLS with a
//!   [`server::TlsIdentity`] in the config); [`server::serve_stdio`] serves one newline-delimited
//!   connection. Both take a [`server::ServerConfig`] and a cancellation token, and kill every
//!   process before returning.
//! - [`client`]: [`ExecClient`] connects to a server (ours or a Codex one) at an [`Endpoint`]
//!   (`ws://` or `wss://`, a command such as `ssh host exec-server --listen stdio`, or any byte
//!   stream), starts processes and hands back a [`ProcessHandle`] per process whose events arrive
//!   in seq order; it survives a dropped connection by dialing again and resuming the session.
//!   It reads and writes the executor's files (`fs/*`, chunked where offered) and implements
//!   `exec_engine::ExecBackend`.
//!
//! # Examples
//!
//! A server:
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use exec_transport::server::{self, ServerConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("ws://{}", listener.local_addr()?);
//! let engine = exec_engine::Engine::new(exec_engine::Config::default());
//! let shutdown = CancellationToken::new();
//! server::run(listener, engine, ServerConfig::default(), shutdown).await
//! # }
//! ```
//!
//! A client running a command and printing its output as it comes:
//!
//! ```no_run
//! # async fn example() -> Result<(), exec_transport::ClientError> {
//! use exec_engine::Event;
//! use exec_transport::{ConnectOptions, ExecClient, ProcessSpec};
//!
//! let client = ExecClient::connect("ws://127.0.0.1:8765", ConnectOptions::default()).await?;
//! let mut build = client.start("build-1", ProcessSpec::new(["make", "-j8"], "/src/project")).await?;
//! while let Some(event) = build.next_event().await {
//!     match event {
//!         Event::Output(chunk) => print!("{}", String::from_utf8_lossy(&chunk.data)),
//!         Event::Exited { status, .. } => println!("exited: {status:?}"),
//!         Event::Closed { .. } | Event::Gap { .. } => {}
//!         Event::Failed { reason, .. } => eprintln!("lost it: {reason}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Invariants
//!
//! - A connection's requests run concurrently except `initialize` and `initialized`, which are
//!   ordering barriers (`server::connection` is the one place that rule lives).
//! - Each process's notifications leave in seq order; the outbound queue is bounded, so a slow
//!   client slows the children it watches instead of growing memory.
//! - Client input never panics the server: every failure is a JSON-RPC error.
//!
//! # Non-goals
//!
//! HTTP beyond `GET /readyz`, client certificates, and any notion of users. Authentication over
//! a command's stdio (ssh) is that command's business.

pub mod client;
pub(crate) mod convert;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod rpc;
pub mod server;

pub use client::{ClientError, ConnectOptions, Endpoint, ExecClient, ProcessHandle, ProcessSpec, Recovery};
