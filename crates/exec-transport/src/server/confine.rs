//! Sandbox intents on the server side: from a request's `sandbox` member to a
//! [`PreparedSandbox`], and running a file operation under it.
//!
//! The order is fixed: convert the wire intent (pure, `convert::from_wire::sandbox`), then on the
//! blocking pool resolve it against the file system and prepare the kernel objects
//! (`exec_sandbox`), then run the operation on a thread confined by Landlock (and a private mount
//! namespace for read-only carve-outs), so the kernel checks every path after symlinks and `..`
//! are resolved. Every refusal is -32603 with `data.kind` `sandboxUnavailable` or
//! `sandboxPreparation` (or -32602 for a malformed path), and the operation never runs
//! unconfined. This module does not spawn processes: `process/start` hands the prepared sandbox
//! to the engine (see `handlers::start`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use exec_protocol::jsonrpc::ErrorObject;
use exec_protocol::sandbox::SandboxParams;
use exec_sandbox::{PreparedSandbox, ResolveContext, SandboxIntent, SandboxPolicy};

use super::Shared;
use super::environment;
use crate::convert::{from_wire, to_wire};

/// A converted intent, not yet resolved (resolution stats paths: it runs on the blocking pool).
#[derive(Debug)]
pub(crate) struct Intent {
    intent: SandboxIntent,
    context: ResolveContext,
}

/// Converts a request's `sandbox` member; `None` for `null` or absent (no sandbox).
pub(crate) fn intent(
    shared: &Shared,
    params: Option<SandboxParams>,
    call_cwd: Option<&Path>,
) -> Result<Option<Intent>, ErrorObject> {
    let Some(params) = params else { return Ok(None) };
    Intent::from_wire(params, call_cwd, environment::tmpdir(&shared.config)).map(Some)
}

impl Intent {
    /// Converts the wire intent; `tmpdir` is the server's `TMPDIR`. Pure.
    pub(crate) fn from_wire(
        params: SandboxParams,
        call_cwd: Option<&Path>,
        tmpdir: Option<PathBuf>,
    ) -> Result<Intent, ErrorObject> {
        let (intent, context) = from_wire::sandbox(params, call_cwd, tmpdir)?;
        Ok(Intent { intent, context })
    }

    /// Resolves the intent against the file system into plain rules. Blocking (stats paths).
    pub(crate) fn resolve(&self) -> Result<SandboxPolicy, ErrorObject> {
        self.intent.resolve(&self.context).map_err(|error| to_wire::intent_error(&error))
    }

    /// Resolves and prepares the sandbox. Blocking (stats and opens paths).
    pub(crate) fn prepare(&self) -> Result<PreparedSandbox, ErrorObject> {
        prepare(&self.resolve()?)
    }
}

/// Turns resolved rules into kernel objects, refusals mapped for the wire. Blocking.
pub(crate) fn prepare(policy: &SandboxPolicy) -> Result<PreparedSandbox, ErrorObject> {
    policy.prepare().map_err(|error| to_wire::sandbox_error(&error))
}

/// Runs `operation` confined by `sandbox`, or as it is without one. Blocking.
pub(crate) fn run<T: Send>(
    sandbox: Option<&PreparedSandbox>,
    operation: impl FnOnce() -> Result<T, ErrorObject> + Send,
) -> Result<T, ErrorObject> {
    match sandbox {
        None => operation(),
        Some(sandbox) => sandbox.run_confined(operation).map_err(|error| to_wire::sandbox_error(&error))?,
    }
}

/// Prepares `intent` (if any) and runs `operation`, which only reads, under it: with Landlock
/// read rights on every root and no write right anywhere, and no read-only carve-outs (they take
/// only write rights away), so it needs no mount namespace and works without `CAP_SYS_ADMIN`
/// (`PreparedSandbox::run_confined_for_reading`). Blocking.
pub(crate) fn run_with_intent_for_reading<T: Send>(
    intent: Option<&Intent>,
    operation: impl FnOnce() -> Result<T, ErrorObject> + Send,
) -> Result<T, ErrorObject> {
    match intent.map(Intent::prepare).transpose()? {
        None => operation(),
        Some(prepared) => {
            prepared.run_confined_for_reading(operation).map_err(|error| to_wire::sandbox_error(&error))?
        }
    }
}

/// Prepares `intent` (if any) and runs `operation` under it: the whole of one `fs/*` call.
/// Blocking. Returns the prepared sandbox too, for handles that act again later (`fs/close`).
pub(crate) fn run_with_intent<T: Send>(
    intent: Option<&Intent>,
    operation: impl FnOnce() -> Result<T, ErrorObject> + Send,
) -> Result<(T, Option<Arc<PreparedSandbox>>), ErrorObject> {
    let prepared = intent.map(Intent::prepare).transpose()?.map(Arc::new);
    let value = run(prepared.as_deref(), operation)?;
    Ok((value, prepared))
}
