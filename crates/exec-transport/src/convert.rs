//! The one place where wire types (`exec-protocol`) and engine types (`exec-engine`) meet, for
//! the server and the client alike: [`to_wire`] turns engine values into what goes on the wire,
//! [`from_wire`] turns wire values back into engine values.
//!
//! Every conversion `match` lives here (signals, streams, write statuses, exit statuses, process
//! ids, read results, environment policies, and errors in both directions), so a new variant or
//! field is one edit in one file. The wire's exit encoding (128+N for a signal) lives here too;
//! the engine only knows `ExitStatus`. Nothing here does I/O or decides policy.
//!
//! Model: rust-analyzer's `lsp/to_proto.rs` and `lsp/from_proto.rs`.

/// Engine → wire.
pub(crate) mod to_wire {
    use exec_engine::{
        ExitStatus, ProcessError, ProcessId, ProcessInfo, ReadOutcome, SessionError, Signal, StartError,
        StreamKind, WriteStatus,
    };
    use exec_protocol::jsonrpc::ErrorObject;
    use exec_protocol::messages;
    use exec_protocol::process as wire;

    pub(crate) fn process_id(id: &ProcessId) -> exec_protocol::ProcessId {
        exec_protocol::ProcessId::new(id.as_str())
    }

    pub(crate) fn stream(stream: StreamKind) -> wire::Stream {
        match stream {
            StreamKind::Stdout => wire::Stream::Stdout,
            StreamKind::Stderr => wire::Stream::Stderr,
            StreamKind::Pty => wire::Stream::Pty,
        }
    }

    /// The compatible `exitCode`: the code, or 128+N for signal N (as shells report it).
    pub(crate) fn exit_code(status: ExitStatus) -> i32 {
        match status {
            ExitStatus::Code(code) => code,
            ExitStatus::Signal(signal) => 128 + signal,
        }
    }

    /// The `signal` extension: the signal that killed the process, if one did.
    pub(crate) fn exit_signal(status: ExitStatus) -> Option<i32> {
        match status {
            ExitStatus::Code(_) => None,
            ExitStatus::Signal(signal) => Some(signal),
        }
    }

    pub(crate) fn signal(signal: Signal) -> wire::Signal {
        match signal {
            Signal::Interrupt => wire::Signal::Interrupt,
            Signal::Terminate => wire::Signal::Terminate,
            Signal::Kill => wire::Signal::Kill,
            Signal::Hangup => wire::Signal::Hangup,
            Signal::Quit => wire::Signal::Quit,
            Signal::User1 => wire::Signal::User1,
            Signal::User2 => wire::Signal::User2,
        }
    }

    pub(crate) fn write_status(status: WriteStatus) -> wire::WriteStatus {
        match status {
            WriteStatus::Accepted => wire::WriteStatus::Accepted,
            WriteStatus::UnknownProcess => wire::WriteStatus::UnknownProcess,
            WriteStatus::StdinClosed => wire::WriteStatus::StdinClosed,
            WriteStatus::Starting => wire::WriteStatus::Starting,
        }
    }

    /// The whole `process/read` response frame, written by hand (`exec_protocol::fast`): the
    /// chunks' base64 goes straight into the frame, with no struct or escape scan in between.
    pub(crate) fn read_response_frame(
        id: &exec_protocol::jsonrpc::RequestId,
        outcome: ReadOutcome,
    ) -> String {
        let fields = exec_protocol::fast::ReadResponseFields {
            next_seq: outcome.next_seq.get(),
            exited: outcome.exit.is_some(),
            exit_code: outcome.exit.map(exit_code),
            closed: outcome.closed,
            failure: outcome.failure.as_deref(),
            dropped_before: outcome.dropped_before.map(exec_engine::Seq::get),
            signal: outcome.exit.and_then(exit_signal),
        };
        let chunks =
            outcome.chunks.iter().map(|chunk| (chunk.seq.get(), stream(chunk.stream), chunk.data.as_ref()));
        let mut frame = Vec::with_capacity(256);
        exec_protocol::fast::write_read_response(&mut frame, id, chunks, &fields);
        // SAFETY: the fast encoder writes ASCII around the already-valid UTF-8 of `failure`
        // (escaped) and base64, so the frame is valid UTF-8.
        unsafe { String::from_utf8_unchecked(frame) }
    }

    /// The `process/read` result as the wire struct (for callers that want a value, not a frame).
    #[cfg(test)]
    pub(crate) fn read_response(outcome: ReadOutcome) -> wire::ProcessReadResponse {
        wire::ProcessReadResponse {
            chunks: outcome
                .chunks
                .into_iter()
                .map(|chunk| wire::OutputChunk {
                    seq: chunk.seq.get(),
                    stream: stream(chunk.stream),
                    chunk: exec_protocol::ByteChunk::from(chunk.data.as_ref()),
                })
                .collect(),
            next_seq: outcome.next_seq.get(),
            exited: outcome.exit.is_some(),
            exit_code: outcome.exit.map(exit_code),
            closed: outcome.closed,
            failure: outcome.failure,
            dropped_before: outcome.dropped_before.map(exec_engine::Seq::get),
            signal: outcome.exit.and_then(exit_signal),
        }
    }

