//! The one place where wire types (`exec-protocol`) and engine types (`exec-engine`) meet, for
//! the server and the client alike: [`to_wire`] turns engine values into what goes on the wire,
//! [`from_wire`] turns wire values back into engine values.
//!
//! Every conversion `match` lives here (signals, streams, write statuses, exit statuses, process
//! ids, read results, environment policies, paths and `file://` URIs, sandbox intents and their
//! errors, and errors in both directions), so a new variant or
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
        (outcome, sandbox_denied): (ReadOutcome, bool),
    ) -> String {
        let fields = exec_protocol::fast::ReadResponseFields {
            next_seq: outcome.next_seq.get(),
            exited: outcome.exit.is_some(),
            exit_code: outcome.exit.map(exit_code),
            closed: outcome.closed,
            failure: outcome.failure.as_deref(),
            dropped_before: outcome.dropped_before.map(exec_engine::Seq::get),
            signal: outcome.exit.and_then(exit_signal),
            sandbox_denied: Some(sandbox_denied),
        };
        let chunks =
            outcome.chunks.iter().map(|chunk| (chunk.seq.get(), stream(chunk.stream), chunk.data.as_ref()));
        let mut frame = Vec::with_capacity(256);
        exec_protocol::fast::write_read_response(&mut frame, id, chunks, &fields);
        // SAFETY: the fast encoder writes ASCII around the already-valid UTF-8 of `failure`
        // (escaped) and base64, so the frame is valid UTF-8.
        unsafe { String::from_utf8_unchecked(frame) }
    }

    /// The `process/read` result as the wire struct (for callers that want a value, not a frame:
    /// the inline answer of `process/start {wait}`).
    /// `sandbox_denied` is the server's judgement (`handlers::sandbox_denied`).
    pub(crate) fn read_response(outcome: ReadOutcome, sandbox_denied: bool) -> wire::ProcessReadResponse {
        wire::ProcessReadResponse {
            sandbox_denied: Some(sandbox_denied),
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

    /// A path as a `file://` URI (what the 0.171 client expects): bytes outside the URI path
    /// alphabet are percent-encoded.
    pub(crate) fn uri(path: &std::path::Path) -> String {
        use std::os::unix::ffi::OsStrExt as _;
        let mut uri = String::from("file://");
        for &byte in path.as_os_str().as_bytes() {
            let keep = byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&byte);
            if keep {
                uri.push(char::from(byte));
            } else {
                uri.push_str(&format!("%{byte:02X}"));
            }
        }
        uri
    }

    /// `path` in the form the client used for the request's path: a URI when it sent one, a plain
    /// path otherwise.
    pub(crate) fn path_like(path: &std::path::Path, as_uri: bool) -> String {
        if as_uri { uri(path) } else { path.to_string_lossy().into_owned() }
    }

    /// A -32603 carrying `data.kind` (and nothing else in `data`).
    pub(crate) fn internal_with_kind(message: impl Into<String>, kind: &str) -> ErrorObject {
        ErrorObject {
            data: Some(serde_json::json!({ "kind": kind })),
            ..ErrorObject::internal_error(message)
        }
    }

    /// A client's [`ProcessSandbox`](crate::client::ProcessSandbox) as the `sandbox` intent of
    /// `process/start`, in the shape the 0.171 Codex client sends for `--sandbox read-only` and
    /// `--sandbox workspace-write` (docs/codex-0.171-wire.md §2): `root: read`, and for
    /// workspace-write `project_roots`, `slash_tmp` and `tmpdir` writable with the protected
    /// names inside each project root read-only (`skip` when missing). The project roots are
    /// `cwd` and the extra writable roots; `path` puts each in the server's path form.
    pub(crate) fn sandbox_intent(
        sandbox: &crate::client::ProcessSandbox,
        cwd: &str,
        path: &impl Fn(&str) -> String,
    ) -> exec_protocol::sandbox::SandboxParams {
        use exec_protocol::sandbox::{
            AccessMode, FileSystemEntry, FileSystemPath, FileSystemPermissions, NetworkPermission,
            Permissions, SandboxParams, SpecialKind, SpecialPath,
        };
        let special = |kind: SpecialKind, subpath: Option<&str>, access: AccessMode| FileSystemEntry {
            path: FileSystemPath::Special {
                value: SpecialPath { kind, subpath: subpath.map(str::to_owned) },
            },
            access,
            missing_path_behavior: subpath.map(|_| "skip".to_owned()),
        };
        let mut entries = vec![special(SpecialKind::Root, None, AccessMode::Read)];
        let mut workspace_roots = vec![cwd.to_owned()];
        if let crate::client::SandboxFiles::WorkspaceWrite { writable_roots } = &sandbox.files {
            entries.push(special(SpecialKind::ProjectRoots, None, AccessMode::Write));
            entries.push(special(SpecialKind::SlashTmp, None, AccessMode::Write));
            entries.push(special(SpecialKind::Tmpdir, None, AccessMode::Write));
            for name in exec_sandbox::PROTECTED_WORKSPACE_NAMES {
                entries.push(special(SpecialKind::ProjectRoots, Some(name), AccessMode::Read));
            }
            workspace_roots.extend(writable_roots.iter().map(|root| path(root)));
        }
        let network = match sandbox.network {
            exec_sandbox::Network::Restricted => NetworkPermission::Restricted,
            exec_sandbox::Network::Enabled => NetworkPermission::Enabled,
        };
        SandboxParams {
            permissions: Permissions::Managed {
                file_system: FileSystemPermissions::Restricted { entries },
                network,
            },
            cwd: Some(cwd.to_owned()),
            workspace_roots,
            policy_context: None,
            user_home_dir: None,
            windows_sandbox_level: Some(serde_json::json!("disabled")),
            windows_sandbox_proxy_settings_mode: Some(serde_json::json!("reconcile")),
            use_legacy_landlock: false,
        }
    }

    /// An intent the sandbox cannot express: -32603 `sandboxUnavailable`; the request did not run.
    pub(crate) fn intent_error(error: &exec_sandbox::IntentError) -> ErrorObject {
        internal_with_kind(messages::sandbox_intent_refused(error), messages::KIND_SANDBOX_UNAVAILABLE)
    }

    /// A sandbox that could not be set up: -32603 with `sandboxUnavailable` or
    /// `sandboxPreparation`.
    pub(crate) fn sandbox_error(error: &exec_sandbox::SandboxError) -> ErrorObject {
        match error.kind() {
            exec_sandbox::SandboxErrorKind::Unavailable => internal_with_kind(
                messages::sandbox_intent_refused(&error.reason()),
                messages::KIND_SANDBOX_UNAVAILABLE,
            ),
            exec_sandbox::SandboxErrorKind::Preparation => internal_with_kind(
                messages::sandbox_preparation_failed(&error.reason()),
                messages::KIND_SANDBOX_PREPARATION,
            ),
        }
    }

    /// The `data.kind` of a spawn failure, as the 0.171 reference classifies them: a missing
    /// program or cwd is `spawnNotFound`, a refused one `spawnPermissionDenied`.
    fn spawn_kind(source: &std::io::Error) -> &'static str {
        match source.kind() {
            std::io::ErrorKind::NotFound => messages::KIND_SPAWN_NOT_FOUND,
            std::io::ErrorKind::PermissionDenied => messages::KIND_SPAWN_PERMISSION_DENIED,
            _ => messages::KIND_SPAWN_FAILED,
        }
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
            // `kind` (the 0.171 reference's classification) sits beside our own fields.
            StartError::Spawn { program, source } => ErrorObject {
                data: Some(serde_json::json!({ "program": program, "kind": spawn_kind(&source) })),
                ..ErrorObject::internal_error(source.to_string())
            },
            StartError::Cwd { cwd, source } => ErrorObject {
                data: Some(serde_json::json!({ "cwd": cwd.to_string_lossy(), "kind": spawn_kind(&source) })),
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

    /// A wire path: an absolute path, or a `file://` URI (its `%XX` escapes decoded; anything
    /// malformed is kept as written). `None` when the result is not absolute.
    pub(crate) fn path(raw: &str) -> Option<std::path::PathBuf> {
        let path = match raw.strip_prefix("file://") {
            // `file://localhost/x` is the same as `file:///x`.
            Some(rest) => {
                std::path::PathBuf::from(percent_decode(rest.strip_prefix("localhost").unwrap_or(rest)))
            }
            None => std::path::PathBuf::from(raw),
        };
        path.is_absolute().then_some(path)
    }

    fn percent_decode(text: &str) -> std::ffi::OsString {
        use std::os::unix::ffi::OsStringExt as _;
        let bytes = text.as_bytes();
        let mut decoded = Vec::with_capacity(bytes.len());
        let mut index = 0;
        while index < bytes.len() {
            if bytes[index] == b'%'
                && let Some(value) = bytes.get(index + 1..index + 3).and_then(|hex| {
                    std::str::from_utf8(hex).ok().and_then(|hex| u8::from_str_radix(hex, 16).ok())
                })
            {
                decoded.push(value);
                index += 3;
                continue;
            }
            decoded.push(bytes[index]);
            index += 1;
        }
        std::ffi::OsString::from_vec(decoded)
    }

    /// A Codex `sandbox` intent as the sandbox crate's intent and resolution context.
    ///
    /// `call_cwd` is the call's own working directory (`process/start`'s `cwd`), used when the
    /// intent names none; `tmpdir` is the server's `TMPDIR`. Refusals are -32603
    /// `sandboxUnavailable` (a file-system type we cannot enforce, a `policyContext` that
    /// contradicts the intent, no cwd at all) or -32602 (a path that is not absolute). Nothing is
    /// widened: what the wire cannot say precisely is refused here or by `resolve`.
    pub(crate) fn sandbox(
        params: exec_protocol::sandbox::SandboxParams,
        call_cwd: Option<&std::path::Path>,
        tmpdir: Option<std::path::PathBuf>,
    ) -> Result<
        (exec_sandbox::SandboxIntent, exec_sandbox::ResolveContext),
        exec_protocol::jsonrpc::ErrorObject,
    > {
        use exec_protocol::jsonrpc::ErrorObject;
        use exec_protocol::sandbox as wire_sandbox;
        use exec_sandbox as sandbox;

        let unavailable =
            |message: &str| super::to_wire::internal_with_kind(message, messages::KIND_SANDBOX_UNAVAILABLE);
        let absolute = |raw: &str| {
            path(raw).ok_or_else(|| ErrorObject::invalid_params(messages::sandbox_path_not_absolute(raw)))
        };
        let absolute_all =
            |raws: &[String]| raws.iter().map(|raw| absolute(raw)).collect::<Result<Vec<_>, ErrorObject>>();

        // `cwd`/`workspaceRoots` and the `fs/*` shape's `policyContext` must agree when both are
        // given; either alone is used as it is.
        let mut cwd = params.cwd.as_deref().map(absolute).transpose()?;
        let mut roots = absolute_all(&params.workspace_roots)?;
        if let Some(context) = &params.policy_context {
            let context_cwd = context.cwd.as_deref().map(absolute).transpose()?;
            let context_roots = absolute_all(&context.workspace_roots)?;
            let agrees = (cwd.is_none() || context_cwd.is_none() || cwd == context_cwd)
                && (roots.is_empty() || context_roots.is_empty() || roots == context_roots);
            if !agrees {
                return Err(unavailable(messages::SANDBOX_CONTEXT_MISMATCH));
            }
            cwd = cwd.or(context_cwd);
            if roots.is_empty() {
                roots = context_roots;
            }
        }
        let cwd = match cwd.or_else(|| call_cwd.map(std::path::Path::to_path_buf)) {
            Some(cwd) => cwd,
            None => return Err(unavailable(messages::SANDBOX_WITHOUT_CWD)),
        };

        let wire_sandbox::Permissions::Managed { file_system, network } = params.permissions;
        let file_system = match file_system {
            wire_sandbox::FileSystemPermissions::Unrestricted => sandbox::FileSystemIntent::Unrestricted,
            wire_sandbox::FileSystemPermissions::Restricted { entries } => {
                sandbox::FileSystemIntent::Restricted {
                    entries: entries
                        .into_iter()
                        .map(|entry| sandbox_entry(entry, &absolute))
                        .collect::<Result<_, _>>()?,
                }
            }
            wire_sandbox::FileSystemPermissions::Other => {
                return Err(unavailable(messages::SANDBOX_FILE_SYSTEM_TYPE));
            }
        };
        let network = match network {
            wire_sandbox::NetworkPermission::Restricted => sandbox::Network::Restricted,
            wire_sandbox::NetworkPermission::Enabled => sandbox::Network::Enabled,
        };
        let intent = sandbox::SandboxIntent { file_system, network };
        Ok((intent, sandbox::ResolveContext { workspace_roots: roots, cwd, tmpdir }))
    }

    fn sandbox_entry(
        entry: exec_protocol::sandbox::FileSystemEntry,
        absolute: &impl Fn(&str) -> Result<std::path::PathBuf, exec_protocol::jsonrpc::ErrorObject>,
    ) -> Result<exec_sandbox::Entry, exec_protocol::jsonrpc::ErrorObject> {
        use exec_protocol::sandbox as wire_sandbox;
        use exec_sandbox as sandbox;
        let path = match entry.path {
            wire_sandbox::FileSystemPath::Path { path } => sandbox::PathSpec::Path(absolute(&path)?),
            wire_sandbox::FileSystemPath::Special { value } => sandbox::PathSpec::Special {
                // `unknown` maps to the crate's unknown kind, which resolution refuses.
                kind: sandbox::SpecialKind::from_name(value.kind.as_str()),
                subpath: value.subpath.map(std::path::PathBuf::from),
            },
            wire_sandbox::FileSystemPath::GlobPattern { pattern } => sandbox::PathSpec::GlobPattern(pattern),
        };
        let access = match entry.access {
            wire_sandbox::AccessMode::Read => sandbox::Access::Read,
            wire_sandbox::AccessMode::Write => sandbox::Access::Write,
            wire_sandbox::AccessMode::Deny | wire_sandbox::AccessMode::None => sandbox::Access::Deny,
        };
        // Only `skip` relaxes anything; any other value keeps the strict default.
        let missing = match entry.missing_path_behavior.as_deref() {
            Some("skip") => sandbox::MissingPath::Skip,
            _ => sandbox::MissingPath::Error,
        };
        Ok(sandbox::Entry { path, access, missing })
    }

    /// The number a pinned message built by `template` holds, when `message` is that message
    /// (`too many processes (limit 8)` → 8 for `messages::too_many_processes`).
    fn number_in(message: &str, template: impl Fn(usize) -> String) -> Option<usize> {
        let marker = usize::MAX.to_string();
        let probe = template(usize::MAX);
        let (prefix, suffix) = probe.split_once(&marker)?;
        message.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()
    }

    /// A client error as the engine's typed error, where the server's pinned message identifies
    /// one, so code written against the local engine sees the same errors remotely. `id` is the
    /// process the call was about. (`too many sessions` is an `initialize` refusal, which
    /// `ExecClient::connect` reports as a `ClientError`; no backend call meets it.)
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
                } else if let Some(limit) = number_in(&message, messages::too_many_processes) {
                    StartError::TooManyProcesses { limit }.into()
                } else if let Some(cwd) = message.strip_prefix(&messages::cwd_not_absolute("")) {
                    StartError::RelativeCwd(cwd.into()).into()
                } else {
                    BackendError::Remote { code: Some(code), message }
                }
            }
            other => BackendError::Remote { code: None, message: other.to_string() },
        }
    }

    /// A failed `process/start` as the engine's typed error: a spawn failure becomes `Cwd` or
    /// `Spawn` by its `data`, its source an `io::Error` of the kind
    /// [`ClientError::spawn_failure`] reads (so `source.kind()` is `NotFound` for a missing
    /// program, remotely as locally); anything else as [`backend_error`].
    pub(crate) fn start_error(error: ClientError, id: &str, program: String) -> BackendError {
        let Some(kind) = error.spawn_failure() else { return backend_error(error, Some(id)) };
        let ClientError::Remote { message, data, .. } = error else { return backend_error(error, Some(id)) };
        let source = std::io::Error::new(kind, message);
        match data.get("cwd").and_then(serde_json::Value::as_str) {
            Some(cwd) => StartError::Cwd { cwd: cwd.into(), source },
            None => StartError::Spawn { program, source },
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use exec_protocol::sandbox::SandboxParams;
    use exec_sandbox::{Access, Entry, FileSystemIntent, MissingPath, Network, PathSpec, SpecialKind};
    use serde_json::json;

    use super::{from_wire, to_wire};

    fn params(value: serde_json::Value) -> SandboxParams {
        serde_json::from_value(value).expect("a decodable intent")
    }

    fn entries(value: serde_json::Value) -> serde_json::Value {
        json!({"type": "managed", "network": "restricted", "file_system": {"type": "restricted", "entries": value}})
    }

    /// Converts an intent and renders the outcome as one line: the context and entries, or the
    /// error's code, kind and message.
    #[track_caller]
    fn check(intent: serde_json::Value, call_cwd: Option<&str>, expect: &str) {
        let tmpdir = Some(PathBuf::from("/var/tmp/server"));
        let actual = match from_wire::sandbox(params(intent), call_cwd.map(Path::new), tmpdir) {
            Ok((intent, context)) => {
                format!("ok {:?} {intent:?}", (context.cwd, context.workspace_roots, context.tmpdir))
            }
            Err(error) => {
                format!("error {} {} {}", error.code, error.data.unwrap_or_default()["kind"], error.message)
            }
        };
        assert_eq!(actual, expect);
    }

    #[test]
    fn sandbox_intents() {
        let root_read = json!([{"access": "read", "path": {"type": "special", "value": {"kind": "root"}}}]);
        // The fs shape: URIs decoded, policyContext agreeing.
        check(
            json!({"permissions": entries(root_read.clone()), "cwd": "file:///w%20s", "workspaceRoots": ["file:///w%20s"],
                   "policyContext": {"cwd": "file:///w%20s", "workspaceRoots": ["/w s"]}}),
            None,
            r#"ok ("/w s", ["/w s"], Some("/var/tmp/server")) SandboxIntent { file_system: Restricted { entries: [Entry { path: Special { kind: Root, subpath: None }, access: Read, missing: Error }] }, network: Restricted }"#,
        );
        // policyContext alone; the call's cwd only when the intent names none.
        check(
            json!({"permissions": entries(json!([])), "policyContext": {"cwd": "/p", "workspaceRoots": ["/p"]}}),
            Some("/call"),
            r#"ok ("/p", ["/p"], Some("/var/tmp/server")) SandboxIntent { file_system: Restricted { entries: [] }, network: Restricted }"#,
        );
        check(
            json!({"permissions": entries(json!([]))}),
            Some("/call"),
            r#"ok ("/call", [], Some("/var/tmp/server")) SandboxIntent { file_system: Restricted { entries: [] }, network: Restricted }"#,
        );
        // Refusals.
        check(
            json!({"permissions": entries(json!([]))}),
            None,
            r#"error -32603 "sandboxUnavailable" sandbox unavailable: the sandbox intent names no cwd"#,
        );
        check(
            json!({"permissions": entries(json!([])), "cwd": "/a", "policyContext": {"cwd": "/b"}}),
            None,
            r#"error -32603 "sandboxUnavailable" sandbox unavailable: cwd and workspaceRoots disagree with policyContext"#,
        );
        check(
            json!({"permissions": {"type": "managed", "network": "enabled", "file_system": {"type": "external-sandbox"}}, "cwd": "/a"}),
            None,
            r#"error -32603 "sandboxUnavailable" sandbox unavailable: file_system type is not enforceable here (restricted or unrestricted only)"#,
        );
        check(
            json!({"permissions": entries(json!([{"access": "write", "path": {"type": "path", "path": "relative/dir"}}])), "cwd": "/a"}),
            None,
            "error -32602 null sandbox path must be absolute: relative/dir",
        );
        check(
            json!({"permissions": entries(json!([])), "cwd": "a"}),
            None,
            "error -32602 null sandbox path must be absolute: a",
        );
    }

    /// A client's sandbox goes out in the 0.171 client's shapes, and our own server's decoder
    /// reads it back as the same rules.
    #[test]
    fn client_sandboxes_take_the_codex_shapes() {
        use crate::client::{ProcessSandbox, SandboxFiles};
        let uri = |path: &str| format!("file://{path}");
        let read_only = to_wire::sandbox_intent(&ProcessSandbox::read_only(), "file:///w", &uri);
        assert_eq!(
            serde_json::to_value(&read_only).unwrap(),
            json!({"permissions": entries(json!([
                    {"access": "read", "path": {"type": "special", "value": {"kind": "root"}}}])),
                "cwd": "file:///w", "workspaceRoots": ["file:///w"], "useLegacyLandlock": false,
                "windowsSandboxLevel": "disabled", "windowsSandboxProxySettingsMode": "reconcile"})
        );
        let write = ProcessSandbox::workspace_write(["/data"]).with_network(Network::Enabled);
        assert_eq!(write.files, SandboxFiles::WorkspaceWrite { writable_roots: vec!["/data".to_owned()] });
        let write = to_wire::sandbox_intent(&write, "file:///w", &uri);
        let protected = |name: &str| {
            json!({"access": "read", "missing_path_behavior": "skip",
            "path": {"type": "special", "value": {"kind": "project_roots", "subpath": name}}})
        };
        assert_eq!(
            serde_json::to_value(&write).unwrap(),
            json!({"permissions": {"type": "managed", "network": "enabled", "file_system": {"type": "restricted", "entries": [
                    {"access": "read", "path": {"type": "special", "value": {"kind": "root"}}},
                    {"access": "write", "path": {"type": "special", "value": {"kind": "project_roots"}}},
                    {"access": "write", "path": {"type": "special", "value": {"kind": "slash_tmp"}}},
                    {"access": "write", "path": {"type": "special", "value": {"kind": "tmpdir"}}},
                    protected(".git"), protected(".agents"), protected(".codex")]}},
                "cwd": "file:///w", "workspaceRoots": ["file:///w", "file:///data"], "useLegacyLandlock": false,
                "windowsSandboxLevel": "disabled", "windowsSandboxProxySettingsMode": "reconcile"})
        );
        let (intent, context) = from_wire::sandbox(write, None, None).expect("our server reads it");
        assert_eq!(intent.network, Network::Enabled);
        assert_eq!((context.cwd, context.workspace_roots), ("/w".into(), vec!["/w".into(), "/data".into()]));
    }

    #[test]
    fn sandbox_entries() {
        let intent = params(json!({"permissions": entries(json!([
            {"access": "none", "path": {"type": "path", "path": "file:///srv/secret"}},
            {"access": "read", "missing_path_behavior": "skip", "path": {"type": "special", "value": {"kind": "project_roots", "subpath": ".git"}}},
            {"access": "read", "missing_path_behavior": "ignore", "path": {"type": "special", "value": {"kind": "unknown"}}},
            {"access": "write", "path": {"type": "glob_pattern", "pattern": "*.rs"}}])), "cwd": "/w"}));
        let (intent, _) = from_wire::sandbox(intent, None, None).expect("converts");
        let FileSystemIntent::Restricted { entries } = intent.file_system else { panic!("restricted") };
        assert_eq!(
            entries,
            [
                Entry {
                    path: PathSpec::Path("/srv/secret".into()),
                    access: Access::Deny,
                    missing: MissingPath::Error
                },
                Entry::new(PathSpec::special_sub(SpecialKind::ProjectRoots, ".git"), Access::Read)
                    .skip_if_missing(),
                // An unknown behaviour keeps the strict default; `unknown` is left for resolve to refuse.
                Entry::new(PathSpec::special(SpecialKind::Unknown("unknown".to_owned())), Access::Read),
                Entry::new(PathSpec::GlobPattern("*.rs".to_owned()), Access::Write),
            ]
        );
        assert_eq!(intent.network, Network::Restricted);
    }

    #[test]
    fn uris_round_trip() {
        for path in ["/", "/srv/repo", "/a b/c%d/é", "/x?y#z"] {
            let uri = to_wire::uri(Path::new(path));
            assert!(uri.starts_with("file:///"), "{uri}");
            assert_eq!(from_wire::path(&uri).as_deref(), Some(Path::new(path)), "{uri}");
        }
        assert_eq!(to_wire::uri(Path::new("/a b/c%d")), "file:///a%20b/c%25d");
        assert_eq!(from_wire::path("file://localhost/etc"), Some(PathBuf::from("/etc")));
        assert_eq!(from_wire::path("relative"), None);
        assert_eq!(from_wire::path("file://relative"), None);
    }

    /// Every typed start error the server sends comes back as the same typed error on the
    /// client, a spawn failure with its `io::ErrorKind`; the April peer's kind-less spawn failure
    /// is read from its `(os error N)`.
    #[test]
    fn start_errors_round_trip_to_typed_errors() {
        use exec_engine::{BackendError, StartError};
        use std::io::ErrorKind;
        let round_trip = |error: StartError| {
            let client_error = crate::client::ClientError::from(to_wire::start_error(error));
            from_wire::start_error(client_error, "p1", "make".to_owned())
        };
        let spawn_kind = |error: BackendError| match error {
            BackendError::Start(StartError::Spawn { source, .. } | StartError::Cwd { source, .. }) => {
                source.kind()
            }
            other => panic!("not a spawn failure: {other:?}"),
        };
        for kind in [ErrorKind::NotFound, ErrorKind::PermissionDenied, ErrorKind::Other] {
            let spawn = StartError::Spawn { program: "make".to_owned(), source: kind.into() };
            assert_eq!(spawn_kind(round_trip(spawn)), kind);
            let cwd = StartError::Cwd { cwd: "/srv".into(), source: kind.into() };
            assert_eq!(spawn_kind(round_trip(cwd)), kind);
        }
        let april = crate::client::ClientError::Remote {
            code: exec_protocol::jsonrpc::INTERNAL_ERROR,
            message: "Permission denied (os error 13)".to_owned(),
            data: serde_json::Value::Null,
        };
        assert_eq!(
            spawn_kind(from_wire::start_error(april, "p1", "make".to_owned())),
            ErrorKind::PermissionDenied
        );
        assert!(matches!(
            round_trip(StartError::TooManyProcesses { limit: 8 }),
            BackendError::Start(StartError::TooManyProcesses { limit: 8 })
        ));
        assert!(matches!(
            round_trip(StartError::RelativeCwd("src".into())),
            BackendError::Start(StartError::RelativeCwd(cwd)) if cwd == Path::new("src")
        ));
        assert!(matches!(round_trip(StartError::EmptyArgv), BackendError::Start(StartError::EmptyArgv)));
        assert!(matches!(
            round_trip(StartError::DuplicateId(exec_engine::ProcessId::new("p1"))),
            BackendError::Start(StartError::DuplicateId(_))
        ));
    }

    #[test]
    fn spawn_errors_carry_their_kind() {
        let error = |kind: std::io::ErrorKind| {
            let error = exec_engine::StartError::Spawn { program: "make".to_owned(), source: kind.into() };
            to_wire::start_error(error).data.expect("data")
        };
        assert_eq!(error(std::io::ErrorKind::NotFound), json!({"program": "make", "kind": "spawnNotFound"}));
        assert_eq!(
            error(std::io::ErrorKind::PermissionDenied),
            json!({"program": "make", "kind": "spawnPermissionDenied"})
        );
        assert_eq!(error(std::io::ErrorKind::OutOfMemory), json!({"program": "make", "kind": "spawnFailed"}));
    }

    /// The hand-written `process/read` frame is the serde encoding of the same result, byte for
    /// byte, including the extensions and an escaped failure text.
    #[test]
    fn the_read_frame_written_by_hand_equals_serde() {
        let outcome = exec_engine::ReadOutcome {
            chunks: vec![
                exec_engine::OutputChunk {
                    seq: exec_engine::Seq::new(3),
                    stream: exec_engine::StreamKind::Stdout,
                    data: bytes::Bytes::from_static(b"hi\n"),
                },
                exec_engine::OutputChunk {
                    seq: exec_engine::Seq::new(4),
                    stream: exec_engine::StreamKind::Pty,
                    data: bytes::Bytes::from_static(&[0, 255, 10]),
                },
            ],
            next_seq: exec_engine::Seq::new(5),
            exit: Some(exec_engine::ExitStatus::Signal(9)),
            closed: false,
            failure: Some("a \"quoted\" failure\n".to_owned()),
            dropped_before: Some(exec_engine::Seq::new(2)),
        };
        for id in [
            exec_protocol::jsonrpc::RequestId::Integer(7),
            exec_protocol::jsonrpc::RequestId::String("r\"1".to_owned()),
        ] {
            let mut expected = Vec::new();
            exec_protocol::jsonrpc::write_response(
                &mut expected,
                &id,
                &to_wire::read_response(outcome.clone(), true),
            )
            .unwrap();
            assert_eq!(
                to_wire::read_response_frame(&id, (outcome.clone(), true)),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
