//! JSON-RPC over WebSocket and stdio for exec-server.
//!
//! This crate is where the wire meets the engine: it turns JSON-RPC frames into calls on an
//! [`exec_engine::Engine`] and engine events into `process/*` notifications. It sits on
//! `exec-protocol` (the wire types), `exec-engine` (processes and sessions) and
//! `shell-env-policy` (evaluating `envPolicy`), and nothing sits between it and the socket but
//! `tokio-tungstenite`'s framing.
//!
//! - [`server`]: [`server::run`] serves WebSocket connections from a bound listener;
//!   [`server::serve_stdio`] serves one newline-delimited connection. Both take a
//!   [`server::ServerConfig`] and a cancellation token, and kill every process before returning.
//!
//! # Example
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
//! TLS (terminate it in front of the server), HTTP beyond `GET /readyz`, and any notion of users.

pub mod client;
pub(crate) mod rpc;
pub mod server;

pub use client::{ClientError, ConnectOptions, ExecClient, ProcessHandle, ProcessSpec, Recovery};