    pub(crate) fn process_info(process: ProcessInfo) -> wire::ProcessInfo {
        wire::ProcessInfo {
            process_id: process_id(&process.id),
            argv: process.argv,
            pid: process.pid.unwrap_or(0),
            tty: process.tty,
            running: process.running,
            exit_code: process.exit.map(exit_code),
            next_seq: process.next_seq.get(),
            signal: process.exit.and_then(exit_signal),
            started_at_ms: process.started.map(|started| {
                let since_epoch = started.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
            }),
        }
    }

    pub(crate) fn session_error(error: SessionError) -> ErrorObject {
        ErrorObject::invalid_request(match error {
            SessionError::TooManySessions { limit } => messages::too_many_sessions(limit),
            SessionError::UnknownSession(id) => messages::unknown_session(&id.to_string()),
        })
    }

    pub(crate) fn process_error(error: ProcessError) -> ErrorObject {
        ErrorObject::invalid_request(match error {
            ProcessError::UnknownProcess(id) => messages::unknown_process(id.as_str()),
            ProcessError::SessionTakenOver => messages::SESSION_RESUMED_ELSEWHERE.to_owned(),
            ProcessError::NotATty(id) => messages::not_a_tty(id.as_str()),
        })
    }

    pub(crate) fn start_error(error: StartError) -> ErrorObject {
        match error {
            StartError::EmptyArgv => ErrorObject::invalid_params(messages::ARGV_EMPTY),
            StartError::RelativeCwd(cwd) => {
                ErrorObject::invalid_params(messages::cwd_not_absolute(&cwd.to_string_lossy()))
            }
            StartError::DuplicateId(id) => {
                ErrorObject::invalid_request(messages::process_already_exists(id.as_str()))
            }
            StartError::TooManyProcesses { limit } => {
                ErrorObject::invalid_request(messages::too_many_processes(limit))
            }
            StartError::SessionTakenOver => ErrorObject::invalid_request(messages::SESSION_RESUMED_ELSEWHERE),
            // The peer words spawn failures as the bare OS error (`No such file or directory (os
            // error 2)`); the source error alone matches it. `data` (an extension) tells the two
            // causes apart, so a client can say "command not found" only when it is true.
            StartError::Spawn { program, source } => ErrorObject {
                data: Some(serde_json::json!({ "program": program })),
                ..ErrorObject::internal_error(source.to_string())
            },
            StartError::Cwd { cwd, source } => ErrorObject {
                data: Some(serde_json::json!({ "cwd": cwd.to_string_lossy() })),
                ..ErrorObject::internal_error(source.to_string())
            },
            // The child could not be confined (a carve-out changed since it was prepared, or
            // the kernel refused a step); it never ran.
            StartError::Sandbox { source } => ErrorObject {
                data: Some(serde_json::json!({ "kind": "sandboxPreparation" })),
                ..ErrorObject::internal_error(messages::sandbox_not_applied(&source))
            },
        }
    }
}

/// Wire → engine.
pub(crate) mod from_wire {
    use bytes::Bytes;
    use exec_engine::{
        BackendError, ExitStatus, OutputChunk, ProcessError, ProcessId, ProcessInfo, ReadOutcome, Seq,
        Signal, StartError, StreamKind, WriteStatus,
    };
    use exec_protocol::messages;
    use exec_protocol::process as wire;

    use crate::client::ClientError;

    pub(crate) fn process_id(id: exec_protocol::ProcessId) -> ProcessId {
        ProcessId::new(id.into_string())
    }

    pub(crate) fn stream(stream: wire::Stream) -> StreamKind {
        match stream {
            wire::Stream::Stdout => StreamKind::Stdout,
            wire::Stream::Stderr => StreamKind::Stderr,
            wire::Stream::Pty => StreamKind::Pty,
        }
    }

    /// How a process ended: the `signal` extension when present; otherwise the code as sent
    /// (the Codex peer reports a killed process as -1).
    pub(crate) fn exit_status(exit_code: i32, signal: Option<i32>) -> ExitStatus {
        match signal {
            Some(signal) => ExitStatus::Signal(signal),
            None => ExitStatus::Code(exit_code),
        }
    }

    pub(crate) fn signal(signal: wire::Signal) -> Signal {
        match signal {
            wire::Signal::Interrupt => Signal::Interrupt,
            wire::Signal::Terminate => Signal::Terminate,
            wire::Signal::Kill => Signal::Kill,
            wire::Signal::Hangup => Signal::Hangup,
            wire::Signal::Quit => Signal::Quit,
            wire::Signal::User1 => Signal::User1,
            wire::Signal::User2 => Signal::User2,
        }
    }

    pub(crate) fn write_status(status: wire::WriteStatus) -> WriteStatus {
        match status {
            wire::WriteStatus::Accepted => WriteStatus::Accepted,
            wire::WriteStatus::UnknownProcess => WriteStatus::UnknownProcess,
            wire::WriteStatus::StdinClosed => WriteStatus::StdinClosed,
            wire::WriteStatus::Starting => WriteStatus::Starting,
        }
    }

