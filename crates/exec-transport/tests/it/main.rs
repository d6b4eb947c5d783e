//! Integration tests of `exec-transport`'s client against its server, in one process.
//!
//! - `backend`: the engine's behaviour cases, run once against the local engine and once against
//!   an `ExecClient` connected to a real server over loopback: local and remote must agree.
//! - `binary`: negotiated binary output frames through `ExecClient` (64 MiB byte-exact, turned
//!   off, asked for again after recovery).
//! - `client`: what only a remote backend has: disconnects, recovery through a proxy that cuts
//!   the TCP connection, ordering and flow control on the client side.
//! - `sandbox`: `ProcessSpec::sandbox` confined by our server, and refused (fail closed) by the
//!   client for a server that cannot be trusted with it.
//! - `transports`: `wss://` with a certificate made at test time, and a caller's own byte stream.

mod backend;
mod binary;
mod client;
mod sandbox;
mod support;
mod transports;
