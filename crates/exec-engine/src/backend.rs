//! [`ExecBackend`]: the process API as a trait, so an agent can swap the local engine for a
//! remote client without changing its code.
//!
//! [`SessionHandle`] implements it here; a network client implements it in its own crate. The
//! trait is object safe (`Box<dyn ExecBackend>`), and events come back as a boxed
//! [`EventStream`] for the same reason.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{ProcessError, StartError};
use crate::ids::ProcessId;
use crate::session::SessionHandle;
use crate::subscription::Subscription;
use crate::types::{
    Event, ProcessInfo, PtySize, ReadOutcome, ReadRequest, Signal, SpawnSpec, SubscribeFrom, WriteOptions,
    WriteStatus,
};

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// `start` was refused.
    #[error(transparent)]
    Start(#[from] StartError),
    /// A call on a process failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A remote backend lost its connection; every later call fails the same way.
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// A remote backend reported an error it could not map to a typed one.
    #[error("{message}")]
    Remote {
        /// The remote error code, when there is one.
        code: Option<i64>,
        /// The remote error text.
        message: String,
    },
}

/// A source of one process's events, in seq order. `None` when it is over.
#[async_trait]
pub trait EventStream: Send + std::fmt::Debug {
    /// The next event, waiting for it.
    async fn next_event(&mut self) -> Option<Event>;
}

/// A boxed [`EventStream`], as returned by [`ExecBackend`].
pub type BoxEventStream = Box<dyn EventStream>;

#[async_trait]
impl EventStream for Subscription {
    async fn next_event(&mut self) -> Option<Event> {
        self.next().await
    }
}

/// Start and control processes, wherever they run. Methods mirror [`SessionHandle`]'s.
#[async_trait]
pub trait ExecBackend: Send + Sync {
    /// Spawns a process; its events from seq 1.
    async fn start(&self, id: ProcessId, spec: SpawnSpec) -> Result<BoxEventStream, BackendError>;
    /// Retained output after a cursor, optionally long-polling.
    async fn read(&self, id: &ProcessId, request: ReadRequest) -> Result<ReadOutcome, BackendError>;
    /// Writes to stdin.
    async fn write(
        &self,
        id: &ProcessId,
        data: Bytes,
        options: WriteOptions,
    ) -> Result<WriteStatus, BackendError>;
    /// Kills the process group, at once or after a grace period; whether it was running.
    async fn terminate(&self, id: &ProcessId, grace: Option<Duration>) -> Result<bool, BackendError>;
    /// Sends a named signal to the process group.
    async fn signal(&self, id: &ProcessId, signal: Signal) -> Result<(), BackendError>;
    /// Resizes a PTY.
    async fn resize(&self, id: &ProcessId, size: PtySize) -> Result<(), BackendError>;
    /// The processes of this session.
    async fn list(&self) -> Result<Vec<ProcessInfo>, BackendError>;
    /// A new event stream for a process.
    async fn subscribe(&self, id: &ProcessId, from: SubscribeFrom) -> Result<BoxEventStream, BackendError>;
}

#[async_trait]
impl ExecBackend for SessionHandle {
    async fn start(&self, id: ProcessId, spec: SpawnSpec) -> Result<BoxEventStream, BackendError> {
        Ok(Box::new(SessionHandle::start(self, id, spec).await?))
    }

    async fn read(&self, id: &ProcessId, request: ReadRequest) -> Result<ReadOutcome, BackendError> {
        Ok(SessionHandle::read(self, id, request).await?)
    }

    async fn write(
        &self,
        id: &ProcessId,
        data: Bytes,
        options: WriteOptions,
    ) -> Result<WriteStatus, BackendError> {
        Ok(SessionHandle::write(self, id, data, options).await)
    }

    async fn terminate(&self, id: &ProcessId, grace: Option<Duration>) -> Result<bool, BackendError> {
        Ok(SessionHandle::terminate(self, id, grace).await?)
    }

    async fn signal(&self, id: &ProcessId, signal: Signal) -> Result<(), BackendError> {
        Ok(SessionHandle::signal(self, id, signal)?)
    }

    async fn resize(&self, id: &ProcessId, size: PtySize) -> Result<(), BackendError> {
        Ok(SessionHandle::resize(self, id, size)?)
    }

    async fn list(&self) -> Result<Vec<ProcessInfo>, BackendError> {
        Ok(SessionHandle::list(self))
    }

    async fn subscribe(&self, id: &ProcessId, from: SubscribeFrom) -> Result<BoxEventStream, BackendError> {
        Ok(Box::new(SessionHandle::subscribe(self, id, from)?))
    }
}