    pub(crate) fn read_outcome(read: wire::ProcessReadResponse) -> ReadOutcome {
        ReadOutcome {
            chunks: read
                .chunks
                .into_iter()
                .map(|chunk| OutputChunk {
                    seq: Seq::new(chunk.seq),
                    stream: stream(chunk.stream),
                    data: Bytes::from(chunk.chunk.into_vec()),
                })
                .collect(),
            next_seq: Seq::new(read.next_seq),
            exit: read.exited.then(|| exit_status(read.exit_code.unwrap_or(-1), read.signal)),
            closed: read.closed,
            failure: read.failure,
            dropped_before: read.dropped_before.map(Seq::new),
        }
    }

    pub(crate) fn process_info(info: wire::ProcessInfo) -> ProcessInfo {
        ProcessInfo {
            id: process_id(info.process_id),
            argv: info.argv,
            pid: Some(info.pid),
            tty: info.tty,
            // Whether a remote process is confined is the server's business; `sandboxType` in
            // the start result says so, `process/list` does not.
            sandboxed: false,
            started: info
                .started_at_ms
                .map(|millis| std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis)),
            running: info.running,
            exit: info.exit_code.map(|code| exit_status(code, info.signal)),
            next_seq: Seq::new(info.next_seq),
        }
    }

    pub(crate) fn env_policy(policy: wire::EnvPolicy) -> shell_env_policy::EnvPolicy {
        shell_env_policy::EnvPolicy {
            inherit: match policy.inherit {
                wire::EnvInherit::All => shell_env_policy::Inherit::All,
                wire::EnvInherit::Core => shell_env_policy::Inherit::Core,
                wire::EnvInherit::None => shell_env_policy::Inherit::None,
            },
            ignore_default_excludes: policy.ignore_default_excludes,
            exclude: policy.exclude,
            set: policy.set.into_iter().collect(),
            include_only: policy.include_only,
        }
    }

    /// A client error as the engine's typed error, where the server's pinned message identifies
    /// one, so code written against the local engine sees the same errors remotely. `id` is the
    /// process the call was about.
    pub(crate) fn backend_error(error: ClientError, id: Option<&str>) -> BackendError {
        match error {
            ClientError::Disconnected(reason) => BackendError::Disconnected(reason),
            ClientError::Remote { code, message, .. } => {
                let id = id.unwrap_or_default();
                let process = || ProcessId::new(id);
                if message == messages::ARGV_EMPTY {
                    StartError::EmptyArgv.into()
                } else if message == messages::process_already_exists(id) {
                    StartError::DuplicateId(process()).into()
                } else if message == messages::unknown_process(id) {
                    ProcessError::UnknownProcess(process()).into()
                } else if message == messages::SESSION_RESUMED_ELSEWHERE {
                    ProcessError::SessionTakenOver.into()
                } else if message == messages::not_a_tty(id) {
                    ProcessError::NotATty(process()).into()
                } else {
                    BackendError::Remote { code: Some(code), message }
                }
            }
            other => BackendError::Remote { code: None, message: other.to_string() },
        }
    }

    /// A failed `process/start` as the engine's typed error: a spawn failure (-32603) becomes
    /// `Cwd` or `Spawn` by its `data`, anything else as [`backend_error`].
    pub(crate) fn start_error(error: ClientError, id: &str, program: String) -> BackendError {
        match error {
            ClientError::Remote { code: exec_protocol::jsonrpc::INTERNAL_ERROR, message, data } => {
                let source = std::io::Error::other(message);
                match data.get("cwd").and_then(serde_json::Value::as_str) {
                    Some(cwd) => StartError::Cwd { cwd: cwd.into(), source },
                    None => StartError::Spawn { program, source },
                }
                .into()
            }
            other => backend_error(other, Some(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use exec_engine::{ExitStatus, OutputChunk, ReadOutcome, Seq, StreamKind};
    use exec_protocol::jsonrpc::{self, RequestId};

    use super::to_wire;

    /// The hand-written `process/read` frame is the serde encoding of the same result, byte for
    /// byte, including the extensions and an escaped failure text.
    #[test]
    fn the_read_frame_written_by_hand_equals_serde() {
        let outcome = ReadOutcome {
            chunks: vec![
                OutputChunk {
                    seq: Seq::new(3),
                    stream: StreamKind::Stdout,
                    data: Bytes::from_static(b"hi\n"),
                },
                OutputChunk {
                    seq: Seq::new(4),
                    stream: StreamKind::Pty,
                    data: Bytes::from_static(&[0, 255, 10]),
                },
            ],
            next_seq: Seq::new(5),
            exit: Some(ExitStatus::Signal(9)),
            closed: false,
            failure: Some("a \"quoted\" failure\n".to_owned()),
            dropped_before: Some(Seq::new(2)),
        };
        for id in [RequestId::Integer(7), RequestId::String("r\"1".to_owned())] {
            let mut expected = Vec::new();
            jsonrpc::write_response(&mut expected, &id, &to_wire::read_response(outcome.clone())).unwrap();
            assert_eq!(
                to_wire::read_response_frame(&id, outcome.clone()),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
