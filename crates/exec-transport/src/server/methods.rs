//! The method table: every request the server answers after the handshake, registered once with
//! its types (an `exec_protocol::method::Request` marker), its gate and its handler.
//!
//! Adding a method is one line here, its wire types in `exec-protocol` (one line in its
//! `requests!` list) and its handler in `handlers`. The read loop in `connection` looks methods
//! up here and applies the gate; nothing else keeps a list of names. `initialize` is not in the
//! table: it is the handshake itself, handled inline by the connection as a barrier.
//!
//! This module does not decide concurrency (every entry runs on its own task; see
//! `connection`) and does not know what a method does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use exec_engine::SessionHandle;
use exec_protocol::jsonrpc::Request;
use exec_protocol::messages;
use exec_protocol::method::{self, Request as _};

use super::connection::Context;
use super::connection::response_frame;
use super::handlers;
use super::log_text::Clipped;
use crate::convert::to_wire;

/// What a request needs before it may run, and the error text when it is too early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// An exec method: after `initialize` and `initialized`.
    Exec,
    /// A filesystem method: the same, worded for the filesystem.
    Fs,
}

impl Gate {
    /// The error text for a request that arrived before `initialize`.
    pub(crate) fn before_initialize(self) -> &'static str {
        match self {
            Gate::Exec => messages::EXEC_BEFORE_INITIALIZE,
            Gate::Fs => messages::FS_BEFORE_INITIALIZE,
        }
    }

    /// The error text for a request that arrived between `initialize` and `initialized`.
    pub(crate) fn before_initialized(self) -> &'static str {
        match self {
            Gate::Exec => messages::EXEC_BEFORE_INITIALIZED,
            Gate::Fs => messages::FS_BEFORE_INITIALIZED,
        }
    }
}

/// One request, owned by the task that runs it.
pub(crate) struct Call {
    pub(crate) context: Context,
    pub(crate) session: Arc<SessionHandle>,
    pub(crate) request: Request,
}

/// The complete response frame (result or error) of one call.
type Answer = Pin<Box<dyn Future<Output = Answered> + Send>>;

/// A response frame, and what to do once it is queued for the socket.
pub(crate) struct Answered {
    pub(crate) frame: String,
    /// Run by the connection right after `frame` is queued: a `process/start` starts its
    /// process's notification pump here, so no notification of it can overtake the answer.
    pub(crate) then: Option<Box<dyn FnOnce() + Send>>,
}

impl From<String> for Answered {
    fn from(frame: String) -> Answered {
        Answered { frame, then: None }
    }
}

/// One row of the table.
pub(crate) struct Method {
    pub(crate) name: &'static str,
    pub(crate) gate: Gate,
    /// Decodes the params as the marker's type (-32602 with the decoder's message otherwise),
    /// runs the handler and encodes its response frame.
    run: fn(Call) -> Answer,
}

impl Method {
    pub(crate) fn run(&self, call: Call) -> Answer {
        (self.run)(call)
    }
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Method").field("name", &self.name).field("gate", &self.gate).finish()
    }
}

/// A table row for a marker type, its gate and an `async fn(&Context, &Arc<SessionHandle>,
/// Params) -> Result<Response, ErrorObject>`. With `frame = ENCODER`, the handler returns what
/// `ENCODER(&RequestId, value) -> impl Into<Answered>` writes as the whole response frame by hand
/// (the hot `process/read` result), or the frame and what follows it (`process/start`); without it, the marker's `Response` goes through serde
/// ([`serde_frame`], which also pins the handler's result to the marker's type).
///
/// `process` marks a method whose params name a process (`processId`): its id is recorded on the
/// request's span (see `connection`), so every log line of the call names it.
macro_rules! on {
    ($marker:ty, $gate:expr, $handler:path $(, $process:ident)?) => {
        on!($marker, $gate, $handler, frame = serde_frame::<$marker> $(, $process)?)
    };
    ($marker:ty, $gate:expr, $handler:path, frame = $encoder:path $(, $process:ident)?) => {
        Method {
            name: <$marker>::NAME,
            gate: $gate,
            run: |call: Call| -> Answer {
                Box::pin(async move {
                    let id = call.request.id.clone();
                    let result = async {
                        let params: <$marker as method::Request>::Params = call.request.decode_params()?;
                        $(
                            let $process = Clipped(params.process_id.as_str());
                            tracing::Span::current().record("process", tracing::field::display($process));
                        )?
                        $handler(&call.context, &call.session, params).await
                    }
                    .await;
                    call.context.shared.metrics.request(<$marker>::NAME, &result);
                    tracing::debug!(error = result.as_ref().err().map(|error| error.code), "answered");
                    match result {
                        Ok(value) => Answered::from($encoder(&id, value)),
                        Err(error) => Answered::from(response_frame(&id, Err(error))),
                    }
                })
            },
        }
    };
}

/// The response frame of a marker's `Response`, through serde.
fn serde_frame<M: method::Request>(id: &exec_protocol::jsonrpc::RequestId, response: M::Response) -> String {
    response_frame(id, handlers::encode_result(&response))
}

/// Every method answered after the handshake.
pub(crate) static METHODS: &[Method] = &[
    on!(method::ProcessStart, Gate::Exec, handlers::start, frame = handlers::start_frame, process),
    on!(method::ProcessRead, Gate::Exec, handlers::read, frame = to_wire::read_response_frame, process),
    on!(method::ProcessWrite, Gate::Exec, handlers::write, process),
    on!(method::ProcessTerminate, Gate::Exec, handlers::terminate, process),
    on!(method::ProcessSignal, Gate::Exec, handlers::signal, process),
    on!(method::ProcessResize, Gate::Exec, handlers::resize, process),
    on!(method::ProcessList, Gate::Exec, handlers::list),
    on!(method::FsReadFile, Gate::Fs, handlers::read_file),
    on!(method::FsWriteFile, Gate::Fs, handlers::write_file),
    on!(method::FsCreateDirectory, Gate::Fs, handlers::create_directory),
    on!(method::FsGetMetadata, Gate::Fs, handlers::get_metadata),
    on!(method::FsReadDirectory, Gate::Fs, handlers::read_directory),
    on!(method::FsRemove, Gate::Fs, handlers::remove),
    on!(method::FsCopy, Gate::Fs, handlers::copy),
    on!(method::FsCanonicalize, Gate::Fs, handlers::canonicalize),
    on!(method::FsWalk, Gate::Fs, handlers::walk),
    on!(method::FsOpen, Gate::Fs, handlers::open),
    on!(method::FsReadBlock, Gate::Fs, handlers::read_block),
    on!(method::FsWriteBlock, Gate::Fs, handlers::write_block),
    on!(method::FsClose, Gate::Fs, handlers::close),
    on!(method::FsWatchMissing, Gate::Fs, handlers::watch_missing),
    on!(method::EnvironmentInfo, Gate::Exec, handlers::environment_info),
    on!(method::EnvironmentStatus, Gate::Exec, handlers::environment_status),
];

/// The table row of a method name.
pub(crate) fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|method| method.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table and the protocol's list of requests are the same set (plus `initialize`, the
    /// handshake), with no name twice.
    #[test]
    fn the_table_answers_every_request_of_the_protocol() {
        let mut table: Vec<&str> = METHODS.iter().map(|method| method.name).collect();
        table.push(method::INITIALIZE);
        table.sort_unstable();
        let mut protocol = method::REQUESTS.to_vec();
        protocol.sort_unstable();
        assert_eq!(table, protocol);
    }
}
