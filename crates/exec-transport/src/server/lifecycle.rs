//! Health and the graceful stop: what `/livez` and `/readyz` answer, and the drain that runs
//! between a shutdown request and the closing of connections.
//!
//! The sequence, driven by [`super::run`]:
//! 1. `shutdown` fires (the binary cancels it on SIGTERM/SIGINT): [`drain`] marks the server
//!    draining, so `/readyz` answers 503 and new WebSocket upgrades are refused with 503, while
//!    `/livez` still answers 200 and open connections keep working (their clients still receive
//!    output and exits);
//! 2. it waits up to `ServerConfig::drain_timeout` for the processes that were running in
//!    attached sessions at that moment;
//! 3. `run` stops listening and closes every connection with 1001 (going away), bounded;
//! 4. `Engine::shutdown` SIGKILLs every remaining process group and waits, bounded; then the
//!    per-process end watchers get a moment to write their audit lines ([`wait_for_watchers`]).
//!
//! An embedder that wants to cut the drain short calls `Engine::shutdown` (the binary does on a
//! second signal): the awaited processes are then removed, and the drain stops waiting.
//!
//! Waiting before closing (rather than closing first) is deliberate: the wait exists so running
//! commands can finish, and a client can only learn how they finished over its open connection.
//! This module holds no sockets and decides no HTTP answers itself (`handshake` asks it).

use std::sync::atomic::{AtomicBool, Ordering};

use std::time::Duration;

use super::Shared;

/// How long the stop waits for end watchers after the final kill: they only format and write one
/// line each once their process is reaped.
const WATCHER_DRAIN: Duration = Duration::from_secs(1);

/// Whether the server is still taking new work. Shared by every connection of one server.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Set once, when the drain begins; never cleared (a draining server only stops).
    draining: AtomicBool,
}

impl Health {
    /// True from the start of the drain: readiness is false and upgrades are refused.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// Steps 1 and 2 of the sequence above. Returns when every awaited process has exited or the
/// drain timeout has passed.
pub(crate) async fn drain(shared: &Shared) {
    shared.health.draining.store(true, Ordering::Relaxed);
    let timeout = shared.config.drain_timeout;
    tracing::info!(?timeout, "draining: not ready, refusing new connections, waiting for running processes");
    let left = shared.engine.drain_attached(timeout).await;
    if left == 0 {
        tracing::info!("drained: no process of an attached session is running");
    } else {
        tracing::warn!(left, "drain timeout: processes still running will be killed");
    }
}

/// Waits (at most `WATCHER_DRAIN`) for the per-process end watchers, so that the audit lines of
/// the processes killed by the stop are written before the server returns.
pub(crate) async fn wait_for_watchers(shared: &Shared) {
    shared.watchers.close();
    if tokio::time::timeout(WATCHER_DRAIN, shared.watchers.wait()).await.is_err() {
        tracing::warn!("some process end records were not written before the stop");
    }
}
