//! Entry points for the cargo-fuzz targets in `fuzz/` (issue 12): the server's own code paths,
//! reachable from the fuzz crate without widening the crate's API. Hidden from the docs and not
//! a stable interface; it adds no behaviour, only a door.

use std::path::{Path, PathBuf};

use exec_protocol::jsonrpc::ErrorObject;
use exec_protocol::sandbox::SandboxParams;
use exec_sandbox::{PreparedSandbox, SandboxPolicy};

use crate::server::confine::{self, Intent};

/// What the server does with a request's `sandbox` member up to the kernel objects: the wire
/// intent converted and resolved against the file system (stats paths), with the error object a
/// client would get. `call_cwd` is the call's own working directory, `tmpdir` the server's
/// `TMPDIR`.
pub fn resolve_sandbox(
    params: SandboxParams,
    call_cwd: Option<&Path>,
    tmpdir: Option<PathBuf>,
) -> Result<SandboxPolicy, ErrorObject> {
    Intent::from_wire(params, call_cwd, tmpdir)?.resolve()
}

/// The next step for a resolved policy, as the server maps its failure (opens paths, creates
/// the Landlock ruleset; confines nothing).
pub fn prepare_sandbox(policy: &SandboxPolicy) -> Result<PreparedSandbox, ErrorObject> {
    confine::prepare(policy)
}
