//! Linux sandbox (placeholder docs).

mod enforce;
mod intent;
mod policy;
mod probe;
mod seccomp;

pub use enforce::{ALWAYS_USABLE_DEVICES, PreparedSandbox};
pub use intent::{
    Access, Entry, FileSystemIntent, IntentError, MINIMAL_READ_ROOTS, MissingPath, PathSpec, ResolveContext,
    SandboxIntent, SpecialKind,
};
pub use policy::{Network, PROTECTED_WORKSPACE_NAMES, SandboxError, SandboxErrorKind, SandboxPolicy};
pub use probe::{MINIMUM_LANDLOCK_ABI, Support, probe};
